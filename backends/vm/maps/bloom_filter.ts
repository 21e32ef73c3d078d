/**
 * `BPF_MAP_TYPE_BLOOM_FILTER`: push adds a value, peek answers 0 ("maybe
 * present") or -ENOENT ("certainly absent"). The bit array is sized as the
 * kernel sizes it (max_entries × nr_hashes × 7 / 5 bits, a power of two, at
 * least 64); nr_hashes is map_extra's low 4 bits (0 means 5).
 *
 * The hash functions are the VM's own (FNV-1a with a per-function seed and
 * a final mix) and the seed is fixed, so runs are reproducible; which absent
 * values test as "maybe present" differs from the kernel's (jhash with a
 * random seed unless BPF_F_ZERO_SEED). Programs see the same guarantees:
 * no false negatives.
 *
 * The host pushes with `update(undefined, value)` and tests with
 * {@link VmBloomFilter.has}; the kernel's syscall lookup takes the value as
 * input, which `lookup(key)` cannot express, so lookup fails with EINVAL.
 * Delete and key iteration fail with EOPNOTSUPP as the kernel's do.
 *
 * @module
 */

import { MapFlags } from "../../../collection/types.ts";
import type { VmRuntime } from "../types.ts";
import { ACCESS_MASK, BPF_ANY, MapBase, type VmMapInit } from "./_base.ts";
import { check, mapError, NEG_EINVAL, NEG_ENOENT } from "./_errno.ts";
import { checkFlagMask, KMALLOC_MAX_SIZE, refuse } from "./_check.ts";

/** Hash functions when map_extra's low 4 bits are 0. */
export const DEFAULT_NR_HASHES = 5;
// The VM caps the bit array at 2^31 bits (256 MiB); the kernel allows 2^32.
const MAX_BITS = 2 ** 31;

/** `bloom_map_alloc_check` and `bloom_map_alloc`'s checks. */
export function checkBloomFilter(init: VmMapInit): void {
  if (init.keySize !== 0) refuse(init, "EINVAL", "key_size must be 0 for bloom filters");
  if (init.valueSize === 0) refuse(init, "EINVAL", "value_size must be > 0");
  if (init.maxEntries === 0) refuse(init, "EINVAL", "max_entries must be > 0");
  checkFlagMask(init, MapFlags.BPF_F_NUMA_NODE | MapFlags.BPF_F_ZERO_SEED | ACCESS_MASK);
  if (((init.mapExtra ?? 0n) & ~0xfn) !== 0n) {
    refuse(init, "EINVAL", "map_extra must be at most 15 (the number of hash functions)");
  }
  if (init.valueSize > KMALLOC_MAX_SIZE) refuse(init, "E2BIG", "value_size over KMALLOC_MAX_SIZE");
}

/** A bloom filter. */
export class VmBloomFilter extends MapBase {
  /** Hash functions per value. */
  readonly nrHashes: number;
  readonly #bits: Uint32Array;
  readonly #mask: number;

  constructor(runtime: VmRuntime, init: VmMapInit) {
    super(runtime, init);
    this.nrHashes = Number((init.mapExtra ?? 0n) & 0xfn) || DEFAULT_NR_HASHES;
    let bits = Math.floor(init.maxEntries * this.nrHashes / 5) * 7;
    if (bits > MAX_BITS) bits = MAX_BITS;
    else if (bits <= 64) bits = 64;
    else bits = 2 ** Math.ceil(Math.log2(bits));
    this.#mask = bits - 1;
    this.#bits = new Uint32Array(bits / 32);
  }

  /** Bits in the filter. */
  get bitCount(): number {
    return this.#mask + 1;
  }

  /** `bpf_map_push_elem`: add `value`; flags must be BPF_ANY (-EINVAL). */
  pushElem(value: Uint8Array, flags: number): number {
    this.checkProgWrite("map_push_elem");
    return this.#add(value, flags);
  }

  /** `bpf_map_peek_elem` with the value to test: 0 when maybe present, -ENOENT when absent. */
  peekElem(value: Uint8Array): number {
    return this.#test(value) ? 0 : NEG_ENOENT;
  }

  /** Host: add `value` (the key must be absent or empty). */
  override update(key: Uint8Array | undefined, value: Uint8Array, flags = BPF_ANY): void {
    this.checkHostWrite("update");
    this.hostKey(key, "update");
    const r = this.#add(this.hostValue(value, "update"), flags);
    check(this.name, "update", r, "flags must be BPF_ANY");
  }

  /** Host: whether `value` may be in the filter (false: certainly not). */
  has(value: Uint8Array): boolean {
    this.checkHostRead("has");
    return this.#test(this.hostValue(value, "has"));
  }

  /** Host: EINVAL — test values with {@link has}. */
  override lookup(_key?: Uint8Array): Uint8Array | undefined {
    this.checkHostRead("lookup");
    throw mapError(this.name, "lookup", "EINVAL", "a bloom filter lookup takes a value; use has()");
  }

  /** Host: EOPNOTSUPP, as the kernel's. */
  override delete(_key?: Uint8Array): boolean {
    this.checkHostWrite("delete");
    throw this.notSupported("delete", "EOPNOTSUPP");
  }

  /** Host: EOPNOTSUPP, as the kernel's get_next_key. */
  override keys(): IterableIterator<Uint8Array> {
    this.checkHostRead("keys");
    throw this.notSupported("keys", "EOPNOTSUPP");
  }

  #add(value: Uint8Array, flags: number): number {
    if (flags !== BPF_ANY) return NEG_EINVAL;
    for (let i = 0; i < this.nrHashes; i++) {
      const h = this.#hash(value, i);
      this.#bits[h >>> 5] |= 1 << (h & 31);
    }
    return 0;
  }

  #test(value: Uint8Array): boolean {
    for (let i = 0; i < this.nrHashes; i++) {
      const h = this.#hash(value, i);
      if ((this.#bits[h >>> 5] & (1 << (h & 31))) === 0) return false;
    }
    return true;
  }

  // FNV-1a seeded per function, then murmur3's finalizer for the low bits.
  #hash(value: Uint8Array, i: number): number {
    let h = (0x811c9dc5 ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0;
    const n = Math.min(value.length, this.valueSize);
    for (let j = 0; j < n; j++) h = Math.imul(h ^ value[j], 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return (h >>> 0) & this.#mask;
  }
}
