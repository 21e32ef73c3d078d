/**
 * `BPF_MAP_TYPE_ARRAY` and `BPF_MAP_TYPE_PERCPU_ARRAY`: max_entries values
 * preallocated in one strided region, indexed by a u32 key. Elements always
 * exist: delete fails with EINVAL, BPF_NOEXIST with EEXIST. `BPF_F_LOCK`
 * is accepted (the VM does not know whether the value holds a spin lock;
 * the kernel returns EINVAL when it does not). Per-CPU arrays keep each
 * element's CPUs' values back to back, each in its own strided element.
 *
 * @module
 */

import { MapFlags, MapType } from "../../../collection/types.ts";
import { REGION_READ, REGION_STRIDED, vmAddress } from "../memory.ts";
import type { VmAddress, VmRuntime } from "../types.ts";
import {
  ACCESS_MASK,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_NOEXIST,
  MapBase,
  roundUp8,
  u32Bytes,
  u32Of,
  type VmMapInit,
} from "./_base.ts";
import { check, mapError, NEG_E2BIG, NEG_EEXIST, NEG_EINVAL } from "./_errno.ts";
import { checkFlagMask, PCPU_MIN_UNIT_SIZE, refuse } from "./_check.ts";
import { cpusOf, currentCpu, readHostValue, writeHostValue } from "./_percpu.ts";

/** `ARRAY_CREATE_FLAG_MASK`. */
const ARRAY_FLAGS = MapFlags.BPF_F_NUMA_NODE | MapFlags.BPF_F_MMAPABLE | ACCESS_MASK |
  MapFlags.BPF_F_PRESERVE_ELEMS | MapFlags.BPF_F_INNER_MAP;
const INNER_OR_MMAP = MapFlags.BPF_F_MMAPABLE | MapFlags.BPF_F_INNER_MAP;

/**
 * `array_map_alloc_check` (shared by every array-backed type) plus the size
 * limit of `array_map_alloc`; `cpus` values per element.
 */
export function checkArray(init: VmMapInit, cpus: number): void {
  const percpu = init.type === MapType.PERCPU_ARRAY;
  const flags = init.flags ?? 0;
  if (init.maxEntries === 0) refuse(init, "EINVAL", "max_entries must be > 0");
  if (init.keySize !== 4) refuse(init, "EINVAL", "key_size must be 4 for arrays");
  if (init.valueSize === 0) refuse(init, "EINVAL", "value_size must be > 0");
  checkFlagMask(init, ARRAY_FLAGS);
  if (init.type !== MapType.ARRAY && (flags & INNER_OR_MMAP) !== 0) {
    refuse(init, "EINVAL", "BPF_F_MMAPABLE and BPF_F_INNER_MAP are only for plain arrays");
  }
  if (init.type !== MapType.PERF_EVENT_ARRAY && (flags & MapFlags.BPF_F_PRESERVE_ELEMS) !== 0) {
    refuse(init, "EINVAL", "BPF_F_PRESERVE_ELEMS is only for perf event arrays");
  }
  if (init.valueSize > 0x7fffffff) {
    refuse(init, "E2BIG", `value_size ${init.valueSize} over INT_MAX`);
  }
  if (percpu && roundUp8(init.valueSize) > PCPU_MIN_UNIT_SIZE) {
    refuse(init, "E2BIG", `per-CPU value_size ${init.valueSize} over ${PCPU_MIN_UNIT_SIZE}`);
  }
  if (init.maxEntries * roundUp8(init.valueSize) * cpus >= 0xffffffff - 4096) {
    refuse(init, "E2BIG", "array does not fit in 4 GiB");
  }
}

/** An array or per-CPU array map. */
export class VmArrayMap extends MapBase {
  readonly #cpus: number;
  readonly #cpu: number;
  readonly #stride: number;
  readonly #base: number;
  readonly #tag: number;

  constructor(runtime: VmRuntime, init: VmMapInit) {
    super(runtime, init);
    this.#cpus = cpusOf(runtime, init.type);
    this.#cpu = currentCpu(runtime, this.#cpus);
    this.#stride = roundUp8(init.valueSize);
    const len = init.maxEntries * this.#cpus * this.#stride;
    this.#base = this.allocBlock(len);
    this.#tag = this.mapRegion({
      name: `map ${init.name} values`,
      base: this.#base,
      len,
      flags: REGION_STRIDED,
      elem: init.valueSize,
      stride: this.#stride,
    }, true);
  }

  /** Address of element `index`'s value for the current CPU (no bounds check). */
  valueAddress(index: number): VmAddress {
    return vmAddress(this.#tag, (index * this.#cpus + this.#cpu) * this.#stride);
  }

  /** `bpf_map_lookup_elem`: the value's address, 0 past the end. */
  override lookupElem(key: Uint8Array): VmAddress {
    const index = u32Of(key);
    if (index >= this.maxEntries) return 0;
    return vmAddress(this.#tag, (index * this.#cpus + this.#cpu) * this.#stride);
  }

  /** `bpf_map_update_elem`: the current CPU's value. */
  override updateElem(key: Uint8Array, value: Uint8Array, flags: number): number {
    this.checkProgWrite("map_update_elem");
    const r = this.#checkUpdate(key, flags);
    if (r < 0) return r;
    const at = this.#base + (r * this.#cpus + this.#cpu) * this.#stride;
    this.runtime.mem.u8.set(value.subarray(0, this.valueSize), at);
    return 0;
  }

  /** `bpf_map_delete_elem`: always -EINVAL (array elements cannot be deleted). */
  override deleteElem(_key: Uint8Array): number {
    this.checkProgWrite("map_delete_elem");
    return NEG_EINVAL;
  }

  /** `bpf_for_each_map_elem` over every index, the current CPU's values. */
  forEachElem(fn: (key: VmAddress, value: VmAddress) => number): number {
    const mem = this.runtime.mem;
    // The kernel passes a pointer to its loop variable; a scratch u32 per call allows nesting.
    const at = this.allocBlock(8);
    const tag = this.mapRegion({
      name: `map ${this.name} key`,
      base: at,
      len: 4,
      flags: REGION_READ,
    });
    let n = 0;
    try {
      for (let i = 0; i < this.maxEntries; i++) {
        mem.dv.setUint32(at, i, true);
        n++;
        if (fn(vmAddress(tag, 0), this.valueAddress(i)) !== 0) break;
      }
    } finally {
      this.unmapRegion(tag);
      this.freeBlock(at);
    }
    return n;
  }

  /** Host: a copy of element `key` (all CPUs for per-CPU arrays); undefined past the end. */
  override lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkHostRead("lookup");
    const index = u32Of(this.hostKey(key, "lookup"));
    if (index >= this.maxEntries) return undefined;
    return readHostValue(this, this.#base + index * this.#cpus * this.#stride, this.#cpus);
  }

  /** Host: set element `key` (BPF_ANY or BPF_EXIST; BPF_NOEXIST fails with EEXIST). */
  override update(key: Uint8Array, value: Uint8Array, flags = 0): void {
    this.checkHostWrite("update");
    const r = this.#checkUpdate(this.hostKey(key, "update"), flags);
    check(this.name, "update", r, r === NEG_EEXIST ? "array elements always exist" : undefined);
    writeHostValue(this, this.#base + r * this.#cpus * this.#stride, value, {
      cpus: this.#cpus,
      op: "update",
    });
  }

  /** Host: EINVAL, as array elements cannot be deleted. */
  override delete(key: Uint8Array): boolean {
    this.checkHostWrite("delete");
    this.hostKey(key, "delete");
    throw mapError(this.name, "delete", "EINVAL", "array elements cannot be deleted");
  }

  /** Host: every index 0 … max_entries-1. */
  override *keys(): IterableIterator<Uint8Array> {
    this.checkHostRead("keys");
    for (let i = 0; i < this.maxEntries; i++) yield u32Bytes(i);
  }

  // The index for an update, or a negative errno (kernel order of checks).
  #checkUpdate(key: Uint8Array, flags: number): number {
    if (!Number.isInteger(flags) || flags < 0 || (flags & ~BPF_F_LOCK) > BPF_EXIST) {
      return NEG_EINVAL;
    }
    const index = u32Of(key);
    if (index >= this.maxEntries) return NEG_E2BIG;
    if ((flags & BPF_NOEXIST) !== 0) return NEG_EEXIST;
    // array_map_update_elem checks for a spin lock last; htab checks it first.
    if ((flags & BPF_F_LOCK) !== 0 && !this.spinLock) return NEG_EINVAL;
    return index;
  }
}
