/**
 * The load pipeline: `read` → `classify` → `relocate` → `maps` → `link`,
 * each a swappable {@link Stage} over one {@link LoadContext}.
 *
 * ```ts
 * import { defaultPipeline } from "./mod.ts";
 * const bytes = await Deno.readFile("fixtures/bpfel/xdp_counter.o");
 * const spec = await defaultPipeline().run(bytes);
 * console.log([...spec.programs.keys()]);
 * ```
 *
 * @module
 */

import { btfStage } from "./btf.ts";
import { classifyStage } from "./classify.ts";
import { linkStage } from "./link.ts";
import { mapsStage } from "./maps.ts";
import { Pipeline } from "./pipeline.ts";
import { readStage } from "./read.ts";
import { relocateStage } from "./relocate.ts";

export * from "./context.ts";
export * from "./pipeline.ts";
export { readStage } from "./read.ts";
export { BUILTIN_SECTION_RULES, classifyStage } from "./classify.ts";
export type { ClassifyOptions, SectionKindRule } from "./classify.ts";
export { relocateStage } from "./relocate.ts";
export { mapsStage } from "./maps.ts";
export { btfStage } from "./btf.ts";
export { loadBtfMaps } from "./btf_maps.ts";
export { linkStage } from "./link.ts";
export { CORE_STAGE, coreStage, loadTargetBtf } from "./core.ts";
export { linkObjects, STATIC_LINK, staticLinkStage } from "./static_link.ts";
export type { LinkedObject, LinkObject } from "./static_link.ts";
export * from "./section_defs.ts";

/** The five built-in stages in their order. */
export function defaultStages(): Stage[] {
  return [readStage(), classifyStage(), btfStage(), relocateStage(), mapsStage(), linkStage()];
}

/** A pipeline of the five built-in stages. */
export function defaultPipeline(): Pipeline {
  return new Pipeline(defaultStages());
}

import type { Stage } from "./pipeline.ts";
