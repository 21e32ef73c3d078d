import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { Btf, essentialName } from "../btf/btf.ts";
import {
  type BtfComposite,
  type BtfDatasec,
  BtfKind,
  btfKindName,
  type BtfType,
} from "../btf/types.ts";
import { readElf } from "../elf/mod.ts";
import { BtfError } from "../errors/mod.ts";
import { fixtureObjects, fixturePath, haveCommand, readFixture } from "./_util.ts";
import {
  type BlobType,
  BtfBlobWriter,
  type BuiltBlob,
  encodeTypes,
  HDR,
  readU32,
  writeU32,
} from "./_btf_blob.ts";

const VMLINUX = "/sys/kernel/btf/vmlinux";
const HAVE_BPFTOOL = haveCommand("bpftool");
const ORDERS = [true, false];

function readVmlinux(): Uint8Array | undefined {
  try {
    return new Uint8Array(readFileSync(VMLINUX));
  } catch {
    return undefined;
  }
}

/** Assert that `fn` throws a BtfError with this code; returns it. */
function throwsBtf(fn: () => unknown, code: string): BtfError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BtfError, `expected a BtfError ${code}, got ${err}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected BtfError ${code}, nothing was thrown`);
}

function bpftoolRaw(file: string): string | undefined {
  const r = spawnSync("bpftool", ["btf", "dump", "file", file, "format", "raw"], {
    encoding: "utf8",
    maxBuffer: 256 << 20,
  });
  return r.status === 0 ? r.stdout : undefined;
}

function fixtureBtf(dir: "bpfel" | "bpfeb", file: string): Uint8Array {
  const elf = readElf(readFixture(`${dir}/${file}`));
  const section = elf.sectionByName(".BTF");
  assert.ok(section, `${dir}/${file} has no .BTF`);
  return elf.sectionData(section);
}

// bpftool's `format raw`, written from its output format (bpftool's btf.c),
// to check every decoded field against an independent decoder.
function anon(name: string): string {
  return name === "" ? "(anon)" : name;
}

const INT_ENC: Record<number, string> = { 0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL" };
const FUNC_LINKAGE: Record<number, string> = { 0: "static", 1: "global", 2: "extern" };
const VAR_LINKAGE: Record<number, string> = { 0: "static", 1: "global", 2: "extern" };

function formatRaw(btf: Btf, t: BtfType): string[] {
  const head = `[${t.id}] ${btfKindName(t.kind)} '${anon(t.name)}'`;
  switch (t.kind) {
    case BtfKind.INT:
      return [
        `${head} size=${t.size} bits_offset=${t.bitOffset} nr_bits=${t.bits} encoding=${
          INT_ENC[t.encoding] ?? "UNKN"
        }`,
      ];
    case BtfKind.PTR:
    case BtfKind.TYPEDEF:
    case BtfKind.VOLATILE:
    case BtfKind.CONST:
    case BtfKind.RESTRICT:
    case BtfKind.TYPE_TAG:
      return [`${head} type_id=${t.type}`];
    case BtfKind.ARRAY:
      return [`${head} type_id=${t.type} index_type_id=${t.indexType} nr_elems=${t.nelems}`];
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      return [
        `${head} size=${t.size} vlen=${t.members.length}`,
        ...t.members.map((m) =>
          `\t'${anon(m.name)}' type_id=${m.type} bits_offset=${m.bitOffset}` +
          (m.bitfieldSize ? ` bitfield_size=${m.bitfieldSize}` : "")
        ),
      ];
    case BtfKind.ENUM:
      return [
        `${head} encoding=${
          t.signed ? "SIGNED" : "UNSIGNED"
        } size=${t.size} vlen=${t.values.length}`,
        ...t.values.map((v) => `\t'${anon(v.name)}' val=${v.value}`),
      ];
    case BtfKind.ENUM64:
      return [
        `${head} encoding=${
          t.signed ? "SIGNED" : "UNSIGNED"
        } size=${t.size} vlen=${t.values.length}`,
        ...t.values.map((v) => `\t'${anon(v.name)}' val=${v.value}${t.signed ? "LL" : "ULL"}`),
      ];
    case BtfKind.FWD:
      return [`${head} fwd_kind=${t.union ? "union" : "struct"}`];
    case BtfKind.FUNC:
      return [`${head} type_id=${t.type} linkage=${FUNC_LINKAGE[t.linkage] ?? "(unknown)"}`];
    case BtfKind.FUNC_PROTO:
      return [
        `${head} ret_type_id=${t.returnType} vlen=${t.params.length}`,
        ...t.params.map((p) => `\t'${anon(p.name)}' type_id=${p.type}`),
      ];
    case BtfKind.VAR:
      return [`${head} type_id=${t.type}, linkage=${VAR_LINKAGE[t.linkage] ?? "(unknown)"}`];
    case BtfKind.DATASEC:
      return [
        `${head} size=${t.size} vlen=${t.vars.length}`,
        ...t.vars.map((v) =>
          `\ttype_id=${v.type} offset=${v.offset} size=${v.size} (${
            btfKindName(btf.kindOf(v.type))
          } '${anon(btf.nameOf(v.type))}')`
        ),
      ];
    case BtfKind.FLOAT:
      return [`${head} size=${t.size}`];
    case BtfKind.DECL_TAG:
      return [`${head} type_id=${t.type} component_idx=${t.componentIdx}`];
    default:
      return [`${head}`];
  }
}

function formatAll(btf: Btf): string[] {
  const lines: string[] = [];
  for (const t of btf.types()) for (const l of formatRaw(btf, t)) lines.push(l);
  return lines;
}

function compareWithBpftool(btf: Btf, file: string): void {
  const expected = bpftoolRaw(file);
  assert.ok(expected !== undefined, `bpftool failed on ${file}`);
  const want = expected.split("\n").filter((l) => l !== "");
  const got = formatAll(btf);
  for (let i = 0; i < Math.max(want.length, got.length); i++) {
    if (got[i] !== want[i]) {
      assert.fail(`${file}: line ${i + 1} differs:\n  bpftool: ${want[i]}\n  tsbpf:   ${got[i]}`);
    }
  }
}

// --- vmlinux ---------------------------------------------------------------

test("vmlinux: parses lazily, task_struct.pid is pid_t → __kernel_pid_t → int", () => {
  const bytes = readVmlinux();
  if (bytes === undefined) return console.log(`skipped: ${VMLINUX} is not readable`);
  const btf = Btf.parse(bytes);
  assert.equal(btf.firstId, 1);
  assert.ok(btf.lastId > 1000);
  const task = btf.typeByName("task_struct", BtfKind.STRUCT) as BtfComposite;
  assert.equal(task.kind, BtfKind.STRUCT);
  const pid = task.members.find((m) => m.name === "pid");
  assert.ok(pid, "task_struct has a member pid");
  const pidT = btf.type(pid.type);
  assert.equal(pidT.kind, BtfKind.TYPEDEF);
  assert.equal(pidT.name, "pid_t");
  assert.ok(pidT.kind === BtfKind.TYPEDEF);
  const kernelPidT = btf.type(pidT.type);
  assert.equal(kernelPidT.kind, BtfKind.TYPEDEF);
  assert.equal(kernelPidT.name, "__kernel_pid_t");
  assert.ok(kernelPidT.kind === BtfKind.TYPEDEF);
  const int = btf.type(kernelPidT.type);
  assert.deepEqual(int, {
    kind: BtfKind.INT,
    id: kernelPidT.type,
    name: "int",
    size: 4,
    encoding: 1,
    bitOffset: 0,
    bits: 32,
  });
  assert.equal(btf.skipTypedefs(pid.type), int.id);
  assert.equal(btf.sizeOf(pid.type), 4);
  assert.equal(btf.alignOf(task.id), 8);
  assert.equal(btf.pointerSize, 8);
  assert.equal(btf.sizeOf(btf.typeByName("long unsigned int").id), 8);
});

test("vmlinux: every type, member and size matches bpftool's raw dump", { timeout: 120000 }, () => {
  const bytes = readVmlinux();
  if (bytes === undefined) return console.log(`skipped: ${VMLINUX} is not readable`);
  if (!HAVE_BPFTOOL) return console.log("skipped: bpftool is not installed");
  const btf = Btf.parse(bytes);
  btf.decodeAll();
  const raw = bpftoolRaw(VMLINUX)!;
  const last = raw.match(/^\[(\d+)\][^\n]*\n(?:\t[^\n]*\n)*$/m);
  assert.ok(last);
  assert.equal(btf.lastId, Number(last[1]), "type count equals bpftool's last [N]");
  compareWithBpftool(btf, VMLINUX);
  // sizeOf of every type bpftool prints a size for.
  let checked = 0;
  for (const m of raw.matchAll(/^\[(\d+)\] (\w+) '[^']*' (?:encoding=\w+ )?size=(\d+)/gm)) {
    assert.equal(btf.sizeOf(Number(m[1])), Number(m[3]), `sizeOf(${m[1]}) (${m[2]})`);
    checked++;
  }
  assert.ok(checked > 10000, `checked ${checked} sizes`);
});

test("vmlinux: name index, essential names, alignment of every struct", { timeout: 60000 }, () => {
  const bytes = readVmlinux();
  if (bytes === undefined) return console.log(`skipped: ${VMLINUX} is not readable`);
  const btf = Btf.parse(bytes);
  const ids = btf.idsByName("task_struct");
  assert.ok(ids.length >= 1);
  for (const id of ids) assert.equal(btf.nameOf(id), "task_struct");
  assert.deepEqual(btf.idsByEssentialName("task_struct"), ids);
  assert.throws(
    () => btf.typeByName("no such type, surely"),
    (e) => e instanceof BtfError && e.code === "BTF_NOT_FOUND",
  );
  for (const t of btf.types()) {
    if (t.kind !== BtfKind.STRUCT && t.kind !== BtfKind.UNION) continue;
    const align = btf.alignOf(t.id);
    assert.ok([1, 2, 4, 8].includes(align), `alignOf(${t.id}) = ${align}`);
    if (t.size !== 0) assert.equal(t.size % align, 0);
  }
});

// --- fixtures ----------------------------------------------------------------

test("fixtures: every .BTF (bpfel and bpfeb) parses, decodes and matches bpftool", () => {
  let count = 0;
  for (const dir of ["bpfel", "bpfeb"] as const) {
    for (const file of fixtureObjects(dir)) {
      const bytes = fixtureBtf(dir, file);
      const btf = Btf.parse(bytes);
      assert.equal(btf.littleEndian, dir === "bpfel", `${dir}/${file}`);
      btf.decodeAll();
      for (let id = 1; id <= btf.lastId; id++) {
        const t = btf.type(id);
        assert.equal(btf.kindOf(id), t.kind);
        assert.equal(btf.nameOf(id), t.name);
        if (t.name !== "") assert.ok(btf.idsByName(t.name).includes(id));
      }
      if (HAVE_BPFTOOL) compareWithBpftool(btf, fixturePath(`${dir}/${file}`));
      count++;
    }
  }
  if (count === 0) return console.log("skipped: no fixtures built");
  if (!HAVE_BPFTOOL) console.log("bpftool comparison skipped: bpftool is not installed");
});

test("fixtures: re-encoded in the other byte order, every type decodes the same", () => {
  for (const dir of ["bpfel", "bpfeb"] as const) {
    for (const file of fixtureObjects(dir)) {
      const btf = Btf.parse(fixtureBtf(dir, file));
      const types = [...btf.types()];
      const other = Btf.parse(encodeTypes(types, { littleEndian: !btf.littleEndian }).bytes);
      assert.equal(other.littleEndian, !btf.littleEndian);
      assert.deepEqual([...other.types()], types, `${dir}/${file}`);
      for (const t of types) {
        for (const [a, b] of [[btf, other], [other, btf]] as const) {
          let size: number | string, align: number | string;
          try {
            size = a.sizeOf(t.id);
          } catch (e) {
            size = (e as BtfError).code;
          }
          try {
            align = a.alignOf(t.id);
          } catch (e) {
            align = (e as BtfError).code;
          }
          assert.equal(
            size,
            (() => {
              try {
                return b.sizeOf(t.id);
              } catch (e) {
                return (e as BtfError).code;
              }
            })(),
          );
          assert.equal(
            align,
            (() => {
              try {
                return b.alignOf(t.id);
              } catch (e) {
                return (e as BtfError).code;
              }
            })(),
          );
        }
      }
    }
  }
});

// --- every kind, both byte orders ------------------------------------------

/** One of every kind, with the edge values of each field. */
function everyKind(): BlobType[] {
  return [
    { kind: BtfKind.INT, name: "int", size: 4, encoding: 1, bitOffset: 0, bits: 32 }, // 1
    { kind: BtfKind.INT, name: "_Bool", size: 1, encoding: 4, bitOffset: 0, bits: 8 }, // 2
    { kind: BtfKind.INT, name: "char", size: 1, encoding: 2, bitOffset: 3, bits: 5 }, // 3
    { kind: BtfKind.PTR, name: "", type: 1 }, // 4
    { kind: BtfKind.ARRAY, name: "", type: 1, indexType: 1, nelems: 0xffffffff }, // 5
    {
      kind: BtfKind.STRUCT,
      name: "plain",
      size: 16,
      kindFlag: false,
      members: [
        { name: "a", type: 1, bitOffset: 0, bitfieldSize: 0 },
        { name: "", type: 4, bitOffset: 64, bitfieldSize: 0 },
        { name: "big", type: 1, bitOffset: 0xfffffff0, bitfieldSize: 0 },
      ],
    }, // 6
    {
      kind: BtfKind.UNION,
      name: "bits",
      size: 4,
      kindFlag: true,
      members: [
        { name: "x", type: 1, bitOffset: 0, bitfieldSize: 3 },
        { name: "y", type: 1, bitOffset: 0xffffff, bitfieldSize: 255 },
      ],
    }, // 7
    {
      kind: BtfKind.ENUM,
      name: "e",
      size: 4,
      signed: true,
      values: [{ name: "NEG", value: -2147483648 }, { name: "MINUS_ONE", value: -1 }, {
        name: "MAX",
        value: 2147483647,
      }],
    }, // 8
    {
      kind: BtfKind.ENUM,
      name: "u",
      size: 4,
      signed: false,
      values: [{ name: "BIG", value: 0xffffffff }, { name: "ZERO", value: 0 }],
    }, // 9
    {
      kind: BtfKind.ENUM64,
      name: "e64",
      size: 8,
      signed: true,
      values: [{ name: "MIN", value: -(2n ** 63n) }, { name: "M1", value: -1n }, {
        name: "HI",
        value: 0x123456789n,
      }],
    }, // 10
    {
      kind: BtfKind.ENUM64,
      name: "u64",
      size: 8,
      signed: false,
      values: [{ name: "MAX", value: 2n ** 64n - 1n }, { name: "LO", value: 7n }],
    }, // 11
    { kind: BtfKind.FWD, name: "fs", union: false }, // 12
    { kind: BtfKind.FWD, name: "fu", union: true }, // 13
    { kind: BtfKind.TYPEDEF, name: "myint", type: 1 }, // 14
    { kind: BtfKind.VOLATILE, name: "", type: 14 }, // 15
    { kind: BtfKind.CONST, name: "", type: 15 }, // 16
    { kind: BtfKind.RESTRICT, name: "", type: 4 }, // 17
    {
      kind: BtfKind.FUNC_PROTO,
      name: "",
      returnType: 1,
      params: [{ name: "ctx", type: 4 }, { name: "", type: 0 }],
    }, // 18
    { kind: BtfKind.FUNC, name: "f_static", type: 18, linkage: 0 }, // 19
    { kind: BtfKind.FUNC, name: "f_global", type: 18, linkage: 1 }, // 20
    { kind: BtfKind.FUNC, name: "f_extern", type: 18, linkage: 2 }, // 21
    { kind: BtfKind.VAR, name: "v", type: 1, linkage: 1 }, // 22
    { kind: BtfKind.VAR, name: "ext", type: 1, linkage: 2 }, // 23
    {
      kind: BtfKind.DATASEC,
      name: ".data",
      size: 8,
      vars: [{ type: 22, offset: 0, size: 4 }, { type: 23, offset: 4, size: 4 }],
    }, // 24
    { kind: BtfKind.FLOAT, name: "double", size: 8 }, // 25
    { kind: BtfKind.DECL_TAG, name: "tag", type: 6, componentIdx: -1 }, // 26
    { kind: BtfKind.DECL_TAG, name: "mtag", type: 6, componentIdx: 2 }, // 27
    { kind: BtfKind.TYPE_TAG, name: "user", type: 1 }, // 28
    { kind: BtfKind.FUNC_PROTO, name: "", returnType: 0, params: [] }, // 29
    { kind: BtfKind.STRUCT, name: "empty", size: 0, kindFlag: false, members: [] }, // 30
    { kind: BtfKind.INT, name: "ünïcödé", size: 8, encoding: 0, bitOffset: 0, bits: 64 }, // 31
  ];
}

function buildEveryKind(littleEndian: boolean): { blob: BuiltBlob; types: BtfType[] } {
  const w = new BtfBlobWriter({ littleEndian });
  const types = everyKind().map((t) => ({ ...t, id: w.add(t) }) as BtfType);
  return { blob: w.build(), types };
}

test("every kind decodes field for field, in both byte orders", () => {
  for (const le of ORDERS) {
    const { blob, types } = buildEveryKind(le);
    const btf = Btf.parse(blob.bytes);
    assert.equal(btf.littleEndian, le);
    assert.equal(btf.lastId, types.length);
    assert.deepEqual(btf.type(0), { kind: BtfKind.UNKN, id: 0, name: "" });
    for (const t of types) {
      assert.equal(btf.kindOf(t.id), t.kind);
      assert.equal(btf.nameOf(t.id), t.name);
      assert.deepEqual(
        btf.type(t.id),
        t,
        `type ${t.id} (${btfKindName(t.kind)}), ${le ? "LE" : "BE"}`,
      );
      assert.equal(btf.type(t.id), btf.type(t.id), "cached");
    }
    btf.decodeAll();
    assert.deepEqual([...btf.types()], types);
  }
});

test("parse is lazy: bad names and references surface on decode, not before", () => {
  const w = new BtfBlobWriter();
  const int = w.add({
    kind: BtfKind.INT,
    name: "int",
    size: 4,
    encoding: 1,
    bitOffset: 0,
    bits: 32,
  });
  const badName = w.raw({ name: 0x7ffff, kind: BtfKind.TYPEDEF, sizeOrType: int });
  const badRef = w.add({ kind: BtfKind.PTR, name: "", type: 999 });
  const btf = Btf.parse(w.build().bytes);
  assert.equal(btf.lastId, 3);
  assert.equal(btf.kindOf(badName), BtfKind.TYPEDEF);
  assert.equal(btf.kindOf(badRef), BtfKind.PTR);
  assert.equal(btf.type(int).name, "int");
  const e1 = throwsBtf(() => btf.type(badName), "BTF_BAD_STRING_OFFSET");
  assert.match(e1.message, /type \[2\] at offset 40: name offset 524287/);
  assert.equal(e1.offset, 40);
  throwsBtf(() => btf.nameOf(badName), "BTF_BAD_STRING_OFFSET");
  const e2 = throwsBtf(() => btf.type(badRef), "BTF_BAD_TYPE_ID");
  assert.match(
    e2.message,
    /type \[3\] PTR at offset 52: it refers to type 999, past the last type 3/,
  );
  assert.equal(e2.offset, 60);
  throwsBtf(() => btf.decodeAll(), "BTF_BAD_STRING_OFFSET");
});

// --- header ------------------------------------------------------------------

function simpleBlob(littleEndian = true): BuiltBlob {
  const w = new BtfBlobWriter({ littleEndian });
  const int = w.add({
    kind: BtfKind.INT,
    name: "int",
    size: 4,
    encoding: 1,
    bitOffset: 0,
    bits: 32,
  });
  w.add({ kind: BtfKind.PTR, name: "", type: int });
  w.add({
    kind: BtfKind.STRUCT,
    name: "s",
    size: 8,
    kindFlag: false,
    members: [{ name: "a", type: int, bitOffset: 0, bitfieldSize: 0 }, {
      name: "b",
      type: int,
      bitOffset: 32,
      bitfieldSize: 0,
    }],
  });
  return w.build();
}

function patched(blob: BuiltBlob, field: keyof typeof HDR, value: number): Uint8Array {
  const bytes = blob.bytes.slice();
  const [off, width] = HDR[field];
  writeU32(bytes, off, value, blob.littleEndian, width);
  return bytes;
}

test("header: a longer hdr_len is honoured, zero-filled", () => {
  for (const le of ORDERS) {
    const w = new BtfBlobWriter({ littleEndian: le });
    w.add({ kind: BtfKind.INT, name: "int", size: 4, encoding: 1, bitOffset: 0, bits: 32 });
    for (const hdrLen of [28, 32, 40, 64]) {
      const btf = Btf.parse(w.build({ hdrLen }).bytes);
      assert.equal(btf.typeByName("int").id, 1, `hdr_len ${hdrLen}`);
    }
  }
});

test("header errors: magic, version, short header, hdr_len", () => {
  for (const le of ORDERS) {
    const blob = simpleBlob(le);
    throwsBtf(() => Btf.parse(new Uint8Array(0)), "BTF_TRUNCATED");
    throwsBtf(() => Btf.parse(blob.bytes.subarray(0, 23)), "BTF_TRUNCATED");
    throwsBtf(() => Btf.parse(patched(blob, "magic", 0x1234)), "BTF_BAD_MAGIC");
    throwsBtf(() => Btf.parse(patched(blob, "version", 2)), "BTF_BAD_VERSION");
    throwsBtf(() => Btf.parse(patched(blob, "version", 0)), "BTF_BAD_VERSION");
    throwsBtf(() => Btf.parse(patched(blob, "hdrLen", 20)), "BTF_BAD_HEADER");
    throwsBtf(() => Btf.parse(patched(blob, "hdrLen", 0)), "BTF_BAD_HEADER");
    throwsBtf(() => Btf.parse(patched(blob, "hdrLen", blob.bytes.length + 1)), "BTF_TRUNCATED");
    throwsBtf(() => Btf.parse(patched(blob, "hdrLen", 0xffffffff)), "BTF_TRUNCATED");
  }
});

test("section errors: outside the blob, overlapping, misaligned", () => {
  for (const le of ORDERS) {
    const blob = simpleBlob(le);
    const typeLen = readU32(blob.bytes, 12, le);
    const strOff = readU32(blob.bytes, 16, le);
    const strLen = readU32(blob.bytes, 20, le);
    throwsBtf(() => Btf.parse(patched(blob, "typeLen", 0xfffffff0)), "BTF_BAD_SECTION");
    throwsBtf(() => Btf.parse(patched(blob, "typeOff", 0xfffffff0)), "BTF_BAD_SECTION");
    throwsBtf(() => Btf.parse(patched(blob, "strLen", strLen + 1)), "BTF_BAD_SECTION");
    throwsBtf(() => Btf.parse(patched(blob, "strOff", strOff + 4)), "BTF_BAD_SECTION");
    throwsBtf(() => Btf.parse(patched(blob, "strOff", 0xffffffff)), "BTF_BAD_SECTION");
    // Types overlapping strings, and strings before types.
    throwsBtf(() => Btf.parse(patched(blob, "typeLen", typeLen + 4)), "BTF_BAD_SECTION");
    throwsBtf(() => Btf.parse(patched(blob, "strOff", 0)), "BTF_BAD_SECTION");
    // A misaligned type section.
    const bytes = patched(blob, "typeOff", 2);
    writeU32(bytes, 12, typeLen - 4, le);
    throwsBtf(() => Btf.parse(bytes), "BTF_BAD_SECTION");
    // A blob shorter than its sections.
    throwsBtf(() => Btf.parse(blob.bytes.subarray(0, blob.bytes.length - 1)), "BTF_BAD_SECTION");
  }
});

test("string section errors: not NUL-terminated, not starting with NUL, empty", () => {
  for (const le of ORDERS) {
    const blob = simpleBlob(le);
    const last = blob.bytes.slice();
    last[last.length - 1] = 0x41;
    throwsBtf(() => Btf.parse(last), "BTF_BAD_STRINGS");
    const first = blob.bytes.slice();
    first[blob.strStart] = 0x41;
    throwsBtf(() => Btf.parse(first), "BTF_BAD_STRINGS");
    throwsBtf(() => Btf.parse(patched(blob, "strLen", 0)), "BTF_BAD_STRINGS");
  }
});

test("type section errors: truncated mid-type, vlen past the end, unknown kind", () => {
  for (const le of ORDERS) {
    const blob = simpleBlob(le);
    const typeLen = readU32(blob.bytes, 12, le);
    // Cut the section inside the struct's members (the strings stay where they are).
    const e = throwsBtf(
      () => Btf.parse(patched(blob, "typeLen", typeLen - 4)),
      "BTF_TYPE_TRUNCATED",
    );
    assert.match(e.message, /type \[3\]/);
    // Cut inside struct btf_type itself: 4 bytes left after the PTR.
    throwsBtf(
      () => Btf.parse(patched(blob, "typeLen", blob.offsetOf(3) - blob.typeStart + 4)),
      "BTF_TYPE_TRUNCATED",
    );
    // A vlen pointing far past the end of the section.
    const vlen = blob.bytes.slice();
    const info = readU32(vlen, blob.offsetOf(3) + 4, le);
    writeU32(vlen, blob.offsetOf(3) + 4, (info & 0xffff0000) | 0xffff, le);
    throwsBtf(() => Btf.parse(vlen), "BTF_TYPE_TRUNCATED");
    // Unknown kinds (and kind 0) with no layout section.
    for (const kind of [0, 20, 25, 0x7f]) {
      const bad = blob.bytes.slice();
      writeU32(bad, blob.offsetOf(2) + 4, kind << 24, le);
      const err = throwsBtf(() => Btf.parse(bad), "BTF_UNKNOWN_KIND");
      assert.match(
        err.message,
        new RegExp(`type \\[2\\] at offset ${blob.offsetOf(2)}: unknown kind ${kind}`),
      );
    }
  }
});

test("the info word: 7-bit kind, 16-bit vlen, kind_flag in bit 31", () => {
  const w = new BtfBlobWriter();
  const int = w.add({
    kind: BtfKind.INT,
    name: "int",
    size: 4,
    encoding: 1,
    bitOffset: 0,
    bits: 32,
  });
  // Unused bits 16..23 and 29..30 set: ignored for sizing, kind stays ENUM.
  const e = w.raw({
    name: "e",
    kind: BtfKind.ENUM,
    vlen: 1,
    sizeOrType: 4,
    words: [w.str("A"), 5],
  });
  const blob = w.build();
  const bytes = blob.bytes.slice();
  writeU32(bytes, blob.offsetOf(e) + 4, (0x06 << 24) | 0x00ff0000 | 1, true);
  const btf = Btf.parse(bytes);
  assert.deepEqual(btf.type(e), {
    kind: BtfKind.ENUM,
    id: e,
    name: "e",
    size: 4,
    signed: false,
    values: [{ name: "A", value: 5 }],
  });
  // Bit 29 makes the kind 0x26 (38): the kind is 7 bits wide.
  writeU32(bytes, blob.offsetOf(e) + 4, (0x26 << 24) | 1, true);
  throwsBtf(() => Btf.parse(bytes), "BTF_UNKNOWN_KIND");
  assert.equal(Btf.parse(blob.bytes).type(int).name, "int");
});

// --- layout section ------------------------------------------------------------

/** Layout entries for the 20 known kinds, as libbpf writes them. */
function knownLayout(): { infoSize: number; elemSize: number }[] {
  const info = [0, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 4, 0, 0];
  const elem = [0, 0, 0, 0, 12, 12, 8, 0, 0, 0, 0, 0, 0, 8, 0, 12, 0, 0, 0, 12];
  return info.map((infoSize, k) => ({ infoSize, elemSize: elem[k] }));
}

function layoutBlob(littleEndian: boolean, unknown: { infoSize: number; elemSize: number }) {
  const w = new BtfBlobWriter({ littleEndian });
  const int = w.add({
    kind: BtfKind.INT,
    name: "int",
    size: 4,
    encoding: 1,
    bitOffset: 0,
    bits: 32,
  });
  // Kind 25 with 2 elements: one info block, then vlen × elem_sz bytes.
  const words = new Array((unknown.infoSize + 2 * unknown.elemSize) / 4).fill(0xdeadbeef);
  const unk = w.raw({ name: "mystery", kind: 25, vlen: 2, sizeOrType: int, words });
  const after = w.add({ kind: BtfKind.TYPEDEF, name: "after", type: int });
  const ptr = w.add({ kind: BtfKind.PTR, name: "", type: unk });
  const layout = [...knownLayout()];
  while (layout.length < 25) layout.push({ infoSize: 0, elemSize: 0 });
  layout.push(unknown);
  return { blob: w.build({ layout }), int, unk, after, ptr };
}

test("layout section: an unknown kind is sized by it and skipped", () => {
  for (const le of ORDERS) {
    for (
      const unknown of [{ infoSize: 0, elemSize: 0 }, { infoSize: 8, elemSize: 12 }, {
        infoSize: 12,
        elemSize: 4,
      }]
    ) {
      const { blob, int, unk, after, ptr } = layoutBlob(le, unknown);
      const btf = Btf.parse(blob.bytes);
      assert.equal(btf.lastId, 4);
      assert.equal(btf.kindOf(unk), 25);
      assert.equal(btf.nameOf(unk), "mystery");
      assert.deepEqual(btf.idsByName("mystery"), [unk]);
      const err = throwsBtf(() => btf.type(unk), "BTF_UNKNOWN_KIND");
      assert.match(err.message, /type \[2\] at offset \d+ has kind 25/);
      assert.deepEqual(btf.type(after), {
        kind: BtfKind.TYPEDEF,
        id: after,
        name: "after",
        type: int,
      });
      assert.equal(btf.sizeOf(after), 4);
      assert.equal(btf.sizeOf(ptr), 8);
      throwsBtf(() => btf.sizeOf(unk), "BTF_UNKNOWN_KIND");
      btf.decodeAll();
      assert.deepEqual([...btf.types()].map((t) => t.id), [int, after, ptr]);
    }
  }
});

test("layout section: libbpf's rules on its place and size", () => {
  for (const le of ORDERS) {
    const { blob } = layoutBlob(le, { infoSize: 4, elemSize: 4 });
    const typeLen = readU32(blob.bytes, 12, le);
    const layoutOff = readU32(blob.bytes, 24, le);
    const layoutLen = readU32(blob.bytes, 28, le);
    const strOff = readU32(blob.bytes, 16, le);
    assert.equal(layoutOff, typeLen);
    // Layout before the end of the types, overlapping the strings, misaligned, ragged, outside.
    throwsBtf(() => Btf.parse(patched(blob, "layoutOff", layoutOff - 4)), "BTF_BAD_SECTION");
    throwsBtf(() => Btf.parse(patched(blob, "layoutLen", layoutLen + 4)), "BTF_BAD_SECTION");
    throwsBtf(() => Btf.parse(patched(blob, "layoutOff", layoutOff + 2)), "BTF_BAD_SECTION");
    throwsBtf(() => Btf.parse(patched(blob, "layoutLen", layoutLen - 2)), "BTF_BAD_LAYOUT");
    throwsBtf(() => Btf.parse(patched(blob, "layoutOff", 0xfffffff0)), "BTF_BAD_SECTION");
    throwsBtf(() => Btf.parse(patched(blob, "strOff", strOff - 4)), "BTF_BAD_SECTION");
    // Too short to describe kind 25.
    throwsBtf(() => Btf.parse(patched(blob, "layoutLen", 4 * 25)), "BTF_UNKNOWN_KIND");
    // No layout at all.
    throwsBtf(() => Btf.parse(patched(blob, "layoutLen", 0)), "BTF_UNKNOWN_KIND");
    // Sizes that would misalign the type section.
    const bad = blob.bytes.slice();
    bad[blob.layoutStart + 4 * 25] = 2;
    throwsBtf(() => Btf.parse(bad), "BTF_BAD_LAYOUT");
  }
});

test("layout section: a kind known to the parser keeps its uapi size", () => {
  const w = new BtfBlobWriter();
  const int = w.add({
    kind: BtfKind.INT,
    name: "int",
    size: 4,
    encoding: 1,
    bitOffset: 0,
    bits: 32,
  });
  w.add({ kind: BtfKind.TYPEDEF, name: "t", type: int });
  const layout = knownLayout().map(() => ({ infoSize: 64, elemSize: 64 }));
  const btf = Btf.parse(w.build({ layout }).bytes);
  assert.equal(btf.typeByName("t").id, 2);
});

// --- split BTF -------------------------------------------------------------------

function splitPair(littleEndian: boolean) {
  const bw = new BtfBlobWriter({ littleEndian });
  const int = bw.add({
    kind: BtfKind.INT,
    name: "int",
    size: 4,
    encoding: 1,
    bitOffset: 0,
    bits: 32,
  });
  const long = bw.add({
    kind: BtfKind.INT,
    name: "long int",
    size: 8,
    encoding: 1,
    bitOffset: 0,
    bits: 64,
  });
  const shared = bw.add({ kind: BtfKind.TYPEDEF, name: "shared", type: int });
  const baseBlob = bw.build();
  const base = Btf.parse(baseBlob.bytes);
  const stringsLength = readU32(baseBlob.bytes, 20, littleEndian);
  const sw = new BtfBlobWriter({ littleEndian, base: { lastId: base.lastId, stringsLength } });
  // Names from the base's string section by raw offset, and from the split's own.
  const reuse = sw.raw({ name: 1, kind: BtfKind.TYPEDEF, sizeOrType: long }); // "int" from the base
  const own = sw.add({
    kind: BtfKind.STRUCT,
    name: "mod_struct",
    size: 16,
    kindFlag: false,
    members: [{ name: "x", type: int, bitOffset: 0, bitfieldSize: 0 }, {
      name: "p",
      type: long,
      bitOffset: 64,
      bitfieldSize: 0,
    }],
  });
  const dup = sw.add({ kind: BtfKind.TYPEDEF, name: "shared", type: own });
  const ptr = sw.add({ kind: BtfKind.PTR, name: "", type: own });
  const splitBlob = sw.build();
  return { base, baseBlob, splitBlob, int, long, shared, reuse, own, dup, ptr, stringsLength };
}

test("split BTF: IDs continue the base, strings resolve across, base IDs delegate", () => {
  for (const le of ORDERS) {
    const { base, splitBlob, int, long, shared, reuse, own, dup, ptr, stringsLength } = splitPair(
      le,
    );
    const split = Btf.parse(splitBlob.bytes, { base });
    assert.equal(split.base, base);
    assert.equal(split.firstId, 4);
    assert.equal(split.lastId, 7);
    assert.equal(split.type(int), base.type(int));
    assert.equal(split.kindOf(long), BtfKind.INT);
    assert.equal(split.nameOf(long), "long int");
    assert.equal(split.nameOf(reuse), "int");
    assert.equal(split.string(1), "int");
    assert.equal(split.string(stringsLength), "x"); // member names go in first
    throwsBtf(() => split.string(stringsLength + 10000), "BTF_BAD_STRING_OFFSET");
    assert.deepEqual(split.type(own), {
      kind: BtfKind.STRUCT,
      id: own,
      name: "mod_struct",
      size: 16,
      kindFlag: false,
      members: [{ name: "x", type: int, bitOffset: 0, bitfieldSize: 0 }, {
        name: "p",
        type: long,
        bitOffset: 64,
        bitfieldSize: 0,
      }],
    });
    assert.deepEqual(split.idsByName("shared"), [shared, dup]);
    assert.deepEqual(split.idsByName("int"), [int, reuse]);
    assert.equal(split.typeByName("mod_struct", BtfKind.STRUCT).id, own);
    throwsBtf(() => split.typeByName("shared", BtfKind.TYPEDEF), "BTF_AMBIGUOUS"); // base and split
    assert.deepEqual([...split.types()].map((t) => t.id), [reuse, own, dup, ptr]);
    assert.equal(split.sizeOf(reuse), 8);
    assert.equal(split.sizeOf(dup), 16);
    assert.equal(split.alignOf(own), 8);
    assert.equal(split.sizeOf(ptr), 8);
    assert.equal(split.skipTypedefs(reuse), long);
    throwsBtf(() => split.type(8), "BTF_BAD_TYPE_ID");
    throwsBtf(() => split.replaceType(int, base.type(int)), "BTF_BAD_TYPE_ID");
    split.decodeAll();
    // Without the base, the split blob is not valid base BTF.
    throwsBtf(() => Btf.parse(splitBlob.bytes), "BTF_BAD_STRINGS");
  }
});

test("split BTF: an empty string section, and a reference past the last ID", () => {
  const { base } = splitPair(true);
  const sw = new BtfBlobWriter({ base: { lastId: base.lastId, stringsLength: 0 } });
  const td = sw.raw({ name: 0, kind: BtfKind.PTR, sizeOrType: 1 });
  const bad = sw.raw({ name: 0, kind: BtfKind.PTR, sizeOrType: 6 });
  const blob = sw.build();
  assert.equal(readU32(blob.bytes, 20, true), 0);
  const split = Btf.parse(blob.bytes, { base });
  assert.deepEqual(split.type(td), { kind: BtfKind.PTR, id: td, name: "", type: 1 });
  throwsBtf(() => split.type(bad), "BTF_BAD_TYPE_ID");
  throwsBtf(() => split.string(base.string(1).length + 100), "BTF_BAD_STRING_OFFSET");
});

test("split BTF: unknown kinds sized by the base's layout section", () => {
  const bw = new BtfBlobWriter();
  bw.add({ kind: BtfKind.INT, name: "int", size: 4, encoding: 1, bitOffset: 0, bits: 32 });
  const layout = [...knownLayout(), { infoSize: 4, elemSize: 0 }];
  const baseBlob = bw.build({ layout });
  const base = Btf.parse(baseBlob.bytes);
  const sw = new BtfBlobWriter({
    base: { lastId: 1, stringsLength: readU32(baseBlob.bytes, 20, true) },
  });
  const unk = sw.raw({ name: "new", kind: 20, sizeOrType: 1, words: [7] });
  const td = sw.add({ kind: BtfKind.TYPEDEF, name: "t", type: 1 });
  const split = Btf.parse(sw.build().bytes, { base });
  assert.equal(split.kindOf(unk), 20);
  assert.equal(split.type(td).name, "t");
});

// --- lookups -------------------------------------------------------------------

test("name lookups: idsByName, typeByName, essential names", () => {
  const w = new BtfBlobWriter();
  const int = w.add({
    kind: BtfKind.INT,
    name: "int",
    size: 4,
    encoding: 1,
    bitOffset: 0,
    bits: 32,
  });
  const s = w.add({ kind: BtfKind.STRUCT, name: "task", size: 4, kindFlag: false, members: [] });
  const fwd = w.add({ kind: BtfKind.FWD, name: "task", union: false });
  const v2 = w.add({
    kind: BtfKind.STRUCT,
    name: "task___v2",
    size: 4,
    kindFlag: false,
    members: [],
  });
  const v3 = w.add({
    kind: BtfKind.STRUCT,
    name: "task___3___x",
    size: 4,
    kindFlag: false,
    members: [],
  });
  const btf = Btf.parse(w.build().bytes);
  assert.deepEqual(btf.idsByName("task"), [s, fwd]);
  assert.deepEqual(btf.idsByName(""), []);
  assert.deepEqual(btf.idsByName("nothing"), []);
  const ids = btf.idsByName("task");
  ids.push(99);
  assert.deepEqual(btf.idsByName("task"), [s, fwd], "the index is not exposed");
  assert.equal(btf.typeByName("task", BtfKind.STRUCT).id, s);
  assert.equal(btf.typeByName("task", BtfKind.FWD).id, fwd);
  assert.equal(btf.typeByName("int").id, int);
  throwsBtf(() => btf.typeByName("task"), "BTF_AMBIGUOUS");
  throwsBtf(() => btf.typeByName("task", BtfKind.UNION), "BTF_NOT_FOUND");
  throwsBtf(() => btf.typeByName("nothing"), "BTF_NOT_FOUND");
  assert.deepEqual(btf.idsByEssentialName("task"), [s, fwd, v2]);
  assert.deepEqual(btf.idsByEssentialName("task___3"), [v3]);
  assert.deepEqual(btf.idsByEssentialName("int"), [int]);
});

test("essentialName: libbpf's last X___Y split", () => {
  const cases: [string, string][] = [
    ["task_struct", "task_struct"],
    ["task_struct___v2", "task_struct"],
    ["task_struct___2___x", "task_struct___2"],
    ["a___b", "a"],
    ["a____b", "a____b"],
    ["a___", "a___"],
    ["___a", "___a"],
    ["_a___b", "_a"],
    ["x___y_", "x"],
    ["", ""],
  ];
  for (const [name, want] of cases) assert.equal(essentialName(name), want, name);
});

test("type IDs out of range", () => {
  const btf = Btf.parse(simpleBlob().bytes);
  for (const id of [-1, 4, 1.5, NaN, 2 ** 32, Infinity]) {
    throwsBtf(() => btf.type(id), "BTF_BAD_TYPE_ID");
    throwsBtf(() => btf.kindOf(id), "BTF_BAD_TYPE_ID");
    throwsBtf(() => btf.nameOf(id), "BTF_BAD_TYPE_ID");
  }
  assert.equal(btf.kindOf(0), BtfKind.UNKN);
  assert.equal(btf.nameOf(0), "");
  assert.equal(btf.string(0), "");
  assert.equal(btf.string(1), "int");
  assert.equal(btf.string(2), "nt");
  for (const off of [-1, 1e9, 0.5]) throwsBtf(() => btf.string(off), "BTF_BAD_STRING_OFFSET");
});

// --- sizes and alignment -------------------------------------------------------

function sizedTypes(extra: (w: BtfBlobWriter) => void = () => {}) {
  const w = new BtfBlobWriter();
  const ids = {
    char: w.add({ kind: BtfKind.INT, name: "char", size: 1, encoding: 2, bitOffset: 0, bits: 8 }), // 1
    short: w.add({
      kind: BtfKind.INT,
      name: "short",
      size: 2,
      encoding: 1,
      bitOffset: 0,
      bits: 16,
    }), // 2
    int: w.add({ kind: BtfKind.INT, name: "int", size: 4, encoding: 1, bitOffset: 0, bits: 32 }), // 3
    i128: w.add({
      kind: BtfKind.INT,
      name: "__int128",
      size: 16,
      encoding: 1,
      bitOffset: 0,
      bits: 128 & 0xff,
    }), // 4
    ptr: w.add({ kind: BtfKind.PTR, name: "", type: 0 }), // 5
    arr: w.add({ kind: BtfKind.ARRAY, name: "", type: 3, indexType: 3, nelems: 10 }), // 6
    arr2: w.add({ kind: BtfKind.ARRAY, name: "", type: 6, indexType: 3, nelems: 3 }), // 7
    td: w.add({ kind: BtfKind.TYPEDEF, name: "arr2_t", type: 7 }), // 8
    cst: w.add({ kind: BtfKind.CONST, name: "", type: 8 }), // 9
    fwd: w.add({ kind: BtfKind.FWD, name: "opaque", union: false }), // 10
    proto: w.add({ kind: BtfKind.FUNC_PROTO, name: "", returnType: 0, params: [] }), // 11
    func: w.add({ kind: BtfKind.FUNC, name: "f", type: 11, linkage: 0 }), // 12
    s: w.add({
      kind: BtfKind.STRUCT,
      name: "s",
      size: 16,
      kindFlag: false,
      members: [
        { name: "c", type: 1, bitOffset: 0, bitfieldSize: 0 },
        { name: "p", type: 5, bitOffset: 64, bitfieldSize: 0 },
      ],
    }), // 13
    packed: w.add({
      kind: BtfKind.STRUCT,
      name: "packed",
      size: 5,
      kindFlag: false,
      members: [
        { name: "c", type: 1, bitOffset: 0, bitfieldSize: 0 },
        { name: "i", type: 3, bitOffset: 8, bitfieldSize: 0 },
      ],
    }), // 14
    oddSize: w.add({
      kind: BtfKind.STRUCT,
      name: "odd",
      size: 6,
      kindFlag: false,
      members: [{ name: "i", type: 3, bitOffset: 0, bitfieldSize: 0 }],
    }), // 15
    bitfields: w.add({
      kind: BtfKind.STRUCT,
      name: "bf",
      size: 4,
      kindFlag: true,
      members: [
        { name: "a", type: 3, bitOffset: 0, bitfieldSize: 3 },
        { name: "b", type: 3, bitOffset: 3, bitfieldSize: 5 },
        { name: "s", type: 2, bitOffset: 16, bitfieldSize: 0 },
      ],
    }), // 16
    u: w.add({
      kind: BtfKind.UNION,
      name: "u",
      size: 16,
      kindFlag: false,
      members: [{ name: "x", type: 4, bitOffset: 0, bitfieldSize: 0 }, {
        name: "y",
        type: 2,
        bitOffset: 0,
        bitfieldSize: 0,
      }],
    }), // 17
    e: w.add({ kind: BtfKind.ENUM, name: "e", size: 2, signed: false, values: [] }), // 18
    e64: w.add({ kind: BtfKind.ENUM64, name: "e64", size: 8, signed: false, values: [] }), // 19
    flt: w.add({ kind: BtfKind.FLOAT, name: "long double", size: 16 }), // 20
    v: w.add({ kind: BtfKind.VAR, name: "v", type: 13, linkage: 1 }), // 21
    ds: w.add({
      kind: BtfKind.DATASEC,
      name: ".data",
      size: 24,
      vars: [{ type: 21, offset: 0, size: 16 }],
    }), // 22
    tag: w.add({ kind: BtfKind.DECL_TAG, name: "tag", type: 21, componentIdx: -1 }), // 23
    ttag: w.add({ kind: BtfKind.TYPE_TAG, name: "user", type: 3 }), // 24
    vol: w.add({ kind: BtfKind.VOLATILE, name: "", type: 24 }), // 25
    restrict: w.add({ kind: BtfKind.RESTRICT, name: "", type: 25 }), // 26
    big: w.add({ kind: BtfKind.ARRAY, name: "", type: 3, indexType: 3, nelems: 0x3fffffff }), // 27
    huge: w.add({ kind: BtfKind.ARRAY, name: "", type: 27, indexType: 3, nelems: 2 }), // 28
    zero: w.add({ kind: BtfKind.ARRAY, name: "", type: 27, indexType: 3, nelems: 0 }), // 29
    tdVoid: w.add({ kind: BtfKind.TYPEDEF, name: "void_t", type: 0 }), // 30
  };
  extra(w);
  return { btf: Btf.parse(w.build().bytes), ids };
}

test("sizeOf: libbpf's btf__resolve_size", () => {
  const { btf, ids } = sizedTypes();
  const want: [number, number][] = [
    [ids.char, 1],
    [ids.int, 4],
    [ids.i128, 16],
    [ids.ptr, 8],
    [ids.arr, 40],
    [ids.arr2, 120],
    [ids.td, 120],
    [ids.cst, 120],
    [ids.s, 16],
    [ids.packed, 5],
    [ids.u, 16],
    [ids.e, 2],
    [ids.e64, 8],
    [ids.flt, 16],
    [ids.v, 16],
    [ids.ds, 24],
    [ids.tag, 16],
    [ids.restrict, 4],
    [ids.big, 0xfffffffc],
    [ids.zero, 0],
  ];
  for (const [id, size] of want) assert.equal(btf.sizeOf(id), size, `sizeOf(${id})`);
  for (const id of [0, ids.fwd, ids.proto, ids.func, ids.tdVoid]) {
    throwsBtf(() => btf.sizeOf(id), "BTF_NO_SIZE");
  }
  throwsBtf(() => btf.sizeOf(ids.huge), "BTF_SIZE_OVERFLOW");
  throwsBtf(() => btf.sizeOf(99), "BTF_BAD_TYPE_ID");
});

test("alignOf: libbpf's btf__align_of, packed structs included", () => {
  const { btf, ids } = sizedTypes();
  const want: [number, number][] = [
    [ids.char, 1],
    [ids.short, 2],
    [ids.int, 4],
    [ids.i128, 8],
    [ids.ptr, 8],
    [ids.arr, 4],
    [ids.arr2, 4],
    [ids.cst, 4],
    [ids.s, 8],
    [ids.packed, 1],
    [ids.oddSize, 1],
    [ids.bitfields, 4],
    [ids.u, 8],
    [ids.e, 2],
    [ids.e64, 8],
    [ids.flt, 8],
    [ids.restrict, 4],
  ];
  for (const [id, align] of want) assert.equal(btf.alignOf(id), align, `alignOf(${id})`);
  for (const id of [0, ids.fwd, ids.proto, ids.func, ids.v, ids.ds, ids.tag, ids.tdVoid]) {
    throwsBtf(() => btf.alignOf(id), "BTF_NO_ALIGNMENT");
  }
});

test("skipQualifiers and skipTypedefs", () => {
  const { btf, ids } = sizedTypes();
  assert.equal(btf.skipQualifiers(ids.restrict), ids.int);
  assert.equal(btf.skipQualifiers(ids.cst), ids.td);
  assert.equal(btf.skipTypedefs(ids.cst), ids.arr2);
  assert.equal(btf.skipTypedefs(ids.int), ids.int);
  assert.equal(btf.skipTypedefs(ids.tdVoid), 0);
  assert.equal(btf.skipQualifiers(0), 0);
});

test("pointer size: an INT named long says 4 bytes", () => {
  const w = new BtfBlobWriter();
  w.add({
    kind: BtfKind.INT,
    name: "long unsigned int",
    size: 4,
    encoding: 0,
    bitOffset: 0,
    bits: 32,
  });
  const ptr = w.add({ kind: BtfKind.PTR, name: "", type: 1 });
  const btf = Btf.parse(w.build().bytes);
  assert.equal(btf.pointerSize, 4);
  assert.equal(btf.sizeOf(ptr), 4);
  assert.equal(btf.alignOf(ptr), 4);
});

test("loops end in BTF_LOOP, never a hang or a stack overflow", () => {
  const w = new BtfBlobWriter();
  const a = w.add({ kind: BtfKind.TYPEDEF, name: "a", type: 2 });
  const b = w.add({ kind: BtfKind.TYPEDEF, name: "b", type: 1 });
  const c = w.add({ kind: BtfKind.CONST, name: "", type: 3 }); // const of itself
  const s = w.add({
    kind: BtfKind.STRUCT,
    name: "self",
    size: 8,
    kindFlag: false,
    members: [{ name: "me", type: 4, bitOffset: 0, bitfieldSize: 0 }],
  });
  const arr = w.add({ kind: BtfKind.ARRAY, name: "", type: 5, indexType: 0, nelems: 1 }); // array of itself
  // A long chain of distinct nested structs (deeper than any sane alignment recursion).
  let prev = w.add({
    kind: BtfKind.INT,
    name: "int",
    size: 4,
    encoding: 1,
    bitOffset: 0,
    bits: 32,
  });
  for (let i = 0; i < 2000; i++) {
    prev = w.add({
      kind: BtfKind.STRUCT,
      name: "",
      size: 4,
      kindFlag: false,
      members: [{ name: "m", type: prev, bitOffset: 0, bitfieldSize: 0 }],
    });
  }
  const deep = prev;
  const btf = Btf.parse(w.build().bytes);
  for (const id of [a, b, c]) {
    throwsBtf(() => btf.sizeOf(id), "BTF_LOOP");
    throwsBtf(() => btf.alignOf(id), "BTF_LOOP");
    throwsBtf(() => btf.skipTypedefs(id), "BTF_LOOP");
  }
  throwsBtf(() => btf.skipQualifiers(c), "BTF_LOOP");
  assert.equal(btf.skipQualifiers(a), a);
  throwsBtf(() => btf.alignOf(s), "BTF_LOOP");
  throwsBtf(() => btf.alignOf(s), "BTF_LOOP"); // the memo does not remember a half-done answer
  assert.equal(btf.sizeOf(s), 8);
  throwsBtf(() => btf.sizeOf(arr), "BTF_LOOP");
  throwsBtf(() => btf.alignOf(arr), "BTF_LOOP");
  throwsBtf(() => btf.alignOf(deep), "BTF_LOOP");
  assert.equal(btf.sizeOf(deep), 4);
});

// --- overrides -------------------------------------------------------------------

test("replaceType: type, types, kindOf, nameOf, names and sizes see the override", () => {
  const { btf, ids } = sizedTypes();
  const ds = btf.type(ids.ds) as BtfDatasec;
  const fixed: BtfDatasec = {
    ...ds,
    name: ".data.fixed",
    size: 64,
    vars: [{ ...ds.vars[0], offset: 8 }],
  };
  btf.idsByName(".data"); // build the name index first
  btf.alignOf(ids.s);
  btf.replaceType(ids.ds, fixed);
  assert.equal(btf.type(ids.ds), fixed);
  assert.equal(btf.sizeOf(ids.ds), 64);
  assert.equal(btf.nameOf(ids.ds), ".data.fixed");
  assert.deepEqual(btf.idsByName(".data"), []);
  assert.deepEqual(btf.idsByName(".data.fixed"), [ids.ds]);
  assert.equal([...btf.types()].find((t) => t.id === ids.ds), fixed);
  // A change of kind and layout.
  btf.replaceType(ids.s, {
    kind: BtfKind.STRUCT,
    id: ids.s,
    name: "s",
    size: 2,
    kindFlag: false,
    members: [],
  });
  assert.equal(btf.alignOf(ids.s), 1);
  btf.replaceType(ids.int, { kind: BtfKind.TYPEDEF, id: ids.int, name: "int_t", type: ids.short });
  assert.equal(btf.kindOf(ids.int), BtfKind.TYPEDEF);
  assert.equal(btf.sizeOf(ids.arr), 20);
  throwsBtf(() => btf.replaceType(ids.int, { ...fixed }), "BTF_BAD_OVERRIDE");
  throwsBtf(() => btf.replaceType(0, { kind: BtfKind.UNKN, id: 0, name: "" }), "BTF_BAD_TYPE_ID");
  throwsBtf(
    () => btf.replaceType(1000, { kind: BtfKind.UNKN, id: 1000, name: "" }),
    "BTF_BAD_TYPE_ID",
  );
});

test("replaceType: an unknown kind can be given a decoded form", () => {
  const { blob, unk, int } = layoutBlob(true, { infoSize: 0, elemSize: 0 });
  const btf = Btf.parse(blob.bytes);
  btf.replaceType(unk, { kind: BtfKind.TYPEDEF, id: unk, name: "mystery", type: int });
  assert.equal(btf.kindOf(unk), BtfKind.TYPEDEF);
  assert.equal(btf.sizeOf(unk), 4);
  assert.deepEqual([...btf.types()].map((t) => t.id), [1, 2, 3, 4]);
});

test("errors name the type ID and the byte offset", () => {
  const w = new BtfBlobWriter({ littleEndian: false });
  w.add({ kind: BtfKind.INT, name: "int", size: 4, encoding: 1, bitOffset: 0, bits: 32 });
  const s = w.add({
    kind: BtfKind.STRUCT,
    name: "s",
    size: 8,
    kindFlag: false,
    members: [{ name: "a", type: 1, bitOffset: 0, bitfieldSize: 0 }, {
      name: "b",
      type: 77,
      bitOffset: 32,
      bitfieldSize: 0,
    }],
  });
  const p = w.raw({
    name: "f",
    kind: BtfKind.FUNC_PROTO,
    vlen: 1,
    sizeOrType: 1,
    words: [0x10000, 1],
  });
  const blob = w.build();
  const btf = Btf.parse(blob.bytes);
  const e = throwsBtf(() => btf.type(s), "BTF_BAD_TYPE_ID");
  assert.match(e.message, /type \[2\] STRUCT at offset 40: member 1 refers to type 77/);
  assert.equal(e.offset, blob.offsetOf(s) + 12 + 12 + 4);
  const e2 = throwsBtf(() => btf.type(p), "BTF_BAD_STRING_OFFSET");
  assert.match(e2.message, /type \[3\] FUNC_PROTO at offset \d+: parameter 0's name offset 65536/);
  assert.equal(e2.offset, blob.offsetOf(p) + 12);
});

test("a blob in a larger buffer at an odd offset parses the same", () => {
  for (const le of ORDERS) {
    const { blob, types } = buildEveryKind(le);
    const buffer = new Uint8Array(blob.bytes.length + 7);
    buffer.set(blob.bytes, 3);
    const btf = Btf.parse(buffer.subarray(3, 3 + blob.bytes.length));
    assert.deepEqual([...btf.types()], types);
  }
});

test("fixtures exist for the fixture tests", () => {
  if (!existsSync(fixturePath("bpfel"))) return console.log("skipped: no fixtures built");
  assert.ok(fixtureObjects("bpfel").length > 0);
  assert.ok(fixtureObjects("bpfeb").length > 0);
});
