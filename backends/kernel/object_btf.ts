/**
 * The object's BTF as the kernel takes it: extern sections laid out
 * (`fixupExterns`), rewritten for the features this kernel lacks
 * (`sanitizeBtf` with {@link sanitizeOptionsForKernel}), marshalled in host
 * byte order keeping the object's string section, and loaded with
 * `BPF_BTF_LOAD`; and the `bpf_func_info` / `bpf_line_info` arrays of a
 * program for `BPF_PROG_LOAD`, with string offsets into that loaded BTF.
 *
 * ```ts
 * import { syscalls } from "./syscalls.ts";
 * import { funcAndLineInfo, loadObjectBtf } from "./object_btf.ts";
 * import { closeFd } from "./sys.ts";
 * import type { CollectionSpec } from "../../collection/spec.ts";
 *
 * declare const spec: CollectionSpec;
 * const sys = syscalls();
 * const loaded = loadObjectBtf(sys, spec);
 * if (loaded.fd !== undefined) {
 *   const info = funcAndLineInfo(spec.programs.get("xdp_prog")!, loaded.strings);
 *   // … BPF_PROG_LOAD with prog_btf_fd = loaded.fd and info.funcInfo / info.lineInfo
 *   closeFd(sys, loaded.fd);
 * } else {
 *   console.warn(loaded.diagnostic); // programs and maps load without BTF
 * }
 * ```
 *
 * Line info strings: instruction metadata carries the file name and line
 * text, not offsets. Every such text of every program is interned in the
 * builder before marshalling; the "keep" string mode keeps the object's
 * own string section in front, so the texts the compiler wrote resolve to
 * their original offsets and only missing ones (hand-built specs) are
 * appended. {@link funcAndLineInfo} then looks the texts up in the loaded
 * blob's string table.
 *
 * @module
 */

import { Btf } from "../../btf/btf.ts";
import { type BtfBuilder, type BtfStringTable, stringTableOf } from "../../btf/builder.ts";
import { BtfKind, BtfVarLinkage } from "../../btf/types.ts";
import {
  BPF_FUNC_INFO_SIZE,
  BPF_LINE_INFO_SIZE,
  checkFuncInfo,
  checkLineInfo,
  encodeFuncInfoInto,
  encodeLineInfoInto,
} from "../../btf/ext_encode.ts";
import type { FuncInfoInput, LineInfoInput } from "../../btf/ext_encode.ts";
import { marshalBtf } from "../../btf/marshal.ts";
import {
  fixupExterns,
  SANITIZE_FEATURES,
  sanitizeBtf,
  type SanitizeOptions,
} from "../../btf/sanitize.ts";
import type { CollectionSpec, ProgramSpec } from "../../collection/spec.ts";
import { TsbpfError } from "../../errors/mod.ts";
import { KernelError, SyscallError } from "./errors.ts";
import { haveBtf, sanitizeOptionsForKernel } from "./probes.ts";
import { type AttrPayload, btfLoad } from "./sys.ts";
import type { Syscalls } from "./syscalls.ts";

/** The host byte order: the kernel reads BTF and func/line info in it. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** `BPF_LD | BPF_IMM | BPF_DW`: the one two-slot instruction. */
const LD_IMM64 = 0x18;

/** Options of {@link loadObjectBtf}. */
export interface LoadObjectBtfOptions {
  /**
   * Fail instead of falling back when the kernel lacks BTF or rejects the
   * blob (or the object has none): a {@link KernelError} / `VerifierError`.
   */
  require?: boolean;
  /** Use these instead of probing the kernel (tests, cross-checks). */
  sanitize?: SanitizeOptions;
  /** Initial size of the BTF verifier log buffer (grown as needed by `btfLoad`). */
  logSize?: number;
}

/** The object's BTF, loaded: close `fd` when done. */
export interface LoadedObjectBtf {
  /** The BTF object's fd (`prog_btf_fd`, `btf_fd`). */
  fd: number;
  /** The blob as loaded, parsed: type IDs equal the spec's. */
  btf: Btf;
  /** Its string table, for {@link funcAndLineInfo}. */
  strings: BtfStringTable;
  /** The sanitize options the blob was prepared with. */
  sanitize: SanitizeOptions;
  /** Absent when the BTF loaded. */
  diagnostic?: undefined;
}

/** Why the collection loads without BTF: no fd to close. */
export interface MissingObjectBtf {
  /** No fd: nothing to close. */
  fd: undefined;
  /** No BTF: load maps and programs without it. */
  btf: undefined;
  /** No string table: load programs without func_info and line_info. */
  strings: undefined;
  /** What happened, e.g. `object BTF rejected by the kernel: BPF_BTF_LOAD: EINVAL …`. */
  diagnostic: string;
}

/** A blob prepared for one spec's BTF and one set of sanitize options. */
export interface PreparedObjectBtf {
  /** The `.BTF` bytes for `BPF_BTF_LOAD`, host byte order. */
  blob: Uint8Array;
  /** `blob` parsed. */
  btf: Btf;
  /** `blob`'s string table. */
  strings: BtfStringTable;
}

/** Prepared blobs by BTF content, options and line strings, least recently used first. */
const prepared = new Map<
  string,
  { source: Uint8Array; texts: readonly string[]; result: PreparedObjectBtf }
>();

/**
 * The object's BTF prepared for this kernel (see the module docs) and
 * loaded with `BPF_BTF_LOAD`; the caller closes the returned fd.
 *
 * Like libbpf, an object whose BTF the kernel can't take still loads: maps
 * and programs that can live without BTF are created without it. So when
 * the spec has no BTF, the kernel has no BTF support, or `BPF_BTF_LOAD`
 * fails, the result has no fd and a `diagnostic` saying why, unless
 * `options.require` is set, in which case that is an error.
 *
 * The sanitised, marshalled blob is cached per spec BTF (and per options),
 * so loading many programs of one spec prepares it once.
 *
 * @throws {KernelError} `KERNEL_NO_BTF` (with `require`) or the
 *   `SyscallError`/`VerifierError` of `BPF_BTF_LOAD`; `BtfError` when the
 *   spec's BTF can't be prepared (a `.kconfig` function, a bad type).
 */
export function loadObjectBtf(
  sys: Syscalls,
  spec: CollectionSpec,
  options: LoadObjectBtfOptions = {},
): LoadedObjectBtf | MissingObjectBtf {
  const missing = (diagnostic: string, cause?: unknown): MissingObjectBtf => {
    if (options.require === true) {
      if (cause instanceof TsbpfError) throw cause.addContext("object BTF");
      throw new KernelError("KERNEL_NO_BTF", diagnostic, { cause });
    }
    return { fd: undefined, btf: undefined, strings: undefined, diagnostic };
  };
  if (spec.btf === undefined) return missing("the object has no BTF");
  if (options.sanitize === undefined && !haveBtf(sys)) {
    return missing("the kernel does not support BTF (BPF_BTF_LOAD of one INT failed with EINVAL)");
  }
  const sanitize = options.sanitize ?? sanitizeOptionsForKernel(sys);
  const p = prepareObjectBtf(spec, sanitize);
  let fd: number;
  try {
    fd = btfLoad(sys, p.blob, { logSize: options.logSize });
  } catch (err) {
    if (!(err instanceof SyscallError)) throw err;
    return missing(`object BTF rejected by the kernel: ${err.message}`, err);
  }
  return { fd, btf: p.btf, strings: p.strings, sanitize };
}

/**
 * The blob {@link loadObjectBtf} loads, without loading it: externs laid
 * out, sanitised with `sanitize`, every line info text of every program
 * interned, marshalled in host byte order; parsed back for its string
 * table. Cached per spec BTF and options.
 *
 * @throws {KernelError} `KERNEL_NO_BTF` when the spec has no BTF; `BtfError`.
 */
export function prepareObjectBtf(
  spec: CollectionSpec,
  sanitize: SanitizeOptions,
): PreparedObjectBtf {
  const source = spec.btf;
  if (source === undefined) throw new KernelError("KERNEL_NO_BTF", "the object has no BTF");
  const texts = lineTexts(spec);
  // Keyed by content, not by object: a service that parses the same object
  // again (or a fresh spec per load) prepares its BTF once. The key is cheap
  // (sizes, a sample of the bytes, the overrides); a hit is confirmed by
  // comparing the bytes and texts themselves, which costs less than hashing
  // them.
  const key = `${sampleKey(source)}|${optionsKey(sanitize)}|${texts.length}`;
  const hit = prepared.get(key);
  if (hit !== undefined && sameBytes(hit.source, source.bytes) && sameTexts(hit.texts, texts)) {
    // Refresh its place: the cache drops the least recently used entry.
    prepared.delete(key);
    prepared.set(key, hit);
    return hit.result;
  }
  let result: PreparedObjectBtf;
  try {
    const b = sanitizeBtf(placeStrayExterns(fixupExterns(source)), sanitize);
    // Sorted, so strings a hand-built spec lacks are appended in a stable order.
    for (const t of [...texts].sort()) b.addString(t);
    const blob = marshalBtf(b, {
      littleEndian: HOST_LITTLE_ENDIAN,
      strings: "keep",
      layout: false,
    });
    const btf = Btf.parse(blob);
    result = { blob, btf, strings: stringTableOf(btf) };
  } catch (err) {
    if (err instanceof TsbpfError) err.addContext("preparing object BTF");
    throw err;
  }
  prepared.delete(key);
  prepared.set(key, { source: source.bytes.slice(), texts, result });
  if (prepared.size > PREPARED_CACHE_SIZE) prepared.delete(prepared.keys().next().value!);
  return result;
}

/** How many prepared blobs the process keeps. */
const PREPARED_CACHE_SIZE = 64;

/**
 * A key for a spec's BTF that two different contents rarely share: the
 * length, a few words sampled from the bytes, and the types the pipeline
 * replaced (DATASEC sizes and offsets filled in from the ELF), which the
 * bytes lack. Equal keys are confirmed with {@link sameBytes}.
 */
function sampleKey(btf: Btf): string {
  const bytes = btf.bytes;
  const len = bytes.length;
  let a = 0x811c9dc5;
  // 64 evenly spaced bytes, plus the overrides in full.
  const step = Math.max(1, Math.floor(len / 64));
  for (let i = 0; i < len; i += step) a = Math.imul(a ^ bytes[i], 0x01000193);
  let overrides = "";
  for (const id of btf.replacedIds()) overrides += JSON.stringify(btf.type(id));
  return `${len}:${(a >>> 0).toString(16)}:${overrides}`;
}

/** The sanitize options as a number: a base-3 digit per feature (unset, on, off). */
function optionsKey(options: SanitizeOptions): number {
  let key = 0;
  for (let i = 0; i < SANITIZE_FEATURES.length; i++) {
    const v = options[SANITIZE_FEATURES[i]];
    key = key * 3 + (v === undefined ? 0 : v ? 1 : 2);
  }
  return key;
}

/** Whether two byte arrays hold the same bytes (4 at a time where aligned). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const len = a.length;
  if (len !== b.length) return false;
  let i = 0;
  if ((a.byteOffset & 3) === 0 && (b.byteOffset & 3) === 0) {
    const words = len >>> 2;
    const wa = new Int32Array(a.buffer, a.byteOffset, words);
    const wb = new Int32Array(b.buffer, b.byteOffset, words);
    for (let w = 0; w < words; w++) if (wa[w] !== wb[w]) return false;
    i = words * 4;
  }
  for (; i < len; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether two string lists are equal, element by element. */
function sameTexts(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Extern VARs outside `.kconfig`/`.ksyms` (a weak extern the object never
 * defines) keep `BTF_VAR_GLOBAL_EXTERN` linkage after `fixupExterns`, which
 * the kernel refuses ("Linkage not supported"). libbpf refuses such objects
 * outright; here a VAR that no DATASEC lists describes no memory, so it
 * becomes global allocated and the rest of the BTF still loads.
 */
function placeStrayExterns(b: BtfBuilder): BtfBuilder {
  for (let id = b.firstId; id <= b.lastId; id++) {
    const t = b.type(id);
    if (t.kind === BtfKind.VAR && t.linkage === BtfVarLinkage.GLOBAL_EXTERN) {
      b.replaceType(id, { ...t, linkage: BtfVarLinkage.GLOBAL_ALLOCATED });
    }
  }
  return b;
}

/**
 * Every file name and line text of the spec's programs, in order of
 * appearance, a repeat of the one before left out: the same spec gives the
 * same list, which is all the cache key needs. Not deduplicated further:
 * hashing each new string into a Set cost more than the list saves (in
 * JavaScriptCore most of all), and interning on a miss dedups anyway.
 */
function lineTexts(spec: CollectionSpec): string[] {
  const texts: string[] = [];
  for (const prog of spec.programs.values()) {
    let file: string | undefined;
    let text: string | undefined;
    for (const ins of prog.instructions) {
      const line = ins.line;
      if (line === undefined) continue;
      if (line.fileName !== file) {
        file = line.fileName;
        texts.push(file);
      }
      if (line.lineText !== text) {
        text = line.lineText;
        texts.push(text);
      }
    }
  }
  return texts;
}

/** What {@link funcAndLineInfo} needs of a string table: `BtfStringTable` fits. */
export interface StringOffsets {
  /** Offset of `s`, or `undefined` when the table lacks it. */
  find(s: string): number | undefined;
}

/** func_info and line_info of one program, for `BPF_PROG_LOAD`. */
export interface FuncAndLineInfo {
  /** `struct bpf_func_info[]` (`func_info`), host byte order, written when the program is loaded. */
  funcInfo: AttrPayload;
  /** `func_info_cnt`. */
  funcInfoCount: number;
  /** `func_info_rec_size`: {@link BPF_FUNC_INFO_SIZE}. */
  funcInfoRecSize: number;
  /** `struct bpf_line_info[]` (`line_info`), host byte order, written when the program is loaded. */
  lineInfo: AttrPayload;
  /** `line_info_cnt`. */
  lineInfoCount: number;
  /** `line_info_rec_size`: {@link BPF_LINE_INFO_SIZE}. */
  lineInfoRecSize: number;
}

/**
 * The program's `bpf_func_info` and `bpf_line_info` arrays from its
 * instructions' `func` (BTF FUNC ID) and `line` metadata. `insn_off` is
 * the instruction's slot index in the flattened program (`ld_imm64` takes
 * two slots); file name and line text offsets are looked up in `strings`,
 * the loaded BTF's string table ({@link LoadedObjectBtf.strings}), so the
 * records match the blob the program is loaded with. FUNC IDs are kept:
 * sanitising never renumbers types.
 *
 * @throws {KernelError} `KERNEL_BTF_STRING_MISSING` when a text is not in
 *   `strings` (the table is not the one prepared for this program's spec);
 *   `BtfError` from the encoders (a line or column out of range).
 */
export function funcAndLineInfo(prog: ProgramSpec, strings: StringOffsets): FuncAndLineInfo {
  const funcs: FuncInfoInput[] = [];
  const lines: LineInfoInput[] = [];
  const offsetOf = (s: string, slot: number): number => {
    const off = strings.find(s);
    if (off === undefined) {
      throw new KernelError(
        "KERNEL_BTF_STRING_MISSING",
        `program ${prog.name}: instruction ${slot}: line info string ${
          JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s)
        } is not in the loaded BTF's string table`,
      );
    }
    return off;
  };
  let slot = 0;
  // The previous record's strings and offsets: records repeat them (one
  // file name throughout, one text per source line), and a repeat needs no
  // lookup.
  let file: string | undefined;
  let fileOff = 0;
  let text: string | undefined;
  let textOff = 0;
  for (const ins of prog.instructions) {
    if (ins.func !== undefined) funcs.push({ insnOff: slot * 8, typeId: ins.func });
    const line = ins.line;
    if (line !== undefined) {
      if (line.fileName !== file) {
        fileOff = offsetOf(line.fileName, slot);
        file = line.fileName;
      }
      if (line.lineText !== text) {
        textOff = offsetOf(line.lineText, slot);
        text = line.lineText;
      }
      lines.push({
        insnOff: slot * 8,
        fileNameOff: fileOff,
        lineOff: textOff,
        line: line.line,
        column: line.column,
      });
    }
    slot += ins.opcode === LD_IMM64 ? 2 : 1;
  }
  try {
    // Checked now, so a record the kernel format can't hold fails here;
    // the bytes are written straight into the syscall's staging area.
    checkFuncInfo(funcs);
    checkLineInfo(lines);
  } catch (err) {
    if (err instanceof TsbpfError) err.addContext(`program ${prog.name}`);
    throw err;
  }
  return {
    funcInfo: recordPayload(funcs, BPF_FUNC_INFO_SIZE, encodeFuncInfoInto),
    funcInfoCount: funcs.length,
    funcInfoRecSize: BPF_FUNC_INFO_SIZE,
    lineInfo: recordPayload(lines, BPF_LINE_INFO_SIZE, encodeLineInfoInto),
    lineInfoCount: lines.length,
    lineInfoRecSize: BPF_LINE_INFO_SIZE,
  };
}

/** Checked records as an {@link AttrPayload} their encoder writes in host byte order. */
function recordPayload<R>(
  records: readonly R[],
  recSize: number,
  encodeInto: (
    records: readonly R[],
    out: Uint8Array,
    options: { offset: number; littleEndian: boolean },
  ) => void,
): AttrPayload {
  return {
    byteLength: records.length * recSize,
    writeTo: (out, offset) =>
      encodeInto(records, out, { offset, littleEndian: HOST_LITTLE_ENDIAN }),
  };
}
