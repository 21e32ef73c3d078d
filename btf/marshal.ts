/**
 * Write `.BTF` blobs: the header, the type section and the string section,
 * from a parsed {@link Btf} (with its `replaceType` overrides) or a
 * {@link BtfBuilder}, in either byte order.
 *
 * ```ts
 * import { Btf } from "./btf.ts";
 * import { marshalBtf } from "./marshal.ts";
 *
 * declare const bytes: Uint8Array;
 * const btf = Btf.parse(bytes);
 * const bigEndian = marshalBtf(btf, { littleEndian: false });
 * const forOldKernel = marshalBtf(btf, { sanitize: { enum64: false, typeTag: false } });
 * ```
 *
 * @module
 */

import { BtfError } from "../errors/mod.ts";
import type { Btf } from "./btf.ts";
import { BtfBuilder, BtfStringTable, stringTableOf } from "./builder.ts";
import { needsSanitization, sanitizeBtf, type SanitizeOptions } from "./sanitize.ts";
import { BtfKind, type BtfType } from "./types.ts";

/** `BTF_MAGIC`. */
const BTF_MAGIC = 0xeb9f;
/** `BTF_VERSION`. */
const BTF_VERSION = 1;
/** `sizeof(struct btf_header)` without the layout fields. */
const HEADER_LEN = 24;
/** `sizeof(struct btf_header)` with `layout_off` and `layout_len`. */
const HEADER_LAYOUT_LEN = 32;
/** `BTF_MAX_VLEN` as the 16-bit vlen field of `info` holds it. */
const MAX_VLEN = 0xffff;

/**
 * The layout section's entries, kinds 0 to `BTF_KIND_ENUM64`: bytes after
 * `struct btf_type` and bytes per vlen element.
 */
const LAYOUT: ReadonlyArray<readonly [number, number]> = [
  [0, 0], // UNKN
  [4, 0], // INT
  [0, 0], // PTR
  [12, 0], // ARRAY
  [0, 12], // STRUCT
  [0, 12], // UNION
  [0, 8], // ENUM
  [0, 0], // FWD
  [0, 0], // TYPEDEF
  [0, 0], // VOLATILE
  [0, 0], // CONST
  [0, 0], // RESTRICT
  [0, 0], // FUNC
  [0, 8], // FUNC_PROTO
  [4, 0], // VAR
  [0, 12], // DATASEC
  [0, 0], // FLOAT
  [4, 0], // DECL_TAG
  [0, 0], // TYPE_TAG
  [0, 12], // ENUM64
];

/** Options of {@link marshalBtf}. */
export interface MarshalOptions {
  /** Byte order of the blob; the source's by default. */
  littleEndian?: boolean;
  /** Rewrite for a kernel that lacks features first (see {@link sanitizeBtf}). */
  sanitize?: SanitizeOptions;
  /**
   * For split BTF: write only the split types, with IDs and string offsets
   * continuing the base's, as the kernel takes module BTF (the default).
   * `false` writes one standalone blob with the base's types first.
   */
  stripBase?: boolean;
  /**
   * Add the layout section (`hdr_len` 32, `struct btf_layout` per kind, placed
   * between types and strings as libbpf does) so parsers can size kinds they
   * don't know. Off by default; `sanitize.layout === false` turns it off.
   */
  layout?: boolean;
  /**
   * `"keep"` (the default) keeps the source's string section as it is and
   * appends missing names, so string offsets a `.BTF.ext` refers to stay
   * valid; `"compact"` writes only the names the types use.
   */
  strings?: "keep" | "compact";
}

/**
 * Marshal BTF to the bytes of a `.BTF` section.
 *
 * One pass over the types into a growable buffer. Names are looked up in
 * (and if missing appended to) the source's string table, so a blob tsbpf
 * wrote marshals back byte for byte after parsing: `marshalBtf(Btf.parse(x))`
 * equals `x`.
 */
export function marshalBtf(source: Btf | BtfBuilder, options: MarshalOptions = {}): Uint8Array {
  if (options.sanitize !== undefined && needsSanitization(options.sanitize)) {
    source = sanitizeBtf(source, options.sanitize);
  }
  const littleEndian = options.littleEndian ?? source.littleEndian;
  const merge = options.stripBase === false && source.base !== undefined;
  const firstId = merge ? 1 : source.firstId;
  const layout = options.layout === true && options.sanitize?.layout !== false;
  const strings = new Strings(stringsFor(source, merge, options.strings ?? "keep"));

  const headerLen = layout ? HEADER_LAYOUT_LEN : HEADER_LEN;
  const estimate = source instanceof BtfBuilder
    ? (source.lastId - firstId + 1) * 48
    : source.bytes.length;
  const w = new Writer(headerLen + estimate + 256, littleEndian);
  w.pos = headerLen;
  for (let id = firstId; id <= source.lastId; id++) writeType(w, source.type(id), id, strings);
  const typeLen = w.pos - headerLen;

  let layoutLen = 0;
  if (layout) {
    w.ensure(LAYOUT.length * 4);
    for (const [infoSize, elemSize] of LAYOUT) {
      w.buf[w.pos] = infoSize;
      w.buf[w.pos + 1] = elemSize;
      w.view.setUint16(w.pos + 2, 0, littleEndian);
      w.pos += 4;
    }
    layoutLen = LAYOUT.length * 4;
  }

  const table = strings.table.bytes();
  w.ensure(table.length);
  w.buf.set(table, w.pos);
  w.pos += table.length;

  const v = w.view;
  v.setUint16(0, BTF_MAGIC, littleEndian);
  w.buf[2] = BTF_VERSION;
  w.buf[3] = 0;
  v.setUint32(4, headerLen, littleEndian);
  v.setUint32(8, 0, littleEndian); // type_off
  v.setUint32(12, typeLen, littleEndian);
  v.setUint32(16, typeLen + layoutLen, littleEndian); // str_off
  v.setUint32(20, table.length, littleEndian);
  if (layout) {
    v.setUint32(24, typeLen, littleEndian); // layout_off
    v.setUint32(28, layoutLen, littleEndian);
  }
  return w.buf.slice(0, w.pos);
}

/** The string table a blob starts from. */
function stringsFor(
  source: Btf | BtfBuilder,
  merge: boolean,
  mode: "keep" | "compact",
): BtfStringTable {
  if (mode === "compact") {
    if (merge || source.base === undefined) return new BtfStringTable();
    return new BtfStringTable({ base: stringTableOf(source.base) });
  }
  const own = source instanceof BtfBuilder ? source.strings : stringTableOf(source);
  if (!merge) return own;
  // Split offsets continue the base's, so base bytes + own bytes keep every offset.
  const parts: Uint8Array[] = [];
  for (let t: BtfStringTable | undefined = own; t !== undefined; t = t.base) {
    parts.unshift(t.bytes());
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return BtfStringTable.fromBytes(all);
}

/** Name → offset over a table that is copied only when a name must be added. */
class Strings {
  table: BtfStringTable;
  #owned = false;
  constructor(table: BtfStringTable) {
    this.table = table;
  }
  offset(s: string, t: BtfType): number {
    if (typeof s !== "string") bad(t, "a name is not a string");
    const hit = this.table.find(s);
    if (hit !== undefined) return hit;
    if (!this.#owned) {
      this.table = this.table.clone();
      this.#owned = true;
    }
    return this.table.add(s);
  }
}

/** A growable output buffer with one DataView, replaced only when the buffer grows. */
class Writer {
  buf: Uint8Array;
  view: DataView;
  pos = 0;
  readonly le: boolean;
  constructor(capacity: number, le: boolean) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
    this.le = le;
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.pos + n, this.buf.length * 2));
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }
  u32(v: number): void {
    this.view.setUint32(this.pos, v, this.le);
    this.pos += 4;
  }
}

function bad(t: BtfType, what: string): never {
  throw new BtfError("BTF_BAD_TYPE", `type [${t.id}] ${t.name ? `'${t.name}' ` : ""}: ${what}`);
}

function u32(t: BtfType, v: number, what: string): number {
  if (v >>> 0 !== v) bad(t, `${what} ${v} is not a u32`);
  return v;
}

function vlen(t: BtfType, n: number): number {
  if (n > MAX_VLEN) bad(t, `${n} entries exceed BTF_MAX_VLEN (${MAX_VLEN})`);
  return n;
}

function info(kind: number, kindFlag: boolean, n: number): number {
  return ((kindFlag ? 0x80000000 : 0) | (kind << 24) | n) >>> 0;
}

/** Append one `struct btf_type` and what follows it. */
function writeType(w: Writer, t: BtfType, id: number, strings: Strings): void {
  if (t.id !== id) bad(t, `found at ID ${id}`);
  const nameOff = strings.offset(t.name, t);
  switch (t.kind) {
    case BtfKind.INT: {
      if (t.encoding >>> 0 !== t.encoding || t.encoding > 0xf) {
        bad(t, `encoding ${t.encoding} is not 4 bits`);
      }
      if (t.bitOffset >>> 0 !== t.bitOffset || t.bitOffset > 0xff) {
        bad(t, `bit offset ${t.bitOffset} is not 8 bits`);
      }
      if (t.bits >>> 0 !== t.bits || t.bits > 0xff) bad(t, `bits ${t.bits} is not 8 bits`);
      w.ensure(16);
      w.u32(nameOff);
      w.u32(info(t.kind, false, 0));
      w.u32(u32(t, t.size, "size"));
      w.u32(((t.encoding << 24) | (t.bitOffset << 16) | t.bits) >>> 0);
      return;
    }
    case BtfKind.PTR:
    case BtfKind.TYPEDEF:
    case BtfKind.VOLATILE:
    case BtfKind.CONST:
    case BtfKind.RESTRICT:
    case BtfKind.TYPE_TAG:
      w.ensure(12);
      w.u32(nameOff);
      w.u32(info(t.kind, t.kind === BtfKind.TYPE_TAG && t.attribute === true, 0));
      w.u32(u32(t, t.type, "type"));
      return;
    case BtfKind.ARRAY:
      w.ensure(24);
      w.u32(nameOff);
      w.u32(info(t.kind, false, 0));
      w.u32(0);
      w.u32(u32(t, t.type, "element type"));
      w.u32(u32(t, t.indexType, "index type"));
      w.u32(u32(t, t.nelems, "nelems"));
      return;
    case BtfKind.STRUCT:
    case BtfKind.UNION: {
      const members = t.members;
      const n = vlen(t, members.length);
      w.ensure(12 + 12 * n);
      w.u32(nameOff);
      w.u32(info(t.kind, t.kindFlag, n));
      w.u32(u32(t, t.size, "size"));
      for (let i = 0; i < n; i++) {
        const m = members[i];
        w.u32(strings.offset(m.name, t));
        w.u32(u32(t, m.type, `member #${i} type`));
        if (t.kindFlag) {
          if (m.bitOffset >>> 0 !== m.bitOffset || m.bitOffset > 0xffffff) {
            bad(t, `member #${i} bit offset ${m.bitOffset} does not fit 24 bits (kind_flag)`);
          }
          if (m.bitfieldSize >>> 0 !== m.bitfieldSize || m.bitfieldSize > 0xff) {
            bad(t, `member #${i} bitfield size ${m.bitfieldSize} does not fit 8 bits`);
          }
          w.u32(((m.bitfieldSize << 24) | m.bitOffset) >>> 0);
        } else {
          if (m.bitfieldSize !== 0) {
            bad(t, `member #${i} is a bitfield but the kind_flag is clear`);
          }
          w.u32(u32(t, m.bitOffset, `member #${i} bit offset`));
        }
      }
      return;
    }
    case BtfKind.ENUM: {
      const values = t.values;
      const n = vlen(t, values.length);
      w.ensure(12 + 8 * n);
      w.u32(nameOff);
      w.u32(info(t.kind, t.signed, n));
      w.u32(u32(t, t.size, "size"));
      for (let i = 0; i < n; i++) {
        const v = values[i];
        w.u32(strings.offset(v.name, t));
        const ok = t.signed ? (v.value | 0) === v.value : (v.value >>> 0) === v.value;
        if (!ok) bad(t, `value ${v.value} of ${v.name} is not ${t.signed ? "an s32" : "a u32"}`);
        w.u32(v.value >>> 0);
      }
      return;
    }
    case BtfKind.ENUM64: {
      const values = t.values;
      const n = vlen(t, values.length);
      w.ensure(12 + 12 * n);
      w.u32(nameOff);
      w.u32(info(t.kind, t.signed, n));
      w.u32(u32(t, t.size, "size"));
      for (let i = 0; i < n; i++) {
        const v = values[i];
        w.u32(strings.offset(v.name, t));
        const value = v.value;
        const ok = typeof value === "bigint" &&
          (t.signed ? BigInt.asIntN(64, value) : BigInt.asUintN(64, value)) === value;
        if (!ok) {
          bad(t, `value ${value} of ${v.name} is not ${t.signed ? "an s64" : "a u64"} bigint`);
        }
        const bits = BigInt.asUintN(64, value);
        w.u32(Number(bits & 0xffffffffn));
        w.u32(Number(bits >> 32n));
      }
      return;
    }
    case BtfKind.FWD:
      w.ensure(12);
      w.u32(nameOff);
      w.u32(info(t.kind, t.union, 0));
      w.u32(0);
      return;
    case BtfKind.FUNC:
      if (t.linkage >>> 0 !== t.linkage || t.linkage > MAX_VLEN) {
        bad(t, `linkage ${t.linkage} is not 16 bits`);
      }
      w.ensure(12);
      w.u32(nameOff);
      w.u32(info(t.kind, false, t.linkage));
      w.u32(u32(t, t.type, "type"));
      return;
    case BtfKind.FUNC_PROTO: {
      const params = t.params;
      const n = vlen(t, params.length);
      w.ensure(12 + 8 * n);
      w.u32(nameOff);
      w.u32(info(t.kind, false, n));
      w.u32(u32(t, t.returnType, "return type"));
      for (let i = 0; i < n; i++) {
        w.u32(strings.offset(params[i].name, t));
        w.u32(u32(t, params[i].type, `parameter #${i} type`));
      }
      return;
    }
    case BtfKind.VAR:
      w.ensure(16);
      w.u32(nameOff);
      w.u32(info(t.kind, false, 0));
      w.u32(u32(t, t.type, "type"));
      w.u32(u32(t, t.linkage, "linkage"));
      return;
    case BtfKind.DATASEC: {
      const vars = t.vars;
      const n = vlen(t, vars.length);
      w.ensure(12 + 12 * n);
      w.u32(nameOff);
      w.u32(info(t.kind, false, n));
      w.u32(u32(t, t.size, "size"));
      for (let i = 0; i < n; i++) {
        const v = vars[i];
        w.u32(u32(t, v.type, `variable #${i} type`));
        w.u32(u32(t, v.offset, `variable #${i} offset`));
        w.u32(u32(t, v.size, `variable #${i} size`));
      }
      return;
    }
    case BtfKind.FLOAT:
      w.ensure(12);
      w.u32(nameOff);
      w.u32(info(t.kind, false, 0));
      w.u32(u32(t, t.size, "size"));
      return;
    case BtfKind.DECL_TAG:
      if ((t.componentIdx | 0) !== t.componentIdx || t.componentIdx < -1) {
        bad(t, `component index ${t.componentIdx} is neither -1 nor an index`);
      }
      w.ensure(16);
      w.u32(nameOff);
      w.u32(info(t.kind, t.attribute === true, 0));
      w.u32(u32(t, t.type, "type"));
      w.u32(t.componentIdx >>> 0);
      return;
    default:
      bad(t, `kind ${(t as BtfType).kind} can't be marshalled`);
  }
}
