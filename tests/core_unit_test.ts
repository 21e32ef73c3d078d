import { test } from "node:test";
import assert from "node:assert/strict";
import { Btf } from "../btf/btf.ts";
import { BtfBuilder } from "../btf/builder.ts";
import { marshalBtf } from "../btf/marshal.ts";
import {
  calcCoreRelo,
  CORE_POISON_IMM,
  CoreError,
  type CoreRelocationResult,
  CoreReloKind,
  coreReloKindString,
  explainCoreFailure,
  fieldsAreCompat,
  findCandidates,
  formatCoreResult,
  formatCoreSpec,
  parseCoreSpec,
  patchCoreInstruction,
  resolveCoreRelocation,
  typesAreCompat,
  typesMatch,
} from "../btf/core/mod.ts";
import type { Instruction } from "../isa/instruction.ts";

function parse(b: BtfBuilder, base?: Btf): Btf {
  return Btf.parse(marshalBtf(b), { base });
}

/** Local: struct s { int a; struct { int b; }; int arr[2]; int flex[]; } and friends. */
function localBtf() {
  const b = new BtfBuilder();
  const int = b.int("int", 4, { signed: true });
  const anon = b.struct("", [{ name: "b", type: int }]);
  const arr = b.array(int, 2);
  const flex = b.array(int, 0);
  const s = b.struct("s", [
    { name: "a", type: int },
    { name: "", type: anon },
    { name: "arr", type: arr },
    { name: "flex", type: flex },
  ]);
  const e = b.enum("e", { X: 1, Y: -2 });
  const ptr = b.pointer(s);
  const fwd = b.fwd("f");
  const td = b.typedef("s_t", s);
  return { btf: parse(b), int, s, e, ptr, fwd, td, anon };
}

test("core unit: kind names are libbpf's", () => {
  assert.deepEqual(
    Array.from({ length: 14 }, (_, k) => coreReloKindString(k)),
    [
      "byte_off",
      "byte_sz",
      "field_exists",
      "signed",
      "lshift_u64",
      "rshift_u64",
      "local_type_id",
      "target_type_id",
      "type_exists",
      "type_size",
      "enumval_exists",
      "enumval_value",
      "type_matches",
      "unknown",
    ],
  );
});

test("core unit: specs walk anonymous members, arrays and flexible arrays", () => {
  const { btf, s, e } = localBtf();
  const b = parseCoreSpec(btf, { typeId: s, accessor: "0:1:0", kind: 0 });
  assert.deepEqual(b.raw, [0, 1, 0]);
  assert.equal(b.bitOffset, 32);
  assert.deepEqual(b.accessors.map((a) => a.name), [undefined, "b"]);
  assert.equal(formatCoreSpec(b), `<byte_off> [${s}] struct s.b (0:1:0 @ offset 4)`);
  const el = parseCoreSpec(btf, { typeId: s, accessor: "1:2:1", kind: 0 });
  assert.equal(formatCoreSpec(el), `<byte_off> [${s}] struct s[1].arr[1] (1:2:1 @ offset 28)`);
  // A flexible array may be indexed past its 0 elements.
  const flex = parseCoreSpec(btf, { typeId: s, accessor: "0:3:5", kind: 0 });
  assert.equal(flex.bitOffset, (16 + 20) * 8);
  const en = parseCoreSpec(btf, { typeId: e, accessor: "1", kind: CoreReloKind.ENUMVAL_VALUE });
  assert.equal(formatCoreSpec(en), `<enumval_value> [${e}] enum e::Y = -2`);
  const ty = parseCoreSpec(btf, { typeId: s, accessor: "0", kind: CoreReloKind.TYPE_SIZE });
  assert.equal(formatCoreSpec(ty), `<type_size> [${s}] struct s`);
});

test("core unit: malformed specs are CoreErrors naming the type and access string", () => {
  const { btf, s, e, int } = localBtf();
  const bad = (accessor: string, kind: number, typeId = s) =>
    assert.throws(() => parseCoreSpec(btf, { typeId, accessor, kind }), (err: unknown) => {
      assert.ok(err instanceof CoreError, String(err));
      assert.match(err.code, /^CORE_(BAD_ACCESS|UNKNOWN_KIND)$/);
      return true;
    });
  bad("x:1", 0);
  bad("", 0);
  bad("0:9", 0);
  bad("0:2:2", 0); // past arr's 2 elements
  bad("0:0:0", 0, s); // int has no members
  bad("1", CoreReloKind.TYPE_EXISTS);
  bad("5", CoreReloKind.ENUMVAL_EXISTS, e);
  bad("0", CoreReloKind.ENUMVAL_EXISTS, int);
  bad("0", 13);
  bad("0", 0, 999);
  assert.throws(
    () => parseCoreSpec(btf, { typeId: s, accessor: "0", kind: 42 }),
    { code: "CORE_UNKNOWN_KIND" },
  );
});

test("core unit: field and type compatibility follow libbpf", () => {
  const l = new BtfBuilder();
  const li = l.int("int", 4, { signed: true });
  const lu = l.int("unsigned char", 1);
  const lp = l.pointer(li);
  const le = l.enum("e___v1", { A: 1 });
  const la = l.array(li, 3);
  const lf = l.float("float", 4);
  const proto = l.funcProto(li, [{ name: "x", type: lp }]);
  const local = parse(l);
  const t = new BtfBuilder();
  const ti = t.int("long", 8, { signed: true });
  const tp = t.pointer(t.struct("x", []));
  const te = t.enum64("e", { A: 1n });
  const te2 = t.enum("other", { A: 1 });
  const ta = t.array(ti, 9);
  const tproto = t.funcProto(ti, [{ name: "y", type: t.pointer(ti) }]);
  const tproto2 = t.funcProto(ti, []);
  const target = parse(t);
  const at = (id: number) => ({ btf: target, id });
  assert.ok(fieldsAreCompat(local, li, at(ti)));
  assert.ok(fieldsAreCompat(local, lu, at(ti)));
  assert.ok(fieldsAreCompat(local, lp, at(tp)));
  assert.ok(fieldsAreCompat(local, le, at(te)), "enum and enum64 with one essential name");
  assert.ok(!fieldsAreCompat(local, le, at(te2)));
  assert.ok(fieldsAreCompat(local, la, at(ta)));
  assert.ok(!fieldsAreCompat(local, li, at(tp)));
  assert.ok(!fieldsAreCompat(local, lf, at(ti)));
  assert.ok(typesAreCompat(local, proto, at(tproto)));
  assert.ok(!typesAreCompat(local, proto, at(tproto2)));
  assert.ok(typesAreCompat(local, lp, at(tp)) === false, "int * vs struct x *");
});

test("core unit: type_matches is stricter: sizes, signedness, members, enumerators", () => {
  const l = new BtfBuilder();
  const li = l.int("int", 4, { signed: true });
  const fwd = l.fwd("node");
  const ls = l.struct("s___v1", [{ name: "a", type: li }, { name: "next", type: l.pointer(fwd) }]);
  const le = l.enum("e", { A: 1 });
  const local = parse(l);
  const t = new BtfBuilder();
  const ti = t.int("int", 4, { signed: true });
  const tu = t.int("int", 4);
  const node = t.struct("node", []);
  const ts = t.struct("s", [
    { name: "z", type: tu },
    { name: "a", type: ti },
    { name: "next", type: t.pointer(node) },
  ]);
  const ts2 = t.struct("s", [{ name: "a", type: tu }, { name: "next", type: t.pointer(node) }]);
  const te = t.enum("e", { B: 2, A: 7 });
  const te2 = t.enum("e", { B: 2 });
  const target = parse(t);
  assert.ok(typesMatch(local, ls, { btf: target, id: ts }));
  assert.ok(!typesMatch(local, ls, { btf: target, id: ts2 }), "a is unsigned in the target");
  assert.ok(typesMatch(local, le, { btf: target, id: te }));
  assert.ok(!typesMatch(local, le, { btf: target, id: te2 }));
});

test("core unit: candidates: vmlinux first, modules only when it has none, flavours and kinds", () => {
  const v = new BtfBuilder();
  const vi = v.int("int", 4, { signed: true });
  const vs = v.struct("task", [{ name: "pid", type: vi }]);
  v.union("task___u", [{ name: "pid", type: vi }]); // another kind: no candidate
  const vs2 = v.struct("task___2", [{ name: "pid", type: vi }]);
  const vmlinux = parse(v);
  const m = new BtfBuilder({ base: vmlinux });
  const ms = m.struct("mod_only", [{ name: "x", type: vi }]);
  m.struct("task", [{ name: "pid", type: vi }]);
  const mod = parse(m, vmlinux);
  const l = new BtfBuilder();
  const li = l.int("int", 4, { signed: true });
  const lt = l.struct("task___old", [{ name: "pid", type: li }]);
  const lm = l.struct("mod_only", [{ name: "x", type: li }]);
  const la = l.struct("", [{ name: "x", type: li }]);
  const local = parse(l);
  let asked = 0;
  const source = {
    main: { name: "vmlinux", btf: vmlinux },
    modules: () => {
      asked++;
      return [{ name: "mod", btf: mod }];
    },
  };
  assert.deepEqual(findCandidates(local, lt, source).map((c) => [c.target.name, c.id]), [
    ["vmlinux", vs],
    ["vmlinux", vs2],
  ]);
  assert.equal(asked, 0);
  assert.deepEqual(findCandidates(local, lm, source).map((c) => [c.target.name, c.id]), [
    ["mod", ms],
  ]);
  assert.equal(asked, 1);
  assert.throws(() => findCandidates(local, la, source), { code: "CORE_ANONYMOUS" });
  // Two candidates with one offset agree; the list is narrowed to those that match.
  const cands = findCandidates(local, lt, source);
  const r = resolveCoreRelocation(local, { typeId: lt, accessor: "0:0", kind: 0 }, {
    candidates: cands,
  });
  assert.equal(r.result.newVal, 0n);
  assert.equal(cands.length, 2);
});

test("core unit: candidates that disagree are an ambiguity error", () => {
  const t = new BtfBuilder();
  const ti = t.int("int", 4, { signed: true });
  t.struct("s", [{ name: "a", type: ti }]);
  t.struct("s___b", [{ name: "pad", type: ti }, { name: "a", type: ti }]);
  const target = parse(t);
  const l = new BtfBuilder();
  const ls = l.struct("s", [{ name: "a", type: l.int("int", 4, { signed: true }) }]);
  const local = parse(l);
  const candidates = findCandidates(local, ls, { main: { name: "t", btf: target } });
  assert.equal(candidates.length, 2);
  assert.throws(
    () => resolveCoreRelocation(local, { typeId: ls, accessor: "0:0", kind: 0 }, { candidates }),
    { code: "CORE_AMBIGUOUS" },
  );
});

test("core unit: enum values are sign-extended from 32 bits like libbpf's __s32", () => {
  const { btf, e } = localBtf();
  const spec = parseCoreSpec(btf, { typeId: e, accessor: "1", kind: CoreReloKind.ENUMVAL_VALUE });
  const r = calcCoreRelo(spec, spec);
  assert.equal(r.newVal, 0xfffffffffffffffen);
});

const mov = (imm: number): Instruction => ({ opcode: 0xb7, dst: 1, src: 0, offset: 0, imm });
const ldx = (offset: number): Instruction => ({ opcode: 0x61, dst: 1, src: 2, offset, imm: 0 });
const res = (orig: bigint, next: bigint, extra: Record<string, unknown> = {}) => ({
  origVal: orig,
  newVal: next,
  poison: false,
  validate: true,
  failMemszAdjust: false,
  origSize: 0,
  newSize: 0,
  origTypeId: 0,
  newTypeId: 0,
  ...extra,
});

test("core unit: patching checks the compiler's value and the instruction's form", () => {
  assert.equal(patchCoreInstruction(mov(8), res(8n, 12n), 3).instructions[0].imm, 12);
  assert.throws(() => patchCoreInstruction(mov(9), res(8n, 12n), 3), {
    code: "CORE_BAD_INSTRUCTION",
    message: "unexpected insn #3 (ALU/ALU64) value: got 9, exp 8 -> 12",
  });
  // Without validation (bitfields, type IDs) any value is replaced.
  assert.equal(
    patchCoreInstruction(mov(9), res(8n, 12n, { validate: false }), 3).instructions[0].imm,
    12,
  );
  assert.throws(() => patchCoreInstruction(ldx(4), res(4n, 40000n), 1), {
    code: "CORE_VALUE_RANGE",
  });
  const w2h = patchCoreInstruction(ldx(4), res(4n, 6n, { origSize: 4, newSize: 2 }), 1);
  assert.deepEqual([w2h.instructions[0].opcode, w2h.instructions[0].offset], [0x69, 6]);
  assert.throws(
    () => patchCoreInstruction(ldx(4), res(4n, 6n, { origSize: 8, newSize: 2 }), 1),
    { code: "CORE_BAD_INSTRUCTION" },
  );
  const poisoned = patchCoreInstruction(ldx(4), res(4n, 6n, { failMemszAdjust: true }), 1);
  assert.ok(poisoned.poisoned);
  assert.equal(poisoned.instructions[0].imm, CORE_POISON_IMM);
  const jmp: Instruction = { opcode: 0x05, dst: 0, src: 0, offset: 1, imm: 0 };
  assert.throws(() => patchCoreInstruction(jmp, res(0n, 1n), 0), { code: "CORE_BAD_INSTRUCTION" });
  const regAlu: Instruction = { opcode: 0xbf, dst: 1, src: 2, offset: 0, imm: 0 };
  assert.throws(() => patchCoreInstruction(regAlu, res(0n, 1n), 0), {
    code: "CORE_BAD_INSTRUCTION",
  });
  const ld: Instruction = { opcode: 0x18, dst: 1, src: 0, offset: 0, imm: 5, immHi: 0 };
  const wide = patchCoreInstruction(ld, res(5n, 0x1_0000_0002n), 0).instructions[0];
  assert.deepEqual([wide.imm, wide.immHi], [2, 1]);
  assert.throws(() => patchCoreInstruction({ ...ld, src: 1 }, res(5n, 1n), 0), {
    message: "insn #0 (LDIMM64) has unexpected form",
  });
});

test("core unit: explain names the failed relocation from the verifier log", () => {
  const results: CoreRelocationResult[] = [{
    insn: 12,
    kind: 0,
    kindName: "byte_off",
    localTypeId: 5,
    localType: "struct task_struct___old",
    accessor: "0:1",
    spec: "struct task_struct___old.state (0:1 @ offset 8)",
    origValue: 8n,
    newValue: 0n,
    status: "poisoned",
    reason: 'no field "state" in target struct task_struct',
  }];
  const log = "0: R1=ctx()\n12: (85) call unknown#195896080\ninvalid func unknown#195896080\n" +
    "processed 13 insns (limit 1000000)\n";
  assert.equal(
    explainCoreFailure(log, results),
    'insn #12: relocation byte_off of struct task_struct___old.state (0:1) failed: no field "state" in target struct task_struct',
  );
  assert.equal(explainCoreFailure("R0 !read_ok\n", results), undefined);
  assert.equal(explainCoreFailure(log, []), undefined);
  assert.equal(
    formatCoreResult(results[0]),
    'insn #12: <byte_off> [5] struct task_struct___old.state (0:1 @ offset 8): poisoned: no field "state" in target struct task_struct',
  );
});
