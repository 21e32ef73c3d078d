/**
 * Symbol resolution rules of the static link, after libbpf's `linker.c`:
 * strong beats weak, the first weak wins among weak ones, two strong
 * definitions are an error; statics stay per object, renamed when their
 * name is taken; externs resolve to another object's definition.
 *
 * @module
 */

import {
  SHN_LORESERVE,
  SHN_UNDEF,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_FILE,
  STT_NOTYPE,
  STT_SECTION,
} from "../elf/constants.ts";
import type { ElfSymbol } from "../elf/types.ts";
import { LinkError } from "../errors/mod.ts";
import { checkMapDefinitions } from "./_link_map_defs.ts";
import type { Definition, ObjectPlan } from "./_link_plan.ts";

/** Whether a symbol names something (not a section or file symbol, not nameless). */
export function isNamed(sym: ElfSymbol): boolean {
  return sym.name !== "" && sym.type !== STT_SECTION && sym.type !== STT_FILE;
}

/** Whether a symbol is defined in a real section (not undefined, not ABS/COMMON). */
export function isDefined(sym: ElfSymbol): boolean {
  return sym.sectionIndex !== SHN_UNDEF && sym.sectionIndex < SHN_LORESERVE;
}

/**
 * The winning definition of every global name: strong beats weak, first
 * weak wins among weak ones, two strong are an error. Losers are recorded
 * in their plan's `losers`.
 */
export function resolveGlobals(plans: readonly ObjectPlan[]): Map<string, Definition> {
  const globals = new Map<string, Definition>();
  plans.forEach((plan, object) => {
    for (const sym of plan.ctx.symbols) {
      if (!isNamed(sym) || !isDefined(sym)) continue;
      if (sym.bind !== STB_GLOBAL && sym.bind !== STB_WEAK) continue;
      const part = plan.parts.get(sym.sectionIndex);
      if (part === undefined) continue;
      const def: Definition = { object, sym, part };
      const existing = globals.get(sym.name);
      if (existing === undefined) {
        globals.set(sym.name, def);
        continue;
      }
      const other = plans[existing.object];
      if (existing.part.out.kind !== part.out.kind) {
        throw new LinkError(
          "LINK_SYMBOL_KIND_MISMATCH",
          `symbol ${
            JSON.stringify(sym.name)
          } is defined in ${part.out.name} of ${plan.name} and in ${existing.part.out.name} of ${other.name}`,
        );
      }
      if (sym.bind === STB_GLOBAL && existing.sym.bind === STB_GLOBAL) {
        throw new LinkError(
          "LINK_DUPLICATE_SYMBOL",
          `symbol ${
            JSON.stringify(sym.name)
          } has strong definitions in both ${other.name} and ${plan.name}`,
        );
      }
      if (sym.bind === STB_GLOBAL) {
        other.losers.add(sym.name);
        globals.set(sym.name, def);
      } else {
        plan.losers.add(sym.name);
      }
    }
  });
  return globals;
}

/** Whether a local symbol names a function, variable or map (not a jump label). */
function isStatic(sym: ElfSymbol): boolean {
  return sym.bind === STB_LOCAL && isNamed(sym) && isDefined(sym) &&
    !(sym.type === STT_NOTYPE && (sym.name.startsWith("LBB") || sym.name.startsWith(".L")));
}

/**
 * Rename statics whose name a global or an earlier object's static already
 * has to `NAME__I` (I the object's position; further `_` until free), into
 * each plan's `renames`.
 */
export function renameStatics(
  plans: readonly ObjectPlan[],
  globals: ReadonlyMap<string, Definition>,
): void {
  const taken = new Set(globals.keys());
  plans.forEach((plan, object) => {
    const own = new Set<string>();
    for (const sym of plan.ctx.symbols) {
      if (!isStatic(sym) || !plan.parts.has(sym.sectionIndex) || own.has(sym.name)) continue;
      own.add(sym.name);
      let name = sym.name;
      if (taken.has(name)) {
        name = `${sym.name}__${object}`;
        while (taken.has(name)) name += "_";
        plan.renames.set(sym.name, name);
      }
      taken.add(name);
    }
  });
}

/**
 * Record in each plan's `resolved` the externs other objects define, with
 * extern maps checked against their definitions.
 */
export function resolveExterns(
  plans: readonly ObjectPlan[],
  globals: ReadonlyMap<string, Definition>,
): void {
  for (const plan of plans) {
    for (const sym of plan.ctx.symbols) {
      if (!isNamed(sym) || isDefined(sym) || sym.bind === STB_LOCAL) continue;
      const def = globals.get(sym.name);
      if (def === undefined) continue;
      plan.resolved.set(sym.name, def);
      if (def.part.out.kind === "btfMaps") checkMapDefinitions(plans, { plan, def });
    }
  }
}
