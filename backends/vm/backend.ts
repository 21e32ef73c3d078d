/**
 * The VM as a backend: `load(spec)` resolves to a {@link VmCollection} with
 * the same `maps` / `programs` API as the kernel backend's collection.
 * Plugins' `helpers` (by helper ID) join the built-in ones.
 *
 * The collection module is imported on the first `load`, so registering
 * the backend (as `plugins/core.ts` does) costs nothing until it is used.
 *
 * @module
 */

import type { SelectionOptions } from "../selection.ts";
import type { CollectionSpec } from "../../collection/spec.ts";
import { ConfigError } from "../../errors/mod.ts";
import { validate } from "../../config/_validate.ts";
import type { Backend, BackendContext } from "../types.ts";
import type { VmCollection, VmLoadOptions } from "./collection.ts";
import type { VmHelper, VmTier } from "./types.ts";

/** Options of {@link vmBackend} (a config's `backend.options`). */
export interface VmBackendOptions {
  /** `interpret` or `jit`; default `interpret`. */
  tier?: VmTier;
  /** Instructions one run may execute; default 100,000,000. */
  budget?: number;
  /** Seed of `bpf_get_prandom_u32`. */
  seed?: number;
  /** `bpf_get_smp_processor_id`. */
  cpu?: number;
  /** CPUs of per-CPU maps. */
  possibleCpus?: number;
  /** `bpf_get_current_comm`. */
  comm?: string;
}

/** The VM backend. */
export interface VmBackend extends Backend<VmCollection> {
  /** Always `"vm"`. */
  readonly name: "vm";
  /** The defaults every load starts from. */
  readonly options: Readonly<VmBackendOptions>;
  /**
   * Load `spec`; `options` override the backend's and may select programs
   * (`programs`, `include`/`exclude` globs) and let some fail (`optional`).
   */
  load(spec: CollectionSpec, options?: Record<string, unknown>): Promise<VmCollection>;
}

/** JSON Schema of the VM backend's options. */
export const vmBackendOptionsSchema: Readonly<Record<string, unknown>> = {
  type: "object",
  additionalProperties: false,
  properties: {
    tier: { enum: ["interpret", "jit"], description: "Interpreter, or compiled to WebAssembly." },
    budget: {
      type: "integer",
      minimum: 1,
      description: "Instructions one run may execute before it stops with VM_BUDGET.",
    },
    seed: { type: "integer", description: "Seed of bpf_get_prandom_u32." },
    cpu: { type: "integer", minimum: 0, description: "What bpf_get_smp_processor_id returns." },
    possibleCpus: {
      type: "integer",
      minimum: 1,
      maximum: 4096,
      description: "CPUs of per-CPU maps.",
    },
    comm: { type: "string", maxLength: 15, description: "What bpf_get_current_comm returns." },
  },
};

const LOAD_SCHEMA: Readonly<Record<string, unknown>> = {
  ...vmBackendOptionsSchema,
  properties: {
    ...(vmBackendOptionsSchema.properties as Record<string, unknown>),
    programs: { type: "array", items: { type: "string" } },
    include: { type: "array", items: { type: "string" } },
    exclude: { type: "array", items: { type: "string" } },
    optional: {
      oneOf: [{ type: "boolean" }, { type: "array", items: { type: "string" } }],
    },
  },
};

/**
 * Make the VM backend.
 *
 * ```ts
 * import { loadCollectionSpec } from "../../mod.ts";
 * import { vmBackend } from "./backend.ts";
 *
 * const spec = await loadCollectionSpec(await Deno.readFile("fixtures/bpfel/xdp_counter.o"));
 * using coll = await vmBackend({ tier: "jit" }).load(spec);
 * ```
 */
export function vmBackend(
  options: VmBackendOptions = {},
  context: { helpers?: ReadonlyMap<number, VmHelper> } = {},
): VmBackend {
  validate(options, vmBackendOptionsSchema, { path: "options" });
  const defaults = Object.freeze({ ...options });
  return {
    name: "vm",
    options: defaults,
    async load(spec: CollectionSpec, loadOptions: Record<string, unknown> = {}) {
      validate(loadOptions, LOAD_SCHEMA, { path: "options" });
      const all = { ...defaults, ...loadOptions } as VmBackendOptions & SelectionOptions;
      const { loadVmCollection } = await import("./collection.ts");
      const load: VmLoadOptions = {
        tier: all.tier,
        programs: all.programs,
        include: all.include,
        exclude: all.exclude,
        optional: all.optional,
        helpers: context.helpers,
        runtime: {
          budget: all.budget,
          seed: all.seed,
          cpu: all.cpu,
          possibleCpus: all.possibleCpus,
          comm: all.comm,
        },
      };
      return loadVmCollection(spec, load);
    },
  };
}

/**
 * {@link vmBackend} from a config's `backend.options`, with the plugins'
 * helpers from the loader. A helper that is not `{ name, call }` is a
 * {@link ConfigError}.
 */
export function vmBackendFactory(
  options: Record<string, unknown>,
  context?: BackendContext,
): VmBackend {
  validate(options, vmBackendOptionsSchema, { path: "backend.options" });
  const helpers = new Map<number, VmHelper>();
  for (const [id, helper] of context?.helpers ?? []) {
    const h = helper as Partial<VmHelper> | null;
    if (typeof h !== "object" || h === null || typeof h.call !== "function") {
      throw new ConfigError(
        "CONFIG_TYPE",
        `helpers[${id}]`,
        "a VM helper must be an object { name, call(env) }",
      );
    }
    helpers.set(id, { name: String(h.name ?? `helper_${id}`), call: h.call.bind(h) });
  }
  return vmBackend(options as VmBackendOptions, { helpers });
}
vmBackendFactory.optionsSchema = vmBackendOptionsSchema;
