/**
 * The runtime FFI adapter (`ffi_deno.ts` / `ffi_bun.ts`) against the real
 * kernel: return values, errno, and addresses the kernel can use later.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { syscalls } from "../backends/kernel/syscalls.ts";
import { closeFd, mapCreate, mapUpdate } from "../backends/kernel/sys.ts";
import { ERRNO } from "../backends/kernel/errors.ts";
import { MapType } from "../collection/types.ts";
import { kernelSkipReason } from "./_kernel_util.ts";

const skip = kernelSkipReason();
const BPF_MAP_LOOKUP_ELEM = 1;
/** A command number past every one the kernel knows: EINVAL, quickly. */
const BAD_CMD = 63;

test(
  "ffi: bpf(2) with an unknown command is -EINVAL, close of a bad fd is -EBADF",
  { skip },
  () => {
    const sys = syscalls();
    assert.equal(sys.bpf(BAD_CMD, new Uint8Array(128)), -ERRNO.EINVAL);
    assert.equal(sys.close(-1), -ERRNO.EBADF);
    // errno is read fresh for every failure, not left over from the last one.
    assert.equal(sys.bpf(BAD_CMD, new Uint8Array(8)), -ERRNO.EINVAL);
    assert.equal(sys.close(0x7ffffff0), -ERRNO.EBADF);
  },
);

test("ffi: address() is stable per buffer and offset-aware", { skip }, () => {
  const sys = syscalls();
  const buf = new Uint8Array(16);
  const base = sys.address(buf);
  assert.ok(base > 0n);
  assert.equal(sys.address(buf.subarray(4)), base + 4n);
  void buf.buffer;
  assert.equal(sys.address(buf), base, "asking for buffer does not move it afterwards");
  assert.equal(sys.address(new Uint8Array(0)), 0n);
});

test("ffi: the kernel writes through an address() of a small fresh array", { skip }, () => {
  const sys = syscalls();
  const fd = mapCreate(sys, {
    map_type: MapType.ARRAY,
    key_size: 4,
    value_size: 8,
    max_entries: 4,
  });
  try {
    mapUpdate(sys, fd, new Uint8Array([2, 0, 0, 0]), new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    for (let i = 0; i < 200; i++) {
      // Fresh small arrays each time: the case where a pointer taken too
      // early would point at bytes the array no longer uses.
      const key = new Uint8Array([2, 0, 0, 0]);
      const value = new Uint8Array(8);
      const attr = new Uint8Array(32);
      const view = new DataView(attr.buffer);
      view.setUint32(0, fd, true);
      view.setBigUint64(8, sys.address(key), true);
      view.setBigUint64(16, sys.address(value), true);
      assert.equal(sys.bpf(BPF_MAP_LOOKUP_ELEM, attr), 0);
      assert.deepEqual([...value], [1, 2, 3, 4, 5, 6, 7, 8]);
    }
  } finally {
    closeFd(sys, fd);
  }
});
