import { test } from "node:test";
import assert from "node:assert/strict";
import { Btf } from "../btf/btf.ts";
import { marshalBtf } from "../btf/marshal.ts";
import { type BtfDatasec, BtfKind } from "../btf/types.ts";
import type { CollectionSpec, ProgramSpec } from "../collection/spec.ts";
import { LinkError, type TsbpfError } from "../errors/mod.ts";
import type { Instruction } from "../isa/instruction.ts";
import { defaultPipeline, loadCollectionSpec, Loader } from "../mod.ts";
import { BPF_PSEUDO_CALL, BPF_PSEUDO_MAP_VALUE } from "../isa/mod.ts";
import { readFixture } from "./_util.ts";

function obj(name: string) {
  return { name: `${name}.o`, bytes: readFixture(`link/${name}.o`) };
}

function insnRow(i: Instruction): string {
  return [i.opcode, i.dst, i.src, i.offset, i.imm, i.immHi ?? 0, i.reference ?? ""].join("/");
}

function mapRows(spec: CollectionSpec): string[] {
  return [...spec.maps.values()].map((m) =>
    JSON.stringify([
      m.name,
      m.type,
      m.keySize,
      m.valueSize,
      m.maxEntries,
      m.flags,
      m.freeze,
      m.contents.map((c) => [...(c.value as Uint8Array)]),
    ])
  ).sort();
}

/** The instructions of `fn` inside a flattened program. */
function functionBody(prog: ProgramSpec, fn: string): Instruction[] {
  const start = prog.instructions.findIndex((i) => i.symbol === fn);
  assert.ok(start >= 0, `${prog.name} contains ${fn}`);
  const end = prog.instructions.findIndex((i, k) => k > start && i.symbol !== undefined);
  return prog.instructions.slice(start, end < 0 ? undefined : end);
}

test("link_a.o + link_b.o gives what bpftool's linked object gives", async () => {
  const ours = await loadCollectionSpec([obj("link_a"), obj("link_b")]);
  const ref = await loadCollectionSpec(readFixture("link/link_ab.linked.o"));
  assert.deepEqual(mapRows(ours), mapRows(ref));
  assert.deepEqual([...ours.programs.keys()].sort(), [...ref.programs.keys()].sort());
  for (const [name, prog] of ref.programs) {
    const mine = ours.programs.get(name)!;
    assert.deepEqual(mine.instructions.map(insnRow), prog.instructions.map(insnRow), name);
    assert.deepEqual(mine.functions(), prog.functions());
    assert.equal(mine.license, "GPL");
  }
  // Variables match, except that both static `hits` are kept: link_b's is renamed.
  const vars = (s: CollectionSpec) =>
    [...s.variables.values()].map((v) => `${v.name}@${v.section}+${v.offset}:${v.size}`).sort();
  assert.deepEqual(vars(ours), [
    "a_data@.data+0:4",
    "b_counter@.data+4:4",
    "b_limit@.rodata+0:4",
    "hits@.bss+0:4",
    "hits__1@.bss+4:4",
  ]);
  assert.deepEqual(vars(ref).filter((v) => !v.startsWith("hits@")), [
    "a_data@.data+0:4",
    "b_counter@.data+4:4",
    "b_limit@.rodata+0:4",
  ]);
});

test("the call to b_add and loads of b_values, b_counter, b_limit resolve into link_b.o", async () => {
  const spec = await loadCollectionSpec([obj("link_a"), obj("link_b")]);
  const a = spec.programs.get("link_a_prog")!;
  const call = a.instructions.find((i) => i.reference === "b_add")!;
  assert.equal(call.src, BPF_PSEUDO_CALL);
  assert.ok(a.instructions.some((i) => i.reference === "b_values"));
  const data = a.instructions.filter((i) =>
    i.reference === ".data" && i.src === BPF_PSEUDO_MAP_VALUE
  );
  // a_data at 0, b_counter at 4 (link_b's .data after link_a's).
  assert.deepEqual(data.map((i) => i.immHi).sort(), [0, 4, 4]);
  assert.ok(a.instructions.some((i) => i.reference === ".rodata" && i.immHi === 0));
});

test("one object in a list loads exactly as the object alone", async () => {
  const alone = await loadCollectionSpec(readFixture("link/link_b.o"));
  const listed = await loadCollectionSpec([readFixture("link/link_b.o")]);
  assert.deepEqual(mapRows(listed), mapRows(alone));
  for (const [name, prog] of alone.programs) {
    assert.deepEqual(
      listed.programs.get(name)!.instructions.map(insnRow),
      prog.instructions.map(insnRow),
    );
  }
});

test("strong beats weak, the first weak wins, statics of one name are both kept", async () => {
  const spec = await loadCollectionSpec([obj("weak_a"), obj("weak_b")]);
  const weak = spec.programs.get("weak_prog")!;
  // pick: weak in weak_a (returns 1), strong in weak_b (returns 2).
  const pick = functionBody(weak, "pick");
  assert.ok(pick.some((i) => i.opcode === 0xb7 && i.imm === 2), "weak_b's pick");
  // first_weak: weak in both, weak_a's (returns 10) wins.
  assert.ok(functionBody(weak, "first_weak").some((i) => i.opcode === 0xb7 && i.imm === 10));
  assert.equal(functionBody(spec.programs.get("weak_b_prog")!, "first_weak")[0].imm, 10);
  // helper: static in both; weak_b's is renamed and reached from weak_b_prog only.
  assert.ok(weak.functions().includes("helper") && !weak.functions().includes("helper__1"));
  assert.deepEqual(
    spec.programs.get("weak_b_prog")!.functions().filter((f) => f.startsWith("helper")),
    ["helper__1"],
  );
  // Variables: weak_a's weak_var and strong_var win; weak_b's bytes stay, unnamed.
  const v = (n: string) => spec.variables.get(n)!;
  assert.equal(v("weak_var").offset, 0);
  assert.equal(v("strong_var").offset, 4);
  assert.equal(spec.maps.get(".data")!.valueSize, 16);
  const loads = weak.instructions.filter((i) => i.reference === ".data").map((i) => i.immHi);
  assert.deepEqual(loads.sort(), [0, 4]);
});

test("two strong definitions of a name are an error naming both objects", async () => {
  await assert.rejects(loadCollectionSpec([obj("link_b"), obj("dup_b")]), (err: TsbpfError) => {
    assert.ok(err instanceof LinkError);
    assert.equal(err.code, "LINK_DUPLICATE_SYMBOL");
    assert.match(err.message, /"b_add".*link_b\.o.*dup_b\.o/);
    assert.match(err.message, /^static-link: /);
    return true;
  });
});

test("different licenses are an error, as in libbpf", async () => {
  await assert.rejects(loadCollectionSpec([obj("link_a"), obj("license_b")]), (err: TsbpfError) => {
    assert.equal(err.code, "LINK_LICENSE_MISMATCH");
    assert.match(err.message, /"Dual BSD\/GPL" of license_b\.o differs from "GPL" of link_a\.o/);
    return true;
  });
});

test("an extern map must match its definition", async () => {
  await assert.rejects(
    loadCollectionSpec([obj("map_mismatch"), obj("link_b")]),
    (err: TsbpfError) => {
      assert.equal(err.code, "LINK_MAP_MISMATCH");
      assert.match(
        err.message,
        /"b_values" of map_mismatch\.o .* link_b\.o: max_entries is 8 .* 4/,
      );
      return true;
    },
  );
});

test("an extern no object defines is left for the extern stages", async () => {
  // The built-in stages alone: static-link leaves the kconfig extern as it was.
  const ctx = await defaultPipeline().runContext([obj("weak_a"), obj("weak_b")]);
  const prog = ctx.programs.get("kconfig_prog")!;
  const load = prog.instructions.find((i) => i.reference === "LINUX_KERNEL_VERSION")!;
  assert.equal(load.src, 0);
  assert.equal(load.imm, 0);
  const ext = ctx.symbols.filter((s) => s.name === "LINUX_KERNEL_VERSION");
  assert.equal(ext.length, 1);
  assert.equal(ext[0].sectionIndex, 0);
  const btf = ctx.btf!;
  const kconfig = btf.type(btf.idsByName(".kconfig")[0]) as BtfDatasec;
  assert.deepEqual(kconfig.vars.map((v) => btf.nameOf(v.type)), ["LINUX_KERNEL_VERSION"]);
  // With the extern stages, it resolves as in weak_a.o alone.
  const linked = await loadCollectionSpec([obj("weak_a"), obj("weak_b")]);
  const alone = await loadCollectionSpec(readFixture("link/weak_a.o"));
  assert.deepEqual(
    linked.programs.get("kconfig_prog")!.instructions.map(insnRow),
    alone.programs.get("kconfig_prog")!.instructions.map(insnRow),
  );
  assert.deepEqual(
    mapRows(linked).filter((m) => m.includes(".kconfig")),
    mapRows(alone).filter((m) => m.includes(".kconfig")),
  );
});

test("merged BTF marshals and parses back with moved DATASECs and remapped func_info", async () => {
  const spec = await loadCollectionSpec([obj("link_a"), obj("link_b")]);
  const btf = Btf.parse(marshalBtf(spec.btf!));
  const datasec = (name: string) => btf.type(btf.idsByName(name)[0]) as BtfDatasec;
  const layout = (name: string) =>
    datasec(name).vars.map((v) => `${btf.nameOf(v.type)}@${v.offset}`);
  assert.deepEqual(layout(".data"), ["a_data@0", "b_counter@4"]);
  assert.deepEqual(layout(".bss"), ["hits@0", "hits__1@4"]);
  assert.equal(datasec(".data").size, 8);
  assert.equal(btf.idsByName(".maps").length, 1);
  assert.deepEqual(layout(".maps"), ["b_values@0"]);
  for (const prog of spec.programs.values()) {
    for (const ins of prog.instructions) {
      if (ins.func === undefined) continue;
      const fn = btf.type(ins.func);
      assert.equal(fn.kind, BtfKind.FUNC);
      assert.equal(fn.name, ins.symbol!.replace(/__\d+_*$/, ""));
    }
  }
  const values = spec.maps.get("b_values")!;
  assert.equal(btf.sizeOf(values.keyType!), 4);
  assert.equal(btf.sizeOf(values.valueType!), 8);
});

test("a pipeline without relocate can't link", async () => {
  const loader = Loader.create([], { withoutCore: true });
  await assert.rejects(
    loader.loadSpec([readFixture("link/link_a.o"), readFixture("link/link_b.o")]),
    {
      code: "PIPELINE_NO_STATIC_LINK",
    },
  );
});
