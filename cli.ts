/**
 * The `tsbpf` command line.
 *
 *   deno task tsbpf inspect fixtures/bpfel/xdp_counter.o
 *   bun cli.ts disasm fixtures/bpfel/subprograms.o --program sub_nested
 *   sudo deno run -A cli.ts load fixtures/bpfel/xdp_counter.o --pin /sys/fs/bpf/demo
 *
 * Exit status: 0 on success, 1 when loading fails, 2 on bad usage. Errors
 * are one line on stderr; `--debug` adds the stack.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import type { Command, CommandIo } from "./cli/command.ts";
import { UsageError } from "./cli/command.ts";
import { btfCommand } from "./cli/btf.ts";
import { conformanceCommand } from "./cli/conformance.ts";
import { disasmCommand } from "./cli/disasm.ts";
import { exportCommand } from "./cli/export.ts";
import { inspectCommand } from "./cli/inspect.ts";
import { runCommand } from "./cli/run.ts";
import { loadCommand } from "./cli/load.ts";
import { mapCommand } from "./cli/map.ts";
import { withTestRun } from "./cli/test_run.ts";

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  inspectCommand,
  exportCommand,
  disasmCommand,
  withTestRun(runCommand),
  loadCommand,
  mapCommand,
  btfCommand,
  conformanceCommand,
];

const COMMON = {
  debug: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `tsbpf: load eBPF ELF objects

Usage: tsbpf COMMAND [ARGS] [--debug]

Commands:
${lines.join("\n")}

Run 'tsbpf COMMAND --help' for a command's arguments.
`;
}

/** Run the command line `argv` (without the program name); resolves to the exit status. */
export async function main(argv: string[], io: CommandIo): Promise<number> {
  const debug = argv.includes("--debug");
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      io.out(usage());
      return name === undefined ? 2 : 0;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { ...COMMON, ...command.options },
    });
    if (values.help) {
      io.out(command.help);
      return 0;
    }
    return await command.run({ values, positionals }, io);
  } catch (err) {
    const isUsage = err instanceof UsageError ||
      String((err as { code?: unknown })?.code ?? "").startsWith("ERR_PARSE_ARGS");
    io.err(`tsbpf: ${err instanceof Error ? err.message : String(err)}\n`);
    if (debug && err instanceof Error) io.err(`${err.stack}\n`);
    if (isUsage) io.err("Run 'tsbpf --help' for usage.\n");
    return isUsage ? 2 : 1;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2), {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  });
}
