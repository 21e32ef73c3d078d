/**
 * The pipeline runner: an ordered list of named stages over one
 * {@link LoadContext}, with edits to insert, replace or wrap stages by name.
 *
 * @module
 */

import { CollectionSpec } from "../collection/spec.ts";
import { PipelineError, TsbpfError } from "../errors/mod.ts";
import { type LoadContext, type LoadOptions, newLoadContext } from "./context.ts";
import { type LinkedObject, type LinkObject, STATIC_LINK, staticLinkStage } from "./static_link.ts";

/**
 * What a pipeline loads: one object's bytes, or several objects to link
 * statically into one collection (bare bytes are named `object[i]`).
 */
export type PipelineInput = Uint8Array | readonly (Uint8Array | LinkObject)[];

/** Code of the error that wraps anything but a `TsbpfError` thrown by a stage. */
export const STAGE_FAILED = "PIPELINE_STAGE_FAILED";

/** One step of a load. */
export interface Stage {
  /** Unique name in its pipeline (`read`, `classify`, `relocate`, `maps`, `link`, …). */
  readonly name: string;
  /** Reads and extends the context. */
  run(ctx: LoadContext): void | Promise<void>;
}

/** Where a stage edit applies. */
export type StageEdit =
  | { append: Stage }
  | { before: string; stage: Stage }
  | { after: string; stage: Stage }
  | { replace: string; stage: Stage }
  | { wrap: string; with: (inner: Stage) => Stage };

/**
 * An ordered, immutable list of stages. Edits return a new pipeline, so a
 * shared default can be specialised without surprising other users.
 *
 * @example
 * ```ts
 * import { defaultPipeline } from "./mod.ts";
 * const logged = defaultPipeline().edit({
 *   after: "link",
 *   stage: { name: "log", run: (ctx) => console.log([...ctx.programs.keys()]) },
 * });
 * ```
 */
export class Pipeline {
  /** The stages in run order. */
  readonly stages: readonly Stage[];

  /** For stages inserted with `after`, the stage they were anchored to. */
  readonly #anchors: ReadonlyMap<string, string>;

  constructor(stages: readonly Stage[], anchors: ReadonlyMap<string, string> = new Map()) {
    const seen = new Set<string>();
    for (const stage of stages) {
      if (seen.has(stage.name)) {
        throw new PipelineError("PIPELINE_DUPLICATE_STAGE", `stage ${stage.name} appears twice`);
      }
      seen.add(stage.name);
    }
    this.stages = [...stages];
    this.#anchors = anchors;
  }

  /** Names of the stages in run order. */
  names(): string[] {
    return this.stages.map((s) => s.name);
  }

  /**
   * A new pipeline with one edit applied; an unknown stage name is an error.
   *
   * Edits keep the order they are made in: a stage inserted `before: X`
   * goes right before X, so after earlier ones inserted before X; a stage
   * inserted `after: X` goes after X and after every stage earlier edits
   * placed after X. Plugins listed first therefore run first.
   */
  edit(edit: StageEdit): Pipeline {
    if ("append" in edit) return new Pipeline([...this.stages, edit.append], this.#anchors);
    const target = "before" in edit
      ? edit.before
      : "after" in edit
      ? edit.after
      : "replace" in edit
      ? edit.replace
      : edit.wrap;
    const at = this.stages.findIndex((s) => s.name === target);
    if (at < 0) {
      throw new PipelineError(
        "PIPELINE_UNKNOWN_STAGE",
        `no stage named ${JSON.stringify(target)} (stages: ${this.names().join(", ")})`,
      );
    }
    const stages = [...this.stages];
    const anchors = new Map(this.#anchors);
    if ("before" in edit) stages.splice(at, 0, edit.stage);
    else if ("after" in edit) {
      let end = at + 1;
      while (end < stages.length && this.#anchoredTo(stages[end].name, target)) end++;
      stages.splice(end, 0, edit.stage);
      anchors.set(edit.stage.name, target);
    } else if ("replace" in edit) stages[at] = edit.stage;
    else stages[at] = edit.with(stages[at]);
    return new Pipeline(stages, anchors);
  }

  /** Whether `name` was inserted after `target`, directly or after such a stage. */
  #anchoredTo(name: string, target: string): boolean {
    for (let a = this.#anchors.get(name); a !== undefined; a = this.#anchors.get(a)) {
      if (a === target) return true;
    }
    return false;
  }

  /**
   * Run every stage over a fresh context for `input`; returns the context.
   *
   * Several objects are linked statically: the stages before `static-link`
   * run on each object's own context, then `static-link` merges them into
   * one context the remaining stages run on. A pipeline without a
   * `static-link` stage gets the built-in one right after `relocate`.
   * A one-element list loads like its bytes alone.
   */
  async runContext(input: PipelineInput, options: LoadOptions = {}): Promise<LoadContext> {
    if (input instanceof Uint8Array) return await this.#runOne(input, options);
    if (input.length === 1) {
      const only = input[0];
      return await this.#runOne(only instanceof Uint8Array ? only : only.bytes, options);
    }
    return await this.#runLinked(input, options);
  }

  async #runOne(bytes: Uint8Array, options: LoadOptions): Promise<LoadContext> {
    const ctx = newLoadContext(bytes, options);
    const pending = runStages(this.stages, ctx);
    if (pending !== undefined) await pending;
    return ctx;
  }

  async #runLinked(
    input: readonly (Uint8Array | LinkObject)[],
    options: LoadOptions,
  ): Promise<LoadContext> {
    let stages = this.stages;
    let at = stages.findIndex((s) => s.name === STATIC_LINK);
    if (at < 0) {
      const relocate = stages.findIndex((s) => s.name === "relocate");
      if (relocate < 0) {
        throw new PipelineError(
          "PIPELINE_NO_STATIC_LINK",
          `linking ${input.length} objects needs a ${STATIC_LINK} or a relocate stage (stages: ${
            this.names().join(", ")
          })`,
        );
      }
      at = relocate + 1;
      stages = [...stages.slice(0, at), staticLinkStage(), ...stages.slice(at)];
    }
    const objects: LinkedObject[] = [];
    for (const [i, item] of input.entries()) {
      const { name, bytes } = item instanceof Uint8Array
        ? { name: `object[${i}]`, bytes: item }
        : item;
      const ctx = newLoadContext(bytes, options);
      try {
        const pending = runStages(stages.slice(0, at), ctx);
        if (pending !== undefined) await pending;
      } catch (err) {
        if (err instanceof TsbpfError) err.addContext(`object ${name}`);
        throw err;
      }
      objects.push({ name, ctx });
    }
    const merged = newLoadContext(new Uint8Array(0), options);
    merged.extensions.set(STATIC_LINK, objects);
    const pending = runStages(stages.slice(at), merged);
    if (pending !== undefined) await pending;
    return merged;
  }

  /** Run every stage and return the resulting {@link CollectionSpec}. */
  async run(input: PipelineInput, options: LoadOptions = {}): Promise<CollectionSpec> {
    return specFromContext(await this.runContext(input, options));
  }
}

/**
 * Run `stages` from `from` on; a promise only once a stage returns one.
 * Stages are mostly synchronous, and a load of only synchronous stages
 * then costs no promise and no microtask turn per stage.
 */
function runStages(
  stages: readonly Stage[],
  ctx: LoadContext,
  from = 0,
): void | Promise<void> {
  for (let i = from; i < stages.length; i++) {
    let pending: void | Promise<void>;
    try {
      pending = stages[i].run(ctx);
    } catch (err) {
      throw stageError(stages[i], err);
    }
    if (pending !== undefined) return finishStages(stages, ctx, { at: i, pending });
  }
}

/** The rest of {@link runStages} after stage `at` returned `pending`. */
async function finishStages(
  stages: readonly Stage[],
  ctx: LoadContext,
  { at, pending }: { at: number; pending: Promise<void> },
): Promise<void> {
  try {
    await pending;
  } catch (err) {
    throw stageError(stages[at], err);
  }
  const rest = runStages(stages, ctx, at + 1);
  if (rest !== undefined) await rest;
}

/** What a stage's failure becomes: its error with the stage named. */
function stageError(stage: Stage, err: unknown): unknown {
  if (err instanceof TsbpfError) return err.addContext(stage.name);
  // A plugin stage may throw anything; name the stage and keep the cause.
  // For a built-in stage this is a bug, which the code makes visible.
  const message = err instanceof Error ? err.message : String(err);
  return new PipelineError(STAGE_FAILED, message, { cause: err }).addContext(stage.name);
}

/** The {@link CollectionSpec} a finished context describes. */
export function specFromContext(ctx: LoadContext): CollectionSpec {
  return new CollectionSpec({
    maps: ctx.maps,
    programs: ctx.programs,
    byteOrder: ctx.byteOrder,
    metadata: ctx.metadata,
    btf: ctx.btf,
    variables: ctx.variables,
  });
}
