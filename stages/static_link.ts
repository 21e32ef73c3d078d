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

import { LinkError, withContext } from "../errors/mod.ts";
import type { Instruction } from "../isa/instruction.ts";
import { mergeBtf } from "./_merge_btf.ts";
import { checkAgreement } from "./_link_check.ts";
import { buildImage } from "./_link_image.ts";
import { createPlan, partOffset } from "./_link_plan.ts";
import { rewriteInstructions } from "./_link_rewrite.ts";
import { layoutSections, sectionRelocations, sectionSymbols } from "./_link_sections.ts";
import { renameStatics, resolveExterns, resolveGlobals } from "./_link_symbols.ts";
import { mergeSymbols } from "./_link_symtab.ts";
import type { LoadContext } from "./context.ts";
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

/** Fill `ctx` with the link of `objects`. */
export function linkObjects(ctx: LoadContext, objects: readonly LinkedObject[]): void {
  if (objects.length === 0) {
    throw new LinkError("LINK_NO_OBJECTS", "static link of no objects");
  }
  const plans = objects.map((o) => createPlan(o.name, o.ctx));
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
