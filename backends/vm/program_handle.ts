/**
 * {@link VmProgram}: a program loaded into the VM, run with the same call
 * as the kernel backend's `KernelProgram.run` (a packet, or a context for
 * context-only program types), returning the same result shape.
 *
 * @module
 */

import { CONTEXT_ONLY_TYPES, contextKind, createContext, type PacketRegistry } from "./context.ts";
import { VmError } from "./errors.ts";
import { unloadVmCode } from "./program.ts";
import type { Executor, VmCode, VmProgramHandle, VmRuntime, VmTier } from "./types.ts";

/** Options of {@link VmProgram.run} (those of the kernel backend's run, plus a budget). */
export interface VmRunOptions {
  /** Run this many times; the duration is the mean. Default 1 (0 also means 1, as in the kernel). */
  repeat?: number;
  /** The context in: `struct xdp_md`, `struct __sk_buff`, or the raw context of other types. */
  ctx?: Uint8Array;
  /** Room for the context out; default the size of `ctx`. */
  ctxOutSize?: number;
  /** Room for the packet out; default the whole packet. */
  dataOutSize?: number;
  /** Instruction budget of each run; default the runtime's. */
  budget?: number;
}

/** What a VM run returned. */
export interface VmRunResult {
  /** r0's low 32 bits, unsigned, as the kernel's `retval`. */
  retval: number;
  /** The whole of r0. */
  r0: bigint;
  /** The packet after the run. */
  data: Uint8Array;
  /** The context after the run, when one was passed (for raw contexts: always). */
  ctx?: Uint8Array;
  /** Mean wall-clock nanoseconds per run. */
  duration: number;
  /** Instructions the last run executed. */
  steps: number;
}

/** A tier's way to make code runnable. */
export type ExecutorFactory = (runtime: VmRuntime, code: VmCode) => Executor;

/** Options of {@link VmProgram}'s constructor. */
export interface VmProgramOptions {
  /** BPF_PROG_TYPE_*. */
  type: number;
  /** The tier runs use. */
  tier: VmTier;
  /** How to make an executor for the tier. */
  executor: ExecutorFactory;
}

/** A program in the VM. */
export class VmProgram implements VmProgramHandle, Disposable {
  /** The program's name. */
  readonly name: string;
  /** BPF_PROG_TYPE_*. */
  readonly type: number;
  /** The loaded code. */
  readonly code: VmCode;
  /** The fd-like number prog arrays hold. */
  readonly fd: number;
  /** The tier {@link run} uses. */
  readonly tier: VmTier;
  /** Loads in the VM have no verifier log. */
  readonly log?: string;
  readonly #runtime: VmRuntime & PacketRegistry;
  readonly #factory: ExecutorFactory;
  #executor?: Executor;
  #closed = false;

  /** A program of `runtime` running `code`; registers itself so prog arrays can hold it. */
  constructor(runtime: VmRuntime & PacketRegistry, code: VmCode, options: VmProgramOptions) {
    this.#runtime = runtime;
    this.code = code;
    this.name = code.name;
    this.type = options.type;
    this.tier = options.tier;
    this.#factory = options.executor;
    this.fd = runtime.allocFd();
    runtime.addProgram(this);
  }

  /** Whether {@link close} has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Run the program as `BPF_PROG_TEST_RUN` would: XDP and skb programs on
   * the packet `input` (skb programs need an Ethernet header; socket filters
   * start after it), context-only types (syscall, raw tracepoint) on
   * `options.ctx`, and any other type (kprobes, tracepoints…), which the
   * kernel cannot test-run, on `options.ctx ?? input` as raw context bytes.
   */
  run(input: Uint8Array, options: VmRunOptions = {}): VmRunResult {
    if (this.#closed) throw new VmError("VM_CLOSED", `program ${this.name} is closed`);
    const repeat = options.repeat ?? 1;
    if (!Number.isInteger(repeat) || repeat < 0 || repeat > 0xffffffff) {
      throw new VmError("VM_BAD_RUN", `repeat ${repeat} is not a u32`);
    }
    if (CONTEXT_ONLY_TYPES.has(this.type) && input.length > 0) {
      throw new VmError(
        "VM_BAD_RUN",
        `program ${this.name} (type ${this.type}) runs on a context, not on packet data: pass it as ctx`,
      );
    }
    const executor = this.#executor ??= this.#factory(this.#runtime, this.code);
    const context = createContext(this.#runtime, this.type, { data: input, ctx: options.ctx });
    try {
      const times = Math.max(repeat, 1);
      const args = [context.address];
      const start = performance.now();
      let result = executor.run(args, { budget: options.budget });
      for (let i = 1; i < times; i++) result = executor.run(args, { budget: options.budget });
      const duration = Math.round(((performance.now() - start) * 1e6) / times);
      const out: VmRunResult = {
        retval: result.lo >>> 0,
        r0: (BigInt(result.hi >>> 0) << 32n) | BigInt(result.lo >>> 0),
        data: context.data(),
        duration,
        steps: result.steps,
      };
      if (options.dataOutSize !== undefined) out.data = out.data.subarray(0, options.dataOutSize);
      const ctx = context.ctx();
      if (ctx !== undefined && (options.ctx !== undefined || contextKind(this.type) === "raw")) {
        out.ctx = options.ctxOutSize === undefined ? ctx : ctx.subarray(0, options.ctxOutSize);
      }
      return out;
    } catch (err) {
      if (err instanceof VmError) err.addContext(`run program ${this.name}`);
      throw err;
    } finally {
      context.release();
    }
  }

  /** What the VM knows about the program. */
  info(): { name: string; type: number; id: number; insns: number; tier: VmTier } {
    return {
      name: this.name,
      type: this.type,
      id: this.fd,
      insns: this.code.slots,
      tier: this.tier,
    };
  }

  /** Pinning needs a bpffs: not in the VM. */
  pin(_path: string): void {
    throw new VmError("VM_NOT_SUPPORTED", `program ${this.name}: the VM has no bpffs to pin to`);
  }

  /** Nothing is pinned in the VM: always false. */
  unpin(): boolean {
    return false;
  }

  /** Forget the program; later calls are no-ops. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#runtime.removeProgram(this);
    unloadVmCode(this.#runtime.mem, this.code);
  }

  /** {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
