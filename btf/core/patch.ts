/**
 * Patching an instruction with a CO-RE result (libbpf's
 * `bpf_core_patch_insn`): ALU immediates, load/store offsets (with the
 * load size adjusted where that is safe), `ld_imm64` immediates; and
 * poisoning instructions whose relocation could not be resolved.
 *
 * @module
 */

import type { Instruction } from "../../isa/instruction.ts";
import {
  BPF_ALU,
  BPF_ALU64,
  BPF_B,
  BPF_CALL,
  BPF_DW,
  BPF_H,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_ST,
  BPF_STX,
  BPF_W,
  instructionClass,
  instructionMode,
  instructionSize,
  instructionSource,
  isLoadImm64,
  sizeInBytes,
} from "../../isa/opcodes.ts";
import type { CoreCalcResult } from "./calc.ts";
import { CoreError } from "./errors.ts";

/**
 * The helper ID libbpf calls in place of an instruction whose relocation
 * failed (0xbad2310, "bad relo"): the verifier rejects it with
 * `invalid func unknown#195896080` when the instruction is reachable.
 */
export const CORE_POISON_IMM = 0xbad2310;

/** `call 0xbad2310`, keeping the instruction's metadata (function start, line, relocation). */
export function poisonInstruction(ins: Instruction): Instruction {
  const out: Instruction = {
    opcode: BPF_JMP | BPF_CALL,
    dst: 0,
    src: 0,
    offset: 0,
    imm: CORE_POISON_IMM,
  };
  if (ins.symbol !== undefined) out.symbol = ins.symbol;
  if (ins.sourceOffset !== undefined) out.sourceOffset = ins.sourceOffset;
  if (ins.func !== undefined) out.func = ins.func;
  if (ins.line !== undefined) out.line = ins.line;
  if (ins.coreRelo !== undefined) out.coreRelo = ins.coreRelo;
  return out;
}

/**
 * The instruction(s) replacing a poisoned one: one `call 0xbad2310`, or
 * two for an `ld_imm64` (its second slot poisoned too, as libbpf does, so
 * the slot count and every jump over it stay the same).
 */
export function poisonedInstructions(ins: Instruction): Instruction[] {
  const first = poisonInstruction(ins);
  if (!isLoadImm64(ins)) return [first];
  return [first, { opcode: BPF_JMP | BPF_CALL, dst: 0, src: 0, offset: 0, imm: CORE_POISON_IMM }];
}

const BYTES_TO_SIZE: Record<number, number> = { 1: BPF_B, 2: BPF_H, 4: BPF_W, 8: BPF_DW };

function unexpected(index: number, what: string, got: bigint, res: CoreCalcResult): CoreError {
  return new CoreError(
    "CORE_BAD_INSTRUCTION",
    `unexpected insn #${index} (${what}) value: got ${got}, exp ${res.origVal} -> ${res.newVal}`,
  );
}

/** What {@link patchCoreInstruction} replaces an instruction with. */
export interface CorePatch {
  /** The patched copy, or the poisoned call(s). */
  instructions: Instruction[];
  /** Whether the instruction was poisoned. */
  poisoned: boolean;
}

/**
 * Apply `res` to `ins` (at slot `index`, for messages) and return what
 * replaces it: a patched copy, or the poisoned call(s). Checks, like
 * libbpf, that the instruction holds the locally computed value when
 * `res.validate` is set, and throws a {@link CoreError}
 * (`CORE_BAD_INSTRUCTION`, `CORE_VALUE_RANGE`) naming the instruction when
 * it does not, when an offset does not fit 16 bits, or when the
 * instruction is of a class CO-RE can't patch.
 */
export function patchCoreInstruction(
  ins: Instruction,
  res: CoreCalcResult,
  index: number,
): CorePatch {
  if (res.poison) return { instructions: poisonedInstructions(ins), poisoned: true };
  const cls = instructionClass(ins.opcode);
  const out: Instruction = { ...ins };
  switch (cls) {
    case BPF_ALU:
    case BPF_ALU64: {
      if (instructionSource(ins.opcode) !== BPF_K) {
        throw new CoreError(
          "CORE_BAD_INSTRUCTION",
          `insn #${index} (ALU/ALU64) takes a register, not an immediate CO-RE can patch`,
        );
      }
      const got = BigInt.asUintN(64, BigInt(ins.imm));
      if (res.validate && got !== res.origVal) throw unexpected(index, "ALU/ALU64", got, res);
      out.imm = Number(BigInt.asIntN(32, res.newVal));
      return { instructions: [out], poisoned: false };
    }
    case BPF_LDX:
    case BPF_ST:
    case BPF_STX: {
      const got = BigInt.asUintN(64, BigInt(ins.offset));
      if (res.validate && got !== res.origVal) throw unexpected(index, "LDX/ST/STX", got, res);
      if (res.newVal > 0x7fffn) {
        throw new CoreError(
          "CORE_VALUE_RANGE",
          `insn #${index} (LDX/ST/STX) value too big: ${res.newVal}`,
        );
      }
      // A field of another size read as the old size would give a wrong value.
      if (res.failMemszAdjust) return { instructions: poisonedInstructions(ins), poisoned: true };
      out.offset = Number(res.newVal);
      if (res.newSize !== res.origSize) {
        const have = sizeInBytes(instructionSize(ins.opcode));
        if (have !== res.origSize) {
          throw new CoreError(
            "CORE_BAD_INSTRUCTION",
            `insn #${index} (LDX/ST/STX) unexpected mem size: got ${have}, exp ${res.origSize}`,
          );
        }
        const size = BYTES_TO_SIZE[res.newSize];
        if (size === undefined) {
          throw new CoreError(
            "CORE_BAD_INSTRUCTION",
            `insn #${index} (LDX/ST/STX) invalid new mem size: ${res.newSize}`,
          );
        }
        out.opcode = instructionMode(ins.opcode) | size | cls;
      }
      return { instructions: [out], poisoned: false };
    }
    case BPF_LD: {
      if (
        !isLoadImm64(ins) || ins.src !== 0 || ins.offset !== 0 ||
        (ins.secondSlot !== undefined &&
          (ins.secondSlot.opcode !== 0 || ins.secondSlot.dst !== 0 || ins.secondSlot.src !== 0 ||
            ins.secondSlot.offset !== 0))
      ) {
        throw new CoreError("CORE_BAD_INSTRUCTION", `insn #${index} (LDIMM64) has unexpected form`);
      }
      const got = (BigInt(ins.immHi ?? 0) << 32n | BigInt(ins.imm >>> 0)) & 0xffffffffffffffffn;
      if (res.validate && got !== res.origVal) throw unexpected(index, "LDIMM64", got, res);
      out.imm = Number(BigInt.asIntN(32, res.newVal));
      out.immHi = Number(BigInt.asIntN(32, res.newVal >> 32n));
      return { instructions: [out], poisoned: false };
    }
    default:
      throw new CoreError(
        "CORE_BAD_INSTRUCTION",
        `trying to relocate unrecognized insn #${index}, code:0x${ins.opcode.toString(16)}`,
      );
  }
}
