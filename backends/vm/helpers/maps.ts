/**
 * Map helpers: `bpf_map_lookup_elem`, `_update_elem`, `_delete_elem` and
 * the queue/stack/bloom filter `bpf_map_push_elem`, `_pop_elem`,
 * `_peek_elem`. Keys and values are checked against the arena for
 * `key_size` / `value_size` bytes, as the verifier checks
 * `ARG_PTR_TO_MAP_KEY` / `ARG_PTR_TO_MAP_VALUE`.
 *
 * @module
 */

import { MapType } from "../../../collection/types.ts";
import type { HelperEnv, VmHelper, VmMap } from "../types.ts";
import { argBytes, argFlags, argMap, EINVAL, wrongMapType } from "./common.ts";

// Every map's update and push reject flags above the low word with -EINVAL
// before anything else; doing it here keeps maps to 32-bit flags.
const U32_MAX = 0xffffffff;

// Map types whose elements programs cannot reach with lookup/update/delete
// (check_map_func_compatibility: they serve their own helpers only).
const NO_ELEM_OPS: ReadonlySet<number> = new Set([
  MapType.PROG_ARRAY,
  MapType.PERF_EVENT_ARRAY,
  MapType.STACK_TRACE,
  MapType.CGROUP_ARRAY,
  MapType.QUEUE,
  MapType.STACK,
  MapType.RINGBUF,
  MapType.BLOOM_FILTER,
  MapType.USER_RINGBUF,
]);

function elemMap(env: HelperEnv, helper: string): VmMap {
  const map = argMap(env, 1);
  if (NO_ELEM_OPS.has(map.type)) throw wrongMapType(env, map, helper);
  return map;
}

/** `void *bpf_map_lookup_elem(map, key)`: the value's address or NULL. */
export const mapLookupElem: VmHelper = {
  name: "map_lookup_elem",
  call(env) {
    const map = elemMap(env, "map_lookup_elem");
    return map.lookupElem(argBytes(env, 2, map.keySize, false));
  },
};

/** `long bpf_map_update_elem(map, key, value, flags)`. */
export const mapUpdateElem: VmHelper = {
  name: "map_update_elem",
  call(env) {
    const map = elemMap(env, "map_update_elem");
    const key = argBytes(env, 2, map.keySize, false);
    const value = argBytes(env, 3, map.valueSize, false);
    const flags = argFlags(env, 4);
    return flags > U32_MAX ? EINVAL : map.updateElem(key, value, flags);
  },
};

/** `long bpf_map_delete_elem(map, key)`. */
export const mapDeleteElem: VmHelper = {
  name: "map_delete_elem",
  call(env) {
    const map = elemMap(env, "map_delete_elem");
    return map.deleteElem(argBytes(env, 2, map.keySize, false));
  },
};

/** `long bpf_map_push_elem(map, value, flags)`: queue, stack, bloom filter. */
export const mapPushElem: VmHelper = {
  name: "map_push_elem",
  call(env) {
    const map = argMap(env, 1);
    if (map.pushElem === undefined) throw wrongMapType(env, map, "map_push_elem");
    const value = argBytes(env, 2, map.valueSize, false);
    const flags = argFlags(env, 3);
    return flags > U32_MAX ? EINVAL : map.pushElem(value, flags);
  },
};

/** `long bpf_map_pop_elem(map, value)`: queue, stack; fills `value`. */
export const mapPopElem: VmHelper = {
  name: "map_pop_elem",
  call(env) {
    const map = argMap(env, 1);
    if (map.popElem === undefined) throw wrongMapType(env, map, "map_pop_elem");
    return map.popElem(argBytes(env, 2, map.valueSize, true));
  },
};

/**
 * `long bpf_map_peek_elem(map, value)`: queue and stack fill `value`; a
 * bloom filter reads it and answers whether it may be present.
 */
export const mapPeekElem: VmHelper = {
  name: "map_peek_elem",
  call(env) {
    const map = argMap(env, 1);
    if (map.peekElem === undefined) throw wrongMapType(env, map, "map_peek_elem");
    const write = map.type !== MapType.BLOOM_FILTER;
    return map.peekElem(argBytes(env, 2, map.valueSize, write));
  },
};

/** The map helpers. */
export const MAP_HELPERS: readonly VmHelper[] = [
  mapLookupElem,
  mapUpdateElem,
  mapDeleteElem,
  mapPushElem,
  mapPopElem,
  mapPeekElem,
];
