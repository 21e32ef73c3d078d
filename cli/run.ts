/**
 * `tsbpf run --config FILE`: the declarative path end to end: the config's
 * objects, through its plugins and pipeline, into its backend.
 *
 * @module
 */

import { relative, resolve } from "node:path";
import type { JsonBackend, JsonDocument } from "../backends/json/mod.ts";
import { createBackend, createLoader, loadConfigFile, runConfig } from "../config/mod.ts";
import { type Command, UsageError, writeOutput } from "./command.ts";

/** `tsbpf run`. */
export const runCommand: Command = {
  name: "run",
  summary: "load the objects of a config file into its backend",
  help: `Usage: tsbpf run --config FILE

Reads the declarative config FILE (config/schema.json), loads each of its
objects through its plugins and pipeline, applies its program, map and
constant settings, and hands each spec to its backend. With "link": true
the objects are linked statically into one collection first (one spec).

With the json backend (the default) the document goes to
backend.options.output (relative to the config file), or to standard
output; with several objects the
output is one JSON object keyed by object path (relative to the config
file), each value a document. Other backends print one line per object.

Options:
  -c, --config FILE  the config file (required)
  --debug            print the stack of an error
  -h, --help         this text
`,
  options: { config: { type: "string", short: "c" } },
  async run(args, io) {
    const file = args.values.config;
    if (typeof file !== "string") throw new UsageError("run needs --config FILE");
    if (args.positionals.length > 0) {
      throw new UsageError(`unexpected arguments: ${args.positionals.join(" ")}`);
    }
    const config = await loadConfigFile(file);
    if (config.objects.length === 0) {
      throw new UsageError(`${file}: objects: the config names no object files to run`);
    }
    const loader = await createLoader(config);
    const backend = createBackend(loader, config);
    const results = await runConfig(config, { loader });
    if (backend.name === "json") {
      const json = backend as JsonBackend;
      const doc = results.length === 1
        ? results[0].result as JsonDocument
        : Object.fromEntries(results.map((r) => [relative(config.baseDir, r.file), r.result]));
      const text = json.stringify(doc as JsonDocument);
      if (json.output === undefined) io.out(text);
      else await writeOutput(resolve(config.baseDir, json.output), text);
      return 0;
    }
    for (const { files, spec } of results) {
      const name = files.map((f) => relative(config.baseDir, f)).join(" + ");
      io.out(`${name}: ${backend.name}: ${spec.maps.size} maps, ${spec.programs.size} programs\n`);
    }
    return 0;
  },
};
