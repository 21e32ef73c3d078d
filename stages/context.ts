/**
 * The state one load threads through the stages. Each stage reads what
 * earlier stages put here and adds its own part; nothing reaches back into
 * a stage's internals.
 *
 * @module
 */

import type { ElfFile } from "../elf/mod.ts";
import type { ElfRelocation, ElfSection, ElfSymbol } from "../elf/types.ts";
import type { Instruction } from "../isa/instruction.ts";
import type { ByteOrder, MapSpec, Metadata, ProgramSpec } from "../collection/spec.ts";
import type { VariableSpec } from "../collection/variables.ts";
import type { ProgramSection } from "./section_defs.ts";
import type { SectionDef } from "./section_defs.ts";
import type { SectionKindRule } from "./classify.ts";
import { PipelineError, TsbpfError } from "../errors/mod.ts";
import type { Btf } from "../btf/btf.ts";
import type { BtfExt } from "../btf/ext.ts";

/**
 * What a section is to the loader. Plugins may add their own kinds; a
 * section of a kind no stage handles is left alone.
 */
export type SectionKind =
  | "program"
  | "legacyMaps"
  | "btfMaps"
  | "data"
  | "license"
  | "version"
  | "relocations"
  | "btf"
  | "btfExt"
  | "ignored"
  | (string & Record<never, never>);

/** A relocation resolved to its symbol. */
export interface SectionRelocation extends ElfRelocation {
  /** The symbol the relocation refers to. */
  symbol: ElfSymbol;
}

/** A section with the loader's view of it. */
export interface ClassifiedSection {
  /** The ELF section header. */
  section: ElfSection;
  /** What the section holds. */
  kind: SectionKind;
  /** For `program` sections: type, attach type and flags from the section name. */
  program?: ProgramSection;
  /** Name of the plugin that claimed this section, when not a built-in rule. */
  claimedBy?: string;
  /** Symbols that name a place in this section, by offset. */
  symbols: Map<number, ElfSymbol>;
  /** Relocations applying to this section, by offset. */
  relocations: Map<number, SectionRelocation>;
  /** How many relocations from program code point into this section. */
  references: number;
  /** For `program` sections: the decoded, relocated instructions (relocate). */
  instructions?: Instruction[];
}

/** A message a stage wants the user to see without failing the load. */
export interface Diagnostic {
  /** Stage that produced it. */
  stage: string;
  /** `warning` or `info`. */
  level: "warning" | "info";
  /** The message. */
  message: string;
}

/** Options every stage can see. */
export interface LoadOptions {
  /** Section definitions to match program sections against; default libbpf's table. */
  sectionDefs?: readonly SectionDef[];
  /** Plugin rules that claim sections, tried before the built-in ones. */
  sectionRules?: readonly SectionKindRule[];
  /** Where CO-RE relocations resolve (the `core` stage); default the running kernel's BTF. */
  core?: CoreLoadOptions;
}

/** Target BTF for CO-RE relocations (`LoadOptions.core`). */
export interface CoreLoadOptions {
  /**
   * The target BTF: a parsed `Btf`, raw bytes, or a file path; bytes and
   * files may be a raw BTF blob or an ELF file with a `.BTF` section (like
   * libbpf's `btf_custom_path`). Default: `/sys/kernel/btf/vmlinux`.
   */
  btf?: Btf | Uint8Array | string;
  /**
   * Also search kernel module BTFs when the main target has no candidate
   * for a type; default true for the running kernel, false for a custom `btf`.
   */
  modules?: boolean;
}

/** The state of one load. */
export interface LoadContext {
  /** The object file's bytes. */
  readonly bytes: Uint8Array;
  /** Options of this load. */
  readonly options: LoadOptions;
  /** The ELF view (read). */
  elf?: ElfFile;
  /** Byte order of the object (read). */
  byteOrder: ByteOrder;
  /** The symbol table (read). */
  symbols: ElfSymbol[];
  /** Every section by index, with its kind (classify). */
  sections: Map<number, ClassifiedSection>;
  /** The object's BTF, DATASECs fixed up from the ELF (btf); absent without `.BTF`. */
  btf?: Btf;
  /** The object's `.BTF.ext` records (btf). */
  btfExt?: BtfExt;
  /** Contents of the `license` section (classify). */
  license: string;
  /** Contents of the `version` section (classify). */
  kernelVersion: number;
  /** Maps built so far (maps). */
  maps: Map<string, MapSpec>;
  /** Programs built so far (link). */
  programs: Map<string, ProgramSpec>;
  /** Global variables of the data-section maps (maps). */
  variables: Map<string, VariableSpec>;
  /** Facts plugins attach to the resulting spec (copied to `CollectionSpec.metadata`). */
  metadata: Metadata;
  /** Typed slots for plugins and later stages (BTF, metadata), by plugin name. */
  extensions: Map<string, unknown>;
  /** Non-fatal findings. */
  diagnostics: Diagnostic[];
}

/** A fresh context for `bytes`. */
export function newLoadContext(bytes: Uint8Array, options: LoadOptions = {}): LoadContext {
  return {
    bytes,
    options,
    byteOrder: "little",
    symbols: [],
    sections: new Map(),
    license: "",
    kernelVersion: 0,
    maps: new Map(),
    programs: new Map(),
    variables: new Map(),
    metadata: {},
    extensions: new Map(),
    diagnostics: [],
  };
}

/** The ELF view, or a clear error when the read stage has not run. */
export function requireElf(ctx: LoadContext, stage: string): ElfFile {
  if (ctx.elf === undefined) {
    throw new PipelineError(
      "PIPELINE_STAGE_ORDER",
      `stage ${stage} needs the ELF view: run the read stage first`,
    );
  }
  return ctx.elf;
}

/**
 * `err`, with `context` prefixed when it is a {@link TsbpfError}: what
 * `withContext` does, for a `catch` block. The context string is then only
 * built when something failed, not once per section on every load.
 *
 * ```ts
 * try { work(); } catch (err) { throw inContext(err, `section ${name}`); }
 * ```
 */
export function inContext(err: unknown, context: string): unknown {
  if (err instanceof TsbpfError) err.addContext(context);
  return err;
}

/** Sections of one kind, in section index order. */
export function sectionsOfKind(ctx: LoadContext, kind: SectionKind): ClassifiedSection[] {
  const out: ClassifiedSection[] = [];
  for (const sec of ctx.sections.values()) if (sec.kind === kind) out.push(sec);
  return out;
}
