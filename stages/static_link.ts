/**
 * The `static-link` stage: several objects loaded as one collection, the
 * way `bpftool gen object out.o a.o b.o` (libbpf's linker) would link them.
 *
 * {@link Pipeline.runContext} given several objects runs the stages before
 * this one (`read`, `classify`, `btf`, `relocate`) on each object's own
 * context, then runs this stage on a fresh context that it fills from
 * theirs, then the remaining stages (`maps`, `link`, plugin stages) on the
 * merged context. A single object never reaches this stage's merge (it is
 * not even in the default pipeline), so it costs one object nothing.
 *
 * Rules, after libbpf's `linker.c`:
 * - global symbols resolve across objects: a strong definition beats weak
 *   ones, the first weak one wins among weak ones, and two strong
 *   definitions of a name are an error naming both objects;
 * - an extern (undefined symbol) resolves to another object's definition:
 *   a call to its function, a load of its map (whose definition must match
 *   the extern's, field by field) or of its variable;
 * - externs no object defines (kconfig, ksyms, kfuncs) stay as they are for
 *   the stages that handle them;
 * - sections merge by name (`.text`, `socket`, `.data`, `.rodata.str1.1`,
 *   `.maps`, …), each object's part aligned to its `sh_addralign`; data
 *   offsets in instructions and DATASECs move with their part; the bytes of
 *   a weak variable that lost stay where they were, as in libbpf, while a
 *   weak function that lost is dropped;
 * - static symbols stay per object. A static whose name a global or an
 *   earlier object's static already has is renamed `NAME__I`, where I is
 *   the object's position in the list (from 0; further `_` until free), so
 *   two `static int hits` give variables `hits` and `hits__1`;
 * - BTF is merged (see `_merge_btf.ts`), and every type ID instructions
 *   carry (`func`, `coreRelo.typeId`) is remapped;
 * - licenses and kernel versions must agree (libbpf refuses non-identical
 *   `license` sections); legacy `maps` sections are refused, as libbpf's
 *   linker does.
 *
 * The merged context's `extensions` hold the per-object contexts under
 * {@link STATIC_LINK}; its `bytes` are empty and its `elf` is a synthetic
 * image holding the merged sections.
 *
 * @module
 */

import {
  SHN_LORESERVE,
  SHN_UNDEF,
  SHT_NOBITS,
  SHT_PROGBITS,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_FILE,
  STT_NOTYPE,
  STT_SECTION,
} from "../elf/constants.ts";
import type { ElfSymbol } from "../elf/types.ts";
import { LinkError, withContext } from "../errors/mod.ts";
import type { Instruction } from "../isa/instruction.ts";
import {
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  isCall,
  isLoadImm64,
} from "../isa/mod.ts";
import type { Btf } from "../btf/btf.ts";
import { BtfKind } from "../btf/types.ts";
import { alignUp, elfImage, type ImageSection } from "./_elf_image.ts";
import { mergeBtf } from "./_merge_btf.ts";
import { datasecIds } from "./btf.ts";
import type { ClassifiedSection, LoadContext, SectionKind } from "./context.ts";
import type { Stage } from "./pipeline.ts";

/** Name of the stage, and key of the per-object contexts in the merged context's `extensions`. */
export const STATIC_LINK = "static-link";

/** One object of a multi-object load. */
export interface LinkObject {
  /** A name for messages (a file name). */
  name: string;
  /** The object's bytes. */
  bytes: Uint8Array;
}

/** One object after the per-object stages. */
export interface LinkedObject {
  /** Its name, for messages. */
  readonly name: string;
  /** Its context after the stages before `static-link`. */
  readonly ctx: LoadContext;
}

/** Merge the contexts in `ctx.extensions` under {@link STATIC_LINK}, if any; see the module docs. */
export function staticLinkStage(): Stage {
  return {
    name: STATIC_LINK,
    run(ctx: LoadContext) {
      const objects = ctx.extensions.get(STATIC_LINK) as readonly LinkedObject[] | undefined;
      if (objects !== undefined) linkObjects(ctx, objects);
    },
  };
}

/** Kinds with no place in the merged object: applied already, or re-made. */
const NOT_MERGED: ReadonlySet<SectionKind> = new Set([
  "relocations",
  "btf",
  "btfExt",
  "ignored",
  "license",
  "version",
]);

interface OutSection {
  name: string;
  kind: SectionKind;
  first: ClassifiedSection;
  type: number;
  flags: number;
  align: number;
  size: number;
  /** Index in the merged image. */
  index: number;
  parts: Part[];
  references: number;
}

interface Part {
  object: number;
  sec: ClassifiedSection;
  offset: number;
  out: OutSection;
}

interface Definition {
  object: number;
  sym: ElfSymbol;
  part: Part;
}

/** What the link decides per object. */
interface ObjectPlan {
  name: string;
  ctx: LoadContext;
  parts: Map<number, Part>;
  renames: Map<string, string>;
  /** Symbol index → the symbol in the merged symbol table. */
  symbols: Map<number, ElfSymbol>;
  /** Names of weak definitions of this object that lost. */
  losers: Set<string>;
  /** Externs of this object other objects define, by name. */
  resolved: Map<string, Definition>;
  /** The winning definition of every global name (shared by all plans). */
  globals: Map<string, Definition>;
}

/** Fill `ctx` with the link of `objects`. */
export function linkObjects(ctx: LoadContext, objects: readonly LinkedObject[]): void {
  if (objects.length === 0) {
    throw new LinkError("LINK_NO_OBJECTS", "static link of no objects");
  }
  const plans: ObjectPlan[] = objects.map((o) => ({
    name: o.name,
    ctx: o.ctx,
    parts: new Map(),
    renames: new Map(),
    symbols: new Map(),
    losers: new Set(),
    resolved: new Map(),
    globals: new Map(),
  }));
  checkAgreement(ctx, plans);
  const out = layoutSections(plans);
  const globals = resolveGlobals(plans);
  for (const plan of plans) plan.globals = globals;
  renameStatics(plans, globals);
  const symbols = mergeSymbols(plans, { out, globals });
  resolveExterns(plans, globals);

  const merged = mergeBtf(
    plans.map((p) => ({
      btf: p.ctx.btf,
      sectionOffset: (name: string) => partOffset(p, name),
      renames: p.renames,
      dropVars: new Set([...p.losers, ...p.resolved.keys()]),
    })),
    (name) => out.get(name)?.size,
  );
  const programs = new Map<string, Instruction[]>();
  plans.forEach((plan, i) => {
    withContext(`object ${plan.name}`, () => {
      for (const part of plan.parts.values()) {
        if (part.out.kind !== "program") continue;
        const list = programs.get(part.out.name) ?? [];
        programs.set(part.out.name, list);
        list.push(...rewriteInstructions(plan, { part, idMap: merged.idMaps[i] }));
      }
    });
  });
  const image = buildImage(plans, out);
  ctx.elf = image.elf;
  ctx.byteOrder = plans[0].ctx.byteOrder;
  ctx.symbols = symbols;
  ctx.btf = merged.btf;
  for (const o of out.values()) {
    ctx.sections.set(o.index, {
      section: image.elf.sections[o.index],
      kind: o.kind,
      program: o.first.program,
      claimedBy: o.first.claimedBy,
      symbols: sectionSymbols(plans, o),
      relocations: sectionRelocations(plans, o),
      references: o.references,
      instructions: o.kind === "program" ? programs.get(o.name) ?? [] : undefined,
    });
  }
  for (const [index, kind] of image.extra) {
    ctx.sections.set(index, {
      section: image.elf.sections[index],
      kind,
      symbols: new Map(),
      relocations: new Map(),
      references: 0,
    });
  }
  for (const plan of plans) {
    for (const [key, value] of Object.entries(plan.ctx.metadata)) ctx.metadata[key] ??= value;
    for (const d of plan.ctx.diagnostics) {
      ctx.diagnostics.push({ ...d, message: `${plan.name}: ${d.message}` });
    }
  }
}

function partOffset(plan: ObjectPlan, section: string): number {
  for (const part of plan.parts.values()) if (part.out.name === section) return part.offset;
  return 0;
}

/** Byte order, license and kernel version must agree, as libbpf's linker wants. */
function checkAgreement(ctx: LoadContext, plans: ObjectPlan[]): void {
  const first = plans[0];
  let license: ObjectPlan | undefined;
  let version: ObjectPlan | undefined;
  for (const plan of plans) {
    if (plan.ctx.byteOrder !== first.ctx.byteOrder) {
      throw new LinkError(
        "LINK_BYTE_ORDER_MISMATCH",
        `${plan.name} is ${plan.ctx.byteOrder}-endian, ${first.name} is ${first.ctx.byteOrder}-endian`,
      );
    }
    if (plan.ctx.license !== "") {
      if (license !== undefined && license.ctx.license !== plan.ctx.license) {
        throw new LinkError(
          "LINK_LICENSE_MISMATCH",
          `license ${JSON.stringify(plan.ctx.license)} of ${plan.name} differs from ${
            JSON.stringify(license.ctx.license)
          } of ${license.name}; libbpf links only identical license sections`,
        );
      }
      license ??= plan;
    }
    if (plan.ctx.kernelVersion !== 0) {
      if (version !== undefined && version.ctx.kernelVersion !== plan.ctx.kernelVersion) {
        throw new LinkError(
          "LINK_VERSION_MISMATCH",
          `kernel version 0x${plan.ctx.kernelVersion.toString(16)} of ${plan.name} differs from 0x${
            version.ctx.kernelVersion.toString(16)
          } of ${version.name}`,
        );
      }
      version ??= plan;
    }
    for (const sec of plan.ctx.sections.values()) {
      if (sec.kind === "legacyMaps") {
        throw new LinkError(
          "LINK_LEGACY_MAPS",
          `${plan.name}: section ${sec.section.name}: legacy map definitions can't be statically linked (libbpf's linker refuses them too); use BTF-defined maps in .maps`,
        );
      }
    }
  }
  ctx.license = license?.ctx.license ?? "";
  ctx.kernelVersion = version?.ctx.kernelVersion ?? 0;
}

/** Sections merge by name in order of first appearance; parts aligned. */
function layoutSections(plans: ObjectPlan[]): Map<string, OutSection> {
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

function isNamed(sym: ElfSymbol): boolean {
  return sym.name !== "" && sym.type !== STT_SECTION && sym.type !== STT_FILE;
}

function isDefined(sym: ElfSymbol): boolean {
  return sym.sectionIndex !== SHN_UNDEF && sym.sectionIndex < SHN_LORESERVE;
}

/** Strong beats weak, first weak wins among weak ones, two strong are an error. */
function resolveGlobals(plans: ObjectPlan[]): Map<string, Definition> {
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

function renameStatics(plans: ObjectPlan[], globals: Map<string, Definition>): void {
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
 * The merged symbol table: null symbol, one section symbol per merged
 * section, every object's kept symbols moved into their merged section,
 * then the externs no object defines, once each.
 */
function mergeSymbols(
  plans: ObjectPlan[],
  { out, globals }: { out: Map<string, OutSection>; globals: Map<string, Definition> },
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

/** Externs other objects define, with maps checked against their definitions. */
function resolveExterns(plans: ObjectPlan[], globals: Map<string, Definition>): void {
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

/**
 * An extern map's declaration must describe the map it resolves to, field
 * by field (libbpf's `glob_map_defs_match`): type, sizes, limits, flags.
 */
function checkMapDefinitions(
  plans: ObjectPlan[],
  { plan, def }: { plan: ObjectPlan; def: Definition },
): void {
  const name = def.sym.name;
  const declared = mapFields(plan.ctx.btf, name);
  const defined = mapFields(plans[def.object].ctx.btf, name);
  if (declared === undefined || defined === undefined) return;
  for (const field of new Set([...declared.keys(), ...defined.keys()])) {
    const a = declared.get(field);
    const b = defined.get(field);
    if (a === b) continue;
    throw new LinkError(
      "LINK_MAP_MISMATCH",
      `extern map ${JSON.stringify(name)} of ${plan.name} does not match its definition in ${
        plans[def.object].name
      }: ${field} is ${a ?? "unset"} in the extern, ${b ?? "unset"} in the definition`,
    );
  }
}

/** The fields of a BTF map definition as comparable strings, by member name. */
function mapFields(btf: Btf | undefined, name: string): Map<string, string> | undefined {
  if (btf === undefined) return undefined;
  const ds = datasecIds(btf, ".maps")[0];
  if (ds === undefined) return undefined;
  const dsType = btf.type(ds);
  if (dsType.kind !== BtfKind.DATASEC) return undefined;
  const v = dsType.vars.find((x) => btf.nameOf(x.type) === name);
  if (v === undefined) return undefined;
  const variable = btf.type(v.type);
  if (variable.kind !== BtfKind.VAR) return undefined;
  const struct = btf.type(btf.skipTypedefs(btf.skipQualifiers(variable.type)));
  if (struct.kind !== BtfKind.STRUCT) return undefined;
  const fields = new Map<string, string>();
  for (const m of struct.members) {
    const t = btf.type(btf.skipTypedefs(m.type));
    let value = "?";
    if (t.kind === BtfKind.PTR) {
      const target = btf.type(btf.skipTypedefs(t.type));
      // __uint(f, n) is a pointer to an array of n; __type(f, T) a pointer to T.
      value = target.kind === BtfKind.ARRAY
        ? String(target.nelems)
        : `a ${sizeOrUnknown(btf, t.type)}-byte type`;
    } else if (t.kind === BtfKind.ENUM || t.kind === BtfKind.ENUM64) {
      value = t.values.map((x) => String(x.value)).join(",");
    } else if (t.kind === BtfKind.ARRAY) {
      value = "an array of values";
    }
    fields.set(m.name, value);
  }
  return fields;
}

function sizeOrUnknown(btf: Btf, id: number): string {
  try {
    return String(btf.sizeOf(id));
  } catch {
    return "?";
  }
}

/**
 * One object's part of a merged program section: weak functions that lost
 * dropped, statics renamed, externs resolved, data offsets moved with
 * their section's part, type IDs remapped into the merged BTF.
 */
function rewriteInstructions(
  plan: ObjectPlan,
  { part, idMap }: { part: Part; idMap: (id: number) => number },
): Instruction[] {
  const kept: Instruction[] = [];
  let dropping = false;
  for (const ins of part.sec.instructions ?? []) {
    if (ins.symbol !== undefined) dropping = plan.losers.has(ins.symbol);
    if (dropping) continue;
    if (ins.symbol !== undefined) ins.symbol = plan.renames.get(ins.symbol) ?? ins.symbol;
    if (ins.func !== undefined) ins.func = idMap(ins.func);
    if (ins.coreRelo !== undefined) {
      ins.coreRelo = { ...ins.coreRelo, typeId: idMap(ins.coreRelo.typeId) };
    }
    if (ins.reference !== undefined) {
      const rel = ins.sourceOffset === undefined
        ? undefined
        : part.sec.relocations.get(ins.sourceOffset);
      rewriteReference(plan, { ins, symbol: rel?.symbol });
    }
    if (ins.sourceOffset !== undefined) ins.sourceOffset += part.offset;
    kept.push(ins);
  }
  return kept;
}

function rewriteReference(
  plan: ObjectPlan,
  { ins, symbol }: { ins: Instruction; symbol?: ElfSymbol },
): void {
  const ref = ins.reference!;
  if (isLoadImm64(ins) && ins.src === BPF_PSEUDO_MAP_VALUE) {
    const winner = symbol !== undefined && symbol.bind !== STB_LOCAL &&
        plan.losers.has(symbol.name)
      ? plan.globals.get(symbol.name)
      : undefined;
    if (winner === undefined) {
      // Data loads name their section; the offset moves with this object's part.
      ins.immHi = (ins.immHi ?? 0) + partOffset(plan, ref);
      return;
    }
    // A weak variable that lost: load the winner's bytes instead.
    const addend = (ins.immHi ?? 0) - symbol!.value;
    ins.immHi = winner.part.offset + winner.sym.value + addend;
    ins.reference = winner.part.out.name;
    return;
  }
  const renamed = plan.renames.get(ref);
  if (renamed !== undefined) {
    ins.reference = renamed;
    return;
  }
  const def = plan.resolved.get(ref);
  if (def === undefined) return;
  withContext(`extern ${JSON.stringify(ref)}`, () => resolveReference({ ins, def }));
}

/** Turn a reference to an extern into one to the definition another object has. */
function resolveReference({ ins, def }: { ins: Instruction; def: Definition }): void {
  const kind = def.part.out.kind;
  const where = `defined in ${def.part.out.name}`;
  def.part.out.references++;
  if (isCall(ins)) {
    if (kind !== "program") {
      throw new LinkError("LINK_BAD_EXTERN", `called, but ${where}, which holds no functions`);
    }
    ins.src = BPF_PSEUDO_CALL;
    ins.imm = -1;
    return;
  }
  if (!isLoadImm64(ins)) {
    throw new LinkError("LINK_BAD_EXTERN", "referenced by neither a call nor a 64-bit load");
  }
  if (kind === "program") {
    ins.src = BPF_PSEUDO_FUNC;
    ins.imm = -1;
    ins.immHi = 0;
  } else if (kind === "btfMaps") {
    ins.src = BPF_PSEUDO_MAP_FD;
    ins.imm = 0;
    ins.immHi = 0;
  } else if (kind === "data") {
    const offset = def.part.offset + def.sym.value + ins.imm;
    ins.src = BPF_PSEUDO_MAP_VALUE;
    ins.imm = 0;
    ins.immHi = offset;
    ins.reference = def.part.out.name;
  } else {
    throw new LinkError(
      "LINK_BAD_EXTERN",
      `${where} of kind ${kind}, which 64-bit loads can't refer to`,
    );
  }
}

/** The merged sections as an ELF image, plus license and version sections. */
function buildImage(
  plans: ObjectPlan[],
  out: Map<string, OutSection>,
): { elf: ReturnType<typeof elfImage>; extra: [number, SectionKind][] } {
  const sections: ImageSection[] = [];
  for (const o of out.values()) {
    let data: Uint8Array | undefined;
    if (o.type !== SHT_NOBITS) {
      data = new Uint8Array(o.size);
      for (const p of o.parts) {
        data.set(requireData(plans[p.object].ctx, p.sec), p.offset);
      }
    }
    sections.push({
      name: o.name,
      type: o.type,
      flags: o.flags,
      addralign: o.align,
      data,
      size: o.size,
    });
  }
  const extra: [number, SectionKind][] = [];
  for (const kind of ["license", "version"] as const) {
    for (const plan of plans) {
      const sec = [...plan.ctx.sections.values()].find((s) => s.kind === kind);
      if (sec === undefined) continue;
      const data = requireData(plan.ctx, sec);
      sections.push({
        name: sec.section.name,
        type: SHT_PROGBITS,
        flags: sec.section.flags,
        addralign: 1,
        data,
        size: data.length,
      });
      extra.push([sections.length, kind]);
      break;
    }
  }
  return { elf: elfImage(sections, plans[0].ctx.byteOrder === "little"), extra };
}

function requireData(ctx: LoadContext, sec: ClassifiedSection): Uint8Array {
  if (ctx.elf === undefined) {
    throw new LinkError(
      "LINK_NOT_READ",
      "an object has no ELF view: run the read stage before static-link",
    );
  }
  return ctx.elf.sectionData(sec.section);
}

function sectionSymbols(plans: ObjectPlan[], o: OutSection): Map<number, ElfSymbol> {
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

function sectionRelocations(plans: ObjectPlan[], o: OutSection): ClassifiedSection["relocations"] {
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
