// The reader's fast paths against plain reference implementations: the
// overlap check (sorted slots, header and table tested apart, the exact
// pair named only on failure) and names sliced from the decoded string
// table (versus decoding each name on its own).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ELF64_EHDR_SIZE,
  ELF64_SHDR_SIZE,
  readElf,
  SHT_NOBITS,
  SHT_NULL,
  SHT_PROGBITS,
} from "../elf/mod.ts";
import { ElfError } from "../errors/mod.ts";
import { ElfBuilder, patchSectionHeader } from "./_elf_builder.ts";
import type { BuiltElf } from "./_elf_builder.ts";

function thrown(fn: () => unknown): ElfError | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ElfError, `expected an ElfError, got ${err}`);
    return err;
  }
  return undefined;
}

/** A section's place as the overlap check sees it, after patching. */
interface Placed {
  index: number;
  name: string;
  type: number;
  offset: number;
  size: number;
}

function hex(n: number): string {
  return "0x" + n.toString(16);
}

/**
 * The `ELF_OVERLAP` message for these sections, or `undefined` when none
 * overlap: every pair is compared, then the first overlap in start order
 * against the range reaching furthest before it is named, as the reader
 * promises.
 */
function referenceOverlap(
  sections: Placed[],
  shoff: number,
  shnum: number,
): string | undefined {
  const ranges: Array<{ start: number; end: number; what: string }> = [
    { start: 0, end: ELF64_EHDR_SIZE, what: "the ELF header" },
    { start: shoff, end: shoff + shnum * ELF64_SHDR_SIZE, what: "the section header table" },
  ];
  for (const s of sections) {
    if (s.index === 0 || s.size === 0 || s.type === SHT_NULL || s.type === SHT_NOBITS) continue;
    const what = s.name === ""
      ? `section ${s.index}`
      : `section ${s.index} ${JSON.stringify(s.name)}`;
    ranges.push({ start: s.offset, end: s.offset + s.size, what });
  }
  let any = false;
  for (let a = 0; a < ranges.length; a++) {
    for (let b = a + 1; b < ranges.length; b++) {
      if (ranges[a].start < ranges[b].end && ranges[b].start < ranges[a].end) any = true;
    }
  }
  if (!any) return undefined;
  const sorted = [...ranges].sort((x, y) => x.start - y.start);
  let far = sorted[0];
  for (const r of sorted.slice(1)) {
    if (r.start < far.end) {
      const label = (x: typeof r) => `${x.what} [${hex(x.start)}, ${hex(x.end)})`;
      return `${label(r)} overlaps ${label(far)}`;
    }
    if (r.end > far.end) far = r;
  }
  throw new Error("unreachable: an overlap that the sweep misses");
}

const placement = fc.record({
  type: fc.constantFrom(SHT_PROGBITS, SHT_PROGBITS, SHT_PROGBITS, SHT_NOBITS, SHT_NULL),
  /** Anywhere in the file, or (when `after` is set) next to an earlier range. */
  start: fc.double({ min: 0, max: 1, noNaN: true }),
  /**
   * Start (or, with `ending`, end) at this edge of the ranges placed so far,
   * plus `near`: edges are where off-by-ones hide.
   */
  after: fc.option(fc.nat(), { nil: undefined }),
  ending: fc.boolean(),
  near: fc.integer({ min: -2, max: 2 }),
  size: fc.oneof(fc.constant(0), fc.nat({ max: 24 }), fc.nat({ max: 400 })),
});

test("elf fast paths: the overlap check agrees with a pairwise reference", () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.array(placement, { minLength: 1, maxLength: 14 }),
      (littleEndian, places) => {
        const b = new ElfBuilder({ littleEndian });
        const indexes = places.map((_, k) =>
          b.addSection({ name: `s${k}`, type: SHT_PROGBITS, data: new Uint8Array(8) })
        );
        b.addSymbol({ name: "sym", section: indexes[0] });
        const built: BuiltElf = b.build();
        const length = built.bytes.length;
        // Move the caller's sections anywhere inside the file; the generated
        // tables stay where they are, so nothing but an overlap can fail.
        const placed: Placed[] = built.sections.map((s) => ({ ...s }));
        // Edges to place next to: the ELF header's, the section header table's, the generated tables'.
        const edges = [
          0,
          ELF64_EHDR_SIZE,
          built.shoff,
          built.shoff + built.shnum * ELF64_SHDR_SIZE,
        ];
        for (const s of built.sections) {
          if (!indexes.includes(s.index)) edges.push(s.offset, s.offset + s.size);
        }
        places.forEach((p, k) => {
          const i = indexes[k];
          const size = Math.min(p.size, length);
          const edge = p.after === undefined ? 0 : edges[p.after % edges.length] + p.near;
          const wanted = p.after === undefined
            ? Math.floor(p.start * length)
            : p.ending
            ? edge - size
            : edge;
          const offset = Math.max(0, Math.min(wanted, length - size));
          edges.push(offset, offset + size);
          patchSectionHeader(built, i, "type", p.type);
          patchSectionHeader(built, i, "offset", offset);
          patchSectionHeader(built, i, "size", size);
          placed[i] = { ...placed[i], type: p.type, offset, size };
        });
        const want = referenceOverlap(placed, built.shoff, built.shnum);
        const err = thrown(() => readElf(built.bytes));
        if (want === undefined) {
          assert.equal(err, undefined, err?.message ?? "");
        } else {
          assert.equal(err?.code, "ELF_OVERLAP");
          assert.equal(err?.message, want);
        }
      },
    ),
    { numRuns: 3000 },
  );
});

test("elf fast paths: the section header table may not overlap the ELF header", () => {
  const b = new ElfBuilder({ littleEndian: true });
  b.addSection({ name: "a", type: SHT_PROGBITS, data: new Uint8Array(8) });
  const built = b.build();
  // The table moved to offset 32, inside the ELF header: section 0's first
  // 32 bytes are the header's last 32 (e_shoff, e_shnum, ... read as section
  // 0's fields, which only describe extended counts). The contents follow it.
  const shoff = 32;
  const tableEnd = shoff + built.shnum * ELF64_SHDR_SIZE;
  const delta = tableEnd - ELF64_EHDR_SIZE;
  const bytes = new Uint8Array(built.bytes.length + delta);
  const view = new DataView(bytes.buffer);
  bytes.set(built.bytes.subarray(0, ELF64_EHDR_SIZE));
  view.setBigUint64(40, BigInt(shoff), true);
  for (const s of built.sections.slice(1)) {
    const at = shoff + s.index * ELF64_SHDR_SIZE;
    bytes.set(built.bytes.subarray(s.headerOffset, s.headerOffset + ELF64_SHDR_SIZE), at);
    if (s.type === SHT_NOBITS) continue;
    view.setBigUint64(at + 24, BigInt(s.offset + delta), true);
    bytes.set(built.bytes.subarray(s.offset, s.offset + s.size), s.offset + delta);
  }
  const err = thrown(() => readElf(bytes));
  assert.equal(err?.code, "ELF_OVERLAP");
  assert.equal(
    err?.message,
    `the section header table [0x20, ${hex(tableEnd)}) overlaps the ELF header [0x0, 0x40)`,
  );
});

/** Bytes for a string table: mostly name characters, some NULs, some bytes outside ASCII. */
const tableByte = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0x2e, max: 0x7a }) },
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
);

test("elf fast paths: names from the decoded table equal names decoded one by one", () => {
  const decoder = new TextDecoder();
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.array(tableByte, { minLength: 1, maxLength: 80 }),
      fc.array(fc.nat({ max: 90 }), { minLength: 1, maxLength: 8 }),
      (littleEndian, table, nameOffsets) => {
        const b = new ElfBuilder({ littleEndian });
        // Data sections named by offsets into a table of random bytes, which
        // replaces .shstrtab's contents; its own name is kept readable.
        const indexes = nameOffsets.map((_, k) =>
          b.addSection({ name: `s${k}`, type: SHT_PROGBITS, data: new Uint8Array(4) })
        );
        const built = b.build();
        const bytes = new Uint8Array(built.bytes.length + table.length + 16);
        bytes.set(built.bytes);
        const tableOffset = built.bytes.length;
        // ".shstrtab\0" first, so section names stay valid where they must.
        const own = new TextEncoder().encode(".shstrtab\0");
        bytes.set(own, tableOffset);
        bytes.set(table, tableOffset + own.length);
        const tableSize = own.length + table.length;
        const patched: BuiltElf = { ...built, bytes };
        patchSectionHeader(patched, built.shstrndx, "offset", tableOffset);
        patchSectionHeader(patched, built.shstrndx, "size", tableSize);
        patchSectionHeader(patched, built.shstrndx, "name", 0);
        for (const s of built.sections) {
          if (s.index !== 0 && s.index !== built.shstrndx && !indexes.includes(s.index)) {
            patchSectionHeader(patched, s.index, "name", 0);
          }
        }
        nameOffsets.forEach((at, k) => patchSectionHeader(patched, indexes[k], "name", at));

        // The reference: each name decoded alone, in section order.
        const want: string[] = [];
        let wantError: number | undefined;
        for (let i = 0; i < built.shnum && wantError === undefined; i++) {
          const k = indexes.indexOf(i);
          const at = k >= 0 ? nameOffsets[k] : 0;
          if (at >= tableSize) {
            wantError = i;
            break;
          }
          const start = tableOffset + at;
          const nul = bytes.subarray(start, tableOffset + tableSize).indexOf(0);
          if (nul < 0) wantError = i;
          else want.push(decoder.decode(bytes.subarray(start, start + nul)));
        }

        const err = thrown(() => readElf(bytes));
        if (wantError !== undefined) {
          assert.equal(err?.code, "ELF_BAD_STRING");
          assert.equal(err?.sectionIndex, wantError);
        } else {
          assert.equal(err, undefined, err?.message ?? "");
          assert.deepEqual(readElf(bytes).sections.map((s) => s.name), want);
        }
      },
    ),
    { numRuns: 3000 },
  );
});
