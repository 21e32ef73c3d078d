/**
 * The JSON document carries what the extern plugins and the CO-RE stage
 * put on a spec: `Instruction.btfModule` (resolved ksyms and kfuncs) and
 * `ProgramSpec.coreRelocations`. Exporting and reimporting the libbpf-tools
 * style objects gives an equal spec, and a reimported kfunc / ksym program
 * still loads (it is not refused as an unresolved extern).
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { loadCollectionSpec } from "../mod.ts";
import type { CollectionSpec } from "../collection/spec.ts";
import { exportSpec, importSpec, parseSpec, stringifySpec } from "../backends/json/mod.ts";
import { loadCollection } from "../backends/kernel/mod.ts";
import { assertJsonError } from "./_json_util.ts";
import { kernelSkipReason } from "./_kernel_util.ts";

const TOOLS = new URL("../fixtures/tools/", import.meta.url).pathname;
const EXTERNS = new URL("../fixtures/externs/", import.meta.url).pathname;
const NO_VMLINUX = existsSync("/sys/kernel/btf/vmlinux")
  ? undefined
  : "no /sys/kernel/btf/vmlinux: nothing resolves";

function objects(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith(".o")).sort().map((f) => dir + f);
  } catch {
    return [];
  }
}

async function specOf(path: string): Promise<CollectionSpec> {
  return await loadCollectionSpec(new Uint8Array(readFileSync(path)));
}

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

test("json resolved: tools and externs objects round-trip, btfModule and CO-RE results included", {
  skip: NO_VMLINUX,
}, async () => {
  const files = [...objects(TOOLS), ...objects(EXTERNS)];
  assert.ok(files.length > 0, "no fixtures built");
  let modules = 0;
  let results = 0;
  for (const file of files) {
    const spec = await specOf(file);
    const back = parseSpec(stringifySpec(spec));
    assert.ok(back.equals(spec), `${file}: reimported spec differs`);
    for (const prog of spec.programs.values()) {
      modules += prog.instructions.filter((ins) => ins.btfModule !== undefined).length;
      results += prog.coreRelocations?.length ?? 0;
    }
  }
  assert.ok(modules > 0, "no fixture has a resolved ksym or kfunc");
  assert.ok(results > 0, "no fixture has CO-RE results");
});

test("json resolved: the document writes btfModule and bigint values as decimal strings", {
  skip: NO_VMLINUX,
}, async () => {
  const doc = exportSpec(await specOf(TOOLS + "kfunc.bpf.o"));
  const kfuncs = Object.values(doc.programs).flatMap((p) =>
    p.instructions.filter((ins) => ins.btfModule !== undefined)
  );
  assert.ok(kfuncs.length > 0);
  for (const ins of kfuncs) assert.equal(ins.btfModule, "vmlinux");
  const core = exportSpec(await specOf(TOOLS + "core_guard.bpf.o"));
  const relocs = Object.values(core.programs).flatMap((p) => p.coreRelocations ?? []);
  assert.ok(relocs.length > 0);
  for (const r of relocs) {
    assert.match(r.origValue, /^(0|[1-9][0-9]*)$/);
    assert.match(r.newValue, /^(0|[1-9][0-9]*)$/);
  }
});

test("json resolved: a reimported kfunc / ksym object loads into the kernel", {
  skip: NO_VMLINUX ?? kernelSkipReason(),
}, async () => {
  const fds = openFds();
  for (const name of ["kfunc.bpf.o", "ksyms.bpf.o"]) {
    const spec = parseSpec(stringifySpec(await specOf(TOOLS + name)));
    const coll = await loadCollection(spec);
    try {
      assert.ok(coll.programs.size > 0, `${name}: no programs loaded`);
    } finally {
      coll.close();
    }
  }
  assert.equal(openFds(), fds);
});

test("json resolved: without btfModule a kfunc call is refused as unresolved", {
  skip: NO_VMLINUX ?? kernelSkipReason(),
}, async () => {
  const doc = exportSpec(await specOf(TOOLS + "kfunc.bpf.o"));
  for (const p of Object.values(doc.programs)) {
    for (const ins of p.instructions) delete ins.btfModule;
  }
  const fds = openFds();
  await assert.rejects(loadCollection(importSpec(doc)), (err: unknown) => {
    assert.equal((err as { code?: string }).code, "KERNEL_UNRESOLVED_EXTERN");
    return true;
  });
  assert.equal(openFds(), fds);
});

/** A minimal document with one program and the given CO-RE result. */
function withResult(result: unknown, ins: Record<string, unknown> = {}): unknown {
  return {
    format: "tsbpf.collection/v1",
    byteOrder: "little",
    programs: {
      p: {
        name: "p",
        type: "xdp",
        instructions: [{ raw: "9500000000000000", ...ins }],
        coreRelocations: [result],
      },
    },
  };
}

const GOOD = {
  insn: 0,
  kind: 0,
  kindName: "byte_off",
  localTypeId: 1,
  localType: "struct s",
  accessor: "0:0",
  spec: "struct s.a (0:0 @ offset 0)",
  origValue: "0",
  newValue: "18446744073709551615",
  status: "patched",
};

test("json resolved: CO-RE results and btfModule read back with their values", () => {
  const spec = importSpec(withResult(
    { ...GOOD, target: { btf: "vmlinux", typeId: 4, spec: "x" }, reason: "r" },
    { btfModule: "nf_conntrack" },
  ));
  const prog = spec.programs.get("p")!;
  assert.equal(prog.instructions[0].btfModule, "nf_conntrack");
  assert.deepEqual(prog.coreRelocations, [{
    ...GOOD,
    origValue: 0n,
    newValue: (1n << 64n) - 1n,
    target: { btf: "vmlinux", typeId: 4, spec: "x" },
    reason: "r",
  }]);
});

test("json resolved errors: bad CO-RE results and btfModule name their path", () => {
  const at = "programs.p.coreRelocations[0]";
  assertJsonError(
    () => importSpec(withResult({ ...GOOD, status: "done" })),
    "JSON_UNKNOWN_NAME",
    `${at}.status`,
  );
  assertJsonError(
    () => importSpec(withResult({ ...GOOD, newValue: "18446744073709551616" })),
    "JSON_RANGE",
    `${at}.newValue`,
  );
  assertJsonError(
    () => importSpec(withResult({ ...GOOD, origValue: 1 })),
    "JSON_TYPE",
    `${at}.origValue`,
  );
  const { spec: _, ...noSpec } = GOOD;
  assertJsonError(() => importSpec(withResult(noSpec)), "JSON_MISSING_KEY", `${at}.spec`);
  assertJsonError(
    () => importSpec(withResult({ ...GOOD, targte: {} })),
    "JSON_UNKNOWN_KEY",
    `${at}.targte`,
  );
  assertJsonError(
    () => importSpec(withResult({ ...GOOD, target: { btf: "vmlinux", typeId: -1, spec: "" } })),
    "JSON_RANGE",
    `${at}.target.typeId`,
  );
  assertJsonError(
    () => importSpec(withResult(GOOD, { btfModule: 3 })),
    "JSON_TYPE",
    "programs.p.instructions[0].btfModule",
  );
  const doc = withResult(GOOD) as { programs: { p: { coreRelocations: unknown } } };
  doc.programs.p.coreRelocations = {};
  assertJsonError(() => importSpec(doc), "JSON_TYPE", "programs.p.coreRelocations");
});

test("json resolved errors: the exporter refuses CO-RE results the document can't carry", () => {
  const spec = importSpec(withResult(GOOD));
  const prog = spec.programs.get("p")!;
  prog.coreRelocations![0].newValue = -1n;
  assertJsonError(
    () => exportSpec(spec),
    "JSON_EXPORT_INVALID",
    "programs.p.coreRelocations[0].newValue",
  );
  prog.coreRelocations![0].newValue = 0n;
  (prog.coreRelocations![0] as { status: string }).status = "maybe";
  assertJsonError(
    () => exportSpec(spec),
    "JSON_EXPORT_INVALID",
    "programs.p.coreRelocations[0].status",
  );
  (prog.coreRelocations![0] as { status: string }).status = "poisoned";
  (prog.instructions[0] as { btfModule?: unknown }).btfModule = 1;
  assertJsonError(
    () => exportSpec(spec),
    "JSON_EXPORT_INVALID",
    "programs.p.instructions[0].btfModule",
  );
});
