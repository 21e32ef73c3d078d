/**
 * `bpf_csum_diff`, bit-exact with the kernel. Since Linux 6.13 ("bpf:
 * bpf_csum_diff: optimize and homogenize for all archs") it returns the
 * checksum folded to 16 bits on every architecture and takes any sizes;
 * before, it required sizes that are multiples of 4 totalling at most 512
 * bytes and returned `csum_partial`'s unfolded 32-bit sum (x86-64's value
 * is reproduced by {@link csumDiffLegacy}).
 *
 * Sums are over the bytes as memory holds them, so they read as
 * little-endian words (x86-64 and arm64 hosts).
 *
 * @module
 */

import type { HelperEnv, VmHelper } from "../types.ts";
import { argSize, argU32, EINVAL } from "./common.ts";

const U32_MAX = 0xffffffff;

/**
 * `csum_partial(buf, len, seed)` as x86-64 computes it: the end-around-carry
 * sum of `seed` and the buffer's little-endian 32-bit words (a last partial
 * word zero-padded), a u32 that is 0 only when everything is 0.
 */
export function csumPartial(bytes: Uint8Array, seed: number): number {
  let sum = seed >>> 0;
  const whole = bytes.length & ~3;
  for (let i = 0; i < whole; i += 4) {
    sum += (bytes[i] | bytes[i + 1] << 8 | bytes[i + 2] << 16 | bytes[i + 3] << 24) >>> 0;
  }
  for (let i = whole; i < bytes.length; i++) sum += bytes[i] * 2 ** (8 * (i - whole));
  return sum === 0 ? 0 : ((sum - 1) % U32_MAX) + 1;
}

/** `csum_add`: 32-bit one's complement addition. */
export function csumAdd(a: number, b: number): number {
  const s = (a >>> 0) + (b >>> 0);
  return s > U32_MAX ? s - U32_MAX : s;
}

/** `csum_sub`: `csum_add(a, ~b)`. */
export function csumSub(a: number, b: number): number {
  return csumAdd(a, ~b >>> 0);
}

/** `csum_from32to16`: fold a 32-bit sum to 16 bits (not complemented). */
export function csumFrom32to16(sum: number): number {
  let x = (sum & 0xffff) + (sum >>> 16);
  x = (x & 0xffff) + (x >>> 16);
  return x;
}

/** The kernel's (6.13+) `bpf_csum_diff` on byte arrays. */
export function csumDiff(from: Uint8Array, to: Uint8Array, seed: number): number {
  let ret = seed >>> 0;
  if (from.length > 0 && to.length > 0) ret = csumSub(csumPartial(to, ret), csumPartial(from, 0));
  else if (to.length > 0) ret = csumPartial(to, ret);
  else if (from.length > 0) ret = ~csumPartial(from, ~ret >>> 0) >>> 0;
  return csumFrom32to16(ret);
}

/**
 * The pre-6.13 x86-64 `bpf_csum_diff` on byte arrays: -EINVAL unless both
 * sizes are multiples of 4 and total at most 512; else `csum_partial` of
 * the complemented `from` words followed by the `to` words.
 */
export function csumDiffLegacyBytes(from: Uint8Array, to: Uint8Array, seed: number): number {
  if (((from.length | to.length) & 3) !== 0 || from.length + to.length > 512) return EINVAL;
  const diff = new Uint8Array(from.length + to.length);
  for (let i = 0; i < from.length; i++) diff[i] = ~from[i];
  diff.set(to, from.length);
  return csumPartial(diff, seed);
}

function operands(env: HelperEnv): [Uint8Array, Uint8Array, number] {
  const fromLen = argSize(env, 2, true);
  const toLen = argSize(env, 4, true);
  const mem = env.mem;
  const from = mem.range(env.arg(1), fromLen, false, env.pc);
  const to = mem.range(env.arg(3), toLen, false, env.pc);
  const u8 = mem.u8;
  return [u8.subarray(from, from + fromLen), u8.subarray(to, to + toLen), argU32(env, 5)];
}

/** `s64 bpf_csum_diff(from, from_size, to, to_size, seed)` (Linux 6.13+). */
export const csumDiffHelper: VmHelper = {
  name: "csum_diff",
  call: (env) => csumDiff(...operands(env)),
};

/**
 * `bpf_csum_diff` as kernels before 6.13 on x86-64 computed it; register
 * it under ID 28 to match such a kernel.
 */
export const csumDiffLegacy: VmHelper = {
  name: "csum_diff",
  call: (env) => csumDiffLegacyBytes(...operands(env)),
};

/** The checksum helpers. */
export const CSUM_HELPERS: readonly VmHelper[] = [csumDiffHelper];
