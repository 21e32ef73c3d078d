import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  type ElfFile,
  EM_NONE,
  ET_REL,
  readElf,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHF_INFO_LINK,
  SHF_WRITE,
  SHN_ABS,
  SHN_COMMON,
  SHN_UNDEF,
  SHT_NOBITS,
  SHT_NULL,
  SHT_PROGBITS,
  SHT_REL,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  SHT_SYMTAB_SHNDX,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_FUNC,
  STV_DEFAULT,
  STV_HIDDEN,
} from "../elf/mod.ts";
import { ElfError } from "../errors/mod.ts";
import { ElfBuilder, patchHeader, sampleObject } from "./_elf_builder.ts";
import { brokenObjects, manifestOf } from "../fixtures/make_broken.ts";

/** Everything a loader does with a file: header, symbols, every relocation section, every section's data. */
function parseFully(bytes: Uint8Array): ElfFile {
  const elf = readElf(bytes);
  elf.symbols();
  for (const sec of elf.sections) {
    if (sec.type === SHT_REL || sec.type === SHT_RELA) elf.relocations(sec);
  }
  for (const sec of elf.sections) elf.sectionData(sec);
  return elf;
}

function elfError(fn: () => unknown): ElfError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ElfError, `expected an ElfError, got ${err}`);
    return err;
  }
  assert.fail("expected an ElfError, nothing was thrown");
}

function fixturePath(rel: string): string {
  return fileURLToPath(new URL(`../fixtures/${rel}`, import.meta.url));
}

for (const littleEndian of [true, false]) {
  const order = littleEndian ? "little-endian" : "big-endian";

  test(`elf: ${order} sample: header and every section header field`, () => {
    const sample = sampleObject({ littleEndian });
    const elf = readElf(sample.elf.bytes);
    assert.equal(elf.littleEndian, littleEndian);
    assert.deepEqual(elf.header, {
      littleEndian,
      type: ET_REL,
      machine: 247,
      flags: 0,
      sectionNamesIndex: sample.elf.shstrndx,
    });
    assert.equal(elf.sections.length, sample.elf.shnum);
    for (const built of sample.elf.sections) {
      const sec = elf.sections[built.index];
      assert.equal(sec.index, built.index);
      assert.equal(sec.name, built.name);
      assert.equal(sec.type, built.type);
      assert.equal(sec.offset, built.offset);
      assert.equal(sec.size, built.size);
    }
    const byName = (name: string) => {
      const sec = elf.sectionByName(name);
      assert.ok(sec, name);
      return sec;
    };
    assert.deepEqual(elf.sections[0], {
      index: 0,
      name: "",
      type: SHT_NULL,
      flags: 0,
      offset: 0,
      size: 0,
      link: 0,
      info: 0,
      addralign: 0,
      entsize: 0,
    });
    const xdp = byName("xdp");
    assert.equal(xdp.type, SHT_PROGBITS);
    assert.equal(xdp.flags, SHF_ALLOC | SHF_EXECINSTR);
    assert.equal(xdp.addralign, 8);
    assert.equal(xdp.size, 56);
    assert.equal(byName("license").flags, SHF_ALLOC | SHF_WRITE);
    assert.equal(byName("maps").addralign, 4);
    const bss = byName(".bss");
    assert.equal(bss.type, SHT_NOBITS);
    assert.equal(bss.size, 64);
    const symtab = byName(".symtab");
    assert.equal(elf.symbolTable, symtab);
    assert.equal(symtab.type, SHT_SYMTAB);
    assert.equal(symtab.entsize, 24);
    assert.equal(symtab.link, byName(".strtab").index);
    assert.equal(symtab.info, 6, "first non-local symbol");
    const rel = byName(".relxdp");
    assert.equal(rel.type, SHT_REL);
    assert.equal(rel.flags, SHF_INFO_LINK);
    assert.equal(rel.link, symtab.index);
    assert.equal(rel.info, xdp.index);
    assert.equal(rel.entsize, 16);
    assert.equal(byName(".shstrtab").type, SHT_STRTAB);
    assert.equal(elf.sectionByName("nope"), undefined);
  });

  test(`elf: ${order} sample: section data is a zero-copy view`, () => {
    const sample = sampleObject({ littleEndian });
    const bytes = sample.elf.bytes;
    const elf = readElf(bytes);
    const license = elf.sectionData(elf.sectionByName("license")!);
    assert.equal(new TextDecoder().decode(license), "GPL\0");
    assert.equal(license.buffer, bytes.buffer);
    assert.equal(license.byteOffset, sample.elf.section("license").offset);
    const xdp = elf.sectionData(elf.sectionByName("xdp")!);
    assert.equal(xdp.length, 56);
    assert.equal(xdp[0], 0x18);
    // The call's register byte (dst 0, src 1) shows the object's own byte order.
    assert.equal(xdp[17], littleEndian ? 0x10 : 0x01);
    assert.equal(elf.sectionData(elf.sections[0]).length, 0);
  });

  test(`elf: ${order} sample: symbols, incl. SHN_UNDEF, SHN_ABS and SHN_COMMON`, () => {
    const sample = sampleObject({ littleEndian });
    const elf = readElf(sample.elf.bytes);
    const symbols = elf.symbols();
    assert.equal(symbols, elf.symbols(), "decoded once, cached");
    assert.equal(symbols.length, sample.symbols.length + 1);
    assert.deepEqual(symbols[0], {
      index: 0,
      name: "",
      value: 0,
      size: 0,
      type: 0,
      bind: STB_LOCAL,
      visibility: STV_DEFAULT,
      sectionIndex: SHN_UNDEF,
    });
    sample.symbols.forEach((want, k) => {
      assert.deepEqual(symbols[k + 1], {
        index: k + 1,
        name: want.name ?? "",
        value: want.value ?? 0,
        size: want.size ?? 0,
        type: want.type ?? 0,
        bind: want.bind ?? STB_LOCAL,
        visibility: want.visibility ?? STV_DEFAULT,
        sectionIndex: want.section ?? SHN_UNDEF,
      });
    });
    const named = (name: string) => symbols.find((s) => s.name === name)!;
    assert.equal(named("CONFIG_HZ").sectionIndex, SHN_UNDEF);
    assert.equal(named("CONFIG_HZ").bind, STB_WEAK);
    assert.equal(named("common_buf").sectionIndex, SHN_COMMON);
    assert.equal(named("abs_marker").sectionIndex, SHN_ABS);
    assert.equal(named("abs_marker").value, 0xdead);
    assert.equal(named("abs_marker").visibility, STV_HIDDEN);
    assert.equal(named("xdp_prog").type, STT_FUNC);
    assert.equal(named("xdp_prog").bind, STB_GLOBAL);
    assert.equal(elf.sections[named("xdp_prog").sectionIndex].name, "xdp");
  });

  test(`elf: ${order} sample: relocations`, () => {
    const sample = sampleObject({ littleEndian });
    const elf = readElf(sample.elf.bytes);
    const rel = elf.sectionByName(".relxdp")!;
    const relocations = elf.relocations(rel);
    assert.deepEqual(
      relocations,
      sample.relocations.xdp.map((r) => ({
        offset: r.offset,
        symbolIndex: r.symbol,
        type: r.type,
      })),
    );
    assert.equal(elf.relocations(rel), relocations, "decoded once, cached");
    assert.equal(elf.symbols()[relocations[0].symbolIndex].name, "counts");
    assert.deepEqual(elf.relocations(elf.sectionByName(".rel.data")!), [
      { offset: 8, symbolIndex: 9, type: 3 },
    ]);
  });

  test(`elf: ${order} sample: SHN_XINDEX conventions and SHT_SYMTAB_SHNDX`, () => {
    const plain = readElf(sampleObject({ littleEndian }).elf.bytes);
    const sample = sampleObject({ littleEndian, extendedNumbering: true, symtabShndx: true });
    const elf = parseFully(sample.elf.bytes);
    assert.equal(elf.sections.length, sample.elf.shnum);
    assert.equal(elf.header.sectionNamesIndex, sample.elf.shstrndx);
    assert.equal(elf.sections[0].size, sample.elf.shnum, "section 0 carries the count");
    assert.equal(elf.sectionByName(".symtab_shndx")?.type, SHT_SYMTAB_SHNDX);
    // Symbols resolve to the same sections as without the extended table.
    assert.deepEqual(
      elf.symbols().map((s) => [s.name, s.sectionIndex]),
      plain.symbols().map((s) => [s.name, s.sectionIndex]),
    );
  });
}

test("elf: an object without a symbol table has no symbols", () => {
  const b = new ElfBuilder();
  b.addSection({ name: "xdp", type: SHT_PROGBITS, data: new Uint8Array(8) });
  const elf = parseFully(b.build().bytes);
  assert.deepEqual(elf.symbols(), []);
  assert.equal(elf.symbolTable, undefined);
  assert.deepEqual(elf.sections.map((s) => s.name), ["", "xdp", ".shstrtab"]);
});

test("elf: an object without a section header table", () => {
  const bytes = sampleObject().elf.bytes.slice(0, 64);
  new DataView(bytes.buffer).setBigUint64(40, 0n, true); // e_shoff
  new DataView(bytes.buffer).setUint16(60, 0, true); // e_shnum
  new DataView(bytes.buffer).setUint16(62, 0, true); // e_shstrndx
  const elf = parseFully(bytes);
  assert.deepEqual(elf.sections, []);
  assert.deepEqual(elf.symbols(), []);
});

test("elf: EM_NONE is accepted", () => {
  const sample = sampleObject();
  patchHeader(sample.elf, "machine", EM_NONE);
  assert.equal(readElf(sample.elf.bytes).header.machine, EM_NONE);
});

test("elf: input at a non-zero byteOffset of a larger buffer", () => {
  const bytes = sampleObject({ littleEndian: false }).elf.bytes;
  const big = new Uint8Array(bytes.length + 11);
  big.set(bytes, 3);
  const elf = parseFully(big.subarray(3, 3 + bytes.length));
  assert.equal(elf.symbols()[8].name, "counts");
  assert.equal(elf.sectionData(elf.sectionByName("license")!).byteOffset, 3 + 120);
});

test("elf: SHT_NOBITS data is zero-filled, within the size cap", () => {
  const bytes = sampleObject().elf.bytes;
  const bss = readElf(bytes).sectionByName(".bss")!;
  const data = readElf(bytes).sectionData(bss);
  assert.equal(data.length, 64);
  assert.ok(data.every((b) => b === 0));
  const capped = readElf(bytes, { maxNobitsSize: 63 });
  const err = elfError(() => capped.sectionData(bss));
  assert.equal(err.code, "ELF_TOO_LARGE");
  assert.equal(err.section, ".bss");
  assert.match(err.message, /section 5 "\.bss"/);
});

test("elf: stringAt reads string tables and nothing else", () => {
  const elf = readElf(sampleObject().elf.bytes);
  const strtab = elf.sectionByName(".strtab")!;
  assert.equal(elf.stringAt(strtab, 0), "");
  assert.equal(elf.stringAt(strtab, 1), "sample.c");
  assert.equal(elf.stringAt(strtab, 3), "mple.c");
  assert.equal(elfError(() => elf.stringAt(strtab, strtab.size)).code, "ELF_BAD_STRING");
  assert.equal(elfError(() => elf.stringAt(strtab, -1)).code, "ELF_BAD_STRING");
  const xdp = elf.sectionByName("xdp")!;
  assert.equal(elfError(() => elf.stringAt(xdp, 0)).code, "ELF_BAD_SECTION_TYPE");
});

test("elf: misuse of the API is an ElfError too", () => {
  const elf = readElf(sampleObject().elf.bytes);
  const xdp = elf.sectionByName("xdp")!;
  const notRel = elfError(() => elf.relocations(xdp));
  assert.equal(notRel.code, "ELF_BAD_SECTION_TYPE");
  assert.match(notRel.message, /section 1 "xdp"/);
  assert.equal(elfError(() => elf.sectionData({ ...xdp, index: 99 })).code, "ELF_BAD_INDEX");
  assert.equal(elfError(() => elf.relocations({ ...xdp, index: 1.5 })).code, "ELF_BAD_INDEX");
  // An edited section object cannot widen what the reader returns.
  assert.equal(elf.sectionData({ ...xdp, size: 1 << 20 }).length, 56);
});

test("elf: names and strings outside ASCII or longer than the fast path", () => {
  const b = new ElfBuilder();
  const long = "section_with_a_name_longer_than_thirty_two_bytes";
  const text = b.addSection({ name: long, type: SHT_PROGBITS, data: new Uint8Array(8) });
  b.addSection({ name: "ünïcödé", type: SHT_PROGBITS, data: new Uint8Array(8) });
  b.addSymbol({ name: "sym_ß", section: text });
  const elf = parseFully(b.build().bytes);
  assert.deepEqual(elf.sections.slice(1, 3).map((s) => s.name), [long, "ünïcödé"]);
  assert.equal(elf.symbols()[1].name, "sym_ß");
});

test("elf: every broken fixture gives its manifest code and says where", () => {
  const manifest = JSON.parse(readFileSync(fixturePath("broken/manifest.json"), "utf8")) as Record<
    string,
    { code: string; what: string }
  >;
  const cases = brokenObjects();
  assert.deepEqual(manifest, manifestOf(cases), "manifest.json is current: run make_broken.ts");
  assert.ok(cases.length >= 15);
  for (const c of cases) {
    const bytes = new Uint8Array(readFileSync(fixturePath(`broken/${c.file}`)));
    assert.deepEqual(bytes, c.bytes, `${c.file} is current: run make_broken.ts`);
    const err = elfError(() => parseFully(bytes));
    assert.equal(err.code, manifest[c.file].code, `${c.file}: ${err.message}`);
    assert.ok(
      err.message.includes(c.where),
      `${c.file}: message ${JSON.stringify(err.message)} does not name ${JSON.stringify(c.where)}`,
    );
  }
});

test("elf: broken objects are deterministic", () => {
  const a = brokenObjects();
  const b = brokenObjects();
  assert.deepEqual(a.map((c) => c.bytes), b.map((c) => c.bytes));
});

// --- compiled fixtures, cross-checked with llvm-readelf ------------------------

function compiledFixtures(): string[] {
  const files: string[] = [];
  for (const dir of ["bpfel", "bpfeb"]) {
    const path = fixturePath(dir);
    if (!existsSync(path)) continue;
    for (const name of readdirSync(path).sort()) {
      if (name.endsWith(".o")) files.push(`${path}/${name}`);
    }
  }
  return files;
}

function hasLlvmReadelf(): boolean {
  try {
    execFileSync("llvm-readelf", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

interface ReadelfSection {
  index: number;
  name: string;
  type: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

function readelfSections(file: string): ReadelfSection[] {
  const out = execFileSync("llvm-readelf", ["--elf-output-style=LLVM", "--sections", file], {
    encoding: "utf8",
  });
  return out.split(/\n\s*Section \{\n/).slice(1).map((block) => {
    const field = (re: RegExp) => {
      const m = re.exec(block);
      assert.ok(m, `llvm-readelf output without ${re}: ${block}`);
      return m;
    };
    return {
      index: Number(field(/Index: (\d+)/)[1]),
      name: field(/Name: (.*) \(\d+\)/)[1],
      type: Number(field(/Type: \S+ \((0x[0-9A-Fa-f]+)\)/)[1]),
      offset: Number(field(/Offset: (0x[0-9A-Fa-f]+)/)[1]),
      size: Number(field(/Size: (\d+)/)[1]),
      link: Number(field(/Link: (\d+)/)[1]),
      info: Number(field(/Info: (\d+)/)[1]),
      entsize: Number(field(/EntrySize: (\d+)/)[1]),
    };
  });
}

function readelfSymbolCount(file: string): number {
  const out = execFileSync("llvm-readelf", ["--syms", file], { encoding: "utf8" });
  const m = /Symbol table '\.symtab' contains (\d+) entries/.exec(out);
  return m ? Number(m[1]) : 0;
}

test("elf: compiled fixtures parse and match llvm-readelf", () => {
  const files = compiledFixtures();
  if (files.length === 0) {
    console.log("skip: no fixtures/bpfel/*.o or fixtures/bpfeb/*.o to parse");
    return;
  }
  const readelf = hasLlvmReadelf();
  if (!readelf) console.log("skip llvm-readelf cross-check: llvm-readelf is not on PATH");
  for (const file of files) {
    const elf = parseFully(new Uint8Array(readFileSync(file)));
    assert.equal(elf.littleEndian, file.includes("/bpfel/"), file);
    if (!readelf) continue;
    const want = readelfSections(file);
    assert.deepEqual(
      elf.sections.map((s) => ({
        index: s.index,
        name: s.name,
        type: s.type,
        offset: s.offset,
        size: s.size,
        link: s.link,
        info: s.info,
        entsize: s.entsize,
      })),
      want,
      file,
    );
    assert.equal(elf.symbols().length, readelfSymbolCount(file), file);
  }
});
