// Each built-in stage on fixtures, with expectations from the C sources in
// fixtures/src, in both byte orders.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  isCall,
  isLoadImm64,
} from "../isa/mod.ts";
import type { Instruction } from "../isa/instruction.ts";
import {
  classifyStage,
  defaultPipeline,
  type LoadContext,
  newLoadContext,
  Pipeline,
  readStage,
  relocateStage,
} from "../stages/mod.ts";
import { ElfError, LinkError, PipelineError, TsbpfError } from "../errors/mod.ts";
import { readElf } from "../elf/mod.ts";
import { type BtfDatasec, BtfKind } from "../btf/types.ts";
import { MapFlags, MapType, PinType, ProgramType } from "../collection/types.ts";
import { readFixture } from "./_util.ts";

const ORDERS = ["bpfel", "bpfeb"] as const;

function run(file: string, upTo: string): Promise<LoadContext> {
  const p = defaultPipeline();
  const names = p.names();
  return new Pipeline(p.stages.slice(0, names.indexOf(upTo) + 1)).runContext(readFixture(file));
}

function kindsOf(ctx: LoadContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of ctx.sections.values()) out[s.section.name] = s.kind;
  return out;
}

/** Instructions with their slot numbers, for checking jump and call targets. */
function slots(insns: Instruction[]): { ins: Instruction; slot: number }[] {
  let slot = 0;
  return insns.map((ins) => {
    const at = slot;
    slot += isLoadImm64(ins) ? 2 : 1;
    return { ins, slot: at };
  });
}

for (const dir of ORDERS) {
  test(`read: ${dir} ELF view, byte order and symbols`, async () => {
    const ctx = await run(`${dir}/xdp_counter.o`, "read");
    assert.ok(ctx.elf);
    assert.equal(ctx.byteOrder, dir === "bpfel" ? "little" : "big");
    assert.ok(ctx.symbols.some((s) => s.name === "xdp_count"));
    assert.ok(ctx.symbols.some((s) => s.name === "counts"));
  });

  test(`classify: ${dir} section kinds of data_sections.o`, async () => {
    const ctx = await run(`${dir}/data_sections.o`, "classify");
    const kinds = kindsOf(ctx);
    for (
      const name of [
        ".data",
        ".rodata",
        ".bss",
        ".data.custom",
        ".rodata.cfg",
        ".bss.big",
        ".data.unused",
      ]
    ) {
      assert.equal(kinds[name], "data", name);
    }
    for (const name of ["xdp", "socket", "tc"]) assert.equal(kinds[name], "program", name);
    assert.equal(kinds["license"], "license");
    assert.equal(kinds[".BTF"], "btf");
    assert.equal(kinds[".BTF.ext"], "btfExt");
    assert.equal(kinds[".relxdp"], "relocations");
    assert.equal(kinds[".debug_info"], "ignored");
    assert.equal(kinds[".symtab"], "ignored");
    assert.equal(ctx.license, "GPL");
    const xdp = [...ctx.sections.values()].find((s) => s.section.name === "xdp")!;
    assert.equal(xdp.program?.programType, ProgramType.XDP);
  });

  test(`classify: ${dir} version, legacy maps and ?-sections`, async () => {
    const trace = await run(`${dir}/prog_types_trace.o`, "classify");
    assert.equal(trace.kernelVersion, 0x050a00);
    assert.equal(kindsOf(trace)["version"], "version");
    const legacy = await run(`${dir}/legacy_maps.o`, "classify");
    assert.equal(kindsOf(legacy)["maps"], "legacyMaps");
    const net = await run(`${dir}/prog_types_net.o`, "classify");
    const optional = [...net.sections.values()].find((s) => s.section.name === "?xdp")!;
    assert.equal(optional.kind, "program");
    assert.equal(optional.program?.autoload, false);
    const btf = await run(`${dir}/btf_maps.o`, "classify");
    assert.equal(kindsOf(btf)[".maps"], "btfMaps");
  });

  test(`relocate: ${dir} map loads become pseudo map fd loads`, async () => {
    const ctx = await run(`${dir}/xdp_counter.o`, "relocate");
    const xdp = [...ctx.sections.values()].find((s) => s.section.name === "xdp")!;
    const loads = xdp.instructions!.filter(isLoadImm64);
    assert.equal(loads.length, 1);
    assert.equal(loads[0].src, BPF_PSEUDO_MAP_FD);
    assert.equal(loads[0].reference, "counts");
    assert.equal(loads[0].sourceOffset, 72);
    assert.equal(xdp.instructions![0].symbol, "xdp_count");
  });

  test(`relocate: ${dir} global data loads carry section and offset`, async () => {
    const ctx = await run(`${dir}/data_sections.o`, "relocate");
    const xdp = [...ctx.sections.values()].find((s) => s.section.name === "xdp")!;
    const loads = xdp.instructions!.filter(isLoadImm64);
    assert.ok(
      loads.every((l) => l.src === BPF_PSEUDO_MAP_VALUE && l.reference === ".data" && l.imm === 0),
    );
    // data_first @0, data_second @8 (own symbol), data_static @16 (section symbol + imm).
    assert.deepEqual([...new Set(loads.map((l) => l.immHi!))].sort((x, y) => x - y), [0, 8, 16]);
    const tc = [...ctx.sections.values()].find((s) => s.section.name === "tc")!;
    const refs = tc.instructions!.filter(isLoadImm64).map((l) => `${l.reference}+${l.immHi}`);
    assert.deepEqual([...new Set(refs)].sort(), [".bss+0", ".bss+8", ".bss.big+0"]);
    const unused = [...ctx.sections.values()].find((s) => s.section.name === ".data.unused")!;
    assert.equal(unused.references, 0);
  });

  test(`relocate: ${dir} calls by relocation and by relative jump name their callee`, async () => {
    const ctx = await run(`${dir}/subprograms.o`, "relocate");
    const text = [...ctx.sections.values()].find((s) => s.section.name === ".text")!;
    const outer = text.instructions!.findIndex((i) => i.symbol === "nested_outer");
    const call = text.instructions!.slice(outer).find((i) =>
      isCall(i) && i.src === BPF_PSEUDO_CALL
    )!;
    assert.equal(
      call.reference,
      "nested_inner",
      "pc-relative call inside .text without a relocation",
    );
    assert.equal(call.imm, -1);
    const xdp = [...ctx.sections.values()].find((s) => s.section.name === "xdp")!;
    assert.deepEqual(
      xdp.instructions!.filter((i) => isCall(i) && i.src === BPF_PSEUDO_CALL).map((i) =>
        i.reference
      ),
      ["nested_outer"],
    );
  });

  test(`relocate: ${dir} function pointers become pseudo func loads`, async () => {
    const ctx = await run(`${dir}/func_pointers.o`, "relocate");
    const funcs = [...ctx.sections.values()].flatMap((s) => s.instructions ?? []).filter((i) =>
      isLoadImm64(i) && i.src === BPF_PSEUDO_FUNC
    );
    assert.deepEqual(funcs.map((f) => f.reference).sort(), ["stop_step", "sum_step"]);
  });

  test(`relocate: ${dir} externs keep their name for later stages`, async () => {
    const ctx = await run(`${dir}/externs.o`, "relocate");
    const refs = [...ctx.sections.values()].flatMap((s) => s.instructions ?? []).filter((i) =>
      i.reference
    );
    assert.deepEqual([...new Set(refs.map((i) => i.reference))].sort(), [
      "LINUX_KERNEL_VERSION",
      "some_extern_var",
    ]);
  });

  test(`maps: ${dir} legacy maps, tail bytes kept`, async () => {
    const ctx = await run(`${dir}/legacy_maps_ext.o`, "maps");
    // 28-byte iproute2-style records in "maps", a 20-byte one in "maps/aux".
    for (const name of ["ext_counters", "ext_pinned"]) {
      const m = ctx.maps.get(name)!;
      assert.equal(m.extra?.length, 8, `${name} keeps its 8 tail bytes`);
      const tail = new DataView(m.extra!.buffer, m.extra!.byteOffset);
      assert.equal(
        tail.getUint32(0, dir === "bpfel"),
        name === "ext_counters" ? 1 : 2,
        `${name} id`,
      );
    }
    assert.equal(ctx.maps.get("ext_pinned")!.flags, MapFlags.BPF_F_NO_PREALLOC);
    assert.equal(ctx.maps.get("aux_table")!.extra, undefined);
    const plain = await run(`${dir}/xdp_counter.o`, "maps");
    const counts = plain.maps.get("counts")!;
    assert.equal(counts.type, MapType.ARRAY);
    assert.equal(counts.extra, undefined);
  });

  test(`maps: ${dir} data sections become one-element arrays with contents`, async () => {
    const ctx = await run(`${dir}/data_sections.o`, "maps");
    const le = dir === "bpfel";
    const data = ctx.maps.get(".data")!;
    const bytes = data.contents[0].value as Uint8Array;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    assert.equal(view.getUint32(0, le), 1, "data_first");
    assert.equal(view.getBigUint64(8, le), 2n, "data_second");
    assert.equal(view.getUint32(16, le), 3, "data_static");
    const rodata = ctx.maps.get(".rodata")!;
    assert.equal(rodata.flags, MapFlags.BPF_F_RDONLY_PROG);
    assert.equal(rodata.freeze, true);
    const ro = rodata.contents[0].value as Uint8Array;
    assert.equal(new DataView(ro.buffer, ro.byteOffset).getUint32(0, le), 1500, "ro_limit");
    assert.deepEqual(ctx.maps.get(".bss")!.contents, [], ".bss starts zeroed in the kernel");
    assert.equal(ctx.maps.get(".bss.big")!.valueSize, 8192);
    assert.equal(ctx.maps.has(".data.unused"), false);
    assert.ok(
      ctx.diagnostics.some((d) =>
        d.message.includes(".data.unused") && d.message.includes("pruned")
      ),
    );
  });

  test(`maps: ${dir} static strings become a .rodata.str1.1 map`, async () => {
    const ctx = await run(`${dir}/static_strings.o`, "maps");
    const str = ctx.maps.get(".rodata.str1.1")!;
    assert.ok(str, "string literals are kept, not rejected");
    const text = new TextDecoder().decode(str.contents[0].value as Uint8Array);
    assert.ok(text.includes("\0"));
    assert.equal(str.flags, MapFlags.BPF_F_RDONLY_PROG);
  });

  test(`btf: ${dir} .BTF parsed, data sections fixed up from the ELF`, async () => {
    const ctx = await run(`${dir}/data_sections.o`, "btf");
    const btf = ctx.btf!;
    assert.ok(btf, "the object has .BTF");
    assert.equal(btf.littleEndian, dir === "bpfel");
    const data = btf.typeByName(".data", BtfKind.DATASEC) as BtfDatasec;
    assert.equal(data.size, 20, "DATASEC size from the ELF section");
    const offsets = Object.fromEntries(data.vars.map((v) => [btf.nameOf(v.type), v.offset]));
    assert.deepEqual(offsets, { data_first: 0, data_second: 8, data_static: 16 });
    assert.ok(ctx.btfExt, "the object has .BTF.ext");
  });

  test(`btf: ${dir} func and line info become instruction metadata and survive linking`, async () => {
    const ctx = await run(`${dir}/subprograms.o`, "link");
    const btf = ctx.btf!;
    for (const prog of ctx.programs.values()) {
      for (const ins of prog.instructions.filter((i) => i.symbol !== undefined)) {
        assert.ok(ins.func !== undefined, `${prog.name}: ${ins.symbol} starts with func_info`);
        assert.equal(
          btf.nameOf(ins.func!),
          ins.symbol,
          `${prog.name}: func_info names ${ins.symbol}`,
        );
      }
      const lines = prog.instructions.filter((i) => i.line !== undefined);
      assert.ok(lines.length > 0, `${prog.name} has line info`);
      assert.ok(lines.every((i) => i.line!.fileName.endsWith("subprograms.c")));
    }
    const nested = ctx.programs.get("sub_nested")!;
    assert.ok(nested.instructions.some((i) => i.line?.lineText.includes("nested_outer(")));
  });

  test(`btf: ${dir} BTF maps: values, inner maps, key and value types`, async () => {
    const ctx = await run(`${dir}/btf_maps.o`, "maps");
    const btf = ctx.btf!;
    const outer = ctx.maps.get("btf_outer")!;
    assert.equal(outer.type, MapType.ARRAY_OF_MAPS);
    assert.equal(outer.innerMap?.name, "btf_outer.inner", "libbpf's name for the inner template");
    assert.equal(outer.innerMap?.type, MapType.ARRAY);
    assert.deepEqual(outer.contents, [{ key: 0, value: "btf_inner" }]);
    const jump = ctx.maps.get("btf_jump")!;
    assert.deepEqual(jump.contents, [{ key: 1, value: "tail_target" }]);
    const hash = ctx.maps.get("btf_hash")!;
    assert.equal(btf.nameOf(hash.keyType!), "__u32");
    assert.equal(btf.nameOf(hash.valueType!), "__u64");
    assert.equal(ctx.maps.get("btf_ringbuf")!.keyType, undefined);
    const more = await run(`${dir}/btf_maps_more.o`, "maps");
    const flows = more.maps.get("flows")!;
    assert.equal(more.btf!.nameOf(flows.keyType!), "flow_key");
    assert.equal(flows.keySize, 16);
    assert.equal(more.maps.get("pinned_counts")!.pinning, PinType.BY_NAME);
    assert.equal(more.maps.get("scratch")!.flags, MapFlags.BPF_F_NUMA_NODE);
    assert.equal(more.maps.get("seen")!.mapExtra, 3n, "__ulong() as an enum");
  });

  test(`btf: ${dir} .maps without .BTF is a clear error; a broken .BTF.ext is skipped with a warning`, async () => {
    const bytes = readFixture(`${dir}/btf_maps.o`);
    const e = readElf(bytes);
    const noBtf = bytes.slice();
    const names = e.sections[e.header.sectionNamesIndex];
    // Rename ".BTF" to ".BTX": the object loses its BTF but keeps its .maps.
    const at = names.offset +
      noBtf.subarray(names.offset).findIndex((_, k) =>
        new TextDecoder().decode(noBtf.subarray(names.offset + k, names.offset + k + 5)) ===
          ".BTF\0"
      );
    noBtf[at + 3] = "X".charCodeAt(0);
    await assert.rejects(defaultPipeline().run(noBtf), (err: unknown) => {
      assert.ok(err instanceof LinkError);
      assert.equal(err.code, "LINK_BTF_MAPS_NO_BTF");
      assert.match(
        err.message,
        /^maps: section \.maps: section \.maps defines maps with BTF, but the object has no \.BTF/,
      );
      return true;
    });
    const badExt = readFixture(`${dir}/socket_filter.o`).slice();
    const ext = readElf(badExt).sectionByName(".BTF.ext")!;
    badExt[ext.offset] ^= 0xff; // break the magic
    const ctx = await defaultPipeline().runContext(badExt);
    assert.equal(ctx.btfExt, undefined);
    assert.ok(
      ctx.diagnostics.some((d) =>
        d.stage === "btf" && /without func and line info/.test(d.message)
      ),
    );
    assert.ok(ctx.programs.size > 0);
  });

  test(`variables: ${dir} typed globals from DATASECs, settable before load`, async () => {
    const spec = await defaultPipeline().run(readFixture(`${dir}/data_sections.o`));
    const limit = spec.variables.get("ro_limit")!;
    assert.deepEqual({ ...limit, type: undefined }, {
      name: "ro_limit",
      section: ".rodata",
      offset: 0,
      size: 4,
      type: undefined,
      linkage: "global",
      constant: true,
    });
    assert.equal(spec.variables.get("data_static")!.linkage, "static");
    assert.equal(spec.variables.get("big_buffer")!.size, 8192);
    assert.equal(
      spec.variables.has("unused_value"),
      false,
      "variables of pruned sections are left out",
    );
    assert.equal(spec.getVariable("ro_limit"), 1500);
    assert.equal(spec.getVariable("data_second"), 2n, "64-bit values are bigints");
    assert.equal(spec.getVariable("bss_counter"), 0n, ".bss reads as zero");
    const copy = spec.copy();
    copy.setVariable("ro_limit", 1000);
    assert.equal(copy.getVariable("ro_limit"), 1000);
    assert.equal(spec.getVariable("ro_limit"), 1500, "the original spec is unchanged");
    const rodata = copy.maps.get(".rodata")!.contents[0].value as Uint8Array;
    assert.equal(
      new DataView(rodata.buffer, rodata.byteOffset).getUint32(0, dir === "bpfel"),
      1000,
    );
    copy.setVariable("bss_counter", 7n);
    assert.equal(
      copy.maps.get(".bss")!.contents.length,
      1,
      ".bss gets contents once a variable is set",
    );
    assert.equal(copy.getVariable("bss_counter"), 7n);
    assert.throws(
      () => copy.setVariable("ro_limit", 1n << 40n),
      (err: unknown) => err instanceof TsbpfError && /does not fit 4 bytes/.test(err.message),
    );
    assert.throws(
      () => copy.setVariable("ro_limit", "x"),
      (err: unknown) => err instanceof TsbpfError && /expected an integer/.test(err.message),
    );
    assert.throws(
      () => copy.getVariable("nope"),
      (err: unknown) => err instanceof TsbpfError && err.code === "SPEC_NO_VARIABLE",
    );
  });

  test(`link: ${dir} calls point at their callee after flattening`, async () => {
    const ctx = await run(`${dir}/subprograms.o`, "link");
    assert.deepEqual([...ctx.programs.keys()].sort(), ["sub_global", "sub_nested", "sub_shared"]);
    assert.equal(ctx.programs.has("never_called"), false, ".text functions are hidden");
    assert.equal(ctx.programs.has("global_helper"), false);
    for (const prog of ctx.programs.values()) {
      const all = slots(prog.instructions);
      const starts = new Map(all.filter((s) => s.ins.symbol).map((s) => [s.ins.symbol!, s.slot]));
      const calls = all.filter((s) => isCall(s.ins) && s.ins.src === BPF_PSEUDO_CALL);
      assert.ok(calls.length > 0);
      for (const c of calls) {
        assert.equal(
          c.slot + 1 + c.ins.imm,
          starts.get(c.ins.reference!),
          `${prog.name}: call ${c.ins.reference}`,
        );
      }
      assert.equal(
        new Set(prog.functions()).size,
        prog.functions().length,
        "each callee appended once",
      );
    }
    // Shared helper copies are independent per program.
    const a = ctx.programs.get("sub_global")!.instructions.find((i) =>
      i.symbol === "shared_helper"
    )!;
    const b = ctx.programs.get("sub_shared")!.instructions.find((i) =>
      i.symbol === "shared_helper"
    )!;
    assert.notEqual(a, b);
  });

  test(`link: ${dir} function pointers point at their callback`, async () => {
    const ctx = await run(`${dir}/func_pointers.o`, "link");
    for (const prog of ctx.programs.values()) {
      const all = slots(prog.instructions);
      const starts = new Map(all.filter((s) => s.ins.symbol).map((s) => [s.ins.symbol!, s.slot]));
      const ptrs = all.filter((s) => isLoadImm64(s.ins) && s.ins.src === BPF_PSEUDO_FUNC);
      assert.equal(ptrs.length, 1);
      for (const p of ptrs) assert.equal(p.slot + 1 + p.ins.imm, starts.get(p.ins.reference!));
    }
  });

  test(`link: ${dir} program in a static function, several per section, weak function`, async () => {
    const st = await run(`${dir}/static_program.o`, "link");
    assert.equal(st.programs.size, 2);
    const multi = await run(`${dir}/multi_prog_section.o`, "link");
    assert.equal([...multi.programs.values()].filter((p) => p.sectionName === "xdp").length, 2);
    assert.equal([...multi.programs.values()].filter((p) => p.sectionName === "socket").length, 2);
    const weak = await run(`${dir}/weak_symbols.o`, "link");
    assert.ok(weak.programs.size > 0);
  });
}

test("pipeline: stage edits insert, replace and wrap by name", async () => {
  const seen: string[] = [];
  const probe = (name: string) => ({ name, run: () => void seen.push(name) });
  const p = defaultPipeline()
    .edit({ before: "read", stage: probe("first") })
    .edit({ after: "link", stage: probe("last") })
    .edit({
      wrap: "maps",
      with: (inner) => ({ name: "maps", run: (ctx) => (seen.push("maps"), inner.run(ctx)) }),
    });
  assert.deepEqual(p.names(), [
    "first",
    "read",
    "classify",
    "btf",
    "relocate",
    "maps",
    "link",
    "last",
  ]);
  const spec = await p.run(readFixture("bpfel/xdp_counter.o"));
  assert.deepEqual(seen, ["first", "maps", "last"]);
  assert.ok(spec.maps.has("counts"));
  const replaced = defaultPipeline().edit({
    replace: "link",
    stage: { name: "link", run: () => {} },
  });
  assert.equal((await replaced.run(readFixture("bpfel/xdp_counter.o"))).programs.size, 0);
});

test("pipeline: edits are immutable and unknown or duplicate names are errors", () => {
  const base = defaultPipeline();
  base.edit({ after: "read", stage: { name: "x", run() {} } });
  assert.equal(base.names().length, 6);
  assert.throws(
    () => base.edit({ before: "nope", stage: { name: "x", run() {} } }),
    (err: unknown) => {
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, "PIPELINE_UNKNOWN_STAGE");
      assert.match(
        err.message,
        /no stage named "nope" \(stages: read, classify, btf, relocate, maps, link\)/,
      );
      return true;
    },
  );
  assert.throws(
    () => base.edit({ after: "read", stage: { name: "link", run() {} } }),
    (err: unknown) => err instanceof PipelineError && err.code === "PIPELINE_DUPLICATE_STAGE",
  );
});

test("pipeline: a stage run out of order says which stage it needs", async () => {
  await assert.rejects(
    new Pipeline([classifyStage()]).run(readFixture("bpfel/xdp_counter.o")),
    (err: unknown) =>
      err instanceof PipelineError && err.code === "PIPELINE_STAGE_ORDER" &&
      /read stage/.test(err.message),
  );
  const ctx = newLoadContext(readFixture("bpfel/xdp_counter.o"));
  await readStage().run(ctx);
  // Without classify, relocate finds no sections to work on: nothing changes.
  relocateStage().run(ctx);
  assert.equal(ctx.sections.size, 0);
});

test("pipeline: ELF errors carry the stage as context", async () => {
  await assert.rejects(defaultPipeline().run(new Uint8Array(10)), (err: unknown) => {
    assert.ok(err instanceof ElfError);
    assert.equal(err.context[0], "read");
    assert.match(err.message, /^read: /);
    return true;
  });
});

test("pipeline: stages inserted after the same stage run in the order they were added", () => {
  const noop = (name: string) => ({ name, run() {} });
  const p = defaultPipeline()
    .edit({ after: "link", stage: noop("first") })
    .edit({ after: "link", stage: noop("second") })
    .edit({ after: "first", stage: noop("first.child") })
    .edit({ after: "link", stage: noop("third") })
    .edit({ before: "link", stage: noop("pre1") })
    .edit({ before: "link", stage: noop("pre2") });
  assert.deepEqual(p.names().slice(5), [
    "pre1",
    "pre2",
    "link",
    "first",
    "first.child",
    "second",
    "third",
  ]);
});
