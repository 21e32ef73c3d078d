/**
 * tsbpf's loads against libbpf's, instruction by instruction: each
 * program of each tools object (fixtures/tools/*.o) is loaded once by
 * libbpf (`bpftool prog loadall`) and once by tsbpf, and bpftool dumps
 * what the verifier made of both (`bpftool -j prog dump xlated id N`).
 * Equal translated instructions mean tsbpf's CO-RE relocations, extern
 * values (kconfig, ksyms, kfuncs), map references and dead-code pruning
 * (from the same frozen `.rodata`) ended where libbpf's did.
 *
 * Normalisations, applied to both dumps before comparing (each is
 * something that legitimately differs between two loads):
 *
 * 1. `map[id:N]` → `map[NAME]`: map IDs are per load; the map's kernel
 *    name identifies it. This also covers map values (`map[id:N][0]+8`:
 *    the direct value of an array map, `.rodata`/`.kconfig`, plus offset).
 * 2. Internal map names lose their object prefix: libbpf names a data
 *    section map `<object name, 8 chars>.<section>` (`opensnoo.rodata`),
 *    tsbpf may name it `.rodata`; both become `.rodata`.
 * 3. `bpf_prog_<tag>_` in calls → `bpf_prog_TAG_`: a subprogram's
 *    kallsyms name carries its tag, which hashes the instructions with the
 *    map IDs of that load.
 *
 * Helper calls keep their `#imm` (a kernel address offset: equal across
 * loads on one kernel), kfunc calls their BTF ID, kernel symbol addresses
 * (typeless ksyms) their value. Objects libbpf can't load are listed and
 * skipped; so is the whole test without bpftool or bpf(2).
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { loadCollectionSpec } from "../mod.ts";
import { loadCollection } from "../backends/kernel/mod.ts";
import { kernelSkipReason } from "./_kernel_util.ts";
import { bpftoolSkipReason, loadAll, mapName, removePins, xlated } from "../tools/bpftool.ts";

const DIR = new URL("../fixtures/tools/", import.meta.url).pathname;
const SKIP = kernelSkipReason() ?? bpftoolSkipReason();

function objects(): string[] {
  try {
    return readdirSync(DIR).filter((f) => f.endsWith(".o")).sort();
  } catch {
    return [];
  }
}

/** A map's kernel name with a data section map's object prefix dropped (normalisation 2). */
function mapKey(id: number, cache: Map<number, string>): string {
  let name = cache.get(id);
  if (name === undefined) {
    name = mapName(id);
    const dot = name.indexOf(".");
    if (dot > 0) name = name.slice(dot);
    cache.set(id, name);
  }
  return name;
}

/** Program `id`'s translated instructions, normalised (see the module docs). */
function normalisedXlated(id: number, cache: Map<number, string>): string[] {
  return xlated(id).map(({ disasm }) =>
    disasm
      .replace(/map\[id:(\d+)\]/g, (_, n: string) => `map[${mapKey(Number(n), cache)}]`)
      .replace(/bpf_prog_[0-9a-f]{16}_/g, "bpf_prog_TAG_")
  );
}

/** The first difference of two dumps, with a little context, or `undefined`. */
function firstDifference(ours: string[], theirs: string[]): string | undefined {
  const n = Math.max(ours.length, theirs.length);
  for (let i = 0; i < n; i++) {
    if (ours[i] === theirs[i]) continue;
    const around = (xs: string[]) =>
      xs.slice(Math.max(0, i - 2), i + 3).map((x, j) => `    ${Math.max(0, i - 2) + j}: ${x}`)
        .join("\n");
    return `instruction ${i} of ${ours.length} (tsbpf) / ${theirs.length} (libbpf):\n` +
      `  tsbpf:\n${around(ours)}\n  libbpf:\n${around(theirs)}`;
  }
  return undefined;
}

test("bpftool xlated: there are tools objects to compare", () => {
  assert.ok(objects().length >= 12);
});

for (const name of objects()) {
  test(`bpftool xlated: ${name}: tsbpf's programs translate like libbpf's`, {
    skip: SKIP,
  }, async () => {
    const pins = `/sys/fs/bpf/tsbpf_xlated_${process.pid}`;
    const cache = new Map<number, string>();
    try {
      const libbpf = loadAll(join(DIR, name), pins);
      if (libbpf.error !== undefined) {
        // Nothing to compare against: fentry (EPERM), runqueues (kallsyms),
        // optional (bpftool 7.1 can't pin `?` programs it didn't load).
        console.log(`libbpf can't load ${name}: ${libbpf.error.split("\n").at(-1)}`);
        return;
      }
      const theirs = new Map(
        libbpf.programs.map((p) => [p.name, normalisedXlated(p.id, cache)]),
      );
      const spec = await loadCollectionSpec(new Uint8Array(readFileSync(join(DIR, name))));
      const coll = await loadCollection(spec, { programs: [...theirs.keys()], optional: true });
      const problems: string[] = [];
      try {
        for (const [prog, want] of theirs) {
          const kp = coll.programs.get(prog);
          if (kp === undefined) {
            const entry = coll.report.find((r) => r.name === prog);
            problems.push(`${prog}: tsbpf didn't load it: ${entry?.error?.message ?? "?"}`);
            continue;
          }
          const diff = firstDifference(normalisedXlated(kp.info().id, cache), want);
          if (diff !== undefined) problems.push(`${prog}: ${diff}`);
        }
      } finally {
        coll.close();
      }
      assert.deepEqual(problems, [], `${name}:\n${problems.join("\n")}`);
    } finally {
      removePins(pins);
    }
  });
}
