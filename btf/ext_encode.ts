/**
 * Writing func_info and line_info for the kernel, and whole `.BTF.ext`
 * blobs (for tests and tools that build objects).
 *
 * Records carry `insnOff` in bytes, as {@link parseBtfExt} returns them.
 * {@link encodeFuncInfo} and {@link encodeLineInfo} write the kernel's
 * `struct bpf_func_info` / `struct bpf_line_info` arrays for
 * `BPF_PROG_LOAD`, whose `insn_off` counts instructions, so they divide by
 * 8. {@link encodeBtfExt} writes the ELF section format, whose `insn_off`
 * is in bytes, unchanged.
 *
 * ```ts
 * import { parseBtfExt } from "./ext.ts";
 * import { encodeFuncInfo, encodeLineInfo } from "./ext_encode.ts";
 *
 * declare const extBytes: Uint8Array, strings: (offset: number) => string;
 * const ext = parseBtfExt(extBytes, { strings });
 * const funcInfo = encodeFuncInfo(ext.funcInfo.get("xdp") ?? [], true); // func_info_rec_size 8
 * const lineInfo = encodeLineInfo(ext.lineInfo.get("xdp") ?? [], true); // line_info_rec_size 16
 * ```
 *
 * Errors: `BtfError` with `BTF_EXT_BAD_INSN_OFF` (an `insnOff` the kernel
 * format can't hold: negative, past 32 bits or, for the kernel arrays, not a
 * multiple of 8), `BTF_EXT_BAD_LINE` (a line above 2^22 - 1 or a column
 * above 1023) or `BTF_EXT_BAD_VALUE` (another field that is not a u32).
 *
 * @module
 */

import { BtfError } from "../errors/mod.ts";
import {
  BTF_EXT_HEADER_CORE_LEN,
  BTF_EXT_MAGIC,
  BTF_EXT_VERSION,
  CORE_RELO_MIN_SIZE,
  FUNC_INFO_MIN_SIZE,
  LINE_COL_SHIFT,
  LINE_INFO_MIN_SIZE,
} from "./ext.ts";
import { putU32 } from "../internal/bytes.ts";

/** `sizeof(struct bpf_func_info)`: the kernel's `func_info_rec_size`. */
export const BPF_FUNC_INFO_SIZE = 8;
/** `sizeof(struct bpf_line_info)`: the kernel's `line_info_rec_size`. */
export const BPF_LINE_INFO_SIZE = 16;

const INSN_SIZE = 8;
const MAX_LINE = (1 << (32 - LINE_COL_SHIFT)) - 1;
const MAX_COLUMN = (1 << LINE_COL_SHIFT) - 1;

/** What {@link encodeFuncInfo} needs of a func_info record. */
export interface FuncInfoInput {
  /** Byte offset of the function's first instruction in the program. */
  insnOff: number;
  /** FUNC type ID in the BTF loaded with the program. */
  typeId: number;
}

/** What {@link encodeLineInfo} needs of a line_info record. */
export interface LineInfoInput {
  /** Byte offset of the instruction in the program. */
  insnOff: number;
  /** Offset of the file name in the string table of the BTF loaded with the program. */
  fileNameOff: number;
  /** Offset of the line's text in that string table. */
  lineOff: number;
  /** Line number (at most 2^22 - 1). */
  line: number;
  /** Column (at most 1023). */
  column: number;
}

/**
 * The kernel's `struct bpf_func_info` array for `BPF_PROG_LOAD`
 * (`func_info`, with `func_info_rec_size` {@link BPF_FUNC_INFO_SIZE}):
 * `insn_off` is converted from bytes to instructions.
 *
 * @throws {BtfError} `BTF_EXT_BAD_INSN_OFF`, `BTF_EXT_BAD_VALUE`.
 */
export function encodeFuncInfo(
  records: readonly FuncInfoInput[],
  littleEndian: boolean,
): Uint8Array {
  const out = new Uint8Array(records.length * BPF_FUNC_INFO_SIZE);
  encodeFuncInfoInto(records, out, { offset: 0, littleEndian });
  return out;
}

/** Where the `…Into` encoders write: a byte offset in the target and the byte order. */
export interface InfoEncodeIntoOptions {
  /** Byte offset in the target of the first record. */
  offset: number;
  /** Byte order of the records. */
  littleEndian: boolean;
}

/**
 * {@link encodeFuncInfo} into `out` at `options.offset`, which must have
 * room for `records.length * BPF_FUNC_INFO_SIZE` bytes (the kernel backend
 * writes straight into its syscall staging area: no array per program).
 */
export function encodeFuncInfoInto(
  records: readonly FuncInfoInput[],
  out: Uint8Array,
  options: InfoEncodeIntoOptions,
): void {
  const { offset, littleEndian } = options;
  for (let i = 0; i < records.length; i++) {
    const rec = records[i];
    const p = offset + i * BPF_FUNC_INFO_SIZE;
    putU32(out, p, kernelInsn(rec.insnOff, "func_info", i), littleEndian);
    putU32(out, p + 4, u32(rec.typeId, "func_info", i, "typeId"), littleEndian);
  }
}

/**
 * The kernel's `struct bpf_line_info` array for `BPF_PROG_LOAD`
 * (`line_info`, with `line_info_rec_size` {@link BPF_LINE_INFO_SIZE}):
 * `insn_off` is converted from bytes to instructions and `line_col` packs
 * `line << 10 | column`.
 *
 * @throws {BtfError} `BTF_EXT_BAD_INSN_OFF`, `BTF_EXT_BAD_LINE`, `BTF_EXT_BAD_VALUE`.
 */
export function encodeLineInfo(
  records: readonly LineInfoInput[],
  littleEndian: boolean,
): Uint8Array {
  const out = new Uint8Array(records.length * BPF_LINE_INFO_SIZE);
  encodeLineInfoInto(records, out, { offset: 0, littleEndian });
  return out;
}

/**
 * {@link encodeLineInfo} into `out` at `options.offset`, which must have
 * room for `records.length * BPF_LINE_INFO_SIZE` bytes.
 */
export function encodeLineInfoInto(
  records: readonly LineInfoInput[],
  out: Uint8Array,
  options: InfoEncodeIntoOptions,
): void {
  const { offset, littleEndian } = options;
  for (let i = 0; i < records.length; i++) {
    const rec = records[i];
    const p = offset + i * BPF_LINE_INFO_SIZE;
    putU32(out, p, kernelInsn(rec.insnOff, "line_info", i), littleEndian);
    putU32(out, p + 4, u32(rec.fileNameOff, "line_info", i, "fileNameOff"), littleEndian);
    putU32(out, p + 8, u32(rec.lineOff, "line_info", i, "lineOff"), littleEndian);
    putU32(out, p + 12, lineCol(rec.line, rec.column, "line_info", i), littleEndian);
  }
}

/**
 * Check `records` as {@link encodeFuncInfo} would, without writing them:
 * the same `BtfError`s, before any bytes are produced.
 */
export function checkFuncInfo(records: readonly FuncInfoInput[]): void {
  for (let i = 0; i < records.length; i++) {
    kernelInsn(records[i].insnOff, "func_info", i);
    u32(records[i].typeId, "func_info", i, "typeId");
  }
}

/** Check `records` as {@link encodeLineInfo} would, without writing them. */
export function checkLineInfo(records: readonly LineInfoInput[]): void {
  for (let i = 0; i < records.length; i++) {
    const rec = records[i];
    kernelInsn(rec.insnOff, "line_info", i);
    u32(rec.fileNameOff, "line_info", i, "fileNameOff");
    u32(rec.lineOff, "line_info", i, "lineOff");
    lineCol(rec.line, rec.column, "line_info", i);
  }
}

/** Records of a `.BTF.ext` to write, by ELF section name; strings as text. */
export interface BtfExtSource {
  /** func_info records by section. */
  funcInfo?: ReadonlyMap<string, readonly { insnOff: number; typeId: number }[]>;
  /** line_info records by section. */
  lineInfo?: ReadonlyMap<
    string,
    readonly { insnOff: number; fileName: string; lineText: string; line: number; column: number }[]
  >;
  /** CO-RE relocations by section. */
  coreRelos?: ReadonlyMap<
    string,
    readonly { insnOff: number; typeId: number; accessor: string; kind: number }[]
  >;
}

/** Options for {@link encodeBtfExt}. */
export interface EncodeBtfExtOptions {
  /** Byte order of the blob. */
  littleEndian: boolean;
  /**
   * Adds a string to the `.BTF` string table the blob goes with and returns
   * its offset (as `BtfBuilder`'s string dedup or libbpf's `btf__add_str` do).
   */
  addString: (value: string) => number;
  /**
   * `hdr_len`: 32 (the default, what clang writes) or 24, the header
   * without `core_relo_off/len`, which can't carry CO-RE relocations.
   */
  headerLength?: 24 | 32;
  /**
   * `rec_size` of each subsection, multiples of 4 at least the minimum
   * (8, 16, 16, the defaults); bytes past the known fields are zero.
   */
  recSize?: { funcInfo?: number; lineInfo?: number; coreRelo?: number };
}

/**
 * Write a `.BTF.ext` blob: the header, then func_info, line_info and
 * core_relo subsections in that order, each present only when it has
 * records. Sections with an empty record list are left out. Record fields
 * are written as given (`insn_off` in bytes, unsorted input stays unsorted),
 * so tests can build blobs {@link parseBtfExt} must refuse.
 *
 * @throws {BtfError} `BTF_EXT_BAD_VALUE` / `BTF_EXT_BAD_INSN_OFF` /
 *   `BTF_EXT_BAD_LINE` for fields that don't fit, `BTF_EXT_BAD_REC_SIZE`
 *   for a bad `recSize`, `BTF_EXT_HEADER_TOO_SHORT` for CO-RE relocations
 *   with a 24-byte header.
 */
export function encodeBtfExt(ext: BtfExtSource, options: EncodeBtfExtOptions): Uint8Array {
  const le = options.littleEndian;
  const hdrLen = options.headerLength ?? BTF_EXT_HEADER_CORE_LEN;
  const funcRec = recSize(options.recSize?.funcInfo, FUNC_INFO_MIN_SIZE, "func_info");
  const lineRec = recSize(options.recSize?.lineInfo, LINE_INFO_MIN_SIZE, "line_info");
  const coreRec = recSize(options.recSize?.coreRelo, CORE_RELO_MIN_SIZE, "core_relo");
  const add = options.addString;

  const func = subsection(ext.funcInfo, funcRec, le, add, (view, p, rec, i) => {
    view.setUint32(p, blobInsn(rec.insnOff, "func_info", i), le);
    view.setUint32(p + 4, u32(rec.typeId, "func_info", i, "typeId"), le);
  });
  const line = subsection(ext.lineInfo, lineRec, le, add, (view, p, rec, i) => {
    view.setUint32(p, blobInsn(rec.insnOff, "line_info", i), le);
    view.setUint32(p + 4, u32(add(rec.fileName), "line_info", i, "file_name_off"), le);
    view.setUint32(p + 8, u32(add(rec.lineText), "line_info", i, "line_off"), le);
    view.setUint32(p + 12, lineCol(rec.line, rec.column, "line_info", i), le);
  });
  const core = subsection(ext.coreRelos, coreRec, le, add, (view, p, rec, i) => {
    view.setUint32(p, blobInsn(rec.insnOff, "core_relo", i), le);
    view.setUint32(p + 4, u32(rec.typeId, "core_relo", i, "typeId"), le);
    view.setUint32(p + 8, u32(add(rec.accessor), "core_relo", i, "access_str_off"), le);
    view.setUint32(p + 12, u32(rec.kind, "core_relo", i, "kind"), le);
  });
  if (core.length > 0 && hdrLen < BTF_EXT_HEADER_CORE_LEN) {
    throw new BtfError(
      "BTF_EXT_HEADER_TOO_SHORT",
      `a ${hdrLen}-byte .BTF.ext header has no room for CO-RE relocations`,
    );
  }

  const out = new Uint8Array(hdrLen + func.length + line.length + core.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, BTF_EXT_MAGIC, le);
  out[2] = BTF_EXT_VERSION;
  out[3] = 0;
  view.setUint32(4, hdrLen, le);
  view.setUint32(8, 0, le);
  view.setUint32(12, func.length, le);
  view.setUint32(16, func.length, le);
  view.setUint32(20, line.length, le);
  if (hdrLen >= BTF_EXT_HEADER_CORE_LEN) {
    view.setUint32(24, func.length + line.length, le);
    view.setUint32(28, core.length, le);
  }
  out.set(func, hdrLen);
  out.set(line, hdrLen + func.length);
  out.set(core, hdrLen + func.length + line.length);
  return out;
}

/** One subsection: `rec_size`, then a `btf_ext_info_sec` and its records per non-empty section. */
function subsection<T>(
  bySection: ReadonlyMap<string, readonly T[]> | undefined,
  size: number,
  le: boolean,
  addString: (value: string) => number,
  write: (view: DataView, at: number, rec: T, index: number) => void,
): Uint8Array {
  const sections = [...(bySection ?? new Map<string, readonly T[]>())].filter(([, recs]) =>
    recs.length > 0
  );
  if (sections.length === 0) return new Uint8Array(0);
  let length = 4;
  for (const [, recs] of sections) length += 8 + recs.length * size;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint32(0, size, le);
  let at = 4;
  for (const [name, recs] of sections) {
    view.setUint32(at, u32(addString(name), `section ${name}`, 0, "sec_name_off"), le);
    view.setUint32(at + 4, recs.length, le);
    at += 8;
    recs.forEach((rec, i) => write(view, at + i * size, rec, i));
    at += recs.length * size;
  }
  return out;
}

function recSize(value: number | undefined, min: number, kind: string): number {
  if (value === undefined) return min;
  if (!Number.isInteger(value) || value < min || value % 4 !== 0 || value > 0xffff) {
    throw new BtfError(
      "BTF_EXT_BAD_REC_SIZE",
      `${kind} rec_size ${value} must be a multiple of 4 from ${min} to 65532`,
    );
  }
  return value;
}

function isU32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

function u32(value: number, kind: string, index: number, field: string): number {
  if (!isU32(value)) {
    throw new BtfError(
      "BTF_EXT_BAD_VALUE",
      `${kind} record ${index}: ${field} ${value} is not a u32`,
    );
  }
  return value;
}

/** `insn_off` for the ELF format: bytes, written as given if it fits. */
function blobInsn(insnOff: number, kind: string, index: number): number {
  if (!isU32(insnOff)) {
    throw new BtfError(
      "BTF_EXT_BAD_INSN_OFF",
      `${kind} record ${index}: insn_off ${insnOff} is not a u32`,
    );
  }
  return insnOff;
}

/** `insn_off` for the kernel: bytes to an instruction index. */
function kernelInsn(insnOff: number, kind: string, index: number): number {
  if (!isU32(insnOff) || insnOff % INSN_SIZE !== 0) {
    throw new BtfError(
      "BTF_EXT_BAD_INSN_OFF",
      `${kind} record ${index}: insn_off ${insnOff} is not a u32 multiple of ${INSN_SIZE} bytes`,
    );
  }
  return insnOff / INSN_SIZE;
}

function lineCol(line: number, column: number, kind: string, index: number): number {
  if (!Number.isInteger(line) || line < 0 || line > MAX_LINE) {
    throw new BtfError(
      "BTF_EXT_BAD_LINE",
      `${kind} record ${index}: line ${line} does not fit in 22 bits`,
    );
  }
  if (!Number.isInteger(column) || column < 0 || column > MAX_COLUMN) {
    throw new BtfError(
      "BTF_EXT_BAD_LINE",
      `${kind} record ${index}: column ${column} does not fit in 10 bits`,
    );
  }
  return ((line << LINE_COL_SHIFT) | column) >>> 0;
}
