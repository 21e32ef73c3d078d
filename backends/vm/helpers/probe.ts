/**
 * `bpf_probe_read*` and friends: copies from "kernel" and "user" memory
 * the runtime was given ({@link VmRuntimeOptions.kernelMemory},
 * {@link VmRuntimeOptions.userMemory}). Kernel reads also reach the VM's
 * own regions (stack, map values, context), as kernel reads of BPF memory
 * do. A fault returns -EFAULT with the destination zeroed, like the kernel;
 * a kernel read of an address below the kernel's half of the address space
 * (0xffff800000000000) returns -ERANGE, as x86-64 kernels do.
 *
 * @module
 */

import {
  REGION_ENTRY,
  REGION_READ,
  REGION_SPECIAL,
  REGION_STRIDED,
  TABLE_BASE,
  TAG_SCALE,
} from "../memory.ts";
import type { HelperEnv, ProbeMemory, VmHelper } from "../types.ts";
import { argSize, EFAULT, ERANGE } from "./common.ts";

/** Which address space a probe read targets. */
export type ProbeSpace = "kernel" | "user" | "compat";

// x86-64 TASK_SIZE_MAX: below it an address is a user address, which
// the compat probes (bpf_probe_read, bpf_probe_read_str) and `%s` read
// as user memory (ARCH_HAS_NON_OVERLAPPING_ADDRESS_SPACE).
const TASK_SIZE = 0x00007ffffffff000n;
// VM addresses are tag × 2³² + offset with tags below 2¹⁶.
const VM_LIMIT_NUMBER = 2 ** 48;

/**
 * Where the VM memory at `address` is: its arena offset and how many bytes
 * stay readable from there (to the end of its region or element), or
 * `undefined` when it is not readable VM memory. Reads the region table
 * directly: probes of VM memory are common and must not allocate.
 */
function vmSpan(env: HelperEnv, address: bigint | number): [number, number] | undefined {
  if (address >= VM_LIMIT_NUMBER || address <= 0) return undefined;
  const a = Number(address);
  const tag = Math.floor(a / TAG_SCALE);
  const off = a % TAG_SCALE;
  const u32 = env.mem.u32;
  const w = (TABLE_BASE + tag * REGION_ENTRY) >>> 2;
  const flags = u32[w + 2];
  if ((flags & REGION_READ) === 0 || (flags & REGION_SPECIAL) !== 0) return undefined;
  const avail = (flags & REGION_STRIDED) !== 0 ? u32[w + 4] - (off % u32[w + 3]) : u32[w + 1] - off;
  return avail > 0 ? [u32[w] + off, avail] : undefined;
}

// The lowest canonical kernel address (48-bit virtual addresses) and the
// vsyscall page: copy_from_kernel_nofault_allowed() refuses everything
// below the first (user space and the non-canonical hole) and the page,
// and the kernel probes then return -ERANGE.
const KERNEL_START = 0xffff800000000000n;
const VSYSCALL_PAGE = 0xffffffffff600000n;

function kernelAllowed(address: bigint): boolean {
  return address >= KERNEL_START && (address < VSYSCALL_PAGE || address >= VSYSCALL_PAGE + 4096n);
}

// Where a non-VM probe of `address` goes: user memory, kernel memory
// (either may be absent), or the errno for an address the kernel refuses:
// -EFAULT for a user read outside user space (access_ok), -ERANGE for a
// kernel read outside the kernel's half.
function probeMemory(
  env: HelperEnv,
  space: ProbeSpace,
  address: bigint,
): ProbeMemory | undefined | number {
  const options = env.runtime.options;
  if (space === "user" || (space === "compat" && address < TASK_SIZE)) {
    return address < TASK_SIZE ? options.userMemory : EFAULT;
  }
  return kernelAllowed(address) ? options.kernelMemory : ERANGE;
}

/**
 * A copy of `len` bytes at `address` in `space`, or the negative errno the
 * kernel's probe returns: -EFAULT when any of it is unmapped, -ERANGE for
 * a kernel read below the kernel's half of the address space. Kernel and
 * compat reads try the VM's own regions first.
 */
export function probeRead(
  env: HelperEnv,
  address: bigint,
  len: number,
  space: ProbeSpace,
): Uint8Array | number {
  if (space !== "user") {
    const span = vmSpan(env, address);
    if (span !== undefined && len <= span[1]) return env.mem.u8.slice(span[0], span[0] + len);
  }
  const memory = probeMemory(env, space, address);
  if (typeof memory === "number") return memory;
  if (len === 0) return new Uint8Array(0);
  const bytes = memory?.read(address, len);
  return bytes === undefined || bytes.length < len ? EFAULT : bytes.subarray(0, len);
}

/**
 * The NUL-terminated string at `address` in `space`, without its NUL and
 * cut to `max - 1` bytes (as `strncpy_from_*_nofault` with count `max`),
 * or a negative errno as {@link probeRead} (-EFAULT also when memory ends
 * before the NUL or the cut).
 */
export function probeReadString(
  env: HelperEnv,
  address: bigint,
  max: number,
  space: ProbeSpace,
): Uint8Array | number {
  const limit = max - 1;
  if (limit < 0) return new Uint8Array(0);
  const span = space === "user" ? undefined : vmSpan(env, address);
  if (span !== undefined) {
    const [at, avail] = span;
    const u8 = env.mem.u8;
    let n = 0;
    while (n < limit && n < avail && u8[at + n] !== 0) n++;
    // Memory ended before the NUL or the cut: the kernel would fault.
    if (n === avail && n < limit) return EFAULT;
    return u8.slice(at, at + n);
  }
  const memory = probeMemory(env, space, address);
  if (typeof memory === "number") return memory;
  if (memory === undefined) return EFAULT;
  const out: number[] = [];
  while (out.length < limit) {
    const byte = memory.read(address + BigInt(out.length), 1);
    if (byte === undefined || byte.length < 1) return EFAULT;
    if (byte[0] === 0) break;
    out.push(byte[0]);
  }
  return Uint8Array.from(out);
}

// dst, size, src → copy; a fault zeroes dst (bpf_probe_read_*_common).
function readInto(env: HelperEnv, dstArg: number, srcArg: number, space: ProbeSpace): number {
  const size = argSize(env, 2, true);
  const at = env.mem.range(env.arg(dstArg), size, true, env.pc);
  if (space !== "user") {
    // Fast path: a VM source (below 2⁴⁸, so exact as a number).
    const span = vmSpan(env, env.arg(srcArg));
    if (span !== undefined && size <= span[1]) {
      env.mem.u8.copyWithin(at, span[0], span[0] + size);
      return 0;
    }
  }
  const src = probeRead(env, env.argU64(srcArg), size, space);
  if (typeof src === "number") {
    env.mem.u8.fill(0, at, at + size);
    return src;
  }
  env.mem.u8.set(src, at);
  return 0;
}

// dst, size, src → string copy; returns the length with its NUL.
function readStringInto(env: HelperEnv, space: ProbeSpace): number {
  const size = argSize(env, 2, true);
  const at = env.mem.range(env.arg(1), size, true, env.pc);
  if (size === 0) return 0;
  const str = probeReadString(env, env.argU64(3), size, space);
  const u8 = env.mem.u8;
  if (typeof str === "number") {
    u8.fill(0, at, at + size);
    return str;
  }
  u8.set(str, at);
  u8[at + str.length] = 0;
  return str.length + 1;
}

/** `long bpf_probe_read(dst, size, unsafe_ptr)`: user below TASK_SIZE, else kernel. */
export const probeReadCompat: VmHelper = {
  name: "probe_read",
  call: (env) => readInto(env, 1, 3, "compat"),
};

/** `long bpf_probe_read_str(dst, size, unsafe_ptr)`. */
export const probeReadStrCompat: VmHelper = {
  name: "probe_read_str",
  call: (env) => readStringInto(env, "compat"),
};

/** `long bpf_probe_read_user(dst, size, unsafe_ptr)`. */
export const probeReadUser: VmHelper = {
  name: "probe_read_user",
  call: (env) => readInto(env, 1, 3, "user"),
};

/** `long bpf_probe_read_kernel(dst, size, unsafe_ptr)`. */
export const probeReadKernel: VmHelper = {
  name: "probe_read_kernel",
  call: (env) => readInto(env, 1, 3, "kernel"),
};

/** `long bpf_probe_read_user_str(dst, size, unsafe_ptr)`. */
export const probeReadUserStr: VmHelper = {
  name: "probe_read_user_str",
  call: (env) => readStringInto(env, "user"),
};

/** `long bpf_probe_read_kernel_str(dst, size, unsafe_ptr)`. */
export const probeReadKernelStr: VmHelper = {
  name: "probe_read_kernel_str",
  call: (env) => readStringInto(env, "kernel"),
};

/** `long bpf_copy_from_user(dst, size, user_ptr)` (sleepable programs). */
export const copyFromUser: VmHelper = {
  name: "copy_from_user",
  call: (env) => readInto(env, 1, 3, "user"),
};

/** The probe helpers. */
export const PROBE_HELPERS: readonly VmHelper[] = [
  probeReadCompat,
  probeReadStrCompat,
  probeReadUser,
  probeReadKernel,
  probeReadUserStr,
  probeReadKernelStr,
  copyFromUser,
];
