/**
 * A small ELF64 object writer for tests and fixture generators: sections,
 * a symbol table with its string table, `SHT_REL` (or `SHT_RELA`) sections,
 * either byte order, optionally the `SHN_XINDEX` conventions. It writes what
 * it is told, so it can also produce odd-but-valid layouts; corrupt the
 * result with {@link patchHeader} / {@link patchSectionHeader} /
 * {@link writeUint} to make broken ones.
 *
 * Layout: ELF header, then each section's contents in index order (aligned
 * to its `addralign`), then the section header table (8-aligned). Generated
 * sections follow the caller's: `.symtab`, `.strtab`, `.symtab_shndx`, the
 * relocation sections, `.shstrtab`.
 *
 * ```ts
 * import { ElfBuilder } from "./_elf_builder.ts";
 * import { SHF_ALLOC, SHF_EXECINSTR, SHT_PROGBITS, STB_GLOBAL, STT_FUNC, R_BPF_64_64 } from "../elf/constants.ts";
 *
 * const b = new ElfBuilder({ littleEndian: true });
 * const text = b.addSection({ name: "xdp", type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_EXECINSTR, data: new Uint8Array(16), addralign: 8 });
 * const prog = b.addSymbol({ name: "prog", section: text, type: STT_FUNC, bind: STB_GLOBAL, size: 16 });
 * b.addRelocations(text, [{ offset: 0, symbol: prog, type: R_BPF_64_64 }]);
 * const elf = b.build();
 * elf.bytes; elf.section(".relxdp").offset;
 * ```
 *
 * @module
 */

import {
  EI_CLASS,
  EI_DATA,
  EI_VERSION,
  ELF64_EHDR_SIZE,
  ELF64_REL_SIZE,
  ELF64_RELA_SIZE,
  ELF64_SHDR_SIZE,
  ELF64_SYM_SIZE,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFDATA2MSB,
  EM_BPF,
  ET_REL,
  EV_CURRENT,
  R_BPF_64_32,
  R_BPF_64_64,
  R_BPF_64_ABS32,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHF_INFO_LINK,
  SHF_WRITE,
  SHN_ABS,
  SHN_COMMON,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_PROGBITS,
  SHT_REL,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  SHT_SYMTAB_SHNDX,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_FILE,
  STT_FUNC,
  STT_NOTYPE,
  STT_OBJECT,
  STT_SECTION,
  STV_HIDDEN,
} from "../elf/constants.ts";

/** Options of an {@link ElfBuilder}. */
export interface ElfBuilderOptions {
  /** Byte order; default `true` (ELFDATA2LSB). */
  littleEndian?: boolean;
  /** e_type; default ET_REL. */
  type?: number;
  /** e_machine; default EM_BPF. */
  machine?: number;
  /** e_flags; default 0. */
  flags?: number;
  /**
   * Use the extended numbering conventions: e_shnum 0 with the count in
   * section 0's sh_size, e_shstrndx SHN_XINDEX with the index in section 0's
   * sh_link.
   */
  extendedNumbering?: boolean;
  /**
   * Emit `.symtab_shndx` and store every symbol's regular section index
   * there, with st_shndx = SHN_XINDEX.
   */
  symtabShndx?: boolean;
}

/** One section the caller adds. */
export interface SectionInput {
  /** Section name. */
  name: string;
  /** sh_type. */
  type: number;
  /** sh_flags; default 0. */
  flags?: number;
  /** File contents; ignored for SHT_NOBITS. Default empty. */
  data?: Uint8Array;
  /** sh_size for SHT_NOBITS (default 0); other types use `data.length`. */
  size?: number;
  /** sh_link; default 0. */
  link?: number;
  /** sh_info; default 0. */
  info?: number;
  /** sh_addralign; default 1 (also used to align the contents in the file). */
  addralign?: number;
  /** sh_entsize; default 0. */
  entsize?: number;
}

/** One symbol; add locals before globals (sh_info of `.symtab` is the first non-local). */
export interface SymbolInput {
  /** Name; default "" (no name). */
  name?: string;
  /** st_value; default 0. */
  value?: number;
  /** st_size; default 0. */
  size?: number;
  /** STT_*; default STT_NOTYPE. */
  type?: number;
  /** STB_*; default STB_LOCAL. */
  bind?: number;
  /** STV_*; default STV_DEFAULT. */
  visibility?: number;
  /** st_shndx: an index returned by {@link ElfBuilder.addSection} or a SHN_* value; default SHN_UNDEF. */
  section?: number;
}

/** One relocation entry. */
export interface RelocationInput {
  /** r_offset in the target section. */
  offset: number;
  /** Symbol index, as returned by {@link ElfBuilder.addSymbol} (or any raw number). */
  symbol: number;
  /** R_BPF_* type. */
  type: number;
  /** r_addend, written only for SHT_RELA sections; default 0. */
  addend?: number;
}

/** Where a section landed in the built file. */
export interface BuiltSection {
  /** Section index. */
  index: number;
  /** Section name. */
  name: string;
  /** sh_type. */
  type: number;
  /** File offset of the section's header in the section header table. */
  headerOffset: number;
  /** sh_offset. */
  offset: number;
  /** sh_size. */
  size: number;
}

/** The result of {@link ElfBuilder.build}. */
export interface BuiltElf {
  /** The object file. */
  bytes: Uint8Array;
  /** Byte order it was written in. */
  littleEndian: boolean;
  /** e_shoff. */
  shoff: number;
  /** Number of sections, null section included. */
  shnum: number;
  /** Index of `.shstrtab`. */
  shstrndx: number;
  /** Every section, by index; [0] is the null section. */
  sections: BuiltSection[];
  /** The section called `name`; throws when there is none. */
  section(name: string): BuiltSection;
}

/** File offsets of the ELF64 header fields. */
export const EHDR = {
  class: EI_CLASS,
  data: EI_DATA,
  identVersion: EI_VERSION,
  type: 16,
  machine: 18,
  version: 20,
  shoff: 40,
  flags: 48,
  ehsize: 52,
  shentsize: 58,
  shnum: 60,
  shstrndx: 62,
} as const;

/** Width in bytes of each ELF64 header field in {@link EHDR}. */
const EHDR_WIDTH: Record<keyof typeof EHDR, 1 | 2 | 4 | 8> = {
  class: 1,
  data: 1,
  identVersion: 1,
  type: 2,
  machine: 2,
  version: 4,
  shoff: 8,
  flags: 4,
  ehsize: 2,
  shentsize: 2,
  shnum: 2,
  shstrndx: 2,
};

/** `[offset, width]` of each field inside an ELF64 section header. */
export const SHDR = {
  name: [0, 4],
  type: [4, 4],
  flags: [8, 8],
  addr: [16, 8],
  offset: [24, 8],
  size: [32, 8],
  link: [40, 4],
  info: [44, 4],
  addralign: [48, 8],
  entsize: [56, 8],
} as const;

/** `[offset, width]` of each field inside an ELF64 symbol. */
export const SYM = {
  name: [0, 4],
  info: [4, 1],
  other: [5, 1],
  shndx: [6, 2],
  value: [8, 8],
  size: [16, 8],
} as const;

/** Write an unsigned integer of `width` bytes at `at`; 8-byte values may be bigint. */
export function writeUint(
  bytes: Uint8Array,
  at: number,
  value: number | bigint,
  options: { width: 1 | 2 | 4 | 8; littleEndian: boolean },
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = options.littleEndian;
  switch (options.width) {
    case 1:
      view.setUint8(at, Number(value));
      break;
    case 2:
      view.setUint16(at, Number(value), le);
      break;
    case 4:
      view.setUint32(at, Number(value), le);
      break;
    case 8:
      view.setBigUint64(at, BigInt.asUintN(64, BigInt(value)), le);
      break;
  }
}

/** Overwrite one ELF header field of a built object, in its byte order. */
export function patchHeader(
  elf: BuiltElf,
  field: keyof typeof EHDR,
  value: number | bigint,
): void {
  writeUint(elf.bytes, EHDR[field], value, {
    width: EHDR_WIDTH[field],
    littleEndian: elf.littleEndian,
  });
}

/** Overwrite one section header field of section `section` (a name or an index). */
export function patchSectionHeader(
  elf: BuiltElf,
  section: string | number,
  field: keyof typeof SHDR,
  value: number | bigint,
): void {
  const sec = typeof section === "number" ? elf.sections[section] : elf.section(section);
  const [at, width] = SHDR[field];
  writeUint(elf.bytes, sec.headerOffset + at, value, { width, littleEndian: elf.littleEndian });
}

interface PendingRelocations {
  target: number;
  name: string;
  rela: boolean;
  entries: RelocationInput[];
}

/**
 * Collects sections, symbols and relocations, then writes an ELF64 object
 * with {@link ElfBuilder.build}. See the module docs for the layout.
 */
export class ElfBuilder {
  #options: ElfBuilderOptions;
  #sections: SectionInput[] = [];
  #symbols: SymbolInput[] = [];
  #relocations: PendingRelocations[] = [];

  /** Start an empty object. */
  constructor(options: ElfBuilderOptions = {}) {
    this.#options = options;
  }

  /** Add a section; returns its section index (the null section is 0). */
  addSection(section: SectionInput): number {
    this.#sections.push(section);
    return this.#sections.length;
  }

  /** Add a symbol; returns its symbol index (the null symbol is 0). */
  addSymbol(symbol: SymbolInput): number {
    this.#symbols.push(symbol);
    return this.#symbols.length;
  }

  /**
   * Add a relocation section for section index `target`, named
   * `.rel<target name>` (`.rela…` with `rela: true`, which writes SHT_RELA
   * with 24-byte entries).
   */
  addRelocations(
    target: number,
    entries: RelocationInput[],
    options: { rela?: boolean; name?: string } = {},
  ): void {
    const rela = options.rela ?? false;
    const targetName = this.#sections[target - 1]?.name ?? `${target}`;
    const name = options.name ?? `${rela ? ".rela" : ".rel"}${targetName}`;
    this.#relocations.push({ target, name, rela, entries });
  }

  /** Write the object. The builder can keep being used afterwards. */
  build(): BuiltElf {
    const opts = this.#options;
    const le = opts.littleEndian ?? true;
    const sections: SectionInput[] = [...this.#sections];
    const hasSymbols = this.#symbols.length > 0 || this.#relocations.length > 0;

    let symtabIndex = 0;
    if (hasSymbols) {
      symtabIndex = sections.length + 1;
      const strtabIndex = symtabIndex + 1;
      const strings = new StringTable();
      const count = this.#symbols.length + 1;
      const symtab = new Uint8Array(count * ELF64_SYM_SIZE);
      const shndx = new Uint8Array(count * 4);
      let firstGlobal = count;
      this.#symbols.forEach((sym, k) => {
        const i = k + 1;
        const bind = sym.bind ?? STB_LOCAL;
        if (bind !== STB_LOCAL && firstGlobal === count) firstGlobal = i;
        const at = i * ELF64_SYM_SIZE;
        let section = sym.section ?? SHN_UNDEF;
        if (opts.symtabShndx && section !== SHN_UNDEF && section < SHN_LORESERVE) {
          writeUint(shndx, i * 4, section, { width: 4, littleEndian: le });
          section = SHN_XINDEX;
        }
        writeUint(symtab, at, strings.add(sym.name ?? ""), { width: 4, littleEndian: le });
        symtab[at + 4] = (bind << 4) | ((sym.type ?? STT_NOTYPE) & 0xf);
        symtab[at + 5] = (sym.visibility ?? 0) & 0x3;
        writeUint(symtab, at + 6, section, { width: 2, littleEndian: le });
        writeUint(symtab, at + 8, sym.value ?? 0, { width: 8, littleEndian: le });
        writeUint(symtab, at + 16, sym.size ?? 0, { width: 8, littleEndian: le });
      });
      sections.push({
        name: ".symtab",
        type: SHT_SYMTAB,
        data: symtab,
        link: strtabIndex,
        info: firstGlobal,
        addralign: 8,
        entsize: ELF64_SYM_SIZE,
      });
      sections.push({ name: ".strtab", type: SHT_STRTAB, data: strings.bytes(), addralign: 1 });
      if (opts.symtabShndx) {
        sections.push({
          name: ".symtab_shndx",
          type: SHT_SYMTAB_SHNDX,
          data: shndx,
          link: symtabIndex,
          addralign: 4,
          entsize: 4,
        });
      }
    }

    for (const rel of this.#relocations) {
      const size = rel.rela ? ELF64_RELA_SIZE : ELF64_REL_SIZE;
      const data = new Uint8Array(rel.entries.length * size);
      rel.entries.forEach((r, i) => {
        const at = i * size;
        writeUint(data, at, r.offset, { width: 8, littleEndian: le });
        const info = (BigInt(r.symbol >>> 0) << 32n) | BigInt(r.type >>> 0);
        writeUint(data, at + 8, info, { width: 8, littleEndian: le });
        if (rel.rela) writeUint(data, at + 16, r.addend ?? 0, { width: 8, littleEndian: le });
      });
      sections.push({
        name: rel.name,
        type: rel.rela ? SHT_RELA : SHT_REL,
        flags: SHF_INFO_LINK,
        data,
        link: symtabIndex,
        info: rel.target,
        addralign: 8,
        entsize: size,
      });
    }

    const shstrndx = sections.length + 1;
    const names = new StringTable();
    const nameOffsets = sections.map((s) => names.add(s.name));
    const shstrtabName = names.add(".shstrtab");
    sections.push({ name: ".shstrtab", type: SHT_STRTAB, data: names.bytes(), addralign: 1 });
    nameOffsets.push(shstrtabName);

    // Lay out contents after the header, then the section header table.
    const shnum = sections.length + 1;
    const offsets: number[] = [0];
    let cursor = ELF64_EHDR_SIZE;
    for (const sec of sections) {
      const align = Math.max(sec.addralign ?? 1, 1);
      cursor = Math.ceil(cursor / align) * align;
      offsets.push(cursor);
      if (sec.type !== SHT_NOBITS) cursor += sec.data?.length ?? 0;
    }
    const shoff = Math.ceil(cursor / 8) * 8;
    const bytes = new Uint8Array(shoff + shnum * ELF64_SHDR_SIZE);
    const w = (at: number, value: number | bigint, width: 1 | 2 | 4 | 8) =>
      writeUint(bytes, at, value, { width, littleEndian: le });

    bytes.set([0x7f, 0x45, 0x4c, 0x46, ELFCLASS64, le ? ELFDATA2LSB : ELFDATA2MSB, EV_CURRENT]);
    w(EHDR.type, opts.type ?? ET_REL, 2);
    w(EHDR.machine, opts.machine ?? EM_BPF, 2);
    w(EHDR.version, EV_CURRENT, 4);
    w(EHDR.shoff, shoff, 8);
    w(EHDR.flags, opts.flags ?? 0, 4);
    w(EHDR.ehsize, ELF64_EHDR_SIZE, 2);
    w(EHDR.shentsize, ELF64_SHDR_SIZE, 2);
    w(EHDR.shnum, opts.extendedNumbering ? 0 : shnum, 2);
    w(EHDR.shstrndx, opts.extendedNumbering ? SHN_XINDEX : shstrndx, 2);
    if (opts.extendedNumbering) {
      w(shoff + SHDR.size[0], shnum, 8);
      w(shoff + SHDR.link[0], shstrndx, 4);
    }

    const built: BuiltSection[] = [
      {
        index: 0,
        name: "",
        type: 0,
        headerOffset: shoff,
        offset: 0,
        size: opts.extendedNumbering ? shnum : 0,
      },
    ];
    sections.forEach((sec, k) => {
      const i = k + 1;
      const h = shoff + i * ELF64_SHDR_SIZE;
      const size = sec.type === SHT_NOBITS ? sec.size ?? 0 : sec.data?.length ?? 0;
      if (sec.type !== SHT_NOBITS && sec.data) bytes.set(sec.data, offsets[i]);
      w(h + SHDR.name[0], nameOffsets[k], 4);
      w(h + SHDR.type[0], sec.type, 4);
      w(h + SHDR.flags[0], sec.flags ?? 0, 8);
      w(h + SHDR.offset[0], offsets[i], 8);
      w(h + SHDR.size[0], size, 8);
      w(h + SHDR.link[0], sec.link ?? 0, 4);
      w(h + SHDR.info[0], sec.info ?? 0, 4);
      w(h + SHDR.addralign[0], sec.addralign ?? 1, 8);
      w(h + SHDR.entsize[0], sec.entsize ?? 0, 8);
      built.push({
        index: i,
        name: sec.name,
        type: sec.type,
        headerOffset: h,
        offset: offsets[i],
        size,
      });
    });

    return {
      bytes,
      littleEndian: le,
      shoff,
      shnum,
      shstrndx,
      sections: built,
      section(name: string): BuiltSection {
        const found = built.find((s) => s.name === name);
        if (!found) throw new Error(`built object has no section ${JSON.stringify(name)}`);
        return found;
      },
    };
  }
}

/** A string table under construction: "\0" first, identical strings shared. */
class StringTable {
  #parts: Uint8Array[] = [new Uint8Array(1)];
  #length = 1;
  #seen = new Map<string, number>([["", 0]]);

  add(s: string): number {
    const known = this.#seen.get(s);
    if (known !== undefined) return known;
    const encoded = new TextEncoder().encode(s + "\0");
    const at = this.#length;
    this.#parts.push(encoded);
    this.#length += encoded.length;
    this.#seen.set(s, at);
    return at;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** Encode BPF instructions `[opcode, dst, src, off, imm]` in the given byte order. */
export function encodeInstructions(
  instructions: Array<[number, number, number, number, number]>,
  littleEndian: boolean,
): Uint8Array {
  const out = new Uint8Array(instructions.length * 8);
  const view = new DataView(out.buffer);
  instructions.forEach(([opcode, dst, src, off, imm], i) => {
    const at = i * 8;
    out[at] = opcode;
    out[at + 1] = littleEndian ? (src << 4) | dst : (dst << 4) | src;
    view.setInt16(at + 2, off, littleEndian);
    view.setInt32(at + 4, imm, littleEndian);
  });
  return out;
}

/** Options of {@link sampleObject}. */
export interface SampleObjectOptions extends ElfBuilderOptions {
  /** Write the relocations as SHT_RELA (`.relaxdp`, `.rela.data`), which tsbpf rejects. */
  rela?: boolean;
}

/** What {@link sampleObject} put where, for assertions. */
export interface SampleObject {
  /** The built object. */
  elf: BuiltElf;
  /** Section indexes by name. */
  index: {
    xdp: number;
    license: number;
    maps: number;
    data: number;
    bss: number;
  };
  /** The symbols as added, in symbol index order starting at 1. */
  symbols: SymbolInput[];
  /** The relocations of `xdp`, then of `.data`. */
  relocations: { xdp: RelocationInput[]; data: RelocationInput[] };
}

/**
 * A tiny valid BPF object in the shape clang gives one: an `xdp` program
 * that loads a map and calls a subprogram, `license`, a legacy `maps`
 * section, `.data`, `.bss` (SHT_NOBITS), symbols of every binding plus
 * SHN_UNDEF / SHN_ABS / SHN_COMMON ones, and `.relxdp` / `.rel.data`.
 * Deterministic: the same options give the same bytes.
 */
export function sampleObject(options: SampleObjectOptions = {}): SampleObject {
  const le = options.littleEndian ?? true;
  const b = new ElfBuilder(options);
  const code = encodeInstructions([
    [0x18, 1, 1, 0, 0], // r1 = map "counts" (ld_imm64, 2 slots)
    [0x00, 0, 0, 0, 0],
    [0x85, 0, 1, 0, 1], // call sub (pc-relative)
    [0xb7, 0, 0, 0, 2], // r0 = XDP_PASS
    [0x95, 0, 0, 0, 0], // exit
    [0xb7, 0, 0, 0, 0], // sub: r0 = 0
    [0x95, 0, 0, 0, 0], // exit
  ], le);
  const xdp = b.addSection({
    name: "xdp",
    type: SHT_PROGBITS,
    flags: SHF_ALLOC | SHF_EXECINSTR,
    data: code,
    addralign: 8,
  });
  const license = b.addSection({
    name: "license",
    type: SHT_PROGBITS,
    flags: SHF_ALLOC | SHF_WRITE,
    data: new TextEncoder().encode("GPL\0"),
    addralign: 1,
  });
  const mapDef = new Uint8Array(20);
  writeUint(mapDef, 0, 2, { width: 4, littleEndian: le }); // BPF_MAP_TYPE_ARRAY
  writeUint(mapDef, 4, 4, { width: 4, littleEndian: le });
  writeUint(mapDef, 8, 8, { width: 4, littleEndian: le });
  writeUint(mapDef, 12, 1, { width: 4, littleEndian: le });
  const maps = b.addSection({
    name: "maps",
    type: SHT_PROGBITS,
    flags: SHF_ALLOC | SHF_WRITE,
    data: mapDef,
    addralign: 4,
  });
  const data = b.addSection({
    name: ".data",
    type: SHT_PROGBITS,
    flags: SHF_ALLOC | SHF_WRITE,
    data: new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    addralign: 8,
  });
  const bss = b.addSection({
    name: ".bss",
    type: SHT_NOBITS,
    flags: SHF_ALLOC | SHF_WRITE,
    size: 64,
    addralign: 8,
  });

  const symbols: SymbolInput[] = [
    { name: "sample.c", type: STT_FILE, section: SHN_ABS },
    { name: "", type: STT_SECTION, section: xdp },
    { name: "sub", type: STT_FUNC, section: xdp, value: 40, size: 16 },
    { name: "LBB0_2", type: STT_NOTYPE, section: xdp, value: 24 },
    { name: "zeroes", type: STT_OBJECT, section: bss, size: 64 },
    { name: "xdp_prog", type: STT_FUNC, bind: STB_GLOBAL, section: xdp, size: 40 },
    { name: "_license", type: STT_OBJECT, bind: STB_GLOBAL, section: license, size: 4 },
    { name: "counts", type: STT_OBJECT, bind: STB_GLOBAL, section: maps, size: 20 },
    { name: "value", type: STT_OBJECT, bind: STB_GLOBAL, section: data, size: 8 },
    { name: "pointer", type: STT_OBJECT, bind: STB_GLOBAL, section: data, value: 8, size: 8 },
    { name: "CONFIG_HZ", type: STT_NOTYPE, bind: STB_WEAK, section: SHN_UNDEF },
    {
      name: "common_buf",
      type: STT_OBJECT,
      bind: STB_GLOBAL,
      section: SHN_COMMON,
      value: 8,
      size: 32,
    },
    {
      name: "abs_marker",
      type: STT_NOTYPE,
      bind: STB_GLOBAL,
      section: SHN_ABS,
      value: 0xdead,
      visibility: STV_HIDDEN,
    },
  ];
  for (const s of symbols) b.addSymbol(s);
  const xdpRel: RelocationInput[] = [
    { offset: 0, symbol: 8, type: R_BPF_64_64 },
    { offset: 16, symbol: 2, type: R_BPF_64_32 },
  ];
  const dataRel: RelocationInput[] = [{ offset: 8, symbol: 9, type: R_BPF_64_ABS32 }];
  b.addRelocations(xdp, xdpRel, { rela: options.rela });
  b.addRelocations(data, dataRel, { rela: options.rela });
  return {
    elf: b.build(),
    index: { xdp, license, maps, data, bss },
    symbols,
    relocations: { xdp: xdpRel, data: dataRel },
  };
}
