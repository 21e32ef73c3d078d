import { test } from "node:test";
import assert from "node:assert/strict";
import type { Instruction } from "../isa/instruction.ts";
import { compileVmCode } from "../backends/vm/compiler/mod.ts";
import { generateModule } from "../backends/vm/compiler/codegen.ts";
import { layoutFunction } from "../backends/vm/compiler/cfg.ts";
import { ByteWriter } from "../backends/vm/compiler/wasm_encoder.ts";
import { createInterpreter } from "../backends/vm/interpreter.ts";
import { loadVmCode } from "../backends/vm/program.ts";
import { createRuntime } from "../backends/vm/runtime.ts";
import { runBytecode } from "../backends/vm/run.ts";
import { VmError } from "../backends/vm/errors.ts";
import {
  REGION_READ,
  REGION_SPECIAL,
  REGION_STRIDED,
  REGION_WRITE,
  vmAddress,
} from "../backends/vm/memory.ts";
import type { VmHelper, VmProgramHandle } from "../backends/vm/types.ts";

// --- a tiny assembler --------------------------------------------------------

const I = (opcode: number, dst = 0, src = 0, offset = 0, imm = 0): Instruction => ({
  opcode,
  dst,
  src,
  offset,
  imm,
});
const lddw = (dst: number, value: bigint): Instruction => {
  const v = BigInt.asUintN(64, value);
  return {
    opcode: 0x18,
    dst,
    src: 0,
    offset: 0,
    imm: Number(v & 0xffffffffn) | 0,
    immHi: Number(v >> 32n) | 0,
  };
};
const movi = (dst: number, imm: number) => I(0xb7, dst, 0, 0, imm);
const exit = () => I(0x95);
const call = (id: number) => I(0x85, 0, 0, 0, id);
const callFn = (rel: number) => I(0x85, 0, 1, 0, rel);

type Outcome = { r0: bigint; steps: number } | { code: string; pc?: number; message: string };

interface Setup {
  helpers?: Map<number, VmHelper>;
  budget?: number;
  args?: number[];
  /** Prepare regions; returns run arguments. */
  prepare?: (rt: ReturnType<typeof createRuntime>) => number[];
}

function runTier(insns: Instruction[], tier: "jit" | "interpret", setup: Setup = {}): Outcome {
  const helpers = setup.helpers ?? new Map();
  const rt = createRuntime({ helpers });
  try {
    const code = loadVmCode(insns, { name: "t", mem: rt.mem, helpers });
    const exec = tier === "jit" ? compileVmCode(rt, code) : createInterpreter(rt, code);
    const args = setup.prepare?.(rt) ?? setup.args ?? [];
    const r = exec.run(args, { budget: setup.budget });
    return { r0: (BigInt(r.hi) << 32n) | BigInt(r.lo), steps: r.steps };
  } catch (err) {
    if (!(err instanceof VmError)) throw err;
    return { code: err.code, pc: err.pc, message: err.message };
  } finally {
    rt.close();
  }
}

/** Run in both tiers, demand identical outcomes, return the compiled tier's. */
function both(insns: Instruction[], setup: Setup = {}): Outcome {
  const jit = runTier(insns, "jit", setup);
  const interp = runTier(insns, "interpret", setup);
  assert.deepEqual(jit, interp);
  return jit;
}

function r0Of(insns: Instruction[], setup: Setup = {}): bigint {
  const out = both(insns, setup);
  if (!("r0" in out)) throw new Error(`expected a result, got ${out.code}: ${out.message}`);
  return out.r0;
}

const M64 = (1n << 64n) - 1n;
const u64 = (v: bigint) => v & M64;

// ALU cases: [name, program (result in r0), expected r0].
const aluCases: [string, Instruction[], bigint][] = [
  ["add64 imm wraps", [lddw(0, -1n), I(0x07, 0, 0, 0, 2), exit()], 1n],
  ["add32 zero-extends", [lddw(0, 0xffffffff_ffffffffn), I(0x04, 0, 0, 0, 2), exit()], 1n],
  ["sub64 reg", [movi(0, 5), movi(1, 7), I(0x1f, 0, 1), exit()], u64(-2n)],
  [
    "mul64",
    [lddw(0, 0x1_0000_0001n), lddw(1, 0x1_0000_0001n), I(0x2f, 0, 1), exit()],
    0x2_0000_0001n,
  ],
  ["mul32", [movi(0, -1), I(0x24, 0, 0, 0, -1), exit()], 1n],
  ["div64 by zero reg → 0", [movi(0, 9), movi(1, 0), I(0x3f, 0, 1), exit()], 0n],
  ["mod64 by zero → dst", [lddw(0, -5n), movi(1, 0), I(0x9f, 0, 1), exit()], u64(-5n)],
  [
    "mod32 by zero → dst zero-extended",
    [lddw(0, -5n), movi(1, 0), I(0x9c, 0, 1), exit()],
    0xfffffffbn,
  ],
  ["div32 by zero → 0", [lddw(0, -5n), movi(1, 0), I(0x3c, 0, 1), exit()], 0n],
  ["div64 unsigned imm sign-extended", [lddw(0, -1n), I(0x37, 0, 0, 0, -1), exit()], 1n],
  ["div32 unsigned imm", [movi(0, -1), I(0x34, 0, 0, 0, -1), exit()], 1n],
  ["mod64 unsigned", [movi(0, 17), movi(1, 5), I(0x9f, 0, 1), exit()], 2n],
  ["sdiv64 INT_MIN/-1", [lddw(0, -(1n << 63n)), movi(1, -1), I(0x3f, 0, 1, 1), exit()], 1n << 63n],
  ["sdiv64 imm -1", [lddw(0, -(1n << 63n)), I(0x37, 0, 0, 1, -1), exit()], 1n << 63n],
  ["smod64 INT_MIN%-1 → 0", [lddw(0, -(1n << 63n)), movi(1, -1), I(0x9f, 0, 1, 1), exit()], 0n],
  ["smod64 imm -1", [movi(0, -7), I(0x97, 0, 0, 1, -1), exit()], 0n],
  ["sdiv64 by zero → 0", [movi(0, -7), movi(1, 0), I(0x3f, 0, 1, 1), exit()], 0n],
  ["smod64 by zero → dst", [movi(0, -7), movi(1, 0), I(0x9f, 0, 1, 1), exit()], u64(-7n)],
  ["sdiv64 negative", [movi(0, -7), movi(1, 2), I(0x3f, 0, 1, 1), exit()], u64(-3n)],
  ["smod64 negative", [movi(0, -7), movi(1, 2), I(0x9f, 0, 1, 1), exit()], u64(-1n)],
  ["sdiv32 INT_MIN/-1", [movi(0, -0x80000000), movi(1, -1), I(0x3c, 0, 1, 1), exit()], 0x80000000n],
  ["smod32 by -1", [movi(0, -0x80000000), I(0x94, 0, 0, 1, -1), exit()], 0n],
  ["smod32 by zero → dst zext", [movi(0, -7), movi(1, 0), I(0x9c, 0, 1, 1), exit()], 0xfffffff9n],
  ["sdiv32 negative", [movi(0, -7), I(0x34, 0, 0, 1, 2), exit()], 0xfffffffdn],
  ["or/and/xor", [
    movi(0, 0xf0),
    I(0x47, 0, 0, 0, 0x0f),
    I(0x57, 0, 0, 0, 0x3c),
    I(0xa7, 0, 0, 0, 0xff),
    exit(),
  ], 0xc3n],
  ["lsh64 reg masked", [movi(0, 1), movi(1, 65), I(0x6f, 0, 1), exit()], 2n],
  ["lsh32 reg masked", [movi(0, 1), movi(1, 33), I(0x6c, 0, 1), exit()], 2n],
  ["rsh64", [lddw(0, -1n), I(0x77, 0, 0, 0, 60), exit()], 15n],
  ["rsh32 of upper", [lddw(0, -1n), I(0x74, 0, 0, 0, 28), exit()], 15n],
  ["arsh64", [lddw(0, -256n), I(0xc7, 0, 0, 0, 4), exit()], u64(-16n)],
  ["arsh32 zero-extends", [movi(0, -256), I(0xc4, 0, 0, 0, 4), exit()], 0xfffffff0n],
  ["arsh64 reg masked", [lddw(0, -256n), movi(1, 68), I(0xcf, 0, 1), exit()], u64(-16n)],
  ["neg64", [movi(0, 5), I(0x87, 0), exit()], u64(-5n)],
  ["neg32", [movi(0, 5), I(0x84, 0), exit()], 0xfffffffbn],
  ["mov32 imm zero-extends", [movi(0, -1), I(0xb4, 0, 0, 0, -1), exit()], 0xffffffffn],
  ["mov32 reg zero-extends", [lddw(1, -1n), I(0xbc, 0, 1), exit()], 0xffffffffn],
  ["movsx64 8", [movi(1, 0x80), I(0xbf, 0, 1, 8), exit()], u64(-128n)],
  ["movsx64 16", [movi(1, 0x8000), I(0xbf, 0, 1, 16), exit()], u64(-32768n)],
  ["movsx64 32", [lddw(1, 0x80000000n), I(0xbf, 0, 1, 32), exit()], u64(-(1n << 31n))],
  ["movsx32 8", [movi(1, 0xff), I(0xbc, 0, 1, 8), exit()], 0xffffffffn],
  ["movsx32 16", [movi(1, 0x8001), I(0xbc, 0, 1, 16), exit()], 0xffff8001n],
  ["le16", [lddw(0, 0x1122334455667788n), I(0xd4, 0, 0, 0, 16), exit()], 0x7788n],
  ["le32", [lddw(0, 0x1122334455667788n), I(0xd4, 0, 0, 0, 32), exit()], 0x55667788n],
  ["le64", [lddw(0, 0x1122334455667788n), I(0xd4, 0, 0, 0, 64), exit()], 0x1122334455667788n],
  ["be16", [lddw(0, 0x1122334455667788n), I(0xdc, 0, 0, 0, 16), exit()], 0x8877n],
  ["be32", [lddw(0, 0x1122334455667788n), I(0xdc, 0, 0, 0, 32), exit()], 0x88776655n],
  ["be64", [lddw(0, 0x1122334455667788n), I(0xdc, 0, 0, 0, 64), exit()], 0x8877665544332211n],
  ["bswap16", [lddw(0, 0x1122334455667788n), I(0xd7, 0, 0, 0, 16), exit()], 0x8877n],
  ["bswap32", [lddw(0, 0x1122334455667788n), I(0xd7, 0, 0, 0, 32), exit()], 0x88776655n],
  ["bswap64", [lddw(0, 0x1122334455667788n), I(0xd7, 0, 0, 0, 64), exit()], 0x8877665544332211n],
  ["ld_imm64 full", [lddw(0, 0xdeadbeefcafebaben), exit()], 0xdeadbeefcafebaben],
];

for (const [name, insns, expected] of aluCases) {
  test(`compiled tier: alu ${name}`, () => {
    assert.equal(r0Of(insns), expected);
  });
}

// Jumps: r0 = 1 when taken, 2 when not.
const jumpCases: [string, number, bigint, bigint | number, boolean][] = [
  // [name, opcode, dst value, src value or imm (number = imm), taken]
  ["jeq", 0x1d, 5n, 5n, true],
  ["jgt unsigned", 0x2d, -1n, 1n, true],
  ["jge", 0x3d, 1n, 1n, true],
  ["jset", 0x4d, 6n, 2n, true],
  ["jset none", 0x4d, 6n, 1n, false],
  ["jne", 0x5d, 1n, 1n, false],
  ["jsgt signed", 0x6d, -1n, 1n, false],
  ["jsge", 0x7d, -1n, -1n, true],
  ["jlt", 0xad, 1n, -1n, true],
  ["jle", 0xbd, 2n, 1n, false],
  ["jslt", 0xcd, -2n, -1n, true],
  ["jsle", 0xdd, -1n, -1n, true],
  ["jeq imm sign-extended", 0x15, -1n, -1, true],
  ["jgt imm sign-extended unsigned", 0x25, -1n, -2, true],
  ["jsgt imm", 0x65, 0n, -1, true],
  ["jeq32 low words", 0x1e, 0x1_00000005n, 5n, true],
  ["jgt32 ignores upper", 0x2e, 0x1_00000000n, 1n, false],
  ["jsgt32", 0x6e, 0xffffffffn, 0n, false],
  ["jslt32 imm", 0xc6, 0x7fffffff_80000000n, 0, true],
  ["jset32", 0x4e, 0x1_00000000n, 0x1_00000000n, false],
  ["jne32 imm", 0x56, 0xffffffff_00000001n, 1, false],
];

for (const [name, opcode, a, b, taken] of jumpCases) {
  test(`compiled tier: jump ${name}`, () => {
    const x = (opcode & 8) !== 0;
    const insns = [
      lddw(1, a),
      x ? lddw(2, b as bigint) : movi(2, 0),
      I(opcode, 1, x ? 2 : 0, 2, x ? 0 : (b as number)),
      movi(0, 2),
      exit(),
      movi(0, 1),
      exit(),
    ];
    assert.equal(r0Of(insns), taken ? 1n : 2n);
  });
}

test("compiled tier: ja, gotol and backward loops count steps exactly", () => {
  // r0 = sum 1..10 via a backward jump; gotol over a trap.
  const insns = [
    movi(0, 0),
    movi(1, 10),
    I(0x0f, 0, 1), // loop: r0 += r1
    I(0x17, 1, 0, 0, 1), // r1 -= 1
    I(0x55, 1, 0, -3, 0), // if r1 != 0 goto loop
    I(0x06, 0, 0, 0, 1), // gotol +1
    I(0x87, 0), // skipped
    I(0x05, 0, 0, 1), // ja +1
    I(0x87, 0), // skipped
    exit(),
  ];
  const out = both(insns);
  assert.deepEqual(out, { r0: 55n, steps: 2 + 30 + 3 });
});

test("compiled tier: memory loads, stores and sign-extending loads on the stack", () => {
  const insns = [
    lddw(1, 0x8899aabbccddeeffn),
    I(0x7b, 10, 1, -8), // *(u64*)(r10-8) = r1
    I(0x62, 10, 0, -16, -2), // *(u32*)(r10-16) = -2
    I(0x6a, 10, 0, -12, 0x1234), // *(u16*)(r10-12) = 0x1234
    I(0x72, 10, 0, -10, 0x80), // *(u8*)(r10-10) = 0x80
    I(0x71, 2, 10, -8), // r2 = *(u8*)(r10-8) = 0xff
    I(0x69, 3, 10, -6), // r3 = *(u16*)(r10-6) = 0xccdd
    I(0x61, 4, 10, -4), // r4 = *(u32*)(r10-4) = 0x8899aabb
    I(0x91, 5, 10, -10), // r5 = (s8) 0x80
    I(0x89, 6, 10, -8), // r6 = (s16) 0xeeff
    I(0x81, 7, 10, -16), // r7 = (s32) -2
    I(0x79, 0, 10, -16), // r0 = *(u64*)(r10-16)
    I(0x0f, 0, 2),
    I(0x0f, 0, 3),
    I(0x0f, 0, 4),
    I(0x0f, 0, 5),
    I(0x0f, 0, 6),
    I(0x0f, 0, 7),
    exit(),
  ];
  const low = 0xfffffffen | (0x1234n << 32n) | (0x80n << 48n);
  const expected = u64(low + 0xffn + 0xccddn + 0x8899aabbn - 128n + u64(-0x1101n) - 2n);
  assert.equal(r0Of(insns), u64(expected));
});

test("compiled tier: stack frames start zeroed in every run and call", () => {
  const insns = [
    I(0x79, 0, 10, -8), // r0 = leftover?
    movi(1, 7),
    I(0x7b, 10, 1, -8),
    exit(),
  ];
  const helpers = new Map();
  const rt = createRuntime({ helpers });
  const code = loadVmCode(insns, { name: "z", mem: rt.mem, helpers });
  const exec = compileVmCode(rt, code);
  assert.equal(exec.run([]).lo, 0);
  assert.equal(exec.run([]).lo, 0);
  rt.close();
});

test("compiled tier: faults name pc, address, size and region", () => {
  const nul = both([movi(1, 0), I(0x79, 0, 1, 0), exit()]);
  assert.ok("code" in nul && nul.code === "VM_BAD_ACCESS" && nul.pc === 1);
  assert.match((nul as { message: string }).message, /NULL/);
  const past = both([I(0x7a, 10, 0, 0, 1), exit()]); // *(u64*)r10 = 1: past the frame's end
  assert.ok("code" in past && past.code === "VM_BAD_ACCESS" && past.pc === 0);
  assert.match((past as { message: string }).message, /past the end of stack frame/);
  const straddle = both([I(0x7a, 10, 0, -4, 1), exit()]);
  assert.ok("code" in straddle && straddle.code === "VM_BAD_ACCESS");
  const under = both([I(0x71, 0, 10, -513), exit()]);
  assert.ok("code" in under && under.code === "VM_BAD_ACCESS");
  // The error object itself carries the address and size.
  const rt = createRuntime();
  const code = loadVmCode([movi(1, 0), I(0x07, 1, 0, 0, 4096), I(0x61, 0, 1, 8), exit()], {
    name: "f",
    mem: rt.mem,
    helpers: new Map(),
  });
  try {
    compileVmCode(rt, code).run([]);
    assert.fail("no fault");
  } catch (err) {
    assert.ok(err instanceof VmError);
    assert.equal(err.code, "VM_BAD_ACCESS");
    assert.equal(err.pc, 2);
    assert.equal(err.address, 4104);
    assert.equal(err.size, 4);
    assert.equal(err.program, "f");
  } finally {
    rt.close();
  }
});

function withRegion(
  flags: number,
  len: number,
  extra: { elem?: number; stride?: number; special?: Parameters<typeof Object>[0] } = {},
) {
  return (rt: ReturnType<typeof createRuntime>) => {
    const base = rt.mem.alloc(len);
    for (let i = 0; i < len; i++) rt.mem.u8[base + i] = i;
    const tag = rt.mem.map({ name: "data", base, len, flags, ...extra } as never);
    return [vmAddress(tag, 0), len];
  };
}

test("compiled tier: read-only, strided and handle regions are enforced", () => {
  const ro = withRegion(REGION_READ, 64);
  assert.equal(r0Of([I(0x79, 0, 1, 8), exit()], { prepare: ro }), 0x0f0e0d0c0b0a0908n);
  const w = both([I(0x72, 1, 0, 0, 1), exit()], { prepare: ro });
  assert.ok("code" in w && w.code === "VM_BAD_ACCESS");
  assert.match((w as { message: string }).message, /read-only/);
  // Elements of 12 bytes every 16: an 8-byte load at 8 crosses an element.
  const strided = withRegion(REGION_READ | REGION_WRITE | REGION_STRIDED, 64, {
    elem: 12,
    stride: 16,
  });
  assert.equal(r0Of([I(0x61, 0, 1, 24), exit()], { prepare: strided }), 0x1b1a1918n);
  const cross = both([I(0x79, 0, 1, 8), exit()], { prepare: strided });
  assert.ok("code" in cross && cross.code === "VM_BAD_ACCESS");
  assert.match((cross as { message: string }).message, /element boundary/);
  // A loop over elements uses the cache per element: sum of bytes 0..11 of each element.
  const sum = [
    movi(0, 0),
    movi(3, 0),
    I(0xbf, 4, 1), // loop: r4 = r1 + r3*16
    I(0xbf, 5, 3),
    I(0x67, 5, 0, 0, 4),
    I(0x0f, 4, 5),
    I(0x61, 5, 4, 8), // r5 = u32 at +8
    I(0x0f, 0, 5),
    I(0x07, 3, 0, 0, 1),
    I(0xa5, 3, 0, -8, 4), // if r3 < 4 goto loop
    exit(),
  ];
  r0Of(sum, { prepare: strided });
  const handle = withRegion(0, 8);
  const h = both([I(0x71, 0, 1, 0), exit()], { prepare: handle });
  assert.ok("code" in h && h.code === "VM_BAD_ACCESS");
});

test("compiled tier: special regions go through the host, values pass via scratch", () => {
  const log: string[] = [];
  const prepare = (rt: ReturnType<typeof createRuntime>) => {
    const tag = rt.mem.map({
      name: "ctx",
      base: 0,
      len: 32,
      flags: REGION_READ | REGION_WRITE | REGION_SPECIAL,
      special: {
        load: (off, size) => (off === 0 ? 0xfedcba9876543210n : size === 1 ? -1 : off * 1000),
        store: (off, size, lo, hi) => {
          log.push(`${off}/${size}=${hi}:${lo}`);
          return off !== 16;
        },
      },
    });
    return [vmAddress(tag, 0)];
  };
  const prog = [
    I(0x79, 2, 1, 0), // r2 = 64-bit bigint
    I(0x61, 3, 1, 8), // r3 = 8000
    I(0x91, 4, 1, 4), // r4 = (s8) -1
    I(0x7b, 1, 2, 8), // store r2 at 8
    I(0x62, 1, 0, 4, -3), // store imm at 4
    I(0xbf, 0, 2),
    I(0x0f, 0, 3),
    I(0x0f, 0, 4),
    exit(),
  ];
  const out = both(prog, { prepare });
  assert.ok("r0" in out);
  assert.equal(out.r0, u64(0xfedcba9876543210n + 8000n - 1n));
  assert.deepEqual(log.slice(0, 2), [
    `8/8=${0xfedcba98}:${0x76543210}`,
    `4/4=0:${0xfffffffd}`,
  ]);
  const refused = both([I(0x62, 1, 0, 16, 1), exit()], { prepare });
  assert.ok("code" in refused && refused.code === "VM_BAD_ACCESS");
  const atomicOnCtx = both([movi(2, 1), I(0xdb, 1, 2, 0, 0x00), exit()], { prepare });
  assert.ok("code" in atomicOnCtx && atomicOnCtx.code === "VM_BAD_ACCESS");
});

test("compiled tier: atomics W and DW, with and without fetch, xchg, cmpxchg", () => {
  const ops: [number, number][] = [
    [0xdb, 0x00],
    [0xdb, 0x01],
    [0xdb, 0x40],
    [0xdb, 0x41],
    [0xdb, 0x50],
    [0xdb, 0x51],
    [0xdb, 0xa0],
    [0xdb, 0xa1],
    [0xdb, 0xe1],
    [0xdb, 0xf1],
    [0xc3, 0x00],
    [0xc3, 0x01],
    [0xc3, 0x41],
    [0xc3, 0x51],
    [0xc3, 0xa1],
    [0xc3, 0xe1],
    [0xc3, 0xf1],
  ];
  for (const [opcode, imm] of ops) {
    for (const r0 of [0x12345678n, 0x0f0f0f0f_12345678n]) {
      const prog = [
        lddw(1, 0xf0f0f0f0_12345678n),
        I(0x7b, 10, 1, -8),
        lddw(2, 0x11111111_ffffffffn),
        lddw(0, r0),
        I(opcode, 10, 2, -8, imm),
        I(0x79, 3, 10, -8), // memory after
        // r0 = mem ^ r2*3 ^ r0*7
        I(0xbf, 4, 2),
        I(0x27, 4, 0, 0, 3),
        I(0xaf, 3, 4),
        I(0x27, 0, 0, 0, 7),
        I(0xaf, 0, 3),
        exit(),
      ];
      r0Of(prog);
    }
  }
  // A concrete check: fetch-add returns the old value and adds.
  const fetchAdd = [
    movi(1, 40),
    I(0x7b, 10, 1, -8),
    movi(2, 2),
    I(0xdb, 10, 2, -8, 0x01),
    I(0x79, 0, 10, -8),
    I(0x27, 0, 0, 0, 1000),
    I(0x0f, 0, 2),
    exit(),
  ];
  assert.equal(r0Of(fetchAdd), 42040n);
  // Load-acquire and store-release.
  const acqRel = [movi(1, 0x1ff), I(0xd3, 10, 1, -1, 0x110), I(0xd3, 0, 10, -1, 0x100), exit()];
  assert.equal(r0Of(acqRel), 0xffn);
});

test("compiled tier: budget exhaustion names the same pc and steps are exact", () => {
  const loop = [movi(0, 0), I(0x07, 0, 0, 0, 1), I(0x05, 0, 0, -2), exit()];
  for (const budget of [0, 1, 2, 3, 4, 5, 100, 1001]) {
    const out = both(loop, { budget });
    assert.ok("code" in out && out.code === "VM_BUDGET");
  }
  const straight = [movi(0, 1), lddw(1, 5n), I(0x0f, 0, 1), exit()];
  assert.deepEqual(both(straight, { budget: 4 }), { r0: 6n, steps: 4 });
  const short = both(straight, { budget: 3 });
  assert.ok("code" in short && short.code === "VM_BUDGET" && short.pc === 4);
  const two = both(straight, { budget: 1 });
  assert.ok("code" in two && two.pc === 1);
});

test("compiled tier: bpf-to-bpf calls keep r6–r9, give the callee a fresh frame", () => {
  const prog = [
    movi(6, 6),
    movi(1, 10),
    movi(2, 20),
    I(0x7a, 10, 0, -8, 99), // caller's stack
    callFn(3),
    I(0x0f, 0, 6), // r0 += r6 (must still be 6)
    I(0x79, 7, 10, -8),
    I(0x0f, 0, 7), // + 99 (caller frame untouched)
    exit(),
    // callee: r0 = r1 + r2; r6 = 1000; reads its own stack (zero)
    movi(6, 1000),
    I(0xbf, 0, 1),
    I(0x0f, 0, 2),
    I(0x79, 3, 10, -8),
    I(0x0f, 0, 3),
    I(0x7a, 10, 0, -8, 5),
    exit(),
  ];
  // call is at pc 4, target 4 + 3 + 1 = 8... the exit at 8 belongs to main; fix up below.
  prog[4] = callFn(4); // target pc 9
  assert.equal(r0Of(prog), 30n + 6n + 99n);
});

test("compiled tier: call depth over 8 frames throws VM_CALL_DEPTH", () => {
  // f(n): if n == 0 return 0; return f(n-1) + 1
  const rec = (limit: number) => [
    movi(1, limit),
    callFn(1),
    exit(),
    I(0x55, 1, 0, 2, 0), // f: if r1 != 0 goto +2
    movi(0, 0),
    exit(),
    I(0x17, 1, 0, 0, 1),
    callFn(-5), // f
    I(0x07, 0, 0, 0, 1),
    exit(),
  ];
  assert.equal(r0Of(rec(6)), 6n); // main + 7 frames = 8
  const deep = both(rec(7));
  assert.ok("code" in deep && deep.code === "VM_CALL_DEPTH" && deep.pc === 7);
});

test("compiled tier: callx calls a function by address, faults on a bad one", () => {
  const prog = [
    { opcode: 0x18, dst: 3, src: 4, offset: 0, imm: 6, immHi: 0 }, // r3 = &f (pc 7)
    movi(1, 21),
    I(0x8d, 3),
    exit(),
    movi(0, -1),
    exit(),
    I(0xbf, 0, 1), // f: r0 = r1 * 2
    I(0x27, 0, 0, 0, 2),
    exit(),
  ] as Instruction[];
  assert.equal(r0Of(prog), 42n);
  const bad = [...prog];
  bad[1] = I(0x07, 3, 0, 0, 1); // r3 += 1: no function there
  const out = both(bad);
  assert.ok("code" in out && out.code === "VM_BAD_ACCESS" && out.pc === 3);
  const notCode = both([movi(3, 8), I(0x8d, 3), exit()]);
  assert.ok("code" in notCode && notCode.code === "VM_BAD_ACCESS");
});

test("compiled tier: helper arguments, negative numbers and bigint results", () => {
  const seen: string[] = [];
  const helpers = new Map<number, VmHelper>([
    [1, {
      name: "sum",
      call: (env) => {
        seen.push(`${env.arg(1)},${env.argU64(2)},${env.arg(3)},${env.arg(4)},${env.arg(5)}`);
        return env.arg(1) + env.arg(3);
      },
    }],
    [2, { name: "neg", call: () => -2 }],
    [3, { name: "big", call: () => 0x1_2345_6789_abcd_ef01n }],
    [4, { name: "negbig", call: () => -5n }],
    [5, {
      name: "boom",
      call: () => {
        throw new Error("nope");
      },
    }],
  ]);
  const prog = (id: number) => [
    movi(1, 1),
    lddw(2, -1n),
    movi(3, 3),
    movi(4, 4),
    movi(5, 5),
    movi(6, 77),
    call(id),
    I(0x0f, 0, 6), // r6 survives
    exit(),
  ];
  assert.equal(r0Of(prog(1), { helpers }), 4n + 77n);
  assert.equal(seen[0], `1,${M64},3,4,5`);
  assert.equal(r0Of(prog(2), { helpers }), u64(-2n + 77n));
  assert.equal(r0Of(prog(3), { helpers }), u64(0x1_2345_6789_abcd_ef01n + 77n) & M64);
  assert.equal(r0Of(prog(4), { helpers }), 72n);
  const boom = both(prog(5), { helpers });
  assert.ok("code" in boom && boom.code === "VM_HELPER" && boom.pc === 7);
});

test("compiled tier: callbacks run BPF functions on the next frame", () => {
  const helpers = new Map<number, VmHelper>([
    [1, {
      name: "loop",
      // bpf_loop-like: call fn(i, ctx) n times, stop on non-zero.
      call: (env) => {
        const n = env.arg(1), fn = env.arg(2);
        let i = 0;
        for (; i < n; i++) if (env.callback(fn, [i, env.arg(3)]) !== 0) break;
        return i;
      },
    }],
  ]);
  const prog = [
    movi(6, 0),
    I(0x7b, 10, 6, -8), // counter on the stack
    movi(1, 10),
    { opcode: 0x18, dst: 2, src: 4, offset: 0, imm: 8, immHi: 0 }, // r2 = &cb (pc 12)
    I(0xbf, 3, 10),
    I(0x07, 3, 0, 0, -8), // r3 = &counter
    call(1),
    I(0x79, 1, 10, -8),
    I(0x27, 0, 0, 0, 1000),
    I(0x0f, 0, 1),
    exit(),
    // cb(i, ctx): *ctx += i; return i == 6
    I(0x79, 4, 2, 0),
    I(0x0f, 4, 1),
    I(0x7b, 2, 4, 0),
    movi(0, 0),
    I(0x55, 1, 0, 1, 6),
    movi(0, 1),
    exit(),
  ] as Instruction[];
  assert.equal(r0Of(prog, { helpers }), 6000n + 21n);
});

test("compiled tier: tail calls continue in the target, at most 33 times", () => {
  const helpers = new Map<number, VmHelper>();
  const rt = createRuntime({ helpers });
  const targets: VmProgramHandle[] = [];
  helpers.set(12, {
    name: "tail_call",
    call: (env) => (env.tailCall(targets[env.arg(3)]) ? 0 : -2),
  });
  // target: r0 = r1 + 1000 (r1 is the run's context)
  const target = loadVmCode([I(0xbf, 0, 1), I(0x07, 0, 0, 0, 1000), exit()], {
    name: "target",
    mem: rt.mem,
    helpers,
  });
  // self: counts tail calls in stack-less way via a map-free trick: tail-calls itself forever.
  const selfCode = loadVmCode([movi(3, 1), call(12), I(0x07, 0, 0, 0, 1), exit()], {
    name: "self",
    mem: rt.mem,
    helpers,
  });
  targets.push({ code: target, type: 0, fd: 1 }, { code: selfCode, type: 0, fd: 2 });
  const main = loadVmCode([movi(3, 0), movi(1, 5), call(12), movi(0, -1), exit()], {
    name: "main",
    mem: rt.mem,
    helpers,
  });
  for (const tier of ["jit", "interpret"] as const) {
    const make = tier === "jit" ? compileVmCode : createInterpreter;
    const r = make(rt, main).run([7]);
    assert.deepEqual([r.lo, r.hi, r.steps], [1007, 0, 3 + 3], tier);
    // self tail-calls itself until the limit: 1 + 33 runs of 2 insns, then +1 and exit.
    const s = make(rt, selfCode).run([0]);
    assert.equal(s.lo, 0xffffffff, tier); // -2 + 1
    assert.equal(s.steps, 34 * 2 + 2, tier);
  }
  rt.close();
});

test("compiled tier: may_goto jumps once the run's counter is spent", () => {
  // Loop forever with may_goto as the only exit.
  const prog = [
    movi(0, 0),
    I(0xe5, 0, 0, 2), // may_goto +2
    I(0x07, 0, 0, 0, 1),
    I(0x05, 0, 0, -3),
    exit(),
  ];
  assert.equal(r0Of(prog), BigInt(8 * 1024 * 1024));
});

test("compiled tier: irreducible control flow falls back to a dispatch loop", () => {
  // Two entries into a loop: 0 → (A or B), A ↔ B.
  const prog = [
    movi(0, 0),
    movi(1, 5),
    I(0x55, 2, 0, 3, 0), // if r2 != 0 goto B (pc 6)
    // A:
    I(0x07, 0, 0, 0, 1), // pc 3
    I(0x15, 1, 0, 4, 0), // if r1 == 0 goto out (pc 9)
    I(0x17, 1, 0, 0, 1),
    // B:
    I(0x07, 0, 0, 0, 10), // pc 6
    I(0x05, 0, 0, -5), // goto A (pc 3)
    exit(),
    exit(), // out (pc 9)
  ];
  const code = new Int32Array(prog.length * 4);
  prog.forEach((p, i) => {
    code.set([p.opcode, p.dst | (p.src << 4), p.offset, p.imm], i * 4);
  });
  assert.notEqual(layoutFunction(code, 0, prog.length).dispatch, undefined);
  assert.equal(r0Of(prog), 56n);
  assert.equal(r0Of(prog, { args: [0, 1] }), 66n);
});

test("compiled tier: the raw runner offers it as the jit tier", () => {
  // r0 = r2 (memory length); exit
  const bytes = new Uint8Array([0xbf, 0x20, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  const out = runBytecode(bytes, { tier: "jit", memory: new Uint8Array(12) });
  assert.equal(out.r0, 12n);
  assert.equal(out.steps, 2);
});

test("compiled tier: encoder LEB128 and module generation", () => {
  const w = new ByteWriter();
  w.u32(624485);
  w.s32(-123456);
  w.s64(0, 0x80000000);
  assert.deepEqual([...w.finish()], [
    0xe5,
    0x8e,
    0x26,
    0xc0,
    0xbb,
    0x78,
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x7f,
  ]);
  const rt = createRuntime();
  const code = loadVmCode([movi(0, 1), exit()], { name: "m", mem: rt.mem, helpers: new Map() });
  const { bytes, entries } = generateModule(code, rt.frameTags);
  assert.ok(WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>));
  assert.deepEqual(entries, [0]);
  rt.close();
});

test("compiled tier: bad run arguments are VmErrors", () => {
  const rt = createRuntime();
  const code = loadVmCode([movi(0, 1), exit()], { name: "m", mem: rt.mem, helpers: new Map() });
  const exec = compileVmCode(rt, code);
  assert.throws(() => exec.run([1.5]), (e) => e instanceof VmError && e.code === "VM_BAD_RUN");
  assert.throws(
    () => exec.run([], { budget: -1 }),
    (e) => e instanceof VmError && e.code === "VM_BAD_RUN",
  );
  assert.equal(exec.run([], { budget: Infinity }).steps, 2);
  rt.close();
});

test("compiled tier: a block short of budget stores and faults exactly up to the limit", () => {
  // One block: three stores into a region, then exit. With budget k, k stores happen.
  const prog = [I(0x72, 1, 0, 0, 1), I(0x72, 1, 0, 1, 2), I(0x72, 1, 0, 99, 3), exit()];
  for (const tier of ["jit", "interpret"] as const) {
    for (let budget = 0; budget <= 4; budget++) {
      const rt = createRuntime();
      const base = rt.mem.alloc(8);
      const tag = rt.mem.map({ name: "m", base, len: 8, flags: REGION_READ | REGION_WRITE });
      const code = loadVmCode(prog, { name: "s", mem: rt.mem, helpers: new Map() });
      const exec = tier === "jit" ? compileVmCode(rt, code) : createInterpreter(rt, code);
      let error = "";
      try {
        exec.run([vmAddress(tag, 0)], { budget });
      } catch (err) {
        assert.ok(err instanceof VmError);
        error = `${err.code}@${err.pc}`;
      }
      const bytes = [...rt.mem.u8.slice(base, base + 2)];
      const expected = budget < 3 ? `VM_BUDGET@${budget}` : "VM_BAD_ACCESS@2";
      assert.equal(error, expected, `${tier} budget ${budget}`);
      assert.deepEqual(bytes, [budget >= 1 ? 1 : 0, budget >= 2 ? 2 : 0], `${tier} ${budget}`);
      rt.close();
    }
  }
});

test("compiled tier: huge functions fall back to the interpreter", () => {
  const insns: Instruction[] = [movi(0, 0)];
  for (let i = 0; i < 160_000; i++) insns.push(I(0x7a, 10, 0, -8, i));
  insns.push(exit());
  const rt = createRuntime();
  const code = loadVmCode(insns, { name: "huge", mem: rt.mem, helpers: new Map() });
  const r = compileVmCode(rt, code).run([]);
  assert.equal(r.steps, insns.length);
  rt.close();
});
