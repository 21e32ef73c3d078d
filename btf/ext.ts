/**
 * `.BTF.ext`: per ELF section, the func_info, line_info and CO-RE
 * relocation records clang emits next to `.BTF` (libbpf's
 * `struct btf_ext_header` and `struct btf_ext_info_sec`).
 *
 * Layout: a header (magic `0xeB9F`, version 1, flags 0, `hdr_len`, then
 * `func_info_off/len`, `line_info_off/len` and, when `hdr_len` >= 32,
 * `core_relo_off/len`, offsets counted from the end of the header). Each
 * info subsection is a `u32 rec_size` followed by `btf_ext_info_sec`
 * blocks: `{ sec_name_off, num_info }` and `num_info` records of
 * `rec_size` bytes. Record bytes past the fields we know are ignored, as
 * libbpf does, so newer, longer records still parse.
 *
 * `insnOff` stays in **bytes from the start of the ELF section**, as in the
 * file (cilium/ebpf keeps bytes too; libbpf divides by 8 when it attaches
 * records to programs). {@link encodeFuncInfo} and {@link encodeLineInfo}
 * in `ext_encode.ts` convert to instruction indexes for `BPF_PROG_LOAD`.
 *
 * ```ts
 * import { parseBtfExt } from "./ext.ts";
 * import { Btf } from "./btf.ts";
 *
 * declare const btfBytes: Uint8Array, extBytes: Uint8Array;
 * const btf = Btf.parse(btfBytes);
 * const ext = parseBtfExt(extBytes, { strings: btf.string.bind(btf) });
 * for (const line of ext.lineInfo.get("xdp") ?? []) {
 *   console.log(line.insnOff / 8, `${line.fileName}:${line.line}`, line.lineText);
 * }
 * ```
 *
 * ## What is checked, and why
 *
 * Every malformed input ends in a {@link BtfError} whose `offset` is the
 * byte offset in the `.BTF.ext` blob; the message names the subsection, the
 * ELF section a record block belongs to and the record's index, when known:
 *
 * | code | meaning |
 * | --- | --- |
 * | `BTF_EXT_TRUNCATED` | the blob ends inside the fixed header or before `hdr_len`; a subsection too short for its `rec_size`; a `btf_ext_info_sec` header cut off by its subsection's end |
 * | `BTF_EXT_BAD_MAGIC` | neither `0xeB9F` nor its byte swap |
 * | `BTF_EXT_BAD_VERSION` | version is not 1 |
 * | `BTF_EXT_BAD_FLAGS` | flags are not 0 (libbpf refuses them too) |
 * | `BTF_EXT_HEADER_TOO_SHORT` | `hdr_len` < 24, too short for the func_info and line_info fields |
 * | `BTF_EXT_OUT_OF_BOUNDS` | a subsection (`off`, `len`) ends past the blob |
 * | `BTF_EXT_MISALIGNED` | a subsection's `off` is not a multiple of 4 |
 * | `BTF_EXT_BAD_REC_SIZE` | `rec_size` below the record's minimum (8, 16, 16) or not a multiple of 4 |
 * | `BTF_EXT_NO_RECORDS` | nothing after the header, a subsection with a `rec_size` but no blocks, or `num_info` 0: libbpf rejects all three |
 * | `BTF_EXT_RECORDS_PAST_END` | `num_info * rec_size` runs past the subsection's end |
 * | `BTF_EXT_BAD_STRING` | the string resolver rejected a section name, file name, line or access string offset (its error is the `cause`) |
 * | `BTF_EXT_EMPTY_SECTION_NAME` | a block names the empty string (cilium/ebpf refuses it; libbpf skips it) |
 * | `BTF_EXT_DUPLICATE_SECTION` | two blocks of one subsection name the same ELF section |
 * | `BTF_EXT_BAD_INSN_OFF` | an `insn_off` that is not a multiple of 8 |
 * | `BTF_EXT_UNSORTED` | func_info or line_info `insn_off`s not strictly increasing within a section |
 *
 * Sorting: libbpf does not check it while parsing, but when it copies a
 * program's records it stops at the first record past the program's end,
 * so it relies on ascending order; the kernel rejects func_info and
 * line_info whose `insn_off`s are not strictly increasing; cilium/ebpf sorts.
 * We refuse unsorted func_info and line_info here, where the error can name
 * the record. CO-RE relocations may come in any order.
 *
 * CO-RE kinds above {@link CoreReloKind.TYPE_MATCHES} are kept as they are:
 * libbpf only fails on them when it applies the relocation, so the CO-RE
 * stage rejects them (or a newer tsbpf understands them). Type IDs are not
 * checked here either: the parser only sees strings, the consumer has the BTF.
 *
 * @module
 */

import { BtfError } from "../errors/mod.ts";

/** The magic number at the start of `.BTF.ext` (and `.BTF`), read in the blob's byte order. */
export const BTF_EXT_MAGIC = 0xeb9f;
/** The only `.BTF.ext` version there is. */
export const BTF_EXT_VERSION = 1;
/** `hdr_len` up to and including `line_info_len`: the shortest valid header. */
export const BTF_EXT_HEADER_MIN_LEN = 24;
/** `hdr_len` up to and including `core_relo_len`: headers this long describe CO-RE relocations. */
export const BTF_EXT_HEADER_CORE_LEN = 32;
/** `sizeof(struct bpf_func_info_min)`: `insn_off`, `type_id`. */
export const FUNC_INFO_MIN_SIZE = 8;
/** `sizeof(struct bpf_line_info_min)`: `insn_off`, `file_name_off`, `line_off`, `line_col`. */
export const LINE_INFO_MIN_SIZE = 16;
/** `sizeof(struct bpf_core_relo)`: `insn_off`, `type_id`, `access_str_off`, `kind`. */
export const CORE_RELO_MIN_SIZE = 16;
/** Bits of `line_col` that hold the column (`BPF_LINE_INFO_LINE_NUM` shifts by this). */
export const LINE_COL_SHIFT = 10;

const INFO_SEC_SIZE = 8; // struct btf_ext_info_sec: sec_name_off, num_info
const INSN_SIZE = 8;

/**
 * `enum bpf_core_relo_kind` from the uapi `linux/bpf.h`, without the
 * `BPF_CORE_` prefix.
 */
export const CoreReloKind = {
  /** Field byte offset. */
  FIELD_BYTE_OFFSET: 0,
  /** Field size in bytes. */
  FIELD_BYTE_SIZE: 1,
  /** Field existence in the target kernel. */
  FIELD_EXISTS: 2,
  /** Field signedness (0 unsigned, 1 signed). */
  FIELD_SIGNED: 3,
  /** Bitfield-specific left bitshift. */
  FIELD_LSHIFT_U64: 4,
  /** Bitfield-specific right bitshift. */
  FIELD_RSHIFT_U64: 5,
  /** Type ID in the local BTF. */
  TYPE_ID_LOCAL: 6,
  /** Type ID in the target kernel's BTF. */
  TYPE_ID_TARGET: 7,
  /** Type existence in the target kernel. */
  TYPE_EXISTS: 8,
  /** Type size in bytes. */
  TYPE_SIZE: 9,
  /** Enumerator existence in the target kernel. */
  ENUMVAL_EXISTS: 10,
  /** Enumerator value. */
  ENUMVAL_VALUE: 11,
  /** Type match in the target kernel. */
  TYPE_MATCHES: 12,
} as const;

/** One of {@link CoreReloKind}'s values (records may carry larger, unknown ones). */
export type CoreReloKind = typeof CoreReloKind[keyof typeof CoreReloKind];

/**
 * The uapi name of a CO-RE relocation kind without `BPF_CORE_`
 * (`FIELD_BYTE_OFFSET`, …), or `UNKNOWN(n)`.
 */
export function coreReloKindName(kind: number): string {
  for (const [name, value] of Object.entries(CoreReloKind)) if (value === kind) return name;
  return `UNKNOWN(${kind})`;
}

/** A func_info record: the function whose first instruction is at `insnOff`. */
export interface FuncInfoRecord {
  /** Byte offset of the function's first instruction in its ELF section (a multiple of 8). */
  insnOff: number;
  /** The function's BTF type ID (a FUNC in a valid object; not checked here). */
  typeId: number;
}

/** A line_info record: the source line of the instruction at `insnOff`. */
export interface LineInfoRecord {
  /** Byte offset of the instruction in its ELF section (a multiple of 8). */
  insnOff: number;
  /** Source file name, resolved from `fileNameOff`. */
  fileName: string;
  /** Text of the source line as clang recorded it, resolved from `lineOff` ("" when absent). */
  lineText: string;
  /** 1-based line number (`line_col >> 10`). */
  line: number;
  /** 1-based column, 0 when unknown (`line_col & 0x3ff`). */
  column: number;
  /** `file_name_off` as in the file: an offset into the `.BTF` string table the blob came with. */
  fileNameOff: number;
  /** `line_off` as in the file: an offset into the `.BTF` string table the blob came with. */
  lineOff: number;
}

/** A CO-RE relocation record (`struct bpf_core_relo`). */
export interface CoreReloRecord {
  /** Byte offset of the instruction to patch in its ELF section (a multiple of 8). */
  insnOff: number;
  /** The local root type ID. */
  typeId: number;
  /** The access string (`"0:1:2"`, an enumerator name, …), resolved from `accessStrOff`. */
  accessor: string;
  /** {@link CoreReloKind}; unknown kinds are kept as they are for the CO-RE stage to refuse. */
  kind: number;
  /** `access_str_off` as in the file. */
  accessStrOff: number;
}

/** A parsed `.BTF.ext`: records by ELF section name, in file order. */
export interface BtfExt {
  /** Byte order, from the magic. */
  littleEndian: boolean;
  /** func_info records by ELF section name, ascending by `insnOff`. */
  funcInfo: Map<string, FuncInfoRecord[]>;
  /** line_info records by ELF section name, ascending by `insnOff`. */
  lineInfo: Map<string, LineInfoRecord[]>;
  /** CO-RE relocations by ELF section name, in file order. */
  coreRelos: Map<string, CoreReloRecord[]>;
}

/** Options for {@link parseBtfExt}. */
export interface ParseBtfExtOptions {
  /**
   * Resolves an offset into the `.BTF` string table, throwing on a bad
   * offset: pass `btf.string.bind(btf)`. Whatever it throws is wrapped in a
   * `BTF_EXT_BAD_STRING` error.
   */
  strings: (offset: number) => string;
  /**
   * Sections of the object (its ELF sections, say), in file order. A
   * block naming one of them is keyed by that section's own `name` string:
   * the same text, so the result is the same, but looking records up with
   * those very strings then hashes and compares no second copy.
   */
  sections?: readonly { readonly name: string }[];
}

/** The subsections, by the name libbpf's messages give them. */
type InfoKind = "func_info" | "line_info" | "core_relo";

// The subsections as small integers, indexing the tables below: one
// record-reading loop dispatches on them, with no callback per block.
const FUNC_INFO = 0;
const LINE_INFO = 1;
const CORE_RELO = 2;
const KIND_NAMES: readonly InfoKind[] = ["func_info", "line_info", "core_relo"];
/** Header offset of each subsection's `off`/`len` pair. */
const FIELD_AT = [8, 16, 24];
const MIN_REC_SIZE = [FUNC_INFO_MIN_SIZE, LINE_INFO_MIN_SIZE, CORE_RELO_MIN_SIZE];

// Which string a record names, for the message of a bad one (built only then).
const SECTION_NAME = 0;
const FILE_NAME = 1;
const LINE_TEXT = 2;
const ACCESS_STR = 3;

/** Shared state of one parse. */
interface Reader {
  view: DataView;
  le: boolean;
  length: number;
  resolve: (offset: number) => string;
  /** `options.sections`, and where the search for the next name starts. */
  sections: readonly { readonly name: string }[];
  cursor: number;
  /**
   * Name offset and name of the block at each index, from the last
   * subsection that had a block there (the arrays only grow).
   */
  nameOffs: number[];
  names: string[];
  /** The last file name a line_info record resolved, and its offset (-1: none yet). */
  fileNameOff: number;
  fileName: string;
  /** The last line text a line_info record resolved, and its offset (-1: none yet). */
  lineOff: number;
  lineText: string;
}

/**
 * Parse a `.BTF.ext` blob in either byte order.
 *
 * @throws {BtfError} with a `BTF_EXT_*` code (see the module docs) on
 *   malformed input; never a RangeError or TypeError.
 */
export function parseBtfExt(bytes: Uint8Array, options: ParseBtfExtOptions): BtfExt {
  const length = bytes.length;
  let le: boolean;
  if (length >= 2 && bytes[0] === 0x9f && bytes[1] === 0xeb) le = true;
  else if (length >= 2 && bytes[0] === 0xeb && bytes[1] === 0x9f) le = false;
  else if (length < 2) {
    throw extError("BTF_EXT_TRUNCATED", `.BTF.ext of ${length} bytes has no room for the magic`, {
      offset: length,
    });
  } else {
    const got = ((bytes[0] << 8) | bytes[1]).toString(16).padStart(4, "0");
    throw extError("BTF_EXT_BAD_MAGIC", `bad magic 0x${got} at offset 0, expected 0xeb9f`, {
      offset: 0,
    });
  }
  if (length < 8) {
    throw extError(
      "BTF_EXT_TRUNCATED",
      `.BTF.ext of ${length} bytes ends inside its header (hdr_len ends at 8)`,
      { offset: length },
    );
  }
  if (bytes[2] !== BTF_EXT_VERSION) {
    throw extError("BTF_EXT_BAD_VERSION", `unsupported version ${bytes[2]} at offset 2`, {
      offset: 2,
    });
  }
  if (bytes[3] !== 0) {
    const flags = bytes[3].toString(16);
    throw extError("BTF_EXT_BAD_FLAGS", `unsupported flags 0x${flags} at offset 3`, { offset: 3 });
  }
  const r: Reader = {
    view: new DataView(bytes.buffer, bytes.byteOffset, length),
    le,
    length,
    resolve: options.strings,
    sections: options.sections ?? NO_SECTIONS,
    cursor: 0,
    nameOffs: [],
    names: [],
    fileNameOff: -1,
    fileName: "",
    lineOff: -1,
    lineText: "",
  };
  const hdrLen = u32(r, 4);
  if (hdrLen < BTF_EXT_HEADER_MIN_LEN) {
    throw extError(
      "BTF_EXT_HEADER_TOO_SHORT",
      `hdr_len ${hdrLen} at offset 4 is shorter than the ${BTF_EXT_HEADER_MIN_LEN}-byte header`,
      { offset: 4 },
    );
  }
  if (hdrLen > length) {
    throw extError(
      "BTF_EXT_TRUNCATED",
      `hdr_len ${hdrLen} at offset 4 runs past the end of the ${length}-byte .BTF.ext`,
      { offset: 4 },
    );
  }
  if (hdrLen === length) {
    throw extError("BTF_EXT_NO_RECORDS", `.BTF.ext has no data after its ${hdrLen}-byte header`, {
      offset: hdrLen,
    });
  }

  const funcInfo = new Map<string, FuncInfoRecord[]>();
  const lineInfo = new Map<string, LineInfoRecord[]>();
  const coreRelos = new Map<string, CoreReloRecord[]>();
  readSubsection(r, hdrLen, FUNC_INFO, funcInfo);
  readSubsection(r, hdrLen, LINE_INFO, lineInfo);
  if (hdrLen >= BTF_EXT_HEADER_CORE_LEN) readSubsection(r, hdrLen, CORE_RELO, coreRelos);
  return { littleEndian: le, funcInfo, lineInfo, coreRelos };
}

/** A u32 of the blob in its byte order (the caller checked the bounds). */
function u32(r: Reader, at: number): number {
  return r.view.getUint32(at, r.le);
}

/**
 * Check one subsection (its `off`/`len` pair is at `FIELD_AT[kind]` in the
 * header) and read each `btf_ext_info_sec` block's records into `out`,
 * keyed by section name. Bounds are checked before records are read.
 */
function readSubsection(
  r: Reader,
  hdrLen: number,
  kindIndex: number,
  out: Map<string, unknown[]>,
): void {
  const fieldAt = FIELD_AT[kindIndex];
  const off = u32(r, fieldAt);
  const len = u32(r, fieldAt + 4);
  if (len === 0) return;
  const kind = KIND_NAMES[kindIndex];
  const minRecSize = MIN_REC_SIZE[kindIndex];
  if (off % 4 !== 0) {
    throw extError(
      "BTF_EXT_MISALIGNED",
      `${kind}_off ${off} at offset ${fieldAt} is not a multiple of 4`,
      { offset: fieldAt },
    );
  }
  const start = hdrLen + off;
  const end = start + len;
  if (end > r.length) {
    throw extError(
      "BTF_EXT_OUT_OF_BOUNDS",
      `${kind} (off ${off}, len ${len}, bytes ${start}..${end}) runs past the end of the ${r.length}-byte .BTF.ext`,
      { offset: fieldAt },
    );
  }
  if (len < 4) {
    throw extError(
      "BTF_EXT_TRUNCATED",
      `${kind} at offset ${start} is ${len} bytes, too short for its rec_size`,
      { offset: start },
    );
  }
  const recSize = u32(r, start);
  if (recSize < minRecSize || recSize % 4 !== 0) {
    throw extError(
      "BTF_EXT_BAD_REC_SIZE",
      `${kind} rec_size ${recSize} at offset ${start} is ${
        recSize < minRecSize ? `below the minimum of ${minRecSize}` : "not a multiple of 4"
      }`,
      { offset: start },
    );
  }
  let at = start + 4;
  if (at === end) {
    throw extError(
      "BTF_EXT_NO_RECORDS",
      `${kind} at offset ${start} has a rec_size but no records`,
      {
        offset: start,
      },
    );
  }
  let block = 0;
  while (at < end) {
    if (end - at < INFO_SEC_SIZE) {
      throw extError(
        "BTF_EXT_TRUNCATED",
        `${kind}: btf_ext_info_sec at offset ${at} is cut off by the end of ${kind} at ${end}`,
        { offset: at },
      );
    }
    const nameOff = u32(r, at);
    // Subsections list the same sections in the same order: block `block`
    // of the previous one most likely names this section too, and reusing
    // its string spares resolving the name (and hashing it for the map
    // again, a costly call in both engines).
    let name: string;
    if (block < r.nameOffs.length && r.nameOffs[block] === nameOff) name = r.names[block];
    else {
      name = sectionName(r, resolveString(r, nameOff, at, SECTION_NAME, kind, "", 0));
      r.nameOffs[block] = nameOff;
      r.names[block] = name;
    }
    block++;
    if (name === "") {
      throw extError(
        "BTF_EXT_EMPTY_SECTION_NAME",
        `${kind}: btf_ext_info_sec at offset ${at} names the empty section (name offset ${nameOff})`,
        { offset: at },
      );
    }
    const count = u32(r, at + 4);
    if (count === 0) {
      throw extError(
        "BTF_EXT_NO_RECORDS",
        `${kind} of section ${name}: num_info is 0 at offset ${at + 4}`,
        { offset: at + 4 },
      );
    }
    const first = at + INFO_SEC_SIZE;
    if (count * recSize > end - first) {
      throw extError(
        "BTF_EXT_RECORDS_PAST_END",
        `${kind} of section ${name}: ${count} records of ${recSize} bytes from offset ${first} run past the end of ${kind} at ${end}`,
        { offset: at + 4 },
      );
    }
    // `out` holds exactly the blocks read so far: it is the set of names seen.
    if (out.has(name)) {
      throw extError(
        "BTF_EXT_DUPLICATE_SECTION",
        `${kind}: section ${name} has a second btf_ext_info_sec at offset ${at}`,
        { offset: at },
      );
    }
    out.set(
      name,
      kindIndex === FUNC_INFO
        ? readFuncInfo(r, name, first, count, recSize)
        : kindIndex === LINE_INFO
        ? readLineInfo(r, name, first, count, recSize)
        : readCoreRelos(r, name, first, count, recSize),
    );
    at = first + count * recSize;
  }
}

const NO_SECTIONS: readonly { readonly name: string }[] = [];

/** Sections {@link sectionName} looks at past the last match, at most: the parse stays linear. */
const SECTION_SEARCH_MAX = 32;

/**
 * The name string of the section of `r.sections` named `name`, or `name`
 * (the same text either way). Blocks come in section order, so the search
 * starts after the last match and usually ends at once; it gives up after
 * {@link SECTION_SEARCH_MAX} sections.
 */
function sectionName(r: Reader, name: string): string {
  const sections = r.sections;
  const n = sections.length;
  const tries = n < SECTION_SEARCH_MAX ? n : SECTION_SEARCH_MAX;
  for (let k = 0, c = r.cursor; k < tries; k++) {
    const s = sections[c].name;
    c = c + 1 === n ? 0 : c + 1;
    if (s.length === name.length && s === name) {
      r.cursor = c;
      return s;
    }
  }
  return name;
}

function readFuncInfo(
  r: Reader,
  section: string,
  at: number,
  count: number,
  recSize: number,
): FuncInfoRecord[] {
  const out: FuncInfoRecord[] = new Array(count);
  let prev = -1;
  for (let i = 0, p = at; i < count; i++, p += recSize) {
    const insnOff = u32(r, p);
    if (insnOff % INSN_SIZE !== 0) throw badInsnOff("func_info", section, i, p, insnOff);
    if (insnOff <= prev) throw unsorted("func_info", section, i, p, prev, insnOff);
    prev = insnOff;
    out[i] = { insnOff, typeId: u32(r, p + 4) };
  }
  return out;
}

function readLineInfo(
  r: Reader,
  section: string,
  at: number,
  count: number,
  recSize: number,
): LineInfoRecord[] {
  const out: LineInfoRecord[] = new Array(count);
  let prev = -1;
  for (let i = 0, p = at; i < count; i++, p += recSize) {
    const insnOff = u32(r, p);
    if (insnOff % INSN_SIZE !== 0) throw badInsnOff("line_info", section, i, p, insnOff);
    if (insnOff <= prev) throw unsorted("line_info", section, i, p, prev, insnOff);
    prev = insnOff;
    const fileNameOff = u32(r, p + 4);
    const lineOff = u32(r, p + 8);
    const lineCol = u32(r, p + 12);
    // Records nearly always share one file name, and a line often spans
    // several records in a row: resolve each only when it changes.
    if (fileNameOff !== r.fileNameOff) {
      r.fileName = resolveString(r, fileNameOff, p, FILE_NAME, "line_info", section, i);
      r.fileNameOff = fileNameOff;
    }
    if (lineOff !== r.lineOff) {
      r.lineText = resolveString(r, lineOff, p, LINE_TEXT, "line_info", section, i);
      r.lineOff = lineOff;
    }
    out[i] = {
      insnOff,
      fileName: r.fileName,
      lineText: r.lineText,
      line: lineCol >>> LINE_COL_SHIFT,
      column: lineCol & ((1 << LINE_COL_SHIFT) - 1),
      fileNameOff,
      lineOff,
    };
  }
  return out;
}

function readCoreRelos(
  r: Reader,
  section: string,
  at: number,
  count: number,
  recSize: number,
): CoreReloRecord[] {
  const out: CoreReloRecord[] = new Array(count);
  for (let i = 0, p = at; i < count; i++, p += recSize) {
    const insnOff = u32(r, p);
    if (insnOff % INSN_SIZE !== 0) throw badInsnOff("core_relo", section, i, p, insnOff);
    const accessStrOff = u32(r, p + 8);
    const accessor = resolveString(r, accessStrOff, p, ACCESS_STR, "core_relo", section, i);
    out[i] = {
      insnOff,
      typeId: u32(r, p + 4),
      accessor,
      kind: u32(r, p + 12),
      accessStrOff,
    };
  }
  return out;
}

function badInsnOff(
  kind: InfoKind,
  section: string,
  i: number,
  p: number,
  insnOff: number,
): BtfError {
  return extError(
    "BTF_EXT_BAD_INSN_OFF",
    `${kind} of section ${section}: record ${i} at offset ${p}: insn_off ${insnOff} is not a multiple of ${INSN_SIZE}`,
    { offset: p },
  );
}

function unsorted(
  kind: InfoKind,
  section: string,
  i: number,
  p: number,
  prev: number,
  insnOff: number,
): BtfError {
  return extError(
    "BTF_EXT_UNSORTED",
    `${kind} of section ${section}: record ${i} at offset ${p}: insn_off ${insnOff} does not follow the previous record's ${prev}`,
    { offset: p },
  );
}

/**
 * Resolve a string offset through the caller's resolver, wrapping its
 * errors. Not memoised: a lookup in a map costs more than slicing the
 * string again. `field`, `kind`, `section` and `i` say which string of which
 * record this is: the message is built from them only when it fails, so
 * the success path allocates nothing but the string.
 */
function resolveString(
  r: Reader,
  offset: number,
  at: number,
  field: number,
  kind: InfoKind,
  section: string,
  i: number,
): string {
  let value: unknown;
  try {
    value = r.resolve(offset);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const what = describeString(offset, field, kind, section, i);
    throw extError("BTF_EXT_BAD_STRING", `${what} is not a valid string: ${reason}`, {
      offset: at,
      cause,
    });
  }
  if (typeof value !== "string") {
    throw extError(
      "BTF_EXT_BAD_STRING",
      `${describeString(offset, field, kind, section, i)}: the string resolver returned no string`,
      { offset: at },
    );
  }
  return value;
}

/** What a string offset is, for an error message. */
function describeString(
  offset: number,
  field: number,
  kind: InfoKind,
  section: string,
  i: number,
): string {
  switch (field) {
    case SECTION_NAME:
      return `${kind}: section name offset ${offset}`;
    case FILE_NAME:
      return `line_info of section ${section}: record ${i}: file_name_off ${offset}`;
    case LINE_TEXT:
      return `line_info of section ${section}: record ${i}: line_off ${offset}`;
    default:
      return `core_relo of section ${section}: record ${i}: access_str_off ${offset}`;
  }
}

function extError(
  code: string,
  detail: string,
  options: { offset: number; cause?: unknown },
): BtfError {
  return new BtfError(code, detail, options);
}
