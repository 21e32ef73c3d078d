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
import type { LoadContext } from "./context.ts";
import { sectionsOfKind } from "./context.ts";
import { datasecIds } from "./btf.ts";

const LINKAGE: Record<number, VariableLinkage> = {
  [BtfVarLinkage.STATIC]: "static",
  [BtfVarLinkage.GLOBAL_ALLOCATED]: "global",
  [BtfVarLinkage.GLOBAL_EXTERN]: "extern",
};

/** Fill `ctx.variables` for the data sections in `ctx.maps`. */
export function collectVariables(ctx: LoadContext): void {
  for (const sec of sectionsOfKind(ctx, "data")) {
    const name = sec.section.name;
    if (!ctx.maps.has(name)) continue; // pruned
    const readOnly = name === ".rodata" || name.startsWith(".rodata.");
    const found = ctx.btf !== undefined ? fromBtf(ctx, name) : undefined;
    for (const v of found ?? fromSymbols(ctx, sec.section.index)) {
      const variable: VariableSpec = { ...v, section: name, constant: readOnly };
      if (ctx.variables.has(v.name)) {
        ctx.diagnostics.push({
          stage: "maps",
          level: "warning",
          message: `variable ${v.name} in ${name} has the name of one in ${
            ctx.variables.get(v.name)!.section
          }: only the first is in variables`,
        });
        continue;
      }
      ctx.variables.set(v.name, variable);
    }
  }
}

type Found = Omit<VariableSpec, "section" | "constant">;

function fromBtf(ctx: LoadContext, section: string): Found[] | undefined {
  const btf = ctx.btf!;
  const id = datasecIds(btf, section)[0];
  // Sections with only anonymous data (string literals) have no DATASEC.
  if (id === undefined) return undefined;
  const ds = btf.type(id) as BtfDatasec;
  const out: Found[] = [];
  for (const v of ds.vars) {
    const variable = btf.type(v.type);
    if (variable.kind !== BtfKind.VAR) continue;
    out.push({
      name: variable.name,
      offset: v.offset,
      size: v.size,
      type: variable.type,
      linkage: LINKAGE[variable.linkage] ?? "global",
    });
  }
  return out;
}

function fromSymbols(ctx: LoadContext, sectionIndex: number): Found[] {
  return ctx.symbols
    .filter((s) =>
      s.sectionIndex === sectionIndex && s.type === STT_OBJECT && s.name !== "" && s.size > 0
    )
    .map((s) => ({
      name: s.name,
      offset: s.value,
      size: s.size,
      linkage: s.bind === STB_LOCAL ? "static" : "global",
    }));
}
