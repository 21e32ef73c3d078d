import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeInstructions,
  disassemble,
  encodedSize,
  encodeInstructions,
  encodeInstructionsInto,
  formatInstruction,
  type Instruction,
  type SecondSlot,
  slotCount,
} from "../isa/mod.ts";

/** One 8-byte slot, with opcode 0x18 (ld_imm64) and opcode 0 made common. */
const slotBytes = fc.tuple(
  fc.oneof(
    { weight: 1, arbitrary: fc.constant(0x18) },
    { weight: 1, arbitrary: fc.constant(0) },
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 255 }) },
  ),
  fc.uint8Array({ minLength: 7, maxLength: 7 }),
).map(([opcode, rest]) => Uint8Array.of(opcode, ...rest));

/** A second ld_imm64 slot: usually zero apart from the immediate, sometimes not. */
const secondSlotBytes = fc.tuple(
  fc.boolean(),
  fc.uint8Array({ minLength: 8, maxLength: 8 }),
).map(([zero, bytes]) => (zero ? Uint8Array.of(0, 0, 0, 0, ...bytes.subarray(4)) : bytes));

/** Byte strings of valid length whose every ld_imm64 has its second slot. */
const programBytes = fc.array(fc.tuple(slotBytes, secondSlotBytes), { maxLength: 40 }).map(
  (slots) => {
    const parts: number[] = [];
    for (const [first, second] of slots) {
      parts.push(...first);
      if (first[0] === 0x18) parts.push(...second);
    }
    return Uint8Array.from(parts);
  },
);

test("isa property: encode(decode(bytes)) is bytes, both byte orders", () => {
  fc.assert(
    fc.property(
      programBytes,
      fc.boolean(),
      fc.nat({ max: 1 << 20 }),
      (bytes, littleEndian, base) => {
        const insns = decodeInstructions(bytes, { littleEndian, sourceOffset: base * 8 });
        let at = base * 8;
        for (const ins of insns) {
          assert.equal(ins.sourceOffset, at);
          at += slotCount(ins) * 8;
        }
        assert.equal(at, base * 8 + bytes.length);
        assert.deepEqual(encodeInstructions(insns, { littleEndian }), bytes);
      },
    ),
    { numRuns: 4000 },
  );
});

const nonZeroSecondSlot: fc.Arbitrary<SecondSlot> = fc.record({
  opcode: fc.integer({ min: 0, max: 255 }),
  dst: fc.integer({ min: 0, max: 15 }),
  src: fc.integer({ min: 0, max: 15 }),
  offset: fc.integer({ min: -32768, max: 32767 }),
}).filter((s) => s.opcode !== 0 || s.dst !== 0 || s.src !== 0 || s.offset !== 0);

const instruction: fc.Arbitrary<Instruction> = fc.record({
  opcode: fc.oneof(fc.constant(0x18), fc.integer({ min: 0, max: 255 })),
  dst: fc.integer({ min: 0, max: 15 }),
  src: fc.integer({ min: 0, max: 15 }),
  offset: fc.integer({ min: -32768, max: 32767 }),
  imm: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  immHi: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  secondSlot: fc.option(nonZeroSecondSlot, { nil: undefined }),
}).map((r) => {
  const ins: Instruction = {
    opcode: r.opcode,
    dst: r.dst,
    src: r.src,
    offset: r.offset,
    imm: r.imm,
  };
  if (r.opcode === 0x18) {
    ins.immHi = r.immHi;
    if (r.secondSlot !== undefined) ins.secondSlot = { ...r.secondSlot }; // fc.record objects have no prototype
  }
  return ins;
});

test("isa property: decode(encode(instructions)) is the instructions, both byte orders", () => {
  fc.assert(
    fc.property(fc.array(instruction, { maxLength: 30 }), fc.boolean(), (insns, littleEndian) => {
      const bytes = encodeInstructions(insns, { littleEndian });
      const decoded = decodeInstructions(bytes, { littleEndian });
      let at = 0;
      const expected = insns.map((ins) => {
        const withOffset = { ...ins, sourceOffset: at };
        at += slotCount(ins) * 8;
        return withOffset;
      });
      assert.deepEqual(decoded, expected);
    }),
    { numRuns: 4000 },
  );
});

test("isa property: encodeInstructionsInto writes encodeInstructions' bytes at any offset over any garbage", () => {
  fc.assert(
    fc.property(
      fc.array(instruction, { maxLength: 30 }),
      fc.boolean(),
      fc.nat({ max: 64 }),
      fc.integer({ min: 0, max: 255 }),
      (insns, littleEndian, offset, fill) => {
        const want = encodeInstructions(insns, { littleEndian });
        assert.equal(encodedSize(insns), want.byteLength);
        const out = new Uint8Array(offset + want.byteLength + 8).fill(fill);
        const end = encodeInstructionsInto(insns, out, { offset, littleEndian });
        assert.equal(end, offset + want.byteLength);
        assert.deepEqual(out.subarray(offset, end), want);
        assert.ok(out.subarray(0, offset).every((b) => b === fill), "nothing before the offset");
        assert.ok(out.subarray(end).every((b) => b === fill), "nothing after the end");
      },
    ),
    { numRuns: 2000 },
  );
});

test("isa property: formatting never throws and every slot gets a line", () => {
  fc.assert(
    fc.property(programBytes, fc.boolean(), fc.boolean(), (bytes, littleEndian, llvm14) => {
      const insns = decodeInstructions(bytes, { littleEndian });
      for (const ins of insns) {
        const text = formatInstruction(ins, { llvm14 });
        assert.ok(text.length > 0 && !text.includes("\n") && !text.includes("undefined"), text);
      }
      const text = disassemble(insns, { llvm14, section: "s" });
      if (bytes.length === 0) return assert.equal(text, "");
      // Each slot is printed, folded into a `...` line, or the second half of an ld_imm64.
      const lines = text.split("\n").slice(2, -1);
      const pcs = new Set(
        lines.filter((l) => !l.startsWith("\t\t")).map((l) => Number(l.split(":")[0])),
      );
      assert.ok(pcs.size <= bytes.length / 8);
      for (const pc of pcs) assert.ok(pc >= 0 && pc < bytes.length / 8);
    }),
    { numRuns: 2500 },
  );
});
