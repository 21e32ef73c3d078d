/**
 * `BPF_MAP_CREATE` checks shared by the map types (the kernel's
 * `map_create` and the `*_map_alloc_check` helpers): each throws the
 * `VM_BAD_MAP` error the kernel's errno stands for.
 *
 * @module
 */

import { MapFlags, mapTypeName } from "../../../collection/types.ts";
import type { VmMapInit } from "./_base.ts";
import { createError } from "./_errno.ts";

/** Largest kmalloc the kernel makes (KMALLOC_MAX_SIZE on x86_64: 2^(10 + 12) bytes). */
export const KMALLOC_MAX_SIZE = 1 << 22;
/** Largest per-CPU value (PCPU_MIN_UNIT_SIZE). */
export const PCPU_MIN_UNIT_SIZE = 32 << 10;

/** A create-time failure with `errno` for `init`. */
export function refuse(init: VmMapInit, errno: string, why: string): never {
  throw createError(init.name, errno, why);
}

/** Sizes are u32s, flags too; map_extra only for bloom filters; sane access flags. */
export function checkCommon(init: VmMapInit): void {
  for (const field of ["keySize", "valueSize", "maxEntries"] as const) {
    const v = init[field];
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      refuse(init, "EINVAL", `${field} ${v} is not a u32`);
    }
  }
  const flags = init.flags ?? 0;
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) {
    refuse(init, "EINVAL", `map_flags ${flags} is not a u32`);
  }
  if ((flags & MapFlags.BPF_F_RDONLY) !== 0 && (flags & MapFlags.BPF_F_WRONLY) !== 0) {
    refuse(init, "EINVAL", "BPF_F_RDONLY and BPF_F_WRONLY together");
  }
  if ((flags & MapFlags.BPF_F_RDONLY_PROG) !== 0 && (flags & MapFlags.BPF_F_WRONLY_PROG) !== 0) {
    refuse(init, "EINVAL", "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together");
  }
  const extra = init.mapExtra ?? 0n;
  if (typeof extra !== "bigint" || extra < 0n || extra >= 1n << 64n) {
    refuse(init, "EINVAL", `map_extra ${extra} is not a u64`);
  }
  if (extra !== 0n && init.type !== 30 /* BLOOM_FILTER */ && init.type !== 33 /* ARENA */) {
    refuse(init, "EINVAL", `map_extra must be 0 for ${mapTypeName(init.type)} maps`);
  }
}

/** EINVAL naming the flags outside `allowed`. */
export function checkFlagMask(init: VmMapInit, allowed: number): void {
  const bad = (init.flags ?? 0) & ~allowed;
  if (bad === 0) return;
  const names = Object.entries(MapFlags).filter(([, v]) => (bad & v) !== 0).map(([n]) => n);
  const unknown = bad & ~Object.values(MapFlags).reduce((a, b) => a | b, 0);
  if (unknown !== 0) names.push(`0x${(unknown >>> 0).toString(16)}`);
  refuse(
    init,
    "EINVAL",
    `flags ${names.join("|")} not supported by ${mapTypeName(init.type)} maps`,
  );
}
