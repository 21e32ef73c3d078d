/**
 * The JSON exporter as a backend: `load(spec)` gives the document. It does
 * no I/O; the CLI writes `stringify(doc)` to `output`.
 *
 * @module
 */

import type { CollectionSpec } from "../../collection/spec.ts";
import { ConfigError } from "../../errors/mod.ts";
import type { Backend } from "../types.ts";
import { exportSpec, type JsonExportOptions, stringifyDocument } from "./export.ts";
import type { JsonDocument } from "./types.ts";
import { describe, suggestion } from "./_util.ts";

/** Options of {@link jsonBackend}. */
export interface JsonBackendOptions extends JsonExportOptions {
  /** Where the caller (the CLI) should write the document; the backend itself writes nothing. */
  output?: string;
  /** Indent the text with two spaces (default) or write one line. */
  pretty?: boolean;
}

/** The JSON backend: a {@link Backend} whose result is a {@link JsonDocument}. */
export interface JsonBackend extends Backend<JsonDocument> {
  /** Always `"json"`. */
  readonly name: "json";
  /** The `output` option, for the caller that writes the file. */
  readonly output?: string;
  /** The `pretty` option; default `true`. */
  readonly pretty: boolean;
  /**
   * The document for `spec`. `options` may override `asm` and `annotate`
   * for this call; other keys are a {@link ConfigError}. A spec the document
   * cannot represent rejects with `JsonSpecError` `JSON_EXPORT_INVALID`.
   */
  load(spec: CollectionSpec, options?: Record<string, unknown>): Promise<JsonDocument>;
  /** Text of `doc` formatted per `pretty`, ending in a newline. */
  stringify(doc: JsonDocument): string;
}

const BOOLEAN_KEYS = ["pretty", "asm", "annotate"] as const;
const OPTION_KEYS = ["output", ...BOOLEAN_KEYS] as const;
const LOAD_KEYS = ["asm", "annotate"] as const;

/**
 * Make the JSON backend.
 *
 * ```ts
 * import { CollectionSpec } from "../../collection/mod.ts";
 * import { jsonBackend } from "./backend.ts";
 *
 * const backend = jsonBackend({ output: "out.json", pretty: false });
 * const doc = await backend.load(new CollectionSpec());
 * const text = backend.stringify(doc); // the CLI writes this to backend.output
 * ```
 */
export function jsonBackend(options: JsonBackendOptions = {}): JsonBackend {
  const pretty = options.pretty ?? true;
  const defaults: JsonExportOptions = { asm: options.asm, annotate: options.annotate };
  return {
    name: "json",
    output: options.output,
    pretty,
    load(spec: CollectionSpec, loadOptions: Record<string, unknown> = {}): Promise<JsonDocument> {
      try {
        const perCall = checkOptions(loadOptions, "options", LOAD_KEYS);
        return Promise.resolve(exportSpec(spec, { ...defaults, ...perCall }));
      } catch (err) {
        return Promise.reject(err);
      }
    },
    stringify(doc: JsonDocument): string {
      return stringifyDocument(doc, { pretty });
    },
  };
}

/**
 * {@link jsonBackend} from untyped options (a config's `backend.options`),
 * for registering as a `BackendFactory`. A key it does not know, or a value
 * of the wrong type, is a {@link ConfigError} whose path is
 * `backend.options.<key>`.
 */
export function jsonBackendFactory(options: Record<string, unknown>): JsonBackend {
  const checked = checkOptions(options, "backend.options", OPTION_KEYS);
  return jsonBackend(checked);
}

/**
 * JSON Schema of {@link jsonBackendFactory}'s options, in the subset a
 * config's `backend.options` is checked with.
 */
export const jsonBackendOptionsSchema: Readonly<Record<string, unknown>> = {
  type: "object",
  additionalProperties: false,
  properties: {
    output: { type: "string", description: "File the CLI writes the document to." },
    pretty: { type: "boolean", description: "Indent with two spaces (default) or write one line." },
    asm: { type: "boolean", description: "Give every instruction its asm text (default true)." },
    annotate: {
      type: "boolean",
      description: "Show resolved references in asm text (default true).",
    },
  },
};
jsonBackendFactory.optionsSchema = jsonBackendOptionsSchema;

function checkOptions(
  options: Record<string, unknown>,
  path: string,
  allowed: readonly string[],
): JsonBackendOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ConfigError(
      "CONFIG_TYPE",
      path,
      `expected an object of options, got ${describe(options)}`,
    );
  }
  const out: JsonBackendOptions = {};
  for (const key of Object.keys(options)) {
    const value = options[key];
    const at = `${path}.${key}`;
    if (!allowed.includes(key)) {
      throw new ConfigError("CONFIG_UNKNOWN_KEY", at, `unknown option${suggestion(key, allowed)}`);
    }
    if (value === undefined) continue;
    if (key === "output") {
      if (typeof value !== "string") {
        throw new ConfigError(
          "CONFIG_TYPE",
          at,
          `expected a file path (a string), got ${describe(value)}`,
        );
      }
      out.output = value;
    } else {
      if (typeof value !== "boolean") {
        throw new ConfigError("CONFIG_TYPE", at, `expected a boolean, got ${describe(value)}`);
      }
      out[key as (typeof BOOLEAN_KEYS)[number]] = value;
    }
  }
  return out;
}
