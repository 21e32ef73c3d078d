/**
 * Finding a kernel VAR or FUNC by name in vmlinux's BTF, then in the
 * modules' (libbpf's `find_ksym_btf_id`), and libbpf's
 * `bpf_core_types_are_compat` check of a local type against the kernel's.
 *
 * @module
 */

import type { Btf } from "../../btf/btf.ts";
import { BtfKind, btfKindName } from "../../btf/types.ts";
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

const MAX_DEPTH = 32;

/**
 * libbpf's `__bpf_core_types_are_compat`: after modifiers and typedefs the
 * kinds match (any enum with any enum); integers are compatible unless
 * bitfield-like; pointers and arrays compare what they point at / hold;
 * prototypes compare return and parameter types and their count. Unlike
 * libbpf, named structs, unions, enums and forward declarations must also
 * share their essential name (`task_struct___old` is `task_struct`), and a
 * forward declaration matches a struct or union of its name.
 */
export function typesAreCompatible(
  local: Btf,
  localId: number,
  target: Btf,
  targetId: number,
  depth = 0,
): boolean {
  if (depth > MAX_DEPTH) return false;
  const lid = local.skipTypedefs(localId);
  const tid = target.skipTypedefs(targetId);
  if (lid === 0 || tid === 0) return lid === tid;
  const l = local.type(lid);
  const t = target.type(tid);
  const anyEnum = (k: BtfKind) => k === BtfKind.ENUM || k === BtfKind.ENUM64;
  const composite = (k: BtfKind) => k === BtfKind.STRUCT || k === BtfKind.UNION;
  const fwdMatch = (l.kind === BtfKind.FWD && composite(t.kind)) ||
    (t.kind === BtfKind.FWD && composite(l.kind));
  if (l.kind !== t.kind && !(anyEnum(l.kind) && anyEnum(t.kind)) && !fwdMatch) return false;
  switch (l.kind) {
    case BtfKind.STRUCT:
    case BtfKind.UNION:
    case BtfKind.ENUM:
    case BtfKind.ENUM64:
    case BtfKind.FWD:
      return l.name === "" || t.name === "" || essential(l.name) === essential(t.name);
    case BtfKind.INT:
      return l.bitOffset === 0 && t.kind === BtfKind.INT && t.bitOffset === 0;
    case BtfKind.FLOAT:
      return true;
    case BtfKind.PTR:
      return t.kind === BtfKind.PTR && typesAreCompatible(local, l.type, target, t.type, depth + 1);
    case BtfKind.ARRAY:
      return t.kind === BtfKind.ARRAY &&
        typesAreCompatible(local, l.type, target, t.type, depth + 1);
    case BtfKind.FUNC_PROTO: {
      if (t.kind !== BtfKind.FUNC_PROTO || l.params.length !== t.params.length) return false;
      if (!typesAreCompatible(local, l.returnType, target, t.returnType, depth + 1)) return false;
      return l.params.every((p, i) =>
        typesAreCompatible(local, p.type, target, t.params[i].type, depth + 1)
      );
    }
    default:
      return false;
  }
}

/** A name without its `___flavour` suffix. */
function essential(name: string): string {
  const at = name.indexOf("___");
  return at > 0 ? name.slice(0, at) : name;
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
