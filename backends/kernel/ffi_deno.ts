/**
 * {@link Syscalls} through Deno FFI: libc's `syscall(2)` for bpf(2),
 * `__errno_location` for errno, and `close`.
 *
 * Loaded on any runtime; only {@link denoSyscalls} touches `Deno.*`.
 *
 * @module
 */

import { KernelError } from "./errors.ts";
import { bpfSyscallNumber, type Syscalls } from "./syscalls.ts";

const SYMBOLS = {
  // Variadic in C; every argument is an integer register, so a fixed
  // four-argument signature is ABI-compatible on x86_64 and aarch64.
  // `buffer` passes a typed array's data pointer straight through V8's fast
  // call path: no UnsafePointer object per call.
  syscall: { parameters: ["i64", "i64", "buffer", "u64"], result: "i64" },
  __errno_location: { parameters: [], result: "pointer" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/**
 * Base addresses of the ArrayBuffers seen so far. A buffer's backing store
 * never moves once it is off the GC heap (asking for `buffer` moves a small
 * V8 typed array's bytes off it for good), so the address is computed once
 * per buffer: `UnsafePointer.of` plus its BigInt costs ten times the lookup.
 */
const bases = new WeakMap<ArrayBufferLike, bigint>();

function addressOf(buf: Uint8Array): bigint {
  const buffer = buf.buffer;
  let base = bases.get(buffer);
  if (base === undefined) {
    const p = Deno.UnsafePointer.of(buf as Uint8Array<ArrayBuffer>);
    if (p === null) return 0n;
    base = BigInt(Deno.UnsafePointer.value(p)) - BigInt(buf.byteOffset);
    bases.set(buffer, base);
  }
  return buf.byteOffset === 0 ? base : base + BigInt(buf.byteOffset);
}

/** `BigInt(n)` for the small lengths and commands of most calls, made once. */
const SMALL_BIGINTS = Array.from({ length: 257 }, (_, i) => BigInt(i));

function big(n: number): bigint {
  return n < SMALL_BIGINTS.length ? SMALL_BIGINTS[n] : BigInt(n);
}

/**
 * Open libc with Deno FFI. Throws {@link KernelError} `KERNEL_NO_FFI_PERMISSION`
 * without `--allow-ffi`, `KERNEL_UNSUPPORTED_RUNTIME` off Linux.
 */
export function denoSyscalls(): Syscalls {
  if (Deno.build.os !== "linux") {
    throw new KernelError(
      "KERNEL_UNSUPPORTED_RUNTIME",
      `bpf(2) needs Linux, this is ${Deno.build.os}`,
    );
  }
  // i64 parameters take numbers too, but only BigInts take the fast call path.
  const sysBpf = BigInt(bpfSyscallNumber(Deno.build.arch));
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen("libc.so.6", SYMBOLS);
  } catch (err) {
    const denied = err instanceof Deno.errors.PermissionDenied ||
      ((Deno.errors as Record<string, unknown>).NotCapable !== undefined &&
        err instanceof (Deno.errors as unknown as { NotCapable: ErrorConstructor }).NotCapable);
    throw new KernelError(
      denied ? "KERNEL_NO_FFI_PERMISSION" : "KERNEL_UNSUPPORTED_RUNTIME",
      denied ? "run deno with --allow-ffi" : `cannot open libc.so.6: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const { syscall, __errno_location, close } = lib.symbols;
  const errno = (): number => {
    const p = __errno_location();
    return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32(0);
  };
  return {
    runtime: "deno",
    bpf(cmd: number, attr: Uint8Array): number {
      // The kernel may write to attr: make sure its bytes are the real ones,
      // off the GC heap, not a copy made for the call.
      void attr.buffer;
      const r = Number(
        syscall(sysBpf, big(cmd), attr as Uint8Array<ArrayBuffer>, big(attr.byteLength)),
      );
      // Read errno before anything else can run on this thread.
      return r < 0 ? -errno() : r;
    },
    close(fd: number): number {
      const r = close(fd);
      return r < 0 ? -errno() : r;
    },
    address(buf: Uint8Array): bigint {
      return buf.byteLength === 0 ? 0n : addressOf(buf);
    },
  };
}
