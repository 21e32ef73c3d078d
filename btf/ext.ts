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
}

/** The subsections, by the name libbpf's messages give them. */
type InfoKind = "func_info" | "line_info" | "core_relo";

/** Shared state of one parse. */
interface Reader {
  view: DataView;
  le: boolean;
  length: number;
  resolve: (offset: number) => string;
  cache: Map<number, string>;
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
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  const hdrLen = view.getUint32(4, le);
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

  const reader: Reader = { view, le, length, resolve: options.strings, cache: new Map() };
  const funcInfo = new Map<string, FuncInfoRecord[]>();
  const lineInfo = new Map<string, LineInfoRecord[]>();
  const coreRelos = new Map<string, CoreReloRecord[]>();

  walkSubsection(reader, hdrLen, "func_info", 8, FUNC_INFO_MIN_SIZE, (name, at, count, size) => {
    funcInfo.set(name, readFuncInfo(reader, name, at, count, size));
  });
  walkSubsection(reader, hdrLen, "line_info", 16, LINE_INFO_MIN_SIZE, (name, at, count, size) => {
    lineInfo.set(name, readLineInfo(reader, name, at, count, size));
  });
  if (hdrLen >= BTF_EXT_HEADER_CORE_LEN) {
    walkSubsection(reader, hdrLen, "core_relo", 24, CORE_RELO_MIN_SIZE, (name, at, count, size) => {
      coreRelos.set(name, readCoreRelos(reader, name, at, count, size));
    });
  }
  return { littleEndian: le, funcInfo, lineInfo, coreRelos };
}

/**
 * Check one subsection whose `off`/`len` pair sits at `fieldAt` in the
 * header, and call `visit` for each `btf_ext_info_sec` block with its
 * section name, the offset of its first record, `num_info` and `rec_size`.
 * Bounds are checked before `visit` runs, so it may read freely.
 */
function walkSubsection(
  r: Reader,
  hdrLen: number,
  kind: InfoKind,
  fieldAt: number,
  minRecSize: number,
  visit: (name: string, at: number, count: number, recSize: number) => void,
): void {
  const off = r.view.getUint32(fieldAt, r.le);
  const len = r.view.getUint32(fieldAt + 4, r.le);
  if (len === 0) return;
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
  const recSize = r.view.getUint32(start, r.le);
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
  const seen = new Set<string>();
  while (at < end) {
    if (end - at < INFO_SEC_SIZE) {
      throw extError(
        "BTF_EXT_TRUNCATED",
        `${kind}: btf_ext_info_sec at offset ${at} is cut off by the end of ${kind} at ${end}`,
        { offset: at },
      );
    }
    const nameOff = r.view.getUint32(at, r.le);
    const name = resolveString(r, nameOff, () => `${kind}: section name offset ${nameOff}`, {
      offset: at,
    });
    if (name === "") {
      throw extError(
        "BTF_EXT_EMPTY_SECTION_NAME",
        `${kind}: btf_ext_info_sec at offset ${at} names the empty section (name offset ${nameOff})`,
        { offset: at },
      );
    }
    const count = r.view.getUint32(at + 4, r.le);
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
    if (seen.has(name)) {
      throw extError(
        "BTF_EXT_DUPLICATE_SECTION",
        `${kind}: section ${name} has a second btf_ext_info_sec at offset ${at}`,
        { offset: at },
      );
    }
    seen.add(name);
    visit(name, first, count, recSize);
    at = first + count * recSize;
  }
}

function readFuncInfo(
  r: Reader,
  section: string,
  at: number,
  count: number,
  recSize: number,
): FuncInfoRecord[] {
  const out: FuncInfoRecord[] = new Array(count);
  for (let i = 0, p = at; i < count; i++, p += recSize) {
    const insnOff = readInsnOff(r, "func_info", section, i, p);
    if (i > 0 && insnOff <= out[i - 1].insnOff) {
      throw unsorted("func_info", section, i, p, out[i - 1].insnOff, insnOff);
    }
    out[i] = { insnOff, typeId: r.view.getUint32(p + 4, r.le) };
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
  for (let i = 0, p = at; i < count; i++, p += recSize) {
    const insnOff = readInsnOff(r, "line_info", section, i, p);
    if (i > 0 && insnOff <= out[i - 1].insnOff) {
      throw unsorted("line_info", section, i, p, out[i - 1].insnOff, insnOff);
    }
    const fileNameOff = r.view.getUint32(p + 4, r.le);
    const lineOff = r.view.getUint32(p + 8, r.le);
    const lineCol = r.view.getUint32(p + 12, r.le);
    // Most file names repeat: look in the memo before building an error description.
    const fileName = r.cache.get(fileNameOff) ?? resolveString(
      r,
      fileNameOff,
      () => `line_info of section ${section}: record ${i}: file_name_off ${fileNameOff}`,
      { offset: p },
    );
    const lineText = r.cache.get(lineOff) ?? resolveString(
      r,
      lineOff,
      () => `line_info of section ${section}: record ${i}: line_off ${lineOff}`,
      { offset: p },
    );
    out[i] = {
      insnOff,
      fileName,
      lineText,
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
    const insnOff = readInsnOff(r, "core_relo", section, i, p);
    const accessStrOff = r.view.getUint32(p + 8, r.le);
    const accessor = resolveString(
      r,
      accessStrOff,
      () => `core_relo of section ${section}: record ${i}: access_str_off ${accessStrOff}`,
      { offset: p },
    );
    out[i] = {
      insnOff,
      typeId: r.view.getUint32(p + 4, r.le),
      accessor,
      kind: r.view.getUint32(p + 12, r.le),
      accessStrOff,
    };
  }
  return out;
}

function readInsnOff(r: Reader, kind: InfoKind, section: string, i: number, p: number): number {
  const insnOff = r.view.getUint32(p, r.le);
  if (insnOff % INSN_SIZE !== 0) {
    throw extError(
      "BTF_EXT_BAD_INSN_OFF",
      `${kind} of section ${section}: record ${i} at offset ${p}: insn_off ${insnOff} is not a multiple of ${INSN_SIZE}`,
      { offset: p },
    );
  }
  return insnOff;
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

/** Resolve a string offset through the caller's resolver, memoised, wrapping its errors. */
function resolveString(
  r: Reader,
  offset: number,
  what: () => string,
  where: { offset: number },
): string {
  const cached = r.cache.get(offset);
  if (cached !== undefined) return cached;
  let value: unknown;
  try {
    value = r.resolve(offset);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw extError("BTF_EXT_BAD_STRING", `${what()} is not a valid string: ${reason}`, {
      ...where,
      cause,
    });
  }
  if (typeof value !== "string") {
    throw extError(
      "BTF_EXT_BAD_STRING",
      `${what()}: the string resolver returned no string`,
      where,
    );
  }
  r.cache.set(offset, value);
  return value;
}

function extError(
  code: string,
  detail: string,
  options: { offset: number; cause?: unknown },
): BtfError {
  return new BtfError(code, detail, options);
}
