/**
 * Objects linked by `bpftool gen object` (fixtures/link/*.linked.o): two
 * static functions of one name in `.text`, and the losing copies of weak
 * functions left in `.text` without a symbol. The link stage resolves each
 * call to its own static function by relocation offset and drops code no
 * symbol covers, as libbpf does, so the result equals tsbpf's own static
 * link of the same objects and loads into the kernel like libbpf loads it.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import process from "node:process";
import { defaultPipeline, loadCollectionSpec, Pipeline } from "../mod.ts";
import { btfStage } from "../stages/btf.ts";
import { classifyStage } from "../stages/classify.ts";
import { readStage } from "../stages/read.ts";
import type { CollectionSpec, ProgramSpec } from "../collection/spec.ts";
import type { Instruction } from "../isa/instruction.ts";
import { loadCollection } from "../backends/kernel/mod.ts";
import { bpftoolSkipReason, loadAll, removePins } from "../tools/bpftool.ts";
import { LinkError } from "../errors/mod.ts";
import { fixturePath, readFixture } from "./_util.ts";
import { kernelSkipReason } from "./_kernel_util.ts";

function obj(name: string) {
  return { name: `${name}.o`, bytes: readFixture(`link/${name}.o`) };
}

/** An instruction without its names: statics are renamed by tsbpf's linker, not by bpftool's. */
function insnRow(i: Instruction): string {
  const ref = i.reference?.replace(/__\d+$/, "") ?? "";
  return [i.opcode, i.dst, i.src, i.offset, i.imm, i.immHi ?? 0, ref].join("/");
}

/** The instructions of `fn` inside a flattened program. */
function functionBody(prog: ProgramSpec, fn: string): Instruction[] {
  const start = prog.instructions.findIndex((i) => i.symbol === fn);
  assert.ok(start >= 0, `${prog.name} contains ${fn}`);
  const end = prog.instructions.findIndex((i, k) => k > start && i.symbol !== undefined);
  return prog.instructions.slice(start, end < 0 ? undefined : end);
}

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

test("link bpftool: weak_ab.linked.o keeps both static helpers, each reached by its own object", async () => {
  const ctx = await defaultPipeline().runContext(readFixture("link/weak_ab.linked.o"));
  const weak = ctx.programs.get("weak_prog")!;
  const weakB = ctx.programs.get("weak_b_prog")!;
  // weak_a's helper adds 1 (0x07), weak_b's shifts left (0x67).
  assert.ok(functionBody(weak, "helper").some((i) => i.opcode === 0x07 && i.imm === 1));
  assert.ok(functionBody(weakB, "helper").some((i) => i.opcode === 0x67 && i.imm === 1));
  // Strong pick (returns 2) and the first weak first_weak (returns 10) won.
  assert.equal(functionBody(weak, "pick")[0].imm, 2);
  assert.equal(functionBody(weakB, "first_weak")[0].imm, 10);
  const dropped = ctx.diagnostics.filter((d) => d.stage === "link");
  assert.equal(dropped.length, 1);
  assert.equal(dropped[0].level, "info");
  assert.match(
    dropped[0].message,
    /section \.text: dropped 4 instructions at offsets 0x0-0x8, 0x48-0x50/,
  );
});

test("link bpftool: bpftool's linked objects equal tsbpf's static link of the same objects", async () => {
  const pairs: [string, string[]][] = [
    ["weak_ab", ["weak_a", "weak_b"]],
    ["link_ab", ["link_a", "link_b"]],
    ["extern_own_b", ["extern_own", "link_b"]],
  ];
  for (const [linked, parts] of pairs) {
    const ref = await loadCollectionSpec(readFixture(`link/${linked}.linked.o`));
    const ours = await loadCollectionSpec(parts.map(obj));
    assert.deepEqual([...ref.programs.keys()].sort(), [...ours.programs.keys()].sort(), linked);
    for (const [name, prog] of ref.programs) {
      const mine = ours.programs.get(name)!;
      assert.deepEqual(
        prog.instructions.map(insnRow),
        mine.instructions.map(insnRow),
        `${linked}: ${name}`,
      );
      assert.deepEqual(prog.functions(), mine.functions().map((f) => f.replace(/__\d+$/, "")));
    }
  }
});

test("link bpftool: an object with its own maps and extern ones passes the btf stage", async () => {
  // Alone, its extern map can't be created (libbpf refuses it too), but the
  // btf stage skips the extern VARs instead of failing on their missing symbols.
  const upToBtf = new Pipeline([readStage(), classifyStage(), btfStage()]);
  const ctx = await upToBtf.runContext(readFixture("link/extern_own.o"));
  assert.ok(ctx.btf !== undefined);
  const linked = await loadCollectionSpec([obj("extern_own"), obj("link_b")]);
  assert.deepEqual([...linked.maps.keys()].sort(), [".bss", ".data", "b_values", "own_values"]);
  assert.deepEqual([...linked.variables.keys()].sort(), ["b_counter", "hits", "own_counter"]);
  const prog = linked.programs.get("extern_own_prog")!;
  assert.deepEqual(prog.references().filter((r) => !r.startsWith("bpf_")), [
    ".data",
    "b_values",
    "own_values",
  ]);
});

test("link bpftool: two entry programs of one name are still refused", async () => {
  await assert.rejects(
    loadCollectionSpec(readFixture("bad_links/duplicate_program.bpfel.o")),
    (err: unknown) => err instanceof LinkError && err.code === "LINK_DUPLICATE_PROGRAM",
  );
});

test("link bpftool: the linked objects load into the kernel, as libbpf loads them", {
  skip: kernelSkipReason() ?? bpftoolSkipReason(),
}, async () => {
  for (const linked of ["weak_ab", "link_ab", "extern_own_b"]) {
    const path = fixturePath(`link/${linked}.linked.o`);
    const dir = `/sys/fs/bpf/tsbpf_link_bpftool_${process.pid}`;
    const libbpf = loadAll(path, dir);
    removePins(dir);
    // libbpf 1.1 can't open extern_own_b ("map relo failed to find map for
    // section '.maps', off 32"): there tsbpf must load every program alone.
    if (linked !== "extern_own_b") {
      assert.equal(libbpf.error, undefined, `${linked}: libbpf: ${libbpf.error}`);
    }
    const fds = openFds();
    const spec: CollectionSpec = await loadCollectionSpec(readFixture(`link/${linked}.linked.o`));
    const coll = await loadCollection(spec);
    try {
      const want = libbpf.error === undefined
        ? libbpf.programs.map((p) => p.name)
        : [...spec.programs.keys()];
      assert.deepEqual([...coll.programs.keys()].sort(), want.sort(), linked);
    } finally {
      coll.close();
    }
    // No more fds than before (Bun may close bpftool's pipes meanwhile).
    assert.ok(openFds() <= fds, `${linked}: ${openFds()} fds open, ${fds} before`);
  }
});
