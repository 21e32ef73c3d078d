/**
 * The libbpf-tools style objects (fixtures/tools/*.o) loaded into this
 * kernel: every object parses, every program the kernel accepts loads, and
 * every program it refuses fails alone (`optional: true`) with a clear,
 * typed error. Where libbpf (`bpftool prog loadall`) loads a whole object,
 * tsbpf must load all of it too.
 *
 * What the kernel refuses here (see fixtures/tools/README.md):
 * fentry/fexit trampolines (EPERM) and the typed per-CPU ksym `runqueues`
 * (the kernel looks its address up in kallsyms, which lacks data symbols
 * without CONFIG_KALLSYMS_ALL).
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { loadCollectionSpec } from "../mod.ts";
import type { CollectionSpec } from "../collection/spec.ts";
import { type KernelCollection, loadCollection } from "../backends/kernel/mod.ts";
import { kernelSkipReason } from "./_kernel_util.ts";
import { bpftoolSkipReason, loadAll, removePins } from "../tools/bpftool.ts";

const DIR = new URL("../fixtures/tools/", import.meta.url).pathname;
const SKIP = kernelSkipReason();

/** A refusal the kernel makes here, and how tsbpf must word it. */
interface ExpectedFailure {
  codes: string[];
  message: RegExp;
}

// EPERM for BTF trampolines: the loader's hint names fentry.
const TRAMPOLINE_EPERM: ExpectedFailure = {
  codes: ["KERNEL_SYSCALL"],
  message: /BPF_PROG_LOAD: EPERM .*fentry/,
};

/** Per object: programs the kernel refuses, and the `?` programs (autoload off). */
const EXPECT: Record<string, { fails?: Record<string, ExpectedFailure>; optional?: string[] }> = {
  "fentry.bpf.o": {
    fails: { do_unlinkat_entry: TRAMPOLINE_EPERM, do_unlinkat_exit: TRAMPOLINE_EPERM },
  },
  "optional.bpf.o": {
    fails: { fsync_fentry: TRAMPOLINE_EPERM },
    optional: ["fsync_fentry", "fsync_kprobe", "missing_kprobe"],
  },
  "runqueues.bpf.o": {
    fails: {
      rq_snapshot: {
        codes: ["KERNEL_VERIFIER"],
        message: /kernel symbol 'runqueues'/,
      },
    },
  },
};

function objects(): string[] {
  try {
    return readdirSync(DIR).filter((f) => f.endsWith(".o")).sort();
  } catch {
    return [];
  }
}

async function specOf(name: string): Promise<CollectionSpec> {
  return await loadCollectionSpec(new Uint8Array(readFileSync(join(DIR, name))));
}

// Every program not expected to fail loaded; every expected failure failed
// with its code and message; nothing else happened.
function checkReport(name: string, coll: KernelCollection, programs: string[]): void {
  const fails = EXPECT[name]?.fails ?? {};
  for (const prog of programs) {
    const entry = coll.report.find((r) => r.name === prog);
    assert.ok(entry !== undefined, `${name}: no report for ${prog}`);
    const want = fails[prog];
    if (want === undefined) {
      assert.equal(
        entry.status,
        "loaded",
        `${name}: ${prog}: ${entry.status}: ${entry.error?.message ?? entry.reason ?? ""}`,
      );
      assert.ok(coll.programs.has(prog));
      continue;
    }
    assert.equal(entry.status, "failed", `${name}: ${prog} should fail here`);
    const err = entry.error!;
    assert.ok(want.codes.includes(err.code), `${name}: ${prog}: code ${err.code}: ${err.message}`);
    assert.match(err.message, want.message, `${name}: ${prog}`);
    // The error names the program, so a report line stands on its own.
    assert.match(err.message, new RegExp(`load program ${prog}`));
    assert.ok(!coll.programs.has(prog));
  }
}

test("tools fixtures: at least 12 objects are built", () => {
  assert.ok(objects().length >= 12, `fixtures/tools has ${objects().length} objects`);
});

for (const name of objects()) {
  test(`tools fixtures: ${name}: autoloaded programs load, refusals are reported`, {
    skip: SKIP,
  }, async () => {
    const spec = await specOf(name);
    const optional = EXPECT[name]?.optional ?? [];
    for (const prog of optional) {
      assert.equal(spec.programs.get(prog)?.autoload, false, `${name}: ${prog} is a ? program`);
    }
    const auto = [...spec.programs.values()].filter((p) => p.autoload).map((p) => p.name);
    assert.deepEqual(
      auto.sort(),
      [...spec.programs.keys()].filter((p) => !optional.includes(p)).sort(),
    );
    const coll = await loadCollection(spec, { optional: true });
    try {
      checkReport(name, coll, auto);
      for (const prog of optional) {
        const entry = coll.report.find((r) => r.name === prog);
        assert.equal(entry?.status, "skipped");
        assert.equal(entry?.reason, "not-autoloaded");
      }
    } finally {
      coll.close();
    }
  });
}

test("tools fixtures: ? programs load when selected, the refused one fails alone", {
  skip: SKIP,
}, async () => {
  const name = "optional.bpf.o";
  const spec = await specOf(name);
  const wanted = EXPECT[name].optional!;
  const coll = await loadCollection(spec, { programs: wanted, optional: true });
  try {
    checkReport(name, coll, wanted);
    // The kprobe on a function this kernel lacks loads: kprobes resolve
    // their target only when attached.
    assert.ok(coll.programs.has("missing_kprobe"));
    assert.ok(!coll.programs.has("always"));
  } finally {
    coll.close();
  }
});

test("tools fixtures: a non-optional refused program fails the whole load", {
  skip: SKIP,
}, async () => {
  const spec = await specOf("fentry.bpf.o");
  await assert.rejects(loadCollection(spec), (err: Error & { code?: string }) => {
    assert.equal(err.code, "KERNEL_SYSCALL");
    assert.match(err.message, /load program do_unlinkat_entry: BPF_PROG_LOAD: EPERM/);
    return true;
  });
});

test("tools fixtures: kfuncs resolve: XDP finds its own task with bpf_task_from_pid", {
  skip: SKIP,
}, async () => {
  const spec = await specOf("kfunc.bpf.o");
  const coll = await loadCollection(spec, { programs: ["xdp_init_task"] });
  try {
    const { retval } = coll.programs.get("xdp_init_task")!.run(new Uint8Array(64));
    assert.equal(retval, 2); // XDP_PASS
    // 1: bpf_task_from_pid found the task running the program, tgid matching.
    assert.equal(coll.maps.get("seen")!.get(0), 1n);
  } finally {
    coll.close();
  }
});

const BPFTOOL_SKIP = SKIP ?? bpftoolSkipReason();

test("tools fixtures: every object libbpf loads whole, tsbpf loads whole", {
  skip: BPFTOOL_SKIP,
}, async () => {
  const pins = `/sys/fs/bpf/tsbpf_tools_test_${process.pid}`;
  const libbpfLoaded: string[] = [];
  const problems: string[] = [];
  try {
    for (const name of objects()) {
      const res = loadAll(join(DIR, name), pins);
      removePins(pins);
      if (res.error !== undefined) continue;
      libbpfLoaded.push(name);
      try {
        const coll = await loadCollection(await specOf(name));
        const loaded = [...coll.programs.keys()].sort();
        coll.close();
        // bpftool pins every program it loaded under its C function name.
        const want = res.programs.map((p) => p.name).sort();
        if (loaded.join() !== want.join()) {
          problems.push(`${name}: tsbpf loaded ${loaded.join(", ")}; libbpf ${want.join(", ")}`);
        }
      } catch (err) {
        problems.push(`${name}: ${(err as Error).message.split("\n")[0]}`);
      }
    }
  } finally {
    removePins(pins);
  }
  assert.deepEqual(problems, [], "objects libbpf loads but tsbpf doesn't");
  // libbpf loads all but fentry (EPERM), runqueues (kallsyms) and optional
  // (bpftool 7.1 can't pin `?` programs it didn't load).
  assert.ok(libbpfLoaded.length >= 12, `libbpf loaded ${libbpfLoaded.join(", ")}`);
});
