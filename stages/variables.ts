/**
 * Global variables: one {@link VariableSpec} per variable of every data
 * section that became a map, from its DATASEC (typed) or, without BTF,
 * from its ELF symbol (untyped).
 *
 * @module
 */

import { type BtfDatasec, BtfKind, BtfVarLinkage } from "../btf/types.ts";
import type { VariableLinkage, VariableSpec } from "../collection/variables.ts";
import { STB_LOCAL, STT_OBJECT } from "../elf/constants.ts";
import type { Btf } from "../btf/btf.ts";
import type { ClassifiedSection, LoadContext } from "./context.ts";
import { sectionsOfKind } from "./context.ts";

const LINKAGE: Record<number, VariableLinkage> = {
  [BtfVarLinkage.STATIC]: "static",
  [BtfVarLinkage.GLOBAL_ALLOCATED]: "global",
  [BtfVarLinkage.GLOBAL_EXTERN]: "extern",
};

/** Options of {@link collectVariables}. */
export interface CollectVariablesOptions {
  /** The `data` sections, in section order; default: found in `ctx.sections`. */
  sections?: readonly ClassifiedSection[];
  /** The first DATASEC of each name ({@link datasecsByName}); default: scanned from `ctx.btf`. */
  datasecs?: ReadonlyMap<string, number>;
}

/** Fill `ctx.variables` for the data sections in `ctx.maps`. */
export function collectVariables(ctx: LoadContext, options: CollectVariablesOptions = {}): void {
  const btf = ctx.btf;
  let datasecs = options.datasecs;
  for (const sec of options.sections ?? sectionsOfKind(ctx, "data")) {
    const name = sec.section.name;
    if (!ctx.maps.has(name)) continue; // pruned
    const readOnly = name === ".rodata" || name.startsWith(".rodata.");
    // Sections with only anonymous data (string literals) have no DATASEC.
    const id = btf === undefined ? undefined : (datasecs ??= datasecsByName(btf)).get(name);
    if (id !== undefined) fromBtf(ctx, btf!.type(id) as BtfDatasec, name, readOnly);
    else fromSymbols(ctx, sec.section.index, name, readOnly);
  }
}

/**
 * The first DATASEC of each name (what `datasecIds(btf, name)[0]` gives):
 * one pass over the types serves every data section of a load.
 */
export function datasecsByName(btf: Btf): Map<string, number> {
  const out = new Map<string, number>();
  for (let id = btf.firstId; id <= btf.lastId; id++) {
    if (btf.kindOf(id) !== BtfKind.DATASEC) continue;
    const name = btf.nameOf(id);
    if (!out.has(name)) out.set(name, id);
  }
  return out;
}

/** Add `variable` unless one of its name is there already (then warn). */
function addVariable(ctx: LoadContext, variable: VariableSpec): void {
  const known = ctx.variables.get(variable.name);
  if (known !== undefined) {
    ctx.diagnostics.push({
      stage: "maps",
      level: "warning",
      message:
        `variable ${variable.name} in ${variable.section} has the name of one in ${known.section}: only the first is in variables`,
    });
    return;
  }
  ctx.variables.set(variable.name, variable);
}

function fromBtf(ctx: LoadContext, ds: BtfDatasec, section: string, constant: boolean): void {
  const btf = ctx.btf!;
  for (const v of ds.vars) {
    const variable = btf.type(v.type);
    if (variable.kind !== BtfKind.VAR) continue;
    addVariable(ctx, {
      name: variable.name,
      offset: v.offset,
      size: v.size,
      type: variable.type,
      linkage: LINKAGE[variable.linkage] ?? "global",
      section,
      constant,
    });
  }
}

function fromSymbols(
  ctx: LoadContext,
  sectionIndex: number,
  section: string,
  constant: boolean,
): void {
  for (const s of ctx.symbols) {
    if (s.sectionIndex !== sectionIndex || s.type !== STT_OBJECT || s.name === "" || s.size <= 0) {
      continue;
    }
    addVariable(ctx, {
      name: s.name,
      offset: s.value,
      size: s.size,
      linkage: s.bind === STB_LOCAL ? "static" : "global",
      section,
      constant,
    });
  }
}
