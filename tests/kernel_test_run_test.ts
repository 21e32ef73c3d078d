// BPF_PROG_TEST_RUN of context-only program types (syscall, raw tracepoint)
// against the real kernel: the results follow from fixtures/src/test_run_progs.c.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadCollectionSpec } from "../mod.ts";
import { KernelError, loadCollection } from "../backends/kernel/mod.ts";
import { readFixture } from "./_util.ts";
import { kernelSkipReason } from "./_kernel_util.ts";

const SKIP = kernelSkipReason();
if (SKIP !== undefined) console.log(`kernel test-run tests skipped: ${SKIP}`);

for (const dir of ["bpfel"] as const) {
  test(
    `test run: ${dir} syscall program reads and writes its context`,
    { skip: SKIP ?? false },
    async () => {
      const spec = await loadCollectionSpec(readFixture(`${dir}/test_run_progs.o`));
      using coll = await loadCollection(spec, { programs: ["sum_syscall"] });
      const ctx = new Uint8Array(12);
      const view = new DataView(ctx.buffer);
      view.setUint32(0, 3, true);
      view.setUint32(4, 4, true);
      const result = coll.programs.get("sum_syscall")!.run(new Uint8Array(0), { ctx });
      assert.equal(result.retval, 6, "returns twice a");
      const out = new DataView(result.ctx!.buffer, result.ctx!.byteOffset, result.ctx!.byteLength);
      assert.equal(out.getUint32(8, true), 7, "writes a + b into sum");
    },
  );

  test(
    `test run: ${dir} raw tracepoint program sums its arguments`,
    { skip: SKIP ?? false },
    async () => {
      const spec = await loadCollectionSpec(readFixture(`${dir}/test_run_progs.o`));
      using coll = await loadCollection(spec, { programs: ["raw_tp_sum"] });
      const args = new Uint8Array(16);
      const view = new DataView(args.buffer);
      view.setBigUint64(0, 5n, true);
      view.setBigUint64(8, 6n, true);
      const result = coll.programs.get("raw_tp_sum")!.run(new Uint8Array(0), { ctx: args });
      assert.equal(result.retval, 11);
      const prog = coll.programs.get("raw_tp_sum")!;
      assert.throws(
        () => prog.run(new Uint8Array(4), { ctx: args }),
        (err: unknown) =>
          err instanceof KernelError && err.code === "KERNEL_BAD_RUN" &&
          /pass it as ctx/.test(err.message),
      );
      assert.throws(
        () => prog.run(new Uint8Array(0), { ctx: args, repeat: 5 }),
        (err: unknown) => err instanceof KernelError && err.code === "KERNEL_BAD_RUN",
      );
    },
  );
}

test("kernel maps: data sections read and write by variable name through their DATASEC", {
  skip: SKIP ?? false,
}, async () => {
  const spec = await loadCollectionSpec(readFixture("bpfel/data_sections.o"));
  using coll = await loadCollection(spec);
  assert.deepEqual(coll.maps.get(".rodata")!.get(0), { ro_limit: 1500, ro_mode: 2 });
  const data = coll.maps.get(".data")!;
  assert.deepEqual(data.get(0), { data_first: 1, data_second: 2n, data_static: 3 });
  data.set(0, { data_first: 7, data_second: 8n, data_static: 9 });
  assert.deepEqual(data.get(0), { data_first: 7, data_second: 8n, data_static: 9 });
});
