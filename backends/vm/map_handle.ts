/**
 * {@link VmCollectionMap}: a VM map as users hold it, with the same methods
 * as the kernel backend's `KernelMap` (raw bytes, typed values via BTF,
 * iteration, batches, freeze), so code written against one runs on the
 * other.
 *
 * @module
 */

import type { Btf } from "../../btf/btf.ts";
import type { BtfValue } from "../../btf/value.ts";
import { MapType } from "../../collection/types.ts";
import { MapCodec } from "../map_codec.ts";
import { VmError } from "./errors.ts";
import type { VmMap } from "./types.ts";

/** BPF_ANY: create or update. */
const BPF_ANY = 0;

const PER_CPU_TYPES: ReadonlySet<number> = new Set([
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_PERCPU_HASH,
]);

/** What the VM says about a map (the fields of `struct bpf_map_info` it has). */
export interface VmMapInfo {
  /** BPF_MAP_TYPE_*. */
  type: number;
  /** The fd-like number. */
  id: number;
  /** key_size. */
  keySize: number;
  /** value_size. */
  valueSize: number;
  /** max_entries. */
  maxEntries: number;
  /** map_flags. */
  flags: number;
  /** The name. */
  name: string;
}

/** Options of {@link VmCollectionMap}. */
export interface VmCollectionMapOptions {
  /** BTF the key and value types refer to. */
  btf?: Btf;
  /** BTF type ID of the key. */
  keyType?: number;
  /** BTF type ID of the value. */
  valueType?: number;
  /** CPUs per-CPU values have. */
  possibleCpus: number;
}

/** A map of a VM collection. */
export class VmCollectionMap implements Disposable {
  /** The map inside the VM (ring buffer and perf readers live there). */
  readonly raw: VmMap;
  /** The BTF {@link keyType} and {@link valueType} refer to. */
  readonly btf?: Btf;
  /** BTF type ID of the key. */
  readonly keyType?: number;
  /** BTF type ID of the value. */
  readonly valueType?: number;
  readonly #codec: MapCodec;
  #closed = false;

  /** Wrap `raw`; closing this closes it. */
  constructor(raw: VmMap, options: VmCollectionMapOptions) {
    this.raw = raw;
    this.btf = options.btf;
    this.keyType = options.keyType || undefined;
    this.valueType = options.valueType || undefined;
    this.#codec = new MapCodec({
      name: raw.name,
      keySize: raw.keySize,
      valueSize: raw.valueSize,
      perCpu: PER_CPU_TYPES.has(raw.type),
      cpus: () => options.possibleCpus,
      btf: this.btf,
      keyType: this.keyType,
      valueType: this.valueType,
      error: (which, detail) =>
        new VmError(which === "key" ? "VM_BAD_KEY" : "VM_BAD_VALUE", detail),
    });
  }

  /** The spec's name. */
  get name(): string {
    return this.raw.name;
  }
  /** BPF_MAP_TYPE_*. */
  get type(): number {
    return this.raw.type;
  }
  /** key_size. */
  get keySize(): number {
    return this.raw.keySize;
  }
  /** value_size (one CPU's for per-CPU maps). */
  get valueSize(): number {
    return this.raw.valueSize;
  }
  /** max_entries. */
  get maxEntries(): number {
    return this.raw.maxEntries;
  }
  /** map_flags. */
  get flags(): number {
    return this.raw.flags;
  }
  /** The fd-like number prog arrays and map-of-maps take as values. */
  get fd(): number {
    this.#open();
    return this.raw.fd;
  }
  /** Whether {@link close} has run. */
  get closed(): boolean {
    return this.#closed;
  }
  /** Whether values are kept once per CPU. */
  get perCpu(): boolean {
    return PER_CPU_TYPES.has(this.raw.type);
  }
  /** Bytes of a raw value (all CPUs for per-CPU maps). */
  get rawValueSize(): number {
    return this.#codec.rawValueSize;
  }

  /** The value under `key`, or `undefined`. */
  lookup(key: Uint8Array): Uint8Array | undefined {
    this.#open();
    return this.raw.lookup(this.#codec.checkKey(key));
  }

  /** Store `value` under `key` (`flags`: BPF_ANY, BPF_NOEXIST, BPF_EXIST). */
  update(key: Uint8Array, value: Uint8Array, flags: number = BPF_ANY): void {
    this.#open();
    this.raw.update(this.#codec.checkKey(key), this.#codec.rawValue(value), flags);
  }

  /** Remove `key`; false when it was not there. */
  delete(key: Uint8Array): boolean {
    this.#open();
    return this.raw.delete(this.#codec.checkKey(key));
  }

  /** Every key, in the map's order. */
  *keys(): Generator<Uint8Array> {
    this.#open();
    yield* this.raw.keys();
  }

  /** Every `[key, value]` pair. */
  *entries(): Generator<[Uint8Array, Uint8Array]> {
    this.#open();
    yield* this.raw.entries();
  }

  /** All entries at once (the kernel's `BPF_MAP_LOOKUP_BATCH`). */
  lookupBatch(_options: { batchSize?: number } = {}): [Uint8Array, Uint8Array][] {
    return [...this.entries()];
  }

  /** Write many entries; returns how many were written (stops at the first failure, which throws). */
  updateBatch(entries: readonly [Uint8Array, Uint8Array][], flags: number = BPF_ANY): number {
    for (const [key, value] of entries) this.update(key, value, flags);
    return entries.length;
  }

  /** Make the map read-only for programs' writes and user space updates (BPF_MAP_FREEZE). */
  freeze(): void {
    this.#open();
    this.raw.freeze();
  }

  /** Pinning needs a bpffs: not in the VM. */
  pin(_path: string): void {
    throw new VmError("VM_NOT_SUPPORTED", `map ${this.name}: the VM has no bpffs to pin to`);
  }

  /** Nothing is pinned in the VM: always false. */
  unpin(): boolean {
    return false;
  }

  /** The map's attributes. */
  info(): VmMapInfo {
    this.#open();
    const r = this.raw;
    return {
      type: r.type,
      id: r.fd,
      keySize: r.keySize,
      valueSize: r.valueSize,
      maxEntries: r.maxEntries,
      flags: r.flags,
      name: r.name,
    };
  }

  /** The value under a JS key, decoded with the value's BTF type. */
  get(key: unknown): BtfValue | BtfValue[] | Uint8Array | undefined {
    const raw = this.lookup(this.encodeKey(key));
    return raw === undefined ? undefined : this.decodeValue(raw);
  }

  /** Store a JS value under a JS key. */
  set(key: unknown, value: unknown, flags: number = BPF_ANY): void {
    this.update(this.encodeKey(key), this.encodeValue(value), flags);
  }

  /** Remove a JS key; false when it was not there. */
  remove(key: unknown): boolean {
    return this.delete(this.encodeKey(key));
  }

  /** Key bytes for a JS value. */
  encodeKey(key: unknown): Uint8Array {
    return this.#codec.encodeKey(key);
  }

  /** Value bytes for a JS value. */
  encodeValue(value: unknown): Uint8Array {
    return this.#codec.encodeValue(value);
  }

  /** A raw key decoded. */
  decodeKey(raw: Uint8Array): BtfValue | Uint8Array {
    return this.#codec.decodeKey(raw);
  }

  /** A raw value decoded. */
  decodeValue(raw: Uint8Array): BtfValue | BtfValue[] | Uint8Array {
    return this.#codec.decodeValue(raw);
  }

  /** Every pair decoded. */
  *typedEntries(): Generator<[BtfValue | Uint8Array, BtfValue | BtfValue[] | Uint8Array]> {
    for (const [key, value] of this.entries()) yield [this.decodeKey(key), this.decodeValue(value)];
  }

  /** Release the map's memory; later calls are no-ops. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.raw.close();
  }

  /** {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #open(): void {
    if (this.#closed) throw new VmError("VM_CLOSED", `map ${this.raw.name} is closed`);
  }
}
