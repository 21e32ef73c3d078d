import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { VmError } from "../backends/vm/errors.ts";
import { runBytecode } from "../backends/vm/run.ts";
import { referenceRun } from "./_vm_reference.ts";
import type { VmTier } from "../backends/vm/types.ts";
import { bytecode, EXIT, type InsLike, insns, lddw, TIERS } from "./_vm_util.ts";

// Values near the edges of 32- and 64-bit arithmetic turn up far more often than uniform ones.
const EDGES = [
  0n,
  1n,
  2n,
  3n,
  7n,
  0x7fn,
  0x80n,
  0xffn,
  0x7fffn,
  0x8000n,
  0xffffn,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  0x1fffffffffffffn,
  0x20000000000000n,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0xffffffffffffffffn,
  0xfffffffffffffffen,
  0xffffffff80000000n,
];
const u64 = fc.oneof(
  fc.constantFrom(...EDGES),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.bigInt({ min: 0n, max: 0xffffffffn }),
  fc.bigInt({ min: -100n, max: 100n }).map((v) => BigInt.asUintN(64, v)),
);

/** Every opcode of the ISA the random programs draw from. */
const OPCODES = [
  0x07,
  0x0f,
  0x17,
  0x1f,
  0x27,
  0x2f,
  0x37,
  0x3f,
  0x47,
  0x4f,
  0x57,
  0x5f,
  0x67,
  0x6f,
  0x77,
  0x7f,
  0x87,
  0x97,
  0x9f,
  0xa7,
  0xaf,
  0xb7,
  0xbf,
  0xc7,
  0xcf,
  0xd7,
  0x04,
  0x0c,
  0x14,
  0x1c,
  0x24,
  0x2c,
  0x34,
  0x3c,
  0x44,
  0x4c,
  0x54,
  0x5c,
  0x64,
  0x6c,
  0x74,
  0x7c,
  0x84,
  0x94,
  0x9c,
  0xa4,
  0xac,
  0xb4,
  0xbc,
  0xc4,
  0xcc,
  0xd4,
  0xdc,
  0x61,
  0x69,
  0x71,
  0x79,
  0x81,
  0x89,
  0x91,
  0x62,
  0x6a,
  0x72,
  0x7a,
  0x63,
  0x6b,
  0x73,
  0x7b,
  0xc3,
  0xdb,
  0x05,
  0x15,
  0x1d,
  0x25,
  0x2d,
  0x35,
  0x3d,
  0x45,
  0x4d,
  0x55,
  0x5d,
  0x65,
  0x6d,
  0x75,
  0x7d,
  0xa5,
  0xad,
  0xb5,
  0xbd,
  0xc5,
  0xcd,
  0xd5,
  0xdd,
  0x06,
  0x16,
  0x1e,
  0x26,
  0x2e,
  0x56,
  0x5e,
  0x66,
  0x6e,
  0x85,
  0x8d,
  0x95,
];

const ALU_OPS = [
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
];

/** One ALU instruction on r0 (and r1 for X forms) with valid reserved fields. */
const aluIns = fc.record({
  op: fc.constantFrom(...ALU_OPS),
  alu64: fc.boolean(),
  x: fc.boolean(),
  signed: fc.boolean(),
  ext: fc.constantFrom(8, 16, 32),
  width: fc.constantFrom(16, 32, 64),
}).chain((f) =>
  fc.integer({ min: -0x80000000, max: 0x7fffffff }).map((imm): InsLike | undefined => {
    const cls = f.alu64 ? 0x07 : 0x04;
    if (f.op === 0x80) return { opcode: cls | 0x80 };
    if (f.op === 0xd0) {
      if (f.alu64 && f.x) return undefined;
      return { opcode: cls | (f.x ? 8 : 0) | 0xd0, imm: f.width };
    }
    let offset = 0;
    if ((f.op === 0x30 || f.op === 0x90) && f.signed) offset = 1;
    if (f.op === 0xb0 && f.x && f.signed) offset = f.alu64 ? f.ext : Math.min(f.ext, 16);
    if (f.x) return { opcode: cls | 8 | f.op, src: 1, offset };
    if ((f.op === 0x30 || f.op === 0x90) && imm === 0) return undefined;
    if (f.op === 0x60 || f.op === 0x70 || f.op === 0xc0) imm &= f.alu64 ? 63 : 31;
    return { opcode: cls | f.op, imm, offset: f.op === 0xb0 ? 0 : offset };
  })
).filter((i): i is InsLike => i !== undefined);

for (const tier of TIERS) {
  test(`${tier}: random ALU operations match the BigInt reference`, () => {
    fc.assert(
      fc.property(u64, u64, aluIns, (a, b, ins) => {
        const list = insns([lddw(0, a), lddw(1, b), ins, EXIT]);
        const want = referenceRun(list).r0;
        const got = runBytecode(bytecode(list), { tier }).r0;
        assert.equal(got, want, `${JSON.stringify(ins)} a=${a} b=${b}`);
      }),
      { numRuns: 2000 },
    );
  });

  test(`${tier}: random jumps match the BigInt reference`, () => {
    const jump = fc.record({
      op: fc.constantFrom(0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0),
      jmp32: fc.boolean(),
      x: fc.boolean(),
      imm: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
    });
    fc.assert(
      fc.property(u64, u64, jump, (a, b, j) => {
        const cls = j.jmp32 ? 0x06 : 0x05;
        const ins: InsLike = j.x
          ? { opcode: cls | 8 | j.op, dst: 0, src: 1, offset: 1 }
          : { opcode: cls | j.op, dst: 0, imm: j.imm, offset: 1 };
        const list = insns([lddw(0, a), lddw(1, b), ins, { opcode: 0xb7, imm: 99 }, EXIT]);
        assert.equal(runBytecode(bytecode(list), { tier }).r0, referenceRun(list).r0);
      }),
      { numRuns: 1500 },
    );
  });

  test(`${tier}: random ALU sequences match the reference`, () => {
    fc.assert(
      fc.property(
        fc.array(u64, { minLength: 2, maxLength: 2 }),
        fc.array(aluIns, { minLength: 1, maxLength: 20 }),
        fc.array(fc.nat(1), { minLength: 20, maxLength: 20 }),
        ([a, b], ops, swaps) => {
          // Alternate the roles of r0 and r1 so results feed later operations.
          const body = ops.map((ins, i): InsLike =>
            swaps[i] === 1 ? { ...ins, dst: 1, ...(ins.src === 1 ? { src: 0 } : {}) } : ins
          );
          const list = insns([lddw(0, a), lddw(1, b), ...body, { opcode: 0xaf, src: 1 }, EXIT]);
          assert.equal(runBytecode(bytecode(list), { tier }).r0, referenceRun(list).r0);
        },
      ),
      { numRuns: 500 },
    );
  });

  test(`${tier}: random bytes only ever throw VmError and never hang`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }).chain((n) =>
          fc.uint8Array({ minLength: n * 8, maxLength: n * 8 })
        ),
        (bytes) => {
          try {
            runBytecode(bytes, { tier, budget: 10_000, memory: new Uint8Array(64) });
          } catch (err) {
            if (!(err instanceof VmError)) throw err;
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  test(`${tier}: random well-formed programs only throw VmError and never hang`, () => {
    const ins = fc.record({
      opcode: fc.constantFrom(...OPCODES),
      dst: fc.integer({ min: 0, max: 10 }),
      src: fc.integer({ min: 0, max: 10 }),
      offset: fc.integer({ min: 0, max: 3 }),
      imm: fc.oneof(fc.integer({ min: -8, max: 64 }), fc.integer()),
    });
    let loaded = 0;
    fc.assert(
      fc.property(fc.array(ins.map(normalize), { minLength: 1, maxLength: 30 }), (list) => {
        try {
          runBytecode(bytecode([...list, EXIT, EXIT, EXIT, EXIT]), {
            tier,
            budget: 10_000,
            memory: new Uint8Array(64),
          });
          loaded++;
        } catch (err) {
          if (!(err instanceof VmError)) throw err;
          if (err.code !== "VM_BAD_PROGRAM") loaded++;
        }
      }),
      { numRuns: 3000 },
    );
    assert.ok(loaded > 0);
  });
}

/** A random stack access through r10 (loads, stores, atomics), or an ALU operation on r0–r9. */
const stackOrAlu = fc.oneof(
  aluIns.chain((ins) =>
    fc.record({ dst: fc.integer({ min: 0, max: 9 }), src: fc.integer({ min: 0, max: 9 }) }).map((
      r,
    ): InsLike => ({ ...ins, dst: r.dst, ...(ins.src === 1 ? { src: r.src } : {}) }))
  ),
  fc.record({
    size: fc.constantFrom(0x00, 0x08, 0x10, 0x18),
    kind: fc.constantFrom("ldx", "ldsx", "st", "stx", "atomic"),
    reg: fc.integer({ min: 0, max: 9 }),
    slot: fc.integer({ min: 1, max: 64 }),
    imm: fc.integer(),
    atomic: fc.constantFrom(0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1),
  }).map((f): InsLike => {
    const bytes = f.size === 0x18 ? 8 : f.size === 0x00 ? 4 : f.size === 0x08 ? 2 : 1;
    const offset = -Math.max(f.slot, bytes);
    switch (f.kind) {
      case "ldx":
        return { opcode: 0x61 | f.size, dst: f.reg, src: 10, offset };
      case "ldsx":
        return { opcode: f.size === 0x18 ? 0x79 : 0x81 | f.size, dst: f.reg, src: 10, offset };
      case "st":
        return { opcode: 0x62 | f.size, dst: 10, offset, imm: f.imm };
      case "stx":
        return { opcode: 0x63 | f.size, dst: 10, src: f.reg, offset };
      default: {
        const dw = f.size === 0x18 || f.size === 0x10;
        return {
          opcode: dw ? 0xdb : 0xc3,
          dst: 10,
          src: f.reg,
          offset: -(dw ? 8 : 4) * Math.ceil(f.slot / 8),
          imm: f.atomic,
        };
      }
    }
  }),
);

for (const tier of TIERS) {
  test(`${tier}: random stack and ALU programs match the reference`, () => {
    fc.assert(
      fc.property(
        fc.array(u64, { minLength: 10, maxLength: 10 }),
        fc.array(stackOrAlu, { minLength: 1, maxLength: 40 }),
        (init, body) => {
          const list = insns([
            ...init.map((v, r) => lddw(r, v)),
            ...body,
            ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((r): InsLike => ({ opcode: 0xaf, src: r })),
            { opcode: 0x79, dst: 1, src: 10, offset: -8 },
            { opcode: 0xaf, src: 1 },
            { opcode: 0x79, dst: 1, src: 10, offset: -64 },
            { opcode: 0xaf, src: 1 },
            EXIT,
          ]);
          assert.equal(runBytecode(bytecode(list), { tier }).r0, referenceRun(list).r0);
        },
      ),
      { numRuns: 1000 },
    );
  });
}

test("tiers agree on random well-formed programs (r0, steps, memory, error code and pc)", () => {
  if (TIERS.length < 2) return;
  const ins = fc.record({
    opcode: fc.constantFrom(...OPCODES),
    dst: fc.integer({ min: 0, max: 10 }),
    src: fc.integer({ min: 0, max: 10 }),
    offset: fc.integer({ min: 0, max: 3 }),
    imm: fc.oneof(fc.integer({ min: -8, max: 64 }), fc.integer()),
  });
  const outcome = (tier: VmTier, bytes: Uint8Array) => {
    try {
      const r = runBytecode(bytes, {
        tier,
        budget: 10_000,
        memory: new Uint8Array(64).fill(0x5a),
        runtime: { clock: () => 77n },
      });
      return { r0: r.r0, steps: r.steps, memory: [...r.memory] };
    } catch (err) {
      if (!(err instanceof VmError)) throw err;
      return { code: err.code, pc: err.pc };
    }
  };
  fc.assert(
    fc.property(fc.array(ins.map(normalize), { minLength: 1, maxLength: 30 }), (list) => {
      const bytes = bytecode([...list, EXIT, EXIT, EXIT, EXIT]);
      const want = outcome("interpret", bytes);
      for (const tier of TIERS.slice(1)) assert.deepEqual(outcome(tier, bytes), want, tier);
    }),
    { numRuns: 3000 },
  );
});

const ATOMICS = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1];

/** Zero the reserved fields of a random instruction so that most programs load. */
function normalize(
  i: Required<Pick<InsLike, "opcode" | "dst" | "src" | "offset" | "imm">>,
): InsLike {
  const cls = i.opcode & 7;
  const x = (i.opcode & 8) !== 0;
  const out = { ...i, dst: i.dst % 10 };
  if (cls === 4 || cls === 7) {
    out.offset = 0;
    if (x) out.imm = 0;
    else out.src = 0;
    if ((i.opcode & 0xf0) === 0x80) out.imm = 0;
    if ((i.opcode & 0xf0) === 0xd0) out.imm = [16, 32, 64][Math.abs(i.imm) % 3], out.src = 0;
  } else if (cls === 1 || cls === 3) {
    out.imm = (i.opcode & 0xe0) === 0xc0 ? ATOMICS[Math.abs(i.imm) % ATOMICS.length] : 0;
  } else if (cls === 2) {
    out.src = 0;
  } else if (i.opcode === 0x85) {
    return { opcode: 0x85, imm: 5 };
  } else if (i.opcode === 0x8d || i.opcode === 0x95) {
    return { opcode: i.opcode, dst: i.opcode === 0x8d ? out.dst : 0 };
  } else if (i.opcode === 0x05) {
    return { opcode: 0x05, offset: i.offset };
  } else if (i.opcode === 0x06) {
    return { opcode: 0x06, imm: i.offset };
  } else if (x) out.imm = 0;
  else out.src = 0;
  return out;
}
