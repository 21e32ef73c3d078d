/**
 * The ELF64 view tsbpf works on: plain data, decoded once, bounds-checked.
 *
 * @module
 */

/** ELF header fields a BPF loader needs. */
export interface ElfHeader {
  /** `true` for ELFDATA2LSB, `false` for ELFDATA2MSB. */
  littleEndian: boolean;
  /** e_type (ET_REL = 1 for BPF objects). */
  type: number;
  /** e_machine (EM_BPF = 247, or EM_NONE = 0 from old toolchains). */
  machine: number;
  /** e_flags. */
  flags: number;
  /** e_shstrndx after SHN_XINDEX resolution. */
  sectionNamesIndex: number;
}

/** One section header with its resolved name. */
export interface ElfSection {
  /** Index in the section header table. */
  index: number;
  /** Name from the section header string table. */
  name: string;
  /** sh_type (SHT_PROGBITS, SHT_NOBITS, SHT_REL, ...). */
  type: number;
  /** sh_flags (SHF_ALLOC, SHF_EXECINSTR, ...); the high 32 bits are dropped. */
  flags: number;
  /** sh_offset in the file. */
  offset: number;
  /** sh_size; for SHT_NOBITS the in-memory size, not file bytes. */
  size: number;
  /** sh_link. */
  link: number;
  /** sh_info. */
  info: number;
  /** sh_addralign. */
  addralign: number;
  /** sh_entsize. */
  entsize: number;
}

/** One symbol table entry. */
export interface ElfSymbol {
  /** Index in the symbol table (0 is the null symbol). */
  index: number;
  /** Name from the symbol string table ("" when unnamed). */
  name: string;
  /** st_value: for ET_REL, the offset in its section. */
  value: number;
  /** st_size. */
  size: number;
  /** STT_* from st_info. */
  type: number;
  /** STB_* from st_info. */
  bind: number;
  /** STV_* from st_other. */
  visibility: number;
  /**
   * st_shndx as stored, incl. SHN_UNDEF (0), SHN_ABS (0xfff1), SHN_COMMON (0xfff2);
   * SHN_XINDEX is resolved to the real index from SHT_SYMTAB_SHNDX. Regular
   * indexes are checked to be below the section count.
   */
  sectionIndex: number;
}

/** One SHT_REL entry. */
export interface ElfRelocation {
  /** r_offset: byte offset in the target section. */
  offset: number;
  /** Symbol index from r_info. */
  symbolIndex: number;
  /** Relocation type from r_info (R_BPF_64_64 = 1, R_BPF_64_ABS64 = 2, R_BPF_64_ABS32 = 3, R_BPF_64_NODYLD32 = 4, R_BPF_64_32 = 10). */
  type: number;
}
