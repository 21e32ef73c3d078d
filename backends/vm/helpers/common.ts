/**
 * Pieces every helper module shares: errno results, argument decoding the
 * way the kernel's helper prototypes declare them, and the `VM_HELPER`
 * errors for calls the kernel's verifier would have refused at load.
 *
 * @module
 */

import { ERRNO } from "../../kernel/errors.ts";
import { VmError } from "../errors.ts";
import {
  offsetOf,
  REGION_READ,
  REGION_SPECIAL,
  REGION_STRIDED,
  TAG_SCALE,
  tagOf,
} from "../memory.ts";
import type { HelperEnv, VmMap } from "../types.ts";

/** `-EPERM`. */
export const EPERM = -ERRNO.EPERM;
/** `-ENOENT`. */
export const ENOENT = -ERRNO.ENOENT;
/** `-E2BIG`. */
export const E2BIG = -ERRNO.E2BIG;
/** `-EAGAIN`. */
export const EAGAIN = -ERRNO.EAGAIN;
/** `-EFAULT`. */
export const EFAULT = -ERRNO.EFAULT;
/** `-EBUSY`. */
export const EBUSY = -ERRNO.EBUSY;
/** `-EINVAL`. */
export const EINVAL = -ERRNO.EINVAL;
/** `-ENOSPC`. */
export const ENOSPC = -ERRNO.ENOSPC;
/** `-ERANGE`. */
export const ERANGE = -ERRNO.ERANGE;
/** `-EOPNOTSUPP`. */
export const EOPNOTSUPP = -ERRNO.EOPNOTSUPP;

/** 2⁵³: arguments at or above it are not exact as numbers. */
const EXACT = 2 ** 53;
/** BPF_MAX_VAR_SIZ: the verifier's bound on a size argument. */
export const MAX_VAR_SIZE = 1 << 29;

/** The `VM_HELPER` error for a call the verifier would have rejected at load. */
export function helperError(env: HelperEnv, detail: string): VmError {
  return new VmError("VM_HELPER", `pc ${env.pc}: ${detail}`, {
    pc: env.pc,
    program: env.code.name,
  });
}

/** Argument `n` truncated to its low 32 bits, as a `u32` parameter sees it. */
export function argU32(env: HelperEnv, n: number): number {
  const value = env.arg(n);
  if (value < EXACT) return value % TAG_SCALE;
  return Number(env.argU64(n) & 0xffffffffn);
}

/**
 * Argument `n` as a flags word: exact when below 2⁵³, else `Infinity`
 * (every flags check rejects it, as some high bit is set).
 */
export function argFlags(env: HelperEnv, n: number): number {
  const value = env.arg(n);
  return value < EXACT ? value : Infinity;
}

/**
 * Argument `n` as an `ARG_CONST_SIZE` (or `_OR_ZERO`): the verifier
 * rejects zero where it is not allowed and sizes of 2²⁹ or more.
 */
export function argSize(env: HelperEnv, n: number, zeroOk: boolean): number {
  const value = env.arg(n);
  if (value >= MAX_VAR_SIZE) {
    throw helperError(env, `r${n} size ${value} is too large (the verifier allows < 2^29)`);
  }
  if (value === 0 && !zeroOk) throw helperError(env, `r${n} invalid zero-sized access`);
  return value;
}

/** The map whose handle is in argument `n` (`ARG_CONST_MAP_PTR`). */
export function argMap(env: HelperEnv, n: number): VmMap {
  const map = env.runtime.mapAt(env.arg(n));
  if (map === undefined) throw helperError(env, `r${n} is not a map`);
  return map;
}

/** A view of `len` arena bytes at the address in argument `n`, access-checked. */
export function argBytes(env: HelperEnv, n: number, len: number, write: boolean): Uint8Array {
  const at = env.mem.range(env.arg(n), len, write, env.pc);
  return env.mem.u8.subarray(at, at + len);
}

/** The `VM_HELPER` error for a map type the helper does not take. */
export function wrongMapType(env: HelperEnv, map: VmMap, helper: string): VmError {
  return helperError(
    env,
    `cannot pass map_type ${map.type} (map ${map.name}) into func bpf_${helper}`,
  );
}

/**
 * Check a BPF callback's r0: the verifier only accepts callbacks of
 * `bpf_loop` and `bpf_for_each_map_elem` that return 0 or 1.
 */
export function callbackResult(env: HelperEnv, helper: string, r0: number): number {
  if (r0 !== 0 && r0 !== 1) {
    throw helperError(
      env,
      `callback of bpf_${helper} returned ${r0}; the verifier only allows 0 or 1`,
    );
  }
  return r0;
}

/**
 * The `ARG_PTR_TO_CONST_STR` in argument `n`: bytes up to and including
 * the NUL, which must come before its region (or element) ends.
 */
export function constString(env: HelperEnv, n: number): Uint8Array {
  const address = env.arg(n);
  const r = env.mem.region(tagOf(address));
  const off = offsetOf(address);
  if (r !== undefined && (r.flags & REGION_READ) !== 0 && (r.flags & REGION_SPECIAL) === 0) {
    const avail = (r.flags & REGION_STRIDED) !== 0 ? r.elem - (off % r.stride) : r.len - off;
    if (avail > 0) {
      const bytes = env.mem.u8.subarray(r.base + off, r.base + off + avail);
      const nul = bytes.indexOf(0);
      if (nul >= 0) return bytes.slice(0, nul + 1);
      throw helperError(env, `r${n} string is not zero-terminated`);
    }
  }
  throw env.mem.fault(address, 1, false, env.pc);
}
