/**
 * The binary instruction codec: bytes of an executable section to
 * {@link Instruction}s and back, in either byte order.
 *
 * One slot is 8 bytes: `opcode:8 regs:8 offset:16 imm:32`, with `offset` and
 * `imm` in the object's byte order. The register byte follows the byte order
 * too, as LLVM's bpfel/bpfeb targets and the kernel on big-endian machines
 * lay it out: little-endian keeps `dst` in the low nibble and `src` in the
 * high one, big-endian the other way round.
 *
 * Decoding is lenient: any opcode decodes (checking is the verifier's job,
 * or the VM's), and `encodeInstructions(decodeInstructions(b))` gives back
 * `b` bit for bit for every input of valid length. The second slot of an
 * `ld_imm64` must have zero opcode, registers and offset; when it does not,
 * those fields are kept in {@link Instruction.secondSlot} so that even such
 * input round-trips.
 *
 * ```ts
 * import { decodeInstructions, encodeInstructions } from "./codec.ts";
 *
 * const bytes = new Uint8Array([0xb7, 0x00, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
 * const insns = decodeInstructions(bytes, { littleEndian: true }); // r0 = 2; exit
 * encodeInstructions(insns, { littleEndian: true }); // the same 16 bytes
 * ```
 *
 * @module
 */

import { IsaError } from "../errors/mod.ts";
import type { Instruction } from "./instruction.ts";
import { LD_IMM64_OPCODE } from "./opcodes.ts";
import { putU16, putU32 } from "../internal/bytes.ts";

/** Options of {@link decodeInstructions}. */
export interface DecodeOptions {
  /** Byte order of `offset`, `imm` and the register nibbles. */
  littleEndian: boolean;
  /**
   * Byte offset of `bytes` in its ELF section; added to every decoded
   * instruction's `sourceOffset` and to error offsets. Default 0.
   */
  sourceOffset?: number;
}

/** Options of {@link encodeInstructions}. */
export interface EncodeOptions {
  /** Byte order of `offset`, `imm` and the register nibbles. */
  littleEndian: boolean;
}

/**
 * Decode the instructions in `bytes`. `ld_imm64` becomes one instruction
 * spanning two slots; every instruction gets `sourceOffset` =
 * `options.sourceOffset` + its byte offset in `bytes`.
 *
 * Throws {@link IsaError} `ISA_BAD_LENGTH` when the length is not a
 * multiple of 8, and `ISA_TRUNCATED_LDIMM64` when an `ld_imm64` starts in
 * the last slot.
 */
export function decodeInstructions(bytes: Uint8Array, options: DecodeOptions): Instruction[] {
  const length = bytes.byteLength;
  const base = options.sourceOffset ?? 0;
  if (length % 8 !== 0) {
    const at = length - (length % 8);
    throw new IsaError(
      "ISA_BAD_LENGTH",
      `pc ${at / 8} (byte ${base + at}): ${length} bytes is not a whole number of 8-byte slots`,
      { offset: base + at },
    );
  }
  const littleEndian = options.littleEndian === true;
  // Register nibbles swap places with the byte order.
  const dstShift = littleEndian ? 0 : 4;
  const srcShift = littleEndian ? 4 : 0;
  // Fields are read byte by byte: no DataView per section (Bun copies a
  // small array off the heap to make one) and no call per field.
  const out: Instruction[] = [];
  for (let pos = 0; pos < length; pos += 8) {
    const opcode = bytes[pos];
    const regs = bytes[pos + 1];
    const dst = (regs >> dstShift) & 0x0f;
    const src = (regs >> srcShift) & 0x0f;
    const offset = i16(bytes, pos + 2, littleEndian);
    const imm = i32(bytes, pos + 4, littleEndian);
    if (opcode !== LD_IMM64_OPCODE) {
      out.push({ opcode, dst, src, offset, imm, sourceOffset: base + pos });
      continue;
    }
    if (pos + 16 > length) {
      throw new IsaError(
        "ISA_TRUNCATED_LDIMM64",
        `pc ${pos / 8} (byte ${base + pos}): ld_imm64 needs two slots but starts in the last one`,
        { offset: base + pos },
      );
    }
    const immHi = i32(bytes, pos + 12, littleEndian);
    const ins: Instruction = { opcode, dst, src, offset, imm, immHi, sourceOffset: base + pos };
    if ((bytes[pos + 8] | bytes[pos + 9] | bytes[pos + 10] | bytes[pos + 11]) !== 0) {
      const regs2 = bytes[pos + 9];
      ins.secondSlot = {
        opcode: bytes[pos + 8],
        dst: (regs2 >> dstShift) & 0x0f,
        src: (regs2 >> srcShift) & 0x0f,
        offset: i16(bytes, pos + 10, littleEndian),
      };
    }
    out.push(ins);
    pos += 8;
  }
  return out;
}

/** The signed 16-bit field at `at`. */
function i16(bytes: Uint8Array, at: number, littleEndian: boolean): number {
  const v = littleEndian ? bytes[at] | (bytes[at + 1] << 8) : (bytes[at] << 8) | bytes[at + 1];
  return (v << 16) >> 16;
}

/** The signed 32-bit field at `at`. */
function i32(bytes: Uint8Array, at: number, littleEndian: boolean): number {
  return littleEndian
    ? bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)
    : (bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3];
}

/**
 * Encode `insns` into a fresh byte array: 8 bytes per instruction, 16 for
 * `ld_imm64` (whose second slot takes `immHi`, default 0, and
 * `secondSlot`, default all zero). Metadata (`symbol`, `reference`,
 * `sourceOffset`) is ignored.
 *
 * `imm` and `immHi` may be given signed or unsigned (-2^31 … 2^32-1);
 * decoding always yields them signed. Throws {@link IsaError}
 * `ISA_FIELD_RANGE` for a field that does not fit its bits.
 */
export function encodeInstructions(
  insns: readonly Instruction[],
  options: EncodeOptions,
): Uint8Array {
  const bytes = new Uint8Array(encodedSize(insns));
  encodeInstructionsInto(insns, bytes, { offset: 0, littleEndian: options.littleEndian });
  return bytes;
}

/** Bytes {@link encodeInstructions} makes of `insns`: 8 a slot, `ld_imm64` two slots. */
export function encodedSize(insns: readonly Instruction[]): number {
  let slots = insns.length;
  for (let i = 0; i < insns.length; i++) {
    if (insns[i].opcode === LD_IMM64_OPCODE) slots++;
  }
  return slots * 8;
}

/** Options of {@link encodeInstructionsInto}. */
export interface EncodeIntoOptions extends EncodeOptions {
  /** Byte offset in the target of the first slot. */
  offset: number;
}

/**
 * {@link encodeInstructions} into `bytes` at `options.offset`, which must
 * have room for {@link encodedSize} bytes; returns the offset after the
 * last slot. The kernel backend encodes straight into its syscall staging
 * area this way, with no array per program.
 */
export function encodeInstructionsInto(
  insns: readonly Instruction[],
  bytes: Uint8Array,
  options: EncodeIntoOptions,
): number {
  const littleEndian = options.littleEndian === true;
  const dstShift = littleEndian ? 0 : 4;
  const srcShift = littleEndian ? 4 : 0;
  const start = options.offset;
  let pos = start;
  for (let i = 0; i < insns.length; i++) {
    const ins = insns[i];
    const { opcode, dst, src, offset, imm } = ins;
    if (
      (opcode & 0xff) !== opcode || (dst & 0x0f) !== dst || (src & 0x0f) !== src ||
      ((offset << 16) >> 16) !== offset || ((imm | 0) !== imm && imm >>> 0 !== imm)
    ) {
      throw fieldRangeError(ins, i, pos - start);
    }
    bytes[pos] = opcode;
    bytes[pos + 1] = (dst << dstShift) | (src << srcShift);
    putU16(bytes, pos + 2, offset, littleEndian);
    putU32(bytes, pos + 4, imm, littleEndian);
    pos += 8;
    if (opcode !== LD_IMM64_OPCODE) continue;
    const immHi = ins.immHi ?? 0;
    if ((immHi | 0) !== immHi && immHi >>> 0 !== immHi) {
      throw fieldRangeError(ins, i, pos - 8 - start);
    }
    const slot = ins.secondSlot;
    if (slot !== undefined) {
      if (
        (slot.opcode & 0xff) !== slot.opcode || (slot.dst & 0x0f) !== slot.dst ||
        (slot.src & 0x0f) !== slot.src || ((slot.offset << 16) >> 16) !== slot.offset
      ) {
        throw fieldRangeError(ins, i, pos - 8 - start);
      }
      bytes[pos] = slot.opcode;
      bytes[pos + 1] = (slot.dst << dstShift) | (slot.src << srcShift);
      putU16(bytes, pos + 2, slot.offset, littleEndian);
    } else {
      bytes[pos] = 0;
      bytes[pos + 1] = 0;
      bytes[pos + 2] = 0;
      bytes[pos + 3] = 0;
    }
    putU32(bytes, pos + 4, immHi, littleEndian);
    pos += 8;
  }
  return pos;
}

/** Describe which field of `ins` is out of range; kept out of the hot loop. */
function fieldRangeError(ins: Instruction, index: number, offset: number): IsaError {
  const checks: [string, unknown, boolean][] = [
    ["opcode", ins.opcode, isUint(ins.opcode, 8)],
    ["dst", ins.dst, isUint(ins.dst, 4)],
    ["src", ins.src, isUint(ins.src, 4)],
    [
      "offset",
      ins.offset,
      Number.isInteger(ins.offset) && ins.offset >= -32768 && ins.offset <= 32767,
    ],
    ["imm", ins.imm, isImm32(ins.imm)],
    ["immHi", ins.immHi, ins.immHi === undefined || isImm32(ins.immHi)],
  ];
  const slot = ins.secondSlot;
  if (slot !== undefined) {
    checks.push(
      ["secondSlot.opcode", slot.opcode, isUint(slot.opcode, 8)],
      ["secondSlot.dst", slot.dst, isUint(slot.dst, 4)],
      ["secondSlot.src", slot.src, isUint(slot.src, 4)],
      [
        "secondSlot.offset",
        slot.offset,
        Number.isInteger(slot.offset) && slot.offset >= -32768 && slot.offset <= 32767,
      ],
    );
  }
  const bad = checks.find((c) => !c[2]) ?? checks[0];
  return new IsaError(
    "ISA_FIELD_RANGE",
    `pc ${offset / 8} (instruction ${index}, byte ${offset}): ${bad[0]} ${
      String(bad[1])
    } does not fit its field`,
    { offset },
  );
}

function isUint(value: number, bits: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < 2 ** bits;
}

function isImm32(value: number): boolean {
  return Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 32;
}
