/**
 * {@link Syscalls} through Bun's `bun:ffi`: libc's `syscall(2)` for bpf(2),
 * `__errno_location` for errno, and `close`.
 *
 * Loaded on any runtime: `bun:ffi` is required only inside
 * {@link bunSyscalls}, so Deno and Node never resolve it.
 *
 * @module
 */

import { KernelError } from "./errors.ts";
import { bpfSyscallNumber, type Syscalls } from "./syscalls.ts";

/** The part of `bun:ffi` used here. */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: readonly number[]; returns: number }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown> };
  FFIType: Record<string, number>;
  ptr(buf: ArrayBufferView): number;
  toArrayBuffer(ptr: number, byteOffset: number, byteLength: number): ArrayBuffer;
}

/** The libc functions, as {@link bunSyscalls} declares them. */
interface LibcSymbols {
  syscall(nr: number, cmd: number, attr: Uint8Array, size: number): number;
  __errno_location(): number;
  close(fd: number): number;
}

function loadBunFfi(): BunFfi {
  // Synchronous require keeps `syscalls()` synchronous; Bun provides it in ES modules.
  const req = (import.meta as unknown as { require?: (id: string) => unknown }).require ??
    (globalThis as { require?: (id: string) => unknown }).require;
  if (req === undefined) {
    throw new KernelError("KERNEL_UNSUPPORTED_RUNTIME", "bun:ffi is not available");
  }
  return req("bun:ffi") as BunFfi;
}

function openLibc(ffi: BunFfi): LibcSymbols {
  const T = ffi.FFIType;
  try {
    return ffi.dlopen("libc.so.6", {
      // Variadic in C; integer-register arguments make a fixed signature
      // ABI-compatible. All-`i32` numbers take Bun's cheapest conversion (no
      // BigInt, no double-to-int64 check): the kernel reads the syscall
      // number, bpf(2)'s `int cmd` and `unsigned int size` as 32-bit values
      // and returns an int, so nothing is lost. A typed array passed as
      // `ptr` goes through as its data pointer, without a `ptr()` call.
      syscall: { args: [T.i32, T.i32, T.ptr, T.u32], returns: T.i32 },
      __errno_location: { args: [], returns: T.ptr },
      close: { args: [T.i32], returns: T.i32 },
    }).symbols as unknown as LibcSymbols;
  } catch (err) {
    throw new KernelError(
      "KERNEL_UNSUPPORTED_RUNTIME",
      `cannot open libc.so.6: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/**
 * Open libc with `bun:ffi`. Throws {@link KernelError} `KERNEL_UNSUPPORTED_RUNTIME` off Linux.
 *
 * The result reads errno through a view of this thread's errno, made once:
 * use it on the thread (main or Worker) that created it, as `syscalls()` does.
 */
export function bunSyscalls(): Syscalls {
  const proc = (globalThis as { process?: { platform: string; arch: string } }).process;
  if (proc === undefined || proc.platform !== "linux") {
    throw new KernelError(
      "KERNEL_UNSUPPORTED_RUNTIME",
      `bpf(2) needs Linux, this is ${proc?.platform ?? "unknown"}`,
    );
  }
  const sysBpf = bpfSyscallNumber(proc.arch);
  const ffi = loadBunFfi();
  const { syscall, __errno_location, close } = openLibc(ffi);
  // errno lives at a fixed per-thread address: map it once instead of an
  // FFI call (and a `read.i32`) per failed call.
  const errno = new Int32Array(ffi.toArrayBuffer(__errno_location(), 0, 4));
  // Base addresses of the ArrayBuffers seen so far, as in ffi_deno.ts. A
  // small JSC typed array keeps its bytes in the GC heap until something
  // asks for its `buffer`, which moves them to a real ArrayBuffer for good
  // (JIT tier-up does this too): a `ptr()` taken before that dangles, so
  // the address is taken after `buffer` and then never changes.
  const bases = new WeakMap<ArrayBufferLike, bigint>();
  const addressOf = (buf: Uint8Array): bigint => {
    const buffer = buf.buffer;
    let base = bases.get(buffer);
    if (base === undefined) {
      base = BigInt(ffi.ptr(buf)) - BigInt(buf.byteOffset);
      bases.set(buffer, base);
    }
    return buf.byteOffset === 0 ? base : base + BigInt(buf.byteOffset);
  };
  return {
    runtime: "bun",
    bpf(cmd: number, attr: Uint8Array): number {
      // The array itself is passed: its current bytes, wherever the GC keeps
      // them, are what the kernel reads and writes (no GC runs in the call).
      const r = syscall(sysBpf, cmd, attr, attr.byteLength);
      // Read errno before anything else can run on this thread.
      return r < 0 ? -errno[0] : r;
    },
    close(fd: number): number {
      const r = close(fd);
      return r < 0 ? -errno[0] : r;
    },
    address(buf: Uint8Array): bigint {
      return buf.byteLength === 0 ? 0n : addressOf(buf);
    },
  };
}
