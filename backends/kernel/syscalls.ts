/**
 * The runtime adapter seam: the few system calls the kernel backend needs,
 * implemented with Deno FFI ({@link ./ffi_deno.ts}) or Bun FFI
 * ({@link ./ffi_bun.ts}), chosen at run time.
 *
 * Neither adapter touches `Deno.*` or `bun:*` until it is asked for the
 * system calls, so this module loads on any runtime; {@link syscalls} throws
 * a typed {@link KernelError} where FFI is unavailable.
 *
 * @module
 */

import { KernelError } from "./errors.ts";
import { denoSyscalls } from "./ffi_deno.ts";
import { bunSyscalls } from "./ffi_bun.ts";

/** The few system calls the backend needs, with errors as negative errno. */
export interface Syscalls {
  /** Which FFI implements them. */
  readonly runtime: "deno" | "bun";
  /** bpf(2): returns the non-negative result, or -errno. `attr` is passed by pointer with its length. */
  bpf(cmd: number, attr: Uint8Array): number;
  /** close(2) of an fd; returns 0 or -errno. */
  close(fd: number): number;
  /** The address of a buffer, to store in a bpf_attr pointer field (u64). The buffer must stay referenced while the kernel may use it. */
  address(buf: Uint8Array): bigint;
}

let cached: Syscalls | undefined;

/**
 * The system calls of this runtime, created once and cached.
 *
 * Throws {@link KernelError} `KERNEL_UNSUPPORTED_RUNTIME` on a runtime without
 * FFI or off Linux, and `KERNEL_NO_FFI_PERMISSION` under Deno without
 * `--allow-ffi`.
 */
export function syscalls(): Syscalls {
  if (cached !== undefined) return cached;
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Bun !== undefined) cached = bunSyscalls();
  else if (g.Deno !== undefined) cached = denoSyscalls();
  else {
    throw new KernelError(
      "KERNEL_UNSUPPORTED_RUNTIME",
      "the kernel backend needs FFI: run with `deno run --allow-ffi` or with Bun",
    );
  }
  return cached;
}

/** bpf(2)'s syscall number for a CPU architecture (`x86_64`, `aarch64`, Node's `x64`/`arm64`). */
export function bpfSyscallNumber(arch: string): number {
  switch (arch) {
    case "x86_64":
    case "x64":
      return 321;
    case "aarch64":
    case "arm64":
    case "riscv64":
    case "loongarch64":
      return 280;
    default:
      throw new KernelError(
        "KERNEL_UNSUPPORTED_RUNTIME",
        `no bpf(2) syscall number known for architecture ${arch}`,
      );
  }
}
