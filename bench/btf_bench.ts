/**
 * BTF benchmark: how fast tsbpf opens and decodes the kernel's BTF
 * (`/sys/kernel/btf/vmlinux`) and how much heap the result keeps alive,
 * next to libbpf (`btf__new` + `btf__free`) and cilium/ebpf 0.9.1
 * (`btf.LoadSpecFromReader`) measured in the same run.
 *
 * ```sh
 * deno task bench:btf      # deno run -A bench/btf_bench.ts
 * bun bench/btf_bench.ts
 * deno run -A bench/btf_bench.ts --time 4 --rounds 7 other.btf
 * ```
 *
 * Every figure is taken in a process of its own: each tsbpf figure in a
 * fresh process of the runtime running this script (this script again,
 * with `--child`), each peer in its program. What one measurement compiles,
 * allocates or tunes (V8's pretenuring, heap sizing) can then not change
 * the next one.
 *
 * cilium/ebpf 0.9.1 predates DECL_TAG, TYPE_TAG and ENUM64, so it can't
 * read a current kernel's BTF: it gets a copy sanitised by tsbpf
 * ({@link CILIUM_SANITIZE}) in the same run, and tsbpf's full decode is
 * measured on that copy too so the two compare like for like. The figures
 * are printed as a table, then checked against {@link TARGETS}. See
 * bench/README.md.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  Btf,
  BtfKind,
  btfKindName,
  marshalBtf,
  sanitizeBtf,
  type SanitizeOptions,
} from "../btf/mod.ts";
import { buildCPeer, buildGoPeer, goVersion } from "../tools/peers/build.ts";
import { debianVersion, runPeerJson, runtimeName, timingArgs } from "./_util.ts";

/** The kernel's own BTF, the default input. */
export const VMLINUX = "/sys/kernel/btf/vmlinux";

/**
 * What cilium/ebpf 0.9.1 needs to read current kernel BTF: it knows kinds
 * up to FLOAT (16) and stops with "unknown kind" at the first DECL_TAG
 * (17), TYPE_TAG (18) or ENUM64 (19). Each option rewrites one of those
 * kinds the way libbpf does for an old kernel; every run checks with the
 * peer that each one is needed.
 */
export const CILIUM_SANITIZE: Readonly<SanitizeOptions> = Object.freeze({
  declTag: false,
  typeTag: false,
  enum64: false,
});

/** The kind each {@link CILIUM_SANITIZE} option rewrites, for the counts printed. */
const REWRITTEN_KIND: Readonly<Record<string, BtfKind>> = {
  declTag: BtfKind.DECL_TAG,
  typeTag: BtfKind.TYPE_TAG,
  enum64: BtfKind.ENUM64,
};

/** The issue's targets. */
export const TARGETS = {
  /** tsbpf's lazy open may take at most this many times libbpf's `btf__new`. */
  lazyOpenVsLibbpf: 3,
  /** tsbpf's full decode must be at least this many times faster than cilium/ebpf's. */
  fullDecodeVsCilium: 3,
  /** Heap retained by the fully decoded vmlinux graph must stay under this, in bytes. */
  fullGraphHeap: 40 * 1024 * 1024,
} as const;

// ---------------------------------------------------------------------------
// Timing

/** How long each measurement runs. */
export interface TimingOptions {
  /** Seconds of measured passes, after a warm-up of a fifth of that. */
  seconds: number;
  /** Rounds the time is split into; the median round is reported. */
  rounds: number;
  /** Fixed passes per round instead of filling the time. */
  passes?: number;
}

/** A timed loop's result. */
export interface Timing {
  /** Milliseconds per pass in the median round. */
  msPerPass: number;
  /** Passes run over all rounds, warm-up excluded. */
  iterations: number;
}

/**
 * Time `pass` in a loop: a warm-up of `seconds / 5`, then `rounds` rounds
 * sharing `seconds` (or of `passes` passes each); the median round counts.
 * Rounds rather than single passes, so the garbage collection passes cause
 * is paid for inside the figure, as it is in the Go peer's.
 */
export function timeLoop(pass: () => void, options: TimingOptions): Timing {
  round(pass, 0, (options.seconds / 5) * 1e3);
  const perPass: number[] = [];
  let iterations = 0;
  for (let i = 0; i < options.rounds; i++) {
    const r = round(pass, options.passes ?? 0, (options.seconds / options.rounds) * 1e3);
    perPass.push(r.msPerPass);
    iterations += r.passes;
  }
  return { msPerPass: median(perPass), iterations };
}

// The fixed number of passes, or as many as fit in budgetMs.
function round(pass: () => void, passes: number, budgetMs: number) {
  const start = performance.now();
  let n = 0;
  let elapsed = 0;
  while (passes > 0 ? n < passes : elapsed < budgetMs) {
    pass();
    n++;
    elapsed = performance.now() - start;
  }
  return { msPerPass: elapsed / n, passes: n };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// ---------------------------------------------------------------------------
// Heap

/** Live memory after a forced full GC, in bytes. */
export interface HeapReading {
  /** The garbage-collected heap (V8 `heapUsed`, JSC `heapSize`). */
  heap: number;
  /** Memory outside it that JS objects own: typed-array stores, external strings. */
  external: number;
}

/** A way to read live memory, or why this runtime has none. */
export type HeapProbe = { read: () => HeapReading; how: string } | { skipped: string };

/**
 * Force a full GC and read live memory: Deno (V8) through `globalThis.gc`,
 * which `--v8-flags=--expose-gc` provides, and `process.memoryUsage()`;
 * Bun (JSC) through `Bun.gc(true)` and `bun:jsc`'s `heapStats()`.
 */
export async function heapProbe(): Promise<HeapProbe> {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun !== undefined) {
    // A variable specifier, so Deno's type check doesn't try to resolve it.
    const specifier = "bun:jsc";
    const jsc = await import(specifier) as {
      heapStats(): { heapSize: number; extraMemorySize: number };
    };
    return {
      how: "Bun.gc(true), then bun:jsc heapStats() heapSize + extraMemorySize",
      read() {
        bun.gc(true);
        const s = jsc.heapStats();
        return { heap: s.heapSize, external: s.extraMemorySize };
      },
    };
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    return { skipped: "no globalThis.gc: this runtime was started without --expose-gc" };
  }
  return {
    how: "globalThis.gc() twice, then process.memoryUsage() heapUsed + external",
    read() {
      // The second pass frees what the first one's finalizers released.
      gc();
      gc();
      const m = process.memoryUsage();
      return { heap: m.heapUsed, external: m.external };
    },
  };
}

/** Bytes one object keeps alive (see {@link retained}). */
export interface Retained {
  heap: number;
  external: number;
  total: number;
}

// Module-level, so neither the optimiser nor the GC can decide it is dead.
const holder: { value: unknown } = { value: undefined };

/**
 * Live memory `make()`'s result keeps alive: read after a GC, make, read
 * again with the result held, release; the median of `samples` rounds
 * (JSC scans the stack conservatively and may keep an earlier sample alive
 * for a while; the median absorbs it). One unmeasured `make()` first, so
 * state created on first use (module caches, compiled code) isn't counted.
 */
export function retained(make: () => unknown, read: () => HeapReading, samples: number): Retained {
  holder.value = make();
  holder.value = undefined;
  const heap: number[] = [];
  const external: number[] = [];
  for (let i = 0; i < samples; i++) {
    const before = read();
    holder.value = make();
    const after = read();
    holder.value = undefined;
    heap.push(after.heap - before.heap);
    external.push(after.external - before.external);
  }
  const h = median(heap);
  const e = median(external);
  return { heap: h, external: e, total: h + e };
}

// ---------------------------------------------------------------------------
// tsbpf, one figure per fresh process

/** What tsbpf is timed doing: `Btf.parse`, or `Btf.parse` + `decodeAll()`. */
export type TsbpfPass = "lazy" | "full";

/** One tsbpf figure: warm timing and, where the runtime allows, retained heap. */
export interface TsbpfFigure {
  timing: Timing;
  heap?: Retained;
  /** How the heap was read, or why it wasn't. */
  heapNote: string;
}

/** First-call times in fresh processes. */
export interface ColdTiming {
  /** Median of the first `Btf.parse` in each process, ms. */
  openMs: number;
  /** Median of the first `Btf.parse` + `decodeAll()` in each process, ms. */
  fullMs: number;
  runs: number;
}

const SCRIPT = fileURLToPath(import.meta.url);

// This script again, under the runtime running it. Deno children always
// get --expose-gc: the heap figures need it and it changes nothing else.
function spawnChild(args: string[]): { out?: string; failed?: string } {
  const isDeno = typeof Deno !== "undefined" && process.versions.bun === undefined;
  const runtimeArgs = isDeno ? ["run", "-A", "--v8-flags=--expose-gc"] : [];
  const res = spawnSync(process.execPath, [...runtimeArgs, SCRIPT, "--child", ...args], {
    encoding: "utf8",
    maxBuffer: 16 << 20,
  });
  if (res.status !== 0) {
    return { failed: `child process failed: ${(res.stderr || String(res.error)).trim()}` };
  }
  return { out: res.stdout };
}

function childOptions(options: TimingOptions, samples: number): string[] {
  const args = ["--time", String(options.seconds), "--rounds", String(options.rounds)];
  if (options.passes !== undefined) args.push("--passes", String(options.passes));
  return [...args, "--samples", String(samples)];
}

/** Measure `pass` over `file` in a fresh process: the figure, or why there is none. */
export function measureTsbpf(
  pass: TsbpfPass,
  file: string,
  options: TimingOptions,
  heapSamples: number,
): TsbpfFigure | string {
  const res = spawnChild([pass, ...childOptions(options, heapSamples), file]);
  return res.out === undefined ? res.failed! : JSON.parse(res.out) as TsbpfFigure;
}

/**
 * The first `Btf.parse` + `decodeAll()` of `file`, before anything has
 * been compiled, in `runs` fresh processes; the medians, or why a child
 * failed.
 */
export function coldTiming(file: string, runs: number): ColdTiming | string {
  const open: number[] = [];
  const full: number[] = [];
  for (let i = 0; i < runs; i++) {
    const res = spawnChild(["cold", file]);
    if (res.out === undefined) return res.failed!;
    const r = JSON.parse(res.out) as { openMs: number; fullMs: number };
    open.push(r.openMs);
    full.push(r.fullMs);
  }
  return { openMs: median(open), fullMs: median(full), runs };
}

// Btf.parse + decodeAll: the "full decode" pass, returning the graph.
function decoded(bytes: Uint8Array): Btf {
  const btf = Btf.parse(bytes);
  btf.decodeAll();
  return btf;
}

// The child side: the file is read before any clock starts; prints JSON.
async function childMain(
  mode: string,
  file: string,
  options: TimingOptions,
  samples: number,
): Promise<void> {
  const bytes = new Uint8Array(readFileSync(file));
  if (mode === "cold") {
    const t0 = performance.now();
    const btf = Btf.parse(bytes);
    const t1 = performance.now();
    btf.decodeAll();
    const t2 = performance.now();
    console.log(JSON.stringify({ openMs: t1 - t0, fullMs: t2 - t0 }));
    return;
  }
  if (mode !== "lazy" && mode !== "full") throw new Error(`unknown child mode ${mode}`);
  const make = mode === "lazy" ? () => Btf.parse(bytes) : () => decoded(bytes);
  // Heap first: it warms up a little, and the timed loop warms up anyway.
  const probe = await heapProbe();
  const figure: TsbpfFigure = "skipped" in probe
    ? { timing: timeLoop(() => void make(), options), heapNote: probe.skipped }
    : {
      heap: retained(make, probe.read, samples),
      timing: timeLoop(() => void make(), options),
      heapNote: `${probe.how}; median of ${samples} sample${samples === 1 ? "" : "s"}`,
    };
  console.log(JSON.stringify(figure));
}

// ---------------------------------------------------------------------------
// Peers

/** One peer's line of output (see bench/peers/libbpf_btf.c and cilium_btf/main.go). */
export interface PeerResult {
  file: string;
  bytes: number;
  types?: number;
  iterations: number;
  msPerPass: number | null;
  /** Go: HeapAlloc growth after GC; C: malloc'd bytes (mallinfo2). */
  heapBytes?: number | null;
  /** Go: bytes one parse allocates. */
  allocBytes?: number | null;
  /** C: peak RSS growth of the first open. */
  rssBytes?: number | null;
  /** C: `libbpf_version_string()`. */
  version?: string;
  error: string | null;
}

/** Run a built peer; its JSON lines, or why it failed. */
function runPeer(binary: string, args: string[]): PeerResult[] | string {
  return runPeerJson<PeerResult>(binary, args);
}

/** Time a peer on one file: its result, or why there is none. */
function measurePeer(binary: string, file: string, options: TimingOptions): PeerResult | string {
  const out = runPeer(binary, [...timingArgs(options), file]);
  if (typeof out === "string") return out;
  return out[0].error === null ? out[0] : `can't read ${file}: ${out[0].error}`;
}

// ---------------------------------------------------------------------------
// The sanitised copy for cilium/ebpf

function fmtOptions(options: SanitizeOptions): string {
  const entries = Object.entries(options).map(([k, v]) => `${k}: ${v}`);
  return entries.length === 0 ? "{}" : `{ ${entries.join(", ")} }`;
}

/**
 * `bytes` rewritten by `sanitizeBtf(btf, options)` and `marshalBtf`, how
 * long that took, and how many types of each kind it rewrites the blob has.
 */
export function sanitizedCopy(
  bytes: Uint8Array,
  options: SanitizeOptions = CILIUM_SANITIZE,
): { bytes: Uint8Array; ms: number; rewritten: string } {
  const btf = Btf.parse(bytes);
  const t0 = performance.now();
  const out = marshalBtf(sanitizeBtf(btf, options));
  const ms = performance.now() - t0;
  const rewritten = Object.keys(options).map((opt) => {
    const kind = REWRITTEN_KIND[opt];
    let n = 0;
    for (let id = 1; id <= btf.lastId; id++) if (btf.kindOf(id) === kind) n++;
    return `${n} ${btfKindName(kind)}`;
  });
  return { bytes: out, ms, rewritten: rewritten.join(", ") };
}

/**
 * Show what cilium/ebpf makes of the original blob and of the sanitised
 * copy, and whether each {@link CILIUM_SANITIZE} option is needed: the
 * copy made without it, parsed once by the peer (`-c`), fails or doesn't.
 */
function checkCilium(
  binary: string,
  file: string,
  bytes: Uint8Array,
  dir: string,
  sanitizedFile: string,
  log: (line: string) => void,
): void {
  const keys = Object.keys(CILIUM_SANITIZE) as (keyof SanitizeOptions)[];
  const files = [file, sanitizedFile];
  for (const key of keys) {
    const { [key]: _, ...rest } = CILIUM_SANITIZE;
    const path = join(dir, `without_${key}.btf`);
    writeFileSync(path, sanitizedCopy(bytes, rest).bytes);
    files.push(path);
  }
  const out = runPeer(binary, ["-c", ...files]);
  if (typeof out === "string") {
    log(`  cilium/ebpf check failed: ${out}`);
    return;
  }
  const said = (r: PeerResult) => r.error === null ? `reads it (${r.types} types)` : `"${r.error}"`;
  log(`  cilium/ebpf on ${file} as it is: ${said(out[0])}`);
  log(`  cilium/ebpf on the sanitised copy: ${said(out[1])}`);
  keys.forEach((key, i) => {
    const r = out[2 + i];
    log(
      r.error === null
        ? `    ${key}: false not needed for this blob: cilium/ebpf reads the copy without it`
        : `    ${key}: false needed: without it, ${said(r)}`,
    );
  });
}

// ---------------------------------------------------------------------------
// The run

/** Options of {@link runBench}. */
export interface BtfBenchOptions {
  timing: TimingOptions;
  /** Fresh processes for the first-call figures; 0 skips them. */
  coldRuns: number;
  /** Samples per heap figure. */
  heapSamples: number;
  /** Measure tsbpf only. */
  noPeers: boolean;
}

/** Everything one run measured; an absent figure was skipped, and `notes` says why. */
export interface BtfBenchResult {
  file: string;
  types: number;
  lazy?: TsbpfFigure;
  full?: TsbpfFigure;
  sanitizedFull?: TsbpfFigure;
  cold?: ColdTiming;
  sanitizedCold?: ColdTiming;
  libbpf?: PeerResult;
  cilium?: PeerResult;
  notes: string[];
}

/**
 * Measure everything on `file` (already read into `bytes`; a raw BTF blob),
 * printing what it finds on the way (peer versions, the sanitised copy,
 * what cilium/ebpf reads) to `log`.
 */
export function runBench(
  file: string,
  bytes: Uint8Array,
  options: BtfBenchOptions,
  log: (line: string) => void,
): BtfBenchResult {
  const result: BtfBenchResult = { file, types: Btf.parse(bytes).lastId, notes: [] };
  const notes = result.notes;

  let libbpfBin: string | undefined;
  let ciliumBin: string | undefined;
  if (options.noPeers) {
    log("  libbpf: skipped (--no-peers)");
    log("  cilium/ebpf: skipped (--no-peers)");
  } else {
    const libbpf = buildCPeer("bench/peers/libbpf_btf.c");
    libbpfBin = libbpf.binary;
    log(
      libbpfBin === undefined
        ? `  libbpf: skipped: ${libbpf.skipped}`
        : `  libbpf: Debian libbpf-dev ${debianVersion("libbpf-dev") ?? "?"}, cc -O2`,
    );
    const cilium = buildGoPeer("bench/peers/cilium_btf");
    ciliumBin = cilium.binary;
    log(
      ciliumBin === undefined
        ? `  cilium/ebpf: skipped: ${cilium.skipped}`
        : `  cilium/ebpf: Debian golang-github-cilium-ebpf-dev ${
          debianVersion("golang-github-cilium-ebpf-dev") ?? "?"
        }, ${goVersion() ?? "go ?"}`,
    );
  }

  const dir = mkdtempSync(join(tmpdir(), "tsbpf-btf-bench-"));
  try {
    const copy = sanitizedCopy(bytes);
    const sanitizedFile = join(dir, "sanitized.btf");
    writeFileSync(sanitizedFile, copy.bytes);
    log(
      `  sanitised copy: marshalBtf(sanitizeBtf(btf, ${fmtOptions(CILIUM_SANITIZE)})) ` +
        `rewrote ${copy.rewritten}; ${(copy.bytes.length / 1024).toFixed(1)} KiB, ` +
        `${Btf.parse(copy.bytes).lastId} types, made in ${copy.ms.toFixed(0)} ms`,
    );
    if (ciliumBin !== undefined) checkCilium(ciliumBin, file, bytes, dir, sanitizedFile, log);

    const { timing, heapSamples } = options;
    const tsbpf = (pass: TsbpfPass, f: string, what: string) => {
      const r = measureTsbpf(pass, f, timing, heapSamples);
      if (typeof r !== "string") return r;
      notes.push(`tsbpf ${what} skipped: ${r}`);
      return undefined;
    };
    result.lazy = tsbpf("lazy", file, "lazy open");
    result.full = tsbpf("full", file, "full decode");
    result.sanitizedFull = tsbpf("full", sanitizedFile, "full decode of the sanitised copy");
    if (options.coldRuns > 0) {
      const a = coldTiming(file, options.coldRuns);
      if (typeof a === "string") notes.push(`cold figures skipped: ${a}`);
      else result.cold = a;
      const b = coldTiming(sanitizedFile, options.coldRuns);
      if (typeof b !== "string") result.sanitizedCold = b;
    } else {
      notes.push("cold figures skipped (--cold 0)");
    }
    const heapNote = result.full?.heapNote ?? result.lazy?.heapNote;
    if (heapNote !== undefined) {
      notes.push(
        result.full?.heap === undefined
          ? `heap figures skipped: ${heapNote}`
          : `heap read with ${heapNote}`,
      );
    }

    if (libbpfBin !== undefined) {
      const r = measurePeer(libbpfBin, file, timing);
      if (typeof r === "string") notes.push(`libbpf skipped: ${r}`);
      else result.libbpf = r;
    }
    if (ciliumBin !== undefined) {
      const r = measurePeer(ciliumBin, sanitizedFile, timing);
      if (typeof r === "string") notes.push(`cilium/ebpf skipped: ${r}`);
      else result.cilium = r;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (result.libbpf?.version !== undefined) {
    notes.push(`libbpf_version_string(): ${result.libbpf.version}`);
  }
  const added = (result.cilium?.types ?? 0) - result.types;
  const counted = [
    `tsbpf ${result.types}`,
    result.libbpf?.types === undefined ? undefined : `libbpf ${result.libbpf.types}`,
    result.cilium?.types === undefined ? undefined : `cilium/ebpf ${result.cilium.types}` +
      (added > 0 ? ` (the sanitised copy has ${added} more: the ENUM64 placeholder INT)` : ""),
  ].filter((s) => s !== undefined);
  notes.push(`types read: ${counted.join(", ")}`);
  return result;
}

// ---------------------------------------------------------------------------
// The report

const MIB = 1024 * 1024;

function fmtMs(ms: number | null | undefined): string {
  if (ms == null) return "—";
  return ms >= 1 ? ms.toFixed(2) : ms.toPrecision(3);
}

function fmtMib(bytes: number): string {
  return Math.abs(bytes) >= MIB / 2
    ? `${(bytes / MIB).toFixed(1)} MiB`
    : `${(bytes / 1024).toFixed(1)} KiB`;
}

function speed(ratio: number): string {
  return ratio >= 1 ? `${ratio.toFixed(2)}× faster` : `${(1 / ratio).toFixed(2)}× slower`;
}

function fmtHeap(h: Retained | undefined): string {
  return h === undefined
    ? "—"
    : `${fmtMib(h.total)} (JS heap ${fmtMib(h.heap)} + external ${fmtMib(h.external)})`;
}

/** Print the table, then each target with its figures and "met" / "NOT met". */
export function report(r: BtfBenchResult, log: (line: string) => void): void {
  const input = r.file === VMLINUX ? "vmlinux" : basename(r.file);
  const rows: string[][] = [["", "input", "cold ms", "warm ms", "heap retained"]];
  rows.push([
    "tsbpf lazy open: Btf.parse",
    input,
    fmtMs(r.cold?.openMs),
    fmtMs(r.lazy?.timing.msPerPass),
    fmtHeap(r.lazy?.heap),
  ]);
  if (r.libbpf !== undefined) {
    const l = r.libbpf;
    const mem = [
      l.heapBytes == null ? undefined : `${fmtMib(l.heapBytes)} malloc'd`,
      l.rssBytes == null ? undefined : `peak RSS +${fmtMib(l.rssBytes)}`,
    ].filter((s) => s !== undefined).join(", ");
    rows.push(["libbpf btf__new + btf__free", input, "—", fmtMs(l.msPerPass), mem || "—"]);
  }
  rows.push([
    "tsbpf full: parse + decodeAll",
    input,
    fmtMs(r.cold?.fullMs),
    fmtMs(r.full?.timing.msPerPass),
    fmtHeap(r.full?.heap),
  ]);
  rows.push([
    "tsbpf full: parse + decodeAll",
    "sanitised",
    fmtMs(r.sanitizedCold?.fullMs),
    fmtMs(r.sanitizedFull?.timing.msPerPass),
    fmtHeap(r.sanitizedFull?.heap),
  ]);
  if (r.cilium !== undefined) {
    const c = r.cilium;
    const mem = c.heapBytes == null ? "—" : `${fmtMib(c.heapBytes)} Go heap` +
      (c.allocBytes == null ? "" : ` (allocates ${fmtMib(c.allocBytes)} per parse)`);
    rows.push(["cilium/ebpf LoadSpecFromReader", "sanitised", "—", fmtMs(c.msPerPass), mem]);
  }
  const width = (i: number) => Math.max(...rows.map((row) => row[i].length));
  const w = [0, 1, 2, 3].map(width);
  log("");
  for (const row of rows) {
    log(
      `${row[0].padEnd(w[0])}  ${row[1].padEnd(w[1])}  ${row[2].padStart(w[2])}  ${
        row[3].padStart(w[3])
      }  ${row[4]}`,
    );
  }
  log("");
  log(
    "warm ms: median round after a warm-up. cold ms: the first call in a fresh process" +
      (r.cold === undefined ? "" : ` (median of ${r.cold.runs})`) + ".",
  );
  log(
    "heap retained: growth while one result is alive, after a forced GC. The input bytes are " +
      "read beforehand and not counted: tsbpf keeps a view of them, cilium/ebpf and libbpf " +
      "copy what they keep (libbpf the whole blob), so their figures include it.",
  );
  for (const note of r.notes) log(`note: ${note}`);

  log("");
  log("targets:");
  const lines: [string, string, string][] = [];
  const lazyTarget = `lazy open ≤ ${TARGETS.lazyOpenVsLibbpf}× libbpf btf__new`;
  if (r.lazy !== undefined && r.libbpf?.msPerPass != null) {
    const ours = r.lazy.timing.msPerPass;
    const ratio = ours / r.libbpf.msPerPass;
    lines.push([
      lazyTarget,
      `${fmtMs(ours)} / ${fmtMs(r.libbpf.msPerPass)} ms = ${ratio.toFixed(2)}×`,
      ratio <= TARGETS.lazyOpenVsLibbpf ? "met" : "NOT met",
    ]);
  } else {
    lines.push([lazyTarget, "not measured", "not checked"]);
  }
  const fullTarget =
    `full decode ≥ ${TARGETS.fullDecodeVsCilium}× faster than cilium/ebpf (sanitised copy)`;
  if (r.sanitizedFull !== undefined && r.cilium?.msPerPass != null) {
    const ours = r.sanitizedFull.timing.msPerPass;
    const ratio = r.cilium.msPerPass / ours;
    lines.push([
      fullTarget,
      `${fmtMs(r.cilium.msPerPass)} / ${fmtMs(ours)} ms = ${speed(ratio)}`,
      ratio >= TARGETS.fullDecodeVsCilium ? "met" : "NOT met",
    ]);
  } else {
    lines.push([fullTarget, "not measured", "not checked"]);
  }
  // The target reads warm figures; the first call is shown too, since a
  // loader that decodes vmlinux once pays that one.
  const coldFull = r.sanitizedCold?.fullMs;
  if (coldFull !== undefined && r.cilium?.msPerPass != null) {
    lines.push([
      "  (first call, cold, for comparison)",
      `${fmtMs(r.cilium.msPerPass)} / ${fmtMs(coldFull)} ms = ${
        speed(r.cilium.msPerPass / coldFull)
      }`,
      "",
    ]);
  }
  const heapTarget = `full-graph heap (${input}) < ${fmtMib(TARGETS.fullGraphHeap)}`;
  if (r.full?.heap !== undefined) {
    lines.push([
      heapTarget,
      fmtMib(r.full.heap.total),
      r.full.heap.total < TARGETS.fullGraphHeap ? "met" : "NOT met",
    ]);
  } else {
    lines.push([heapTarget, "not measured", "not checked"]);
  }
  const w0 = Math.max(...lines.map((l) => l[0].length));
  const w1 = Math.max(...lines.map((l) => l[1].length));
  for (const [what, figure, verdict] of lines) {
    log(`  ${what.padEnd(w0)}  ${figure.padEnd(w1)}  ${verdict}`.trimEnd());
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      time: { type: "string", default: "2" },
      rounds: { type: "string", default: "5" },
      passes: { type: "string" },
      cold: { type: "string", default: "5" },
      samples: { type: "string", default: "5" },
      "no-peers": { type: "boolean", default: false },
      child: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: bench/btf_bench.ts [--time S] [--rounds N] [--passes N] [--cold N] [--samples N]\n" +
        "                          [--no-peers] [file.btf]\n" +
        "  --time S       measured seconds per figure (default 2), after a warm-up of S/5\n" +
        "  --rounds N     rounds the time is split into; the median is reported (default 5)\n" +
        "  --passes N     fixed passes per round instead of a time budget\n" +
        "  --cold N       fresh processes for the first-call figures (default 5; 0 skips them)\n" +
        "  --samples N    samples per heap figure; the median is reported (default 5)\n" +
        "  --no-peers     measure tsbpf only\n" +
        "  --child MODE   (internal) measure one tsbpf figure in this process: lazy, full, cold\n" +
        `  file.btf       a raw, standalone BTF blob (default ${VMLINUX})`,
    );
    process.exit(0);
  }
  const timing: TimingOptions = {
    seconds: Number(values.time),
    rounds: Number(values.rounds),
    passes: values.passes === undefined ? undefined : Number(values.passes),
  };
  const coldRuns = Number(values.cold);
  const heapSamples = Number(values.samples);
  const isCount = (n: number, min: number) => Number.isInteger(n) && n >= min;
  if (
    !(timing.seconds > 0) || !isCount(timing.rounds, 1) || timing.rounds > 64 ||
    (timing.passes !== undefined && !isCount(timing.passes, 1)) || !isCount(coldRuns, 0) ||
    !isCount(heapSamples, 1)
  ) {
    console.error("--time must be > 0, --rounds 1 to 64, --passes and --samples ≥ 1, --cold ≥ 0");
    process.exit(2);
  }
  if (values.child !== undefined) {
    await childMain(values.child, positionals[0], timing, heapSamples);
    process.exit(0);
  }

  const file = positionals[0] ?? VMLINUX;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (positionals[0] !== undefined) {
      console.error(`can't read ${file}: ${why}`);
      process.exit(2);
    }
    // Every figure is about the kernel's BTF: without it there is nothing to measure.
    console.log(
      `tsbpf BTF benchmark: skipped: can't read ${VMLINUX} (${why}); it needs a kernel ` +
        "built with CONFIG_DEBUG_INFO_BTF. Name a raw BTF file to measure that instead.",
    );
    process.exit(0);
  }
  let types: number;
  try {
    types = Btf.parse(bytes).lastId;
  } catch (err) {
    console.error(`tsbpf can't parse ${file}: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  }
  console.log(
    `tsbpf BTF benchmark: ${file}, ${(bytes.length / 1024).toFixed(1)} KiB, ${types} types; ` +
      `${timing.seconds} s per figure after a ${timing.seconds / 5} s warm-up, median of ` +
      `${timing.rounds} rounds${timing.passes ? ` of ${timing.passes} passes` : ""}`,
  );
  console.log(`  tsbpf: ${runtimeName()}, each figure in a fresh process`);
  const log = (line: string) => console.log(line);
  const noPeers = values["no-peers"];
  report(runBench(file, bytes, { timing, coldRuns, heapSamples, noPeers }, log), log);
}
