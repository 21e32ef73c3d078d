/**
 * The raw runner: run bare bytecode against a block of memory, as the
 * conformance suite, its CLI and the benchmarks do. r1 is the address of a
 * writable copy of the memory, r2 its length; the result is r0, the memory
 * afterwards and the instructions executed.
 *
 * ```ts
 * import { runBytecode } from "./run.ts";
 *
 * // r0 = r2; exit
 * const bytes = new Uint8Array([0xbf, 0x20, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
 * runBytecode(bytes, { memory: new Uint8Array(4) }).r0; // 4n
 * ```
 *
 * @module
 */

import { decodeInstructions } from "../../isa/codec.ts";
import type { Instruction } from "../../isa/instruction.ts";
import { TsbpfError } from "../../errors/mod.ts";
import { VmError } from "./errors.ts";
import { REGION_READ, REGION_WRITE, vmAddress } from "./memory.ts";
import { loadVmCode, unloadVmCode } from "./program.ts";
import { createRuntime, type Runtime } from "./runtime.ts";
import { executorFactory } from "./tiers.ts";
import type { Executor, VmCode, VmHelper, VmRuntime, VmRuntimeOptions, VmTier } from "./types.ts";

/** An {@link Executor} of `code` in `tier`; `VM_BAD_RUN` for an unknown tier. */
export function createExecutor(runtime: VmRuntime, code: VmCode, tier: VmTier): Executor {
  return executorFactory(tier)(runtime, code);
}

/** Helper 5, `ktime_get_ns`, reading the runtime's clock: the raw runner's one default helper. */
export const KTIME_GET_NS: VmHelper = {
  name: "ktime_get_ns",
  call: (env) => env.runtime.options.clock?.() ?? 0n,
};

/** Options of {@link runBytecode} and {@link createRawRunner}. */
export interface RawRunOptions {
  /** Copied into a writable region; r1 = its address, r2 = its length (both 0 when absent). */
  memory?: Uint8Array;
  /** Execution tier; default `interpret`. */
  tier?: VmTier;
  /** Helpers by ID; default a map with helper 5 = `ktime_get_ns` (the runtime clock) only. */
  helpers?: ReadonlyMap<number, VmHelper>;
  /** Instruction budget of a run; default the runtime's. */
  budget?: number;
  /** Runtime settings (clock, seed …). */
  runtime?: VmRuntimeOptions;
}

/** What {@link runBytecode} returns. */
export interface RawRunResult {
  /** r0 as an unsigned 64-bit value. */
  r0: bigint;
  /** The memory after the run (a copy; empty when none was given). */
  memory: Uint8Array;
  /** Instructions executed. */
  steps: number;
}

/** A program loaded once for many raw runs. */
export interface RawRunner {
  /** Run with `memory` (default: the memory given at creation, fresh each run). */
  run(memory?: Uint8Array): RawRunResult;
  /** Release the runtime. */
  close(): void;
}

/**
 * Decode (little-endian), check and load `program` once; each `run` copies
 * the memory in, runs, and copies it out. Throws `VmError` `VM_BAD_PROGRAM`
 * for a program the loader refuses (also for undecodable bytes).
 */
export function createRawRunner(
  program: Uint8Array | readonly Instruction[],
  options: RawRunOptions = {},
): RawRunner {
  const insns = program instanceof Uint8Array ? decode(program) : program;
  const helpers = options.helpers ?? new Map([[5, KTIME_GET_NS]]);
  const runtime: Runtime = createRuntime({ ...options.runtime, helpers });
  const mem = runtime.mem;
  let code: VmCode;
  let exec: Executor;
  try {
    code = loadVmCode(insns, { name: "raw", mem, helpers });
    exec = createExecutor(runtime, code, options.tier ?? "interpret");
  } catch (err) {
    runtime.close();
    throw err;
  }
  const initial = options.memory;
  let closed = false;
  return {
    run(memory = initial) {
      if (closed) throw new VmError("VM_CLOSED", "the raw runner is closed");
      let tag = 0, base = 0;
      const len = memory?.length ?? 0;
      if (memory !== undefined && len > 0) {
        base = mem.alloc(len);
        mem.u8.set(memory, base);
        tag = mem.map({ name: "memory", base, len, flags: REGION_READ | REGION_WRITE });
      }
      try {
        const args = tag === 0 ? [0, 0] : [vmAddress(tag, 0), len];
        const result = exec.run(args, { budget: options.budget });
        const out = tag === 0 ? new Uint8Array(0) : mem.u8.slice(base, base + len);
        return {
          r0: (BigInt(result.hi) << 32n) | BigInt(result.lo),
          memory: out,
          steps: result.steps,
        };
      } finally {
        if (tag !== 0) {
          mem.unmap(tag);
          mem.free(base, len);
        }
      }
    },
    close() {
      if (closed) return;
      closed = true;
      unloadVmCode(mem, code);
      runtime.close();
    },
  };
}

/** Run `program` once (see {@link createRawRunner}). */
export function runBytecode(
  program: Uint8Array | readonly Instruction[],
  options: RawRunOptions = {},
): RawRunResult {
  const runner = createRawRunner(program, options);
  try {
    return runner.run();
  } finally {
    runner.close();
  }
}

function decode(bytes: Uint8Array): Instruction[] {
  try {
    return decodeInstructions(bytes, { littleEndian: true });
  } catch (err) {
    if (err instanceof TsbpfError && !(err instanceof VmError)) {
      throw new VmError("VM_BAD_PROGRAM", err.message, { cause: err });
    }
    throw err;
  }
}
