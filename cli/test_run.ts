/**
 * `tsbpf run FILE --program NAME --data HEX|@file`: one program of an
 * object, loaded into the kernel and run with `BPF_PROG_TEST_RUN`.
 *
 * The `run` word has two forms: {@link withTestRun} joins this one to
 * `tsbpf run --config FILE` (cli/run.ts), choosing by whether a FILE is
 * given.
 *
 * @module
 */

import { loadCollection } from "../backends/kernel/mod.ts";
import { loadVmCollection } from "../backends/vm/collection.ts";
import { ProgramType, programTypeName } from "../collection/types.ts";
import { TsbpfError } from "../errors/mod.ts";
import { type Command, CONFIG_OPTION, loaderFor, readInput, UsageError } from "./command.ts";
import { kernelFailure } from "./load.ts";

/** The options of the test-run form. */
const TEST_RUN_OPTIONS = {
  ...CONFIG_OPTION,
  program: { type: "string", short: "p" },
  data: { type: "string", short: "d" },
  ctx: { type: "string" },
  repeat: { type: "string", short: "r" },
  json: { type: "boolean" },
  log: { type: "boolean" },
  vm: { type: "boolean" },
  jit: { type: "boolean" },
} as const;

const TEST_RUN_HELP = `Usage: tsbpf run FILE --program NAME --data HEX|@PATH [--repeat N]
                 [--ctx HEX|@PATH] [--vm [--jit]] [--json] [--log] [--config F]

Loads program NAME of object FILE (and the maps it uses) into the kernel and
runs it with BPF_PROG_TEST_RUN (needs root, or CAP_BPF and friends); with
--vm, into the userspace VM instead (no privileges; any program type, which
for types the kernel can't test-run means the context is --ctx's bytes).
Prints the return value, the packet the program left (hex) and the time of
one run in nanoseconds (the kernel's mean over --repeat runs). Which program
types can run, and what the data means, is the kernel's choice: a packet for
xdp, tc and socket filters, the context for raw tracepoints.

HEX is hex digits (spaces, ':' and a leading 0x allowed); @PATH takes the
raw bytes of the file at PATH.

Options:
  -p, --program NAME  the program to run (required)
  -d, --data HEX      the input packet (data_in) (required unless --ctx is given)
  --ctx HEX           the context in (ctx_in), e.g. a struct __sk_buff
  --vm                run in the VM rather than the kernel
  --jit               with --vm: the compiled tier (default: the interpreter)
  -r, --repeat N      run N times (default 1); the duration is the mean
  --json              the result as JSON
  --log               print the full verifier log when the program is rejected
  -c, --config F      plugins and pipeline settings from config file F
  --debug             print the stack of an error
  -h, --help          this text
`;

/**
 * Bytes of a `--data`-style option: hex digits, or `@PATH` for a file's raw
 * bytes. A usage error names the option when the value is not hex.
 */
export async function bytesOption(option: string, value: string): Promise<Uint8Array> {
  if (value.startsWith("@")) return await readInput(value.slice(1));
  return parseHex(option, value);
}

/** Hex digits (with optional spaces, colons and a leading `0x`) as bytes. */
export function parseHex(option: string, text: string): Uint8Array {
  const digits = text.trim().replace(/^0x/i, "").replace(/[\s:]/g, "");
  if (digits === "") throw new UsageError(`--${option}: empty hex (give HEX or @PATH)`);
  if (!/^[0-9a-f]*$/i.test(digits)) {
    throw new UsageError(`--${option}: not hex: ${JSON.stringify(text.slice(0, 40))}`);
  }
  if (digits.length % 2 !== 0) {
    throw new UsageError(`--${option}: odd number of hex digits (${digits.length})`);
  }
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Bytes as lowercase hex, `sep` between bytes. */
export function toHex(bytes: Uint8Array, sep = ""): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(sep);
}

/** Hex in lines of 16 bytes, each with its offset, like `xxd` without the text column. */
function hexLines(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    lines.push(
      `  ${off.toString(16).padStart(4, "0")}: ${toHex(bytes.subarray(off, off + 16), " ")}`,
    );
  }
  return lines.join("\n");
}

const XDP_ACTIONS = ["XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"];

function verdict(type: number, retval: number): string {
  if (type === ProgramType.XDP && XDP_ACTIONS[retval] !== undefined) {
    return ` (${XDP_ACTIONS[retval]})`;
  }
  return "";
}

function repeatOption(value: string | boolean | string[] | undefined): number {
  if (value === undefined) return 1;
  const n = Number(value);
  if (typeof value !== "string" || !/^\d+$/.test(value) || n < 1 || n > 0xffffffff) {
    throw new UsageError(`--repeat: want a whole number from 1 to 4294967295, got ${value}`);
  }
  return n;
}

/** `tsbpf run FILE --program NAME`: a test run in the kernel. */
export const testRunCommand: Command = {
  name: "run",
  summary: "run one program of an object in the kernel (BPF_PROG_TEST_RUN)",
  help: TEST_RUN_HELP,
  options: TEST_RUN_OPTIONS,
  async run(args, io) {
    const [file, ...rest] = args.positionals;
    if (file === undefined) throw new UsageError("run needs a FILE");
    if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(" ")}`);
    const name = args.values.program;
    if (typeof name !== "string") throw new UsageError("run FILE needs --program NAME");
    const dataOption = args.values.data;
    const ctxOption = args.values.ctx;
    if (typeof dataOption !== "string" && typeof ctxOption !== "string") {
      throw new UsageError("run FILE needs --data HEX|@PATH (or --ctx for context-only programs)");
    }
    const data = typeof dataOption === "string"
      ? await bytesOption("data", dataOption)
      : new Uint8Array(0);
    const ctx = typeof ctxOption === "string" ? await bytesOption("ctx", ctxOption) : undefined;
    if (args.values.jit && !args.values.vm) throw new UsageError("--jit needs --vm");
    const repeat = repeatOption(args.values.repeat);

    const spec = await (await loaderFor(args)).loadSpec(await readInput(file));
    if (!spec.programs.has(name)) {
      const names = [...spec.programs.keys()].sort();
      throw new UsageError(
        `no program ${JSON.stringify(name)} in ${file}; programs: ${names.join(", ") || "(none)"}`,
      );
    }
    let coll;
    if (args.values.vm) {
      const tier = args.values.jit ? "jit" : "interpret";
      coll = loadVmCollection(spec, { programs: [name], tier });
    } else {
      try {
        coll = await loadCollection(spec, { programs: [name] });
      } catch (err) {
        return kernelFailure(err, io, args.values.log === true);
      }
    }
    try {
      const prog = coll.programs.get(name)!;
      let result;
      try {
        result = prog.run(data, { repeat, ctx });
      } catch (err) {
        if (err instanceof TsbpfError) {
          err.addContext(`test run of ${programTypeName(prog.type)} program ${name}`);
        }
        throw err;
      }
      if (args.values.json) {
        const doc: Record<string, unknown> = {
          program: name,
          retval: result.retval,
          duration: result.duration,
          repeat,
          data: toHex(result.data),
        };
        if (result.ctx !== undefined) doc.ctx = toHex(result.ctx);
        io.out(`${JSON.stringify(doc, null, 2)}\n`);
        return 0;
      }
      const lines = [
        `retval: ${result.retval}${verdict(prog.type, result.retval)}`,
        `duration: ${result.duration} ns per run (${repeat} ${repeat === 1 ? "run" : "runs"})`,
        `data (${result.data.length} bytes):`,
      ];
      if (result.data.length > 0) lines.push(hexLines(result.data));
      if (result.ctx !== undefined) {
        lines.push(`ctx (${result.ctx.length} bytes):`);
        if (result.ctx.length > 0) lines.push(hexLines(result.ctx));
      }
      io.out(`${lines.join("\n")}\n`);
      return 0;
    } finally {
      coll.close();
    }
  },
};

/**
 * The `run` command with both forms: `run --config FILE` (the declarative
 * path, `declarative`) when no FILE is given, and `run FILE --program NAME`
 * (a test run) when one is.
 */
export function withTestRun(declarative: Command): Command {
  return {
    name: declarative.name,
    summary: "run a config's objects (--config F), or test-run a program (FILE --program)",
    help: `${declarative.help}\n${TEST_RUN_HELP}`,
    options: { ...TEST_RUN_OPTIONS, ...declarative.options },
    run(args, io) {
      if (args.positionals.length > 0) return testRunCommand.run(args, io);
      for (const option of ["program", "data", "ctx", "repeat", "json", "log", "vm", "jit"]) {
        if (args.values[option] !== undefined) {
          throw new UsageError(`--${option} needs a FILE: run FILE --program NAME --data HEX`);
        }
      }
      return declarative.run(args, io);
    },
  };
}
