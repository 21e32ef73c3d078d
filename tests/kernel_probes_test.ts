import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Btf } from "../btf/btf.ts";
import { BtfBuilder } from "../btf/builder.ts";
import { marshalBtf } from "../btf/marshal.ts";
import type { SanitizeOptions } from "../btf/sanitize.ts";
import { BtfKind } from "../btf/types.ts";
import { CollectionSpec, ProgramSpec } from "../collection/spec.ts";
import { MapType, ProgramType } from "../collection/types.ts";
import { BtfError, TsbpfError } from "../errors/mod.ts";
import { loadCollectionSpec } from "../mod.ts";
import { KernelError, SyscallError } from "../backends/kernel/errors.ts";
import { kernelBtf, KernelBtfCache } from "../backends/kernel/kernel_btf.ts";
import {
  BTF_FEATURES,
  btfProbeBlob,
  clearProbeCache,
  haveBoundedLoops,
  haveBpfToBpfCalls,
  haveBtf,
  haveBtfFeature,
  haveMapType,
  haveProgramHelper,
  haveProgramType,
  sanitizeOptionsForKernel,
} from "../backends/kernel/probes.ts";
import { funcAndLineInfo, loadObjectBtf, prepareObjectBtf } from "../backends/kernel/object_btf.ts";
import { type Syscalls, syscalls } from "../backends/kernel/syscalls.ts";
import { type AttrPayload, progLoad } from "../backends/kernel/sys.ts";
import { encodeInstructions } from "../isa/codec.ts";
import { fixtureObjects, readFixture } from "./_util.ts";

// ---------------------------------------------------------------- helpers

/** The real system calls, or why the kernel tests skip. */
function realSyscalls(): { sys?: Syscalls; skip?: string } {
  if (process.platform !== "linux") return { skip: "not Linux" };
  try {
    const sys = syscalls();
    // One cheap command that needs privileges: an array map.
    haveMapType(sys, MapType.ARRAY);
    return { sys };
  } catch (err) {
    return { skip: `kernel unavailable: ${(err as Error).message}` };
  }
}

const real = realSyscalls();
if (real.skip !== undefined) console.log(`kernel_probes_test: skipping kernel tests: ${real.skip}`);
const kernel = { skip: real.skip ?? false };

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Run `fn` and check it leaves as many fds open as it found. */
async function noLeak(fn: () => unknown): Promise<void> {
  const before = openFds();
  await fn();
  assert.equal(openFds(), before, "fd leak");
}

/** A fake bpf(2): answers every command with `answer(cmd)`; counts calls. */
function fakeSyscalls(answer: (cmd: number, attr: Uint8Array) => number) {
  const calls: number[] = [];
  let closes = 0;
  const sys: Syscalls = {
    runtime: "deno",
    bpf(cmd, attr) {
      calls.push(cmd);
      return answer(cmd, attr);
    },
    close() {
      closes++;
      return 0;
    },
    address() {
      return 0x1000n;
    },
  };
  return { sys, calls, closes: () => closes };
}

const EPERM = 1, EBADF = 9, EACCES = 13, EINVAL = 22;
const MAP_CREATE = 0, PROG_LOAD = 5, BTF_LOAD = 18;

function isCode(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof TsbpfError, `not a TsbpfError: ${err}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

// ---------------------------------------------------------------- probes, fake kernel

test("probes: EINVAL means unsupported, and the answer is cached per Syscalls", () => {
  const fake = fakeSyscalls(() => -EINVAL);
  assert.equal(haveMapType(fake.sys, MapType.HASH), false);
  assert.equal(haveMapType(fake.sys, MapType.HASH), false);
  assert.deepEqual(fake.calls, [MAP_CREATE]);
  assert.equal(haveProgramType(fake.sys, ProgramType.XDP), false);
  assert.equal(haveProgramType(fake.sys, ProgramType.XDP), false);
  assert.deepEqual(fake.calls, [MAP_CREATE, PROG_LOAD]);
  // A helper of an unsupported program type is unsupported, with no more loads.
  assert.equal(haveProgramHelper(fake.sys, ProgramType.XDP, 1), false);
  assert.equal(fake.calls.length, 2);
  // Another Syscalls instance probes again.
  const other = fakeSyscalls(() => -EINVAL);
  assert.equal(haveMapType(other.sys, MapType.HASH), false);
  assert.equal(other.calls.length, 1);
  clearProbeCache(fake.sys);
  haveMapType(fake.sys, MapType.HASH);
  assert.equal(fake.calls.length, 3);
});

test("probes: success closes the fd; EBADF counts only for map-in-map and local storage", () => {
  const ok = fakeSyscalls(() => 42);
  assert.equal(haveMapType(ok.sys, MapType.RINGBUF), true);
  assert.equal(ok.closes(), 1);
  const badf = fakeSyscalls(() => -EBADF);
  assert.equal(haveMapType(badf.sys, MapType.ARRAY_OF_MAPS), true);
  assert.equal(haveMapType(badf.sys, MapType.SK_STORAGE), true);
  assert.throws(() => haveMapType(badf.sys, MapType.HASH), isCode("KERNEL_PROBE"));
});

test("probes: EPERM is a KernelError saying what is needed, not a silent false", () => {
  const fake = fakeSyscalls(() => -EPERM);
  for (
    const probe of [
      () => haveMapType(fake.sys, MapType.HASH),
      () => haveProgramType(fake.sys, ProgramType.XDP),
      () => haveBtfFeature(fake.sys, "float"),
      () => sanitizeOptionsForKernel(fake.sys),
      () => haveBpfToBpfCalls(fake.sys),
      () => haveBoundedLoops(fake.sys),
    ]
  ) {
    assert.throws(probe, (err: unknown) => {
      assert.ok(err instanceof KernelError);
      assert.equal(err.code, "KERNEL_PROBE");
      assert.match(err.message, /EPERM.*CAP_BPF/);
      return true;
    });
  }
  // Errors are not cached: the next call asks the kernel again.
  const n = fake.calls.length;
  assert.throws(() => haveMapType(fake.sys, MapType.HASH));
  assert.equal(fake.calls.length, n + 1);
});

test("probes: helper rule by errno: EACCES or success available, EINVAL not", () => {
  // The plain program loads (fd 3); the one with the call answers per helper.
  const answers = new Map<number, number>([[1, -EACCES], [5, 7], [9, -EINVAL], [77, -EPERM]]);
  const fake = fakeSyscalls((cmd, attr) => {
    if (cmd !== PROG_LOAD) return -EINVAL;
    // insn_cnt at offset 4 of the PROG_LOAD attr: 2 for the plain program.
    const insnCnt = new DataView(attr.buffer, attr.byteOffset).getUint32(4, true);
    if (insnCnt === 2) return 3;
    // insns pointer is the fake address; the helper is read back from the last call's buffer.
    return answers.get(lastHelper) ?? -EINVAL;
  });
  let lastHelper = 0;
  const probe = (id: number) => {
    lastHelper = id;
    return haveProgramHelper(fake.sys, ProgramType.SCHED_CLS, id);
  };
  assert.equal(probe(1), true);
  assert.equal(probe(5), true);
  assert.equal(probe(9), false);
  assert.throws(() => probe(77), isCode("KERNEL_PROBE"));
  assert.throws(() => probe(0), isCode("KERNEL_PROBE_BAD_HELPER"));
  assert.throws(() => probe(1.5), isCode("KERNEL_PROBE_BAD_HELPER"));
});

test("probes: types that need attach targets have no probe", () => {
  const fake = fakeSyscalls(() => 3);
  for (const t of [ProgramType.TRACING, ProgramType.EXT, ProgramType.LSM, ProgramType.STRUCT_OPS]) {
    assert.throws(() => haveProgramType(fake.sys, t), isCode("KERNEL_PROBE_UNSUPPORTED"));
  }
  assert.throws(
    () => haveMapType(fake.sys, MapType.STRUCT_OPS),
    isCode("KERNEL_PROBE_UNSUPPORTED"),
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => haveBtfFeature(fake.sys, "nope" as any),
    isCode("KERNEL_PROBE_UNSUPPORTED"),
  );
  assert.equal(fake.calls.length, 0);
});

test("probes: BTF probe blobs parse and use their feature", () => {
  const kinds: Record<string, number> = {
    funcs: BtfKind.FUNC,
    funcLinkage: BtfKind.FUNC,
    datasec: BtfKind.DATASEC,
    qmarkDatasec: BtfKind.DATASEC,
    float: BtfKind.FLOAT,
    declTag: BtfKind.DECL_TAG,
    typeTag: BtfKind.TYPE_TAG,
    enum64: BtfKind.ENUM64,
  };
  for (const f of BTF_FEATURES) {
    const btf = Btf.parse(btfProbeBlob(f));
    if (f === "layout") {
      assert.equal(new DataView(btf.bytes.buffer, btf.bytes.byteOffset).getUint32(4, true), 32);
      continue;
    }
    assert.ok(
      [...btf.types()].some((t) => t.kind === kinds[f]),
      `${f} blob lacks kind ${kinds[f]}`,
    );
  }
  assert.equal(Btf.parse(btfProbeBlob("qmarkDatasec")).typeByName("?.data").kind, BtfKind.DATASEC);
});

test("probes: a kernel without BTF has no BTF features and object BTF is skipped", () => {
  const fake = fakeSyscalls((cmd) => cmd === BTF_LOAD ? -EINVAL : 3);
  assert.equal(haveBtf(fake.sys), false);
  const options = sanitizeOptionsForKernel(fake.sys);
  for (const f of BTF_FEATURES) assert.equal(options[f], false);
  assert.equal(fake.calls.length, 1, "one BTF probe only");
});

// ---------------------------------------------------------------- probes, real kernel

test("probes (kernel): map types", kernel, async () => {
  const sys = real.sys!;
  await noLeak(() => {
    clearProbeCache(sys);
    for (
      const t of [
        MapType.HASH,
        MapType.ARRAY,
        MapType.PROG_ARRAY,
        MapType.PERF_EVENT_ARRAY,
        MapType.STACK_TRACE,
        MapType.LPM_TRIE,
        MapType.ARRAY_OF_MAPS,
        MapType.HASH_OF_MAPS,
        MapType.CGROUP_STORAGE,
        MapType.QUEUE,
        MapType.STACK,
        MapType.SK_STORAGE,
        MapType.RINGBUF,
        MapType.INODE_STORAGE,
        MapType.TASK_STORAGE,
        MapType.BLOOM_FILTER,
        MapType.USER_RINGBUF,
        MapType.CGRP_STORAGE,
      ]
    ) {
      assert.equal(haveMapType(sys, t), true, `map type ${t}`);
    }
    assert.equal(haveMapType(sys, 999), false);
  });
});

test("probes (kernel): program types and helpers", kernel, async () => {
  const sys = real.sys!;
  await noLeak(() => {
    clearProbeCache(sys);
    for (
      const t of [
        ProgramType.SOCKET_FILTER,
        ProgramType.KPROBE,
        ProgramType.SCHED_CLS,
        ProgramType.XDP,
        ProgramType.CGROUP_SKB,
        ProgramType.CGROUP_SOCK_ADDR,
        ProgramType.CGROUP_SOCKOPT,
        ProgramType.SK_LOOKUP,
        ProgramType.SYSCALL,
        ProgramType.NETFILTER,
        ProgramType.CGROUP_SYSCTL,
        ProgramType.FLOW_DISSECTOR,
        ProgramType.SK_SKB,
        ProgramType.LWT_IN,
      ]
    ) {
      assert.equal(haveProgramType(sys, t), true, `program type ${t}`);
    }
    assert.equal(haveProgramType(sys, 999), false);
    // bpf_map_lookup_elem (takes args: EACCES), bpf_ktime_get_ns (no args: loads).
    assert.equal(haveProgramHelper(sys, ProgramType.XDP, 1), true);
    assert.equal(haveProgramHelper(sys, ProgramType.XDP, 5), true);
    // bpf_skb_store_bytes: tc has it, XDP doesn't.
    assert.equal(haveProgramHelper(sys, ProgramType.SCHED_CLS, 9), true);
    assert.equal(haveProgramHelper(sys, ProgramType.XDP, 9), false);
    assert.equal(haveProgramHelper(sys, ProgramType.XDP, 100000), false);
    assert.equal(haveBpfToBpfCalls(sys), true);
    assert.equal(haveBoundedLoops(sys), true);
  });
});

test("probes (kernel): BTF features of this kernel", kernel, async () => {
  const sys = real.sys!;
  await noLeak(() => {
    clearProbeCache(sys);
    const options = sanitizeOptionsForKernel(sys);
    console.log(`kernel BTF features: ${JSON.stringify(options)}`);
    // Linux ≥ 6.6 has every feature the sanitizer knows but the layout section.
    for (const f of BTF_FEATURES) {
      if (f !== "layout") assert.equal(options[f], true, f);
    }
    assert.equal(typeof options.layout, "boolean");
  });
});

// ---------------------------------------------------------------- kernel BTF

test("kernel BTF: read once, same object on every call", {
  skip: existsSync("/sys/kernel/btf/vmlinux") ? false : "no /sys/kernel/btf/vmlinux",
}, () => {
  let reads = 0;
  const cache = new KernelBtfCache({
    readFile(path) {
      reads++;
      return new Uint8Array(readFileSync(path));
    },
  });
  const a = cache.vmlinux();
  const b = cache.vmlinux();
  assert.equal(a, b);
  assert.equal(reads, 1);
  assert.equal(cache.reads, 1);
  assert.equal(a.typeByName("task_struct", BtfKind.STRUCT).kind, BtfKind.STRUCT);
  assert.equal(kernelBtf(), kernelBtf());
});

test("kernel BTF: modules are split BTF on vmlinux, cached per module", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-kbtf-"));
  try {
    const base = new BtfBuilder();
    const int = base.int("int", 4, { signed: true });
    base.struct("task", [{ name: "pid", type: int }]);
    writeFileSync(join(dir, "vmlinux"), marshalBtf(base));
    const baseBtf = Btf.parse(marshalBtf(base));
    const mod = new BtfBuilder({ base: baseBtf });
    mod.struct("nf_conn", [{ name: "mark", type: int }]);
    writeFileSync(join(dir, "nf_conntrack"), marshalBtf(mod));
    writeFileSync(join(dir, "broken"), new Uint8Array([1, 2, 3]));

    const cache = new KernelBtfCache({ dir });
    const m = cache.module("nf_conntrack");
    assert.equal(cache.module("nf_conntrack"), m);
    assert.equal(m.base, cache.vmlinux());
    assert.equal(m.firstId, 3);
    assert.equal(m.typeByName("nf_conn").id, 3);
    assert.equal(cache.reads, 2);

    assert.throws(() => cache.module("missing"), isCode("KERNEL_NO_BTF"));
    assert.throws(() => cache.module("../etc"), isCode("KERNEL_BAD_MODULE_NAME"));
    assert.throws(() => cache.module(""), isCode("KERNEL_BAD_MODULE_NAME"));
    assert.throws(() => cache.module("vmlinux"), isCode("KERNEL_BAD_MODULE_NAME"));
    assert.throws(() => cache.module("broken"), (err: unknown) => {
      assert.ok(err instanceof BtfError);
      assert.match(err.message, /^kernel BTF .*broken: /);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("kernel BTF: a kernel without BTF is KERNEL_NO_BTF", () => {
  const cache = new KernelBtfCache({ dir: "/nonexistent/tsbpf" });
  assert.throws(() => cache.vmlinux(), (err: unknown) => {
    assert.ok(err instanceof KernelError);
    assert.equal(err.code, "KERNEL_NO_BTF");
    assert.match(err.message, /CONFIG_DEBUG_INFO_BTF/);
    return true;
  });
  const failing = new KernelBtfCache({
    readFile() {
      throw Object.assign(new Error("boom"), { code: "EIO" });
    },
  });
  assert.throws(() => failing.vmlinux(), isCode("KERNEL_BTF_READ"));
});

// ---------------------------------------------------------------- object BTF

/** Fixture specs with BTF, both byte orders. */
async function fixtureSpecs(): Promise<{ name: string; spec: CollectionSpec }[]> {
  const out = [];
  for (const dir of ["bpfel", "bpfeb"] as const) {
    for (const f of fixtureObjects(dir)) {
      let spec: CollectionSpec;
      try {
        spec = await loadCollectionSpec(readFixture(`${dir}/${f}`));
      } catch {
        continue; // fixtures that are meant to fail the pipeline
      }
      if (spec.btf !== undefined) out.push({ name: `${dir}/${f}`, spec });
    }
  }
  return out;
}

test("object BTF (kernel): every fixture's BTF loads, as is and sanitised", kernel, async () => {
  const sys = real.sys!;
  const specs = await fixtureSpecs();
  assert.ok(specs.length >= 10, `only ${specs.length} fixtures with BTF`);
  // Each feature missing alone, then all at once. Not `funcs`: its FUNC_PROTO → ENUM
  // rewrite gives unnamed parameters unnamed enum values, which kernels that
  // have FUNC (≥ 5.0) reject, as they reject libbpf's; only older ones see it.
  const variants: SanitizeOptions[] = [{}];
  const missing = BTF_FEATURES.filter((f) => f !== "funcs");
  for (const f of missing) variants.push({ [f]: false });
  variants.push(Object.fromEntries(missing.map((f) => [f, false])));
  let loads = 0;
  await noLeak(() => {
    for (const { name, spec } of specs) {
      for (const sanitize of variants) {
        let loaded;
        try {
          loaded = loadObjectBtf(sys, spec, { require: true, sanitize });
        } catch (err) {
          const log = (err as { log?: string }).log ?? "";
          assert.fail(`${name} ${JSON.stringify(sanitize)}: ${err}\n${log.slice(-2000)}`);
        }
        assert.ok(loaded.fd !== undefined && loaded.fd >= 0);
        assert.equal(sys.close(loaded.fd), 0);
        loads++;
      }
    }
  });
  console.log(
    `object BTF: ${loads} loads of ${specs.length} fixtures in ${variants.length} variants`,
  );
});

test("object BTF: func/line info of every fixture program", async () => {
  const specs = await fixtureSpecs();
  let programs = 0;
  for (const { name, spec } of specs) {
    const prepared = prepareObjectBtf(spec, {});
    assert.equal(prepareObjectBtf(spec, {}), prepared, "prepared once per spec");
    for (const prog of spec.programs.values()) {
      const funcs = prog.instructions.filter((i) => i.func !== undefined).length;
      const lines = prog.instructions.filter((i) => i.line !== undefined).length;
      const info = funcAndLineInfo(prog, prepared.strings);
      assert.equal(info.funcInfoCount, funcs, `${name} ${prog.name}`);
      assert.equal(info.lineInfoCount, lines, `${name} ${prog.name}`);
      assert.equal(info.funcInfo.byteLength, funcs * 8);
      assert.equal(info.lineInfo.byteLength, lines * 16);
      const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
      if (funcs > 0) {
        const v = new DataView(payloadBytes(info.funcInfo).buffer);
        assert.equal(v.getUint32(0, le), 0, `${name} ${prog.name}: first func_info at insn 0`);
        const id = v.getUint32(4, le);
        assert.equal(prepared.btf.kindOf(id), BtfKind.FUNC);
        assert.equal(prepared.btf.nameOf(id), prog.name);
      }
      if (lines > 0) {
        const v = new DataView(payloadBytes(info.lineInfo).buffer);
        assert.equal(v.getUint32(0, le), 0, `${name} ${prog.name}: first line_info at insn 0`);
        const first = prog.instructions.find((i) => i.line !== undefined)!.line!;
        assert.equal(prepared.strings.get(v.getUint32(4, le)), first.fileName);
        assert.equal(prepared.strings.get(v.getUint32(8, le)), first.lineText);
        assert.equal(v.getUint32(12, le) >>> 10, first.line);
      }
      programs++;
    }
  }
  assert.ok(programs >= 10, `only ${programs} programs`);
});

test("object BTF: line texts missing from the object are added to the blob", () => {
  const b = new BtfBuilder();
  const int = b.int("int", 4, { signed: true });
  const proto = b.funcProto(int, []);
  const fn = b.func("prog", proto);
  const btf = Btf.parse(marshalBtf(b));
  const prog = new ProgramSpec({
    name: "prog",
    type: ProgramType.SOCKET_FILTER,
    instructions: [
      {
        opcode: 0x18,
        dst: 0,
        src: 0,
        offset: 0,
        imm: 0,
        immHi: 0,
        func: fn,
        line: { fileName: "a.c", lineText: "r = 0;", line: 3, column: 5 },
      },
      {
        opcode: 0x95,
        dst: 0,
        src: 0,
        offset: 0,
        imm: 0,
        line: { fileName: "a.c", lineText: "return r;", line: 4, column: 2 },
      },
    ],
  });
  const spec = new CollectionSpec({ btf });
  spec.programs.set("prog", prog);
  const prepared = prepareObjectBtf(spec, {});
  const info = funcAndLineInfo(prog, prepared.strings);
  assert.equal(info.lineInfoCount, 2);
  const v = new DataView(payloadBytes(info.lineInfo).buffer);
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  assert.equal(v.getUint32(16, le), 2, "ld_imm64 takes two slots");
  assert.equal(prepared.strings.get(v.getUint32(24, le)), "return r;");
  assert.equal(v.getUint32(28, le), (4 << 10) | 2);

  // A table that lacks the texts: a typed error naming the program.
  assert.throws(
    () => funcAndLineInfo(prog, { find: () => undefined }),
    isCode("KERNEL_BTF_STRING_MISSING"),
  );
  // A line the kernel format can't hold.
  const bad = prog.copy();
  bad.instructions[1].line = { fileName: "a.c", lineText: "x", line: 1 << 23, column: 0 };
  assert.throws(() => funcAndLineInfo(bad, { find: () => 1 }), (err: unknown) => {
    assert.ok(err instanceof BtfError);
    assert.match(err.message, /^program prog: /);
    return true;
  });
});

test("object BTF: func/line info records equal a lookup per record, whatever repeats (property)", () => {
  // Records repeat file names and line texts, as the same string or as an
  // equal copy; funcAndLineInfo looks a repeat up once. Reference: every
  // record's strings looked up on their own.
  const pool = ["a.c", "b.h", "r = 0;", "return r;", "", "x += 1;", "\u00e9t\u00e9"];
  const text = fc.nat({ max: pool.length - 1 }).chain((i) =>
    fc.boolean().map((copy) => (copy ? [...pool[i]].join("") : pool[i]))
  );
  const line = fc.record({
    fileName: text,
    lineText: text,
    line: fc.integer({ min: 1, max: (1 << 22) - 1 }),
    column: fc.integer({ min: 0, max: 1023 }),
  });
  const insn = fc.record({
    wide: fc.boolean(),
    func: fc.option(fc.constant(3), { nil: undefined }),
    line: fc.option(line, { nil: undefined }),
  });
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  fc.assert(
    fc.property(fc.array(insn, { minLength: 1, maxLength: 40 }), (insns) => {
      const b = new BtfBuilder();
      const int = b.int("int", 4, { signed: true });
      b.func("prog", b.funcProto(int, []));
      // Some texts are in the object's own strings, the others get added.
      b.addString("a.c");
      b.addString("return r;");
      const prog = new ProgramSpec({
        name: "prog",
        type: ProgramType.SOCKET_FILTER,
        instructions: insns.map((i) => ({
          opcode: i.wide ? 0x18 : 0xb7,
          dst: 0,
          src: 0,
          offset: 0,
          imm: 0,
          ...(i.wide ? { immHi: 0 } : {}),
          ...(i.func === undefined ? {} : { func: i.func }),
          ...(i.line === undefined ? {} : { line: i.line }),
        })),
      });
      const spec = new CollectionSpec({ btf: Btf.parse(marshalBtf(b)) });
      spec.programs.set("prog", prog);
      const prepared = prepareObjectBtf(spec, {});
      const info = funcAndLineInfo(prog, prepared.strings);
      const want: number[] = [];
      let slot = 0;
      for (const i of insns) {
        if (i.line !== undefined) {
          want.push(
            slot, // the kernel's insn_off counts instructions
            prepared.strings.find(i.line.fileName)!,
            prepared.strings.find(i.line.lineText)!,
            ((i.line.line << 10) | i.line.column) >>> 0,
          );
        }
        slot += i.wide ? 2 : 1;
      }
      assert.equal(info.lineInfoCount, want.length / 4);
      const got = payloadBytes(info.lineInfo);
      const v = new DataView(got.buffer);
      assert.deepEqual(
        Array.from({ length: want.length }, (_, k) => v.getUint32(k * 4, le)),
        want,
      );
      assert.ok(want.every((off) => off !== undefined));
    }),
    { numRuns: 300 },
  );
});

test("object BTF: specs sharing one BTF but not their line texts get blobs with their own texts", () => {
  const b = new BtfBuilder();
  const int = b.int("int", 4, { signed: true });
  b.func("prog", b.funcProto(int, []));
  const bytes = marshalBtf(b);
  const specWith = (texts: string[]) => {
    const prog = new ProgramSpec({
      name: "prog",
      type: ProgramType.SOCKET_FILTER,
      instructions: texts.map((lineText, i) => ({
        opcode: 0xb7,
        dst: 0,
        src: 0,
        offset: 0,
        imm: 0,
        line: { fileName: "f.c", lineText, line: i + 1, column: 0 },
      })),
    });
    const spec = new CollectionSpec({ btf: Btf.parse(bytes) });
    spec.programs.set("prog", prog);
    return { spec, prog };
  };
  // Same length of list and same set in another order, repeats inside.
  for (const texts of [["a", "a", "b"], ["a", "b", "b"], ["b", "a", "a"], ["c", "c", "c"]]) {
    const { spec, prog } = specWith(texts);
    const prepared = prepareObjectBtf(spec, {});
    for (const t of texts) assert.ok(prepared.strings.find(t) !== undefined, `${texts}: ${t}`);
    assert.equal(funcAndLineInfo(prog, prepared.strings).lineInfoCount, texts.length);
  }
});

test("object BTF: no BTF or a rejected blob falls back with a diagnostic unless required", () => {
  const noBtf = new CollectionSpec({});
  const fake = fakeSyscalls(() => -EINVAL);
  const r = loadObjectBtf(fake.sys, noBtf, { sanitize: {} });
  assert.equal(r.fd, undefined);
  assert.match(r.diagnostic!, /no BTF/);
  assert.throws(() => loadObjectBtf(fake.sys, noBtf, { require: true }), isCode("KERNEL_NO_BTF"));

  const b = new BtfBuilder();
  b.int("int", 4);
  const spec = new CollectionSpec({ btf: Btf.parse(marshalBtf(b)) });
  // BTF_LOAD itself fails: the kernel has no BTF at all.
  const none = loadObjectBtf(fake.sys, spec);
  assert.equal(none.fd, undefined);
  assert.match(none.diagnostic!, /does not support BTF/);
  // The probe passes but the object's blob is rejected.
  const picky = fakeSyscalls(() => -EINVAL);
  const rejected = loadObjectBtf(picky.sys, spec, { sanitize: {} });
  assert.equal(rejected.fd, undefined);
  assert.match(rejected.diagnostic!, /rejected by the kernel: BPF_BTF_LOAD: EINVAL/);
  assert.throws(
    () => loadObjectBtf(picky.sys, spec, { sanitize: {}, require: true }),
    (err: unknown) => err instanceof SyscallError && err.errnoName === "EINVAL",
  );
});

test(
  "object BTF (kernel): programs load with the func_info and line_info built here",
  kernel,
  async () => {
    const sys = real.sys!;
    const wanted: Record<string, string[]> = {
      "prog_types_net.o": ["type_socket", "type_xdp", "type_tc"],
      "socket_filter.o": ["socket_len"],
      "subprograms.o": ["sub_nested", "sub_global", "sub_shared"],
      "func_pointers.o": ["loop_sum", "loop_until"],
    };
    const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    let loaded = 0;
    await noLeak(async () => {
      for (const dir of ["bpfel", "bpfeb"] as const) {
        for (const [file, names] of Object.entries(wanted)) {
          const spec = await loadCollectionSpec(readFixture(`${dir}/${file}`));
          const btf = loadObjectBtf(sys, spec, { require: true });
          try {
            for (const name of names) {
              const prog = spec.programs.get(name)!;
              const info = funcAndLineInfo(prog, btf.strings!);
              assert.ok(info.funcInfoCount > 0 && info.lineInfoCount > 0, `${file} ${name}`);
              let fd: number;
              try {
                fd = progLoad(sys, {
                  prog_type: prog.type,
                  insns: encodeInstructions(prog.instructions, { littleEndian: le }),
                  license: prog.license || "GPL",
                  expected_attach_type: prog.expectedAttachType() ?? 0,
                  prog_btf_fd: btf.fd,
                  func_info: info.funcInfo,
                  func_info_rec_size: info.funcInfoRecSize,
                  line_info: info.lineInfo,
                  line_info_rec_size: info.lineInfoRecSize,
                });
              } catch (err) {
                const log = (err as { log?: string }).log ?? "";
                assert.fail(`${dir}/${file} ${name}: ${err}\n${log.slice(-1500)}`);
              }
              sys.close(fd);
              loaded++;
            }
          } finally {
            sys.close(btf.fd!);
          }
        }
      }
    });
    console.log(`loaded ${loaded} programs with func_info and line_info`);
  },
);

test("object BTF: preparation is cached by content, not by spec object", async () => {
  const { loadCollectionSpec } = await import("../mod.ts");
  const bytes = new Uint8Array(
    readFileSync(new URL("../fixtures/bpfel/data_sections.o", import.meta.url)),
  );
  const a = await loadCollectionSpec(bytes);
  const b = await loadCollectionSpec(bytes.slice());
  assert.notEqual(a.btf, b.btf, "two parses, two Btf objects");
  assert.equal(prepareObjectBtf(a, {}), prepareObjectBtf(b, {}), "the same prepared blob");
  assert.notEqual(
    prepareObjectBtf(a, {}),
    prepareObjectBtf(a, { float: false }),
    "other options, another blob",
  );
  const other = await loadCollectionSpec(
    new Uint8Array(readFileSync(new URL("../fixtures/bpfel/subprograms.o", import.meta.url))),
  );
  assert.notEqual(
    prepareObjectBtf(other, {}),
    prepareObjectBtf(a, {}),
    "other content, another blob",
  );
  // The cache key samples the bytes: a change at every position must still miss.
  const { Btf } = await import("../btf/btf.ts");
  const base = a.btf!;
  const cached = prepareObjectBtf(a, {});
  let checked = 0;
  for (let at = base.bytes.length - 1; at >= 24; at -= 97) {
    const changed = base.bytes.slice();
    changed[at] ^= 0x40;
    let edited;
    try {
      edited = Btf.parse(changed);
      for (const id of base.replacedIds()) edited.replaceType(id, base.type(id));
    } catch {
      continue; // not a valid blob any more: nothing to prepare
    }
    const spec = a.copy();
    spec.btf = edited;
    let prepared;
    try {
      prepared = prepareObjectBtf(spec, {});
    } catch {
      continue; // e.g. a name the sanitiser refuses
    }
    assert.notEqual(prepared, cached, `byte ${at} changed, yet the cached blob came back`);
    checked++;
  }
  assert.ok(checked > 5, `only ${checked} edited blobs were checked`);
});

// The bytes an attr payload writes, at a non-zero offset to check it is honoured.
function payloadBytes(p: AttrPayload): Uint8Array {
  const out = new Uint8Array(p.byteLength + 8).fill(0xaa);
  p.writeTo(out, 8);
  assert.ok(out.subarray(0, 8).every((b) => b === 0xaa), "nothing written before the offset");
  return out.slice(8);
}
