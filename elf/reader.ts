/**
 * A bounds-checked ELF64 reader for BPF objects, both byte orders.
 *
 * `readElf` validates the file header, the section header table and every
 * section's place in the file up front; symbols and relocations are decoded
 * lazily, on first use, and cached. Every problem with the input is an
 * {@link ElfError} with a stable code; nothing in here throws a RangeError or
 * allocates from a size field that was not checked against the file first.
 *
 * @module
 */

import { slabU32 } from "../internal/slab.ts";
import { ElfError } from "../errors/mod.ts";
import {
  EI_CLASS,
  EI_DATA,
  EI_NIDENT,
  EI_VERSION,
  ELF64_EHDR_SIZE,
  ELF64_REL_SIZE,
  ELF64_SHDR_SIZE,
  ELF64_SYM_SIZE,
  ELFCLASS32,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFDATA2MSB,
  EM_BPF,
  EM_NONE,
  EV_CURRENT,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_NULL,
  SHT_REL,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  SHT_SYMTAB_SHNDX,
} from "./constants.ts";
import type { ElfHeader, ElfRelocation, ElfSection, ElfSymbol } from "./types.ts";

/** Numbers per section in `ElfFile.#shdr`, and where each field sits. */
const SHDR_STRIDE = 5;
const SHDR_OFFSET = 0;
const SHDR_SIZE = 1;
const SHDR_TYPE = 2;
const SHDR_LINK = 3;
const SHDR_ENTSIZE = 4;

/** The default cap on the size of an `SHT_NOBITS` section {@link ElfFile.sectionData} allocates: 1 GiB. */
export const DEFAULT_MAX_NOBITS_SIZE = 1 << 30;

/** Options for {@link readElf}. */
export interface ReadElfOptions {
  /**
   * Largest `SHT_NOBITS` section, in bytes, that {@link ElfFile.sectionData}
   * will materialise as zeros; larger ones throw `ELF_TOO_LARGE`. Defaults to
   * {@link DEFAULT_MAX_NOBITS_SIZE} (1 GiB).
   */
  maxNobitsSize?: number;
}

/** Shared by every reader: TextDecoder is costly to construct, cheap to reuse. */
const utf8 = new TextDecoder();

/** Largest value of the high 32 bits of a u64 that still fits a safe integer. */
const SAFE_HIGH_MAX = 0x1fffff;

/** Names up to this length, when ASCII, are built with fromCharCode: faster than TextDecoder. */
const SHORT_NAME_MAX = 32;

/**
 * A parsed ELF64 object. Obtain one with {@link readElf}.
 *
 * The section list and header are decoded eagerly and checked; symbols and
 * relocations are decoded on first request and cached, so repeated calls
 * return the same arrays (treat them as read-only).
 *
 * Section arguments are resolved by their `index` against this file's own,
 * already validated, table: a caller editing an `ElfSection` object cannot
 * make the reader step outside the file.
 *
 * @example
 * ```ts
 * import { readElf } from "./reader.ts";
 * import { SHT_REL } from "./constants.ts";
 *
 * declare const bytes: Uint8Array;
 * const elf = readElf(bytes);
 * for (const sec of elf.sections) {
 *   if (sec.type === SHT_REL) console.log(sec.name, elf.relocations(sec).length);
 * }
 * const text = elf.sectionByName(".text");
 * if (text) console.log(elf.sectionData(text).length, elf.symbols().length);
 * ```
 */
export class ElfFile {
  /** The bytes this file was read from (not copied). */
  readonly bytes: Uint8Array;
  /** The decoded file header. */
  readonly header: ElfHeader;
  /** `true` for ELFDATA2LSB, `false` for ELFDATA2MSB. */
  readonly littleEndian: boolean;
  /** All section headers in table order, names resolved; index 0 is the null section. */
  readonly sections: ElfSection[];
  /** The single `SHT_SYMTAB` section, or `undefined` when the object has none. */
  readonly symbolTable: ElfSection | undefined;

  #maxNobits: number;
  #shoff = 0;
  /**
   * Validated copies of the fields the lazy decoders rely on: per section,
   * SHDR_STRIDE numbers at `index * SHDR_STRIDE` (offset, size, type, link,
   * entsize). One array, not five: fewer allocations per file.
   */
  #shdr: number[];
  #symtab: number;
  /** The first `SHT_SYMTAB_SHNDX` section (index >= 1), or -1: most objects have none. */
  #firstShndx: number;
  #symbols: ElfSymbol[] | undefined;
  #relocations: Map<number, ElfRelocation[]> | undefined;
  #byName: Map<string, ElfSection> | undefined;
  /** The section name table as text when it is ASCII. */
  #namesText: string | undefined;
  /** The file as host-order words, when it can be viewed so (see `fileWords`). */
  #words: Int32Array | undefined;

  /**
   * Parse and validate `bytes`; prefer {@link readElf}.
   *
   * @throws {ElfError} when the header or section table is malformed.
   */
  constructor(bytes: Uint8Array, options: ReadElfOptions = {}) {
    this.bytes = bytes;
    this.#maxNobits = options.maxNobitsSize ?? DEFAULT_MAX_NOBITS_SIZE;
    const length = bytes.length;

    if (
      length < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c ||
      bytes[3] !== 0x46
    ) {
      throw new ElfError("ELF_NOT_ELF", "not an ELF object: no \\x7fELF magic at offset 0", {
        offset: 0,
      });
    }
    if (length < EI_NIDENT) {
      throw new ElfError(
        "ELF_TRUNCATED",
        `file of ${length} bytes ends inside e_ident (${EI_NIDENT} bytes)`,
        { offset: length },
      );
    }
    const elfClass = bytes[EI_CLASS];
    if (elfClass !== ELFCLASS64) {
      const what = elfClass === ELFCLASS32
        ? "ELFCLASS32 objects are not supported, BPF objects are ELFCLASS64"
        : `unknown ELF class ${elfClass}, expected ELFCLASS64 (2)`;
      throw new ElfError("ELF_CLASS_UNSUPPORTED", `${what} (e_ident[EI_CLASS] at offset 4)`, {
        offset: EI_CLASS,
      });
    }
    const encoding = bytes[EI_DATA];
    if (encoding !== ELFDATA2LSB && encoding !== ELFDATA2MSB) {
      throw new ElfError(
        "ELF_BAD_ENCODING",
        `unknown data encoding ${encoding}, expected ELFDATA2LSB (1) or ELFDATA2MSB (2) (e_ident[EI_DATA] at offset 5)`,
        { offset: EI_DATA },
      );
    }
    if (bytes[EI_VERSION] !== EV_CURRENT) {
      throw new ElfError(
        "ELF_BAD_VERSION",
        `unknown ELF version ${bytes[EI_VERSION]} (e_ident[EI_VERSION] at offset 6)`,
        { offset: EI_VERSION },
      );
    }
    if (length < ELF64_EHDR_SIZE) {
      throw new ElfError(
        "ELF_TRUNCATED",
        `file of ${length} bytes ends inside the ELF header (${ELF64_EHDR_SIZE} bytes)`,
        { offset: length },
      );
    }

    const le = encoding === ELFDATA2LSB;
    this.littleEndian = le;

    const version = u32(bytes, 20, le);
    if (version !== EV_CURRENT) {
      throw new ElfError("ELF_BAD_VERSION", `unknown e_version ${version} at offset 20`, {
        offset: 20,
      });
    }
    const machine = u16(bytes, 18, le);
    if (machine !== EM_BPF && machine !== EM_NONE) {
      throw new ElfError(
        "ELF_BAD_MACHINE",
        `e_machine ${machine} at offset 18 is not EM_BPF (247) or EM_NONE (0)`,
        { offset: 18 },
      );
    }
    const shoff = u64(bytes, 40, le);
    if (shoff < 0) throw tooLarge("e_shoff", 40);
    const shentsize = u16(bytes, 58, le);
    let shnum = u16(bytes, 60, le);
    let shstrndx = u16(bytes, 62, le);

    if (shoff === 0) {
      // No section header table at all; only consistent with no sections.
      if (shnum !== 0 || shstrndx !== SHN_UNDEF) {
        throw new ElfError(
          "ELF_BAD_INDEX",
          `e_shoff is 0 (no section header table) but e_shnum is ${shnum} and e_shstrndx ${shstrndx}`,
          { offset: 40 },
        );
      }
      shnum = 0;
    } else {
      if (shentsize !== ELF64_SHDR_SIZE) {
        throw new ElfError(
          "ELF_BAD_ENTSIZE",
          `e_shentsize ${shentsize} at offset 58, expected ${ELF64_SHDR_SIZE}`,
          { offset: 58 },
        );
      }
      if (shoff > length || length - shoff < ELF64_SHDR_SIZE) {
        throw new ElfError(
          "ELF_TRUNCATED",
          `section header table at offset ${hex(shoff)} ends past the file (length ${hex(length)})`,
          { offset: shoff },
        );
      }
      if (shnum === 0) {
        // SHN_XINDEX convention: the real count lives in section 0's sh_size.
        shnum = u64(bytes, shoff + 32, le);
        if (shnum < 0) throw tooLarge("section 0 sh_size (extended e_shnum)", shoff + 32);
      }
      // Check the count against the file before anything loops over it.
      const room = Math.floor((length - shoff) / ELF64_SHDR_SIZE);
      if (shnum > room) {
        throw new ElfError(
          "ELF_TRUNCATED",
          `section header table at offset ${
            hex(shoff)
          } with ${shnum} entries ends past the file (length ${hex(length)}, room for ${room})`,
          { offset: shoff },
        );
      }
      const extended = shstrndx === SHN_XINDEX;
      if (extended) {
        shstrndx = u32(bytes, shoff + 40, le);
      } else if (shstrndx >= SHN_LORESERVE) {
        throw new ElfError(
          "ELF_BAD_INDEX",
          `e_shstrndx ${hex(shstrndx)} at offset 62 is a reserved index`,
          { offset: 62 },
        );
      }
      if (shstrndx >= shnum && shstrndx !== SHN_UNDEF) {
        throw new ElfError(
          "ELF_BAD_INDEX",
          `e_shstrndx ${shstrndx}${
            extended ? " (SHN_XINDEX, from section 0 sh_link)" : ""
          } is out of range (${shnum} sections)`,
          { offset: extended ? shoff + 40 : 62, sectionIndex: shstrndx },
        );
      }
    }

    this.header = {
      littleEndian: le,
      type: u16(bytes, 16, le),
      machine,
      flags: u32(bytes, 48, le),
      sectionNamesIndex: shstrndx,
    };

    // The section name string table is needed to name every section, so it
    // is checked before the main loop.
    let namesOffset = 0;
    let namesSize = 0;
    if (shstrndx !== SHN_UNDEF) {
      const base = shoff + shstrndx * ELF64_SHDR_SIZE;
      const type = u32(bytes, base + 4, le);
      if (type !== SHT_STRTAB) {
        throw new ElfError(
          "ELF_BAD_SECTION_TYPE",
          `e_shstrndx names section ${shstrndx}, which has sh_type ${hex(type)}, not SHT_STRTAB`,
          { offset: base + 4, sectionIndex: shstrndx },
        );
      }
      namesOffset = u64(bytes, base + 24, le);
      namesSize = u64(bytes, base + 32, le);
      if (namesOffset < 0) throw tooLarge("sh_offset", base + 24, shstrndx);
      if (namesSize < 0) throw tooLarge("sh_size", base + 32, shstrndx);
      if (namesOffset > length || namesSize > length - namesOffset) {
        throw pastEnd(shstrndx, "", namesOffset, namesSize, length);
      }
    }

    const words = fileWords(bytes, le);
    this.#words = words;
    const table = readSectionTable(
      bytes,
      words,
      le,
      shoff,
      shnum,
      shstrndx,
      namesOffset,
      namesSize,
    );
    const { sections, shdr, symtab } = table;
    this.#namesText = table.namesText;
    this.#firstShndx = table.firstShndx;

    this.sections = sections;
    this.#shoff = shoff;
    this.#shdr = shdr;
    if (!rangesDisjoint(table.ranges)) reportOverlap(sections, shoff, shnum, length);

    if (symtab >= 0) {
      const sym = sections[symtab];
      if (sym.entsize !== ELF64_SYM_SIZE || sym.size % ELF64_SYM_SIZE !== 0) {
        throw new ElfError(
          "ELF_BAD_ENTSIZE",
          `${label(symtab, sym.name)}: symbol table with sh_entsize ${sym.entsize} and sh_size ${
            hex(sym.size)
          }, expected entries of ${ELF64_SYM_SIZE} bytes`,
          {
            offset: shoff + symtab * ELF64_SHDR_SIZE + 56,
            section: sym.name,
            sectionIndex: symtab,
          },
        );
      }
      if (sym.link >= shnum || shdr[SHDR_TYPE + SHDR_STRIDE * sym.link] !== SHT_STRTAB) {
        throw badLink(sections[symtab], shoff, shnum, shdr, "SHT_STRTAB string table");
      }
    }
    this.#symtab = symtab;
    this.symbolTable = symtab >= 0 ? sections[symtab] : undefined;
  }

  /**
   * The first section called `name`, or `undefined`. The lookup table is
   * built on first use.
   */
  sectionByName(name: string): ElfSection | undefined {
    let byName = this.#byName;
    if (byName === undefined) {
      byName = new Map();
      for (const sec of this.sections) if (!byName.has(sec.name)) byName.set(sec.name, sec);
      this.#byName = byName;
    }
    return byName.get(name);
  }

  /**
   * The contents of `section`.
   *
   * For sections with file contents this is a zero-copy `subarray` view of
   * {@link ElfFile.bytes}: writes to it write to the input. For `SHT_NOBITS`
   * it is a new zero-filled array of `size` bytes, allocated only when `size`
   * is at most `maxNobitsSize` (1 GiB by default, see {@link ReadElfOptions}).
   * For `SHT_NULL` it is empty.
   *
   * @throws {ElfError} `ELF_TOO_LARGE` for an `SHT_NOBITS` section above the cap;
   *   `ELF_BAD_INDEX` when `section.index` is not a section of this file.
   */
  sectionData(section: ElfSection): Uint8Array {
    const i = this.#index(section);
    const type = this.#shdr[SHDR_TYPE + SHDR_STRIDE * i];
    const size = this.#shdr[SHDR_SIZE + SHDR_STRIDE * i];
    if (type === SHT_NULL || i === 0) return this.bytes.subarray(0, 0);
    if (type === SHT_NOBITS) {
      if (size > this.#maxNobits) {
        const name = this.sections[i].name;
        throw new ElfError(
          "ELF_TOO_LARGE",
          `${label(i, name)}: SHT_NOBITS size ${hex(size)} exceeds the cap of ${
            hex(this.#maxNobits)
          } bytes`,
          { section: name, sectionIndex: i },
        );
      }
      return new Uint8Array(size);
    }
    const offset = this.#shdr[SHDR_OFFSET + SHDR_STRIDE * i];
    return this.bytes.subarray(offset, offset + size);
  }

  /**
   * The NUL-terminated string at `offset` in string table `section`.
   *
   * @throws {ElfError} `ELF_BAD_SECTION_TYPE` when `section` is not
   *   `SHT_STRTAB`; `ELF_BAD_STRING` when `offset` is past the table or the
   *   string has no NUL terminator inside it.
   */
  stringAt(section: ElfSection, offset: number): string {
    const i = this.#index(section);
    if (this.#shdr[SHDR_TYPE + SHDR_STRIDE * i] !== SHT_STRTAB) {
      const name = this.sections[i].name;
      throw new ElfError(
        "ELF_BAD_SECTION_TYPE",
        `${label(i, name)} has sh_type ${
          hex(this.#shdr[SHDR_TYPE + SHDR_STRIDE * i])
        }, not SHT_STRTAB`,
        { section: name, sectionIndex: i },
      );
    }
    return readString(
      this.bytes,
      this.#shdr[SHDR_OFFSET + SHDR_STRIDE * i],
      this.#shdr[SHDR_SIZE + SHDR_STRIDE * i],
      offset,
      i,
      this.sections[i].name,
    );
  }

  /**
   * The entries of the symbol table, index 0 (the null symbol) included,
   * names resolved through its linked string table and `SHN_XINDEX` indexes
   * resolved through `SHT_SYMTAB_SHNDX`. Decoded on the first call and
   * cached. An object without a symbol table has none: `[]`.
   *
   * @throws {ElfError} `ELF_BAD_STRING`, `ELF_BAD_INDEX` (a section index
   *   out of range, or `SHN_XINDEX` without an index table), `ELF_TOO_LARGE`.
   */
  symbols(): ElfSymbol[] {
    if (this.#symbols !== undefined) return this.#symbols;
    const symtab = this.#symtab;
    if (symtab < 0) return (this.#symbols = []);

    const le = this.littleEndian;
    const bytes = this.bytes;
    // An integer, not the double a division gives: JSC runs the decode loop
    // several times slower over a double bound. Exact, as sh_size was checked
    // to be a multiple, and far below 2^31 entries for any typed array.
    const count = (this.#shdr[SHDR_SIZE + SHDR_STRIDE * symtab] / ELF64_SYM_SIZE) | 0;
    const strtab = this.#shdr[SHDR_LINK + SHDR_STRIDE * symtab];
    const strOffset = this.#shdr[SHDR_OFFSET + SHDR_STRIDE * strtab];
    const strSize = this.#shdr[SHDR_SIZE + SHDR_STRIDE * strtab];
    const xindexOffset = this.#findSymtabShndx(count);
    // The symbol names usually share .strtab with the section names: decode it once.
    const strText = strtab === this.header.sectionNamesIndex
      ? this.#namesText
      : asciiText(bytes, strOffset, strSize);
    const symbols = readSymbolTable(
      bytes,
      this.#words,
      le,
      this.#shdr,
      this.sections,
      symtab,
      count,
      strText,
      xindexOffset,
    );
    return (this.#symbols = symbols);
  }

  /**
   * The entries of `SHT_REL` section `section`, decoded on first request for
   * that section and cached. `r_info` is split 32/32 (ELF64): symbol index
   * in the high half, type in the low half. Symbol indexes are checked
   * against the symbol table.
   *
   * @throws {ElfError} `ELF_RELA_UNSUPPORTED` for `SHT_RELA`;
   *   `ELF_BAD_SECTION_TYPE` for any other non-`SHT_REL` section;
   *   `ELF_BAD_ENTSIZE`, `ELF_BAD_LINK` (sh_link is not the symbol table),
   *   `ELF_BAD_INDEX` (sh_info out of range), `ELF_BAD_SYMBOL_INDEX`,
   *   `ELF_TOO_LARGE`.
   */
  relocations(section: ElfSection): ElfRelocation[] {
    const s = this.#index(section);
    const cached = this.#relocations?.get(s);
    if (cached !== undefined) return cached;

    const sec = this.sections[s];
    const name = sec.name;
    const shdr = this.#sectionHeaderOffset(s);
    const type = this.#shdr[SHDR_TYPE + SHDR_STRIDE * s];
    if (type === SHT_RELA) {
      throw new ElfError(
        "ELF_RELA_UNSUPPORTED",
        `${label(s, name)}: SHT_RELA relocations are not supported for BPF, expected SHT_REL`,
        { offset: shdr + 4, section: name, sectionIndex: s },
      );
    }
    if (type !== SHT_REL) {
      throw new ElfError(
        "ELF_BAD_SECTION_TYPE",
        `${label(s, name)} has sh_type ${hex(type)}, not SHT_REL`,
        { offset: shdr + 4, section: name, sectionIndex: s },
      );
    }
    const size = this.#shdr[SHDR_SIZE + SHDR_STRIDE * s];
    if (
      this.#shdr[SHDR_ENTSIZE + SHDR_STRIDE * s] !== ELF64_REL_SIZE || size % ELF64_REL_SIZE !== 0
    ) {
      throw new ElfError(
        "ELF_BAD_ENTSIZE",
        `${label(s, name)}: relocation section with sh_entsize ${
          this.#shdr[SHDR_ENTSIZE + SHDR_STRIDE * s]
        } and sh_size ${hex(size)}, expected entries of ${ELF64_REL_SIZE} bytes`,
        { offset: shdr + 56, section: name, sectionIndex: s },
      );
    }
    const shnum = this.sections.length;
    if (this.#shdr[SHDR_LINK + SHDR_STRIDE * s] !== this.#symtab || this.#symtab < 0) {
      throw badLink(sec, this.#shoff, shnum, this.#shdr, "symbol table");
    }
    if (sec.info >= shnum) {
      throw new ElfError(
        "ELF_BAD_INDEX",
        `${label(s, name)}: sh_info ${sec.info} names no section (${shnum} sections)`,
        { offset: shdr + 44, section: name, sectionIndex: s },
      );
    }

    const bytes = this.bytes;
    const le = this.littleEndian;
    const symbolCount = (this.#shdr[SHDR_SIZE + SHDR_STRIDE * this.#symtab] / ELF64_SYM_SIZE) | 0;
    const base = this.#shdr[SHDR_OFFSET + SHDR_STRIDE * s];
    const count = (size / ELF64_REL_SIZE) | 0; // an integer, as in symbols()
    const relocations: ElfRelocation[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const at = base + i * ELF64_REL_SIZE;
      const offset = u64(bytes, at, le);
      if (offset < 0) throw tooLarge(`relocation ${i} r_offset`, at, s, name);
      const symbolIndex = u32(bytes, le ? at + 12 : at + 8, le);
      const relType = u32(bytes, le ? at + 8 : at + 12, le);
      if (symbolIndex >= symbolCount) {
        throw new ElfError(
          "ELF_BAD_SYMBOL_INDEX",
          `${label(s, name)}: relocation ${i} at offset ${
            hex(at)
          } refers to symbol ${symbolIndex}, past the symbol table (${symbolCount} symbols)`,
          { offset: at, section: name, sectionIndex: s },
        );
      }
      relocations[i] = { offset, symbolIndex, type: relType };
    }
    (this.#relocations ??= new Map()).set(s, relocations);
    return relocations;
  }

  /** Resolve a caller's section to a valid index of this file. */
  #index(section: ElfSection): number {
    const i = section.index;
    if (!Number.isInteger(i) || i < 0 || i >= this.sections.length) {
      throw new ElfError(
        "ELF_BAD_INDEX",
        `section index ${i} is not a section of this file (${this.sections.length} sections)`,
        { sectionIndex: i },
      );
    }
    return i;
  }

  #sectionHeaderOffset(i: number): number {
    return this.#shoff + i * ELF64_SHDR_SIZE;
  }

  /** File offset of the SHT_SYMTAB_SHNDX table for the symtab, or -1 when there is none. */
  #findSymtabShndx(count: number): number {
    const shdr = this.#shdr;
    if (this.#firstShndx < 0) return -1;
    for (let i = this.#firstShndx; i < this.sections.length; i++) {
      if (
        shdr[SHDR_TYPE + SHDR_STRIDE * i] !== SHT_SYMTAB_SHNDX ||
        this.#shdr[SHDR_LINK + SHDR_STRIDE * i] !== this.#symtab
      ) continue;
      const name = this.sections[i].name;
      const entsize = this.#shdr[SHDR_ENTSIZE + SHDR_STRIDE * i];
      if ((entsize !== 4 && entsize !== 0) || this.#shdr[SHDR_SIZE + SHDR_STRIDE * i] < count * 4) {
        throw new ElfError(
          "ELF_BAD_ENTSIZE",
          `${label(i, name)}: SHT_SYMTAB_SHNDX with sh_entsize ${entsize} and sh_size ${
            hex(this.#shdr[SHDR_SIZE + SHDR_STRIDE * i])
          }, expected ${count} entries of 4 bytes`,
          { offset: this.#sectionHeaderOffset(i) + 56, section: name, sectionIndex: i },
        );
      }
      return this.#shdr[SHDR_OFFSET + SHDR_STRIDE * i];
    }
    return -1;
  }
}

/**
 * Parse an ELF64 BPF object.
 *
 * Validates the header (magic, ELFCLASS64, byte order, version, EM_BPF or
 * EM_NONE), the section header table (incl. the `SHN_XINDEX` conventions for
 * large section counts), every section's byte range against the file,
 * overlaps between section contents, the section header table and the ELF
 * header, section names, and the symbol table's shape. Symbols and
 * relocations are decoded lazily by the returned {@link ElfFile}.
 *
 * @example
 * ```ts
 * import { readElf } from "./reader.ts";
 *
 * declare const bytes: Uint8Array;
 * const elf = readElf(bytes);
 * console.log(elf.littleEndian, elf.sections.map((s) => s.name));
 * ```
 *
 * @throws {ElfError} with a stable `code` (see the module docs of `elf/mod.ts`).
 */
export function readElf(bytes: Uint8Array, options: ReadElfOptions = {}): ElfFile {
  return new ElfFile(bytes, options);
}

// --- internals ---------------------------------------------------------------

/** Whether this host stores words little-endian (every engine we target does). */
const HOST_LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The whole file as host-order words when its byte order is the host's and
 * it starts 4-aligned, else `undefined`. One view per file, shared by the
 * section and symbol table decoders: a typed array costs more to create than
 * a small table costs to read.
 */
function fileWords(bytes: Uint8Array, le: boolean): Int32Array | undefined {
  // Below 2^31 bytes, so word indexes can be computed with `>>> 2`.
  if (le !== HOST_LE || (bytes.byteOffset & 3) !== 0 || bytes.length >= 0x80000000) {
    return undefined;
  }
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
}

/**
 * `count` u32 words at `at` in host order: `file` itself (see
 * {@link fileWords}) when `at` is 4-aligned, the usual case, so the words
 * start at index `at / 4`; else a decoded copy starting at index 0. Callers
 * tell the two apart by identity. Word reads from a typed array are the one
 * access pattern both V8 and JSC compile to plain loads. The caller checked
 * the range.
 */
function hostWords(
  file: Int32Array | undefined,
  bytes: Uint8Array,
  at: number,
  count: number,
  le: boolean,
): Int32Array {
  if (file !== undefined && (at & 3) === 0) return file;
  const slab = slabU32(count);
  const words = new Int32Array(slab.buffer, slab.byteOffset, count);
  for (let i = 0; i < count; i++) words[i] = u32(bytes, at + 4 * i, le) | 0;
  return words;
}

/**
 * The words are read signed and made unsigned with {@link unsigned}: JSC
 * compiles a Uint32Array read as an int32 that overflows on values with the
 * top bit set (`SHF_EXCLUDE` in `sh_flags`, say), and such an object made it
 * recompile the decoder again and again.
 */
function unsigned(word: number): number {
  return word < 0 ? word + 0x100000000 : word;
}

/** A u64 from its two (signed, see {@link unsigned}) words as a number, or -1 above Number.MAX_SAFE_INTEGER. */
function wordsU64(high: number, low: number): number {
  // The common case stays a small integer: JSC indexes slower with doubles.
  if (high === 0) return unsigned(low);
  const h = unsigned(high);
  return h > SAFE_HIGH_MAX ? -1 : h * 0x100000000 + unsigned(low);
}

/**
 * A u32 from bytes. Plain byte reads stay fast in every engine, where
 * DataView calls are not always inlined (Bun's JSC, in this reader's loops).
 */
function u32(bytes: Uint8Array, at: number, le: boolean): number {
  return le
    ? (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0
    : ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/** A u16 from bytes. */
function u16(bytes: Uint8Array, at: number, le: boolean): number {
  return le ? bytes[at] | (bytes[at + 1] << 8) : (bytes[at] << 8) | bytes[at + 1];
}

/** {@link readU64} from bytes, for the hot loops. */
function u64(bytes: Uint8Array, at: number, le: boolean): number {
  return wordsU64(u32(bytes, le ? at + 4 : at, le), u32(bytes, le ? at : at + 4, le));
}

function hex(n: number): string {
  return "0x" + n.toString(16);
}

function label(index: number, name: string): string {
  return name === "" ? `section ${index}` : `section ${index} ${JSON.stringify(name)}`;
}

function tooLarge(field: string, at: number, index?: number, name = ""): ElfError {
  const where = index === undefined ? "" : `${label(index, name)}: `;
  return new ElfError(
    "ELF_TOO_LARGE",
    `${where}${field} at offset ${hex(at)} is above Number.MAX_SAFE_INTEGER`,
    { offset: at, section: name || undefined, sectionIndex: index },
  );
}

function pastEnd(index: number, name: string, offset: number, size: number, length: number) {
  return new ElfError(
    "ELF_TRUNCATED",
    `${label(index, name)}: contents at offset ${hex(offset)} of size ${
      hex(size)
    } end past the file (length ${hex(length)})`,
    { offset, section: name || undefined, sectionIndex: index },
  );
}

function badLink(
  sec: ElfSection,
  shoff: number,
  shnum: number,
  shdr: readonly number[],
  expected: string,
): ElfError {
  const target = sec.link >= shnum
    ? `out of range (${shnum} sections)`
    : `a section of sh_type ${hex(shdr[SHDR_TYPE + SHDR_STRIDE * sec.link])}`;
  return new ElfError(
    "ELF_BAD_LINK",
    `${label(sec.index, sec.name)}: sh_link ${sec.link} is ${target}, expected the ${expected}`,
    {
      offset: shoff + sec.index * ELF64_SHDR_SIZE + 40,
      section: sec.name,
      sectionIndex: sec.index,
    },
  );
}

/** A section name from the section name string table; errors name the section being named. */
function readName(
  bytes: Uint8Array,
  tableOffset: number,
  tableSize: number,
  at: number,
  tableIndex: number,
  section: number,
): string {
  if (at >= tableSize) {
    throw new ElfError(
      "ELF_BAD_STRING",
      `section ${section}: sh_name ${
        hex(at)
      } is past the end of the section name table (section ${tableIndex}, size ${hex(tableSize)})`,
      { offset: tableOffset + at, sectionIndex: section },
    );
  }
  return decodeString(bytes, tableOffset, tableSize, at, tableIndex, "", section);
}

/** A NUL-terminated string at `at` inside the string table at [tableOffset, tableOffset+tableSize). */
function readString(
  bytes: Uint8Array,
  tableOffset: number,
  tableSize: number,
  at: number,
  tableIndex: number,
  tableName: string,
): string {
  if (!(at >= 0 && at < tableSize)) {
    throw new ElfError(
      "ELF_BAD_STRING",
      `${label(tableIndex, tableName)}: string offset ${
        hex(at)
      } is past the end of the string table (size ${hex(tableSize)})`,
      { offset: tableOffset + at, section: tableName || undefined, sectionIndex: tableIndex },
    );
  }
  return decodeString(bytes, tableOffset, tableSize, at, tableIndex, tableName, -1);
}

function decodeString(
  bytes: Uint8Array,
  tableOffset: number,
  tableSize: number,
  at: number,
  tableIndex: number,
  tableName: string,
  forSection: number,
): string {
  const start = tableOffset + at;
  const end = tableOffset + tableSize;
  let p = start;
  let high = 0;
  while (p < end) {
    const b = bytes[p];
    if (b === 0) break;
    high |= b;
    p++;
  }
  if (p === end) {
    const what = forSection >= 0
      ? `section ${forSection}: name at offset ${
        hex(start)
      } in the section name table (section ${tableIndex})`
      : `${label(tableIndex, tableName)}: string at offset ${hex(start)}`;
    throw new ElfError(
      "ELF_BAD_STRING",
      `${what} has no NUL terminator before the end of the string table`,
      {
        offset: start,
        section: tableName || undefined,
        sectionIndex: forSection >= 0 ? forSection : tableIndex,
      },
    );
  }
  const n = p - start;
  if (n === 0) return "";
  if (high < 0x80 && n <= SHORT_NAME_MAX) return shortAscii(bytes, start, p);
  return utf8.decode(bytes.subarray(start, p));
}

/**
 * The string table at [offset, offset+size) as one string, one char per
 * byte, when every byte is ASCII; `undefined` otherwise (UTF-8 names are
 * decoded one by one). ASCII is UTF-8 that every engine decodes by a bulk
 * copy, far cheaper than building names char by char. A decoded length
 * equal to the byte length means every byte became one char; the only
 * non-ASCII bytes that do are lone invalid ones, which become U+FFFD just
 * as they do when their name is decoded alone (a NUL ends any sequence), so
 * a slice is still the name the byte-wise reader would give.
 */
function asciiText(bytes: Uint8Array, offset: number, size: number): string | undefined {
  if (size === 0 || offset + size > bytes.length) return undefined;
  const text = utf8.decode(bytes.subarray(offset, offset + size));
  return text.length === size ? text : undefined;
}

/**
 * Interned short ASCII names. The same few dozen names (".text", ".rel.BTF",
 * "license", ".maps", ...) recur in every object, so a direct-mapped cache
 * indexed by a hash of the bytes saves building them char by char. A hit is
 * verified byte for byte, so a collision only costs a rebuild.
 */
const NAME_CACHE_BITS = 10;
const nameCache: string[] = new Array(1 << NAME_CACHE_BITS).fill("");

function shortAscii(bytes: Uint8Array, start: number, end: number): string {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  const slot = (h ^ (h >>> NAME_CACHE_BITS)) & ((1 << NAME_CACHE_BITS) - 1);
  const cached = nameCache[slot];
  const n = end - start;
  if (cached.length === n) {
    let k = 0;
    while (k < n && cached.charCodeAt(k) === bytes[start + k]) k++;
    if (k === n) return cached;
  }
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
  nameCache[slot] = s;
  return s;
}

/**
 * Decode and check every symbol; like {@link readSectionTable}, small for
 * JSC's sake, and given its layout as arguments, not an options object.
 * Where the table and its strings are comes from `shdr`, the validated
 * copies; `sections` only names them in errors.
 */
function readSymbolTable(
  bytes: Uint8Array,
  file: Int32Array | undefined,
  le: boolean,
  shdr: readonly number[],
  sections: readonly ElfSection[],
  symtab: number,
  count: number,
  strText: string | undefined,
  xindexOffset: number,
): ElfSymbol[] {
  const shnum = sections.length;
  const base = shdr[SHDR_OFFSET + SHDR_STRIDE * symtab];
  const strtab = shdr[SHDR_LINK + SHDR_STRIDE * symtab];
  const strOffset = shdr[SHDR_OFFSET + SHDR_STRIDE * strtab];
  const strSize = shdr[SHDR_SIZE + SHDR_STRIDE * strtab];
  const symbols: ElfSymbol[] = new Array(count);
  // Host-order words, 6 per entry. The second holds st_info, st_other and
  // st_shndx, decoded in the file's byte order like every word.
  const words = hostWords(file, bytes, base, count * 6, le);
  const first = words === file ? base >>> 2 : 0;
  const lo = le ? 0 : 1;
  const hi = le ? 1 : 0;
  for (let i = 0; i < count; i++) {
    const k = first + i * 6;
    const nameOffset = unsigned(words[k]);
    const packed = words[k + 1];
    const info = le ? packed & 0xff : packed >>> 24;
    const other = le ? (packed >>> 8) & 0xff : (packed >>> 16) & 0xff;
    let sectionIndex = le ? packed >>> 16 : packed & 0xffff;
    const value = wordsU64(words[k + 2 + hi], words[k + 2 + lo]);
    const size = wordsU64(words[k + 4 + hi], words[k + 4 + lo]);
    if (value < 0 || size < 0) {
      const field = value < 0 ? "st_value" : "st_size";
      const at = base + i * ELF64_SYM_SIZE + (value < 0 ? 8 : 16);
      throw tooLarge(`symbol ${i} ${field}`, at, symtab, sections[symtab].name);
    }
    let extended = false;
    if (sectionIndex === SHN_XINDEX) {
      if (xindexOffset < 0) {
        const name = sections[symtab].name;
        throw new ElfError(
          "ELF_BAD_INDEX",
          `${
            label(symtab, name)
          }: symbol ${i} has st_shndx SHN_XINDEX but the object has no SHT_SYMTAB_SHNDX section`,
          { offset: base + i * ELF64_SYM_SIZE + 6, section: name, sectionIndex: symtab },
        );
      }
      sectionIndex = u32(bytes, xindexOffset + i * 4, le);
      extended = true;
    }
    if (
      sectionIndex !== SHN_UNDEF && (extended || sectionIndex < SHN_LORESERVE) &&
      sectionIndex >= shnum
    ) {
      const name = sections[symtab].name;
      const at = base + i * ELF64_SYM_SIZE;
      throw new ElfError(
        "ELF_BAD_INDEX",
        `${label(symtab, name)}: symbol ${i} at offset ${
          hex(at)
        } refers to section ${sectionIndex}, out of range (${shnum} sections)`,
        { offset: at + 6, section: name, sectionIndex: symtab },
      );
    }
    let name = "";
    if (nameOffset !== 0 || strSize !== 0) {
      name = tableName(bytes, strText, strOffset, strSize, nameOffset) ??
        readString(bytes, strOffset, strSize, nameOffset, strtab, sections[strtab].name);
    }
    symbols[i] = {
      index: i,
      name,
      value,
      size,
      type: info & 0xf,
      bind: info >>> 4,
      visibility: other & 0x3,
      sectionIndex,
    };
  }
  return symbols;
}

/** The decoded section headers and the validated copies the lazy decoders use. */
interface SectionTable {
  sections: ElfSection[];
  /** Offset, size, type, link and entsize of each section (see `ElfFile.#shdr`). */
  shdr: number[];
  symtab: number;
  /** The section name table as text when it is ASCII. */
  namesText: string | undefined;
  /** The first `SHT_SYMTAB_SHNDX` section after section 0, or -1. */
  firstShndx: number;
  /**
   * How many section ranges were recorded for {@link rangesDisjoint}, or -1
   * when one overlaps the ELF header or the section header table.
   */
  ranges: number;
}

/**
 * Decode and check every section header. A function of its own, apart from
 * the constructor: JSC only optimises this loop well in a small function.
 * The layout comes as plain arguments, checked by the caller: an options
 * object would be one more allocation per file.
 *
 * Each section's byte range is also recorded, in start order, for the
 * overlap check that follows (see {@link rangesDisjoint}).
 */
function readSectionTable(
  bytes: Uint8Array,
  file: Int32Array | undefined,
  le: boolean,
  shoff: number,
  shnum: number,
  shstrndx: number,
  namesOffset: number,
  namesSize: number,
): SectionTable {
  const length = bytes.length;
  const shdr: number[] = new Array(shnum * SHDR_STRIDE);
  const sections: ElfSection[] = new Array(shnum);
  let symtab = -1;
  let firstShndx = -1;

  // The whole name table as one string when it is ASCII: a name is then a
  // slice of it, found by a native indexOf rather than a byte loop.
  const namesText = shstrndx === SHN_UNDEF ? undefined : asciiText(bytes, namesOffset, namesSize);
  // The table as host-order words: 16 per header. A u64's high word is the
  // second of its pair in a little-endian file, the first in a big-endian one.
  const words = hostWords(file, bytes, shoff, shnum * 16, le);
  const first = words === file ? shoff >>> 2 : 0;
  const lo = le ? 0 : 1;
  const hi = le ? 1 : 0;
  // Section contents may overlap neither the ELF header nor the section
  // header table, nor may those two overlap: tested directly, so only the
  // sections' own ranges need sorting.
  growRanges(shnum);
  let ranges = 0;
  let clash = shnum > 0 && shoff < ELF64_EHDR_SIZE;
  const tableEnd = shoff + shnum * ELF64_SHDR_SIZE;
  for (let i = 0; i < shnum; i++) {
    const k = first + i * 16;
    const nameOffset = unsigned(words[k]);
    const type = unsigned(words[k + 1]);
    const flags = unsigned(words[k + 2 + lo]);
    const offset = wordsU64(words[k + 6 + hi], words[k + 6 + lo]);
    const size = wordsU64(words[k + 8 + hi], words[k + 8 + lo]);
    const link = unsigned(words[k + 10]);
    const info = unsigned(words[k + 11]);
    const addralign = wordsU64(words[k + 12 + hi], words[k + 12 + lo]);
    const entsize = wordsU64(words[k + 14 + hi], words[k + 14 + lo]);
    let name = "";
    if (shstrndx !== SHN_UNDEF && (nameOffset !== 0 || namesSize !== 0)) {
      // No text or no NUL: the byte-wise reader decodes or reports it.
      name = tableName(bytes, namesText, namesOffset, namesSize, nameOffset) ??
        readName(bytes, namesOffset, namesSize, nameOffset, shstrndx, i);
    }
    if (
      offset < 0 || size < 0 || addralign < 0 || entsize < 0 ||
      // Section 0's fields may carry the extended counts, not a byte range.
      (i !== 0 && type !== SHT_NULL && type !== SHT_NOBITS &&
        (offset > length || size > length - offset))
    ) {
      throw badSectionHeader(i, name, shoff, offset, size, addralign, entsize, length);
    }
    if (type === SHT_SYMTAB) {
      if (symtab >= 0) {
        throw new ElfError(
          "ELF_MULTIPLE_SYMTAB",
          `${label(i, name)} is a second SHT_SYMTAB (the first is section ${symtab})`,
          { offset: shoff + i * ELF64_SHDR_SIZE + 4, section: name, sectionIndex: i },
        );
      }
      symtab = i;
    } else if (type === SHT_SYMTAB_SHNDX && firstShndx < 0 && i !== 0) firstShndx = i;
    // Empty, SHT_NULL and SHT_NOBITS sections occupy no bytes.
    if (i !== 0 && size !== 0 && type !== SHT_NULL && type !== SHT_NOBITS) {
      const end = offset + size;
      if (offset < ELF64_EHDR_SIZE || (offset < tableEnd && end > shoff)) clash = true;
      ranges = addRange(ranges, offset, end);
    }

    const at = i * SHDR_STRIDE;
    shdr[at + SHDR_OFFSET] = offset;
    shdr[at + SHDR_SIZE] = size;
    shdr[at + SHDR_TYPE] = type;
    shdr[at + SHDR_LINK] = link;
    shdr[at + SHDR_ENTSIZE] = entsize;
    sections[i] = {
      index: i,
      name,
      type,
      flags,
      offset,
      size,
      link,
      info,
      addralign,
      entsize,
    };
  }

  return { sections, shdr, symtab, namesText, firstShndx, ranges: clash ? -1 : ranges };
}

/** The error for a section header that failed a check in {@link readSectionTable}, in the order they are made. */
function badSectionHeader(
  i: number,
  name: string,
  shoff: number,
  offset: number,
  size: number,
  addralign: number,
  entsize: number,
  length: number,
): ElfError {
  const base = shoff + i * ELF64_SHDR_SIZE;
  if (offset < 0) return tooLarge("sh_offset", base + 24, i, name);
  if (size < 0) return tooLarge("sh_size", base + 32, i, name);
  if (addralign < 0) return tooLarge("sh_addralign", base + 48, i, name);
  if (entsize < 0) return tooLarge("sh_entsize", base + 56, i, name);
  return pastEnd(i, name, offset, size, length);
}

/**
 * The string at `at` in the string table at [tableOffset, tableOffset+size),
 * taken from `text`, the table decoded whole (see {@link asciiText}), or
 * `undefined` when the byte-wise reader must decode or report it: no text,
 * `at` past the table, no NUL. Empty names, common among symbols, are
 * answered from their first byte; others are a slice of the text ending at a
 * native indexOf (a byte loop here measured no faster in V8 and far slower
 * in JSC).
 */
function tableName(
  bytes: Uint8Array,
  text: string | undefined,
  tableOffset: number,
  size: number,
  at: number,
): string | undefined {
  if (at >= size) return undefined;
  if (bytes[tableOffset + at] === 0) return "";
  if (text === undefined) return undefined;
  const end = text.indexOf("\0", at);
  return end < 0 ? undefined : text.slice(at, end);
}

/**
 * Scratch space for the overlap check: the byte ranges by arrival (start,
 * end) and their slots sorted by start. Grown on demand and reused, so a
 * file costs no allocation here.
 */
let rangeStart = new Float64Array(64);
let rangeEnd = new Float64Array(64);
let rangeOrder = new Int32Array(64);

/** Make room for `n` ranges. */
function growRanges(n: number): void {
  if (rangeStart.length >= n) return;
  rangeStart = new Float64Array(n);
  rangeEnd = new Float64Array(n);
  rangeOrder = new Int32Array(n);
}

/**
 * Record [start, end) as range `n` and insert it into the start order;
 * returns the new count. Insertion sort of slot numbers only: compilers lay
 * sections out nearly in index order, so few slots move, and one array
 * moves rather than three.
 */
function addRange(n: number, start: number, end: number): number {
  const starts = rangeStart;
  const order = rangeOrder;
  starts[n] = start;
  rangeEnd[n] = end;
  let k = n;
  while (k > 0) {
    const prev = order[k - 1];
    if (starts[prev] <= start) break;
    order[k] = prev;
    k--;
  }
  order[k] = n;
  return n + 1;
}

/**
 * Whether the `n` recorded ranges are pairwise disjoint; `false` for n = -1
 * (see {@link SectionTable.ranges}). Every range is non-empty, so in start
 * order they are disjoint exactly when each starts at or after the end of
 * the one before it. On `false` the caller runs {@link reportOverlap}, which
 * names the offending pair.
 */
function rangesDisjoint(n: number): boolean {
  if (n < 0) return false;
  const starts = rangeStart;
  const ends = rangeEnd;
  const order = rangeOrder;
  let prevEnd = 0;
  for (let k = 0; k < n; k++) {
    const slot = order[k];
    if (starts[slot] < prevEnd) return false;
    prevEnd = ends[slot];
  }
  return true;
}

/**
 * Throw `ELF_OVERLAP` for the first overlap among section contents, the
 * section header table and the ELF header, in start order; called only once
 * {@link rangesDisjoint} found one, so this path may be slow and simple.
 * Empty, SHT_NULL and SHT_NOBITS sections occupy no bytes and are exempt.
 */
function reportOverlap(sections: ElfSection[], shoff: number, shnum: number, length: number) {
  // [start, end, id]: id -1 is the ELF header, -2 the section header table, i >= 1 section i.
  const ranges: Array<[number, number, number]> = [[0, ELF64_EHDR_SIZE, -1]];
  if (shnum > 0) ranges.push([shoff, Math.min(shoff + shnum * ELF64_SHDR_SIZE, length), -2]);
  for (let i = 1; i < sections.length; i++) {
    const sec = sections[i];
    if (sec.size === 0 || sec.type === SHT_NULL || sec.type === SHT_NOBITS) continue;
    ranges.push([sec.offset, sec.offset + sec.size, i]);
  }
  // A stable sort by start: ranges with equal starts keep their arrival order.
  ranges.sort((a, b) => a[0] - b[0]);
  // Walk in start order keeping the range that reaches furthest so far.
  let far = ranges[0];
  for (let k = 1; k < ranges.length; k++) {
    const range = ranges[k];
    if (range[0] < far[1]) {
      const a = rangeLabel(sections, far[2], far[0], far[1]);
      const b = rangeLabel(sections, range[2], range[0], range[1]);
      const id = range[2] >= 0 ? range[2] : far[2];
      const sec = id >= 0 ? sections[id] : undefined;
      throw new ElfError("ELF_OVERLAP", `${b} overlaps ${a}`, {
        offset: range[0],
        section: sec?.name || undefined,
        sectionIndex: sec?.index,
      });
    }
    if (range[1] > far[1]) far = range;
  }
}

function rangeLabel(sections: ElfSection[], id: number, start: number, end: number): string {
  const what = id === -1
    ? "the ELF header"
    : id === -2
    ? "the section header table"
    : label(id, sections[id].name);
  return `${what} [${hex(start)}, ${hex(end)})`;
}
