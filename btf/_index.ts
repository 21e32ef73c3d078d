/**
 * The `.BTF` header and the one pass over the type section that `Btf.parse`
 * does: it checks the header and section bounds, then records where each
 * type starts and what kind it is, sizing every record from its kind (or
 * from the layout section for kinds this parser does not know). Nothing is
 * decoded and no string is read.
 *
 * @module
 */

import { slabU32 } from "../internal/slab.ts";
import { BtfError } from "../errors/mod.ts";

/** `BTF_MAGIC`. */
export const BTF_MAGIC = 0xeb9f;
/** `BTF_VERSION`. */
export const BTF_VERSION = 1;
/** Size of the original header (`hdr_len` may be larger, never smaller). */
export const BTF_HEADER_MIN_LEN = 24;
/** Size of the header with `layout_off` and `layout_len`. */
export const BTF_HEADER_LAYOUT_LEN = 32;
/** `sizeof(struct btf_type)`: name_off, info, size/type. */
export const BTF_TYPE_LEN = 12;
/** `BTF_KIND_DATASEC`. */
const BTF_KIND_DATASEC = 15;
/** Highest kind this parser decodes (`BTF_KIND_ENUM64`). */
export const BTF_KIND_MAX_KNOWN = 19;

/**
 * Words after `struct btf_type` for each known kind (the single trailing
 * struct: the INT encoding word, btf_array, btf_var, btf_decl_tag).
 */
const INFO_WORDS = new Uint8Array([0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0]);
/**
 * Words per vlen element for each known kind (btf_member, btf_enum,
 * btf_param, btf_var_secinfo, btf_enum64).
 */
const ELEM_WORDS = new Uint8Array([0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3]);

/** Header fields and section bounds, as absolute offsets into the blob. */
export interface BtfHeaderInfo {
  littleEndian: boolean;
  hdrLen: number;
  flags: number;
  /** Absolute start and end of the type section. */
  typeStart: number;
  typeEnd: number;
  /** Absolute start and length of the string section. */
  strStart: number;
  strLen: number;
  /** Absolute start of the layout section and its number of entries (0: none). */
  layoutStart: number;
  layoutCount: number;
}

/** The layout section: `info_sz` and `elem_sz` per kind. */
export interface BtfLayout {
  infoSize: Uint8Array;
  elemSize: Uint8Array;
}

/** Where every type record of one blob starts and what kind it is, in ID order. */
export interface BtfTypeIndex {
  /**
   * The type section as 32-bit words in host byte order: a view of the blob
   * when it is aligned and in host order, else a (byte-swapped) copy.
   */
  words: Uint32Array;
  /**
   * Per type, at `2 * i` the index in `words` of its `struct btf_type` and
   * at `2 * i + 1` its kind (7 bits): one array rather than two, as making
   * a typed array costs in both engines (the first `2 * count` entries).
   */
  entries: Uint32Array;
  /** How many types there are; `entries` may be longer. */
  count: number;
  /**
   * Indexes (0-based, in ID order) of the DATASECs: loaders look for them
   * on every load, and noting them here spares a second walk.
   */
  datasecs: number[];
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * Check the header and the section bounds; `split` relaxes the string
 * section rules the way libbpf does for split BTF (it may be empty and need
 * not start with a NUL).
 */
export function parseHeader(bytes: Uint8Array, split: boolean): BtfHeaderInfo {
  const size = bytes.length;
  if (size < BTF_HEADER_MIN_LEN) {
    throw new BtfError(
      "BTF_TRUNCATED",
      `blob of ${size} bytes is shorter than the ${BTF_HEADER_MIN_LEN}-byte BTF header`,
      { offset: 0 },
    );
  }
  let littleEndian: boolean;
  if (bytes[0] === 0x9f && bytes[1] === 0xeb) littleEndian = true;
  else if (bytes[0] === 0xeb && bytes[1] === 0x9f) littleEndian = false;
  else {
    throw new BtfError(
      "BTF_BAD_MAGIC",
      `bad magic ${hex(bytes[0] | (bytes[1] << 8))}: not BTF (want ${hex(BTF_MAGIC)})`,
      { offset: 0 },
    );
  }
  if (bytes[2] !== BTF_VERSION) {
    throw new BtfError(
      "BTF_BAD_VERSION",
      `unsupported BTF version ${bytes[2]} (want ${BTF_VERSION})`,
      { offset: 2 },
    );
  }
  const le = littleEndian;
  // A handful of fields: byte reads, not a DataView made for them.
  const hdrLen = u32(bytes, 4, le);
  if (hdrLen < BTF_HEADER_MIN_LEN) {
    throw new BtfError(
      "BTF_BAD_HEADER",
      `hdr_len ${hdrLen} is shorter than the ${BTF_HEADER_MIN_LEN}-byte BTF header`,
      { offset: 4 },
    );
  }
  if (hdrLen > size) {
    throw new BtfError(
      "BTF_TRUNCATED",
      `hdr_len ${hdrLen} runs past the end of the ${size}-byte blob`,
      { offset: 4 },
    );
  }
  const typeOff = u32(bytes, 8, le);
  const typeLen = u32(bytes, 12, le);
  const strOff = u32(bytes, 16, le);
  const strLen = u32(bytes, 20, le);
  // Fields past the original 24 bytes only exist when hdr_len covers them.
  const hasLayoutFields = hdrLen >= BTF_HEADER_LAYOUT_LEN;
  const layoutOff = hasLayoutFields ? u32(bytes, 24, le) : 0;
  const layoutLen = hasLayoutFields ? u32(bytes, 28, le) : 0;
  // Section offsets are relative to the end of the header.
  const dataLen = size - hdrLen;

  checkSection("type", typeOff, typeLen, dataLen, 16);
  checkSection("string", strOff, strLen, dataLen, 16);
  if (typeOff % 4 !== 0) {
    throw new BtfError("BTF_BAD_SECTION", `type section offset ${typeOff} is not 4-byte aligned`, {
      offset: 8,
    });
  }
  let layoutCount = 0;
  if (layoutLen !== 0) {
    checkSection("layout", layoutOff, layoutLen, dataLen, 24);
    if (layoutOff % 4 !== 0) {
      throw new BtfError(
        "BTF_BAD_SECTION",
        `layout section offset ${layoutOff} is not 4-byte aligned`,
        { offset: 24 },
      );
    }
    if (layoutLen % 4 !== 0) {
      throw new BtfError(
        "BTF_BAD_LAYOUT",
        `layout section length ${layoutLen} is not a multiple of sizeof(struct btf_layout) (4)`,
        { offset: 28 },
      );
    }
    // libbpf's order: types, then layout, then strings; nothing overlaps.
    if (typeOff + typeLen > layoutOff) {
      throw new BtfError(
        "BTF_BAD_SECTION",
        `type section [${typeOff}, ${
          typeOff + typeLen
        }) overlaps or follows the layout section at ${layoutOff}`,
        { offset: 8 },
      );
    }
    if (layoutOff + layoutLen > strOff) {
      throw new BtfError(
        "BTF_BAD_SECTION",
        `layout section [${layoutOff}, ${
          layoutOff + layoutLen
        }) overlaps or follows the string section at ${strOff}`,
        { offset: 24 },
      );
    }
    layoutCount = layoutLen / 4;
  } else if (typeOff + typeLen > strOff) {
    throw new BtfError(
      "BTF_BAD_SECTION",
      `type section [${typeOff}, ${
        typeOff + typeLen
      }) overlaps or follows the string section at ${strOff}`,
      { offset: 8 },
    );
  }

  const strStart = hdrLen + strOff;
  if (!(split && strLen === 0)) {
    if (strLen === 0) {
      throw new BtfError("BTF_BAD_STRINGS", "string section is empty", { offset: 20 });
    }
    if (bytes[strStart + strLen - 1] !== 0) {
      throw new BtfError("BTF_BAD_STRINGS", "string section does not end with a NUL", {
        offset: strStart + strLen - 1,
      });
    }
    if (!split && bytes[strStart] !== 0) {
      throw new BtfError("BTF_BAD_STRINGS", "string section does not start with a NUL", {
        offset: strStart,
      });
    }
  }

  return {
    littleEndian,
    hdrLen,
    flags: bytes[3],
    typeStart: hdrLen + typeOff,
    typeEnd: hdrLen + typeOff + typeLen,
    strStart,
    strLen,
    layoutStart: hdrLen + layoutOff,
    layoutCount,
  };
}

/** A u32 at `at` (the caller checked the bounds). */
function u32(bytes: Uint8Array, at: number, le: boolean): number {
  return le
    ? (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0
    : ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

function checkSection(
  what: string,
  off: number,
  len: number,
  dataLen: number,
  fieldOffset: number,
): void {
  if (off + len > dataLen) {
    throw new BtfError(
      "BTF_BAD_SECTION",
      `${what} section [${off}, ${off + len}) runs past the ${dataLen} bytes after the header`,
      { offset: fieldOffset },
    );
  }
}

/** Read the layout section (`struct btf_layout { u8 info_sz; u8 elem_sz; u16 flags }`). */
export function readLayout(bytes: Uint8Array, header: BtfHeaderInfo): BtfLayout | undefined {
  if (header.layoutCount === 0) return undefined;
  const infoSize = new Uint8Array(header.layoutCount);
  const elemSize = new Uint8Array(header.layoutCount);
  for (let k = 0; k < header.layoutCount; k++) {
    infoSize[k] = bytes[header.layoutStart + 4 * k];
    elemSize[k] = bytes[header.layoutStart + 4 * k + 1];
  }
  return { infoSize, elemSize };
}

/**
 * The type section as host-order 32-bit words. Typed-array reads are what
 * engines optimise best (and interpret fastest), so a foreign-endian or
 * misaligned section is copied once rather than read through DataView.
 */
function typeWords(bytes: Uint8Array, header: BtfHeaderInfo): Uint32Array {
  const start = bytes.byteOffset + header.typeStart;
  const count = (header.typeEnd - header.typeStart) >>> 2;
  if (header.littleEndian === HOST_LITTLE_ENDIAN && start % 4 === 0) {
    return new Uint32Array(bytes.buffer, start, count);
  }
  const words = new Uint32Array(count);
  const view = new DataView(bytes.buffer, start, count * 4);
  const le = header.littleEndian;
  for (let i = 0; i < count; i++) words[i] = view.getUint32(4 * i, le);
  return words;
}

/**
 * Walk the type section once and record where each type starts and its kind.
 *
 * Known kinds are sized from their uapi layout; other kinds (and kind 0)
 * from `layout` when there is one, as libbpf's `btf_type_size` does. The
 * arrays are bounded by the section length (a type is at least 12 bytes),
 * never by a count read from the blob.
 */
export function indexTypes(
  bytes: Uint8Array,
  header: BtfHeaderInfo,
  options: { layout?: BtfLayout; firstId: number },
): BtfTypeIndex {
  const words = typeWords(bytes, header);
  const sectionLen = header.typeEnd - header.typeStart;
  // Whole words, as integers: JSC runs this loop several times slower over
  // doubles. Trailing bytes short of a word are reported after the loop.
  const lenWords = sectionLen >>> 2;
  const capacity = (sectionLen / BTF_TYPE_LEN) | 0;
  const entries = slabU32(2 * capacity);
  const datasecs: number[] = [];
  const layout = options.layout;
  let n = 0;
  let w = 0;
  while (w < lenWords) {
    const left = lenWords - w;
    if (left < 3) throw truncated(header, options.firstId + n, w, "struct btf_type", 3);
    const info = words[w + 1];
    const kind = (info >>> 24) & 0x7f;
    let size: number; // record size in words
    if (kind !== 0 && kind <= BTF_KIND_MAX_KNOWN) {
      size = 3 + INFO_WORDS[kind] + (info & 0xffff) * ELEM_WORDS[kind];
    } else {
      size = unknownKindWords(header, layout, options.firstId + n, w, info);
    }
    if (size > left) {
      throw truncated(
        header,
        options.firstId + n,
        w,
        `kind ${kind} with vlen ${info & 0xffff}`,
        size,
      );
    }
    entries[2 * n] = w;
    entries[2 * n + 1] = kind;
    if (kind === BTF_KIND_DATASEC) datasecs.push(n);
    n++;
    w += size;
  }
  if ((sectionLen & 3) !== 0) throw truncated(header, options.firstId + n, w, "struct btf_type", 3);
  return { words, entries, count: n, datasecs };
}

/** Size in words of a kind this parser does not know, from the layout section. */
function unknownKindWords(
  header: BtfHeaderInfo,
  layout: BtfLayout | undefined,
  id: number,
  w: number,
  info: number,
): number {
  const kind = (info >>> 24) & 0x7f;
  const at = header.typeStart + 4 * w;
  if (layout === undefined || kind >= layout.infoSize.length) {
    throw new BtfError(
      "BTF_UNKNOWN_KIND",
      `type [${id}] at offset ${at}: unknown kind ${kind}` +
        (layout === undefined
          ? " and no layout section to size it"
          : " (not in the layout section)"),
      { offset: at },
    );
  }
  const infoSize = layout.infoSize[kind];
  const elemSize = layout.elemSize[kind];
  // Records stay 4-byte aligned; libbpf refuses other sizes too.
  if (infoSize % 4 !== 0 || elemSize % 4 !== 0) {
    throw new BtfError(
      "BTF_BAD_LAYOUT",
      `type [${id}] at offset ${at}: layout of kind ${kind} ` +
        `(info_sz ${infoSize}, elem_sz ${elemSize}) is not a multiple of 4 bytes`,
      { offset: at },
    );
  }
  return 3 + infoSize / 4 + (info & 0xffff) * (elemSize / 4);
}

function truncated(
  header: BtfHeaderInfo,
  id: number,
  w: number,
  what: string,
  words: number,
): BtfError {
  const at = header.typeStart + 4 * w;
  const left = header.typeEnd - at;
  return new BtfError(
    "BTF_TYPE_TRUNCATED",
    `type [${id}] at offset ${at}: ${what} needs ${
      4 * words
    } bytes, only ${left} left in the type section`,
    { offset: at },
  );
}

/** Whether this parser can decode a kind. */
export function isKnownKind(kind: number): boolean {
  return kind !== 0 && kind <= BTF_KIND_MAX_KNOWN;
}
