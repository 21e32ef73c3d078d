// The BigInt reference interpreter (tests/_vm_reference.ts): hand-checked semantics,
// and a differential property test against the VM's raw runner on random ALU programs.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { assemble } from "../isa/asm.ts";
import type { Instruction } from "../isa/mod.ts";
import { VmError } from "../backends/vm/errors.ts";
import { runBytecode } from "../backends/vm/run.ts";
import { FUNCTION_BASE, MEMORY_BASE, referenceRun } from "./_vm_reference.ts";

const run = (asm: string, memory?: Uint8Array, options?: Parameters<typeof referenceRun>[2]) =>
  referenceRun(assemble(asm), memory, options);
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof VmError ? e.code : `untyped ${e}`;
  }
  return "none";
};

test("reference: registers at entry", () => {
  const mem = new Uint8Array(3);
  assert.equal(run("mov %r0, %r1\nexit", mem).r0, MEMORY_BASE);
  assert.equal(run("mov %r0, %r2\nexit", mem).r0, 3n);
  assert.equal(run("mov %r0, %r1\nexit").r0, 0n);
  assert.equal(run("mov %r0, %r2\nexit", new Uint8Array(0)).r0, 0n);
});

test("reference: memory is copied, written and returned; steps count ld_imm64 once", () => {
  const mem = new Uint8Array([1, 2, 3, 4]);
  const r = run("lddw %r2, 0x1\nstxb [%r1+1], %r2\nldxw %r0, [%r1+0]\nexit", mem);
  assert.equal(r.r0, 0x04030101n);
  assert.deepEqual([...r.memory], [1, 1, 3, 4]);
  assert.deepEqual([...mem], [1, 2, 3, 4]);
  assert.equal(r.steps, 4);
});

test("reference: helper calls get r1-r5 and memory access", () => {
  const mem = new Uint8Array([7, 0, 0, 0]);
  const seen: bigint[][] = [];
  const r = run("mov %r2, 9\nmov %r3, -1\ncall 77\nexit", mem, {
    helper: (id, args, memory) => {
      seen.push([BigInt(id), ...args]);
      memory.write(args[0] + 1n, new Uint8Array([5]));
      return BigInt(memory.read(args[0], 2)[0] + memory.read(args[0], 2)[1]);
    },
  });
  assert.equal(r.r0, 12n);
  assert.deepEqual(seen, [[77n, MEMORY_BASE, 9n, 2n ** 64n - 1n, 0n, 0n]]);
  assert.equal(code(() => run("call 77\nexit")), "VM_BAD_PROGRAM");
  assert.notEqual(run("call 5\nexit").r0, 0n);
});

test("reference: callx through a loaded function address", () => {
  const r = run("lddw %r1, local f\nmov %r0, %r1\nexit\nf:\nexit");
  assert.equal(r.r0, FUNCTION_BASE + 4n);
  assert.equal(code(() => run("mov %r1, 3\ncallx %r1\nexit")), "VM_BAD_PROGRAM");
});

test("reference: budget, bad programs and faults are typed errors", () => {
  assert.equal(code(() => run("ja -1", undefined, { budget: 100 })), "VM_BUDGET");
  assert.equal(
    code(() => referenceRun([{ opcode: 0x8f, dst: 0, src: 0, offset: 0, imm: 0 }])),
    "VM_BAD_PROGRAM",
  );
  assert.equal(code(() => run("mov %r11, 1\nexit")), "VM_BAD_PROGRAM");
  // Division by an immediate zero is defined (RFC 9669), not refused.
  assert.equal(run("mov %r0, 9\ndiv32 %r0, 0\nexit").r0, 0n);
  assert.equal(code(() => run("stxdw [%r10-4], %r1\nexit")), "VM_BAD_ACCESS");
  assert.equal(code(() => run("call local f\nexit\nf:\ncall local f\nexit")), "VM_CALL_DEPTH");
});

test("reference: load-acquire and store-release", () => {
  const r = run(
    "mov %r2, 0x55\nlock store_release [%r10-8], %r2\nmov %r3, %r10\nlock load_acquire %r0, [%r3-8]\nexit",
  );
  assert.equal(r.r0, 0x55n);
});

// Random straight-line ALU programs (every ALU opcode, both widths, both sources,
// signed division, movsx, byte swaps) must leave the same registers in the reference
// and the VM. The program ends by folding r0-r9 into r0.
const reg = fc.integer({ min: 0, max: 9 });
const imm = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const ops = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0];
const ins = (opcode: number, dst: number, src = 0, offset = 0, i = 0): Instruction => ({
  opcode,
  dst,
  src,
  offset,
  imm: i,
});
// Immediates the loader accepts: no division by zero, shift counts below the width.
const validImm = (cls: number, op: number, i: number) => {
  if (op === 0x30 || op === 0x90) return i === 0 ? 7 : i;
  if (op === 0x60 || op === 0x70 || op === 0xc0) return (i >>> 0) % (cls === 0x07 ? 64 : 32);
  return i;
};
const aluInsn: fc.Arbitrary<Instruction> = fc.oneof(
  fc.tuple(fc.constantFrom(0x04, 0x07), fc.constantFrom(...ops), reg, imm, fc.boolean())
    .map(([cls, op, d, i, signed]) =>
      ins(
        cls | op,
        d,
        0,
        signed && (op === 0x30 || op === 0x90) ? 1 : 0,
        validImm(cls, op, i),
      )
    ),
  fc.tuple(fc.constantFrom(0x0c, 0x0f), fc.constantFrom(...ops), reg, reg, fc.boolean())
    .map(([cls, op, d, s, signed]) =>
      ins(cls | op, d, s, signed && (op === 0x30 || op === 0x90) ? 1 : 0)
    ),
  fc.tuple(fc.constantFrom(0x84, 0x87), reg).map(([o, d]) => ins(o, d)),
  fc.tuple(
    fc.constantFrom<[number, number]>([0xbc, 8], [0xbc, 16], [0xbf, 8], [0xbf, 16], [0xbf, 32]),
    reg,
    reg,
  )
    .map(([[o, w], d, s]) => ins(o, d, s, w)),
  // 0xdc (be) is covered by the conformance files.
  fc.tuple(fc.constantFrom(0xd4, 0xd7), reg, fc.constantFrom(16, 32, 64)).map(([o, d, w]) =>
    ins(o, d, 0, 0, w)
  ),
);
const seed = fc.tuple(imm, imm).map(([lo, hi]) => [lo, hi]);

test("reference: agrees with the VM on random ALU programs", () => {
  fc.assert(
    fc.property(
      fc.array(seed, { minLength: 10, maxLength: 10 }),
      fc.array(aluInsn, { maxLength: 30 }),
      (seeds, body) => {
        const program: Instruction[] = seeds.map(([lo, hi], r) => ({
          ...ins(0x18, r, 0, 0, lo),
          immHi: hi,
        }));
        program.push(...body);
        for (let r = 1; r <= 9; r++) {
          program.push(
            ins(0xaf, 0, r),
            ins(0x77, 0, 0, 0, 0), /* r0 >>= 0 */
          );
        }
        program.push(ins(0x95, 0));
        const want = referenceRun(program).r0;
        assert.equal(runBytecode(program).r0, want);
      },
    ),
    { numRuns: 300 },
  );
});
