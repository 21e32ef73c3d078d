/**
 * The `kfuncs` plugin: resolves calls to `__ksym` functions (kfuncs) as
 * libbpf's `bpf_object__resolve_ksym_func_btf_id` and the
 * `RELO_EXTERN_CALL` case of `bpf_object__relocate_data` do:
 *
 * - found in vmlinux's BTF (else a module's) with a compatible prototype:
 *   `src = BPF_PSEUDO_KFUNC_CALL`, `imm` = the FUNC's BTF ID, `offset` = 0
 *   for vmlinux or the module's index in the object's fd_array (from 1, in
 *   the order modules are first met), with {@link Instruction.btfModule}
 *   naming the module so the kernel backend can build that fd_array;
 * - weak and missing (or of another prototype): libbpf's poison, a helper
 *   call to `2002000000 + extern index` that the verifier only refuses if it
 *   is reachable, so `bpf_ksym_exists()`-guarded calls load;
 * - strong and missing: left as a kfunc call naming the extern, refused by
 *   the backends with the reason (or an error here when `strict`).
 *
 * The stage runs before `link`: clang emits these as `BPF_PSEUDO_CALL`
 * calls with a relocation against an undefined symbol, which `link` would
 * take for a call to a missing BPF function.
 *
 * @module
 */

import { SHN_UNDEF } from "../../elf/constants.ts";
import { BPF_PSEUDO_KFUNC_CALL, isCall } from "../../isa/opcodes.ts";
import type { LoadContext } from "../../stages/context.ts";
import type { Plugin } from "../types.ts";
import { collectExterns, hasExterns, KSYMS_SEC, sectionInstructions } from "./_externs.ts";
import { defaultKernelBtf } from "./_kernel.ts";
import { ExternError } from "./errors.ts";
import { type KsymsOptions, resolveKernelBtf } from "./ksyms.ts";
import { recordUnresolved } from "./metadata.ts";

/** libbpf's `POISON_CALL_KFUNC_BASE`. */
export const POISON_CALL_KFUNC_BASE = 2002000000;
/** fd_array indices live in the 16-bit `offset` field. */
const MAX_FD_ARRAY_INDEX = 0x7fff;

/** The stage's name. */
export const KFUNCS_STAGE = "kfuncs";

/** The `kfuncs` plugin: a `kfuncs` stage before `link`. */
export function kfuncsPlugin(options: KsymsOptions = {}): Plugin {
  return {
    name: "kfuncs",
    stages: [{
      before: "link",
      stage: {
        name: KFUNCS_STAGE,
        run: (ctx) => {
          if (hasExterns(ctx)) resolveKfuncs(ctx, options);
        },
      },
    }],
  };
}

function resolveKfuncs(ctx: LoadContext, options: KsymsOptions): void {
  const undefinedSyms = new Set(
    ctx.symbols.filter((s) => s.sectionIndex === SHN_UNDEF && s.name !== "").map((s) => s.name),
  );
  const calls = [...sectionInstructions(ctx)].filter((ins) =>
    isCall(ins) && ins.reference !== undefined && undefinedSyms.has(ins.reference)
  );
  if (calls.length === 0) return;
  const externs = new Map(
    collectExterns(ctx).filter((e) => e.section === KSYMS_SEC && e.isFunc).map((e) => [e.name, e]),
  );
  const source = options.kernelBtf ?? defaultKernelBtf();
  const moduleIndex = new Map<string, number>();
  const done = new Map<
    string,
    { id: number; module: string; offset: number } | "poison" | "unresolved"
  >();
  for (const ins of calls) {
    const name = ins.reference!;
    // libbpf sets the kfunc pseudo source whatever becomes of the call.
    ins.src = BPF_PSEUDO_KFUNC_CALL;
    ins.imm = 0;
    let r = done.get(name);
    if (r === undefined) {
      const decl = externs.get(name);
      if (decl === undefined || ctx.btf === undefined) {
        r = "unresolved";
        const why = ctx.btf === undefined
          ? "the object has no BTF to describe it"
          : "it is not declared as a __ksym function in the object's BTF";
        if (options.strict) throw new ExternError("EXTERN_UNRESOLVED", `kfunc ${name}: ${why}`);
        recordUnresolved(ctx, KFUNCS_STAGE, name, `not resolved by the kfuncs plugin: ${why}`);
      } else {
        const found = resolveKernelBtf(ctx.btf, decl, source);
        if (found.kind === "btf") {
          let offset = 0;
          if (found.module !== "vmlinux") {
            offset = moduleIndex.get(found.module) ?? moduleIndex.size + 1;
            if (offset > MAX_FD_ARRAY_INDEX) {
              throw new ExternError(
                "EXTERN_TOO_MANY_MODULES",
                `extern (func ksym) ${name}: module BTF fd index ${offset} does not fit in the instruction offset`,
              );
            }
            moduleIndex.set(found.module, offset);
          }
          r = { id: found.id, module: found.module, offset };
        } else if (found.kind === "unresolved") {
          if (options.strict) {
            throw new ExternError("EXTERN_UNRESOLVED", `${found.reason} (strong extern)`);
          }
          recordUnresolved(
            ctx,
            KFUNCS_STAGE,
            name,
            `not resolved by the kfuncs plugin: ${found.reason}`,
          );
          r = "unresolved";
        } else {
          r = "poison";
        }
      }
      done.set(name, r);
    }
    if (r === "unresolved") continue;
    if (r === "poison") {
      ins.src = 0;
      ins.dst = 0;
      ins.offset = 0;
      ins.imm = POISON_CALL_KFUNC_BASE + externs.get(name)!.index;
      delete ins.reference;
      continue;
    }
    ins.imm = r.id;
    ins.offset = r.offset;
    ins.btfModule = r.module;
  }
}
