/**
 * What the benchmarks share: naming the runtime and Debian package
 * versions, and running a peer program that prints one JSON line per file.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { basename } from "node:path";
import process from "node:process";

/** `deno 2.9.6 (V8 …)`, `bun 1.4.5` or `node …`: the runtime measuring. */
export function runtimeName(): string {
  const bun = process.versions.bun;
  if (bun !== undefined) return `bun ${bun}`;
  if (typeof Deno !== "undefined") return `deno ${Deno.version.deno} (V8 ${Deno.version.v8})`;
  return `node ${process.versions.node}`;
}

/** The installed version of a Debian package, or `undefined`. */
export function debianVersion(pkg: string): string | undefined {
  const res = spawnSync("dpkg-query", ["-W", "-f=${Version}", pkg], { encoding: "utf8" });
  return res.status === 0 && res.stdout !== "" ? res.stdout : undefined;
}

/** The peer's timing flags for `seconds`/`rounds`/`passes`. */
export function timingArgs(
  options: { seconds: number; rounds: number; passes?: number },
): string[] {
  const args = ["-t", String(options.seconds), "-r", String(options.rounds)];
  if (options.passes !== undefined) args.push("-n", String(options.passes));
  return args;
}

/** Run a built peer; the objects of its JSON output lines, or why it failed. */
export function runPeerJson<T>(binary: string, args: string[]): T[] | string {
  const res = spawnSync(binary, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (res.status !== 0) {
    return `${basename(binary)} failed: ${(res.stderr || String(res.error)).trim()}`;
  }
  return res.stdout.trim().split("\n").map((l) => JSON.parse(l) as T);
}
