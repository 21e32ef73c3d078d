import { test } from "node:test";
import assert from "node:assert/strict";
import { slabF64, slabU32, slabU8 } from "../internal/slab.ts";

test("slab: arrays are zero-filled, aligned and independent", () => {
  const a = slabU8(3);
  const b = slabU32(5);
  const c = slabF64(2);
  assert.deepEqual([...a], [0, 0, 0]);
  assert.deepEqual([...b], [0, 0, 0, 0, 0]);
  assert.deepEqual([...c], [0, 0]);
  assert.equal(b.byteOffset % 4, 0);
  assert.equal(c.byteOffset % 8, 0);
  a.fill(0xff);
  b.fill(0xffffffff);
  c.fill(1.5);
  const d = slabU32(8);
  assert.deepEqual([...d], new Array(8).fill(0), "a later array does not see earlier writes");
  assert.deepEqual([...a], [255, 255, 255]);
  assert.deepEqual([...c], [1.5, 1.5]);
});

test("slab: large requests get their own buffer; slabs roll over", () => {
  const big = slabU32(10_000);
  assert.equal(big.byteOffset, 0);
  assert.equal(big.buffer.byteLength, 40_000);
  const seen = new Set<ArrayBufferLike>();
  for (let i = 0; i < 100; i++) seen.add(slabU8(1024).buffer);
  assert.ok(seen.size > 1, "a full slab is replaced by a new one");
  for (const buf of seen) assert.equal(buf.byteLength, 64 * 1024);
});
