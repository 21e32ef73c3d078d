/**
 * `BPF_MAP_TYPE_ARRAY_OF_MAPS` and `BPF_MAP_TYPE_HASH_OF_MAPS`: values are
 * maps. The host stores an inner map by fd; it must match the template
 * (`innerMap`) as the kernel's `bpf_map_meta_equal` checks: same type,
 * key_size, value_size and map_flags, and for array types the same
 * max_entries unless the template has `BPF_F_INNER_MAP` (else EINVAL).
 * Programs look up an element to get the inner map's handle address; they
 * cannot update or delete (the verifier allows only lookups). A host lookup
 * returns the inner map's id, which in the VM is its fd.
 *
 * @module
 */

import { MapFlags, MapType } from "../../../collection/types.ts";
import type { VmAddress, VmMap, VmRuntime } from "../types.ts";
import {
  BPF_ANY,
  BPF_EXIST,
  BPF_NOEXIST,
  keyOf,
  MapBase,
  u32Bytes,
  u32Of,
  type VmMapInit,
} from "./_base.ts";
import { mapError } from "./_errno.ts";
import { refuse } from "./_check.ts";
import { checkArray } from "./array.ts";
import { checkHash } from "./hash.ts";
import { fdIndex } from "./prog_array.ts";

const ARRAY_TYPES: ReadonlySet<number> = new Set([
  MapType.ARRAY,
  MapType.PERCPU_ARRAY,
  MapType.PROG_ARRAY,
  MapType.PERF_EVENT_ARRAY,
]);

/**
 * `bpf_map_meta_alloc` and the outer map's checks: a template is required,
 * cannot itself be a map of maps and must pass `checkInner` (the template's
 * own create checks); values are u32 fds.
 */
export function checkMapOfMaps(init: VmMapInit, checkInner: (inner: VmMapInit) => void): void {
  const inner = init.innerMap;
  if (inner === undefined) refuse(init, "EINVAL", "an inner map template is required");
  if (inner.type === MapType.ARRAY_OF_MAPS || inner.type === MapType.HASH_OF_MAPS) {
    refuse(init, "EINVAL", "maps of maps cannot nest");
  }
  checkInner(inner);
  if (init.valueSize !== 4) refuse(init, "EINVAL", "value_size must be 4 (an fd)");
  if (init.type === MapType.ARRAY_OF_MAPS) checkArray(init, 1);
  else checkHash(init);
}

/** Why `inner` does not match `template`, or undefined when it does. */
export function innerMismatch(template: VmMapInit, inner: VmMap): string | undefined {
  for (const f of ["type", "keySize", "valueSize"] as const) {
    if (template[f] !== inner[f]) {
      return `${f} ${inner[f]} differs from the template's ${template[f]}`;
    }
  }
  if ((template.flags ?? 0) !== inner.flags) {
    return `map_flags ${inner.flags} differ from the template's ${template.flags ?? 0}`;
  }
  const ignoreMax = ((template.flags ?? 0) & MapFlags.BPF_F_INNER_MAP) !== 0;
  if (ARRAY_TYPES.has(template.type) && !ignoreMax && template.maxEntries !== inner.maxEntries) {
    return `max_entries ${inner.maxEntries} differs from the template's ${template.maxEntries}`;
  }
  return undefined;
}

abstract class MapOfMapsBase extends MapBase {
  readonly template: VmMapInit;

  constructor(runtime: VmRuntime, init: VmMapInit) {
    super(runtime, init);
    this.template = init.innerMap!;
  }

  /** The inner map with fd `value` (a u32), checked against the template. */
  innerOf(value: Uint8Array, op: string): VmMap {
    const fd = u32Of(this.hostValue(value, op));
    const inner = this.runtime.mapByFd(fd);
    if (inner === undefined) throw mapError(this.name, op, "EBADF", `no map has fd ${fd}`);
    const why = innerMismatch(this.template, inner);
    if (why !== undefined) throw mapError(this.name, op, "EINVAL", `map ${inner.name}: ${why}`);
    return inner;
  }
}

/** An array of maps. */
export class VmArrayOfMaps extends MapOfMapsBase {
  readonly #slots: (VmMap | undefined)[] = [];

  /** The inner map at `index`, or undefined. */
  mapAt(index: number): VmMap | undefined {
    return index >= 0 && index < this.maxEntries ? this.#slots[index] : undefined;
  }

  /** `bpf_map_lookup_elem`: the inner map's handle address, or 0. */
  override lookupElem(key: Uint8Array): VmAddress {
    const index = u32Of(key);
    return (index < this.maxEntries ? this.#slots[index]?.address : undefined) ?? 0;
  }

  /** Host: the inner map's id (its fd) at `key`, or undefined. */
  override lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkHostRead("lookup");
    const inner = this.mapAt(u32Of(this.hostKey(key, "lookup")));
    return inner === undefined ? undefined : u32Bytes(inner.fd);
  }

  /** Host: store the map whose fd is `value` at `key`; flags must be BPF_ANY. */
  override update(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
    this.checkHostWrite("update");
    if (flags !== BPF_ANY) throw mapError(this.name, "update", "EINVAL", "flags must be BPF_ANY");
    const index = fdIndex(this, key, "update");
    this.#slots[index] = this.innerOf(value, "update");
  }

  /** Host: empty slot `key`; false when it was empty. */
  override delete(key: Uint8Array): boolean {
    this.checkHostWrite("delete");
    const index = fdIndex(this, key, "delete");
    const had = this.#slots[index] !== undefined;
    this.#slots[index] = undefined;
    return had;
  }

  /** Host: every index. */
  override *keys(): IterableIterator<Uint8Array> {
    this.checkHostRead("keys");
    for (let i = 0; i < this.maxEntries; i++) yield u32Bytes(i);
  }

  protected override release(): void {
    this.#slots.length = 0;
  }
}

/** A hash of maps (keys in insertion order). */
export class VmHashOfMaps extends MapOfMapsBase {
  readonly #index = new Map<number | string, { key: Uint8Array; map: VmMap }>();

  /** `bpf_map_lookup_elem`: the inner map's handle address, or 0. */
  override lookupElem(key: Uint8Array): VmAddress {
    return this.#index.get(keyOf(key))?.map.address ?? 0;
  }

  /** Host: the inner map's id (its fd) under `key`, or undefined. */
  override lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkHostRead("lookup");
    const e = this.#index.get(keyOf(this.hostKey(key, "lookup")));
    return e === undefined ? undefined : u32Bytes(e.map.fd);
  }

  /** Host: store the map whose fd is `value` under `key` (BPF_ANY, BPF_NOEXIST, BPF_EXIST). */
  override update(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
    this.checkHostWrite("update");
    const k = keyOf(this.hostKey(key, "update"));
    if (!Number.isInteger(flags) || flags < 0 || flags > BPF_EXIST) {
      throw mapError(
        this.name,
        "update",
        "EINVAL",
        "flags must be BPF_ANY, BPF_NOEXIST or BPF_EXIST",
      );
    }
    const inner = this.innerOf(value, "update");
    const old = this.#index.get(k);
    if (old !== undefined && (flags & BPF_NOEXIST) !== 0) {
      throw mapError(this.name, "update", "EEXIST");
    }
    if (old === undefined && (flags & BPF_EXIST) !== 0) {
      throw mapError(this.name, "update", "ENOENT", "no such key, BPF_EXIST");
    }
    if (old === undefined && this.#index.size >= this.maxEntries) {
      throw mapError(this.name, "update", "E2BIG", "map is full");
    }
    if (old !== undefined) old.map = inner;
    else this.#index.set(k, { key: key.slice(), map: inner });
  }

  /** Host: delete `key`; false when it was not there. */
  override delete(key: Uint8Array): boolean {
    this.checkHostWrite("delete");
    return this.#index.delete(keyOf(this.hostKey(key, "delete")));
  }

  /** Host: every key, in insertion order. */
  override *keys(): IterableIterator<Uint8Array> {
    this.checkHostRead("keys");
    for (const e of this.#index.values()) yield e.key.slice();
  }

  protected override release(): void {
    this.#index.clear();
  }
}
