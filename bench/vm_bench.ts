/**
 * VM benchmark: nanoseconds per BPF instruction of the VM's interpreter and
 * compiled (`jit`) tiers, next to the kernel's JIT measured in the same run
 * with `BPF_PROG_TEST_RUN` on the same bytecode.
 *
 * ```sh
 * deno task bench:vm                  # deno run -A bench/vm_bench.ts
 * bun bench/vm_bench.ts
 * deno run -A bench/vm_bench.ts --time 1 --rounds 7 --only fnv1a_rw_1k --json
 * ```
 *
 * Each program of the directory (default `/work/shared/bench/vm/`) is a
 * `NAME.bin` (raw little-endian bytecode, r1 = memory, r2 = its length) with
 * a `NAME.json` (memory size and contents, the expected r0, instructions per
 * run, whether the kernel's verifier accepts it). For each implementation:
 * one checked run (r0 against the expected value), a warm-up of a fifth of
 * `--time` (at least 0.2 s), then `--rounds` rounds sharing `--time` seconds; the median round
 * gives ns per instruction. See bench/README.md for what the figures include.
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { basename, join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { createRawRunner, type RawRunner } from "../backends/vm/run.ts";
import type { VmTier } from "../backends/vm/types.ts";
import {
  closeFd,
  mapCreate,
  mapUpdate,
  progLoad,
  progTestRun,
  type Syscalls,
  syscalls,
} from "../backends/kernel/mod.ts";
import { MapType, ProgramType } from "../collection/types.ts";
import { runtimeName } from "./_util.ts";

/** Where the programs live unless `--dir` says otherwise. */
export const DEFAULT_PROGRAM_DIR = "/work/shared/bench/vm";

/** The interpreter target: 2× uBPF's 4 ns per instruction. */
export const INTERPRETER_TARGET_NS = 8;
/** The compiled tier's target: at most this many times the kernel JIT's ns per instruction. */
export const JIT_TARGET_RATIO = 3;

/** One benchmark program. */
export interface VmBenchProgram {
  name: string;
  bytes: Uint8Array;
  /** The initial memory; `undefined` when the program takes none (`mem_init` "none"). */
  memory: Uint8Array | undefined;
  /** r0 of the first run from the initial memory (u64). */
  expectedR0: bigint;
  /** Instructions per run as the `.json` gives them (a mean for programs that vary). */
  insnsPerRun: number;
  /** Whether the kernel's verifier accepts it. */
  kernelOk: boolean;
}

/** Timing options. */
export interface VmBenchOptions {
  /** Seconds of measured runs per program and implementation (after a warm-up of a fifth). */
  seconds: number;
  /** Rounds the time is split into; the median round is reported. */
  rounds: number;
  /** Which round the headline figure is: `median` (default) or `min` (the best, steadier on a busy machine). */
  stat?: "median" | "min";
}

/** One implementation's figure for one program. */
export interface VmFigure {
  /** Median round: nanoseconds per executed instruction, net of `overheadUs` per run. */
  nsPerInsn: number | null;
  /** The best round, net like `nsPerInsn`. */
  minNsPerInsn?: number;
  /** The median round's figure, net like `nsPerInsn`. */
  medianNsPerInsn?: number;
  /** The same including the per-run overhead (VM tiers only). */
  grossNsPerInsn?: number;
  /** Per-run cost of the raw runner outside the program (memory copied in and out, entry). */
  overheadUs?: number;
  /** Runs measured over all rounds. */
  runs: number;
  /** Mean instructions per run measured (exact step counts for the VM; the `.json` figure for the kernel). */
  insnsPerRun: number;
  /** Whether r0 of the first run matched (the kernel: its low 32 bits). */
  r0Ok: boolean | null;
  error: string | null;
}

/** Everything measured for one program. */
export interface VmBenchRow {
  program: string;
  insnsPerRun: number;
  interpret: VmFigure;
  jit: VmFigure;
  kernel: VmFigure;
}

// --- reading the programs ---------------------------------------------------

/** Read `NAME.bin` + `NAME.json`; `expected_r0` is taken from the raw text as a BigInt. */
export function readProgram(dir: string, name: string): VmBenchProgram {
  const text = readFileSync(join(dir, `${name}.json`), "utf8");
  const meta = JSON.parse(text) as Record<string, unknown>;
  const raw = /"expected_r0"\s*:\s*"?(-?\d+)"?/.exec(text);
  if (raw === null) throw new Error(`${name}.json: no expected_r0`);
  const memLen = Number(meta.mem_len ?? 0);
  return {
    name,
    bytes: new Uint8Array(readFileSync(join(dir, `${name}.bin`))),
    memory: initialMemory(String(meta.mem_init ?? "none"), memLen, name),
    expectedR0: BigInt.asUintN(64, BigInt(raw[1])),
    insnsPerRun: Number(meta.insns_per_run),
    kernelOk: meta.kernel_ok === true,
  };
}

/** The memory `mem_init` describes: "none", "zero" or "…: mem[i] = (i*A+B) & 0xff". */
export function initialMemory(init: string, len: number, name = "?"): Uint8Array | undefined {
  if (init === "none") return len === 0 ? undefined : new Uint8Array(len);
  if (init === "zero") return new Uint8Array(len);
  const pat = /mem\[i\]\s*=\s*\(i\s*\*\s*(\d+)\s*\+\s*(\d+)\)\s*&\s*0xff/.exec(init);
  if (pat === null) throw new Error(`${name}.json: unknown mem_init ${JSON.stringify(init)}`);
  const a = Number(pat[1]), b = Number(pat[2]);
  const mem = new Uint8Array(len);
  for (let i = 0; i < len; i++) mem[i] = (i * a + b) & 0xff;
  return mem;
}

/** The program names of `dir` (every `.bin` with a `.json`), sorted. */
export function listPrograms(dir: string): string[] {
  const files = new Set(readdirSync(dir));
  return [...files].filter((f) => f.endsWith(".bin") && files.has(f.replace(/\.bin$/, ".json")))
    .map((f) => basename(f, ".bin")).sort();
}

// --- timing -------------------------------------------------------------------

interface Round {
  ms: number;
  runs: number;
  steps: number;
}

// Runs `once` (which returns the instructions it executed) `runs` times, or as
// many times as fit in `ms` when runs is 0; at least once.
function round(once: () => number, runs: number, ms: number): Round {
  let steps = 0, n = 0;
  const start = performance.now();
  let now = start;
  do {
    steps += once();
    n++;
    if (runs === 0) now = performance.now();
  } while (runs === 0 ? now - start < ms : n < runs);
  if (runs !== 0) now = performance.now();
  return { ms: now - start, runs: n, steps };
}

function median<T>(xs: T[], key: (x: T) => number): T {
  const sorted = [...xs].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor(sorted.length / 2)];
}

function best<T>(xs: T[], key: (x: T) => number): T {
  return xs.reduce((a, b) => key(b) < key(a) ? b : a);
}

// Warm-up and rounds; a program whose single run outlasts a round gets one
// run per round, at most three rounds and no warm-up beyond `firstMs`'s run.
function measure(once: () => number, firstMs: number, options: VmBenchOptions): Round[] {
  const roundMs = (options.seconds / options.rounds) * 1e3;
  const long = firstMs >= roundMs;
  // At least 0.2 s: the engines tier the interpreter's loop up only after a while.
  if (!long) round(once, 0, Math.max(200, roundMs * options.rounds / 5));
  const rounds: Round[] = [];
  for (let i = 0; i < (long ? Math.min(options.rounds, 3) : options.rounds); i++) {
    rounds.push(round(once, long ? 1 : 0, roundMs));
  }
  return rounds;
}

// r0 = 0; exit: times what a raw run costs outside the program.
const EMPTY_PROGRAM = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

function errorFigure(err: unknown, insnsPerRun: number): VmFigure {
  return {
    nsPerInsn: null,
    runs: 0,
    insnsPerRun,
    r0Ok: null,
    error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
  };
}

/**
 * Time one VM tier on `program` through `createRawRunner`. The runner copies
 * the memory in and out on every run; the memory a run returns is fed to the
 * next (programs that keep state in memory, like bubble's seed, see
 * consecutive runs as the kernel's repeated test runs do). The per-run cost
 * of that copy (and of entering the executor) is measured with an empty
 * program on the same memory size and subtracted: `nsPerInsn` is net of it,
 * `grossNsPerInsn` is not.
 */
export function benchTier(
  program: VmBenchProgram,
  tier: VmTier,
  options: VmBenchOptions,
): VmFigure {
  const budget = Math.max(100_000_000, Math.ceil(program.insnsPerRun * 4) + 1_000_000);
  let runner: RawRunner | undefined, empty: RawRunner | undefined;
  try {
    runner = createRawRunner(program.bytes, { memory: program.memory, tier, budget });
    let mem = program.memory;
    const t0 = performance.now();
    const first = runner.run(mem);
    const firstMs = performance.now() - t0;
    const r0Ok = first.r0 === program.expectedR0;
    if (!r0Ok) {
      return {
        ...errorFigure(
          `r0 = ${first.r0}, expected ${program.expectedR0}`,
          program.insnsPerRun,
        ),
        r0Ok,
      };
    }
    if (mem !== undefined) mem = first.memory;
    const r = runner;
    const once = () => {
      const res = r.run(mem);
      if (mem !== undefined) mem = res.memory;
      return res.steps;
    };
    const rounds = measure(once, firstMs, options);
    const mid = median(rounds, (x) => x.ms / x.steps);
    const top = best(rounds, (x) => x.ms / x.steps);
    // The overhead: the empty program through the same path with the same memory size.
    empty = createRawRunner(EMPTY_PROGRAM, { memory: program.memory, tier });
    const e = empty;
    let emem = program.memory;
    const eonce = () => {
      const res = e.run(emem);
      if (emem !== undefined) emem = res.memory;
      return 1;
    };
    const eopts = { seconds: Math.min(0.2, options.seconds / 2), rounds: options.rounds };
    const erounds = measure(eonce, 0, eopts);
    const eround = median(erounds, (x) => x.ms / x.runs);
    const overhead = eround.ms / eround.runs;
    const net = (r: Round) => Math.max(0, (r.ms - overhead * r.runs) * 1e6 / r.steps);
    const pick = options.stat === "min" ? top : mid;
    const runs = rounds.reduce((s, x) => s + x.runs, 0);
    const steps = rounds.reduce((s, x) => s + x.steps, 0);
    return {
      nsPerInsn: net(pick),
      medianNsPerInsn: net(mid),
      minNsPerInsn: net(top),
      grossNsPerInsn: pick.ms * 1e6 / pick.steps,
      overheadUs: overhead * 1e3,
      runs,
      insnsPerRun: steps / runs,
      r0Ok,
      error: null,
    };
  } catch (err) {
    return errorFigure(err, program.insnsPerRun);
  } finally {
    runner?.close();
    empty?.close();
  }
}

// --- the kernel -------------------------------------------------------------

const BPF_FUNC_MAP_LOOKUP_ELEM = 1;

function insn(code: number, dst: number, src: number, off: number, imm: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  b[0] = code;
  b[1] = (src << 4) | dst;
  v.setInt16(2, off, true);
  v.setInt32(4, imm, true);
  return b;
}

/**
 * The kernel prologue that gives the body r1 = memory, r2 = its length: the
 * memory is the value of key 0 of an array map (`mapFd`) with `memLen`-byte
 * values. Without memory, just r1 = r2 = 0. Nine instructions run before the
 * body (two without memory).
 */
export function kernelPrologue(mapFd: number | undefined, memLen: number): Uint8Array {
  const parts = mapFd === undefined ? [insn(0xb7, 1, 0, 0, 0), insn(0xb7, 2, 0, 0, 0)] : [
    insn(0x18, 1, 1, 0, mapFd), // r1 = map (BPF_PSEUDO_MAP_FD)
    insn(0, 0, 0, 0, 0),
    insn(0x62, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
    insn(0xbf, 2, 10, 0, 0), // r2 = r10
    insn(0x07, 2, 0, 0, -4), // r2 += -4
    insn(0x85, 0, 0, 0, BPF_FUNC_MAP_LOOKUP_ELEM),
    insn(0x55, 0, 0, 1, 0), // if r0 != 0 goto +1
    insn(0x95, 0, 0, 0, 0), // exit (r0 = 0)
    insn(0xbf, 1, 0, 0, 0), // r1 = r0
    insn(0xb7, 2, 0, 0, memLen), // r2 = memLen
  ];
  const out = new Uint8Array(parts.length * 8);
  parts.forEach((p, i) => out.set(p, i * 8));
  return out;
}

/**
 * Time the kernel's JIT on `program` with `BPF_PROG_TEST_RUN` (a socket
 * filter, 64 zero bytes of packet; the memory in an array map, see
 * {@link kernelPrologue}). Each round is one test run with `repeat` sized to
 * fill the round; the kernel's average `duration` over the
 * `.json`'s instructions per run gives ns per instruction (the prologue's
 * instructions and the test-run loop's own cost per repeat are included in
 * the duration, not in the count). r0 is checked on its low 32 bits (the
 * kernel's `retval`) with a first run from the initial memory.
 */
export function benchKernel(
  program: VmBenchProgram,
  sys: Syscalls,
  options: VmBenchOptions,
): VmFigure {
  const memLen = program.memory?.length ?? 0;
  let mapFd: number | undefined, progFd: number | undefined;
  try {
    const key = new Uint8Array(4);
    if (memLen > 0) {
      mapFd = mapCreate(sys, {
        map_type: MapType.ARRAY,
        key_size: 4,
        value_size: memLen,
        max_entries: 1,
        map_name: "vm_bench_mem",
      });
      mapUpdate(sys, mapFd, key, program.memory!);
    }
    const prologue = kernelPrologue(mapFd, memLen);
    const insns = new Uint8Array(prologue.length + program.bytes.length);
    insns.set(prologue);
    insns.set(program.bytes, prologue.length);
    progFd = progLoad(sys, {
      prog_type: ProgramType.SOCKET_FILTER,
      insns,
      license: "GPL",
      prog_name: "vm_bench",
    });
    const dataIn = new Uint8Array(64);
    const first = progTestRun(sys, progFd, { dataIn, repeat: 1 });
    const r0Ok = first.retval === Number(program.expectedR0 & 0xffffffffn);
    if (!r0Ok) {
      return {
        ...errorFigure(
          `retval = ${first.retval}, expected low 32 bits of r0 ${
            program.expectedR0 & 0xffffffffn
          }`,
          program.insnsPerRun,
        ),
        r0Ok,
      };
    }
    const estimateNs = Math.max(first.duration, 1);
    const roundNs = (options.seconds / options.rounds) * 1e9;
    const fd = progFd;
    const repeat = Math.max(1, Math.min(1 << 30, Math.round(roundNs / estimateNs)));
    // Warm-up, then the rounds.
    progTestRun(sys, fd, { dataIn, repeat: Math.max(1, Math.round(repeat / 5)) });
    const durations: number[] = [];
    for (let i = 0; i < options.rounds; i++) {
      durations.push(progTestRun(sys, fd, { dataIn, repeat }).duration);
    }
    const ns = median(durations, (x) => x);
    const min = Math.min(...durations);
    return {
      nsPerInsn: (options.stat === "min" ? min : ns) / program.insnsPerRun,
      medianNsPerInsn: ns / program.insnsPerRun,
      minNsPerInsn: min / program.insnsPerRun,
      runs: repeat * options.rounds,
      insnsPerRun: program.insnsPerRun,
      r0Ok,
      error: null,
    };
  } catch (err) {
    return errorFigure(err, program.insnsPerRun);
  } finally {
    if (progFd !== undefined) closeFd(sys, progFd);
    if (mapFd !== undefined) closeFd(sys, mapFd);
  }
}

// --- report -------------------------------------------------------------------

/** Geometric mean of the positive numbers in `xs`, or `null` when there are none. */
export function geomean(xs: (number | null)[]): number | null {
  const ok = xs.filter((x): x is number => x !== null && x > 0);
  if (ok.length === 0) return null;
  return Math.exp(ok.reduce((s, x) => s + Math.log(x), 0) / ok.length);
}

function fmt(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined ? "—" : x.toFixed(digits);
}

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join("  ");
}

/** The verdicts: interpreter vs {@link INTERPRETER_TARGET_NS}, jit vs the kernel. */
export function verdicts(rows: VmBenchRow[]): {
  interpretGeomean: number | null;
  jitGeomean: number | null;
  kernelGeomean: number | null;
  interpretMet: boolean | null;
  jitRatio: number | null;
  jitMet: boolean | null;
} {
  const interpretGeomean = geomean(rows.map((r) => r.interpret.nsPerInsn));
  const jitGeomean = geomean(rows.map((r) => r.jit.nsPerInsn));
  const kernelGeomean = geomean(rows.map((r) => r.kernel.nsPerInsn));
  // The jit ratio over the programs the kernel ran too.
  const both = rows.filter((r) => r.jit.nsPerInsn !== null && r.kernel.nsPerInsn !== null);
  const jitRatio = geomean(both.map((r) => r.jit.nsPerInsn! / r.kernel.nsPerInsn!));
  const rowsInterp = rows.map((r) => r.interpret.nsPerInsn);
  return {
    interpretGeomean,
    jitGeomean,
    kernelGeomean,
    interpretMet: rowsInterp.some((x) => x === null)
      ? null
      : rowsInterp.every((x) => x! <= INTERPRETER_TARGET_NS),
    jitRatio,
    jitMet: jitRatio === null ? null : jitRatio <= JIT_TARGET_RATIO,
  };
}

function metText(ok: boolean | null): string {
  return ok === null ? "n/a" : ok ? "met" : "NOT met";
}

/** The table and verdict lines. */
export function formatReport(rows: VmBenchRow[]): string {
  const v = verdicts(rows);
  const head = [
    "program",
    "insns/run",
    "interp ns/i",
    "jit ns/i",
    "kernel ns/i",
    "copy µs/run",
    `interp/${INTERPRETER_TARGET_NS}ns`,
    "jit/kernel",
  ];
  const body = rows.map((r) => {
    const k = r.kernel.nsPerInsn;
    const j = r.jit.nsPerInsn;
    const i = r.interpret.nsPerInsn;
    const kRef = k ?? v.kernelGeomean;
    const ratio = j !== null && kRef !== null ? `${fmt(j / kRef)}×${k === null ? "ᵍ" : ""}` : "—";
    const iv = i === null
      ? "—"
      : `${fmt(i / INTERPRETER_TARGET_NS)} ${i <= INTERPRETER_TARGET_NS ? "met" : "NOT met"}`;
    const jv = ratio === "—"
      ? "—"
      : `${ratio} ${j! / kRef! <= JIT_TARGET_RATIO ? "met" : "NOT met"}`;
    return [
      r.program,
      r.insnsPerRun >= 1e6 ? `${(r.insnsPerRun / 1e6).toFixed(1)}M` : r.insnsPerRun.toFixed(0),
      fmt(i),
      fmt(j),
      fmt(k),
      `${fmt(r.interpret.overheadUs)}/${fmt(r.jit.overheadUs)}`,
      iv,
      jv,
    ];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c].length)));
  const lines = [pad(head, widths), widths.map((w) => "-".repeat(w)).join("  ")];
  for (const b of body) lines.push(pad(b, widths));
  lines.push(
    pad([
      "geomean",
      "",
      fmt(v.interpretGeomean),
      fmt(v.jitGeomean),
      fmt(v.kernelGeomean),
      "",
      "",
      "",
    ], widths),
  );
  const notes: string[] = [];
  for (const r of rows) {
    for (const [what, f] of [["interpret", r.interpret], ["jit", r.jit], ["kernel", r.kernel]]) {
      const fig = f as VmFigure;
      if (fig.error !== null) notes.push(`  ${r.program} ${what}: ${fig.error}`);
    }
  }
  if (notes.length > 0) lines.push("", "not measured:", ...notes);
  lines.push(
    "",
    "VM ns/insn are net of the raw runner's per-run overhead (copy µs/run: interp/jit, the empty",
    "program on the same memory size); ᵍ = against the kernel's geomean (no kernel figure).",
    "VM figures are wall time (a busy machine inflates them; try --stat min); the kernel's",
    "test-run timer stops while it reschedules.",
    `interpreter ≤ ${INTERPRETER_TARGET_NS} ns/insn on every program: ${metText(v.interpretMet)}` +
      ` (geomean ${fmt(v.interpretGeomean)} ns/insn)`,
    `jit ≤ ${JIT_TARGET_RATIO}× kernel JIT (geomean over the programs both ran): ` +
      `${v.jitRatio === null ? "n/a" : `${fmt(v.jitRatio)}×`} — ${metText(v.jitMet)}`,
  );
  return lines.join("\n");
}

// --- main -----------------------------------------------------------------------

function kernelJitState(): string {
  try {
    return readFileSync("/proc/sys/net/core/bpf_jit_enable", "utf8").trim() === "0" ? "off" : "on";
  } catch {
    return "unknown";
  }
}

function main(): void {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      time: { type: "string", default: "0.5" },
      rounds: { type: "string", default: "5" },
      only: { type: "string", multiple: true },
      dir: { type: "string", default: DEFAULT_PROGRAM_DIR },
      json: { type: "boolean", default: false },
      "no-kernel": { type: "boolean", default: false },
      stat: { type: "string", default: "median" },
    },
  });
  const options: VmBenchOptions = {
    seconds: Number(values.time),
    rounds: Math.max(1, Math.floor(Number(values.rounds))),
    stat: values.stat === "min" ? "min" : "median",
  };
  if (values.stat !== "min" && values.stat !== "median") {
    throw new Error("--stat must be median or min");
  }
  if (!(options.seconds > 0) || !Number.isFinite(options.rounds)) {
    throw new Error("--time must be > 0 seconds and --rounds a positive integer");
  }
  const dir = values.dir!;
  const only = (values.only ?? []).flatMap((s) => s.split(","));
  const names = listPrograms(dir).filter((n) => only.length === 0 || only.includes(n));
  if (names.length === 0) throw new Error(`no programs in ${dir} match ${only.join(", ")}`);

  let sys: Syscalls | undefined;
  let noKernel = values["no-kernel"] ? "--no-kernel" : "";
  if (!noKernel) {
    try {
      sys = syscalls();
    } catch (err) {
      noKernel = err instanceof Error ? err.message : String(err);
    }
  }

  if (!values.json) {
    console.log(
      `vm_bench: ${runtimeName()}, kernel ${release()} (JIT ${kernelJitState()}), ` +
        `--time ${options.seconds} s --rounds ${options.rounds} (${options.stat} round), ` +
        `programs from ${dir}`,
    );
    if (noKernel) console.log(`kernel figures skipped: ${noKernel}`);
  }
  const rows: VmBenchRow[] = [];
  for (const name of names) {
    const program = readProgram(dir, name);
    const interpret = benchTier(program, "interpret", options);
    const jit = benchTier(program, "jit", options);
    const kernel = sys === undefined
      ? errorFigure(noKernel, program.insnsPerRun)
      : program.kernelOk
      ? benchKernel(program, sys, options)
      : errorFigure("kernel_ok is false (the verifier refuses it)", program.insnsPerRun);
    rows.push({
      program: name,
      insnsPerRun: interpret.runs > 0 ? interpret.insnsPerRun : program.insnsPerRun,
      interpret,
      jit,
      kernel,
    });
    if (!values.json) {
      console.error(
        `  ${name}: interp ${fmt(interpret.nsPerInsn)}, jit ${fmt(jit.nsPerInsn)}, ` +
          `kernel ${fmt(kernel.nsPerInsn)} ns/insn`,
      );
    }
  }
  if (values.json) {
    console.log(JSON.stringify(
      {
        runtime: runtimeName(),
        kernel: release(),
        kernelJit: kernelJitState(),
        options,
        rows,
        verdicts: verdicts(rows),
      },
      null,
      1,
    ));
  } else {
    console.log(formatReport(rows));
  }
}

if (import.meta.main) {
  try {
    main();
  } catch (err) {
    console.error(`vm_bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
