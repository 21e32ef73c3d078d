/**
 * Per-CPU values: how many values a map keeps per element and how the host
 * side packs them. The host sees all CPUs' values back to back, each
 * rounded up to 8 bytes — the layout of the kernel's syscalls and of the
 * kernel backend's `KernelMap`. A host update takes that layout or, like
 * `KernelMap`, one value that is written to every CPU.
 *
 * @module
 */

import { MapType } from "../../../collection/types.ts";
import type { VmRuntime } from "../types.ts";
import { type MapBase, roundUp8 } from "./_base.ts";

/** Map types that keep one value per possible CPU. */
export const PER_CPU_TYPES: ReadonlySet<number> = new Set([
  MapType.PERCPU_ARRAY,
  MapType.PERCPU_HASH,
  MapType.LRU_PERCPU_HASH,
]);

/** Values per element: the runtime's possible CPUs for per-CPU types, else 1. */
export function cpusOf(runtime: VmRuntime, type: number): number {
  return PER_CPU_TYPES.has(type) ? Math.max(1, runtime.options.possibleCpus ?? 1) : 1;
}

/** The CPU programs run on (`get_smp_processor_id`), checked against `cpus`. */
export function currentCpu(runtime: VmRuntime, cpus: number): number {
  const cpu = runtime.options.cpu ?? 0;
  return cpu >= 0 && cpu < cpus ? cpu : 0;
}

/** Bytes of a host-side value: all CPUs' rounded values, or value_size. */
export function hostValueSize(map: MapBase, cpus: number): number {
  return cpus > 1 || PER_CPU_TYPES.has(map.type) ? roundUp8(map.valueSize) * cpus : map.valueSize;
}

/** Copy a host value into the element at arena offset `at` (all CPUs). */
export function writeHostValue(
  map: MapBase,
  at: number,
  value: Uint8Array,
  options: { cpus: number; op: string },
): void {
  const { cpus, op } = options;
  const u8 = map.runtime.mem.u8;
  if (!PER_CPU_TYPES.has(map.type)) {
    u8.set(map.hostValue(value, op), at);
    return;
  }
  const stride = roundUp8(map.valueSize);
  if (value instanceof Uint8Array && value.length === map.valueSize) {
    for (let c = 0; c < cpus; c++) u8.set(value, at + c * stride);
    return;
  }
  const full = map.hostValue(value, op, stride * cpus);
  for (let c = 0; c < cpus; c++) {
    u8.set(full.subarray(c * stride, c * stride + map.valueSize), at + c * stride);
  }
}

/** A copy of the element at arena offset `at` as the host sees it. */
export function readHostValue(map: MapBase, at: number, cpus: number): Uint8Array {
  const size = hostValueSize(map, cpus);
  const out = map.runtime.mem.u8.slice(at, at + size);
  if (PER_CPU_TYPES.has(map.type) && map.valueSize % 8 !== 0) {
    // Padding between CPUs' values reads as zeros, as the kernel's copy does.
    const stride = roundUp8(map.valueSize);
    for (let c = 0; c < cpus; c++) out.fill(0, c * stride + map.valueSize, (c + 1) * stride);
  }
  return out;
}
