/**
 * The shape of a `tsbpf.collection/v1` document, as TypeScript types. The
 * same shape, with every field described, is `schema.json`.
 *
 * @module
 */

import type { CoreRelocationResult, CoreRelocationTarget } from "../../btf/core/result.ts";
import type { ByteOrder, Metadata } from "../../collection/spec.ts";

/** The value of a document's `format` key. */
export const DOCUMENT_FORMAT = "tsbpf.collection/v1";

/** A whole document: what `exportSpec` returns and `importSpec` reads. */
export interface JsonDocument {
  /** Always {@link DOCUMENT_FORMAT}. */
  format: typeof DOCUMENT_FORMAT;
  /** Byte order of the object the spec came from. */
  byteOrder: ByteOrder;
  /** Maps by name (written sorted by name). */
  maps: Record<string, JsonMap>;
  /** Programs by name (written sorted by name). */
  programs: Record<string, JsonProgram>;
  /** The spec's metadata, as is (written with sorted keys). */
  metadata: Metadata;
  /** Global variables by name, sorted; absent when there are none. */
  variables?: Record<string, JsonVariable>;
  /** The collection's BTF as marshalled `.BTF` bytes in hex; absent without BTF. */
  btf?: string;
}

/** How a map's `pinning` is written: libbpf's pin type, or its number when it has no name. */
export type JsonPinning = "none" | "byName" | number;

/** One map. */
export interface JsonMap {
  /** The map's name; the same as its key in `maps`. */
  name: string;
  /** libbpf's map type name (`hash`, `prog_array`), or `unknown(N)` for a number it does not name. */
  type: string;
  /** Key size in bytes. */
  keySize: number;
  /** Value size in bytes. */
  valueSize: number;
  /** max_entries. */
  maxEntries: number;
  /** map_flags. */
  flags: number;
  /** Pinning mode. */
  pinning: JsonPinning;
  /** NUMA node. */
  numaNode: number;
  /** map_extra, a u64, as a decimal string. */
  mapExtra: string;
  /** Freeze after writing contents. */
  freeze: boolean;
  /** Template of the inner maps of a map-of-maps. */
  innerMap?: JsonMap;
  /** Initial contents. */
  contents: JsonMapEntry[];
  /** Bytes of a legacy map definition past the standard fields, in hex. */
  extra?: string;
  /** BTF type ID of the key in the document's `btf`. */
  keyType?: number;
  /** BTF type ID of the value in the document's `btf`. */
  valueType?: number;
}

/** A map value that names a program (prog_array maps only). */
export interface JsonProgramRef {
  /** The program's name. */
  program: string;
}

/** A map value that names a map (every map type but prog_array). */
export interface JsonMapRef {
  /** The map's name. */
  map: string;
}

/** One initial entry of a map. */
export interface JsonMapEntry {
  /** An array index (a number), or the key's bytes in hex (a string). */
  key: number | string;
  /** The value's bytes in hex, or the program or map it names. */
  value: string | JsonProgramRef | JsonMapRef;
}

/** One program. */
export interface JsonProgram {
  /** The program's name; the same as its key in `programs`. */
  name: string;
  /** libbpf's program type name (`xdp`, `sched_cls`), or `unknown(N)`. */
  type: string;
  /** libbpf's attach type name, `unknown(N)`, or `null` when the program has none. */
  attachType: string | null;
  /** Attach target from the section name. */
  attachTo: string;
  /** ELF section the program came from. */
  sectionName: string;
  /** License string. */
  license: string;
  /** kern_version. */
  kernelVersion: number;
  /** prog_flags. */
  flags: number;
  /** Whether a backend loads it by default. */
  autoload: boolean;
  /** Byte order of the object the program came from, and of every `raw`. */
  byteOrder: ByteOrder;
  /** Names the instructions refer to, sorted, each once (derived; checked on import). */
  references: string[];
  /** Names of the program's functions, in instruction order (derived; checked on import). */
  functions: string[];
  /** The instructions, one object each. */
  instructions: JsonInstruction[];
  /** CO-RE relocations as the `core` stage applied them; absent when it recorded none. */
  coreRelocations?: JsonCoreRelocation[];
}

/**
 * How one CO-RE relocation ended: `CoreRelocationResult` with its u64
 * values as decimal strings (JSON has no 64-bit integers).
 */
export interface JsonCoreRelocation
  extends Omit<CoreRelocationResult, "origValue" | "newValue" | "target"> {
  /** The candidate it resolved to; absent when none matched. */
  target?: CoreRelocationTarget;
  /** The value the compiler put in the instruction, a u64 as a decimal string. */
  origValue: string;
  /** The value patched in, a u64 as a decimal string. */
  newValue: string;
}

/** One instruction. */
export interface JsonInstruction {
  /** The encoding in hex: 16 digits, or 32 for ld_imm64, in the program's byte order. */
  raw: string;
  /** LLVM-syntax text of the instruction; informative, never read back. */
  asm?: string;
  /** The function this instruction starts. */
  symbol?: string;
  /** What a relocation points this instruction at. */
  reference?: string;
  /** Byte offset of the instruction in its ELF section. */
  sourceOffset?: number;
  /** BTF FUNC type ID starting here (func_info). */
  func?: number;
  /** The source line starting here (line_info). */
  line?: { fileName: string; lineText: string; line: number; column: number };
  /** The CO-RE relocation of this instruction. */
  coreRelo?: { typeId: number; accessor: string; kind: number };
  /** The kernel BTF (`vmlinux` or a module) a resolved ksym's or kfunc's BTF ID is in. */
  btfModule?: string;
}

/** A global variable (see `VariableSpec`). */
export interface JsonVariable {
  /** The data-section map it lives in. */
  section: string;
  /** Byte offset in the section. */
  offset: number;
  /** Size in bytes. */
  size: number;
  /** `static`, `global` or `extern`. */
  linkage: "static" | "global" | "extern";
  /** In a `.rodata*` section. */
  constant: boolean;
  /** BTF type ID of its value in the document's `btf`. */
  type?: number;
  /** Name of that type (informative; not read back). */
  typeName?: string;
}
