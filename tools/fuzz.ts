/**
 * Long fuzz runs of the ELF reader and the whole pipeline on mutated
 * fixtures. Prints the seed first so any failure replays:
 *
 *   deno task fuzz [--runs 1000000] [--seed N]
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import fc from "fast-check";
import { loadCollectionSpec, STAGE_FAILED, TsbpfError } from "../mod.ts";
import { applyMutations, mutationsArbitrary } from "./_mutate.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "200000" }, seed: { type: "string" } },
});
const runs = Number(values.runs);
const seed = values.seed === undefined ? (Date.now() & 0x7fffffff) : Number(values.seed);
const root = new URL("../fixtures/", import.meta.url);
const seeds: { file: string; bytes: Uint8Array; le: boolean }[] = [];
for (const dir of ["bpfel", "bpfeb"]) {
  for (const f of readdirSync(new URL(dir, root)).filter((f) => f.endsWith(".o")).sort()) {
    seeds.push({
      file: `${dir}/${f}`,
      bytes: new Uint8Array(readFileSync(new URL(`${dir}/${f}`, root))),
      le: dir === "bpfel",
    });
  }
}
console.log(
  `fuzz: ${runs} runs over ${seeds.length} fixtures, seed ${seed} (replay: deno task fuzz --runs ${runs} --seed ${seed})`,
);
const started = performance.now();
let loaded = 0;
let rejected = 0;
await fc.assert(
  fc.asyncProperty(fc.nat(seeds.length - 1), mutationsArbitrary(8), async (i, mutations) => {
    try {
      await loadCollectionSpec(applyMutations(seeds[i].bytes, mutations, seeds[i].le));
      loaded++;
    } catch (err) {
      if (!(err instanceof TsbpfError) || err.code === STAGE_FAILED) throw err;
      rejected++;
    }
  }),
  { numRuns: runs, seed },
);
const secs = (performance.now() - started) / 1000;
console.log(
  `fuzz: ok: ${loaded} loaded, ${rejected} rejected with typed errors, ${secs.toFixed(1)} s`,
);
