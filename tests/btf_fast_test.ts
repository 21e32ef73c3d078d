/**
 * The fast paths of the `btf` stage give what the plain code gave: the
 * `.BTF.ext` parser against the parser it replaced (kept below as the
 * reference), with and without section names to share; the DATASEC fixup
 * against the fixup it replaced, on mutated symbol tables; `idsOfKind`,
 * `kindOf` and `datasecIds` against decoded types; `symbolValue` against
 * `symbolValues`.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { readElf } from "../elf/mod.ts";
import { STT_FUNC, STT_NOTYPE, STT_OBJECT, STT_SECTION } from "../elf/constants.ts";
import type { ElfSection, ElfSymbol } from "../elf/types.ts";
import { Btf } from "../btf/btf.ts";
import {
  BTF_EXT_HEADER_CORE_LEN,
  BTF_EXT_HEADER_MIN_LEN,
  BTF_EXT_VERSION,
  type BtfExt,
  CORE_RELO_MIN_SIZE,
  CoreReloKind,
  type CoreReloRecord,
  FUNC_INFO_MIN_SIZE,
  type FuncInfoRecord,
  LINE_COL_SHIFT,
  LINE_INFO_MIN_SIZE,
  type LineInfoRecord,
  parseBtfExt,
  type ParseBtfExtOptions,
} from "../btf/ext.ts";
import { type BtfExtSource, encodeBtfExt } from "../btf/ext_encode.ts";
import { type BtfDatasec, BtfKind, type BtfType, BtfVarLinkage } from "../btf/types.ts";
import { BtfError } from "../errors/mod.ts";
import { classifyStage, type LoadContext, newLoadContext, readStage } from "../stages/mod.ts";
import { datasecIds, fixupDatasecs, symbolValue, symbolValues } from "../stages/btf.ts";
import { fixtureObjects, readFixture } from "./_util.ts";
import { stringTable } from "./_btf_ext_util.ts";

// ---------------------------------------------------------------------------
// .BTF.ext: the parser as it was before its fast paths, verbatim, as the reference

const INFO_SEC_SIZE = 8;
const INSN_SIZE = 8;

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
function referenceParseBtfExt(bytes: Uint8Array, options: ParseBtfExtOptions): BtfExt {
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

// ---------------------------------------------------------------------------
// .BTF.ext: the fast parser against the reference

interface ExtBase {
  name: string;
  bytes: Uint8Array;
  strings: (offset: number) => string;
  /** The object's ELF sections, whose name strings the parser may share. */
  sections: readonly { readonly name: string }[];
}

/** A blob with CO-RE relocations (the fixtures have none), so that subsection is covered too. */
function coreSample(le: boolean): ExtBase {
  const strings = stringTable();
  const source: BtfExtSource = {
    funcInfo: new Map([
      [".text", [{ insnOff: 0, typeId: 3 }]],
      ["socket", [{ insnOff: 0, typeId: 6 }, { insnOff: 64, typeId: 8 }]],
    ]),
    lineInfo: new Map([
      ["socket", [
        { insnOff: 0, fileName: "core.c", lineText: "int f(void)", line: 5, column: 0 },
        { insnOff: 8, fileName: "core.c", lineText: "int f(void)", line: 5, column: 3 },
        { insnOff: 16, fileName: "core.c", lineText: "\treturn p->b;", line: 7, column: 12 },
        { insnOff: 24, fileName: "other.h", lineText: "\treturn p->b;", line: 7, column: 1 },
      ]],
      [".text", [{ insnOff: 0, fileName: "core.c", lineText: "", line: 1, column: 0 }]],
    ]),
    coreRelos: new Map([
      ["socket", [
        { insnOff: 0, typeId: 2, accessor: "0:1", kind: CoreReloKind.FIELD_BYTE_OFFSET },
        { insnOff: 40, typeId: 7, accessor: "1", kind: CoreReloKind.ENUMVAL_VALUE },
      ]],
      [".text", [{ insnOff: 8, typeId: 2, accessor: "0", kind: CoreReloKind.TYPE_SIZE }]],
    ]),
  };
  return {
    name: `core sample ${le ? "el" : "eb"}`,
    bytes: encodeBtfExt(source, { littleEndian: le, addString: strings.add }),
    strings: strings.resolve,
    sections: [{ name: "" }, { name: "socket" }, { name: ".text" }, { name: "license" }],
  };
}

function extBases(): ExtBase[] {
  const bases: ExtBase[] = [coreSample(true), coreSample(false)];
  for (const dir of ["bpfel", "bpfeb"] as const) {
    for (const name of fixtureObjects(dir)) {
      const elf = readElf(readFixture(`${dir}/${name}`));
      const btfSection = elf.sectionByName(".BTF");
      const extSection = elf.sectionByName(".BTF.ext");
      if (btfSection === undefined || extSection === undefined) continue;
      const btf = Btf.parse(elf.sectionData(btfSection));
      bases.push({
        name: `${dir}/${name}`,
        bytes: elf.sectionData(extSection).slice(),
        strings: (offset) => btf.string(offset),
        sections: elf.sections,
      });
    }
  }
  return bases;
}

/** What a parse gave: the records in map order, or the error's code, message, offset and cause. */
function extOutcome(parse: () => BtfExt): unknown {
  try {
    const ext = parse();
    return {
      littleEndian: ext.littleEndian,
      funcInfo: [...ext.funcInfo],
      lineInfo: [...ext.lineInfo],
      coreRelos: [...ext.coreRelos],
    };
  } catch (err) {
    if (!(err instanceof BtfError)) throw err;
    const cause = err.cause instanceof Error ? err.cause.message : err.cause;
    return { code: err.code, message: err.message, offset: err.offset, cause };
  }
}

/** The reference and the parser with no sections, the object's sections and a reordered list agree. */
function assertSameExt(base: ExtBase, bytes: Uint8Array): unknown {
  const strings = base.strings;
  const want = extOutcome(() => referenceParseBtfExt(bytes, { strings }));
  assert.deepEqual(extOutcome(() => parseBtfExt(bytes, { strings })), want);
  assert.deepEqual(
    extOutcome(() => parseBtfExt(bytes, { strings, sections: base.sections })),
    want,
  );
  const shuffled = [...base.sections].reverse();
  assert.deepEqual(extOutcome(() => parseBtfExt(bytes, { strings, sections: shuffled })), want);
  return want;
}

type Mutation =
  | { kind: "word"; at: number; value: number }
  | { kind: "byte"; at: number; value: number }
  | { kind: "truncate"; at: number };

const EDGES = [0, 1, 4, 7, 8, 16, 24, 32, 0x7fffffff, 0xfffffff8, 0xffffffff];

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("word" as const),
      at: fc.nat(),
      value: fc.oneof(fc.constantFrom(...EDGES), fc.nat({ max: 64 }), fc.nat()),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("byte" as const),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }) },
);

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = bytes.slice();
  for (const m of mutations) {
    if (m.kind === "truncate") {
      out = out.slice(0, m.at % (out.length + 1));
    } else if (m.kind === "byte") {
      if (out.length > 0) out[m.at % out.length] = m.value;
    } else if (out.length >= 4) {
      // Either byte order: the header says which one the parser reads.
      const at = (m.at % (out.length >>> 2)) * 4;
      new DataView(out.buffer).setUint32(at, m.value >>> 0, (m.at & 1) === 0);
    }
  }
  return out;
}

test("parseBtfExt gives every fixture's records as the reference parser does, sections or not", () => {
  for (const base of extBases()) {
    const got = assertSameExt(base, base.bytes) as { code?: string };
    assert.equal(got.code, undefined, `${base.name} parses`);
  }
});

test("parseBtfExt: mutated blobs give the reference parser's records or its error, word for word", {
  timeout: 120000,
}, () => {
  const bases = extBases();
  let errors = 0;
  fc.assert(
    fc.property(fc.nat(), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (pick, muts) => {
      const base = bases[pick % bases.length];
      const got = assertSameExt(base, mutate(base.bytes, muts)) as { code?: string };
      if (got.code !== undefined) errors++;
    }),
    { numRuns: 3000, seed: 0xb7f_fa57 },
  );
  assert.ok(
    errors > 300 && errors < 2900,
    `${errors} of 3000 mutants fail: both kinds are covered`,
  );
});

test("parseBtfExt: a resolver's failure is reported the same, memoised lines and names or not", () => {
  const strings = stringTable();
  const bytes = encodeBtfExt({
    funcInfo: new Map([["a", [{ insnOff: 0, typeId: 1 }]], ["b", [{ insnOff: 0, typeId: 2 }]]]),
    lineInfo: new Map([
      ["a", [
        { insnOff: 0, fileName: "f.c", lineText: "x", line: 1, column: 0 },
        { insnOff: 8, fileName: "f.c", lineText: "x", line: 1, column: 2 },
        { insnOff: 16, fileName: "g.c", lineText: "y", line: 2, column: 0 },
      ]],
      ["b", [{ insnOff: 0, fileName: "f.c", lineText: "y", line: 3, column: 0 }]],
    ]),
    coreRelos: new Map(),
  }, { littleEndian: true, addString: strings.add });
  const sections = [{ name: "b" }, { name: "a" }];
  // Every string offset, refused in turn: the same error, whichever record first meets it.
  for (const refused of ["a", "b", "f.c", "g.c", "x", "y"].map((s) => strings.add(s))) {
    const resolve = (offset: number) => {
      if (offset === refused) throw new Error(`offset ${offset} refused`);
      return strings.resolve(offset);
    };
    const base: ExtBase = { name: `refusing ${refused}`, bytes, strings: resolve, sections };
    const got = assertSameExt(base, bytes) as { code?: string };
    assert.equal(got.code, "BTF_EXT_BAD_STRING");
  }
  // A resolver that returns something else than a string.
  const odd = (offset: number) =>
    (offset === strings.add("g.c") ? 7 : strings.resolve(offset)) as string;
  assert.equal(
    (assertSameExt({ name: "odd", bytes, strings: odd, sections }, bytes) as { code?: string })
      .code,
    "BTF_EXT_BAD_STRING",
  );
});

// ---------------------------------------------------------------------------
// DATASEC fixup: the stage's against the fixup it replaced

/** The fixup as it was before its fast paths, verbatim, as the reference. */
function referenceFixupDatasecs(ctx: LoadContext, btf: Btf): void {
  const found: { id: number; ds: BtfDatasec; index: number; size: number }[] = [];
  for (let id = btf.firstId; id <= btf.lastId; id++) {
    if (btf.kindOf(id) !== BtfKind.DATASEC) continue;
    const ds = btf.type(id) as BtfDatasec;
    const section = referenceSectionNamed(ctx, ds.name);
    if (section !== undefined) found.push({ id, ds, index: section.index, size: section.size });
  }
  if (found.length === 0) return;
  const symbols = new Map<number, Map<string, number>>();
  for (const f of found) symbols.set(f.index, new Map());
  for (const sym of ctx.symbols) {
    const names = symbols.get(sym.sectionIndex);
    if (names === undefined || sym.type === STT_SECTION || sym.name === "") continue;
    if (sym.type === STT_OBJECT || sym.type === STT_NOTYPE) names.set(sym.name, sym.value);
  }
  for (const { id, ds, index, size } of found) {
    const values = symbols.get(index)!;
    let vars = ds.vars;
    for (let i = 0; i < ds.vars.length; i++) {
      const v = ds.vars[i];
      const variable = btf.type(v.type);
      if (variable.kind !== BtfKind.VAR || variable.linkage === BtfVarLinkage.GLOBAL_EXTERN) {
        continue;
      }
      const value = values.get(variable.name);
      if (value === undefined) {
        throw new BtfError(
          "BTF_DATASEC_NO_SYMBOL",
          `variable ${variable.name} of DATASEC ${ds.name} (type ${id}) has no ELF symbol`,
        );
      }
      if (value === v.offset) continue;
      if (vars === ds.vars) vars = ds.vars.slice();
      vars[i] = { ...v, offset: value };
    }
    if (size !== ds.size || vars !== ds.vars) {
      btf.replaceType(id, { ...ds, size, vars: vars === ds.vars ? vars.slice() : vars });
    }
  }
}

function referenceSectionNamed(ctx: LoadContext, name: string): ElfSection | undefined {
  let found: ElfSection | undefined;
  for (const sec of ctx.sections.values()) if (sec.section.name === name) found = sec.section;
  return found;
}

interface FixupBase {
  name: string;
  ctx: LoadContext;
  btfBytes: Uint8Array;
  /** Names of the BTF's DATASECs, which mutations steer sections and symbols to. */
  datasecNames: string[];
}

function fixupBases(): FixupBase[] {
  const bases: FixupBase[] = [];
  for (const dir of ["bpfel", "bpfeb"] as const) {
    for (const name of fixtureObjects(dir)) {
      const ctx = newLoadContext(readFixture(`${dir}/${name}`));
      readStage().run(ctx);
      classifyStage().run(ctx);
      const btfSection = [...ctx.sections.values()].find((s) => s.kind === "btf");
      if (btfSection === undefined) continue;
      const btfBytes = ctx.elf!.sectionData(btfSection.section);
      const btf = Btf.parse(btfBytes);
      const datasecNames = [...btf.types()].filter((t) => t.kind === BtfKind.DATASEC).map((t) =>
        t.name
      );
      if (datasecNames.length > 0) {
        bases.push({ name: `${dir}/${name}`, ctx, btfBytes, datasecNames });
      }
    }
  }
  return bases;
}

/** Each DATASEC and replaced type after a fixup, or the error it threw. */
function fixupOutcome(
  fix: (ctx: LoadContext, btf: Btf) => void,
  base: FixupBase,
  ctx: LoadContext,
) {
  const btf = Btf.parse(base.btfBytes);
  try {
    fix(ctx, btf);
  } catch (err) {
    if (!(err instanceof BtfError)) throw err;
    return { code: err.code, message: err.message };
  }
  const types: BtfType[] = [...btf.types()];
  return {
    replaced: btf.replacedIds().map((id) => btf.type(id)),
    datasecs: types.filter((t) => t.kind === BtfKind.DATASEC),
  };
}

function assertSameFixup(base: FixupBase, ctx: LoadContext): unknown {
  const want = fixupOutcome(referenceFixupDatasecs, base, ctx);
  assert.deepEqual(fixupOutcome(fixupDatasecs, base, ctx), want);
  return want;
}

type SymbolEdit = {
  kind: "drop" | "dup" | "value" | "type" | "rename" | "move" | "section";
  pick: number;
  other: number;
  value: number;
};

const symbolEditArb: fc.Arbitrary<SymbolEdit> = fc.record({
  kind: fc.constantFrom(
    "drop" as const,
    "dup" as const,
    "value" as const,
    "type" as const,
    "rename" as const,
    "move" as const,
    "section" as const,
  ),
  pick: fc.nat(),
  other: fc.nat(),
  value: fc.nat({ max: 4096 }),
});

const SYMBOL_TYPES = [STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION];

/** `base.ctx` with its symbols (and maybe a section's name) edited, and maybe padded with symbols. */
function editedContext(base: FixupBase, edits: SymbolEdit[], pad: number): LoadContext {
  const symbols: ElfSymbol[] = base.ctx.symbols.map((s) => ({ ...s }));
  const sections = new Map(base.ctx.sections);
  const indexes = [...sections.keys()];
  for (const e of edits) {
    if (e.kind === "section") {
      // Give a section a DATASEC's name: two sections of a name, the last one counts.
      const index = indexes[e.pick % indexes.length];
      const entry = sections.get(index)!;
      const name = base.datasecNames[e.other % base.datasecNames.length];
      sections.set(index, { ...entry, section: { ...entry.section, name } });
      continue;
    }
    if (symbols.length === 0) break;
    const i = e.pick % symbols.length;
    const other = symbols[e.other % symbols.length];
    if (e.kind === "drop") symbols.splice(i, 1);
    else if (e.kind === "dup") {
      symbols.splice(e.other % symbols.length, 0, { ...symbols[i], value: e.value });
    } else if (e.kind === "value") symbols[i] = { ...symbols[i], value: e.value };
    else if (e.kind === "type") symbols[i] = { ...symbols[i], type: SYMBOL_TYPES[e.value % 4] };
    else if (e.kind === "rename") {
      symbols[i] = { ...symbols[i], name: e.value % 3 === 0 ? "" : other.name };
    } else symbols[i] = { ...symbols[i], sectionIndex: other.sectionIndex };
  }
  if (pad > 0 && symbols.length > 0) {
    // Many variable symbols in one section: the fixup looks them up through a map.
    const like = symbols[pad % symbols.length];
    for (let i = 0; i < pad; i++) {
      symbols.push({ ...like, name: `pad_${i}`, type: STT_OBJECT, value: 8 * i });
    }
    // And a second symbol of a name already there: the later one counts.
    if (pad % 2 === 1) symbols.push({ ...like, value: like.value + 8 });
  }
  return { ...base.ctx, symbols, sections };
}

test("fixupDatasecs fixes every fixture's DATASECs as the reference fixup does", () => {
  const bases = fixupBases();
  assert.ok(bases.length > 10, `${bases.length} fixtures with DATASECs`);
  for (const base of bases) {
    const got = assertSameFixup(base, base.ctx) as { code?: string };
    assert.equal(got.code, undefined, base.name);
  }
});

test("fixupDatasecs: edited symbols and sections give the reference's DATASECs or its error", {
  timeout: 120000,
}, () => {
  const bases = fixupBases();
  let errors = 0;
  fc.assert(
    fc.property(
      fc.nat(),
      fc.array(symbolEditArb, { maxLength: 5 }),
      fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, {
        weight: 1,
        arbitrary: fc.nat({ max: 1500 }),
      }),
      (pick, edits, pad) => {
        const base = bases[pick % bases.length];
        const got = assertSameFixup(base, editedContext(base, edits, pad)) as { code?: string };
        if (got.code !== undefined) errors++;
      },
    ),
    { numRuns: 800, seed: 0xda7a_5ec },
  );
  assert.ok(errors > 20 && errors < 780, `${errors} of 800 edits fail: both kinds are covered`);
});

test("symbolValue scans to the value symbolValues maps, for any symbol table", () => {
  const symbolArb = fc.record({
    name: fc.constantFrom("", "a", "b", "ab", "ba", "abc"),
    sectionIndex: fc.integer({ min: 0, max: 3 }),
    type: fc.constantFrom(...SYMBOL_TYPES),
    value: fc.nat(),
  });
  fc.assert(
    fc.property(
      fc.array(symbolArb, { maxLength: 24 }),
      fc.integer({ min: 0, max: 3 }),
      fc.constantFrom("", "a", "b", "ab", "ba", "abc", "zz"),
      (symbols, index, name) => {
        const table = symbols as unknown as ElfSymbol[];
        assert.equal(symbolValue(table, index, name), symbolValues(table, index).get(name));
      },
    ),
    { numRuns: 2000, seed: 0x5ca1 },
  );
});

// ---------------------------------------------------------------------------
// Kinds: the index against decoded types

/** `idsOfKind`, `kindOf` and `datasecIds` agree with the decoded types, overrides included. */
function assertKinds(btf: Btf): void {
  const types = [...btf.types()];
  for (let kind = 0; kind <= 19; kind++) {
    const want = types.filter((t) => t.kind === kind).map((t) => t.id);
    assert.deepEqual(btf.idsOfKind(kind as BtfKind), want, `kind ${kind}`);
  }
  for (const t of types) assert.equal(btf.kindOf(t.id), t.kind);
  const names = new Set(types.filter((t) => t.kind === BtfKind.DATASEC).map((t) => t.name));
  for (const name of [...names, "no such section", ""]) {
    const want = types.filter((t) => t.kind === BtfKind.DATASEC && t.name === name).map((t) =>
      t.id
    );
    assert.deepEqual(datasecIds(btf, name), want, name);
  }
}

test("idsOfKind, kindOf and datasecIds agree with the decoded types, before and after replaceType", () => {
  for (const dir of ["bpfel", "bpfeb"] as const) {
    for (const name of fixtureObjects(dir)) {
      const elf = readElf(readFixture(`${dir}/${name}`));
      const section = elf.sectionByName(".BTF");
      if (section === undefined) continue;
      const btf = Btf.parse(elf.sectionData(section));
      assertKinds(btf);
      // A replacement of the same kind keeps the fast path.
      const ds = [...btf.types()].find((t) => t.kind === BtfKind.DATASEC) as BtfDatasec | undefined;
      if (ds !== undefined) {
        btf.replaceType(ds.id, { ...ds, name: ".renamed", size: ds.size + 8 });
        assertKinds(btf);
      }
      // One of another kind, and back: the slow path, then still right.
      const int = [...btf.types()].find((t) => t.kind === BtfKind.INT);
      if (int !== undefined) {
        btf.replaceType(int.id, {
          kind: BtfKind.DATASEC,
          id: int.id,
          name: ".int",
          size: 4,
          vars: [],
        });
        assertKinds(btf);
        btf.replaceType(int.id, int);
        assertKinds(btf);
      }
    }
  }
});
