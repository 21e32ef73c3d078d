// attachTo overrides for tracing programs, before load: by editing the
// spec, by the loader's `attachTo` option, and by the config's
// `programs.attachTo`. tp_btf (BPF_TRACE_RAW_TP) loads here; fentry is
// refused with EPERM on this machine, so its error path is what is tested.
// Against the real kernel, under Deno and Bun.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { loadCollectionSpec } from "../mod.ts";
import type { CollectionSpec } from "../collection/spec.ts";
import { KernelError, loadCollection, SyscallError } from "../backends/kernel/mod.ts";
import { configPlugin, resolveConfig } from "../config/mod.ts";
import { ConfigError } from "../errors/mod.ts";
import { Loader } from "../plugins/mod.ts";
import { kernelSkipReason } from "./_kernel_util.ts";
import { readFixture } from "./_util.ts";

const skip = kernelSkipReason() ?? false;
const BYTES = readFixture("select/attach_targets.o");

async function spec(): Promise<CollectionSpec> {
  return await loadCollectionSpec(BYTES);
}

function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

function rejectsNoTarget(target: string, program: string) {
  return (err: unknown) => {
    assert.ok(err instanceof KernelError);
    assert.equal(err.code, "KERNEL_NO_ATTACH_TARGET");
    assert.equal(
      err.message,
      `load program ${program}: attach target ${JSON.stringify(target)}: ` +
        `no typedef btf_trace_${target} in the kernel's BTF`,
    );
    return true;
  };
}

test("select attach: tp_btf loads against its section's tracepoint", { skip }, async () => {
  using coll = await loadCollection(await spec(), { programs: ["tp_switch"] });
  assert.equal(coll.programs.get("tp_switch")!.info().name, "tp_switch");
});

test(
  "select attach: a missing tp_btf target is KERNEL_NO_ATTACH_TARGET naming it",
  { skip },
  async () => {
    await assert.rejects(
      loadCollection(await spec(), { programs: ["tp_missing"] }),
      rejectsNoTarget("tsbpf_no_such_tracepoint", "tp_missing"),
    );
  },
);

test("select attach: spec.programs.get(n).attachTo is honoured", { skip }, async () => {
  const s = await spec();
  s.programs.get("tp_missing")!.attachTo = "sched_wakeup";
  using coll = await loadCollection(s, { programs: ["tp_missing"] });
  assert.equal(coll.report[1].status, "loaded");
  const bad = await spec();
  bad.programs.get("tp_switch")!.attachTo = "not_a_tracepoint";
  await assert.rejects(
    loadCollection(bad, { programs: ["tp_switch"] }),
    rejectsNoTarget("not_a_tracepoint", "tp_switch"),
  );
});

test("select attach: the attachTo option wins over the spec", { skip }, async () => {
  const s = await spec();
  {
    using coll = await loadCollection(s, {
      programs: ["tp_switch", "tp_missing"],
      attachTo: { tp_missing: "sched_process_exit" },
    });
    assert.deepEqual([...coll.programs.keys()], ["tp_switch", "tp_missing"]);
  }
  assert.equal(s.programs.get("tp_missing")!.attachTo, "tsbpf_no_such_tracepoint"); // unchanged
  await assert.rejects(
    loadCollection(s, { programs: ["tp_switch"], attachTo: { tp_switch: "nope_tp" } }),
    rejectsNoTarget("nope_tp", "tp_switch"),
  );
  await assert.rejects(
    loadCollection(s, { attachTo: { ghost: "sched_switch" } }),
    (err: unknown) =>
      err instanceof KernelError && err.code === "KERNEL_NO_PROGRAM" &&
      err.message.startsWith('options.attachTo: no program "ghost"'),
  );
});

test(
  "select attach: fentry is refused here (EPERM), or loads where trampolines work",
  { skip },
  async () => {
    const s = await spec();
    const before = fdCount();
    try {
      using coll = await loadCollection(s, { programs: ["fentry_sleep"] });
      assert.equal(coll.programs.size, 1);
    } catch (err) {
      assert.ok(err instanceof SyscallError, String(err));
      assert.equal(err.errnoName, "EPERM");
      assert.match(err.message, /^load program fentry_sleep: BPF_PROG_LOAD: EPERM/);
    }
    // A missing fentry target fails before bpf(2), naming the function.
    await assert.rejects(
      loadCollection(s, { programs: ["fentry_sleep"], attachTo: { fentry_sleep: "no_such_fn" } }),
      (err: unknown) =>
        err instanceof KernelError && err.code === "KERNEL_NO_ATTACH_TARGET" &&
        err.message ===
          `load program fentry_sleep: attach target "no_such_fn": no function no_such_fn in the kernel's BTF`,
    );
    assert.equal(fdCount(), before);
  },
);

test("select attach: optional tracing programs that fail are reported, tp_btf still loads", {
  skip,
}, async () => {
  using coll = await loadCollection(await spec(), { optional: true });
  const status = coll.report.map((r) => `${r.name}:${r.status}:${r.error?.code ?? ""}`);
  assert.equal(status[0], "tp_switch:loaded:");
  assert.equal(status[1], "tp_missing:failed:KERNEL_NO_ATTACH_TARGET");
  assert.ok(
    ["fentry_sleep:failed:KERNEL_SYSCALL", "fentry_sleep:loaded:"].includes(status[2]),
    status[2],
  );
});

test("select attach: config programs.attachTo sets ProgramSpec.attachTo", { skip }, async () => {
  const loader = Loader.create([configPlugin({
    programs: { exclude: [], attachTo: { tp_missing: "sched_switch" } },
    maps: {},
    constants: {},
  })]);
  const s = await loader.loadSpec(BYTES);
  assert.equal(s.programs.get("tp_missing")!.attachTo, "sched_switch");
  using coll = await loadCollection(s, { programs: ["tp_missing"] });
  assert.equal(coll.programs.size, 1);
});

test("select attach: config programs.attachTo naming no program is CONFIG_UNKNOWN_PROGRAM", async () => {
  const loader = Loader.create([configPlugin({
    programs: { exclude: [], attachTo: { ghost: "sched_switch" } },
    maps: {},
    constants: {},
  })]);
  await assert.rejects(loader.loadSpec(BYTES), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, "CONFIG_UNKNOWN_PROGRAM");
    assert.match(err.message, /programs\.attachTo\.ghost: no program of that name/);
    return true;
  });
});

test("select attach: the config file's programs.attachTo is validated and resolved", async () => {
  const resolved = await resolveConfig(
    { programs: { attachTo: { tp_switch: "sched_wakeup" } } },
    { baseDir: "." },
  );
  assert.deepEqual(resolved.programs, {
    include: undefined,
    exclude: [],
    attachTo: { tp_switch: "sched_wakeup" },
  });
  await assert.rejects(
    resolveConfig({ programs: { attachTo: { tp_switch: 3 } } } as never, { baseDir: "." }),
    (err: unknown) =>
      err instanceof ConfigError && err.code === "CONFIG_TYPE" &&
      err.path === "programs.attachTo.tp_switch",
  );
  await assert.rejects(
    resolveConfig({ programs: { attachTo: { tp_switch: "" } } }, { baseDir: "." }),
    (err: unknown) => err instanceof ConfigError && err.path === "programs.attachTo.tp_switch",
  );
});
