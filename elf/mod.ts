/**
 * A bounds-checked ELF64 reader for BPF objects, in both byte orders.
 *
 * {@link readElf} checks the header and the section table eagerly and
 * decodes symbols and relocations lazily (cached). Section contents are
 * zero-copy views of the input. Nothing the file says is trusted before it
 * is checked against the file's length, so malformed input always ends in an
 * {@link ElfError}, never a RangeError, a runaway loop or a huge allocation.
 *
 * ```ts
 * import { readElf, SHT_REL, STT_FUNC } from "./mod.ts";
 * import { readFileSync } from "node:fs";
 *
 * const elf = readElf(readFileSync("fixtures/bpfel/xdp_counter.o"));
 * for (const sym of elf.symbols()) {
 *   if (sym.type === STT_FUNC) console.log(sym.name, elf.sections[sym.sectionIndex].name);
 * }
 * for (const sec of elf.sections) {
 *   if (sec.type === SHT_REL) console.log(sec.name, elf.relocations(sec));
 * }
 * ```
 *
 * ## Error codes
 *
 * Every `ElfError` has one of these stable codes; the message names where
 * (section index and name, byte offset) and `offset` / `section` /
 * `sectionIndex` carry the same location.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ELF_NOT_ELF` | no `\x7fELF` magic |
 * | `ELF_CLASS_UNSUPPORTED` | not ELFCLASS64 (e.g. an ELF32 object) |
 * | `ELF_BAD_ENCODING` | `e_ident[EI_DATA]` is neither ELFDATA2LSB nor ELFDATA2MSB |
 * | `ELF_BAD_VERSION` | `e_ident[EI_VERSION]` or `e_version` is not EV_CURRENT |
 * | `ELF_BAD_MACHINE` | `e_machine` is neither EM_BPF nor EM_NONE |
 * | `ELF_TRUNCATED` | the header, the section header table (incl. an absurd `e_shnum`) or a section's contents end past the file |
 * | `ELF_BAD_INDEX` | an index out of range: `e_shstrndx` (incl. via SHN_XINDEX), a symbol's `st_shndx`, a relocation section's `sh_info`, SHN_XINDEX without SHT_SYMTAB_SHNDX, a section object not of this file |
 * | `ELF_BAD_ENTSIZE` | `e_shentsize` != 64, a symbol table not in 24-byte entries, a REL section not in 16-byte entries, a short SHT_SYMTAB_SHNDX |
 * | `ELF_BAD_LINK` | a symbol table's `sh_link` is not a string table, a REL section's is not the symbol table |
 * | `ELF_BAD_SECTION_TYPE` | a section of the wrong type where a specific one is required (`e_shstrndx` not SHT_STRTAB, `relocations()` of a non-REL section, `stringAt()` on a non-string table) |
 * | `ELF_OVERLAP` | two sections' contents overlap, or one overlaps the ELF header or the section header table |
 * | `ELF_BAD_STRING` | a name offset past its string table, or a string without a NUL terminator |
 * | `ELF_MULTIPLE_SYMTAB` | more than one SHT_SYMTAB |
 * | `ELF_BAD_SYMBOL_INDEX` | a relocation refers to a symbol past the symbol table (checked by `relocations()`) |
 * | `ELF_RELA_UNSUPPORTED` | `relocations()` of an SHT_RELA section: BPF uses SHT_REL |
 * | `ELF_TOO_LARGE` | a 64-bit field above `Number.MAX_SAFE_INTEGER`, or an SHT_NOBITS section above the `maxNobitsSize` cap in `sectionData()` |
 *
 * @module
 */

export { DEFAULT_MAX_NOBITS_SIZE, ElfFile, readElf } from "./reader.ts";
export type { ReadElfOptions } from "./reader.ts";
export type { ElfHeader, ElfRelocation, ElfSection, ElfSymbol } from "./types.ts";
export * from "./constants.ts";
export { ElfError } from "../errors/mod.ts";
