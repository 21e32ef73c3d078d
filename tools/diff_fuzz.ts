/**
 * Differential fuzzing of the VM against the kernel: random programs the
 * verifier accepts (`tools/_bpf_gen.ts`) run on both, and their retval,
 * output packet and map contents must agree. Prints the seed first; stops
 * at the first mismatch with a shrunk reproducer (disassembly, inputs, both
 * results):
 *
 *   deno run -A tools/diff_fuzz.ts [--runs 10000] [--seed N] [--tier interpret|jit|both]
 *     [--max-body N] [--kernel-bugs]
 *
 * `--kernel-bugs` also generates what known kernel verifier bugs miscompile
 * (`tools/diff_fuzz_notes.md`), to see whether this kernel still has them.
 *
 * The module also exports the harness the CI test (`tests/vm_diff_test.ts`)
 * uses: {@link diffCase}, {@link loadVm}, {@link formatReproducer}.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import fc from "fast-check";
import { loadCollectionSync } from "../backends/kernel/loader.ts";
import { SyscallError, VerifierError } from "../backends/kernel/errors.ts";
import { syscalls } from "../backends/kernel/syscalls.ts";
import type { CollectionSpec } from "../collection/spec.ts";
import { disassemble } from "../isa/disasm.ts";
import {
  caseSpec,
  type GenOptions,
  hex,
  initialKeys,
  initialValue,
  KEY_RANGE,
  MAP_NAME,
  PROG_NAME,
  type ProgramCase,
  programCaseArbitrary,
  programInstructions,
  SCALARS,
  u32Key,
} from "./_bpf_gen.ts";

const E2BIG = 7;

/** A VM tier's name. */
export type Tier = "interpret" | "jit";

/** What one backend made of a case: `map[k]` is key k's value, empty when absent. */
export type Outcome =
  | { retval: number; data: Uint8Array; map: Uint8Array[] }
  | { error: string };

/** The part of the VM backend the harness uses (loaded lazily: it may be absent). */
export interface VmBackend {
  /** `backends/vm/collection.ts`'s `loadVmCollection`. */
  load(spec: CollectionSpec, options: { tier: Tier }): VmCollectionLike;
}

/** The part of a collection (kernel or VM) the harness uses. */
export interface VmCollectionLike {
  /** Programs by name. */
  programs: Map<string, { run(input: Uint8Array): { retval: number; data: Uint8Array } }>;
  /** Maps by name. */
  maps: Map<string, { lookup(key: Uint8Array): Uint8Array | undefined }>;
  /** Release everything. */
  close(): void;
}

/** The verdict on one case. */
export type DiffResult =
  | { status: "rejected"; reason: string }
  | { status: "match"; kernel: Outcome }
  | { status: "mismatch"; kernel: Outcome; tier: Tier; vm: Outcome; difference: string }
  | { status: "error"; error: string };

/** Why bpf(2) cannot be used here, or `undefined` when it can. */
export function kernelSkipReason(): string | undefined {
  try {
    syscalls();
  } catch (err) {
    return `no FFI: ${(err as Error).message}`;
  }
  try {
    const probe = programCaseArbitrary({ maxBody: 0 });
    const [c] = fc.sample(probe, { numRuns: 1, seed: 1 });
    const r = runKernel(c);
    if ("reason" in r) return `the verifier refuses even an empty program: ${r.reason}`;
  } catch (err) {
    return `bpf(2) unavailable: ${(err as Error).message}`;
  }
  return undefined;
}

/**
 * The VM backend, or a reason it is absent (`backends/vm/collection.ts`
 * missing or not loadable). The import is dynamic so this tool keeps
 * working, kernel-only, while the VM is being written.
 */
export async function loadVm(): Promise<VmBackend | string> {
  const url = new URL("../backends/vm/collection.ts", import.meta.url).href;
  try {
    const mod = await import(url);
    const load = mod.loadVmCollection as (
      spec: CollectionSpec,
      options: { tier: Tier },
    ) => VmCollectionLike;
    return { load: (spec, options) => load(spec, options) };
  } catch (err) {
    return `VM backend not loadable: ${(err as Error).message.split("\n")[0]}`;
  }
}

/** Whether `tier` runs in this VM build (a jit-less build says "tier jit is not available"). */
export function tierAvailable(vm: VmBackend, tier: Tier): boolean {
  const [c] = fc.sample(programCaseArbitrary({ maxBody: 0 }), { numRuns: 1, seed: 1 });
  try {
    vm.load(caseSpec(c), { tier }).close();
    return true;
  } catch (err) {
    if (/not available|unknown VM tier/i.test(String((err as Error).message))) return false;
    return true; // some other failure: let the runs report it
  }
}

function collect(coll: VmCollectionLike, c: ProgramCase): Outcome {
  const { retval, data } = coll.programs.get(PROG_NAME)!.run(c.packet.slice());
  const map: Uint8Array[] = [];
  // The VM creates only the maps its programs reference (the kernel loader
  // creates all): a map the program never names keeps its initial values.
  const m = coll.maps.get(MAP_NAME);
  const present = initialKeys(c);
  for (let i = 0; i < KEY_RANGE; i++) {
    if (m !== undefined) map.push(m.lookup(u32Key(i)) ?? new Uint8Array(0));
    else map.push(present.includes(i) ? initialValue(c, i) : new Uint8Array(0));
  }
  return { retval: retval >>> 0, data: data.slice(), map };
}

/** The line of a verifier log that says why, without the state dumps around it. */
function verifierReason(err: VerifierError): string {
  const skip =
    /^(processed |verification time|stack depth|old state:|cur state:|\d+: |from \d+ to \d+:|; )/;
  const lines = err.log.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !skip.test(l));
  return lines.at(-1) ?? err.message;
}

/** Load and run `c` in the kernel; a verifier rejection gives its last log line. */
export function runKernel(c: ProgramCase): Outcome | { reason: string } {
  let coll;
  try {
    coll = loadCollectionSync(caseSpec(c));
  } catch (err) {
    if (err instanceof VerifierError) return { reason: verifierReason(err) };
    // The verifier's complexity limit (1M processed insns) fails with E2BIG and no log.
    if (err instanceof SyscallError && err.command === "BPF_PROG_LOAD" && err.errno === E2BIG) {
      return { reason: "BPF_PROG_LOAD: E2BIG (the verifier's complexity limit)" };
    }
    throw err;
  }
  try {
    return collect(coll as unknown as VmCollectionLike, c);
  } finally {
    coll.close();
  }
}

/** Load and run `c` in the VM; any error becomes the outcome (the kernel ran it fine). */
export function runVm(vm: VmBackend, c: ProgramCase, tier: Tier): Outcome {
  let coll: VmCollectionLike | undefined;
  try {
    coll = vm.load(caseSpec(c), { tier });
    return collect(coll, c);
  } catch (err) {
    const e = err as Error;
    return { error: `${e.name}: ${e.message}` };
  } finally {
    coll?.close();
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** How two outcomes differ, or `undefined` when they agree. */
export function compareOutcomes(k: Outcome, v: Outcome): string | undefined {
  if ("error" in k || "error" in v) {
    if ("error" in k && "error" in v) {
      return k.error === v.error ? undefined : "both failed, differently";
    }
    return "error" in v
      ? `the VM failed: ${v.error}`
      : `the kernel failed: ${(k as { error: string }).error}`;
  }
  const diffs: string[] = [];
  if (k.retval !== v.retval) diffs.push(`retval ${k.retval} vs ${v.retval}`);
  if (!bytesEqual(k.data, v.data)) diffs.push(dataDiff(k.data, v.data));
  k.map.forEach((entry, i) => {
    if (!bytesEqual(entry, v.map[i])) diffs.push(`map key ${i} differs`);
  });
  return diffs.length === 0 ? undefined : diffs.join("; ");
}

function dataDiff(k: Uint8Array, v: Uint8Array): string {
  if (k.length !== v.length) return `packet length ${k.length} vs ${v.length}`;
  const at: string[] = [];
  for (let i = 0; i < k.length; i++) {
    if (k[i] === v[i]) continue;
    const where = i >= 192 && i < 256
      ? `stack fp-${64 - (i - 192)}`
      : i >= 128 && i < 192
      ? `r${SCALARS[(i - 128) >> 3]} byte ${(i - 128) & 7}`
      : `packet[${i}]`;
    if (at.length < 6) at.push(where);
  }
  return `packet bytes differ at ${at.join(", ")}`;
}

/**
 * Run `c` on the kernel, then on each VM tier in `tiers`. A kernel failure
 * other than a verifier rejection is an `error` (a harness or generator bug).
 */
export function diffCase(
  c: ProgramCase,
  options: { vm?: VmBackend; tiers: readonly Tier[] },
): DiffResult {
  const { vm, tiers } = options;
  let kernel;
  // A system call can fail for reasons of the moment (memory, other tests'
  // load): try again before calling it an error.
  for (let attempt = 1;; attempt++) {
    try {
      kernel = runKernel(c);
      break;
    } catch (err) {
      if (attempt < 3) continue;
      return { status: "error", error: `kernel: ${(err as Error).message}` };
    }
  }
  if ("reason" in kernel) return { status: "rejected", reason: kernel.reason };
  if (vm !== undefined) {
    for (const tier of tiers) {
      const out = runVm(vm, c, tier);
      const difference = compareOutcomes(kernel, out);
      if (difference !== undefined) {
        return { status: "mismatch", kernel, tier, vm: out, difference };
      }
    }
  }
  return { status: "match", kernel };
}

function u64(bytes: Uint8Array, at: number): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return "0x" + view.getBigUint64(at, true).toString(16).padStart(16, "0");
}

function describe(o: Outcome): string {
  if ("error" in o) return `  error: ${o.error}`;
  const lines = [`  retval: ${o.retval} (0x${o.retval.toString(16)})`];
  if (o.data.length >= 256) {
    lines.push(
      "  registers at exit: " +
        SCALARS.map((r, i) => `r${r}=${u64(o.data, 128 + 8 * i)}`).join(" "),
    );
  }
  lines.push("  packet:\n" + indent(hex(o.data)));
  o.map.forEach((v, i) => lines.push(`  map[${i}]: ${v.length === 0 ? "(absent)" : hex(v)}`));
  return lines.join("\n");
}

function indent(text: string): string {
  return text.split("\n").map((l) => "    " + l).join("\n");
}

/** A reproducer of a mismatch: the program's disassembly, its inputs and both results. */
export function formatReproducer(c: ProgramCase, r: DiffResult): string {
  const lines = [
    `program (${c.tc ? "SCHED_CLS" : "XDP"}, ${c.hash ? "hash" : "array"} map "${MAP_NAME}": ` +
    `key_size 4, value_size ${c.valueSize}, max_entries ${c.maxEntries}):`,
    disassemble(programInstructions(c), { annotate: true }).trimEnd(),
    `input packet (${c.packet.length} bytes):`,
    indent(hex(c.packet)),
    "initial map values:",
  ];
  for (const i of initialKeys(c)) lines.push(`  map[${i}]: ${hex(initialValue(c, i))}`);
  if (r.status === "mismatch") {
    lines.push(`difference (${r.tier}): ${r.difference}`, "kernel:", describe(r.kernel));
    lines.push(`vm (${r.tier}):`, describe(r.vm));
  } else if (r.status === "rejected") {
    lines.push(`verifier: ${r.reason}`);
  } else if (r.status === "error") {
    lines.push(`error: ${r.error}`);
  }
  return lines.join("\n");
}

/** Counters of a fuzz run. */
export interface FuzzStats {
  /** Programs the verifier accepted and both sides ran. */
  accepted: number;
  /** Programs the verifier refused, by last log line. */
  rejected: Map<string, number>;
}

/** Options of {@link fuzz}. */
export interface FuzzOptions extends GenOptions {
  /** Runs; default 10,000. */
  runs?: number;
  /** fast-check seed. */
  seed: number;
  /** VM tiers to compare against the kernel (none: kernel only). */
  tiers: Tier[];
  /** The VM, when present. */
  vm?: VmBackend;
  /** Called every 1,000 runs. */
  progress?: (done: number, stats: FuzzStats) => void;
}

/** What {@link fuzz} found: counters, and the shrunk first mismatch if any. */
export interface FuzzReport {
  /** Counters up to the first mismatch. */
  stats: FuzzStats;
  /** The shrunk failing case and its verdict. */
  failure?: { case: ProgramCase; result: DiffResult; shrinks: number; run: number };
}

/** Run the differential property `runs` times from `seed`; stops (and shrinks) at the first mismatch. */
export function fuzz(options: FuzzOptions): FuzzReport {
  const stats: FuzzStats = { accepted: 0, rejected: new Map() };
  let failing = false;
  let done = 0;
  const details = fc.check(
    fc.property(programCaseArbitrary(options), (c) => {
      const r = diffCase(c, options);
      if (!failing) {
        if (r.status === "rejected") {
          stats.rejected.set(r.reason, (stats.rejected.get(r.reason) ?? 0) + 1);
        } else if (r.status === "match") stats.accepted++;
        if (r.status === "mismatch" || r.status === "error") failing = true;
        else if (++done % 1000 === 0) options.progress?.(done, stats);
      }
      return r.status !== "mismatch" && r.status !== "error";
    }),
    { numRuns: options.runs ?? 10_000, seed: options.seed },
  );
  if (!details.failed || details.counterexample === null) return { stats };
  const c = details.counterexample[0];
  return {
    stats,
    failure: {
      case: c,
      result: diffCase(c, options),
      shrinks: details.numShrinks,
      run: details.numRuns,
    },
  };
}

function rejectedTotal(stats: FuzzStats): number {
  let n = 0;
  for (const v of stats.rejected.values()) n += v;
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "10000" },
      seed: { type: "string" },
      tier: { type: "string", default: "both" },
      "max-body": { type: "string" },
      "kernel-bugs": { type: "boolean", default: false },
    },
  });
  const runs = Number(values.runs);
  const seed = values.seed === undefined ? (Date.now() & 0x7fffffff) : Number(values.seed);
  const tierArg = values.tier!;
  if (!["interpret", "jit", "both"].includes(tierArg)) {
    console.error(`--tier must be interpret, jit or both, not ${tierArg}`);
    return 2;
  }
  const maxBody = values["max-body"] === undefined ? undefined : Number(values["max-body"]);
  const kernelBugs = values["kernel-bugs"] === true;
  console.log(
    `diff-fuzz: seed ${seed} (replay: deno run -A tools/diff_fuzz.ts --runs ${runs} --seed ${seed} --tier ${tierArg}${
      maxBody === undefined ? "" : ` --max-body ${maxBody}`
    }${kernelBugs ? " --kernel-bugs" : ""})`,
  );
  const skip = kernelSkipReason();
  if (skip !== undefined) {
    console.log(`diff-fuzz: cannot run: ${skip}`);
    return 1;
  }
  const vmOrReason = await loadVm();
  let tiers: Tier[] = tierArg === "both" ? ["interpret", "jit"] : [tierArg as Tier];
  let vm: VmBackend | undefined;
  if (typeof vmOrReason === "string") {
    console.log(`diff-fuzz: ${vmOrReason}; running the kernel side only`);
    tiers = [];
  } else {
    vm = vmOrReason;
    const missing = tiers.filter((t) => !tierAvailable(vmOrReason, t));
    for (const t of missing) console.log(`diff-fuzz: tier ${t} is not available; skipped`);
    tiers = tiers.filter((t) => !missing.includes(t));
  }
  console.log(`diff-fuzz: ${runs} runs, kernel vs ${tiers.length ? tiers.join(" + ") : "nothing"}`);
  const started = performance.now();
  const report = fuzz({
    runs,
    seed,
    tiers,
    vm,
    maxBody,
    kernelBugs,
    progress: (done, stats) =>
      console.log(
        `  ${done} runs: ${stats.accepted} accepted, ${rejectedTotal(stats)} rejected, ${
          ((performance.now() - started) / 1000).toFixed(1)
        } s`,
      ),
  });
  const secs = (performance.now() - started) / 1000;
  const { stats } = report;
  const rejected = rejectedTotal(stats);
  console.log(
    `diff-fuzz: ${stats.accepted} accepted, ${rejected} rejected by the verifier (${
      (100 * stats.accepted / Math.max(1, stats.accepted + rejected)).toFixed(1)
    }% accepted), ${report.failure ? 1 : 0} mismatches, ${secs.toFixed(1)} s`,
  );
  const reasons = [...stats.rejected].sort((a, b) => b[1] - a[1]).slice(0, 8);
  for (const [reason, n] of reasons) console.log(`  rejected ${n}×: ${reason}`);
  if (report.failure !== undefined) {
    const f = report.failure;
    console.log(
      `\ndiff-fuzz: ${
        f.result.status === "error" ? "ERROR" : "MISMATCH"
      } at run ${f.run} (shrunk ${f.shrinks} times), seed ${seed}\n`,
    );
    console.log(formatReproducer(f.case, f.result));
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  const code = await main();
  if (code !== 0) process.exitCode = code;
}
