import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  readElf,
  SHN_LORESERVE,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_NULL,
  SHT_PROGBITS,
  SHT_REL,
  STB_GLOBAL,
} from "../elf/mod.ts";
import { ElfError } from "../errors/mod.ts";
import { ElfBuilder, sampleObject, SHDR, SYM, writeUint } from "./_elf_builder.ts";
import type { BuiltElf } from "./_elf_builder.ts";

/** Valid objects to mutate: both byte orders, with and without the SHN_XINDEX conventions. */
const BASES: BuiltElf[] = [
  sampleObject({ littleEndian: true }).elf,
  sampleObject({ littleEndian: false }).elf,
  sampleObject({ littleEndian: true, extendedNumbering: true, symtabShndx: true }).elf,
  sampleObject({ littleEndian: false, extendedNumbering: true, symtabShndx: true }).elf,
];

/** `[offset, width]` of ELF header fields worth attacking. */
const EHDR_FIELDS: Array<[number, 1 | 2 | 4 | 8]> = [
  [4, 1], // EI_CLASS
  [5, 1], // EI_DATA
  [6, 1], // EI_VERSION
  [16, 2], // e_type
  [18, 2], // e_machine
  [20, 4], // e_version
  [40, 8], // e_shoff
  [58, 2], // e_shentsize
  [60, 2], // e_shnum
  [62, 2], // e_shstrndx
];
const SHDR_FIELDS = Object.values(SHDR) as unknown as Array<[number, 1 | 2 | 4 | 8]>;
const SYM_FIELDS = Object.values(SYM) as unknown as Array<[number, 1 | 2 | 4 | 8]>;

/** Values at the edges: zero, all-ones, the safe-integer limit, and sizes near the file's. */
function extremes(elf: BuiltElf, length: number): bigint[] {
  const n = BigInt(length);
  return [
    0n,
    1n,
    0x7fn,
    0xffn,
    0xff00n,
    0xfff1n,
    0xfffen,
    0xffffn,
    0x7fffffffn,
    0xffffffffn,
    1n << 32n,
    (1n << 53n) - 1n,
    1n << 53n,
    1n << 63n,
    (1n << 64n) - 1n,
    n,
    n - 1n,
    n + 1n,
    n - 64n,
    BigInt(elf.shoff),
    BigInt(elf.shnum),
    BigInt(elf.shnum + 1),
    BigInt(elf.shnum - 1),
  ];
}

type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "truncate"; keep: number }
  | {
    kind: "field";
    region: "ehdr" | "shdr" | "sym" | "rel";
    entry: number;
    field: number;
    extreme: number;
    random: bigint;
  };

// Truncation ends most parses early, so it is drawn less often than the rest.
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("flip" as const),
      at: fc.nat(),
      bit: fc.integer({ min: 0, max: 7 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("set" as const),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("truncate" as const), keep: fc.nat() }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("field" as const),
      region: fc.constantFrom("ehdr" as const, "shdr" as const, "sym" as const, "rel" as const),
      entry: fc.nat(),
      field: fc.nat(),
      extreme: fc.nat(),
      random: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    }),
  },
);

function apply(base: BuiltElf, mutations: Mutation[]): Uint8Array {
  let bytes = base.bytes.slice();
  for (const m of mutations) {
    if (bytes.length === 0) break;
    switch (m.kind) {
      case "flip":
        bytes[m.at % bytes.length] ^= 1 << m.bit;
        break;
      case "set":
        bytes[m.at % bytes.length] = m.value;
        break;
      case "truncate":
        bytes = bytes.slice(0, m.keep % (bytes.length + 1));
        break;
      case "field": {
        let at: number;
        let width: 1 | 2 | 4 | 8;
        if (m.region === "ehdr") {
          [at, width] = EHDR_FIELDS[m.field % EHDR_FIELDS.length];
        } else if (m.region === "shdr") {
          const [off, w] = SHDR_FIELDS[m.field % SHDR_FIELDS.length];
          at = base.shoff + (m.entry % base.shnum) * 64 + off;
          width = w;
        } else if (m.region === "sym") {
          const symtab = base.section(".symtab");
          const [off, w] = SYM_FIELDS[m.field % SYM_FIELDS.length];
          at = symtab.offset + (m.entry % (symtab.size / 24)) * 24 + off;
          width = w;
        } else {
          const rel = base.section(".relxdp");
          at = rel.offset + (m.entry % (rel.size / 16)) * 16 + (m.field % 2) * 8;
          width = 8;
        }
        if (at + width > bytes.length) break;
        const values = extremes(base, bytes.length);
        const value = m.extreme % (values.length + 1) === values.length
          ? m.random
          : values[m.extreme % values.length];
        writeUint(bytes, at, BigInt.asUintN(width * 8, value), {
          width,
          littleEndian: base.littleEndian,
        });
        break;
      }
    }
  }
  return bytes;
}

/** What a loader does with a file; returns normally or throws. */
function parseFully(bytes: Uint8Array): void {
  const elf = readElf(bytes, { maxNobitsSize: 1 << 20 });
  const symbols = elf.symbols();
  // Whatever was accepted is consistent: indexes point at things that exist.
  for (const sym of symbols) {
    const i = sym.sectionIndex;
    assert.ok(i < elf.sections.length || (i >= SHN_LORESERVE && i !== SHN_XINDEX));
  }
  for (const sec of elf.sections) {
    if (sec.type !== SHT_REL) continue;
    for (const rel of elf.relocations(sec)) assert.ok(rel.symbolIndex < symbols.length);
  }
  for (const sec of elf.sections) {
    const data = elf.sectionData(sec);
    // Whatever was accepted lies inside the file.
    if (sec.type !== SHT_NOBITS && sec.type !== SHT_NULL && sec.index !== 0) {
      assert.equal(data.length, sec.size);
      assert.equal(data.buffer, bytes.buffer);
    }
  }
}

test("elf fuzz: mutated objects parse or throw ElfError, nothing else", () => {
  fc.assert(
    fc.property(
      fc.nat({ max: BASES.length - 1 }),
      fc.array(mutation, { minLength: 1, maxLength: 6 }),
      (base, mutations) => {
        const bytes = apply(BASES[base], mutations);
        try {
          parseFully(bytes);
        } catch (err) {
          if (!(err instanceof ElfError)) throw err;
          assert.match(err.code, /^ELF_[A-Z_]+$/);
        }
      },
    ),
    { numRuns: 20_000 },
  );
});

const validSection = fc.record({
  name: fc.stringMatching(/^[a-z_./]{1,40}$/),
  nobits: fc.boolean(),
  size: fc.nat({ max: 64 }),
  addralign: fc.constantFrom(1, 2, 4, 8, 16),
});

test("elf fuzz: generated valid objects round-trip", () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.boolean(),
      fc.array(validSection, { minLength: 1, maxLength: 12 }),
      fc.array(fc.record({ name: fc.string({ maxLength: 12 }), value: fc.nat() }), {
        maxLength: 12,
      }),
      (littleEndian, extendedNumbering, sections, symbols) => {
        const b = new ElfBuilder({
          littleEndian,
          extendedNumbering,
          symtabShndx: extendedNumbering,
        });
        const indexes = sections.map((s, k) =>
          b.addSection({
            name: s.name,
            type: s.nobits ? SHT_NOBITS : SHT_PROGBITS,
            data: new Uint8Array(s.size).fill(k),
            size: s.size,
            addralign: s.addralign,
          })
        );
        symbols.forEach((s, k) =>
          b.addSymbol({
            name: s.name.replaceAll("\0", ""),
            value: s.value,
            bind: STB_GLOBAL,
            section: indexes[k % indexes.length],
          })
        );
        if (symbols.length > 0) {
          b.addRelocations(indexes[0], [{ offset: 0, symbol: symbols.length, type: 1 }]);
        }
        const built = b.build();
        const elf = readElf(built.bytes);
        assert.deepEqual(
          elf.sections.map((s) => [s.name, s.type, s.offset, s.size]),
          built.sections.map((s) => [s.name, s.type, s.offset, s.size]),
        );
        sections.forEach((s, k) => {
          const data = elf.sectionData(elf.sections[indexes[k]]);
          assert.equal(data.length, s.size);
          if (s.size > 0) assert.equal(data[0], s.nobits ? 0 : k & 0xff);
        });
        const syms = elf.symbols();
        assert.equal(syms.length, symbols.length === 0 ? 0 : symbols.length + 1);
        symbols.forEach((s, k) => {
          assert.equal(syms[k + 1].name, s.name.replaceAll("\0", ""));
          assert.equal(syms[k + 1].value, s.value);
          assert.equal(syms[k + 1].sectionIndex, indexes[k % indexes.length]);
        });
        for (const sec of elf.sections) if (sec.type === SHT_REL) elf.relocations(sec);
      },
    ),
    { numRuns: 500 },
  );
});
