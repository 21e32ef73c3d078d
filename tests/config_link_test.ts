/**
 * `"link": true` in a config: its `objects` form ONE collection, in
 * `runConfig`, `tsbpf run`, and `tsbpf inspect` / `tsbpf load` given
 * `--config` and no FILE.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../cli.ts";
import { loadConfigFile, resolveConfig, runConfig } from "../config/mod.ts";
import { ConfigError } from "../errors/mod.ts";
import { loadCollectionSpec } from "../mod.ts";
import { fixturePath, readFixture } from "./_util.ts";
import { kernelSkipReason } from "./_kernel_util.ts";

const A = fixturePath("link/link_a.o");
const B = fixturePath("link/link_b.o");

/** Write `config` to a temp file; the caller removes `dir`. */
function writeConfig(config: Record<string, unknown>): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-link-"));
  const path = join(dir, "tsbpf.json");
  writeFileSync(path, JSON.stringify(config));
  return { path, dir };
}

/** Run the CLI in-process; returns the exit status and what it wrote. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
  });
  return { code, out, err };
}

test("config link: defaults to false; a non-boolean is a typed error", async () => {
  assert.equal((await resolveConfig({ objects: [A] }, { baseDir: "/" })).link, false);
  assert.equal((await resolveConfig({ link: true }, { baseDir: "/" })).link, true);
  await assert.rejects(
    resolveConfig({ link: "yes" } as unknown as Record<string, unknown>, { baseDir: "/" }),
    (err: unknown) => err instanceof ConfigError && /link/.test(err.message),
  );
});

test("config link: runConfig gives one result, equal to linking the objects directly", async () => {
  const { path, dir } = writeConfig({ objects: [A, B], link: true });
  try {
    const config = await loadConfigFile(path);
    const results = await runConfig(config);
    assert.equal(results.length, 1);
    assert.deepEqual(results[0].files, [A, B]);
    assert.equal(results[0].file, `${A} + ${B}`);
    const direct = await loadCollectionSpec([
      { name: "link_a.o", bytes: readFixture("link/link_a.o") },
      { name: "link_b.o", bytes: readFixture("link/link_b.o") },
    ]);
    assert.deepEqual([...results[0].spec.programs.keys()].sort(), [
      "link_a_prog",
      "link_b_prog",
    ]);
    assert.deepEqual(
      [...results[0].spec.maps.keys()].sort(),
      [...direct.maps.keys()].sort(),
    );
    // Without link: one result per object.
    const unlinked = await runConfig({ ...config, link: false });
    assert.equal(unlinked.length, 2);
    assert.deepEqual(unlinked.map((r) => r.files), [[A], [B]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("config link: tsbpf inspect --config shows the linked collection", async () => {
  const { path, dir } = writeConfig({ objects: [A, B], link: true });
  try {
    const r = await cli("inspect", "--config", path, "--json");
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as { file: string; programs: { name: string }[] };
    assert.deepEqual(doc.programs.map((p) => p.name), ["link_a_prog", "link_b_prog"]);
    assert.match(doc.file, /link_a\.o \+ .*link_b\.o$/);
    const run = await cli("run", "--config", path);
    assert.equal(run.code, 0, run.err);
    assert.deepEqual(Object.keys(JSON.parse(run.out).programs).sort(), [
      "link_a_prog",
      "link_b_prog",
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("config link: several objects without link, or none, are usage errors", async () => {
  const two = writeConfig({ objects: [A, B] });
  const none = writeConfig({});
  try {
    const r = await cli("inspect", "--config", two.path);
    assert.equal(r.code, 2);
    assert.match(r.err, /2 objects; set "link": true/);
    const e = await cli("load", "--config", none.path);
    assert.equal(e.code, 2);
    assert.match(e.err, /load needs a FILE/);
    // One object needs no link; a FILE still wins over the config's objects.
    const one = await cli("inspect", "--config", two.path, A);
    assert.equal(one.code, 0, one.err);
    assert.match(one.out, /link_a_prog/);
    assert.doesNotMatch(one.out, /link_b_prog/);
  } finally {
    rmSync(two.dir, { recursive: true, force: true });
    rmSync(none.dir, { recursive: true, force: true });
  }
});

test("config link: tsbpf load --config loads the linked collection into the kernel", {
  skip: kernelSkipReason(),
}, async () => {
  const { path, dir } = writeConfig({ objects: [A, B], link: true });
  try {
    const r = await cli("load", "--config", path, "--json");
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as { programs: { name: string }[] };
    assert.deepEqual(doc.programs.map((p) => p.name).sort(), ["link_a_prog", "link_b_prog"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
