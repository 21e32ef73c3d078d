// btf/dump_raw.ts, btf/dump_c.ts, btf/dump_json.ts: bpftool's raw and JSON
// dumps line for line, compilable C (vmlinux.h) with the kernel's layouts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { BtfError } from "../errors/mod.ts";
import { readElf } from "../elf/mod.ts";
import { Btf } from "../btf/btf.ts";
import { BtfBuilder } from "../btf/builder.ts";
import { marshalBtf } from "../btf/marshal.ts";
import { BtfFuncLinkage, BtfKind, BtfVarLinkage } from "../btf/types.ts";
import { dumpRaw, dumpRawLines } from "../btf/dump_raw.ts";
import { dumpJson } from "../btf/dump_json.ts";
import { dumpC, formatCDecl } from "../btf/dump_c.ts";
import { fixtureObjects, fixturePath, haveCommand, readFixture } from "./_util.ts";

const VMLINUX = "/sys/kernel/btf/vmlinux";
const HAVE_BPFTOOL = haveCommand("bpftool");
const HAVE_CLANG = haveCommand("clang");

function vmlinuxBytes(): Uint8Array | undefined {
  try {
    return new Uint8Array(readFileSync(VMLINUX));
  } catch {
    return undefined;
  }
}

let vmlinuxCache: Btf | undefined;
function vmlinux(): Btf | undefined {
  if (vmlinuxCache !== undefined) return vmlinuxCache;
  const bytes = vmlinuxBytes();
  if (bytes !== undefined) vmlinuxCache = Btf.parse(bytes);
  return vmlinuxCache;
}

function objectBtf(rel: string): Btf {
  const elf = readElf(readFixture(rel));
  const sec = elf.sectionByName(".BTF");
  assert.ok(sec, `${rel} has .BTF`);
  return Btf.parse(elf.sectionData(sec));
}

function allFixtures(): string[] {
  return [
    ...fixtureObjects("bpfel").map((f) => `bpfel/${f}`),
    ...fixtureObjects("bpfeb").map((f) => `bpfeb/${f}`),
  ];
}

function run(
  cmd: string,
  args: string[],
  cwd?: string,
): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 1 << 30 });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function bpftool(...args: string[]): string {
  const r = run("bpftool", args);
  assert.equal(r.status, 0, `bpftool ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Equal texts, or a failure naming the first line that differs. */
function assertSameLines(ours: string, theirs: string, what: string): void {
  if (ours === theirs) return;
  const a = ours.split("\n");
  const b = theirs.split("\n");
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      assert.fail(
        `${what}: line ${i + 1} differs\n  tsbpf:   ${JSON.stringify(a[i])}\n  bpftool: ${
          JSON.stringify(b[i])
        }`,
      );
    }
  }
}

function withTmpDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-btf-dump-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function ms(t0: number): string {
  return `${(performance.now() - t0).toFixed(0)} ms`;
}

/** A BTF with every kind and the C dumper's corner cases. */
function kitchenSink(): BtfBuilder {
  const b = new BtfBuilder();
  const int = b.int("int", 4, { signed: true });
  const uint = b.int("unsigned int", 4);
  const char = b.int("char", 1, { signed: true, char: true });
  const bool = b.int("_Bool", 1, { bool: true });
  const long = b.int("long int", 8, { signed: true });
  const ulong = b.int("long unsigned int", 8);
  const i128 = b.int("__int128", 16, { signed: true });
  const dbl = b.float("double", 8);
  const signedEnum = b.enum("sign_e", { NEG: -5, POS: 7 });
  b.enum("big_u", [{ name: "BIG", value: 0xffffffff }], { signed: false });
  const byteEnum = b.enum("byte_e", { B0: 0, B1: 1 }, { size: 1 });
  const wordEnum = b.enum("word_e", { W0: 0, W1: 1 }, { size: 8 });
  const e64Small = b.enum64("e64_small", { S0: 0n, S1: 1n });
  const e64Big = b.enum64("e64_big", { HUGE: 0xfffffffffffffff0n, ONE: 1n });
  const e64Neg = b.enum64("e64_neg", { MINUS: -2n, PLUS: 3n });
  const opaque = b.enum("opaque_e", []);
  b.enum("", { ANON_CONST: 42 });
  b.enum("dup_a", { DUP: 1 });
  b.enum("dup_b", { DUP: 2 });
  const dup1 = b.struct("dup", [{ name: "a", type: int }]);
  const dup2 = b.struct("dup", [{ name: "b", type: long }]);
  const dupT1 = b.typedef("dup_t", int);
  const dupT2 = b.typedef("dup_t", long);
  const bits = b.struct("bits", [
    { name: "a", type: int, bitfieldSize: 3 },
    { name: "b", type: uint, bitOffset: 8, bitfieldSize: 10 },
    { name: "c", type: long, bitOffset: 64 },
    { name: "d", type: char, bitOffset: 128, bitfieldSize: 2 },
  ]);
  const packed = b.struct("packed", [{ name: "c", type: char }, { name: "i", type: int }], {
    packed: true,
  });
  const anonUnion = b.union("", [{ name: "i", type: int }, { name: "f", type: dbl }]);
  const fwdS = b.fwd("fwd_s");
  const fwdU = b.fwd("fwd_u", { union: true });
  // a ↔ b: b embeds a, a points to b.
  const ptrB = b.add({ kind: BtfKind.PTR, name: "", type: 0 }); // patched below
  const cycA = b.struct("cyc_a", [{ name: "b", type: ptrB }, { name: "x", type: int }]);
  const cycB = b.struct("cyc_b", [{ name: "a", type: cycA }, { name: "next", type: ptrB }]);
  b.replaceType(ptrB, { id: ptrB, kind: BtfKind.PTR, name: "", type: cycB });
  const constChar = b.const(char);
  const ptrConstChar = b.pointer(constChar);
  const variadic = b.funcProto(int, [{ name: "fmt", type: ptrConstChar }], { variadic: true });
  const noArgs = b.funcProto(0, []);
  const voidArg = b.funcProto(long, [{ name: "", type: 0 }]);
  const fnPtr = b.typedef("fn_t", b.pointer(variadic));
  const fnArr = b.array(b.pointer(noArgs), 3);
  const volPtr = b.volatile(b.pointer(b.volatile(int)));
  const restrictPtr = b.restrict(b.pointer(char));
  const userPtr = b.pointer(b.typeTag("user", int));
  const matrix = b.array(b.array(int, 3), 2);
  const vaList = b.typedef("__builtin_va_list", b.pointer(char));
  const holder = b.struct("holder", [
    { name: "se", type: signedEnum },
    { name: "be", type: byteEnum },
    { name: "we", type: wordEnum },
    { name: "s", type: e64Small },
    { name: "g", type: e64Big },
    { name: "n", type: e64Neg },
    { name: "op", type: b.pointer(opaque) },
    { name: "d1", type: dup1 },
    { name: "d2", type: dup2 },
    { name: "t1", type: dupT1 },
    { name: "t2", type: dupT2 },
    { name: "bits", type: bits },
    { name: "pk", type: packed },
    { name: "", type: anonUnion },
    { name: "fs", type: b.pointer(fwdS) },
    { name: "fu", type: b.pointer(fwdU) },
    { name: "cb", type: cycB },
    { name: "fn", type: fnPtr },
    { name: "fns", type: fnArr },
    { name: "vp", type: volPtr },
    { name: "rp", type: restrictPtr },
    { name: "up", type: userPtr },
    { name: "m", type: matrix },
    { name: "flag", type: bool },
    { name: "ul", type: ulong },
    { name: "vf", type: b.pointer(voidArg) },
  ]);
  // Alone: libbpf (and the builder) align __int128 to 8, clang to 16.
  b.struct("wide", [{ name: "i", type: i128 }]);
  b.struct("va_holder", [{ name: "va", type: vaList }, { name: "h", type: holder }]);
  b.declTag("tagged", holder);
  b.declTag("member_tag", holder, 0);
  const mainProto = b.funcProto(int, [{ name: "h", type: b.pointer(holder) }]);
  const mainFunc = b.func("main_fn", mainProto, BtfFuncLinkage.GLOBAL);
  b.declTag("param_tag", mainFunc, 0);
  b.func("static_fn", mainProto, BtfFuncLinkage.STATIC);
  b.func("extern_fn", mainProto, BtfFuncLinkage.EXTERN);
  const v1 = b.variable("global_var", int, BtfVarLinkage.GLOBAL_ALLOCATED);
  const v2 = b.variable("static_var", holder, BtfVarLinkage.STATIC);
  b.variable("extern_var", long, BtfVarLinkage.GLOBAL_EXTERN);
  b.datasec(".data", [{ type: v1, offset: 0, size: 4 }, { type: v2, offset: 8, size: 8 }]);
  return b;
}

// ---------------------------------------------------------------- raw

test("dump_raw: vmlinux line for line as bpftool", { timeout: 120000 }, () => {
  const btf = vmlinux();
  if (btf === undefined) return console.log(`skipped: ${VMLINUX} is not readable`);
  if (!HAVE_BPFTOOL) return console.log("skipped: bpftool is not installed");
  const t0 = performance.now();
  const ours = dumpRaw(btf);
  console.log(`dumpRaw(vmlinux): ${ms(t0)}, ${btf.lastId} types, ${ours.length} chars`);
  assertSameLines(ours, bpftool("btf", "dump", "file", VMLINUX, "format", "raw"), "vmlinux");
});

test("dump_raw: every fixture in both byte orders as bpftool", { timeout: 60000 }, () => {
  const files = allFixtures();
  if (files.length === 0) return console.log("skipped: no fixtures built");
  if (!HAVE_BPFTOOL) return console.log("skipped: bpftool is not installed");
  for (const rel of files) {
    const theirs = bpftool("btf", "dump", "file", fixturePath(rel), "format", "raw");
    assertSameLines(dumpRaw(objectBtf(rel)), theirs, rel);
  }
});

test("dump_raw: every kind, both byte orders, as bpftool", { timeout: 60000 }, () => {
  if (!HAVE_BPFTOOL) return console.log("skipped: bpftool is not installed");
  const sink = kitchenSink();
  withTmpDir((dir) => {
    for (const littleEndian of [true, false]) {
      const bytes = marshalBtf(sink, { littleEndian });
      const file = join(dir, `sink_${littleEndian ? "le" : "be"}.btf`);
      writeFileSync(file, bytes);
      const btf = Btf.parse(bytes);
      assert.equal(btf.littleEndian, littleEndian);
      assertSameLines(dumpRaw(btf), bpftool("btf", "dump", "file", file, "format", "raw"), file);
    }
  });
});

test("dump_raw: split BTF lists its own types, numbered after the base, as bpftool -B", () => {
  const base = Btf.parse(marshalBtf(kitchenSink()));
  const split = new BtfBuilder({ base });
  const int = base.typeByName("int").id;
  const s = split.struct("module_s", [{ name: "x", type: int }, {
    name: "h",
    type: base.typeByName("holder").id,
  }]);
  split.typedef("module_t", split.pointer(s));
  const bytes = marshalBtf(split);
  const btf = Btf.parse(bytes, { base });
  const ours = dumpRaw(btf);
  assert.ok(ours.startsWith(`[${base.lastId + 1}] STRUCT 'module_s' size=`), ours.split("\n")[0]);
  assert.equal(ours.split("\n").filter((l) => l.startsWith("[")).length, btf.lastId - base.lastId);
  if (!HAVE_BPFTOOL) return console.log("skipped bpftool comparison: bpftool is not installed");
  withTmpDir((dir) => {
    writeFileSync(join(dir, "base.btf"), marshalBtf(base));
    writeFileSync(join(dir, "split.btf"), bytes);
    const theirs = bpftool(
      "-B",
      join(dir, "base.btf"),
      "btf",
      "dump",
      "file",
      join(dir, "split.btf"),
      "format",
      "raw",
    );
    assertSameLines(ours, theirs, "split");
  });
});

test("dump_raw: dumpRawLines yields the lines of dumpRaw; ids picks types", () => {
  const btf = Btf.parse(marshalBtf(kitchenSink()));
  const lines = [...dumpRawLines(btf)];
  assert.equal(lines.join("\n") + "\n", dumpRaw(btf));
  assert.ok(lines.some((l) => l === "\t'NEG' val=-5"));
  assert.ok(lines.some((l) => l === "\t'HUGE' val=18446744073709551600ULL"));
  assert.ok(lines.some((l) => l === "\t'MINUS' val=-2LL"));
  assert.ok(lines.some((l) => /^\[\d+\] ENUM 'big_u' encoding=UNSIGNED size=4 vlen=1$/.test(l)));
  assert.ok(lines.some((l) => /^\[\d+\] VAR 'static_var' type_id=\d+, linkage=static$/.test(l)));
  assert.ok(lines.some((l) => /^\[\d+\] FUNC 'extern_fn' type_id=\d+ linkage=extern$/.test(l)));
  assert.ok(
    lines.some((l) => /^\[\d+\] DECL_TAG 'member_tag' type_id=\d+ component_idx=0$/.test(l)),
  );
  assert.ok(lines.some((l) => /^\ttype_id=\d+ offset=8 size=8 \(VAR 'static_var'\)$/.test(l)));
  assert.equal(dumpRaw(btf, { ids: [] }), "");
  const holder = btf.typeByName("holder").id;
  assert.match(
    dumpRaw(btf, { ids: [holder] }),
    /^\[\d+\] STRUCT 'holder' size=\d+ vlen=26\n\t'se' /,
  );
});

// ---------------------------------------------------------------- JSON

/**
 * bpftool's JSON with the values it can't print right made comparable:
 * ENUM64 values (JSON numbers past 2^53; ours are strings) and unsigned
 * ENUM values ≥ 2^31 (bpftool 7.1 sign-extends them to 64 bits).
 */
function comparableJson(doc: { types: Record<string, unknown>[] }, ours: boolean): string {
  for (const t of doc.types) {
    if (t.kind !== "ENUM" && t.kind !== "ENUM64") continue;
    for (const v of t.values as { val: number | string }[]) {
      if (t.kind === "ENUM64") {
        if (ours) assert.equal(typeof v.val, "string");
        v.val = 0;
      } else if (t.encoding === "UNSIGNED" && Number(v.val) >= 2 ** 31) {
        v.val = 0;
      }
    }
  }
  return JSON.stringify(doc);
}

test(
  "dump_json: vmlinux and every fixture as bpftool -j, one entry per type",
  { timeout: 120000 },
  () => {
    if (!HAVE_BPFTOOL) return console.log("skipped: bpftool is not installed");
    const inputs: [string, Btf][] = allFixtures().map((rel) => [fixturePath(rel), objectBtf(rel)]);
    const vm = vmlinux();
    if (vm === undefined) console.log(`vmlinux part skipped: ${VMLINUX} is not readable`);
    else inputs.push([VMLINUX, vm]);
    for (const [file, btf] of inputs) {
      const t0 = performance.now();
      const doc = dumpJson(btf);
      const text = JSON.stringify(doc);
      if (file === VMLINUX) console.log(`dumpJson(vmlinux) + stringify: ${ms(t0)}`);
      assert.equal(doc.types.length, btf.lastId - btf.firstId + 1, file);
      assert.deepEqual(doc.types.map((t) => t.id), doc.types.map((_, i) => btf.firstId + i));
      const theirs = JSON.parse(bpftool("-j", "btf", "dump", "file", file));
      assert.equal(comparableJson(JSON.parse(text), true), comparableJson(theirs, false), file);
    }
  },
);

test("dump_json: every kind; deterministic; ENUM64 values as strings", () => {
  const bytes = marshalBtf(kitchenSink());
  const a = JSON.stringify(dumpJson(Btf.parse(bytes)));
  const b = JSON.stringify(dumpJson(Btf.parse(bytes)));
  assert.equal(a, b);
  const doc = JSON.parse(a) as ReturnType<typeof dumpJson>;
  const byName = (name: string) => doc.types.find((t) => t.name === name)!;
  assert.deepEqual(byName("e64_big").values, [
    { name: "HUGE", val: "18446744073709551600" },
    { name: "ONE", val: "1" },
  ]);
  assert.deepEqual(byName("e64_neg").values![0], { name: "MINUS", val: "-2" });
  assert.equal(byName("e64_neg").encoding, "SIGNED");
  assert.deepEqual(byName("sign_e").values![0], { name: "NEG", val: -5 });
  assert.deepEqual(byName("big_u").values![0], { name: "BIG", val: 4294967295 });
  assert.deepEqual(byName("bits").members![1], {
    name: "b",
    type_id: 2,
    bits_offset: 8,
    bitfield_size: 10,
  });
  assert.equal(byName("fwd_u").fwd_kind, "union");
  assert.equal(byName("main_fn").linkage, "global");
  assert.equal(byName("member_tag").component_idx, 0);
  assert.deepEqual(Object.keys(byName("int")), [
    "id",
    "kind",
    "name",
    "size",
    "bits_offset",
    "nr_bits",
    "encoding",
  ]);
  const anon = doc.types.find((t) => t.kind === "PTR")!;
  assert.equal(anon.name, "(anon)");
  assert.equal(byName(".data").vars!.length, 2);
  if (HAVE_BPFTOOL) {
    withTmpDir((dir) => {
      writeFileSync(join(dir, "sink.btf"), bytes);
      const theirs = JSON.parse(bpftool("-j", "btf", "dump", "file", join(dir, "sink.btf")));
      assert.equal(comparableJson(JSON.parse(a), true), comparableJson(theirs, false));
    });
  }
});

// ---------------------------------------------------------------- C

const PROG_C = `#include "vmlinux.h"

#define SEC(name) __attribute__((section(name), used))

struct task_struct *current_task;
struct sk_buff *current_skb;
work_func_t handler;

SEC("kprobe/do_exit")
int probe(struct pt_regs *ctx)
{
	struct task_struct *task = current_task;
	struct sk_buff *skb = current_skb;
	enum bpf_map_type type = BPF_MAP_TYPE_HASH;
	initcall_t init = (initcall_t)0;

	if (handler || init)
		return -1;
	return task->pid + skb->len + (int)type + (int)sizeof(struct task_struct);
}

char _license[] SEC("license") = "GPL";
`;

/** Whether a type embeds (by value) a va_list, which clang for BPF makes 8 bytes, not the kernel's 24. */
function embedsVaList(btf: Btf, id: number, memo: Map<number, boolean>): boolean {
  const known = memo.get(id);
  if (known !== undefined) return known;
  memo.set(id, false);
  const t = btf.type(id);
  let r = false;
  switch (t.kind) {
    case BtfKind.TYPEDEF:
      r = t.name === "__builtin_va_list" || t.name === "va_list" || t.name === "__gnuc_va_list" ||
        embedsVaList(btf, t.type, memo);
      break;
    case BtfKind.CONST:
    case BtfKind.VOLATILE:
    case BtfKind.RESTRICT:
    case BtfKind.TYPE_TAG:
    case BtfKind.ARRAY:
      r = embedsVaList(btf, t.type, memo);
      break;
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      r = t.members.some((m) => embedsVaList(btf, m.type, memo));
      break;
  }
  memo.set(id, r);
  return r;
}

/**
 * `_Static_assert`s that every uniquely named struct and union has BTF's
 * size and every named, byte-aligned, non-bitfield member BTF's offset.
 */
function layoutAsserts(btf: Btf): { source: string; count: number } {
  const tags = new Map<string, number>();
  for (let id = 1; id <= btf.lastId; id++) {
    const kind = btf.kindOf(id);
    if (
      kind === BtfKind.STRUCT || kind === BtfKind.UNION || kind === BtfKind.ENUM ||
      kind === BtfKind.ENUM64
    ) {
      const name = btf.nameOf(id);
      if (name !== "") tags.set(name, (tags.get(name) ?? 0) + 1);
    }
  }
  const memo = new Map<number, boolean>();
  const lines: string[] = [];
  for (let id = 1; id <= btf.lastId; id++) {
    const t = btf.type(id);
    if (t.kind !== BtfKind.STRUCT && t.kind !== BtfKind.UNION) continue;
    if (t.name === "" || tags.get(t.name) !== 1 || embedsVaList(btf, id, memo)) continue;
    const tag = `${t.kind === BtfKind.STRUCT ? "struct" : "union"} ${t.name}`;
    lines.push(`_Static_assert(sizeof(${tag}) == ${t.size}, "sizeof(${tag})");`);
    for (const m of t.members) {
      if (m.name === "" || m.bitfieldSize !== 0 || m.bitOffset % 8 !== 0) continue;
      const off = m.bitOffset / 8;
      lines.push(
        `_Static_assert(__builtin_offsetof(${tag}, ${m.name}) == ${off}, "${tag}.${m.name}");`,
      );
    }
  }
  return { source: lines.join("\n") + "\n", count: lines.length };
}

function clang(dir: string, args: string[]): void {
  const r = run("clang", args, dir);
  assert.equal(
    r.status,
    0,
    `clang ${args.join(" ")}:\n${r.stderr.split("\n").slice(0, 20).join("\n")}`,
  );
}

test("dump_c: vmlinux.h compiles with a BPF program and has the kernel's struct layouts", {
  timeout: 120000,
}, () => {
  const btf = vmlinux();
  if (btf === undefined) return console.log(`skipped: ${VMLINUX} is not readable`);
  if (!HAVE_CLANG) return console.log("skipped: clang is not installed");
  let t0 = performance.now();
  const header = dumpC(btf);
  console.log(`dumpC(vmlinux): ${ms(t0)}, ${header.split("\n").length} lines`);
  const { source, count } = layoutAsserts(btf);
  withTmpDir((dir) => {
    writeFileSync(join(dir, "vmlinux.h"), header);
    writeFileSync(join(dir, "prog.c"), PROG_C);
    writeFileSync(join(dir, "layout.c"), `#include "vmlinux.h"\n${source}`);
    t0 = performance.now();
    clang(dir, ["-target", "bpf", "-O2", "-g", "-c", "prog.c", "-o", "prog.o"]);
    assert.ok(existsSync(join(dir, "prog.o")));
    clang(dir, ["-target", "bpf", "-fsyntax-only", "layout.c"]);
    console.log(`clang: prog.c and ${count} layout assertions in ${ms(t0)}`);
  });
});

test("dump_c: vmlinux.h line for line as bpftool v7.1 with enumSizeAttributes: false", {
  timeout: 120000,
}, () => {
  const btf = vmlinux();
  if (btf === undefined) return console.log(`skipped: ${VMLINUX} is not readable`);
  if (!HAVE_BPFTOOL) return console.log("skipped: bpftool is not installed");
  const theirs = bpftool("btf", "dump", "file", VMLINUX, "format", "c");
  assertSameLines(dumpC(btf, { enumSizeAttributes: false }), theirs, "vmlinux.h");
  // With the attributes, only enum closing lines change.
  const ours = dumpC(btf).split("\n");
  const ref = theirs.split("\n");
  assert.equal(ours.length, ref.length);
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] !== ref[i]) {
      assert.match(ours[i], /^\t*} __attribute__\(\(mode\((byte|word)\)\)\)/, `line ${i + 1}`);
    }
  }
});

test("dump_c: every fixture's BTF as C compiles, and matches bpftool", { timeout: 120000 }, () => {
  const files = allFixtures();
  if (files.length === 0) return console.log("skipped: no fixtures built");
  if (!HAVE_CLANG) console.log("compilation skipped: clang is not installed");
  if (!HAVE_BPFTOOL) console.log("bpftool comparison skipped: bpftool is not installed");
  withTmpDir((dir) => {
    for (const rel of files) {
      const header = dumpC(objectBtf(rel));
      // DATASEC, VAR and FUNC are not C types: only their types appear.
      assert.doesNotMatch(header, /\.bss|\.data|\.rodata|SEC\(/, rel);
      if (HAVE_BPFTOOL) {
        const theirs = bpftool("btf", "dump", "file", fixturePath(rel), "format", "c");
        assertSameLines(dumpC(objectBtf(rel), { enumSizeAttributes: false }), theirs, rel);
      }
      if (HAVE_CLANG) {
        const name = rel.replace("/", "_").replace(/\.o$/, "");
        writeFileSync(join(dir, `${name}.c`), `${header}\nint tsbpf_dump_check;\n`);
        clang(dir, ["-target", "bpf", "-O2", "-g", "-c", `${name}.c`, "-o", `${name}.o`]);
      }
    }
  });
});

test("dump_c: corner cases spelled like libbpf", () => {
  const btf = Btf.parse(marshalBtf(kitchenSink()));
  const c = dumpC(btf, { header: false });
  const has = (s: string) => assert.ok(c.includes(s), `missing ${JSON.stringify(s)} in:\n${c}`);
  has("enum sign_e {\n\tNEG = -5,\n\tPOS = 7,\n};\n\n");
  has("enum big_u {\n\tBIG = 4294967295,\n};\n\n");
  has("enum byte_e {\n\tB0 = 0,\n\tB1 = 1,\n} __attribute__((mode(byte)));\n\n");
  has("enum word_e {\n\tW0 = 0,\n\tW1 = 1,\n} __attribute__((mode(word)));\n\n");
  has("enum e64_small {\n\tS0 = 0ULL,\n\tS1 = 1ULL,\n} __attribute__((mode(word)));\n\n");
  has("enum e64_big {\n\tHUGE = 18446744073709551600ULL,\n\tONE = 1ULL,\n};\n\n");
  has("enum e64_neg {\n\tMINUS = -2LL,\n\tPLUS = 3LL,\n};\n\n");
  has("enum {\n\tANON_CONST = 42,\n};\n\n");
  // Clashing names get ___N in emission order, per namespace.
  has("enum dup_a {\n\tDUP = 1,\n};\n\nenum dup_b {\n\tDUP___2 = 2,\n};\n\n");
  has("struct dup {\n\tint a;\n};\n\nstruct dup___2 {\n\tlong int b;\n};\n\n");
  has("typedef int dup_t;\n\ntypedef long int dup_t___2;\n\n");
  has("\tdup_t t1;\n\tdup_t___2 t2;\n");
  has(
    "struct bits {\n\tint a: 3;\n\tchar: 5;\n\tunsigned int b: 10;\n\tlong int c;\n\tchar d: 2;\n};\n\n",
  );
  has("struct packed {\n\tchar c;\n\tint i;\n} __attribute__((packed));\n\n");
  has("struct fwd_s;\n\n");
  has("union fwd_u;\n\n");
  // The cycle is broken by a forward declaration of cyc_b.
  has(
    "struct cyc_b;\n\nstruct cyc_a {\n\tstruct cyc_b *b;\n\tint x;\n};\n\nstruct cyc_b {\n\tstruct cyc_a a;\n\tstruct cyc_b *next;\n};\n\n",
  );
  has("typedef int (*fn_t)(const char *fmt, ...);\n\n");
  has("\tunion {\n\t\tint i;\n\t\tdouble f;\n\t};\n");
  has("\tvoid (*fns[3])(void);\n");
  has("\tvolatile int * volatile vp;\n");
  has("\tchar * restrict rp;\n");
  has('\tint __attribute__((btf_type_tag("user"))) *up;\n');
  has("\tint m[2][3];\n");
  has("struct va_holder {\n\t__builtin_va_list va;\n");
  has("\tlong int (*vf)(void);\n");
  has("\tenum opaque_e *op;\n");
  assert.ok(!c.includes("typedef char *__builtin_va_list"), "__builtin_va_list is the compiler's");
  assert.ok(!c.includes("main_fn") && !c.includes("global_var") && !c.includes(".data"));
  // The bpftool-compatible spelling has no enum size attributes.
  assert.ok(!dumpC(btf, { enumSizeAttributes: false }).includes("mode("));
  // ids: just what one type needs.
  const only = dumpC(btf, { header: false, ids: [btf.typeByName("fn_t").id] });
  assert.equal(only, "typedef int (*fn_t)(const char *fmt, ...);\n\n");
});

test(
  "dump_c: the kitchen sink compiles with its layouts and matches bpftool",
  { timeout: 60000 },
  () => {
    const bytes = marshalBtf(kitchenSink());
    const btf = Btf.parse(bytes);
    withTmpDir((dir) => {
      if (HAVE_BPFTOOL) {
        writeFileSync(join(dir, "sink.btf"), bytes);
        const theirs = bpftool("btf", "dump", "file", join(dir, "sink.btf"), "format", "c");
        assertSameLines(dumpC(btf, { enumSizeAttributes: false }), theirs, "sink");
      } else {
        console.log("bpftool comparison skipped: bpftool is not installed");
      }
      if (!HAVE_CLANG) return console.log("compilation skipped: clang is not installed");
      writeFileSync(join(dir, "vmlinux.h"), dumpC(btf));
      writeFileSync(join(dir, "layout.c"), `#include "vmlinux.h"\n${layoutAsserts(btf).source}`);
      clang(dir, ["-target", "bpf", "-O2", "-g", "-c", "layout.c", "-o", "layout.o"]);
    });
  },
);

test("dump_c: formatCDecl spells one declaration", () => {
  const b = new BtfBuilder();
  const int = b.int("int", 4, { signed: true });
  const char = b.int("char", 1, { signed: true });
  const proto = b.funcProto(int, [{ name: "s", type: b.pointer(b.const(char)) }, {
    name: "n",
    type: int,
  }]);
  const arr = b.array(b.pointer(proto), 4);
  const anon = b.struct("", [{ name: "x", type: int }]);
  const cptr = b.const(b.pointer(char));
  const btf = Btf.parse(marshalBtf(b));
  assert.equal(
    formatCDecl(btf, arr, { name: "handlers" }),
    "int (*handlers[4])(const char *s, int n)",
  );
  assert.equal(formatCDecl(btf, arr), "int (*[4])(const char *s, int n)");
  assert.equal(formatCDecl(btf, anon, { name: "v" }), "struct {\n\tint x;\n} v");
  assert.equal(formatCDecl(btf, cptr, { name: "p" }), "char * const p");
  assert.equal(formatCDecl(btf, cptr, { name: "p", stripModifiers: true }), "char *p");
  assert.equal(formatCDecl(btf, 0, { name: "v" }), "void v");
});

test("dump_c: a struct containing itself, or nesting past the limit, is a BtfError", () => {
  const b = new BtfBuilder();
  const int = b.int("int", 4, { signed: true });
  const self = b.add({
    kind: BtfKind.STRUCT,
    name: "self",
    size: 8,
    kindFlag: false,
    members: [{ name: "x", type: int, bitOffset: 0, bitfieldSize: 0 }],
  });
  b.replaceType(self, {
    id: self,
    kind: BtfKind.STRUCT,
    name: "self",
    size: 8,
    kindFlag: false,
    members: [{ name: "x", type: int, bitOffset: 0, bitfieldSize: 0 }, {
      name: "me",
      type: self,
      bitOffset: 32,
      bitfieldSize: 0,
    }],
  });
  const loop = Btf.parse(marshalBtf(b));
  assert.throws(() => dumpC(loop), (e) => e instanceof BtfError && e.code === "BTF_LOOP");

  // 5000 nested anonymous structs: deeper than any real BTF (vmlinux: ~110).
  const d = new BtfBuilder();
  let prev = d.int("int", 4, { signed: true });
  for (let i = 0; i < 5000; i++) {
    prev = d.add({
      kind: BtfKind.STRUCT,
      name: "",
      size: 4,
      kindFlag: false,
      members: [{ name: "m", type: prev, bitOffset: 0, bitfieldSize: 0 }],
    });
  }
  d.typedef("deep_t", prev);
  let p = d.int("long", 8, { signed: true });
  for (let i = 0; i < 400; i++) p = d.pointer(p);
  d.typedef("deep_ptr_t", p);
  const deep = Btf.parse(marshalBtf(d));
  assert.throws(
    () => dumpC(deep, { ids: [deep.typeByName("deep_t").id] }),
    (e) => e instanceof BtfError && e.code === "BTF_LOOP",
  );
  // 400 levels of pointers are fine.
  assert.match(
    dumpC(deep, { ids: [deep.typeByName("deep_ptr_t").id], header: false }),
    /^typedef long \*{400}deep_ptr_t;/,
  );
  assert.throws(
    () => dumpC(deep, { ids: [deep.lastId + 1] }),
    (e) => e instanceof BtfError && e.code === "BTF_BAD_TYPE_ID",
  );
});

test("dump_c: pointer size picks the padding type; runaway output and bad sizes are BtfErrors", () => {
  const b = new BtfBuilder();
  const char = b.int("char", 1, { signed: true });
  const int = b.int("int", 4, { signed: true });
  b.struct("gappy", [{ name: "a", type: char }, { name: "b", type: int, bitOffset: 96 }], {
    size: 16,
  });
  // Anonymous structs are spelled out at every use: 8 uses per level, 8 levels.
  let anon = int;
  for (let level = 0, size = 4; level < 8; level++, size *= 8) {
    const members = Array.from({ length: 8 }, (_, i) => ({
      name: `m${i}`,
      type: anon,
      bitOffset: i * size * 8,
      bitfieldSize: 0,
    }));
    anon = b.add({ kind: BtfKind.STRUCT, name: "", size: size * 8, members, kindFlag: false });
  }
  b.add({
    kind: BtfKind.STRUCT,
    name: "huge",
    size: 4 * 8 ** 8,
    members: [{ name: "x", type: anon, bitOffset: 0, bitfieldSize: 0 }],
    kindFlag: false,
  });
  const btf = Btf.parse(marshalBtf(b));
  const gappy = [btf.typeByName("gappy").id];
  assert.equal(
    dumpC(btf, { ids: gappy, header: false }),
    "struct gappy {\n\tchar a;\n\tlong: 0;\n\tint: 32;\n\tint b;\n};\n\n",
  );
  assert.equal(
    dumpC(btf, { ids: gappy, header: false, pointerSize: 4 }),
    "struct gappy {\n\tchar a;\n\tlong: 32;\n\tlong: 32;\n\tint b;\n};\n\n",
  );
  assert.throws(
    () => dumpC(btf, { pointerSize: 3 }),
    (e) => e instanceof BtfError && e.code === "BTF_BAD_POINTER_SIZE",
  );
  assert.throws(
    () => dumpC(btf, { maxLength: 1 << 20 }),
    (e) => e instanceof BtfError && e.code === "BTF_DUMP_TOO_LARGE",
  );
});
