/**
 * `tsbpf load FILE [--pin DIR]`: load an object into the kernel, print the
 * maps and programs it made, pin them if asked, and close them. With
 * `--all` / `--optional GLOB` programs may fail without failing the load,
 * and a per-program report says what became of each.
 *
 * @module
 */

import { join } from "node:path";
import {
  type KernelCollection,
  loadCollection,
  makePinDir,
  SyscallError,
  VerifierError,
} from "../backends/kernel/mod.ts";
import { mapTypeName, programTypeName } from "../collection/types.ts";
import { formatReportEntry, type ProgramLoadReport } from "../backends/selection.ts";
import { TsbpfError } from "../errors/mod.ts";
import { table } from "./_format.ts";
import {
  type Command,
  type CommandArgs,
  type CommandIo,
  CONFIG_OPTION,
  configOrFileInput,
  loaderFor,
  UsageError,
} from "./command.ts";

/** How many lines of a verifier log a rejection prints without `--log`. */
const LOG_TAIL = 12;

/**
 * Report a failed kernel load on `io.err` and return exit status 1: the
 * error's one line, and for a verifier rejection the log's last lines (all
 * of it with `full`) and a hint to `--log`. Other errors are rethrown.
 */
export function kernelFailure(err: unknown, io: CommandIo, full: boolean): number {
  if (!(err instanceof VerifierError)) throw err;
  io.err(`tsbpf: ${err.message}\n`);
  const lines = err.log.trimEnd().split("\n");
  if (err.log.trim() === "") return 1;
  if (full) {
    io.err(`verifier log:\n${lines.join("\n")}\n`);
    if (err.truncated) io.err("(the log is truncated: it hit the kernel's size cap)\n");
    return 1;
  }
  const tail = lines.slice(-LOG_TAIL);
  const skipped = lines.length - tail.length;
  io.err(
    `verifier log${skipped > 0 ? ` (last ${tail.length} of ${lines.length} lines)` : ""}:\n` +
      `${tail.map((l) => `  ${l}`).join("\n")}\n`,
  );
  if (skipped > 0) io.err("Run with --log for the full verifier log.\n");
  return 1;
}

/** One created map as `load --json` reports it. */
interface MapReport {
  name: string;
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  fd: number;
  id: number;
  btf: boolean;
  pinned: string | null;
}

/** One loaded program as `load --json` reports it. */
interface ProgramReport {
  name: string;
  type: string;
  fd: number;
  id: number;
  tag: string;
  jitedSize: number;
  xlatedSize: number;
  verifiedInsns: number | null;
  pinned: string | null;
  /** The verifier log, with `--log`. */
  log?: string;
}

/** One program's outcome as `load --json` reports it (`report`). */
interface OutcomeReport {
  name: string;
  status: "loaded" | "skipped" | "failed";
  reason?: string;
  error?: { code: string; message: string };
  notes: string[];
}

function outcomes(report: readonly ProgramLoadReport[]): OutcomeReport[] {
  return report.map((r) => {
    const out: OutcomeReport = { name: r.name, status: r.status, notes: [...r.notes] };
    if (r.reason !== undefined) out.reason = r.reason;
    if (r.error !== undefined) out.error = { code: r.error.code, message: r.error.message };
    return out;
  });
}

function report(coll: KernelCollection): { maps: MapReport[]; programs: ProgramReport[] } {
  const maps = [...coll.maps].map(([name, map]): MapReport => {
    const info = map.info();
    return {
      name,
      type: mapTypeName(map.type),
      keySize: map.keySize,
      valueSize: map.valueSize,
      maxEntries: map.maxEntries,
      flags: info.mapFlags,
      fd: map.fd,
      id: info.id,
      btf: info.btfId !== 0,
      pinned: map.pinnedPath ?? null,
    };
  });
  const programs = [...coll.programs].map(([name, prog]): ProgramReport => {
    const info = prog.info();
    const entry: ProgramReport = {
      name,
      type: programTypeName(prog.type),
      fd: prog.fd,
      id: info.id,
      tag: info.tag,
      jitedSize: info.jitedProgLen,
      xlatedSize: info.xlatedProgLen,
      // verified_insns is 0 on kernels before 5.16, which do not report it.
      verifiedInsns: info.verifiedInsns || null,
      pinned: prog.pinnedPath ?? null,
    };
    if (prog.log !== undefined) entry.log = prog.log;
    return entry;
  });
  return { maps, programs };
}

function text(file: string, r: { maps: MapReport[]; programs: ProgramReport[] }): string {
  const out = [
    `${file}: loaded ${count(r.maps.length, "map")}, ${count(r.programs.length, "program")}`,
  ];
  if (r.maps.length > 0) {
    out.push("", `Maps (${r.maps.length}):`);
    const rows = [["name", "type", "key", "value", "max", "flags", "fd", "id", "pinned"]];
    for (const m of r.maps) {
      rows.push([
        m.name,
        m.type,
        String(m.keySize),
        String(m.valueSize),
        String(m.maxEntries),
        `0x${m.flags.toString(16)}`,
        String(m.fd),
        String(m.id),
        m.pinned ?? "-",
      ]);
    }
    out.push(indent(table(rows)));
  }
  if (r.programs.length > 0) {
    out.push("", `Programs (${r.programs.length}):`);
    const rows = [["name", "type", "fd", "id", "tag", "jited", "xlated", "insns", "pinned"]];
    for (const p of r.programs) {
      rows.push([
        p.name,
        p.type,
        String(p.fd),
        String(p.id),
        p.tag,
        String(p.jitedSize),
        String(p.xlatedSize),
        p.verifiedInsns === null ? "-" : String(p.verifiedInsns),
        p.pinned ?? "-",
      ]);
    }
    out.push(indent(table(rows)));
  }
  for (const p of r.programs) {
    if (p.log !== undefined) out.push("", `Verifier log of ${p.name}:`, p.log.trimEnd());
  }
  return `${out.join("\n")}\n`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function indent(block: string): string {
  return block.split("\n").map((l) => `  ${l}`).join("\n");
}

/**
 * The name an object gets under a pin directory: bpffs refuses names with a
 * dot (EPERM), so `.data` pins as `_data`, as libbpf does.
 */
export function pinName(name: string): string {
  return name.replaceAll(".", "_");
}

/** Pin every map not pinned yet and every program under `dir`; undo them all on failure. */
function pinAll(coll: KernelCollection, dir: string): void {
  makePinDir(dir);
  const made: { unpin(): boolean }[] = [];
  const pin = (kind: string, name: string, handle: { pin(path: string): void }) => {
    const path = join(dir, pinName(name));
    try {
      handle.pin(path);
    } catch (err) {
      if (err instanceof TsbpfError) err.addContext(`pin ${kind} ${name} at ${path}`);
      if (err instanceof SyscallError && err.errnoName === "EEXIST") {
        err.message += " (the path is taken: an earlier pin, or a map and a program of one name)";
      }
      throw err;
    }
  };
  try {
    for (const [name, map] of coll.maps) {
      if (map.pinnedPath !== undefined) continue;
      pin("map", name, map);
      made.push(map);
    }
    for (const [name, prog] of coll.programs) {
      pin("program", name, prog);
      made.push(prog);
    }
  } catch (err) {
    for (const handle of made) {
      try {
        handle.unpin();
      } catch { /* the first error is the one to report */ }
    }
    throw err;
  }
}

/** Every value of a `multiple: true` string option. */
function many(args: CommandArgs, name: string): string[] {
  const v = args.values[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [String(v)];
}

/** `--attach-to PROG=TARGET` values as a record; a value without `=` is a usage error. */
function attachTargets(values: readonly string[]): Record<string, string> | undefined {
  if (values.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq <= 0 || eq === v.length - 1) {
      throw new UsageError(`--attach-to ${v}: expected PROG=TARGET`);
    }
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/** `tsbpf load`. */
export const loadCommand: Command = {
  name: "load",
  summary: "load an object into the kernel and show (or pin) what it made",
  help: `Usage: tsbpf load [FILE] [--pin DIR] [--json] [--log] [--config F]
                  [--all | --optional GLOB] [--include GLOB] [--exclude GLOB]
                  [--attach-to PROG=TARGET]

Loads FILE into the kernel (needs root, or CAP_BPF and friends): creates its
maps, loads its programs, prints each map (type, key/value size, max
entries, flags, fd, id, pinned path) and each program (type, fd, id, tag,
JITed and translated size, instructions the verifier processed), then
closes them; only pinned maps and programs stay in the kernel. Without
FILE, loads the objects of --config F: one, or several linked into one
collection when the config says "link": true.

Maps declared with pinning by name are pinned under DIR (or the config's
maps.<name>.pinPath), reusing a compatible map already pinned there, as the
loader does. With --pin every other map and every program is pinned too, as
DIR/NAME (DIR is created when missing; bpffs refuses dots in names, so
'.' becomes '_': .data pins as DIR/_data).

When the verifier rejects a program, the exit status is 1 and the last lines
of its log are printed; --log prints the whole log, and on success loads
with log level 1 and prints each program's log after the report.

Program selection: --include GLOB loads only matching programs (even from
'?' sections), --exclude GLOB never loads matching ones; both repeat, and
use the config's globs (* ? [abc] [!abc]). With --all every program may
fail without failing the load (--optional GLOB: only matching ones): the
load goes on without it (and without its prog array slots), maps are still
all-or-nothing, and a report lists each program as loaded, skipped (and
why) or failed (with the first line of its error). The exit status is 0
when every required program loaded. --attach-to PROG=TARGET sets a tracing
program's attach target (fentry/fexit/tp_btf/lsm) over its section's.

Options:
  --pin DIR       pin every map and program under DIR (a bpffs directory)
  --json          the report as JSON
  --log           print the full verifier log (on rejection, or of every program)
  --all           every program is optional: report failures, load the rest
  --optional GLOB programs matching GLOB are optional (repeatable)
  --include GLOB  load only programs matching GLOB (repeatable)
  --exclude GLOB  do not load programs matching GLOB (repeatable)
  --attach-to PROG=TARGET
                  attach target of tracing program PROG (repeatable)
  -c, --config F  plugins and pipeline settings from config file F
  --debug         print the stack of an error
  -h, --help      this text
`,
  options: {
    ...CONFIG_OPTION,
    pin: { type: "string" },
    json: { type: "boolean" },
    log: { type: "boolean" },
    all: { type: "boolean" },
    optional: { type: "string", multiple: true },
    include: { type: "string", multiple: true },
    exclude: { type: "string", multiple: true },
    "attach-to": { type: "string", multiple: true },
  },
  async run(args, io) {
    const { label: file, input } = await configOrFileInput(args, "load");
    const pin = typeof args.values.pin === "string" ? args.values.pin : undefined;
    const optionalGlobs = many(args, "optional");
    const include = many(args, "include");
    const exclude = many(args, "exclude");
    const attachTo = attachTargets(many(args, "attach-to"));
    if (args.values.all === true && optionalGlobs.length > 0) {
      throw new UsageError("--all already makes every program optional: drop --optional");
    }
    const optional = args.values.all === true ? true : optionalGlobs;
    // The per-program report is printed when selection was asked for, or something was left out.
    const selecting = optional === true || optionalGlobs.length > 0 || include.length > 0 ||
      exclude.length > 0;
    const spec = await (await loaderFor(args)).loadSpec(input);
    let coll: KernelCollection;
    try {
      coll = await loadCollection(spec, {
        pinPath: pin,
        logLevel: args.values.log ? 1 : 0,
        include: include.length > 0 ? include : undefined,
        exclude,
        optional,
        attachTo,
      });
    } catch (err) {
      return kernelFailure(err, io, args.values.log === true);
    }
    try {
      for (const line of coll.diagnostics) io.err(`tsbpf: warning: ${line}\n`);
      if (pin !== undefined) pinAll(coll, pin);
      const r = report(coll);
      if (args.values.json) {
        io.out(`${JSON.stringify({ ...r, report: outcomes(coll.report) }, null, 2)}\n`);
        return 0;
      }
      let out = text(file, r);
      if (selecting || coll.report.some((p) => p.status !== "loaded")) {
        out += `\nProgram report (${coll.report.length}):\n`;
        out += coll.report.map((p) => `  ${formatReportEntry(p)}\n`).join("");
      }
      io.out(out);
      return 0;
    } finally {
      coll.close();
    }
  },
};
