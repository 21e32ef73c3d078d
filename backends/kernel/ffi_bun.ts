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
  read: { i32(ptr: number, offset?: number): number };
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

/**
 * The address of `buf`, made stable first. A small JSC typed array keeps its
 * bytes in the GC heap until something asks for its `buffer`, which copies
 * them to a real ArrayBuffer (JIT tier-up does this too): a `ptr()` taken
 * before that dangles. Asking for `buffer` first pins the bytes.
 */
function stablePtr(ffi: BunFfi, buf: Uint8Array): number {
  void buf.buffer;
  return ffi.ptr(buf);
}

/** Open libc with `bun:ffi`. Throws {@link KernelError} `KERNEL_UNSUPPORTED_RUNTIME` off Linux. */
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
  const T = ffi.FFIType;
  let lib: ReturnType<BunFfi["dlopen"]>;
  try {
    lib = ffi.dlopen("libc.so.6", {
      // Variadic in C; integer-register arguments make a fixed signature ABI-compatible.
      syscall: { args: [T.i64, T.i64, T.ptr, T.u64], returns: T.i64 },
      __errno_location: { args: [], returns: T.ptr },
      close: { args: [T.i32], returns: T.i32 },
    });
  } catch (err) {
    throw new KernelError(
      "KERNEL_UNSUPPORTED_RUNTIME",
      `cannot open libc.so.6: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const { syscall, __errno_location, close } = lib.symbols;
  const errno = (): number => ffi.read.i32(__errno_location() as number, 0);
  return {
    runtime: "bun",
    bpf(cmd: number, attr: Uint8Array): number {
      const r = Number(syscall(sysBpf, cmd, stablePtr(ffi, attr), attr.byteLength));
      // Read errno before anything else can run on this thread.
      return r < 0 ? -errno() : r;
    },
    close(fd: number): number {
      const r = close(fd) as number;
      return r < 0 ? -errno() : r;
    },
    address(buf: Uint8Array): bigint {
      return buf.byteLength === 0 ? 0n : BigInt(stablePtr(ffi, buf));
    },
  };
}
