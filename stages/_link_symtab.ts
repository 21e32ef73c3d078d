/**
 * The merged symbol table of the static link.
 *
 * @module
 */

import { SHN_UNDEF, STB_LOCAL, STT_NOTYPE, STT_SECTION } from "../elf/constants.ts";
import type { ElfSymbol } from "../elf/types.ts";
import type { Definition, ObjectPlan, OutSection } from "./_link_plan.ts";
import { isDefined, isNamed } from "./_link_symbols.ts";

/**
 * The merged symbol table: null symbol, one section symbol per merged
 * section, every object's kept symbols moved into their merged section,
 * then the externs no object defines, once each. Fills each plan's
 * `symbols` (object symbol index → merged symbol).
 */
export function mergeSymbols(
  plans: readonly ObjectPlan[],
  { out, globals }: {
    out: ReadonlyMap<string, OutSection>;
    globals: ReadonlyMap<string, Definition>;
  },
): ElfSymbol[] {
  const symbols: ElfSymbol[] = [{
    index: 0,
    name: "",
    value: 0,
    size: 0,
    type: STT_NOTYPE,
    bind: STB_LOCAL,
    visibility: 0,
    sectionIndex: SHN_UNDEF,
  }];
  const sectionSymbols = new Map<string, ElfSymbol>();
  for (const o of out.values()) {
    const sym: ElfSymbol = {
      index: symbols.length,
      name: "",
      value: 0,
      size: 0,
      type: STT_SECTION,
      bind: STB_LOCAL,
      visibility: 0,
      sectionIndex: o.index,
    };
    symbols.push(sym);
    sectionSymbols.set(o.name, sym);
  }
  for (const plan of plans) {
    for (const sym of plan.ctx.symbols) {
      const part = plan.parts.get(sym.sectionIndex);
      if (part === undefined || !isDefined(sym)) continue;
      if (sym.type === STT_SECTION) {
        plan.symbols.set(sym.index, sectionSymbols.get(part.out.name)!);
        continue;
      }
      if (!isNamed(sym) || (sym.bind !== STB_LOCAL && plan.losers.has(sym.name))) continue;
      const moved: ElfSymbol = {
        ...sym,
        index: symbols.length,
        name: plan.renames.get(sym.name) ?? sym.name,
        value: sym.value + part.offset,
        sectionIndex: part.out.index,
      };
      symbols.push(moved);
      plan.symbols.set(sym.index, moved);
    }
  }
  // Losing weak definitions and resolved externs point at the winner.
  const byName = new Map<string, ElfSymbol>();
  for (const s of symbols) if (s.bind !== STB_LOCAL && s.name !== "") byName.set(s.name, s);
  const unresolved = new Map<string, ElfSymbol>();
  for (const plan of plans) {
    for (const sym of plan.ctx.symbols) {
      if (plan.symbols.has(sym.index) || !isNamed(sym) || sym.bind === STB_LOCAL) continue;
      const winner = globals.has(sym.name) ? byName.get(sym.name) : undefined;
      if (winner !== undefined) {
        plan.symbols.set(sym.index, winner);
        continue;
      }
      if (isDefined(sym)) continue;
      let ext = unresolved.get(sym.name);
      if (ext === undefined) {
        ext = { ...sym, index: symbols.length };
        symbols.push(ext);
        unresolved.set(sym.name, ext);
      }
      plan.symbols.set(sym.index, ext);
    }
  }
  return symbols;
}
