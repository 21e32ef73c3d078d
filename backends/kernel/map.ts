/**
 * {@link KernelMap}: a live BPF map held by its fd, with raw byte access,
 * iteration, batch operations, pinning, and typed access decoded with the
 * map's BTF key/value types.
 *
 * ```ts
 * import { KernelMap } from "./map.ts";
 *
 * using counts = KernelMap.fromPin("/sys/fs/bpf/counts");
 * for (const [key, value] of counts.entries()) console.log(key, value);
 * ```
 *
 * @module
 */

import { mkdirSync, readFileSync, unlinkSync } from "node:fs";
import type { Btf } from "../../btf/btf.ts";
import type { BtfValue } from "../../btf/value.ts";
import { MapCodec } from "../map_codec.ts";
import { MapType } from "../../collection/types.ts";
import { BPF_ANY } from "./attr.ts";
import { KernelError } from "./errors.ts";
import { type Syscalls, syscalls } from "./syscalls.ts";
import {
  closeFd,
  mapDelete,
  mapFreeze,
  mapGetFdById,
  mapGetNextKey,
  type MapInfo,
  mapInfoByFd,
  mapLookup,
  mapLookupBatch,
  mapUpdate,
  mapUpdateBatch,
  objGet,
  objPin,
} from "./sys.ts";

/** Options of {@link KernelMap}'s constructor. */
export interface KernelMapOptions {
  /** The name to report (the spec's name; the kernel keeps at most 15 bytes). */
  name?: string;
  /** BPF_MAP_TYPE_*. */
  type: number;
  /** key_size. */
  keySize: number;
  /** value_size. */
  valueSize: number;
  /** max_entries. */
  maxEntries: number;
  /** map_flags. */
  flags?: number;
  /** BTF the key and value types refer to, for {@link KernelMap.get} and {@link KernelMap.set}. */
  btf?: Btf;
  /** BTF type ID of the key in `btf`. */
  keyType?: number;
  /** BTF type ID of the value in `btf`. */
  valueType?: number;
  /** The system calls to use; default {@link syscalls}(). */
  sys?: Syscalls;
}

/** Map types whose values the kernel keeps once per possible CPU. */
const PER_CPU_TYPES: ReadonlySet<number> = new Set([
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_PERCPU_HASH,
  MapType.PERCPU_CGROUP_STORAGE,
]);

/** Whether maps of `type` keep one value per possible CPU. */
export function isPerCpu(type: number): boolean {
  return PER_CPU_TYPES.has(type);
}

let cpuCount: number | undefined;

/**
 * The number of possible CPUs (`/sys/devices/system/cpu/possible`, e.g.
 * `0-7` or `0,2-3`), read once per process: the kernel's
 * `num_possible_cpus()`, which sizes per-CPU values and libbpf's default
 * perf event array.
 */
export function possibleCpus(): number {
  if (cpuCount !== undefined) return cpuCount;
  let text: string;
  try {
    text = readFileSync("/sys/devices/system/cpu/possible", "utf8");
  } catch (err) {
    throw new KernelError(
      "KERNEL_NO_CPUS",
      `read /sys/devices/system/cpu/possible: ${(err as Error).message}`,
      { cause: err },
    );
  }
  cpuCount = parseCpuList(text);
  return cpuCount;
}

/** The number of CPUs in a kernel CPU list (`0-3,5`). */
export function parseCpuList(text: string): number {
  let count = 0;
  for (const part of text.trim().split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) {
      throw new KernelError("KERNEL_NO_CPUS", `bad CPU list ${JSON.stringify(text.trim())}`);
    }
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) {
      throw new KernelError("KERNEL_NO_CPUS", `bad CPU list ${JSON.stringify(text.trim())}`);
    }
    count += hi - lo + 1;
  }
  if (count === 0) throw new KernelError("KERNEL_NO_CPUS", "no possible CPUs");
  return count;
}

/**
 * A live BPF map. Raw methods take and return bytes; {@link get},
 * {@link set} and {@link remove} take JS values encoded with the map's BTF
 * (or integers for integer keys and values without BTF).
 *
 * For per-CPU maps a raw value is `roundup(valueSize, 8) × possibleCpus()`
 * bytes, CPU 0 first; {@link update} also accepts one CPU's `valueSize`
 * bytes and writes them to every CPU, and {@link get} returns one decoded
 * value per CPU.
 */
export class KernelMap implements Disposable {
  /** The name the map was loaded as. */
  readonly name: string;
  /** BPF_MAP_TYPE_*. */
  readonly type: number;
  /** key_size. */
  readonly keySize: number;
  /** value_size (of one CPU's value for per-CPU maps). */
  readonly valueSize: number;
  /** max_entries. */
  readonly maxEntries: number;
  /** map_flags as requested. */
  readonly flags: number;
  /** The BTF {@link keyType} and {@link valueType} refer to. */
  readonly btf?: Btf;
  /** BTF type ID of the key. */
  readonly keyType?: number;
  /** BTF type ID of the value. */
  readonly valueType?: number;
  /** Where this handle pinned the map, if it did (or where it was opened from). */
  pinnedPath?: string;
  readonly #sys: Syscalls;
  readonly #codec: MapCodec;
  #fd: number;

  /** Wrap `fd`, which the map now owns and closes. */
  constructor(fd: number, options: KernelMapOptions) {
    this.#fd = fd;
    this.#sys = options.sys ?? syscalls();
    this.name = options.name ?? "";
    this.type = options.type;
    this.keySize = options.keySize;
    this.valueSize = options.valueSize;
    this.maxEntries = options.maxEntries;
    this.flags = options.flags ?? 0;
    this.btf = options.btf;
    this.keyType = options.keyType || undefined;
    this.valueType = options.valueType || undefined;
    this.#codec = new MapCodec({
      name: this.name,
      keySize: this.keySize,
      valueSize: this.valueSize,
      perCpu: isPerCpu(this.type),
      cpus: possibleCpus,
      btf: this.btf,
      keyType: this.keyType,
      valueType: this.valueType,
      error: (which, detail) =>
        new KernelError(which === "key" ? "KERNEL_BAD_KEY" : "KERNEL_BAD_VALUE", detail),
    });
  }

  /** Open the map pinned at `path` on a bpffs. */
  static fromPin(path: string, options: { sys?: Syscalls } = {}): KernelMap {
    const sys = options.sys ?? syscalls();
    const fd = objGet(sys, path);
    const map = fromFd(sys, fd);
    map.pinnedPath = path;
    return map;
  }

  /** Open the map with kernel-wide ID `id`. */
  static fromId(id: number, options: { sys?: Syscalls } = {}): KernelMap {
    const sys = options.sys ?? syscalls();
    return fromFd(sys, mapGetFdById(sys, id));
  }

  /** The fd; a {@link KernelError} `KERNEL_CLOSED` after {@link close}. */
  get fd(): number {
    if (this.#fd < 0) {
      throw new KernelError("KERNEL_CLOSED", `map ${this.name || "(unnamed)"} is closed`);
    }
    return this.#fd;
  }

  /** Whether {@link close} has run. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Whether values are kept once per possible CPU. */
  get perCpu(): boolean {
    return isPerCpu(this.type);
  }

  /** Bytes of a raw value as the kernel reads and writes it (all CPUs for per-CPU maps). */
  get rawValueSize(): number {
    return this.#codec.rawValueSize;
  }

  /** The value stored under `key`, or `undefined` when there is none. */
  lookup(key: Uint8Array): Uint8Array | undefined {
    const value = new Uint8Array(this.rawValueSize);
    return mapLookup(this.#sys, this.fd, this.#key(key), value) ? value : undefined;
  }

  /** Store `value` under `key` (`flags`: `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`). */
  update(key: Uint8Array, value: Uint8Array, flags: number = BPF_ANY): void {
    mapUpdate(this.#sys, this.fd, this.#key(key), this.#rawValue(value), flags);
  }

  /** Remove `key`; false when it was not there. */
  delete(key: Uint8Array): boolean {
    return mapDelete(this.#sys, this.fd, this.#key(key));
  }

  /**
   * Every key, in the kernel's order (`BPF_MAP_GET_NEXT_KEY`). When the
   * current key is deleted meanwhile, a hash map restarts from its first
   * key; like cilium/ebpf, iteration gives up with `KERNEL_ITERATION_ABORTED`
   * after more than `maxEntries` keys rather than loop.
   */
  *keys(): Generator<Uint8Array> {
    let current: Uint8Array | undefined;
    for (let count = 0;; count++) {
      const next = new Uint8Array(this.keySize);
      if (!mapGetNextKey(this.#sys, this.fd, current, next)) return;
      if (count >= this.maxEntries && this.maxEntries > 0) {
        throw new KernelError(
          "KERNEL_ITERATION_ABORTED",
          `map ${this.name}: more than max_entries (${this.maxEntries}) keys: ` +
            "keys were deleted during iteration",
        );
      }
      yield next.slice();
      current = next;
    }
  }

  /** Every `[key, value]` pair; keys deleted while iterating are skipped. */
  *entries(): Generator<[Uint8Array, Uint8Array]> {
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value !== undefined) yield [key, value];
    }
  }

  /**
   * All entries with `BPF_MAP_LOOKUP_BATCH`, `batchSize` at a time (default
   * 64). Throws a `SyscallError` (`KERNEL_NOT_SUPPORTED`) where the kernel has no batch
   * operations for this map type (EINVAL / ENOTSUPP).
   */
  lookupBatch(options: { batchSize?: number } = {}): [Uint8Array, Uint8Array][] {
    const batch = options.batchSize ?? 64;
    const vsize = this.rawValueSize;
    const out: [Uint8Array, Uint8Array][] = [];
    let inBatch: Uint8Array | undefined;
    for (;;) {
      const keys = new Uint8Array(this.keySize * batch);
      const values = new Uint8Array(vsize * batch);
      const outBatch = new Uint8Array(Math.max(this.keySize, 8));
      const { count, done } = mapLookupBatch(this.#sys, this.fd, {
        inBatch,
        outBatch,
        keys,
        values,
        count: batch,
      });
      for (let i = 0; i < count; i++) {
        out.push([
          keys.slice(i * this.keySize, (i + 1) * this.keySize),
          values.slice(i * vsize, (i + 1) * vsize),
        ]);
      }
      if (done) return out;
      inBatch = outBatch;
    }
  }

  /** Write many entries with one `BPF_MAP_UPDATE_BATCH`; returns how many were written. */
  updateBatch(entries: readonly [Uint8Array, Uint8Array][], flags: number = BPF_ANY): number {
    if (entries.length === 0) return 0;
    const vsize = this.rawValueSize;
    const keys = new Uint8Array(this.keySize * entries.length);
    const values = new Uint8Array(vsize * entries.length);
    entries.forEach(([k, v], i) => {
      keys.set(this.#key(k), i * this.keySize);
      values.set(this.#rawValue(v), i * vsize);
    });
    return mapUpdateBatch(this.#sys, this.fd, {
      keys,
      values,
      count: entries.length,
      elemFlags: flags,
    });
  }

  /** Make the map read-only for user space (`BPF_MAP_FREEZE`). */
  freeze(): void {
    mapFreeze(this.#sys, this.fd);
  }

  /** Pin the map at `path` on a bpffs. */
  pin(path: string): void {
    objPin(this.#sys, this.fd, path);
    this.pinnedPath = path;
  }

  /** Remove the pin this handle made or was opened from; false when there was none. */
  unpin(): boolean {
    const path = this.pinnedPath;
    if (path === undefined) return false;
    this.pinnedPath = undefined;
    return unlinkPin(path);
  }

  /** What the kernel says about the map. */
  info(): MapInfo {
    return readMapInfo(this.#sys, this.fd);
  }

  /**
   * The value under `key` decoded with the map's BTF value type (one per CPU
   * for per-CPU maps), or `undefined` when there is none. `key` is a JS
   * value of the key type, raw bytes, or an integer for integer keys.
   */
  get(key: unknown): BtfValue | BtfValue[] | Uint8Array | undefined {
    const raw = this.lookup(this.encodeKey(key));
    return raw === undefined ? undefined : this.decodeValue(raw);
  }

  /** Store a JS value (one for all CPUs, or an array of one per CPU for per-CPU maps) under `key`. */
  set(key: unknown, value: unknown, flags: number = BPF_ANY): void {
    this.update(this.encodeKey(key), this.encodeValue(value), flags);
  }

  /** Remove a key given as a JS value; false when it was not there. */
  remove(key: unknown): boolean {
    return this.delete(this.encodeKey(key));
  }

  /** Key bytes for a JS value, as {@link get} encodes it. */
  encodeKey(key: unknown): Uint8Array {
    return this.#codec.encodeKey(key);
  }

  /** Raw value bytes for a JS value, as {@link set} encodes it. */
  encodeValue(value: unknown): Uint8Array {
    return this.#codec.encodeValue(value);
  }

  /** Raw key bytes decoded with the key type (an integer without BTF, or the bytes). */
  decodeKey(raw: Uint8Array): BtfValue | Uint8Array {
    return this.#codec.decodeKey(raw);
  }

  /** Every `[key, value]` pair decoded as {@link get} decodes them. */
  *typedEntries(): Generator<[BtfValue | Uint8Array, BtfValue | BtfValue[] | Uint8Array]> {
    for (const [key, value] of this.entries()) yield [this.decodeKey(key), this.decodeValue(value)];
  }

  /** A raw value decoded with the value type (an array of one per CPU for per-CPU maps). */
  decodeValue(raw: Uint8Array): BtfValue | BtfValue[] | Uint8Array {
    return this.#codec.decodeValue(raw);
  }

  /** Close the fd; later calls are no-ops. Kernel objects live on while pinned or used. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    closeFd(this.#sys, fd);
  }

  /** {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #key(key: Uint8Array): Uint8Array {
    return this.#codec.checkKey(key);
  }

  #rawValue(value: Uint8Array): Uint8Array {
    return this.#codec.rawValue(value);
  }
}

/** `struct bpf_map_info` of `fd`. */
export function readMapInfo(sys: Syscalls, fd: number): MapInfo {
  return mapInfoByFd(sys, fd);
}

/**
 * Create a pin directory (and its parents) on a bpffs if missing, as
 * libbpf does before pinning.
 */
export function makePinDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new KernelError(
      "KERNEL_PIN_DIR",
      `create pin directory ${dir}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** Remove a bpffs pin; false when it was already gone. */
export function unlinkPin(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return false;
    throw new KernelError("KERNEL_UNPIN", `unpin ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** A {@link KernelMap} for an fd whose properties come from the kernel; closes `fd` on error. */
function fromFd(sys: Syscalls, fd: number): KernelMap {
  let info: MapInfo;
  try {
    info = readMapInfo(sys, fd);
  } catch (err) {
    closeFd(sys, fd);
    throw err;
  }
  return new KernelMap(fd, {
    name: info.name,
    type: info.type,
    keySize: info.keySize,
    valueSize: info.valueSize,
    maxEntries: info.maxEntries,
    flags: info.mapFlags,
    sys,
  });
}
