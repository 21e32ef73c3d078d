/**
 * Finding a kernel VAR or FUNC by name in vmlinux's BTF, then in the
 * modules' (libbpf's `find_ksym_btf_id`), and libbpf's
 * `bpf_core_types_are_compat` check of a local type against the kernel's.
 *
 * @module
 */

import type { Btf } from "../../btf/btf.ts";
import { type BtfKind, btfKindName } from "../../btf/types.ts";
import { KernelBtfCache } from "../../backends/kernel/kernel_btf.ts";
import { TsbpfError } from "../../errors/mod.ts";

/** Where kernel BTF comes from: {@link KernelBtfCache} or a stand-in with the same methods. */
export interface KernelBtfSource {
  /** vmlinux BTF; throws when there is none. */
  vmlinux(): Btf;
  /** A module's split BTF. */
  module(name: string): Btf;
  /** Names of the modules with BTF. */
  moduleNames(): string[];
}

let shared: KernelBtfSource | undefined;

/** The process-wide kernel BTF cache, made on first use. */
export function defaultKernelBtf(): KernelBtfSource {
  shared ??= new KernelBtfCache();
  return shared;
}

/** A kernel type found by name. */
export interface KernelType {
  /** The BTF holding it (a module's split BTF, or vmlinux). */
  btf: Btf;
  /** Its ID there. */
  id: number;
  /** `vmlinux` or the module's name. */
  module: string;
}

/**
 * The first `kind` type named `name` in vmlinux, else in the first module
 * (in name order) that has one; `undefined` when none has it.
 *
 * @throws {TsbpfError} when vmlinux BTF can't be read (the caller says why the extern is unresolved).
 */
export function findKernelType(
  source: KernelBtfSource,
  name: string,
  kind: BtfKind,
): KernelType | undefined {
  const vmlinux = source.vmlinux();
  const id = vmlinux.idsByName(name).find((i) => vmlinux.kindOf(i) === kind);
  if (id !== undefined) return { btf: vmlinux, id, module: "vmlinux" };
  for (const module of source.moduleNames()) {
    let btf: Btf;
    try {
      btf = source.module(module);
    } catch (err) {
      // A module unloaded since the directory was listed, or one whose BTF
      // does not parse: the others may still have the symbol.
      if (err instanceof TsbpfError) continue;
      throw err;
    }
    const own = btf.idsByName(name).find((i) => i >= btf.firstId && btf.kindOf(i) === kind);
    if (own !== undefined) return { btf, id: own, module };
  }
  return undefined;
}

/** `[12] struct rq` for messages. */
export function describeType(btf: Btf, id: number): string {
  if (id === 0) return "[0] void";
  try {
    const t = btf.type(id);
    return `[${id}] ${btfKindName(t.kind).toLowerCase()} ${t.name}`.trimEnd();
  } catch {
    return `[${id}]`;
  }
}
