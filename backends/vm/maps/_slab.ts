/**
 * Element storage of hash-like maps: slots of (key, value) in arena
 * memory, preallocated like the kernel's but lazily, a chunk at a time, so
 * a map with a huge max_entries costs nothing until it fills. Every chunk
 * has a strided value region (elements of value_size every value_size
 * rounded up to 8, so an access cannot cross into a neighbour) and a
 * strided read-only key region (`bpf_for_each_map_elem` passes key
 * pointers). Freed slots are recycled, so a value's address is stable
 * while its element exists.
 *
 * Per-CPU maps keep `cpus` values per slot back to back (the layout the
 * kernel's syscalls use): CPU `c`'s value of slot `s` is element
 * `s × cpus + c` of the chunk's value region.
 *
 * @module
 */

import { REGION_READ, REGION_STRIDED, vmAddress } from "../memory.ts";
import { type MapBase, roundUp8 } from "./_base.ts";

const FIRST_CHUNK = 64;
const MAX_CHUNK_BYTES = 1 << 20;

/** Slots of (key, value) for one map. */
export class Slab {
  /** Bytes between two values (value_size rounded up to 8). */
  readonly stride: number;
  /** Bytes between two keys. */
  readonly keyStride: number;
  /** Values per slot (possible CPUs for per-CPU maps, else 1). */
  readonly cpus: number;
  /** Slots the slab may hold (max_entries). */
  readonly capacity: number;
  /** Arena offset of each slot's first value. */
  readonly valueOff: number[] = [];
  /** Address of each slot's first value. */
  readonly valueAddr: number[] = [];
  /** Arena offset of each slot's key. */
  readonly keyOff: number[] = [];
  /** Address of each slot's key. */
  readonly keyAddr: number[] = [];

  readonly #owner: MapBase;
  readonly #free: number[] = [];

  constructor(owner: MapBase, options: { cpus: number; capacity: number }) {
    this.#owner = owner;
    this.cpus = options.cpus;
    this.capacity = options.capacity;
    this.stride = roundUp8(owner.valueSize);
    this.keyStride = roundUp8(Math.max(owner.keySize, 1));
  }

  /** Slots created so far (in use or free). */
  get created(): number {
    return this.valueOff.length;
  }

  /** A free slot, or -1 when all `capacity` slots are in use. */
  acquire(): number {
    const slot = this.#free.pop();
    if (slot !== undefined) return slot;
    if (this.created >= this.capacity) return -1;
    this.#grow();
    return this.#free.pop()!;
  }

  /**
   * Whether the next {@link acquire} allocates arena memory, which may grow
   * the arena and detach views of it (keys and values a helper passed).
   */
  get mayGrow(): boolean {
    return this.#free.length === 0 && this.created < this.capacity;
  }

  /** Return a slot to the free list. */
  release(slot: number): void {
    this.#free.push(slot);
  }

  /** Zero a slot's values (all CPUs). */
  clear(slot: number): void {
    const at = this.valueOff[slot];
    this.#owner.runtime.mem.u8.fill(0, at, at + this.stride * this.cpus);
  }

  #grow(): void {
    const have = this.created;
    const perSlot = this.stride * this.cpus;
    const cap = Math.max(1, Math.floor(MAX_CHUNK_BYTES / perSlot));
    // Chunks double (64 slots first) up to about 1 MiB each.
    const count = Math.min(this.capacity - have, cap, Math.max(FIRST_CHUNK, have));
    const owner = this.#owner;
    const vbase = owner.allocBlock(count * perSlot);
    const kbase = owner.allocBlock(count * this.keyStride);
    const vtag = owner.mapRegion({
      name: `map ${owner.name} values`,
      base: vbase,
      len: count * perSlot,
      flags: REGION_STRIDED,
      elem: owner.valueSize,
      stride: this.stride,
    }, true);
    const ktag = owner.keySize === 0 ? 0 : owner.mapRegion({
      name: `map ${owner.name} keys`,
      base: kbase,
      len: count * this.keyStride,
      flags: REGION_READ | REGION_STRIDED,
      elem: owner.keySize,
      stride: this.keyStride,
    });
    for (let i = 0; i < count; i++) {
      this.valueOff.push(vbase + i * perSlot);
      this.valueAddr.push(vmAddress(vtag, i * perSlot));
      this.keyOff.push(kbase + i * this.keyStride);
      this.keyAddr.push(ktag === 0 ? 0 : vmAddress(ktag, i * this.keyStride));
    }
    // Hand out low slots first.
    for (let i = count - 1; i >= 0; i--) this.#free.push(have + i);
  }
}
