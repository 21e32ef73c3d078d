// BtfBuilder, marshalBtf and sanitizeBtf: builder layout rules, string
// dedup, every kind through builder → marshal → parse in both byte orders,
// round trips of vmlinux and every fixture, idempotence, each libbpf
// sanitisation rewrite, the extern layout, split BTF, and a property test
// over random type graphs. bpftool and clang cross-checks skip without them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { Btf } from "../btf/btf.ts";
import { BtfBuilder, type BtfTypeInit } from "../btf/builder.ts";
import { marshalBtf } from "../btf/marshal.ts";
import {
  DUMMY_KSYM,
  ENUM64_PLACEHOLDER,
  fixupExterns,
  needsSanitization,
  sanitizeBtf,
  type SanitizeOptions,
} from "../btf/sanitize.ts";
import {
  type BtfComposite,
  type BtfDatasec,
  BtfFuncLinkage,
  BtfKind,
  type BtfType,
  BtfVarLinkage,
} from "../btf/types.ts";
import { readElf } from "../elf/mod.ts";
import { BtfError } from "../errors/mod.ts";
import { fixtureObjects, haveCommand, readFixture } from "./_util.ts";

const VMLINUX = "/sys/kernel/btf/vmlinux";

/** Every type of `a` equals the type with the same ID in `b`, and they have the same IDs. */
function assertSameTypes(
  a: { firstId: number; lastId: number; type(id: number): BtfType },
  b: { firstId: number; lastId: number; type(id: number): BtfType },
  what = "",
): void {
  assert.equal(b.firstId, a.firstId, `${what} firstId`);
  assert.equal(b.lastId, a.lastId, `${what} lastId`);
  for (let id = a.firstId; id <= a.lastId; id++) {
    assert.deepEqual(b.type(id), a.type(id), `${what} type ${id}`);
  }
}

function header(blob: Uint8Array): {
  le: boolean;
  hdrLen: number;
  typeOff: number;
  typeLen: number;
  strOff: number;
  strLen: number;
  layoutOff: number;
  layoutLen: number;
} {
  const le = blob[0] === 0x9f;
  const v = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const hdrLen = v.getUint32(4, le);
  return {
    le,
    hdrLen,
    typeOff: v.getUint32(8, le),
    typeLen: v.getUint32(12, le),
    strOff: v.getUint32(16, le),
    strLen: v.getUint32(20, le),
    layoutOff: hdrLen >= 32 ? v.getUint32(24, le) : 0,
    layoutLen: hdrLen >= 32 ? v.getUint32(28, le) : 0,
  };
}

/** The strings of a blob's string section, in order. */
function stringsOf(blob: Uint8Array): string[] {
  const h = header(blob);
  const start = h.hdrLen + h.strOff;
  const text = new TextDecoder().decode(blob.subarray(start, start + h.strLen));
  return text.split("\0").slice(0, -1);
}

function btfError(fn: () => unknown, code: string): BtfError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BtfError, `expected a BtfError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected BtfError ${code}, nothing was thrown`);
}

/** One type of every kind, referring to each other. */
function everyKind(b: BtfBuilder): void {
  const int = b.int("int", 4, { signed: true });
  const char = b.int("char", 1, { signed: true, char: true });
  const bool = b.int("_Bool", 1, { bool: true });
  const u64 = b.int("unsigned long long", 8);
  const ptr = b.pointer(char);
  const arr = b.array(int, 16);
  const s = b.struct("point", [{ name: "x", type: int }, { name: "y", type: int }, {
    name: "tag",
    type: arr,
  }]);
  b.struct("flags", [
    { name: "a", type: int, bitfieldSize: 3 },
    { name: "b", type: int, bitfieldSize: 29 },
    { name: "c", type: bool },
  ]);
  b.union("u", [{ name: "i", type: int }, { name: "l", type: u64 }, { name: "", type: s }]);
  b.enum("color", { RED: 0, GREEN: 1, BLUE: 0xffffffff });
  b.enum("sign", { NEG: -1, POS: 1 });
  b.enum64("big", { HUGE: 0xffffffffffffffffn, SMALL: 1n });
  b.enum64("sbig", { MIN: -(2n ** 63n), MAX: 2n ** 63n - 1n });
  b.fwd("later");
  b.fwd("later_u", { union: true });
  const td = b.typedef("point_t", s);
  b.volatile(td);
  const c = b.const(ptr);
  b.restrict(c);
  b.typeTag("user", ptr);
  const proto = b.funcProto(int, [{ name: "ctx", type: ptr }, { name: "len", type: int }], {
    variadic: true,
  });
  const fn = b.func("handler", proto, BtfFuncLinkage.GLOBAL);
  const v = b.variable("counter", u64, BtfVarLinkage.GLOBAL_ALLOCATED);
  const sv = b.variable("local", int, BtfVarLinkage.STATIC);
  b.datasec(".data", [{ type: v, offset: 0, size: 8 }, { type: sv, offset: 8, size: 4 }]);
  b.float("double", 8);
  b.declTag("kfunc", fn);
  b.declTag("arg", fn, 1);
}

// ---------------------------------------------------------------- builder

test("builder: IDs start at 1 and count up; type 0 is void; out of range is BTF_BAD_TYPE_ID", () => {
  const b = new BtfBuilder();
  assert.equal(b.firstId, 1);
  assert.equal(b.lastId, 0);
  assert.equal(b.int("int", 4), 1);
  assert.equal(b.pointer(1), 2);
  assert.equal(b.lastId, 2);
  assert.deepEqual(b.type(0), { id: 0, kind: BtfKind.UNKN, name: "" });
  assert.deepEqual(b.type(2), { id: 2, kind: BtfKind.PTR, name: "", type: 1 });
  assert.equal(b.kindOf(1), BtfKind.INT);
  assert.equal(b.nameOf(1), "int");
  assert.deepEqual([...b.types()].map((t) => t.id), [1, 2]);
  btfError(() => b.type(3), "BTF_BAD_TYPE_ID");
  btfError(() => b.type(-1), "BTF_BAD_TYPE_ID");
  btfError(() => b.add({ kind: BtfKind.UNKN, name: "" }), "BTF_BAD_TYPE");
});

test("builder: add copies its input; replaceType swaps one type", () => {
  const b = new BtfBuilder();
  const int = b.int("int", 4);
  const members = [{ name: "a", type: int, bitOffset: 0, bitfieldSize: 0 }];
  const s = b.add({ kind: BtfKind.STRUCT, name: "s", size: 4, members, kindFlag: false });
  members[0].name = "changed";
  assert.equal((b.type(s) as BtfComposite).members[0].name, "a");
  b.replaceType(s, {
    id: s,
    kind: BtfKind.STRUCT,
    name: "s2",
    size: 4,
    members: [],
    kindFlag: false,
  });
  assert.equal(b.nameOf(s), "s2");
  assert.deepEqual(b.idsByName("s2"), [s]);
  assert.deepEqual(b.idsByName("s"), []);
  btfError(() => b.replaceType(99, b.type(s)), "BTF_BAD_TYPE_ID");
  btfError(() => b.replaceType(int, b.type(s)), "BTF_BAD_OVERRIDE");
  assert.equal(b.typeByName("s2").id, s);
  assert.equal(b.typeByName("int", BtfKind.INT).id, int);
  btfError(() => b.typeByName("int", BtfKind.STRUCT), "BTF_NOT_FOUND");
  b.typedef("s2", int);
  btfError(() => b.typeByName("s2"), "BTF_AMBIGUOUS");
});

test("builder: sizeOf and alignOf follow libbpf's btf__resolve_size and btf__align_of", () => {
  const b = new BtfBuilder();
  const char = b.int("char", 1, { signed: true, char: true });
  const int = b.int("int", 4, { signed: true });
  const long = b.int("long", 8, { signed: true });
  const i128 = b.int("__int128", 16, { signed: true });
  const arr = b.array(int, 10);
  const td = b.typedef("arr_t", arr);
  const cv = b.const(b.volatile(td));
  const ptr = b.pointer(0);
  const s = b.struct("s", [{ name: "c", type: char }, { name: "l", type: long }]);
  const packed = b.struct("p", [{ name: "c", type: char }, { name: "l", type: long }], {
    packed: true,
  });
  assert.equal(b.sizeOf(arr), 40);
  assert.equal(b.sizeOf(cv), 40);
  assert.equal(b.alignOf(cv), 4);
  assert.equal(b.sizeOf(ptr), 8);
  assert.equal(b.alignOf(ptr), 8);
  assert.equal(b.alignOf(i128), 8); // capped at the pointer size
  assert.equal(b.sizeOf(s), 16);
  assert.equal(b.alignOf(s), 8);
  assert.equal(b.sizeOf(packed), 9);
  assert.equal(b.alignOf(packed), 1);
  assert.equal(b.skipQualifiers(cv), td);
  assert.equal(b.skipTypedefs(cv), arr);
  btfError(() => b.sizeOf(0), "BTF_NO_SIZE");
  btfError(() => b.sizeOf(b.fwd("f")), "BTF_NO_SIZE");
  btfError(() => b.alignOf(b.funcProto(0, [])), "BTF_NO_ALIGNMENT");
  btfError(() => b.sizeOf(b.array(arr, 0xffffffff)), "BTF_SIZE_OVERFLOW");
  // A typedef loop ends in BTF_LOOP, not a hang.
  const loop = b.typedef("loop", b.lastId + 2);
  b.typedef("loop2", loop);
  btfError(() => b.sizeOf(loop), "BTF_LOOP");
});

test("builder: struct layout follows C rules (alignment, padding, trailing size)", () => {
  const b = new BtfBuilder();
  const char = b.int("char", 1, { signed: true, char: true });
  const short = b.int("short", 2, { signed: true });
  const int = b.int("int", 4, { signed: true });
  const long = b.int("long", 8, { signed: true });
  const s1 = b.type(b.struct("s1", [{ name: "a", type: char }, { name: "b", type: int }, {
    name: "c",
    type: short,
  }]));
  assert.deepEqual(
    (s1 as BtfComposite).members.map((m) => m.bitOffset),
    [0, 32, 64],
  );
  assert.equal((s1 as BtfComposite).size, 12);
  assert.equal((s1 as BtfComposite).kindFlag, false);

  const s2 = b.type(b.struct("s2", [{ name: "a", type: char }, { name: "b", type: long }]));
  assert.deepEqual((s2 as BtfComposite).members.map((m) => m.bitOffset), [0, 64]);
  assert.equal((s2 as BtfComposite).size, 16);

  // A nested struct aligns as its most aligned member; arrays as their element.
  const arr = b.array(int, 3);
  const s3 = b.type(b.struct("s3", [
    { name: "c", type: char },
    { name: "arr", type: arr },
    { name: "n", type: s2.id },
    { name: "d", type: char },
  ]));
  assert.deepEqual((s3 as BtfComposite).members.map((m) => m.bitOffset), [0, 32, 128, 256]);
  assert.equal((s3 as BtfComposite).size, 40);

  const u = b.type(b.union("u", [{ name: "c", type: char }, { name: "i", type: int }, {
    name: "s",
    type: s1.id,
  }]));
  assert.deepEqual((u as BtfComposite).members.map((m) => m.bitOffset), [0, 0, 0]);
  assert.equal((u as BtfComposite).size, 12);

  const p = b.type(b.struct("p", [{ name: "c", type: char }, { name: "i", type: int }], {
    packed: true,
  }));
  assert.deepEqual((p as BtfComposite).members.map((m) => m.bitOffset), [0, 8]);
  assert.equal((p as BtfComposite).size, 5);

  // Given offsets and sizes win; later members continue after them.
  const g = b.type(b.struct("g", [{ name: "a", type: int, bitOffset: 64 }, {
    name: "b",
    type: char,
  }], { size: 32 }));
  assert.deepEqual((g as BtfComposite).members.map((m) => m.bitOffset), [64, 96]);
  assert.equal((g as BtfComposite).size, 32);

  // Members of unknown size can't be laid out.
  btfError(() => b.struct("bad", [{ name: "f", type: b.fwd("opaque") }]), "BTF_BAD_TYPE");
});

test("builder: bitfields pack into their type's units and set the kind_flag", () => {
  const b = new BtfBuilder();
  const uint = b.int("unsigned int", 4);
  const ushort = b.int("unsigned short", 2);
  const char = b.int("char", 1, { signed: true, char: true });
  const s = b.type(b.struct("bf", [
    { name: "a", type: uint, bitfieldSize: 3 },
    { name: "b", type: uint, bitfieldSize: 5 },
    { name: "c", type: uint, bitfieldSize: 30 }, // 8 + 30 > 32: next unit
    { name: "d", type: char },
    { name: "e", type: ushort, bitfieldSize: 12 }, // 72 + 12 crosses a 16-bit unit
    { name: "f", type: ushort, bitfieldSize: 6 }, // 92 + 6 crosses a 16-bit unit
  ])) as BtfComposite;
  assert.equal(s.kindFlag, true);
  assert.deepEqual(
    s.members.map((m) => [m.name, m.bitOffset, m.bitfieldSize]),
    [["a", 0, 3], ["b", 3, 5], ["c", 32, 30], ["d", 64, 0], ["e", 80, 12], ["f", 96, 6]],
  );
  assert.equal(s.size, 16);
  // The kind_flag round-trips: the parser gives back the bitfield sizes.
  const back = Btf.parse(marshalBtf(b));
  assert.deepEqual(back.type(s.id), s);
});

test(
  "builder: struct layout matches clang's for the same C declarations",
  { timeout: 60000 },
  (t) => {
    if (!haveCommand("clang")) {
      t.skip("clang is not installed");
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), "tsbpf-layout-"));
    try {
      const src = join(dir, "layout.c");
      writeFileSync(
        src,
        `struct inner { long l; char c; };
struct s1 { char a; int b; short c; };
struct s2 { unsigned a:3; unsigned b:5; unsigned c:30; char d; unsigned short e:12, f:6; };
struct s3 { char a; long b; struct inner in; char tail; };
struct s4 { char a; int arr[3]; struct s1 nested; unsigned char bf:1; unsigned long long big:40; };
struct __attribute__((packed)) s5 { char a; int b; short c; };
struct s6 { char c; unsigned short x:12; unsigned short y:6; unsigned int z:20; };
union u1 { char a; int b; long long c; struct s1 s; };
struct s7 { unsigned char a:7; unsigned char b:2; unsigned int c:1; char d[3]; };
struct s1 g1; struct s2 g2; struct s3 g3; struct s4 g4; struct s5 g5; struct s6 g6;
union u1 gu1; struct s7 g7;
`,
      );
      const obj = join(dir, "layout.o");
      execFileSync("clang", ["-g", "-O2", "-target", "bpf", "-c", src, "-o", obj]);
      const elf = readElf(new Uint8Array(readFileSync(obj)));
      const btf = Btf.parse(elf.sectionData(elf.sectionByName(".BTF")!));
      const b = BtfBuilder.from(btf);
      for (const name of ["s1", "s2", "s3", "s4", "s5", "s6", "u1", "s7"]) {
        const want = btf.typeByName(name) as BtfComposite;
        const members = want.members.map((m) => ({
          name: m.name,
          type: m.type,
          ...(m.bitfieldSize === 0 ? {} : { bitfieldSize: m.bitfieldSize }),
        }));
        const options = { packed: name === "s5" };
        const id = want.kind === BtfKind.UNION
          ? b.union(`${name}_built`, members, options)
          : b.struct(`${name}_built`, members, options);
        const got = b.type(id) as BtfComposite;
        assert.deepEqual(
          got.members.map((m) => [m.name, m.bitOffset, m.bitfieldSize]),
          want.members.map((m) => [m.name, m.bitOffset, m.bitfieldSize]),
          `${name} member offsets`,
        );
        assert.equal(got.size, want.size, `${name} size`);
        // clang sets the kind_flag only for composites with bitfields, as the builder does.
        assert.equal(got.kindFlag, want.kindFlag, `${name} kind_flag`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("builder: convenience constructors fill every field", () => {
  const b = new BtfBuilder();
  const int = b.int("int", 4, { signed: true });
  assert.deepEqual(b.type(int), {
    id: int,
    kind: BtfKind.INT,
    name: "int",
    size: 4,
    encoding: 1,
    bitOffset: 0,
    bits: 32,
  });
  const arr = b.array(int, 4);
  const arrType = b.type(arr);
  assert.equal(arrType.kind, BtfKind.ARRAY);
  // The default index type is clang's __ARRAY_SIZE_TYPE__, added once.
  const index = arrType.kind === BtfKind.ARRAY ? arrType.indexType : 0;
  assert.equal(b.nameOf(index), "__ARRAY_SIZE_TYPE__");
  const arr2 = b.type(b.array(int, 8));
  assert.equal(arr2.kind === BtfKind.ARRAY && arr2.indexType, index);
  assert.equal(
    (b.type(b.array(int, 1, { indexType: int })) as { indexType: number }).indexType,
    int,
  );
  assert.deepEqual(b.type(b.enum("e", [{ name: "A", value: -5 }])), {
    id: b.lastId,
    kind: BtfKind.ENUM,
    name: "e",
    size: 4,
    signed: true,
    values: [{ name: "A", value: -5 }],
  });
  assert.equal((b.type(b.enum64("e64", { A: 1n })) as { signed: boolean }).signed, false);
  const proto = b.funcProto(0, [{ name: "a", type: int }], { variadic: true });
  assert.deepEqual(b.type(proto), {
    id: proto,
    kind: BtfKind.FUNC_PROTO,
    name: "",
    returnType: 0,
    params: [{ name: "a", type: int }, { name: "", type: 0 }],
  });
  assert.equal((b.type(b.func("f", proto)) as { linkage: number }).linkage, BtfFuncLinkage.STATIC);
  const v = b.variable("v", int);
  assert.equal((b.type(v) as { linkage: number }).linkage, BtfVarLinkage.GLOBAL_ALLOCATED);
  const ds = b.datasec(".bss", [{ type: v, offset: 8, size: 4 }]);
  assert.equal((b.type(ds) as BtfDatasec).size, 12);
  assert.equal((b.type(b.datasec(".data", [], 64)) as BtfDatasec).size, 64);
  assert.deepEqual(b.type(b.declTag("t", v)), {
    id: b.lastId,
    kind: BtfKind.DECL_TAG,
    name: "t",
    type: v,
    componentIdx: -1,
  });
});

// ---------------------------------------------------------------- strings

test("strings: deduplicated, offset 0 is the empty string, offsets stay valid in the blob", () => {
  const b = new BtfBuilder();
  assert.equal(b.addString(""), 0);
  const file = b.addString("prog.bpf.c");
  const line = b.addString("int x = 1;");
  assert.equal(b.addString("prog.bpf.c"), file);
  const int = b.int("int", 4);
  b.typedef("int", int); // same name: one string
  b.struct("s", [{ name: "int", type: int }]);
  b.variable("prog.bpf.c", int); // a name equal to an earlier string shares it
  assert.equal(b.string(file), "prog.bpf.c");
  const blob = marshalBtf(b);
  const strings = stringsOf(blob);
  assert.equal(strings[0], "");
  assert.equal(new Set(strings).size, strings.length, `duplicates in ${strings}`);
  assert.deepEqual(strings.sort(), ["", "int", "int x = 1;", "prog.bpf.c", "s"].sort());
  // Offsets handed out for .BTF.ext records point at the same strings after marshalling.
  const back = Btf.parse(blob);
  assert.equal(back.string(file), "prog.bpf.c");
  assert.equal(back.string(line), "int x = 1;");
});

test("strings: names with non-ASCII characters round-trip; a NUL in a name is BTF_BAD_STRING", () => {
  const b = new BtfBuilder();
  const int = b.int("entier_été", 4);
  b.typedef("名前", int);
  assert.deepEqual(Btf.parse(marshalBtf(b)).type(2).name, "名前");
  btfError(() => b.int("a\0b", 4), "BTF_BAD_STRING");
});

test("strings: 'compact' writes only the names types use", () => {
  const b = new BtfBuilder();
  b.addString("unused line info");
  b.int("int", 4);
  assert.deepEqual(stringsOf(marshalBtf(b)).sort(), ["", "int", "unused line info"]);
  assert.deepEqual(stringsOf(marshalBtf(b, { strings: "compact" })).sort(), ["", "int"]);
  assertSameTypes(b, Btf.parse(marshalBtf(b, { strings: "compact" })));
});

// ---------------------------------------------------------------- marshal

test("marshal: header is 24 bytes, types then strings, in the requested byte order", () => {
  const b = new BtfBuilder();
  b.int("int", 4);
  for (const le of [true, false]) {
    const blob = marshalBtf(b, { littleEndian: le });
    assert.deepEqual([...blob.subarray(0, 4)], le ? [0x9f, 0xeb, 1, 0] : [0xeb, 0x9f, 1, 0]);
    const h = header(blob);
    assert.equal(h.le, le);
    assert.equal(h.hdrLen, 24);
    assert.equal(h.typeOff, 0);
    assert.equal(h.typeLen, 16);
    assert.equal(h.strOff, 16);
    assert.equal(h.strLen, 5); // "\0int\0"
    assert.equal(blob.length, 24 + 16 + 5);
    assert.equal(blob[24 + 16], 0, "string section starts with NUL");
  }
});

test("marshal: every kind through builder → marshal → parse, both byte orders", () => {
  const b = new BtfBuilder();
  everyKind(b);
  const kinds = new Set([...b.types()].map((t) => t.kind));
  assert.equal(kinds.size, 19, "one of each kind but void");
  for (const le of [true, false]) {
    const blob = marshalBtf(b, { littleEndian: le });
    const back = Btf.parse(blob);
    assert.equal(back.littleEndian, le);
    assertSameTypes(b, back, le ? "LE" : "BE");
    assert.deepEqual(marshalBtf(back), blob, "idempotent");
  }
});

test("marshal: a parsed Btf's replaceType overrides are honoured", () => {
  const b = new BtfBuilder();
  const int = b.int("int", 4);
  const v = b.variable("x", int);
  const ds = b.datasec(".data", [{ type: v, offset: 0, size: 0 }], 0);
  const btf = Btf.parse(marshalBtf(b));
  btf.replaceType(ds, {
    id: ds,
    kind: BtfKind.DATASEC,
    name: ".data",
    size: 16,
    vars: [{ type: v, offset: 4, size: 4 }],
  });
  const back = Btf.parse(marshalBtf(btf));
  assert.deepEqual(back.type(ds), btf.type(ds));
  // A replaced type may bring new names; they are appended.
  btf.replaceType(int, {
    id: int,
    kind: BtfKind.INT,
    name: "renamed",
    size: 4,
    encoding: 0,
    bitOffset: 0,
    bits: 32,
  });
  assert.equal(Btf.parse(marshalBtf(btf)).nameOf(int), "renamed");
});

test("marshal: layout section on request, between types and strings", () => {
  const b = new BtfBuilder();
  everyKind(b);
  for (const le of [true, false]) {
    const blob = marshalBtf(b, { layout: true, littleEndian: le });
    const h = header(blob);
    assert.equal(h.hdrLen, 32);
    assert.equal(h.layoutOff, h.typeLen);
    assert.equal(h.layoutLen, 20 * 4);
    assert.equal(h.strOff, h.layoutOff + h.layoutLen);
    const at = (
      kind: number,
    ) => [...blob.subarray(32 + h.layoutOff + 4 * kind, 32 + h.layoutOff + 4 * kind + 4)];
    assert.deepEqual(at(BtfKind.INT), [4, 0, 0, 0]);
    assert.deepEqual(at(BtfKind.STRUCT), [0, 12, 0, 0]);
    assert.deepEqual(at(BtfKind.ENUM64), [0, 12, 0, 0]);
    assertSameTypes(b, Btf.parse(blob));
    // Without FEAT_BTF_LAYOUT the section is left out, as libbpf does.
    assert.equal(header(marshalBtf(b, { layout: true, sanitize: { layout: false } })).hdrLen, 24);
  }
});

test("marshal: types that can't be encoded are BtfErrors naming the type", () => {
  const cases: Array<[string, BtfTypeInit]> = [
    ["bitfield without kind_flag", {
      kind: BtfKind.STRUCT,
      name: "s",
      size: 4,
      kindFlag: false,
      members: [{ name: "a", type: 1, bitOffset: 0, bitfieldSize: 3 }],
    }],
    ["bit offset past 24 bits with kind_flag", {
      kind: BtfKind.STRUCT,
      name: "s",
      size: 4,
      kindFlag: true,
      members: [{ name: "a", type: 1, bitOffset: 1 << 24, bitfieldSize: 0 }],
    }],
    ["negative value of an unsigned enum", {
      kind: BtfKind.ENUM,
      name: "e",
      size: 4,
      signed: false,
      values: [{ name: "A", value: -1 }],
    }],
    ["enum64 value out of range", {
      kind: BtfKind.ENUM64,
      name: "e",
      size: 8,
      signed: true,
      values: [{ name: "A", value: 2n ** 63n }],
    }],
    ["negative size", { kind: BtfKind.FLOAT, name: "f", size: -8 }],
    ["fractional type ID", { kind: BtfKind.PTR, name: "", type: 1.5 }],
    ["INT bits past 8 bits", {
      kind: BtfKind.INT,
      name: "i",
      size: 4,
      encoding: 0,
      bitOffset: 0,
      bits: 256,
    }],
    ["component index below -1", { kind: BtfKind.DECL_TAG, name: "t", type: 1, componentIdx: -2 }],
    ["vlen past 0xffff", {
      kind: BtfKind.FUNC_PROTO,
      name: "",
      returnType: 0,
      params: Array.from({ length: 0x10000 }, () => ({ name: "", type: 0 })),
    }],
  ];
  for (const [what, type] of cases) {
    const b = new BtfBuilder();
    b.int("int", 4);
    const id = b.add(type);
    const err = btfError(() => marshalBtf(b), "BTF_BAD_TYPE");
    assert.match(err.message, new RegExp(`\\[${id}\\]`), what);
  }
});

// ---------------------------------------------------------------- round trips

test("round trip: every fixture's .BTF, both byte orders, cross order, idempotent", () => {
  let count = 0;
  for (const dir of ["bpfel", "bpfeb"] as const) {
    for (const file of fixtureObjects(dir)) {
      const elf = readElf(readFixture(`${dir}/${file}`));
      const section = elf.sectionByName(".BTF");
      if (section === undefined) continue;
      const bytes = elf.sectionData(section);
      const btf = Btf.parse(bytes);
      btf.decodeAll();
      for (const le of [true, false]) {
        const blob = marshalBtf(btf, { littleEndian: le });
        const back = Btf.parse(blob);
        assertSameTypes(btf, back, `${dir}/${file} ${le ? "LE" : "BE"}`);
        assert.deepEqual(marshalBtf(back), blob, `${dir}/${file}: marshal(parse(x)) === x`);
        // Cross: the other order, back again.
        const cross = Btf.parse(marshalBtf(back, { littleEndian: !le }));
        assertSameTypes(btf, cross, `${dir}/${file} cross`);
      }
      // clang's own blobs come back byte for byte (dedup'd strings, same order).
      assert.deepEqual(marshalBtf(btf), bytes, `${dir}/${file} identical to clang's`);
      count++;
    }
  }
  assert.ok(count > 0, "no fixture has a .BTF section");
});

test("round trip: vmlinux, both byte orders and cross, with timings", { timeout: 120000 }, (t) => {
  if (!existsSync(VMLINUX)) {
    t.skip(`${VMLINUX} does not exist`);
    return;
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(VMLINUX));
  } catch (err) {
    t.skip(`${VMLINUX} is not readable: ${err}`);
    return;
  }
  const btf = Btf.parse(bytes);
  btf.decodeAll();
  let t0 = performance.now();
  const le = marshalBtf(btf, { littleEndian: true });
  const cold = performance.now() - t0;
  t0 = performance.now();
  marshalBtf(btf, { littleEndian: true });
  const warm = performance.now() - t0;
  t0 = performance.now();
  const be = marshalBtf(btf, { littleEndian: false });
  const bigEndian = performance.now() - t0;
  console.log(
    `vmlinux: ${btf.lastId} types, ${bytes.length} bytes; marshal ${cold.toFixed(1)} ms cold, ` +
      `${warm.toFixed(1)} ms warm, ${
        bigEndian.toFixed(1)
      } ms big-endian; output ${le.length} bytes`,
  );
  const fromLe = Btf.parse(le);
  const fromBe = Btf.parse(be);
  assert.equal(fromBe.littleEndian, false);
  for (let id = 1; id <= btf.lastId; id++) {
    const want = btf.type(id);
    assert.deepEqual(fromLe.type(id), want, `LE type ${id}`);
    assert.deepEqual(fromBe.type(id), want, `BE type ${id}`);
  }
  // Cross: parse the big-endian blob, marshal little-endian: the same as the direct one.
  assert.deepEqual(marshalBtf(fromBe, { littleEndian: true }), le);
  assert.deepEqual(marshalBtf(fromLe), le, "idempotent");
  // Attribute tags keep their kind_flag: the re-marshalled blob is the kernel's, byte for byte.
  assert.equal(le.length, bytes.length);
  assert.ok(le.every((b, i) => b === bytes[i]), "marshal(parse(vmlinux)) is vmlinux");
  t0 = performance.now();
  const copy = BtfBuilder.from(btf);
  const fromMs = performance.now() - t0;
  t0 = performance.now();
  assert.deepEqual(marshalBtf(copy), le);
  console.log(
    `vmlinux: BtfBuilder.from ${fromMs.toFixed(1)} ms, marshal of the builder ${
      (performance.now() - t0).toFixed(1)
    } ms`,
  );
});

test("round trip: a blob tsbpf wrote marshals back byte for byte", () => {
  const b = new BtfBuilder();
  b.addString("a string only .BTF.ext uses");
  everyKind(b);
  const x = marshalBtf(b);
  assert.deepEqual(marshalBtf(Btf.parse(x)), x);
  assert.deepEqual(marshalBtf(BtfBuilder.from(Btf.parse(x))), x);
  const xbe = marshalBtf(b, { littleEndian: false });
  assert.deepEqual(marshalBtf(Btf.parse(xbe)), xbe);
});

test("bpftool reads what marshalBtf writes (every kind, and vmlinux re-marshalled)", {
  timeout: 60000,
}, (t) => {
  if (!haveCommand("bpftool")) {
    t.skip("bpftool is not installed");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-btf-"));
  try {
    const b = new BtfBuilder();
    everyKind(b);
    const file = join(dir, "every.btf");
    writeFileSync(file, marshalBtf(b));
    const dump = execFileSync("bpftool", ["btf", "dump", "file", file], { encoding: "utf8" });
    for (
      const line of [
        "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
        "STRUCT 'flags' size=8 vlen=3",
        "'b' type_id=1 bits_offset=3 bitfield_size=29",
        "ENUM64 'sbig' encoding=SIGNED size=8 vlen=2",
        "'MIN' val=-9223372036854775808",
        "FUNC 'handler' type_id=",
        "linkage=global",
        "DATASEC '.data' size=12 vlen=2",
        "FLOAT 'double' size=8",
        "DECL_TAG 'arg' type_id=",
        "component_idx=1",
        "TYPE_TAG 'user' type_id=",
        "FWD 'later_u' fwd_kind=union",
      ]
    ) assert.ok(dump.includes(line), `bpftool output lacks ${JSON.stringify(line)}:\n${dump}`);
    if (existsSync(VMLINUX)) {
      const vmlinux = join(dir, "vmlinux.btf");
      writeFileSync(vmlinux, marshalBtf(Btf.parse(new Uint8Array(readFileSync(VMLINUX)))));
      const ours = execFileSync("bpftool", ["btf", "dump", "file", vmlinux], {
        encoding: "utf8",
        maxBuffer: 1 << 30,
      });
      const theirs = execFileSync("bpftool", ["btf", "dump", "file", VMLINUX], {
        encoding: "utf8",
        maxBuffer: 1 << 30,
      });
      assert.ok(ours === theirs, "bpftool dumps of vmlinux and its re-marshalled copy differ");
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- split BTF

function splitFixture(): { base: Btf; b: BtfBuilder; ids: Record<string, number> } {
  const baseBuilder = new BtfBuilder();
  const int = baseBuilder.int("int", 4, { signed: true });
  const task = baseBuilder.struct("task_struct", [{ name: "pid", type: int }]);
  const base = Btf.parse(marshalBtf(baseBuilder));
  const b = new BtfBuilder({ base });
  const ptr = b.pointer(task);
  const s = b.struct("module_state", [{ name: "task", type: ptr }, { name: "pid", type: int }]);
  const proto = b.funcProto(int, [{ name: "task", type: ptr }]);
  const fn = b.func("module_fn", proto, BtfFuncLinkage.GLOBAL);
  return { base, b, ids: { int, task, ptr, s, proto, fn } };
}

test("split BTF: IDs and string offsets continue the base's; the base's strings are reused", () => {
  const { base, b, ids } = splitFixture();
  assert.equal(b.firstId, base.lastId + 1);
  assert.equal(ids.ptr, base.lastId + 1);
  assert.equal(b.type(ids.task).name, "task_struct", "base types read through");
  const baseStrLen = header(base.bytes).strLen;
  assert.ok(b.addString("pid") < baseStrLen, "a name in the base keeps the base's offset");
  assert.ok(b.addString("module_state") >= baseStrLen, "new names go after the base's strings");

  const blob = marshalBtf(b);
  const h = header(blob);
  // Only the split part: 4 types, and strings that are not in the base.
  assert.deepEqual(stringsOf(blob).sort(), ["module_fn", "module_state", "task"]);
  assert.notEqual(blob[h.hdrLen + h.strOff], 0, "split string sections don't start with NUL");
  const back = Btf.parse(blob, { base });
  assertSameTypes(b, back);
  assert.equal(back.type(ids.task).name, "task_struct");
  assert.deepEqual(marshalBtf(back), blob, "idempotent");
  for (const le of [true, false]) {
    const baseOther = Btf.parse(marshalBtf(base, { littleEndian: le }));
    assertSameTypes(b, Btf.parse(marshalBtf(b, { littleEndian: le }), { base: baseOther }));
  }
});

test("split BTF: stripBase false writes one standalone blob with the base's types first", () => {
  const { b } = splitFixture();
  const whole = Btf.parse(marshalBtf(b, { stripBase: false }));
  assert.equal(whole.base, undefined);
  assert.equal(whole.firstId, 1);
  assert.equal(whole.lastId, b.lastId);
  for (let id = 1; id <= b.lastId; id++) assert.deepEqual(whole.type(id), b.type(id), `type ${id}`);
  // String offsets of both parts are kept as they were.
  assert.equal(whole.string(b.addString("module_state")), "module_state");
  assert.equal(whole.string(b.addString("task_struct")), "task_struct");
  assertSameTypes(whole, Btf.parse(marshalBtf(b, { stripBase: false, strings: "compact" })));
});

test("split BTF: bpftool reads it against its base", (t) => {
  if (!haveCommand("bpftool")) {
    t.skip("bpftool is not installed");
    return;
  }
  const { base, b } = splitFixture();
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-split-"));
  try {
    writeFileSync(join(dir, "base.btf"), base.bytes);
    writeFileSync(join(dir, "split.btf"), marshalBtf(b));
    const dump = execFileSync(
      "bpftool",
      ["btf", "dump", "file", join(dir, "split.btf"), "--base-btf", join(dir, "base.btf")],
      { encoding: "utf8" },
    );
    assert.match(dump, /\[3\] PTR '\(anon\)' type_id=2/);
    assert.match(dump, /STRUCT 'module_state' size=16 vlen=2/);
    assert.match(dump, /FUNC 'module_fn' type_id=5 linkage=global/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- sanitize

/** A BTF with one of each kind the sanitizer touches; names given so tests can find them. */
function sanitizeInput(): BtfBuilder {
  const b = new BtfBuilder();
  const int = b.int("int", 4, { signed: true }); // 1
  const proto = b.funcProto(int, [{ name: "ctx", type: int }, { name: "n", type: int }]); // 2
  b.func("global_fn", proto, BtfFuncLinkage.GLOBAL); // 3
  b.func("static_fn", proto, BtfFuncLinkage.STATIC); // 4
  b.func("extern_fn", proto, BtfFuncLinkage.EXTERN); // 5
  const v1 = b.variable("counter", int); // 6
  const v2 = b.variable("limit", int, BtfVarLinkage.STATIC); // 7
  b.datasec(".data.counters", [{ type: v1, offset: 0, size: 4 }, { type: v2, offset: 8, size: 4 }]); // 8
  b.datasec("?.rodata.opt", [{ type: v2, offset: 0, size: 4 }]); // 9
  b.float("double", 8); // 10
  b.declTag("tag", 3); // 11
  b.typeTag("user", int); // 12
  b.enum("sign", { NEG: -1, POS: 1 }); // 13
  b.enum64("big", { HUGE: 2n ** 40n, ONE: 1n }); // 14
  b.enum64("other", { X: 3n }); // 15
  return b;
}

test("sanitize: {} changes nothing; the source is never modified", () => {
  const src = sanitizeInput();
  const before = marshalBtf(src);
  assertSameTypes(src, sanitizeBtf(src, {}));
  assert.deepEqual(marshalBtf(sanitizeBtf(src, {})), before);
  sanitizeBtf(src, {
    funcs: false,
    datasec: false,
    float: false,
    declTag: false,
    typeTag: false,
    enum64: false,
  });
  assert.deepEqual(marshalBtf(src), before, "builder source unchanged");
  const parsed = Btf.parse(before);
  sanitizeBtf(parsed, { funcs: false, datasec: false, enum64: false });
  assertSameTypes(src, parsed, "parsed source unchanged");
  assert.equal(needsSanitization({}), false);
  assert.equal(needsSanitization({ funcs: true, enum64: true }), false);
  assert.equal(needsSanitization({ typeTag: false }), true);
});

test("sanitize: no DATASEC → VAR becomes INT, DATASEC a STRUCT named without dots", () => {
  const out = sanitizeBtf(sanitizeInput(), { datasec: false });
  assert.deepEqual(out.type(6), {
    id: 6,
    kind: BtfKind.INT,
    name: "counter",
    size: 1,
    encoding: 0,
    bitOffset: 0,
    bits: 8,
  });
  assert.deepEqual(out.type(8), {
    id: 8,
    kind: BtfKind.STRUCT,
    name: "_data_counters",
    size: 12,
    kindFlag: false,
    members: [
      { name: "counter", type: 6, bitOffset: 0, bitfieldSize: 0 },
      { name: "limit", type: 7, bitOffset: 64, bitfieldSize: 0 },
    ],
  });
  // '?' becomes '_' too when the whole DATASEC goes.
  assert.equal(out.nameOf(9), "__rodata_opt");
  assert.equal(out.kindOf(10), BtfKind.FLOAT, "other kinds untouched");
});

test("sanitize: no '?' DATASEC names → the leading '?' becomes '_'", () => {
  const out = sanitizeBtf(sanitizeInput(), { qmarkDatasec: false });
  assert.deepEqual(out.type(9), { ...sanitizeInput().type(9), name: "_.rodata.opt" });
  assert.equal(out.nameOf(8), ".data.counters");
});

test("sanitize: no FUNC → FUNC_PROTO becomes a 4-byte ENUM of (param name, type), FUNC a TYPEDEF", () => {
  const out = sanitizeBtf(sanitizeInput(), { funcs: false });
  assert.deepEqual(out.type(2), {
    id: 2,
    kind: BtfKind.ENUM,
    name: "",
    size: 4,
    signed: false,
    values: [{ name: "ctx", value: 1 }, { name: "n", value: 1 }],
  });
  assert.deepEqual(out.type(3), { id: 3, kind: BtfKind.TYPEDEF, name: "global_fn", type: 2 });
  assert.deepEqual(out.type(5), { id: 5, kind: BtfKind.TYPEDEF, name: "extern_fn", type: 2 });
});

test("sanitize: no global func linkage → every FUNC becomes static", () => {
  const out = sanitizeBtf(sanitizeInput(), { funcLinkage: false });
  for (const id of [3, 4, 5]) {
    assert.deepEqual(out.type(id), { ...sanitizeInput().type(id), linkage: BtfFuncLinkage.STATIC });
  }
});

test("sanitize: no FLOAT → an anonymous STRUCT of the same size", () => {
  const out = sanitizeBtf(sanitizeInput(), { float: false });
  assert.deepEqual(out.type(10), {
    id: 10,
    kind: BtfKind.STRUCT,
    name: "",
    size: 8,
    members: [],
    kindFlag: false,
  });
});

test("sanitize: no DECL_TAG → INT of one byte keeping the tag's name", () => {
  const out = sanitizeBtf(sanitizeInput(), { declTag: false });
  assert.deepEqual(out.type(11), {
    id: 11,
    kind: BtfKind.INT,
    name: "tag",
    size: 1,
    encoding: 0,
    bitOffset: 0,
    bits: 8,
  });
});

test("sanitize: no TYPE_TAG → an anonymous CONST of the same type", () => {
  const out = sanitizeBtf(sanitizeInput(), { typeTag: false });
  assert.deepEqual(out.type(12), { id: 12, kind: BtfKind.CONST, name: "", type: 1 });
});

test("sanitize: no ENUM64 → ENUM loses its sign, ENUM64 becomes a UNION of one placeholder", () => {
  const src = sanitizeInput();
  const out = sanitizeBtf(src, { enum64: false });
  assert.deepEqual(out.type(13), {
    id: 13,
    kind: BtfKind.ENUM,
    name: "sign",
    size: 4,
    signed: false,
    values: [{ name: "NEG", value: 0xffffffff }, { name: "POS", value: 1 }],
  });
  const placeholder = src.lastId + 1;
  assert.equal(out.lastId, placeholder, "one placeholder for all ENUM64s");
  assert.deepEqual(out.type(placeholder), {
    id: placeholder,
    kind: BtfKind.INT,
    name: ENUM64_PLACEHOLDER,
    size: 1,
    encoding: 0,
    bitOffset: 0,
    bits: 8,
  });
  assert.deepEqual(out.type(14), {
    id: 14,
    kind: BtfKind.UNION,
    name: "big",
    size: 8,
    kindFlag: false,
    members: [
      { name: "HUGE", type: placeholder, bitOffset: 0, bitfieldSize: 0 },
      { name: "ONE", type: placeholder, bitOffset: 0, bitfieldSize: 0 },
    ],
  });
  assert.equal(out.kindOf(15), BtfKind.UNION);
});

test("sanitize: everything off at once still parses, keeps string offsets, and bpftool reads it", (t) => {
  const src = sanitizeInput();
  const extOffset = src.addString("line info text");
  const all = {
    funcs: false,
    funcLinkage: false,
    datasec: false,
    qmarkDatasec: false,
    float: false,
    declTag: false,
    typeTag: false,
    enum64: false,
    layout: false,
  };
  const blob = marshalBtf(src, { sanitize: all });
  const back = Btf.parse(blob);
  const out = sanitizeBtf(src, all);
  assertSameTypes(out, back);
  const kinds = new Set([...back.types()].map((x) => x.kind));
  for (
    const gone of [BtfKind.FUNC, BtfKind.FUNC_PROTO, BtfKind.VAR, BtfKind.DATASEC, BtfKind.FLOAT]
  ) {
    assert.ok(!kinds.has(gone), `kind ${gone} left`);
  }
  for (const gone of [BtfKind.DECL_TAG, BtfKind.TYPE_TAG, BtfKind.ENUM64]) {
    assert.ok(!kinds.has(gone), `kind ${gone} left`);
  }
  // libbpf rewrites in place; every string offset of the source still names the same string.
  assert.equal(back.string(extOffset), "line info text");
  let off = 0;
  for (const s of stringsOf(marshalBtf(src))) {
    assert.equal(back.string(off), s, `string at ${off}`);
    off += new TextEncoder().encode(s).length + 1;
  }
  if (!haveCommand("bpftool")) {
    t.skip("bpftool is not installed");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-sanitize-"));
  try {
    writeFileSync(join(dir, "s.btf"), blob);
    const dump = execFileSync("bpftool", ["btf", "dump", "file", join(dir, "s.btf")], {
      encoding: "utf8",
    });
    assert.match(dump, /STRUCT '_data_counters' size=12 vlen=2/);
    assert.match(dump, /UNION 'big' size=8 vlen=2/);
    assert.match(dump, /INT 'enum64_placeholder' size=1 bits_offset=0 nr_bits=8 encoding=\(none\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sanitize: every fixture's BTF sanitised for a 5.1 kernel parses and has only old kinds", () => {
  const old = new Set<number>([
    BtfKind.INT,
    BtfKind.PTR,
    BtfKind.ARRAY,
    BtfKind.STRUCT,
    BtfKind.UNION,
    BtfKind.ENUM,
    BtfKind.FWD,
    BtfKind.TYPEDEF,
    BtfKind.VOLATILE,
    BtfKind.CONST,
    BtfKind.RESTRICT,
  ]);
  for (const file of fixtureObjects("bpfel")) {
    const elf = readElf(readFixture(`bpfel/${file}`));
    const section = elf.sectionByName(".BTF");
    if (section === undefined) continue;
    const btf = Btf.parse(elf.sectionData(section));
    const blob = marshalBtf(btf, {
      sanitize: {
        funcs: false,
        datasec: false,
        float: false,
        declTag: false,
        typeTag: false,
        enum64: false,
      },
    });
    for (const t of Btf.parse(blob).types()) {
      assert.ok(old.has(t.kind), `${file}: kind ${t.kind} in [${t.id}]`);
    }
  }
});

// ---------------------------------------------------------------- externs

test("externs: .ksyms entries become 4-byte ints, functions point at dummy_ksym", () => {
  const b = new BtfBuilder();
  const long = b.int("long", 8, { signed: true }); // 1
  const int = b.int("int", 4, { signed: true }); // 2
  const task = b.struct("task_struct", [{ name: "pid", type: int }]); // 3
  const ptr = b.pointer(task); // 4
  const proto = b.funcProto(ptr, [{ name: "", type: int }, { name: "flags", type: long }]); // 5
  const kfunc = b.func("bpf_task_acquire", proto, BtfFuncLinkage.EXTERN); // 6
  const v = b.variable("runqueues", task, BtfVarLinkage.GLOBAL_EXTERN); // 7
  const ksyms = b.datasec(".ksyms", [{ type: kfunc, offset: 0, size: 0 }, {
    type: v,
    offset: 0,
    size: 8,
  }], 0); // 8
  const out = fixupExterns(b);
  const dummy = b.lastId + 1;
  assert.equal(out.lastId, dummy);
  assert.deepEqual(out.type(dummy), {
    id: dummy,
    kind: BtfKind.VAR,
    name: DUMMY_KSYM,
    type: int,
    linkage: BtfVarLinkage.GLOBAL_ALLOCATED,
  });
  assert.deepEqual(out.type(ksyms), {
    id: ksyms,
    kind: BtfKind.DATASEC,
    name: ".ksyms",
    size: 8,
    vars: [{ type: dummy, offset: 0, size: 4 }, { type: v, offset: 4, size: 4 }],
  });
  assert.equal((out.type(kfunc) as { linkage: number }).linkage, BtfFuncLinkage.GLOBAL);
  assert.deepEqual((out.type(proto) as { params: unknown }).params, [
    { name: DUMMY_KSYM, type: int },
    { name: "flags", type: long },
  ]);
  assert.deepEqual(out.type(v), {
    id: v,
    kind: BtfKind.VAR,
    name: "runqueues",
    type: int,
    linkage: BtfVarLinkage.GLOBAL_ALLOCATED,
  });
  assertSameTypes(out, Btf.parse(marshalBtf(out)));
  // Without functions in .ksyms no dummy variable is added.
  const c = new BtfBuilder();
  const i2 = c.int("int", 4);
  const v2 = c.variable("jiffies", i2, BtfVarLinkage.GLOBAL_EXTERN);
  c.datasec(".ksyms", [{ type: v2, offset: 0, size: 4 }], 0);
  assert.equal(fixupExterns(c).lastId, c.lastId);
});

test("externs: .kconfig packs by alignment, size and name; functions there are an error", () => {
  const b = new BtfBuilder();
  const u8 = b.int("unsigned char", 1); // 1
  const u32 = b.int("unsigned int", 4); // 2
  const u64 = b.int("unsigned long long", 8); // 3
  const bool = b.int("_Bool", 1, { bool: true }); // 4
  const vA = b.variable("CONFIG_A", u8, BtfVarLinkage.GLOBAL_EXTERN);
  const vV = b.variable("LINUX_KERNEL_VERSION", u32, BtfVarLinkage.GLOBAL_EXTERN);
  const vH = b.variable("CONFIG_HZ", u64, BtfVarLinkage.GLOBAL_EXTERN);
  const vB = b.variable("CONFIG_BPF", bool, BtfVarLinkage.GLOBAL_EXTERN);
  const sec = b.datasec(".kconfig", [
    { type: vA, offset: 0, size: 1 },
    { type: vV, offset: 0, size: 4 },
    { type: vH, offset: 0, size: 8 },
    { type: vB, offset: 0, size: 1 },
  ], 0);
  const out = fixupExterns(b);
  // Order: CONFIG_HZ (8), LINUX_KERNEL_VERSION (4), then the 1-byte ones by name.
  assert.deepEqual(out.type(sec), {
    id: sec,
    kind: BtfKind.DATASEC,
    name: ".kconfig",
    size: 14,
    vars: [
      { type: vH, offset: 0, size: 8 },
      { type: vV, offset: 8, size: 4 },
      { type: vA, offset: 12, size: 1 },
      { type: vB, offset: 13, size: 1 },
    ],
  });
  for (const id of [vA, vV, vH, vB]) {
    assert.equal((out.type(id) as { linkage: number }).linkage, BtfVarLinkage.GLOBAL_ALLOCATED);
  }
  const bad = new BtfBuilder();
  const fn = bad.func("f", bad.funcProto(0, []));
  bad.datasec(".kconfig", [{ type: fn, offset: 0, size: 0 }], 0);
  btfError(() => fixupExterns(bad), "BTF_EXTERN_UNSUPPORTED");
});

test("externs: the externs fixture's .kconfig gets libbpf's layout", () => {
  for (const dir of ["bpfel", "bpfeb"] as const) {
    const elf = readElf(readFixture(`${dir}/externs.o`));
    const btf = Btf.parse(elf.sectionData(elf.sectionByName(".BTF")!));
    const out = fixupExterns(btf);
    const kconfig = out.type(out.idsByName(".kconfig")[0]) as BtfDatasec;
    assert.equal(kconfig.size, 4);
    assert.deepEqual(kconfig.vars.map((v) => [out.nameOf(v.type), v.offset, v.size]), [[
      "LINUX_KERNEL_VERSION",
      0,
      4,
    ]]);
    assert.equal(
      (out.type(kconfig.vars[0].type) as { linkage: number }).linkage,
      BtfVarLinkage.GLOBAL_ALLOCATED,
    );
    assertSameTypes(out, Btf.parse(marshalBtf(out)));
  }
});

// ---------------------------------------------------------------- property

const refArb = fc.nat(1000);
const nameArb = fc.oneof(
  fc.constant(""),
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.]{0,12}$/),
  fc.string({ unit: "grapheme", maxLength: 6 }).filter((s) => !s.includes("\0")),
);
const u32Arb = fc.nat({ max: 0xffffffff });

/** Maps a raw reference into the graph's ID range. */
type Ref = (r: number) => number;

/** A type with references as raw numbers, mapped into the graph's ID range later. */
const typeArb: fc.Arbitrary<(ref: Ref) => BtfTypeInit> = fc.oneof(
  fc.record({
    name: nameArb,
    size: fc.constantFrom(1, 2, 4, 8, 16),
    encoding: fc.nat(7),
    bits: fc.nat(255),
    bitOffset: fc.nat(255),
  })
    .map((x) => () => ({ kind: BtfKind.INT, ...x })),
  fc.record({
    kind: fc.constantFrom(
      BtfKind.PTR,
      BtfKind.TYPEDEF,
      BtfKind.VOLATILE,
      BtfKind.CONST,
      BtfKind.RESTRICT,
      BtfKind.TYPE_TAG,
    ),
    name: nameArb,
    type: refArb,
  }).map((x) => (ref: Ref) => ({ ...x, type: ref(x.type) } as BtfTypeInit)),
  fc.record({ name: nameArb, type: refArb, indexType: refArb, nelems: u32Arb })
    .map((x) => (ref: Ref) => ({
      kind: BtfKind.ARRAY,
      ...x,
      type: ref(x.type),
      indexType: ref(x.indexType),
    })),
  fc.record({
    kind: fc.constantFrom(BtfKind.STRUCT, BtfKind.UNION),
    name: nameArb,
    size: u32Arb,
    kindFlag: fc.boolean(),
    members: fc.array(
      fc.record({
        name: nameArb,
        type: refArb,
        bitOffset: fc.nat(0xffffff),
        bitfieldSize: fc.nat(255),
      }),
      { maxLength: 5 },
    ),
  }).map((x) => (ref: Ref) => ({
    ...x,
    members: x.members.map((m) => ({
      ...m,
      type: ref(m.type),
      bitfieldSize: x.kindFlag ? m.bitfieldSize : 0,
    })),
  } as BtfTypeInit)),
  fc.boolean().chain((signed) =>
    fc.record({
      name: nameArb,
      size: fc.constantFrom(1, 2, 4, 8),
      values: fc.array(
        fc.record({
          name: nameArb,
          value: signed ? fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) : u32Arb,
        }),
        { maxLength: 5 },
      ),
    }).map((x) => () => ({ kind: BtfKind.ENUM, signed, ...x }))
  ),
  fc.boolean().chain((signed) =>
    fc.record({
      name: nameArb,
      size: fc.constantFrom(1, 2, 4, 8),
      values: fc.array(
        fc.record({
          name: nameArb,
          value: signed
            ? fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
            : fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        }),
        { maxLength: 5 },
      ),
    }).map((x) => () => ({ kind: BtfKind.ENUM64, signed, ...x }))
  ),
  fc.record({ name: nameArb, union: fc.boolean() }).map((x) => () => ({ kind: BtfKind.FWD, ...x })),
  fc.record({ name: nameArb, type: refArb, linkage: fc.nat(0xffff) })
    .map((x) => (ref: Ref) => ({ kind: BtfKind.FUNC, ...x, type: ref(x.type) })),
  fc.record({
    name: nameArb,
    returnType: refArb,
    params: fc.array(fc.record({ name: nameArb, type: refArb }), { maxLength: 5 }),
  }).map((x) => (ref: Ref) => ({
    kind: BtfKind.FUNC_PROTO,
    ...x,
    returnType: ref(x.returnType),
    params: x.params.map((p) => ({ ...p, type: ref(p.type) })),
  })),
  fc.record({ name: nameArb, type: refArb, linkage: u32Arb })
    .map((x) => (ref: Ref) => ({ kind: BtfKind.VAR, ...x, type: ref(x.type) })),
  fc.record({
    name: nameArb,
    size: u32Arb,
    vars: fc.array(fc.record({ type: refArb, offset: u32Arb, size: u32Arb }), { maxLength: 5 }),
  }).map((x) => (ref: Ref) => ({
    kind: BtfKind.DATASEC,
    ...x,
    vars: x.vars.map((v) => ({ ...v, type: ref(v.type) })),
  })),
  fc.record({ name: nameArb, size: u32Arb }).map((x) => () => ({ kind: BtfKind.FLOAT, ...x })),
  fc.record({
    name: nameArb,
    type: refArb,
    componentIdx: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
  })
    .map((x) => (ref: Ref) => ({ kind: BtfKind.DECL_TAG, ...x, type: ref(x.type) })),
);

test("property: random type graphs from the builder round-trip in both byte orders", () => {
  fc.assert(
    fc.property(
      fc.array(typeArb, { minLength: 1, maxLength: 30 }),
      fc.boolean(),
      fc.array(nameArb, { maxLength: 3 }),
      (makers, littleEndian, extraStrings) => {
        const b = new BtfBuilder({ littleEndian });
        const offsets = extraStrings.map((s) => [s, b.addString(s)] as const);
        const ref = (r: number) => r % (makers.length + 1);
        for (const make of makers) b.add(make(ref));
        const blob = marshalBtf(b);
        const back = Btf.parse(blob);
        assert.equal(back.littleEndian, littleEndian);
        assertSameTypes(b, back);
        for (const [s, off] of offsets) assert.equal(back.string(off), s);
        assert.deepEqual(marshalBtf(back), blob);
        assertSameTypes(b, Btf.parse(marshalBtf(back, { littleEndian: !littleEndian })));
      },
    ),
    { numRuns: 200 },
  );
});

test("property: random split graphs round-trip against their base", () => {
  const base = Btf.parse(marshalBtf((() => {
    const b = new BtfBuilder();
    everyKind(b);
    return b;
  })()));
  fc.assert(
    fc.property(fc.array(typeArb, { minLength: 1, maxLength: 15 }), (makers) => {
      const b = new BtfBuilder({ base });
      const ref = (r: number) => r % (base.lastId + makers.length + 1);
      for (const make of makers) b.add(make(ref));
      const blob = marshalBtf(b);
      const back = Btf.parse(blob, { base });
      assertSameTypes(b, back);
      assert.deepEqual(marshalBtf(back), blob);
      assertSameTypes(
        { firstId: 1, lastId: b.lastId, type: (id) => b.type(id) },
        Btf.parse(marshalBtf(b, { stripBase: false })),
      );
    }),
    { numRuns: 100 },
  );
});

test("externs: fixupExterns gives what libbpf's bpf_object__open leaves in the object's BTF", {
  timeout: 60000,
}, (t) => {
  if (!haveCommand("clang") || !haveCommand("gcc") || !existsSync("/usr/include/bpf/libbpf.h")) {
    t.skip("needs clang, gcc and libbpf-dev");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-externs-"));
  try {
    writeFileSync(
      join(dir, "ext.bpf.c"),
      `typedef unsigned long long __u64;
#define SEC(n) __attribute__((section(n), used))
struct task_struct;
extern struct task_struct *bpf_task_acquire(struct task_struct *, int flags) __attribute__((section(".ksyms")));
extern void bpf_task_release(struct task_struct *p) __attribute__((section(".ksyms")));
extern const int bpf_prog_active __attribute__((section(".ksyms")));
extern unsigned int LINUX_KERNEL_VERSION __attribute__((section(".kconfig")));
extern _Bool CONFIG_BPF_SYSCALL __attribute__((section(".kconfig"), weak));
extern unsigned long long CONFIG_HZ __attribute__((section(".kconfig"), weak));
extern char CONFIG_A __attribute__((section(".kconfig"), weak));
SEC("tp_btf/task_newtask")
int prog(__u64 *ctx)
{
	struct task_struct *t = bpf_task_acquire((void *)ctx[0], 0);
	if (t) bpf_task_release(t);
	return LINUX_KERNEL_VERSION + CONFIG_BPF_SYSCALL + CONFIG_HZ + CONFIG_A + (long)&bpf_prog_active;
}
char _license[] SEC("license") = "GPL";
`,
    );
    writeFileSync(
      join(dir, "dump.c"),
      `#include <stdio.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>
int main(int argc, char **argv) {
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) return 1;
	__u32 sz;
	const void *raw = btf__raw_data(bpf_object__btf(obj), &sz);
	FILE *f = fopen(argv[2], "wb");
	fwrite(raw, 1, sz, f);
	return fclose(f) != 0;
}
`,
    );
    execFileSync("clang", [
      "-g",
      "-O2",
      "-target",
      "bpf",
      "-c",
      join(dir, "ext.bpf.c"),
      "-o",
      join(dir, "ext.o"),
    ]);
    execFileSync("gcc", [join(dir, "dump.c"), "-o", join(dir, "dump"), "-lbpf"]);
    execFileSync(join(dir, "dump"), [join(dir, "ext.o"), join(dir, "libbpf.btf")]);
    const elf = readElf(new Uint8Array(readFileSync(join(dir, "ext.o"))));
    const ours = fixupExterns(Btf.parse(elf.sectionData(elf.sectionByName(".BTF")!)));
    const theirs = Btf.parse(new Uint8Array(readFileSync(join(dir, "libbpf.btf"))));
    assert.equal(ours.lastId, theirs.lastId, "one dummy_ksym added");
    for (let id = 1; id <= theirs.lastId; id++) {
      const want = theirs.type(id);
      // Other DATASECs get their ELF section sizes from libbpf's btf_fixup_datasec, not from here.
      if (want.kind === BtfKind.DATASEC && want.name !== ".ksyms" && want.name !== ".kconfig") {
        continue;
      }
      assert.deepEqual(ours.type(id), want, `type ${id}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Build BTF the kernel accepts: one INT encoding bit, named FUNC parameters, VARs inside their DATASEC. */
function kernelValid(b: BtfBuilder): void {
  const int = b.int("int", 4, { signed: true });
  const char = b.int("char", 1, { signed: true });
  const bool = b.int("_Bool", 1, { bool: true });
  const u64 = b.int("unsigned long long", 8);
  const ptr = b.pointer(char);
  const s = b.struct("point", [{ name: "x", type: int }, { name: "y", type: int }, {
    name: "tag",
    type: b.array(int, 16),
  }]);
  b.struct("flags", [
    { name: "a", type: int, bitfieldSize: 3 },
    { name: "b", type: int, bitfieldSize: 29 },
    { name: "c", type: bool },
  ]);
  b.union("u", [{ name: "i", type: int }, { name: "l", type: u64 }, { name: "", type: s }]);
  b.enum("sign", { NEG: -1, POS: 1 });
  b.enum64("big", { HUGE: 0xffffffffffffffffn, SMALL: 1n });
  b.fwd("later_u", { union: true });
  b.volatile(b.typedef("point_t", s));
  b.restrict(b.const(ptr));
  const tagged = b.pointer(b.typeTag("user", char));
  const proto = b.funcProto(int, [{ name: "ctx", type: tagged }, { name: "len", type: int }]);
  const fn = b.func("handler", proto, BtfFuncLinkage.GLOBAL);
  const v = b.variable("counter", u64, BtfVarLinkage.GLOBAL_ALLOCATED);
  const sv = b.variable("local", int, BtfVarLinkage.STATIC);
  b.datasec(".data.counters", [{ type: v, offset: 0, size: 8 }, { type: sv, offset: 8, size: 4 }]);
  b.datasec("?.bss", [{ type: b.variable("opt", int), offset: 0, size: 4 }]);
  b.float("double", 8);
  b.declTag("kfunc", fn);
  b.declTag("arg", fn, 1);
}

test("kernel: BPF_BTF_LOAD accepts marshalled and sanitised BTF", { timeout: 60000 }, (t) => {
  if (process.getuid?.() !== 0) {
    t.skip("BPF_BTF_LOAD needs root");
    return;
  }
  if (!haveCommand("gcc") || !existsSync("/usr/include/bpf/bpf.h")) {
    t.skip("needs gcc and libbpf-dev to build the loader");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-btfload-"));
  try {
    writeFileSync(
      join(dir, "load.c"),
      `#include <stdio.h>
#include <unistd.h>
#include <bpf/bpf.h>
static char buf[64 << 20], log_buf[1 << 20];
int main(int argc, char **argv) {
	FILE *f = fopen(argv[1], "rb");
	if (!f) return 2;
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LIBBPF_OPTS(bpf_btf_load_opts, opts, .log_buf = log_buf, .log_size = sizeof(log_buf), .log_level = 1);
	int fd = bpf_btf_load(buf, n, &opts);
	if (fd < 0) { fprintf(stderr, "BPF_BTF_LOAD: %d\\n%s\\n", fd, log_buf); return 1; }
	close(fd);
	return 0;
}
`,
    );
    const loader = join(dir, "load");
    execFileSync("gcc", [join(dir, "load.c"), "-o", loader, "-lbpf"]);
    const b = new BtfBuilder();
    kernelValid(b);
    // Features arrive in kernel order, so an older kernel lacks every newer one:
    // sanitise for each generation, newest feature first.
    const newestFirst = [
      "qmarkDatasec", // 6.6
      "enum64", // 6.0
      "typeTag", // 5.17
      "declTag", // 5.16
      "float", // 5.13
      "funcLinkage", // 5.6
      "datasec", // 5.2
      "funcs", // 5.0
    ] as const;
    const variants: Array<[string, Uint8Array]> = [["as built", marshalBtf(b)]];
    const missing: SanitizeOptions = {};
    for (const feature of newestFirst) {
      missing[feature] = false;
      variants.push([
        `without ${Object.keys(missing).join(", ")}`,
        marshalBtf(b, { sanitize: missing }),
      ]);
    }
    variants.push([
      "re-marshalled",
      marshalBtf(Btf.parse(marshalBtf(b, { littleEndian: false })), { littleEndian: true }),
    ]);
    for (const [what, blob] of variants) {
      const file = join(dir, "btf.bin");
      writeFileSync(file, blob);
      try {
        execFileSync(loader, [file], { stdio: "pipe" });
      } catch (err) {
        const stderr = (err as { stderr?: Uint8Array }).stderr;
        const log = stderr === undefined ? String(err) : new TextDecoder().decode(stderr);
        if (what === "as built" && /: -1\n/.test(log)) {
          t.skip(`the kernel refuses BPF_BTF_LOAD: ${log.split("\n")[0]}`);
          return;
        }
        assert.fail(`${what}: ${log.slice(-1500)}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
