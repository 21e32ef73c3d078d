/**
 * Options checks shared by the example plugins. Options may come from a
 * JSON config file rather than typed code, so each factory checks them at
 * run time and fails at creation, before any object is loaded.
 *
 * @module
 */

import { ConfigError } from "../../errors/mod.ts";

/** Code of every options error the example plugins throw. */
export const PLUGIN_INVALID_OPTIONS = "PLUGIN_INVALID_OPTIONS";

/** An options error: `plugin NAME: PATH: DETAIL`. */
export function invalidOptions(plugin: string, path: string, detail: string): ConfigError {
  return new ConfigError(PLUGIN_INVALID_OPTIONS, path, detail).addContext(`plugin ${plugin}`);
}

/**
 * `options` as a record, after checking that it is a plain object with no
 * keys other than `known` (a misspelt key in a config file should not be
 * silently ignored).
 */
export function checkOptions(
  plugin: string,
  options: unknown,
  known: readonly string[],
): Record<string, unknown> {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw invalidOptions(plugin, "options", "must be an object");
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw invalidOptions(
        plugin,
        key,
        `unknown option (known: ${known.join(", ")})`,
      );
    }
  }
  return options as Record<string, unknown>;
}
