/**
 * Errno results of map operations: negative numbers for the program side
 * (what the kernel's helpers return), {@link VmError}s for the host side and
 * for `BPF_MAP_CREATE` checks.
 *
 * @module
 */

import { ERRNO } from "../../kernel/errors.ts";
import { VmError } from "../errors.ts";

/** -ENOENT. */
export const NEG_ENOENT = -ERRNO.ENOENT;
/** -EEXIST. */
export const NEG_EEXIST = -ERRNO.EEXIST;
/** -E2BIG. */
export const NEG_E2BIG = -ERRNO.E2BIG;
/** -EINVAL. */
export const NEG_EINVAL = -ERRNO.EINVAL;
/** -ENOSPC. */
export const NEG_ENOSPC = -ERRNO.ENOSPC;
/** -EAGAIN. */
export const NEG_EAGAIN = -ERRNO.EAGAIN;
/** -EBUSY. */
export const NEG_EBUSY = -ERRNO.EBUSY;

/** Why an errno happened, by errno, for host-side messages. */
const WHY: Readonly<Record<string, string>> = {
  ENOENT: "no such element",
  EEXIST: "key exists, BPF_NOEXIST",
  E2BIG: "map is full or index out of range",
  EINVAL: "invalid argument",
  ENOSPC: "map is full",
  EPERM: "map is read-only for the host",
  EBADF: "no such fd",
  EOPNOTSUPP: "operation not supported by this map type",
  ENOTSUPP: "operation not supported by this map type",
  EBUSY: "busy",
};

/** The errno name of a negative result (`-2` → `ENOENT`). */
export function errnoNameOf(result: number): string {
  for (const [name, value] of Object.entries(ERRNO)) if (value === -result) return name;
  return `errno ${-result}`;
}

/**
 * The host-side error for operation `op` of map `map` failing with errno
 * `errno` (a name), e.g. `map counts: update: EEXIST (key exists, BPF_NOEXIST)`.
 */
export function mapError(map: string, op: string, errno: string, why?: string): VmError {
  return new VmError("VM_MAP", `map ${map}: ${op}: ${errno} (${why ?? WHY[errno] ?? errno})`, {
    errnoName: errno,
  });
}

/** Throw {@link mapError} for a negative program-side result; pass 0 through. */
export function check(map: string, op: string, result: number, why?: string): void {
  if (result < 0) throw mapError(map, op, errnoNameOf(result), why);
}

/** A `BPF_MAP_CREATE` refusal: `map NAME: BPF_MAP_CREATE: EINVAL: why`. */
export function createError(map: string, errno: string, why: string): VmError {
  return new VmError("VM_BAD_MAP", `map ${map}: BPF_MAP_CREATE: ${errno}: ${why}`, {
    errnoName: errno,
  });
}

/** A program-side call the kernel's verifier would refuse at load time. */
export function helperError(map: string, op: string, why: string): VmError {
  return new VmError("VM_HELPER", `map ${map}: ${op}: ${why}`);
}
