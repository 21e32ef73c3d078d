/**
 * Ring buffer helpers: `bpf_ringbuf_output`, `_reserve`, `_submit`,
 * `_discard` and `_query`, over a map's `ringbuf*` methods. A reserved
 * record is remembered (per runtime) until it is submitted or discarded,
 * so submit and discard find their map and a record released twice, or an
 * address that never was a record, is refused as the verifier would.
 *
 * @module
 */

import type { HelperEnv, VmHelper, VmMap, VmRuntime } from "../types.ts";
import {
  argBytes,
  argFlags,
  argMap,
  argSize,
  argU32,
  EINVAL,
  helperError,
  wrongMapType,
} from "./common.ts";

// BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP.
const WAKEUP_FLAGS = 3;
// BPF_RB_PROD_POS, the highest bpf_ringbuf_query flag.
const MAX_QUERY = 3;

const reserved = new WeakMap<VmRuntime, Map<number, VmMap>>();

function records(env: HelperEnv): Map<number, VmMap> {
  let map = reserved.get(env.runtime);
  if (map === undefined) reserved.set(env.runtime, map = new Map());
  return map;
}

function ringbuf(env: HelperEnv, helper: string): VmMap {
  const map = argMap(env, 1);
  if (map.ringbufOutput === undefined) throw wrongMapType(env, map, helper);
  return map;
}

/** `long bpf_ringbuf_output(ringbuf, data, size, flags)`: 0, -EINVAL or -EAGAIN (full). */
export const ringbufOutput: VmHelper = {
  name: "ringbuf_output",
  call(env) {
    const map = ringbuf(env, "ringbuf_output");
    const data = argBytes(env, 2, argSize(env, 3, true), false);
    const flags = argFlags(env, 4);
    if (flags > WAKEUP_FLAGS) return EINVAL;
    return map.ringbufOutput!(data, flags);
  },
};

/** `void *bpf_ringbuf_reserve(ringbuf, size, flags)`: the record's address, or NULL. */
export const ringbufReserve: VmHelper = {
  name: "ringbuf_reserve",
  call(env) {
    const map = ringbuf(env, "ringbuf_reserve");
    if (map.ringbufReserve === undefined) throw wrongMapType(env, map, "ringbuf_reserve");
    const size = env.arg(2);
    if (argFlags(env, 3) !== 0) return 0;
    const record = map.ringbufReserve(size, 0);
    if (record !== 0) records(env).set(record, map);
    return record;
  },
};

function commit(env: HelperEnv, discard: boolean): number {
  const record = env.arg(1);
  const all = records(env);
  const map = all.get(record);
  if (map === undefined || map.ringbufCommit === undefined) {
    const what = discard ? "bpf_ringbuf_discard" : "bpf_ringbuf_submit";
    throw helperError(
      env,
      `r1 is not a record from bpf_ringbuf_reserve (or it was already released) in ${what}`,
    );
  }
  all.delete(record);
  // Only the wakeup bits mean anything here; the kernel ignores the rest.
  map.ringbufCommit(record, discard, argU32(env, 2) & WAKEUP_FLAGS);
  return 0;
}

/** `void bpf_ringbuf_submit(data, flags)`. */
export const ringbufSubmit: VmHelper = {
  name: "ringbuf_submit",
  call: (env) => commit(env, false),
};

/** `void bpf_ringbuf_discard(data, flags)`. */
export const ringbufDiscard: VmHelper = {
  name: "ringbuf_discard",
  call: (env) => commit(env, true),
};

/** `u64 bpf_ringbuf_query(ringbuf, flags)`: 0 for an unknown flag. */
export const ringbufQuery: VmHelper = {
  name: "ringbuf_query",
  call(env) {
    const map = ringbuf(env, "ringbuf_query");
    if (map.ringbufQuery === undefined) throw wrongMapType(env, map, "ringbuf_query");
    const flags = argFlags(env, 2);
    return flags > MAX_QUERY ? 0 : map.ringbufQuery(flags);
  },
};

/** The ring buffer helpers. */
export const RINGBUF_HELPERS: readonly VmHelper[] = [
  ringbufOutput,
  ringbufReserve,
  ringbufSubmit,
  ringbufDiscard,
  ringbufQuery,
];
