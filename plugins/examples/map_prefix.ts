/**
 * Example plugin: a stage that edits the spec. It puts a prefix before
 * every map name, so that two applications loading the same object keep
 * their maps apart (in `bpftool map`, in pin paths).
 *
 * ```ts
 * import { Loader } from "../../mod.ts";
 * import { mapPrefixPlugin } from "./map_prefix.ts";
 *
 * const loader = Loader.create([mapPrefixPlugin({ prefix: "app_" })]);
 * const spec = await loader.loadSpec(await Deno.readFile("fixtures/bpfel/xdp_counter.o"));
 * [...spec.maps.keys()]; // ["app_counts"]
 * spec.programs.get("xdp_count")!.references(); // ["app_counts"]
 * ```
 *
 * What it shows: a rename has to reach every place that names a map (the
 * `ctx.maps` key, `MapSpec.name`, each instruction's `reference`, the
 * contents of map-of-maps) or the spec stops being consistent; and a
 * diagnostic for what is legal here but will change later (the kernel
 * keeps 15 characters of a name).
 *
 * Data-section maps (`.data`, `.rodata`, `.bss`, …) keep their names
 * unless `includeDataSections` is set: they name sections, and tools look
 * them up by those names.
 *
 * @module
 */

import type { MapSpec } from "../../collection/spec.ts";
import { MapType } from "../../collection/types.ts";
import { LinkError } from "../../errors/mod.ts";
import type { Instruction } from "../../isa/instruction.ts";
import {
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_IDX,
  BPF_PSEUDO_MAP_IDX_VALUE,
  BPF_PSEUDO_MAP_VALUE,
  isLoadImm64,
} from "../../isa/mod.ts";
import type { LoadContext } from "../../stages/context.ts";
import type { Plugin } from "../types.ts";
import { checkOptions, invalidOptions } from "./_options.ts";

/** Name of the plugin and of its stage. */
export const MAP_PREFIX_PLUGIN = "map_prefix";

/** Size of the kernel's name buffers (`map_name`, `prog_name`), NUL included. */
export const BPF_OBJ_NAME_LEN = 16;

/** Code of the error when a new name is already the name of another map. */
export const MAP_PREFIX_CONFLICT = "MAP_PREFIX_CONFLICT";

/** Options of {@link mapPrefixPlugin}. */
export interface MapPrefixOptions {
  /**
   * Put before every map name. Non-empty, at most 14 characters (leaving
   * room for one of the map's own within the kernel's 15), and only
   * `A-Z a-z 0-9 _ .`: the kernel rejects any other character in a name.
   */
  prefix: string;
  /** Rename data-section maps (`.data`, `.rodata`, `.bss`, …) too; default false. */
  includeDataSections?: boolean;
}

// Kernel names are copied by bpf_obj_name_cpy(), which accepts only these.
const KERNEL_NAME_CHARS = /^[A-Za-z0-9_.]+$/;

/**
 * A plugin whose stage, after `link`, renames every map to `prefix + name`.
 *
 * A renamed map longer than 15 characters gets a warning in
 * `ctx.diagnostics`: the kernel backend truncates it to 15, as libbpf does.
 *
 * @throws {ConfigError} `PLUGIN_INVALID_OPTIONS` for a missing, empty,
 *   too long or ill-formed prefix, or a non-boolean `includeDataSections`.
 */
export function mapPrefixPlugin(options: MapPrefixOptions): Plugin {
  const opts = checkOptions(MAP_PREFIX_PLUGIN, options, ["prefix", "includeDataSections"]);
  const { prefix, includeDataSections = false } = opts;
  if (typeof prefix !== "string" || prefix === "") {
    throw invalidOptions(MAP_PREFIX_PLUGIN, "prefix", "must be a non-empty string");
  }
  if (!KERNEL_NAME_CHARS.test(prefix)) {
    throw invalidOptions(
      MAP_PREFIX_PLUGIN,
      "prefix",
      `${JSON.stringify(prefix)}: the kernel accepts only A-Z, a-z, 0-9, "_" and "." in names`,
    );
  }
  if (prefix.length >= BPF_OBJ_NAME_LEN - 1) {
    throw invalidOptions(
      MAP_PREFIX_PLUGIN,
      "prefix",
      `${prefix.length} characters leave no room for the map's own name in the kernel's ${
        BPF_OBJ_NAME_LEN - 1
      }`,
    );
  }
  if (typeof includeDataSections !== "boolean") {
    throw invalidOptions(MAP_PREFIX_PLUGIN, "includeDataSections", "must be a boolean");
  }
  return {
    name: MAP_PREFIX_PLUGIN,
    stages: [{
      // After `link`: from then on every name of a map lives in ctx.maps
      // and in the programs' instructions. Earlier, references still sit in
      // the sections' instructions and a rename would have to chase them.
      after: "link",
      stage: {
        name: MAP_PREFIX_PLUGIN,
        run: (ctx) => prefixMaps(ctx, { prefix, includeDataSections }),
      },
    }],
  };
}

/** The module's default export for config files: {@link mapPrefixPlugin} over untyped options. */
export default function plugin(options: Record<string, unknown> = {}): Plugin {
  return mapPrefixPlugin(options as unknown as MapPrefixOptions);
}

/**
 * Whether a map of this name stands for a data section (`.data`,
 * `.rodata.cfg`, `.bss`, …). Such names are section names and start with a
 * dot; a C identifier cannot.
 */
export function isDataSectionName(name: string): boolean {
  return name.startsWith(".");
}

function prefixMaps(ctx: LoadContext, options: Required<MapPrefixOptions>): void {
  const renames = new Map<string, string>();
  for (const name of ctx.maps.keys()) {
    if (isDataSectionName(name) && !options.includeDataSections) continue;
    renames.set(name, options.prefix + name);
  }

  // Check before changing anything that no new name lands on a map that
  // keeps its old one (prefix "." with maps "rodata" and ".rodata").
  for (const [name, next] of renames) {
    if (ctx.maps.has(next) && !renames.has(next)) {
      throw new LinkError(
        MAP_PREFIX_CONFLICT,
        `map ${JSON.stringify(name)}: new name ${JSON.stringify(next)} is taken by another map`,
      );
    }
  }

  // Rebuild ctx.maps in its order, under the new keys.
  const entries = [...ctx.maps];
  ctx.maps.clear();
  for (const [name, map] of entries) {
    const next = renames.get(name);
    if (next !== undefined) {
      warnIfTruncated(ctx, next);
      // The inner map is a template the backend creates under its own
      // name: keep it in the same namespace as its outer map.
      if (map.innerMap !== undefined) map.innerMap.name = options.prefix + map.innerMap.name;
      map.name = next;
    }
    renameContents(map, renames);
    ctx.maps.set(next ?? name, map);
  }

  // Once per instruction, even if a stage made programs share one: with
  // maps "a" and "app_a", renaming twice would turn "a" into "app_app_a".
  const renamed = new Set<Instruction>();
  for (const prog of ctx.programs.values()) {
    for (const ins of prog.instructions) {
      if (!namesMap(ins) || renamed.has(ins)) continue;
      renamed.add(ins);
      const next = renames.get(ins.reference!);
      if (next !== undefined) ins.reference = next;
    }
  }
}

// The ld_imm64 sources by which an instruction loads a map or a map value.
const MAP_SOURCES = new Set([
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  BPF_PSEUDO_MAP_IDX,
  BPF_PSEUDO_MAP_IDX_VALUE,
]);

/** Whether `ins` refers to a map (not a function or an extern of the same name). */
function namesMap(ins: Instruction): boolean {
  return ins.reference !== undefined && isLoadImm64(ins) && MAP_SOURCES.has(ins.src);
}

/**
 * Map-of-maps values name maps; prog-array values name programs, which
 * keep their names.
 */
function renameContents(map: MapSpec, renames: Map<string, string>): void {
  if (map.type !== MapType.ARRAY_OF_MAPS && map.type !== MapType.HASH_OF_MAPS) return;
  for (const kv of map.contents) {
    if (typeof kv.value === "string") kv.value = renames.get(kv.value) ?? kv.value;
  }
}

function warnIfTruncated(ctx: LoadContext, name: string): void {
  const max = BPF_OBJ_NAME_LEN - 1;
  if (name.length <= max) return;
  ctx.diagnostics.push({
    stage: MAP_PREFIX_PLUGIN,
    level: "warning",
    message: `map ${name}: ${name.length} characters, more than the kernel's ${max}: ` +
      `the kernel backend will create it as ${name.slice(0, max)}`,
  });
}
