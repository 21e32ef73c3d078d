/**
 * A small wrapper of the `bpftool` command, libbpf's own view of an object:
 * load every program of an object and pin it (`prog loadall`), show a
 * pinned program, dump what the verifier made of a program (`prog dump
 * xlated`), name maps by ID. Used by the tests that compare tsbpf's loads
 * with libbpf's. Runs under Deno and Bun (node:child_process).
 *
 * ```ts
 * import { bpftoolSkipReason, loadAll, xlated } from "./bpftool.ts";
 * if (bpftoolSkipReason() === undefined) {
 *   const res = loadAll("fixtures/tools/opensnoop.bpf.o", "/sys/fs/bpf/demo");
 *   if (res.error === undefined) console.log(xlated(res.programs[0].id));
 * }
 * ```
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { TsbpfError } from "../errors/mod.ts";

/** The `bpftool` to run: `$BPFTOOL`, else `bpftool` on PATH. */
export function bpftoolCommand(): string {
  return process.env.BPFTOOL ?? "bpftool";
}

/** Output of one bpftool run. */
interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[]): Run {
  const res = spawnSync(bpftoolCommand(), args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (res.error !== undefined) {
    return { status: null, stdout: "", stderr: res.error.message };
  }
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** bpftool's version line (`bpftool v7.1.0 using libbpf v1.1`), or `undefined` without one. */
export function bpftoolVersion(): string | undefined {
  const res = run(["version"]);
  if (res.status !== 0) return undefined;
  return res.stdout.split("\n").slice(0, 2).map((l) => l.trim()).join(" ");
}

/** Why bpftool can't be used here, or `undefined` when it can. */
export function bpftoolSkipReason(): string | undefined {
  return bpftoolVersion() === undefined
    ? `no working \`${bpftoolCommand()}\` (apt-get install bpftool, or set $BPFTOOL)`
    : undefined;
}

/** A program bpftool loaded and pinned. */
export interface PinnedProgram {
  /** The pin's file name: libbpf's program name (the C function). */
  name: string;
  /** Where it is pinned. */
  path: string;
  /** The kernel's program ID. */
  id: number;
  /** The IDs of the maps the program uses. */
  mapIds: number[];
}

/** The outcome of {@link loadAll}: the pinned programs, or why libbpf failed. */
export interface LoadAllResult {
  /** Every program pinned under the directory, by name. */
  programs: PinnedProgram[];
  /** libbpf's messages when the load failed (the last lines that say why). */
  error?: string;
}

/**
 * `bpftool prog loadall OBJ DIR`: libbpf opens and loads the object (its
 * own CO-RE and extern resolution) and pins every program in `dir`. The
 * caller removes `dir` with {@link removePins} (which closes the programs
 * and, with them, the maps).
 */
export function loadAll(object: string, dir: string): LoadAllResult {
  removePins(dir);
  const res = run(["prog", "loadall", object, dir]);
  if (res.status !== 0) {
    removePins(dir);
    const lines = res.stderr.split("\n").filter((l) =>
      /libbpf:|Error:|kernel symbol|failed/.test(l) && !/^Warning|--legacy/.test(l)
    );
    return { programs: [], error: lines.slice(-6).join("\n") || `exit ${res.status}` };
  }
  const programs = readdirSync(dir).sort().map((name) => {
    const path = join(dir, name);
    const info = showPinned(path);
    return { name, path, id: info.id, mapIds: info.mapIds };
  });
  return { programs };
}

/** Remove a pin directory made by {@link loadAll}; missing is fine. */
export function removePins(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * `bpftool -j prog show pinned PATH`: the program's ID and map IDs.
 *
 * @throws {TsbpfError} `BPFTOOL_FAILED` when bpftool fails (also in {@link xlated}, {@link mapName}).
 */
export function showPinned(path: string): { id: number; mapIds: number[] } {
  const info = json(["prog", "show", "pinned", path]) as { id: number; map_ids?: number[] };
  return { id: info.id, mapIds: info.map_ids ?? [] };
}

/** One translated instruction as bpftool prints it. */
export interface XlatedInstruction {
  /** bpftool's disassembly, e.g. `(18) r1 = map[id:42][0]+8`. */
  disasm: string;
}

/** `bpftool -j prog dump xlated id ID`: the verifier's rewrite of the program. */
export function xlated(id: number): XlatedInstruction[] {
  const insns = json(["prog", "dump", "xlated", "id", String(id)]) as { disasm: string }[];
  return insns.map((i) => ({ disasm: i.disasm }));
}

/** `bpftool -j map show id ID`: the map's kernel name. */
export function mapName(id: number): string {
  return (json(["map", "show", "id", String(id)]) as { name?: string }).name ?? "";
}

function json(args: string[]): unknown {
  const res = run(["-j", ...args]);
  if (res.status !== 0) {
    throw new TsbpfError(
      "BPFTOOL_FAILED",
      `bpftool ${args.join(" ")}: ${res.stderr.trim() || `exit ${res.status}`}`,
    );
  }
  return JSON.parse(res.stdout);
}
