/**
 * ELF constants a BPF loader needs, under their names from `elf.h` and the
 * System V gABI. Values are plain numbers so they compare directly with the
 * fields of `ElfHeader`, `ElfSection` and `ElfSymbol`.
 *
 * @module
 */

// --- e_ident ---------------------------------------------------------------

/** Size of `e_ident`. */
export const EI_NIDENT = 16;
/** Index of the file class byte in `e_ident`. */
export const EI_CLASS = 4;
/** Index of the data encoding byte in `e_ident`. */
export const EI_DATA = 5;
/** Index of the ELF version byte in `e_ident`. */
export const EI_VERSION = 6;
/** Index of the OS ABI byte in `e_ident`. */
export const EI_OSABI = 7;
/** The four magic bytes `\x7fELF`, as a big-endian 32-bit number. */
export const ELFMAG = 0x7f454c46;

/** Invalid class. */
export const ELFCLASSNONE = 0;
/** 32-bit objects (not supported by tsbpf). */
export const ELFCLASS32 = 1;
/** 64-bit objects. */
export const ELFCLASS64 = 2;

/** Invalid data encoding. */
export const ELFDATANONE = 0;
/** Two's complement, little-endian. */
export const ELFDATA2LSB = 1;
/** Two's complement, big-endian. */
export const ELFDATA2MSB = 2;

/** The only ELF version (`e_ident[EI_VERSION]` and `e_version`). */
export const EV_CURRENT = 1;

// --- e_type / e_machine ----------------------------------------------------

/** No file type. */
export const ET_NONE = 0;
/** Relocatable object: what clang emits for BPF. */
export const ET_REL = 1;
/** Executable. */
export const ET_EXEC = 2;
/** Shared object. */
export const ET_DYN = 3;

/** No machine; emitted by some old BPF toolchains. */
export const EM_NONE = 0;
/** Linux BPF. */
export const EM_BPF = 247;

// --- sizes of ELF64 structures ---------------------------------------------

/** Size of the ELF64 file header. */
export const ELF64_EHDR_SIZE = 64;
/** Size of one ELF64 section header (`e_shentsize`). */
export const ELF64_SHDR_SIZE = 64;
/** Size of one ELF64 symbol (`Elf64_Sym`). */
export const ELF64_SYM_SIZE = 24;
/** Size of one ELF64 relocation without addend (`Elf64_Rel`). */
export const ELF64_REL_SIZE = 16;
/** Size of one ELF64 relocation with addend (`Elf64_Rela`). */
export const ELF64_RELA_SIZE = 24;

// --- sh_type ---------------------------------------------------------------

/** Inactive section header (always index 0). */
export const SHT_NULL = 0;
/** Program-defined contents: code, data, BTF, license, maps. */
export const SHT_PROGBITS = 1;
/** Symbol table. */
export const SHT_SYMTAB = 2;
/** String table. */
export const SHT_STRTAB = 3;
/** Relocations with explicit addends (not used for BPF). */
export const SHT_RELA = 4;
/** Symbol hash table. */
export const SHT_HASH = 5;
/** Dynamic linking information. */
export const SHT_DYNAMIC = 6;
/** Notes. */
export const SHT_NOTE = 7;
/** Occupies no file bytes; reads as zeros (`.bss`). */
export const SHT_NOBITS = 8;
/** Relocations without addends: what BPF uses. */
export const SHT_REL = 9;
/** Dynamic symbol table. */
export const SHT_DYNSYM = 11;
/** Section group. */
export const SHT_GROUP = 17;
/** Extended section indexes for a symbol table (one `u32` per symbol). */
export const SHT_SYMTAB_SHNDX = 18;
/** LLVM's address-significance table (`.llvm_addrsig`). */
export const SHT_LLVM_ADDRSIG = 0x6fff4c03;

// --- sh_flags --------------------------------------------------------------

/** Writable at run time. */
export const SHF_WRITE = 0x1;
/** Occupies memory at run time. */
export const SHF_ALLOC = 0x2;
/** Executable instructions. */
export const SHF_EXECINSTR = 0x4;
/** Mergeable. */
export const SHF_MERGE = 0x10;
/** NUL-terminated strings. */
export const SHF_STRINGS = 0x20;
/** `sh_info` holds a section index. */
export const SHF_INFO_LINK = 0x40;

// --- symbols ---------------------------------------------------------------

/** Symbol type not specified. */
export const STT_NOTYPE = 0;
/** Data object (maps, globals). */
export const STT_OBJECT = 1;
/** Function (programs, subprograms). */
export const STT_FUNC = 2;
/** The section itself. */
export const STT_SECTION = 3;
/** Source file name. */
export const STT_FILE = 4;

/** Local binding. */
export const STB_LOCAL = 0;
/** Global binding. */
export const STB_GLOBAL = 1;
/** Weak binding. */
export const STB_WEAK = 2;

/** Default visibility. */
export const STV_DEFAULT = 0;
/** Internal visibility. */
export const STV_INTERNAL = 1;
/** Hidden visibility. */
export const STV_HIDDEN = 2;
/** Protected visibility. */
export const STV_PROTECTED = 3;

// --- special section indexes -----------------------------------------------

/** Undefined section: an extern symbol, or "no section". */
export const SHN_UNDEF = 0;
/** Start of the reserved range. */
export const SHN_LORESERVE = 0xff00;
/** Absolute value, not relative to a section. */
export const SHN_ABS = 0xfff1;
/** Common block, not yet allocated. */
export const SHN_COMMON = 0xfff2;
/** The real index is elsewhere (section 0 or `SHT_SYMTAB_SHNDX`). */
export const SHN_XINDEX = 0xffff;

// --- BPF relocation types --------------------------------------------------

/** No relocation. */
export const R_BPF_NONE = 0;
/** 64-bit immediate of `ld_imm64` (maps, globals). */
export const R_BPF_64_64 = 1;
/** 64-bit absolute data (e.g. in `.BTF.ext`, DWARF). */
export const R_BPF_64_ABS64 = 2;
/** 32-bit absolute data (e.g. in `.BTF`, `.BTF.ext`). */
export const R_BPF_64_ABS32 = 3;
/** 32-bit data not resolved by the dynamic loader (DWARF). */
export const R_BPF_64_NODYLD32 = 4;
/** 32-bit PC-relative call immediate (BPF-to-BPF calls). */
export const R_BPF_64_32 = 10;
