/**
 * String helpers: `bpf_strncmp`, `bpf_strtol` and `bpf_strtoul`, with
 * the kernel's parsing rules (`__bpf_strtoull`: leading spaces, a `-`,
 * base 0/8/10/16 with `0x` and `0` prefixes, at most 63 characters).
 *
 * @module
 */

import type { HelperEnv, VmHelper } from "../types.ts";
import { argBytes, argFlags, argSize, constString, EINVAL, ERANGE } from "./common.ts";

const BASE_MASK = 0x1f;
const U64_MAX = 0xffffffffffffffffn;

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0;
}

function digit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lc = c | 0x20;
  return lc >= 0x61 && lc <= 0x66 ? lc - 0x61 + 10 : 99;
}

/** Result of {@link parseInteger}: the value, whether it was negative, characters consumed. */
export interface ParsedInteger {
  /** The digits' value (its magnitude when negative), below 2⁶⁴. */
  value: bigint;
  /** Whether a `-` preceded the digits. */
  negative: boolean;
  /** Characters consumed: spaces, sign, prefix and digits. */
  consumed: number;
}

/** `__bpf_strtoull`: the parsed value, or a negative errno. */
export function parseInteger(buf: Uint8Array, flags: number): ParsedInteger | number {
  let base = flags % 32;
  if (base !== 0 && base !== 8 && base !== 10 && base !== 16) return EINVAL;
  if (flags > BASE_MASK) return EINVAL;
  let i = 0;
  while (i < buf.length && isSpace(buf[i])) i++;
  const negative = i < buf.length && buf[i] === 0x2d;
  if (negative) i++;
  const consumed = i;
  if (buf.length - consumed === 0) return EINVAL;
  // The kernel copies at most 63 bytes into a NUL-terminated scratch string.
  const str = buf.slice(consumed, consumed + Math.min(buf.length - consumed, 63));
  const at = (j: number): number => j < str.length ? str[j] : 0;
  let j = 0;
  if (base === 0) {
    if (at(0) === 0x30) base = (at(1) | 0x20) === 0x78 && digit(at(2)) < 16 ? 16 : 8;
    else base = 10;
  }
  if (base === 16 && at(0) === 0x30 && (at(1) | 0x20) === 0x78) j = 2;
  const start = j;
  let value = 0n;
  let overflow = false;
  const b = BigInt(base);
  for (let d = digit(at(j)); d < base; d = digit(at(++j))) {
    const next = value * b + BigInt(d);
    if (next > U64_MAX) overflow = true;
    value = next & U64_MAX;
  }
  if (overflow) return ERANGE;
  if (j === start) return EINVAL;
  return { value, negative, consumed: consumed + j };
}

/** `long bpf_strncmp(s1, s1_sz, s2)`: -1, 0 or 1, as the kernel's `strncmp`. */
export const strncmp: VmHelper = {
  name: "strncmp",
  call(env) {
    const s1 = argBytes(env, 1, argSize(env, 2, false), false).slice();
    const s2 = constString(env, 3);
    for (let i = 0; i < s1.length; i++) {
      const c1 = s1[i];
      const c2 = i < s2.length ? s2[i] : 0;
      if (c1 !== c2) return c1 < c2 ? -1 : 1;
      if (c1 === 0) break;
    }
    return 0;
  },
};

function strto(env: HelperEnv, signed: boolean): number {
  const buf = argBytes(env, 1, argSize(env, 2, false), false).slice();
  const res = env.mem.range(env.arg(4), 8, true, env.pc);
  env.mem.dv.setBigUint64(res, 0n, true);
  const parsed = parseInteger(buf, argFlags(env, 3));
  if (typeof parsed === "number") return parsed;
  let value = parsed.value;
  if (signed) {
    if (parsed.negative) {
      if (value > 2n ** 63n) return ERANGE;
      value = -value;
    } else if (value >= 2n ** 63n) return ERANGE;
  } else if (parsed.negative) return EINVAL;
  env.mem.dv.setBigUint64(res, BigInt.asUintN(64, value), true);
  return parsed.consumed;
}

/** `long bpf_strtol(buf, buf_len, flags, res)`: characters consumed, or -errno. */
export const strtol: VmHelper = { name: "strtol", call: (env) => strto(env, true) };

/** `long bpf_strtoul(buf, buf_len, flags, res)`: characters consumed, or -errno. */
export const strtoul: VmHelper = { name: "strtoul", call: (env) => strto(env, false) };

/** The string helpers. */
export const STRING_HELPERS: readonly VmHelper[] = [strncmp, strtol, strtoul];
