/**
 * Opcode constants of the BPF instruction set (RFC 9669 plus the kernel's
 * later additions), spelled as in `<linux/bpf.h>` / `<linux/bpf_common.h>`,
 * and small predicates over {@link Instruction}s.
 *
 * An opcode byte is `class | size | mode` for loads and stores and
 * `class | source | op` for arithmetic and jumps:
 *
 * ```ts
 * import { BPF_ALU64, BPF_ADD, BPF_K, instructionClass } from "./opcodes.ts";
 *
 * const opcode = BPF_ALU64 | BPF_ADD | BPF_K; // 0x07: r1 += 5
 * instructionClass(opcode) === BPF_ALU64; // true
 * ```
 *
 * @module
 */

import { IsaError } from "../errors/mod.ts";
import type { Instruction } from "./instruction.ts";

// Instruction classes: the low 3 bits of the opcode.

/** Class: non-standard loads (`ld_imm64`, legacy packet access). */
export const BPF_LD = 0x00;
/** Class: loads into a register. */
export const BPF_LDX = 0x01;
/** Class: stores of an immediate. */
export const BPF_ST = 0x02;
/** Class: stores of a register, and atomic operations. */
export const BPF_STX = 0x03;
/** Class: 32-bit arithmetic. */
export const BPF_ALU = 0x04;
/** Class: 64-bit jumps, calls and exit. */
export const BPF_JMP = 0x05;
/** Class: 32-bit jumps (compare the low halves of the registers). */
export const BPF_JMP32 = 0x06;
/** Class: 64-bit arithmetic. */
export const BPF_ALU64 = 0x07;

// Access sizes of load/store opcodes (bits 3-4).

/** Size: 32 bits. */
export const BPF_W = 0x00;
/** Size: 16 bits. */
export const BPF_H = 0x08;
/** Size: 8 bits. */
export const BPF_B = 0x10;
/** Size: 64 bits. */
export const BPF_DW = 0x18;

// Modes of load/store opcodes (bits 5-7).

/** Mode: 64-bit immediate (`ld_imm64`). */
export const BPF_IMM = 0x00;
/** Mode: legacy packet access at an absolute offset. */
export const BPF_ABS = 0x20;
/** Mode: legacy packet access at a register offset. */
export const BPF_IND = 0x40;
/** Mode: regular memory access. */
export const BPF_MEM = 0x60;
/** Mode: sign-extending memory load (v4). */
export const BPF_MEMSX = 0x80;
/** Mode: atomic operation; `imm` selects the operation. */
export const BPF_ATOMIC = 0xc0;

// Source of arithmetic and jump opcodes (bit 3).

/** Source: the 32-bit immediate. */
export const BPF_K = 0x00;
/** Source: the `src` register. */
export const BPF_X = 0x08;
/** `BPF_END` source bit: convert to little endian (with `BPF_ALU64`: unconditional byte swap). */
export const BPF_TO_LE = 0x00;
/** `BPF_END` source bit: convert to big endian. */
export const BPF_TO_BE = 0x08;

// Arithmetic operations (bits 4-7).

/** ALU: `dst += src`. */
export const BPF_ADD = 0x00;
/** ALU: `dst -= src`. */
export const BPF_SUB = 0x10;
/** ALU: `dst *= src`. */
export const BPF_MUL = 0x20;
/** ALU: `dst /= src` (unsigned; signed when `offset` is 1). */
export const BPF_DIV = 0x30;
/** ALU: `dst |= src`. */
export const BPF_OR = 0x40;
/** ALU: `dst &= src`. */
export const BPF_AND = 0x50;
/** ALU: `dst <<= src`. */
export const BPF_LSH = 0x60;
/** ALU: `dst >>= src` (logical). */
export const BPF_RSH = 0x70;
/** ALU: `dst = -dst`. */
export const BPF_NEG = 0x80;
/** ALU: `dst %= src` (unsigned; signed when `offset` is 1). */
export const BPF_MOD = 0x90;
/** ALU: `dst ^= src`. */
export const BPF_XOR = 0xa0;
/** ALU: `dst = src` (sign-extending when `offset` is 8, 16 or 32). */
export const BPF_MOV = 0xb0;
/** ALU: `dst >>= src` (arithmetic). */
export const BPF_ARSH = 0xc0;
/** ALU: byte swap / endianness conversion; `imm` is the width (16, 32, 64). */
export const BPF_END = 0xd0;

// Jump operations (bits 4-7).

/** Jump: always (`goto`; with `BPF_JMP32`, `gotol` taking its offset from `imm`). */
export const BPF_JA = 0x00;
/** Jump: if `dst == src`. */
export const BPF_JEQ = 0x10;
/** Jump: if `dst > src` (unsigned). */
export const BPF_JGT = 0x20;
/** Jump: if `dst >= src` (unsigned). */
export const BPF_JGE = 0x30;
/** Jump: if `dst & src`. */
export const BPF_JSET = 0x40;
/** Jump: if `dst != src`. */
export const BPF_JNE = 0x50;
/** Jump: if `dst > src` (signed). */
export const BPF_JSGT = 0x60;
/** Jump: if `dst >= src` (signed). */
export const BPF_JSGE = 0x70;
/** Call a helper (`src` 0), a BPF function (`src` 1) or a kfunc (`src` 2). */
export const BPF_CALL = 0x80;
/** Return from the program or function. */
export const BPF_EXIT = 0x90;
/** Jump: if `dst < src` (unsigned). */
export const BPF_JLT = 0xa0;
/** Jump: if `dst <= src` (unsigned). */
export const BPF_JLE = 0xb0;
/** Jump: if `dst < src` (signed). */
export const BPF_JSLT = 0xc0;
/** Jump: if `dst <= src` (signed). */
export const BPF_JSLE = 0xd0;
/** Jump: conditional pseudo jump; `src` selects the condition (`BPF_MAY_GOTO`). */
export const BPF_JCOND = 0xe0;

/** `BPF_JCOND` condition in `src`: `may_goto`, a bounded-loop escape. */
export const BPF_MAY_GOTO = 0;

// Atomic operations: the `imm` of a `BPF_STX | BPF_ATOMIC` instruction.

/** Atomic flag: also load the old value into `src`. */
export const BPF_FETCH = 0x01;
/** Atomic: exchange (`BPF_FETCH` implied). */
export const BPF_XCHG = 0xe0 | BPF_FETCH;
/** Atomic: compare with `r0` and exchange (`BPF_FETCH` implied). */
export const BPF_CMPXCHG = 0xf0 | BPF_FETCH;
/** Atomic: load-acquire `dst = *(src + off)`. */
export const BPF_LOAD_ACQ = 0x100;
/** Atomic: store-release `*(dst + off) = src`. */
export const BPF_STORE_REL = 0x110;

// Pseudo sources in the `src` field of `ld_imm64`.

/** `ld_imm64` src: `imm` is a map file descriptor. */
export const BPF_PSEUDO_MAP_FD = 1;
/** `ld_imm64` src: `imm` is a map file descriptor, `immHi` an offset into its value. */
export const BPF_PSEUDO_MAP_VALUE = 2;
/** `ld_imm64` src: `imm` is a BTF id of a kernel variable. */
export const BPF_PSEUDO_BTF_ID = 3;
/** `ld_imm64` src: `imm` is the relative address of a BPF function. */
export const BPF_PSEUDO_FUNC = 4;
/** `ld_imm64` src: `imm` is an index into the program's map array. */
export const BPF_PSEUDO_MAP_IDX = 5;
/** `ld_imm64` src: like `BPF_PSEUDO_MAP_IDX`, `immHi` an offset into the value. */
export const BPF_PSEUDO_MAP_IDX_VALUE = 6;

// Pseudo sources in the `src` field of `call`.

/** `call` src: `imm` is the relative address of a BPF function (bpf-to-bpf call). */
export const BPF_PSEUDO_CALL = 1;
/** `call` src: `imm` is the BTF id of a kernel function (kfunc). */
export const BPF_PSEUDO_KFUNC_CALL = 2;

// Variants encoded in the offset field (v4 and later).

/** `offset` of `BPF_DIV` / `BPF_MOD` selecting signed division (`sdiv`, `smod`). */
export const BPF_SIGNED_DIVISION_OFFSET = 1;
/**
 * `offset` of `BPF_ALU64 | BPF_MOV | BPF_X` selecting `addr_space_cast`;
 * `imm` is `dst_as << 16 | src_as`.
 */
export const BPF_ADDR_SPACE_CAST = 1;
/** `offset` values of `BPF_MOV | BPF_X` selecting sign extension from 8, 16 or 32 bits (`movsx`). */
export const BPF_MOVSX_OFFSETS: readonly number[] = Object.freeze([8, 16, 32]);

/** The one two-slot opcode: `BPF_LD | BPF_IMM | BPF_DW`. */
export const LD_IMM64_OPCODE = BPF_LD | BPF_IMM | BPF_DW;
/** `BPF_JMP | BPF_CALL`. */
export const CALL_OPCODE = BPF_JMP | BPF_CALL;
/** `BPF_JMP | BPF_EXIT`. */
export const EXIT_OPCODE = BPF_JMP | BPF_EXIT;

/** Size in bytes of one instruction slot. */
export const INSTRUCTION_SIZE = 8;

// Field extraction, named after the kernel's BPF_CLASS / BPF_SIZE / ... macros.

/** The class of an opcode (`BPF_CLASS`): one of `BPF_LD` … `BPF_ALU64`. */
export function instructionClass(opcode: number): number {
  return opcode & 0x07;
}

/** The access size of a load/store opcode (`BPF_SIZE`): `BPF_W`, `BPF_H`, `BPF_B` or `BPF_DW`. */
export function instructionSize(opcode: number): number {
  return opcode & 0x18;
}

/** The mode of a load/store opcode (`BPF_MODE`): `BPF_IMM`, `BPF_MEM`, `BPF_ATOMIC`, … */
export function instructionMode(opcode: number): number {
  return opcode & 0xe0;
}

/** The operation of an arithmetic or jump opcode (`BPF_OP`): `BPF_ADD`, `BPF_JEQ`, … */
export function instructionOp(opcode: number): number {
  return opcode & 0xf0;
}

/** The source bit of an arithmetic or jump opcode (`BPF_SRC`): `BPF_K` or `BPF_X`. */
export function instructionSource(opcode: number): number {
  return opcode & 0x08;
}

/** Width in bytes of a load/store size (`BPF_W` → 4, `BPF_H` → 2, `BPF_B` → 1, `BPF_DW` → 8). */
export function sizeInBytes(size: number): number {
  switch (size & 0x18) {
    case BPF_W:
      return 4;
    case BPF_H:
      return 2;
    case BPF_B:
      return 1;
    default:
      return 8;
  }
}

// Predicates over instructions.

/** Whether `ins` is `ld_imm64` (opcode 0x18), the one instruction that spans two slots. */
export function isLoadImm64(ins: Instruction): boolean {
  return ins.opcode === LD_IMM64_OPCODE;
}

/**
 * Whether `ins` is a call with an immediate target (`BPF_JMP | BPF_CALL |
 * BPF_K`): a helper, BPF function or kfunc call. `callx` is not included.
 */
export function isCall(ins: Instruction): boolean {
  return ins.opcode === CALL_OPCODE;
}

/** Whether `ins` calls another BPF function (bpf-to-bpf, `src` = `BPF_PSEUDO_CALL`). */
export function isFunctionCall(ins: Instruction): boolean {
  return ins.opcode === CALL_OPCODE && ins.src === BPF_PSEUDO_CALL;
}

/** Whether `ins` calls a kernel function (`src` = `BPF_PSEUDO_KFUNC_CALL`). */
export function isKfuncCall(ins: Instruction): boolean {
  return ins.opcode === CALL_OPCODE && ins.src === BPF_PSEUDO_KFUNC_CALL;
}

/** Whether `ins` calls a helper by number (`src` = 0). */
export function isHelperCall(ins: Instruction): boolean {
  return ins.opcode === CALL_OPCODE && ins.src === 0;
}

/**
 * Whether `ins` is a pc-relative jump: `goto`, `gotol`, a conditional jump
 * of either width, or `may_goto`. Calls and exit are not jumps.
 */
export function isJump(ins: Instruction): boolean {
  const cls = ins.opcode & 0x07;
  if (cls !== BPF_JMP && cls !== BPF_JMP32) return false;
  const op = ins.opcode & 0xf0;
  return op !== BPF_CALL && op !== BPF_EXIT && op <= BPF_JCOND;
}

/** Whether `ins` is `exit`. */
export function isExit(ins: Instruction): boolean {
  return ins.opcode === EXIT_OPCODE;
}

/**
 * The distance of a jump in slots, relative to the slot after it: `imm` for
 * `gotol` (`BPF_JMP32 | BPF_JA`), `offset` for every other jump.
 */
export function jumpOffset(ins: Instruction): number {
  return ins.opcode === (BPF_JMP32 | BPF_JA) ? ins.imm : ins.offset;
}

/** Number of 8-byte slots `ins` occupies: 2 for `ld_imm64`, else 1. */
export function slotCount(ins: Instruction): number {
  return ins.opcode === LD_IMM64_OPCODE ? 2 : 1;
}

const TWO_POW_32 = 4294967296;

/**
 * The constant an instruction carries, as a signed 64-bit value: the full
 * 64-bit immediate of `ld_imm64`, else `imm` sign-extended.
 *
 * ```ts
 * import { constant } from "./opcodes.ts";
 *
 * constant({ opcode: 0x18, dst: 1, src: 0, offset: 0, imm: -1, immHi: 0 }); // 4294967295n
 * ```
 */
export function constant(ins: Instruction): bigint {
  if (ins.opcode !== LD_IMM64_OPCODE) return BigInt(ins.imm | 0);
  const hi = ins.immHi ?? 0;
  const lo = ins.imm >>> 0;
  // Stay in doubles when the value is exact there; BigInt shifts cost more.
  const value = (hi | 0) * TWO_POW_32 + lo;
  if (Number.isSafeInteger(value)) return BigInt(value);
  return BigInt.asIntN(64, (BigInt(hi | 0) << 32n) | BigInt(lo));
}

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * Set the constant of `ins` in place: both halves of an `ld_imm64`
 * (any value from -2^63 to 2^64-1), or `imm` of any other instruction
 * (a signed 32-bit value). Throws `ISA_CONSTANT_RANGE` when it does not fit.
 */
export function setConstant(ins: Instruction, value: bigint): void {
  if (ins.opcode === LD_IMM64_OPCODE) {
    if (value < INT64_MIN || value > UINT64_MAX) {
      throw new IsaError(
        "ISA_CONSTANT_RANGE",
        `constant ${value} does not fit in the 64 bits of ld_imm64`,
      );
    }
    ins.imm = Number(BigInt.asIntN(32, value));
    ins.immHi = Number(BigInt.asIntN(32, value >> 32n));
    return;
  }
  if (value < INT32_MIN || value > INT32_MAX) {
    throw new IsaError(
      "ISA_CONSTANT_RANGE",
      `constant ${value} does not fit in the signed 32-bit immediate of opcode 0x${
        ins.opcode.toString(16).padStart(2, "0")
      }`,
    );
  }
  ins.imm = Number(value);
}
