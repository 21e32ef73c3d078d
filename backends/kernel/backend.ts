/**
 * The kernel as a backend: `load(spec)` creates the maps and loads the
 * programs, resolving to a {@link KernelCollection}.
 *
 * This module imports the loader lazily, on the first `load`: importing it
 * (as `plugins/core.ts` may, to register the backend) pulls in neither
 * FFI nor `node:fs`.
 *
 * @module
 */

import type { CollectionSpec } from "../../collection/spec.ts";
import { ConfigError } from "../../errors/mod.ts";
import type { Backend } from "../types.ts";
import type { KernelCollection } from "./collection.ts";
import type { LoadCollectionOptions } from "./loader.ts";

/** Options of {@link kernelBackend} (a config's `backend.options`). */
export interface KernelBackendOptions {
  /** bpffs directory for maps pinned by name. */
  pinPath?: string;
  /** Verifier log level: 0 (a log only on failure), 1 or 2. */
  logLevel?: 0 | 1 | 2;
  /** First verifier log buffer size in bytes (grown as needed). */
  logSizeStart?: number;
}

/** The kernel backend: a {@link Backend} whose result is a {@link KernelCollection}. */
export interface KernelBackend extends Backend<KernelCollection> {
  /** Always `"kernel"`. */
  readonly name: "kernel";
  /** The defaults every load starts from. */
  readonly options: Readonly<KernelBackendOptions>;
  /**
   * Load `spec`; `options` override the backend's for this call and may
   * also select programs (`programs`, `include`, `exclude` globs), let some
   * fail (`optional`: `true` or globs; see `coll.report`) and override
   * attach targets (`attachTo`: program name → target).
   */
  load(spec: CollectionSpec, options?: Record<string, unknown>): Promise<KernelCollection>;
}

const OPTION_KEYS = ["pinPath", "logLevel", "logSizeStart"] as const;
const LOAD_KEYS = [
  ...OPTION_KEYS,
  "programs",
  "include",
  "exclude",
  "optional",
  "attachTo",
] as const;

/**
 * Make the kernel backend.
 *
 * ```ts
 * import { loadCollectionSpec } from "../../mod.ts";
 * import { kernelBackend } from "./backend.ts";
 *
 * const spec = await loadCollectionSpec(await Deno.readFile("fixtures/bpfel/xdp_counter.o"));
 * using coll = await kernelBackend({ logLevel: 1 }).load(spec);
 * ```
 */
export function kernelBackend(options: KernelBackendOptions = {}): KernelBackend {
  const defaults = Object.freeze({ ...checkOptions(options, "options", OPTION_KEYS) });
  return {
    name: "kernel",
    options: defaults,
    async load(spec: CollectionSpec, loadOptions: Record<string, unknown> = {}) {
      const perCall = checkOptions(loadOptions, "options", LOAD_KEYS);
      // Loaded on first use, so registering the backend (plugins/core.ts)
      // keeps FFI and node:fs out of the module graph until a kernel load.
      const { loadCollection } = await import("./loader.ts");
      return await loadCollection(spec, { ...defaults, ...perCall });
    },
  };
}

/**
 * JSON Schema of {@link kernelBackendFactory}'s options, in the subset a
 * config's `backend.options` is checked with.
 */
export const kernelBackendOptionsSchema: Readonly<Record<string, unknown>> = {
  type: "object",
  additionalProperties: false,
  properties: {
    pinPath: {
      type: "string",
      description: "bpffs directory for maps pinned by name (e.g. /sys/fs/bpf/myapp).",
    },
    logLevel: {
      enum: [0, 1, 2],
      description: "Verifier log level: 0 logs only on failure, 1 and 2 always.",
    },
    logSizeStart: {
      type: "integer",
      minimum: 1,
      maximum: 0x3fffffff,
      description: "First verifier log buffer size in bytes; grown as needed.",
    },
  },
};

/**
 * {@link kernelBackend} from untyped options (a config's `backend.options`),
 * for registering as a `BackendFactory`. A key it does not know, or a value
 * of the wrong type, is a {@link ConfigError} whose path is
 * `backend.options.<key>`.
 */
export function kernelBackendFactory(options: Record<string, unknown>): KernelBackend {
  return kernelBackend(checkOptions(options, "backend.options", OPTION_KEYS));
}
kernelBackendFactory.optionsSchema = kernelBackendOptionsSchema;

function checkOptions(
  options: unknown,
  path: string,
  allowed: readonly string[],
): LoadCollectionOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ConfigError("CONFIG_TYPE", path, "expected an object of options");
  }
  const out: LoadCollectionOptions = {};
  for (const [key, value] of Object.entries(options)) {
    const at = `${path}.${key}`;
    if (!allowed.includes(key)) {
      throw new ConfigError(
        "CONFIG_UNKNOWN_KEY",
        at,
        `unknown option (known: ${allowed.join(", ")})`,
      );
    }
    if (value === undefined) continue;
    switch (key) {
      case "pinPath":
        if (typeof value !== "string" || value === "") {
          throw new ConfigError(
            "CONFIG_TYPE",
            at,
            "expected a directory path (a non-empty string)",
          );
        }
        out.pinPath = value;
        break;
      case "logLevel":
        if (value !== 0 && value !== 1 && value !== 2) {
          throw new ConfigError("CONFIG_TYPE", at, `expected 0, 1 or 2, got ${String(value)}`);
        }
        out.logLevel = value;
        break;
      case "logSizeStart":
        if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 0x3fffffff) {
          throw new ConfigError(
            "CONFIG_TYPE",
            at,
            `expected an integer from 1 to ${0x3fffffff}, got ${String(value)}`,
          );
        }
        out.logSizeStart = value as number;
        break;
      case "programs":
      case "include":
      case "exclude":
        if (!isStrings(value)) {
          throw new ConfigError(
            "CONFIG_TYPE",
            at,
            key === "programs"
              ? "expected an array of program names"
              : "expected an array of globs",
          );
        }
        out[key] = value;
        break;
      case "optional":
        if (value !== true && value !== false && !isStrings(value)) {
          throw new ConfigError("CONFIG_TYPE", at, "expected true, false or an array of globs");
        }
        out.optional = value;
        break;
      case "attachTo":
        if (
          typeof value !== "object" || value === null || Array.isArray(value) ||
          !Object.values(value).every((v) => typeof v === "string")
        ) {
          throw new ConfigError("CONFIG_TYPE", at, "expected an object of program → target name");
        }
        out.attachTo = value as Record<string, string>;
        break;
    }
  }
  return out;
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}
