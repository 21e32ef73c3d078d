// The VM backend's Collection API: the same calls as the kernel backend's,
// typed map access, contexts in and out, host-side ring buffer reads, plugin
// helpers, typed errors, and nothing left behind after close.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadCollectionSpec } from "../mod.ts";
import { CollectionSpec, ProgramSpec } from "../collection/spec.ts";
import { ProgramType } from "../collection/types.ts";
import type { Instruction } from "../isa/instruction.ts";
import { Loader } from "../plugins/mod.ts";
import { ConfigError } from "../errors/mod.ts";
import { loadVmCollection } from "../backends/vm/collection.ts";
import { VmError } from "../backends/vm/errors.ts";
import { VmMemory } from "../backends/vm/memory.ts";
import type { VmRingBuf } from "../backends/vm/maps/mod.ts";
import { VM_TIERS } from "../backends/vm/tiers.ts";
import type { VmHelper } from "../backends/vm/types.ts";
import { readFixture } from "./_util.ts";

const spec = (file: string) => loadCollectionSpec(readFixture(`bpfel/${file}`));

function isVm(code: string, pattern?: RegExp) {
  return (err: unknown) =>
    err instanceof VmError && err.code === code &&
    (pattern === undefined || pattern.test(err.message));
}

function program(type: ProgramType, instructions: Partial<Instruction>[]): CollectionSpec {
  const ins = instructions.map((i) => ({ opcode: 0, dst: 0, src: 0, offset: 0, imm: 0, ...i }));
  const ps = new ProgramSpec({ name: "p", type, license: "GPL", instructions: ins });
  return new CollectionSpec({ programs: new Map([["p", ps]]) } as never);
}

const EXIT = { opcode: 0x95 };

for (const tier of VM_TIERS) {
  test(`vm collection (${tier}): xdp_counter counts packets by size class`, async () => {
    using coll = loadVmCollection(await spec("xdp_counter.o"), { tier });
    const prog = coll.programs.get("xdp_count")!;
    assert.equal(prog.run(new Uint8Array(100)).retval, 2, "XDP_PASS");
    assert.equal(prog.run(new Uint8Array(20)).retval, 1, "XDP_DROP");
    const r = prog.run(new Uint8Array(100), { repeat: 10 });
    assert.equal(r.retval, 2);
    assert.ok(r.duration >= 0 && r.steps > 0);
    const counts = coll.maps.get("counts")!;
    assert.equal(counts.get(1), 11n);
    assert.equal(counts.get(0), 1n);
    assert.deepEqual([...counts.typedEntries()].map(([k]) => k), [0, 1]);
  });

  test(`vm collection (${tier}): data sections by variable, .rodata frozen`, async () => {
    using coll = loadVmCollection(await spec("data_sections.o"), { tier });
    const ro = coll.maps.get(".rodata")!;
    assert.deepEqual(ro.get(0), { ro_limit: 1500, ro_mode: 2 });
    assert.throws(
      () => ro.set(0, { ro_limit: 1, ro_mode: 1 }),
      (e: unknown) => e instanceof VmError && e.errnoName === "EPERM",
    );
    const data = coll.maps.get(".data")!;
    data.set(0, { data_first: 7, data_second: 8n, data_static: 9 });
    assert.deepEqual(data.get(0), { data_first: 7, data_second: 8n, data_static: 9 });
    assert.throws(() => data.lookup(new Uint8Array(3)), isVm("VM_BAD_KEY"));
  });

  test(`vm collection (${tier}): maps of every kind, a tail call, ring buffer read from the host`, async () => {
    using coll = loadVmCollection(await spec("btf_maps.o"), { tier });
    const packet = new Uint8Array(60);
    packet[12] = 0x08;
    const r = coll.programs.get("use_btf_maps")!.run(packet);
    assert.equal(r.retval, 1, "tail_target answered through the prog array");
    assert.equal(coll.maps.get("btf_hash")!.get(0), 1n);
    assert.equal(coll.maps.get("btf_array")!.get(0), 1);
    assert.equal(coll.maps.get("btf_inner")!.get(0), 1, "through the map of maps");
    const ring = coll.maps.get("btf_ringbuf")!.raw as VmRingBuf;
    const records = ring.consume();
    assert.equal(records.length, 1);
    // A socket filter's skb->len excludes the Ethernet header.
    assert.equal(new DataView(records[0].buffer, records[0].byteOffset).getBigUint64(0, true), 46n);
  });

  test(`vm collection (${tier}): syscall and raw tracepoint programs run on their context`, async () => {
    using coll = loadVmCollection(await spec("test_run_progs.o"), { tier });
    const ctx = new Uint8Array(12);
    new DataView(ctx.buffer).setUint32(0, 3, true);
    new DataView(ctx.buffer).setUint32(4, 4, true);
    const sum = coll.programs.get("sum_syscall")!.run(new Uint8Array(0), { ctx });
    assert.equal(sum.retval, 6);
    assert.equal(new DataView(sum.ctx!.buffer, sum.ctx!.byteOffset).getUint32(8, true), 7);
    const args = new Uint8Array(16);
    new DataView(args.buffer).setBigUint64(0, 5n, true);
    new DataView(args.buffer).setBigUint64(8, 6n, true);
    const raw = coll.programs.get("raw_tp_sum")!;
    assert.equal(raw.run(new Uint8Array(0), { ctx: args }).retval, 11);
    assert.throws(
      () => raw.run(new Uint8Array(4), { ctx: args }),
      isVm("VM_BAD_RUN", /pass it as ctx/),
    );
  });

  test(`vm collection (${tier}): __sk_buff fields in and out, read-only fields refused`, () => {
    // r0 = skb->mark; skb->mark = 7; skb->priority = r0 + 1; exit
    const coll = loadVmCollection(
      program(ProgramType.SCHED_CLS, [
        { opcode: 0x61, dst: 0, src: 1, offset: 8 },
        { opcode: 0x62, dst: 1, offset: 8, imm: 7 },
        { opcode: 0xbf, dst: 2, src: 0 },
        { opcode: 0x07, dst: 2, imm: 1 },
        { opcode: 0x63, dst: 1, src: 2, offset: 32 },
        EXIT,
      ]),
      { tier },
    );
    try {
      const ctx = new Uint8Array(192);
      new DataView(ctx.buffer).setUint32(8, 41, true);
      const r = coll.programs.get("p")!.run(new Uint8Array(64), { ctx });
      assert.equal(r.retval, 41);
      const out = new DataView(r.ctx!.buffer, r.ctx!.byteOffset);
      assert.equal(out.getUint32(8, true), 7, "mark written");
      assert.equal(out.getUint32(32, true), 42, "priority written");
      // Setting a field test runs don't take (len) is refused, as the kernel does.
      const bad = new Uint8Array(192);
      bad[0] = 1;
      assert.throws(
        () => coll.programs.get("p")!.run(new Uint8Array(64), { ctx: bad }),
        isVm("VM_BAD_RUN"),
      );
    } finally {
      coll.close();
    }
    // *(u32 *)(skb + 0) = 1: len is read-only.
    using ro = loadVmCollection(
      program(ProgramType.SCHED_CLS, [
        { opcode: 0x62, dst: 1, offset: 0, imm: 1 },
        { opcode: 0xb7, dst: 0, imm: 0 },
        EXIT,
      ]),
      { tier },
    );
    assert.throws(
      () => ro.programs.get("p")!.run(new Uint8Array(64)),
      isVm("VM_BAD_ACCESS", /__sk_buff/),
    );
  });

  test(`vm collection (${tier}): context pointer fields load as whole packet addresses`, () => {
    // r2 = ctx->data; r3 = ctx->data_end; r0 = *(u8 *)(r2 + 1); r0 += r3 - r2; exit
    for (const [type, data, end] of [[ProgramType.XDP, 0, 4], [ProgramType.SCHED_CLS, 76, 80]]) {
      using coll = loadVmCollection(
        program(type as ProgramType, [
          { opcode: 0x61, dst: 2, src: 1, offset: data },
          { opcode: 0x61, dst: 3, src: 1, offset: end },
          { opcode: 0x71, dst: 0, src: 2, offset: 1 },
          { opcode: 0x1f, dst: 3, src: 2 },
          { opcode: 0x0f, dst: 0, src: 3 },
          EXIT,
        ]),
        { tier },
      );
      const packet = new Uint8Array(64);
      packet[1] = 40;
      assert.equal(coll.programs.get("p")!.run(packet).retval, 104, `type ${type}`);
    }
  });

  test(`vm collection (${tier}): a plugin helper replaces a built-in one`, async () => {
    const clock: VmHelper = { name: "ktime_get_ns", call: () => 1234n };
    const loader = Loader.create([{ name: "fixed-clock", helpers: { 5: clock } }]);
    using coll = await loader.backend("vm", { tier }).load(
      program(ProgramType.SYSCALL, [{ opcode: 0x85, imm: 5 }, EXIT]),
    ) as ReturnType<typeof loadVmCollection>;
    const r = coll.programs.get("p")!.run(new Uint8Array(0), { ctx: new Uint8Array(8) });
    assert.equal(r.r0, 1234n);
  });
}

test("vm collection: bad input is a typed error", async () => {
  const s = await spec("xdp_counter.o");
  assert.throws(() => loadVmCollection(s, { programs: ["nope"] }), isVm("VM_NO_PROGRAM"));
  assert.throws(() => loadVmCollection(s, { tier: "fast" as never }), isVm("VM_BAD_RUN"));
  assert.throws(
    () => loadVmCollection(program(ProgramType.XDP, [{ opcode: 0x85, imm: 9999 }, EXIT])),
    isVm("VM_BAD_PROGRAM", /load program p: pc 0: unknown helper/),
  );
  const coll = loadVmCollection(s);
  const prog = coll.programs.get("xdp_count")!;
  assert.throws(() => prog.run(new Uint8Array(4)), isVm("VM_BAD_RUN", /Ethernet header/));
  assert.throws(() => prog.run(new Uint8Array(64), { repeat: -1 }), isVm("VM_BAD_RUN"));
  assert.throws(() => prog.pin("/sys/fs/bpf/x"), isVm("VM_NOT_SUPPORTED"));
  coll.close();
  coll.close();
  assert.throws(() => prog.run(new Uint8Array(64)), isVm("VM_CLOSED"));
  assert.throws(() => coll.maps.get("counts")!.get(0), isVm("VM_CLOSED"));
  // A runaway program stops at the budget.
  using loop = loadVmCollection(program(ProgramType.XDP, [{ opcode: 0x05, offset: -1 }, EXIT]), {
    runtime: { budget: 10_000 },
  });
  assert.throws(() => loop.programs.get("p")!.run(new Uint8Array(64)), isVm("VM_BUDGET", /pc 0/));
});

test("vm collection: 1,000 load/run/close cycles, good and failing, leave the arena as it was", async () => {
  const good = await spec("btf_maps.o");
  const bad = program(ProgramType.XDP, [{ opcode: 0x85, imm: 9999 }, EXIT]);
  const memory = new VmMemory();
  const cycle = (i: number) => {
    if (i % 3 === 2) {
      assert.throws(() => loadVmCollection(bad, { memory }), isVm("VM_BAD_PROGRAM"));
      return;
    }
    using coll = loadVmCollection(good, { memory, tier: VM_TIERS[i % VM_TIERS.length] });
    const p = new Uint8Array(60);
    coll.programs.get("use_btf_maps")!.run(p);
    if (i % 7 === 0) {
      assert.throws(
        () => coll.programs.get("use_btf_maps")!.run(p, { budget: 3 }),
        isVm("VM_BUDGET"),
      );
    }
  };
  for (let i = 0; i < 50; i++) cycle(i);
  const regions = memory.regionCount;
  const top = memory.heapTop;
  for (let i = 0; i < 1000; i++) cycle(i);
  assert.equal(memory.regionCount, regions, "every region unmapped");
  assert.equal(memory.regionCount, 0);
  assert.equal(memory.heapTop, top, "freed blocks reused: the arena did not grow");
});

test("vm backend: per-load selection options are passed on and checked", async () => {
  const backend = Loader.create().backend("vm", {});
  const s = await spec("xdp_counter.o");
  {
    using coll = await backend.load(s, { exclude: ["xdp_*"], optional: ["x*"] }) as ReturnType<
      typeof loadVmCollection
    >;
    assert.deepEqual([...coll.programs.keys()], []);
    assert.equal(coll.report[0].reason, "excluded");
  }
  for (const bad of [{ include: "xdp_*" }, { optional: "yes" }, { exclude: [1] }]) {
    await assert.rejects(backend.load(s, bad), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.path ?? "", /^options\.(include|optional|exclude)/);
      return true;
    });
  }
});
