import { test } from "node:test";
import assert from "node:assert/strict";
import { VmMemory } from "../backends/vm/memory.ts";
import { loadVmCode, unloadVmCode } from "../backends/vm/program.ts";
import type { VmHelper } from "../backends/vm/types.ts";
import {
  callHelper,
  callLocal,
  EXIT,
  type InsLike,
  insns,
  lddw,
  movImm,
  throwsVm,
} from "./_vm_util.ts";

const KTIME: VmHelper = { name: "ktime_get_ns", call: () => 1n };
const helpers = new Map([[5, KTIME]]);

function load(list: readonly InsLike[], resolveLoad?: (ins: unknown, pc: number) => number) {
  const mem = new VmMemory({ initialBytes: 1 << 16 });
  return { mem, code: loadVmCode(insns(list), { name: "p", mem, helpers, resolveLoad }) };
}

test("loadVmCode encodes four words per slot and maps a code handle", () => {
  const { mem, code } = load([movImm(3, -7), lddw(2, 0x1122334455667788n), callHelper(5), EXIT]);
  assert.equal(code.slots, 5);
  assert.deepEqual([...code.code.slice(0, 4)], [0xb7, 3, 0, -7]);
  assert.deepEqual([...code.code.slice(4, 12)], [0x18, 2, 0, 0x55667788, 0, 0, 0, 0x11223344]);
  assert.deepEqual(code.functions, [0]);
  assert.equal(code.helpers.get(3), KTIME);
  assert.equal(mem.regionName(code.codeTag), "program p code");
  assert.equal(mem.region(code.codeTag)!.flags, 0);
  unloadVmCode(mem, code);
  assert.equal(mem.regionName(code.codeTag), undefined);
  unloadVmCode(mem, code); // idempotent
});

test("loadVmCode resolves function addresses and lists functions", () => {
  const { code } = load([
    { opcode: 0x18, dst: 1, src: 4, imm: 4 }, // r1 = &fn at 0+4+1 = 5
    callLocal(2), // → 5
    EXIT,
    EXIT,
    movImm(0, 1),
    EXIT,
  ]);
  assert.deepEqual(code.functions, [0, 5]);
  assert.equal(code.code[3], 5);
  assert.equal(code.code[7], code.codeTag);
  assert.equal(code.code[1], 1); // src cleared
});

test("loadVmCode uses resolveLoad for map pseudo sources", () => {
  const seen: number[] = [];
  const { code } = load(
    [{ opcode: 0x18, dst: 1, src: 1, imm: 3 }, EXIT],
    (_ins, pc) => (seen.push(pc), 7 * 4294967296 + 16),
  );
  assert.deepEqual(seen, [0]);
  assert.equal(code.code[3], 16);
  assert.equal(code.code[7], 7);
  const e = throwsVm(() => load([{ opcode: 0x18, dst: 1, src: 2 }, EXIT]), "VM_BAD_PROGRAM", 0);
  assert.match(e.message, /resolver/);
});

test("loadVmCode unmaps the code region when resolving fails", () => {
  const mem = new VmMemory({ initialBytes: 1 << 16 });
  const before = mem.regionCount;
  assert.throws(() =>
    loadVmCode(insns([{ opcode: 0x18, dst: 1, src: 1 }, EXIT]), {
      name: "p",
      mem,
      helpers,
      resolveLoad: () => {
        throw new Error("no");
      },
    })
  );
  assert.equal(mem.regionCount, before);
});

const BAD: [string, InsLike[], number, RegExp][] = [
  ["empty program", [], -1, /empty/],
  ["unknown opcode", [{ opcode: 0xff }, EXIT], 0, /unknown ALU operation \(opcode 0xff\)/],
  ["class LD W", [{ opcode: 0x00 }, EXIT], 0, /unknown opcode/],
  ["ALU K with src", [{ opcode: 0x07, src: 1 }, EXIT], 0, /reserved/],
  ["ALU X with imm", [{ opcode: 0x0f, imm: 1 }, EXIT], 0, /reserved/],
  ["ALU offset on add", [{ opcode: 0x07, offset: 1 }, EXIT], 0, /reserved/],
  ["sdiv offset 2", [{ opcode: 0x37, offset: 2, imm: 1 }, EXIT], 0, /reserved/],
  ["neg with imm", [{ opcode: 0x87, imm: 1 }, EXIT], 0, /reserved/],
  ["neg X", [{ opcode: 0x8f }, EXIT], 0, /reserved/],
  ["end imm 8", [{ opcode: 0xd4, imm: 8 }, EXIT], 0, /reserved/],
  ["bswap X", [{ opcode: 0xdf, imm: 16 }, EXIT], 0, /unknown ALU/],
  ["movsx offset 4", [{ opcode: 0xbf, offset: 4 }, EXIT], 0, /reserved/],
  ["movsx32 offset 32", [{ opcode: 0xbc, offset: 32 }, EXIT], 0, /reserved/],
  ["mov K with offset", [{ opcode: 0xb7, offset: 8 }, EXIT], 0, /reserved/],
  ["addr_space_cast", [{ opcode: 0xbf, offset: 1 }, EXIT], 0, /addr_space_cast/],
  ["ALU op 0xe0", [{ opcode: 0xe7 }, EXIT], 0, /unknown ALU/],
  ["write r10", [movImm(10, 1), EXIT], 0, /read-only/],
  ["register 11", [{ opcode: 0xbf, dst: 1, src: 11 }, EXIT], 0, /r11/],
  ["ldx imm", [{ opcode: 0x61, dst: 1, src: 10, offset: -4, imm: 1 }, EXIT], 0, /reserved/],
  ["ldsx dw", [{ opcode: 0x99, dst: 1, src: 10, offset: -8 }, EXIT], 0, /unknown opcode/],
  ["ldx into r10", [{ opcode: 0x79, dst: 10, src: 1 }, EXIT], 0, /read-only/],
  ["st with src", [{ opcode: 0x62, dst: 10, src: 1, offset: -4 }, EXIT], 0, /reserved/],
  ["stx with imm", [{ opcode: 0x63, dst: 10, src: 1, offset: -4, imm: 1 }, EXIT], 0, /reserved/],
  ["atomic bad op", [{ opcode: 0xdb, dst: 10, src: 1, offset: -8, imm: 0x10 }, EXIT], 0, /atomic/],
  ["atomic size B", [{ opcode: 0xd3, dst: 10, src: 1, offset: -8, imm: 0 }, EXIT], 0, /size/],
  ["LD_ABS", [{ opcode: 0x30 }, EXIT], 0, /legacy/],
  ["LD_IND", [{ opcode: 0x50 }, EXIT], 0, /legacy/],
  ["ld_imm64 offset", [{ opcode: 0x18, dst: 1, offset: 1 }, EXIT], 0, /reserved/],
  [
    "ld_imm64 second slot",
    [{ opcode: 0x18, dst: 1, secondSlot: { opcode: 0, dst: 1, src: 0, offset: 0 } }, EXIT],
    0,
    /second slot/,
  ],
  ["ld_imm64 src 7", [{ opcode: 0x18, dst: 1, src: 7 }, EXIT], 0, /pseudo source 7/],
  ["exit with dst", [{ opcode: 0x95, dst: 1 }], 0, /reserved/],
  ["exit with imm", [{ opcode: 0x95, imm: 1 }], 0, /reserved/],
  ["exit with offset", [{ opcode: 0x95, offset: 1 }], 0, /reserved/],
  ["ja with regs", [{ opcode: 0x05, dst: 1 }, EXIT], 0, /reserved/],
  ["ja with imm", [{ opcode: 0x05, imm: 1 }, EXIT], 0, /reserved/],
  ["gotol with offset", [{ opcode: 0x06, offset: 1 }, EXIT], 0, /reserved/],
  ["jump K with src", [{ opcode: 0x15, src: 1 }, EXIT], 0, /reserved/],
  ["jump X with imm", [{ opcode: 0x1d, imm: 1 }, EXIT], 0, /reserved/],
  ["jump op 0xf0", [{ opcode: 0xf5 }, EXIT], 0, /unknown opcode/],
  ["jump out of range", [{ opcode: 0x05, offset: 5 }, EXIT], 0, /out of range/],
  ["jump backwards out", [EXIT, { opcode: 0x05, offset: -3 }], 1, /out of range/],
  ["jump into ld_imm64", [{ opcode: 0x05, offset: 1 }, lddw(1, 1n), EXIT], 0, /middle/],
  ["gotol out of range", [{ opcode: 0x06, imm: 9 }, EXIT], 0, /out of range/],
  ["call target out of range", [callLocal(10), EXIT], 0, /out of range/],
  ["unknown helper", [callHelper(99), EXIT], 0, /unknown helper ID 99/],
  ["kfunc", [{ opcode: 0x85, src: 2, imm: 5 }, EXIT], 0, /kfunc/],
  ["call src 3", [{ opcode: 0x85, src: 3, imm: 5 }, EXIT], 0, /reserved/],
  ["call with offset", [{ opcode: 0x85, offset: 1, imm: 5 }, EXIT], 0, /reserved/],
  ["jmp32 call", [{ opcode: 0x86, imm: 5 }, EXIT], 0, /unknown opcode/],
  ["callx with imm", [{ opcode: 0x8d, dst: 1, imm: 1 }, EXIT], 0, /reserved/],
  ["falls off the end", [movImm(0, 1)], 0, /falls off/],
  ["falls off after ld_imm64", [lddw(0, 1n)], 0, /falls off/],
  ["function falls off", [callLocal(1), EXIT, movImm(0, 1), EXIT, movImm(0, 2)], 4, /falls off/],
  [
    "jump into another function",
    [callLocal(1), { opcode: 0x05, offset: 1 }, movImm(0, 1), EXIT],
    1,
    /leaves the function/,
  ],
  ["pseudo func out of range", [{ opcode: 0x18, dst: 1, src: 4, imm: 9 }, EXIT], 0, /range/],
];

for (const [name, list, pc, message] of BAD) {
  test(`loadVmCode rejects: ${name}`, () => {
    const e = throwsVm(() => load(list), "VM_BAD_PROGRAM", pc >= 0 ? pc : undefined);
    assert.match(e.message, message);
    if (pc >= 0) assert.match(e.message, new RegExp(`pc ${pc}:`));
    assert.equal(e.program, "p");
  });
}

const GOOD: [string, InsLike[]][] = [
  [
    "every ALU64 K form",
    [0x07, 0x17, 0x27, 0x47, 0x57, 0xa7, 0xb7].map((opcode) => ({
      opcode,
      dst: 1,
      imm: 3,
    } as InsLike)).concat([EXIT]),
  ],
  ["sdiv/smod", [{ opcode: 0x37, dst: 1, offset: 1, imm: -1 }, {
    opcode: 0x9c,
    dst: 1,
    src: 2,
    offset: 1,
  }, EXIT]],
  ["movsx 8/16/32", [
    { opcode: 0xbf, dst: 1, src: 2, offset: 8 },
    {
      opcode: 0xbf,
      dst: 1,
      src: 2,
      offset: 32,
    },
    { opcode: 0xbc, dst: 1, src: 2, offset: 16 },
    EXIT,
  ]],
  ["bswap and end", [{ opcode: 0xd7, dst: 1, imm: 64 }, { opcode: 0xdc, dst: 1, imm: 16 }, EXIT]],
  ["gotol", [{ opcode: 0x06, imm: 0 }, EXIT]],
  ["ends in ja", [movImm(0, 0), EXIT, { opcode: 0x05, offset: -2 }]],
  ["may_goto", [{ opcode: 0xe5, offset: 0 }, EXIT]],
  ["stores through r10", [{ opcode: 0x7a, dst: 10, offset: -8, imm: 1 }, EXIT]],
  [
    "atomics",
    [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1].map((imm) => ({
      opcode: 0xdb,
      dst: 10,
      src: 1,
      offset: -8,
      imm,
    } as InsLike)).concat([EXIT]),
  ],
  ["load-acquire / store-release", [
    { opcode: 0xd3, dst: 1, src: 10, offset: -8, imm: 0x100 },
    { opcode: 0xcb, dst: 10, src: 1, offset: -8, imm: 0x110 },
    EXIT,
  ]],
  ["callx", [{ opcode: 0x8d, dst: 1 }, EXIT]],
  // Defined by RFC 9669 though the kernel's verifier refuses them.
  ["div by zero imm", [{ opcode: 0x37, imm: 0 }, EXIT]],
  ["shift imm 64", [{ opcode: 0x67, imm: 64 }, EXIT]],
  ["shift32 imm 32", [{ opcode: 0x64, imm: 32 }, EXIT]],
];

for (const [name, list] of GOOD) {
  test(`loadVmCode accepts: ${name}`, () => {
    load(list);
  });
}
