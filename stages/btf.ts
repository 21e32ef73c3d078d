/**
 * The `btf` stage: parses the object's `.BTF` and `.BTF.ext`, and fixes up
 * DATASEC sizes and variable offsets from the ELF, as libbpf's
 * `btf_fixup_datasec` does (compilers leave them to the linker).
 *
 * @module
 */

import { Btf } from "../btf/btf.ts";
import { parseBtfExt } from "../btf/ext.ts";
import { type BtfDatasec, BtfKind, BtfVarLinkage } from "../btf/types.ts";
import { STT_NOTYPE, STT_OBJECT, STT_SECTION } from "../elf/constants.ts";
import type { ElfSection } from "../elf/types.ts";
import { BtfError } from "../errors/mod.ts";
import type { ClassifiedSection, LoadContext } from "./context.ts";
import { inContext, requireElf } from "./context.ts";
import type { Stage } from "./pipeline.ts";

/** Parse `.BTF` and `.BTF.ext` into `ctx.btf` and `ctx.btfExt`; objects without BTF pass through. */
export function btfStage(): Stage {
  return {
    name: "btf",
    run(ctx: LoadContext) {
      const elf = requireElf(ctx, "btf");
      // One pass for the sections this stage looks at; the first of a kind counts.
      let btfSection: ClassifiedSection | undefined;
      let extSection: ClassifiedSection | undefined;
      let btfMaps = false;
      for (const sec of ctx.sections.values()) {
        if (sec.kind === "btf") btfSection ??= sec;
        else if (sec.kind === "btfExt") extSection ??= sec;
        else if (sec.kind === "btfMaps") btfMaps = true;
      }
      if (btfSection === undefined) return;
      // As libbpf does, BTF that does not parse is fatal only when the object
      // needs it (BTF-defined maps); otherwise the load goes on without it.
      let btf: Btf;
      try {
        try {
          btf = Btf.parse(elf.sectionData(btfSection.section));
        } catch (err) {
          throw inContext(err, "section .BTF");
        }
        try {
          fixupDatasecs(ctx, btf);
        } catch (err) {
          throw inContext(err, "section .BTF: fixing up data sections");
        }
      } catch (err) {
        if (!(err instanceof BtfError) || btfMaps) throw err;
        ctx.diagnostics.push({
          stage: "btf",
          level: "warning",
          message: `${err.message}: loading without BTF`,
        });
        return;
      }
      ctx.btf = btf;
      if (extSection === undefined) return;
      try {
        ctx.btfExt = parseBtfExt(elf.sectionData(extSection.section), {
          strings: (off) => btf.string(off),
        });
      } catch (err) {
        inContext(err, "section .BTF.ext");
        if (!(err instanceof BtfError)) throw err;
        ctx.diagnostics.push({
          stage: "btf",
          level: "warning",
          message: `${err.message}: loading without func and line info`,
        });
      }
    },
  };
}

/**
 * Give every DATASEC the size of its ELF section and every variable the
 * value of its symbol. `.kconfig` and `.ksyms` have no ELF section: their
 * layout is the extern stage's to decide, so they are left alone, as are
 * extern VARs in any DATASEC.
 */
function fixupDatasecs(ctx: LoadContext, btf: Btf): void {
  // The DATASECs with an ELF section of their name; objects have a handful.
  const found: { id: number; ds: BtfDatasec; index: number; size: number }[] = [];
  for (let id = btf.firstId; id <= btf.lastId; id++) {
    if (btf.kindOf(id) !== BtfKind.DATASEC) continue;
    const ds = btf.type(id) as BtfDatasec;
    const section = sectionNamed(ctx, ds.name);
    if (section !== undefined) found.push({ id, ds, index: section.index, size: section.size });
  }
  if (found.length === 0) return;
  // Values of those sections' variable symbols, global and static, in one
  // pass over the symbol table.
  const symbols = new Map<number, Map<string, number>>();
  for (const f of found) symbols.set(f.index, new Map());
  for (const sym of ctx.symbols) {
    const names = symbols.get(sym.sectionIndex);
    if (names === undefined || sym.type === STT_SECTION || sym.name === "") continue;
    if (sym.type === STT_OBJECT || sym.type === STT_NOTYPE) names.set(sym.name, sym.value);
  }
  for (const { id, ds, index, size } of found) {
    const values = symbols.get(index)!;
    let vars = ds.vars;
    for (let i = 0; i < ds.vars.length; i++) {
      const v = ds.vars[i];
      const variable = btf.type(v.type);
      // FUNC entries (kfuncs in .ksyms) and anonymous entries keep their place;
      // so do externs (an extern map in .maps, an extern variable in .data),
      // which have no symbol here: the static linker places them, as in libbpf.
      if (variable.kind !== BtfKind.VAR || variable.linkage === BtfVarLinkage.GLOBAL_EXTERN) {
        continue;
      }
      const value = values.get(variable.name);
      if (value === undefined) {
        throw new BtfError(
          "BTF_DATASEC_NO_SYMBOL",
          `variable ${variable.name} of DATASEC ${ds.name} (type ${id}) has no ELF symbol`,
        );
      }
      if (value === v.offset) continue;
      if (vars === ds.vars) vars = ds.vars.slice();
      vars[i] = { ...v, offset: value };
    }
    if (size !== ds.size || vars !== ds.vars) {
      btf.replaceType(id, { ...ds, size, vars: vars === ds.vars ? vars.slice() : vars });
    }
  }
}

/** The ELF section named `name` (the last one, as a name-keyed map would give). */
function sectionNamed(ctx: LoadContext, name: string): ElfSection | undefined {
  let found: ElfSection | undefined;
  for (const sec of ctx.sections.values()) if (sec.section.name === name) found = sec.section;
  return found;
}

/**
 * IDs of the DATASECs named `name`. Objects have a handful of DATASECs, so
 * scanning kinds beats building the BTF's whole name index for them.
 */
export function datasecIds(btf: Btf, name: string): number[] {
  const ids: number[] = [];
  for (let id = btf.firstId; id <= btf.lastId; id++) {
    if (btf.kindOf(id) === BtfKind.DATASEC && btf.nameOf(id) === name) ids.push(id);
  }
  return ids;
}
