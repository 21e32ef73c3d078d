/**
 * `bpf_tail_call(ctx, prog_array, index)`. On success the program
 * continues in the target once the helper returns (see
 * {@link HelperEnv.tailCall}). On failure execution falls through: the
 * kernel leaves r0 unspecified there; the VM returns -ENOENT for an index
 * past `max_entries` or an empty slot and -E2BIG when the run already made
 * 33 tail calls.
 *
 * @module
 */

import type { VmHelper } from "../types.ts";
import { argMap, argU32, E2BIG, ENOENT, wrongMapType } from "./common.ts";

/** `long bpf_tail_call(ctx, prog_array_map, index)`. */
export const tailCall: VmHelper = {
  name: "tail_call",
  call(env) {
    const map = argMap(env, 2);
    if (map.programAt === undefined) throw wrongMapType(env, map, "tail_call");
    const index = argU32(env, 3);
    if (index >= map.maxEntries) return ENOENT;
    const target = map.programAt(index);
    if (target === undefined) return ENOENT;
    return env.tailCall(target) ? 0 : E2BIG;
  },
};

/** The tail call helper. */
export const TAIL_CALL_HELPERS: readonly VmHelper[] = [tailCall];
