import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MapType } from "../collection/types.ts";
import { createVmMap, type VmMapInit } from "../backends/vm/maps/mod.ts";
import type { VmMap } from "../backends/vm/types.ts";
import { RUNTIMES } from "./_vm_maps_runtime.ts";

const ERRNO: Record<string, number> = { ENOENT: 2, E2BIG: 7, EEXIST: 17, EINVAL: 22, ENOSPC: 28 };
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const valueOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getUint32(0, true);

function hostUpdate(m: VmMap, key: number, value: number, flags: number): number {
  try {
    m.update(u32(key), u32(value), flags);
    return 0;
  } catch (err) {
    return -ERRNO[(err as { errnoName: string }).errnoName];
  }
}

type Op =
  | { op: "update"; key: number; value: number; flags: number; host: boolean }
  | { op: "delete"; key: number; host: boolean }
  | { op: "lookup"; key: number; host: boolean };

const opArb = (keys: number): fc.Arbitrary<Op> =>
  fc.oneof(
    fc.record({
      op: fc.constant("update" as const),
      key: fc.nat(keys),
      value: fc.nat(),
      flags: fc.constantFrom(0, 1, 2, 8),
      host: fc.boolean(),
    }),
    fc.record({ op: fc.constant("delete" as const), key: fc.nat(keys), host: fc.boolean() }),
    fc.record({ op: fc.constant("lookup" as const), key: fc.nat(keys), host: fc.boolean() }),
  );

/** A JS Map model of a hash (or exact-LRU hash) map with max_entries. */
class Model {
  readonly entries = new Map<number, number>();
  constructor(readonly max: number, readonly lru: boolean) {}
  touch(key: number): void {
    if (!this.lru) return;
    const v = this.entries.get(key)!;
    this.entries.delete(key);
    this.entries.set(key, v);
  }
  update(key: number, value: number, flags: number): number {
    if (flags > 2) return -22;
    const has = this.entries.has(key);
    if (has && flags === 1) return -17;
    if (!has && flags === 2) return -2;
    if (!has && this.entries.size >= this.max) {
      if (!this.lru) return -7;
      this.entries.delete(this.entries.keys().next().value!);
    }
    if (has) {
      this.entries.set(key, value);
      this.touch(key);
    } else this.entries.set(key, value);
    return 0;
  }
}

for (const [rtName, makeRuntime] of RUNTIMES) {
  for (const type of [MapType.HASH, MapType.LRU_HASH]) {
    const lru = type === MapType.LRU_HASH;
    test(`${rtName}: ${lru ? "LRU hash" : "hash"} matches a Map model over random ops`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 6 }),
          fc.array(opArb(8), { maxLength: 80, size: "max" }),
          (max, ops) => {
            const rt = makeRuntime();
            const before = rt.mem.regionCount;
            const m = createVmMap(rt, {
              name: "p",
              type,
              keySize: 4,
              valueSize: 4,
              maxEntries: max,
            });
            const model = new Model(max, lru);
            const addrs = new Map<number, number>();
            for (const o of ops) {
              if (o.op === "update") {
                const want = model.update(o.key, o.value, o.flags);
                const got = o.host
                  ? hostUpdate(m, o.key, o.value, o.flags)
                  : m.updateElem(u32(o.key), u32(o.value), o.flags);
                assert.equal(got, want, `update ${o.key} flags ${o.flags}`);
              } else if (o.op === "delete") {
                const want = model.entries.delete(o.key);
                const got = o.host ? m.delete(u32(o.key)) : m.deleteElem(u32(o.key)) === 0;
                assert.equal(got, want);
                addrs.delete(o.key);
              } else if (o.host) {
                const v = m.lookup(u32(o.key));
                assert.equal(v === undefined ? undefined : valueOf(v), model.entries.get(o.key));
              } else {
                const a = m.lookupElem(u32(o.key));
                const want = model.entries.get(o.key);
                if (want !== undefined) model.touch(o.key);
                assert.equal(a === 0 ? undefined : valueOf(rt.mem.read(a, 4)), want);
              }
              // Addresses are stable while an element exists (plain hash: lookups do not reorder).
              if (lru) continue;
              for (const [k, a] of addrs) {
                if (!model.entries.has(k)) addrs.delete(k);
                else assert.equal(m.lookupElem(u32(k)), a);
              }
              const k0 = [...model.entries.keys()][0];
              if (k0 !== undefined && !addrs.has(k0)) addrs.set(k0, m.lookupElem(u32(k0)));
            }
            const keys = [...m.keys()].map(valueOf);
            if (lru) keys.sort((a, b) => a - b);
            const want = [...model.entries.keys()];
            if (lru) want.sort((a, b) => a - b);
            assert.deepEqual(keys, want);
            m.close();
            assert.equal(rt.mem.regionCount, before);
          },
        ),
        { numRuns: 150 },
      );
    });
  }

  test(`${rtName}: LPM trie matches a linear longest-prefix model`, () => {
    type Entry = { plen: number; data: number; value: number };
    const bits = (data: number, plen: number) => data.toString(2).padStart(16, "0").slice(0, plen);
    const key = (plen: number, data: number) =>
      new Uint8Array([plen, 0, 0, 0, data >>> 8, data & 0xff]);
    const prefixArb = fc.record({ plen: fc.integer({ min: 0, max: 17 }), data: fc.nat(0xffff) });
    const opArb = fc.oneof(
      fc.record({
        op: fc.constant("update"),
        p: prefixArb,
        value: fc.nat(),
        flags: fc.constantFrom(0, 1, 2),
      }),
      fc.record({ op: fc.constant("delete"), p: prefixArb }),
      fc.record({ op: fc.constant("lookup"), p: prefixArb }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(opArb, { maxLength: 60, size: "max" }),
        (max, ops) => {
          const rt = makeRuntime();
          const m = createVmMap(rt, {
            name: "lpm",
            type: MapType.LPM_TRIE,
            keySize: 6,
            valueSize: 4,
            maxEntries: max,
            flags: 1,
          } as VmMapInit);
          const model: Entry[] = [];
          const find = (plen: number, data: number) =>
            model.findIndex((e) => e.plen === plen && bits(e.data, plen) === bits(data, plen));
          for (const o of ops) {
            const { plen, data } = o.p;
            if (o.op === "update") {
              const flags = (o as { flags: number }).flags;
              const value = (o as { value: number }).value;
              const at = find(plen, data);
              let want = 0;
              if (plen > 16) want = -22;
              else if (at >= 0 && flags === 1) want = -17;
              else if (at < 0 && flags === 2) want = -2;
              else if (at < 0 && model.length >= max) want = -28;
              else if (at >= 0) model[at] = { plen, data, value };
              else model.push({ plen, data, value });
              assert.equal(m.updateElem(key(plen, data), u32(value), flags), want);
            } else if (o.op === "delete") {
              const at = find(plen, data);
              const want = plen > 16 ? -22 : at < 0 ? -2 : 0;
              if (want === 0) model.splice(at, 1);
              assert.equal(m.deleteElem(key(plen, data)), want);
            } else {
              let best: Entry | undefined;
              for (const e of model) {
                if (e.plen <= plen && bits(e.data, e.plen) === bits(data, e.plen)) {
                  if (best === undefined || e.plen > best.plen) best = e;
                }
              }
              const got = m.lookup(key(plen, data));
              assert.equal(got === undefined ? undefined : valueOf(got), best?.value);
            }
          }
          // keys(): a post-order walk of a naive binary trie over the model.
          const walk = (p: string): string[] => {
            const out: string[] = [];
            for (const b of ["0", "1"]) {
              if (model.some((e) => bits(e.data, e.plen).startsWith(p + b))) {
                out.push(...walk(p + b));
              }
            }
            if (model.some((e) => bits(e.data, e.plen) === p)) out.push(p);
            return out;
          };
          const got = [...m.keys()].map((k) => bits((k[4] << 8) | k[5], k[0]));
          assert.deepEqual(got, walk(""));
          m.close();
        },
      ),
      { numRuns: 150 },
    );
  });

  test(`${rtName}: queue and stack match arrays`, () => {
    const opArb = fc.oneof(
      fc.record({ op: fc.constant("push"), value: fc.nat(), flags: fc.constantFrom(0, 1, 2, 4) }),
      fc.record({ op: fc.constant("pop") }),
      fc.record({ op: fc.constant("peek") }),
    );
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 1, max: 5 }),
        fc.array(opArb, { maxLength: 60, size: "max" }),
        (lifo, max, ops) => {
          const rt = makeRuntime();
          const m = createVmMap(rt, {
            name: "q",
            type: lifo ? MapType.STACK : MapType.QUEUE,
            keySize: 0,
            valueSize: 4,
            maxEntries: max,
          });
          const model: number[] = [];
          const out = new Uint8Array(4);
          for (const o of ops) {
            if (o.op === "push") {
              const { value, flags } = o as { value: number; flags: number };
              let want = 0;
              if ((flags & 1) !== 0 || flags > 2) want = -22;
              else if (model.length === max && flags !== 2) want = -7;
              else {
                if (model.length === max) model.shift();
                model.push(value);
              }
              assert.equal(m.pushElem!(u32(value), flags), want);
            } else {
              const want = model.length === 0 ? undefined : lifo ? model.at(-1) : model[0];
              const r = o.op === "pop" ? m.popElem!(out) : m.peekElem!(out);
              assert.equal(r === 0 ? valueOf(out) : undefined, want);
              if (r !== 0) assert.equal(r, -2);
              if (o.op === "pop" && want !== undefined) lifo ? model.pop() : model.shift();
            }
          }
          m.close();
        },
      ),
      { numRuns: 200 },
    );
  });
}
