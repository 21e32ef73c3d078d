import { test } from "node:test";
import assert from "node:assert/strict";
import { loadCollection } from "../backends/kernel/mod.ts";
import { loadCollectionSpec } from "../mod.ts";
import { kernelSkipReason } from "./_kernel_util.ts";
import { readFixture } from "./_util.ts";

const opts = { skip: kernelSkipReason() };

function obj(name: string) {
  return { name: `${name}.o`, bytes: readFixture(`link/${name}.o`) };
}

/** A frame; socket filters see skb->len without the 14-byte Ethernet header. */
function frame(length: number): Uint8Array {
  return new Uint8Array(length);
}

test("linked a.o + b.o: a calls b's function and reads b's map and variables", opts, async () => {
  const spec = await loadCollectionSpec([obj("link_a"), obj("link_b")]);
  using coll = await loadCollection(spec);
  const a = coll.programs.get("link_a_prog")!;
  const b = coll.programs.get("link_b_prog")!;
  // b: hits=1, b_values[1]=1, b_add(1) = 1 + (1*2 + b_counter 5) = 8.
  assert.equal(b.run(frame(64)).retval, 8);
  // a: got = b_values[1] = 1, b_counter = 6, b_add(a_data 3) = 3 + (6 + 6) = 15,
  // + got 1 + b_limit 7 + a's own hits 1 = 24.
  assert.equal(a.run(frame(64)).retval, 24);
  assert.equal(coll.maps.get("b_values")!.get(1), 1n);
  const data = coll.maps.get(".data")!.lookup(new Uint8Array(4))!;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  assert.equal(view.getInt32(0, true), 3); // a_data
  assert.equal(view.getInt32(4, true), 6); // b_counter, bumped by a
  const bss = coll.maps.get(".bss")!.lookup(new Uint8Array(4))!;
  // The two static `hits`, one per object.
  assert.deepEqual([...bss], [1, 0, 0, 0, 1, 0, 0, 0]);
});

test("linked weak_a.o + weak_b.o: strong and first-weak definitions run", opts, async () => {
  const spec = await loadCollectionSpec([obj("weak_a"), obj("weak_b")]);
  using coll = await loadCollection(spec, { programs: ["weak_prog", "weak_b_prog"] });
  // pick 2 (weak_b strong) + first_weak 10 (weak_a) + weak_var 100 + strong_var 1000
  // + weak_a's helper(skb->len 50) = 51.
  assert.equal(coll.programs.get("weak_prog")!.run(frame(64)).retval, 1163);
  // weak_b's own helper(50) = 100, + first_weak 10.
  assert.equal(coll.programs.get("weak_b_prog")!.run(frame(64)).retval, 110);
});
