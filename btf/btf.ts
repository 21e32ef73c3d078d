/**
 * The BTF parser: a lazy, bounds-checked view of a `.BTF` blob.
 *
 * `Btf.parse` checks the header and walks the type section once, recording
 * where each type starts; types and strings are decoded on first use and
 * cached. Both byte orders, split BTF (kernel modules) and the layout
 * section (which lets kinds this parser does not know be skipped) are
 * supported.
 *
 * ```ts
 * import { Btf } from "./btf.ts";
 * import { BtfKind } from "./types.ts";
 *
 * const btf = Btf.parse(await Deno.readFile("/sys/kernel/btf/vmlinux"));
 * const task = btf.typeByName("task_struct", BtfKind.STRUCT);
 * console.log(btf.lastId, btf.sizeOf(task.id), btf.alignOf(task.id));
 * ```
 *
 * @module
 */

import { BtfError } from "../errors/mod.ts";
import {
  type BtfHeaderInfo,
  type BtfLayout,
  type BtfTypeIndex,
  indexTypes,
  isKnownKind,
  parseHeader,
  readLayout,
} from "./_index.ts";
import { StringTable } from "./_strings.ts";
import { type AlignMemo, resolveAlign, resolveSize, skipModifiers } from "./_resolve.ts";
import {
  type BtfComposite,
  type BtfDatasec,
  type BtfEnum,
  type BtfEnum64,
  type BtfEnum64Value,
  type BtfEnumValue,
  type BtfFuncProto,
  BtfKind,
  btfKindName,
  type BtfMember,
  type BtfParam,
  type BtfType,
  type BtfVarSecinfo,
  type BtfVoid,
} from "./types.ts";

/** Options for {@link Btf.parse}. */
export interface BtfParseOptions {
  /**
   * The base of split BTF (e.g. vmlinux for a kernel module's BTF): type
   * IDs continue after its last ID, and string offsets below the length of
   * its string section resolve in it.
   */
  base?: Btf;
}

/** How many {@link Btf.idsByName} calls scan the types before the name index is built. */
const NAME_SCANS = 8;
/** Blobs with more types (vmlinux) build the index at once: they serve many lookups. */
const NAME_SCAN_MAX = 1 << 14;

/** The names libbpf's `determine_ptr_size` takes for `long`. */
const LONG_NAMES = new Set([
  "long",
  "long int",
  "int long",
  "unsigned long",
  "long unsigned",
  "unsigned long int",
  "unsigned int long",
  "long unsigned int",
  "long int unsigned",
  "int unsigned long",
  "int long unsigned",
]);

const VOID: BtfVoid = Object.freeze({ kind: BtfKind.UNKN, id: 0, name: "" });

/**
 * A parsed `.BTF` blob.
 *
 * Types are plain objects referring to each other by type ID (see
 * `types.ts`). Every accessor that takes a type ID throws a
 * {@link BtfError} (`BTF_BAD_TYPE_ID`) for an ID out of range, and every
 * malformation found on the way (a name offset past the string section, a
 * reference to a type that does not exist, a typedef loop) is a
 * {@link BtfError} naming the type ID and its byte offset in the blob.
 *
 * Kinds this parser does not know can only appear when the blob has a
 * layout section to size them: they keep their ID and {@link kindOf} and
 * {@link nameOf} work, but {@link type} throws `BTF_UNKNOWN_KIND` for them
 * and {@link types} / {@link decodeAll} skip them.
 */
export class Btf {
  /** Byte order of the blob, from its magic. */
  readonly littleEndian: boolean;
  /** The base this split BTF continues, if any. */
  readonly base?: Btf;
  /** First type ID of this blob: 1, or `base.lastId + 1` for split BTF. */
  readonly firstId: number;
  /** Highest valid type ID, counting the base's (`firstId - 1` when the blob has no types). */
  readonly lastId: number;
  /** The blob this was parsed from (not copied: don't modify it). */
  readonly bytes: Uint8Array;

  /** The type section as host-order words (see `indexTypes`). */
  readonly #words: Uint32Array;
  /**
   * Per type, at `2 * idx` the word index of its record in `#words` and at
   * `2 * idx + 1` its kind: one array, as every typed array made costs.
   */
  readonly #entries: Uint32Array;
  /** Indexes of the DATASECs, from the index walk. */
  readonly #datasecs: number[];
  /** Byte offset of the type section in the blob, for messages. */
  readonly #typeStart: number;
  readonly #count: number;
  readonly #strings: StringTable;
  /** libbpf's `start_str_off`: string offsets below it belong to the base. */
  readonly #strBase: number;
  readonly #layout?: BtfLayout;
  readonly #types: (BtfType | undefined)[];
  #overrides?: Map<number, BtfType>;
  /**
   * Whether some override has another kind than its record: until then
   * `#entries` answers kind questions alone, without a look in `#overrides`
   * (the DATASEC fixup replaces a type on nearly every load).
   */
  #kindChanged = false;
  #names?: Map<string, number | number[]>;
  /** Flavoured names (`foo___v2`) by essential name, built with `#names`. */
  #flavours?: Map<string, number[]>;
  #alignMemo?: AlignMemo;
  #pointerSize = 0;
  /** Name lookups answered by a scan so far (see {@link idsByName}). */
  #scans = 0;

  private constructor(
    bytes: Uint8Array,
    header: BtfHeaderInfo,
    index: BtfTypeIndex,
    base: Btf | undefined,
    layout: BtfLayout | undefined,
  ) {
    this.bytes = bytes;
    this.littleEndian = header.littleEndian;
    this.base = base;
    this.#words = index.words;
    this.#entries = index.entries;
    this.#datasecs = index.datasecs;
    this.#typeStart = header.typeStart;
    this.#count = index.count;
    this.firstId = base === undefined ? 1 : base.lastId + 1;
    this.lastId = this.firstId + this.#count - 1;
    this.#strings = new StringTable(bytes, header.strStart, header.strLen);
    this.#strBase = base === undefined ? 0 : base.#strBase + base.#strings.length;
    this.#layout = layout;
    this.#types = new Array(this.#count);
  }

  /**
   * Parse a `.BTF` blob (either byte order, decided by the magic).
   *
   * Lazy: checks the header and section bounds and indexes where each type
   * starts; decodes no type and no string. Throws a {@link BtfError} for a
   * malformed header, a type running past its section, or a kind that
   * neither this parser nor the blob's layout section can size.
   */
  static parse(bytes: Uint8Array, options?: BtfParseOptions): Btf {
    const base = options?.base;
    const header = parseHeader(bytes, base !== undefined);
    // Split BTF without its own layout shares the base's (libbpf does the same).
    const layout = readLayout(bytes, header) ?? (base === undefined ? undefined : base.#layout);
    const index = indexTypes(bytes, header, {
      layout,
      firstId: base === undefined ? 1 : base.lastId + 1,
    });
    return new Btf(bytes, header, index, base, layout);
  }

  /**
   * The type with this ID, decoded on first use and cached; ID 0 is void.
   * IDs below {@link firstId} are the base's. A reference to a type ID past
   * {@link lastId} is reported here (`BTF_BAD_TYPE_ID`, naming the
   * referring type).
   */
  type(id: number): BtfType {
    const idx = id - this.firstId;
    if ((idx >>> 0) === idx && idx < this.#count) {
      return this.#types[idx] ?? this.#decode(idx);
    }
    if (id === 0) return VOID;
    if (this.base !== undefined && (id >>> 0) === id && id < this.firstId) {
      return this.base.type(id);
    }
    throw this.#badId(id);
  }

  /** The kind of a type, from the index (no decode). Kinds this parser does not know come back as their number. */
  kindOf(id: number): BtfKind {
    const idx = id - this.firstId;
    if ((idx >>> 0) === idx && idx < this.#count) {
      if (!this.#kindChanged) return this.#entries[2 * idx + 1] as BtfKind;
      const override = this.#overrides?.get(id);
      return (override !== undefined ? override.kind : this.#entries[2 * idx + 1]) as BtfKind;
    }
    if (id === 0) return BtfKind.UNKN;
    if (this.base !== undefined && (id >>> 0) === id && id < this.firstId) {
      return this.base.kindOf(id);
    }
    throw this.#badId(id);
  }

  /**
   * IDs of this blob's types (not the base's) of kind `kind`, ascending,
   * as {@link kindOf} sees them. Reads the index alone: nothing is decoded.
   */
  idsOfKind(kind: BtfKind): number[] {
    const firstId = this.firstId;
    if (kind === BtfKind.DATASEC && !this.#kindChanged) {
      const datasecs = this.#datasecs;
      const ids: number[] = new Array(datasecs.length);
      for (let i = 0; i < datasecs.length; i++) ids[i] = firstId + datasecs[i];
      return ids;
    }
    const ids: number[] = [];
    if (this.#kindChanged) {
      for (let idx = 0; idx < this.#count; idx++) {
        if (this.kindOf(firstId + idx) === kind) ids.push(firstId + idx);
      }
      return ids;
    }
    const entries = this.#entries;
    for (let idx = 0; idx < this.#count; idx++) {
      if (entries[2 * idx + 1] === kind) ids.push(firstId + idx);
    }
    return ids;
  }

  /** The name of a type ("" when anonymous), from the index and the string section (no full decode). */
  nameOf(id: number): string {
    const idx = id - this.firstId;
    if ((idx >>> 0) === idx && idx < this.#count) {
      const decoded = this.#types[idx];
      if (decoded !== undefined) return decoded.name;
      return this.#name(this.#words[this.#entries[2 * idx]], idx);
    }
    if (id === 0) return "";
    if (this.base !== undefined && (id >>> 0) === id && id < this.firstId) {
      return this.base.nameOf(id);
    }
    throw this.#badId(id);
  }

  /**
   * The string at `offset` in the string section (split-aware: offsets
   * below the base's string section length are the base's). Throws
   * `BTF_BAD_STRING_OFFSET` for an offset outside it.
   */
  string(offset: number): string {
    const s = this.#lookupString(offset);
    if (s === undefined) {
      throw new BtfError(
        "BTF_BAD_STRING_OFFSET",
        `string offset ${offset} is outside the string section (${
          this.#strBase + this.#strings.length
        } bytes${this.base === undefined ? "" : " with the base's"})`,
      );
    }
    return s;
  }

  /** Every type ID with exactly this name, ascending (base IDs first). The name index is built on the first call. */
  idsByName(name: string): number[] {
    // The first few lookups in an object's small blob scan it: a load often
    // asks for one or two names (a DATASEC, say), and a scan costs a
    // fraction of building the whole index. Later lookups build it.
    if (this.#names === undefined && this.#scans < NAME_SCANS && this.#count <= NAME_SCAN_MAX) {
      this.#scans++;
      const base = this.base === undefined ? [] : this.base.idsByName(name);
      return this.#scanName(name, base);
    }
    const own = this.#nameIndex().get(name);
    const base = this.base === undefined ? [] : this.base.idsByName(name);
    if (own === undefined) return base;
    if (typeof own === "number") {
      base.push(own);
      return base;
    }
    return base.length === 0 ? own.slice() : base.concat(own);
  }

  /**
   * The one type with this name (and kind, when given). Throws
   * `BTF_NOT_FOUND` when there is none and `BTF_AMBIGUOUS` when there are
   * several.
   */
  typeByName(name: string, kind?: BtfKind): BtfType {
    let ids = this.idsByName(name);
    if (kind !== undefined) ids = ids.filter((id) => this.kindOf(id) === kind);
    const what = kind === undefined ? `"${name}"` : `${btfKindName(kind)} "${name}"`;
    if (ids.length === 0) throw new BtfError("BTF_NOT_FOUND", `no type ${what}`);
    if (ids.length > 1) {
      throw new BtfError(
        "BTF_AMBIGUOUS",
        `${ids.length} types ${what}: IDs ${ids.slice(0, 8).join(", ")}${
          ids.length > 8 ? ", …" : ""
        }`,
      );
    }
    return this.type(ids[0]);
  }

  /**
   * CO-RE candidates: every type ID whose {@link essentialName} is `name`
   * (so `task_struct` finds `task_struct` and `task_struct___v2`),
   * ascending, base IDs first. `name` is taken as it is: pass an essential
   * name.
   */
  idsByEssentialName(name: string): number[] {
    const exact = this.#nameIndex().get(name);
    const flavoured = this.#flavours!.get(name);
    const base = this.base === undefined ? [] : this.base.idsByEssentialName(name);
    const own: number[] = exact === undefined
      ? []
      : typeof exact === "number"
      ? [exact]
      : exact.slice();
    if (flavoured !== undefined) {
      for (const id of flavoured) own.push(id);
      own.sort((a, b) => a - b);
    }
    return base.length === 0 ? own : base.concat(own);
  }

  /**
   * Every type of this blob (not the base's) in ID order, decoded.
   * Overrides from {@link replaceType} are yielded in place of the
   * original; types of kinds this parser does not know are skipped.
   */
  *types(): IterableIterator<BtfType> {
    for (let idx = 0; idx < this.#count; idx++) {
      if (this.#decodable(idx)) yield this.type(this.firstId + idx);
    }
  }

  /**
   * Decode every type of this blob (the "full decode" mode), checking every
   * name offset and type reference. Types of kinds this parser does not
   * know are left alone.
   */
  decodeAll(): void {
    for (let idx = 0; idx < this.#count; idx++) {
      if (this.#types[idx] === undefined && isKnownKind(this.#entries[2 * idx + 1])) {
        this.#decode(idx);
      }
    }
  }

  /** IDs of the types {@link replaceType} replaced, ascending. */
  replacedIds(): number[] {
    return this.#overrides === undefined ? [] : [...this.#overrides.keys()].sort((a, b) => a - b);
  }

  /**
   * Replace a type of this blob (not the base's): {@link type},
   * {@link types}, {@link kindOf}, {@link nameOf}, the name index and the
   * size helpers see `type` from now on. Used to fix up DATASEC sizes and
   * variable offsets. `type.id` must be `id`.
   */
  replaceType(id: number, type: BtfType): void {
    const idx = id - this.firstId;
    if (!((idx >>> 0) === idx && idx < this.#count)) {
      throw new BtfError(
        "BTF_BAD_TYPE_ID",
        `can't replace type ${id}: this blob's types are ${this.firstId}..${this.lastId}`,
      );
    }
    if (type.id !== id) {
      throw new BtfError(
        "BTF_BAD_OVERRIDE",
        `can't replace type ${id} with a type whose id is ${type.id}`,
      );
    }
    (this.#overrides ??= new Map()).set(id, type);
    if (type.kind !== this.#entries[2 * idx + 1]) this.#kindChanged = true;
    this.#types[idx] = type;
    this.#names = undefined;
    this.#flavours = undefined;
    this.#alignMemo = undefined;
  }

  /**
   * Size in bytes, resolved through typedefs, qualifiers, VARs, DECL_TAGs
   * and arrays like libbpf's `btf__resolve_size`. Throws `BTF_NO_SIZE` for
   * void, FWD, FUNC and FUNC_PROTO, `BTF_SIZE_OVERFLOW` past 4 GiB,
   * `BTF_LOOP` after 32 hops.
   */
  sizeOf(id: number): number {
    return resolveSize(this, id);
  }

  /**
   * Alignment in bytes like libbpf's `btf__align_of`: integers, enums and
   * floats align to their size capped at the pointer size; a struct or
   * union to its largest member's alignment, or 1 when a member offset or
   * the size shows it is packed. Throws `BTF_NO_ALIGNMENT` for kinds
   * without one and `BTF_LOOP` for a struct containing itself.
   */
  alignOf(id: number): number {
    // Composites of the base are remembered by the base.
    const owner = id < this.firstId && this.base !== undefined ? this.base : this;
    owner.#alignMemo ??= new Map();
    return resolveAlign(this, id, owner.#alignMemo);
  }

  /** Follow VOLATILE, CONST, RESTRICT and TYPE_TAG from `id`; returns the first other type's ID. */
  skipQualifiers(id: number): number {
    return skipModifiers(this, id, false);
  }

  /** Follow TYPEDEF and qualifiers from `id` (libbpf's `skip_mods_and_typedefs`); returns the first other type's ID. */
  skipTypedefs(id: number): number {
    return skipModifiers(this, id, true);
  }

  /**
   * Pointer size of the BTF's target, as libbpf's `determine_ptr_size`
   * guesses it: the size (4 or 8) of an INT named `long` or a spelling of
   * it, looked for in the base first for split BTF; 8 when there is none.
   */
  get pointerSize(): number {
    if (this.#pointerSize !== 0) return this.#pointerSize;
    let size = 0;
    if (this.base !== undefined) size = this.base.#guessPointerSize();
    if (size === 0) size = this.#guessPointerSize();
    this.#pointerSize = size === 0 ? 8 : size;
    return this.#pointerSize;
  }

  #guessPointerSize(): number {
    const words = this.#words;
    for (let idx = 0; idx < this.#count; idx++) {
      if (this.#entries[2 * idx + 1] !== BtfKind.INT) continue;
      const w = this.#entries[2 * idx];
      const size = words[w + 2];
      if (size !== 4 && size !== 8) continue;
      const name = this.#lookupString(words[w]);
      if (name !== undefined && LONG_NAMES.has(name)) return size;
    }
    return 0;
  }

  #decodable(idx: number): boolean {
    return isKnownKind(this.#entries[2 * idx + 1]) ||
      this.#overrides?.has(this.firstId + idx) === true;
  }

  /**
   * Append to `out` the IDs of this blob's types named `name`, ascending.
   * An ASCII name is compared with the string section's bytes in place, so
   * a scan builds no strings; offsets outside the section are reported as
   * the name index reports them.
   */
  #scanName(name: string, out: number[]): number[] {
    if (name === "") return out;
    const words = this.#words;
    const strings = this.#strings;
    const strBase = this.#strBase;
    const inPlace = isAsciiText(name);
    for (let idx = 0; idx < this.#count; idx++) {
      const decoded = this.#types[idx];
      if (decoded !== undefined) {
        if (decoded.name === name) out.push(this.firstId + idx);
        continue;
      }
      const nameOff = words[this.#entries[2 * idx]];
      if (nameOff === 0) continue;
      const rel = nameOff - strBase;
      if (inPlace && rel >= 0 && rel < strings.length) {
        if (strings.equalsAscii(rel, name)) out.push(this.firstId + idx);
      } else if (this.#name(nameOff, idx) === name) out.push(this.firstId + idx);
    }
    return out;
  }

  #nameIndex(): Map<string, number | number[]> {
    if (this.#names !== undefined) return this.#names;
    const names = new Map<string, number | number[]>();
    const flavours = new Map<string, number[]>();
    const words = this.#words;
    for (let idx = 0; idx < this.#count; idx++) {
      const id = this.firstId + idx;
      // Decoded types (overrides included) already hold their name.
      const decoded = this.#types[idx];
      let name: string;
      if (decoded !== undefined) name = decoded.name;
      else {
        const nameOff = words[this.#entries[2 * idx]];
        if (nameOff === 0) continue;
        name = this.#name(nameOff, idx);
      }
      if (name === "") continue;
      const prev = names.get(name);
      if (prev === undefined) names.set(name, id);
      else if (typeof prev === "number") names.set(name, [prev, id]);
      else prev.push(id);
      // Most names have no flavour; indexOf is much cheaper than the scan.
      const essential = name.indexOf("___") < 0 ? name : essentialName(name);
      if (essential !== name) {
        const list = flavours.get(essential);
        if (list === undefined) flavours.set(essential, [id]);
        else list.push(id);
      }
    }
    this.#flavours = flavours;
    this.#names = names;
    return names;
  }

  #lookupString(offset: number): string | undefined {
    if (offset < this.#strBase && this.base !== undefined) return this.base.#lookupString(offset);
    return this.#strings.get(offset - this.#strBase);
  }

  /** Byte offset in the blob of word `w` of the type section. */
  #at(w: number): number {
    return this.#typeStart + 4 * w;
  }

  /** The name at `nameOff` for the type at `idx`; a bad offset is reported against the type. */
  #name(nameOff: number, idx: number): string {
    const s = nameOff === 0 && this.#strBase === 0 ? "" : this.#lookupString(nameOff);
    if (s !== undefined) return s;
    const at = this.#at(this.#entries[2 * idx]);
    throw new BtfError(
      "BTF_BAD_STRING_OFFSET",
      `type [${
        this.firstId + idx
      }] at offset ${at}: name offset ${nameOff} is outside the string section ` +
        `(${this.#strBase + this.#strings.length} bytes${
          this.base === undefined ? "" : " with the base's"
        })`,
      { offset: at },
    );
  }

  /** The name of a member, enumerator or parameter (word `w` of the type section). */
  #elemName(idx: number, w: number, what: string): string {
    const nameOff = this.#words[w];
    const s = nameOff === 0 && this.#strBase === 0 ? "" : this.#lookupString(nameOff);
    if (s !== undefined) return s;
    throw new BtfError(
      "BTF_BAD_STRING_OFFSET",
      `${this.#where(idx)}: ${what}'s name offset ${nameOff} is outside the string section`,
      { offset: this.#at(w) },
    );
  }

  #where(idx: number): string {
    return `type [${this.firstId + idx}] ${btfKindName(this.#entries[2 * idx + 1])} at offset ${
      this.#at(this.#entries[2 * idx])
    }`;
  }

  #badRef(idx: number, ref: number, what: string, w: number): BtfError {
    return new BtfError(
      "BTF_BAD_TYPE_ID",
      `${this.#where(idx)}: ${what} refers to type ${ref}, past the last type ${this.lastId}`,
      { offset: this.#at(w) },
    );
  }

  #badId(id: number): BtfError {
    return new BtfError(
      "BTF_BAD_TYPE_ID",
      `type ID ${id} is out of range: valid IDs are 0..${this.lastId}`,
    );
  }

  #describe(t: BtfType): string {
    if (t.id === 0) return "void";
    return `${btfKindName(t.kind)}${t.name === "" ? "" : ` '${t.name}'`}`;
  }

  #decode(idx: number): BtfType {
    const kind = this.#entries[2 * idx + 1];
    const id = this.firstId + idx;
    const w = this.#entries[2 * idx];
    if (!isKnownKind(kind)) {
      throw new BtfError(
        "BTF_UNKNOWN_KIND",
        `type [${id}] at offset ${this.#at(w)} has kind ${kind}, which this parser can't decode ` +
          `(the layout section only gives its size)`,
        { offset: this.#at(w) },
      );
    }
    const words = this.#words;
    const last = this.lastId;
    const info = words[w + 1];
    const vlen = info & 0xffff;
    const kflag = info >>> 31 === 1;
    const sizeOrType = words[w + 2];
    const name = this.#name(words[w], idx);
    const p = w + 3;
    let t: BtfType;
    switch (kind) {
      case BtfKind.INT: {
        const enc = words[p];
        t = {
          kind,
          id,
          name,
          size: sizeOrType,
          encoding: (enc >>> 24) & 0x0f,
          bitOffset: (enc >>> 16) & 0xff,
          bits: enc & 0xff,
        };
        break;
      }
      case BtfKind.PTR:
      case BtfKind.TYPEDEF:
      case BtfKind.VOLATILE:
      case BtfKind.CONST:
      case BtfKind.RESTRICT:
      case BtfKind.TYPE_TAG:
        if (sizeOrType > last) throw this.#badRef(idx, sizeOrType, "it", w + 2);
        t = kind === BtfKind.TYPE_TAG && kflag
          ? { kind, id, name, type: sizeOrType, attribute: true }
          : { kind, id, name, type: sizeOrType };
        break;
      case BtfKind.ARRAY: {
        const type = words[p];
        const indexType = words[p + 1];
        if (type > last) throw this.#badRef(idx, type, "its element type", p);
        if (indexType > last) throw this.#badRef(idx, indexType, "its index type", p + 1);
        t = { kind, id, name, type, indexType, nelems: words[p + 2] };
        break;
      }
      case BtfKind.STRUCT:
      case BtfKind.UNION: {
        const members: BtfMember[] = new Array(vlen);
        for (let i = 0, q = p; i < vlen; i++, q += 3) {
          const type = words[q + 1];
          if (type > last) throw this.#badRef(idx, type, `member ${i}`, q + 1);
          const offset = words[q + 2];
          members[i] = {
            name: this.#elemName(idx, q, `member ${i}`),
            type,
            bitOffset: kflag ? offset & 0xffffff : offset,
            bitfieldSize: kflag ? offset >>> 24 : 0,
          };
        }
        t = { kind, id, name, size: sizeOrType, members, kindFlag: kflag } as BtfComposite;
        break;
      }
      case BtfKind.ENUM: {
        const values: BtfEnumValue[] = new Array(vlen);
        for (let i = 0, q = p; i < vlen; i++, q += 2) {
          values[i] = {
            name: this.#elemName(idx, q, `enumerator ${i}`),
            value: kflag ? words[q + 1] | 0 : words[q + 1],
          };
        }
        t = { kind, id, name, size: sizeOrType, signed: kflag, values } as BtfEnum;
        break;
      }
      case BtfKind.ENUM64: {
        const values: BtfEnum64Value[] = new Array(vlen);
        for (let i = 0, q = p; i < vlen; i++, q += 3) {
          const raw = (BigInt(words[q + 2]) << 32n) | BigInt(words[q + 1]);
          values[i] = {
            name: this.#elemName(idx, q, `enumerator ${i}`),
            value: kflag ? BigInt.asIntN(64, raw) : raw,
          };
        }
        t = { kind, id, name, size: sizeOrType, signed: kflag, values } as BtfEnum64;
        break;
      }
      case BtfKind.FWD:
        t = { kind, id, name, union: kflag };
        break;
      case BtfKind.FUNC:
        if (sizeOrType > last) throw this.#badRef(idx, sizeOrType, "its prototype", w + 2);
        t = { kind, id, name, type: sizeOrType, linkage: vlen };
        break;
      case BtfKind.FUNC_PROTO: {
        if (sizeOrType > last) throw this.#badRef(idx, sizeOrType, "its return type", w + 2);
        const params: BtfParam[] = new Array(vlen);
        for (let i = 0, q = p; i < vlen; i++, q += 2) {
          const type = words[q + 1];
          if (type > last) throw this.#badRef(idx, type, `parameter ${i}`, q + 1);
          params[i] = { name: this.#elemName(idx, q, `parameter ${i}`), type };
        }
        t = { kind, id, name, returnType: sizeOrType, params } as BtfFuncProto;
        break;
      }
      case BtfKind.VAR:
        if (sizeOrType > last) throw this.#badRef(idx, sizeOrType, "it", w + 2);
        t = { kind, id, name, type: sizeOrType, linkage: words[p] };
        break;
      case BtfKind.DATASEC: {
        const vars: BtfVarSecinfo[] = new Array(vlen);
        for (let i = 0, q = p; i < vlen; i++, q += 3) {
          const type = words[q];
          if (type > last) throw this.#badRef(idx, type, `variable ${i}`, q);
          vars[i] = { type, offset: words[q + 1], size: words[q + 2] };
        }
        t = { kind, id, name, size: sizeOrType, vars } as BtfDatasec;
        break;
      }
      case BtfKind.FLOAT:
        t = { kind, id, name, size: sizeOrType };
        break;
      default: // BtfKind.DECL_TAG, the one known kind left
        if (sizeOrType > last) throw this.#badRef(idx, sizeOrType, "it", w + 2);
        t = { kind: BtfKind.DECL_TAG, id, name, type: sizeOrType, componentIdx: words[p] | 0 };
        if (kflag) t.attribute = true;
        break;
    }
    this.#types[idx] = t;
    return t;
  }
}

function isAsciiText(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/**
 * The name without its CO-RE flavour: `task_struct___v2` → `task_struct`.
 * Like libbpf's `bpf_core_essential_name_len`, the flavour starts at the
 * last `___` that has a character other than `_` on both sides.
 */
export function essentialName(name: string): string {
  for (let i = name.length - 5; i >= 0; i--) {
    if (
      name.charCodeAt(i) !== 0x5f && name.charCodeAt(i + 1) === 0x5f &&
      name.charCodeAt(i + 2) === 0x5f && name.charCodeAt(i + 3) === 0x5f &&
      name.charCodeAt(i + 4) !== 0x5f
    ) return name.slice(0, i + 1);
  }
  return name;
}
