// The assembler (isa/asm.ts): bpf_conformance syntax, the benchmark programs byte for
// byte, errors with line numbers, and formatAsm/assemble round trips.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { assemble, formatAsm } from "../isa/asm.ts";
import { encodeInstructions, type Instruction } from "../isa/mod.ts";
import { IsaError } from "../errors/mod.ts";

const fields = (insns: readonly Instruction[]) =>
  insns.map(({ opcode, dst, src, offset, imm, immHi }) =>
    immHi === undefined
      ? { opcode, dst, src, offset, imm }
      : { opcode, dst, src, offset, imm, immHi }
  );
const one = (line: string) => fields(assemble(line))[0];

test("asm: ALU forms, 64 and 32 bit, immediate and register", () => {
  assert.deepEqual(one("mov %r0, 1"), { opcode: 0xb7, dst: 0, src: 0, offset: 0, imm: 1 });
  assert.deepEqual(one("mov32 %r1, %r2"), { opcode: 0xbc, dst: 1, src: 2, offset: 0, imm: 0 });
  assert.deepEqual(one("add %r3, -1"), { opcode: 0x07, dst: 3, src: 0, offset: 0, imm: -1 });
  assert.deepEqual(one("xor32 %r3, 0xffffffff"), {
    opcode: 0xa4,
    dst: 3,
    src: 0,
    offset: 0,
    imm: -1,
  });
  assert.deepEqual(one("sdiv %r1, %r2"), { opcode: 0x3f, dst: 1, src: 2, offset: 1, imm: 0 });
  assert.deepEqual(one("smod32 %r1, 3"), { opcode: 0x94, dst: 1, src: 0, offset: 1, imm: 3 });
  assert.deepEqual(one("neg32 %r4"), { opcode: 0x84, dst: 4, src: 0, offset: 0, imm: 0 });
  assert.deepEqual(one("arsh %r4, %r10"), { opcode: 0xcf, dst: 4, src: 10, offset: 0, imm: 0 });
  assert.deepEqual(one("movsx832 %r1, %r2"), { opcode: 0xbc, dst: 1, src: 2, offset: 8, imm: 0 });
  assert.deepEqual(one("movsx3264 %r1, %r2"), { opcode: 0xbf, dst: 1, src: 2, offset: 32, imm: 0 });
  assert.deepEqual(one("le16 %r1"), { opcode: 0xd4, dst: 1, src: 0, offset: 0, imm: 16 });
  assert.deepEqual(one("be64 %r1"), { opcode: 0xdc, dst: 1, src: 0, offset: 0, imm: 64 });
  assert.deepEqual(one("swap32 %r1"), one("bswap32 %r1"));
  assert.equal(one("bswap32 %r1").opcode, 0xd7);
});

test("asm: loads, stores, lddw and atomics", () => {
  assert.deepEqual(one("ldxb %r0, [%r1+2]"), { opcode: 0x71, dst: 0, src: 1, offset: 2, imm: 0 });
  assert.deepEqual(one("ldxsw %r0, [%r1-4]"), { opcode: 0x81, dst: 0, src: 1, offset: -4, imm: 0 });
  assert.deepEqual(one("ldxdw %r0, [%r1]"), { opcode: 0x79, dst: 0, src: 1, offset: 0, imm: 0 });
  assert.deepEqual(one("stxdw [%r10-8], %r1"), {
    opcode: 0x7b,
    dst: 10,
    src: 1,
    offset: -8,
    imm: 0,
  });
  assert.deepEqual(one("stb [%r1+2], 0x11"), {
    opcode: 0x72,
    dst: 1,
    src: 0,
    offset: 2,
    imm: 0x11,
  });
  assert.deepEqual(one("sth [%r1 + 2], 1"), { opcode: 0x6a, dst: 1, src: 0, offset: 2, imm: 1 });
  assert.deepEqual(one("lddw %r0, 0x123456789"), {
    opcode: 0x18,
    dst: 0,
    src: 0,
    offset: 0,
    imm: 0x23456789,
    immHi: 1,
  });
  assert.deepEqual(one("lddw %r0, -1"), {
    opcode: 0x18,
    dst: 0,
    src: 0,
    offset: 0,
    imm: -1,
    immHi: -1,
  });
  assert.deepEqual(one("lock add [%r1+0], %r2"), {
    opcode: 0xdb,
    dst: 1,
    src: 2,
    offset: 0,
    imm: 0,
  });
  assert.deepEqual(one("lock fetch add32 [%r1+4], %r2"), {
    opcode: 0xc3,
    dst: 1,
    src: 2,
    offset: 4,
    imm: 1,
  });
  assert.equal(one("lock xchg [%r1], %r2").imm, 0xe1);
  assert.equal(one("lock cmpxchg32 [%r1], %r2").imm, 0xf1);
  assert.equal(one("lock fetch xor [%r1], %r2").imm, 0xa1);
});

test("asm: jumps, labels, calls and the default exit label", () => {
  const insns = fields(assemble(`
    # a comment line
    mov %r0, 0          # trailing comment
    loop: add %r0, 1
    jne32 %r0, 10, loop
    jeq %r0, %r1, exit
    ja +0
    gotol -2
    call local func
    call 5
    call helper 6
    callx %r3
    exit
    func:
    exit
  `));
  assert.deepEqual(insns.map((i) => [i.opcode, i.offset, i.imm]), [
    [0xb7, 0, 0],
    [0x07, 0, 1],
    [0x56, -2, 10],
    [0x1d, 6, 0],
    [0x05, 0, 0],
    [0x06, 0, -2],
    [0x85, 0, 4],
    [0x85, 0, 5],
    [0x85, 0, 6],
    [0x8d, 0, 0],
    [0x95, 0, 0],
    [0x95, 0, 0],
  ]);
  assert.equal(insns[6].src, 1);
  assert.equal(insns[9].dst, 3);
  // lddw takes two slots: labels after it count them; `lddw %rN, local f` is src 4.
  const l = fields(assemble("lddw %r1, local f\nja f\nf:\nexit"));
  assert.deepEqual([l[0].src, l[0].imm, l[0].immHi, l[1].offset], [4, 2, 0, 0]);
});

test("asm: registers may be written without %, as some bpf_conformance files do", () => {
  assert.deepEqual(
    fields(
      assemble("lddw r0, 0x1\nstxdw [r10-8], r0\nlock add [r10-8], r1\njne r0, r1, exit\nexit"),
    ),
    fields(
      assemble(
        "lddw %r0, 0x1\nstxdw [%r10-8], %r0\nlock add [%r10-8], %r1\njne %r0, %r1, exit\nexit",
      ),
    ),
  );
  assert.equal(one("call r2").opcode, 0x8d);
});

test("asm: a bpf_conformance test program assembles", () => {
  const insns = assemble(`mov %r0, 0
mov %r1, 1
stdw [%r10-8], 0x88776655
call local func1
jne %r0, 15, failed
ldxw %r6, [%r10-4]
mov %r0, 1
exit
failed:
mov %r0, -1
exit
func1:
mov %r0, 15
exit`);
  assert.equal(insns.length, 12);
  assert.equal(insns[2].imm, 0x88776655 | 0);
  assert.equal(insns[3].imm, 6);
  assert.equal(insns[4].offset, 3);
});

const benchDir = "/work/shared/bench/vm/";
const benchFiles = existsSync(benchDir)
  ? readdirSync(benchDir).filter((f) => f.endsWith(".asm"))
  : [];
for (const file of benchFiles) {
  test(`asm: bench ${file} reproduces its .bin byte for byte`, () => {
    const bin = new Uint8Array(readFileSync(benchDir + file.replace(/\.asm$/, ".bin")));
    const out = encodeInstructions(assemble(readFileSync(benchDir + file, "utf8")), {
      littleEndian: true,
    });
    assert.deepEqual(out, bin);
  });
}

test("asm: errors are ISA_ASM naming the line", () => {
  const bad = (text: string, pattern: RegExp, firstLine?: number) =>
    assert.throws(
      () => assemble(text, { firstLine }),
      (e: unknown) => e instanceof IsaError && e.code === "ISA_ASM" && pattern.test(e.message),
    );
  bad("mov %r0, 1\nfrob %r1", /^line 2: unknown mnemonic "frob"/);
  bad("mov %r0", /^line 1: mov takes 2 operands, got 1/);
  bad("mov %r16, 1", /line 1: bad register "%r16"/);
  bad("mov %x, 1", /bad register "%x"/);
  bad("add %r0, 0x100000000", /immediate 0x100000000 does not fit in 32 bits/);
  bad("add %r0, 12abc", /bad number "12abc"/);
  bad("ldxw %r0, %r1", /bad memory operand "%r1"/);
  bad("ldxw %r0, [%r1+70000]", /offset \+70000 does not fit in 16 bits/);
  bad("ja nowhere\nexit", /^line 1: unknown label "nowhere"/);
  bad("a:\na:\nexit", /^line 2: duplicate label "a"/);
  bad("lock frob [%r1], %r2", /unknown atomic operation "frob"/);
  bad("lock fetch xchg [%r1], %r2", /xchg always fetches/);
  bad("call frob 1", /bad call mode "frob"/);
  bad("jeq %r0, 1, ++", /bad number|bad jump target/);
  bad("lddw %r0, 0x10000000000000000", /does not fit in 64 bits/);
  bad("ldxsdw %r0, [%r1]", /ldxsdw does not exist/);
  bad("exit\nfrob", /^line 11: /, 10);
});

test("formatAsm: writes the syntax assemble reads", () => {
  const text =
    "mov %r0, 1\nldxh %r2, [%r1-2]\nlock fetch or32 [%r10-8], %r3\njsle32 %r1, -5, -3\n" +
    "lddw %r4, 0xffffffffffffffff\ncall local +1\nexit\nexit\n";
  assert.equal(formatAsm(assemble(text)), text);
  assert.equal(formatAsm(assemble("exit"), { indent: "  " }), "  exit\n");
});

test("formatAsm: refuses what the syntax cannot say", () => {
  const no = (ins: Instruction) =>
    assert.throws(
      () => formatAsm([ins]),
      (e: unknown) => e instanceof IsaError && e.code === "ISA_ASM",
    );
  no({ opcode: 0xff, dst: 0, src: 0, offset: 0, imm: 0 });
  no({ opcode: 0xb7, dst: 0, src: 1, offset: 0, imm: 0 }); // src set on a K form
  no({ opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 1 });
  no({ opcode: 0x18, dst: 0, src: 1, offset: 0, imm: 3, immHi: 0 }); // map fd
  no({ opcode: 0xd4, dst: 0, src: 0, offset: 0, imm: 8 });
});

// Random canonical instructions: every field the form does not use is zero.
const reg = fc.integer({ min: 0, max: 10 });
const imm = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const off = fc.integer({ min: -32768, max: 32767 });
const pick = <T>(...values: T[]) => fc.constantFrom(...values);
const insn = (opcode: number, dst = 0, src = 0, offset = 0, immv = 0): Instruction => ({
  opcode,
  dst,
  src,
  offset,
  imm: immv,
});
const arbInstruction: fc.Arbitrary<Instruction> = fc.oneof(
  fc.tuple(
    pick(0x04, 0x07),
    pick(0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0),
    reg,
    imm,
  )
    .map(([cls, op, d, i]) => insn(cls | op, d, 0, 0, i)),
  fc.tuple(
    pick(0x0c, 0x0f),
    pick(0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0),
    reg,
    reg,
  )
    .map(([cls, op, d, s]) => insn(cls | op, d, s)),
  fc.tuple(pick(0x34, 0x37, 0x94, 0x97), reg, imm).map(([o, d, i]) => insn(o, d, 0, 1, i)),
  fc.tuple(pick(0x3c, 0x3f, 0x9c, 0x9f), reg, reg).map(([o, d, s]) => insn(o, d, s, 1)),
  fc.tuple(pick(0x84, 0x87), reg).map(([o, d]) => insn(o, d)),
  fc.tuple(
    pick<[number, number]>([0xbc, 8], [0xbc, 16], [0xbf, 8], [0xbf, 16], [0xbf, 32]),
    reg,
    reg,
  )
    .map(([[o, o2], d, s]) => insn(o, d, s, o2)),
  fc.tuple(pick(0xd4, 0xdc, 0xd7), reg, pick(16, 32, 64)).map(([o, d, w]) => insn(o, d, 0, 0, w)),
  fc.tuple(reg, imm, imm).map(([d, lo, hi]) => ({ ...insn(0x18, d, 0, 0, lo), immHi: hi })),
  fc.tuple(reg, imm).map(([d, i]) => ({ ...insn(0x18, d, 4, 0, i), immHi: 0 })),
  fc.tuple(pick(0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91), reg, reg, off)
    .map(([o, d, s, f]) => insn(o, d, s, f)),
  fc.tuple(pick(0x62, 0x6a, 0x72, 0x7a), reg, off, imm).map(([o, d, f, i]) => insn(o, d, 0, f, i)),
  fc.tuple(pick(0x63, 0x6b, 0x73, 0x7b), reg, reg, off).map(([o, d, s, f]) => insn(o, d, s, f)),
  fc.tuple(
    pick(0xc3, 0xdb),
    reg,
    reg,
    off,
    pick(0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x110),
  )
    .map(([o, d, s, f, i]) => insn(o, d, s, f, i)),
  fc.tuple(
    pick(0x05, 0x06),
    pick(0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0),
    reg,
    imm,
    off,
  )
    .map(([cls, op, d, i, f]) => insn(cls | op, d, 0, f, i)),
  fc.tuple(
    pick(0x0d, 0x0e),
    pick(0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0),
    reg,
    reg,
    off,
  )
    .map(([cls, op, d, s, f]) => insn(cls | op, d, s, f)),
  off.map((f) => insn(0x05, 0, 0, f)),
  imm.map((i) => insn(0x06, 0, 0, 0, i)),
  fc.tuple(pick(0, 1, 2), imm).map(([s, i]) => insn(0x85, 0, s, 0, i)),
  reg.map((d) => insn(0x8d, d)),
  fc.constant(insn(0x95)),
);

test("asm: formatAsm then assemble gives back random instructions", () => {
  fc.assert(
    fc.property(fc.array(arbInstruction, { minLength: 1, maxLength: 40 }), (insns) => {
      assert.deepEqual(fields(assemble(formatAsm(insns))), fields(insns));
    }),
    { numRuns: 500 },
  );
});
