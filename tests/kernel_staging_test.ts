import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BPF_CMD,
  encodeAttr,
  getU32,
  getU64,
  MAP_CREATE,
  MAP_LOOKUP_ELEM,
  PROG_LOAD,
  writeU64,
} from "../backends/kernel/attr.ts";
import { KernelError } from "../backends/kernel/errors.ts";
import { type Syscalls, syscalls } from "../backends/kernel/syscalls.ts";
import {
  type AttrPayload,
  btfLoad,
  closeFd,
  mapCreate,
  type MapCreateAttrs,
  mapDelete,
  mapLookup,
  mapUpdate,
  progLoad,
} from "../backends/kernel/sys.ts";
import { kernelSkipReason } from "./_kernel_util.ts";

// The staging area (sys.ts) copies what an attr points to into one buffer
// whose address the fake below knows, so the fake can read "kernel memory".

const BASE = 0x10_0000;

/** A fake kernel that resolves addresses of the one staging buffer it was shown. */
function memoryKernel(answer: (cmd: number, attr: Uint8Array, read: Reader) => number) {
  const buffers = new Map<number, Uint8Array>();
  let next = BASE;
  const read: Reader = (addr, len) => {
    for (const [base, buf] of buffers) {
      if (addr >= base && addr + len <= base + buf.byteLength) {
        return buf.subarray(addr - base, addr - base + len);
      }
    }
    throw new Error(`no buffer at ${addr.toString(16)}`);
  };
  const sys: Syscalls & { addressed: Uint8Array[] } = {
    runtime: "deno",
    addressed: [],
    address(buf) {
      sys.addressed.push(buf);
      const at = next;
      next += 0x100_0000 * 8;
      buffers.set(at, buf);
      return BigInt(at);
    },
    close: () => 0,
    bpf: (cmd, attr) => answer(cmd, attr, read),
  };
  return sys;
}

type Reader = (addr: number, len: number) => Uint8Array;

const INSNS = new Uint8Array([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

test("staging: progLoad's insns and license reach the kernel through the staging area", () => {
  let seen: { insns: Uint8Array; license: string; cnt: number; name: string } | undefined;
  const sys = memoryKernel((cmd, attr, read) => {
    assert.equal(cmd, BPF_CMD.PROG_LOAD);
    const cnt = getU32(PROG_LOAD, attr, "insn_cnt");
    const insns = read(Number(getU64(PROG_LOAD, attr, "insns")), cnt * 8).slice();
    const lic = read(Number(getU64(PROG_LOAD, attr, "license")), 4);
    const name = new TextDecoder().decode(attr.subarray(48, 48 + 7));
    seen = { insns, license: new TextDecoder().decode(lic.subarray(0, 3)), cnt, name };
    assert.equal(lic[3], 0, "license is NUL-terminated");
    return 7;
  });
  const fd = progLoad(sys, { prog_type: 1, insns: INSNS, license: "GPL", prog_name: "x-y_pr.g" });
  assert.equal(fd, 7);
  assert.deepEqual(seen, { insns: INSNS, license: "GPL", cnt: 2, name: "xy_pr.g" });
  // One address asked for: the staging area's, not one per buffer.
  assert.equal(sys.addressed.length, 1);
  // A second load reuses it.
  progLoad(sys, { prog_type: 1, insns: INSNS, license: "GPL" });
  assert.equal(sys.addressed.length, 1);
});

test("staging: a call made from inside another call gets its own area", () => {
  let nested = false;
  const sys = memoryKernel((cmd, attr, read) => {
    if (cmd === BPF_CMD.PROG_LOAD && !nested) {
      nested = true;
      const before = attr.slice();
      // Something re-enters on the same Syscalls (a wrapper that probes, say).
      assert.equal(mapCreate(sys, { map_type: 2, key_size: 4, value_size: 8, max_entries: 1 }), 3);
      assert.deepEqual(attr, before, "the outer attr is untouched");
      const cnt = getU32(PROG_LOAD, attr, "insn_cnt");
      assert.deepEqual(read(Number(getU64(PROG_LOAD, attr, "insns")), cnt * 8), INSNS);
      return 5;
    }
    return 3;
  });
  assert.equal(progLoad(sys, { prog_type: 1, insns: INSNS, license: "GPL" }), 5);
  // And the shared area is free again afterwards.
  assert.equal(mapCreate(sys, { map_type: 2, key_size: 4, value_size: 8, max_entries: 1 }), 3);
});

test("staging: buffers over the area's cap are passed by their own address", () => {
  const big = new Uint8Array(2 << 20); // 2 MiB of instructions
  big.set(INSNS);
  const sys = memoryKernel((_cmd, attr, read) => {
    const at = Number(getU64(PROG_LOAD, attr, "insns"));
    assert.equal(read(at, big.byteLength).byteLength, big.byteLength);
    return 4;
  });
  assert.equal(progLoad(sys, { prog_type: 1, insns: big, license: "GPL" }), 4);
  assert.ok(sys.addressed.includes(big), "the big buffer was addressed directly");
});

/** An AttrPayload over `bytes`, counting its writes. */
function payloadOf(bytes: Uint8Array): AttrPayload & { writes: number } {
  const p = {
    byteLength: bytes.byteLength,
    writes: 0,
    writeTo(out: Uint8Array, offset: number) {
      p.writes++;
      out.set(bytes, offset);
    },
  };
  return p;
}

test("staging: payloads are written straight into the area, once, after the attr", () => {
  const funcInfo = new Uint8Array([0, 0, 0, 0, 3, 0, 0, 0]);
  const lineInfo = new Uint8Array(16).fill(9);
  let seen: Uint8Array[] = [];
  const sys = memoryKernel((_cmd, attr, read) => {
    const at = (f: string) => Number(getU64(PROG_LOAD, attr, f));
    seen = [
      read(at("insns"), getU32(PROG_LOAD, attr, "insn_cnt") * 8).slice(),
      read(at("func_info"), getU32(PROG_LOAD, attr, "func_info_cnt") * 8).slice(),
      read(at("line_info"), getU32(PROG_LOAD, attr, "line_info_cnt") * 16).slice(),
    ];
    return 6;
  });
  const payloads = [payloadOf(INSNS), payloadOf(funcInfo), payloadOf(lineInfo)];
  const fd = progLoad(sys, {
    prog_type: 1,
    insns: payloads[0],
    license: "GPL",
    prog_btf_fd: 3,
    func_info: payloads[1],
    func_info_rec_size: 8,
    line_info: payloads[2],
    line_info_rec_size: 16,
  });
  assert.equal(fd, 6);
  assert.deepEqual(seen, [INSNS, funcInfo, lineInfo]);
  assert.deepEqual(payloads.map((p) => p.writes), [1, 1, 1]);
  assert.equal(sys.addressed.length, 1, "only the staging area's address");
});

test("staging: a payload over the area's cap gets an array of its own, alive for the call", () => {
  const big = new Uint8Array(2 << 20);
  big.set(INSNS);
  const payload = payloadOf(big);
  const sys = memoryKernel((_cmd, attr, read) => {
    const at = Number(getU64(PROG_LOAD, attr, "insns"));
    assert.deepEqual(read(at, 16), INSNS);
    return 4;
  });
  assert.equal(progLoad(sys, { prog_type: 1, insns: payload, license: "GPL" }), 4);
  assert.equal(sys.addressed.length, 2, "the area and the payload's own array");
  assert.equal(sys.addressed[1].byteLength, big.byteLength);
});

test("staging: a payload that throws makes no call and leaves the area free", () => {
  let calls = 0;
  const sys = memoryKernel(() => {
    calls++;
    return 5;
  });
  const bad: AttrPayload = {
    byteLength: 16,
    writeTo() {
      throw new RangeError("cannot encode");
    },
  };
  assert.throws(() => progLoad(sys, { prog_type: 1, insns: bad, license: "GPL" }), RangeError);
  assert.equal(calls, 0);
  // The area was released: the next call uses it, not a private one.
  assert.equal(progLoad(sys, { prog_type: 1, insns: payloadOf(INSNS), license: "GPL" }), 5);
  assert.equal(sys.addressed.length, 1);
});

test("staging: btfLoad stages the blob", () => {
  const blob = new Uint8Array([1, 2, 3, 4, 5]);
  const sys = memoryKernel((cmd, attr, read) => {
    assert.equal(cmd, BPF_CMD.BTF_LOAD);
    const size = new DataView(attr.buffer, attr.byteOffset).getUint32(16, true);
    const at = Number(new DataView(attr.buffer, attr.byteOffset).getBigUint64(0, true));
    assert.deepEqual(read(at, size), blob);
    return 9;
  });
  assert.equal(btfLoad(sys, blob), 9);
});

test("staging: element lookups copy the value back only on success", () => {
  let found = true;
  const sys = memoryKernel((cmd, attr, read) => {
    const key = read(Number(getU64(MAP_LOOKUP_ELEM, attr, "key")), 4);
    if (cmd === BPF_CMD.MAP_UPDATE_ELEM || cmd === BPF_CMD.MAP_DELETE_ELEM) {
      return key[0] === 1 ? 0 : -2;
    }
    if (!found) return -2;
    // The kernel writes value_size (2) bytes; the caller's buffer is larger.
    const value = read(Number(getU64(MAP_LOOKUP_ELEM, attr, "value")), 2);
    value[0] = 0xaa;
    value[1] = 0xbb;
    return 0;
  });
  const key = new Uint8Array([1, 0, 0, 0]);
  const value = new Uint8Array([1, 2, 3, 4]);
  assert.equal(mapLookup(sys, 3, key, value), true);
  assert.deepEqual(value, new Uint8Array([0xaa, 0xbb, 3, 4]));
  found = false;
  const untouched = new Uint8Array([9, 9, 9, 9]);
  assert.equal(mapLookup(sys, 3, key, untouched), false);
  assert.deepEqual(untouched, new Uint8Array([9, 9, 9, 9]));
  mapUpdate(sys, 3, key, value);
  assert.equal(mapDelete(sys, 3, new Uint8Array([2, 0, 0, 0])), false);
  assert.throws(() => mapLookup(sys, -1, key, value), KernelError);
});

test("attr: u64 fields take numbers and bigints alike, negatives as two's complement", () => {
  for (const v of [0, 1, 0xffffffff, 0x1_0000_0000, 2 ** 53 - 1, -1, -(2 ** 40)]) {
    const a = encodeAttr(MAP_CREATE, { map_extra: v });
    const b = encodeAttr(MAP_CREATE, { map_extra: BigInt(v) });
    assert.deepEqual(a, b, String(v));
    assert.equal(getU64(MAP_CREATE, a, "map_extra"), BigInt.asUintN(64, BigInt(v)));
  }
  const view = new DataView(new ArrayBuffer(8));
  assert.equal(writeU64(view, 0, 1.5), false);
  assert.equal(writeU64(view, 0, 1n << 64n), false);
  assert.throws(() => encodeAttr(MAP_CREATE, { map_extra: 2 ** 60 }), KernelError);
  assert.throws(
    () => mapCreate(fakeSys(), { map_type: 1.5, key_size: 4, value_size: 4, max_entries: 1 }),
    KernelError,
  );
  assert.throws(
    () =>
      mapCreate(
        fakeSys(),
        {
          map_type: 1,
          key_size: 4,
          value_size: 4,
          max_entries: 1,
          colour: 1,
        } as unknown as MapCreateAttrs,
      ),
    (err: unknown) => err instanceof KernelError && err.code === "KERNEL_BAD_ATTR",
  );
});

function fakeSys(): Syscalls {
  return { runtime: "deno", bpf: () => 3, close: () => 0, address: () => 0x1000n };
}

test(
  "kernel: many map ops and loads through the staging area",
  { skip: kernelSkipReason() },
  () => {
    const sys = syscalls();
    const fd = mapCreate(sys, { map_type: 1, key_size: 4, value_size: 64, max_entries: 64 });
    try {
      const value = new Uint8Array(64);
      for (let i = 0; i < 64; i++) {
        value.fill(i);
        mapUpdate(sys, fd, new Uint8Array([i, 0, 0, 0]), value);
      }
      const out = new Uint8Array(64);
      for (let i = 0; i < 64; i++) {
        assert.equal(mapLookup(sys, fd, new Uint8Array([i, 0, 0, 0]), out), true);
        assert.ok(out.every((b) => b === i));
      }
      const prog = progLoad(sys, {
        prog_type: 1,
        insns: INSNS,
        license: "GPL",
        prog_name: "staged",
      });
      closeFd(sys, prog);
    } finally {
      closeFd(sys, fd);
    }
  },
);
