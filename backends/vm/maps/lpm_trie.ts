/**
 * `BPF_MAP_TYPE_LPM_TRIE`: keys are `{u32 prefixlen (host order), data}`.
 * Lookups find the element with the longest prefix (at most the key's
 * prefixlen) whose prefix matches the key's data; updates and deletes
 * address the element with exactly that prefix (bits past prefixlen do not
 * matter, and an update stores the key as given, as the kernel's node
 * does). A full trie fails a new prefix with ENOSPC.
 *
 * Instead of a trie, elements sit in a hash by (prefixlen, masked data)
 * with a count per prefix length, and a lookup tries the lengths present
 * from the longest down. `keys()` returns the kernel's `get_next_key`
 * order: a post-order walk of the trie (0-bits before 1-bits, a longer
 * prefix before the shorter prefix it extends). Values are in a
 * {@link Slab}, their addresses stable while an element exists.
 *
 * @module
 */

import { MapFlags } from "../../../collection/types.ts";
import type { VmAddress, VmRuntime } from "../types.ts";
import { ACCESS_MASK, BPF_EXIST, BPF_NOEXIST, keyOf, MapBase, type VmMapInit } from "./_base.ts";
import { check, NEG_EEXIST, NEG_EINVAL, NEG_ENOENT, NEG_ENOSPC } from "./_errno.ts";
import { checkFlagMask, KMALLOC_MAX_SIZE, refuse } from "./_check.ts";
import { Slab } from "./_slab.ts";

/** Smallest key: prefixlen and one byte of data. */
export const LPM_KEY_SIZE_MIN = 5;
/** Largest key: prefixlen and 256 bytes of data. */
export const LPM_KEY_SIZE_MAX = 4 + 256;

/** `trie_alloc` checks. */
export function checkLpmTrie(init: VmMapInit): void {
  const flags = init.flags ?? 0;
  if (init.maxEntries === 0) refuse(init, "EINVAL", "max_entries must be > 0");
  if ((flags & MapFlags.BPF_F_NO_PREALLOC) === 0) {
    refuse(init, "EINVAL", "LPM tries require BPF_F_NO_PREALLOC");
  }
  checkFlagMask(init, MapFlags.BPF_F_NO_PREALLOC | MapFlags.BPF_F_NUMA_NODE | ACCESS_MASK);
  if (init.keySize < LPM_KEY_SIZE_MIN || init.keySize > LPM_KEY_SIZE_MAX) {
    refuse(
      init,
      "EINVAL",
      `key_size must be ${LPM_KEY_SIZE_MIN}…${LPM_KEY_SIZE_MAX} for LPM tries`,
    );
  }
  if (init.valueSize < 1 || init.valueSize > KMALLOC_MAX_SIZE - 64 - init.keySize) {
    refuse(init, "EINVAL", `value_size ${init.valueSize} out of range`);
  }
}

/** An LPM trie. */
export class VmLpmTrie extends MapBase {
  /** Largest prefix length: (key_size - 4) × 8. */
  readonly maxPrefixLen: number;
  readonly #slab: Slab;
  readonly #index = new Map<number | string, number>();
  readonly #byLen: Int32Array;
  readonly #probe: Uint8Array;

  constructor(runtime: VmRuntime, init: VmMapInit) {
    super(runtime, init);
    this.maxPrefixLen = (init.keySize - 4) * 8;
    this.#slab = new Slab(this, { cpus: 1, capacity: init.maxEntries });
    this.#byLen = new Int32Array(this.maxPrefixLen + 1);
    this.#probe = new Uint8Array(init.keySize);
  }

  /** Elements in the trie. */
  get size(): number {
    return this.#index.size;
  }

  /** `bpf_map_lookup_elem`: the value of the longest matching prefix, or 0. */
  override lookupElem(key: Uint8Array): VmAddress {
    const slot = this.#match(key);
    return slot < 0 ? 0 : this.#slab.valueAddr[slot];
  }

  /** `bpf_map_update_elem`: 0 or -EINVAL, -EEXIST, -ENOENT, -ENOSPC. */
  override updateElem(key: Uint8Array, value: Uint8Array, flags: number): number {
    this.checkProgWrite("map_update_elem");
    if (this.#slab.mayGrow) {
      // The views point into the arena, which a new chunk may grow.
      key = key.slice();
      value = value.slice();
    }
    const slot = this.#upsert(key, flags);
    if (slot < 0) return slot;
    this.runtime.mem.u8.set(value.subarray(0, this.valueSize), this.#slab.valueOff[slot]);
    return 0;
  }

  /** `bpf_map_delete_elem`: 0, -EINVAL (prefixlen too long) or -ENOENT. */
  override deleteElem(key: Uint8Array): number {
    this.checkProgWrite("map_delete_elem");
    return this.#remove(key);
  }

  /** Host: the value of the longest matching prefix, or undefined. */
  override lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkHostRead("lookup");
    const slot = this.#match(this.hostKey(key, "lookup"));
    if (slot < 0) return undefined;
    const at = this.#slab.valueOff[slot];
    return this.runtime.mem.u8.slice(at, at + this.valueSize);
  }

  /** Host: store `value` under the exact prefix of `key`. */
  override update(key: Uint8Array, value: Uint8Array, flags = 0): void {
    this.checkHostWrite("update");
    const k = this.hostKey(key, "update");
    this.hostValue(value, "update");
    const slot = this.#upsert(k, flags);
    check(this.name, "update", slot, slot === NEG_EINVAL ? this.#whyInvalid(k, flags) : undefined);
    this.runtime.mem.u8.set(value, this.#slab.valueOff[slot]);
  }

  /** Host: delete the exact prefix of `key`; false when it was not there. */
  override delete(key: Uint8Array): boolean {
    this.checkHostWrite("delete");
    const k = this.hostKey(key, "delete");
    const r = this.#remove(k);
    if (r === NEG_ENOENT) return false;
    check(this.name, "delete", r, this.#whyInvalid(k, 0));
    return true;
  }

  /** Host: every key as stored, in the kernel's post-order. */
  override *keys(): IterableIterator<Uint8Array> {
    this.checkHostRead("keys");
    const u8 = this.runtime.mem.u8;
    const keys = [...this.#index.values()].map((slot) => {
      const at = this.#slab.keyOff[slot];
      return u8.slice(at, at + this.keySize);
    });
    keys.sort(postOrder);
    yield* keys;
  }

  protected override release(): void {
    this.#index.clear();
  }

  #whyInvalid(key: Uint8Array, flags: number): string {
    if (flags > BPF_EXIST || flags < 0) return "flags must be BPF_ANY, BPF_NOEXIST or BPF_EXIST";
    return `prefixlen ${prefixLen(key)} over ${this.maxPrefixLen}`;
  }

  // The index key of (plen, key's data masked to plen bits), built in #probe.
  #probeKey(key: Uint8Array, plen: number): number | string {
    const p = this.#probe;
    p[0] = plen & 0xff;
    p[1] = (plen >>> 8) & 0xff;
    p[2] = p[3] = 0;
    const full = plen >>> 3;
    for (let i = 0; i < full; i++) p[4 + i] = key[4 + i];
    let i = full;
    if ((plen & 7) !== 0) {
      // Keep the top (plen & 7) bits of the partial byte.
      p[4 + full] = key[4 + full] & (0xff00 >>> (plen & 7));
      i++;
    }
    for (; 4 + i < p.length; i++) p[4 + i] = 0;
    return keyOf(p);
  }

  #match(key: Uint8Array): number {
    const want = Math.min(prefixLen(key), this.maxPrefixLen);
    for (let plen = want; plen >= 0; plen--) {
      if (this.#byLen[plen] === 0) continue;
      const slot = this.#index.get(this.#probeKey(key, plen));
      if (slot !== undefined) return slot;
    }
    return -1;
  }

  #upsert(key: Uint8Array, flags: number): number {
    if (!Number.isInteger(flags) || flags < 0 || flags > BPF_EXIST) return NEG_EINVAL;
    const plen = prefixLen(key);
    if (plen > this.maxPrefixLen) return NEG_EINVAL;
    const k = this.#probeKey(key, plen);
    let slot = this.#index.get(k);
    if (slot !== undefined && (flags & BPF_NOEXIST) !== 0) return NEG_EEXIST;
    if (slot === undefined) {
      if ((flags & BPF_EXIST) !== 0) return NEG_ENOENT;
      slot = this.#slab.acquire();
      if (slot < 0) return NEG_ENOSPC;
      this.#index.set(k, slot);
      this.#byLen[plen]++;
    }
    this.runtime.mem.u8.set(key.subarray(0, this.keySize), this.#slab.keyOff[slot]);
    return slot;
  }

  #remove(key: Uint8Array): number {
    const plen = prefixLen(key);
    if (plen > this.maxPrefixLen) return NEG_EINVAL;
    const k = this.#probeKey(key, plen);
    const slot = this.#index.get(k);
    if (slot === undefined) return NEG_ENOENT;
    this.#index.delete(k);
    this.#byLen[plen]--;
    this.#slab.release(slot);
    return 0;
  }
}

/** The prefixlen of an LPM key (u32, host order = little-endian here). */
export function prefixLen(key: Uint8Array): number {
  return (key[0] | (key[1] << 8) | (key[2] << 16) | (key[3] << 24)) >>> 0;
}

/** The kernel's `get_next_key` order: post-order, 0-bits first, descendants before ancestors. */
export function postOrder(a: Uint8Array, b: Uint8Array): number {
  const la = prefixLen(a);
  const lb = prefixLen(b);
  const common = Math.min(la, lb);
  for (let bit = 0; bit < common; bit++) {
    const x = (a[4 + (bit >>> 3)] >>> (7 - (bit & 7))) & 1;
    const y = (b[4 + (bit >>> 3)] >>> (7 - (bit & 7))) & 1;
    if (x !== y) return x - y;
  }
  return lb - la;
}
