// Selective loading in the kernel backend: include/exclude globs, optional
// programs with a per-program report, prog array slots of failed programs
// left empty, and no fd leak over 200 failing loads. Against the real
// kernel, under Deno and Bun; skips with the reason where bpf(2) is missing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { loadCollectionSpec } from "../mod.ts";
import type { CollectionSpec } from "../collection/spec.ts";
import {
  KernelError,
  loadCollection,
  loadCollectionSync,
  VerifierError,
} from "../backends/kernel/mod.ts";
import { formatReportEntry, type ProgramLoadReport } from "../backends/selection.ts";
import { TsbpfError } from "../errors/mod.ts";
import { kernelSkipReason } from "./_kernel_util.ts";
import { readFixture } from "./_util.ts";

const skip = kernelSkipReason() ?? false;
const FIXTURE = "select/optional_progs.o";

async function spec(): Promise<CollectionSpec> {
  return await loadCollectionSpec(readFixture(FIXTURE));
}

function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/** The report without the error objects, which are checked apart. */
function plain(report: readonly ProgramLoadReport[]) {
  return report.map(({ error, ...rest }) => ({ ...rest, error: error?.code }));
}

const XDP_PASS = 2;
const XDP_DROP = 1;

test(
  "select kernel: a program the verifier rejects fails the whole strict load",
  { skip },
  async () => {
    const before = fdCount();
    await assert.rejects(loadCollection(await spec()), (err: unknown) => {
      assert.ok(err instanceof VerifierError);
      assert.match(err.message, /^load program xdp_bad: BPF_PROG_LOAD: EACCES/);
      return true;
    });
    assert.equal(fdCount(), before);
  },
);

test(
  "select kernel: the report is the load's, however the collection's maps or the spec change later",
  { skip },
  async () => {
    const s = await spec();
    using coll = await loadCollection(s, { optional: true });
    const names = [...s.programs.keys()];
    s.programs.clear();
    // The report is built when first read: taking a program out of the
    // collection before that must not turn it into "skipped".
    const prog = coll.programs.get("xdp_good_a")!;
    coll.programs.delete("xdp_good_a");
    prog.close();
    assert.equal(coll.report[0].status, "loaded");
    assert.equal(coll.report[2].status, "failed");
    assert.deepEqual(coll.report.map((r) => r.name), names);
    assert.equal(coll.report, coll.report, "built once");
  },
);

test(
  "select kernel: optional: true reports each program and loads the rest",
  { skip },
  async () => {
    using coll = await loadCollection(await spec(), { optional: true });
    assert.deepEqual(plain(coll.report), [
      { name: "xdp_good_a", status: "loaded", notes: [], error: undefined },
      { name: "xdp_good_b", status: "loaded", notes: [], error: undefined },
      {
        name: "xdp_bad",
        status: "failed",
        notes: ["left out of prog array jump (key 1)"],
        error: "KERNEL_VERIFIER",
      },
      {
        name: "xdp_optional",
        status: "skipped",
        reason: "not-autoloaded",
        notes: [],
        error: undefined,
      },
      // The kernel loads a kprobe whatever it names; only attaching would fail.
      { name: "kprobe_missing", status: "loaded", notes: [], error: undefined },
    ]);
    const bad = coll.report[2].error;
    assert.ok(bad instanceof VerifierError);
    assert.match(bad.log, /R9 !read_ok/);
    assert.deepEqual(coll.report.map(formatReportEntry), [
      "xdp_good_a: loaded",
      "xdp_good_b: loaded",
      "xdp_bad: failed: load program xdp_bad: BPF_PROG_LOAD: EACCES (permission denied): " +
      "R9 !read_ok; left out of prog array jump (key 1)",
      "xdp_optional: skipped (optional: not autoloaded)",
      "kprobe_missing: loaded",
    ]);
    assert.deepEqual([...coll.programs.keys()], ["xdp_good_a", "xdp_good_b", "kprobe_missing"]);
    assert.deepEqual(coll.diagnostics, []);
  },
);

test(
  "select kernel: good programs run after a sibling failed, sharing their map",
  { skip },
  async () => {
    using coll = await loadCollection(await spec(), { optional: ["xdp_bad"] });
    const hits = coll.maps.get("hits")!;
    assert.equal(coll.programs.get("xdp_good_a")!.run(new Uint8Array(64)).retval, XDP_PASS);
    assert.equal(coll.programs.get("xdp_good_b")!.run(new Uint8Array(64)).retval, XDP_DROP);
    assert.equal(coll.programs.get("xdp_good_b")!.run(new Uint8Array(64)).retval, XDP_DROP);
    assert.deepEqual([hits.get(0), hits.get(1), hits.get(2)], [1n, 2n, 0n]);
    // The prog array holds the good program (the kernel reports its ID), not the failed one.
    const jump = coll.maps.get("jump")!;
    const key = (k: number) => new Uint8Array(new Uint32Array([k]).buffer);
    const id = new DataView(jump.lookup(key(0))!.buffer).getUint32(0, true);
    assert.equal(id, coll.programs.get("xdp_good_b")!.info().id);
    assert.equal(jump.lookup(key(1)), undefined);
  },
);

test(
  "select kernel: a failing program not matched by optional still fails the load",
  { skip },
  async () => {
    const before = fdCount();
    await assert.rejects(
      loadCollection(await spec(), { optional: ["xdp_good_*"] }),
      (err: unknown) => err instanceof VerifierError && /xdp_bad/.test(err.message),
    );
    assert.equal(fdCount(), before);
  },
);

test(
  "select kernel: exclude globs skip programs and their prog array slots",
  { skip },
  async () => {
    using coll = await loadCollection(await spec(), { exclude: ["*_bad", "kprobe_*"] });
    assert.deepEqual(coll.report.map(formatReportEntry), [
      "xdp_good_a: loaded",
      "xdp_good_b: loaded",
      "xdp_bad: skipped (excluded); left out of prog array jump (key 1)",
      "xdp_optional: skipped (optional: not autoloaded)",
      "kprobe_missing: skipped (excluded)",
    ]);
    assert.equal(coll.programs.get("xdp_good_a")!.run(new Uint8Array(64)).retval, XDP_PASS);
  },
);

test(
  "select kernel: include globs load `?` programs too; a glob matching nothing warns",
  { skip },
  async () => {
    using coll = await loadCollection(await spec(), {
      include: ["xdp_optional", "xdp_good_?", "nothing_*"],
      exclude: ["xdp_good_b"],
    });
    assert.deepEqual(coll.report.map(formatReportEntry), [
      "xdp_good_a: loaded",
      "xdp_good_b: skipped (excluded)",
      "xdp_bad: skipped (not included)",
      "xdp_optional: loaded",
      "kprobe_missing: skipped (not included)",
    ]);
    assert.deepEqual(coll.diagnostics, ['options.include[2]: "nothing_*" matches no program']);
    // Only what the programs reference: jump names nothing they need.
    assert.deepEqual([...coll.maps.keys()], ["hits"]);
    assert.equal(coll.programs.get("xdp_optional")!.run(new Uint8Array(64)).retval, 3); // XDP_TX
  },
);

test("select kernel: options.programs reports the others as not selected", { skip }, async () => {
  using coll = await loadCollection(await spec(), { programs: ["xdp_good_a"] });
  assert.deepEqual(
    coll.report.map((r) => `${r.name}:${r.status}:${r.reason ?? ""}`),
    [
      "xdp_good_a:loaded:",
      "xdp_good_b:skipped:not-selected",
      "xdp_bad:skipped:not-selected",
      "xdp_optional:skipped:not-selected",
      "kprobe_missing:skipped:not-selected",
    ],
  );
});

test(
  "select kernel: a map failure fails the load even with optional programs",
  { skip },
  async () => {
    const s = await spec();
    s.maps.get("hits")!.maxEntries = 0; // EINVAL from BPF_MAP_CREATE
    const before = fdCount();
    await assert.rejects(loadCollection(s, { optional: true }), (err: unknown) => {
      assert.ok(err instanceof TsbpfError);
      assert.match(err.message, /^create map hits: /);
      return true;
    });
    assert.equal(fdCount(), before);
  },
);

test(
  "select kernel: attachTo on a program that takes no BTF target is a warning",
  { skip },
  async () => {
    using coll = await loadCollection(await spec(), {
      optional: true,
      exclude: ["xdp_bad"],
      // Not a tracing program: the target is unused at load, which is a warning.
      attachTo: { kprobe_missing: "also_missing" },
    });
    assert.ok(coll.report.every((r) => r.status !== "failed"));
    assert.deepEqual(coll.diagnostics, [
      "options.attachTo.kprobe_missing: a kprobe program's target is not used at load",
    ]);
  },
);

test("select kernel: fd count unchanged after 200 failing optional loads", { skip }, async () => {
  const s = await spec();
  // Warm up: the kernel BTF, FFI and the probes open and cache what they need once.
  loadCollectionSync(s, { optional: true }).close();
  const before = fdCount();
  for (let i = 0; i < 200; i++) {
    const coll = loadCollectionSync(s, { optional: true });
    assert.equal(coll.report[2].status, "failed");
    if (i % 50 === 0) coll.programs.get("xdp_good_a")!.run(new Uint8Array(64));
    coll.close();
  }
  assert.equal(fdCount(), before);
  // And a strict load that fails closes what it made, 200 times over.
  for (let i = 0; i < 200; i++) {
    assert.throws(() => loadCollectionSync(s), KernelError);
  }
  assert.equal(fdCount(), before);
});
