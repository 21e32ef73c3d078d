import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { BtfKind } from "../btf/types.ts";
import { kernelBtf } from "../backends/kernel/kernel_btf.ts";
import { loadCollection } from "../backends/kernel/mod.ts";
import type { CollectionSpec } from "../collection/spec.ts";
import { TsbpfError } from "../errors/mod.ts";
import { Loader } from "../plugins/mod.ts";
import { type CoreLoadOptions, specFromContext } from "../stages/mod.ts";
import { kernelSkipReason } from "./_kernel_util.ts";
import { haveCommand, readFixture } from "./_util.ts";

const FILE = "core/core_kernel.o";
const NO_VMLINUX = existsSync("/sys/kernel/btf/vmlinux") ? undefined : "no /sys/kernel/btf/vmlinux";
const KERNEL = kernelSkipReason() ?? NO_VMLINUX;

async function load(core?: CoreLoadOptions): Promise<CollectionSpec> {
  const loader = Loader.create();
  const ctx = await loader.pipeline.runContext(readFixture(FILE), {
    ...loader.loadOptions,
    ...(core === undefined ? {} : { core }),
  });
  return specFromContext(ctx);
}

function only(spec: CollectionSpec, name: string): CollectionSpec {
  const s = spec.copy();
  for (const p of s.programs.values()) p.autoload = p.name === name;
  return s;
}

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

test("core kernel: task_struct.pid resolves to vmlinux's offset (as bpftool dumps it)", {
  skip: NO_VMLINUX,
}, async () => {
  const spec = await load();
  const results = spec.programs.get("guarded")!.coreRelocations!;
  const pid = results.find((r) => r.spec.startsWith("struct task_struct.pid "))!;
  const vmlinux = kernelBtf();
  const task = vmlinux.typeByName("task_struct", BtfKind.STRUCT);
  assert.equal(task.kind, BtfKind.STRUCT);
  const member = task.kind === BtfKind.STRUCT ? task.members.find((m) => m.name === "pid")! : null;
  assert.equal(pid.newValue, BigInt(member!.bitOffset / 8));
  assert.equal(pid.target?.btf, "vmlinux");
  assert.equal(pid.target?.typeId, task.id);
  if (haveCommand("bpftool")) {
    const dump = spawnSync("bpftool", ["btf", "dump", "file", "/sys/kernel/btf/vmlinux"], {
      encoding: "utf8",
      maxBuffer: 1 << 30,
    }).stdout;
    const start = dump.indexOf(`[${task.id}] STRUCT 'task_struct'`);
    const bits = /'pid' type_id=\d+ bits_offset=(\d+)/.exec(dump.slice(start))![1];
    assert.equal(pid.newValue, BigInt(Number(bits) / 8));
  }
});

test("core kernel: task_struct___old.state is missing: field_exists 0, the read poisoned", {
  skip: NO_VMLINUX,
}, async () => {
  const spec = await load();
  const results = spec.programs.get("guarded")!.coreRelocations!;
  const exists = results.find((r) => r.kindName === "field_exists")!;
  assert.equal(exists.spec, "struct task_struct___old.state (0:0 @ offset 0)");
  assert.equal(exists.newValue, 0n);
  assert.equal(exists.reason, 'no field "state" in target struct task_struct');
  const read = results.find((r) => r.kindName === "byte_off" && r.spec.includes("___old"))!;
  assert.equal(read.status, "poisoned");
});

test("core kernel: the guarded program loads into the kernel", { skip: KERNEL }, async () => {
  const fds = openFds();
  {
    using coll = await loadCollection(only(await load(), "guarded"));
    assert.ok(coll.programs.get("guarded")!.fd > 0);
  }
  assert.equal(openFds(), fds);
});

test("core kernel: a reached poisoned relocation is rejected and the error names it", {
  skip: KERNEL,
}, async () => {
  const fds = openFds();
  const spec = only(await load(), "unguarded");
  await assert.rejects(loadCollection(spec), (err: unknown) => {
    assert.ok(err instanceof TsbpfError);
    assert.equal(err.code, "KERNEL_VERIFIER");
    assert.match(
      err.message,
      /insn #1: relocation byte_off of struct task_struct___old\.state \(0:0\) failed: no field "state" in target struct task_struct/,
    );
    assert.match(err.message, /invalid func unknown#195896080/);
    assert.match((err as { coreExplanation?: string }).coreExplanation!, /^insn #1: /);
    return true;
  });
  assert.equal(openFds(), fds);
});

test("core kernel: a program with unresolved relocations is refused before bpf(2)", {
  skip: KERNEL,
}, async () => {
  const fds = openFds();
  const spec = only(await load({ btf: "/nonexistent/btf" }), "guarded");
  await assert.rejects(loadCollection(spec), (err: unknown) => {
    assert.ok(err instanceof TsbpfError);
    assert.equal(err.code, "KERNEL_CORE_UNRESOLVED");
    assert.match(err.message, /program guarded|load program guarded/);
    assert.match(err.message, /unresolved: reading target BTF \/nonexistent\/btf/);
    return true;
  });
  assert.equal(openFds(), fds);
});
