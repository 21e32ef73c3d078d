/**
 * The `ksyms` plugin: resolves `__ksym` variables (and `ld_imm64` loads of
 * kfunc addresses, as `bpf_ksym_exists()` makes) as libbpf's
 * `bpf_object__resolve_ksyms_btf_id` and `bpf_object__read_kallsyms_file`
 * do, then rewrites the loads as `bpf_object__relocate_data` does for
 * `RELO_EXTERN_LD64`:
 *
 * - typed (`extern const struct rq runqueues __ksym;`): the VAR of that
 *   name in vmlinux's BTF, else a module's, whose type must be compatible;
 *   the load becomes `src = BPF_PSEUDO_BTF_ID`, `imm` = its BTF ID, with
 *   {@link Instruction.btfModule} naming where it was found (the kernel
 *   backend puts the module's BTF fd in `immHi`);
 * - a kfunc's address: the same with the FUNC, its prototype compatible;
 * - typeless (`extern const void sym __ksym;`): the address from
 *   `/proc/kallsyms` in `imm` (low half) and `immHi` (high half), `src` 0;
 * - weak and missing: the constant 0.
 *
 * A strong extern that can't be found stays unresolved (the backends refuse
 * it, quoting why) unless `strict`.
 *
 * @module
 */

import type { Btf } from "../../btf/btf.ts";
import { BtfKind } from "../../btf/types.ts";
import { TsbpfError } from "../../errors/mod.ts";
import type { Instruction } from "../../isa/instruction.ts";
import { BPF_PSEUDO_BTF_ID, isLoadImm64 } from "../../isa/opcodes.ts";
import type { LoadContext } from "../../stages/context.ts";
import type { Plugin } from "../types.ts";
import {
  collectExterns,
  type ExternDecl,
  hasExterns,
  KSYMS_SEC,
  programInstructions,
} from "./_externs.ts";
import {
  defaultKernelBtf,
  describeType,
  findKernelType,
  type KernelBtfSource,
  type KernelType,
} from "./_kernel.ts";
import { typesAreCompat } from "../../btf/core/compat.ts";
import { ExternError } from "./errors.ts";
import { type ExternFileReader, kallsymsAddress, readKallsyms } from "./kallsyms.ts";
import { recordUnresolved } from "./metadata.ts";

/** Options of {@link ksymsPlugin} and {@link kfuncsPlugin}. */
export interface KsymsOptions {
  /** Kernel BTF (vmlinux and modules); the process-wide `/sys/kernel/btf` cache by default. */
  kernelBtf?: KernelBtfSource;
  /** kallsyms file for typeless ksyms; `/proc/kallsyms` by default. */
  kallsymsPath?: string;
  /** How the kallsyms file is read (tests pass a fake). */
  readFile?: ExternFileReader;
  /** Throw for a strong extern that can't be resolved, instead of leaving it to the backend. */
  strict?: boolean;
}

/** The stage's name. */
export const KSYMS_STAGE = "ksyms";

/** The `ksyms` plugin: a `ksyms` stage after `link`. */
export function ksymsPlugin(options: KsymsOptions = {}): Plugin {
  return {
    name: "ksyms",
    stages: [{
      after: "link",
      stage: {
        name: KSYMS_STAGE,
        run: (ctx) => {
          if (hasExterns(ctx)) resolveKsyms(ctx, options);
        },
      },
    }],
  };
}

/** The outcome of looking one extern up. */
export type KsymResolution =
  | { kind: "btf"; id: number; module: string }
  | { kind: "address"; address: bigint }
  | { kind: "zero" }
  | { kind: "unresolved"; reason: string };

/**
 * Look up a typed ksym or kfunc (`decl.isFunc`) in kernel BTF, as libbpf's
 * `bpf_object__resolve_ksym_var_btf_id` / `_func_btf_id` do.
 *
 * @throws {ExternError} `EXTERN_INCOMPATIBLE` when a strong one's kernel type differs
 *   (a weak kfunc with another prototype is treated as missing, a weak variable is an error, as in libbpf).
 */
export function resolveKernelBtf(
  btf: Btf,
  decl: ExternDecl,
  source: KernelBtfSource,
): KsymResolution {
  const what = decl.isFunc ? "func ksym" : "var ksym";
  let found: KernelType | undefined;
  try {
    found = findKernelType(source, decl.name, decl.isFunc ? BtfKind.FUNC : BtfKind.VAR);
  } catch (err) {
    if (!(err instanceof TsbpfError)) throw err;
    return decl.weak ? { kind: "zero" } : { kind: "unresolved", reason: err.message };
  }
  if (found === undefined) {
    return decl.weak ? { kind: "zero" } : {
      kind: "unresolved",
      reason: `extern (${what}) ${decl.name}: not found in kernel or module BTFs`,
    };
  }
  const local = btf.type(decl.btfId) as { type: number };
  const target = found.btf.type(found.id) as { type: number };
  // libbpf checks ksym VARs and kfunc prototypes with bpf_core_types_are_compat,
  // both sides past modifiers and typedefs (skip_mods_and_typedefs).
  const targetId = found.btf.skipTypedefs(target.type);
  if (!typesAreCompat(btf, btf.skipTypedefs(local.type), { btf: found.btf, id: targetId })) {
    if (decl.isFunc && decl.weak) return { kind: "zero" };
    throw new ExternError(
      "EXTERN_INCOMPATIBLE",
      `extern (${what}) ${decl.name}: incompatible types, expected ${
        describeType(btf, btf.skipTypedefs(local.type))
      }, but ${found.module} has ${describeType(found.btf, found.btf.skipTypedefs(target.type))}`,
    );
  }
  return { kind: "btf", id: found.id, module: found.module };
}

/** Whether a VAR's type is `void` after modifiers (a typeless ksym). */
function typeless(btf: Btf, decl: ExternDecl): boolean {
  return !decl.isFunc && btf.skipTypedefs((btf.type(decl.btfId) as { type: number }).type) === 0;
}

function resolveKsyms(ctx: LoadContext, options: KsymsOptions): void {
  const btf = ctx.btf;
  if (btf === undefined) return;
  const externs = new Map(
    collectExterns(ctx).filter((e) => e.section === KSYMS_SEC).map((e) => [e.name, e]),
  );
  const loads: Instruction[] = [];
  for (const ins of programInstructions(ctx)) {
    if (ins.reference === undefined || !isLoadImm64(ins) || ins.src !== 0) continue;
    if (externs.has(ins.reference)) loads.push(ins);
  }
  if (loads.length === 0) return;
  const used = new Set(loads.map((i) => i.reference!));
  const source = options.kernelBtf ?? defaultKernelBtf();

  // Typeless ones come from kallsyms, read once for all of them.
  const wanted = new Set([...used].filter((n) => typeless(btf, externs.get(n)!)));
  let kallsyms: Map<string, bigint[]> | undefined;
  let kallsymsError: string | undefined;
  if (wanted.size > 0) {
    try {
      kallsyms = readKallsyms(wanted, { path: options.kallsymsPath, readFile: options.readFile });
    } catch (err) {
      if (!(err instanceof TsbpfError)) throw err;
      kallsymsError = err.message;
    }
  }

  const results = new Map<string, KsymResolution>();
  for (const name of used) {
    const decl = externs.get(name)!;
    let r: KsymResolution;
    if (wanted.has(name)) {
      const address = kallsyms === undefined ? undefined : kallsymsAddress(kallsyms, name);
      r = address !== undefined ? { kind: "address", address } : decl.weak ? { kind: "zero" } : {
        kind: "unresolved",
        reason: kallsymsError ?? `extern (ksym) ${name}: not found in kallsyms`,
      };
    } else {
      r = resolveKernelBtf(btf, decl, source);
    }
    if (r.kind === "unresolved") {
      if (options.strict) throw new ExternError("EXTERN_UNRESOLVED", `${r.reason} (strong extern)`);
      recordUnresolved(ctx, KSYMS_STAGE, name, `not resolved by the ksyms plugin: ${r.reason}`);
    }
    results.set(name, r);
  }

  for (const ins of loads) {
    const r = results.get(ins.reference!)!;
    switch (r.kind) {
      case "btf":
        ins.src = BPF_PSEUDO_BTF_ID;
        ins.imm = r.id;
        ins.immHi = 0;
        ins.btfModule = r.module;
        break;
      case "address":
        ins.imm = Number(BigInt.asIntN(32, r.address));
        ins.immHi = Number(BigInt.asIntN(32, r.address >> 32n));
        delete ins.reference;
        break;
      case "zero":
        ins.imm = 0;
        ins.immHi = 0;
        delete ins.reference;
        break;
    }
  }
}
