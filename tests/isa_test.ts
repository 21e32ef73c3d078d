import { test } from "node:test";
import assert from "node:assert/strict";
import { IsaError } from "../errors/mod.ts";
import {
  BPF_ADD,
  BPF_ALU,
  BPF_ALU64,
  BPF_ATOMIC,
  BPF_B,
  BPF_CALL,
  BPF_CMPXCHG,
  BPF_DW,
  BPF_END,
  BPF_EXIT,
  BPF_FETCH,
  BPF_H,
  BPF_IMM,
  BPF_JA,
  BPF_JCOND,
  BPF_JEQ,
  BPF_JMP,
  BPF_JMP32,
  BPF_JNE,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LOAD_ACQ,
  BPF_MEM,
  BPF_MEMSX,
  BPF_MOV,
  BPF_OR,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_FD,
  BPF_ST,
  BPF_STORE_REL,
  BPF_STX,
  BPF_TO_BE,
  BPF_W,
  BPF_X,
  BPF_XCHG,
  constant,
  decodeInstructions,
  encodeInstructions,
  type Instruction,
  instructionClass,
  instructionMode,
  instructionOp,
  instructionSize,
  instructionSource,
  isCall,
  isExit,
  isFunctionCall,
  isHelperCall,
  isJump,
  isKfuncCall,
  isLoadImm64,
  jumpOffset,
  setConstant,
  sizeInBytes,
  slotCount,
} from "../isa/mod.ts";
import { ins } from "./_util.ts";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

function fromHex(text: string): Uint8Array {
  return new Uint8Array(text.split(/\s+/).filter((s) => s !== "").map((s) => parseInt(s, 16)));
}

interface Known {
  name: string;
  ins: Instruction;
  le: string;
  be: string;
}

// One entry per opcode family, with the bytes clang emits for bpfel / bpfeb.
const KNOWN: Known[] = [
  {
    // RFC 9669 section 3: the byte-order example.
    name: "rfc 9669: r1 += 0x11223344",
    ins: ins(BPF_ALU64 | BPF_ADD | BPF_K, 1, 0, 0, 0x11223344),
    le: "07 01 00 00 44 33 22 11",
    be: "07 10 00 00 11 22 33 44",
  },
  {
    name: "alu32 imm: w1 -= 5",
    ins: ins(0x14, 1, 0, 0, 5),
    le: "14 01 00 00 05 00 00 00",
    be: "14 10 00 00 00 00 00 05",
  },
  {
    name: "alu64 reg: r1 = r2",
    ins: ins(0xbf, 1, 2, 0, 0),
    le: "bf 21 00 00 00 00 00 00",
    be: "bf 12 00 00 00 00 00 00",
  },
  {
    name: "alu32 reg: w3 s>>= w4",
    ins: ins(0xcc, 3, 4, 0, 0),
    le: "cc 43 00 00 00 00 00 00",
    be: "cc 34 00 00 00 00 00 00",
  },
  {
    name: "neg: r7 = -r7",
    ins: ins(0x87, 7, 0, 0, 0),
    le: "87 07 00 00 00 00 00 00",
    be: "87 70 00 00 00 00 00 00",
  },
  {
    name: "sdiv: r1 s/= r2",
    ins: ins(0x3f, 1, 2, 1, 0),
    le: "3f 21 01 00 00 00 00 00",
    be: "3f 12 00 01 00 00 00 00",
  },
  {
    name: "smod imm: w1 s%= -3",
    ins: ins(0x94, 1, 0, 1, -3),
    le: "94 01 01 00 fd ff ff ff",
    be: "94 10 00 01 ff ff ff fd",
  },
  {
    name: "movsx: r1 = (s16)r2",
    ins: ins(0xbf, 1, 2, 16, 0),
    le: "bf 21 10 00 00 00 00 00",
    be: "bf 12 00 10 00 00 00 00",
  },
  {
    name: "be16: r6 = be16 r6",
    ins: ins(BPF_ALU | BPF_END | BPF_TO_BE, 6, 0, 0, 16),
    le: "dc 06 00 00 10 00 00 00",
    be: "dc 60 00 00 00 00 00 10",
  },
  {
    name: "bswap64",
    ins: ins(BPF_ALU64 | BPF_END, 2, 0, 0, 64),
    le: "d7 02 00 00 40 00 00 00",
    be: "d7 20 00 00 00 00 00 40",
  },
  {
    name: "addr_space_cast",
    ins: ins(0xbf, 1, 2, 1, 1),
    le: "bf 21 01 00 01 00 00 00",
    be: "bf 12 00 01 00 00 00 01",
  },
  {
    name: "ld_imm64: r1 = 0x123456789abcdef0 ll",
    ins: ins(0x18, 1, 0, 0, 0x9abcdef0 | 0, 0x12345678),
    le: "18 01 00 00 f0 de bc 9a 00 00 00 00 78 56 34 12",
    be: "18 10 00 00 9a bc de f0 00 00 00 00 12 34 56 78",
  },
  {
    name: "ld_imm64 map fd",
    ins: ins(BPF_LD | BPF_IMM | BPF_DW, 1, BPF_PSEUDO_MAP_FD, 0, 7, 0),
    le: "18 11 00 00 07 00 00 00 00 00 00 00 00 00 00 00",
    be: "18 11 00 00 00 00 00 07 00 00 00 00 00 00 00 00",
  },
  {
    name: "ld_abs: r0 = *(u8 *)skb[12]",
    ins: ins(0x30, 0, 0, 0, 12),
    le: "30 00 00 00 0c 00 00 00",
    be: "30 00 00 00 00 00 00 0c",
  },
  {
    name: "ld_ind: r0 = *(u16 *)skb[r2]",
    ins: ins(0x48, 0, 2, 0, 0),
    le: "48 20 00 00 00 00 00 00",
    be: "48 02 00 00 00 00 00 00",
  },
  {
    name: "ldx: r0 = *(u32 *)(r1 + 4)",
    ins: ins(BPF_LDX | BPF_MEM | BPF_W, 0, 1, 4, 0),
    le: "61 10 04 00 00 00 00 00",
    be: "61 01 00 04 00 00 00 00",
  },
  {
    name: "ldsx: r1 = *(s8 *)(r2 - 1)",
    ins: ins(BPF_LDX | BPF_MEMSX | BPF_B, 1, 2, -1, 0),
    le: "91 21 ff ff 00 00 00 00",
    be: "91 12 ff ff 00 00 00 00",
  },
  {
    name: "st: *(u64 *)(r10 - 8) = 0x1234",
    ins: ins(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -8, 0x1234),
    le: "7a 0a f8 ff 34 12 00 00",
    be: "7a a0 ff f8 00 00 12 34",
  },
  {
    name: "stx: *(u16 *)(r10 - 4) = r1",
    ins: ins(BPF_STX | BPF_MEM | BPF_H, 10, 1, -4, 0),
    le: "6b 1a fc ff 00 00 00 00",
    be: "6b a1 ff fc 00 00 00 00",
  },
  {
    name: "atomic add",
    ins: ins(BPF_STX | BPF_ATOMIC | BPF_DW, 1, 2, 0, BPF_ADD),
    le: "db 21 00 00 00 00 00 00",
    be: "db 12 00 00 00 00 00 00",
  },
  {
    name: "atomic fetch or",
    ins: ins(BPF_STX | BPF_ATOMIC | BPF_W, 1, 2, 8, BPF_OR | BPF_FETCH),
    le: "c3 21 08 00 41 00 00 00",
    be: "c3 12 00 08 00 00 00 41",
  },
  {
    name: "atomic xchg",
    ins: ins(0xdb, 3, 4, 0, BPF_XCHG),
    le: "db 43 00 00 e1 00 00 00",
    be: "db 34 00 00 00 00 00 e1",
  },
  {
    name: "atomic cmpxchg",
    ins: ins(0xdb, 3, 4, 0, BPF_CMPXCHG),
    le: "db 43 00 00 f1 00 00 00",
    be: "db 34 00 00 00 00 00 f1",
  },
  {
    name: "load-acquire",
    ins: ins(0xd3, 0, 1, 0, BPF_LOAD_ACQ),
    le: "d3 10 00 00 00 01 00 00",
    be: "d3 01 00 00 00 00 01 00",
  },
  {
    name: "store-release",
    ins: ins(0xdb, 1, 2, 0, BPF_STORE_REL),
    le: "db 21 00 00 10 01 00 00",
    be: "db 12 00 00 00 00 01 10",
  },
  {
    name: "goto -1",
    ins: ins(BPF_JMP | BPF_JA, 0, 0, -1, 0),
    le: "05 00 ff ff 00 00 00 00",
    be: "05 00 ff ff 00 00 00 00",
  },
  {
    name: "gotol +5",
    ins: ins(BPF_JMP32 | BPF_JA, 0, 0, 0, 5),
    le: "06 00 00 00 05 00 00 00",
    be: "06 00 00 00 00 00 00 05",
  },
  {
    name: "jeq imm",
    ins: ins(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 5, 0),
    le: "15 01 05 00 00 00 00 00",
    be: "15 10 00 05 00 00 00 00",
  },
  {
    name: "jmp32 jne reg",
    ins: ins(BPF_JMP32 | BPF_JNE | BPF_X, 1, 2, 300, 0),
    le: "5e 21 2c 01 00 00 00 00",
    be: "5e 12 01 2c 00 00 00 00",
  },
  {
    name: "may_goto",
    ins: ins(BPF_JMP | BPF_JCOND, 0, 0, 2, 0),
    le: "e5 00 02 00 00 00 00 00",
    be: "e5 00 00 02 00 00 00 00",
  },
  {
    name: "call helper 1",
    ins: ins(BPF_JMP | BPF_CALL, 0, 0, 0, 1),
    le: "85 00 00 00 01 00 00 00",
    be: "85 00 00 00 00 00 00 01",
  },
  {
    name: "bpf-to-bpf call -1",
    ins: ins(0x85, 0, BPF_PSEUDO_CALL, 0, -1),
    le: "85 10 00 00 ff ff ff ff",
    be: "85 01 00 00 ff ff ff ff",
  },
  {
    name: "kfunc call",
    ins: ins(0x85, 0, BPF_PSEUDO_KFUNC_CALL, 0, 1234),
    le: "85 20 00 00 d2 04 00 00",
    be: "85 02 00 00 00 00 04 d2",
  },
  {
    name: "exit",
    ins: ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
    le: "95 00 00 00 00 00 00 00",
    be: "95 00 00 00 00 00 00 00",
  },
];

for (const k of KNOWN) {
  test(`isa: encodes and decodes ${k.name} in both byte orders`, () => {
    for (const [littleEndian, want] of [[true, k.le], [false, k.be]] as const) {
      assert.equal(
        hex(encodeInstructions([k.ins], { littleEndian })),
        want,
        `littleEndian=${littleEndian}`,
      );
      const decoded = decodeInstructions(fromHex(want), { littleEndian });
      assert.deepEqual(decoded, [{ ...k.ins, sourceOffset: 0 }], `littleEndian=${littleEndian}`);
    }
  });
}

test("isa: a program decodes with ld_imm64 as one instruction and byte offsets", () => {
  const program = [KNOWN[1].ins, KNOWN[11].ins, KNOWN[KNOWN.length - 1].ins];
  const bytes = encodeInstructions(program, { littleEndian: true });
  assert.equal(bytes.length, 32);
  const decoded = decodeInstructions(bytes, { littleEndian: true, sourceOffset: 64 });
  assert.deepEqual(decoded.map((i) => i.sourceOffset), [64, 72, 88]);
  assert.deepEqual(decoded.map(slotCount), [1, 2, 1]);
  assert.deepEqual(encodeInstructions(decoded, { littleEndian: true }), bytes);
});

test("isa: decodes from a view with a byte offset into a larger buffer", () => {
  const backing = new Uint8Array(24);
  backing.set(fromHex(KNOWN[0].le), 8);
  const view = backing.subarray(8, 16);
  assert.deepEqual(decodeInstructions(view, { littleEndian: true }), [{
    ...KNOWN[0].ins,
    sourceOffset: 0,
  }]);
});

test("isa: non-zero ld_imm64 second slot fields survive a round trip", () => {
  for (const littleEndian of [true, false]) {
    const bytes = fromHex("18 21 00 00 01 00 00 00 7f 35 01 80 02 00 00 00");
    if (!littleEndian) bytes[1] = 0x12;
    const [decoded] = decodeInstructions(bytes, { littleEndian });
    assert.equal(decoded.immHi, littleEndian ? 2 : 0x02000000);
    assert.deepEqual(decoded.secondSlot, {
      opcode: 0x7f,
      dst: littleEndian ? 5 : 3,
      src: littleEndian ? 3 : 5,
      offset: littleEndian ? -32767 : 0x0180,
    });
    assert.deepEqual(encodeInstructions([decoded], { littleEndian }), bytes);
  }
});

test("isa: a zero second slot decodes without secondSlot", () => {
  const [decoded] = decodeInstructions(fromHex(KNOWN[11].le), { littleEndian: true });
  assert.equal("secondSlot" in decoded, false);
});

test("isa: immHi defaults to 0 and imm may be given unsigned", () => {
  const bytes = encodeInstructions([{ opcode: 0x18, dst: 1, src: 0, offset: 0, imm: 0xffffffff }], {
    littleEndian: true,
  });
  assert.equal(hex(bytes), "18 01 00 00 ff ff ff ff 00 00 00 00 00 00 00 00");
  assert.equal(decodeInstructions(bytes, { littleEndian: true })[0].imm, -1);
});

test("isa: unknown opcodes decode leniently", () => {
  const bytes = fromHex("ff ff ff ff ff ff ff ff 00 00 00 00 00 00 00 00");
  const decoded = decodeInstructions(bytes, { littleEndian: true });
  assert.deepEqual(decoded, [
    { opcode: 0xff, dst: 15, src: 15, offset: -1, imm: -1, sourceOffset: 0 },
    { opcode: 0, dst: 0, src: 0, offset: 0, imm: 0, sourceOffset: 8 },
  ]);
  assert.deepEqual(encodeInstructions(decoded, { littleEndian: true }), bytes);
});

function assertIsaError(fn: () => unknown, code: string, offset: number, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof IsaError, `expected IsaError, got ${err}`);
    assert.equal(err.code, code);
    assert.equal(err.offset, offset);
    assert.match(err.message, pattern);
    return true;
  });
}

test("isa: ISA_BAD_LENGTH for a length that is not a multiple of 8", () => {
  for (const length of [1, 7, 9, 15, 17]) {
    const at = length - (length % 8);
    assertIsaError(
      () => decodeInstructions(new Uint8Array(length).fill(0x95), { littleEndian: true }),
      "ISA_BAD_LENGTH",
      at,
      new RegExp(`^pc ${at / 8} \\(byte ${at}\\)`),
    );
  }
  assertIsaError(
    () => decodeInstructions(new Uint8Array(12), { littleEndian: false, sourceOffset: 80 }),
    "ISA_BAD_LENGTH",
    88,
    /pc 1 \(byte 88\)/,
  );
});

test("isa: ISA_TRUNCATED_LDIMM64 for ld_imm64 in the last slot", () => {
  assertIsaError(
    () => decodeInstructions(fromHex("18 01 00 00 00 00 00 00"), { littleEndian: true }),
    "ISA_TRUNCATED_LDIMM64",
    0,
    /^pc 0 \(byte 0\): ld_imm64/,
  );
  const bytes = new Uint8Array(24);
  bytes.set(fromHex("95 00 00 00 00 00 00 00 95 00 00 00 00 00 00 00 18 10"));
  assertIsaError(
    () => decodeInstructions(bytes, { littleEndian: false, sourceOffset: 8 }),
    "ISA_TRUNCATED_LDIMM64",
    24,
    /^pc 2 \(byte 24\)/,
  );
  // The same ld_imm64 followed by a slot decodes.
  const longer = new Uint8Array(32);
  longer.set(bytes);
  assert.equal(decodeInstructions(longer, { littleEndian: false }).length, 3);
});

test("isa: ISA_FIELD_RANGE for fields that do not fit", () => {
  const good: Instruction = { opcode: 0x07, dst: 1, src: 0, offset: 0, imm: 1 };
  const cases: [Partial<Instruction>, RegExp][] = [
    [{ opcode: 256 }, /opcode 256/],
    [{ opcode: -1 }, /opcode -1/],
    [{ dst: 16 }, /dst 16/],
    [{ src: 1.5 }, /src 1\.5/],
    [{ offset: 32768 }, /offset 32768/],
    [{ offset: -32769 }, /offset -32769/],
    [{ imm: 2 ** 32 }, /imm 4294967296/],
    [{ imm: -(2 ** 31) - 1 }, /imm -2147483649/],
    [{ imm: Number.NaN }, /imm NaN/],
    [{ opcode: 0x18, immHi: 2 ** 32 }, /immHi 4294967296/],
    [{ opcode: 0x18, secondSlot: { opcode: 0, dst: 0, src: 16, offset: 0 } }, /secondSlot\.src 16/],
  ];
  for (const [patch, pattern] of cases) {
    assertIsaError(
      () => encodeInstructions([good, { ...good, ...patch }], { littleEndian: true }),
      "ISA_FIELD_RANGE",
      8,
      pattern,
    );
  }
  assertIsaError(
    () =>
      encodeInstructions([{ opcode: 0x18, dst: 1, src: 0, offset: 0, imm: 0 }, {
        ...good,
        dst: 99,
      }], {
        littleEndian: false,
      }),
    "ISA_FIELD_RANGE",
    16,
    /^pc 2 \(instruction 1, byte 16\): dst 99/,
  );
});

test("isa: encoding an empty list gives no bytes", () => {
  assert.equal(encodeInstructions([], { littleEndian: true }).length, 0);
  assert.deepEqual(decodeInstructions(new Uint8Array(0), { littleEndian: true }), []);
});

test("opcodes: constants carry the kernel's values", () => {
  assert.deepEqual(
    [BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_JMP32, BPF_ALU64],
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  assert.deepEqual([BPF_W, BPF_H, BPF_B, BPF_DW], [0x00, 0x08, 0x10, 0x18]);
  assert.deepEqual([BPF_IMM, BPF_MEM, BPF_MEMSX, BPF_ATOMIC], [0x00, 0x60, 0x80, 0xc0]);
  assert.deepEqual([BPF_K, BPF_X, BPF_TO_BE], [0, 8, 8]);
  assert.deepEqual([BPF_MOV, BPF_END, BPF_CALL, BPF_EXIT, BPF_JCOND], [
    0xb0,
    0xd0,
    0x80,
    0x90,
    0xe0,
  ]);
  assert.deepEqual([BPF_FETCH, BPF_XCHG, BPF_CMPXCHG, BPF_LOAD_ACQ, BPF_STORE_REL], [
    1,
    0xe1,
    0xf1,
    0x100,
    0x110,
  ]);
});

test("opcodes: field extraction", () => {
  const op = BPF_STX | BPF_ATOMIC | BPF_DW;
  assert.equal(instructionClass(op), BPF_STX);
  assert.equal(instructionMode(op), BPF_ATOMIC);
  assert.equal(instructionSize(op), BPF_DW);
  assert.equal(instructionOp(0x5e), BPF_JNE);
  assert.equal(instructionSource(0x5e), BPF_X);
  assert.deepEqual([BPF_W, BPF_H, BPF_B, BPF_DW].map(sizeInBytes), [4, 2, 1, 8]);
});

test("opcodes: predicates", () => {
  const call = (src: number) => ins(0x85, 0, src, 0, 1);
  assert.equal(isLoadImm64(KNOWN[11].ins), true);
  assert.equal(isLoadImm64(KNOWN[0].ins), false);
  assert.deepEqual([0, 1, 2].map((s) => isCall(call(s))), [true, true, true]);
  assert.deepEqual([0, 1, 2].map((s) => isHelperCall(call(s))), [true, false, false]);
  assert.deepEqual([0, 1, 2].map((s) => isFunctionCall(call(s))), [false, true, false]);
  assert.deepEqual([0, 1, 2].map((s) => isKfuncCall(call(s))), [false, false, true]);
  assert.equal(isCall(ins(0x8d, 1, 0, 0, 0)), false); // callx
  for (const op of [0x05, 0x06, 0x15, 0x1d, 0x16, 0x4d, 0xde, 0xe5]) {
    assert.equal(isJump(ins(op, 1, 2, 3, 4)), true, op.toString(16));
  }
  for (const op of [0x85, 0x95, 0x07, 0x61, 0x18, 0xf5]) {
    assert.equal(isJump(ins(op, 1, 2, 3, 4)), false, op.toString(16));
  }
  assert.equal(isExit(ins(0x95, 0, 0, 0, 0)), true);
  assert.equal(isExit(ins(0x85, 0, 0, 0, 0)), false);
  assert.equal(jumpOffset(ins(0x06, 0, 0, 7, -9)), -9);
  assert.equal(jumpOffset(ins(0x15, 0, 0, 7, -9)), 7);
});

test("opcodes: constant reads ld_imm64 and sign-extended imm", () => {
  assert.equal(constant(ins(0xb7, 1, 0, 0, -1)), -1n);
  assert.equal(constant(ins(0x18, 1, 0, 0, -1, 0)), 0xffffffffn);
  assert.equal(constant(ins(0x18, 1, 0, 0, -1, -1)), -1n);
  assert.equal(constant(ins(0x18, 1, 0, 0, 0, -2147483648)), -(2n ** 63n));
  assert.equal(constant(ins(0x18, 1, 0, 0, 0x9abcdef0 | 0, 0x12345678)), 0x123456789abcdef0n);
  assert.equal(constant({ opcode: 0x18, dst: 1, src: 0, offset: 0, imm: 5 }), 5n);
});

test("opcodes: setConstant writes both halves and checks the range", () => {
  const wide = ins(0x18, 1, 0, 0, 0, 0);
  for (const value of [0n, 1n, -1n, 0x123456789abcdef0n, -(2n ** 63n), 2n ** 64n - 1n, 2n ** 32n]) {
    setConstant(wide, value);
    assert.equal(constant(wide), BigInt.asIntN(64, value));
  }
  assert.equal(wide.imm, 0);
  assert.equal(wide.immHi, 1);
  const narrow = ins(0xb7, 1, 0, 0, 0);
  setConstant(narrow, -5n);
  assert.equal(narrow.imm, -5);
  for (
    const [target, value] of [[narrow, 2n ** 31n], [narrow, -(2n ** 31n) - 1n], [
      wide,
      2n ** 64n,
    ]] as const
  ) {
    assert.throws(() => setConstant(target, value), (err: unknown) => {
      assert.ok(err instanceof IsaError);
      assert.equal(err.code, "ISA_CONSTANT_RANGE");
      return true;
    });
  }
});
