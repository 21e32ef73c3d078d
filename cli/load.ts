/**
 * `tsbpf load FILE [--pin DIR]`: load an object into the kernel, print the
 * maps and programs it made, pin them if asked, and close them.
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
import { TsbpfError } from "../errors/mod.ts";
import { table } from "./_format.ts";
import { type Command, type CommandIo, CONFIG_OPTION, loaderFor, oneFile } from "./command.ts";
import { readInput } from "./command.ts";

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

/** `tsbpf load`. */
export const loadCommand: Command = {
  name: "load",
  summary: "load an object into the kernel and show (or pin) what it made",
  help: `Usage: tsbpf load FILE [--pin DIR] [--json] [--log] [--config F]

Loads FILE into the kernel (needs root, or CAP_BPF and friends): creates its
maps, loads its programs, prints each map (type, key/value size, max
entries, flags, fd, id, pinned path) and each program (type, fd, id, tag,
JITed and translated size, instructions the verifier processed), then
closes them; only pinned maps and programs stay in the kernel.

Maps declared with pinning by name are pinned under DIR (or the config's
maps.<name>.pinPath), reusing a compatible map already pinned there, as the
loader does. With --pin every other map and every program is pinned too, as
DIR/NAME (DIR is created when missing; bpffs refuses dots in names, so
'.' becomes '_': .data pins as DIR/_data).

When the verifier rejects a program, the exit status is 1 and the last lines
of its log are printed; --log prints the whole log, and on success loads
with log level 1 and prints each program's log after the report.

Options:
  --pin DIR       pin every map and program under DIR (a bpffs directory)
  --json          the report as JSON
  --log           print the full verifier log (on rejection, or of every program)
  -c, --config F  plugins and pipeline settings from config file F
  --debug         print the stack of an error
  -h, --help      this text
`,
  options: {
    ...CONFIG_OPTION,
    pin: { type: "string" },
    json: { type: "boolean" },
    log: { type: "boolean" },
  },
  async run(args, io) {
    const file = oneFile(args, "load");
    const pin = typeof args.values.pin === "string" ? args.values.pin : undefined;
    const spec = await (await loaderFor(args)).loadSpec(await readInput(file));
    let coll: KernelCollection;
    try {
      coll = await loadCollection(spec, { pinPath: pin, logLevel: args.values.log ? 1 : 0 });
    } catch (err) {
      return kernelFailure(err, io, args.values.log === true);
    }
    try {
      for (const line of coll.diagnostics) io.err(`tsbpf: warning: ${line}\n`);
      if (pin !== undefined) pinAll(coll, pin);
      const r = report(coll);
      io.out(args.values.json ? `${JSON.stringify(r, null, 2)}\n` : text(file, r));
      return 0;
    } finally {
      coll.close();
    }
  },
};
