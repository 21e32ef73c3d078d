/**
 * What the CO-RE stage records per relocation, and how it is printed.
 *
 * @module
 */

/** Where a relocation resolved to. */
export interface CoreRelocationTarget {
  /** The target BTF's name: `vmlinux`, a module name, or the custom BTF's path / `custom`. */
  btf: string;
  /** The matched type's ID there. */
  typeId: number;
  /** The target spec, formatted like {@link CoreRelocationResult.spec}. */
  spec: string;
}

/** How a relocation ended. */
export type CoreRelocationStatus = "patched" | "poisoned" | "unresolved";

/** One CO-RE relocation of a program, resolved (or not). */
export interface CoreRelocationResult {
  /** Instruction index (in 8-byte slots, as the verifier counts) in the program. */
  insn: number;
  /** `enum bpf_core_relo_kind`. */
  kind: number;
  /** The kind as libbpf prints it: `byte_off`, `field_exists`, …. */
  kindName: string;
  /** The local root type's ID. */
  localTypeId: number;
  /** The local root type, e.g. `struct task_struct___old`. */
  localType: string;
  /** The raw access string, e.g. `0:57`. */
  accessor: string;
  /** The local spec as libbpf prints it: `struct task_struct.real_parent (0:57 @ offset 1448)`. */
  spec: string;
  /** The candidate it resolved to; absent when none matched. */
  target?: CoreRelocationTarget;
  /** The value the compiler put in the instruction (from the local BTF). */
  origValue: bigint;
  /** The value patched in (0 for poisoned and unresolved relocations). */
  newValue: bigint;
  /** `patched`, `poisoned` (instruction became `call 0xbad2310`), or `unresolved` (no target BTF). */
  status: CoreRelocationStatus;
  /** Why the target has no match (poisoned, or an existence check that gave 0) or no target BTF. */
  reason?: string;
}

/** Deep copy of a result. */
export function copyCoreResult(r: CoreRelocationResult): CoreRelocationResult {
  return { ...r, target: r.target === undefined ? undefined : { ...r.target } };
}

/** Structural equality of two results. */
export function coreResultsEqual(a: CoreRelocationResult, b: CoreRelocationResult): boolean {
  return a.insn === b.insn && a.kind === b.kind && a.kindName === b.kindName &&
    a.localTypeId === b.localTypeId && a.localType === b.localType &&
    a.accessor === b.accessor && a.spec === b.spec && a.origValue === b.origValue &&
    a.newValue === b.newValue && a.status === b.status && a.reason === b.reason &&
    a.target?.btf === b.target?.btf && a.target?.typeId === b.target?.typeId &&
    a.target?.spec === b.target?.spec;
}

/**
 * One line per relocation, libbpf-like:
 * `insn #3: <byte_off> [5] struct foo.y (0:1 @ offset 8) => vmlinux [12] struct foo.y (0:2 @ offset 20): 8 -> 20`,
 * with `poisoned: <reason>` or `unresolved: <reason>` in place of the values.
 */
export function formatCoreResult(r: CoreRelocationResult): string {
  let out = `insn #${r.insn}: <${r.kindName}> [${r.localTypeId}] ${r.spec}`;
  if (r.target !== undefined) out += ` => ${r.target.btf} [${r.target.typeId}] ${r.target.spec}`;
  switch (r.status) {
    case "patched":
      out += `: ${r.origValue} -> ${r.newValue}`;
      if (r.reason !== undefined) out += ` (${r.reason})`;
      return out;
    case "poisoned":
      return `${out}: poisoned: ${r.reason ?? "no matching target"}`;
    default:
      return `${out}: unresolved: ${r.reason ?? "no target BTF"}`;
  }
}
