/**
 * Helpers that call back into BPF: `bpf_loop` and
 * `bpf_for_each_map_elem`. Callbacks run through {@link HelperEnv.callback}
 * on a fresh frame; the verifier only accepts callbacks returning 0
 * (continue) or 1 (stop), so anything else is a `VM_HELPER` error.
 *
 * @module
 */

import type { VmHelper } from "../types.ts";
import { argFlags, argMap, callbackResult, E2BIG, EINVAL, wrongMapType } from "./common.ts";

/** BPF_MAX_LOOPS: the most iterations `bpf_loop` runs. */
export const BPF_MAX_LOOPS = 1 << 23;

// -E2BIG as the inlined loop returns it: `mov32 r0, -E2BIG`, zero-extended.
const E2BIG_U32 = E2BIG >>> 0;

/**
 * `long bpf_loop(nr_loops, callback_fn, callback_ctx, flags)`: calls
 * `callback_fn(i, callback_ctx)` for i = 0… until it returns 1; returns
 * the number of calls made.
 *
 * With flags 0 the verifier inlines the loop (`inline_bpf_loop`), and that
 * is what runs: nr_loops is compared as a full 64-bit value and more than
 * 2²³ gives -E2BIG as a 32-bit value (0xfffffff9), as observed on Linux
 * 6.18. Other flags reach the helper itself, which returns -EINVAL.
 */
export const loop: VmHelper = {
  name: "loop",
  call(env) {
    const fn = env.arg(2);
    const ctx = env.arg(3);
    if (argFlags(env, 4) !== 0) return EINVAL;
    const n = env.arg(1);
    if (n > BPF_MAX_LOOPS) return E2BIG_U32;
    const args = [0, ctx];
    for (let i = 0; i < n; i++) {
      args[0] = i;
      if (callbackResult(env, "loop", env.callback(fn, args)) !== 0) return i + 1;
    }
    return n;
  },
};

/**
 * `long bpf_for_each_map_elem(map, callback_fn, callback_ctx, flags)`:
 * calls `callback_fn(map, key, value, callback_ctx)` per element until it
 * returns 1; returns the number of elements visited.
 */
export const forEachMapElem: VmHelper = {
  name: "for_each_map_elem",
  call(env) {
    const map = argMap(env, 1);
    if (map.forEachElem === undefined) throw wrongMapType(env, map, "for_each_map_elem");
    const fn = env.arg(2);
    const ctx = env.arg(3);
    if (argFlags(env, 4) !== 0) return EINVAL;
    const args = [map.address, 0, 0, ctx];
    return map.forEachElem((key, value) => {
      args[1] = key;
      args[2] = value;
      return callbackResult(env, "for_each_map_elem", env.callback(fn, args));
    });
  },
};

/** The callback helpers. */
export const LOOP_HELPERS: readonly VmHelper[] = [loop, forEachMapElem];
