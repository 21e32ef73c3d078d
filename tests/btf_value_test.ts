// BTF-typed values: decodeValue/encodeValue over every kind a variable or a
// map value can have, in both byte orders, and their typed errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Btf, BtfBuilder, marshalBtf } from "../btf/mod.ts";
import { decodeValue, encodeValue } from "../btf/value.ts";
import { BtfError } from "../errors/mod.ts";

/** A small type set covering the kinds values are made of. */
function types() {
  const b = new BtfBuilder();
  const u8 = b.int("unsigned char", 1, { char: true });
  const s16 = b.int("short", 2, { signed: true });
  const u32 = b.int("unsigned int", 4);
  const s64 = b.int("long long", 8, { signed: true });
  const bool = b.int("_Bool", 1, { bool: true });
  const dbl = b.float("double", 8);
  const color = b.enum("color", { RED: 0, GREEN: 1, BLUE: -1 }, { signed: true });
  const name = b.array(u8, 8);
  const ptr = b.pointer(u32);
  const flags = b.struct("flags", [
    { name: "low", type: u32, bitfieldSize: 3 },
    { name: "high", type: u32, bitfieldSize: 5 },
    { name: "rest", type: u32, bitfieldSize: 24 },
  ]);
  const point = b.struct("point", [
    { name: "x", type: s16 },
    { name: "y", type: s16 },
    { name: "ok", type: bool },
    { name: "tag", type: name },
    { name: "c", type: color },
    { name: "f", type: flags },
    { name: "p", type: ptr },
    { name: "d", type: dbl },
    { name: "big", type: s64 },
  ]);
  const pointT = b.typedef("point_t", point);
  const vLimit = b.variable("limit", u32);
  const vPoint = b.variable("origin", pointT);
  const size = b.sizeOf(point);
  const ds = b.datasec(".data", [
    { type: vLimit, offset: 0, size: 4 },
    { type: vPoint, offset: 8, size },
  ]);
  return { btf: Btf.parse(marshalBtf(b)), u32, s16, point: pointT, ds, name };
}

const VALUE = {
  x: -2,
  y: 300,
  ok: true,
  tag: [104, 105, 0, 0, 0, 0, 0, 0],
  c: -1,
  f: { low: 5, high: 17, rest: 123456 },
  p: 0xdead_beefn,
  d: 1.5,
  big: -(1n << 40n),
};

for (const littleEndian of [true, false]) {
  const order = littleEndian ? "little" : "big";
  test(`btf value: a struct with every kind round-trips (${order}-endian)`, () => {
    const { btf, point } = types();
    const bytes = encodeValue(btf, point, VALUE, { littleEndian });
    assert.equal(bytes.length, btf.sizeOf(point));
    assert.deepEqual(decodeValue(btf, point, bytes, { littleEndian }), VALUE);
  });

  test(`btf value: a DATASEC is an object of its variables (${order}-endian)`, () => {
    const { btf, ds } = types();
    const bytes = encodeValue(btf, ds, { limit: 1500, origin: VALUE }, { littleEndian });
    const view = new DataView(bytes.buffer);
    assert.equal(view.getUint32(0, littleEndian), 1500);
    assert.deepEqual(decodeValue(btf, ds, bytes, { littleEndian }), { limit: 1500, origin: VALUE });
  });
}

test("btf value: char arrays take strings; integers take either reading of their bits", () => {
  const { btf, name, u32, s16 } = types();
  assert.deepEqual([...encodeValue(btf, name, "hi")], [104, 105, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(decodeValue(btf, u32, encodeValue(btf, u32, -1)), 0xffffffff);
  assert.equal(decodeValue(btf, s16, encodeValue(btf, s16, 0xffff)), -1);
});

test("btf value: mistakes are typed errors naming the path", () => {
  const { btf, point, ds, name, u32 } = types();
  const cases: [() => unknown, RegExp][] = [
    [() => encodeValue(btf, u32, 1n << 40n), /does not fit 4 bytes/],
    [() => encodeValue(btf, u32, 1.5), /expected an integer/],
    [() => encodeValue(btf, point, { ...VALUE, ok: 1 }), /^ok: expected a boolean/],
    [() => encodeValue(btf, point, { ...VALUE, extra: 1 }), /no member "extra"/],
    [
      () => encodeValue(btf, point, { ...VALUE, f: { low: 9 } }),
      /^f\.low: 9 does not fit a 3-bit field/,
    ],
    [() => encodeValue(btf, name, "way too long"), /does not fit char\[8\]/],
    [() => encodeValue(btf, name, [1, 2]), /expected an array of 8/],
    [() => encodeValue(btf, ds, { nope: 1 }), /no variable "nope" in \.data/],
    [() => encodeValue(btf, ds, 3), /expected an object of variables/],
    [() => decodeValue(btf, point, new Uint8Array(2)), /2 bytes, the type needs/],
  ];
  for (const [fn, message] of cases) {
    assert.throws(
      fn,
      (err: unknown) =>
        err instanceof BtfError && err.code === "BTF_BAD_VALUE" && message.test(err.message),
      String(message),
    );
  }
});

test("btf value property: any in-range struct value round-trips", () => {
  const { btf, point } = types();
  const arb = fc.record({
    x: fc.integer({ min: -32768, max: 32767 }),
    y: fc.integer({ min: -32768, max: 32767 }),
    ok: fc.boolean(),
    tag: fc.array(fc.nat(255), { minLength: 8, maxLength: 8 }),
    c: fc.constantFrom(0, 1, -1),
    f: fc.record({ low: fc.nat(7), high: fc.nat(31), rest: fc.nat((1 << 24) - 1) }, {
      noNullPrototype: true,
    }),
    p: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    d: fc.double({ noNaN: true }),
    big: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
  }, { noNullPrototype: true });
  fc.assert(
    fc.property(arb, fc.boolean(), (value, littleEndian) => {
      const bytes = encodeValue(btf, point, value, { littleEndian });
      assert.deepEqual(decodeValue(btf, point, bytes, { littleEndian }), value);
    }),
    { numRuns: 1000 },
  );
});
