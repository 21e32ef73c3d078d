/**
 * A stand-in for the JSON backend with the JSON backend's options schema,
 * registered as `fake-json` (the real one is `json`, from the core plugin).
 *
 * @module
 */

import type { Backend, BackendFactory } from "../../backends/types.ts";
import type { CollectionSpec } from "../../collection/spec.ts";
import { ConfigError } from "../../errors/mod.ts";
import type { Plugin } from "../../plugins/types.ts";

/** What the fake backend returns for a spec. */
export interface FakeResult {
  /** The options it was made with. */
  options: Record<string, unknown>;
  /** Names of the programs that would load (`autoload`), sorted. */
  autoload: string[];
  /** `maxEntries` by map name. */
  maxEntries: Record<string, number>;
}

/** `{ output?: string, pretty?: boolean }`, like the JSON backend's. */
export const OPTIONS_SCHEMA = {
  type: "object",
  additionalProperties: false,
  properties: {
    output: { description: "File to write the document to.", type: "string" },
    pretty: { description: "Indent the document.", type: "boolean" },
  },
};

/** Checks of its own besides the schema: an empty `output` (a ConfigError), `"!"` (a plain Error). */
function fakeJson(options: Record<string, unknown>): Backend<FakeResult> {
  if (options.output === "") {
    throw new ConfigError("CONFIG_VALUE", "backend.options.output", "must not be empty");
  }
  if (options.output === "!") throw new Error("cannot open !");
  return {
    name: "fake-json",
    load(spec: CollectionSpec) {
      const autoload = [...spec.programs.values()].filter((p) => p.autoload).map((p) => p.name);
      const maxEntries = Object.fromEntries([...spec.maps].map(([n, m]) => [n, m.maxEntries]));
      return Promise.resolve({ options, autoload: autoload.sort(), maxEntries });
    },
  };
}

/** The factory, carrying its options schema. */
export const fakeJsonBackend: BackendFactory = Object.assign(fakeJson, {
  optionsSchema: OPTIONS_SCHEMA,
});

/** Registers `fake-json`. */
const plugin: Plugin = { name: "fake-json", backends: { "fake-json": fakeJsonBackend } };
export default plugin;
