/**
 * The `tsbpf` command line.
 *
 *   deno task tsbpf inspect fixtures/bpfel/xdp_counter.o
 *   bun cli.ts disasm fixtures/bpfel/subprograms.o --program sub_nested
 *
 * Exit status: 0 on success, 1 when loading fails, 2 on bad usage.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { TsbpfError } from "./errors/mod.ts";
import { disassemble } from "./isa/mod.ts";
import { defaultPipeline, specFromContext } from "./stages/mod.ts";
import { inspectReport } from "./cli/inspect.ts";

const USAGE = `tsbpf: load eBPF ELF objects

Usage:
  tsbpf inspect FILE                  sections, maps and programs of an object
  tsbpf disasm FILE [--program NAME]  the relocated, linked programs as BPF assembly

Options:
  --debug    print the stack of an error
  -h, --help this text
`;

class UsageError extends Error {}

function readObject(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      program: { type: "string" },
      debug: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, file, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(" ")}`);
  if (command !== "inspect" && command !== "disasm") {
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
  if (file === undefined) throw new UsageError(`${command} needs a FILE`);

  const ctx = await defaultPipeline().runContext(readObject(file));
  if (command === "inspect") {
    process.stdout.write(inspectReport(file, ctx));
    return 0;
  }
  const spec = specFromContext(ctx);
  const names = values.program !== undefined ? [values.program] : [...spec.programs.keys()].sort();
  for (const name of names) {
    const prog = spec.programs.get(name);
    if (prog === undefined) throw new UsageError(`no program ${JSON.stringify(name)} in ${file}`);
    process.stdout.write(`Program ${name} (section ${prog.sectionName}):`);
    process.stdout.write(disassemble(prog.instructions, { annotate: true }) + "\n");
  }
  return 0;
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const debug = argv.includes("--debug");
  try {
    process.exitCode = await main(argv);
  } catch (err) {
    const usage = err instanceof UsageError ||
      (err as { code?: string })?.code?.startsWith("ERR_PARSE_ARGS");
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`tsbpf: ${message}\n`);
    if (debug && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    if (usage) process.stderr.write("Run 'tsbpf --help' for usage.\n");
    process.exitCode = usage ? 2 : err instanceof TsbpfError ? 1 : 1;
  }
}
