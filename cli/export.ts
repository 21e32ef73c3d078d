/**
 * `tsbpf export FILE [-o OUT]`: the spec of an object as the JSON document
 * of `backends/json`.
 *
 * @module
 */

import { jsonBackend } from "../backends/json/mod.ts";
import { type Command, oneFile, readInput, writeOutput } from "./command.ts";
import { CONFIG_OPTION, loaderFor } from "./command.ts";

/** `tsbpf export`. */
export const exportCommand: Command = {
  name: "export",
  summary: "the spec of an object as a JSON document",
  help: `Usage: tsbpf export FILE [-o OUT] [--compact] [--no-asm] [--config F]

Loads FILE through the pipeline and writes its CollectionSpec as the
tsbpf.collection/v1 JSON document (backends/json/schema.json): maps and
programs sorted by name, bpftool's naming (type "hash", "xdp", …), every
instruction as raw hex plus its disassembly.

Options:
  -o, --output OUT  write to OUT instead of standard output
  --compact         one line instead of two-space indentation
  --no-asm          leave out the disassembly text of instructions
  -c, --config F    plugins and pipeline settings from config file F
  --debug           print the stack of an error
  -h, --help        this text
`,
  options: {
    ...CONFIG_OPTION,
    output: { type: "string", short: "o" },
    compact: { type: "boolean" },
    "no-asm": { type: "boolean" },
  },
  async run(args, io) {
    const file = oneFile(args, "export");
    const spec = await (await loaderFor(args)).loadSpec(await readInput(file));
    const backend = jsonBackend({ pretty: !args.values.compact, asm: !args.values["no-asm"] });
    const text = backend.stringify(await backend.load(spec));
    const output = args.values.output as string | undefined;
    if (output === undefined) io.out(text);
    else await writeOutput(output, text);
    return 0;
  },
};
