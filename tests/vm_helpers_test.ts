import { test } from "node:test";
import assert from "node:assert/strict";
import { UAPI_BPF_H, uapiHelperIds } from "./_util.ts";
import { assemble } from "../isa/asm.ts";
import { VmError } from "../backends/vm/errors.ts";
import { createVmMap, type VmRingBuf } from "../backends/vm/maps/mod.ts";
import { loadVmCode } from "../backends/vm/program.ts";
import { createRuntime, type Runtime } from "../backends/vm/runtime.ts";
import { executorFactory, VM_TIERS } from "../backends/vm/tiers.ts";
import {
  REGION_READ,
  REGION_STRIDED,
  REGION_WRITE,
  vmAddress,
  VmMemory,
} from "../backends/vm/memory.ts";
import type {
  HelperEnv,
  ProbeMemory,
  VmAddress,
  VmCode,
  VmMap,
  VmPacket,
  VmProgramHandle,
  VmRuntime,
  VmRuntimeOptions,
  VmTier,
} from "../backends/vm/types.ts";
import {
  csumDiff,
  csumDiffLegacy,
  csumDiffLegacyBytes,
  csumPartial,
  defaultHelpers,
  HELPER_IDS,
  type HelperName,
} from "../backends/vm/helpers/mod.ts";

// ---------------------------------------------------------------- fixtures

const EPERM = -1, ENOENT = -2, E2BIG = -7, EFAULT = -14, EINVAL = -22, ENOSPC = -28;
const ERANGE = -34;
const HELPERS = defaultHelpers();
const CODE: VmCode = {
  name: "prog",
  code: new Int32Array(0),
  slots: 0,
  functions: [0],
  helpers: new Map(),
  codeTag: 0,
};

class FakeRuntime implements VmRuntime {
  readonly trace: string[] = [];
  readonly helpers = HELPERS;
  readonly frameTags: number[] = [];
  depth = 0;
  readonly maps = new Map<number, VmMap>();
  readonly packets = new Map<number, VmPacket>();
  nextRandom = 0xdeadbeef;

  constructor(readonly mem: VmMemory, readonly options: VmRuntimeOptions = {}) {}

  mapAt(address: VmAddress): VmMap | undefined {
    return this.maps.get(address);
  }
  mapByFd(fd: number): VmMap | undefined {
    return [...this.maps.values()].find((m) => m.fd === fd);
  }
  programByFd(): VmProgramHandle | undefined {
    return undefined;
  }
  random(): number {
    return this.nextRandom;
  }
  allocFd(): number {
    return 1000 + this.maps.size;
  }
  addMap(map: VmMap): void {
    this.maps.set(map.address, map);
  }
  removeMap(map: VmMap): void {
    this.maps.delete(map.address);
  }
  addProgram(): void {}
  removeProgram(): void {}
  packetOf(ctx: VmAddress): VmPacket | undefined {
    return this.packets.get(ctx);
  }
}

/** A fresh arena and runtime. */
function setup(options: VmRuntimeOptions = {}): FakeRuntime {
  return new FakeRuntime(new VmMemory({ initialBytes: 1 << 20 }), options);
}

/** A new region of `len` bytes (read/write unless told); returns its address and arena base. */
function region(
  rt: FakeRuntime,
  len: number,
  flags = REGION_READ | REGION_WRITE,
  name = "buf",
): { address: number; base: number } {
  const base = rt.mem.alloc(len);
  const tag = rt.mem.map({ name, base, len, flags });
  return { address: vmAddress(tag, 0), base };
}

/** A region holding `bytes`. */
function bytesAt(rt: FakeRuntime, bytes: Uint8Array | string, flags?: number): number {
  const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const r = region(rt, Math.max(b.length, 1), flags);
  rt.mem.u8.set(b, r.base);
  return r.address;
}

/** A NUL-terminated string in a region of its own. */
function cstr(rt: FakeRuntime, s: string, flags?: number): number {
  return bytesAt(rt, new TextEncoder().encode(s + "\0"), flags);
}

function read(rt: FakeRuntime, address: number, len: number): Uint8Array {
  return rt.mem.read(address, len);
}

function text(rt: FakeRuntime, address: number, len: number): string {
  return new TextDecoder().decode(read(rt, address, len));
}

interface CallOptions {
  callback?: (fn: VmAddress, args: readonly number[]) => number;
  tailCall?: (target: VmProgramHandle) => boolean;
}

/** Call helper `name` with r1… = `regs` (bigints may be negative: two's complement). */
function call(
  rt: FakeRuntime,
  name: HelperName,
  regs: readonly (number | bigint)[] = [],
  options: CallOptions = {},
): number | bigint {
  const helper = HELPERS.get(HELPER_IDS[name]);
  assert.ok(helper, name);
  assert.equal(helper.name, name);
  const r = [0n, ...regs.map((v) => BigInt.asUintN(64, BigInt(v)))];
  while (r.length < 6) r.push(0n);
  const env: HelperEnv = {
    mem: rt.mem,
    runtime: rt,
    code: CODE,
    pc: 7,
    arg: (n) => Number(r[n]),
    argU64: (n) => r[n],
    callback: options.callback ?? (() => {
      throw new Error("unexpected callback");
    }),
    tailCall: options.tailCall ?? (() => {
      throw new Error("unexpected tail call");
    }),
  };
  return helper.call(env);
}

/** Assert that `fn` throws a VmError with `code` whose message matches `pattern`. */
function throwsVm(fn: () => unknown, code: string, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VmError, `not a VmError: ${e}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

type MapOps = Partial<
  Pick<
    VmMap,
    | "lookupElem"
    | "updateElem"
    | "deleteElem"
    | "pushElem"
    | "popElem"
    | "peekElem"
    | "forEachElem"
    | "programAt"
    | "ringbufOutput"
    | "ringbufReserve"
    | "ringbufCommit"
    | "ringbufQuery"
    | "perfOutput"
  >
>;

/** A fake map registered with `rt`; unimplemented program-side ops throw. */
function fakeMap(
  rt: FakeRuntime,
  shape: { type: number; keySize: number; valueSize: number; maxEntries: number },
  ops: MapOps = {},
): VmMap {
  const tag = rt.mem.map({ name: "map handle", base: 0, len: 0, flags: 0 });
  const unused = () => {
    throw new Error("not used by helpers");
  };
  const map: VmMap = {
    name: `map${tag}`,
    flags: 0,
    address: vmAddress(tag, 0),
    fd: 1000 + tag,
    ...shape,
    lookupElem: () => {
      throw new Error("lookupElem not expected");
    },
    updateElem: () => {
      throw new Error("updateElem not expected");
    },
    deleteElem: () => {
      throw new Error("deleteElem not expected");
    },
    ...ops,
    lookup: unused,
    update: unused,
    delete: unused,
    keys: unused,
    entries: unused,
    freeze: unused,
    close: unused,
  };
  rt.addMap(map);
  return map;
}

/** ProbeMemory over a few mapped ranges. */
function probeMemory(ranges: Record<string, Uint8Array | string>): ProbeMemory {
  const list = Object.entries(ranges).map(([at, b]) => ({
    at: BigInt(at),
    bytes: typeof b === "string" ? new TextEncoder().encode(b) : b,
  }));
  return {
    read(address, len) {
      for (const r of list) {
        const off = address - r.at;
        if (off >= 0n && off + BigInt(len) <= BigInt(r.bytes.length)) {
          return r.bytes.slice(Number(off), Number(off) + len);
        }
      }
      return undefined;
    },
  };
}

// ---------------------------------------------------------------- table

test("HELPER_IDS match include/uapi/linux/bpf.h and defaultHelpers covers them", () => {
  // The IDs are checked against the installed header itself rather than a
  // copy of it here (CI installs it with libbpf-dev).
  const uapi = uapiHelperIds();
  if (uapi === undefined) console.log(`uapi check skipped: no ${UAPI_BPF_H} (linux-libc-dev)`);
  else for (const [name, id] of Object.entries(HELPER_IDS)) assert.equal(uapi.get(name), id, name);
  assert.equal(HELPERS.size, Object.keys(HELPER_IDS).length);
  for (const [name, id] of Object.entries(HELPER_IDS)) assert.equal(HELPERS.get(id)?.name, name);
  assert.notEqual(defaultHelpers(), defaultHelpers(), "a fresh table each time");
});

// ---------------------------------------------------------------- maps

test("map_lookup_elem passes key_size bytes and returns the map's answer", () => {
  const rt = setup();
  const seen: number[][] = [];
  const map = fakeMap(rt, { type: 1, keySize: 4, valueSize: 8, maxEntries: 4 }, {
    lookupElem: (key) => {
      seen.push([...key]);
      return key[0] === 1 ? 0x1234_0000_0010 : 0;
    },
  });
  const key = bytesAt(rt, new Uint8Array([1, 2, 3, 4, 99]));
  assert.equal(call(rt, "map_lookup_elem", [map.address, key]), 0x1234_0000_0010);
  assert.deepEqual(seen, [[1, 2, 3, 4]]);
  const other = bytesAt(rt, new Uint8Array([2, 0, 0, 0]));
  assert.equal(call(rt, "map_lookup_elem", [map.address, other]), 0);
});

test("map helpers refuse a non-map, a short key and map types they do not serve", () => {
  const rt = setup();
  const map = fakeMap(rt, { type: 2, keySize: 4, valueSize: 8, maxEntries: 4 });
  const key = bytesAt(rt, new Uint8Array(3));
  throwsVm(() => call(rt, "map_lookup_elem", [12345, key]), "VM_HELPER", /^pc 7: r1 is not a map$/);
  throwsVm(() => call(rt, "map_lookup_elem", [map.address, key]), "VM_BAD_ACCESS", /pc 7/);
  throwsVm(() => call(rt, "map_lookup_elem", [map.address, 0]), "VM_BAD_ACCESS", /NULL/);
  const key4 = bytesAt(rt, new Uint8Array(4));
  for (const type of [3, 4, 7, 8, 22, 23, 27, 30, 31]) {
    const m = fakeMap(rt, { type, keySize: 4, valueSize: 8, maxEntries: 4 });
    for (const name of ["map_lookup_elem", "map_delete_elem"] as const) {
      throwsVm(() => call(rt, name, [m.address, key4]), "VM_HELPER", /cannot pass map_type/);
    }
  }
});

test("map_update_elem checks key and value, passes flags, rejects high flags with -EINVAL", () => {
  const rt = setup();
  const calls: [number[], number[], number][] = [];
  const map = fakeMap(rt, { type: 1, keySize: 2, valueSize: 3, maxEntries: 4 }, {
    updateElem: (k, v, f) => {
      calls.push([[...k], [...v], f]);
      return f === 1 ? -17 : 0;
    },
  });
  const key = bytesAt(rt, new Uint8Array([7, 8]));
  const value = bytesAt(rt, new Uint8Array([1, 2, 3]));
  assert.equal(call(rt, "map_update_elem", [map.address, key, value, 0]), 0);
  assert.equal(call(rt, "map_update_elem", [map.address, key, value, 1]), -17);
  assert.equal(call(rt, "map_update_elem", [map.address, key, value, 1n << 32n]), EINVAL);
  assert.equal(call(rt, "map_update_elem", [map.address, key, value, -1n]), EINVAL);
  assert.deepEqual(calls, [[[7, 8], [1, 2, 3], 0], [[7, 8], [1, 2, 3], 1]]);
  const short = bytesAt(rt, new Uint8Array(2));
  throwsVm(() => call(rt, "map_update_elem", [map.address, key, short, 0]), "VM_BAD_ACCESS");
});

test("map_delete_elem passes the key and the map's errno", () => {
  const rt = setup();
  const map = fakeMap(rt, { type: 1, keySize: 1, valueSize: 1, maxEntries: 4 }, {
    deleteElem: (k) => k[0] === 5 ? 0 : ENOENT,
  });
  assert.equal(call(rt, "map_delete_elem", [map.address, bytesAt(rt, new Uint8Array([5]))]), 0);
  assert.equal(
    call(rt, "map_delete_elem", [map.address, bytesAt(rt, new Uint8Array([6]))]),
    ENOENT,
  );
});

test("map_push/pop/peek_elem go to queue methods; maps without them are refused", () => {
  const rt = setup();
  const queue: number[][] = [];
  const q = fakeMap(rt, { type: 22, keySize: 0, valueSize: 2, maxEntries: 4 }, {
    pushElem: (v, flags) => {
      if (flags > 2) return EINVAL;
      queue.push([...v]);
      return 0;
    },
    popElem: (out) => {
      const v = queue.shift();
      if (!v) return ENOENT;
      out.set(v);
      return 0;
    },
    peekElem: (out) => {
      if (!queue[0]) return ENOENT;
      out.set(queue[0]);
      return 0;
    },
  });
  const v = bytesAt(rt, new Uint8Array([9, 8]));
  assert.equal(call(rt, "map_push_elem", [q.address, v, 0]), 0);
  assert.equal(call(rt, "map_push_elem", [q.address, v, 5]), EINVAL);
  assert.equal(call(rt, "map_push_elem", [q.address, v, 1n << 40n]), EINVAL);
  const out = region(rt, 2).address;
  assert.equal(call(rt, "map_peek_elem", [q.address, out]), 0);
  assert.deepEqual([...read(rt, out, 2)], [9, 8]);
  assert.equal(call(rt, "map_pop_elem", [q.address, out]), 0);
  assert.equal(call(rt, "map_pop_elem", [q.address, out]), ENOENT);
  const ro = bytesAt(rt, new Uint8Array(2), REGION_READ);
  throwsVm(() => call(rt, "map_pop_elem", [q.address, ro]), "VM_BAD_ACCESS", /read-only/);
  const hash = fakeMap(rt, { type: 1, keySize: 4, valueSize: 2, maxEntries: 4 });
  for (const name of ["map_push_elem", "map_pop_elem", "map_peek_elem"] as const) {
    throwsVm(() => call(rt, name, [hash.address, v, 0]), "VM_HELPER", /cannot pass map_type 1/);
  }
  // A bloom filter's peek reads the value: read-only memory is fine.
  const bloom = fakeMap(rt, { type: 30, keySize: 0, valueSize: 2, maxEntries: 4 }, {
    peekElem: (value) => value[0] === 1 ? 0 : ENOENT,
  });
  assert.equal(
    call(rt, "map_peek_elem", [bloom.address, bytesAt(rt, new Uint8Array([1, 0]), REGION_READ)]),
    0,
  );
  assert.equal(call(rt, "map_peek_elem", [bloom.address, ro]), ENOENT);
});

// ---------------------------------------------------------------- probes

test("probe_read_kernel copies kernel memory, VM memory, and zeroes on a fault", () => {
  const kernel = 0xffff888000001000n;
  const rt = setup({ kernelMemory: probeMemory({ [kernel.toString()]: "kernel bytes" }) });
  const dst = region(rt, 8).address;
  rt.mem.write(dst, new Uint8Array(8).fill(0xaa));
  assert.equal(call(rt, "probe_read_kernel", [dst, 5, kernel + 7n]), 0);
  assert.equal(text(rt, dst, 5) + "|" + read(rt, dst, 8)[5], "bytes|170");
  const vm = bytesAt(rt, "vm data");
  assert.equal(call(rt, "probe_read_kernel", [dst, 2, vm + 3]), 0);
  assert.equal(text(rt, dst, 2), "da");
  assert.equal(
    call(rt, "probe_read_kernel", [dst, 8, kernel + 8n]),
    EFAULT,
    "runs past the mapping",
  );
  assert.deepEqual([...read(rt, dst, 8)], [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(call(rt, "probe_read_kernel", [dst, 0, kernel]), 0, "size 0");
  // Linux 6.18 refuses kernel reads below 0xffff800000000000 with -ERANGE (even of 0 bytes).
  assert.equal(call(rt, "probe_read_kernel", [dst, 0, 0]), ERANGE);
  rt.mem.write(dst, new Uint8Array(8).fill(1));
  assert.equal(call(rt, "probe_read_kernel", [dst, 8, 16]), ERANGE);
  assert.deepEqual([...read(rt, dst, 8)], [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(call(rt, "probe_read_kernel", [dst, 8, 0x7fffffffffffn]), ERANGE);
  assert.equal(
    call(rt, "probe_read_kernel", [dst, 8, 0xffff7fffffffffffn]),
    ERANGE,
    "non-canonical",
  );
  assert.equal(call(rt, "probe_read_kernel", [dst, 8, 0xffffffffff600008n]), ERANGE, "vsyscall");
  throwsVm(() => call(rt, "probe_read_kernel", [dst, 9, kernel]), "VM_BAD_ACCESS", /past the end/);
  const ro = bytesAt(rt, new Uint8Array(4), REGION_READ);
  throwsVm(() => call(rt, "probe_read_kernel", [ro, 4, kernel]), "VM_BAD_ACCESS", /read-only/);
  throwsVm(() => call(rt, "probe_read_kernel", [dst, 1 << 29, kernel]), "VM_HELPER", /too large/);
});

test("probe_read_user reads only user memory; probe_read picks by TASK_SIZE", () => {
  const user = 0x7f0000001000n;
  const kernel = 0xffffffff81000000n;
  const rt = setup({
    userMemory: probeMemory({ [user.toString()]: "user!" }),
    kernelMemory: probeMemory({ [kernel.toString()]: "kern!" }),
  });
  const dst = region(rt, 5).address;
  assert.equal(call(rt, "probe_read_user", [dst, 5, user]), 0);
  assert.equal(text(rt, dst, 5), "user!");
  assert.equal(call(rt, "probe_read_user", [dst, 5, kernel]), EFAULT);
  const vm = bytesAt(rt, "vmvmvm");
  assert.equal(call(rt, "probe_read_user", [dst, 2, vm]), EFAULT, "VM memory is not user memory");
  assert.equal(call(rt, "probe_read_kernel", [dst, 5, user]), ERANGE, "a user address");
  assert.equal(call(rt, "probe_read_user", [dst, 0, kernel]), EFAULT, "access_ok fails");
  assert.equal(call(rt, "probe_read", [dst, 5, user]), 0);
  assert.equal(text(rt, dst, 5), "user!");
  assert.equal(call(rt, "probe_read", [dst, 5, kernel]), 0);
  assert.equal(text(rt, dst, 5), "kern!");
  assert.equal(call(rt, "probe_read", [dst, 2, vm]), 0, "compat reads reach VM memory");
  assert.equal(call(rt, "copy_from_user", [dst, 4, user + 1n]), 0);
  assert.equal(text(rt, dst, 4), "ser!");
  assert.equal(call(rt, "copy_from_user", [dst, 4, user + 2n]), EFAULT);
  const empty = setup();
  const d2 = region(empty, 4).address;
  assert.equal(call(empty, "probe_read_kernel", [d2, 4, kernel]), EFAULT, "nothing mapped");
  assert.equal(call(empty, "probe_read_user", [d2, 4, user]), EFAULT);
});

test("probe_read_*_str copy up to size - 1 bytes and a NUL, returning the length with it", () => {
  const kernel = 0xffff800000000000n;
  const user = 0x10000n;
  const rt = setup({
    kernelMemory: probeMemory({
      [kernel.toString()]: "hello\0world",
      [(kernel + 100n).toString()]: "abc",
    }),
    userMemory: probeMemory({ [user.toString()]: "usr\0" }),
  });
  const dst = region(rt, 8).address;
  rt.mem.write(dst, new Uint8Array(8).fill(0x55));
  assert.equal(call(rt, "probe_read_kernel_str", [dst, 8, kernel]), 6);
  assert.deepEqual(
    [...read(rt, dst, 8)],
    [104, 101, 108, 108, 111, 0, 0x55, 0x55],
    "tail untouched",
  );
  assert.equal(call(rt, "probe_read_kernel_str", [dst, 4, kernel]), 4, "cut to size");
  assert.deepEqual([...read(rt, dst, 4)], [104, 101, 108, 0]);
  assert.equal(call(rt, "probe_read_kernel_str", [dst, 1, kernel]), 1);
  assert.equal(read(rt, dst, 1)[0], 0);
  assert.equal(call(rt, "probe_read_kernel_str", [dst, 0, kernel]), 0);
  assert.equal(
    call(rt, "probe_read_kernel_str", [dst, 8, kernel + 100n]),
    EFAULT,
    "no NUL before the end",
  );
  assert.deepEqual([...read(rt, dst, 8)], [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(call(rt, "probe_read_kernel_str", [dst, 3, kernel + 100n]), 3, "cut before the end");
  assert.equal(call(rt, "probe_read_user_str", [dst, 8, user]), 4);
  assert.equal(text(rt, dst, 4), "usr\0");
  assert.equal(call(rt, "probe_read_user_str", [dst, 8, kernel]), EFAULT);
  assert.equal(call(rt, "probe_read_str", [dst, 8, user]), 4);
  assert.equal(call(rt, "probe_read_str", [dst, 8, kernel]), 6);
  assert.equal(call(rt, "probe_read_kernel_str", [dst, 8, 16]), ERANGE);
  assert.equal(call(rt, "probe_read_kernel_str", [dst, 8, user]), ERANGE);
  assert.equal(call(rt, "probe_read_kernel_str", [dst, 0, 16]), 0, "count 0 is checked first");
  // VM strings: up to the NUL, and a fault when the region ends first.
  const vm = bytesAt(rt, "vm\0");
  assert.equal(call(rt, "probe_read_kernel_str", [dst, 8, vm]), 3);
  const unterminated = bytesAt(rt, "abcd");
  assert.equal(call(rt, "probe_read_kernel_str", [dst, 8, unterminated]), EFAULT);
  assert.equal(call(rt, "probe_read_kernel_str", [dst, 4, unterminated]), 4);
  assert.equal(text(rt, dst, 4), "abc\0");
  throwsVm(() => call(rt, "probe_read_user_str", [dst, 9, user]), "VM_BAD_ACCESS");
});

// ---------------------------------------------------------------- time, random, task

test("clock helpers read the runtime's clocks; jiffies64 counts HZ=250 ticks", () => {
  let now = 5_000_000_000n;
  const rt = setup({ clock: () => now, bootClock: () => now + 1000n });
  assert.equal(call(rt, "ktime_get_ns"), 5_000_000_000n);
  assert.equal(call(rt, "ktime_get_coarse_ns"), 5_000_000_000n);
  assert.equal(call(rt, "ktime_get_boot_ns"), 5_000_001_000n);
  assert.equal(call(rt, "jiffies64"), 0x100000000n - 75000n + 1250n);
  now = 1n << 70n;
  assert.equal(call(rt, "ktime_get_ns"), 0n, "low 64 bits");
  const plain = setup({ clock: () => 42n });
  assert.equal(call(plain, "ktime_get_boot_ns"), 42n, "boot clock defaults to clock");
  const none = setup();
  const a = call(none, "ktime_get_ns") as bigint;
  const b = call(none, "ktime_get_ns") as bigint;
  assert.ok(typeof a === "bigint" && b >= a, "monotonic fallback");
});

test("get_prandom_u32, cpu, numa, pid/tgid and uid/gid come from the runtime", () => {
  const rt = setup({ cpu: 3, pidTgid: (7n << 32n) | 8n, uidGid: (100n << 32n) | 1000n });
  rt.nextRandom = -1;
  assert.equal(call(rt, "get_prandom_u32"), 0xffffffff);
  assert.equal(call(rt, "get_smp_processor_id"), 3);
  assert.equal(call(rt, "get_numa_node_id"), 0);
  assert.equal(call(rt, "get_current_pid_tgid"), (7n << 32n) | 8n);
  assert.equal(call(rt, "get_current_uid_gid"), (100n << 32n) | 1000n);
  const dflt = setup();
  assert.equal(call(dflt, "get_smp_processor_id"), 0);
  assert.equal(call(dflt, "get_current_uid_gid"), 0n);
});

test("get_current_comm writes the comm NUL-padded, cut to 15 bytes and size - 1", () => {
  const rt = setup({ comm: "a-very-long-command-name" });
  const buf = region(rt, 20).address;
  rt.mem.write(buf, new Uint8Array(20).fill(0xee));
  assert.equal(call(rt, "get_current_comm", [buf, 20]), 0);
  assert.equal(text(rt, buf, 20), "a-very-long-com\0\0\0\0\0");
  assert.equal(call(rt, "get_current_comm", [buf, 4]), 0);
  assert.equal(text(rt, buf, 5), "a-v\0r", "only size bytes written");
  const dflt = setup();
  const b2 = region(dflt, 16).address;
  assert.equal(call(dflt, "get_current_comm", [b2, 16]), 0);
  assert.equal(text(dflt, b2, 6), "tsbpf\0");
  throwsVm(() => call(rt, "get_current_comm", [buf, 0]), "VM_HELPER", /zero-sized/);
  throwsVm(() => call(rt, "get_current_comm", [buf, 21]), "VM_BAD_ACCESS");
});

// ---------------------------------------------------------------- trace_printk & co

/** trace_printk with a format written to a region and up to three args. */
function printk(rt: FakeRuntime, fmt: string | Uint8Array, ...args: (number | bigint)[]) {
  const bytes = typeof fmt === "string" ? new TextEncoder().encode(fmt + "\0") : fmt;
  const at = bytesAt(rt, bytes);
  return call(rt, "trace_printk", [at, bytes.length, ...args]);
}

test("trace_printk formats integers, appends the line and returns its length", () => {
  const rt = setup();
  assert.equal(printk(rt, "x=%d y=%u z=%x\n", -5, -1, 255), 23);
  assert.equal(printk(rt, "%ld %lld %llx", -5, -(2n ** 63n), -1), 40);
  assert.equal(
    printk(rt, "%lX|%x|%lx", 0xabcn, 0x1ffffffffn, 0x1ffffffffn),
    22,
    "%x takes the low word",
  );
  assert.equal(printk(rt, "%5d|%-5d|%05d|%+d|% d|%i", 42, 42, -42, 42, 42, 7), EINVAL, "4 args");
  assert.equal(printk(rt, "%5d|%-5d|%05d", 42, 42, -42), 17);
  assert.equal(printk(rt, "%+d|% d|%+u|%%|%c%c", 42, 42, 42), EINVAL, "too many specs");
  assert.equal(printk(rt, "%+d|% d|%+u|%%", 42, 42, 42), 12);
  assert.equal(printk(rt, "[%c][%-3c][%3c]", 65, 66, 0x143), 13);
  assert.deepEqual(rt.trace, [
    "x=-5 y=4294967295 z=ff\n",
    "-5 -9223372036854775808 ffffffffffffffff",
    "ABC|ffffffff|1ffffffff",
    "   42|42   |-0042",
    "+42| 42|42|%",
    "[A][B  ][  C]",
  ]);
});

test("trace_printk %s, %pks/%pus, %p variants, IP addresses and %%", () => {
  const kernel = 0xffff888000000000n;
  const user = 0x400000n;
  const rt = setup({
    kernelMemory: probeMemory({
      [kernel.toString()]: "kstr\0",
      [(kernel + 64n).toString()]: new Uint8Array([10, 0, 0, 1]),
    }),
    userMemory: probeMemory({ [user.toString()]: "ustr\0" }),
  });
  const s = cstr(rt, "stack string");
  assert.equal(printk(rt, "%s|%10s|%-6s|", s, cstr(rt, "ab"), cstr(rt, "cd")), 31);
  assert.equal(printk(rt, "%pks %pus %s", kernel, user, 0), 10, "%s of NULL prints nothing");
  assert.equal(
    printk(rt, "%s,%s", 0xdead, user),
    5,
    "a bad pointer prints empty; %s below TASK_SIZE is user memory",
  );
  assert.equal(printk(rt, "%p %px %pK", 0x1234, 0xffff00000add4e55n, 0), 50);
  assert.equal(printk(rt, "%ps %pS %pB", 0xffffffff81000000n, 16, 0), 27);
  assert.equal(printk(rt, "%pI4 %pi4", kernel + 64n, kernel + 64n), 24);
  const ip6 = bytesAt(rt, new Uint8Array([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]));
  assert.equal(printk(rt, "%pI6 %pi6 %pI4", ip6, ip6, 0xbad), 80);
  assert.equal(
    printk(rt, "%pKabc:%pI4xyz.", 1, kernel + 64n),
    26,
    "bstr_printf skips letters after %p…",
  );
  assert.deepEqual(rt.trace, [
    "stack string|        ab|cd    |",
    "kstr ustr ",
    ",ustr",
    "0000000000001234 ffff00000add4e55 0000000000000000",
    "0xffffffff81000000 0x10 0x0",
    "10.0.0.1 010.000.000.001",
    "2001:0db8:0000:0000:0000:0000:0000:0001 20010db8000000000000000000000001 0.0.0.0",
    "0000000000000001:10.0.0.1.",
  ]);
});

test("trace_printk rejects formats the kernel rejects with -EINVAL", () => {
  const rt = setup();
  const bad = [
    "%d %d %d %d", // more specs than the three arguments
    "%pi5",
    "%a",
    "%",
    "%12345678",
    "%--------",
    "%lc",
    "%llc",
    "%lllx",
    "%hd",
    "%.3d",
    "%#x",
    "%*d",
    "%lp",
    "%ls",
    "%pa",
    "%sa",
    "%pksa",
    "%5%",
    "bell\x07",
    "\x01",
    "%\x80",
  ];
  for (const fmt of bad) assert.equal(printk(rt, fmt, 1, 2, 3), EINVAL, JSON.stringify(fmt));
  const good = ["valid %d", "%s.", "%s ", "%p:", "%pK", "%%", "%-05d", "\x80 utf-8 é", "tab\tnl\n"];
  for (const fmt of good) assert.ok(Number(printk(rt, fmt, 1, 2, 3)) >= 0, JSON.stringify(fmt));
  assert.equal(rt.trace.length, good.length, "nothing traced for a rejected format");
  assert.equal(rt.trace.at(-2), "\x80 utf-8 é");
  // Raw bytes ≥ 0x80 pass in text (invalid UTF-8 decodes to U+FFFD) but not in a spec.
  assert.equal(printk(rt, new Uint8Array([0x41, 0xff, 0x42, 0])), 3);
  assert.equal(rt.trace.at(-1), "A\ufffdB");
  assert.equal(printk(rt, new Uint8Array([0x25, 0xc3, 0xa9, 0]), 1), EINVAL);
  // The NUL must lie within fmt_size.
  const noNul = bytesAt(rt, "abc\0");
  assert.equal(call(rt, "trace_printk", [noNul, 3]), EINVAL);
  assert.equal(call(rt, "trace_printk", [noNul, 4]), 3);
  throwsVm(() => call(rt, "trace_printk", [noNul, 0]), "VM_HELPER", /zero-sized/);
  throwsVm(() => call(rt, "trace_printk", [noNul, 5]), "VM_BAD_ACCESS");
});

test("trace_printk cuts the line at 1023 bytes and at a NUL from %c, returning the full length", () => {
  const rt = setup();
  assert.equal(printk(rt, "%01100d", 7), 1100);
  assert.equal(rt.trace[0].length, 1023);
  assert.equal(rt.trace[0].at(-1), "0");
  assert.equal(printk(rt, "ab%ccd", 0), 5);
  assert.equal(rt.trace[1], "ab");
  assert.equal(printk(rt, "%8388700d", 1), 8388607, "width clamps to FIELD_WIDTH_MAX");
});

test("printf stages strings in a 512-byte buffer: long strings are cut, overflow is -ENOSPC", () => {
  const rt = setup();
  const long = cstr(rt, "x".repeat(600));
  assert.equal(printk(rt, "%s", long), 511);
  assert.equal(printk(rt, "%s%s", long, long), ENOSPC, "no room left for the second string");
  const s510 = cstr(rt, "z".repeat(510));
  assert.equal(printk(rt, "%s%s", s510, long), 510, "the second string gets just its NUL");
  assert.equal(printk(rt, "%s%s%d", long, long, 1), ENOSPC);
  assert.equal(printk(rt, "%s%c", long, 65), ENOSPC);
  const s500 = cstr(rt, "y".repeat(500));
  assert.equal(printk(rt, "%s%lld", s500, 1), 501, "501 + align 504 + 8 = 512 fits");
  const s505 = cstr(rt, "y".repeat(505));
  assert.equal(printk(rt, "%s%lld", s505, 1), ENOSPC, "506 + align 508 + 8 > 512");
  assert.equal(printk(rt, "%s%d", s505, 1), 506);
});

test("trace_vprintk takes up to 12 u64 arguments from memory", () => {
  const rt = setup();
  const fmt = "%d %d %d %d %d %d %d %d %d %d %d %d\0";
  const f = bytesAt(rt, fmt);
  const data = region(rt, 104).address;
  const words = new Uint8Array(104);
  const dv = new DataView(words.buffer);
  for (let i = 0; i < 13; i++) dv.setBigUint64(i * 8, BigInt(i + 1), true);
  rt.mem.write(data, words);
  assert.equal(call(rt, "trace_vprintk", [f, fmt.length, data, 96]), 26);
  assert.equal(rt.trace[0], "1 2 3 4 5 6 7 8 9 10 11 12");
  assert.equal(call(rt, "trace_vprintk", [f, fmt.length, data, 104]), EINVAL, "13 args");
  assert.equal(call(rt, "trace_vprintk", [f, fmt.length, data, 12]), EINVAL, "not u64s");
  assert.equal(
    call(rt, "trace_vprintk", [f, fmt.length, data, 88]),
    EINVAL,
    "11 args for 12 specs",
  );
  const plain = bytesAt(rt, "plain\0");
  assert.equal(call(rt, "trace_vprintk", [plain, 6, 0, 0]), 5);
  throwsVm(() => call(rt, "trace_vprintk", [plain, 6, 0, 8]), "VM_BAD_ACCESS", /NULL/);
  throwsVm(() => call(rt, "trace_vprintk", [f, fmt.length, data, 112]), "VM_BAD_ACCESS");
});

/** bpf_snprintf into a fresh `size`-byte buffer; returns [r0, buffer text]. */
function snprintf(
  rt: FakeRuntime,
  size: number,
  fmt: string,
  args: readonly (number | bigint)[] = [],
): [number | bigint, string] {
  const out = size > 0 ? region(rt, size).address : 0;
  if (size > 0) rt.mem.write(out, new Uint8Array(size).fill(0x3f));
  const f = cstr(rt, fmt, REGION_READ);
  const words = new Uint8Array(Math.max(args.length * 8, 1));
  const dv = new DataView(words.buffer);
  args.forEach((a, i) => dv.setBigUint64(i * 8, BigInt.asUintN(64, BigInt(a)), true));
  const data = args.length > 0 ? bytesAt(rt, words) : 0;
  const r0 = call(rt, "snprintf", [out, size, f, data, args.length * 8]);
  return [r0, size > 0 ? text(rt, out, size) : ""];
}

test("snprintf matches the kernel selftest's expected outputs", () => {
  const rt = setup();
  const ip4 = bytesAt(rt, new Uint8Array([127, 0, 0, 1]));
  const ip6 = bytesAt(rt, new Uint8Array([...new Array(15).fill(0), 1]));
  const num = snprintf(rt, 64, "%d %u %x %li %llu %lX", [-8, 9, 150, -424242, 1337, 0xdabbad00]);
  assert.deepEqual([num[0], num[1].split("\0")[0]], [30, "-8 9 96 -424242 1337 DABBAD00"]);
  const ip = snprintf(rt, 64, "%pi4 %pI6", [ip4, ip6]);
  assert.equal(ip[1].split("\0")[0], "127.000.000.001 0000:0000:0000:0000:0000:0000:0000:0001");
  assert.equal(ip[0], 56);
  const addr = snprintf(rt, 64, "%pK %px %p", [0, 0xffff00000add4e55n, 0xffff00000add4e55n]);
  assert.equal(addr[1].split("\0")[0], "0000000000000000 ffff00000add4e55 ffff00000add4e55");
  assert.deepEqual(snprintf(rt, 6, "%%overflow"), [10, "%over\0"]);
  assert.deepEqual(snprintf(rt, 10, "%5d %0900000X", [4, 4]), [900007, "    4 000\0"]);
  assert.deepEqual(snprintf(rt, 12, "simple case"), [12, "simple case\0"]);
  assert.deepEqual(snprintf(rt, 0, "only interested in length %d", [60]), [29, ""]);
  const str = snprintf(rt, 32, "str1=%s str2=%s", [cstr(rt, "str1"), cstr(rt, "longstr")]);
  assert.equal(str[1].split("\0")[0], "str1=str1 str2=longstr");
});

test("snprintf matches outputs of Linux 6.18 (BPF_PROG_TEST_RUN of a syscall program)", () => {
  const rt = setup();
  const nl = cstr(rt, "\n");
  const ab = cstr(rt, "ab");
  const cases: [string, (number | bigint)[], number, string][] = [
    [
      "%5d|%-5d|%05d|%+d|% d|%+u|%-+6d|%0-4d|% 05d",
      [42, 42, -42, 42, 42, 42, 7, 3, 9],
      47,
      "   42|42   |-0042|+42| 42|42|+7    |3   | 0009",
    ],
    ["[%c][%-3c][%3c]", [65, 66, 0x143], 14, "[A][B  ][  C]"],
    ["%ps %pS %pB", [0, 16, 0xffffffff81000000n], 28, "0x0 0x10 0xffffffff81000000"],
    [
      "%lld %llx %llX %lli %ld",
      [-5, -1, 0xabcdef, -(2n ** 63n), 77],
      51,
      "-5 ffffffffffffffff ABCDEF -9223372036854775808 77",
    ],
    ["%%%d%%", [5], 4, "%5%"],
    [
      "%8s|%-8s|%08d|%-08d|%+x|% X",
      [nl, ab, -42, 42, 255, 255],
      42,
      "       \n|ab      |-0000042|42      |ff|FF",
    ],
    ["[%s]", [16], 3, "[]"],
    ["a%cb", [0], 4, "a\0b"],
    ["%20px|%-ps", [0x1234, 0], 25, "                1234|0x0"],
  ];
  for (const [fmt, args, ret, out] of cases) {
    const [r0, text] = snprintf(rt, 64, fmt, args);
    assert.equal(r0, ret, fmt);
    assert.equal(text.slice(0, ret - 1), out, fmt);
  }
});

test("snprintf rejects bad argument arrays and unterminated formats", () => {
  const rt = setup();
  assert.deepEqual(snprintf(rt, 8, "%d %d", [1]), [EINVAL, "????????"], "buffer untouched");
  assert.equal(snprintf(rt, 8, "%d", new Array(13).fill(1))[0], EINVAL);
  const out = region(rt, 8).address;
  const f = cstr(rt, "%d");
  const data = bytesAt(rt, new Uint8Array(12));
  assert.equal(call(rt, "snprintf", [out, 8, f, data, 12]), EINVAL);
  const unterminated = bytesAt(rt, "abc");
  throwsVm(
    () => call(rt, "snprintf", [out, 8, unterminated, 0, 0]),
    "VM_HELPER",
    /not zero-terminated/,
  );
  throwsVm(() => call(rt, "snprintf", [out, 8, 0, 0, 0]), "VM_BAD_ACCESS", /NULL/);
  throwsVm(() => call(rt, "snprintf", [out, 9, f, 0, 0]), "VM_BAD_ACCESS");
  // A format inside a strided map value must end within its element.
  const base = rt.mem.alloc(32);
  const tag = rt.mem.map({
    name: "rodata",
    base,
    len: 32,
    flags: REGION_READ | REGION_STRIDED,
    elem: 4,
    stride: 8,
  });
  rt.mem.u8.set(new TextEncoder().encode("abcdefgh"), base);
  throwsVm(() => call(rt, "snprintf", [out, 8, vmAddress(tag, 0), 0, 0]), "VM_HELPER");
  rt.mem.u8[base + 3] = 0;
  assert.deepEqual([call(rt, "snprintf", [out, 8, vmAddress(tag, 0), 0, 0]), text(rt, out, 4)], [
    4,
    "abc\0",
  ]);
});

// ---------------------------------------------------------------- ringbuf, perf

function fakeRingbuf(rt: FakeRuntime) {
  const records = region(rt, 64);
  const log: string[] = [];
  let next = 0;
  const map = fakeMap(rt, { type: 27, keySize: 0, valueSize: 0, maxEntries: 4096 }, {
    ringbufOutput: (data, flags) => {
      log.push(`output ${[...data]} ${flags}`);
      return data.length > 8 ? -11 : 0;
    },
    ringbufReserve: (size, flags) => {
      log.push(`reserve ${size} ${flags}`);
      if (size > 16) return 0;
      const at = records.address + next;
      next += 16;
      return at;
    },
    ringbufCommit: (record, discard, flags) => {
      log.push(`${discard ? "discard" : "submit"} ${record - records.address} ${flags}`);
    },
    ringbufQuery: (flags) => flags === 1 ? 4096 : BigInt(flags),
  });
  return { map, log, records };
}

test("ringbuf_output checks flags and passes data to the map", () => {
  const rt = setup();
  const { map, log } = fakeRingbuf(rt);
  const data = bytesAt(rt, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
  assert.equal(call(rt, "ringbuf_output", [map.address, data, 3, 2]), 0);
  assert.equal(call(rt, "ringbuf_output", [map.address, data, 9, 0]), -11);
  assert.equal(call(rt, "ringbuf_output", [map.address, data, 3, 4]), EINVAL);
  assert.equal(call(rt, "ringbuf_output", [map.address, data, 3, 1n << 33n]), EINVAL);
  assert.deepEqual(log, ["output 1,2,3 2", "output 1,2,3,4,5,6,7,8,9 0"]);
  throwsVm(() => call(rt, "ringbuf_output", [map.address, data, 10, 0]), "VM_BAD_ACCESS");
  const hash = fakeMap(rt, { type: 1, keySize: 4, valueSize: 4, maxEntries: 1 });
  for (const name of ["ringbuf_output", "ringbuf_reserve", "ringbuf_query"] as const) {
    throwsVm(
      () => call(rt, name, [hash.address, data, 1, 0]),
      "VM_HELPER",
      /cannot pass map_type 1/,
    );
  }
});

test("ringbuf_reserve / submit / discard track records; misuse is refused", () => {
  const rt = setup();
  const { map, log, records } = fakeRingbuf(rt);
  const a = call(rt, "ringbuf_reserve", [map.address, 8, 0]) as number;
  const b = call(rt, "ringbuf_reserve", [map.address, 16, 0]) as number;
  assert.deepEqual([a - records.address, b - records.address], [0, 16]);
  assert.equal(call(rt, "ringbuf_reserve", [map.address, 8, 1]), 0, "flags must be 0");
  assert.equal(call(rt, "ringbuf_reserve", [map.address, 100, 0]), 0, "full");
  assert.equal(call(rt, "ringbuf_submit", [a, 1]), 0);
  assert.equal(call(rt, "ringbuf_discard", [b, 0]), 0);
  assert.deepEqual(log, [
    "reserve 8 0",
    "reserve 16 0",
    "reserve 100 0",
    "submit 0 1",
    "discard 16 0",
  ]);
  throwsVm(() => call(rt, "ringbuf_submit", [a, 0]), "VM_HELPER", /already released/);
  throwsVm(() => call(rt, "ringbuf_discard", [a + 1, 0]), "VM_HELPER", /bpf_ringbuf_reserve/);
  throwsVm(() => call(rt, "ringbuf_submit", [0, 0]), "VM_HELPER");
  assert.equal(call(rt, "ringbuf_query", [map.address, 1]), 4096);
  assert.equal(call(rt, "ringbuf_query", [map.address, 3]), 3n);
  assert.equal(call(rt, "ringbuf_query", [map.address, 4]), 0, "unknown query");
  // Records are per runtime.
  const other = setup();
  throwsVm(() => call(other, "ringbuf_submit", [b, 0]), "VM_HELPER");
});

test("perf_event_output picks the CPU from flags and appends packet bytes for CTXLEN", () => {
  const rt = setup({ cpu: 2 });
  const sent: [number, number[]][] = [];
  const map = fakeMap(rt, { type: 4, keySize: 4, valueSize: 4, maxEntries: 4 }, {
    perfOutput: (cpu, data) => {
      sent.push([cpu, [...data]]);
      return cpu === 3 ? ENOENT : 0;
    },
  });
  const data = bytesAt(rt, new Uint8Array([1, 2, 3]));
  const ctx = region(rt, 8).address;
  assert.equal(call(rt, "perf_event_output", [ctx, map.address, 0xffffffff, data, 3]), 0);
  assert.equal(call(rt, "perf_event_output", [ctx, map.address, 1, data, 2]), 0);
  assert.equal(call(rt, "perf_event_output", [ctx, map.address, 3, data, 0]), ENOENT);
  assert.equal(call(rt, "perf_event_output", [ctx, map.address, 4, data, 3]), E2BIG);
  assert.equal(call(rt, "perf_event_output", [ctx, map.address, 1n << 32n, data, 3]), EINVAL);
  assert.equal(call(rt, "perf_event_output", [ctx, map.address, 1n << 60n, data, 3]), EINVAL);
  const pkt = bytesAt(rt, new Uint8Array([9, 8, 7, 6]));
  rt.packets.set(ctx, { data: pkt, end: pkt + 4 });
  assert.equal(call(rt, "perf_event_output", [ctx, map.address, (2n << 32n) | 1n, data, 3]), 0);
  assert.equal(
    call(rt, "perf_event_output", [ctx, map.address, (5n << 32n) | 1n, data, 3]),
    EFAULT,
  );
  assert.equal(call(rt, "perf_event_output", [ctx, map.address, 1n << 52n, data, 3]), EINVAL);
  assert.deepEqual(sent, [[2, [1, 2, 3]], [1, [1, 2]], [3, []], [1, [1, 2, 3, 9, 8]]]);
  const hash = fakeMap(rt, { type: 1, keySize: 4, valueSize: 4, maxEntries: 1 });
  throwsVm(
    () => call(rt, "perf_event_output", [ctx, hash.address, 0, data, 3]),
    "VM_HELPER",
    /perf_event_output/,
  );
  throwsVm(
    () => call(rt, "perf_event_output", [ctx, 99, 0, data, 3]),
    "VM_HELPER",
    /r2 is not a map/,
  );
});

// ---------------------------------------------------------------- loops

test("bpf_loop calls back with (i, ctx) until 1 and returns the calls made", () => {
  const rt = setup();
  const seen: number[][] = [];
  const stopAt = (n: number) => (fn: number, args: readonly number[]) => {
    seen.push([fn, ...args]);
    return args[0] === n ? 1 : 0;
  };
  assert.equal(call(rt, "loop", [3, 0x500000002, 77, 0], { callback: stopAt(-1) }), 3);
  assert.deepEqual(seen, [[0x500000002, 0, 77], [0x500000002, 1, 77], [0x500000002, 2, 77]]);
  assert.equal(call(rt, "loop", [10, 1, 0, 0], { callback: stopAt(4) }), 5);
  assert.equal(call(rt, "loop", [0, 1, 0, 0]), 0);
  // The verifier inlines bpf_loop with flags 0: nr_loops is compared as u64 and -E2BIG
  // comes back as a u32 (values observed on Linux 6.18).
  assert.equal(call(rt, "loop", [1 << 23, 1, 0, 0], { callback: stopAt(0) }), 1, "2^23 allowed");
  assert.equal(call(rt, "loop", [(1 << 23) + 1, 1, 0, 0]), 0xfffffff9);
  assert.equal(call(rt, "loop", [(1n << 32n) | 2n, 1, 0, 0]), 0xfffffff9);
  assert.equal(E2BIG >>> 0, 0xfffffff9);
  assert.equal(call(rt, "loop", [3, 1, 0, 1]), EINVAL);
  assert.equal(call(rt, "loop", [(1 << 23) + 1, 1, 0, 1n << 40n]), EINVAL, "flags first");
  throwsVm(() => call(rt, "loop", [3, 1, 0, 0], { callback: () => 2 }), "VM_HELPER", /returned 2/);
});

test("for_each_map_elem calls back with (map, key, value, ctx) and returns the count", () => {
  const rt = setup();
  const elems = [[0x100000010, 0x200000010], [0x100000020, 0x200000020], [
    0x100000030,
    0x200000030,
  ]];
  const map = fakeMap(rt, { type: 2, keySize: 4, valueSize: 4, maxEntries: 3 }, {
    forEachElem: (fn) => {
      let n = 0;
      for (const [k, v] of elems) {
        n++;
        if (fn(k, v) !== 0) break;
      }
      return n;
    },
  });
  const seen: number[][] = [];
  const cb = (fn: number, args: readonly number[]) => {
    seen.push([fn, ...args]);
    return args[1] === 0x100000020 ? 1 : 0;
  };
  assert.equal(call(rt, "for_each_map_elem", [map.address, 9, 5, 0], { callback: cb }), 2);
  assert.deepEqual(seen, [
    [9, map.address, 0x100000010, 0x200000010, 5],
    [9, map.address, 0x100000020, 0x200000020, 5],
  ]);
  assert.equal(call(rt, "for_each_map_elem", [map.address, 9, 5, 1]), EINVAL);
  throwsVm(
    () => call(rt, "for_each_map_elem", [map.address, 9, 5, 0], { callback: () => 7 }),
    "VM_HELPER",
    /only allows 0 or 1/,
  );
  const q = fakeMap(rt, { type: 22, keySize: 0, valueSize: 4, maxEntries: 3 });
  throwsVm(
    () => call(rt, "for_each_map_elem", [q.address, 9, 5, 0]),
    "VM_HELPER",
    /for_each_map_elem/,
  );
});

// ---------------------------------------------------------------- locks

test("spin_lock / spin_unlock toggle the lock word; deadlock and double unlock are refused", () => {
  const rt = setup();
  const value = region(rt, 16).address;
  assert.equal(call(rt, "spin_lock", [value + 4]), 0);
  assert.deepEqual([...read(rt, value + 4, 4)], [1, 0, 0, 0]);
  throwsVm(() => call(rt, "spin_lock", [value + 4]), "VM_HELPER", /already held/);
  assert.equal(call(rt, "spin_lock", [value + 8]), 0, "another lock word");
  assert.equal(call(rt, "spin_unlock", [value + 4]), 0);
  assert.deepEqual([...read(rt, value + 4, 4)], [0, 0, 0, 0]);
  throwsVm(() => call(rt, "spin_unlock", [value + 4]), "VM_HELPER", /not held/);
  throwsVm(() => call(rt, "spin_lock", [value + 2]), "VM_HELPER", /aligned/);
  throwsVm(() => call(rt, "spin_lock", [value + 14]), "VM_BAD_ACCESS");
  throwsVm(
    () => call(rt, "spin_lock", [bytesAt(rt, new Uint8Array(4), REGION_READ)]),
    "VM_BAD_ACCESS",
  );
});

// ---------------------------------------------------------------- packets

function packetSetup() {
  const rt = setup();
  const pkt = bytesAt(rt, new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  const ctx = region(rt, 24).address;
  rt.packets.set(ctx, { data: pkt + 2, end: pkt + 8 }); // 6 bytes: 2..7
  return { rt, pkt, ctx, buf: region(rt, 8).address };
}

test("skb_load_bytes copies from the packet; out of range is -EFAULT with the buffer zeroed", () => {
  const { rt, ctx, buf } = packetSetup();
  assert.equal(call(rt, "skb_load_bytes", [ctx, 1, buf, 3]), 0);
  assert.deepEqual([...read(rt, buf, 3)], [3, 4, 5]);
  assert.equal(call(rt, "skb_load_bytes", [ctx, 0, buf, 6]), 0);
  assert.deepEqual([...read(rt, buf, 6)], [2, 3, 4, 5, 6, 7]);
  assert.equal(call(rt, "skb_load_bytes", [ctx, 4, buf, 3]), EFAULT);
  assert.deepEqual([...read(rt, buf, 3)], [0, 0, 0]);
  assert.equal(call(rt, "skb_load_bytes", [ctx, 0x80000000, buf, 1]), EFAULT);
  assert.equal(call(rt, "skb_load_bytes", [ctx, (1n << 32n) | 1n, buf, 1]), 0, "offset is u32");
  assert.deepEqual([...read(rt, buf, 1)], [3]);
  throwsVm(() => call(rt, "skb_load_bytes", [buf, 0, buf, 1]), "VM_HELPER", /not a packet context/);
  throwsVm(() => call(rt, "skb_load_bytes", [ctx, 0, buf, 0]), "VM_HELPER", /zero-sized/);
  throwsVm(() => call(rt, "skb_load_bytes", [ctx, 0, buf, 9]), "VM_BAD_ACCESS");
});

test("skb_store_bytes writes into the packet; bad flags -EINVAL, out of range -EFAULT", () => {
  const { rt, pkt, ctx, buf } = packetSetup();
  rt.mem.write(buf, new Uint8Array([0xa, 0xb, 0xc]));
  assert.equal(call(rt, "skb_store_bytes", [ctx, 3, buf, 3, 3]), 0);
  assert.deepEqual([...read(rt, pkt, 10)], [0, 1, 2, 3, 4, 0xa, 0xb, 0xc, 8, 9]);
  assert.equal(call(rt, "skb_store_bytes", [ctx, 4, buf, 3, 0]), EFAULT);
  assert.equal(call(rt, "skb_store_bytes", [ctx, 0, buf, 3, 4]), EINVAL);
  assert.equal(call(rt, "skb_store_bytes", [ctx, 0x80000000, buf, 3, 4]), EINVAL, "flags first");
  assert.equal(call(rt, "skb_store_bytes", [ctx, 0x80000000, buf, 3, 0]), EFAULT);
  assert.deepEqual([...read(rt, pkt, 10)], [0, 1, 2, 3, 4, 0xa, 0xb, 0xc, 8, 9]);
});

test("xdp_load/store_bytes: over 0xffff is -EFAULT, past the packet -EINVAL", () => {
  const { rt, pkt, ctx, buf } = packetSetup();
  assert.equal(call(rt, "xdp_get_buff_len", [ctx]), 6);
  rt.mem.write(buf, new Uint8Array(8).fill(0xee));
  assert.equal(call(rt, "xdp_load_bytes", [ctx, 2, buf, 4]), 0);
  assert.deepEqual([...read(rt, buf, 5)], [4, 5, 6, 7, 0xee]);
  assert.equal(call(rt, "xdp_load_bytes", [ctx, 3, buf, 4]), EINVAL);
  assert.deepEqual([...read(rt, buf, 4)], [4, 5, 6, 7], "buffer untouched");
  assert.equal(call(rt, "xdp_load_bytes", [ctx, 0x10000, buf, 1]), EFAULT);
  assert.equal(call(rt, "xdp_store_bytes", [ctx, 0, buf, 2]), 0);
  assert.deepEqual([...read(rt, pkt, 4)], [0, 1, 4, 5]);
  assert.equal(call(rt, "xdp_store_bytes", [ctx, 5, buf, 2]), EINVAL);
  assert.equal(call(rt, "xdp_store_bytes", [ctx, 0x10000, buf, 2]), EFAULT);
  throwsVm(
    () => call(rt, "xdp_store_bytes", [ctx, 0, bytesAt(rt, new Uint8Array(1)), 2]),
    "VM_BAD_ACCESS",
  );
  throwsVm(() => call(rt, "xdp_get_buff_len", [buf]), "VM_HELPER");
});

// ---------------------------------------------------------------- csum

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

test("csum_partial and csum_diff reproduce known checksums", () => {
  // RFC 1071 §3 example: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2 (big-endian),
  // i.e. 0xf2dd read as little-endian words.
  const rfc = hex("0001f203f4f5f6f7");
  assert.equal(csumDiff(new Uint8Array(0), rfc, 0), 0xf2dd);
  assert.equal(csumPartial(rfc, 0), 0x03f20100 + 0xf7f6f5f4);
  // IPv4 header of RFC 1071-style examples: the header with its checksum sums to 0xffff.
  const ip = hex("450000730000400040110000c0a80001c0a800c7");
  const sum = csumDiff(new Uint8Array(0), ip, 0);
  const check = ~sum & 0xffff; // stored little-endian in memory order
  ip[10] = check & 0xff;
  ip[11] = check >> 8;
  assert.deepEqual([ip[10], ip[11]], [0xb8, 0x61], "the well-known 0xb861 header checksum");
  assert.equal(csumDiff(new Uint8Array(0), ip, 0), 0xffff);
  // Replacing the destination address: diff, then fold into the old checksum.
  const from = hex("c0a800c7");
  const to = hex("0a000001");
  const diff = csumDiff(from, to, 0);
  const ip2 = ip.slice();
  ip2.set(to, 16);
  ip2[10] = 0;
  ip2[11] = 0;
  const fresh = ~csumDiff(new Uint8Array(0), ip2, 0) & 0xffff;
  let updated = (~(ip[10] | ip[11] << 8) & 0xffff) + diff;
  updated = (updated & 0xffff) + (updated >>> 16);
  assert.equal(~updated & 0xffff, fresh);
  // Edge cases: both empty returns the folded seed; from-only complements.
  assert.equal(csumDiff(new Uint8Array(0), new Uint8Array(0), 0x12345678), 0x68ac);
  assert.equal(csumDiff(new Uint8Array(0), new Uint8Array(0), 0), 0);
  assert.equal(csumDiff(hex("00000000"), new Uint8Array(0), 0), 0, "~csum_partial(0, ~0)");
  assert.equal(csumDiff(hex("01000000"), new Uint8Array(0), 0), 0xfffe);
  assert.equal(csumDiff(new Uint8Array(0), hex("ff"), 0), 0xff, "odd length: low byte");
  assert.equal(csumDiff(hex("01020304"), hex("01020304"), 0), 0xffff, "x - x is negative zero");
});

// [from, to, seed, r0] computed by bpf_csum_diff in Linux 6.18 (BPF_PROG_TEST_RUN of a tc
// program loading both buffers from the packet).
const KERNEL_CSUM: [string, string, number, number][] = [
  ["", "", 0x0, 0x0],
  ["", "", 0x12345678, 0x68ac],
  ["54799ec3", "", 0x0, 0xc30c],
  ["", "6c91b6db", 0x0, 0x6d23],
  ["587da2c7", "98bde207", 0x0, 0x807f],
  ["", "7095badf04294e73", 0xffffffff, 0x117e],
  ["80a5caef14395e83", "", 0xffffffff, 0xae41],
  ["4e7398", "8eb3d8fd22", 0x7, 0x3daa],
  ["33", "", 0x0, 0xffcc],
  ["", "69", 0x0, 0x69],
  [
    "a8cdf2173c6186abd0f51a3f6489aed3f81d42678cb1d6fb20456a8fb4d9fe23",
    "e80d32577ca1c6eb10355a7fa4c9ee13385d82a7ccf1163b6085aacff4193e63",
    0x0,
    0xfefe,
  ],
  ["c0e50a2f54799ec3e80d3257", "00254a6f94b9de03284d7297bce1062b50759abf", 0x1, 0xc12e],
  [
    "789dc2e7",
    "b8dd02274c7196bbe0052a4f7499bee3082d52779cc1e60b30557a9fc4e90e33587da2c7",
    0x64218464,
    0x2f7d,
  ],
  [
    "98bde2072c51769bc0e50a2f54799ec3e80d32577ca1c6eb10355a7fa4c9ee13",
    "d8fd22476c91b6db00254a6f94b9de03",
    0x2b180030,
    0xa6ec,
  ],
  ["98bde2072c51769b", "d8fd22476c91b6db00254a6f94b9de03284d7297bce1062b", 0xff79e8f8, 0x2b8f],
];

test("csum_diff matches Linux 6.18 on kernel-computed vectors (odd sizes included)", () => {
  const rt = setup();
  for (const [f, t, seed, want] of KERNEL_CSUM) {
    const from = f === "" ? new Uint8Array(0) : hex(f);
    const to = t === "" ? new Uint8Array(0) : hex(t);
    assert.equal(csumDiff(from, to, seed), want, `${f} ${t} ${seed}`);
    const fa = from.length > 0 ? bytesAt(rt, from) : 0;
    const ta = to.length > 0 ? bytesAt(rt, to) : 0;
    assert.equal(call(rt, "csum_diff", [fa, from.length, ta, to.length, seed]), want);
  }
});

test("legacy (pre-6.13 x86-64) csum_diff: unfolded sums and size limits", () => {
  assert.equal(csumDiffLegacyBytes(new Uint8Array(0), hex("0001f203f4f5f6f7"), 0), 0xfbe8f6f4);
  assert.equal(
    csumDiffLegacyBytes(new Uint8Array(0), hex("ffffffff01000000"), 0),
    1,
    "end-around carry",
  );
  assert.equal(csumDiffLegacyBytes(hex("01000000"), new Uint8Array(0), 0), 0xfffffffe);
  assert.equal(csumDiffLegacyBytes(hex("01"), new Uint8Array(0), 0), EINVAL);
  assert.equal(csumDiffLegacyBytes(new Uint8Array(256), new Uint8Array(260), 0), EINVAL);
  assert.equal(
    csumDiffLegacyBytes(new Uint8Array(256), new Uint8Array(256), 5),
    5,
    "512 bytes allowed",
  );
  assert.equal(csumDiffLegacyBytes(new Uint8Array(0), new Uint8Array(0), 0x12345678), 0x12345678);
});

test("csum_diff helper reads both buffers and the u32 seed", () => {
  const rt = setup();
  const from = bytesAt(rt, hex("c0a800c7"));
  const to = bytesAt(rt, hex("0a000001"));
  assert.equal(
    call(rt, "csum_diff", [from, 4, to, 4, 0]),
    csumDiff(hex("c0a800c7"), hex("0a000001"), 0),
  );
  assert.equal(
    call(rt, "csum_diff", [0, 0, to, 4, (1n << 32n) | 5n]),
    csumDiff(new Uint8Array(0), hex("0a000001"), 5),
  );
  assert.equal(call(rt, "csum_diff", [0, 0, 0, 0, 0x12345678]), 0x68ac);
  throwsVm(() => call(rt, "csum_diff", [from, 5, to, 4, 0]), "VM_BAD_ACCESS");
  const legacy = new Map(HELPERS);
  legacy.set(28, csumDiffLegacy);
  const env = {
    mem: rt.mem,
    runtime: rt,
    code: CODE,
    pc: 1,
    arg: (n: number) => [0, from, 3, to, 4, 0][n],
    argU64: (n: number) => BigInt([0, from, 3, to, 4, 0][n]),
    callback: () => 0,
    tailCall: () => false,
  };
  assert.equal(legacy.get(28)!.call(env), EINVAL);
});

// ---------------------------------------------------------------- tail calls

test("tail_call enters the slot's program, or falls through with -ENOENT / -E2BIG", () => {
  const rt = setup();
  const target: VmProgramHandle = { code: CODE, type: 6, fd: 1234 };
  const map = fakeMap(rt, { type: 3, keySize: 4, valueSize: 4, maxEntries: 4 }, {
    programAt: (i) => i === 1 ? target : undefined,
  });
  const entered: VmProgramHandle[] = [];
  const ok = { tailCall: (t: VmProgramHandle) => (entered.push(t), true) };
  assert.equal(call(rt, "tail_call", [0, map.address, 1], ok), 0);
  assert.deepEqual(entered, [target]);
  assert.equal(call(rt, "tail_call", [0, map.address, 0], ok), ENOENT, "empty slot");
  assert.equal(call(rt, "tail_call", [0, map.address, 4], ok), ENOENT, "past max_entries");
  assert.equal(call(rt, "tail_call", [0, map.address, (1n << 32n) | 1n], ok), 0, "index is u32");
  assert.equal(call(rt, "tail_call", [0, map.address, 1], { tailCall: () => false }), E2BIG);
  assert.equal(entered.length, 2);
  const hash = fakeMap(rt, { type: 1, keySize: 4, valueSize: 4, maxEntries: 1 });
  throwsVm(() => call(rt, "tail_call", [0, hash.address, 0], ok), "VM_HELPER", /tail_call/);
});

// ---------------------------------------------------------------- strings

test("strncmp compares like the kernel's strncmp", () => {
  const rt = setup();
  const s2 = cstr(rt, "hello", REGION_READ);
  assert.equal(call(rt, "strncmp", [bytesAt(rt, "hello"), 5, s2]), 0);
  assert.equal(call(rt, "strncmp", [bytesAt(rt, "help"), 4, s2]), 1);
  assert.equal(call(rt, "strncmp", [bytesAt(rt, "hela"), 4, s2]), -1);
  assert.equal(call(rt, "strncmp", [bytesAt(rt, "hello world"), 11, s2]), 1);
  assert.equal(call(rt, "strncmp", [bytesAt(rt, "hel\0xx"), 6, s2]), -1);
  assert.equal(call(rt, "strncmp", [bytesAt(rt, "hex"), 2, s2]), 0);
  throwsVm(() => call(rt, "strncmp", [bytesAt(rt, "a"), 1, bytesAt(rt, "no nul")]), "VM_HELPER");
});

test("strtol / strtoul parse as __bpf_strtoull and write the result", () => {
  const rt = setup();
  const res = region(rt, 8).address;
  const value = () => rt.mem.dv.getBigInt64(rt.mem.range(res, 8, false), true);
  const parse = (name: "strtol" | "strtoul", s: string, flags = 0) => {
    const at = bytesAt(rt, s);
    return call(rt, name, [at, new TextEncoder().encode(s).length, flags, res]);
  };
  assert.equal(parse("strtol", "  -123abc"), 6);
  assert.equal(value(), -123n);
  assert.equal(parse("strtol", "0x1f", 0), 4);
  assert.equal(value(), 31n);
  assert.equal(parse("strtol", "0x1f", 16), 4);
  assert.equal(parse("strtol", "017"), 3);
  assert.equal(value(), 15n);
  assert.equal(parse("strtol", "019"), 2, "octal stops at 9");
  assert.equal(value(), 1n);
  assert.equal(parse("strtol", "0x"), 1, "0x without digits parses the 0 in octal");
  assert.equal(parse("strtol", "9223372036854775807"), 19);
  assert.equal(value(), 9223372036854775807n);
  assert.equal(parse("strtol", "9223372036854775808"), ERANGE);
  assert.equal(value(), 0n, "res zeroed on error");
  assert.equal(parse("strtol", "-9223372036854775808"), 20);
  assert.equal(value(), -9223372036854775808n);
  assert.equal(parse("strtoul", "18446744073709551615"), 20);
  assert.equal(value(), -1n);
  assert.equal(parse("strtoul", "18446744073709551616"), ERANGE);
  assert.equal(parse("strtoul", "-1"), EINVAL);
  assert.equal(parse("strtol", "   "), EINVAL);
  assert.equal(parse("strtol", "-"), EINVAL);
  assert.equal(parse("strtol", "x"), EINVAL);
  assert.equal(parse("strtol", "12", 3), EINVAL, "base 3");
  assert.equal(parse("strtol", "12", 0x20), EINVAL, "unknown flag");
  assert.equal(parse("strtol", "1".repeat(70)), ERANGE);
  assert.equal(parse("strtol", "0".repeat(70) + "5"), 63, "at most 63 characters");
  throwsVm(
    () => call(rt, "strtol", [bytesAt(rt, "1"), 1, 0, bytesAt(rt, "1234567")]),
    "VM_BAD_ACCESS",
  );
});

test("helpers never throw a non-VmError on hostile arguments", () => {
  const rt = setup();
  const map = fakeMap(rt, { type: 1, keySize: 4, valueSize: 4, maxEntries: 1 }, {
    lookupElem: () => 0,
    updateElem: () => 0,
    deleteElem: () => 0,
  });
  const hostile = [0n, 1n, -1n, 1n << 63n, 0xffffffffn, BigInt(map.address), 1n << 48n];
  for (const name of Object.keys(HELPER_IDS) as HelperName[]) {
    if (["loop", "for_each_map_elem", "tail_call"].includes(name)) continue;
    for (const a of hostile) {
      for (const b of hostile) {
        try {
          call(rt, name, [a, b, a, b, a]);
        } catch (e) {
          assert.ok(e instanceof VmError, `${name}(${a}, ${b}): ${e}`);
        }
      }
    }
  }
  assert.ok(EPERM < 0);
});

// ---------------------------------------------------------------- end to end

/** Assemble `text` (with `$name` replaced by `vars`), load it in `runtime` and run it in `tier`. */
function runAsm(
  runtime: Runtime,
  tier: VmTier,
  text: string,
  vars: Record<string, number> = {},
): bigint {
  const src = text.replace(/\$(\w+)/g, (_, v: string) => `0x${vars[v].toString(16)}`);
  const code = loadVmCode(assemble(src), {
    name: "e2e",
    mem: runtime.mem,
    helpers: runtime.helpers,
  });
  const r = executorFactory(tier).call(undefined, runtime, code).run([]);
  return (BigInt(r.hi) << 32n) | BigInt(r.lo);
}

for (const tier of VM_TIERS) {
  test(`e2e ${tier}: trace_printk and bpf_loop from a program`, () => {
    const runtime = createRuntime({ helpers: defaultHelpers() });
    const printk = `
      lddw %r1, 0x000a64253d76
      stxdw [%r10-8], %r1
      mov %r1, %r10
      add %r1, -8
      mov %r2, 6
      mov %r3, 42
      call 6
      exit`;
    assert.equal(runAsm(runtime, tier, printk), 5n);
    assert.deepEqual(runtime.trace, ["v=42\n"]);
    const loop = `
      mov %r1, 5
      lddw %r2, local cb
      mov %r3, 0
      mov %r4, 0
      call 181
      exit
    cb:
      mov %r0, 0
      jne %r1, 3, +1
      mov %r0, 1
      exit`;
    assert.equal(runAsm(runtime, tier, loop), 4n);
    runtime.close();
  });

  test(`e2e ${tier}: map update/lookup, spin lock and ring buffer from a program`, () => {
    const runtime = createRuntime({ helpers: defaultHelpers() });
    const array = createVmMap(runtime, {
      name: "arr",
      type: 2,
      keySize: 4,
      valueSize: 16,
      maxEntries: 4,
    });
    const prog = `
      mov %r1, 1
      stxw [%r10-4], %r1
      mov %r1, 0
      stxdw [%r10-24], %r1
      mov %r1, 77
      stxdw [%r10-16], %r1
      lddw %r1, $map
      mov %r2, %r10
      add %r2, -4
      mov %r3, %r10
      add %r3, -24
      mov %r4, 0
      call 2
      lddw %r1, $map
      mov %r2, %r10
      add %r2, -4
      call 1
      jne %r0, 0, +2
      mov %r0, -1
      exit
      mov %r6, %r0
      mov %r1, %r6
      call 93
      ldxdw %r1, [%r6+8]
      add %r1, 5
      stxdw [%r6+8], %r1
      mov %r1, %r6
      call 94
      ldxdw %r0, [%r6+8]
      exit`;
    assert.equal(runAsm(runtime, tier, prog, { map: array.address }), 82n);
    const rb = createVmMap(runtime, {
      name: "rb",
      type: 27,
      keySize: 0,
      valueSize: 0,
      maxEntries: 4096,
    });
    const ring = `
      lddw %r1, $rb
      mov %r2, 8
      mov %r3, 0
      call 131
      jne %r0, 0, +2
      mov %r0, -1
      exit
      stdw [%r0+0], 99
      mov %r1, %r0
      mov %r2, 0
      call 132
      mov %r0, 0
      exit`;
    assert.equal(runAsm(runtime, tier, ring, { rb: rb.address }), 0n);
    const records = (rb as VmRingBuf).consume();
    assert.deepEqual(records.map((r) => [...r]), [[99, 0, 0, 0, 0, 0, 0, 0]]);
    // for_each_map_elem over a real array map, summing into the caller's stack.
    const nums = createVmMap(runtime, {
      name: "nums",
      type: 2,
      keySize: 4,
      valueSize: 8,
      maxEntries: 4,
    });
    for (let i = 0; i < 4; i++) {
      const v = new Uint8Array(8);
      v[0] = i + 1;
      nums.update(Uint8Array.of(i, 0, 0, 0), v);
    }
    const each = `
      mov %r1, 0
      stxdw [%r10-8], %r1
      lddw %r1, $nums
      lddw %r2, local cb
      mov %r3, %r10
      add %r3, -8
      mov %r4, 0
      call 164
      ldxdw %r1, [%r10-8]
      lsh %r0, 32
      or %r0, %r1
      exit
    cb:
      ldxdw %r5, [%r3+0]
      ldxdw %r6, [%r4+0]
      add %r6, %r5
      stxdw [%r4+0], %r6
      mov %r0, 0
      exit`;
    assert.equal(runAsm(runtime, tier, each, { nums: nums.address }), (4n << 32n) | 10n);
    // A helper error stops the run with the call's pc.
    const bad = `
      mov %r1, 3
      mov %r2, 0
      call 1
      exit`;
    throwsVm(() => runAsm(runtime, tier, bad), "VM_HELPER", /^pc 2: r1 is not a map/);
    runtime.close();
  });
}
