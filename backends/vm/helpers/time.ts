/**
 * Clock helpers: `bpf_ktime_get_ns`, `_boot_ns`, `_coarse_ns` and
 * `bpf_jiffies64`, read from the runtime's clocks
 * ({@link VmRuntimeOptions.clock}, {@link VmRuntimeOptions.bootClock}).
 *
 * @module
 */

import type { HelperEnv, VmHelper } from "../types.ts";

const U64 = 0xffffffffffffffffn;
// HZ of a typical x86-64 distribution kernel, and INITIAL_JIFFIES on a
// 64-bit kernel ((u32)-300*HZ: jiffies wrap their low word 5 minutes after boot).
const NS_PER_JIFFY = 4_000_000n;
const INITIAL_JIFFIES = 0x100000000n - 300n * 250n;

/** Nanoseconds of the runtime's monotonic clock (a fallback from `performance.now()`). */
export function monotonicNs(env: HelperEnv): bigint {
  const clock = env.runtime.options.clock;
  if (clock !== undefined) return clock() & U64;
  return BigInt(Math.round(performance.now() * 1e6));
}

/** Nanoseconds since boot: `bootClock`, else the monotonic clock. */
export function bootNs(env: HelperEnv): bigint {
  const clock = env.runtime.options.bootClock;
  return clock !== undefined ? clock() & U64 : monotonicNs(env);
}

/** `u64 bpf_ktime_get_ns(void)`. */
export const ktimeGetNs: VmHelper = { name: "ktime_get_ns", call: monotonicNs };

/** `u64 bpf_ktime_get_boot_ns(void)`. */
export const ktimeGetBootNs: VmHelper = { name: "ktime_get_boot_ns", call: bootNs };

/** `u64 bpf_ktime_get_coarse_ns(void)`: the monotonic clock (no tick rounding). */
export const ktimeGetCoarseNs: VmHelper = { name: "ktime_get_coarse_ns", call: monotonicNs };

/** `u64 bpf_jiffies64(void)`: boot time in ticks of HZ=250, from INITIAL_JIFFIES. */
export const jiffies64: VmHelper = {
  name: "jiffies64",
  call: (env) => (INITIAL_JIFFIES + bootNs(env) / NS_PER_JIFFY) & U64,
};

/** The clock helpers. */
export const TIME_HELPERS: readonly VmHelper[] = [
  ktimeGetNs,
  ktimeGetBootNs,
  ktimeGetCoarseNs,
  jiffies64,
];
