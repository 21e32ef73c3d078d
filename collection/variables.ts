/**
 * Global variables of an object: where each lives in a data-section map,
 * and its BTF type, so it can be read and set before load.
 *
 * @module
 */

/** How a variable is visible, from its BTF VAR or ELF symbol binding. */
export type VariableLinkage = "static" | "global" | "extern";

/** A global or static variable in a data section (cilium/ebpf's `VariableSpec`). */
export interface VariableSpec {
  /** The variable's name. */
  name: string;
  /** The data-section map it lives in (`.data`, `.rodata`, `.bss`, `.data.custom`, …). */
  section: string;
  /** Byte offset in the section. */
  offset: number;
  /** Size in bytes. */
  size: number;
  /** BTF type ID of its value in the collection's BTF; absent for objects without BTF. */
  type?: number;
  /** Static, global or extern. */
  linkage: VariableLinkage;
  /** In a `.rodata*` section: a constant, settable only before load. */
  constant: boolean;
}
