import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectionSpec,
  copyInstruction,
  instructionEquals,
  MapSpec,
  ProgramSpec,
} from "../collection/mod.ts";
import { MapType, ProgramType } from "../collection/types.ts";

function sampleMap(): MapSpec {
  return new MapSpec({
    name: "counts",
    type: MapType.HASH,
    keySize: 4,
    valueSize: 8,
    maxEntries: 1024,
    flags: 1,
    contents: [{ key: 0, value: new Uint8Array([1, 2, 3]) }, {
      key: new Uint8Array([9]),
      value: "prog",
    }],
    extra: new Uint8Array([7, 7]),
    innerMap: new MapSpec({
      name: "inner",
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: 4,
      maxEntries: 1,
    }),
  });
}

function sampleProgram(): ProgramSpec {
  return new ProgramSpec({
    name: "xdp_prog",
    type: ProgramType.XDP,
    sectionName: "xdp",
    license: "GPL",
    instructions: [
      {
        opcode: 0x18,
        dst: 1,
        src: 1,
        offset: 0,
        imm: 0,
        immHi: 0,
        reference: "counts",
        symbol: "xdp_prog",
      },
      { opcode: 0xb7, dst: 0, src: 0, offset: 0, imm: 2 },
      { opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 },
    ],
  });
}

test("collection: MapSpec defaults", () => {
  const m = new MapSpec({ name: "m", type: MapType.ARRAY });
  assert.equal(m.keySize, 0);
  assert.equal(m.mapExtra, 0n);
  assert.deepEqual(m.contents, []);
  assert.equal(m.freeze, false);
  assert.equal(m.innerMap, undefined);
});

test("collection: MapSpec copy is deep and equal", () => {
  const a = sampleMap();
  const b = a.copy();
  assert.ok(a.equals(b));
  (b.contents[0].value as Uint8Array)[0] = 99;
  assert.equal((a.contents[0].value as Uint8Array)[0], 1);
  assert.ok(!a.equals(b));
  const c = a.copy();
  c.innerMap!.maxEntries = 2;
  assert.equal(a.innerMap!.maxEntries, 1);
  assert.ok(!a.equals(c));
  const d = a.copy();
  d.extra![1] = 0;
  assert.ok(!a.equals(d));
});

test("collection: MapSpec equality covers every field", () => {
  const base = sampleMap();
  const edits: ((m: MapSpec) => void)[] = [
    (m) => m.name = "x",
    (m) => m.type = MapType.ARRAY,
    (m) => m.keySize++,
    (m) => m.valueSize++,
    (m) => m.maxEntries++,
    (m) => m.flags++,
    (m) => m.pinning = 1,
    (m) => m.numaNode = 1,
    (m) => m.mapExtra = 5n,
    (m) => m.freeze = true,
    (m) => m.innerMap = undefined,
    (m) => m.extra = undefined,
    (m) => m.contents.pop(),
    (m) => m.contents[1].value = "other",
    (m) => m.contents[0].key = 1,
  ];
  for (const edit of edits) {
    const m = base.copy();
    edit(m);
    assert.ok(!base.equals(m), `edit ${edit} must break equality`);
  }
});

test("collection: ProgramSpec copy is deep and equal", () => {
  const a = sampleProgram();
  const b = a.copy();
  assert.ok(a.equals(b));
  b.instructions[1].imm = 3;
  assert.equal(a.instructions[1].imm, 2);
  assert.ok(!a.equals(b));
  const c = a.copy();
  c.instructions[0].reference = "other";
  assert.ok(!a.equals(c));
  const d = a.copy();
  d.autoload = false;
  assert.ok(!a.equals(d));
});

test("collection: ProgramSpec references and functions", () => {
  const p = sampleProgram();
  assert.deepEqual(p.references(), ["counts"]);
  assert.deepEqual(p.functions(), ["xdp_prog"]);
});

test("collection: instruction equality ignores absent-vs-undefined fields", () => {
  assert.ok(instructionEquals(
    { opcode: 1, dst: 0, src: 0, offset: 0, imm: 0 },
    { opcode: 1, dst: 0, src: 0, offset: 0, imm: 0, symbol: undefined },
  ));
  assert.ok(
    !instructionEquals(
      { opcode: 1, dst: 0, src: 0, offset: 0, imm: 0 },
      { opcode: 1, dst: 0, src: 0, offset: 0, imm: 0, symbol: "f" },
    ),
  );
});

test("collection: CollectionSpec copy and order-independent equality", () => {
  const a = new CollectionSpec({
    maps: new Map([["counts", sampleMap()], [
      "other",
      new MapSpec({ name: "other", type: MapType.ARRAY }),
    ]]),
    programs: new Map([["xdp_prog", sampleProgram()]]),
  });
  const b = a.copy();
  assert.ok(a.equals(b));
  const reordered = new CollectionSpec({
    maps: new Map([...a.maps].reverse()),
    programs: a.programs,
  });
  assert.ok(a.equals(reordered));
  b.maps.get("counts")!.maxEntries = 1;
  assert.ok(!a.equals(b));
  const c = a.copy();
  c.programs.delete("xdp_prog");
  assert.ok(!a.equals(c));
  const d = a.copy();
  d.byteOrder = "big";
  assert.ok(!a.equals(d));
});

test("collection: metadata is copied deeply and compared by value", () => {
  const a = new CollectionSpec({ metadata: { meta: { version: "1", tags: ["a", "b"] } } });
  const b = a.copy();
  assert.ok(a.equals(b));
  (b.metadata.meta as { tags: string[] }).tags.push("c");
  assert.deepEqual((a.metadata.meta as { tags: string[] }).tags, ["a", "b"]);
  assert.ok(!a.equals(b));
  const c = new CollectionSpec({ metadata: { meta: { tags: ["a", "b"], version: "1" } } });
  assert.ok(a.equals(c), "key order does not matter");
});

test("collection: instructions with a non-zero ld_imm64 second slot copy and compare by value", () => {
  const a = {
    opcode: 0x18,
    dst: 1,
    src: 0,
    offset: 0,
    imm: 1,
    immHi: 0,
    secondSlot: { opcode: 1, dst: 2, src: 3, offset: 4 },
  };
  const b = copyInstruction(a);
  assert.notEqual(b.secondSlot, a.secondSlot);
  assert.ok(instructionEquals(a, b));
  b.secondSlot!.offset = 5;
  assert.equal(a.secondSlot.offset, 4);
  assert.ok(!instructionEquals(a, b));
  assert.ok(!instructionEquals(a, { ...a, secondSlot: undefined }));
});
