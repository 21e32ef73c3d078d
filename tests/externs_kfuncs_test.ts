// The kfuncs plugin: vmlinux and module kfuncs (fake /sys/kernel/btf),
// libbpf's poison for weak missing ones, the fd_array the kernel backend
// builds for module kfuncs (fake Syscalls), and real loads.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Loader, TsbpfError } from "../mod.ts";
import { KernelBtfCache } from "../backends/kernel/kernel_btf.ts";
import { loadCollection } from "../backends/kernel/loader.ts";
import { loadVmCollection } from "../backends/vm/collection.ts";
import {
  btfGetNextId,
  btfObjectInfo,
  kfuncFdArray,
  ModuleBtfObjects,
} from "../backends/kernel/btf_objects.ts";
import { BPF_CMD } from "../backends/kernel/attr.ts";
import type { Syscalls } from "../backends/kernel/syscalls.ts";
import { BPF_PSEUDO_KFUNC_CALL, isCall, isKfuncCall } from "../isa/opcodes.ts";
import type { Instruction } from "../isa/instruction.ts";
import {
  kfuncsPlugin,
  type KsymsOptions,
  POISON_CALL_KFUNC_BASE,
  unresolvedReason,
} from "../plugins/externs/mod.ts";
import { readFixture } from "./_util.ts";
import { kernelSkipReason } from "./_kernel_util.ts";
import { fakeKernelBtfDir } from "./_externs_util.ts";

const KFUNC_O = "externs/kfunc.o";

function code(want: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof TsbpfError, `want a TsbpfError, got ${err}`);
    assert.equal(err.code, want, err.message);
    return true;
  };
}

function loader(options: KsymsOptions): Loader {
  return Loader.create([kfuncsPlugin(options)]);
}

function calls(insns: Instruction[]): Instruction[] {
  return insns.filter((i) =>
    isCall(i) && (i.reference !== undefined || i.imm >= POISON_CALL_KFUNC_BASE)
  );
}

test("kfuncs: vmlinux kfuncs get their FUNC id, offset 0; a weak missing one is poisoned", async () => {
  const cache = new KernelBtfCache({ dir: fakeKernelBtfDir() });
  const spec = await loader({ kernelBtf: cache }).loadSpec(readFixture(KFUNC_O));
  const vmlinux = cache.vmlinux();
  const [fromPid, release] = calls(spec.programs.get("task_from_pid")!.instructions);
  for (
    const [ins, name] of [[fromPid, "bpf_task_from_pid"], [release, "bpf_task_release"]] as const
  ) {
    assert.equal(ins.src, BPF_PSEUDO_KFUNC_CALL);
    assert.equal(ins.imm, vmlinux.idsByName(name)[0]);
    assert.equal(ins.offset, 0);
    assert.equal(ins.btfModule, "vmlinux");
    assert.equal(ins.reference, name);
  }
  const [poisoned] = calls(spec.programs.get("weak_kfunc")!.instructions);
  // libbpf's extern order: bpf_task_from_pid, bpf_task_release, tsbpf_no_such_kfunc.
  assert.deepEqual(
    [poisoned.src, poisoned.dst, poisoned.offset, poisoned.imm, poisoned.reference],
    [0, 0, 0, POISON_CALL_KFUNC_BASE + 2, undefined],
  );
});

test("kfuncs: module kfuncs get fd_array indices from 1, in the order modules are met", async () => {
  const cache = new KernelBtfCache({
    dir: fakeKernelBtfDir({ fromPid: "mod_b", release: "mod_a" }),
  });
  assert.deepEqual(cache.moduleNames(), ["mod_a", "mod_b"]);
  const spec = await loader({ kernelBtf: cache }).loadSpec(readFixture(KFUNC_O));
  const [fromPid, release] = calls(spec.programs.get("task_from_pid")!.instructions);
  assert.deepEqual([fromPid.btfModule, fromPid.offset], ["mod_b", 1]);
  assert.equal(fromPid.imm, cache.module("mod_b").idsByName("bpf_task_from_pid")[0]);
  assert.ok(fromPid.imm > cache.vmlinux().lastId, "a split BTF id, past vmlinux's");
  assert.deepEqual([release.btfModule, release.offset], ["mod_a", 2]);
  assert.equal(release.imm, cache.module("mod_a").idsByName("bpf_task_release")[0]);

  // The kernel backend's fd_array for that program.
  const fds: Record<string, number> = { mod_a: 41, mod_b: 42 };
  const arr = kfuncFdArray(spec.programs.get("task_from_pid")!.instructions, (m) => fds[m]);
  assert.deepEqual([...arr!], [0, 42, 41]);
  assert.equal(kfuncFdArray(spec.programs.get("weak_kfunc")!.instructions, () => 1), undefined);
});

test("kfuncs: a strong kfunc missing stays unresolved, quoted by both backends", async () => {
  const cache = new KernelBtfCache({ dir: fakeKernelBtfDir({ release: "mod_a" }) });
  // Without modules listed the module's kfunc can't be found.
  const noModules = {
    vmlinux: () => cache.vmlinux(),
    module: () => cache.module("x"),
    moduleNames: () => [],
  };
  const spec = await loader({ kernelBtf: noModules }).loadSpec(readFixture(KFUNC_O));
  const release = calls(spec.programs.get("task_from_pid")!.instructions)[1];
  assert.ok(isKfuncCall(release) && release.btfModule === undefined);
  assert.match(
    unresolvedReason(spec.metadata, "bpf_task_release") ?? "",
    /extern \(func ksym\) bpf_task_release: not found in kernel or module BTFs/,
  );
  assert.throws(() => loadVmCollection(spec, { programs: ["task_from_pid"] }), (err) => {
    code("VM_UNRESOLVED_EXTERN")(err);
    assert.match((err as Error).message, /kfunc "bpf_task_(from_pid|release)"/);
    return true;
  });
  await assert.rejects(
    loader({ kernelBtf: noModules, strict: true }).loadSpec(readFixture(KFUNC_O)),
    code("EXTERN_UNRESOLVED"),
  );
});

test("kfuncs: without the plugin, link can't tell a kfunc from a missing BPF function", async () => {
  await assert.rejects(
    Loader.create([], { withoutExterns: true }).loadSpec(readFixture(KFUNC_O)),
    code("LINK_UNKNOWN_FUNCTION"),
  );
});

/** Syscalls that know three BTF objects and record what they were asked. */
function fakeBtfSyscalls(objects: { id: number; name: string; kernel: boolean }[]) {
  const buffers = new Map<bigint, Uint8Array>();
  let next = 1n;
  const open = new Map<number, number>(); // fd -> id
  let fdSeq = 100;
  const closed: number[] = [];
  const sys: Syscalls = {
    runtime: "deno",
    address(buf) {
      const a = next++;
      buffers.set(a, buf);
      return a;
    },
    close(fd) {
      open.delete(fd);
      closed.push(fd);
      return 0;
    },
    bpf(cmd, attr) {
      const v = new DataView(attr.buffer, attr.byteOffset, attr.byteLength);
      switch (cmd) {
        case BPF_CMD.BTF_GET_NEXT_ID: {
          const start = v.getUint32(0, true);
          const o = objects.find((x) => x.id > start);
          if (o === undefined) return -2;
          v.setUint32(4, o.id, true);
          return 0;
        }
        case BPF_CMD.BTF_GET_FD_BY_ID: {
          const id = v.getUint32(0, true);
          if (!objects.some((x) => x.id === id)) return -2;
          const fd = fdSeq++;
          open.set(fd, id);
          return fd;
        }
        case BPF_CMD.OBJ_GET_INFO_BY_FD: {
          const o = objects.find((x) => x.id === open.get(v.getUint32(0, true)))!;
          const info = buffers.get(v.getBigUint64(8, true))!;
          const iv = new DataView(info.buffer, info.byteOffset, info.byteLength);
          iv.setUint32(12, o.id, true);
          iv.setUint32(28, o.kernel ? 1 : 0, true);
          const name = buffers.get(iv.getBigUint64(16, true))!;
          name.set(new TextEncoder().encode(o.name));
          return 0;
        }
        default:
          return -22;
      }
    },
  };
  return { sys, open, closed };
}

test("btf_objects: module BTF objects are found by name, cached by id, and closed", () => {
  const objects = [
    { id: 1, name: "vmlinux", kernel: true },
    { id: 7, name: "", kernel: false },
    { id: 9, name: "mod_a", kernel: true },
    { id: 12, name: "mod_b", kernel: true },
  ];
  const { sys, open, closed } = fakeBtfSyscalls(objects);
  assert.equal(btfGetNextId(sys, 9), 12);
  assert.equal(btfGetNextId(sys, 12), undefined);
  const mods = new ModuleBtfObjects(sys);
  const fdB = mods.fd("mod_b");
  assert.equal(open.get(fdB), 12);
  assert.deepEqual(btfObjectInfo(sys, fdB), { id: 12, name: "mod_b", kernelBtf: true });
  assert.equal(mods.fd("mod_b"), fdB, "one fd per module per load");
  assert.equal(open.size, 1, "the others were closed while scanning");
  const fdA = mods.fd("mod_a"); // from the id cache the scan filled
  assert.equal(open.get(fdA), 9);
  const arr = kfuncFdArray([
    { opcode: 0x85, dst: 0, src: BPF_PSEUDO_KFUNC_CALL, offset: 2, imm: 5, btfModule: "mod_a" },
    { opcode: 0x85, dst: 0, src: BPF_PSEUDO_KFUNC_CALL, offset: 1, imm: 6, btfModule: "mod_b" },
    { opcode: 0x85, dst: 0, src: BPF_PSEUDO_KFUNC_CALL, offset: 0, imm: 7, btfModule: "vmlinux" },
  ], (m) => mods.fd(m));
  assert.deepEqual([...arr!], [0, fdB, fdA]);
  assert.throws(() => mods.fd("nope"), code("KERNEL_NO_MODULE_BTF"));
  mods.close();
  assert.equal(open.size, 0);
  assert.ok(closed.includes(fdA) && closed.includes(fdB));
  assert.throws(
    () =>
      kfuncFdArray(
        [{ opcode: 0x85, dst: 0, src: 2, offset: 0, imm: 5, btfModule: "mod_a" }],
        () => 3,
      ),
    code("KERNEL_BAD_KFUNC"),
  );
});

test("kfuncs: the kernel loads and runs a vmlinux kfunc program and a guarded weak kfunc", {
  skip: kernelSkipReason(),
}, async () => {
  const spec = await Loader.create().loadSpec(readFixture(KFUNC_O));
  assert.equal(spec.metadata.externs, undefined);
  using coll = await loadCollection(spec);
  assert.equal(coll.programs.get("task_from_pid")!.run(new Uint8Array(0)).retval, 1);
  assert.equal(coll.programs.get("weak_kfunc")!.run(new Uint8Array(0)).retval, 2);
});

test("kfuncs: the VM runs a guarded weak kfunc's program and refuses kernel functions", async () => {
  const spec = await Loader.create([
    kfuncsPlugin({ kernelBtf: new KernelBtfCache({ dir: fakeKernelBtfDir() }) }),
  ])
    .loadSpec(readFixture(KFUNC_O));
  assert.throws(() => loadVmCollection(spec, { programs: ["task_from_pid"] }), (err) => {
    code("VM_UNRESOLVED_EXTERN")(err);
    assert.match(
      (err as Error).message,
      /kfunc "bpf_task_from_pid".*kernel function \(BTF ID \d+ of vmlinux\)/,
    );
    return true;
  });
  using coll = loadVmCollection(spec, { programs: ["weak_kfunc"] });
  assert.equal(Number(coll.programs.get("weak_kfunc")!.run(new Uint8Array(0)).retval), 2);
});
