/**
 * {@link MapCodec}: how a map's keys and values travel between JS values and
 * the raw bytes the kernel (or the VM) stores: decoded with the map's BTF
 * key/value types when it has them, as integers when the size is 1, 2, 4 or
 * 8 bytes, as raw bytes otherwise. Per-CPU values are one slot per CPU,
 * each rounded up to 8 bytes, CPU 0 first, as `BPF_MAP_LOOKUP_ELEM` returns
 * them. Shared by the kernel and VM backends so both maps read the same.
 *
 * @module
 */

import type { Btf } from "../btf/btf.ts";
import { type BtfValue, decodeValue, encodeValue } from "../btf/value.ts";

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const BTF_KIND_ARRAY = 3;

/** What {@link MapCodec} needs to know about a map. */
export interface MapCodecOptions {
  /** The map's name, for messages. */
  name: string;
  /** key_size. */
  keySize: number;
  /** value_size (one CPU's). */
  valueSize: number;
  /** Whether values are kept once per CPU. */
  perCpu: boolean;
  /** How many CPUs per-CPU values have. */
  cpus: () => number;
  /** BTF the key and value types refer to. */
  btf?: Btf;
  /** BTF type ID of the key. */
  keyType?: number;
  /** BTF type ID of the value. */
  valueType?: number;
  /** The backend's error for a bad key (`which` = "key") or value. */
  error: (which: "key" | "value", detail: string) => Error;
}

/** Encodes and decodes one map's keys and values. */
export class MapCodec {
  readonly #o: MapCodecOptions;

  /** A codec for the map `options` describes. */
  constructor(options: MapCodecOptions) {
    this.#o = options;
  }

  /** Bytes of a raw value as lookups return it (all CPUs for per-CPU maps). */
  get rawValueSize(): number {
    const o = this.#o;
    return o.perCpu ? roundUp8(o.valueSize) * o.cpus() : o.valueSize;
  }

  /** Key bytes for a JS value: raw bytes as they are, else by BTF, else an integer. */
  encodeKey(key: unknown): Uint8Array {
    const o = this.#o;
    if (key instanceof Uint8Array) return key;
    if (o.btf !== undefined && o.keyType !== undefined) {
      return encodeValue(o.btf, o.keyType, key, { littleEndian: HOST_LITTLE_ENDIAN });
    }
    return this.#integer(key, o.keySize, "key");
  }

  /**
   * Raw value bytes for a JS value; per-CPU maps also take an array of one
   * value per CPU.
   */
  encodeValue(value: unknown): Uint8Array {
    const o = this.#o;
    if (value instanceof Uint8Array) return value;
    if (o.perCpu && Array.isArray(value) && !this.#valueIsArray()) {
      const cpus = o.cpus();
      if (value.length !== cpus) {
        throw o.error("value", `map ${o.name}: ${value.length} per-CPU values, want ${cpus}`);
      }
      const stride = roundUp8(o.valueSize);
      const out = new Uint8Array(stride * cpus);
      value.forEach((v, i) => out.set(this.#encodeOne(v), i * stride));
      return out;
    }
    return this.#encodeOne(value);
  }

  /** Raw key bytes decoded with the key type (an integer without BTF, or the bytes). */
  decodeKey(raw: Uint8Array): BtfValue | Uint8Array {
    const o = this.#o;
    if (o.btf !== undefined && o.keyType !== undefined) {
      return decodeValue(o.btf, o.keyType, raw, { littleEndian: HOST_LITTLE_ENDIAN });
    }
    if ([1, 2, 4, 8].includes(o.keySize)) return decodeInteger(raw, o.keySize);
    return raw;
  }

  /** A raw value decoded with the value type (an array of one per CPU for per-CPU maps). */
  decodeValue(raw: Uint8Array): BtfValue | BtfValue[] | Uint8Array {
    const o = this.#o;
    if (!o.perCpu) return this.#decodeOne(raw);
    const stride = roundUp8(o.valueSize);
    const out: (BtfValue | Uint8Array)[] = [];
    for (let off = 0; off + o.valueSize <= raw.length; off += stride) {
      out.push(this.#decodeOne(raw.subarray(off, off + o.valueSize)));
    }
    return out as BtfValue[];
  }

  /** `key` if it has key_size bytes, else the backend's key error. */
  checkKey(key: Uint8Array): Uint8Array {
    const o = this.#o;
    if (key.length !== o.keySize) {
      throw o.error("key", `map ${o.name}: key of ${key.length} bytes, want ${o.keySize}`);
    }
    return key;
  }

  /**
   * `value` as a full raw value: as it is when it has {@link rawValueSize}
   * bytes; one CPU's value copied to every CPU for per-CPU maps.
   */
  rawValue(value: Uint8Array): Uint8Array {
    const o = this.#o;
    const want = this.rawValueSize;
    if (value.length === want) return value;
    if (o.perCpu && value.length === o.valueSize) {
      const stride = roundUp8(o.valueSize);
      const out = new Uint8Array(want);
      for (let off = 0; off < want; off += stride) out.set(value, off);
      return out;
    }
    throw o.error(
      "value",
      `map ${o.name}: value of ${value.length} bytes, want ${want}` +
        (o.perCpu ? ` (or ${o.valueSize} for every CPU)` : ""),
    );
  }

  #valueIsArray(): boolean {
    const o = this.#o;
    if (o.btf === undefined || o.valueType === undefined) return false;
    return o.btf.type(o.btf.skipTypedefs(o.valueType)).kind === BTF_KIND_ARRAY;
  }

  #encodeOne(value: unknown): Uint8Array {
    const o = this.#o;
    if (value instanceof Uint8Array) return value;
    if (o.btf !== undefined && o.valueType !== undefined) {
      return encodeValue(o.btf, o.valueType, value, { littleEndian: HOST_LITTLE_ENDIAN });
    }
    return this.#integer(value, o.valueSize, "value");
  }

  #decodeOne(raw: Uint8Array): BtfValue | Uint8Array {
    const o = this.#o;
    if (o.btf !== undefined && o.valueType !== undefined) {
      return decodeValue(o.btf, o.valueType, raw, { littleEndian: HOST_LITTLE_ENDIAN });
    }
    if ([1, 2, 4, 8].includes(o.valueSize)) return decodeInteger(raw, o.valueSize);
    return raw;
  }

  /** Host-order bytes of an integer key or value of `size` bytes. */
  #integer(value: unknown, size: number, which: "key" | "value"): Uint8Array {
    const what = `map ${this.#o.name}: ${which}`;
    if ((typeof value !== "number" && typeof value !== "bigint") || ![1, 2, 4, 8].includes(size)) {
      throw this.#o.error(
        which,
        `${what}: the map has no BTF type for it: give ${size} raw bytes` +
          ([1, 2, 4, 8].includes(size) ? " or an integer" : ""),
      );
    }
    if (typeof value === "number" && !Number.isInteger(value)) {
      throw this.#o.error(which, `${what}: ${value} is not an integer`);
    }
    const big = BigInt(value);
    const bits = BigInt(size * 8);
    if (big < -(1n << (bits - 1n)) || big >= (1n << bits)) {
      throw this.#o.error(which, `${what}: ${value} does not fit ${size} bytes`);
    }
    const out = new Uint8Array(size);
    let v = BigInt.asUintN(size * 8, big);
    for (let i = 0; i < size; i++) {
      out[HOST_LITTLE_ENDIAN ? i : size - 1 - i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return out;
  }
}

/** `n` rounded up to a multiple of 8 (per-CPU value slots, array value strides). */
export function roundUp8(n: number): number {
  return (n + 7) & ~7;
}

function decodeInteger(raw: Uint8Array, size: number): number | bigint {
  const view = new DataView(raw.buffer, raw.byteOffset, size);
  switch (size) {
    case 1:
      return view.getUint8(0);
    case 2:
      return view.getUint16(0, HOST_LITTLE_ENDIAN);
    case 4:
      return view.getUint32(0, HOST_LITTLE_ENDIAN);
    default:
      return view.getBigUint64(0, HOST_LITTLE_ENDIAN);
  }
}
