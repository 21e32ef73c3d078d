/**
 * Section merging for the static link: same-named sections of every
 * object laid out one after another, each part aligned to its
 * `sh_addralign`, and their symbols and relocations moved with the part.
 *
 * @module
 */

import type { ElfSymbol } from "../elf/types.ts";
import { LinkError } from "../errors/mod.ts";
import { alignUp } from "./_elf_image.ts";
import type { ObjectPlan, OutSection, Part } from "./_link_plan.ts";
import type { ClassifiedSection, SectionKind } from "./context.ts";

/** Kinds with no place in the merged object: applied already, or re-made. */
const NOT_MERGED: ReadonlySet<SectionKind> = new Set([
  "relocations",
  "btf",
  "btfExt",
  "ignored",
  "license",
  "version",
]);

/**
 * Merge sections by name in order of first appearance, parts aligned;
 * fills every plan's `parts`. Same-named sections must agree in kind and
 * type.
 */
export function layoutSections(plans: readonly ObjectPlan[]): Map<string, OutSection> {
  const out = new Map<string, OutSection>();
  plans.forEach((plan, object) => {
    for (const sec of plan.ctx.sections.values()) {
      if (NOT_MERGED.has(sec.kind)) continue;
      const { name, type, addralign, size } = sec.section;
      let o = out.get(name);
      if (o === undefined) {
        o = {
          name,
          kind: sec.kind,
          first: sec,
          type,
          flags: sec.section.flags,
          align: 1,
          size: 0,
          index: out.size + 1,
          parts: [],
          references: 0,
        };
        out.set(name, o);
      } else if (o.kind !== sec.kind || o.type !== type) {
        throw new LinkError(
          "LINK_SECTION_MISMATCH",
          `section ${name} of ${plan.name} (${sec.kind}, type ${type}) does not match the one of ${
            plans[o.parts[0].object].name
          } (${o.kind}, type ${o.type})`,
        );
      }
      const align = Math.max(addralign, o.kind === "program" ? 8 : 1);
      const part: Part = { object, sec, offset: alignUp(o.size, align), out: o };
      o.align = Math.max(o.align, align);
      o.size = part.offset + size;
      o.references += sec.references;
      o.parts.push(part);
      plan.parts.set(sec.section.index, part);
    }
  });
  return out;
}

/** The merged section's symbols by offset: each part's own, moved by the part's offset. */
export function sectionSymbols(
  plans: readonly ObjectPlan[],
  o: OutSection,
): Map<number, ElfSymbol> {
  const symbols = new Map<number, ElfSymbol>();
  for (const p of o.parts) {
    const plan = plans[p.object];
    for (const [offset, sym] of p.sec.symbols) {
      const moved = plan.symbols.get(sym.index);
      // A weak definition that lost maps to the winner, which lives elsewhere.
      if (
        moved === undefined || moved.sectionIndex !== o.index || moved.value !== offset + p.offset
      ) {
        continue;
      }
      symbols.set(offset + p.offset, moved);
    }
  }
  return symbols;
}

/** The merged section's relocations: offsets moved, symbols those of the merged table. */
export function sectionRelocations(
  plans: readonly ObjectPlan[],
  o: OutSection,
): ClassifiedSection["relocations"] {
  const relocations: ClassifiedSection["relocations"] = new Map();
  for (const p of o.parts) {
    const plan = plans[p.object];
    for (const [offset, rel] of p.sec.relocations) {
      const symbol = plan.symbols.get(rel.symbol.index) ?? rel.symbol;
      relocations.set(offset + p.offset, {
        ...rel,
        offset: offset + p.offset,
        symbol,
        symbolIndex: symbol.index,
      });
    }
  }
  return relocations;
}
