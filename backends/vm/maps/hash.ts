/**
 * `BPF_MAP_TYPE_HASH`, `PERCPU_HASH`, `LRU_HASH` and `LRU_PERCPU_HASH`.
 *
 * Elements live in a {@link Slab}: preallocated like the kernel's (lazily,
 * a chunk at a time) and recycled, so a full map fails a new key with E2BIG
 * and a value's address stays put while its element exists (an update
 * writes in place; the kernel swaps in a fresh element, so a pointer a
 * program kept would see the old value there).
 *
 * Iteration order (`keys()`, `forEachElem`) is insertion order: an element
 * deleted and added again moves to the end. The kernel walks its buckets
 * instead, an order no program should rely on.
 *
 * LRU maps evict the least recently used element when a new key does not
 * fit. The kernel's LRU is approximate (per-CPU free lists, a reference bit,
 * eviction in batches, possibly before the map is full); this one is exact:
 * program lookups and every update make an element the most recent, host
 * lookups do not (as the kernel's syscall lookup does not set the reference
 * bit), and nothing is evicted while a free slot remains.
 *
 * `BPF_F_LOCK` is accepted on updates: the VM does not know whether the
 * value holds a `bpf_spin_lock` (the kernel returns EINVAL when it does not)
 * and runs programs one at a time, so no lock is needed.
 *
 * @module
 */

import { MapFlags, MapType } from "../../../collection/types.ts";
import type { VmAddress, VmRuntime } from "../types.ts";
import {
  ACCESS_MASK,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_NOEXIST,
  keyOf,
  MapBase,
  roundUp8,
  type VmMapInit,
} from "./_base.ts";
import { check, NEG_E2BIG, NEG_EEXIST, NEG_EINVAL, NEG_ENOENT } from "./_errno.ts";
import { checkFlagMask, KMALLOC_MAX_SIZE, PCPU_MIN_UNIT_SIZE, refuse } from "./_check.ts";
import { cpusOf, currentCpu, PER_CPU_TYPES, readHostValue, writeHostValue } from "./_percpu.ts";
import { Slab } from "./_slab.ts";

/** `HTAB_CREATE_FLAG_MASK`. */
const HTAB_FLAGS = MapFlags.BPF_F_NO_PREALLOC | MapFlags.BPF_F_NO_COMMON_LRU |
  MapFlags.BPF_F_NUMA_NODE | ACCESS_MASK | MapFlags.BPF_F_ZERO_SEED;

/** sizeof(struct htab_elem) on 64-bit kernels. */
const HTAB_ELEM = 48;

/** Whether `type` is an LRU hash. */
export function isLru(type: number): boolean {
  return type === MapType.LRU_HASH || type === MapType.LRU_PERCPU_HASH;
}

/** `htab_map_alloc_check`. */
export function checkHash(init: VmMapInit): void {
  const percpu = init.type === MapType.PERCPU_HASH || init.type === MapType.LRU_PERCPU_HASH;
  const lru = isLru(init.type);
  const flags = init.flags ?? 0;
  checkFlagMask(init, HTAB_FLAGS);
  if (!lru && (flags & MapFlags.BPF_F_NO_COMMON_LRU) !== 0) {
    refuse(init, "EINVAL", "BPF_F_NO_COMMON_LRU is only for LRU hashes");
  }
  if (lru && (flags & MapFlags.BPF_F_NO_PREALLOC) !== 0) {
    refuse(init, "ENOTSUPP", "LRU hashes cannot be BPF_F_NO_PREALLOC");
  }
  if (init.maxEntries === 0) refuse(init, "EINVAL", "max_entries must be > 0");
  if (init.keySize === 0) refuse(init, "EINVAL", "key_size must be > 0");
  if (init.valueSize === 0) refuse(init, "EINVAL", "value_size must be > 0");
  if (init.keySize + init.valueSize >= KMALLOC_MAX_SIZE - HTAB_ELEM) {
    refuse(init, "E2BIG", "key_size + value_size over KMALLOC_MAX_SIZE");
  }
  if (percpu && roundUp8(init.valueSize) > PCPU_MIN_UNIT_SIZE) {
    refuse(init, "E2BIG", `per-CPU value_size ${init.valueSize} over ${PCPU_MIN_UNIT_SIZE}`);
  }
}

/** A hash map of any of the four hash types. */
export class VmHashMap extends MapBase {
  readonly #slab: Slab;
  readonly #cpus: number;
  readonly #cpuOff: number;
  readonly #lru: boolean;
  readonly #index = new Map<number | string, number>();
  readonly #slotKey: (number | string)[] = [];
  // LRU list over slots: #next towards older, #prev towards newer; -1 ends.
  readonly #prev: number[] = [];
  readonly #next: number[] = [];
  #newest = -1;
  #oldest = -1;

  constructor(runtime: VmRuntime, init: VmMapInit) {
    super(runtime, init);
    this.#cpus = cpusOf(runtime, init.type);
    this.#slab = new Slab(this, { cpus: this.#cpus, capacity: init.maxEntries });
    this.#cpuOff = currentCpu(runtime, this.#cpus) * this.#slab.stride;
    this.#lru = isLru(init.type);
  }

  /** Elements in the map. */
  get size(): number {
    return this.#index.size;
  }

  /** `bpf_map_lookup_elem`: the current CPU's value, or 0. */
  override lookupElem(key: Uint8Array): VmAddress {
    const slot = this.#index.get(keyOf(key));
    if (slot === undefined) return 0;
    if (this.#lru) this.#touch(slot);
    return this.#slab.valueAddr[slot] + this.#cpuOff;
  }

  /** `bpf_map_update_elem`: sets the current CPU's value (a new per-CPU element's others are zero). */
  override updateElem(key: Uint8Array, value: Uint8Array, flags: number): number {
    this.checkProgWrite("map_update_elem");
    const k = keyOf(key);
    const isNew = !this.#index.has(k);
    if (isNew && this.#slab.mayGrow) {
      // The views point into the arena, which a new chunk may grow.
      key = key.slice();
      value = value.slice();
    }
    const slot = this.#upsert(key, k, flags);
    if (slot < 0) return slot;
    const at = this.#slab.valueOff[slot] + this.#cpuOff;
    if (this.#cpus > 1 && isNew) this.#slab.clear(slot);
    const u8 = this.runtime.mem.u8;
    if (value.length === this.valueSize) u8.set(value, at);
    else u8.set(value.subarray(0, this.valueSize), at);
    return 0;
  }

  /** `bpf_map_delete_elem`: 0 or -ENOENT. */
  override deleteElem(key: Uint8Array): number {
    this.checkProgWrite("map_delete_elem");
    return this.#remove(keyOf(key)) ? 0 : NEG_ENOENT;
  }

  /** `bpf_for_each_map_elem`, in insertion order; deleting the current element is fine. */
  forEachElem(fn: (key: VmAddress, value: VmAddress) => number): number {
    let n = 0;
    const slab = this.#slab;
    for (const slot of this.#index.values()) {
      n++;
      if (fn(slab.keyAddr[slot], slab.valueAddr[slot] + this.#cpuOff) !== 0) break;
    }
    return n;
  }

  /** Host: a copy of the value (all CPUs for per-CPU maps), or undefined. */
  override lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkHostRead("lookup");
    const slot = this.#index.get(keyOf(this.hostKey(key, "lookup")));
    if (slot === undefined) return undefined;
    return readHostValue(this, this.#slab.valueOff[slot], this.#cpus);
  }

  /**
   * Host: store a value (per-CPU maps: every CPU's value rounded up to 8
   * bytes back to back, or one value for all CPUs).
   */
  override update(key: Uint8Array, value: Uint8Array, flags = 0): void {
    this.checkHostWrite("update");
    const k = this.hostKey(key, "update");
    // Check the value before anything changes.
    if (!PER_CPU_TYPES.has(this.type)) {
      this.hostValue(value, "update");
    } else if (!(value instanceof Uint8Array && value.length === this.valueSize)) {
      this.hostValue(value, "update", roundUp8(this.valueSize) * this.#cpus);
    }
    const slot = this.#upsert(k, keyOf(k), flags);
    check(this.name, "update", slot, whyUpdate(slot));
    writeHostValue(this, this.#slab.valueOff[slot], value, { cpus: this.#cpus, op: "update" });
  }

  /** Host: delete `key`; false when it was not there. */
  override delete(key: Uint8Array): boolean {
    this.checkHostWrite("delete");
    return this.#remove(keyOf(this.hostKey(key, "delete")));
  }

  /** Host: `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: the value, then the element is gone. */
  lookupAndDelete(key: Uint8Array): Uint8Array | undefined {
    const value = this.lookup(key);
    if (value !== undefined) this.delete(key);
    return value;
  }

  /** Host: every key, in insertion order. */
  override *keys(): IterableIterator<Uint8Array> {
    this.checkHostRead("keys");
    const slab = this.#slab;
    for (const slot of this.#index.values()) {
      const at = slab.keyOff[slot];
      yield this.runtime.mem.u8.slice(at, at + this.keySize);
    }
  }

  protected override release(): void {
    this.#index.clear();
  }

  // The slot for key (created when new), or a negative errno.
  #upsert(key: Uint8Array, k: number | string, flags: number): number {
    if (!Number.isInteger(flags) || flags < 0 || (flags & ~BPF_F_LOCK) > BPF_EXIST) {
      return NEG_EINVAL;
    }
    if ((flags & BPF_F_LOCK) !== 0 && !this.spinLock) return NEG_EINVAL;
    let slot = this.#index.get(k);
    if (slot !== undefined) {
      if ((flags & BPF_NOEXIST) !== 0) return NEG_EEXIST;
      if (this.#lru) this.#touch(slot);
      return slot;
    }
    if ((flags & BPF_EXIST) !== 0) return NEG_ENOENT;
    slot = this.#slab.acquire();
    if (slot < 0) {
      if (!this.#lru) return NEG_E2BIG;
      slot = this.#oldest;
      this.#remove(this.#slotKey[slot]);
      slot = this.#slab.acquire();
    }
    const at = this.#slab.keyOff[slot];
    this.runtime.mem.u8.set(key.subarray(0, this.keySize), at);
    this.#index.set(k, slot);
    this.#slotKey[slot] = k;
    if (this.#lru) this.#link(slot);
    return slot;
  }

  #remove(k: number | string): boolean {
    const slot = this.#index.get(k);
    if (slot === undefined) return false;
    this.#index.delete(k);
    if (this.#lru) this.#unlink(slot);
    this.#slab.release(slot);
    return true;
  }

  #link(slot: number): void {
    this.#prev[slot] = -1;
    this.#next[slot] = this.#newest;
    if (this.#newest >= 0) this.#prev[this.#newest] = slot;
    this.#newest = slot;
    if (this.#oldest < 0) this.#oldest = slot;
  }

  #unlink(slot: number): void {
    const p = this.#prev[slot];
    const n = this.#next[slot];
    if (p >= 0) this.#next[p] = n;
    else this.#newest = n;
    if (n >= 0) this.#prev[n] = p;
    else this.#oldest = p;
  }

  #touch(slot: number): void {
    if (this.#newest === slot) return;
    this.#unlink(slot);
    this.#link(slot);
  }
}

function whyUpdate(result: number): string | undefined {
  if (result === NEG_E2BIG) return "map is full";
  if (result === NEG_ENOENT) return "no such key, BPF_EXIST";
  if (result === NEG_EINVAL) return "flags must be BPF_ANY, BPF_NOEXIST or BPF_EXIST";
  return undefined;
}
