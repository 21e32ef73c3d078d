// Selective loading in the VM backend: the same options and report as the
// kernel backend (include/exclude globs, optional programs, prog array
// slots of absent programs left empty). Needs no kernel.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadCollectionSpec } from "../mod.ts";
import type { CollectionSpec } from "../collection/spec.ts";
import { loadVmCollection, VmError } from "../backends/vm/mod.ts";
import { formatReportEntry, selectPrograms } from "../backends/selection.ts";
import { readFixture } from "./_util.ts";

async function spec(): Promise<CollectionSpec> {
  return await loadCollectionSpec(readFixture("select/optional_progs.o"));
}

/**
 * The spec with xdp_bad's map reference renamed to a map that doesn't
 * exist: the VM has no verifier, so this is how it refuses a program.
 */
async function brokenSpec(): Promise<CollectionSpec> {
  const s = await spec();
  const bad = s.programs.get("xdp_bad")!;
  const i = bad.instructions.findIndex((ins) => ins.reference === "hits");
  bad.instructions[i] = { ...bad.instructions[i], reference: "no_such_map" };
  return s;
}

const spec0 = await spec();
const XDP_PASS = 2;
const XDP_DROP = 1;

test("select vm: a whole load reports every program", async () => {
  using coll = loadVmCollection(await spec());
  assert.deepEqual(coll.report.map(formatReportEntry), [
    "xdp_good_a: loaded",
    "xdp_good_b: loaded",
    "xdp_bad: loaded", // no verifier in the VM
    "xdp_optional: skipped (optional: not autoloaded)",
    "kprobe_missing: loaded",
  ]);
  assert.deepEqual(coll.diagnostics, []);
});

test("select vm: a refused program fails a strict load", async () => {
  const broken = await brokenSpec();
  assert.throws(() => loadVmCollection(broken), (err: unknown) => {
    assert.ok(err instanceof VmError);
    assert.equal(err.code, "VM_NO_MAP");
    assert.match(err.message, /^load program xdp_bad: /);
    return true;
  });
});

test("select vm: optional programs fail alone; the rest run and share their map", async () => {
  using coll = loadVmCollection(await brokenSpec(), { optional: ["xdp_*"] });
  assert.deepEqual(
    coll.report.map((r) => ({ ...r, error: r.error?.code })),
    [
      { name: "xdp_good_a", status: "loaded", notes: [], error: undefined },
      { name: "xdp_good_b", status: "loaded", notes: [], error: undefined },
      {
        name: "xdp_bad",
        status: "failed",
        notes: ["left out of prog array jump (key 1)"],
        error: "VM_NO_MAP",
      },
      {
        name: "xdp_optional",
        status: "skipped",
        reason: "not-autoloaded",
        notes: [],
        error: undefined,
      },
      { name: "kprobe_missing", status: "loaded", notes: [], error: undefined },
    ],
  );
  assert.equal(coll.programs.get("xdp_good_a")!.run(new Uint8Array(64)).retval, XDP_PASS);
  assert.equal(coll.programs.get("xdp_good_b")!.run(new Uint8Array(64)).retval, XDP_DROP);
  const hits = coll.maps.get("hits")!;
  assert.deepEqual([hits.get(0), hits.get(1), hits.get(2)], [1n, 1n, 0n]);
  const jump = coll.maps.get("jump")!;
  const key = (k: number) => new Uint8Array(new Uint32Array([k]).buffer);
  assert.notEqual(jump.lookup(key(0)), undefined);
  assert.equal(jump.lookup(key(1)), undefined);
});

test("select vm: include and exclude globs, as in the kernel backend", async () => {
  using coll = loadVmCollection(await spec(), {
    include: ["xdp_*"],
    exclude: ["xdp_good_b", "zz*"],
  });
  assert.deepEqual(coll.report.map(formatReportEntry), [
    "xdp_good_a: loaded",
    "xdp_good_b: skipped (excluded)",
    "xdp_bad: loaded",
    "xdp_optional: loaded",
    "kprobe_missing: skipped (not included)",
  ]);
  assert.deepEqual(coll.diagnostics, ['options.exclude[1]: "zz*" matches no program']);
  assert.equal(coll.programs.get("xdp_optional")!.run(new Uint8Array(64)).retval, 3); // XDP_TX
});

test("select vm: an excluded program leaves its prog array slot empty", async () => {
  using coll = loadVmCollection(await spec(), { exclude: ["xdp_good_b"] });
  assert.deepEqual(coll.report[1].notes, ["left out of prog array jump (key 0)"]);
  const key = (k: number) => new Uint8Array(new Uint32Array([k]).buffer);
  assert.equal(coll.maps.get("jump")!.lookup(key(0)), undefined);
  assert.notEqual(coll.maps.get("jump")!.lookup(key(1)), undefined);
});

test("select vm: a name in options.programs that the spec lacks is VM_NO_PROGRAM", () => {
  assert.throws(
    () => loadVmCollection(spec0, { programs: ["xdp_good_a", "nope"] }),
    (err: unknown) => err instanceof VmError && err.code === "VM_NO_PROGRAM",
  );
});

test("select: selectPrograms reads programs, include, exclude and optional", () => {
  const all = selectPrograms(spec0, { optional: ["xdp_bad", "none*"] });
  assert.deepEqual(all.roots, ["xdp_good_a", "xdp_good_b", "xdp_bad", "kprobe_missing"]);
  assert.deepEqual([...all.skipped], [["xdp_optional", "not-autoloaded"]]);
  assert.equal(all.isOptional("xdp_bad"), true);
  assert.equal(all.isOptional("xdp_good_a"), false);
  assert.deepEqual(all.diagnostics, ['options.optional[1]: "none*" matches no program']);
  const named = selectPrograms(spec0, { programs: ["xdp_optional", "ghost"], exclude: ["x*l"] });
  assert.deepEqual(named.roots, []);
  assert.deepEqual(named.unknown, ["ghost"]);
  assert.equal(named.skipped.get("xdp_optional"), "excluded");
  assert.equal(named.skipped.get("xdp_good_a"), "not-selected");
  const classes = selectPrograms(spec0, { include: ["xdp_good_[!a]", "?probe_*"] });
  assert.deepEqual(classes.roots, ["xdp_good_b", "kprobe_missing"]);
  assert.equal(selectPrograms(spec0, { optional: true }).isOptional("anything"), true);
});
