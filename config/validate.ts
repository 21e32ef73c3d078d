/**
 * Validation of a config against `config/schema.json`, the single source of
 * truth for its shape. Pure: no file I/O.
 *
 * @module
 */

import schema from "./schema.json" with { type: "json" };
import { type JsonSchema, validate } from "./_validate.ts";
import type { TsbpfConfig } from "./types.ts";

export { describe as describeSchema, firstIssue, joinPath, validate } from "./_validate.ts";
export type { JsonSchema, SchemaIssue, ValidateOptions } from "./_validate.ts";

/** The config's JSON Schema (draft 2020-12), as parsed from `config/schema.json`. */
export const CONFIG_SCHEMA: JsonSchema = schema;

/**
 * Check `value` against {@link CONFIG_SCHEMA}; throws a `ConfigError`
 * naming the first bad key (`backend.colour: unknown key (known: name,
 * options)`).
 *
 * @example
 * ```ts
 * import { validateConfig } from "./mod.ts";
 * validateConfig({ maps: { counts: { maxEntries: 4096 } } }); // fine
 * validateConfig({ maps: { counts: { maxEntries: 0 } } });
 * // ConfigError: maps.counts.maxEntries: expected an integer from 1 to 4294967295
 * ```
 */
export function validateConfig(value: unknown): asserts value is TsbpfConfig {
  validate(value, CONFIG_SCHEMA);
}
