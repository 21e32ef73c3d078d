/**
 * Maps of the VM backend, with the kernel's semantics: the create-time
 * checks and errnos of `BPF_MAP_CREATE`, the helper results programs see and
 * the syscall errnos the host sees (as `VmError` `VM_MAP` with `errnoName`).
 *
 * ```ts
 * import { createRuntime } from "../runtime.ts";
 * import { createVmMap } from "./mod.ts";
 *
 * const runtime = createRuntime();
 * const counts = createVmMap(runtime, {
 *   name: "counts", type: 1, keySize: 4, valueSize: 8, maxEntries: 1024,
 * });
 * counts.update(new Uint8Array(4), new Uint8Array(8));
 * counts.close();
 * ```
 *
 * @module
 */

import { MapType, mapTypeName } from "../../../collection/types.ts";
import type { VmMap, VmRuntime } from "../types.ts";
import type { VmMapInit } from "./_base.ts";
import { checkCommon, refuse } from "./_check.ts";
import { checkArray, VmArrayMap } from "./array.ts";
import { checkBloomFilter, VmBloomFilter } from "./bloom_filter.ts";
import { checkHash, VmHashMap } from "./hash.ts";
import { checkLpmTrie, VmLpmTrie } from "./lpm_trie.ts";
import { checkMapOfMaps, VmArrayOfMaps, VmHashOfMaps } from "./map_of_maps.ts";
import { VmPerfEventArray } from "./perf_event_array.ts";
import { checkFdArray, VmProgArray } from "./prog_array.ts";
import { checkQueueStack, VmQueueStack } from "./queue_stack.ts";
import { checkRingbuf, VmRingBuf } from "./ringbuf.ts";
import { cpusOf } from "./_percpu.ts";

export type { VmMapInit } from "./_base.ts";
export { BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, MapBase } from "./_base.ts";
export { VmArrayMap } from "./array.ts";
export { VmHashMap } from "./hash.ts";
export { VmProgArray } from "./prog_array.ts";
export { type PerfRecord, VmPerfEventArray } from "./perf_event_array.ts";
export { VmArrayOfMaps, VmHashOfMaps } from "./map_of_maps.ts";
export {
  BPF_RB_AVAIL_DATA,
  BPF_RB_CONS_POS,
  BPF_RB_FORCE_WAKEUP,
  BPF_RB_NO_WAKEUP,
  BPF_RB_PROD_POS,
  BPF_RB_RING_SIZE,
  VmRingBuf,
} from "./ringbuf.ts";
export { VmQueueStack } from "./queue_stack.ts";
export { VmLpmTrie } from "./lpm_trie.ts";
export { VmBloomFilter } from "./bloom_filter.ts";

type Ctor = new (runtime: VmRuntime, init: VmMapInit) => VmMap;

const CLASSES: ReadonlyMap<number, Ctor> = new Map<number, Ctor>([
  [MapType.ARRAY, VmArrayMap],
  [MapType.PERCPU_ARRAY, VmArrayMap],
  [MapType.HASH, VmHashMap],
  [MapType.PERCPU_HASH, VmHashMap],
  [MapType.LRU_HASH, VmHashMap],
  [MapType.LRU_PERCPU_HASH, VmHashMap],
  [MapType.PROG_ARRAY, VmProgArray],
  [MapType.PERF_EVENT_ARRAY, VmPerfEventArray],
  [MapType.ARRAY_OF_MAPS, VmArrayOfMaps],
  [MapType.HASH_OF_MAPS, VmHashOfMaps],
  [MapType.RINGBUF, VmRingBuf],
  [MapType.QUEUE, VmQueueStack],
  [MapType.STACK, VmQueueStack],
  [MapType.LPM_TRIE, VmLpmTrie],
  [MapType.BLOOM_FILTER, VmBloomFilter],
]);

/** Whether the VM implements maps of `type`. */
export function isVmMapType(type: number): boolean {
  return CLASSES.has(type);
}

/**
 * `init` as `BPF_MAP_CREATE` would see it: a perf event array's
 * max_entries 0 becomes the runtime's possible CPUs (as libbpf sets it).
 */
export function normalizeMapInit(runtime: VmRuntime, init: VmMapInit): VmMapInit {
  if (init.type === MapType.PERF_EVENT_ARRAY && init.maxEntries === 0) {
    return { ...init, maxEntries: Math.max(1, runtime.options.possibleCpus ?? 1) };
  }
  return init;
}

/**
 * The kernel's create-time checks for `init`: throws `VM_BAD_MAP` with the
 * errno the kernel returns (EINVAL, E2BIG, ENOTSUPP …). Unknown types are
 * EINVAL; types the kernel has and the VM does not are ENOTSUPP.
 */
export function checkMapInit(runtime: VmRuntime, init: VmMapInit): void {
  if (init === null || typeof init !== "object" || typeof init.name !== "string") {
    refuse(
      { name: String(init?.name), type: 0, keySize: 0, valueSize: 0, maxEntries: 0 },
      "EINVAL",
      "bad map init",
    );
  }
  const type = init.type;
  if (!Number.isInteger(type) || !Object.values(MapType).includes(type as MapType) || type === 0) {
    refuse(init, "EINVAL", `unknown map type ${type}`);
  }
  if (!CLASSES.has(type)) {
    refuse(init, "ENOTSUPP", `map type ${mapTypeName(type)} is not supported by the VM`);
  }
  checkCommon(init);
  switch (type) {
    case MapType.ARRAY:
    case MapType.PERCPU_ARRAY:
      return checkArray(init, cpusOf(runtime, type));
    case MapType.HASH:
    case MapType.PERCPU_HASH:
    case MapType.LRU_HASH:
    case MapType.LRU_PERCPU_HASH:
      return checkHash(init);
    case MapType.PROG_ARRAY:
    case MapType.PERF_EVENT_ARRAY:
      return checkFdArray(init);
    case MapType.ARRAY_OF_MAPS:
    case MapType.HASH_OF_MAPS:
      return checkMapOfMaps(
        init,
        (inner) => checkMapInit(runtime, normalizeMapInit(runtime, inner)),
      );
    case MapType.RINGBUF:
      return checkRingbuf(init);
    case MapType.QUEUE:
    case MapType.STACK:
      return checkQueueStack(init);
    case MapType.LPM_TRIE:
      return checkLpmTrie(init);
    case MapType.BLOOM_FILTER:
      return checkBloomFilter(init);
  }
}

/**
 * Create a map in `runtime` (`BPF_MAP_CREATE`): checks `init` as the kernel
 * does ({@link checkMapInit}), allocates the map's memory and regions and
 * registers it (`runtime.addMap`); `close()` undoes all of it.
 */
export function createVmMap(runtime: VmRuntime, init: VmMapInit): VmMap {
  const spec = normalizeMapInit(runtime, init);
  checkMapInit(runtime, spec);
  const map = new (CLASSES.get(spec.type)!)(runtime, spec);
  runtime.addMap(map);
  return map;
}
