import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { readElf } from "../elf/mod.ts";
import { Btf } from "../btf/btf.ts";
import { type BtfExt, CoreReloKind, parseBtfExt } from "../btf/ext.ts";
import { type BtfExtSource, encodeBtfExt, encodeLineInfo } from "../btf/ext_encode.ts";
import { BtfError } from "../errors/mod.ts";
import { fixtureObjects, readFixture } from "./_util.ts";
import { libbpfVerdicts, stringTable } from "./_btf_ext_util.ts";

interface Base {
  name: string;
  bytes: Uint8Array;
  le: boolean;
  strings: (offset: number) => string;
  /** Offsets of the u32 fields that steer parsing: header fields, rec_size, block headers, record fields. */
  fields: number[];
}

/** A blob with CO-RE relocations (the fixtures have none), so that subsection is mutated too. */
function coreSample(le: boolean): Base {
  const strings = stringTable();
  const source: BtfExtSource = {
    funcInfo: new Map([["socket", [{ insnOff: 0, typeId: 6 }, { insnOff: 64, typeId: 8 }]]]),
    lineInfo: new Map([["socket", [
      { insnOff: 0, fileName: "core.c", lineText: "int f(void)", line: 5, column: 0 },
      { insnOff: 8, fileName: "core.c", lineText: "\treturn p->b;", line: 7, column: 12 },
    ]]]),
    coreRelos: new Map([
      ["socket", [
        { insnOff: 0, typeId: 2, accessor: "0:1", kind: CoreReloKind.FIELD_BYTE_OFFSET },
        { insnOff: 40, typeId: 7, accessor: "1", kind: CoreReloKind.ENUMVAL_VALUE },
      ]],
      [".text", [{ insnOff: 8, typeId: 2, accessor: "0", kind: CoreReloKind.TYPE_SIZE }]],
    ]),
  };
  const bytes = encodeBtfExt(source, { littleEndian: le, addString: strings.add });
  return {
    name: `core sample ${le ? "el" : "eb"}`,
    bytes,
    le,
    strings: strings.resolve,
    fields: [],
  };
}

/** Walk a valid blob and list the offsets of every field the parser reads. */
function fieldsOf(bytes: Uint8Array, le: boolean): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const hdrLen = view.getUint32(4, le);
  const fields = [4, 8, 12, 16, 20, 24, 28];
  for (let field = 8; field + 8 <= Math.min(hdrLen, 32); field += 8) {
    const len = view.getUint32(field + 4, le);
    if (len === 0) continue;
    const start = hdrLen + view.getUint32(field, le);
    const recSize = view.getUint32(start, le);
    fields.push(start);
    for (let at = start + 4; at < start + len;) {
      const count = view.getUint32(at + 4, le);
      fields.push(at, at + 4);
      for (let i = 0; i < count; i++) {
        for (let f = 0; f < recSize; f += 4) fields.push(at + 8 + i * recSize + f);
      }
      at += 8 + count * recSize;
    }
  }
  return fields;
}

function fixtureBases(): Base[] {
  const bases: Base[] = [];
  for (const dir of ["bpfel", "bpfeb"] as const) {
    for (const name of fixtureObjects(dir)) {
      const elf = readElf(readFixture(`${dir}/${name}`));
      const btf = Btf.parse(elf.sectionData(elf.sectionByName(".BTF")!));
      const bytes = elf.sectionData(elf.sectionByName(".BTF.ext")!).slice();
      bases.push({
        name: `${dir}/${name}`,
        bytes,
        le: dir === "bpfel",
        strings: btf.string.bind(btf),
        fields: [],
      });
    }
  }
  bases.push(coreSample(true), coreSample(false));
  for (const base of bases) base.fields = fieldsOf(base.bytes, base.le);
  return bases;
}

const BASES = fixtureBases();

/** Values at the edges of what the parser compares against. */
function extremes(length: number): number[] {
  return [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    12,
    16,
    20,
    24,
    28,
    32,
    0xff,
    0x3ff,
    0xffff,
    0x7fffffff,
    0x80000000,
    0xfffffff8,
    0xfffffffc,
    0xffffffff,
    length - 4,
    length,
    length + 4,
  ].filter((v) => v >= 0);
}

type Mutation =
  | { kind: "field"; pick: number; value: number; raw: number; useRaw: boolean }
  | { kind: "byte"; at: number; value: number }
  | { kind: "truncate"; at: number }
  | { kind: "splice"; at: number; remove: number; insert: Uint8Array };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("field" as const),
      pick: fc.nat(),
      value: fc.nat(),
      raw: fc.nat(),
      useRaw: fc.boolean(),
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
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("splice" as const),
      at: fc.nat(),
      remove: fc.nat({ max: 24 }),
      insert: fc.uint8Array({ maxLength: 24 }),
    }),
  },
);

function mutate(base: Base, mutations: Mutation[]): Uint8Array {
  let bytes = base.bytes.slice();
  for (const m of mutations) {
    const length = bytes.length;
    if (m.kind === "field") {
      const at = base.fields[m.pick % base.fields.length];
      if (at + 4 > length) continue;
      const edges = extremes(length);
      const value = m.useRaw ? m.raw >>> 0 : edges[m.value % edges.length];
      new DataView(bytes.buffer).setUint32(at, value >>> 0, base.le);
    } else if (m.kind === "byte") {
      if (length > 0) bytes[m.at % length] = m.value;
    } else if (m.kind === "truncate") {
      bytes = bytes.slice(0, m.at % (length + 1));
    } else {
      const at = m.at % (length + 1);
      const out = new Uint8Array(length - Math.min(m.remove, length - at) + m.insert.length);
      out.set(bytes.subarray(0, at));
      out.set(m.insert, at);
      out.set(bytes.subarray(at + m.remove), at + m.insert.length);
      bytes = out;
    }
  }
  return bytes;
}

/** What must hold of anything parseBtfExt returns. */
function checkInvariants(ext: BtfExt, length: number): void {
  let total = 0;
  for (const recs of ext.funcInfo.values()) {
    recs.forEach((r, i) => {
      assert.ok(r.insnOff % 8 === 0 && (i === 0 || r.insnOff > recs[i - 1].insnOff));
    });
    total += recs.length * 8;
  }
  for (const recs of ext.lineInfo.values()) {
    recs.forEach((r, i) => {
      assert.ok(r.insnOff % 8 === 0 && (i === 0 || r.insnOff > recs[i - 1].insnOff));
      assert.ok(typeof r.fileName === "string" && typeof r.lineText === "string");
      assert.ok(r.line < 1 << 22 && r.column < 1 << 10);
    });
    total += recs.length * 16;
  }
  for (const recs of ext.coreRelos.values()) {
    for (const r of recs) assert.ok(r.insnOff % 8 === 0 && typeof r.accessor === "string");
    total += recs.length * 16;
  }
  // Records come from the blob: their minimum sizes can't add up to more than it holds.
  assert.ok(total <= length, `${total} bytes of records from a ${length}-byte blob`);
}

/** Records without string offsets, which depend on the string table. */
function records(ext: BtfExt): unknown {
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

test(
  "mutated .BTF.ext blobs only ever throw BtfError, and what parses re-encodes to the same records",
  {
    timeout: 120000,
  },
  () => {
    if (BASES.length <= 2) {
      console.log("note: no fixtures built, fuzzing the hand-built blobs only");
    }
    const outcomes = new Map<string, number>();
    const started = performance.now();
    fc.assert(
      fc.property(
        fc.nat(),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        (pick, mutations) => {
          const base = BASES[pick % BASES.length];
          const bytes = mutate(base, mutations);
          let ext: BtfExt;
          try {
            ext = parseBtfExt(bytes, { strings: base.strings });
          } catch (err) {
            if (!(err instanceof BtfError) || !err.code.startsWith("BTF_EXT_")) throw err;
            assert.ok(
              typeof err.offset === "number" && err.offset >= 0 && err.offset <= bytes.length,
              `${err.code} names offset ${err.offset} of a ${bytes.length}-byte blob`,
            );
            outcomes.set(err.code, (outcomes.get(err.code) ?? 0) + 1);
            return;
          }
          outcomes.set("ok", (outcomes.get("ok") ?? 0) + 1);
          checkInvariants(ext, bytes.length);
          const strings = stringTable();
          const again = parseBtfExt(
            encodeBtfExt(ext, { littleEndian: ext.littleEndian, addString: strings.add }),
            { strings: strings.resolve },
          );
          assert.deepEqual(records(again), records(ext));
        },
      ),
      { numRuns: 6000, seed: 0x5eed_b7f },
    );
    const ms = performance.now() - started;
    const summary = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
    console.log(
      `6000 mutants of ${BASES.length} blobs in ${ms.toFixed(0)} ms: ${summary.join(", ")}`,
    );
    // The mutations must reach deep into the format, not just break the magic.
    assert.ok((outcomes.get("ok") ?? 0) > 300, "enough mutants still parse");
    assert.ok(outcomes.size >= 12, `only ${outcomes.size} outcomes: ${summary.join(", ")}`);
  },
);

// ---------------------------------------------------------------------------
// Round trip

const u32Arb = fc.integer({ min: 0, max: 0xffffffff });
const textArb = fc.string({ maxLength: 24 });
const sectionNameArb = fc.string({ minLength: 1, maxLength: 16 });

/** Strictly increasing instruction offsets in bytes, as func_info and line_info need. */
function sortedByOffset<T extends { idx: number }>(
  recs: T[],
): Array<Omit<T, "idx"> & { insnOff: number }> {
  const byIdx = new Map<number, T>();
  for (const r of recs) byIdx.set(r.idx, r);
  return [...byIdx.values()].sort((a, b) => a.idx - b.idx).map(({ idx, ...rest }) => ({
    ...rest,
    insnOff: idx * 8,
  }));
}

function sectionsArb<T>(recs: fc.Arbitrary<T[]>): fc.Arbitrary<Map<string, T[]>> {
  return fc.uniqueArray(fc.tuple(sectionNameArb, recs), { selector: (t) => t[0], maxLength: 4 })
    .map((entries) => new Map(entries));
}

const idxArb = fc.integer({ min: 0, max: (0xffffffff - 7) / 8 });

const sourceArb = fc.record({
  funcInfo: sectionsArb(
    fc.array(fc.record({ idx: idxArb, typeId: u32Arb }), { minLength: 1, maxLength: 6 })
      .map(sortedByOffset),
  ),
  lineInfo: sectionsArb(
    fc.array(
      fc.record({
        idx: idxArb,
        fileName: textArb,
        lineText: textArb,
        line: fc.integer({ min: 0, max: (1 << 22) - 1 }),
        column: fc.integer({ min: 0, max: 1023 }),
      }),
      { minLength: 1, maxLength: 6 },
    ).map(sortedByOffset),
  ),
  coreRelos: sectionsArb(
    fc.array(
      fc.record({
        insnOff: idxArb.map((i) => i * 8),
        typeId: u32Arb,
        accessor: textArb,
        kind: fc.oneof(fc.integer({ min: 0, max: 12 }), u32Arb),
      }),
      { minLength: 1, maxLength: 6 },
    ),
  ),
}).filter((s) => s.funcInfo.size + s.lineInfo.size + s.coreRelos.size > 0);

test(
  "encodeBtfExt then parseBtfExt gives back the records, in both byte orders and any record size",
  {
    timeout: 60000,
  },
  () => {
    fc.assert(
      fc.property(
        sourceArb,
        fc.boolean(),
        fc.record({
          funcInfo: fc.integer({ min: 2, max: 6 }),
          lineInfo: fc.integer({ min: 4, max: 8 }),
          coreRelo: fc.integer({ min: 4, max: 8 }),
        }),
        fc.boolean(),
        (source, littleEndian, words, shortHeader) => {
          const strings = stringTable();
          const headerLength = shortHeader && source.coreRelos.size === 0 ? 24 : 32;
          const recSize = {
            funcInfo: words.funcInfo * 4,
            lineInfo: words.lineInfo * 4,
            coreRelo: words.coreRelo * 4,
          };
          const bytes = encodeBtfExt(source, {
            littleEndian,
            addString: strings.add,
            headerLength,
            recSize,
          });
          const ext = parseBtfExt(bytes, { strings: strings.resolve });
          assert.equal(ext.littleEndian, littleEndian);
          assert.deepEqual([...ext.funcInfo], [...source.funcInfo]);
          assert.deepEqual(
            [...ext.lineInfo],
            [...source.lineInfo].map(([s, recs]) => [
              s,
              recs.map((r) => ({
                ...r,
                fileNameOff: strings.add(r.fileName),
                lineOff: strings.add(r.lineText),
              })),
            ]),
          );
          assert.deepEqual(
            [...ext.coreRelos],
            [...source.coreRelos].map(([s, recs]) => [
              s,
              recs.map((r) => ({ ...r, accessStrOff: strings.add(r.accessor) })),
            ]),
          );
          // The kernel's line_info array carries the same records, insn_off in instructions.
          for (const recs of ext.lineInfo.values()) {
            const kernel = new DataView(encodeLineInfo(recs, littleEndian).buffer);
            recs.forEach((r, i) => {
              assert.equal(kernel.getUint32(i * 16, littleEndian) * 8, r.insnOff);
              assert.equal(
                kernel.getUint32(i * 16 + 12, littleEndian),
                (r.line << 10 | r.column) >>> 0,
              );
            });
          }
          // Encoding what was parsed gives back the same bytes.
          assert.deepEqual(
            encodeBtfExt(ext, { littleEndian, addString: strings.add, headerLength, recSize }),
            bytes,
          );
        },
      ),
      { numRuns: 1000 },
    );
  },
);

// ---------------------------------------------------------------------------
// libbpf differential

/** Codes for what libbpf checks in btf_ext__new; the others (strings, insn_off, order) it doesn't. */
const LAYOUT_CODES = new Set([
  "BTF_EXT_TRUNCATED",
  "BTF_EXT_BAD_MAGIC",
  "BTF_EXT_BAD_VERSION",
  "BTF_EXT_BAD_FLAGS",
  "BTF_EXT_HEADER_TOO_SHORT",
  "BTF_EXT_OUT_OF_BOUNDS",
  "BTF_EXT_MISALIGNED",
  "BTF_EXT_BAD_REC_SIZE",
  "BTF_EXT_NO_RECORDS",
  "BTF_EXT_RECORDS_PAST_END",
]);

test(
  "libbpf differential: mutants we accept libbpf accepts, layout errors we report libbpf refuses",
  {
    timeout: 120000,
  },
  () => {
    const bases = BASES.filter((b) => b.le);
    const samples = fc.sample(
      fc.tuple(fc.nat(), fc.array(mutationArb, { minLength: 1, maxLength: 3 })),
      { numRuns: 4000, seed: 0xb7fe },
    );
    // Little-endian mutants only (libbpf 1.1 refuses the other order), and unique section
    // names from any offset, so only the layout decides.
    const blobs = samples.map(([pick, mutations]) => mutate(bases[pick % bases.length], mutations))
      .filter((b) => !(b.length >= 2 && b[0] === 0xeb && b[1] === 0x9f));
    const ours = blobs.map((bytes) => {
      try {
        parseBtfExt(bytes, { strings: (off) => `s${off}` });
        return "ok";
      } catch (err) {
        if (!(err instanceof BtfError)) throw err;
        return err.code;
      }
    });
    const verdicts = libbpfVerdicts(blobs);
    if (typeof verdicts === "string") return console.log(`skipped: ${verdicts}`);
    assert.equal(verdicts.length, blobs.length);
    let compared = 0;
    const tally = { accepted: 0, rejected: 0 };
    ours.forEach((code, i) => {
      if (code === "ok") {
        assert.equal(verdicts[i], 0, `mutant ${i}: we accept, libbpf says ${verdicts[i]}`);
        tally.accepted++;
      } else if (LAYOUT_CODES.has(code)) {
        assert.notEqual(verdicts[i], 0, `mutant ${i}: we say ${code}, libbpf accepts`);
        tally.rejected++;
      } else return;
      compared++;
    });
    console.log(
      `libbpf agrees on ${compared} of ${blobs.length} mutants (${tally.accepted} accepted, ${tally.rejected} refused)`,
    );
    assert.ok(tally.accepted > 100 && tally.rejected > 500, JSON.stringify(tally));
  },
);
