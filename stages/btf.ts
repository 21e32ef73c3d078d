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
import { STT_NOTYPE, STT_OBJECT } from "../elf/constants.ts";
import type { ElfSection, ElfSymbol } from "../elf/types.ts";
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
      // The first section of each kind counts; the scan stops once it has both.
      let btfSection: ClassifiedSection | undefined;
      let extSection: ClassifiedSection | undefined;
      for (const sec of ctx.sections.values()) {
        if (sec.kind === "btf") btfSection ??= sec;
        else if (sec.kind === "btfExt") extSection ??= sec;
        else continue;
        if (btfSection !== undefined && extSection !== undefined) break;
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
        if (!(err instanceof BtfError) || hasBtfMaps(ctx)) throw err;
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
          strings: stringsOf(btf),
          // Records keyed by the ELF's own name strings: later stages look
          // them up with those, and the ELF reader shares them across loads.
          sections: elf.sections,
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
 * `btf`'s string resolver. Made here rather than as an arrow in `run`, so
 * that none of `run`'s variables is captured (and moved to the heap).
 */
function stringsOf(btf: Btf): (offset: number) => string {
  return (offset) => btf.string(offset);
}

/** Whether the object defines maps in `.maps`, which needs its BTF. */
function hasBtfMaps(ctx: LoadContext): boolean {
  for (const sec of ctx.sections.values()) if (sec.kind === "btfMaps") return true;
  return false;
}

/**
 * Give every DATASEC the size of its ELF section and every variable the
 * value of its symbol. `.kconfig` and `.ksyms` have no ELF section: their
 * layout is the extern stage's to decide, so they are left alone, as are
 * extern VARs in any DATASEC.
 */
export function fixupDatasecs(ctx: LoadContext, btf: Btf): void {
  const ids = btf.idsOfKind(BtfKind.DATASEC);
  if (ids.length === 0) return;
  // Every DATASEC is decoded (and so checked) in ID order, as before any
  // is fixed up; objects have a handful. Bit n of `lengths` says some
  // DATASEC name is n (mod 32) chars long: most section names fail that
  // test and skip the string comparisons, each a call in both engines.
  const datasecs: BtfDatasec[] = new Array(ids.length);
  let lengths = 0;
  for (let j = 0; j < ids.length; j++) {
    const ds = btf.type(ids[j]) as BtfDatasec;
    datasecs[j] = ds;
    lengths |= 1 << (ds.name.length & 31);
  }
  // The ELF section of each, in one pass over the sections rather than one
  // per DATASEC: the last of a name wins, as a name-keyed map would give.
  const sections: (ElfSection | undefined)[] = new Array(ids.length);
  let found = 0;
  for (const sec of ctx.sections.values()) {
    const name = sec.section.name;
    if (((lengths >>> (name.length & 31)) & 1) === 0) continue;
    for (let j = 0; j < datasecs.length; j++) {
      const want = datasecs[j].name;
      if (want.length !== name.length || want !== name) continue;
      if (sections[j] === undefined) found++;
      sections[j] = sec.section;
    }
  }
  if (found === 0) return;
  const symbols = variableSymbols(ctx.symbols, sections);
  for (let j = 0; j < ids.length; j++) {
    const section = sections[j];
    if (section === undefined) continue;
    const id = ids[j];
    const ds = datasecs[j];
    // A few variables are looked up with a scan of the symbols each; many
    // get a map of the section's symbols, built in one pass.
    const values = ds.vars.length * symbols.length > SCAN_MAX
      ? symbolValues(symbols, section.index)
      : undefined;
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
      const value = values === undefined
        ? symbolValue(symbols, section.index, variable.name)
        : values.get(variable.name);
      if (value === undefined) {
        throw new BtfError(
          "BTF_DATASEC_NO_SYMBOL",
          `variable ${variable.name} of DATASEC ${ds.name} (type ${id}) has no ELF symbol`,
        );
      }
      if (value === v.offset) continue;
      if (vars === ds.vars) vars = ds.vars.slice();
      vars[i] = { type: v.type, offset: value, size: v.size };
    }
    if (section.size !== ds.size || vars !== ds.vars) {
      // `ds` is the DATASEC just decoded: these are all its fields.
      btf.replaceType(id, {
        kind: BtfKind.DATASEC,
        id,
        name: ds.name,
        size: section.size,
        vars: vars === ds.vars ? vars.slice() : vars,
      });
    }
  }
}

/** Above this many variable × symbol comparisons a DATASEC's symbols go into a map. */
const SCAN_MAX = 1024;

/** Whether a symbol gives a variable its offset: a named object (or untyped) symbol. */
function isVariableSymbol(sym: ElfSymbol): boolean {
  return sym.name.length !== 0 && (sym.type === STT_OBJECT || sym.type === STT_NOTYPE);
}

/**
 * The variable symbols of `sections` (holes allowed), in symbol table
 * order: every symbol {@link symbolValue} could pick for them, and fewer
 * to scan than the whole table.
 */
function variableSymbols(
  symbols: readonly ElfSymbol[],
  sections: readonly (ElfSection | undefined)[],
): ElfSymbol[] {
  const out: ElfSymbol[] = [];
  for (let i = 0; i < symbols.length; i++) {
    const sym = symbols[i];
    if (!isVariableSymbol(sym)) continue;
    for (let j = 0; j < sections.length; j++) {
      if (sections[j]?.index === sym.sectionIndex) {
        out.push(sym);
        break;
      }
    }
  }
  return out;
}

/**
 * The value of the variable symbol `name` in section `index` (the last one
 * of that name, as {@link symbolValues} keeps it), or `undefined`.
 */
export function symbolValue(
  symbols: readonly ElfSymbol[],
  index: number,
  name: string,
): number | undefined {
  let value: number | undefined;
  for (let i = 0; i < symbols.length; i++) {
    const sym = symbols[i];
    if (
      sym.sectionIndex === index && sym.name.length === name.length && sym.name === name &&
      isVariableSymbol(sym)
    ) {
      value = sym.value;
    }
  }
  return value;
}

/** Values of the variable symbols in section `index` by name; a later symbol of a name wins. */
export function symbolValues(symbols: readonly ElfSymbol[], index: number): Map<string, number> {
  const values = new Map<string, number>();
  for (const sym of symbols) {
    if (sym.sectionIndex === index && isVariableSymbol(sym)) values.set(sym.name, sym.value);
  }
  return values;
}

/**
 * IDs of the DATASECs named `name`. Objects have a handful of DATASECs, and
 * the BTF lists them from its index walk: comparing their names beats
 * building the BTF's whole name index.
 */
export function datasecIds(btf: Btf, name: string): number[] {
  const ids = btf.idsOfKind(BtfKind.DATASEC);
  let n = 0;
  for (const id of ids) if (btf.nameOf(id) === name) ids[n++] = id;
  ids.length = n;
  return ids;
}
