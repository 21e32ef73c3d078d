import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Instruction } from "../isa/instruction.ts";
import { compileVmCode } from "../backends/vm/compiler/mod.ts";
import { createInterpreter } from "../backends/vm/interpreter.ts";
import { loadVmCode } from "../backends/vm/program.ts";
import { createRuntime } from "../backends/vm/runtime.ts";
import { VmError } from "../backends/vm/errors.ts";
import { REGION_READ, REGION_STRIDED, REGION_WRITE, vmAddress } from "../backends/vm/memory.ts";
import type { VmHelper } from "../backends/vm/types.ts";

type Outcome =
  | { r0: string; steps: number; memory: string }
  | { code: string; pc?: number; message: string };

const helpers = new Map<number, VmHelper>([
  [1, { name: "mix", call: (env) => (env.arg(1) * 3 + env.arg(2)) % 1000 - 500 }],
  [2, { name: "big", call: (env) => env.argU64(3) ^ 0x8000_0000_0000_0001n }],
]);

/** Run `insns` in one tier with a data region (r1, r2 = its length) and a strided one (r3). */
function run(insns: Instruction[], tier: "jit" | "interpret", budget: number): Outcome | null {
  const rt = createRuntime({ helpers });
  try {
    let code;
    try {
      code = loadVmCode(insns, { name: "p", mem: rt.mem, helpers });
    } catch (err) {
      if (err instanceof VmError && err.code === "VM_BAD_PROGRAM") return null;
      throw err;
    }
    const mem = rt.mem;
    const base = mem.alloc(64);
    for (let i = 0; i < 64; i++) mem.u8[base + i] = (i * 37 + 11) & 0xff;
    const tag = mem.map({ name: "data", base, len: 64, flags: REGION_READ | REGION_WRITE });
    const sbase = mem.alloc(48);
    const stag = mem.map({
      name: "values",
      base: sbase,
      len: 48,
      flags: REGION_READ | REGION_WRITE | REGION_STRIDED,
      elem: 12,
      stride: 16,
    });
    const exec = tier === "jit" ? compileVmCode(rt, code) : createInterpreter(rt, code);
    try {
      const r = exec.run([vmAddress(tag, 0), 64, vmAddress(stag, 0)], { budget });
      const memory = [...mem.u8.slice(base, base + 64), ...mem.u8.slice(sbase, sbase + 48)]
        .join(",");
      return { r0: `${r.hi}:${r.lo}`, steps: r.steps, memory };
    } catch (err) {
      if (!(err instanceof VmError)) throw err;
      return { code: err.code, pc: err.pc, message: err.message };
    }
  } finally {
    rt.close();
  }
}

const reg = fc.integer({ min: 0, max: 9 });
const imm32 = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.constantFrom(0, 1, -1, 2, 7, 31, 32, 63, 64, 0x7fffffff, -0x80000000, 0xffff, 0x80),
);
const value64 = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.constantFrom(0n, 1n, 1n << 63n, (1n << 64n) - 1n, 0xffffffffn, 0x80000000n, 0x7fn),
);

const lddw = (dst: number, v: bigint): Instruction => ({
  opcode: 0x18,
  dst,
  src: 0,
  offset: 0,
  imm: Number(v & 0xffffffffn) | 0,
  immHi: Number((v >> 32n) & 0xffffffffn) | 0,
});

/** One valid ALU instruction (any form the loader accepts). */
const aluInsn: fc.Arbitrary<Instruction> = fc.record({
  cls: fc.constantFrom(0x04, 0x07),
  op: fc.constantFrom(
    0x00,
    0x10,
    0x20,
    0x30,
    0x40,
    0x50,
    0x60,
    0x70,
    0x80,
    0x90,
    0xa0,
    0xb0,
    0xc0,
    0xd0,
  ),
  x: fc.boolean(),
  dst: reg,
  src: reg,
  imm: imm32,
  variant: fc.integer({ min: 0, max: 3 }),
}).map(({ cls, op, x, dst, src, imm, variant }) => {
  const is64 = cls === 0x07;
  if (op === 0x80) return { opcode: cls | op, dst, src: 0, offset: 0, imm: 0 };
  if (op === 0xd0) {
    const width = [16, 32, 64][variant % 3];
    const be = is64 ? false : x;
    return { opcode: cls | op | (be ? 8 : 0), dst, src: 0, offset: 0, imm: width };
  }
  if (op === 0x60 || op === 0x70 || op === 0xc0) {
    if (!x) {
      const s = ((imm % 64) + 64) % (is64 ? 64 : 32);
      return { opcode: cls | op, dst, src: 0, offset: 0, imm: s };
    }
  }
  let offset = 0;
  if (op === 0x30 || op === 0x90) offset = variant & 1;
  if (op === 0xb0 && x) offset = [0, 8, 16, is64 ? 32 : 0][variant];
  if (!x && (op === 0x30 || op === 0x90) && imm === 0) imm = 3;
  return x
    ? { opcode: cls | op | 8, dst, src, offset, imm: 0 }
    : { opcode: cls | op, dst, src: 0, offset, imm };
});

test("compiled tier property: random ALU programs match the interpreter", () => {
  fc.assert(
    fc.property(
      fc.array(value64, { minLength: 10, maxLength: 10 }),
      fc.array(aluInsn, {
        minLength: 1,
        maxLength: 40,
      }),
      (init, body) => {
        const prog: Instruction[] = init.map((v, r) => lddw(r, v));
        prog.push(...body);
        for (let r = 1; r <= 9; r++) prog.push({ opcode: 0xaf, dst: 0, src: r, offset: 0, imm: 0 });
        prog.push({ opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 });
        const jit = run(prog, "jit", 10_000);
        const interp = run(prog, "interpret", 10_000);
        assert.deepEqual(jit, interp);
        assert.ok(jit !== null && "r0" in jit);
      },
    ),
    { numRuns: 300 },
  );
});

/** Random instructions biased to valid, interesting forms: memory, jumps, calls. */
const anyInsn: fc.Arbitrary<Instruction> = fc.oneof(
  { weight: 4, arbitrary: aluInsn },
  {
    weight: 3,
    arbitrary: fc.record({
      opcode: fc.constantFrom(
        0x61,
        0x69,
        0x71,
        0x79,
        0x81,
        0x89,
        0x91, // ldx, ldsx
        0x62,
        0x6a,
        0x72,
        0x7a, // st
        0x63,
        0x6b,
        0x73,
        0x7b, // stx
        0xc3,
        0xdb, // atomics
      ),
      dst: fc.constantFrom(1, 3, 10, 4, 0),
      src: fc.constantFrom(1, 3, 10, 2, 5),
      offset: fc.oneof(fc.integer({ min: -520, max: 70 }), fc.constantFrom(-8, -16, 0, 8, 12, 60)),
      imm: fc.oneof(
        imm32,
        fc.constantFrom(0x00, 0x01, 0x40, 0x41, 0x50, 0xa1, 0xe1, 0xf1, 0x100, 0x110),
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      opcode: fc.constantFrom(
        0x05,
        0x15,
        0x1d,
        0x25,
        0x2d,
        0x35,
        0x45,
        0x4d,
        0x55,
        0x65,
        0x6d,
        0xa5,
        0xad,
        0xc5,
        0xd5,
        0x16,
        0x1e,
        0x26,
        0x56,
        0x66,
        0xce,
        0xe5,
      ),
      dst: reg,
      src: reg,
      offset: fc.integer({ min: -6, max: 6 }),
      imm: imm32,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Instruction>(
      { opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 },
      { opcode: 0x85, dst: 0, src: 0, offset: 0, imm: 1 },
      { opcode: 0x85, dst: 0, src: 0, offset: 0, imm: 2 },
      { opcode: 0x07, dst: 1, src: 0, offset: 0, imm: 4 },
      { opcode: 0x17, dst: 3, src: 0, offset: 0, imm: 16 },
      { opcode: 0xbf, dst: 4, src: 10, offset: 0, imm: 0 },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: -6, max: 6 }).map((imm): Instruction => ({
      opcode: 0x85,
      dst: 0,
      src: 1,
      offset: 0,
      imm,
    })),
  },
);

function sanitize(insns: Instruction[]): Instruction[] {
  // Fix fields the loader insists on so more programs load.
  return insns.map((ins) => {
    const cls = ins.opcode & 7;
    const out = { ...ins };
    if (cls === 5 || cls === 6) {
      const op = ins.opcode & 0xf0;
      if (op === 0x00 || op === 0xe0) {
        out.dst = 0;
        out.src = 0;
        out.imm = 0;
      }
      if (ins.opcode === 0x85) return out;
      if ((ins.opcode & 8) === 0) out.src = 0;
      else out.imm = 0;
      if (ins.opcode === 0xe5) out.src = 0;
    }
    if (cls === 1 || (cls === 3 && (ins.opcode & 0xe0) === 0x60)) out.imm = 0;
    if (cls === 2) out.src = 0;
    return out;
  });
}

test("compiled tier property: random programs behave exactly like the interpreter", () => {
  let loaded = 0;
  fc.assert(
    fc.property(
      fc.array(anyInsn, { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 0, max: 400 }),
      (body, budget) => {
        const prog = sanitize(body);
        prog.push({ opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 });
        const jit = run(prog, "jit", budget);
        const interp = run(prog, "interpret", budget);
        assert.deepEqual(jit, interp);
        if (jit !== null) loaded++;
      },
    ),
    { numRuns: 1500 },
  );
  assert.ok(loaded > 200, `only ${loaded} programs loaded`);
});
