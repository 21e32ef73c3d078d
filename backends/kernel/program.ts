/**
 * {@link KernelProgram}: a loaded BPF program held by its fd, runnable with
 * `BPF_PROG_TEST_RUN`.
 *
 * ```ts
 * import { KernelProgram } from "./program.ts";
 *
 * using prog = KernelProgram.fromPin("/sys/fs/bpf/xdp_count");
 * const { retval, duration } = prog.run(new Uint8Array(64), { repeat: 1000 });
 * ```
 *
 * @module
 */

import { KernelError } from "./errors.ts";
import { ProgramType } from "../../collection/types.ts";
import { unlinkPin } from "./map.ts";
import { type Syscalls, syscalls } from "./syscalls.ts";
import {
  closeFd,
  objGet,
  objPin,
  progGetFdById,
  type ProgInfo,
  progInfoByFd,
  progTestRun,
} from "./sys.ts";

/** Options of {@link KernelProgram.run}. */
export interface RunOptions {
  /** Run this many times (the kernel's `repeat`; the duration is the mean). Default 1. */
  repeat?: number;
  /** Context in (`ctx_in`, e.g. a `struct xdp_md` or `struct __sk_buff`). */
  ctx?: Uint8Array;
  /** Room for the context the program leaves (`ctx_size_out`); default `ctx`'s size when given. */
  ctxOutSize?: number;
  /** Room for the output packet (`data_size_out`); default the input's size plus 256 bytes of headroom growth. */
  dataOutSize?: number;
}

/** What a test run returned. */
export interface RunResult {
  /** The program's return value (`retval`). */
  retval: number;
  /** The packet after the run (`data_out`, `data_size_out` bytes). */
  data: Uint8Array;
  /** The context after the run, when one was passed. */
  ctx?: Uint8Array;
  /** Mean run time in nanoseconds as the kernel measured it. */
  duration: number;
}

/** Options of {@link KernelProgram}'s constructor. */
export interface KernelProgramOptions {
  /** The name to report (the spec's name; the kernel keeps at most 15 bytes). */
  name?: string;
  /** BPF_PROG_TYPE_*. */
  type: number;
  /** The verifier log, when the load asked for one (`logLevel` > 0). */
  log?: string;
  /** The system calls to use; default {@link syscalls}(). */
  sys?: Syscalls;
}

/** Program types whose test runs take a context and nothing else. */
const CONTEXT_ONLY: ReadonlySet<number> = new Set([
  ProgramType.SYSCALL,
  ProgramType.RAW_TRACEPOINT,
  ProgramType.RAW_TRACEPOINT_WRITABLE,
]);

/** A loaded BPF program. */
export class KernelProgram implements Disposable {
  /** The name the program was loaded as. */
  readonly name: string;
  /** BPF_PROG_TYPE_*. */
  readonly type: number;
  /** The verifier log of a successful load that asked for one. */
  readonly log?: string;
  /** Where this handle pinned the program, if it did (or where it was opened from). */
  pinnedPath?: string;
  readonly #sys: Syscalls;
  #fd: number;

  /** Wrap `fd`, which the program now owns and closes. */
  constructor(fd: number, options: KernelProgramOptions) {
    this.#fd = fd;
    this.#sys = options.sys ?? syscalls();
    this.name = options.name ?? "";
    this.type = options.type;
    this.log = options.log;
  }

  /** Open the program pinned at `path` on a bpffs. */
  static fromPin(path: string, options: { sys?: Syscalls } = {}): KernelProgram {
    const sys = options.sys ?? syscalls();
    const prog = fromFd(sys, objGet(sys, path));
    prog.pinnedPath = path;
    return prog;
  }

  /** Open the program with kernel-wide ID `id`. */
  static fromId(id: number, options: { sys?: Syscalls } = {}): KernelProgram {
    const sys = options.sys ?? syscalls();
    return fromFd(sys, progGetFdById(sys, id));
  }

  /** The fd; a {@link KernelError} `KERNEL_CLOSED` after {@link close}. */
  get fd(): number {
    if (this.#fd < 0) {
      throw new KernelError("KERNEL_CLOSED", `program ${this.name || "(unnamed)"} is closed`);
    }
    return this.#fd;
  }

  /** Whether {@link close} has run. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Run the program on `input` with `BPF_PROG_TEST_RUN`. Which program
   * types can run, and what `input` means, is the kernel's choice: packets
   * for XDP, tc and socket filters (whose run starts after the Ethernet
   * header), the context for raw tracepoints and syscall programs.
   */
  run(input: Uint8Array, options: RunOptions = {}): RunResult {
    if (CONTEXT_ONLY.has(this.type)) return this.#runContextOnly(input, options);
    const repeat = options.repeat ?? 1;
    if (!Number.isInteger(repeat) || repeat < 0 || repeat > 0xffffffff) {
      throw new KernelError("KERNEL_BAD_RUN", `repeat ${repeat} is not a u32`);
    }
    const dataOutSize = options.dataOutSize ?? input.length + 256;
    const ctxOutSize = options.ctxOutSize ?? options.ctx?.length ?? 0;
    const out = progTestRun(this.#sys, this.fd, {
      dataIn: input,
      dataOutSize,
      ctxIn: options.ctx,
      ctxOutSize,
      repeat,
    });
    const result: RunResult = {
      retval: out.retval,
      data: out.dataOut ?? new Uint8Array(0),
      duration: out.duration,
    };
    if (out.ctxOut !== undefined && ctxOutSize > 0) result.ctx = out.ctxOut;
    return result;
  }

  /**
   * Syscall and raw tracepoint programs run on a context alone: the kernel
   * refuses packets, output buffers, `repeat` and `ctx_out` for them. A
   * syscall program's context changes are copied back into `ctx` itself.
   */
  #runContextOnly(input: Uint8Array, options: RunOptions): RunResult {
    if (input.length > 0) {
      throw new KernelError(
        "KERNEL_BAD_RUN",
        `program ${this.name} (type ${this.type}) runs on a context, not on packet data: pass it as ctx`,
      );
    }
    if ((options.repeat ?? 1) > 1) {
      throw new KernelError(
        "KERNEL_BAD_RUN",
        `program ${this.name}: the kernel runs this program type once per call`,
      );
    }
    const ctx = options.ctx?.slice();
    const out = progTestRun(this.#sys, this.fd, { ctxIn: ctx });
    const result: RunResult = {
      retval: out.retval,
      data: new Uint8Array(0),
      duration: out.duration,
    };
    if (ctx !== undefined && this.type === ProgramType.SYSCALL) result.ctx = ctx;
    return result;
  }

  /** Pin the program at `path` on a bpffs. */
  pin(path: string): void {
    objPin(this.#sys, this.fd, path);
    this.pinnedPath = path;
  }

  /** Remove the pin this handle made or was opened from; false when there was none. */
  unpin(): boolean {
    const path = this.pinnedPath;
    if (path === undefined) return false;
    this.pinnedPath = undefined;
    return unlinkPin(path);
  }

  /** What the kernel says about the program: tag, ID, JITed size. */
  info(): ProgInfo {
    return progInfoByFd(this.#sys, this.fd);
  }

  /** Close the fd; later calls are no-ops. The program lives on while pinned or attached. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    closeFd(this.#sys, fd);
  }

  /** {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function fromFd(sys: Syscalls, fd: number): KernelProgram {
  try {
    const info = progInfoByFd(sys, fd);
    return new KernelProgram(fd, { name: info.name, type: info.type, sys });
  } catch (err) {
    closeFd(sys, fd);
    throw err;
  }
}
