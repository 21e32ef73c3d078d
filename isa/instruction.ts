/**
 * The decoded form of one BPF instruction.
 *
 * @module
 */

/**
 * One instruction. `ld_imm64` (opcode 0x18) occupies two 8-byte slots and is
 * one `Instruction` with `immHi` holding the second slot's immediate.
 *
 * Metadata (`symbol`, `reference`, `sourceOffset`) is not part of the
 * encoding: it is what the pipeline knows about the instruction.
 */
export interface Instruction {
  /** The 8-bit opcode (class, size/source, mode/op bits). */
  opcode: number;
  /** Destination register, 0-15 (4 bits). */
  dst: number;
  /** Source register or pseudo source, 0-15 (4 bits). */
  src: number;
  /** Signed 16-bit offset. */
  offset: number;
  /** Signed 32-bit immediate; for `ld_imm64` the low 32 bits. */
  imm: number;
  /** `ld_imm64` only: the second slot's signed 32-bit immediate (the high 32 bits). */
  immHi?: number;
  /**
   * `ld_imm64` only, and only when they are not all zero: the second slot's
   * opcode, register and offset fields. The kernel requires them to be zero;
   * the decoder keeps them so that decoding and re-encoding stays bit-exact.
   */
  secondSlot?: SecondSlot;
  /** The function this instruction starts, when it is a function's first instruction. */
  symbol?: string;
  /** What a relocation points this instruction at: a map, a function, a data section, an extern. */
  reference?: string;
  /** Byte offset of the instruction in its source ELF section. */
  sourceOffset?: number;
  /** BTF type ID of the FUNC that starts here (from `.BTF.ext` func_info). */
  func?: number;
  /** The source line this instruction starts (from `.BTF.ext` line_info). */
  line?: SourceLine;
  /** The CO-RE relocation applying to this instruction (from `.BTF.ext`). */
  coreRelo?: CoreRelocation;
  /**
   * For a resolved typed ksym (`ld_imm64`, `BPF_PSEUDO_BTF_ID`) or kfunc call
   * (`BPF_PSEUDO_KFUNC_CALL`): the kernel BTF its `imm` is an ID of, `vmlinux`
   * or a module's name. The kernel backend puts that module's BTF object fd
   * in `immHi` (ksyms) or in the program's fd_array at `offset` (kfuncs).
   */
  btfModule?: string;
}

/** A source line, as `.BTF.ext` line_info records it. */
export interface SourceLine {
  /** Source file name as the compiler recorded it. */
  fileName: string;
  /** The text of the line. */
  lineText: string;
  /** 1-based line number. */
  line: number;
  /** 1-based column; 0 when unknown. */
  column: number;
}

/** A CO-RE relocation record (`struct bpf_core_relo`) of one instruction. */
export interface CoreRelocation {
  /** The local BTF type ID the access starts from. */
  typeId: number;
  /** The access string, e.g. `0:1:2`. */
  accessor: string;
  /** `enum bpf_core_relo_kind` (FIELD_BYTE_OFFSET 0 … TYPE_MATCHES 12). */
  kind: number;
}

/**
 * The fields of an `ld_imm64` instruction's second slot other than its
 * immediate (which is {@link Instruction.immHi}). All zero in a valid program.
 */
export interface SecondSlot {
  /** The second slot's opcode byte (must be 0). */
  opcode: number;
  /** The second slot's destination register nibble (must be 0). */
  dst: number;
  /** The second slot's source register nibble (must be 0). */
  src: number;
  /** The second slot's signed 16-bit offset (must be 0). */
  offset: number;
}
