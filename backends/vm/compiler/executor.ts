/**
 * The compiled tier's host side: compiles a {@link VmCode} once per runtime
 * to a WebAssembly instance and runs it, serving the module's imports —
 * helper calls (with a {@link HelperEnv}), special-region loads and
 * stores, faults, budget and call-depth errors — and following tail calls.
 *
 * @module
 */

import { VmError } from "../errors.ts";
import { ARGS_BASE, SCRATCH_BASE, TAG_SCALE, type VmMemory } from "../memory.ts";
import {
  DEFAULT_BUDGET,
  type ExecOptions,
  type ExecResult,
  type Executor,
  type HelperEnv,
  MAX_CALL_DEPTH,
  MAX_TAIL_CALLS,
  type VmAddress,
  type VmCode,
  type VmProgramHandle,
  type VmRuntime,
} from "../types.ts";
import { BAD_FALL_OFF, generateModule, MAX_FUNCTION_BYTES, NOT_SHORT } from "./codegen.ts";
import { createInterpreter } from "../interpreter.ts";

/** Per-runtime state shared by every compiled program of the runtime. */
class JitState {
  /** Budget left, read and written by the compiled code. */
  readonly budget = new WebAssembly.Global({ value: "f64", mutable: true }, 0);
  /** `may_goto` iterations left in the current run. */
  readonly mayGoto = new WebAssembly.Global({ value: "i32", mutable: true }, MAY_GOTO_LIMIT);
  /** The instruction limit inside a block short of budget (`NOT_SHORT` otherwise). */
  readonly budgetRem = new WebAssembly.Global({ value: "i32", mutable: true }, NOT_SHORT);
  /** The VM_BUDGET error a block short of budget throws once it reaches the limit. */
  budgetError: VmError | undefined;
  /** The tail call a helper asked for, until the helper returns. */
  pending: VmProgramHandle | undefined;
  /** The run's r1 (low, high word), which a tail call's target starts with. */
  ctxLo = 0;
  ctxHi = 0;
  /** Tail calls made by the current run. */
  tailCalls = 0;
  /** Budget the current run started with. */
  runBudget = 0;
  readonly compiled = new WeakMap<VmCode, CompiledCode>();

  constructor(readonly runtime: VmRuntime) {}
}

const states = new WeakMap<VmRuntime, JitState>();

function stateOf(runtime: VmRuntime): JitState {
  let state = states.get(runtime);
  if (state === undefined) states.set(runtime, state = new JitState(runtime));
  return state;
}

type Entry = (depth: number) => void;

/** `may_goto` iterations before it jumps (the kernel's BPF_MAX_LOOPS). */
export const MAY_GOTO_LIMIT = 8 * 1024 * 1024;

/** The signed value of the argument slot `n` as a number (exact within ±2⁵³). */
function slotNumber(mem: VmMemory, n: number): number {
  return (mem.argHi(n) | 0) * TAG_SCALE + mem.argLo(n);
}

/** Write a 64-bit value (number: two's complement words; bigint: its low 64 bits) to slot `n`. */
function setSlot(mem: VmMemory, n: number, value: number | bigint): void {
  const w = (ARGS_BASE >>> 2) + 2 * n;
  if (typeof value === "bigint") {
    const v = BigInt.asUintN(64, value);
    mem.u32[w] = Number(v & 0xffffffffn);
    mem.u32[w + 1] = Number(v >> 32n);
    return;
  }
  mem.u32[w] = value | 0;
  mem.u32[w + 1] = Math.floor(value / TAG_SCALE) | 0;
}

/** One program compiled for one runtime. */
class CompiledCode implements HelperEnv {
  readonly mem: VmMemory;
  readonly entries: Entry[];
  readonly entryIndex: Map<number, number>;
  pc = -1;

  constructor(readonly state: JitState, readonly code: VmCode) {
    const runtime = state.runtime;
    this.mem = runtime.mem;
    const { bytes, entries, largestFunction } = generateModule(code, runtime.frameTags);
    if (largestFunction > MAX_FUNCTION_BYTES) {
      throw new VmError(
        "VM_TOO_LARGE",
        `program ${code.name}: a function compiles to ${largestFunction} bytes of ` +
          `WebAssembly, over the engine's limit of ${MAX_FUNCTION_BYTES}`,
        { program: code.name },
      );
    }
    this.entryIndex = new Map(entries.map((pc, k) => [pc, k]));
    let instance: WebAssembly.Instance;
    try {
      const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
      instance = new WebAssembly.Instance(module, { env: this.#imports() });
    } catch (err) {
      throw new VmError(
        "VM_BAD_PROGRAM",
        `program ${code.name}: compiling to WebAssembly failed: ${(err as Error).message}`,
        { program: code.name, cause: err },
      );
    }
    this.entries = entries.map((_, k) => instance.exports[`e${k}`] as Entry);
  }

  get runtime(): VmRuntime {
    return this.state.runtime;
  }

  arg(n: number): number {
    return this.mem.argHi(n) * TAG_SCALE + this.mem.argLo(n);
  }

  argU64(n: number): bigint {
    return (BigInt(this.mem.argHi(n)) << 32n) | BigInt(this.mem.argLo(n));
  }

  callback(fn: VmAddress, args: readonly number[]): number {
    const pc = this.pc;
    const k = Math.floor(fn / TAG_SCALE) === this.code.codeTag
      ? this.entryIndex.get(fn % TAG_SCALE)
      : undefined;
    if (k === undefined) {
      throw new VmError(
        "VM_BAD_ACCESS",
        `pc ${pc}: callback 0x${fn.toString(16)} is not a function of program ${this.code.name}`,
        { pc, program: this.code.name, address: fn },
      );
    }
    const runtime = this.state.runtime;
    const depth = runtime.depth;
    if (depth >= MAX_CALL_DEPTH) throw depthError(pc, this.code.name);
    const mem = this.mem;
    const w = ARGS_BASE >>> 2;
    const saved = mem.u32.slice(w, w + 12);
    for (let n = 1; n <= 5; n++) mem.setArg(n, args[n - 1] ?? 0);
    try {
      this.entries[k](depth);
      return slotNumber(mem, 0);
    } finally {
      mem.u32.set(saved, w);
      runtime.depth = depth;
      this.pc = pc;
    }
  }

  tailCall(target: VmProgramHandle): boolean {
    const state = this.state;
    if (state.tailCalls >= MAX_TAIL_CALLS) return false;
    state.tailCalls++;
    state.pending = target;
    return true;
  }

  #imports(): WebAssembly.ModuleImports {
    const mem = this.mem;
    const code = this.code;
    const state = this.state;
    const name = code.name;
    return {
      memory: mem.memory,
      budget: state.budget,
      mayGoto: state.mayGoto,
      budgetRem: state.budgetRem,
      fault: (lo: number, hi: number, size: number, write: number, pc: number) => {
        throw withProgram(
          mem.fault((hi >>> 0) * TAG_SCALE + (lo >>> 0), size, write !== 0, pc),
          name,
        );
      },
      budgetShort: (start: number, remaining: number) => {
        if (state.budgetError !== undefined) throw state.budgetError;
        // The instruction the budget runs out at, and whether a load or store comes before it.
        let at = start, access = false;
        for (let i = 0; i < remaining; i++) {
          const cls = code.code[at * 4] & 7;
          if (cls === 1 || cls === 2 || cls === 3) access = true;
          at += code.code[at * 4] === 0x18 ? 2 : 1;
        }
        const err = new VmError(
          "VM_BUDGET",
          `pc ${at}: instruction budget of ${state.runBudget} exhausted`,
          { pc: at, program: name },
        );
        if (!access) throw err;
        state.budgetError = err;
        state.budgetRem.value = remaining;
      },
      budgetPending: () => {
        throw state.budgetError;
      },
      depthOut: (pc: number) => {
        if (state.budgetError !== undefined) throw state.budgetError;
        throw depthError(pc, name);
      },
      helper: (pc: number, depth: number) => {
        if (state.budgetError !== undefined) throw state.budgetError;
        const helper = code.helpers.get(pc);
        if (helper === undefined) {
          throw new VmError("VM_BAD_PROGRAM", `pc ${pc}: no helper for this call`, {
            pc,
            program: name,
          });
        }
        const runtime = state.runtime;
        const prevDepth = runtime.depth;
        const prevPc = this.pc;
        runtime.depth = depth + 1;
        this.pc = pc;
        state.pending = undefined;
        let value: number | bigint;
        try {
          value = helper.call(this);
        } catch (err) {
          if (err instanceof VmError) throw err;
          throw new VmError(
            "VM_HELPER",
            `pc ${pc}: helper ${helper.name} failed: ${
              err instanceof Error ? err.message : String(err)
            }`,
            { pc, program: name, cause: err },
          );
        }
        runtime.depth = prevDepth;
        this.pc = prevPc;
        setSlot(mem, 0, value);
        return state.pending === undefined ? 0 : 1;
      },
      runTail: (depth: number) => {
        const target = state.pending!;
        state.pending = undefined;
        const next = compiledFor(state, target.code);
        const w = ARGS_BASE >>> 2;
        mem.u32.fill(0, w + 2, w + 12);
        mem.u32[w + 2] = state.ctxLo;
        mem.u32[w + 3] = state.ctxHi;
        next.entries[0](depth);
      },
      sload: (lo: number, hi: number, size: number, pc: number) => {
        const special = mem.special(hi >>> 0);
        if (special === undefined) {
          throw mem.fault((hi >>> 0) * TAG_SCALE + (lo >>> 0), size, false, pc);
        }
        setSlot(mem, (SCRATCH_BASE - ARGS_BASE) / 8, special.load(lo >>> 0, size));
      },
      sstore: (lo: number, hi: number, size: number, vlo: number, vhi: number, pc: number) => {
        const special = mem.special(hi >>> 0);
        const vl = size === 8
          ? vlo >>> 0
          : size === 4
          ? vlo >>> 0
          : vlo & (size === 2 ? 0xffff : 0xff);
        const vh = size === 8 ? vhi >>> 0 : 0;
        if (special === undefined || !special.store(lo >>> 0, size, vl, vh)) {
          throw withProgram(mem.fault((hi >>> 0) * TAG_SCALE + (lo >>> 0), size, true, pc), name);
        }
      },
      bad: (pc: number, why: number) => {
        if (state.budgetError !== undefined) throw state.budgetError;
        const detail = why === BAD_FALL_OFF
          ? "execution fell off the end of a function"
          : `invalid instruction (opcode 0x${(code.code[pc * 4] & 0xff).toString(16)})`;
        throw new VmError("VM_BAD_PROGRAM", `pc ${pc}: ${detail}`, { pc, program: name });
      },
      callxBad: (lo: number, hi: number, pc: number) => {
        if (state.budgetError !== undefined) throw state.budgetError;
        const address = (hi >>> 0) * TAG_SCALE + (lo >>> 0);
        throw new VmError(
          "VM_BAD_ACCESS",
          `pc ${pc}: callx to 0x${
            address.toString(16)
          }, which is not a function of program ${name}`,
          { pc, program: name, address },
        );
      },
    };
  }
}

function withProgram(err: VmError, program: string): VmError {
  return err.program === undefined
    ? new VmError(err.code, err.detail, {
      pc: err.pc,
      program,
      address: err.address,
      size: err.size,
      region: err.region,
    })
    : err;
}

function depthError(pc: number, program: string): VmError {
  return new VmError("VM_CALL_DEPTH", `pc ${pc}: call depth exceeds ${MAX_CALL_DEPTH} frames`, {
    pc,
    program,
  });
}

function compiledFor(state: JitState, code: VmCode): CompiledCode {
  let compiled = state.compiled.get(code);
  if (compiled === undefined) state.compiled.set(code, compiled = new CompiledCode(state, code));
  return compiled;
}

/**
 * Compile `code` for `runtime` (once; later calls reuse the instance) and
 * return its {@link Executor}. A program with a function too large for the
 * engine (hundreds of thousands of instructions) gets the interpreter
 * instead. Throws `VM_BAD_PROGRAM` when the engine refuses the module.
 */
export function compileVmCode(runtime: VmRuntime, code: VmCode): Executor {
  const state = stateOf(runtime);
  let compiled: CompiledCode;
  try {
    compiled = compiledFor(state, code);
  } catch (err) {
    // A program too large for one WebAssembly function runs interpreted.
    if (err instanceof VmError && err.code === "VM_TOO_LARGE") {
      return createInterpreter(runtime, code);
    }
    throw err;
  }
  return {
    run(args: readonly number[], options: ExecOptions = {}): ExecResult {
      return runCompiled(state, compiled, args, options);
    },
  };
}

function runCompiled(
  state: JitState,
  first: CompiledCode,
  args: readonly number[],
  options: ExecOptions,
): ExecResult {
  const runtime = state.runtime;
  const mem = runtime.mem;
  const asked = options.budget ?? runtime.options.budget ?? DEFAULT_BUDGET;
  if (typeof asked !== "number" || !(asked >= 0)) {
    throw new VmError("VM_BAD_RUN", `budget must be a non-negative number, not ${asked}`, {
      program: first.code.name,
    });
  }
  // Counting is exact below 2⁵³; a larger budget is as good as unlimited.
  const budget = Math.min(Math.floor(asked), Number.MAX_SAFE_INTEGER);
  if (args.length > 5) {
    throw new VmError("VM_BAD_RUN", `at most 5 arguments (r1–r5), not ${args.length}`);
  }
  for (const a of args) {
    if (!Number.isSafeInteger(a)) {
      throw new VmError("VM_BAD_RUN", `arguments must be integers within ±2⁵³, not ${a}`);
    }
  }
  const base = runtime.depth;
  if (base >= MAX_CALL_DEPTH) throw depthError(0, first.code.name);
  // Save what a nested run (a helper running another program) would clobber.
  const outer = [
    state.budget.value,
    state.runBudget,
    state.tailCalls,
    state.pending,
    state.mayGoto.value,
    state.ctxLo,
    state.ctxHi,
    state.budgetError,
    state.budgetRem.value,
  ] as const;
  state.budget.value = budget;
  state.runBudget = asked;
  state.tailCalls = 0;
  state.pending = undefined;
  state.mayGoto.value = MAY_GOTO_LIMIT;
  state.budgetError = undefined;
  state.budgetRem.value = NOT_SHORT;
  try {
    for (let n = 1; n <= 5; n++) mem.setArg(n, args[n - 1] ?? 0);
    state.ctxLo = mem.argLo(1);
    state.ctxHi = mem.argHi(1);
    first.entries[0](base);
    // The last block ran past the budget to its exit.
    if (state.budgetError !== undefined) throw state.budgetError;
    return { lo: mem.argLo(0), hi: mem.argHi(0), steps: budget - state.budget.value };
  } finally {
    runtime.depth = base;
    state.budget.value = outer[0];
    state.runBudget = outer[1];
    state.tailCalls = outer[2];
    state.pending = outer[3];
    state.mayGoto.value = outer[4];
    state.ctxLo = outer[5];
    state.ctxHi = outer[6];
    state.budgetError = outer[7];
    state.budgetRem.value = outer[8];
  }
}
