/**
 * The `classify` stage: gives every section a kind, reads the license and
 * version, and matches program sections against libbpf's section table.
 *
 * @module
 */

import { SHF_EXECINSTR, SHT_NOBITS, SHT_PROGBITS, SHT_REL, SHT_RELA } from "../elf/constants.ts";
import type { ElfFile } from "../elf/mod.ts";
import type { ElfSection } from "../elf/types.ts";
import { LinkError, PipelineError } from "../errors/mod.ts";
import type { ElfSymbol } from "../elf/types.ts";
import type { Instruction } from "../isa/instruction.ts";
import type { ClassifiedSection, LoadContext, SectionKind, SectionRelocation } from "./context.ts";
import { requireElf } from "./context.ts";
import type { Stage } from "./pipeline.ts";
import { parseProgramSection, type ProgramSection } from "./section_defs.ts";

/**
 * A rule that claims sections for a kind. Rules are tried in order and the
 * first match wins; plugin rules go before the built-in ones.
 */
export interface SectionKindRule {
  /** The kind a matching section gets. */
  kind: SectionKind;
  /** Matches sections whose name starts with this prefix. */
  prefix?: string;
  /** Matches sections for which this returns true. */
  match?: (section: ElfSection) => boolean;
  /** Who owns the rule (a plugin name); unset for built-in rules. */
  owner?: string;
}

function isDataName(name: string): boolean {
  // The second char tells the candidates apart: most names fail right here.
  if (name.charCodeAt(0) !== 0x2e) return false;
  switch (name.charCodeAt(1)) {
    case 0x64: // d
      return name === ".data" || name.startsWith(".data.");
    case 0x72: // r
      return name === ".rodata" || name.startsWith(".rodata.");
    case 0x62: // b
      return name === ".bss" || name.startsWith(".bss.");
  }
  return false;
}

/** The built-in rules, in the order they are tried. */
export const BUILTIN_SECTION_RULES: readonly SectionKindRule[] = [
  { kind: "relocations", match: (s) => s.type === SHT_REL || s.type === SHT_RELA },
  { kind: "license", match: (s) => s.name === "license" },
  { kind: "version", match: (s) => s.name === "version" },
  { kind: "legacyMaps", match: (s) => s.name === "maps" || s.name.startsWith("maps/") },
  { kind: "btfMaps", match: (s) => s.name === ".maps" },
  { kind: "btf", match: (s) => s.name === ".BTF" },
  { kind: "btfExt", match: (s) => s.name === ".BTF.ext" },
  {
    kind: "data",
    match: (s) => isDataName(s.name) && (s.type === SHT_PROGBITS || s.type === SHT_NOBITS),
  },
  {
    kind: "program",
    match: (s) => s.type === SHT_PROGBITS && (s.flags & SHF_EXECINSTR) !== 0 && s.size > 0,
  },
];

/** The one plugin rule that claims `section`; two owners claiming it is an error. */
function claimOf(
  rules: readonly SectionKindRule[],
  section: ElfSection,
): SectionKindRule | undefined {
  let found: SectionKindRule | undefined;
  for (const r of rules) {
    if (!ruleMatches(r, section)) continue;
    if (found === undefined) found = r;
    else if (found.owner !== r.owner) {
      throw new PipelineError(
        "PLUGIN_SECTION_CONFLICT",
        `section ${section.name} is claimed by plugin ${
          found.owner ?? "(unnamed)"
        } (kind ${found.kind}) and by plugin ${r.owner ?? "(unnamed)"} (kind ${r.kind})`,
        { section: section.name, sectionIndex: section.index },
      );
    }
  }
  return found;
}

/** Options of {@link classifyStage}. */
export interface ClassifyOptions {
  /** Extra rules tried before the built-in ones (plugins). */
  rules?: readonly SectionKindRule[];
}

function ruleMatches(rule: SectionKindRule, section: ElfSection): boolean {
  if (rule.prefix !== undefined && !section.name.startsWith(rule.prefix)) return false;
  if (rule.match !== undefined && !rule.match(section)) return false;
  return rule.prefix !== undefined || rule.match !== undefined;
}

/**
 * The kind {@link BUILTIN_SECTION_RULES} give `section`, or `undefined`:
 * the same rules in the same order, as one function, since every section
 * of every load goes through them.
 */
function builtinKind(section: ElfSection): SectionKind | undefined {
  const { type, name } = section;
  if (type === SHT_REL || type === SHT_RELA) return "relocations";
  // Every named rule is told apart by the first character, and most
  // sections (debug info, string tables, programs) match none: one
  // character read, rather than a comparison with each name in turn.
  switch (name.charCodeAt(0)) {
    case 0x2e: // .
      switch (name) {
        case ".maps":
          return "btfMaps";
        case ".BTF":
          return "btf";
        case ".BTF.ext":
          return "btfExt";
      }
      if ((type === SHT_PROGBITS || type === SHT_NOBITS) && isDataName(name)) return "data";
      break;
    case 0x6c: // l
      if (name === "license") return "license";
      break;
    case 0x76: // v
      if (name === "version") return "version";
      break;
    case 0x6d: // m
      if (name === "maps" || name.startsWith("maps/")) return "legacyMaps";
      break;
  }
  if (type === SHT_PROGBITS && (section.flags & SHF_EXECINSTR) !== 0 && section.size > 0) {
    return "program";
  }
  return undefined;
}

/**
 * A {@link ClassifiedSection} whose `symbols` and `relocations` maps are
 * made on first use: most sections (debug info, strings, BTF) never get
 * either, and two maps for each cost more than the rest of classify.
 */
class SectionEntry implements ClassifiedSection {
  section: ElfSection;
  kind: SectionKind;
  program?: ProgramSection;
  claimedBy?: string;
  references = 0;
  instructions?: Instruction[];
  #symbols?: Map<number, ElfSymbol>;
  #relocations?: Map<number, SectionRelocation>;

  constructor(section: ElfSection, kind: SectionKind, claimedBy: string | undefined) {
    this.section = section;
    this.kind = kind;
    this.claimedBy = claimedBy;
  }

  get symbols(): Map<number, ElfSymbol> {
    return (this.#symbols ??= new Map());
  }

  set symbols(map: Map<number, ElfSymbol>) {
    this.#symbols = map;
  }

  get relocations(): Map<number, SectionRelocation> {
    return (this.#relocations ??= new Map());
  }

  set relocations(map: Map<number, SectionRelocation>) {
    this.#relocations = map;
  }

  /** {@link relocationsIfAny}. */
  static relocationsIfAny(sec: ClassifiedSection): Map<number, SectionRelocation> | undefined {
    return sec instanceof SectionEntry ? sec.#relocations : sec.relocations;
  }
}

/**
 * `sec.relocations`, or `undefined` for a section of this stage that has
 * none yet: reading the property would make an empty map just to iterate
 * it, and most program sections have no relocations.
 */
export function relocationsIfAny(
  sec: ClassifiedSection,
): Map<number, SectionRelocation> | undefined {
  return SectionEntry.relocationsIfAny(sec);
}

/**
 * Give every section a kind. Plugin rules (from `options.rules` and the
 * load's `sectionRules`) are tried first; a section that rules of two
 * different owners claim is an error. Then the first matching rule of
 * {@link BUILTIN_SECTION_RULES} wins.
 */
export function classifyStage(options: ClassifyOptions = {}): Stage {
  return {
    name: "classify",
    run(ctx: LoadContext) {
      const elf = requireElf(ctx, "classify");
      const own = options.rules ?? NO_RULES;
      const loadRules = ctx.options.sectionRules ?? NO_RULES;
      const claims = own.length === 0 ? loadRules : loadRules.length === 0 ? own : [
        ...own,
        ...loadRules,
      ];
      const sections = elf.sections;
      const parseOptions = { defs: ctx.options.sectionDefs };
      const headers: SectionEntry[] = [];
      for (let i = 1; i < sections.length; i++) {
        const section = sections[i];
        const rule = claims.length > 0 ? claimOf(claims, section) : undefined;
        const kind = rule !== undefined ? rule.kind : builtinKind(section) ?? "ignored";
        const classified = new SectionEntry(section, kind, rule?.owner);
        if (kind === "program") {
          classified.program = parseProgramSection(section.name, parseOptions);
          if (classified.program === undefined && section.name !== ".text") {
            ctx.diagnostics.push({
              stage: "classify",
              level: "warning",
              message: `section ${section.name}: name matches no known program type`,
            });
          }
        } else if (kind === "license" || kind === "version") headers.push(classified);
        ctx.sections.set(section.index, classified);
      }
      // After every section has its kind, as a clash between plugins is reported first.
      for (const sec of headers) {
        if (sec.kind === "license") ctx.license = readLicense(elf, sec.section);
        else ctx.kernelVersion = readVersion(elf, sec.section);
      }
    },
  };
}

const NO_RULES: readonly SectionKindRule[] = [];

const decoder = new TextDecoder();

function readLicense(elf: ElfFile, section: ElfSection): string {
  const data = elf.sectionData(section);
  let end = data.indexOf(0);
  if (end < 0) end = data.length;
  // Licenses are short ASCII ("GPL", "Dual MIT/GPL"): built by hand, they
  // skip the decoder's call into the runtime.
  if (end <= 64) {
    let text = "";
    for (let i = 0; i < end; i++) {
      if (data[i] >= 0x80) return decoder.decode(data.subarray(0, end));
      text += String.fromCharCode(data[i]);
    }
    return text;
  }
  return decoder.decode(data.subarray(0, end));
}

function readVersion(elf: ElfFile, section: ElfSection): number {
  const data = elf.sectionData(section);
  if (data.length < 4) {
    throw new LinkError(
      "LINK_BAD_VERSION",
      `section ${section.name}: ${data.length} bytes, want a 4-byte kernel version`,
      { section: section.name, sectionIndex: section.index },
    );
  }
  return new DataView(data.buffer, data.byteOffset, 4).getUint32(0, elf.littleEndian);
}
