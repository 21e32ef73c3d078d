/**
 * `bpf_get_prandom_u32`, from the runtime's seeded generator so runs are
 * reproducible.
 *
 * @module
 */

import type { VmHelper } from "../types.ts";

/** `u32 bpf_get_prandom_u32(void)`. */
export const getPrandomU32: VmHelper = {
  name: "get_prandom_u32",
  call: (env) => env.runtime.random() >>> 0,
};

/** The random helpers. */
export const RANDOM_HELPERS: readonly VmHelper[] = [getPrandomU32];
