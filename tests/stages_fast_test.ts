// The fast paths of classify, relocate, maps, link and the pipeline runner,
// each checked against the plain rule it stands in for.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  R_BPF_64_32,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHT_LLVM_ADDRSIG,
  SHT_NOBITS,
  SHT_PROGBITS,
  SHT_REL,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  STB_GLOBAL,
  STB_LOCAL,
  STT_FUNC,
} from "../elf/constants.ts";
import type { ElfFile } from "../elf/mod.ts";
import type { ElfSection } from "../elf/types.ts";
import { decodeInstructions } from "../isa/codec.ts";
import type { Instruction } from "../isa/instruction.ts";
import { BPF_PSEUDO_CALL, LD_IMM64_OPCODE } from "../isa/opcodes.ts";
import {
  BUILTIN_SECTION_RULES,
  classifyStage,
  defaultPipeline,
  matchSectionDef,
  newLoadContext,
  parseProgramSection,
  Pipeline,
  SEC_ATTACH_BTF,
  type SectionDef,
  sectionDefMatches,
  type Stage,
  STAGE_FAILED,
} from "../stages/mod.ts";
import { datasecsByName } from "../stages/variables.ts";
import { datasecIds } from "../stages/btf.ts";
import { BtfKind } from "../btf/types.ts";
import { IsaError, LinkError, PipelineError } from "../errors/mod.ts";
import { ElfBuilder, encodeInstructions } from "./_elf_builder.ts";
import { fixtureObjects, readFixture } from "./_util.ts";

// --- classify: the built-in kinds, one switch instead of the rule list ---

const NAMES = [
  "license",
  "version",
  "maps",
  "maps/",
  "maps/x",
  "mapsx",
  ".maps",
  ".maps.x",
  ".BTF",
  ".BTF.ext",
  ".BTFx",
  ".data",
  ".data.",
  ".data.k",
  ".datax",
  ".rodata",
  ".rodata.str1.1",
  ".rodat",
  ".bss",
  ".bss.z",
  ".bs",
  ".text",
  ".debug_info",
  "xdp",
  "socket",
  "",
  ".",
  "l",
  "v",
  "m",
];

const sectionArb = fc.record({
  name: fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 12 })),
  type: fc.constantFrom(
    SHT_PROGBITS,
    SHT_NOBITS,
    SHT_REL,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    SHT_LLVM_ADDRSIG,
  ),
  flags: fc.constantFrom(0, SHF_ALLOC, SHF_EXECINSTR, SHF_ALLOC | SHF_EXECINSTR),
  size: fc.constantFrom(0, 4, 16),
});

test("classify: built-in kinds are the first matching BUILTIN_SECTION_RULES entry", () => {
  fc.assert(
    fc.property(fc.array(sectionArb, { maxLength: 12 }), (inputs) => {
      const sections: ElfSection[] = [
        {
          index: 0,
          name: "",
          type: 0,
          flags: 0,
          offset: 0,
          size: 0,
          link: 0,
          info: 0,
          addralign: 0,
          entsize: 0,
        },
        ...inputs.map((s, i) => ({
          index: i + 1,
          ...s,
          offset: 0,
          link: 0,
          info: 0,
          addralign: 1,
          entsize: 0,
        })),
      ];
      // Just what classify reads: the headers, and license/version bytes.
      const elf = {
        sections,
        littleEndian: true,
        sectionData: () => new Uint8Array([0x47, 0x50, 0x4c, 0]),
      } as unknown as ElfFile;
      const ctx = newLoadContext(new Uint8Array(0));
      ctx.elf = elf;
      classifyStage().run(ctx);
      for (const section of sections.slice(1)) {
        const want = BUILTIN_SECTION_RULES.find((r) => r.match!(section))?.kind ?? "ignored";
        assert.equal(ctx.sections.get(section.index)?.kind, want, JSON.stringify(section));
      }
    }),
    { numRuns: 500 },
  );
});

// --- section names: the indexed lookup against libbpf's scan, any table ---

/** The attach target as the first version worked it out, with endsWith(). */
function referenceAttachTo(entry: SectionDef, name: string): string {
  const sec = entry.sec;
  if (sec.endsWith("/")) return name.slice(sec.length);
  if (!sec.endsWith("+")) return "";
  if ((entry.flags & SEC_ATTACH_BTF) === 0 && entry.autoAttach === undefined) return "";
  const base = sec.length - 1;
  return name.length > base ? name.slice(base + 1) : "";
}

const piece = fc.constantFrom("a", "b", "c", "/", ".s", "?");

test("section defs: custom tables ('/' in '+' bases, prefixes) match like the scan", () => {
  const patternArb = fc.tuple(fc.array(piece, { maxLength: 4 }), fc.constantFrom("", "+", "/"))
    .map(([parts, end]) => parts.join("").replaceAll("?", "") + end);
  const defArb = fc.record({
    sec: patternArb,
    programType: fc.constant(1),
    expectedAttachType: fc.constant(0),
    flags: fc.constantFrom(0, SEC_ATTACH_BTF),
  });
  fc.assert(
    fc.property(
      fc.array(defArb, { minLength: 1, maxLength: 8 }),
      fc.array(piece, { maxLength: 6 }),
      (table, parts) => {
        const defs: SectionDef[] = table.map((d) => ({ ...d }));
        const name = parts.join("");
        const stripped = name.startsWith("?") ? name.slice(1) : name;
        const want = defs.find((d) => sectionDefMatches(d.sec, stripped));
        assert.equal(matchSectionDef(name, defs), want, `${name} in ${defs.map((d) => d.sec)}`);
        const parsed = parseProgramSection(name, { defs });
        assert.equal(parsed?.def, want);
        if (parsed !== undefined) {
          assert.equal(parsed.attachTo, referenceAttachTo(want!, stripped));
          assert.equal(parsed.autoload, !name.startsWith("?"));
        }
      },
    ),
    { numRuns: 2000 },
  );
});

// --- decodeInstructions: bytes read by hand, against a DataView decoder ---

/** The decoder as first written, reading the fields through a DataView. */
function referenceDecode(bytes: Uint8Array, littleEndian: boolean): Instruction[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const dstShift = littleEndian ? 0 : 4;
  const srcShift = littleEndian ? 4 : 0;
  const out: Instruction[] = [];
  for (let pos = 0; pos < bytes.length; pos += 8) {
    const opcode = bytes[pos];
    const regs = bytes[pos + 1];
    const ins: Instruction = {
      opcode,
      dst: (regs >> dstShift) & 0x0f,
      src: (regs >> srcShift) & 0x0f,
      offset: view.getInt16(pos + 2, littleEndian),
      imm: view.getInt32(pos + 4, littleEndian),
      sourceOffset: pos,
    };
    if (opcode === LD_IMM64_OPCODE) {
      if (pos + 16 > bytes.length) throw new Error("truncated");
      const { sourceOffset } = ins;
      delete ins.sourceOffset;
      ins.immHi = view.getInt32(pos + 12, littleEndian);
      ins.sourceOffset = sourceOffset;
      if ((bytes[pos + 8] | bytes[pos + 9] | bytes[pos + 10] | bytes[pos + 11]) !== 0) {
        const regs2 = bytes[pos + 9];
        ins.secondSlot = {
          opcode: bytes[pos + 8],
          dst: (regs2 >> dstShift) & 0x0f,
          src: (regs2 >> srcShift) & 0x0f,
          offset: view.getInt16(pos + 10, littleEndian),
        };
      }
      pos += 8;
    }
    out.push(ins);
  }
  return out;
}

test("decodeInstructions: fields read byte by byte equal a DataView decoder", () => {
  const slot = fc.tuple(
    fc.constantFrom(LD_IMM64_OPCODE, 0x85, 0xb7, 0x95, 0x61),
    fc.uint8Array({ minLength: 7, maxLength: 7 }),
  ).map(([op, rest]) => [op, ...rest]);
  fc.assert(
    fc.property(fc.array(slot, { maxLength: 12 }), fc.boolean(), (slots, littleEndian) => {
      const bytes = new Uint8Array(slots.flat());
      let want: Instruction[] | "truncated";
      try {
        want = referenceDecode(bytes, littleEndian);
      } catch {
        want = "truncated";
      }
      if (want === "truncated") {
        assert.throws(
          () => decodeInstructions(bytes, { littleEndian }),
          (e) => e instanceof IsaError && e.code === "ISA_TRUNCATED_LDIMM64",
        );
        return;
      }
      const got = decodeInstructions(bytes, { littleEndian });
      assert.deepStrictEqual(got, want);
      // Same keys in the same order, too.
      assert.deepStrictEqual(got.map((i) => Object.keys(i)), want.map((i) => Object.keys(i)));
    }),
    { numRuns: 1000 },
  );
});

// --- link: programs without calls take the fast path; all equal a plain flattening ---

const MOV_R0 = 0xb7;
const EXIT = 0x95;
const CALL = 0x85;

interface Fn {
  name: string;
  /** Functions it calls, in order: indexes into `.text` functions, then entries. */
  calls: number[];
  /** Plain instructions before the calls. */
  body: number;
}

const objectArb = fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 4 }))
  .chain(([nText, nEntries]) => {
    const fnArb = (name: string) =>
      fc.record({
        name: fc.constant(name),
        calls: fc.array(fc.integer({ min: 0, max: nText + nEntries - 1 }), { maxLength: 3 }),
        body: fc.integer({ min: 0, max: 3 }),
      });
    return fc.record({
      text: fc.tuple(...Array.from({ length: nText }, (_, i) => fnArb(`sub${i}`))),
      entries: fc.tuple(...Array.from({ length: nEntries }, (_, i) => fnArb(`prog${i}`))),
      littleEndian: fc.boolean(),
    });
  });

const ENTRY_SECTIONS = ["xdp", "socket", "tc", "classifier"];

/** A function's instructions: `body` movs, a call per callee, then exit. */
function code(fn: Fn): Array<[number, number, number, number, number]> {
  const out: Array<[number, number, number, number, number]> = [];
  for (let k = 0; k < fn.body; k++) out.push([MOV_R0, 0, 0, 0, k]);
  for (const _ of fn.calls) out.push([CALL, 0, BPF_PSEUDO_CALL, 0, -1]);
  out.push([EXIT, 0, 0, 0, 0]);
  return out;
}

function buildObject(text: Fn[], entries: Fn[], littleEndian: boolean): Uint8Array {
  const b = new ElfBuilder({ littleEndian });
  const textCode = text.map(code);
  const textIndex = text.length > 0
    ? b.addSection({
      name: ".text",
      type: SHT_PROGBITS,
      flags: SHF_ALLOC | SHF_EXECINSTR,
      data: encodeInstructions(textCode.flat(), littleEndian),
      addralign: 8,
    })
    : 0;
  const entryIndex = entries.map((fn, i) =>
    b.addSection({
      name: ENTRY_SECTIONS[i],
      type: SHT_PROGBITS,
      flags: SHF_ALLOC | SHF_EXECINSTR,
      data: encodeInstructions(code(fn), littleEndian),
      addralign: 8,
    })
  );
  // Static .text functions first (locals before globals), then the entries.
  const symbols: number[] = [];
  let at = 0;
  text.forEach((fn, i) => {
    symbols.push(b.addSymbol({
      name: fn.name,
      section: textIndex,
      value: at,
      size: textCode[i].length * 8,
      type: STT_FUNC,
      bind: STB_LOCAL,
    }));
    at += textCode[i].length * 8;
  });
  entries.forEach((fn, i) =>
    symbols.push(b.addSymbol({
      name: fn.name,
      section: entryIndex[i],
      size: code(fn).length * 8,
      type: STT_FUNC,
      bind: STB_GLOBAL,
    }))
  );
  const callRelocations = (fn: Fn, base: number) =>
    fn.calls.map((callee, k) => ({
      offset: base + (fn.body + k) * 8,
      symbol: symbols[callee],
      type: R_BPF_64_32,
    }));
  if (text.length > 0) {
    let base = 0;
    const rels = text.flatMap((fn, i) => {
      const r = callRelocations(fn, base);
      base += textCode[i].length * 8;
      return r;
    });
    if (rels.length > 0) b.addRelocations(textIndex, rels);
  }
  entries.forEach((fn, i) => {
    const rels = callRelocations(fn, 0);
    if (rels.length > 0) b.addRelocations(entryIndex[i], rels);
  });
  return b.build().bytes;
}

test("link: every program is its entry plus each reachable function once, calls fixed", async () => {
  const pipeline = new Pipeline(
    defaultPipeline().stages.filter((s) =>
      ["read", "classify", "relocate", "link"].includes(s.name)
    ),
  );
  await fc.assert(
    fc.asyncProperty(objectArb, async ({ text, entries, littleEndian }) => {
      const ctx = await pipeline.runContext(buildObject(text, entries, littleEndian));
      assert.deepEqual([...ctx.programs.keys()], entries.map((e) => e.name));
      const seen = new Set<Instruction>();
      for (const entry of entries) {
        // The plain flattening: breadth first from the entry, each function once.
        const all = [...text, ...entries];
        const order: Fn[] = [entry];
        for (let f = 0; f < order.length; f++) {
          for (const c of order[f].calls) if (!order.includes(all[c])) order.push(all[c]);
        }
        const start = new Map<Fn, number>();
        let slot = 0;
        for (const fn of order) {
          start.set(fn, slot);
          slot += code(fn).length;
        }
        const got = ctx.programs.get(entry.name)!.instructions;
        assert.equal(got.length, slot);
        let k = 0;
        for (const fn of order) {
          assert.equal(got[k].symbol, fn.name);
          for (const [opcode, , , , imm] of code(fn)) {
            const ins = got[k];
            assert.equal(ins.opcode, opcode);
            if (opcode === CALL) {
              const callee = all.find((t) => t.name === ins.reference)!;
              assert.equal(ins.imm, start.get(callee)! - (k + 1));
            } else assert.equal(ins.imm, imm);
            // No two programs share an instruction object.
            assert.ok(!seen.has(ins));
            seen.add(ins);
            k++;
          }
        }
      }
    }),
    { numRuns: 300 },
  );
});

// --- maps: one pass over the BTF finds what datasecIds finds ---

test("maps: datasecsByName gives the first DATASEC of every name, as datasecIds", async () => {
  for (const dir of ["bpfel", "bpfeb"] as const) {
    for (const file of fixtureObjects(dir)) {
      let btf;
      try {
        btf = (await defaultPipeline().runContext(readFixture(`${dir}/${file}`))).btf;
      } catch {
        continue; // the bad fixtures
      }
      if (btf === undefined) continue;
      const byName = datasecsByName(btf);
      for (let id = btf.firstId; id <= btf.lastId; id++) {
        if (btf.kindOf(id) !== BtfKind.DATASEC) continue;
        const name = btf.nameOf(id);
        assert.equal(byName.get(name), datasecIds(btf, name)[0], `${file} ${name}`);
      }
      assert.equal(byName.get("no such section"), undefined);
    }
  }
});

// --- pipeline: synchronous stages run without promises, in order, errors named ---

function stage(name: string, run: Stage["run"]): Stage {
  return { name, run };
}

test("pipeline: sync and async stages keep their order; failures name their stage", async () => {
  const log: string[] = [];
  const sync = (name: string) => stage(name, () => void log.push(name));
  const late = (name: string) =>
    stage(name, async () => {
      await Promise.resolve();
      log.push(name);
    });
  await new Pipeline([sync("a"), late("b"), sync("c"), late("d"), sync("e")])
    .runContext(new Uint8Array(0));
  assert.deepEqual(log, ["a", "b", "c", "d", "e"]);

  const fails = async (stages: Stage[], code: string, message: string) => {
    await assert.rejects(new Pipeline(stages).runContext(new Uint8Array(0)), (err) => {
      assert.ok(err instanceof PipelineError || err instanceof LinkError);
      assert.equal(err.code, code);
      assert.equal(err.message, message);
      return true;
    });
  };
  const boom = new Error("boom");
  await fails(
    [
      sync("a"),
      stage("x", () => {
        throw boom;
      }),
    ],
    STAGE_FAILED,
    "x: boom",
  );
  await fails(
    [
      late("a"),
      stage("x", () => {
        throw boom;
      }),
    ],
    STAGE_FAILED,
    "x: boom",
  );
  await fails([sync("a"), stage("x", () => Promise.reject(boom))], STAGE_FAILED, "x: boom");
  await fails(
    [late("a"), stage("x", () => Promise.reject(new LinkError("LINK_X", "bad")))],
    "LINK_X",
    "x: bad",
  );
  await fails(
    [stage("x", () => {
      throw new LinkError("LINK_X", "bad");
    })],
    "LINK_X",
    "x: bad",
  );
  // A throw from a synchronous stage still rejects: nothing escapes synchronously.
  const p = new Pipeline([stage("x", () => {
    throw boom;
  })]).runContext(new Uint8Array(0));
  assert.ok(p instanceof Promise);
  await assert.rejects(p);
});
