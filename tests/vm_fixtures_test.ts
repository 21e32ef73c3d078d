// Every fixture program in the VM, through the same API as the kernel
// backend, and the same results as the kernel's BPF_PROG_TEST_RUN for the
// program types the kernel can test-run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadCollectionSpec } from "../mod.ts";
import type { CollectionSpec } from "../collection/spec.ts";
import { MapType, ProgramType } from "../collection/types.ts";
import { loadCollection } from "../backends/kernel/mod.ts";
import { loadVmCollection } from "../backends/vm/collection.ts";
import { contextKind } from "../backends/vm/context.ts";
import { VmError } from "../backends/vm/errors.ts";
import { VM_TIERS } from "../backends/vm/tiers.ts";
import { kernelSkipReason } from "./_kernel_util.ts";
import { fixtureObjects, readFixture } from "./_util.ts";

const SKIP = kernelSkipReason();
if (SKIP !== undefined) console.log(`VM-vs-kernel fixture tests skipped: ${SKIP}`);

/** Programs the VM refuses, and why (what the kernel backend can't do either, or VM limits). */
const VM_REFUSES: Record<string, RegExp> = {
  // kconfig/ksym externs and kfuncs are resolved by issue 7's plugins.
  "externs.o": /extern|kfunc/,
};

/** Packets every test-runnable program sees: zeros, IPv4/UDP, IPv6/TCP, and noise. */
function packets(): Uint8Array[] {
  const zeros = new Uint8Array(64);
  const ipv4 = new Uint8Array(74);
  ipv4.set([0x08, 0x00], 12);
  ipv4.set([0x45, 0, 0, 60, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  ipv4.set([0x13, 0x88, 0x00, 0x35, 0, 40, 0, 0], 34);
  const ipv6 = new Uint8Array(94);
  ipv6.set([0x86, 0xdd], 12);
  ipv6.set([0x60, 0, 0, 0, 0, 20, 6, 64], 14);
  ipv6[37] = 1;
  ipv6[53] = 2;
  const noise = new Uint8Array(128);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 167 + 13) & 0xff;
  return [zeros, ipv4, ipv6, noise];
}

/** Types the kernel can test-run on a packet (the others need a device or a cgroup). */
const KERNEL_PACKET_TYPES: ReadonlySet<number> = new Set([
  ProgramType.XDP,
  ProgramType.SOCKET_FILTER,
  ProgramType.SCHED_CLS,
  ProgramType.SCHED_ACT,
]);

const ID_VALUED: ReadonlySet<number> = new Set([
  MapType.PROG_ARRAY,
  MapType.ARRAY_OF_MAPS,
  MapType.HASH_OF_MAPS,
]);

function mapDump(
  coll: { maps: Map<string, { entries(): Iterable<[Uint8Array, Uint8Array]>; type: number }> },
) {
  const out: Record<string, string[]> = {};
  for (const [name, map] of coll.maps) {
    try {
      // Prog arrays and map-of-maps hold IDs, which differ between the two.
      const ids = ID_VALUED.has(map.type);
      out[name] = [...map.entries()].map(([k, v]) => `${hex(k)}=${ids ? "id" : hex(v)}`).sort();
    } catch {
      out[name] = ["(not iterable)"];
    }
  }
  return out;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function specOf(file: string): Promise<CollectionSpec | undefined> {
  try {
    return await loadCollectionSpec(readFixture(`bpfel/${file}`));
  } catch {
    return undefined; // the broken-on-purpose fixtures
  }
}

for (const file of fixtureObjects("bpfel")) {
  for (const tier of VM_TIERS) {
    test(`vm fixtures (${tier}): ${file} loads and every program runs`, async () => {
      const spec = await specOf(file);
      if (spec === undefined) return;
      const refuse = VM_REFUSES[file];
      if (refuse !== undefined) {
        assert.throws(
          () => loadVmCollection(spec, { tier }),
          (err: unknown) => err instanceof VmError && refuse.test(err.message),
        );
        return;
      }
      using coll = loadVmCollection(spec, { tier });
      for (const [name, prog] of coll.programs) {
        const isPacket = contextKind(prog.type) !== "raw";
        const result = isPacket
          ? prog.run(packets()[1])
          : prog.run(new Uint8Array(0), { ctx: new Uint8Array(256) });
        assert.equal(typeof result.retval, "number", name);
        assert.ok(result.steps > 0, `${name} executed instructions`);
      }
    });
  }
}

for (const file of fixtureObjects("bpfel")) {
  test(`vm vs kernel: ${file} test runs agree`, { skip: SKIP ?? false }, async () => {
    const spec = await specOf(file);
    if (spec === undefined || VM_REFUSES[file] !== undefined) return;
    for (const [name, ps] of spec.programs) {
      if (!KERNEL_PACKET_TYPES.has(ps.type)) continue;
      let kernel;
      try {
        kernel = await loadCollection(spec, { programs: [name] });
      } catch {
        continue; // programs this kernel refuses are covered by the kernel tests
      }
      try {
        for (const tier of VM_TIERS) {
          using vm = loadVmCollection(spec, { programs: [name], tier });
          // Fresh kernel maps for each tier: reload.
          kernel.close();
          kernel = await loadCollection(spec, { programs: [name] });
          for (const packet of packets()) {
            const k = kernel.programs.get(name)!.run(packet);
            const v = vm.programs.get(name)!.run(packet);
            const what = `${name} (${tier}) on ${packet.length} bytes`;
            assert.equal(v.retval, k.retval, `${what}: retval`);
            assert.equal(hex(v.data), hex(k.data), `${what}: packet out`);
          }
          assert.deepEqual(mapDump(vm), mapDump(kernel), `${name} (${tier}): maps after the runs`);
        }
      } finally {
        kernel.close();
      }
    }
  });
}
