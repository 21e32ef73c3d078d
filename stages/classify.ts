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
import type { ClassifiedSection, LoadContext, SectionKind } from "./context.ts";
import { requireElf } from "./context.ts";
import type { Stage } from "./pipeline.ts";
import { parseProgramSection } from "./section_defs.ts";

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
  return name === ".data" || name === ".rodata" || name === ".bss" ||
    name.startsWith(".data.") || name.startsWith(".rodata.") || name.startsWith(".bss.");
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
      for (const section of elf.sections) {
        if (section.index === 0) continue;
        let rule = claims.length > 0 ? claimOf(claims, section) : undefined;
        if (rule === undefined) {
          for (const r of BUILTIN_SECTION_RULES) {
            if (ruleMatches(r, section)) {
              rule = r;
              break;
            }
          }
        }
        const classified: ClassifiedSection = {
          section,
          kind: rule?.kind ?? "ignored",
          claimedBy: rule?.owner,
          symbols: new Map(),
          relocations: new Map(),
          references: 0,
        };
        if (classified.kind === "program") {
          classified.program = parseProgramSection(section.name, { defs: ctx.options.sectionDefs });
          if (classified.program === undefined && section.name !== ".text") {
            ctx.diagnostics.push({
              stage: "classify",
              level: "warning",
              message: `section ${section.name}: name matches no known program type`,
            });
          }
        }
        ctx.sections.set(section.index, classified);
      }
      for (const sec of ctx.sections.values()) {
        if (sec.kind === "license") ctx.license = readLicense(elf, sec.section);
        else if (sec.kind === "version") ctx.kernelVersion = readVersion(elf, sec.section);
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
