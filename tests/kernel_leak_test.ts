// The kernel loader leaks neither file descriptors nor memory: 1,000
// load/close cycles against the real kernel, a quarter of them each
//   - xdp_counter.o, loaded, run once in a while, and closed;
//   - the same spec with a program the verifier rejects (r2 is read
//     before anything is written to it);
//   - the same spec with a map the kernel refuses to create (a hash map
//     with max_entries 0: EINVAL);
//   - a selection of a program that doesn't exist, which fails before any
//     fd is made;
// with /proc/self/fd counted before and after (it must be equal) and the
// heap after a forced GC compared (it must not grow without bound). Runs
// under Deno and Bun; skips, saying why, where bpf(2) or FFI is unavailable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import v8 from "node:v8";
import vm from "node:vm";
import { loadCollectionSpec } from "../mod.ts";
import type { CollectionSpec } from "../collection/spec.ts";
import { MapType } from "../collection/types.ts";
import {
  KernelError,
  loadCollection,
  SyscallError,
  syscalls,
  VerifierError,
} from "../backends/kernel/mod.ts";
import { fixturePath } from "./_util.ts";

const CYCLES = 1000;

/** Why the kernel can't be used here, or `undefined` when it can. */
function kernelSkipReason(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  try {
    syscalls();
  } catch (err) {
    return `no FFI: ${err instanceof Error ? err.message : String(err)}`;
  }
  try {
    // Deno asks for --allow-all to read /proc/self.
    if (!existsSync("/proc/self/fd")) return "no /proc/self/fd to count fds in";
    fdCount();
  } catch (err) {
    return `can't count fds in /proc/self/fd: ${err instanceof Error ? err.message : String(err)}`;
  }
  return undefined;
}

/** Why bpf(2) itself refuses service (not root, no BPF in the kernel), or `undefined`. */
async function bpfRefusal(): Promise<string | undefined> {
  const bytes = new Uint8Array(readFileSync(fixturePath("bpfel/xdp_counter.o")));
  try {
    (await loadCollection(await loadCollectionSpec(bytes))).close();
  } catch (err) {
    // Any other failure is a bug the test should report, not a reason to skip.
    if (err instanceof SyscallError && ["EPERM", "ENOSYS"].includes(err.errnoName)) {
      return `bpf(2) refused: ${err.message}`;
    }
  }
  return undefined;
}

const SKIP = kernelSkipReason() ?? await bpfRefusal();
if (SKIP !== undefined) console.log(`kernel leak test skipped: ${SKIP}`);

function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/** A forced full GC: `Bun.gc(true)` under Bun, V8's `gc()` (exposed at run time) under Deno. */
function forceGc(): void {
  const bun = (globalThis as { Bun?: { gc(sync: boolean): void } }).Bun;
  if (bun !== undefined) {
    bun.gc(true);
    return;
  }
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  gc();
  gc();
}

function heapUsed(): number {
  forceGc();
  return process.memoryUsage().heapUsed;
}

function packet(n: number): Uint8Array {
  const p = new Uint8Array(n);
  p.fill(0xaa, 0, 12);
  p[12] = 0x08;
  return p;
}

async function expectRejection(
  promise: Promise<unknown>,
  check: (err: unknown) => boolean,
  what: string,
): Promise<void> {
  let failure: unknown;
  try {
    await promise;
  } catch (err) {
    failure = err;
  }
  assert.ok(failure !== undefined, `${what}: expected the load to fail`);
  assert.ok(check(failure), `${what}: unexpected error: ${String(failure)}`);
}

interface Cases {
  good: CollectionSpec;
  rejected: CollectionSpec;
  badMap: CollectionSpec;
}

async function cases(): Promise<Cases> {
  const bytes = new Uint8Array(readFileSync(fixturePath("bpfel/xdp_counter.o")));
  const good = await loadCollectionSpec(bytes);
  const rejected = good.copy();
  // r0 = *(u64 *)(r2 + 0); exit: r2 is uninitialised, so "R2 !read_ok".
  rejected.programs.get("xdp_count")!.instructions = [
    { opcode: 0x79, dst: 0, src: 2, offset: 0, imm: 0 },
    { opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 },
  ];
  const badMap = good.copy();
  const counts = badMap.maps.get("counts")!;
  counts.type = MapType.HASH;
  counts.maxEntries = 0;
  return { good, rejected, badMap };
}

// One cycle of the mix; i picks the case.
async function cycle(i: number, c: Cases): Promise<void> {
  switch (i % 4) {
    case 0: {
      const coll = await loadCollection(c.good);
      try {
        if (i % 100 === 0) {
          assert.equal(coll.programs.get("xdp_count")!.run(packet(100)).retval, 2); // XDP_PASS
        }
      } finally {
        coll.close();
      }
      return;
    }
    case 1:
      return await expectRejection(
        loadCollection(c.rejected),
        (err) => err instanceof VerifierError && /R2 !read_ok/.test(err.log),
        "verifier rejection",
      );
    case 2:
      return await expectRejection(
        loadCollection(c.badMap),
        (err) =>
          err instanceof SyscallError && !(err instanceof VerifierError) &&
          err.errnoName === "EINVAL",
        "map creation",
      );
    default:
      return await expectRejection(
        loadCollection(c.good, { programs: ["nope"] }),
        (err) => err instanceof KernelError && err.code === "KERNEL_NO_PROGRAM",
        "unknown program",
      );
  }
}

test(
  `no fd or memory leaks over ${CYCLES} load/close cycles, failing loads included`,
  { skip: SKIP ?? false, timeout: 120000 },
  async () => {
    const c = await cases();
    // Warm up: the FFI library, feature probes and compiled code are made
    // once per process and kept; they are not leaks.
    for (let i = 0; i < 100; i++) await cycle(i, c);
    const fdsBefore = fdCount();
    const heapBefore = heapUsed();
    const start = performance.now();
    for (let i = 0; i < CYCLES; i++) {
      await cycle(i, c);
      // The fds a load made are closed before the next cycle starts.
      if (i % 250 === 249) assert.equal(fdCount(), fdsBefore, `fds after ${i + 1} cycles`);
    }
    const ms = performance.now() - start;
    const fdsAfter = fdCount();
    const heapAfter = heapUsed();
    console.log(
      `${CYCLES} load/close cycles: ${(ms / CYCLES).toFixed(3)} ms each; fds ${fdsBefore} → ` +
        `${fdsAfter}; heap after GC ${(heapBefore / 2 ** 20).toFixed(1)} MiB → ${
          (heapAfter / 2 ** 20).toFixed(1)
        } MiB`,
    );
    assert.equal(fdsAfter, fdsBefore, "every fd a load opened is closed again");
    // Generous: about 0.2 MiB is normal noise here over 1,000 cycles, while
    // keeping one copy of the spec per cycle adds 3.6 MiB. So 2 KiB per
    // cycle catches a spec, a collection or a verifier log kept per load
    // without flaking on what the GC leaves.
    const allowed = 2 * 1024 * CYCLES;
    assert.ok(
      heapAfter - heapBefore <= allowed,
      `heap after GC grew by ${heapAfter - heapBefore} bytes over ${CYCLES} cycles ` +
        `(allowed ${allowed})`,
    );
  },
);
