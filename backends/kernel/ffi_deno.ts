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
  syscall: { parameters: ["i64", "i64", "pointer", "u64"], result: "i64" },
  __errno_location: { parameters: [], result: "pointer" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/**
 * The address of `buf`. Asking for `buffer` first moves a small V8 typed
 * array's bytes off the GC heap for good, so the address cannot go stale.
 */
function pointerOf(buf: Uint8Array): Deno.PointerValue {
  void buf.buffer;
  return Deno.UnsafePointer.of(buf as Uint8Array<ArrayBuffer>);
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
  const sysBpf = BigInt(bpfSyscallNumber(Deno.build.arch));
  // i64 parameters take BigInts; make the command numbers' once.
  const cmds = Array.from({ length: 64 }, (_, i) => BigInt(i));
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
      const r = Number(
        syscall(sysBpf, cmds[cmd] ?? BigInt(cmd), pointerOf(attr), BigInt(attr.byteLength)),
      );
      // Read errno before anything else can run on this thread.
      return r < 0 ? -errno() : r;
    },
    close(fd: number): number {
      const r = close(fd);
      return r < 0 ? -errno() : r;
    },
    address(buf: Uint8Array): bigint {
      if (buf.byteLength === 0) return 0n;
      const p = pointerOf(buf);
      return p === null ? 0n : BigInt(Deno.UnsafePointer.value(p));
    },
  };
}
