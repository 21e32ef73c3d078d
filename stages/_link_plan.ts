/**
 * The working state of a static link: merged sections, their per-object
 * parts, and what the link decides per object. Shared by the `_link_*`
 * modules; not part of the public API.
 *
 * @module
 */

import type { ElfSymbol } from "../elf/types.ts";
import type { ClassifiedSection, LoadContext, SectionKind } from "./context.ts";

/** A section of the merged object: same-named sections of every object, laid out one after another. */
export interface OutSection {
  /** Section name, shared by all its parts. */
  name: string;
  /** Kind of the first part; every part must have it. */
  kind: SectionKind;
  /** The first part's section, whose program and claimant the merged one keeps. */
  first: ClassifiedSection;
  /** ELF section type (`sh_type`). */
  type: number;
  /** ELF section flags of the first part. */
  flags: number;
  /** Largest alignment of any part. */
  align: number;
  /** Size in bytes so far. */
  size: number;
  /** Index in the merged image. */
  index: number;
  /** The parts, in object order. */
  parts: Part[];
  /** Sum of the parts' reference counts, plus resolved externs pointing here. */
  references: number;
}

/** One object's section placed in a merged section. */
export interface Part {
  /** Position of the object in the link. */
  object: number;
  /** The object's section. */
  sec: ClassifiedSection;
  /** Byte offset of this part in the merged section. */
  offset: number;
  /** The merged section. */
  out: OutSection;
}

/** A global definition: symbol, the object that has it, and where it landed. */
export interface Definition {
  /** Position of the defining object in the link. */
  object: number;
  /** The defining symbol, as in its object. */
  sym: ElfSymbol;
  /** The part holding it. */
  part: Part;
}

/** What the link decides per object. */
export interface ObjectPlan {
  /** The object's name, for messages. */
  name: string;
  /** The object's context after the per-object stages. */
  ctx: LoadContext;
  /** Section index in the object → its part of a merged section. */
  parts: Map<number, Part>;
  /** Statics renamed to stay apart from other objects' names. */
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

/** An empty plan for one object. */
export function createPlan(name: string, ctx: LoadContext): ObjectPlan {
  return {
    name,
    ctx,
    parts: new Map(),
    renames: new Map(),
    symbols: new Map(),
    losers: new Set(),
    resolved: new Map(),
    globals: new Map(),
  };
}

/** Offset of the object's part in the merged section `section`; 0 if it has none. */
export function partOffset(plan: ObjectPlan, section: string): number {
  for (const part of plan.parts.values()) if (part.out.name === section) return part.offset;
  return 0;
}
