/**
 * What every VM map shares: the init record, the handle region, fd and
 * registration, the memory it owns (freed by `close()`), permission checks
 * (`BPF_F_RDONLY*`, frozen maps) and the refusals map types inherit for
 * operations they do not have.
 *
 * @module
 */

import { MapFlags, mapTypeName } from "../../../collection/types.ts";
import { VmError } from "../errors.ts";
import { REGION_READ, REGION_WRITE, type RegionInit, vmAddress } from "../memory.ts";
import type { VmAddress, VmMap, VmRuntime } from "../types.ts";
import { helperError, mapError } from "./_errno.ts";

/** What `BPF_MAP_CREATE` gets: the map's shape. */
export interface VmMapInit {
  /** The map's name (used in region names and errors). */
  name: string;
  /** BPF_MAP_TYPE_*. */
  type: number;
  /** key_size. */
  keySize: number;
  /** value_size (per CPU for per-CPU maps). */
  valueSize: number;
  /** max_entries. */
  maxEntries: number;
  /** map_flags; default 0. */
  flags?: number;
  /** map_extra (bloom filter: number of hash functions in the low 4 bits). */
  mapExtra?: bigint;
  /** Map-of-maps: the inner map template (what inner maps must match). */
  innerMap?: VmMapInit;
  /** Whether the value holds a `struct bpf_spin_lock` (from BTF): BPF_F_LOCK needs one. */
  spinLock?: boolean;
}

/** `BPF_ANY`. */
export const BPF_ANY = 0;
/** `BPF_NOEXIST`. */
export const BPF_NOEXIST = 1;
/** `BPF_EXIST`. */
export const BPF_EXIST = 2;
/** `BPF_F_LOCK`. */
export const BPF_F_LOCK = 4;

/** The access flags every map type accepts (`BPF_F_ACCESS_MASK`). */
export const ACCESS_MASK = MapFlags.BPF_F_RDONLY | MapFlags.BPF_F_WRONLY |
  MapFlags.BPF_F_RDONLY_PROG | MapFlags.BPF_F_WRONLY_PROG;

/** `n` rounded up to a multiple of 8, as the kernel lays values out. */
export function roundUp8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/**
 * A JS `Map` key for key bytes: a number for keys of up to 6 bytes (exact
 * in a double), else a string of 16-bit units (two bytes each).
 */
export function keyOf(key: Uint8Array): number | string {
  const n = key.length;
  if (n <= 6) {
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + key[i];
    return v;
  }
  if (n === 8) {
    // The common u64 key: one flat string, no concatenation.
    return String.fromCharCode(
      key[0] | (key[1] << 8),
      key[2] | (key[3] << 8),
      key[4] | (key[5] << 8),
      key[6] | (key[7] << 8),
    );
  }
  const m = (n + 1) >>> 1;
  CODES.length = m;
  for (let i = 0, j = 0; i < m; i++, j += 2) {
    CODES[i] = key[j] | ((j + 1 < n ? key[j + 1] : 0) << 8);
  }
  return String.fromCharCode.apply(null, CODES);
}

// Reused by keyOf: char codes of the key being encoded.
const CODES: number[] = [];

/** The u32 in the first four bytes of `bytes`, little-endian. */
export function u32Of(bytes: Uint8Array): number {
  return (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
}

/** Four little-endian bytes of `value`. */
export function u32Bytes(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

/**
 * The base of every VM map. Subclasses override the operations their type
 * has; the rest refuse the way the kernel does (host side: the errno the
 * syscall returns; program side: `VM_HELPER`, because the verifier rejects
 * those calls at load time).
 */
export abstract class MapBase implements VmMap {
  /** The spec's name. */
  readonly name: string;
  /** BPF_MAP_TYPE_*. */
  readonly type: number;
  /** key_size. */
  readonly keySize: number;
  /** value_size (per CPU for per-CPU maps). */
  readonly valueSize: number;
  /** max_entries. */
  readonly maxEntries: number;
  /** map_flags. */
  readonly flags: number;
  /** Whether values hold a `struct bpf_spin_lock`, so updates may take BPF_F_LOCK. */
  readonly spinLock: boolean;
  /** The handle address `ld_imm64` of the map loads. */
  readonly address: VmAddress;
  /** fd stand-in. */
  readonly fd: number;
  /** The runtime the map lives in. */
  readonly runtime: VmRuntime;

  readonly #handle: number;
  readonly #tags = new Set<number>();
  readonly #blocks = new Map<number, number>();
  #frozen = false;
  #closed = false;

  constructor(runtime: VmRuntime, init: VmMapInit) {
    this.runtime = runtime;
    this.name = init.name;
    this.type = init.type;
    this.keySize = init.keySize;
    this.valueSize = init.valueSize;
    this.maxEntries = init.maxEntries;
    this.flags = init.flags ?? 0;
    this.spinLock = init.spinLock ?? false;
    this.#handle = runtime.mem.map({ name: `map ${init.name}`, base: 0, len: 0, flags: 0 });
    this.address = vmAddress(this.#handle, 0);
    this.fd = runtime.allocFd();
  }

  /** libbpf's name of the map type, for messages. */
  get typeName(): string {
    return mapTypeName(this.type);
  }

  /** Whether `freeze()` ran. */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** Whether `close()` ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Region flags programs get on value memory: read-only for RDONLY_PROG
   * maps. Freezing is about user space only (BPF_MAP_FREEZE): programs keep
   * writing a frozen map unless it is also RDONLY_PROG, as in the kernel.
   */
  get valueAccess(): number {
    return (this.flags & MapFlags.BPF_F_RDONLY_PROG) !== 0
      ? REGION_READ
      : REGION_READ | REGION_WRITE;
  }

  /** Allocate `size` zeroed arena bytes owned by the map; returns the arena offset. */
  allocBlock(size: number): number {
    const at = this.runtime.mem.alloc(size);
    this.#blocks.set(at, size);
    return at;
  }

  /** Return a block from {@link allocBlock}. */
  freeBlock(at: number): void {
    const size = this.#blocks.get(at);
    if (size === undefined) return;
    this.#blocks.delete(at);
    this.runtime.mem.free(at, size);
  }

  /**
   * Map a region owned by the map. A `value` region takes {@link valueAccess}
   * on top of `init.flags`.
   */
  mapRegion(init: RegionInit, value = false): number {
    const flags = value ? init.flags | this.valueAccess : init.flags;
    const tag = this.runtime.mem.map({ ...init, flags });
    this.#tags.add(tag);
    return tag;
  }

  /** Unmap a region from {@link mapRegion}. */
  unmapRegion(tag: number): void {
    if (!this.#tags.delete(tag)) return;
    this.runtime.mem.unmap(tag);
  }

  /** Throw `VM_CLOSED` once the map is closed. */
  checkOpen(op: string): void {
    if (this.#closed) throw new VmError("VM_CLOSED", `map ${this.name}: ${op}: map is closed`);
  }

  /** Host write permission: EPERM for frozen and `BPF_F_RDONLY` maps. */
  checkHostWrite(op: string): void {
    this.checkOpen(op);
    if (this.#frozen) throw mapError(this.name, op, "EPERM", "map is frozen");
    if ((this.flags & MapFlags.BPF_F_RDONLY) !== 0) {
      throw mapError(this.name, op, "EPERM", "map was created with BPF_F_RDONLY");
    }
  }

  /** Host read permission: EPERM for `BPF_F_WRONLY` maps. */
  checkHostRead(op: string): void {
    this.checkOpen(op);
    if ((this.flags & MapFlags.BPF_F_WRONLY) !== 0) {
      throw mapError(this.name, op, "EPERM", "map was created with BPF_F_WRONLY");
    }
  }

  /** Program write permission: the verifier refuses writes to RDONLY_PROG maps. */
  checkProgWrite(op: string): void {
    if ((this.valueAccess & REGION_WRITE) === 0) {
      throw helperError(this.name, op, "map is read-only for programs (BPF_F_RDONLY_PROG)");
    }
  }

  /** A host key: `keySize` bytes, else EINVAL. */
  hostKey(key: Uint8Array | undefined, op: string): Uint8Array {
    const k = key ?? new Uint8Array(0);
    if (!(k instanceof Uint8Array) || k.length !== this.keySize) {
      throw mapError(
        this.name,
        op,
        "EINVAL",
        `key is ${k?.length ?? typeof k} bytes, the map's key_size is ${this.keySize}`,
      );
    }
    return k;
  }

  /** A host value of exactly `size` bytes (default `valueSize`), else EINVAL. */
  hostValue(value: Uint8Array, op: string, size = this.valueSize): Uint8Array {
    if (!(value instanceof Uint8Array) || value.length !== size) {
      throw mapError(
        this.name,
        op,
        "EINVAL",
        `value is ${value?.length ?? typeof value} bytes, the map wants ${size}`,
      );
    }
    return value;
  }

  /** `bpf_map_lookup_elem`. */
  lookupElem(_key: Uint8Array): VmAddress {
    throw this.notForPrograms("map_lookup_elem");
  }

  /** `bpf_map_update_elem`. */
  updateElem(_key: Uint8Array, _value: Uint8Array, _flags: number): number {
    throw this.notForPrograms("map_update_elem");
  }

  /** `bpf_map_delete_elem`. */
  deleteElem(_key: Uint8Array): number {
    throw this.notForPrograms("map_delete_elem");
  }

  /** Host lookup. */
  lookup(_key: Uint8Array): Uint8Array | undefined {
    this.checkHostRead("lookup");
    throw this.notSupported("lookup");
  }

  /** Host update. */
  update(_key: Uint8Array, _value: Uint8Array, _flags?: number): void {
    this.checkHostWrite("update");
    throw this.notSupported("update");
  }

  /** Host delete. */
  delete(_key: Uint8Array): boolean {
    this.checkHostWrite("delete");
    throw this.notSupported("delete");
  }

  /** Host: every key. */
  keys(): IterableIterator<Uint8Array> {
    this.checkHostRead("keys");
    throw this.notSupported("keys");
  }

  /** Host: every key with a copy of its value (keys that vanish meanwhile are skipped). */
  *entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value !== undefined) yield [key, value];
    }
  }

  /** Host: every `[key, value]` pair at once (`BPF_MAP_LOOKUP_BATCH`, one batch). */
  lookupBatch(): [Uint8Array, Uint8Array][] {
    return [...this.entries()];
  }

  /**
   * Host: update many entries (`BPF_MAP_UPDATE_BATCH`); stops at the first
   * failure, which it throws, as the kernel stops and reports it. Returns
   * how many were written.
   */
  updateBatch(entries: readonly [Uint8Array, Uint8Array][], flags = 0): number {
    let n = 0;
    for (const [key, value] of entries) {
      this.update(key, value, flags);
      n++;
    }
    return n;
  }

  /** `BPF_MAP_FREEZE`: host writes fail with EPERM from now on; EBUSY when already frozen. */
  freeze(): void {
    this.checkOpen("freeze");
    if (this.#frozen) throw mapError(this.name, "freeze", "EBUSY", "map is already frozen");
    this.#frozen = true;
  }

  /** Release the map's memory and regions and unregister it (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.release();
    const mem = this.runtime.mem;
    for (const tag of this.#tags) mem.unmap(tag);
    this.#tags.clear();
    for (const [at, size] of this.#blocks) mem.free(at, size);
    this.#blocks.clear();
    mem.unmap(this.#handle);
    this.runtime.removeMap(this);
  }

  /** Subclass hook of {@link close}: drop JS-side state. */
  protected release(): void {}

  /** The `VM_HELPER` error for a helper the verifier does not allow on this map type. */
  notForPrograms(op: string): VmError {
    return helperError(
      this.name,
      op,
      `not allowed for ${this.typeName} maps (the kernel's verifier refuses it)`,
    );
  }

  /** The host error for an operation the map type lacks (the kernel's ENOTSUPP unless given). */
  notSupported(op: string, errno = "ENOTSUPP"): VmError {
    return mapError(this.name, op, errno, `not supported for ${this.typeName} maps`);
  }
}
