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

import { slabF64, slabU32 } from "../internal/slab.ts";
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

  #view: DataView;
  #maxNobits: number;
  #shoff = 0;
  // Validated copies of the fields the lazy decoders rely on, by section index.
  #offset: Float64Array;
  #size: Float64Array;
  #type: Uint32Array;
  #link: Uint32Array;
  #entsize: Float64Array;
  #symtab: number;
  #symbols: ElfSymbol[] | undefined;
  #relocations: Map<number, ElfRelocation[]> = new Map();
  #byName: Map<string, ElfSection> | undefined;

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
    const view = new DataView(bytes.buffer, bytes.byteOffset, length);
    this.#view = view;
    this.littleEndian = le;

    const version = view.getUint32(20, le);
    if (version !== EV_CURRENT) {
      throw new ElfError("ELF_BAD_VERSION", `unknown e_version ${version} at offset 20`, {
        offset: 20,
      });
    }
    const machine = view.getUint16(18, le);
    if (machine !== EM_BPF && machine !== EM_NONE) {
      throw new ElfError(
        "ELF_BAD_MACHINE",
        `e_machine ${machine} at offset 18 is not EM_BPF (247) or EM_NONE (0)`,
        { offset: 18 },
      );
    }
    const shoff = readU64(view, 40, le);
    if (shoff < 0) throw tooLarge("e_shoff", 40);
    const shentsize = view.getUint16(58, le);
    let shnum = view.getUint16(60, le);
    let shstrndx = view.getUint16(62, le);

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
        shnum = readU64(view, shoff + 32, le);
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
        shstrndx = view.getUint32(shoff + 40, le);
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
      type: view.getUint16(16, le),
      machine,
      flags: view.getUint32(48, le),
      sectionNamesIndex: shstrndx,
    };

    // The section name string table is needed to name every section, so it
    // is checked before the main loop.
    let namesOffset = 0;
    let namesSize = 0;
    if (shstrndx !== SHN_UNDEF) {
      const base = shoff + shstrndx * ELF64_SHDR_SIZE;
      const type = view.getUint32(base + 4, le);
      if (type !== SHT_STRTAB) {
        throw new ElfError(
          "ELF_BAD_SECTION_TYPE",
          `e_shstrndx names section ${shstrndx}, which has sh_type ${hex(type)}, not SHT_STRTAB`,
          { offset: base + 4, sectionIndex: shstrndx },
        );
      }
      namesOffset = readU64(view, base + 24, le);
      namesSize = readU64(view, base + 32, le);
      if (namesOffset < 0) throw tooLarge("sh_offset", base + 24, shstrndx);
      if (namesSize < 0) throw tooLarge("sh_size", base + 32, shstrndx);
      if (namesOffset > length || namesSize > length - namesOffset) {
        throw pastEnd(shstrndx, "", namesOffset, namesSize, length);
      }
    }

    const offsets = slabF64(shnum);
    const sizes = slabF64(shnum);
    const types = slabU32(shnum);
    const links = slabU32(shnum);
    const entsizes = slabF64(shnum);
    const sections: ElfSection[] = new Array(shnum);
    let symtab = -1;

    // The whole name table as one string when it is ASCII: a name is then a
    // slice of it, found by a native indexOf rather than a byte loop.
    const namesText = shstrndx === SHN_UNDEF ? undefined : asciiText(bytes, namesOffset, namesSize);
    for (let i = 0; i < shnum; i++) {
      const base = shoff + i * ELF64_SHDR_SIZE;
      const nameOffset = view.getUint32(base, le);
      const type = view.getUint32(base + 4, le);
      const flags = view.getUint32(le ? base + 8 : base + 12, le);
      const offset = readU64(view, base + 24, le);
      const size = readU64(view, base + 32, le);
      const link = view.getUint32(base + 40, le);
      const info = view.getUint32(base + 44, le);
      const addralign = readU64(view, base + 48, le);
      const entsize = readU64(view, base + 56, le);
      let name = "";
      if (shstrndx !== SHN_UNDEF && (nameOffset !== 0 || namesSize !== 0)) {
        const end = namesText === undefined || nameOffset >= namesSize
          ? -1
          : namesText.indexOf("\0", nameOffset);
        // No text or no NUL: the byte-wise reader decodes or reports it.
        name = end >= 0
          ? namesText!.slice(nameOffset, end)
          : readName(bytes, namesOffset, namesSize, nameOffset, shstrndx, i);
      }
      if (offset < 0) throw tooLarge("sh_offset", base + 24, i, name);
      if (size < 0) throw tooLarge("sh_size", base + 32, i, name);
      if (addralign < 0) throw tooLarge("sh_addralign", base + 48, i, name);
      if (entsize < 0) throw tooLarge("sh_entsize", base + 56, i, name);
      // Section 0's fields may carry the extended counts, not a byte range.
      if (i !== 0 && type !== SHT_NULL && type !== SHT_NOBITS) {
        if (offset > length || size > length - offset) {
          throw pastEnd(i, name, offset, size, length);
        }
      }
      if (type === SHT_SYMTAB) {
        if (symtab >= 0) {
          throw new ElfError(
            "ELF_MULTIPLE_SYMTAB",
            `${label(i, name)} is a second SHT_SYMTAB (the first is section ${symtab})`,
            { offset: base + 4, section: name, sectionIndex: i },
          );
        }
        symtab = i;
      }

      offsets[i] = offset;
      sizes[i] = size;
      types[i] = type;
      links[i] = link;
      entsizes[i] = entsize;
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

    this.sections = sections;
    this.#shoff = shoff;
    this.#offset = offsets;
    this.#size = sizes;
    this.#type = types;
    this.#link = links;
    this.#entsize = entsizes;
    checkOverlap(sections, shoff, shnum, length);

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
      if (sym.link >= shnum || types[sym.link] !== SHT_STRTAB) {
        throw badLink(sections[symtab], shoff, shnum, types, "SHT_STRTAB string table");
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
    const type = this.#type[i];
    const size = this.#size[i];
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
    const offset = this.#offset[i];
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
    if (this.#type[i] !== SHT_STRTAB) {
      const name = this.sections[i].name;
      throw new ElfError(
        "ELF_BAD_SECTION_TYPE",
        `${label(i, name)} has sh_type ${hex(this.#type[i])}, not SHT_STRTAB`,
        { section: name, sectionIndex: i },
      );
    }
    return readString(this.bytes, this.#offset[i], this.#size[i], offset, i, this.sections[i].name);
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

    const view = this.#view;
    const le = this.littleEndian;
    const bytes = this.bytes;
    const shnum = this.sections.length;
    const symtabName = this.sections[symtab].name;
    const base = this.#offset[symtab];
    const count = this.#size[symtab] / ELF64_SYM_SIZE;
    const strtab = this.#link[symtab];
    const strOffset = this.#offset[strtab];
    const strSize = this.#size[strtab];
    const xindexOffset = this.#findSymtabShndx(count);

    const strText = asciiText(bytes, strOffset, strSize);
    const strtabName = this.sections[strtab].name;
    const symbols: ElfSymbol[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const at = base + i * ELF64_SYM_SIZE;
      const nameOffset = u32(bytes, at, le);
      const info = bytes[at + 4];
      const other = bytes[at + 5];
      let sectionIndex = u16(bytes, at + 6, le);
      const value = u64(bytes, at + 8, le);
      const size = u64(bytes, at + 16, le);
      if (value < 0) throw tooLarge(`symbol ${i} st_value`, at + 8, symtab, symtabName);
      if (size < 0) throw tooLarge(`symbol ${i} st_size`, at + 16, symtab, symtabName);
      let extended = false;
      if (sectionIndex === SHN_XINDEX) {
        if (xindexOffset < 0) {
          throw new ElfError(
            "ELF_BAD_INDEX",
            `${
              label(symtab, symtabName)
            }: symbol ${i} has st_shndx SHN_XINDEX but the object has no SHT_SYMTAB_SHNDX section`,
            { offset: at + 6, section: symtabName, sectionIndex: symtab },
          );
        }
        sectionIndex = view.getUint32(xindexOffset + i * 4, le);
        extended = true;
      }
      if (
        sectionIndex !== SHN_UNDEF && (extended || sectionIndex < SHN_LORESERVE) &&
        sectionIndex >= shnum
      ) {
        throw new ElfError(
          "ELF_BAD_INDEX",
          `${label(symtab, symtabName)}: symbol ${i} at offset ${
            hex(at)
          } refers to section ${sectionIndex}, out of range (${shnum} sections)`,
          { offset: at + 6, section: symtabName, sectionIndex: symtab },
        );
      }
      let name = "";
      if (nameOffset !== 0 || strSize !== 0) {
        const end = strText === undefined || nameOffset >= strSize
          ? -1
          : strText.indexOf("\0", nameOffset);
        name = end >= 0
          ? strText!.slice(nameOffset, end)
          : readString(bytes, strOffset, strSize, nameOffset, strtab, strtabName);
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
    const cached = this.#relocations.get(s);
    if (cached !== undefined) return cached;

    const sec = this.sections[s];
    const name = sec.name;
    const shdr = this.#sectionHeaderOffset(s);
    const type = this.#type[s];
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
    const size = this.#size[s];
    if (this.#entsize[s] !== ELF64_REL_SIZE || size % ELF64_REL_SIZE !== 0) {
      throw new ElfError(
        "ELF_BAD_ENTSIZE",
        `${label(s, name)}: relocation section with sh_entsize ${this.#entsize[s]} and sh_size ${
          hex(size)
        }, expected entries of ${ELF64_REL_SIZE} bytes`,
        { offset: shdr + 56, section: name, sectionIndex: s },
      );
    }
    const shnum = this.sections.length;
    if (this.#link[s] !== this.#symtab || this.#symtab < 0) {
      throw badLink(sec, this.#shoff, shnum, this.#type, "symbol table");
    }
    if (sec.info >= shnum) {
      throw new ElfError(
        "ELF_BAD_INDEX",
        `${label(s, name)}: sh_info ${sec.info} names no section (${shnum} sections)`,
        { offset: shdr + 44, section: name, sectionIndex: s },
      );
    }

    const view = this.#view;
    const le = this.littleEndian;
    const symbolCount = this.#size[this.#symtab] / ELF64_SYM_SIZE;
    const base = this.#offset[s];
    const count = size / ELF64_REL_SIZE;
    const relocations: ElfRelocation[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const at = base + i * ELF64_REL_SIZE;
      const offset = readU64(view, at, le);
      if (offset < 0) throw tooLarge(`relocation ${i} r_offset`, at, s, name);
      const symbolIndex = view.getUint32(le ? at + 12 : at + 8, le);
      const relType = view.getUint32(le ? at + 8 : at + 12, le);
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
    this.#relocations.set(s, relocations);
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
    const types = this.#type;
    for (let i = 1; i < types.length; i++) {
      if (types[i] !== SHT_SYMTAB_SHNDX || this.#link[i] !== this.#symtab) continue;
      const name = this.sections[i].name;
      const entsize = this.#entsize[i];
      if ((entsize !== 4 && entsize !== 0) || this.#size[i] < count * 4) {
        throw new ElfError(
          "ELF_BAD_ENTSIZE",
          `${label(i, name)}: SHT_SYMTAB_SHNDX with sh_entsize ${entsize} and sh_size ${
            hex(this.#size[i])
          }, expected ${count} entries of 4 bytes`,
          { offset: this.#sectionHeaderOffset(i) + 56, section: name, sectionIndex: i },
        );
      }
      return this.#offset[i];
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

/** A u64 as a number, or -1 when it is above Number.MAX_SAFE_INTEGER. */
function readU64(view: DataView, at: number, le: boolean): number {
  const hi = view.getUint32(le ? at + 4 : at, le);
  if (hi > SAFE_HIGH_MAX) return -1;
  return hi * 0x100000000 + view.getUint32(le ? at : at + 4, le);
}

/** {@link readU64} from bytes, for the hot loops. */
function u64(bytes: Uint8Array, at: number, le: boolean): number {
  const hi = u32(bytes, le ? at + 4 : at, le);
  if (hi > SAFE_HIGH_MAX) return -1;
  return hi * 0x100000000 + u32(bytes, le ? at : at + 4, le);
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
  types: Uint32Array,
  expected: string,
): ElfError {
  const target = sec.link >= shnum
    ? `out of range (${shnum} sections)`
    : `a section of sh_type ${hex(types[sec.link])}`;
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
 * copy, far cheaper than building names char by char.
 */
function asciiText(bytes: Uint8Array, offset: number, size: number): string | undefined {
  if (size === 0 || offset + size > bytes.length) return undefined;
  const end = offset + size;
  let i = offset;
  // Byte by byte up to a 4-byte boundary, then a word at a time.
  for (; i < end && ((bytes.byteOffset + i) & 3) !== 0; i++) if (bytes[i] >= 0x80) return undefined;
  const words = (end - i) >>> 2;
  if (words > 0) {
    const w = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let k = 0; k < words; k++) if ((w[k] & 0x80808080) !== 0) return undefined;
    i += words * 4;
  }
  for (; i < end; i++) if (bytes[i] >= 0x80) return undefined;
  return utf8.decode(bytes.subarray(offset, end));
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

/** Scratch space for checkOverlap, grown on demand and reused: no allocation per file. */
let scratchStart = new Float64Array(64);
let scratchEnd = new Float64Array(64);
let scratchId = new Int32Array(64);

/**
 * Reject overlapping file ranges among section contents, the section header
 * table and the ELF header. Empty, SHT_NULL and SHT_NOBITS sections occupy
 * no bytes and are exempt.
 */
function checkOverlap(sections: ElfSection[], shoff: number, shnum: number, length: number) {
  const cap = sections.length + 2;
  if (scratchStart.length < cap) {
    scratchStart = new Float64Array(cap);
    scratchEnd = new Float64Array(cap);
    scratchId = new Int32Array(cap);
  }
  const starts = scratchStart;
  const ends = scratchEnd;
  const ids = scratchId;
  // Range ids: -1 is the ELF header, -2 the section header table, i >= 1 section i.
  let n = 0;
  // Insertion sort by start as ranges arrive: the layout compilers emit is
  // nearly sorted, so this is close to linear.
  function insert(start: number, end: number, id: number) {
    let k = n++;
    while (k > 0 && starts[k - 1] > start) {
      starts[k] = starts[k - 1];
      ends[k] = ends[k - 1];
      ids[k] = ids[k - 1];
      k--;
    }
    starts[k] = start;
    ends[k] = end;
    ids[k] = id;
  }
  insert(0, ELF64_EHDR_SIZE, -1);
  if (shnum > 0) insert(shoff, Math.min(shoff + shnum * ELF64_SHDR_SIZE, length), -2);
  for (let i = 1; i < sections.length; i++) {
    const sec = sections[i];
    if (sec.size === 0 || sec.type === SHT_NULL || sec.type === SHT_NOBITS) continue;
    insert(sec.offset, sec.offset + sec.size, i);
  }
  // Walk in start order keeping the range that reaches furthest so far.
  let far = 0;
  for (let k = 1; k < n; k++) {
    if (starts[k] < ends[far]) {
      const a = rangeLabel(sections, ids[far], starts[far], ends[far]);
      const b = rangeLabel(sections, ids[k], starts[k], ends[k]);
      const id = ids[k] >= 0 ? ids[k] : ids[far];
      const sec = id >= 0 ? sections[id] : undefined;
      throw new ElfError("ELF_OVERLAP", `${b} overlaps ${a}`, {
        offset: starts[k],
        section: sec?.name || undefined,
        sectionIndex: sec?.index,
      });
    }
    if (ends[k] > ends[far]) far = k;
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
