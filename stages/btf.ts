/**
 * The `btf` stage: parses the object's `.BTF` and `.BTF.ext`, and fixes up
 * DATASEC sizes and variable offsets from the ELF, as libbpf's
 * `btf_fixup_datasec` does (compilers leave them to the linker).
 *
 * @module
 */

import { Btf } from "../btf/btf.ts";
import { parseBtfExt } from "../btf/ext.ts";
import { type BtfDatasec, BtfKind } from "../btf/types.ts";
import { STT_NOTYPE, STT_OBJECT, STT_SECTION } from "../elf/constants.ts";
import { BtfError, withContext } from "../errors/mod.ts";
import type { LoadContext } from "./context.ts";
import { requireElf, sectionsOfKind } from "./context.ts";
import type { Stage } from "./pipeline.ts";

/** Parse `.BTF` and `.BTF.ext` into `ctx.btf` and `ctx.btfExt`; objects without BTF pass through. */
export function btfStage(): Stage {
  return {
    name: "btf",
    run(ctx: LoadContext) {
      const elf = requireElf(ctx, "btf");
      const [btfSection] = sectionsOfKind(ctx, "btf");
      if (btfSection === undefined) return;
      // As libbpf does, BTF that does not parse is fatal only when the object
      // needs it (BTF-defined maps); otherwise the load goes on without it.
      let btf: Btf;
      try {
        btf = withContext("section .BTF", () => Btf.parse(elf.sectionData(btfSection.section)));
        withContext("section .BTF: fixing up data sections", () => fixupDatasecs(ctx, btf));
      } catch (err) {
        if (!(err instanceof BtfError) || sectionsOfKind(ctx, "btfMaps").length > 0) throw err;
        ctx.diagnostics.push({
          stage: "btf",
          level: "warning",
          message: `${err.message}: loading without BTF`,
        });
        return;
      }
      ctx.btf = btf;
      const [extSection] = sectionsOfKind(ctx, "btfExt");
      if (extSection === undefined) return;
      try {
        ctx.btfExt = withContext(
          "section .BTF.ext",
          () =>
            parseBtfExt(elf.sectionData(extSection.section), { strings: (off) => btf.string(off) }),
        );
      } catch (err) {
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
 * layout is the extern stage's to decide, so they are left alone.
 */
function fixupDatasecs(ctx: LoadContext, btf: Btf): void {
  const sectionsByName = new Map<string, { index: number; size: number }>();
  for (const sec of ctx.sections.values()) {
    sectionsByName.set(sec.section.name, { index: sec.section.index, size: sec.section.size });
  }
  for (let id = btf.firstId; id <= btf.lastId; id++) {
    if (btf.kindOf(id) !== BtfKind.DATASEC) continue;
    const ds = btf.type(id) as BtfDatasec;
    const section = sectionsByName.get(ds.name);
    if (section === undefined) continue;
    // Values of the section's variable symbols, global and static.
    const symbols = new Map<string, number>();
    for (const sym of ctx.symbols) {
      if (sym.sectionIndex !== section.index || sym.type === STT_SECTION || sym.name === "") {
        continue;
      }
      if (sym.type === STT_OBJECT || sym.type === STT_NOTYPE) symbols.set(sym.name, sym.value);
    }
    const vars = ds.vars.map((v) => {
      const variable = btf.type(v.type);
      // FUNC entries (kfuncs in .ksyms) and anonymous entries keep their place.
      if (variable.kind !== BtfKind.VAR) return v;
      const value = symbols.get(variable.name);
      if (value === undefined) {
        throw new BtfError(
          "BTF_DATASEC_NO_SYMBOL",
          `variable ${variable.name} of DATASEC ${ds.name} (type ${id}) has no ELF symbol`,
        );
      }
      return { ...v, offset: value };
    });
    if (ds.size !== section.size || vars.some((v, i) => v.offset !== ds.vars[i].offset)) {
      btf.replaceType(id, { ...ds, size: section.size, vars });
    }
  }
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
