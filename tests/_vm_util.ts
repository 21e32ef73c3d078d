/**
 * Shared pieces of the VM tests: the tiers to run every test in, and small
 * builders of programs from `{opcode, dst, src, offset, imm}` lists.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodeInstructions } from "../isa/codec.ts";
import type { Instruction } from "../isa/instruction.ts";
import { VmError } from "../backends/vm/errors.ts";
import { loadVmCode } from "../backends/vm/program.ts";
import {
  createExecutor,
  type RawRunOptions,
  type RawRunResult,
  runBytecode,
} from "../backends/vm/run.ts";
import { VM_TIERS } from "../backends/vm/tiers.ts";
import { createRuntime, type Runtime } from "../backends/vm/runtime.ts";
import type { Executor, VmCode, VmHelper, VmRuntimeOptions, VmTier } from "../backends/vm/types.ts";

/** The tiers every VM test runs in: the interpreter and the compiled tier. */
export const TIERS: VmTier[] = [...VM_TIERS];

/** An instruction with fields defaulting to 0. */
export type InsLike = Partial<Instruction> & { opcode: number };

/** Complete `{opcode, …}` objects into {@link Instruction}s (missing fields 0). */
export function insns(list: readonly InsLike[]): Instruction[] {
  return list.map((i) => ({
    dst: 0,
    src: 0,
    offset: 0,
    imm: 0,
    ...i,
    ...(i.opcode === 0x18 ? { immHi: i.immHi ?? 0 } : {}),
  }));
}

/** Little-endian bytecode of `list`. */
export function bytecode(list: readonly InsLike[]): Uint8Array {
  return encodeInstructions(insns(list), { littleEndian: true });
}

/** Run `list` as raw bytecode in `tier` (see `runBytecode`). */
export function runRaw(
  tier: VmTier,
  list: readonly InsLike[],
  options: RawRunOptions = {},
): RawRunResult {
  return runBytecode(bytecode(list), { ...options, tier });
}

/** r0 of running `list` in `tier`. */
export function r0Of(tier: VmTier, list: readonly InsLike[], options: RawRunOptions = {}): bigint {
  return runRaw(tier, list, options).r0;
}

/** Assert `fn` throws a `VmError` with `code` (and `pc` when given); returns it. */
export function throwsVm(fn: () => unknown, code: string, pc?: number): VmError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VmError, `expected VmError ${code}, got ${err}`);
    assert.equal(err.code, code, err.message);
    if (pc !== undefined) assert.equal(err.pc, pc, err.message);
    return err;
  }
  assert.fail(`expected VmError ${code}, nothing was thrown`);
}

/** A loaded program with its runtime, for tests needing regions or helpers of their own. */
export interface VmSetup {
  runtime: Runtime;
  code: VmCode;
  exec: Executor;
  close(): void;
}

/** Load `list` into a fresh runtime with `helpers` and make an executor in `tier`. */
export function setup(
  tier: VmTier,
  list: readonly InsLike[],
  options: { helpers?: Map<number, VmHelper>; runtime?: VmRuntimeOptions } = {},
): VmSetup {
  const runtime = createRuntime({ ...options.runtime, helpers: options.helpers ?? new Map() });
  const code = loadVmCode(insns(list), {
    name: "test",
    mem: runtime.mem,
    helpers: runtime.helpers,
  });
  return { runtime, code, exec: createExecutor(runtime, code, tier), close: () => runtime.close() };
}

/** r0 as an unsigned bigint from an `ExecResult`. */
export function r0Bigint(result: { lo: number; hi: number }): bigint {
  return (BigInt(result.hi) << 32n) | BigInt(result.lo);
}

// Opcode builders for readability.

/** `exit`. */
export const EXIT: InsLike = { opcode: 0x95 };

/** `dst = imm` (64-bit, sign-extended). */
export function movImm(dst: number, imm: number): InsLike {
  return { opcode: 0xb7, dst, imm };
}

/** `dst = src` (64-bit). */
export function movReg(dst: number, src: number): InsLike {
  return { opcode: 0xbf, dst, src };
}

/** `ld_imm64 dst, value`. */
export function lddw(dst: number, value: bigint): InsLike {
  const v = BigInt.asUintN(64, value);
  return {
    opcode: 0x18,
    dst,
    imm: Number(v & 0xffffffffn) | 0,
    immHi: Number(v >> 32n) | 0,
  };
}

/** `call helper id`. */
export function callHelper(id: number): InsLike {
  return { opcode: 0x85, imm: id };
}

/** `call pc+1+rel` (bpf-to-bpf). */
export function callLocal(rel: number): InsLike {
  return { opcode: 0x85, src: 1, imm: rel };
}
