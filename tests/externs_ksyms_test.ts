// The ksyms plugin: typed ksyms resolved against kernel BTF (fake and
// real), typeless ones from kallsyms (fake and real), weak missing ones
// reading 0, and the kernel and VM backends with them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Loader, TsbpfError } from "../mod.ts";
import { KernelBtfCache } from "../backends/kernel/kernel_btf.ts";
import { loadCollection } from "../backends/kernel/loader.ts";
import { loadVmCollection } from "../backends/vm/collection.ts";
import { BPF_PSEUDO_BTF_ID, isLoadImm64 } from "../isa/opcodes.ts";
import type { ProgramSpec } from "../collection/spec.ts";
import {
  kallsymsAddress,
  type KsymsOptions,
  ksymsPlugin,
  parseKallsyms,
  readKallsyms,
  unresolvedReason,
} from "../plugins/externs/mod.ts";
import { readFixture } from "./_util.ts";
import { kernelSkipReason } from "./_kernel_util.ts";
import { fakeKernelBtfDir, fakeReader } from "./_externs_util.ts";

const KSYMS_O = "externs/ksyms.o";
const FAKE_KALLSYMS = [
  "ffffffff81000000 T _stext",
  "ffffffff8151a6c0 T bpf_check",
  "ffffffff8151a6c0 t bpf_check", // the same address twice is not ambiguous
  "ffffffffc0a01000 t mod_only_sym\t[some_mod]",
  "ffffffffc0a02000 t twice",
  "ffffffffc0a03000 t twice",
  "garbage line",
  "",
].join("\n");

function code(want: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof TsbpfError, `want a TsbpfError, got ${err}`);
    assert.equal(err.code, want, err.message);
    return true;
  };
}

function loads(p: ProgramSpec) {
  return p.instructions.filter(isLoadImm64);
}

function fakeOptions(extra: KsymsOptions = {}): KsymsOptions {
  return {
    kernelBtf: new KernelBtfCache({ dir: fakeKernelBtfDir() }),
    kallsymsPath: "/fake/kallsyms",
    readFile: fakeReader({ "/fake/kallsyms": new TextEncoder().encode(FAKE_KALLSYMS) }),
    ...extra,
  };
}

function loader(options: KsymsOptions): Loader {
  return Loader.create([ksymsPlugin(options)]);
}

test("ksyms: parseKallsyms finds wanted names, module symbols, and duplicate addresses", () => {
  const found = parseKallsyms(
    FAKE_KALLSYMS,
    new Set(["bpf_check", "mod_only_sym", "twice", "nope"]),
  );
  assert.equal(kallsymsAddress(found, "bpf_check"), 0xffffffff8151a6c0n);
  assert.equal(kallsymsAddress(found, "mod_only_sym"), 0xffffffffc0a01000n);
  assert.equal(kallsymsAddress(found, "nope"), undefined);
  assert.throws(() => kallsymsAddress(found, "twice"), (err) => {
    code("EXTERN_AMBIGUOUS")(err);
    assert.match((err as Error).message, /twice: resolution is ambiguous: 0xffffffffc0a02000 or/);
    return true;
  });
  assert.throws(
    () => readKallsyms(new Set(["x"]), { path: "/nope", readFile: fakeReader({}) }),
    code("EXTERN_NO_KERNEL_INFO"),
  );
});

test("ksyms: the real /proc/kallsyms has bpf_check", { skip: kernelSkipReason() }, () => {
  const found = readKallsyms(new Set(["bpf_check"]));
  const addr = kallsymsAddress(found, "bpf_check");
  // Unprivileged readers see zeros; root sees the kernel half.
  assert.ok(addr !== undefined);
});

test("ksyms: typed → BPF_PSEUDO_BTF_ID of the kernel VAR, typeless → kallsyms address, weak → 0", async () => {
  const options = fakeOptions();
  const spec = await loader(options).loadSpec(readFixture(KSYMS_O));
  const vmlinux = options.kernelBtf!.vmlinux();
  const [typed] = loads(spec.programs.get("typed_ksym")!);
  assert.equal(typed.src, BPF_PSEUDO_BTF_ID);
  assert.equal(typed.imm, vmlinux.idsByName("bpf_prog_active")[0]);
  assert.equal(typed.immHi, 0);
  assert.equal(typed.btfModule, "vmlinux");
  assert.equal(typed.reference, "bpf_prog_active");

  const [typeless] = loads(spec.programs.get("typeless_ksym")!);
  assert.equal(typeless.src, 0);
  assert.equal(typeless.reference, undefined);
  assert.equal(typeless.imm, 0x8151a6c0 | 0);
  assert.equal(typeless.immHi, 0xffffffff | 0);

  const weak = loads(spec.programs.get("weak_missing_ksyms")!);
  assert.equal(weak.length, 2);
  for (const ins of weak) {
    assert.deepEqual([ins.src, ins.imm, ins.immHi, ins.reference], [0, 0, 0, undefined]);
  }
  assert.equal(spec.metadata.externs, undefined, "nothing left unresolved");
});

test("ksyms: a strong ksym missing stays unresolved with why, or fails when strict", async () => {
  const options = fakeOptions({ readFile: fakeReader({ "/fake/kallsyms": new Uint8Array(0) }) });
  const spec = await loader(options).loadSpec(readFixture(KSYMS_O));
  assert.match(
    unresolvedReason(spec.metadata, "bpf_check") ?? "",
    /not resolved by the ksyms plugin: extern \(ksym\) bpf_check: not found in kallsyms/,
  );
  assert.throws(() => loadVmCollection(spec, { programs: ["typeless_ksym"] }), (err) => {
    code("VM_UNRESOLVED_EXTERN")(err);
    assert.match((err as Error).message, /bpf_check.*not found in kallsyms/);
    return true;
  });
  await assert.rejects(
    loader({ ...options, strict: true }).loadSpec(readFixture(KSYMS_O)),
    code("EXTERN_UNRESOLVED"),
  );
  const noBtf = await loader({
    ...options,
    kernelBtf: new KernelBtfCache({ dir: "/nonexistent/tsbpf" }),
  }).loadSpec(readFixture(KSYMS_O));
  assert.match(unresolvedReason(noBtf.metadata, "bpf_prog_active") ?? "", /no kernel BTF/);
});

test("ksyms: a kernel VAR of another type is an incompatibility error", async () => {
  const options = fakeOptions({
    kernelBtf: new KernelBtfCache({ dir: fakeKernelBtfDir({ progActiveIsStruct: true }) }),
  });
  await assert.rejects(loader(options).loadSpec(readFixture(KSYMS_O)), (err) => {
    code("EXTERN_INCOMPATIBLE")(err);
    assert.match(
      (err as Error).message,
      /bpf_prog_active: incompatible types, expected \[\d+\] int int, but vmlinux has \[\d+\] struct bpf_prog_active_t/,
    );
    return true;
  });
});

test("ksyms: the VM loads weak-missing ksyms and refuses typed ones, saying why", async () => {
  const spec = await loader(fakeOptions()).loadSpec(readFixture(KSYMS_O));
  {
    using coll = loadVmCollection(spec, { programs: ["weak_missing_ksyms"] });
    assert.equal(
      Number(coll.programs.get("weak_missing_ksyms")!.run(new Uint8Array(64)).retval),
      3,
    );
  }
  assert.throws(() => loadVmCollection(spec, { programs: ["typed_ksym"] }), (err) => {
    code("VM_UNRESOLVED_EXTERN")(err);
    assert.match(
      (err as Error).message,
      /bpf_prog_active.*kernel variable \(BTF ID \d+ of vmlinux\)/,
    );
    return true;
  });
});

test(
  "ksyms: the kernel loads typeless and weak ksyms; the typed one reaches the verifier by BTF ID",
  {
    skip: kernelSkipReason(),
  },
  async () => {
    const spec = await Loader.create().loadSpec(readFixture(KSYMS_O));
    assert.equal(spec.metadata.externs, undefined);
    {
      using coll = await loadCollection(spec, {
        programs: ["typeless_ksym", "weak_missing_ksyms"],
      });
      // A kernel text address has its top bit set.
      assert.equal(coll.programs.get("typeless_ksym")!.run(new Uint8Array(64)).retval, 1);
      assert.equal(coll.programs.get("weak_missing_ksyms")!.run(new Uint8Array(64)).retval, 3);
    }
    // Per-CPU data symbols are only in kallsyms with CONFIG_KALLSYMS_ALL: where
    // it is off the kernel refuses by name, which shows the BTF ID was right.
    try {
      using coll = await loadCollection(spec, { programs: ["typed_ksym"], logLevel: 1 });
      assert.ok(coll.programs.get("typed_ksym")!.run(new Uint8Array(64)).retval >= 1);
    } catch (err) {
      assert.ok(err instanceof TsbpfError, String(err));
      assert.match(err.message, /kernel symbol 'bpf_prog_active'/);
    }
  },
);
