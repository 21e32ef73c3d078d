/**
 * A {@link Loader}: the pipeline, section rules, backends and helpers that a
 * list of plugins adds up to.
 *
 * @module
 */

import type { Backend, BackendFactory } from "../backends/types.ts";
import type { CollectionSpec } from "../collection/spec.ts";
import { PipelineError, TsbpfError } from "../errors/mod.ts";
import type { SectionKindRule } from "../stages/classify.ts";
import type { LoadContext, LoadOptions } from "../stages/context.ts";
import { Pipeline, type PipelineInput, specFromContext } from "../stages/pipeline.ts";
import { SECTION_DEFS, type SectionDef } from "../stages/section_defs.ts";
import { corePlugin } from "./core.ts";
import { externPlugins } from "./externs/mod.ts";
import type { Plugin } from "./types.ts";

/** Options of {@link Loader.create}. */
export interface LoaderOptions {
  /** Leave out the `core` plugin (its stages, backends); for plugins that build a pipeline from scratch. */
  withoutCore?: boolean;
  /**
   * Leave out the default extern plugins (`kconfig`, `ksyms`, `kfuncs`);
   * externs then stay unresolved. A listed plugin of one of their names
   * replaces that one instead.
   */
  withoutExterns?: boolean;
}

/**
 * Plugins resolved into something that loads objects. Build one with
 * {@link Loader.create}; it is immutable and can load any number of objects.
 *
 * @example
 * ```ts
 * import { Loader } from "./mod.ts";
 * const loader = Loader.create([{ name: "quiet", stages: [{ after: "link", stage: { name: "check", run() {} } }] }]);
 * const spec = await loader.loadSpec(await Deno.readFile("fixtures/bpfel/xdp_counter.o"));
 * ```
 */
export class Loader {
  /** The plugins in the order they applied: `core`, the extern plugins, then the listed ones. */
  readonly plugins: readonly Plugin[];
  /** The stages every load runs. */
  readonly pipeline: Pipeline;
  /** Section rules and program section definitions from the plugins. */
  readonly loadOptions: LoadOptions;
  /** Backends by name. */
  readonly backends: ReadonlyMap<string, BackendFactory>;
  /** VM helpers by helper ID. */
  readonly helpers: ReadonlyMap<number, unknown>;

  private constructor(
    parts: {
      plugins: readonly Plugin[];
      pipeline: Pipeline;
      loadOptions: LoadOptions;
      backends: ReadonlyMap<string, BackendFactory>;
      helpers: ReadonlyMap<number, unknown>;
    },
  ) {
    this.plugins = parts.plugins;
    this.pipeline = parts.pipeline;
    this.loadOptions = parts.loadOptions;
    this.backends = parts.backends;
    this.helpers = parts.helpers;
  }

  /**
   * Apply `plugins` in order after `core` and the default extern plugins
   * (see `plugins/externs/`); see {@link Plugin} for the rules.
   */
  static create(plugins: readonly Plugin[] = [], options: LoaderOptions = {}): Loader {
    // The extern plugins come right after core unless left out or replaced by name.
    const externs = options.withoutCore || options.withoutExterns
      ? []
      : externPlugins().filter((d) => !plugins.some((p) => p?.name === d.name));
    const all = options.withoutCore ? [...plugins] : [corePlugin(), ...externs, ...plugins];
    const names = new Set<string>();
    let pipeline = new Pipeline([]);
    const rules: SectionKindRule[] = [];
    const defs: SectionDef[] = [];
    const backends = new Map<string, BackendFactory>();
    const backendOwner = new Map<string, string>();
    const helpers = new Map<number, unknown>();
    const helperOwner = new Map<number, string>();
    for (const plugin of all) {
      if (typeof plugin?.name !== "string" || plugin.name === "") {
        throw new PipelineError("PLUGIN_INVALID", "a plugin needs a non-empty string name");
      }
      if (names.has(plugin.name)) {
        throw new PipelineError("PLUGIN_DUPLICATE", `plugin ${plugin.name} is listed twice`);
      }
      names.add(plugin.name);
      for (const rule of plugin.sectionKinds ?? []) rules.push({ ...rule, owner: plugin.name });
      defs.push(...(plugin.sectionDefs ?? []));
      for (const edit of plugin.stages ?? []) {
        try {
          pipeline = pipeline.edit(edit);
        } catch (err) {
          if (err instanceof TsbpfError) err.addContext(`plugin ${plugin.name}`);
          throw err;
        }
      }
      for (const [name, factory] of Object.entries(plugin.backends ?? {})) {
        const owner = backendOwner.get(name);
        if (owner !== undefined) {
          throw new PipelineError(
            "PLUGIN_BACKEND_CONFLICT",
            `plugin ${plugin.name}: backend ${name} is already registered by plugin ${owner}`,
          );
        }
        backends.set(name, factory);
        backendOwner.set(name, plugin.name);
      }
      for (const [key, helper] of Object.entries(plugin.helpers ?? {})) {
        const id = Number(key);
        const owner = helperOwner.get(id);
        if (owner !== undefined) {
          throw new PipelineError(
            "PLUGIN_HELPER_CONFLICT",
            `plugin ${plugin.name}: helper ${id} is already registered by plugin ${owner}`,
          );
        }
        helpers.set(id, helper);
        helperOwner.set(id, plugin.name);
      }
    }
    return new Loader({
      plugins: all,
      pipeline,
      loadOptions: {
        sectionRules: rules,
        sectionDefs: defs.length > 0 ? [...defs, ...SECTION_DEFS] : undefined,
      },
      backends,
      helpers,
    });
  }

  /**
   * The same loader running `pipeline` instead: for edits plugins cannot
   * express, such as a config's exact stage order (`pipeline.stages`).
   */
  withPipeline(pipeline: Pipeline): Loader {
    return new Loader({ ...this, pipeline });
  }

  /**
   * Run the pipeline over `input`; the whole context, for tools that inspect
   * it. A list of objects is linked statically into one (`static-link`).
   */
  loadContext(input: PipelineInput): Promise<LoadContext> {
    return this.pipeline.runContext(input, this.loadOptions);
  }

  /** Run the pipeline over `input` (bytes, or objects to link) and return the spec. */
  async loadSpec(input: PipelineInput): Promise<CollectionSpec> {
    return specFromContext(await this.loadContext(input));
  }

  /** The backend registered as `name`, made with `options`. */
  backend(name: string, options: Record<string, unknown> = {}): Backend {
    const factory = this.backends.get(name);
    if (factory === undefined) {
      const known = [...this.backends.keys()].sort().join(", ") || "none";
      throw new PipelineError(
        "PLUGIN_UNKNOWN_BACKEND",
        `no backend named ${JSON.stringify(name)} (registered: ${known})`,
      );
    }
    return factory(options, { helpers: this.helpers });
  }
}
