import { test } from "node:test";
import assert from "node:assert/strict";
import { VmError } from "../backends/vm/errors.ts";
import {
  REGION_READ,
  REGION_SPECIAL,
  REGION_STRIDED,
  REGION_WRITE,
  vmAddress,
} from "../backends/vm/memory.ts";
import { loadVmCode } from "../backends/vm/program.ts";
import { createExecutor, createRawRunner, runBytecode } from "../backends/vm/run.ts";
import { createRuntime } from "../backends/vm/runtime.ts";
import type { HelperEnv, VmHelper, VmProgramHandle, VmTier } from "../backends/vm/types.ts";
import {
  bytecode,
  callHelper,
  callLocal,
  EXIT,
  type InsLike,
  insns,
  lddw,
  movImm,
  movReg,
  r0Bigint,
  r0Of,
  runRaw,
  setup,
  throwsVm,
  TIERS,
} from "./_vm_util.ts";

const M64 = (v: bigint) => BigInt.asUintN(64, v);

/** [name, program, expected r0]. */
const ALU: [string, InsLike[], bigint][] = [
  ["add64 carries", [lddw(0, 0xffffffffn), { opcode: 0x07, imm: 1 }, EXIT], 0x100000000n],
  ["add64 negative imm", [movImm(0, 5), { opcode: 0x07, imm: -7 }, EXIT], M64(-2n)],
  ["sub64 borrows", [lddw(0, 0x100000000n), { opcode: 0x17, imm: 1 }, EXIT], 0xffffffffn],
  ["sub64 reg", [movImm(0, 3), movImm(1, 5), { opcode: 0x1f, src: 1 }, EXIT], M64(-2n)],
  ["mov32 zero-extends", [{ opcode: 0xb4, imm: -1 }, EXIT], 0xffffffffn],
  ["mov32 reg zero-extends", [lddw(1, M64(-1n)), { opcode: 0xbc, src: 1 }, EXIT], 0xffffffffn],
  ["add32 wraps", [movImm(0, -1), { opcode: 0x04, imm: 1 }, EXIT], 0n],
  ["sub32", [movImm(0, 0), { opcode: 0x14, imm: 1 }, EXIT], 0xffffffffn],
  [
    "mul64",
    [lddw(0, 0x123456789abcdef0n), lddw(1, 0xfedcba9876543210n), { opcode: 0x2f, src: 1 }, EXIT],
    M64(0x123456789abcdef0n * 0xfedcba9876543210n),
  ],
  [
    "mul64 imm negative",
    [lddw(0, 0x100000001n), { opcode: 0x27, imm: -3 }, EXIT],
    M64(-0x300000003n),
  ],
  ["mul32", [lddw(0, 0xffffffffffn), { opcode: 0x24, imm: 0x10001 }, EXIT], 0xfffeffffn],
  ["div64 by zero reg", [movImm(0, 7), movImm(1, 0), { opcode: 0x3f, src: 1 }, EXIT], 0n],
  ["mod64 by zero reg", [movImm(0, 7), movImm(1, 0), { opcode: 0x9f, src: 1 }, EXIT], 7n],
  ["div32 by zero", [lddw(0, 0x100000007n), movImm(1, 0), { opcode: 0x3c, src: 1 }, EXIT], 0n],
  ["mod32 by zero", [lddw(0, 0x100000007n), movImm(1, 0), { opcode: 0x9c, src: 1 }, EXIT], 7n],
  [
    "sdiv64 INT_MIN / -1",
    [lddw(0, 1n << 63n), { opcode: 0x37, offset: 1, imm: -1 }, EXIT],
    1n << 63n,
  ],
  ["smod64 INT_MIN % -1", [lddw(0, 1n << 63n), { opcode: 0x97, offset: 1, imm: -1 }, EXIT], 0n],
  ["sdiv32 INT_MIN / -1", [{ opcode: 0xb4, imm: -0x80000000 }, {
    opcode: 0x34,
    offset: 1,
    imm: -1,
  }, EXIT], 0x80000000n],
  ["smod32 INT_MIN % -1", [{ opcode: 0xb4, imm: -0x80000000 }, {
    opcode: 0x94,
    offset: 1,
    imm: -1,
  }, EXIT], 0n],
  ["sdiv64 -7 / 2", [movImm(0, -7), { opcode: 0x37, offset: 1, imm: 2 }, EXIT], M64(-3n)],
  ["smod64 -7 % 2", [movImm(0, -7), { opcode: 0x97, offset: 1, imm: 2 }, EXIT], M64(-1n)],
  ["smod64 7 % -2", [movImm(0, 7), { opcode: 0x97, offset: 1, imm: -2 }, EXIT], 1n],
  ["smod32 -7 % 2", [movImm(0, -7), { opcode: 0x94, offset: 1, imm: 2 }, EXIT], 0xffffffffn],
  ["sdiv64 by zero", [movImm(0, -7), movImm(1, 0), { opcode: 0x3f, src: 1, offset: 1 }, EXIT], 0n],
  [
    "smod64 by zero",
    [movImm(0, -7), movImm(1, 0), { opcode: 0x9f, src: 1, offset: 1 }, EXIT],
    M64(-7n),
  ],
  [
    "smod32 by zero keeps the low word",
    [movImm(0, -7), movImm(1, 0), { opcode: 0x9c, src: 1, offset: 1 }, EXIT],
    0xfffffff9n,
  ],
  ["div64 big", [lddw(0, M64(-1n)), { opcode: 0x37, imm: 3 }, EXIT], 0x5555555555555555n],
  ["div64 by imm -1", [movImm(0, 5), { opcode: 0x37, imm: -1 }, EXIT], 0n],
  [
    "mod64 big",
    [lddw(0, M64(-1n)), lddw(1, 0x100000001n), { opcode: 0x9f, src: 1 }, EXIT],
    M64(-1n) % 0x100000001n,
  ],
  ["sdiv64 big", [lddw(0, M64(-(1n << 60n))), lddw(1, 0x300000000n), {
    opcode: 0x3f,
    src: 1,
    offset: 1,
  }, EXIT], M64(-(1n << 60n) / 0x300000000n)],
  ["div32 by imm -1", [{ opcode: 0xb4, imm: -1 }, { opcode: 0x34, imm: -1 }, EXIT], 1n],
  ["lsh64 by 63", [movImm(0, 1), { opcode: 0x67, imm: 63 }, EXIT], 1n << 63n],
  ["lsh64 reg masks to 63", [movImm(0, 1), movImm(1, 64), { opcode: 0x6f, src: 1 }, EXIT], 1n],
  ["lsh64 by 33", [movImm(0, 3), { opcode: 0x67, imm: 33 }, EXIT], 3n << 33n],
  [
    "lsh64 by 4 crosses words",
    [lddw(0, 0xf0000000n), { opcode: 0x67, imm: 4 }, EXIT],
    0xf00000000n,
  ],
  ["rsh64 by 36", [lddw(0, 0xf000000000000000n), { opcode: 0x77, imm: 36 }, EXIT], 0xf000000n],
  ["rsh64 by 4", [lddw(0, 0x1234567890n), { opcode: 0x77, imm: 4 }, EXIT], 0x123456789n],
  ["arsh64 by 2", [movImm(0, -16), { opcode: 0xc7, imm: 2 }, EXIT], M64(-4n)],
  [
    "arsh64 by 40",
    [lddw(0, 0x8000000000000000n), { opcode: 0xc7, imm: 40 }, EXIT],
    M64(-(1n << 23n)),
  ],
  ["arsh32", [movImm(0, -16), { opcode: 0xc4, imm: 2 }, EXIT], 0xfffffffcn],
  ["rsh32 zero-extends", [movImm(0, -16), { opcode: 0x74, imm: 2 }, EXIT], 0x3ffffffcn],
  ["lsh32 reg masks to 31", [movImm(0, 1), movImm(1, 33), { opcode: 0x6c, src: 1 }, EXIT], 2n],
  ["neg64", [movImm(0, 1), { opcode: 0x87 }, EXIT], M64(-1n)],
  ["neg64 of 2^32", [lddw(0, 0x100000000n), { opcode: 0x87 }, EXIT], M64(-0x100000000n)],
  ["neg32", [movImm(0, 1), { opcode: 0x84 }, EXIT], 0xffffffffn],
  ["or/and/xor", [
    lddw(0, 0xff00ff00ff00ff00n),
    { opcode: 0x47, imm: 0xf },
    { opcode: 0x57, imm: -256 },
    { opcode: 0xa7, imm: 0x100 },
    EXIT,
  ], 0xff00ff00ff00fe00n],
  ["or32 zero-extends", [movImm(0, -1), { opcode: 0x44, imm: 1 }, EXIT], 0xffffffffn],
  ["movsx64 8", [movImm(1, 0x80), { opcode: 0xbf, src: 1, offset: 8 }, EXIT], M64(-128n)],
  ["movsx64 16", [movImm(1, 0x8000), { opcode: 0xbf, src: 1, offset: 16 }, EXIT], M64(-0x8000n)],
  [
    "movsx64 32",
    [lddw(1, 0x80000000n), { opcode: 0xbf, src: 1, offset: 32 }, EXIT],
    0xffffffff80000000n,
  ],
  ["movsx32 8", [movImm(1, 0x80), { opcode: 0xbc, src: 1, offset: 8 }, EXIT], 0xffffff80n],
  ["movsx32 16", [movImm(1, 0x7fff), { opcode: 0xbc, src: 1, offset: 16 }, EXIT], 0x7fffn],
  ["ld_imm64", [lddw(0, 0xdeadbeefcafef00dn), EXIT], 0xdeadbeefcafef00dn],
];

const SAMPLE = 0x1122334455667788n;
const ENDS: [string, number, number, bigint][] = [
  ["be16", 0xdc, 16, 0x8877n],
  ["be32", 0xdc, 32, 0x88776655n],
  ["be64", 0xdc, 64, 0x8877665544332211n],
  ["le16", 0xd4, 16, 0x7788n],
  ["le32", 0xd4, 32, 0x55667788n],
  ["le64", 0xd4, 64, SAMPLE],
  ["bswap16", 0xd7, 16, 0x8877n],
  ["bswap32", 0xd7, 32, 0x88776655n],
  ["bswap64", 0xd7, 64, 0x8877665544332211n],
];
for (const [name, opcode, imm, want] of ENDS) {
  ALU.push([name, [lddw(0, SAMPLE), { opcode, imm }, EXIT], want]);
}

for (const tier of TIERS) {
  for (const [name, list, want] of ALU) {
    test(`${tier}: ${name}`, () => {
      assert.equal(r0Of(tier, list), want);
    });
  }
}

/** [opcode, a, b, taken]: `if a op b` with b in r2 (X forms) or imm (K forms). */
const JUMPS: [number, bigint, bigint, boolean][] = [
  [0x15, 5n, 5n, true],
  [0x15, 0x100000005n, 5n, false],
  [0x55, 0x100000005n, 5n, true],
  [0x25, M64(-1n), 1n, true], // jgt unsigned
  [0x65, M64(-1n), 1n, false], // jsgt signed
  [0x35, 7n, 7n, true],
  [0x75, M64(-2n), M64(-2n), true],
  [0xa5, 1n, M64(-1n), true], // jlt: imm -1 is 2^64-1 unsigned
  [0xc5, 1n, M64(-1n), false], // jslt
  [0xb5, 0x100000000n, 0xffffffffn, false],
  [0xd5, M64(-5n), M64(-5n), true],
  [0x45, 0x100000000n, 1n, false],
  [0x45, 3n, 2n, true],
  [0x25, 0x100000000n, 0xffffffffn, true],
  [0x65, 0x100000000n, M64(-1n), true],
  [0xc5, M64(-(1n << 40n)), M64(-1n), true],
  // JMP32 compares the low words only.
  [0x16, 0x100000005n, 5n, true],
  [0x56, 0x100000005n, 5n, false],
  [0x26, 0xffffffffn, 1n, true],
  [0x66, 0xffffffffn, 1n, false],
  [0xa6, 0x7fffffffn, 0x80000000n, true],
  [0xc6, 0x7fffffffn, 0x80000000n, false],
  [0x36, 0x1n, 0x100000001n, true],
  [0x76, M64(-1n), M64(-1n), true],
  [0xb6, 2n, 1n, false],
  [0xd6, 0x80000000n, 0n, true],
  [0x46, 0x100000000n, 0x100000000n, false],
];

for (const tier of TIERS) {
  for (const [opcode, a, b, taken] of JUMPS) {
    for (const x of [false, true]) {
      if (!x && BigInt.asIntN(64, b) !== BigInt(BigInt.asIntN(32, b)) && opcode % 8 === 5) continue;
      const hex = (opcode | (x ? 8 : 0)).toString(16);
      test(`${tier}: jump 0x${hex} ${a} ${b} → ${taken}`, () => {
        const imm = Number(BigInt.asIntN(32, b));
        const list: InsLike[] = [
          lddw(1, a),
          lddw(2, b),
          movImm(0, 1),
          x
            ? { opcode: opcode | 8, dst: 1, src: 2, offset: 1 }
            : { opcode, dst: 1, imm, offset: 1 },
          movImm(0, 0),
          EXIT,
        ];
        assert.equal(r0Of(tier, list), taken ? 1n : 0n);
      });
    }
  }

  test(`${tier}: ja, gotol and backward loops`, () => {
    const list: InsLike[] = [
      movImm(0, 0),
      movImm(1, 10),
      { opcode: 0x07, imm: 3 }, // loop: r0 += 3
      { opcode: 0x17, dst: 1, imm: 1 },
      { opcode: 0x55, dst: 1, offset: -3 }, // if r1 != 0 goto loop
      { opcode: 0x06, imm: 1 }, // gotol +1
      movImm(0, 99),
      { opcode: 0x05, offset: 0 },
      EXIT,
    ];
    const r = runRaw(tier, list);
    assert.equal(r.r0, 30n);
    assert.equal(r.steps, 2 + 30 + 3);
  });

  test(`${tier}: loads and stores of every size`, () => {
    const list: InsLike[] = [
      movReg(6, 1), // r6 = memory
      lddw(1, 0x8877665544332211n),
      { opcode: 0x7b, dst: 10, src: 1, offset: -8 }, // *(u64 *)(r10-8) = r1
      { opcode: 0x61, dst: 2, src: 10, offset: -8 }, // r2 = *(u32 *)(r10-8)
      { opcode: 0x69, dst: 3, src: 10, offset: -2 }, // r3 = *(u16 *)(r10-2)
      { opcode: 0x71, dst: 4, src: 10, offset: -1 }, // r4 = *(u8 *)(r10-1)
      { opcode: 0x91, dst: 5, src: 10, offset: -1 }, // r5 = *(s8 *)(r10-1)
      { opcode: 0x89, dst: 7, src: 10, offset: -2 }, // r7 = *(s16 *)(r10-2)
      { opcode: 0x81, dst: 8, src: 10, offset: -4 }, // r8 = *(s32 *)(r10-4)
      { opcode: 0x72, dst: 10, offset: -16, imm: 0x1ff }, // *(u8 *)(r10-16) = 0xff
      { opcode: 0x6a, dst: 10, offset: -14, imm: -2 }, // *(u16 *)(r10-14) = 0xfffe
      { opcode: 0x62, dst: 10, offset: -12, imm: 0x01020304 },
      { opcode: 0x79, dst: 9, src: 10, offset: -16 },
      { opcode: 0x7a, dst: 10, offset: -24, imm: -1 }, // *(u64 *)(r10-24) = -1
      { opcode: 0x79, dst: 1, src: 10, offset: -24 },
      { opcode: 0x73, dst: 10, src: 4, offset: -32 },
      { opcode: 0x6b, dst: 10, src: 3, offset: -31 },
      { opcode: 0x63, dst: 10, src: 2, offset: -29 },
      { opcode: 0x79, dst: 0, src: 10, offset: -32 },
      ...[2, 3, 4, 5, 7, 8, 9, 1].map((r, i): InsLike => ({
        opcode: 0x7b,
        dst: 6,
        src: r,
        offset: 8 * i,
      })),
      EXIT,
    ];
    const r = runRaw(tier, list, { memory: new Uint8Array(64) });
    const dv = new DataView(r.memory.buffer);
    const at = (i: number) => dv.getBigUint64(i * 8, true);
    assert.equal(at(0), 0x44332211n);
    assert.equal(at(1), 0x8877n);
    assert.equal(at(2), 0x88n);
    assert.equal(at(3), M64(-120n));
    assert.equal(at(4), M64(-0x7789n));
    assert.equal(at(5), 0xffffffff88776655n);
    assert.equal(at(6), 0x01020304fffe00ffn);
    assert.equal(at(7), M64(-1n));
    assert.equal(r.r0, 0x0044332211887788n);
  });

  test(`${tier}: sign-extending byte load`, () => {
    const list: InsLike[] = [
      { opcode: 0x72, dst: 10, offset: -1, imm: 0x80 },
      { opcode: 0x91, dst: 0, src: 10, offset: -1 },
      EXIT,
    ];
    assert.equal(r0Of(tier, list), M64(-128n));
  });

  test(`${tier}: memory is copied in and out`, () => {
    const list: InsLike[] = [
      { opcode: 0x61, dst: 0, src: 1 }, // r0 = *(u32 *)r1
      { opcode: 0x07, imm: 1 },
      { opcode: 0x63, dst: 1, src: 0 },
      { opcode: 0x0f, src: 2 }, // r0 += len
      EXIT,
    ];
    const r = runRaw(tier, list, { memory: new Uint8Array([1, 0, 0, 0, 9]) });
    assert.equal(r.r0, 7n);
    assert.deepEqual([...r.memory], [2, 0, 0, 0, 9]);
  });

  test(`${tier}: a fresh stack is zeroed`, () => {
    const list: InsLike[] = [{ opcode: 0x79, dst: 0, src: 10, offset: -512 }, EXIT];
    assert.equal(r0Of(tier, list), 0n);
  });

  test(`${tier}: stack overflow past the frame faults`, () => {
    const e = throwsVm(
      () => runRaw(tier, [movImm(0, 0), { opcode: 0x79, dst: 0, src: 10, offset: 0 }, EXIT]),
      "VM_BAD_ACCESS",
      1,
    );
    assert.match(e.message, /pc 1: invalid read of 8 bytes .*past the end of stack frame 0/);
    assert.equal(e.region, "stack frame 0");
    assert.equal(e.size, 8);
    const below = throwsVm(
      () => runRaw(tier, [{ opcode: 0x7a, dst: 10, offset: -520, imm: 1 }, EXIT]),
      "VM_BAD_ACCESS",
      0,
    );
    assert.match(below.message, /invalid write of 8 bytes/);
  });

  test(`${tier}: NULL dereference faults`, () => {
    const e = throwsVm(
      () => runRaw(tier, [{ opcode: 0x61, dst: 0, src: 1, offset: 4 }, EXIT]),
      "VM_BAD_ACCESS",
      0,
    );
    assert.match(e.message, /NULL/);
    assert.equal(e.address, 4);
  });

  test(`${tier}: access running past the end of memory faults`, () => {
    const e = throwsVm(
      () =>
        runRaw(tier, [{ opcode: 0x79, dst: 0, src: 1, offset: 0 }, EXIT], {
          memory: new Uint8Array(4),
        }),
      "VM_BAD_ACCESS",
      0,
    );
    assert.match(e.message, /runs 4 bytes past the end of memory \(4 bytes\)/);
    assert.equal(e.region, "memory");
    assert.equal(e.address, vmAddress(Math.floor(e.address! / 2 ** 32), 0));
  });

  test(`${tier}: read-only, strided and special regions`, () => {
    const s = setup(tier, [
      { opcode: 0x61, dst: 0, src: 1 }, // r0 = *(u32 *)r1
      { opcode: 0x63, dst: 1, src: 0 }, // *(u32 *)r1 = r0
      EXIT,
    ]);
    const mem = s.runtime.mem;
    const base = mem.alloc(16);
    mem.u8[base] = 42;
    const ro = mem.map({ name: "rodata", base, len: 16, flags: REGION_READ });
    const e = throwsVm(() => s.exec.run([vmAddress(ro, 0)]), "VM_BAD_ACCESS", 1);
    assert.match(e.message, /rodata is read-only/);
    assert.equal(e.region, "rodata");

    const strided = mem.map({
      name: "values",
      base,
      len: 16,
      flags: REGION_READ | REGION_WRITE | REGION_STRIDED,
      elem: 6,
      stride: 8,
    });
    assert.equal(r0Bigint(s.exec.run([vmAddress(strided, 8)])), 0n);
    const cross = throwsVm(() => s.exec.run([vmAddress(strided, 4)]), "VM_BAD_ACCESS", 0);
    assert.match(cross.message, /element boundary/);

    const stores: number[][] = [];
    const ctx = mem.map({
      name: "ctx",
      base: 0,
      len: 8,
      flags: REGION_READ | REGION_WRITE | REGION_SPECIAL,
      special: {
        load: (off, size) => off === 4 ? 0x1_0000_0077 : size,
        store: (off, size, lo, hi) => (stores.push([off, size, lo, hi]), off === 4),
      },
    });
    // A 4-byte special load keeps what the host gives: context pointer
    // fields are whole addresses, as the kernel's context rewriting makes them.
    assert.equal(r0Bigint(s.exec.run([vmAddress(ctx, 4)])), 0x1_0000_0077n);
    assert.deepEqual(stores, [[4, 4, 0x77, 0]]);
    const refused = throwsVm(() => s.exec.run([vmAddress(ctx, 0)]), "VM_BAD_ACCESS", 1);
    assert.match(refused.message, /refused by ctx/);
    s.close();
  });

  test(`${tier}: dereferencing a handle faults`, () => {
    const e = throwsVm(
      () =>
        runRaw(tier, [
          { opcode: 0x18, dst: 1, src: 4, imm: 3 },
          { opcode: 0x79, dst: 0, src: 1 },
          EXIT,
          movImm(0, 0),
          EXIT,
        ]),
      "VM_BAD_ACCESS",
      2,
    );
    assert.match(e.message, /is a handle, not memory/);
    assert.equal(e.region, "program raw code");
  });

  test(`${tier}: the budget stops endless loops`, () => {
    const e = throwsVm(
      () => runRaw(tier, [movImm(0, 0), { opcode: 0x05, offset: -1 }], { budget: 1000 }),
      "VM_BUDGET",
      1,
    );
    assert.match(e.message, /pc 1: instruction budget of 1000 exhausted/);
    assert.equal(runRaw(tier, [movImm(0, 1), EXIT], { budget: 2 }).r0, 1n);
    throwsVm(() => runRaw(tier, [movImm(0, 1), EXIT], { budget: 1 }), "VM_BUDGET", 1);
  });

  test(`${tier}: bpf-to-bpf calls keep r6–r9 and r10`, () => {
    const list: InsLike[] = [
      movImm(6, 6),
      movImm(7, 7),
      movImm(8, 8),
      movImm(9, 9),
      { opcode: 0x7a, dst: 10, offset: -8, imm: 100 }, // caller's stack
      movImm(1, 5),
      callLocal(9), // → fn at 16
      { opcode: 0x79, dst: 1, src: 10, offset: -8 },
      { opcode: 0x0f, src: 1 }, // r0 += 100
      { opcode: 0x0f, src: 6 },
      { opcode: 0x0f, src: 7 },
      { opcode: 0x0f, src: 8 },
      { opcode: 0x0f, src: 9 },
      EXIT,
      EXIT,
      EXIT,
      // fn: clobber r6–r9 and its own stack, return r1 * 2.
      movImm(6, 0),
      movImm(7, 0),
      movImm(8, 0),
      movImm(9, 0),
      { opcode: 0x79, dst: 2, src: 10, offset: -8 }, // fresh frame: 0
      { opcode: 0x7a, dst: 10, offset: -8, imm: 55 },
      movReg(0, 1),
      { opcode: 0x0f, src: 0 },
      { opcode: 0x0f, src: 2 },
      EXIT,
    ];
    assert.equal(r0Of(tier, list), 10n + 100n + 30n);
  });

  test(`${tier}: call depth over 8 frames`, () => {
    const recurse = (n: number): InsLike[] => [
      movImm(1, n),
      callLocal(1),
      EXIT,
      // fn(r1): if r1 == 0 return 0; return fn(r1 - 1) + 1
      movImm(0, 0),
      { opcode: 0x15, dst: 1, offset: 3 },
      { opcode: 0x17, dst: 1, imm: 1 },
      callLocal(-4),
      { opcode: 0x07, imm: 1 },
      EXIT,
    ];
    assert.equal(r0Of(tier, recurse(6)), 6n); // 8 frames in use at the deepest
    const e = throwsVm(() => r0Of(tier, recurse(7)), "VM_CALL_DEPTH", 6);
    assert.match(e.message, /pc 6: call depth exceeds 8 frames/);
  });

  test(`${tier}: callx calls a function by address`, () => {
    const list: InsLike[] = [
      { opcode: 0x18, dst: 2, src: 4, imm: 5 }, // r2 = &fn (pc 6)
      movImm(1, 20),
      { opcode: 0x8d, dst: 2 },
      EXIT,
      EXIT,
      movReg(0, 1),
      { opcode: 0x07, imm: 1 },
      EXIT,
    ];
    assert.equal(r0Of(tier, list), 21n);
    const bad: InsLike[] = [
      { opcode: 0x18, dst: 2, src: 4, imm: 5 },
      { opcode: 0x07, dst: 2, imm: 1 }, // not a function entry
      { opcode: 0x8d, dst: 2 },
      EXIT,
      EXIT,
      movImm(0, 1),
      EXIT,
    ];
    const e = throwsVm(() => r0Of(tier, bad), "VM_BAD_ACCESS", 3);
    assert.match(e.message, /callx to 0x[0-9a-f]+.*not a function/);
    throwsVm(() => r0Of(tier, [movImm(2, 0), { opcode: 0x8d, dst: 2 }, EXIT]), "VM_BAD_ACCESS", 1);
  });

  test(`${tier}: helpers get r1–r5 and set r0`, () => {
    const seen: (number | bigint)[] = [];
    const helpers = new Map<number, VmHelper>([
      [1, {
        name: "probe",
        call: (env: HelperEnv) => {
          seen.push(env.arg(1), env.argU64(2), env.arg(5), env.pc);
          assert.equal(env.code.name, "test");
          return -2;
        },
      }],
      [2, { name: "big", call: () => 0x1_2345_6789_abcd_ef01n }],
      [3, { name: "oops", call: () => JSON.parse("{") }],
    ]);
    const s = setup(tier, [
      movImm(1, 11),
      lddw(2, M64(-1n)),
      movImm(5, 55),
      movImm(6, 66),
      callHelper(1),
      { opcode: 0xbf, dst: 7, src: 0 },
      callHelper(2),
      { opcode: 0x0f, src: 7 },
      { opcode: 0x0f, src: 6 },
      EXIT,
    ], { helpers });
    const r = s.exec.run([]);
    assert.deepEqual(seen, [11, M64(-1n), 55, 5]);
    assert.equal(r0Bigint(r), M64(0x1_2345_6789_abcd_ef01n - 2n + 66n));
    assert.equal(r.steps, 10);
    s.close();
    const s2 = setup(tier, [callHelper(3), EXIT], { helpers });
    const e = throwsVm(() => s2.exec.run([]), "VM_HELPER", 0);
    assert.match(e.message, /helper oops failed/);
    s2.close();
  });

  test(`${tier}: a helper that grows the arena does not strand the views`, () => {
    const helpers = new Map<number, VmHelper>([[1, {
      name: "grow",
      call: (env) => {
        const at = env.mem.alloc(16 << 20);
        env.mem.free(at, 16 << 20);
        return 1;
      },
    }]]);
    const s = setup(tier, [
      { opcode: 0x7a, dst: 10, offset: -8, imm: 41 },
      callHelper(1),
      { opcode: 0x79, dst: 1, src: 10, offset: -8 },
      { opcode: 0x0f, src: 1 },
      { opcode: 0x7b, dst: 10, src: 0, offset: -16 },
      { opcode: 0x79, dst: 0, src: 10, offset: -16 },
      EXIT,
    ], { helpers });
    const before = s.runtime.mem.memory.buffer.byteLength;
    assert.equal(r0Bigint(s.exec.run([])), 42n);
    assert.ok(s.runtime.mem.memory.buffer.byteLength > before);
    s.close();
  });

  test(`${tier}: callbacks run functions of the program`, () => {
    // loop(n, fn): calls fn(i) for i < n while it returns 0; returns the sum of i seen.
    const helpers = new Map<number, VmHelper>([[181, {
      name: "loop",
      call: (env) => {
        let sum = 0;
        const n = env.arg(1), fn = env.arg(2);
        for (let i = 0; i < n; i++) {
          sum += i;
          if (env.callback(fn, [i, 0]) !== 0) break;
        }
        return sum;
      },
    }]]);
    const s = setup(tier, [
      movImm(6, 7),
      movImm(1, 10),
      { opcode: 0x18, dst: 2, src: 4, imm: 5 }, // r2 = &cb (pc 8)
      callHelper(181),
      { opcode: 0x0f, src: 6 }, // r6 survives the helper
      EXIT,
      EXIT,
      // cb(i): stop after i == 4; uses its own stack.
      { opcode: 0x7b, dst: 10, src: 1, offset: -8 },
      { opcode: 0x79, dst: 0, src: 10, offset: -8 },
      { opcode: 0x15, offset: 1, imm: 4 },
      movImm(0, 0),
      EXIT,
    ], { helpers });
    const r = s.exec.run([]);
    assert.equal(r0Bigint(r), 0n + 1n + 2n + 3n + 4n + 7n);
    assert.equal(s.runtime.depth, 0);
    s.close();
  });

  test(`${tier}: a callback to something that is not a function faults`, () => {
    const helpers = new Map<number, VmHelper>([[1, {
      name: "cb",
      call: (env) => env.callback(env.arg(1), []),
    }]]);
    const s = setup(tier, [movImm(1, 3), callHelper(1), EXIT], { helpers });
    const e = throwsVm(() => s.exec.run([]), "VM_BAD_ACCESS", 1);
    assert.match(e.message, /callback 0x3 is not a function/);
    assert.equal(s.runtime.depth, 0);
    s.close();
  });

  test(`${tier}: tail calls switch programs with the context in r1`, () => {
    let target: VmProgramHandle | undefined;
    const helpers = new Map<number, VmHelper>([[12, {
      name: "tail_call",
      call: (env) => env.tailCall(target!) ? 0 : -2,
    }]]);
    const s = setup(tier, [
      { opcode: 0x79, dst: 2, src: 1 }, // r2 = *(u64 *)ctx
      { opcode: 0x07, dst: 2, imm: 1 },
      { opcode: 0x7b, dst: 1, src: 2 }, // ++*ctx
      movImm(1, 0), // tail_call(r1 junk): the target still gets the context
      callHelper(12),
      EXIT, // only reached when the tail call fails: r0 = -2
    ], { helpers });
    target = { code: s.code, type: 0, fd: s.runtime.allocFd() };
    const mem = s.runtime.mem;
    const base = mem.alloc(8);
    const ctx = mem.map({ name: "ctx", base, len: 8, flags: REGION_READ | REGION_WRITE });
    const r = s.exec.run([vmAddress(ctx, 0)]);
    assert.equal(r0Bigint(r), M64(-2n));
    assert.equal(mem.dv.getUint32(base, true), 34); // the first run plus 33 tail calls
    assert.equal(r.steps, 34 * 5 + 1);

    // A tail call into another program.
    const other = loadVmCode(insns([movImm(0, 5), { opcode: 0x0f, src: 1 }, EXIT]), {
      name: "other",
      mem,
      helpers: s.runtime.helpers,
    });
    target = { code: other, type: 0, fd: s.runtime.allocFd() };
    assert.equal(r0Bigint(s.exec.run([vmAddress(ctx, 0)])), BigInt(vmAddress(ctx, 0) + 5));
    s.close();
  });

  test(`${tier}: atomics`, () => {
    const list: InsLike[] = [
      { opcode: 0x7a, dst: 10, offset: -8, imm: 10 },
      movImm(1, 5),
      { opcode: 0xdb, dst: 10, src: 1, offset: -8, imm: 0x00 }, // add: 15
      movImm(2, 0xff),
      { opcode: 0xdb, dst: 10, src: 2, offset: -8, imm: 0x51 }, // fetch_and: r2 = 15, mem 15
      movImm(3, 0x30),
      { opcode: 0xdb, dst: 10, src: 3, offset: -8, imm: 0x41 }, // fetch_or: r3 = 15, mem 0x3f
      movImm(4, 1),
      { opcode: 0xc3, dst: 10, src: 4, offset: -8, imm: 0xa1 }, // fetch_xor32: r4 = 0x3f, 0x3e
      movImm(5, 9),
      { opcode: 0xdb, dst: 10, src: 5, offset: -8, imm: 0xe1 }, // xchg: r5 = 0x3e, mem 9
      movImm(0, 8),
      movImm(6, 100),
      { opcode: 0xdb, dst: 10, src: 6, offset: -8, imm: 0xf1 }, // cmpxchg fails: r0 = 9
      { opcode: 0xbf, dst: 7, src: 0 },
      { opcode: 0xdb, dst: 10, src: 6, offset: -8, imm: 0xf1 }, // succeeds: r0 = 9, mem 100
      { opcode: 0x79, dst: 8, src: 10, offset: -8 },
      // r0 = r2 + r3<<8 + r4<<16 + r5<<24 + r7<<32 + r8<<40 + r0<<48
      { opcode: 0x67, imm: 48 },
      ...([[3, 8], [4, 16], [5, 24], [7, 32], [8, 40]] as const).flatMap(([r, sh]) => [
        { opcode: 0x67, dst: r, imm: sh },
        { opcode: 0x0f, src: r },
      ]),
      { opcode: 0x0f, src: 2 },
      EXIT,
    ];
    const want = 15n + (15n << 8n) + (0x3fn << 16n) + (0x3en << 24n) + (9n << 32n) +
      (100n << 40n) + (9n << 48n);
    assert.equal(r0Of(tier, list), want);
  });

  test(`${tier}: 64-bit atomic add carries and 32-bit fetch zero-extends`, () => {
    const list: InsLike[] = [
      lddw(1, 0xffffffffn),
      { opcode: 0x7b, dst: 10, src: 1, offset: -8 },
      movImm(2, 1),
      { opcode: 0xdb, dst: 10, src: 2, offset: -8, imm: 0x01 }, // r2 = 0xffffffff
      movImm(3, -1),
      { opcode: 0xc3, dst: 10, src: 3, offset: -16, imm: 0x01 }, // r3 = 0 (was zero)
      { opcode: 0x79, dst: 0, src: 10, offset: -8 },
      { opcode: 0x0f, src: 2 },
      { opcode: 0x0f, src: 3 },
      movImm(4, 0),
      { opcode: 0xc3, dst: 10, src: 4, offset: -16, imm: 0xf1 }, // cmpxchg32: r0 low 0 == 0xffffffff? no
      EXIT,
    ];
    // cmpxchg32 sets r0 to the old 32-bit value 0xffffffff, zero-extended.
    assert.equal(r0Of(tier, list), 0xffffffffn);
  });

  test(`${tier}: atomics on read-only memory fault`, () => {
    const s = setup(tier, [movImm(2, 1), { opcode: 0xdb, dst: 1, src: 2, imm: 0 }, EXIT]);
    const mem = s.runtime.mem;
    const ro = mem.map({ name: "ro", base: mem.alloc(8), len: 8, flags: REGION_READ });
    const e = throwsVm(() => s.exec.run([vmAddress(ro, 0)]), "VM_BAD_ACCESS", 1);
    assert.match(e.message, /ro is read-only/);
    s.close();
  });

  test(`${tier}: load-acquire and store-release`, () => {
    const list: InsLike[] = [
      lddw(1, 0x1122334455667788n),
      { opcode: 0xdb, dst: 10, src: 1, offset: -8, imm: 0x110 },
      { opcode: 0xd3, dst: 0, src: 10, offset: -8, imm: 0x100 }, // u8
      { opcode: 0xcb, dst: 2, src: 10, offset: -8, imm: 0x100 }, // u16
      { opcode: 0x0f, src: 2 },
      EXIT,
    ];
    assert.equal(r0Of(tier, list), 0x88n + 0x7788n);
  });

  test(`${tier}: may_goto gives up after its limit`, () => {
    const list: InsLike[] = [
      movImm(0, 0),
      { opcode: 0xe5, offset: 2 }, // may_goto +2
      { opcode: 0x07, imm: 1 },
      { opcode: 0x05, offset: -3 },
      EXIT,
    ];
    assert.equal(r0Of(tier, list), 8n * 1024n * 1024n);
  });
}

test("runBytecode reports a tier that does not exist", () => {
  throwsVm(() => runBytecode(bytecode([EXIT]), { tier: "fast" as VmTier }), "VM_BAD_RUN");
});

test("runBytecode turns undecodable bytes into VM_BAD_PROGRAM", () => {
  throwsVm(() => runBytecode(new Uint8Array(7)), "VM_BAD_PROGRAM");
  throwsVm(() => runBytecode(new Uint8Array([0x18, 0, 0, 0, 0, 0, 0, 0])), "VM_BAD_PROGRAM");
});

test("runBytecode calls ktime_get_ns by default", () => {
  const r = runBytecode(bytecode([callHelper(5), EXIT]), { runtime: { clock: () => 123n } });
  assert.equal(r.r0, 123n);
  throwsVm(() => runBytecode(bytecode([callHelper(6), EXIT])), "VM_BAD_PROGRAM", 0);
});

test("createRawRunner runs many times and releases its regions", () => {
  const runner = createRawRunner(bytecode([{ opcode: 0x71, dst: 0, src: 1 }, EXIT]));
  for (let i = 0; i < 5; i++) assert.equal(runner.run(new Uint8Array([i])).r0, BigInt(i));
  runner.close();
  runner.close();
  throwsVm(() => runner.run(), "VM_CLOSED");
});

test("runtime: registries, fds, random, packets and close", () => {
  const rt = createRuntime({ seed: 7 });
  const a = [rt.random(), rt.random()];
  const rt2 = createRuntime({ seed: 7 });
  assert.deepEqual([rt2.random(), rt2.random()], a);
  assert.ok(a.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32));
  assert.equal(rt.allocFd() + 1, rt.allocFd());
  assert.equal(rt.frameTags.length, 8);
  assert.equal(rt.mem.regionName(rt.frameTags[3]), "stack frame 3");
  assert.equal(rt.options.comm, "tsbpf");
  assert.equal(rt.options.possibleCpus, 1);
  assert.equal(rt.options.budget, 100_000_000);
  assert.equal(typeof rt.options.clock!(), "bigint");
  const map = { address: vmAddress(77, 0), fd: 5 } as unknown as Parameters<typeof rt.addMap>[0];
  rt.addMap(map);
  assert.equal(rt.mapAt(vmAddress(77, 0)), map);
  assert.equal(rt.mapByFd(5), map);
  rt.removeMap(map);
  assert.equal(rt.mapAt(vmAddress(77, 0)), undefined);
  const prog = { code: undefined, type: 1, fd: 9 } as unknown as VmProgramHandle;
  rt.addProgram(prog);
  assert.equal(rt.programByFd(9), prog);
  rt.removeProgram(prog);
  assert.equal(rt.programByFd(9), undefined);
  rt.setPacket(40, { data: 1, end: 2 });
  assert.deepEqual(rt.packetOf(vmAddress(40, 12)), { data: 1, end: 2 });
  rt.clearPacket(40);
  assert.equal(rt.packetOf(vmAddress(40, 0)), undefined);
  const count = rt.mem.regionCount;
  rt.close();
  assert.equal(rt.mem.regionCount, count - 8);
  rt.close();
  rt2.close();
});

test("executor rejects bad arguments and budgets", () => {
  const rt = createRuntime();
  const code = loadVmCode(insns([EXIT]), { name: "x", mem: rt.mem, helpers: rt.helpers });
  const exec = createExecutor(rt, code, "interpret");
  throwsVm(() => exec.run([1.5]), "VM_BAD_RUN");
  throwsVm(() => exec.run([], { budget: -1 }), "VM_BAD_RUN");
  assert.ok(new VmError("VM_X", "y") instanceof Error);
  rt.close();
});
