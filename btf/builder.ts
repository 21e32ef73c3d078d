/**
 * Build BTF types in memory: for plugins, tests, and for rewriting a parsed
 * {@link Btf} (sanitising, fixing up externs) before it is marshalled.
 *
 * ```ts
 * import { BtfBuilder } from "./builder.ts";
 * import { marshalBtf } from "./marshal.ts";
 *
 * const b = new BtfBuilder();
 * const u32 = b.int("unsigned int", 4);
 * const u8 = b.int("unsigned char", 1, { char: true });
 * b.struct("pkt", [{ name: "len", type: u32 }, { name: "flags", type: u8, bitfieldSize: 3 }]);
 * const blob = marshalBtf(b); // .BTF bytes
 * ```
 *
 * @module
 */

import { BtfError } from "../errors/mod.ts";
import type { Btf } from "./btf.ts";
import { resolveAlign, resolveSize, skipModifiers } from "./_resolve.ts";
import {
  type BtfComposite,
  type BtfEnum64Value,
  type BtfEnumValue,
  BtfFuncLinkage,
  BtfIntEncoding,
  BtfKind,
  btfKindName,
  type BtfParam,
  type BtfType,
  BtfVarLinkage,
  type BtfVarSecinfo,
} from "./types.ts";

/** `Omit` applied to each member of a union separately. */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A type as given to {@link BtfBuilder.add}: everything but the ID. */
export type BtfTypeInit = DistributiveOmit<BtfType, "id">;

/** Pointer size of the BPF target (libbpf enforces 8 for BPF objects). */
const POINTER_SIZE = 8;
/** The index type clang and pahole give arrays. */
const ARRAY_INDEX_TYPE_NAME = "__ARRAY_SIZE_TYPE__";

const VOID: BtfType = { id: 0, kind: BtfKind.UNKN, name: "" };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * A BTF string section: NUL-terminated strings, deduplicated, addressed by
 * byte offset. For split BTF, offsets start where the base's table ends and
 * strings the base already has resolve to the base's offsets, as libbpf's
 * `btf__add_str` does.
 */
export class BtfStringTable {
  /** Offset of this table's first byte (the base's string section length for split BTF). */
  readonly start: number;
  /** The base's table, for split BTF. */
  readonly base?: BtfStringTable;
  #bytes: Uint8Array;
  #length: number;
  /** String → absolute offset; built lazily up to `#indexed`. */
  #index = new Map<string, number>();
  #indexed = 0;

  /**
   * An empty table: just the NUL of `""` for standalone BTF, nothing at all
   * for split BTF (`""` is the base's offset 0).
   */
  constructor(options: { base?: BtfStringTable } = {}) {
    this.base = options.base;
    this.start = options.base === undefined ? 0 : options.base.end;
    this.#bytes = new Uint8Array(options.base === undefined ? 64 : 16);
    this.#length = options.base === undefined ? 1 : 0;
    if (options.base === undefined) {
      this.#index.set("", 0);
      this.#indexed = 1;
    }
  }

  /**
   * A table holding a copy of `bytes` as is (a parsed blob's string
   * section), so every offset into it stays valid.
   */
  static fromBytes(bytes: Uint8Array, options: { base?: BtfStringTable } = {}): BtfStringTable {
    const table = new BtfStringTable(options);
    table.#bytes = bytes.slice();
    table.#length = bytes.length;
    table.#index.clear();
    table.#indexed = 0;
    return table;
  }

  /** Offset one past the last byte: where a split table on top of this one starts. */
  get end(): number {
    return this.start + this.#length;
  }

  /** Length of this table's own bytes. */
  get length(): number {
    return this.#length;
  }

  /** This table's own bytes (a view: copy before keeping it past the next `add`). */
  bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  /** An independent copy (sharing the base); indexes this table first so copies share the work. */
  clone(): BtfStringTable {
    if (this.#indexed !== this.#length) this.#indexRest();
    const copy = BtfStringTable.fromBytes(this.bytes(), { base: this.base });
    copy.#index = new Map(this.#index);
    copy.#indexed = this.#indexed;
    return copy;
  }

  /** Offset of `s` if the table (or its base) has it. */
  find(s: string): number | undefined {
    const inBase = this.base?.find(s);
    if (inBase !== undefined) return inBase;
    const hit = this.#index.get(s);
    if (hit !== undefined || this.#indexed === this.#length) return hit;
    this.#indexRest();
    return this.#index.get(s);
  }

  /** Offset of `s`, appending it when neither this table nor its base has it. */
  add(s: string): number {
    const found = this.find(s);
    if (found !== undefined) return found;
    if (s.includes("\0")) {
      throw new BtfError("BTF_BAD_STRING", `string ${JSON.stringify(s)} contains a NUL byte`);
    }
    const encoded = encoder.encode(s);
    const need = this.#length + encoded.length + 1;
    if (need > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(need, this.#bytes.length * 2));
      grown.set(this.#bytes.subarray(0, this.#length));
      this.#bytes = grown;
    }
    const offset = this.start + this.#length;
    this.#bytes.set(encoded, this.#length);
    this.#bytes[this.#length + encoded.length] = 0;
    this.#length = need;
    this.#index.set(s, offset);
    this.#indexed = this.#length;
    return offset;
  }

  /** The string at an absolute offset. */
  get(offset: number): string {
    if (offset < this.start) {
      if (this.base !== undefined) return this.base.get(offset);
    } else if (Number.isInteger(offset) && offset < this.end) {
      const from = offset - this.start;
      const nul = this.#bytes.indexOf(0, from);
      if (nul !== -1 && nul < this.#length) return decoder.decode(this.#bytes.subarray(from, nul));
    }
    throw new BtfError(
      "BTF_BAD_STRING_OFFSET",
      `string offset ${offset} is outside the string table`,
    );
  }

  /** Index every string not indexed yet; the first occurrence of a duplicate wins. */
  #indexRest(): void {
    const end = this.#length;
    let pos = this.#indexed;
    // One latin1 decode and a slice per string: far cheaper than a decode per
    // string; only strings with bytes past ASCII are decoded again as UTF-8.
    const all = latin1.decode(this.#bytes.subarray(pos, end));
    const ascii = !NON_ASCII.test(all);
    const base = pos;
    const index = this.#index;
    while (pos < end) {
      let nul = all.indexOf("\0", pos - base) + base;
      if (nul < base) nul = end;
      let s = all.slice(pos - base, nul - base);
      if (!ascii && NON_ASCII.test(s)) s = decoder.decode(this.#bytes.subarray(pos, nul));
      if (!index.has(s)) index.set(s, this.start + pos);
      pos = nul + 1;
    }
    this.#indexed = end;
  }
}

const latin1 = new TextDecoder("latin1");
const NON_ASCII = /[\u0080-\uffff]/;

/** The string tables of parsed blobs, by blob: the bytes never change. */
const parsedTables = new WeakMap<Btf, BtfStringTable>();

/**
 * The string section of a parsed {@link Btf}, as a table whose offsets are
 * the blob's own (cached; clone it before adding to it).
 */
export function stringTableOf(btf: Btf): BtfStringTable {
  const cached = parsedTables.get(btf);
  if (cached !== undefined) return cached;
  const bytes = btf.bytes;
  if (bytes.length < 24) throw new BtfError("BTF_TRUNCATED", "BTF blob shorter than its header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = btf.littleEndian;
  const hdrLen = view.getUint32(4, le);
  const strOff = view.getUint32(16, le);
  const strLen = view.getUint32(20, le);
  const from = hdrLen + strOff;
  if (from + strLen > bytes.length) {
    throw new BtfError("BTF_BAD_SECTION", "string section runs past the end of the blob", {
      offset: 16,
    });
  }
  const base = btf.base === undefined ? undefined : stringTableOf(btf.base);
  const table = BtfStringTable.fromBytes(bytes.subarray(from, from + strLen), { base });
  parsedTables.set(btf, table);
  return table;
}

/** A struct or union member for {@link BtfBuilder.struct} and {@link BtfBuilder.union}. */
export interface MemberInit {
  /** Member name; "" for an anonymous member. */
  name: string;
  /** Member type ID. */
  type: number;
  /** Offset in bits; laid out with C rules (after the previous member) when absent. */
  bitOffset?: number;
  /** Width of a bitfield in bits; any bitfield makes the composite kind_flag. */
  bitfieldSize?: number;
}

/** Options of {@link BtfBuilder.struct} and {@link BtfBuilder.union}. */
export interface CompositeOptions {
  /** Size in bytes; computed from the members and their alignment when absent. */
  size?: number;
  /** `__attribute__((packed))`: no padding, alignment 1. */
  packed?: boolean;
  /** Force the kind_flag (set anyway when a member is a bitfield). */
  kindFlag?: boolean;
}

/** Options of {@link BtfBuilder.constructor}. */
export interface BtfBuilderOptions {
  /** Base BTF: the builder holds split BTF whose IDs and string offsets continue the base's. */
  base?: Btf;
  /** Byte order to marshal in by default; the base's, or little-endian. */
  littleEndian?: boolean;
  /** Start from this string table (a copy is made) instead of an empty one. */
  strings?: BtfStringTable;
}

/**
 * An in-memory set of BTF types with a {@link Btf}-like read side.
 *
 * Types are plain data ({@link BtfType}); IDs start at 1, or after the
 * base's last ID for split BTF. Every name is interned in the builder's
 * string table when a type is added, so string offsets handed out by
 * {@link addString} (for `.BTF.ext` records, say) stay valid in the
 * marshalled blob.
 */
export class BtfBuilder {
  /** Base BTF of split BTF. */
  readonly base?: Btf;
  /** The first ID this builder assigns. */
  readonly firstId: number;
  /** Default byte order for `marshalBtf`. */
  readonly littleEndian: boolean;
  /** The string section (offsets absolute, continuing the base's for split BTF). */
  readonly strings: BtfStringTable;
  /** Pointer size of the target: 8, as libbpf requires for BPF objects. */
  readonly pointerSize: number = POINTER_SIZE;
  #types: BtfType[] = [];
  #names?: Map<string, number[]>;
  #indexTypeId = 0;

  /** An empty builder, or an empty split part on top of `options.base`. */
  constructor(options: BtfBuilderOptions = {}) {
    this.base = options.base;
    this.firstId = options.base === undefined ? 1 : options.base.lastId + 1;
    this.littleEndian = options.littleEndian ?? options.base?.littleEndian ?? true;
    const baseStrings = options.base === undefined ? undefined : stringTableOf(options.base);
    if (options.strings === undefined) {
      this.strings = new BtfStringTable({ base: baseStrings });
    } else if (options.strings.start !== (baseStrings?.end ?? 0)) {
      throw new BtfError(
        "BTF_BAD_STRINGS",
        `string table starts at offset ${options.strings.start}, the base's ends at ${
          baseStrings?.end ?? 0
        }`,
      );
    } else {
      this.strings = options.strings.clone();
    }
  }

  /**
   * A builder holding every type of `btf` (not its base's: the base stays
   * the base) and its string section byte for byte, so string offsets in
   * a matching `.BTF.ext` keep pointing at the same strings. Types are taken
   * through `btf.type(id)`, so `replaceType` overrides are honoured.
   */
  static from(btf: Btf): BtfBuilder {
    const b = new BtfBuilder({
      base: btf.base,
      littleEndian: btf.littleEndian,
      strings: stringTableOf(btf),
    });
    for (let id = btf.firstId; id <= btf.lastId; id++) b.#push(btf.type(id));
    return b;
  }

  /** An independent copy: same types, same string offsets, same base. */
  clone(): BtfBuilder {
    const b = new BtfBuilder({
      base: this.base,
      littleEndian: this.littleEndian,
      strings: this.strings,
    });
    b.#types = this.#types.slice();
    b.#indexTypeId = this.#indexTypeId;
    return b;
  }

  /** Highest valid type ID (including the base's). */
  get lastId(): number {
    return this.firstId + this.#types.length - 1;
  }

  /** Add a type; returns its ID. Names are interned; arrays are copied. */
  add(type: BtfTypeInit): number {
    const id = this.firstId + this.#types.length;
    this.#push({ ...copyType(type), id } as BtfType);
    return id;
  }

  /** Intern a string; returns its offset (0 for ""). */
  addString(s: string): number {
    return this.strings.add(s);
  }

  /** The string at an offset of this builder's (or the base's) string table. */
  string(offset: number): string {
    return this.strings.get(offset);
  }

  /**
   * The type with this ID (0 is void; IDs below {@link firstId} come from the
   * base). The object is the builder's own: replace it, don't mutate it.
   */
  type(id: number): BtfType {
    if (id === 0) return VOID;
    if (id < this.firstId && id > 0 && this.base !== undefined) return this.base.type(id);
    const t = Number.isInteger(id) ? this.#types[id - this.firstId] : undefined;
    if (t === undefined) {
      throw new BtfError(
        "BTF_BAD_TYPE_ID",
        `type ID ${id} is out of range [0, ${this.lastId}]`,
      );
    }
    return t;
  }

  /** The kind of a type. */
  kindOf(id: number): BtfKind {
    return this.type(id).kind;
  }

  /** The name of a type ("" when anonymous). */
  nameOf(id: number): string {
    return this.type(id).name;
  }

  /** Every type of this builder in ID order (not the base's). */
  *types(): IterableIterator<BtfType> {
    for (const t of this.#types) yield t;
  }

  /** Replace a type of this builder (not the base's); `type.id` must be `id`. */
  replaceType(id: number, type: BtfType): void {
    const index = id - this.firstId;
    if (!Number.isInteger(id) || index < 0 || index >= this.#types.length) {
      throw new BtfError(
        "BTF_BAD_TYPE_ID",
        `can't replace type ${id}: this builder holds IDs [${this.firstId}, ${this.lastId}]`,
      );
    }
    if (type.id !== id) {
      throw new BtfError(
        "BTF_BAD_OVERRIDE",
        `can't replace type ${id} with a type whose id is ${type.id}`,
      );
    }
    if (type.kind === BtfKind.UNKN) {
      throw new BtfError("BTF_BAD_TYPE", `can't replace type ${id} with void`);
    }
    internNames(this.strings, type);
    this.#types[index] = type;
    this.#names = undefined;
  }

  /** All IDs (including the base's) with exactly this name, ascending. */
  idsByName(name: string): number[] {
    if (this.#names === undefined) {
      this.#names = new Map();
      for (const t of this.#types) {
        const ids = this.#names.get(t.name);
        if (ids === undefined) this.#names.set(t.name, [t.id]);
        else ids.push(t.id);
      }
    }
    const own = this.#names.get(name) ?? [];
    const base = this.base === undefined ? [] : this.base.idsByName(name);
    return base.length === 0 ? own.slice() : [...base, ...own];
  }

  /** The one type with this name (and kind): else `BTF_NOT_FOUND` or `BTF_AMBIGUOUS`. */
  typeByName(name: string, kind?: BtfKind): BtfType {
    const ids = this.idsByName(name).filter((id) => kind === undefined || this.kindOf(id) === kind);
    if (ids.length === 1) return this.type(ids[0]);
    const what = kind === undefined ? `type '${name}'` : `${btfKindName(kind)} '${name}'`;
    if (ids.length === 0) throw new BtfError("BTF_NOT_FOUND", `no ${what}`);
    throw new BtfError("BTF_AMBIGUOUS", `${ids.length} of ${what}: IDs ${ids.join(", ")}`);
  }

  /** Size in bytes, resolved like libbpf's `btf__resolve_size`. */
  sizeOf(id: number): number {
    return resolveSize(this, id);
  }

  /** Alignment in bytes, like libbpf's `btf__align_of`. */
  alignOf(id: number): number {
    return resolveAlign(this, id);
  }

  /** Follow VOLATILE/CONST/RESTRICT/TYPE_TAG. */
  skipQualifiers(id: number): number {
    return skipModifiers(this, id, false);
  }

  /** Follow TYPEDEF and qualifiers (libbpf's `skip_mods_and_typedefs`). */
  skipTypedefs(id: number): number {
    return skipModifiers(this, id, true);
  }

  // Convenience constructors for each kind.

  /**
   * `BTF_KIND_INT`: `bits` defaults to the whole size. The kernel takes at
   * most one of `signed`, `char` and `bool` (clang gives `char` just `signed`).
   */
  int(
    name: string,
    size: number,
    options: {
      signed?: boolean;
      char?: boolean;
      bool?: boolean;
      bits?: number;
      bitOffset?: number;
    } = {},
  ): number {
    const encoding = (options.signed ? BtfIntEncoding.SIGNED : 0) |
      (options.char ? BtfIntEncoding.CHAR : 0) | (options.bool ? BtfIntEncoding.BOOL : 0);
    return this.add({
      kind: BtfKind.INT,
      name,
      size,
      encoding,
      bitOffset: options.bitOffset ?? 0,
      bits: options.bits ?? size * 8,
    });
  }

  /** `BTF_KIND_PTR` to `type`. */
  pointer(type: number): number {
    return this.add({ kind: BtfKind.PTR, name: "", type });
  }

  /**
   * `BTF_KIND_ARRAY` of `nelems` × `type`; the index type defaults to the
   * 4-byte `__ARRAY_SIZE_TYPE__` clang and pahole use (found or added).
   */
  array(type: number, nelems: number, options: { indexType?: number } = {}): number {
    const indexType = options.indexType ?? this.#arrayIndexType();
    return this.add({ kind: BtfKind.ARRAY, name: "", type, indexType, nelems });
  }

  /** `BTF_KIND_STRUCT`, laid out with C rules where offsets or the size are not given. */
  struct(name: string, members: MemberInit[], options: CompositeOptions = {}): number {
    return this.add(this.#layout(BtfKind.STRUCT, name, members, options));
  }

  /** `BTF_KIND_UNION`: every member at offset 0 unless given. */
  union(name: string, members: MemberInit[], options: CompositeOptions = {}): number {
    return this.add(this.#layout(BtfKind.UNION, name, members, options));
  }

  /** `BTF_KIND_ENUM`; signed when asked or when a value is negative. */
  enum(
    name: string,
    values: BtfEnumValue[] | Record<string, number>,
    options: { size?: number; signed?: boolean } = {},
  ): number {
    const list = Array.isArray(values)
      ? values.map((v) => ({ name: v.name, value: v.value }))
      : Object.entries(values).map(([n, value]) => ({ name: n, value }));
    const signed = options.signed ?? list.some((v) => v.value < 0);
    return this.add({ kind: BtfKind.ENUM, name, size: options.size ?? 4, signed, values: list });
  }

  /** `BTF_KIND_ENUM64`; signed when asked or when a value is negative. */
  enum64(
    name: string,
    values: BtfEnum64Value[] | Record<string, bigint>,
    options: { size?: number; signed?: boolean } = {},
  ): number {
    const list = Array.isArray(values)
      ? values.map((v) => ({ name: v.name, value: v.value }))
      : Object.entries(values).map(([n, value]) => ({ name: n, value }));
    const signed = options.signed ?? list.some((v) => v.value < 0n);
    return this.add({ kind: BtfKind.ENUM64, name, size: options.size ?? 8, signed, values: list });
  }

  /** `BTF_KIND_FWD`: `struct name;`, or `union name;`. */
  fwd(name: string, options: { union?: boolean } = {}): number {
    return this.add({ kind: BtfKind.FWD, name, union: options.union ?? false });
  }

  /** `BTF_KIND_TYPEDEF`. */
  typedef(name: string, type: number): number {
    return this.add({ kind: BtfKind.TYPEDEF, name, type });
  }

  /** `BTF_KIND_CONST`. */
  const(type: number): number {
    return this.add({ kind: BtfKind.CONST, name: "", type });
  }

  /** `BTF_KIND_VOLATILE`. */
  volatile(type: number): number {
    return this.add({ kind: BtfKind.VOLATILE, name: "", type });
  }

  /** `BTF_KIND_RESTRICT`. */
  restrict(type: number): number {
    return this.add({ kind: BtfKind.RESTRICT, name: "", type });
  }

  /** `BTF_KIND_TYPE_TAG` named `name` on `type`. */
  typeTag(name: string, type: number): number {
    return this.add({ kind: BtfKind.TYPE_TAG, name, type });
  }

  /** `BTF_KIND_FUNC` of a FUNC_PROTO; linkage defaults to static. */
  func(name: string, proto: number, linkage: number = BtfFuncLinkage.STATIC): number {
    return this.add({ kind: BtfKind.FUNC, name, type: proto, linkage });
  }

  /** `BTF_KIND_FUNC_PROTO`; `variadic` appends the `...` parameter. */
  funcProto(returnType: number, params: BtfParam[], options: { variadic?: boolean } = {}): number {
    const list = params.map((p) => ({ name: p.name, type: p.type }));
    if (options.variadic) list.push({ name: "", type: 0 });
    return this.add({ kind: BtfKind.FUNC_PROTO, name: "", returnType, params: list });
  }

  /** `BTF_KIND_VAR`; linkage defaults to global allocated. */
  variable(name: string, type: number, linkage: number = BtfVarLinkage.GLOBAL_ALLOCATED): number {
    return this.add({ kind: BtfKind.VAR, name, type, linkage });
  }

  /** `BTF_KIND_DATASEC`; the size defaults to the end of the last variable. */
  datasec(name: string, vars: BtfVarSecinfo[], size?: number): number {
    const list = vars.map((v) => ({ type: v.type, offset: v.offset, size: v.size }));
    const end = list.reduce((max, v) => Math.max(max, v.offset + v.size), 0);
    return this.add({ kind: BtfKind.DATASEC, name, size: size ?? end, vars: list });
  }

  /** `BTF_KIND_FLOAT`. */
  float(name: string, size: number): number {
    return this.add({ kind: BtfKind.FLOAT, name, size });
  }

  /** `BTF_KIND_DECL_TAG` on `type`, or on its member/parameter `componentIdx`. */
  declTag(name: string, type: number, componentIdx = -1): number {
    return this.add({ kind: BtfKind.DECL_TAG, name, type, componentIdx });
  }

  #push(t: BtfType): void {
    if (t.kind === BtfKind.UNKN) {
      throw new BtfError("BTF_BAD_TYPE", "void (kind UNKN) is type 0 and can't be added");
    }
    internNames(this.strings, t);
    this.#types.push(t);
    this.#names = undefined;
  }

  #arrayIndexType(): number {
    if (this.#indexTypeId !== 0) return this.#indexTypeId;
    const existing = this.idsByName(ARRAY_INDEX_TYPE_NAME).find((id) => {
      const t = this.type(id);
      return t.kind === BtfKind.INT && t.size === 4;
    });
    this.#indexTypeId = existing ?? this.int(ARRAY_INDEX_TYPE_NAME, 4);
    return this.#indexTypeId;
  }

  /**
   * C layout (the SysV rules clang follows for BPF): a member goes at the
   * next multiple of its alignment; a bitfield goes right after the previous
   * one unless it would straddle a unit of its type's size; the size rounds
   * up to the largest alignment.
   */
  #layout(
    kind: typeof BtfKind.STRUCT | typeof BtfKind.UNION,
    name: string,
    members: MemberInit[],
    options: CompositeOptions,
  ): Omit<BtfComposite, "id"> {
    const union = kind === BtfKind.UNION;
    let bit = 0; // next free bit (struct) / largest extent (union)
    let align = 1;
    // With every offset and the size given, member types may be forward references.
    const needLayout = options.size === undefined || members.some((m) => m.bitOffset === undefined);
    const out = members.map((m, i) => {
      const bitfieldSize = m.bitfieldSize ?? 0;
      let bitOffset = m.bitOffset;
      const size = needLayout ? this.#memberSize(m.type, name, i) : 0;
      const memberAlign = options.packed || !needLayout ? 1 : this.alignOf(m.type);
      align = Math.max(align, memberAlign);
      if (bitOffset === undefined) {
        if (union) bitOffset = 0;
        else if (bitfieldSize === 0) bitOffset = roundUp(bit, memberAlign * 8);
        else {
          const unit = size * 8;
          bitOffset = bit;
          const straddles = unit > 0 &&
            Math.floor(bitOffset / unit) !== Math.floor((bitOffset + bitfieldSize - 1) / unit);
          if (straddles && !options.packed) bitOffset = roundUp(bitOffset, unit);
        }
      }
      const extent = bitOffset + (bitfieldSize !== 0 ? bitfieldSize : size * 8);
      bit = Math.max(bit, extent);
      return { name: m.name, type: m.type, bitOffset, bitfieldSize };
    });
    const size = options.size ?? roundUp(Math.ceil(bit / 8), align);
    const kindFlag = options.kindFlag ?? out.some((m) => m.bitfieldSize !== 0);
    return { kind, name, size, members: out, kindFlag };
  }

  #memberSize(type: number, composite: string, index: number): number {
    try {
      return this.sizeOf(type);
    } catch (err) {
      if (!(err instanceof BtfError)) throw err;
      throw new BtfError(
        "BTF_BAD_TYPE",
        `${composite || "(anon)"} member #${index}: can't lay out type ${type}: ${err.detail}`,
        { cause: err },
      );
    }
  }
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** A copy of a type's arrays, so later edits by the caller don't reach the builder. */
function copyType(t: BtfTypeInit): BtfTypeInit {
  switch (t.kind) {
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      return { ...t, members: t.members.map((m) => ({ ...m })) };
    case BtfKind.ENUM:
      return { ...t, values: t.values.map((v) => ({ ...v })) };
    case BtfKind.ENUM64:
      return { ...t, values: t.values.map((v) => ({ ...v })) };
    case BtfKind.FUNC_PROTO:
      return { ...t, params: t.params.map((p) => ({ ...p })) };
    case BtfKind.DATASEC:
      return { ...t, vars: t.vars.map((v) => ({ ...v })) };
    default:
      return { ...t };
  }
}

/** Intern every name a type carries. */
function internNames(strings: BtfStringTable, t: BtfType): void {
  if (typeof t.name !== "string") {
    throw new BtfError("BTF_BAD_TYPE", `type ${t.id}: name is not a string`);
  }
  strings.add(t.name);
  switch (t.kind) {
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      for (const m of t.members) strings.add(m.name);
      break;
    case BtfKind.ENUM:
    case BtfKind.ENUM64:
      for (const v of t.values) strings.add(v.name);
      break;
    case BtfKind.FUNC_PROTO:
      for (const p of t.params) strings.add(p.name);
      break;
  }
}
