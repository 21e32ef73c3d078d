import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readElf, SHF_EXECINSTR, STT_FUNC } from "../elf/mod.ts";
import { Btf } from "../btf/btf.ts";
import { BtfKind } from "../btf/types.ts";
import {
  type BtfExt,
  CoreReloKind,
  coreReloKindName,
  type CoreReloRecord,
  type LineInfoRecord,
  parseBtfExt,
} from "../btf/ext.ts";
import {
  type BtfExtSource,
  checkFuncInfo,
  checkLineInfo,
  encodeBtfExt,
  encodeFuncInfo,
  encodeFuncInfoInto,
  encodeLineInfo,
  encodeLineInfoInto,
} from "../btf/ext_encode.ts";
import { BtfError } from "../errors/mod.ts";
import { fixtureObjects, fixturePath, haveCommand, readFixture } from "./_util.ts";
import { libbpfVerdicts, stringTable } from "./_btf_ext_util.ts";

// ---------------------------------------------------------------------------
// Helpers

interface Loaded {
  elf: ReturnType<typeof readElf>;
  btf: Btf;
  extBytes: Uint8Array;
  ext: BtfExt;
}

function loadFixture(dir: "bpfel" | "bpfeb", name: string): Loaded {
  return loadObject(readFixture(`${dir}/${name}`), `${dir}/${name}`);
}

function loadObject(bytes: Uint8Array, what: string): Loaded {
  const elf = readElf(bytes);
  const btfSection = elf.sectionByName(".BTF");
  const extSection = elf.sectionByName(".BTF.ext");
  assert.ok(btfSection && extSection, `${what} has .BTF and .BTF.ext`);
  const btf = Btf.parse(elf.sectionData(btfSection));
  const extBytes = elf.sectionData(extSection);
  return { elf, btf, extBytes, ext: parseBtfExt(extBytes, { strings: btf.string.bind(btf) }) };
}

/** Records without the raw string offsets, which depend on the string table. */
function withoutOffsets(ext: BtfExt): unknown {
  return {
    funcInfo: [...ext.funcInfo],
    lineInfo: [...ext.lineInfo].map(([s, recs]) => [
      s,
      recs.map(({ fileNameOff: _f, lineOff: _l, ...rest }) => rest),
    ]),
    coreRelos: [...ext.coreRelos].map(([s, recs]) => [
      s,
      recs.map(({ accessStrOff: _a, ...rest }) => rest),
    ]),
  };
}

function expectBtfError(fn: () => unknown, code: string, offset?: number): BtfError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof BtfError, `expected BtfError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (offset !== undefined) assert.equal(caught.offset, offset, caught.message);
  return caught;
}

const DIRS = ["bpfel", "bpfeb"] as const;
const FIXTURES = DIRS.flatMap((dir) => fixtureObjects(dir).map((name) => ({ dir, name })));

// ---------------------------------------------------------------------------
// Fixtures

test("every fixture's .BTF.ext parses in both byte orders, the same records in each", () => {
  if (FIXTURES.length === 0) return console.log("skipped: no fixtures built");
  for (const name of fixtureObjects("bpfel")) {
    const el = loadFixture("bpfel", name);
    assert.equal(el.ext.littleEndian, true, name);
    assert.ok(el.ext.funcInfo.size > 0, `${name}: func_info`);
    assert.ok(el.ext.lineInfo.size > 0, `${name}: line_info`);
    assert.equal(el.ext.coreRelos.size, 0, `${name}: the fixtures use no CO-RE`);
    if (!fixtureObjects("bpfeb").includes(name)) continue;
    const eb = loadFixture("bpfeb", name);
    assert.equal(eb.ext.littleEndian, false, name);
    assert.deepEqual([...eb.ext.funcInfo], [...el.ext.funcInfo], name);
    // clang may emit a different instruction sequence per byte order (btf_maps_more.o has one
    // instruction more in bpfel), so line_info agrees on the lines, not on every offset.
    const lines = (ext: BtfExt) =>
      [...ext.lineInfo].map(([section, recs]) => [
        section,
        recs.map((r) => `${r.fileName}:${r.line}:${r.column} ${r.lineText}`),
      ]);
    assert.deepEqual(lines(eb.ext), lines(el.ext), name);
  }
});

test("func_info: one record per function symbol of every code section, a FUNC of the same name", () => {
  for (const { dir, name } of FIXTURES) {
    const { elf, btf, ext } = loadFixture(dir, name);
    const expected = new Map<string, Map<number, string>>();
    for (const sym of elf.symbols()) {
      if (sym.type !== STT_FUNC) continue;
      const section = elf.sections[sym.sectionIndex];
      if (!(section.flags & SHF_EXECINSTR) || section.size === 0) continue;
      if (!expected.has(section.name)) expected.set(section.name, new Map());
      expected.get(section.name)!.set(sym.value, sym.name);
    }
    const where = `${dir}/${name}`;
    assert.deepEqual([...ext.funcInfo.keys()].sort(), [...expected.keys()].sort(), where);
    for (const [section, records] of ext.funcInfo) {
      const symbols = expected.get(section)!;
      assert.equal(records.length, symbols.size, `${where} ${section}`);
      const size = elf.sectionByName(section)!.size;
      for (const rec of records) {
        const fn = btf.type(rec.typeId);
        assert.equal(fn.kind, BtfKind.FUNC, `${where} ${section}+${rec.insnOff}`);
        assert.equal(fn.name, symbols.get(rec.insnOff), `${where} ${section}+${rec.insnOff}`);
        assert.ok(rec.insnOff < size && rec.insnOff % 8 === 0, `${where} ${section}`);
      }
      // A program section starts with its first program; .text may start with any function.
      assert.equal(records[0].insnOff, 0, `${where} ${section} has a function at offset 0`);
    }
  }
});

test("line_info: every code section has records naming its source file, lines as in fixtures/src", () => {
  const sources = new Map<string, string[]>();
  function sourceLines(file: string): string[] {
    let lines = sources.get(file);
    if (lines === undefined) {
      lines = readFileSync(fixturePath(`src/${file}`), "utf8").split("\n");
      sources.set(file, lines);
    }
    return lines;
  }
  let records = 0;
  for (const { dir, name } of FIXTURES) {
    const { elf, ext } = loadFixture(dir, name);
    const where = `${dir}/${name}`;
    const source = name.replace(/\.o$/, ".c");
    for (const section of elf.sections) {
      if (!(section.flags & SHF_EXECINSTR) || section.size === 0) continue;
      assert.ok(ext.lineInfo.has(section.name), `${where}: ${section.name} has line_info`);
    }
    for (const [section, recs] of ext.lineInfo) {
      const size = elf.sectionByName(section)!.size;
      for (const rec of recs) {
        records++;
        const at = `${where} ${section}+${rec.insnOff}`;
        assert.ok(
          rec.fileName.endsWith(`fixtures/src/${source}`) || rec.fileName === source,
          `${at}: file ${rec.fileName}`,
        );
        assert.ok(rec.insnOff < size && rec.insnOff % 8 === 0, at);
        assert.ok(rec.column >= 0 && rec.column < 1024, at);
        const lines = sourceLines(source);
        assert.ok(rec.line <= lines.length, `${at}: line ${rec.line} of ${lines.length}`);
        if (rec.line === 0) {
          // clang's "no line" marker for compiler-made code carries no text.
          assert.equal(rec.lineText, "", at);
        } else {
          assert.equal(rec.lineText.trim(), lines[rec.line - 1].trim(), `${at}: line ${rec.line}`);
        }
      }
    }
  }
  if (FIXTURES.length > 0) assert.ok(records > 100, `only ${records} line_info records`);
});

test("encodeBtfExt reproduces every fixture's .BTF.ext byte for byte from the parsed records", () => {
  for (const { dir, name } of FIXTURES) {
    const { btf, extBytes, ext } = loadFixture(dir, name);
    // clang writes each string once: map every string back to its offset in .BTF.
    const offsets = new Map<string, number>();
    for (const recs of ext.lineInfo.values()) {
      for (const r of recs) {
        offsets.set(r.fileName, r.fileNameOff);
        offsets.set(r.lineText, r.lineOff);
      }
    }
    const addString = (s: string): number => {
      return offsets.get(s) ?? sectionNameOffset(btf, s);
    };
    const again = encodeBtfExt(ext, { littleEndian: ext.littleEndian, addString });
    assert.deepEqual(again, extBytes, `${dir}/${name}`);
  }
});

/** The offset of `name` in `.BTF`'s string table: no type names a code section, so scan the table. */
function sectionNameOffset(btf: Btf, name: string): number {
  const view = new DataView(btf.bytes.buffer, btf.bytes.byteOffset, btf.bytes.length);
  const strLen = view.getUint32(20, btf.littleEndian);
  for (let off = 0; off < strLen;) {
    const s = btf.string(off);
    if (s === name) return off;
    off += new TextEncoder().encode(s).length + 1;
  }
  throw new Error(`${name} is not in the string table`);
}

// ---------------------------------------------------------------------------
// CO-RE relocations from clang

const CORE_SOURCE = `
#define SEC(name) __attribute__((section(name), used))
struct pair { int a; int b; unsigned int bits : 3; } __attribute__((preserve_access_index));
enum color { RED = 1, GREEN = 7 };
SEC("socket") int core_prog(struct pair *p)
{
	int r = p->b;
	r += __builtin_preserve_field_info(p->a, 2);
	r += __builtin_preserve_field_info(p->bits, 1);
	r += __builtin_preserve_type_info(*p, 1);
	r += __builtin_preserve_type_info(*p, 0);
	r += __builtin_preserve_enum_value(*(enum color *)GREEN, 1);
	r += __builtin_preserve_enum_value(*(enum color *)RED, 0);
	r += __builtin_btf_type_id(*p, 0);
	r += __builtin_btf_type_id(*p, 1);
	return r;
}
char _license[] SEC("license") = "GPL";
`;

test("CO-RE relocations of a clang-built object: kinds, accessors, types, patched instructions", {
  timeout: 60000,
}, () => {
  if (!haveCommand("clang")) return console.log("skipped: clang is not on PATH");
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-core-"));
  try {
    writeFileSync(join(dir, "core.c"), CORE_SOURCE);
    const results: unknown[] = [];
    for (const target of ["bpfel", "bpfeb"]) {
      const out = join(dir, `${target}.o`);
      const cc = spawnSync("clang", ["-target", target, "-O2", "-g", "-c", "core.c", "-o", out], {
        cwd: dir,
        encoding: "utf8",
      });
      assert.equal(cc.status, 0, cc.stderr);
      const { elf, btf, ext } = loadObject(new Uint8Array(readFileSync(out)), target);
      assert.equal(ext.littleEndian, target === "bpfel");
      const relos = ext.coreRelos.get("socket");
      assert.ok(relos, "CO-RE relocations of section socket");
      const text = elf.sectionData(elf.sectionByName("socket")!);
      const view = new DataView(text.buffer, text.byteOffset, text.length);
      const le = ext.littleEndian;
      // What clang leaves in the instruction each relocation patches: the local answer.
      const pair = btf.typeByName("pair", BtfKind.STRUCT).id;
      const color = btf.typeByName("color", BtfKind.ENUM).id;
      const expected: Array<[number, string, number, "off" | "imm", number]> = [
        [CoreReloKind.FIELD_BYTE_OFFSET, "0:1", pair, "off", 4],
        [CoreReloKind.FIELD_EXISTS, "0:0", pair, "imm", 1],
        [CoreReloKind.FIELD_BYTE_SIZE, "0:2", pair, "imm", 4],
        [CoreReloKind.TYPE_SIZE, "0", pair, "imm", 12],
        [CoreReloKind.TYPE_EXISTS, "0", pair, "imm", 1],
        [CoreReloKind.ENUMVAL_VALUE, "1", color, "imm", 7],
        [CoreReloKind.ENUMVAL_EXISTS, "0", color, "imm", 1],
        [CoreReloKind.TYPE_ID_LOCAL, "0", pair, "imm", pair],
        [CoreReloKind.TYPE_ID_TARGET, "0", pair, "imm", pair],
      ];
      assert.equal(relos.length, expected.length);
      relos.forEach((rec: CoreReloRecord, i) => {
        const [kind, accessor, typeId, field, value] = expected[i];
        const what = `${target} relo ${i} (${coreReloKindName(rec.kind)})`;
        assert.equal(rec.kind, kind, what);
        assert.equal(rec.accessor, accessor, what);
        assert.equal(rec.typeId, typeId, what);
        assert.equal(btf.string(rec.accessStrOff), accessor, what);
        assert.ok(rec.insnOff % 8 === 0 && rec.insnOff + 8 <= text.length, what);
        const got = field === "off"
          ? view.getInt16(rec.insnOff + 2, le)
          : view.getInt32(rec.insnOff + 4, le);
        assert.equal(got, value, `${what}: ${field} of the instruction at byte ${rec.insnOff}`);
      });
      results.push(withoutOffsets(ext));
    }
    assert.deepEqual(results[1], results[0], "bpfeb and bpfel agree");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("coreReloKindName and CoreReloKind follow the uapi enum bpf_core_relo_kind", () => {
  assert.equal(CoreReloKind.FIELD_BYTE_OFFSET, 0);
  assert.equal(CoreReloKind.FIELD_RSHIFT_U64, 5);
  assert.equal(CoreReloKind.TYPE_ID_LOCAL, 6);
  assert.equal(CoreReloKind.ENUMVAL_VALUE, 11);
  assert.equal(CoreReloKind.TYPE_MATCHES, 12);
  assert.equal(Object.keys(CoreReloKind).length, 13);
  assert.equal(coreReloKindName(0), "FIELD_BYTE_OFFSET");
  assert.equal(coreReloKindName(12), "TYPE_MATCHES");
  assert.equal(coreReloKindName(13), "UNKNOWN(13)");
});

// ---------------------------------------------------------------------------
// Hand-built blobs

/** Two sections in each subsection, so blocks after the first are exercised too. */
function sampleSource(): BtfExtSource {
  return {
    funcInfo: new Map([
      ["xdp", [{ insnOff: 0, typeId: 3 }, { insnOff: 16, typeId: 5 }]],
      ["tc", [{ insnOff: 0, typeId: 7 }]],
    ]),
    lineInfo: new Map([
      ["xdp", [
        { insnOff: 0, fileName: "a.c", lineText: "int f(void)", line: 3, column: 0 },
        { insnOff: 8, fileName: "a.c", lineText: "\treturn 1;", line: 5, column: 2 },
      ]],
      ["tc", [{ insnOff: 0, fileName: "b.c", lineText: "", line: 0, column: 0 }]],
    ]),
    coreRelos: new Map([
      ["xdp", [
        { insnOff: 8, typeId: 3, accessor: "0:1", kind: CoreReloKind.FIELD_BYTE_OFFSET },
        { insnOff: 0, typeId: 7, accessor: "0", kind: CoreReloKind.TYPE_SIZE },
      ]],
    ]),
  };
}

/**
 * Offsets in the sample blob (header 32, records of the minimum size):
 * func_info 32..76 (rec_size 32; xdp block 36, records 44, 52; tc block 60, record 68),
 * line_info 76..144 (rec_size 76; xdp block 80, records 88, 104; tc block 120, record 128),
 * core_relo 144..188 (rec_size 144; xdp block 148, records 156, 172).
 */
const AT = {
  funcRecSize: 32,
  funcXdp: 36,
  funcXdpRec0: 44,
  funcXdpRec1: 52,
  funcTc: 60,
  lineRecSize: 76,
  lineXdp: 80,
  lineXdpRec0: 88,
  lineXdpRec1: 104,
  coreRecSize: 144,
  coreXdp: 148,
  coreXdpRec0: 156,
  end: 188,
};

interface Sample {
  bytes: Uint8Array;
  le: boolean;
  strings: ReturnType<typeof stringTable>;
}

function sample(le: boolean, source: BtfExtSource = sampleSource()): Sample {
  const strings = stringTable();
  const bytes = encodeBtfExt(source, { littleEndian: le, addString: strings.add });
  return { bytes, le, strings };
}

function u32(s: Sample, offset: number, value: number): Sample {
  const bytes = s.bytes.slice();
  new DataView(bytes.buffer).setUint32(offset, value, s.le);
  return { ...s, bytes };
}

function parse(s: Sample): BtfExt {
  return parseBtfExt(s.bytes, { strings: s.strings.resolve });
}

test("the sample blob has the layout the error cases patch", () => {
  for (const le of [true, false]) {
    const s = sample(le);
    const view = new DataView(s.bytes.buffer);
    assert.equal(s.bytes.length, AT.end);
    assert.equal(view.getUint32(AT.funcRecSize, le), 8);
    assert.equal(view.getUint32(AT.funcTc + 4, le), 1);
    assert.equal(view.getUint32(AT.lineRecSize, le), 16);
    assert.equal(view.getUint32(AT.lineXdp + 4, le), 2);
    assert.equal(view.getUint32(AT.coreRecSize, le), 16);
    assert.equal(view.getUint32(AT.coreXdp + 4, le), 2);
    const ext = parse(s);
    assert.equal(ext.littleEndian, le);
    assert.deepEqual(withoutOffsets(ext), withoutOffsets({ ...ext, ...sampleSource() } as BtfExt));
    assert.deepEqual([...ext.funcInfo.keys()], ["xdp", "tc"]);
    const line = ext.lineInfo.get("xdp")![1];
    assert.equal(s.strings.resolve(line.fileNameOff), "a.c");
    assert.equal(s.strings.resolve(line.lineOff), "\treturn 1;");
    assert.equal(s.strings.resolve(ext.coreRelos.get("xdp")![0].accessStrOff), "0:1");
  }
});

/** One hand-built malformed blob: the code it must fail with and the offset the error names. */
interface ErrorCase {
  name: string;
  code: string;
  offset?: number;
  make(le: boolean): Sample;
  /** Text the message must contain (the ELF section, the subsection). */
  mentions?: string[];
  /** Whether libbpf's btf_ext__new refuses it too (it checks layout, not strings, insn_off or order). */
  libbpfRejects: boolean;
}

function withBytes(s: Sample, bytes: Uint8Array): Sample {
  return { ...s, bytes };
}

const ERROR_CASES: ErrorCase[] = [
  {
    name: "one byte",
    code: "BTF_EXT_TRUNCATED",
    make: (le) => withBytes(sample(le), sample(le).bytes.slice(0, 1)),
    libbpfRejects: true,
  },
  {
    name: "ends inside hdr_len",
    code: "BTF_EXT_TRUNCATED",
    make: (le) => withBytes(sample(le), sample(le).bytes.slice(0, 6)),
    libbpfRejects: true,
  },
  {
    name: "bad magic",
    code: "BTF_EXT_BAD_MAGIC",
    offset: 0,
    make: (le) => {
      const s = sample(le);
      const bytes = s.bytes.slice();
      bytes[0] = 0x12;
      return withBytes(s, bytes);
    },
    libbpfRejects: true,
  },
  {
    name: "version 2",
    code: "BTF_EXT_BAD_VERSION",
    offset: 2,
    make: (le) => {
      const s = sample(le);
      const bytes = s.bytes.slice();
      bytes[2] = 2;
      return withBytes(s, bytes);
    },
    libbpfRejects: true,
  },
  {
    name: "flags set",
    code: "BTF_EXT_BAD_FLAGS",
    offset: 3,
    make: (le) => {
      const s = sample(le);
      const bytes = s.bytes.slice();
      bytes[3] = 1;
      return withBytes(s, bytes);
    },
    libbpfRejects: true,
  },
  {
    name: "hdr_len 20",
    code: "BTF_EXT_HEADER_TOO_SHORT",
    offset: 4,
    make: (le) => u32(sample(le), 4, 20),
    libbpfRejects: true,
  },
  {
    name: "hdr_len past the end",
    code: "BTF_EXT_TRUNCATED",
    offset: 4,
    make: (le) => u32(sample(le), 4, AT.end + 4),
    libbpfRejects: true,
  },
  {
    name: "header and nothing else",
    code: "BTF_EXT_NO_RECORDS",
    offset: 32,
    make: (le) => sample(le, {}),
    libbpfRejects: true,
  },
  {
    name: "func_info past the end",
    code: "BTF_EXT_OUT_OF_BOUNDS",
    offset: 8,
    make: (le) => u32(sample(le), 12, 1000),
    mentions: ["func_info"],
    libbpfRejects: true,
  },
  {
    name: "core_relo offset past the end",
    code: "BTF_EXT_OUT_OF_BOUNDS",
    offset: 24,
    make: (le) => u32(sample(le), 24, 0xfffffffc),
    mentions: ["core_relo"],
    libbpfRejects: true,
  },
  {
    name: "line_info_off not a multiple of 4",
    code: "BTF_EXT_MISALIGNED",
    offset: 16,
    make: (le) => u32(sample(le), 16, 42),
    mentions: ["line_info"],
    libbpfRejects: true,
  },
  {
    name: "func_info of 2 bytes",
    code: "BTF_EXT_TRUNCATED",
    offset: AT.funcRecSize,
    make: (le) => u32(sample(le), 12, 2),
    mentions: ["func_info"],
    libbpfRejects: true,
  },
  {
    name: "func_info rec_size 4",
    code: "BTF_EXT_BAD_REC_SIZE",
    offset: AT.funcRecSize,
    make: (le) => u32(sample(le), AT.funcRecSize, 4),
    libbpfRejects: true,
  },
  {
    name: "line_info rec_size 18",
    code: "BTF_EXT_BAD_REC_SIZE",
    offset: AT.lineRecSize,
    make: (le) => u32(sample(le), AT.lineRecSize, 18),
    libbpfRejects: true,
  },
  {
    name: "core_relo rec_size 12",
    code: "BTF_EXT_BAD_REC_SIZE",
    offset: AT.coreRecSize,
    make: (le) => u32(sample(le), AT.coreRecSize, 12),
    libbpfRejects: true,
  },
  {
    name: "func_info with a rec_size and no records",
    code: "BTF_EXT_NO_RECORDS",
    offset: AT.funcRecSize,
    make: (le) => u32(sample(le), 12, 4),
    libbpfRejects: true,
  },
  {
    name: "num_info 0",
    code: "BTF_EXT_NO_RECORDS",
    offset: AT.funcTc + 4,
    make: (le) => u32(sample(le), AT.funcTc + 4, 0),
    mentions: ["func_info", "tc"],
    libbpfRejects: true,
  },
  {
    name: "btf_ext_info_sec cut off",
    code: "BTF_EXT_TRUNCATED",
    offset: AT.funcTc,
    make: (le) => u32(sample(le), 12, AT.funcTc - AT.funcRecSize + 4),
    mentions: ["func_info"],
    libbpfRejects: true,
  },
  {
    name: "num_info past the end of func_info",
    code: "BTF_EXT_RECORDS_PAST_END",
    offset: AT.funcTc + 4,
    make: (le) => u32(sample(le), AT.funcTc + 4, 2),
    mentions: ["func_info", "tc"],
    libbpfRejects: true,
  },
  {
    name: "num_info whose byte count overflows 32 bits",
    code: "BTF_EXT_RECORDS_PAST_END",
    offset: AT.lineXdp + 4,
    make: (le) => u32(sample(le), AT.lineXdp + 4, 0x10000001),
    mentions: ["line_info", "xdp"],
    libbpfRejects: true,
  },
  {
    name: "section name offset the resolver rejects",
    code: "BTF_EXT_BAD_STRING",
    offset: AT.funcXdp,
    make: (le) => u32(sample(le), AT.funcXdp, 9999),
    mentions: ["func_info", "9999", "no string starts at offset 9999"],
    libbpfRejects: false,
  },
  {
    name: "empty section name",
    code: "BTF_EXT_EMPTY_SECTION_NAME",
    offset: AT.coreXdp,
    make: (le) => u32(sample(le), AT.coreXdp, 0),
    mentions: ["core_relo"],
    libbpfRejects: false,
  },
  {
    name: "file_name_off the resolver rejects",
    code: "BTF_EXT_BAD_STRING",
    offset: AT.lineXdpRec1,
    make: (le) => u32(sample(le), AT.lineXdpRec1 + 4, 7777),
    mentions: ["line_info", "xdp", "record 1", "file_name_off 7777"],
    libbpfRejects: false,
  },
  {
    name: "line_off the resolver rejects",
    code: "BTF_EXT_BAD_STRING",
    offset: AT.lineXdpRec0,
    make: (le) => u32(sample(le), AT.lineXdpRec0 + 8, 7777),
    mentions: ["line_off 7777"],
    libbpfRejects: false,
  },
  {
    name: "access_str_off the resolver rejects",
    code: "BTF_EXT_BAD_STRING",
    offset: AT.coreXdpRec0,
    make: (le) => u32(sample(le), AT.coreXdpRec0 + 8, 7777),
    mentions: ["core_relo", "access_str_off 7777"],
    libbpfRejects: false,
  },
  {
    name: "one section twice in func_info",
    code: "BTF_EXT_DUPLICATE_SECTION",
    offset: AT.funcTc,
    make: (le) => {
      const s = sample(le);
      return u32(s, AT.funcTc, s.strings.add("xdp"));
    },
    mentions: ["func_info", "xdp"],
    libbpfRejects: false,
  },
  {
    name: "func_info insn_off 20",
    code: "BTF_EXT_BAD_INSN_OFF",
    offset: AT.funcXdpRec1,
    make: (le) => u32(sample(le), AT.funcXdpRec1, 20),
    mentions: ["func_info", "xdp", "record 1", "20"],
    libbpfRejects: false,
  },
  {
    name: "line_info insn_off 3",
    code: "BTF_EXT_BAD_INSN_OFF",
    offset: AT.lineXdpRec0,
    make: (le) => u32(sample(le), AT.lineXdpRec0, 3),
    libbpfRejects: false,
  },
  {
    name: "core_relo insn_off 12",
    code: "BTF_EXT_BAD_INSN_OFF",
    offset: AT.coreXdpRec0,
    make: (le) => u32(sample(le), AT.coreXdpRec0, 12),
    mentions: ["core_relo"],
    libbpfRejects: false,
  },
  {
    name: "func_info out of order",
    code: "BTF_EXT_UNSORTED",
    offset: AT.funcXdpRec1,
    make: (le) => u32(sample(le), AT.funcXdpRec0, 24),
    mentions: ["func_info", "xdp", "record 1"],
    libbpfRejects: false,
  },
  {
    name: "func_info with one offset twice",
    code: "BTF_EXT_UNSORTED",
    offset: AT.funcXdpRec1,
    make: (le) => u32(sample(le), AT.funcXdpRec0, 16),
    libbpfRejects: false,
  },
  {
    name: "line_info out of order",
    code: "BTF_EXT_UNSORTED",
    offset: AT.lineXdpRec1,
    make: (le) => u32(sample(le), AT.lineXdpRec1, 0),
    mentions: ["line_info"],
    libbpfRejects: false,
  },
];

test("every malformed hand-built blob fails with its BTF_EXT_* code and offset, in both byte orders", () => {
  const codes = new Set<string>();
  for (const c of ERROR_CASES) {
    for (const le of [true, false]) {
      const s = c.make(le);
      const err = expectBtfError(() => parse(s), c.code, c.offset);
      for (const text of c.mentions ?? []) {
        assert.ok(err.message.includes(text), `${c.name}: "${err.message}" mentions ${text}`);
      }
      codes.add(c.code);
    }
  }
  assert.deepEqual([...codes].sort(), [
    "BTF_EXT_BAD_FLAGS",
    "BTF_EXT_BAD_INSN_OFF",
    "BTF_EXT_BAD_MAGIC",
    "BTF_EXT_BAD_REC_SIZE",
    "BTF_EXT_BAD_STRING",
    "BTF_EXT_BAD_VERSION",
    "BTF_EXT_DUPLICATE_SECTION",
    "BTF_EXT_EMPTY_SECTION_NAME",
    "BTF_EXT_HEADER_TOO_SHORT",
    "BTF_EXT_MISALIGNED",
    "BTF_EXT_NO_RECORDS",
    "BTF_EXT_OUT_OF_BOUNDS",
    "BTF_EXT_RECORDS_PAST_END",
    "BTF_EXT_TRUNCATED",
    "BTF_EXT_UNSORTED",
  ]);
});

test("a resolver's error is the cause of BTF_EXT_BAD_STRING, whatever it throws", () => {
  const s = sample(true);
  const boom = new RangeError("index out of range");
  const err = expectBtfError(
    () =>
      parseBtfExt(s.bytes, {
        strings: () => {
          throw boom;
        },
      }),
    "BTF_EXT_BAD_STRING",
    AT.funcXdp,
  );
  assert.equal(err.cause, boom);
  const inner = expectBtfError(() => parse(u32(s, AT.funcXdp, 1234)), "BTF_EXT_BAD_STRING");
  assert.ok(inner.cause instanceof BtfError && inner.cause.code === "BTF_BAD_STRING");
  // A resolver that returns something other than a string is refused too.
  expectBtfError(
    () => parseBtfExt(s.bytes, { strings: () => undefined as unknown as string }),
    "BTF_EXT_BAD_STRING",
  );
});

test("the Btf class as resolver: an offset past .BTF's strings is BTF_EXT_BAD_STRING", () => {
  const name = fixtureObjects("bpfel")[0];
  if (name === undefined) return console.log("skipped: no fixtures built");
  const { btf, extBytes } = loadFixture("bpfel", name);
  const bytes = extBytes.slice();
  // The first btf_ext_info_sec of func_info: header length + func_info_off + rec_size.
  const view = new DataView(bytes.buffer);
  const at = view.getUint32(4, true) + view.getUint32(8, true) + 4;
  view.setUint32(at, 0x7ffffff0, true);
  const err = expectBtfError(
    () => parseBtfExt(bytes, { strings: btf.string.bind(btf) }),
    "BTF_EXT_BAD_STRING",
    at,
  );
  assert.ok(err.cause instanceof BtfError);
});

test("accepted oddities: unknown CO-RE kinds, unsorted CO-RE records, longer records, other header lengths", () => {
  for (const le of [true, false]) {
    // A CO-RE kind past TYPE_MATCHES is kept for the CO-RE stage to refuse.
    const unknown = parse(u32(sample(le), AT.coreXdpRec0 + 12, 13));
    assert.equal(unknown.coreRelos.get("xdp")![0].kind, 13);
    assert.equal(coreReloKindName(unknown.coreRelos.get("xdp")![0].kind), "UNKNOWN(13)");
    // The sample's CO-RE records are out of order (8, then 0): fine.
    assert.deepEqual(parse(sample(le)).coreRelos.get("xdp")!.map((r) => r.insnOff), [8, 0]);

    // Longer records: the extra bytes are ignored, as libbpf does.
    const strings = stringTable();
    const long = encodeBtfExt(sampleSource(), {
      littleEndian: le,
      addString: strings.add,
      recSize: { funcInfo: 12, lineInfo: 24, coreRelo: 20 },
    });
    const longExt = parseBtfExt(long, { strings: strings.resolve });
    assert.deepEqual(longExt, parse(sample(le)));

    // hdr_len 24: no CO-RE fields, so no CO-RE relocations even if bytes follow.
    const short = encodeBtfExt({ ...sampleSource(), coreRelos: undefined }, {
      littleEndian: le,
      addString: strings.add,
      headerLength: 24,
    });
    assert.equal(new DataView(short.buffer).getUint32(4, le), 24);
    const shortExt = parseBtfExt(short, { strings: strings.resolve });
    assert.equal(shortExt.coreRelos.size, 0);
    assert.equal(shortExt.funcInfo.size, 2);

    // hdr_len 28 (between the two layouts): like libbpf, CO-RE fields are absent.
    const s = sample(le);
    const h28 = u32(s, 4, 28);
    // Offsets count from the end of the header: move func_info and line_info back 4 bytes.
    const ext28 = parseBtfExt(
      u32(u32(u32(h28, 8, 4), 16, AT.lineRecSize - 28), 24, 0xffffffff).bytes,
      { strings: s.strings.resolve },
    );
    assert.equal(ext28.coreRelos.size, 0);
    assert.equal(ext28.lineInfo.size, 2);

    // hdr_len 40: header bytes past core_relo_len are skipped.
    const padded = new Uint8Array(s.bytes.length + 8);
    padded.set(s.bytes.subarray(0, 32));
    padded.set(s.bytes.subarray(32), 40);
    const ext40 = parseBtfExt(u32({ ...s, bytes: padded }, 4, 40).bytes, {
      strings: s.strings.resolve,
    });
    assert.deepEqual(ext40, parse(s));
  }
});

test("an ELF without CO-RE: func_info and line_info only, with core_relo_len 0", () => {
  for (const le of [true, false]) {
    const strings = stringTable();
    const bytes = encodeBtfExt({ ...sampleSource(), coreRelos: new Map() }, {
      littleEndian: le,
      addString: strings.add,
    });
    const view = new DataView(bytes.buffer);
    assert.equal(view.getUint32(4, le), 32);
    assert.equal(view.getUint32(28, le), 0);
    const ext = parseBtfExt(bytes, { strings: strings.resolve });
    assert.equal(ext.coreRelos.size, 0);
  }
});

// ---------------------------------------------------------------------------
// Encoders for the kernel

test("encodeFuncInfo and encodeLineInfo write bpf_func_info / bpf_line_info with insn_off in instructions", () => {
  const lines = [
    { insnOff: 0, fileNameOff: 10, lineOff: 20, line: 3, column: 0 },
    { insnOff: 40, fileNameOff: 10, lineOff: 30, line: 0x3fffff, column: 1023 },
  ];
  for (const le of [true, false]) {
    const fi = encodeFuncInfo([{ insnOff: 0, typeId: 7 }, { insnOff: 128, typeId: 9 }], le);
    assert.equal(fi.length, 16);
    const fv = new DataView(fi.buffer);
    assert.deepEqual([0, 4, 8, 12].map((o) => fv.getUint32(o, le)), [0, 7, 16, 9]);

    const li = encodeLineInfo(lines, le);
    assert.equal(li.length, 32);
    const lv = new DataView(li.buffer);
    assert.deepEqual(
      [0, 4, 8, 12, 16, 20, 24, 28].map((o) => lv.getUint32(o, le)),
      [0, 10, 20, 3 << 10, 5, 10, 30, 0xffffffff],
    );
  }
  assert.equal(encodeFuncInfo([], true).length, 0);
  expectBtfError(() => encodeFuncInfo([{ insnOff: 12, typeId: 1 }], true), "BTF_EXT_BAD_INSN_OFF");
  expectBtfError(() => encodeFuncInfo([{ insnOff: -8, typeId: 1 }], true), "BTF_EXT_BAD_INSN_OFF");
  expectBtfError(() => encodeFuncInfo([{ insnOff: 0, typeId: -1 }], true), "BTF_EXT_BAD_VALUE");
  expectBtfError(
    () => encodeLineInfo([{ ...lines[0], insnOff: 2 ** 35 }], true),
    "BTF_EXT_BAD_INSN_OFF",
  );
  expectBtfError(() => encodeLineInfo([{ ...lines[0], line: 1 << 22 }], true), "BTF_EXT_BAD_LINE");
  expectBtfError(() => encodeLineInfo([{ ...lines[0], column: 1024 }], true), "BTF_EXT_BAD_LINE");
  expectBtfError(() => encodeLineInfo([{ ...lines[0], lineOff: 0.5 }], true), "BTF_EXT_BAD_VALUE");
});

test("the Into encoders write the same records at an offset, and check* throws what encode* throws", () => {
  const funcs = [{ insnOff: 0, typeId: 7 }, { insnOff: 128, typeId: 9 }];
  const lines = [{ insnOff: 40, fileNameOff: 10, lineOff: 30, line: 12, column: 4 }];
  for (const littleEndian of [true, false]) {
    const out = new Uint8Array(5 + 16 + 16).fill(0xee);
    encodeFuncInfoInto(funcs, out, { offset: 5, littleEndian });
    encodeLineInfoInto(lines, out, { offset: 21, littleEndian });
    assert.deepEqual(out.subarray(0, 5), new Uint8Array(5).fill(0xee), "bytes before untouched");
    assert.deepEqual(out.subarray(5, 21), encodeFuncInfo(funcs, littleEndian));
    assert.deepEqual(out.subarray(21), encodeLineInfo(lines, littleEndian));
  }
  checkFuncInfo(funcs);
  checkLineInfo(lines);
  expectBtfError(() => checkFuncInfo([{ insnOff: 12, typeId: 1 }]), "BTF_EXT_BAD_INSN_OFF");
  expectBtfError(() => checkFuncInfo([{ insnOff: 0, typeId: 2 ** 32 }]), "BTF_EXT_BAD_VALUE");
  expectBtfError(() => checkLineInfo([{ ...lines[0], column: 1024 }]), "BTF_EXT_BAD_LINE");
  expectBtfError(() => checkLineInfo([{ ...lines[0], fileNameOff: -1 }]), "BTF_EXT_BAD_VALUE");
});

test("a fixture's parsed records encode straight into the kernel arrays", () => {
  const name = "subprograms.o";
  if (!fixtureObjects("bpfel").includes(name)) return console.log(`skipped: no ${name}`);
  const { ext } = loadFixture("bpfel", name);
  const lines: LineInfoRecord[] = ext.lineInfo.get(".text")!;
  const bytes = encodeLineInfo(lines, true);
  const view = new DataView(bytes.buffer);
  lines.forEach((rec, i) => {
    assert.equal(view.getUint32(i * 16, true), rec.insnOff / 8);
    assert.equal(view.getUint32(i * 16 + 4, true), rec.fileNameOff);
    assert.equal(view.getUint32(i * 16 + 8, true), rec.lineOff);
    assert.equal(view.getUint32(i * 16 + 12, true) >>> 10, rec.line);
  });
  const funcs = encodeFuncInfo(ext.funcInfo.get(".text")!, false);
  assert.equal(funcs.length, ext.funcInfo.get(".text")!.length * 8);
});

test("encodeBtfExt refuses what the format can't hold", () => {
  const strings = stringTable();
  const opts = { littleEndian: true, addString: strings.add };
  expectBtfError(
    () => encodeBtfExt(sampleSource(), { ...opts, headerLength: 24 }),
    "BTF_EXT_HEADER_TOO_SHORT",
  );
  expectBtfError(
    () => encodeBtfExt(sampleSource(), { ...opts, recSize: { lineInfo: 18 } }),
    "BTF_EXT_BAD_REC_SIZE",
  );
  expectBtfError(
    () => encodeBtfExt(sampleSource(), { ...opts, recSize: { funcInfo: 4 } }),
    "BTF_EXT_BAD_REC_SIZE",
  );
  expectBtfError(
    () => encodeBtfExt({ funcInfo: new Map([["x", [{ insnOff: -1, typeId: 0 }]]]) }, opts),
    "BTF_EXT_BAD_INSN_OFF",
  );
  expectBtfError(
    () => encodeBtfExt({ funcInfo: new Map([["x", [{ insnOff: 0, typeId: 2 ** 32 }]]]) }, opts),
    "BTF_EXT_BAD_VALUE",
  );
  expectBtfError(
    () =>
      encodeBtfExt({
        lineInfo: new Map([["x", [{
          insnOff: 0,
          fileName: "a",
          lineText: "",
          line: 1,
          column: 2000,
        }]]]),
      }, opts),
    "BTF_EXT_BAD_LINE",
  );
  // Sections with no records are left out rather than written with num_info 0.
  const ext = parseBtfExt(
    encodeBtfExt({
      ...sampleSource(),
      funcInfo: new Map([["xdp", []], ["tc", [{ insnOff: 0, typeId: 1 }]]]),
    }, opts),
    { strings: strings.resolve },
  );
  assert.deepEqual([...ext.funcInfo.keys()], ["tc"]);
});

// ---------------------------------------------------------------------------
// libbpf agrees on which blobs are malformed

/**
 * A C harness around libbpf's `btf_ext__new`: reads length-prefixed blobs
 * from a file and prints 0 or the negative errno for each. libbpf 1.1
 * refuses non-native byte orders, so only little-endian blobs go to it.
 */

test("libbpf's btf_ext__new refuses the same layout errors and accepts the rest", {
  timeout: 60000,
}, () => {
  const cases = ERROR_CASES.map((c) => ({
    name: c.name,
    bytes: c.make(true).bytes,
    rejects: c.libbpfRejects,
  }));
  cases.push({ name: "the sample", bytes: sample(true).bytes, rejects: false });
  for (const { dir, name } of FIXTURES) {
    if (dir === "bpfel") {
      cases.push({ name, bytes: loadFixture(dir, name).extBytes, rejects: false });
    }
  }
  const verdicts = libbpfVerdicts(cases.map((c) => c.bytes));
  if (typeof verdicts === "string") return console.log(`skipped: ${verdicts}`);
  assert.equal(verdicts.length, cases.length);
  cases.forEach((c, i) => {
    assert.equal(verdicts[i] !== 0, c.rejects, `${c.name}: libbpf says ${verdicts[i]}`);
  });
});
