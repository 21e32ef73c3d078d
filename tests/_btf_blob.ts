/**
 * A minimal `.BTF` blob writer for tests: it writes what it is told, in
 * either byte order, so it can also produce odd-but-valid blobs (a bigger
 * `hdr_len`, a layout section, split BTF, kinds no parser knows). Corrupt
 * the result with {@link writeU32} and the {@link HDR} field offsets to make
 * broken ones.
 *
 * Independent of `btf/marshal.ts` on purpose: the parser's tests should not
 * trust the code they are checking against.
 *
 * ```ts
 * import { BtfBlobWriter } from "./_btf_blob.ts";
 * import { BtfKind } from "../btf/types.ts";
 *
 * const w = new BtfBlobWriter({ littleEndian: false });
 * const int = w.add({ kind: BtfKind.INT, name: "int", size: 4, encoding: 1, bitOffset: 0, bits: 32 });
 * w.add({ kind: BtfKind.PTR, name: "", type: int });
 * const blob = w.build(); // blob.bytes, blob.offsetOf(int), …
 * ```
 *
 * @module
 */

import { BtfKind, type BtfType } from "../btf/types.ts";

/** `Omit` applied to each member of a union separately. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A type to encode: a {@link BtfType} without its ID. */
export type BlobType = DistributiveOmit<BtfType, "id">;

/** `[offset, width]` of each `struct btf_header` field. */
export const HDR = {
  magic: [0, 2],
  version: [2, 1],
  flags: [3, 1],
  hdrLen: [4, 4],
  typeOff: [8, 4],
  typeLen: [12, 4],
  strOff: [16, 4],
  strLen: [20, 4],
  layoutOff: [24, 4],
  layoutLen: [28, 4],
} as const;

/** A raw type record: `struct btf_type` plus the words that follow it. */
export interface RawRecord {
  /** A string to add, or a raw name offset. */
  name?: string | number;
  kind: number;
  vlen?: number;
  kflag?: boolean;
  /** The size/type word. */
  sizeOrType?: number;
  /** Words after `struct btf_type`. */
  words?: number[];
}

/** One `struct btf_layout` entry. */
export interface LayoutEntry {
  infoSize: number;
  elemSize: number;
  flags?: number;
}

/** Options for {@link BtfBlobWriter.build}. */
export interface BuildOptions {
  /** `hdr_len` (default 24, or 32 with a layout section); bytes past 32 are zero. */
  hdrLen?: number;
  /** Layout section entries, one per kind; written between types and strings. */
  layout?: LayoutEntry[];
  /** `version` byte (default 1). */
  version?: number;
}

/** A built blob and where its parts are. */
export interface BuiltBlob {
  bytes: Uint8Array;
  littleEndian: boolean;
  hdrLen: number;
  /** Absolute offsets of the sections. */
  typeStart: number;
  strStart: number;
  layoutStart: number;
  /** Absolute offset of a type's record, by type ID. */
  offsetOf(id: number): number;
}

/** Write an unsigned integer of `width` bytes at `offset`. */
export function writeU32(
  bytes: Uint8Array,
  offset: number,
  value: number,
  littleEndian: boolean,
  width: 1 | 2 | 4 = 4,
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (width === 1) view.setUint8(offset, value);
  else if (width === 2) view.setUint16(offset, value, littleEndian);
  else view.setUint32(offset, value >>> 0, littleEndian);
}

/** Read an unsigned 32-bit integer at `offset`. */
export function readU32(bytes: Uint8Array, offset: number, littleEndian: boolean): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(
    offset,
    littleEndian,
  );
}

/** Options for a {@link BtfBlobWriter}. */
export interface BlobWriterOptions {
  littleEndian?: boolean;
  /** Write split BTF on top of a base with this last type ID and string section length. */
  base?: { lastId: number; stringsLength: number };
}

/** Accumulates types and strings, then writes a blob. */
export class BtfBlobWriter {
  readonly littleEndian: boolean;
  readonly firstId: number;
  readonly #strBase: number;
  readonly #strings: number[] = [];
  readonly #stringOffsets = new Map<string, number>();
  readonly #records: number[][] = [];

  constructor(options: BlobWriterOptions = {}) {
    this.littleEndian = options.littleEndian ?? true;
    this.firstId = options.base === undefined ? 1 : options.base.lastId + 1;
    this.#strBase = options.base === undefined ? 0 : options.base.stringsLength;
    // A base string section starts with the empty string; split BTF reuses the base's.
    if (options.base === undefined) this.str("");
    else this.#stringOffsets.set("", 0);
  }

  /** Add a string (deduplicated); returns its offset as types refer to it. */
  str(s: string): number {
    const known = this.#stringOffsets.get(s);
    if (known !== undefined) return known;
    const off = this.#strBase + this.#strings.length;
    for (const b of new TextEncoder().encode(s)) this.#strings.push(b);
    this.#strings.push(0);
    this.#stringOffsets.set(s, off);
    return off;
  }

  /** The ID the next type will get. */
  get nextId(): number {
    return this.firstId + this.#records.length;
  }

  /** Add a raw record; returns its type ID. */
  raw(rec: RawRecord): number {
    const name = typeof rec.name === "number" ? rec.name : this.str(rec.name ?? "");
    const info = ((rec.kflag ? 1 : 0) << 31) | ((rec.kind & 0x7f) << 24) |
      ((rec.vlen ?? 0) & 0xffff);
    this.#records.push([name, info >>> 0, rec.sizeOrType ?? 0, ...(rec.words ?? [])]);
    return this.nextId - 1;
  }

  /** Encode a type as the uapi lays it out; returns its type ID. */
  add(t: BlobType): number {
    switch (t.kind) {
      case BtfKind.UNKN:
        return this.raw({ name: t.name, kind: 0 });
      case BtfKind.INT:
        return this.raw({
          name: t.name,
          kind: t.kind,
          sizeOrType: t.size,
          words: [((t.encoding & 0x0f) << 24) | ((t.bitOffset & 0xff) << 16) | (t.bits & 0xff)],
        });
      case BtfKind.PTR:
      case BtfKind.TYPEDEF:
      case BtfKind.VOLATILE:
      case BtfKind.CONST:
      case BtfKind.RESTRICT:
      case BtfKind.TYPE_TAG:
        return this.raw({ name: t.name, kind: t.kind, sizeOrType: t.type });
      case BtfKind.ARRAY:
        return this.raw({ name: t.name, kind: t.kind, words: [t.type, t.indexType, t.nelems] });
      case BtfKind.STRUCT:
      case BtfKind.UNION:
        return this.raw({
          name: t.name,
          kind: t.kind,
          kflag: t.kindFlag,
          vlen: t.members.length,
          sizeOrType: t.size,
          words: t.members.flatMap((m) => [
            this.str(m.name),
            m.type,
            t.kindFlag ? ((m.bitfieldSize << 24) | m.bitOffset) >>> 0 : m.bitOffset,
          ]),
        });
      case BtfKind.ENUM:
        return this.raw({
          name: t.name,
          kind: t.kind,
          kflag: t.signed,
          vlen: t.values.length,
          sizeOrType: t.size,
          words: t.values.flatMap((v) => [this.str(v.name), v.value >>> 0]),
        });
      case BtfKind.ENUM64:
        return this.raw({
          name: t.name,
          kind: t.kind,
          kflag: t.signed,
          vlen: t.values.length,
          sizeOrType: t.size,
          words: t.values.flatMap((v) => {
            const u = BigInt.asUintN(64, v.value);
            return [this.str(v.name), Number(u & 0xffffffffn), Number(u >> 32n)];
          }),
        });
      case BtfKind.FWD:
        return this.raw({ name: t.name, kind: t.kind, kflag: t.union });
      case BtfKind.FUNC:
        return this.raw({ name: t.name, kind: t.kind, vlen: t.linkage, sizeOrType: t.type });
      case BtfKind.FUNC_PROTO:
        return this.raw({
          name: t.name,
          kind: t.kind,
          vlen: t.params.length,
          sizeOrType: t.returnType,
          words: t.params.flatMap((p) => [this.str(p.name), p.type]),
        });
      case BtfKind.VAR:
        return this.raw({ name: t.name, kind: t.kind, sizeOrType: t.type, words: [t.linkage] });
      case BtfKind.DATASEC:
        return this.raw({
          name: t.name,
          kind: t.kind,
          vlen: t.vars.length,
          sizeOrType: t.size,
          words: t.vars.flatMap((v) => [v.type, v.offset, v.size]),
        });
      case BtfKind.FLOAT:
        return this.raw({ name: t.name, kind: t.kind, sizeOrType: t.size });
      case BtfKind.DECL_TAG:
        return this.raw({
          name: t.name,
          kind: t.kind,
          sizeOrType: t.type,
          words: [t.componentIdx >>> 0],
        });
    }
  }

  /** Write the blob: header, types, layout (if any), strings. */
  build(options: BuildOptions = {}): BuiltBlob {
    const le = this.littleEndian;
    const layout = options.layout;
    const hdrLen = options.hdrLen ?? (layout === undefined ? 24 : 32);
    const recordStarts: number[] = [];
    let typeLen = 0;
    for (const r of this.#records) {
      recordStarts.push(typeLen);
      typeLen += 4 * r.length;
    }
    const layoutLen = layout === undefined ? 0 : 4 * layout.length;
    const strLen = this.#strings.length;
    const bytes = new Uint8Array(hdrLen + typeLen + layoutLen + strLen);
    const view = new DataView(bytes.buffer);
    view.setUint16(0, 0xeb9f, le);
    bytes[2] = options.version ?? 1;
    bytes[3] = 0;
    view.setUint32(4, hdrLen, le);
    view.setUint32(8, 0, le);
    view.setUint32(12, typeLen, le);
    view.setUint32(16, typeLen + layoutLen, le);
    view.setUint32(20, strLen, le);
    if (hdrLen >= 32) {
      view.setUint32(24, layout === undefined ? 0 : typeLen, le);
      view.setUint32(28, layoutLen, le);
    }
    let p = hdrLen;
    for (const r of this.#records) {
      for (const w of r) {
        view.setUint32(p, w >>> 0, le);
        p += 4;
      }
    }
    for (const e of layout ?? []) {
      bytes[p] = e.infoSize;
      bytes[p + 1] = e.elemSize;
      view.setUint16(p + 2, e.flags ?? 0, le);
      p += 4;
    }
    bytes.set(this.#strings, p);
    const firstId = this.firstId;
    return {
      bytes,
      littleEndian: le,
      hdrLen,
      typeStart: hdrLen,
      strStart: hdrLen + typeLen + layoutLen,
      layoutStart: hdrLen + typeLen,
      offsetOf(id: number): number {
        return hdrLen + recordStarts[id - firstId];
      },
    };
  }
}

/** Re-encode a list of decoded types (in ID order) in the given byte order. */
export function encodeTypes(types: Iterable<BtfType>, options: BlobWriterOptions = {}): BuiltBlob {
  const w = new BtfBlobWriter(options);
  for (const t of types) {
    const id = w.add(t);
    if (id !== t.id) throw new Error(`encodeTypes: type ${t.id} landed at ID ${id}`);
  }
  return w.build();
}
