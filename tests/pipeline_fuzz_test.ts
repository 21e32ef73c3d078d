// The whole pipeline on mutated fixtures: it either loads or throws one of
// tsbpf's typed errors, never anything else (RangeError, TypeError, a hang).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { loadCollectionSpec, STAGE_FAILED, TsbpfError } from "../mod.ts";
import { applyMutations, mutationsArbitrary } from "../tools/_mutate.ts";
import { fixtureObjects, readFixture } from "./_util.ts";

const seeds = [
  ...fixtureObjects("bpfel").map((f) => ({ file: `bpfel/${f}`, le: true })),
  ...fixtureObjects("bpfeb").map((f) => ({ file: `bpfeb/${f}`, le: false })),
].map((s) => ({ ...s, bytes: readFixture(s.file) }));

const RUNS = 10_000;

test(`pipeline fuzz: ${RUNS} mutated fixtures give only typed errors`, async () => {
  assert.ok(seeds.length > 0, "no fixtures built");
  const seed = Date.now() ^ 0x5eed;
  await fc.assert(
    fc.asyncProperty(fc.nat(seeds.length - 1), mutationsArbitrary(), async (i, mutations) => {
      const input = applyMutations(seeds[i].bytes, mutations, seeds[i].le);
      try {
        await loadCollectionSpec(input);
      } catch (err) {
        if (!(err instanceof TsbpfError) || err.code === STAGE_FAILED) {
          throw new Error(
            `${seeds[i].file}: untyped error: ${
              ((err as Error)?.cause as Error)?.stack ?? (err as Error)?.stack ?? err
            }`,
          );
        }
      }
    }),
    { numRuns: RUNS, seed },
  );
});
