// tools/compare_cilium.ts: every fixture read by tsbpf and by cilium/ebpf
// 0.9.1 (built from Debian's sources) agrees, up to the known differences.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AttachType, CollectionSpec, MapSpec, MapType, ProgramSpec } from "../mod.ts";
import {
  type CiliumDump,
  type CiliumProgram,
  compareWithCilium,
  type ComparisonReport,
  defaultFiles,
  type Difference,
  explainDifference,
  KNOWN_DIFFERENCES,
  type RuleContext,
} from "../tools/compare_cilium.ts";

// Built once and shared: the Go build takes a few seconds.
let report: Promise<ComparisonReport> | undefined;
function fixtureReport(): Promise<ComparisonReport> {
  report ??= compareWithCilium(defaultFiles());
  return report;
}

test("compare_cilium: every known difference has a unique id and a reason", () => {
  const ids = KNOWN_DIFFERENCES.map((k) => k.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const k of KNOWN_DIFFERENCES) assert.ok(k.reason.length > 20, `${k.id}: reason`);
});

test("compare_cilium: fixtures agree with cilium/ebpf 0.9.1 up to explained differences", async () => {
  const files = defaultFiles();
  if (files.length === 0) {
    console.log("skipped: no fixtures built (fixtures/bpfel/*.o)");
    return;
  }
  const res = await fixtureReport();
  if (res.skipped !== undefined) {
    console.log(`skipped: ${res.skipped}`);
    return;
  }
  assert.equal(res.files.length, files.length);
  const unexplained = res.files.flatMap((f) =>
    f.differences.filter((d) => d.explainedBy === undefined)
      .map((d) => `${f.file}: ${d.kind} ${d.name}: ${d.field}: tsbpf ${d.ours}, cilium ${d.cilium}`)
  );
  assert.deepEqual(unexplained, [], "unexplained differences");
  assert.equal(res.unexplained, 0);
});

test("compare_cilium: files cilium refuses are reported with cilium's error", async () => {
  const res = await fixtureReport();
  if (res.skipped !== undefined || res.files.length === 0) {
    console.log(`skipped: ${res.skipped ?? "no fixtures built"}`);
    return;
  }
  for (const f of res.files.filter((f) => f.ciliumError !== undefined)) {
    assert.ok(f.ciliumError!.length > 0, f.file);
    if (f.oursError !== undefined) continue;
    const err = f.differences.find((d) => d.kind === "file" && d.field === "error");
    assert.equal(err?.cilium, f.ciliumError, `${f.file}: the error is the difference`);
  }
});

// The rules themselves, without Go: a rule explains a difference only when
// tsbpf has libbpf's value, so a regression in tsbpf still shows up.
function ciliumProgram(sectionName: string): CiliumProgram {
  return {
    sectionName,
    type: 0,
    attachType: 0,
    attachTo: "",
    license: "GPL",
    kernelVersion: 0,
    instructionCount: 2,
    rawInstructionSlots: 2,
    references: [],
    functions: ["prog"],
  };
}

function contextFor(section: string, ours: CollectionSpec): RuleContext {
  const cilium: CiliumDump = {
    file: "x.o",
    error: null,
    maps: {},
    programs: { prog: ciliumProgram(section) },
  };
  return { ours, cilium, bytes: new Uint8Array(), possibleCpus: 2 };
}

test("compare_cilium: a section rule explains only libbpf's value on tsbpf's side", () => {
  const ours = new CollectionSpec({
    programs: new Map([["prog", new ProgramSpec({ name: "prog", type: 6, instructions: [] })]]),
  });
  const ctx = contextFor("xdp", ours);
  const diff = (o: number): Difference => ({
    kind: "program",
    name: "prog",
    field: "attachType",
    ours: o,
    cilium: 0,
  });
  assert.equal(explainDifference(diff(AttachType.XDP), ctx), "section-xdp-attach-type");
  assert.equal(explainDifference(diff(AttachType.XDP_DEVMAP), ctx), undefined);
  assert.equal(explainDifference(diff(AttachType.XDP), contextFor("tc", ours)), undefined);
});

test("compare_cilium: the perf event array clamp is explained only down to the CPU count", () => {
  const events = new MapSpec({ name: "events", type: MapType.PERF_EVENT_ARRAY, maxEntries: 64 });
  const ours = new CollectionSpec({ maps: new Map([["events", events]]) });
  const ctx = contextFor("kprobe/x", ours);
  const diff = (c: number): Difference => ({
    kind: "map",
    name: "events",
    field: "maxEntries",
    ours: 64,
    cilium: c,
  });
  assert.equal(explainDifference(diff(2), ctx), "perf-event-array-clamp");
  assert.equal(explainDifference(diff(3), ctx), undefined);
  events.type = MapType.ARRAY;
  assert.equal(explainDifference(diff(2), ctx), undefined);
});
