/**
 * `BPF_MAP_TYPE_QUEUE` (FIFO) and `BPF_MAP_TYPE_STACK` (LIFO): keyless maps
 * of up to max_entries values. Push fails with -E2BIG when full unless
 * `BPF_EXIST` is given, which drops the oldest value to make room (for
 * both types, as the kernel does); pop and peek of an empty map return
 * -ENOENT. On the host, `update(undefined, value, flags)` pushes,
 * `lookup()` peeks and {@link VmQueueStack.pop} pops; delete and key
 * iteration fail with EINVAL as the kernel's do.
 *
 * @module
 */

import { MapFlags, MapType } from "../../../collection/types.ts";
import type { VmRuntime } from "../types.ts";
import { ACCESS_MASK, BPF_EXIST, BPF_NOEXIST, MapBase, type VmMapInit } from "./_base.ts";
import { check, mapError, NEG_E2BIG, NEG_EINVAL, NEG_ENOENT } from "./_errno.ts";
import { checkFlagMask, KMALLOC_MAX_SIZE, refuse } from "./_check.ts";

/** `queue_stack_map_alloc_check`. */
export function checkQueueStack(init: VmMapInit): void {
  if (init.maxEntries === 0) refuse(init, "EINVAL", "max_entries must be > 0");
  if (init.keySize !== 0) refuse(init, "EINVAL", "key_size must be 0 for queues and stacks");
  if (init.valueSize === 0) refuse(init, "EINVAL", "value_size must be > 0");
  checkFlagMask(init, MapFlags.BPF_F_NUMA_NODE | ACCESS_MASK);
  if (init.valueSize > KMALLOC_MAX_SIZE) refuse(init, "E2BIG", "value_size over KMALLOC_MAX_SIZE");
}

/** A queue or a stack. */
export class VmQueueStack extends MapBase {
  readonly #lifo: boolean;
  // A ring of values: #head is the oldest, #count values follow it.
  readonly #ring: (Uint8Array | undefined)[] = [];
  #head = 0;
  #count = 0;

  constructor(runtime: VmRuntime, init: VmMapInit) {
    super(runtime, init);
    this.#lifo = init.type === MapType.STACK;
  }

  /** Values held. */
  get size(): number {
    return this.#count;
  }

  /** `bpf_map_push_elem`: 0, -E2BIG when full (without BPF_EXIST), -EINVAL for bad flags. */
  pushElem(value: Uint8Array, flags: number): number {
    this.checkProgWrite("map_push_elem");
    return this.#push(value, flags);
  }

  /** `bpf_map_pop_elem`: 0 and the value in `out`, or -ENOENT. */
  popElem(out: Uint8Array): number {
    this.checkProgWrite("map_pop_elem");
    const v = this.#take(true);
    if (v === undefined) return NEG_ENOENT;
    out.set(v.subarray(0, out.length));
    return 0;
  }

  /** `bpf_map_peek_elem`: 0 and the value in `out`, or -ENOENT. */
  peekElem(out: Uint8Array): number {
    const v = this.#take(false);
    if (v === undefined) return NEG_ENOENT;
    out.set(v.subarray(0, out.length));
    return 0;
  }

  /** Host: push `value` (the key must be absent or empty). */
  override update(key: Uint8Array | undefined, value: Uint8Array, flags = 0): void {
    this.checkHostWrite("update");
    this.hostKey(key, "update");
    const r = this.#push(this.hostValue(value, "update"), flags);
    check(this.name, "update", r, r === NEG_E2BIG ? "map is full" : undefined);
  }

  /** Host: peek (the value pop would return), or undefined when empty. */
  override lookup(key?: Uint8Array): Uint8Array | undefined {
    this.checkHostRead("lookup");
    this.hostKey(key, "lookup");
    return this.#take(false)?.slice();
  }

  /** Host: pop (`BPF_MAP_LOOKUP_AND_DELETE_ELEM`), or undefined when empty. */
  pop(): Uint8Array | undefined {
    this.checkHostWrite("pop");
    this.checkHostRead("pop");
    return this.#take(true);
  }

  /** Host: EINVAL, as the kernel's delete. */
  override delete(_key?: Uint8Array): boolean {
    this.checkHostWrite("delete");
    throw mapError(this.name, "delete", "EINVAL", "queues and stacks have no delete; use pop()");
  }

  /** Host: EINVAL, as the kernel's get_next_key. */
  override keys(): IterableIterator<Uint8Array> {
    this.checkHostRead("keys");
    throw mapError(this.name, "keys", "EINVAL", "queues and stacks have no keys; use pop()");
  }

  protected override release(): void {
    this.#ring.length = 0;
    this.#count = 0;
  }

  #push(value: Uint8Array, flags: number): number {
    if (!Number.isInteger(flags) || flags < 0 || (flags & BPF_NOEXIST) !== 0 || flags > BPF_EXIST) {
      return NEG_EINVAL;
    }
    const max = this.maxEntries;
    if (this.#count === max) {
      if ((flags & BPF_EXIST) === 0) return NEG_E2BIG;
      // Drop the oldest value.
      this.#ring[this.#head] = undefined;
      this.#head = (this.#head + 1) % max;
      this.#count--;
    }
    this.#ring[(this.#head + this.#count) % max] = value.slice(0, this.valueSize);
    this.#count++;
    return 0;
  }

  #take(remove: boolean): Uint8Array | undefined {
    if (this.#count === 0) return undefined;
    const max = this.maxEntries;
    const at = this.#lifo ? (this.#head + this.#count - 1) % max : this.#head;
    const v = this.#ring[at]!;
    if (remove) {
      this.#ring[at] = undefined;
      if (!this.#lifo) this.#head = (this.#head + 1) % max;
      this.#count--;
    }
    return v;
  }
}
