/**
 * `tsbpf conformance [MEMORY_HEX] [--jit|--interpret]`: the plugin side of
 * external BPF conformance runners (bpf_conformance, as uBPF's plugin
 * speaks it). Reads the program as hex bytes from stdin, runs it in the VM
 * with r1 pointing at a writable copy of the memory, prints r0 in hex.
 *
 * @module
 */

import process from "node:process";
import { TsbpfError } from "../errors/mod.ts";
import { runBytecode } from "../backends/vm/run.ts";
import type { VmTier } from "../backends/vm/types.ts";
import { type Command, UsageError } from "./command.ts";

/** `tsbpf conformance`. */
export const conformanceCommand: Command = {
  name: "conformance",
  summary: "run bytecode from stdin in the VM, as a bpf_conformance plugin",
  help: `Usage: tsbpf conformance [MEMORY_HEX] [--jit|--interpret]

The plugin protocol of bpf_conformance: reads a program as hex bytes
(e.g. "b7 00 00 00 01 00 00 00 95 00 00 00 00 00 00 00") from stdin, runs
it in the VM and prints r0 in hex (no 0x prefix, as uBPF's plugin does).
MEMORY_HEX, when given, is the memory the program gets: hex bytes separated
by whitespace, or run together ("0011aabb"); r1 points at a writable copy,
r2 holds its length. Helper 5 (ktime_get_ns) is available.

On failure it prints one error line on stdout (where bpf_conformance looks
for the expected error) and on stderr, and exits 1.

To use it with bpf_conformance_runner, wrap it in an executable script:
  #!/bin/sh
  exec deno run -A /path/to/cli.ts conformance "$@"
and pass that script as --plugin_path (--plugin_options --jit for the
compiled tier).

Options:
  --interpret   run in the interpreter (the default)
  --jit         run in the compiled (WebAssembly) tier
  -h, --help    this text
`,
  options: {
    jit: { type: "boolean" },
    interpret: { type: "boolean" },
  },
  async run(args, io) {
    // bpf_conformance passes its (possibly empty) plugin options as one more argument.
    const positionals = args.positionals.filter((p) => p.trim() !== "");
    if (positionals.length > 1) {
      throw new UsageError(`unexpected arguments: ${positionals.slice(1).join(" ")}`);
    }
    if (args.values.jit === true && args.values.interpret === true) {
      throw new UsageError("--jit and --interpret exclude each other");
    }
    const tier: VmTier = args.values.jit === true ? "jit" : "interpret";
    try {
      const memory = positionals.length > 0 ? parseHex(positionals[0], "memory") : undefined;
      const program = parseHex(await readStdin(), "program");
      if (program.length === 0) throw new TsbpfError("VM_BAD_PROGRAM", "empty program on stdin");
      const { r0 } = runBytecode(program, { memory, tier });
      io.out(`${r0.toString(16)}\n`);
      return 0;
    } catch (err) {
      if (!(err instanceof TsbpfError)) throw err;
      const line = `${err.code}: ${err.message}`.replace(/\s*\n\s*/g, " ");
      io.out(`${line}\n`);
      io.err(`tsbpf: conformance: ${line}\n`);
      return 1;
    }
  },
};

/** Hex bytes separated by whitespace (each optionally `0x`-prefixed), or run together (`0011aabb`). */
export function parseHex(text: string, what: string): Uint8Array {
  const trimmed = text.trim();
  if (trimmed === "") return new Uint8Array(0);
  const bad = (token: string) =>
    new TsbpfError(
      "VM_BAD_RUN",
      `bad ${what} hex ${JSON.stringify(token.slice(0, 40))} (want bytes like "0a 1b" or "0a1b")`,
    );
  const tokens = trimmed.split(/\s+/);
  if (tokens.length === 1 && tokens[0].length > 2 && !/^0x/i.test(tokens[0])) {
    if (!/^([0-9a-f]{2})+$/i.test(tokens[0])) throw bad(tokens[0]);
    return new Uint8Array(tokens[0].match(/../g)!.map((b) => parseInt(b, 16)));
  }
  return new Uint8Array(tokens.map((token) => {
    if (!/^(0x)?[0-9a-f]{1,2}$/i.test(token)) throw bad(token);
    return parseInt(token.replace(/^0x/i, ""), 16);
  }));
}

async function readStdin(): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of process.stdin) {
    text += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}
