/**
 * Example plugin: a policy check. It rejects objects whose programs call
 * helpers from a deny list, say `bpf_trace_printk` in production builds or
 * `bpf_probe_write_user` anywhere.
 *
 * ```ts
 * import { Loader } from "../../mod.ts";
 * import { forbidHelpersPlugin } from "./forbid_helpers.ts";
 *
 * const loader = Loader.create([forbidHelpersPlugin({ helpers: ["trace_printk", 36] })]);
 * await loader.loadSpec(await Deno.readFile("fixtures/bpfel/xdp_counter.o")); // passes: neither is called
 * ```
 *
 * A call to a forbidden helper fails the load with a {@link LinkError}:
 *
 * ```text
 * forbid_helpers: program xdp_count: pc 11: calls forbidden helper bpf_map_lookup_elem (1)
 * ```
 *
 * What it shows: a stage that only reads the finished programs, reusing
 * the instruction predicates of `isa/` (`isHelperCall`), and options
 * resolved once, at creation, so that a typo in a helper name fails before
 * any object is loaded.
 *
 * @module
 */

import { LinkError } from "../../errors/mod.ts";
import { isHelperCall, isLoadImm64 } from "../../isa/mod.ts";
import type { ProgramSpec } from "../../collection/spec.ts";
import type { Plugin } from "../types.ts";
import { checkOptions, invalidOptions } from "./_options.ts";

/** Name of the plugin and of its stage. */
export const FORBID_HELPERS_PLUGIN = "forbid_helpers";

/** Code of the error for a call to a forbidden helper. */
export const HELPER_FORBIDDEN = "HELPER_FORBIDDEN";

/**
 * Helper IDs of common helpers by name, as the kernel's `__BPF_FUNC_MAPPER`
 * in `<linux/bpf.h>` numbers them (`bpf_` left off, as there). Helpers not
 * listed can be forbidden by ID.
 */
export const HELPER_IDS: Readonly<Record<string, number>> = Object.freeze({
  map_lookup_elem: 1,
  map_update_elem: 2,
  map_delete_elem: 3,
  probe_read: 4,
  ktime_get_ns: 5,
  trace_printk: 6,
  get_prandom_u32: 7,
  get_smp_processor_id: 8,
  tail_call: 12,
  get_current_pid_tgid: 14,
  get_current_uid_gid: 15,
  get_current_comm: 16,
  redirect: 23,
  perf_event_output: 25,
  get_stackid: 27,
  get_current_task: 35,
  probe_write_user: 36,
  probe_read_str: 45,
  redirect_map: 51,
  override_return: 58,
  send_signal: 109,
  probe_read_user: 112,
  probe_read_kernel: 113,
  probe_read_user_str: 114,
  probe_read_kernel_str: 115,
  ringbuf_output: 130,
  ringbuf_reserve: 131,
  ringbuf_submit: 132,
  ringbuf_discard: 133,
  d_path: 147,
  copy_from_user: 148,
  snprintf: 165,
  sys_bpf: 166,
  trace_vprintk: 177,
  loop: 181,
});

const NAMES_BY_ID = new Map(Object.entries(HELPER_IDS).map(([name, id]) => [id, name]));

/** Options of {@link forbidHelpersPlugin}. */
export interface ForbidHelpersOptions {
  /**
   * Helpers no program may call: IDs, or names from {@link HELPER_IDS}
   * with or without the `bpf_` prefix (`"trace_printk"`, `"bpf_trace_printk"`).
   */
  helpers: readonly (number | string)[];
}

/**
 * The helper ID for a name from {@link HELPER_IDS} (`bpf_` prefix
 * optional), or `undefined` when the table has no such helper.
 */
export function helperId(name: string): number | undefined {
  const bare = name.startsWith("bpf_") ? name.slice(4) : name;
  return Object.hasOwn(HELPER_IDS, bare) ? HELPER_IDS[bare] : undefined;
}

/** `bpf_map_lookup_elem (1)` for a helper in the table, `helper 77` otherwise. */
export function describeHelper(id: number): string {
  const name = NAMES_BY_ID.get(id);
  return name === undefined ? `helper ${id}` : `bpf_${name} (${id})`;
}

/**
 * A plugin whose stage, after `link`, fails the load when any program
 * (autoload or not) calls one of `options.helpers`, naming the program, the
 * pc (the instruction slot, as the verifier and `llvm-objdump` count) and
 * the helper.
 *
 * @throws {ConfigError} `PLUGIN_INVALID_OPTIONS` for a helper name not in
 *   {@link HELPER_IDS}, an ID that is not a positive 32-bit integer, or
 *   `helpers` not being an array.
 */
export function forbidHelpersPlugin(options: ForbidHelpersOptions): Plugin {
  const opts = checkOptions(FORBID_HELPERS_PLUGIN, options, ["helpers"]);
  const forbidden = resolveHelpers(opts.helpers);
  return {
    name: FORBID_HELPERS_PLUGIN,
    stages: [{
      // After `link`, when each program holds every function it can run:
      // a helper called from a subprogram counts against each caller.
      after: "link",
      stage: {
        name: FORBID_HELPERS_PLUGIN,
        run(ctx) {
          for (const prog of ctx.programs.values()) checkProgram(prog, forbidden);
        },
      },
    }],
  };
}

/** The module's default export for config files: {@link forbidHelpersPlugin} over untyped options. */
export default function plugin(options: Record<string, unknown> = {}): Plugin {
  return forbidHelpersPlugin(options as unknown as ForbidHelpersOptions);
}

function resolveHelpers(helpers: unknown): Set<number> {
  if (!Array.isArray(helpers)) {
    throw invalidOptions(
      FORBID_HELPERS_PLUGIN,
      "helpers",
      "must be an array of helper IDs or names",
    );
  }
  const ids = new Set<number>();
  for (const [i, helper] of helpers.entries()) {
    const path = `helpers[${i}]`;
    if (typeof helper === "string") {
      const id = helperId(helper);
      if (id === undefined) {
        throw invalidOptions(
          FORBID_HELPERS_PLUGIN,
          path,
          `unknown helper name ${JSON.stringify(helper)}: give its ID, or one of ${
            Object.keys(HELPER_IDS).join(", ")
          }`,
        );
      }
      ids.add(id);
    } else if (typeof helper === "number" && isHelperIdRange(helper)) {
      ids.add(helper);
    } else {
      throw invalidOptions(
        FORBID_HELPERS_PLUGIN,
        path,
        `${JSON.stringify(helper)} is neither a helper name nor a positive 32-bit helper ID`,
      );
    }
  }
  return ids;
}

/** A call's helper ID is its signed 32-bit immediate; 0 is `BPF_FUNC_unspec`. */
function isHelperIdRange(id: number): boolean {
  return Number.isInteger(id) && id > 0 && id <= 0x7fff_ffff;
}

function checkProgram(prog: ProgramSpec, forbidden: ReadonlySet<number>): void {
  let pc = 0;
  let fn = prog.name;
  for (const ins of prog.instructions) {
    if (ins.symbol !== undefined) fn = ins.symbol;
    if (isHelperCall(ins) && forbidden.has(ins.imm)) {
      // pc counts slots: ld_imm64 takes two, so it matches the verifier log.
      const where = fn === prog.name ? `pc ${pc}` : `pc ${pc} (function ${fn})`;
      throw new LinkError(
        HELPER_FORBIDDEN,
        `${where}: calls forbidden helper ${describeHelper(ins.imm)}`,
      ).addContext(`program ${prog.name}`);
    }
    pc += isLoadImm64(ins) ? 2 : 1;
  }
}
