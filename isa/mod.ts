/**
 * The BPF instruction set: the decoded {@link Instruction} form, opcode
 * constants and predicates (RFC 9669 with the kernel's later additions), the
 * binary codec for both byte orders, and a disassembler that prints what
 * `llvm-objdump -d` prints.
 *
 * ```ts
 * import { decodeInstructions, disassemble, isHelperCall } from "./mod.ts";
 *
 * const bytes = new Uint8Array([
 *   0x85, 0x00, 0, 0, 5, 0, 0, 0, // call 5
 *   0x95, 0x00, 0, 0, 0, 0, 0, 0, // exit
 * ]);
 * const insns = decodeInstructions(bytes, { littleEndian: true });
 * isHelperCall(insns[0]); // true
 * console.log(disassemble(insns, { section: "xdp" }));
 * ```
 *
 * @module
 */

export type { Instruction, SecondSlot } from "./instruction.ts";
export * from "./opcodes.ts";
export {
  decodeInstructions,
  encodedSize,
  encodeInstructions,
  encodeInstructionsInto,
} from "./codec.ts";
export type { DecodeOptions, EncodeIntoOptions, EncodeOptions } from "./codec.ts";
export { disassemble, formatInstruction } from "./disasm.ts";
export type { DisasmSymbol, DisassembleOptions, FormatOptions } from "./disasm.ts";
export { assemble, type AssembleOptions, formatAsm, type FormatAsmOptions } from "./asm.ts";
