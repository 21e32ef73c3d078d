/**
 * The pipeline runner: an ordered list of named stages over one
 * {@link LoadContext}, with edits to insert, replace or wrap stages by name.
 *
 * @module
 */

import { CollectionSpec } from "../collection/spec.ts";
import { PipelineError, TsbpfError } from "../errors/mod.ts";
import { type LoadContext, type LoadOptions, newLoadContext } from "./context.ts";

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

  /** Run every stage over a fresh context for `bytes`; returns the context. */
  async runContext(bytes: Uint8Array, options: LoadOptions = {}): Promise<LoadContext> {
    const ctx = newLoadContext(bytes, options);
    for (const stage of this.stages) {
      try {
        await stage.run(ctx);
      } catch (err) {
        if (err instanceof TsbpfError) throw err.addContext(stage.name);
        // A plugin stage may throw anything; name the stage and keep the cause.
        // For a built-in stage this is a bug, which the code makes visible.
        const message = err instanceof Error ? err.message : String(err);
        throw new PipelineError(STAGE_FAILED, message, { cause: err }).addContext(stage.name);
      }
    }
    return ctx;
  }

  /** Run every stage and return the resulting {@link CollectionSpec}. */
  async run(bytes: Uint8Array, options: LoadOptions = {}): Promise<CollectionSpec> {
    return specFromContext(await this.runContext(bytes, options));
  }
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
