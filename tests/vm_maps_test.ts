import { test } from "node:test";
import assert from "node:assert/strict";
import { MapFlags, MapType } from "../collection/types.ts";
import { VmError } from "../backends/vm/errors.ts";
import { joinWords, offsetOf, splitNumber, tagOf } from "../backends/vm/memory.ts";
import {
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_NOEXIST,
  BPF_RB_AVAIL_DATA,
  BPF_RB_CONS_POS,
  BPF_RB_PROD_POS,
  BPF_RB_RING_SIZE,
  createVmMap,
  type VmArrayOfMaps,
  type VmBloomFilter,
  type VmHashMap,
  type VmMapInit,
  type VmPerfEventArray,
  type VmProgArray,
  type VmQueueStack,
  type VmRingBuf,
} from "../backends/vm/maps/mod.ts";
import type { VmMap, VmProgramHandle, VmRuntime } from "../backends/vm/types.ts";
import { VmMemory } from "../backends/vm/memory.ts";
import { createRuntime } from "../backends/vm/runtime.ts";
import { errnoOf, RUNTIMES } from "./_vm_maps_runtime.ts";

const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: number) => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);
const num = (b: Uint8Array | undefined) =>
  b === undefined ? undefined : Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));

function init(type: number, keySize: number, valueSize: number, maxEntries: number, more = {}) {
  return { name: "m", type, keySize, valueSize, maxEntries, ...more } as VmMapInit;
}

/** Whether a program access of `size` bytes at `address` is allowed. */
function canAccess(rt: VmRuntime, address: number, size: number, write: boolean): boolean {
  const [lo, hi] = splitNumber(address);
  try {
    rt.mem.translate(lo, hi, size, write);
    return true;
  } catch (err) {
    if (err instanceof VmError && err.code === "VM_BAD_ACCESS") return false;
    throw err;
  }
}

function readU64(rt: VmRuntime, address: number): number {
  const b = rt.mem.read(address, 8);
  return num(b)!;
}

const CREATE_CASES: [string, VmMapInit, string, RegExp?][] = [
  ["array key 8", init(MapType.ARRAY, 8, 4, 1), "EINVAL", /key_size must be 4 for arrays/],
  ["array value 0", init(MapType.ARRAY, 4, 0, 1), "EINVAL"],
  ["array max 0", init(MapType.ARRAY, 4, 4, 0), "EINVAL"],
  ["array unknown flag", init(MapType.ARRAY, 4, 4, 1, { flags: 1 << 30 }), "EINVAL"],
  ["array NO_PREALLOC", init(MapType.ARRAY, 4, 4, 1, { flags: 1 }), "EINVAL", /NO_PREALLOC/],
  ["percpu mmapable", init(MapType.PERCPU_ARRAY, 4, 4, 1, { flags: 1024 }), "EINVAL"],
  ["percpu value too big", init(MapType.PERCPU_ARRAY, 4, 40000, 1), "E2BIG"],
  ["array too big", init(MapType.ARRAY, 4, 8, 2 ** 30), "E2BIG"],
  ["rdonly+wronly", init(MapType.ARRAY, 4, 4, 1, { flags: 8 | 16 }), "EINVAL"],
  ["map_extra on hash", init(MapType.HASH, 4, 4, 1, { mapExtra: 1n }), "EINVAL"],
  ["hash key 0", init(MapType.HASH, 0, 4, 1), "EINVAL"],
  ["hash value 0", init(MapType.HASH, 4, 0, 1), "EINVAL"],
  ["hash max 0", init(MapType.HASH, 4, 4, 0), "EINVAL"],
  ["hash NO_COMMON_LRU", init(MapType.HASH, 4, 4, 1, { flags: 2 }), "EINVAL"],
  ["lru NO_PREALLOC", init(MapType.LRU_HASH, 4, 4, 1, { flags: 1 }), "ENOTSUPP"],
  ["hash huge", init(MapType.HASH, 4, 1 << 22, 1), "E2BIG"],
  ["ringbuf 4095", init(MapType.RINGBUF, 0, 0, 4095), "EINVAL"],
  ["ringbuf 12288", init(MapType.RINGBUF, 0, 0, 12288), "EINVAL"],
  ["ringbuf 2048", init(MapType.RINGBUF, 0, 0, 2048), "EINVAL"],
  ["ringbuf key", init(MapType.RINGBUF, 4, 0, 4096), "EINVAL"],
  ["queue key", init(MapType.QUEUE, 4, 4, 4), "EINVAL"],
  ["stack value 0", init(MapType.STACK, 0, 0, 4), "EINVAL"],
  ["bloom key", init(MapType.BLOOM_FILTER, 4, 4, 4), "EINVAL"],
  ["bloom hashes 16", init(MapType.BLOOM_FILTER, 0, 4, 4, { mapExtra: 16n }), "EINVAL"],
  ["lpm prealloc", init(MapType.LPM_TRIE, 8, 4, 4), "EINVAL", /BPF_F_NO_PREALLOC/],
  ["lpm key 4", init(MapType.LPM_TRIE, 4, 4, 4, { flags: 1 }), "EINVAL"],
  ["lpm key 261", init(MapType.LPM_TRIE, 261, 4, 4, { flags: 1 }), "EINVAL"],
  ["perf value 8", init(MapType.PERF_EVENT_ARRAY, 4, 8, 4), "EINVAL"],
  ["prog_array rdonly_prog", init(MapType.PROG_ARRAY, 4, 4, 4, { flags: 128 }), "EINVAL"],
  ["sockmap", init(MapType.SOCKMAP, 4, 4, 4), "ENOTSUPP", /sockmap/],
  ["type 999", init(999, 4, 4, 4), "EINVAL", /unknown map type 999/],
  ["outer without template", init(MapType.ARRAY_OF_MAPS, 4, 4, 4), "EINVAL"],
  [
    "nested maps of maps",
    init(MapType.ARRAY_OF_MAPS, 4, 4, 4, {
      innerMap: init(MapType.HASH_OF_MAPS, 4, 4, 4, { innerMap: init(MapType.ARRAY, 4, 4, 4) }),
    }),
    "EINVAL",
  ],
  [
    "bad template",
    init(MapType.HASH_OF_MAPS, 4, 4, 4, { innerMap: init(MapType.ARRAY, 8, 4, 4) }),
    "EINVAL",
  ],
  [
    "outer value 8",
    init(MapType.HASH_OF_MAPS, 4, 8, 4, { innerMap: init(MapType.ARRAY, 4, 4, 4) }),
    "EINVAL",
  ],
];

for (const [rtName, makeRuntime] of RUNTIMES) {
  const rt = (options = {}) => makeRuntime(options);

  test(`${rtName}: BPF_MAP_CREATE checks with the kernel's errnos`, () => {
    const r = rt();
    const before = r.mem.regionCount;
    for (const [what, bad, errno, message] of CREATE_CASES) {
      try {
        createVmMap(r, bad);
        assert.fail(`${what}: created`);
      } catch (err) {
        assert.ok(err instanceof VmError, what);
        assert.equal(err.code, "VM_BAD_MAP", what);
        assert.equal(err.errnoName, errno, `${what}: ${err.message}`);
        assert.match(err.message, /^map m: BPF_MAP_CREATE: /);
        if (message) assert.match(err.message, message, what);
      }
    }
    assert.equal(r.mem.regionCount, before, "failed creates leave no regions");
  });

  test(`${rtName}: valid maps of every type are created, registered and closed`, () => {
    const r = rt({ possibleCpus: 2 });
    const before = r.mem.regionCount;
    const heap = r.mem.heapTop;
    const maps = [
      init(MapType.ARRAY, 4, 12, 10),
      init(MapType.PERCPU_ARRAY, 4, 12, 10),
      init(MapType.HASH, 8, 8, 100),
      init(MapType.PERCPU_HASH, 8, 8, 100),
      init(MapType.LRU_HASH, 8, 8, 100),
      init(MapType.LRU_PERCPU_HASH, 8, 8, 100, { flags: 2 }),
      init(MapType.PROG_ARRAY, 4, 4, 4),
      init(MapType.PERF_EVENT_ARRAY, 4, 4, 0),
      init(MapType.ARRAY_OF_MAPS, 4, 4, 4, { innerMap: init(MapType.ARRAY, 4, 4, 4) }),
      init(MapType.HASH_OF_MAPS, 4, 4, 4, { innerMap: init(MapType.HASH, 4, 4, 4) }),
      init(MapType.RINGBUF, 0, 0, 4096),
      init(MapType.QUEUE, 0, 4, 4),
      init(MapType.STACK, 0, 4, 4),
      init(MapType.LPM_TRIE, 8, 4, 4, { flags: 1 }),
      init(MapType.BLOOM_FILTER, 0, 4, 4, { mapExtra: 3n }),
    ].map((i) => createVmMap(r, i));
    for (const m of maps) {
      assert.equal(r.mapByFd(m.fd), m);
      assert.equal(r.mapAt(m.address), m);
      assert.equal(offsetOf(m.address), 0);
      assert.equal(r.mem.regionName(tagOf(m.address)), "map m");
      assert.ok(!canAccess(r, m.address, 1, false), "handles are not memory");
    }
    assert.equal(maps[7].maxEntries, 2, "perf event array max_entries 0 → possible CPUs");
    assert.equal(new Set(maps.map((m) => m.fd)).size, maps.length);
    // Fill some so lazily made chunks exist too.
    maps[2].update(u64(1), u64(2));
    maps[13].update(new Uint8Array([8, 0, 0, 0, 10, 0, 0, 0]), u32(1));
    (maps[10] as VmRingBuf).ringbufReserve(16, 0);
    for (const m of maps) m.close();
    for (const m of maps) m.close(); // idempotent
    assert.equal(r.mem.regionCount, before, "close() releases every region");
    for (const m of maps) assert.equal(r.mapByFd(m.fd), undefined);
    assert.equal(errnoOf(() => maps[0].lookup(u32(0))), "VM_CLOSED");
    // Freed memory is reused: making the same maps again does not grow the heap much.
    const again = [init(MapType.ARRAY, 4, 12, 10), init(MapType.RINGBUF, 0, 0, 4096)].map((i) =>
      createVmMap(r, i)
    );
    assert.ok(r.mem.heapTop - heap < 64 * 1024);
    for (const m of again) m.close();
  });

  test(`${rtName}: array host ops and errnos`, () => {
    const r = rt();
    const m = createVmMap(r, {
      name: "counts",
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: 8,
      maxEntries: 4,
      spinLock: true,
    });
    assert.deepEqual(m.lookup(u32(1)), new Uint8Array(8));
    m.update(u32(1), u64(42));
    assert.equal(num(m.lookup(u32(1))), 42);
    m.update(u32(1), u64(43), BPF_EXIST);
    m.update(u32(1), u64(44), BPF_F_LOCK);
    assert.equal(num(m.lookup(u32(1))), 44);
    assert.equal(m.lookup(u32(4)), undefined);
    assert.equal(errnoOf(() => m.update(u32(4), u64(1))), "E2BIG");
    assert.equal(errnoOf(() => m.update(u32(0), u64(1), BPF_NOEXIST)), "EEXIST");
    assert.equal(errnoOf(() => m.update(u32(0), u64(1), 8)), "EINVAL");
    assert.equal(errnoOf(() => m.update(u32(0), u64(1), 3)), "EINVAL");
    assert.equal(errnoOf(() => m.delete(u32(0))), "EINVAL");
    assert.equal(errnoOf(() => m.update(u32(0), u32(1))), "EINVAL", "short value");
    assert.equal(errnoOf(() => m.lookup(u64(0))), "EINVAL", "long key");
    try {
      m.update(u32(0), u64(1), BPF_NOEXIST);
    } catch (err) {
      assert.match((err as Error).message, /^map counts: update: EEXIST \(/);
      assert.equal((err as VmError).code, "VM_MAP");
    }
    assert.deepEqual([...m.keys()].map((k) => k[0]), [0, 1, 2, 3]);
    assert.deepEqual([...m.entries()].map(([k, v]) => [k[0], num(v)]), [[0, 0], [1, 44], [2, 0], [
      3,
      0,
    ]]);
    m.close();
  });

  test(`${rtName}: array program side: addresses, strided region, errnos, forEachElem`, () => {
    const r = rt();
    const m = createVmMap(r, init(MapType.ARRAY, 4, 12, 4));
    const a0 = m.lookupElem(u32(0));
    const a1 = m.lookupElem(u32(1));
    assert.notEqual(a0, 0);
    assert.equal(a1 - a0, 16, "stride is value_size rounded up to 8");
    assert.equal(m.lookupElem(u32(4)), 0);
    assert.equal(m.lookupElem(u32(0xffffffff)), 0);
    assert.ok(canAccess(r, a0, 8, true));
    assert.ok(canAccess(r, a0 + 8, 4, true));
    assert.ok(!canAccess(r, a0 + 8, 8, false), "cannot read into the padding / next element");
    assert.ok(!canAccess(r, a0 + 12, 4, false), "the padding is not part of an element");
    assert.ok(canAccess(r, a1 + 8, 4, false));
    assert.ok(!canAccess(r, a0 + 64, 1, false), "past the end");
    const v = new Uint8Array(12).fill(7);
    assert.equal(m.updateElem(u32(2), v, 0), 0);
    assert.deepEqual(r.mem.read(m.lookupElem(u32(2)), 12), v);
    assert.equal(m.lookupElem(u32(2)), a0 + 32, "addresses are stable");
    assert.equal(m.updateElem(u32(9), v, 0), -7);
    assert.equal(m.updateElem(u32(1), v, BPF_NOEXIST), -17);
    assert.equal(m.updateElem(u32(1), v, 8), -22);
    assert.equal(m.updateElem(u32(1), v, 5), -17, "BPF_F_LOCK | BPF_NOEXIST");
    assert.equal(m.updateElem(u32(1), v, BPF_F_LOCK), -22, "BPF_F_LOCK without a bpf_spin_lock");
    assert.equal(m.deleteElem(u32(1)), -22);
    // A program store is visible to the host.
    r.mem.write(a0, new Uint8Array([1, 2, 3]));
    assert.deepEqual(m.lookup(u32(0))!.subarray(0, 3), new Uint8Array([1, 2, 3]));
    const seen: number[] = [];
    const n = m.forEachElem!((k, val) => {
      seen.push(r.mem.dv.getUint32(r.mem.range(k, 4, false), true));
      assert.equal(val, m.lookupElem(u32(seen.at(-1)!)));
      return seen.length === 3 ? 1 : 0;
    });
    assert.equal(n, 3);
    assert.deepEqual(seen, [0, 1, 2]);
    m.close();
  });

  test(`${rtName}: BPF_F_RDONLY_PROG and freeze()`, () => {
    const r = rt();
    const ro = createVmMap(r, init(MapType.ARRAY, 4, 8, 2, { flags: MapFlags.BPF_F_RDONLY_PROG }));
    ro.update(u32(0), u64(5));
    const a = ro.lookupElem(u32(0));
    assert.ok(canAccess(r, a, 8, false));
    assert.ok(!canAccess(r, a, 8, true), "program stores fault");
    assert.equal(errnoOf(() => ro.updateElem(u32(0), u64(1), 0)), "VM_HELPER");
    ro.freeze();
    assert.equal(errnoOf(() => ro.update(u32(0), u64(1))), "EPERM");
    assert.equal(errnoOf(() => ro.freeze()), "EBUSY");
    assert.equal(num(ro.lookup(u32(0))), 5);

    const h = createVmMap(r, init(MapType.HASH, 4, 8, 8));
    h.update(u32(1), u64(1));
    const ha = h.lookupElem(u32(1));
    assert.ok(canAccess(r, ha, 8, true));
    h.freeze();
    assert.ok(canAccess(r, ha, 8, true), "frozen is for user space: programs still write");
    assert.equal(h.updateElem(u32(1), u64(2), 0), 0, "and still update");
    assert.ok(canAccess(r, ha, 8, false));
    assert.equal(errnoOf(() => h.update(u32(2), u64(1))), "EPERM");
    assert.equal(errnoOf(() => h.delete(u32(1))), "EPERM");
    assert.equal(num(h.lookup(u32(1))), 2);

    const rdonly = createVmMap(r, init(MapType.HASH, 4, 8, 8, { flags: MapFlags.BPF_F_RDONLY }));
    assert.equal(errnoOf(() => rdonly.update(u32(2), u64(1))), "EPERM");
    assert.equal(rdonly.updateElem(u32(2), u64(1), 0), 0, "programs may still write");
    const wronly = createVmMap(r, init(MapType.HASH, 4, 8, 8, { flags: MapFlags.BPF_F_WRONLY }));
    assert.equal(errnoOf(() => wronly.lookup(u32(2))), "EPERM");
    for (const m of [ro, h, rdonly, wronly]) m.close();
  });

  test(`${rtName}: per-CPU arrays and hashes`, () => {
    const r = rt({ possibleCpus: 3, cpu: 1 });
    for (const type of [MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH]) {
      const m = createVmMap(r, init(type, 4, 4, 4));
      const layout = new Uint8Array(24);
      layout.set([1, 0, 0, 0], 0);
      layout.set([2, 0, 0, 0], 8);
      layout.set([3, 0, 0, 0], 16);
      layout.set([9, 9, 9, 9], 4); // padding is ignored
      m.update(u32(0), layout);
      const got = m.lookup(u32(0))!;
      assert.equal(got.length, 24);
      assert.deepEqual([got[0], got[8], got[16], got[4]], [1, 2, 3, 0]);
      const a = m.lookupElem(u32(0));
      assert.equal(r.mem.read(a, 4)[0], 2, "programs see the current CPU's value");
      assert.ok(!canAccess(r, a, 8, false), "one CPU's value is one element");
      assert.equal(m.updateElem(u32(0), u32(7), 0), 0);
      assert.deepEqual([...m.lookup(u32(0))!].filter((_, i) => i % 8 === 0), [1, 7, 3]);
      // One value for all CPUs.
      m.update(u32(1), u32(5));
      assert.deepEqual([...m.lookup(u32(1))!].filter((_, i) => i % 8 === 0), [5, 5, 5]);
      assert.equal(errnoOf(() => m.update(u32(1), new Uint8Array(16))), "EINVAL");
      if (type !== MapType.PERCPU_ARRAY) {
        assert.equal(m.updateElem(u32(3), u32(6), 0), 0);
        assert.deepEqual(
          [...m.lookup(u32(3))!].filter((_, i) => i % 8 === 0),
          [0, 6, 0],
          "a new element from a program: other CPUs zero",
        );
      }
      m.close();
    }
  });

  test(`${rtName}: hash flags, E2BIG, delete, insertion order, stable addresses`, () => {
    const r = rt();
    const m = createVmMap(r, {
      name: "h",
      type: MapType.HASH,
      keySize: 8,
      valueSize: 8,
      maxEntries: 3,
    });
    m.update(u64(10), u64(1));
    assert.equal(errnoOf(() => m.update(u64(10), u64(2), BPF_NOEXIST)), "EEXIST");
    assert.equal(errnoOf(() => m.update(u64(11), u64(2), BPF_EXIST)), "ENOENT");
    assert.equal(errnoOf(() => m.update(u64(11), u64(2), 4 | 8)), "EINVAL");
    m.update(u64(11), u64(2), BPF_NOEXIST);
    m.update(u64(12), u64(3));
    assert.equal(errnoOf(() => m.update(u64(13), u64(4))), "E2BIG");
    assert.equal(m.updateElem(u64(13), u64(4), 0), -7);
    m.update(u64(10), u64(9), BPF_EXIST); // replacing works when full
    const a = m.lookupElem(u64(11));
    m.update(u64(11), u64(22));
    assert.equal(m.lookupElem(u64(11)), a, "update in place");
    assert.equal(readU64(r, a), 22);
    assert.deepEqual([...m.keys()].map(num), [10, 11, 12]);
    assert.equal(m.delete(u64(10)), true);
    assert.equal(m.delete(u64(10)), false);
    assert.equal(m.deleteElem(u64(10)), -2);
    assert.equal(m.updateElem(u64(14), u64(5), BPF_NOEXIST), 0);
    assert.deepEqual([...m.keys()].map(num), [11, 12, 14], "insertion order");
    assert.equal(m.lookupElem(u64(99)), 0);
    assert.equal(m.lookup(u64(99)), undefined);
    assert.deepEqual([...m.entries()].map(([k, v]) => [num(k), num(v)]), [[11, 22], [12, 3], [
      14,
      5,
    ]]);
    assert.equal(num((m as VmHashMap).lookupAndDelete(u64(12))), 3);
    assert.equal(m.lookup(u64(12)), undefined);
    // forEachElem: key pointers readable, not writable; deleting the current element is fine.
    const seen: number[] = [];
    m.forEachElem!((k, v) => {
      assert.ok(!canAccess(r, k, 8, true));
      const key = r.mem.read(k, 8);
      seen.push(num(key)!);
      assert.equal(v, m.lookupElem(key));
      m.deleteElem(key);
      return 0;
    });
    assert.deepEqual(seen, [11, 14]);
    assert.equal([...m.keys()].length, 0);
    m.close();
  });

  test(`${rtName}: hash value regions are strided; huge max_entries is lazy`, () => {
    const r = rt();
    const heap = r.mem.heapTop;
    const m = createVmMap(r, init(MapType.HASH, 4, 20, 50_000_000));
    assert.ok(r.mem.heapTop - heap < 1 << 20, "nothing big allocated up front");
    for (let i = 0; i < 200; i++) m.update(u32(i), new Uint8Array(20).fill(i));
    const a = m.lookupElem(u32(0));
    const b = m.lookupElem(u32(1));
    assert.equal(b - a, 24);
    assert.ok(canAccess(r, a + 16, 4, true));
    assert.ok(!canAccess(r, a + 16, 8, false), "cannot cross into the neighbour");
    assert.deepEqual(r.mem.read(m.lookupElem(u32(150)), 20), new Uint8Array(20).fill(150));
    // Recycled slots: delete and re-add reuses an address.
    const a7 = m.lookupElem(u32(7));
    m.delete(u32(7));
    m.update(u32(1000), new Uint8Array(20));
    assert.equal(m.lookupElem(u32(1000)), a7);
    assert.ok(r.mem.heapTop - heap < 1 << 20);
    m.close();
  });

  test(`${rtName}: LRU evicts the least recently used; program lookups refresh`, () => {
    const r = rt();
    const m = createVmMap(r, init(MapType.LRU_HASH, 4, 8, 3));
    m.update(u32(1), u64(1));
    m.update(u32(2), u64(2));
    m.update(u32(3), u64(3));
    m.lookupElem(u32(1)); // 1 is now the most recent; 2 the oldest
    m.lookup(u32(2)); // host lookups do not count
    m.update(u32(4), u64(4));
    assert.equal(m.lookup(u32(2)), undefined, "2 evicted");
    assert.deepEqual([...m.keys()].map((k) => k[0]).sort(), [1, 3, 4]);
    m.update(u32(3), u64(33)); // updates refresh too: 1 is the oldest now
    assert.equal(m.updateElem(u32(5), u64(5), BPF_NOEXIST), 0);
    assert.equal(m.lookup(u32(1)), undefined, "1 evicted");
    assert.deepEqual([...m.keys()].map((k) => k[0]).sort(), [3, 4, 5]);
    assert.equal(errnoOf(() => m.update(u32(6), u64(6), BPF_EXIST)), "ENOENT");
    m.delete(u32(4));
    m.update(u32(7), u64(7)); // a free slot: no eviction
    assert.deepEqual([...m.keys()].map((k) => k[0]).sort(), [3, 5, 7]);
    m.close();
  });

  test(`${rtName}: prog array`, () => {
    const r = rt();
    const m = createVmMap(r, init(MapType.PROG_ARRAY, 4, 4, 4)) as VmProgArray;
    const prog = (type: number): VmProgramHandle => {
      const p = { fd: r.allocFd(), type, code: {} as VmProgramHandle["code"] };
      r.addProgram(p);
      return p;
    };
    const p1 = prog(3);
    const p2 = prog(6);
    assert.equal(errnoOf(() => m.update(u32(0), u32(123456))), "EBADF");
    m.update(u32(1), u32(p1.fd));
    assert.equal(m.programAt(1), p1);
    assert.equal(m.programAt(0), undefined);
    assert.equal(m.programAt(99), undefined);
    assert.deepEqual(m.lookup(u32(1)), u32(p1.fd));
    assert.equal(m.lookup(u32(0)), undefined);
    assert.equal(errnoOf(() => m.update(u32(2), u32(p2.fd))), "EINVAL", "other program type");
    assert.equal(errnoOf(() => m.update(u32(4), u32(p1.fd))), "E2BIG");
    assert.equal(errnoOf(() => m.update(u32(2), u32(p1.fd), BPF_NOEXIST)), "EINVAL");
    assert.equal(errnoOf(() => m.lookupElem(u32(1))), "VM_HELPER");
    assert.equal(errnoOf(() => m.updateElem(u32(1), u32(1), 0)), "VM_HELPER");
    assert.equal(errnoOf(() => m.delete(u32(4))), "E2BIG");
    assert.equal(m.delete(u32(1)), true);
    assert.equal(m.delete(u32(1)), false);
    assert.equal([...m.keys()].length, 4);
    m.close();
  });

  test(`${rtName}: maps of maps check inner maps against the template`, () => {
    const r = rt();
    const tmpl = init(MapType.ARRAY, 4, 8, 4);
    const outer = createVmMap(r, init(MapType.ARRAY_OF_MAPS, 4, 4, 2, { innerMap: tmpl }));
    const good = createVmMap(r, tmpl);
    const otherMax = createVmMap(r, init(MapType.ARRAY, 4, 8, 5));
    const otherType = createVmMap(r, init(MapType.HASH, 4, 8, 4));
    assert.equal(errnoOf(() => outer.update(u32(0), u32(99999))), "EBADF");
    assert.equal(errnoOf(() => outer.update(u32(0), u32(otherMax.fd))), "EINVAL");
    assert.equal(errnoOf(() => outer.update(u32(0), u32(otherType.fd))), "EINVAL");
    assert.equal(errnoOf(() => outer.update(u32(2), u32(good.fd))), "E2BIG");
    assert.equal(errnoOf(() => outer.update(u32(0), u32(good.fd), BPF_EXIST)), "EINVAL");
    outer.update(u32(0), u32(good.fd));
    assert.equal(outer.lookupElem(u32(0)), good.address);
    assert.equal(outer.lookupElem(u32(1)), 0);
    assert.equal(r.mapAt(outer.lookupElem(u32(0))), good);
    assert.deepEqual(outer.lookup(u32(0)), u32(good.fd));
    assert.equal((outer as VmArrayOfMaps).mapAt(0), good);
    assert.equal(errnoOf(() => outer.updateElem(u32(0), u32(good.fd), 0)), "VM_HELPER");
    assert.equal(outer.delete(u32(0)), true);
    assert.equal(outer.delete(u32(0)), false);

    // BPF_F_INNER_MAP: max_entries may differ.
    const flexTmpl = init(MapType.ARRAY, 4, 8, 1, { flags: MapFlags.BPF_F_INNER_MAP });
    const flex = createVmMap(r, init(MapType.HASH_OF_MAPS, 4, 4, 1, { innerMap: flexTmpl }));
    const big = createVmMap(r, init(MapType.ARRAY, 4, 8, 100, { flags: MapFlags.BPF_F_INNER_MAP }));
    flex.update(u32(7), u32(big.fd), BPF_NOEXIST);
    assert.equal(errnoOf(() => flex.update(u32(7), u32(big.fd), BPF_NOEXIST)), "EEXIST");
    assert.equal(errnoOf(() => flex.update(u32(8), u32(big.fd))), "E2BIG");
    assert.equal(errnoOf(() => flex.update(u32(7), u32(good.fd))), "EINVAL", "flags differ");
    assert.equal(flex.lookupElem(u32(7)), big.address);
    assert.deepEqual([...flex.keys()], [u32(7)]);
    // Hash inner maps: max_entries is not compared (bpf_map_meta_equal).
    const hOuter = createVmMap(
      r,
      init(MapType.ARRAY_OF_MAPS, 4, 4, 1, { innerMap: init(MapType.HASH, 4, 8, 4) }),
    );
    const bigHash = createVmMap(r, init(MapType.HASH, 4, 8, 64));
    hOuter.update(u32(0), u32(bigHash.fd));
    for (const m of [outer, good, otherMax, otherType, flex, big, hOuter, bigHash]) m.close();
  });

  test(`${rtName}: ring buffer reserve, submit, discard, consume, query`, () => {
    const r = rt();
    const rb = createVmMap(r, init(MapType.RINGBUF, 0, 0, 4096)) as VmRingBuf;
    const regions = r.mem.regionCount;
    const a = rb.ringbufReserve(10, 0);
    assert.notEqual(a, 0);
    assert.equal(r.mem.regionCount, regions + 1, "a record is a region");
    assert.ok(canAccess(r, a, 8, true));
    assert.ok(!canAccess(r, a + 8, 4, true), "only the record's bytes");
    r.mem.write(a, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    const b = rb.ringbufReserve(3, 0);
    r.mem.write(b, new Uint8Array([7, 7, 7]));
    assert.equal(rb.ringbufQuery(BPF_RB_PROD_POS), 24 + 16);
    assert.equal(rb.ringbufQuery(BPF_RB_AVAIL_DATA), 40);
    assert.equal(rb.ringbufQuery(BPF_RB_RING_SIZE), 4096);
    assert.equal(rb.ringbufQuery(99), 0);
    rb.ringbufCommit(b, false, 0);
    assert.deepEqual(rb.consume(), [], "the first record is still reserved");
    rb.ringbufCommit(a, false, 0);
    assert.equal(r.mem.regionCount, regions, "committed records are unmapped");
    assert.ok(!canAccess(r, a, 1, false));
    assert.equal(errnoOf(() => rb.ringbufCommit(a, false, 0)), "VM_HELPER", "submit twice");
    const c = rb.ringbufReserve(4, 0);
    rb.ringbufCommit(c, true, 0);
    assert.equal(rb.ringbufOutput(new Uint8Array([42]), 1), 0);
    assert.equal(rb.ringbufOutput(new Uint8Array([42]), 4), -22);
    assert.equal(rb.ringbufReserve(4, 1), 0, "reserve flags must be 0");
    assert.deepEqual(rb.consume(), [
      new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
      new Uint8Array([7, 7, 7]),
      new Uint8Array([42]),
    ]);
    assert.equal(rb.ringbufQuery(BPF_RB_AVAIL_DATA), 0);
    assert.equal(rb.ringbufQuery(BPF_RB_CONS_POS), rb.ringbufQuery(BPF_RB_PROD_POS));
    // Full: a record may use at most size - 1 bytes past the consumer.
    assert.equal(rb.ringbufReserve(4096 - 8, 0), 0);
    const big = rb.ringbufReserve(4096 - 16, 0);
    assert.notEqual(big, 0);
    assert.equal(rb.ringbufReserve(0, 0), 0, "no room");
    assert.equal(rb.ringbufOutput(new Uint8Array(1), 0), -11);
    rb.ringbufCommit(big, true, 2);
    assert.deepEqual(rb.consume(), []);
    assert.equal(errnoOf(() => rb.lookup(new Uint8Array(0))), "ENOTSUPP");
    assert.equal(errnoOf(() => rb.lookupElem(new Uint8Array(0))), "VM_HELPER");
    rb.close();
  });

  test(`${rtName}: ring buffer wrap-around keeps records intact`, () => {
    const r = rt();
    const rb = createVmMap(r, init(MapType.RINGBUF, 0, 0, 4096)) as VmRingBuf;
    const sent: Uint8Array[] = [];
    let got: Uint8Array[] = [];
    let seed = 1;
    for (let i = 0; i < 400; i++) {
      const size = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 700;
      const data = new Uint8Array(size).map((_, j) => (i + j) & 0xff);
      const rec = rb.ringbufReserve(size, 0);
      if (rec === 0) {
        got = got.concat(rb.consume());
        i--;
        continue;
      }
      if (size > 0) r.mem.write(rec, data);
      const discard = i % 7 === 0;
      rb.ringbufCommit(rec, discard, 0);
      if (!discard) sent.push(data);
    }
    got = got.concat(rb.consume());
    assert.equal(got.length, sent.length);
    assert.deepEqual(got, sent);
    assert.ok(rb.ringbufQuery(BPF_RB_PROD_POS) > 3 * 4096, "wrapped several times");
    rb.close();
  });

  test(`${rtName}: perf event array`, () => {
    const r = rt({ possibleCpus: 4 });
    const m = createVmMap(r, init(MapType.PERF_EVENT_ARRAY, 4, 4, 0)) as VmPerfEventArray;
    assert.equal(m.maxEntries, 4);
    assert.equal(m.perfOutput(2, new Uint8Array([1, 2])), 0);
    assert.equal(m.perfOutput(4, new Uint8Array([1])), -7);
    assert.equal(m.perfOutput(0, new Uint8Array([3])), 0);
    assert.deepEqual(m.read(), [
      { cpu: 2, data: new Uint8Array([1, 2]) },
      { cpu: 0, data: new Uint8Array([3]) },
    ]);
    assert.deepEqual(m.read(), []);
    assert.equal(errnoOf(() => m.lookup(u32(0))), "ENOTSUPP");
    assert.equal(errnoOf(() => m.update(u32(0), u32(1))), "EBADF");
    assert.equal(errnoOf(() => m.delete(u32(9))), "E2BIG");
    assert.equal([...m.keys()].length, 4);
    assert.deepEqual([...m.entries()], []);
    m.close();
  });

  test(`${rtName}: queue and stack`, () => {
    const r = rt();
    for (const type of [MapType.QUEUE, MapType.STACK]) {
      const m = createVmMap(r, init(type, 0, 4, 3)) as VmQueueStack;
      const out = new Uint8Array(4);
      assert.equal(m.popElem!(out), -2);
      assert.equal(m.peekElem!(out), -2);
      assert.equal(m.pushElem!(u32(1), 0), 0);
      assert.equal(m.pushElem!(u32(2), 0), 0);
      m.update(undefined as unknown as Uint8Array, u32(3));
      assert.equal(m.pushElem!(u32(4), 0), -7);
      assert.equal(errnoOf(() => m.update(new Uint8Array(0), u32(4))), "E2BIG");
      assert.equal(m.pushElem!(u32(4), BPF_NOEXIST), -22);
      assert.equal(m.pushElem!(u32(4), 4), -22);
      assert.equal(m.pushElem!(u32(4), BPF_EXIST), 0, "BPF_EXIST drops the oldest");
      // Now holds 2, 3, 4.
      const fifo = type === MapType.QUEUE;
      assert.equal(m.peekElem!(out), 0);
      assert.equal(out[0], fifo ? 2 : 4);
      assert.equal(m.lookup(new Uint8Array(0))![0], fifo ? 2 : 4);
      assert.equal(m.pop()![0], fifo ? 2 : 4);
      assert.equal(m.popElem!(out), 0);
      assert.equal(out[0], 3);
      assert.equal(m.popElem!(out), 0);
      assert.equal(out[0], fifo ? 4 : 2);
      assert.equal(m.pop(), undefined);
      assert.equal(m.lookup(new Uint8Array(0)), undefined);
      assert.equal(errnoOf(() => m.delete(new Uint8Array(0))), "EINVAL");
      assert.equal(errnoOf(() => [...m.keys()]), "EINVAL");
      assert.equal(errnoOf(() => m.lookupElem(new Uint8Array(0))), "VM_HELPER");
      assert.equal(errnoOf(() => m.update(u32(0), u32(1))), "EINVAL", "key must be empty");
      m.close();
    }
  });

  test(`${rtName}: LPM trie longest match, exact update/delete, errnos, key order`, () => {
    const r = rt();
    const m = createVmMap(r, init(MapType.LPM_TRIE, 8, 4, 4, { flags: 1 }));
    const key = (plen: number, ...bytes: number[]) => {
      const k = new Uint8Array(8);
      new DataView(k.buffer).setUint32(0, plen, true);
      k.set(bytes, 4);
      return k;
    };
    m.update(key(8, 10), u32(1));
    m.update(key(16, 10, 1), u32(2));
    m.update(key(24, 10, 1, 2, 99), u32(3)); // bits past prefixlen do not matter
    assert.equal(m.lookup(key(32, 10, 1, 2, 3))![0], 3);
    assert.equal(m.lookup(key(32, 10, 1, 3, 3))![0], 2);
    assert.equal(m.lookup(key(32, 10, 2, 3, 3))![0], 1);
    assert.equal(m.lookup(key(32, 11, 2, 3, 3)), undefined);
    assert.equal(m.lookup(key(20, 10, 1, 2, 3))![0], 2, "the key's prefixlen bounds the match");
    const a = m.lookupElem(key(32, 10, 1, 2, 0));
    assert.equal(r.mem.read(a, 4)[0], 3);
    assert.equal(errnoOf(() => m.update(key(24, 10, 1, 2), u32(4), BPF_NOEXIST)), "EEXIST");
    m.update(key(24, 10, 1, 2), u32(4), BPF_EXIST);
    assert.equal(m.lookupElem(key(32, 10, 1, 2, 0)), a, "stable address");
    assert.equal(errnoOf(() => m.update(key(12, 10, 0), u32(4), BPF_EXIST)), "ENOENT");
    assert.equal(errnoOf(() => m.update(key(33, 10), u32(4))), "EINVAL");
    assert.equal(errnoOf(() => m.update(key(8, 10), u32(4), BPF_F_LOCK)), "EINVAL");
    m.update(key(0), u32(9));
    assert.equal(errnoOf(() => m.update(key(1, 0x80), u32(4))), "ENOSPC");
    assert.equal(m.updateElem(key(1, 0x80), u32(4), 0), -28);
    assert.equal(m.lookup(key(32, 99))![0], 9, "the default route");
    // Kernel get_next_key order: post-order, 0 before 1, longer before shorter.
    assert.deepEqual([...m.keys()].map((k) => k[0]), [24, 16, 8, 0]);
    assert.equal(m.delete(key(16, 10, 1, 77)), true, "exact prefix; trailing bits ignored");
    assert.equal(m.delete(key(16, 10, 1)), false);
    assert.equal(errnoOf(() => m.delete(key(40, 1))), "EINVAL");
    assert.equal(m.deleteElem(key(16, 10, 1)), -2);
    assert.equal(m.lookup(key(32, 10, 1, 3, 3))![0], 1);
    m.close();
  });

  test(`${rtName}: bloom filter`, () => {
    const r = rt();
    const m = createVmMap(
      r,
      init(MapType.BLOOM_FILTER, 0, 4, 100, { mapExtra: 3n }),
    ) as VmBloomFilter;
    assert.equal(m.nrHashes, 3);
    for (let i = 0; i < 100; i += 2) assert.equal(m.pushElem!(u32(i), 0), 0);
    for (let i = 0; i < 100; i += 2) assert.equal(m.peekElem!(u32(i)), 0, "no false negatives");
    let fp = 0;
    for (let i = 1000; i < 2000; i++) if (m.peekElem!(u32(i)) === 0) fp++;
    assert.ok(fp < 200, `false positives ${fp}/1000`);
    assert.equal(m.pushElem!(u32(1), BPF_EXIST), -22);
    m.update(new Uint8Array(0), u32(12345));
    assert.equal(m.has(u32(12345)), true);
    assert.equal(errnoOf(() => m.update(new Uint8Array(0), u32(1), BPF_NOEXIST)), "EINVAL");
    assert.equal(errnoOf(() => m.lookup(new Uint8Array(0))), "EINVAL");
    assert.equal(errnoOf(() => m.delete(new Uint8Array(0))), "EOPNOTSUPP");
    assert.equal(errnoOf(() => [...m.keys()]), "EOPNOTSUPP");
    assert.equal(errnoOf(() => m.lookupElem(new Uint8Array(0))), "VM_HELPER");
    const d = createVmMap(r, init(MapType.BLOOM_FILTER, 0, 4, 100)) as VmBloomFilter;
    assert.equal(d.nrHashes, 5);
    m.close();
    d.close();
  });
}

test("VmMap objects satisfy the interface shape", () => {
  const r = RUNTIMES[0][1]();
  const m: VmMap = createVmMap(r, init(MapType.HASH, 4, 4, 4));
  assert.equal(typeof m.lookupElem, "function");
  assert.equal(m.name, "m");
  assert.equal(joinWords(offsetOf(m.address), tagOf(m.address)), m.address);
  m.close();
});

test("program-side updates survive the arena growing under their key and value views", () => {
  for (const type of [MapType.HASH, MapType.LPM_TRIE]) {
    const r = createRuntime({ mem: new VmMemory({ initialBytes: 65536 }) });
    const m = createVmMap(
      r,
      init(type, 8, 32768, 100, type === MapType.LPM_TRIE ? { flags: 1 } : {}),
    );
    const at = r.mem.alloc(8 + 32768);
    const key = new Uint8Array([32, 0, 0, 0, 1, 2, 3, 4]);
    r.mem.u8.set(key, at);
    r.mem.u8.fill(9, at + 8, at + 8 + 32768);
    const size = r.mem.memory.buffer.byteLength;
    const kv = r.mem.u8.subarray(at, at + 8);
    const vv = r.mem.u8.subarray(at + 8, at + 8 + 32768);
    assert.equal(m.updateElem(kv, vv, 0), 0);
    assert.ok(r.mem.memory.buffer.byteLength > size, "the arena grew");
    assert.deepEqual([...m.keys()], [key]);
    assert.deepEqual(m.lookup(key), new Uint8Array(32768).fill(9));
    m.close();
  }
});

test("lookupBatch and updateBatch", () => {
  const r = createRuntime();
  const m = createVmMap(r, init(MapType.HASH, 4, 4, 2)) as VmHashMap;
  assert.equal(m.updateBatch([[u32(1), u32(10)], [u32(2), u32(20)]]), 2);
  assert.deepEqual(m.lookupBatch(), [[u32(1), u32(10)], [u32(2), u32(20)]]);
  assert.equal(errnoOf(() => m.updateBatch([[u32(3), u32(30)]])), "E2BIG");
  m.close();
});
