/**
 * Shared test helpers: fixture paths and loading, tool detection.
 *
 * @module
 */

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import type { Instruction } from "../isa/instruction.ts";

/** Absolute path of a file under `fixtures/`. */
export function fixturePath(rel: string): string {
  return fileURLToPath(new URL(`../fixtures/${rel}`, import.meta.url));
}

/** Bytes of a file under `fixtures/`. */
export function readFixture(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(rel)));
}

/** Object files of one byte order (`bpfel` or `bpfeb`), sorted; empty when none are built. */
export function fixtureObjects(dir: "bpfel" | "bpfeb"): string[] {
  const path = fixturePath(dir);
  if (!existsSync(path)) return [];
  return readdirSync(path).filter((f) => f.endsWith(".o")).sort();
}

/** Where Debian's linux-libc-dev puts the BPF uapi header. */
export const UAPI_BPF_H = "/usr/include/linux/bpf.h";

/**
 * `BPF_FUNC_*` IDs by helper name (without `bpf_`) from {@link UAPI_BPF_H},
 * or `undefined` when it is not installed. Newer headers number each
 * helper (`FN(name, id, ##ctx)`); older ones by position in the
 * `__BPF_FUNC_MAPPER` list (`FN(name)`).
 */
export function uapiHelperIds(): Map<string, number> | undefined {
  if (!existsSync(UAPI_BPF_H)) return undefined;
  const text = readFileSync(UAPI_BPF_H, "utf8");
  const ids = new Map<string, number>();
  for (const m of text.matchAll(/FN\((\w+), (\d+), ##ctx\)/g)) ids.set(m[1], Number(m[2]));
  if (ids.size === 0) {
    const start = text.indexOf("#define __BPF_FUNC_MAPPER(FN)");
    const block = text.slice(start, text.indexOf("\n\n", start));
    for (const m of block.matchAll(/FN\((\w+)\)/g)) ids.set(m[1], ids.size);
  }
  return ids;
}

/** Whether a command is on PATH (runs `command -v`). */
export function haveCommand(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

/** Expected pipeline results from `fixtures/manifest.json`, written from the C sources. */
export interface ManifestEntry {
  license: string;
  kernelVersion: number;
  maps: Record<
    string,
    { type: string; keySize: number; valueSize: number; maxEntries: number; flags: number }
  >;
  programs: Record<string, {
    sectionName: string;
    type: string;
    attachType: string | null;
    autoload: boolean;
    sleepable: boolean;
    references: string[];
    functions: string[];
  }>;
  prunedSections?: string[];
  error?: string;
  notes?: string;
}

/** The fixture manifest, by object file name. */
export function fixtureManifest(): Record<string, ManifestEntry> {
  return JSON.parse(readFileSync(fixturePath("manifest.json"), "utf8"));
}

/** An instruction from its fields; `immHi` only for ld_imm64. */
export function ins(
  opcode: number,
  dst: number,
  src: number,
  offset: number,
  imm: number,
  immHi?: number,
): Instruction {
  return immHi === undefined
    ? { opcode, dst, src, offset, imm }
    : { opcode, dst, src, offset, imm, immHi };
}
