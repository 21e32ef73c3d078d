/**
 * Load benchmark: how long tsbpf takes to turn object bytes into live maps
 * and programs in the kernel and close them again (`loadCollectionSpec` +
 * `loadCollection` + `close()`), next to libbpf (`bpf_object__open_mem` +
 * `bpf_object__load` + `bpf_object__close`, `peers/libbpf_load.c`) measured
 * in the same run on the same objects, and how much of tsbpf's time is
 * spent inside bpf(2).
 *
 * ```sh
 * deno task bench:load                 # deno run -A bench/load_bench.ts
 * bun bench/load_bench.ts
 * deno run -A bench/load_bench.ts --time 1 --rounds 7 some.o other.o
 * deno run -A bench/load_bench.ts --set tools   # only the libbpf-tools style objects
 * ```
 *
 * Two sets of objects, reported separately: `bpfel` (fixtures/bpfel/*.o,
 * no CO-RE) and `tools` (fixtures/tools/*.o, libbpf-tools style: CO-RE
 * relocations against vmlinux, kconfig/ksym externs, kfuncs). For the tools
 * set libbpf parses /sys/kernel/btf/vmlinux again for every object it
 * loads; tsbpf parses it once per process (`kernelBtf()`), so its figure
 * there includes CO-RE work but not the vmlinux parse. `--set all` (the
 * default) runs both, `bpfel` first, each under a `== set` heading;
 * `--set bpfel` prints what the benchmark printed before the tools set.
 *
 * Both implementations read each file into memory once, then load and close
 * it in a loop: a warm-up, then `--rounds` rounds that share `--time`
 * seconds; the median round gives milliseconds per object. Only objects
 * both load are compared; every other file is listed with the reason. See
 * bench/README.md. Needs root (or CAP_BPF) and FFI; without bpf(2) it says
 * why and exits 0.
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { loadCollectionSpec } from "../mod.ts";
import { Loader } from "../plugins/mod.ts";
import { MapType, ProgramType } from "../collection/types.ts";
import {
  closeFd,
  loadCollection,
  mapCreate,
  type Syscalls,
  syscalls,
} from "../backends/kernel/mod.ts";
import { buildCPeer, REPO_ROOT } from "../tools/peers/build.ts";
import { debianVersion, runPeerJson, runtimeName, timingArgs } from "./_util.ts";

/** Options of {@link benchTsbpf} and the peer. */
export interface LoadBenchOptions {
  /** Seconds of measured loading per file, after a warm-up of a fifth of that. */
  seconds: number;
  /** Rounds the time is split into; the median round is reported. */
  rounds: number;
  /** Fixed passes per round instead of filling the time. */
  passes?: number;
}

/** One implementation's figure for one file. */
export interface LoadResult {
  file: string;
  iterations: number;
  /** Median milliseconds per object (open/parse + load + close), or `null` when it failed. */
  msPerObject: number | null;
  /** In the median round, per object: milliseconds inside bpf(2) (tsbpf only). */
  msInBpf?: number;
  /** In the median round, per object: milliseconds inside close(2) (tsbpf only). */
  msInClose?: number;
  /** In the median round, per object: milliseconds in `loadCollectionSpec` (tsbpf only). */
  msParse?: number;
  /**
   * In the median round, per object: milliseconds from a parsed object to
   * closed again: `loadCollection` + `close()` for tsbpf, `bpf_object__load`
   * + `bpf_object__close` after the open for libbpf.
   */
  msLoad?: number;
  /** bpf(2) calls per object (tsbpf only). */
  bpfCalls?: number;
  /** Whether loading the object reads the kernel's vmlinux BTF. */
  kernelBtf: boolean;
  error: string | null;
}

/** One implementation's results, or why it did not run. */
export interface LoadImplementation {
  name: string;
  version: string;
  results: LoadResult[];
  skipped?: string;
}

/**
 * {@link Syscalls} that sums the time spent in `bpf()` and `close()` of the
 * wrapped ones: a plain object, so the loader calls it like any other.
 * Create one per process and reuse it: feature probes are cached per
 * `Syscalls` object.
 */
export interface TimedSyscalls extends Syscalls {
  /** The wrapped calls, untimed: the rounds that give the totals use them. */
  readonly inner: Syscalls;
  /** Milliseconds inside bpf(2) since the last {@link reset}. */
  bpfMs: number;
  /** Milliseconds inside close(2) since the last reset. */
  closeMs: number;
  /** bpf(2) calls since the last reset. */
  bpfCalls: number;
  /** Zero the counters. */
  reset(): void;
}

/** Wrap `inner` so every `bpf()` and `close()` call is timed. */
export function timedSyscalls(inner: Syscalls): TimedSyscalls {
  const timed: TimedSyscalls = {
    runtime: inner.runtime,
    inner,
    bpfMs: 0,
    closeMs: 0,
    bpfCalls: 0,
    bpf(cmd: number, attr: Uint8Array): number {
      const start = performance.now();
      const ret = inner.bpf(cmd, attr);
      timed.bpfMs += performance.now() - start;
      timed.bpfCalls++;
      return ret;
    },
    close(fd: number): number {
      const start = performance.now();
      const ret = inner.close(fd);
      timed.closeMs += performance.now() - start;
      return ret;
    },
    address(buf: Uint8Array): bigint {
      return inner.address(buf);
    },
    reset(): void {
      timed.bpfMs = 0;
      timed.closeMs = 0;
      timed.bpfCalls = 0;
    },
  };
  return timed;
}

// One object's life, as the issue times it: parse, load, close. Returns
// the milliseconds the parse took.
async function loadOnce(bytes: Uint8Array, sys: Syscalls): Promise<number> {
  const start = performance.now();
  const spec = await loadCollectionSpec(bytes);
  const parsed = performance.now();
  const coll = await loadCollection(spec, { sys });
  coll.close();
  return parsed - start;
}

// Whether tsbpf reads the kernel's BTF for this object: programs that name
// a kernel function or type to attach to (tracing, LSM) or carry CO-RE
// relocations (relocated against vmlinux).
async function needsKernelBtf(bytes: Uint8Array): Promise<boolean> {
  const spec = await loadCollectionSpec(bytes);
  return [...spec.programs.values()].some((p) =>
    p.autoload &&
    (p.type === ProgramType.TRACING || p.type === ProgramType.LSM ||
      p.instructions.some((insn) => insn.coreRelo !== undefined))
  );
}

/** Time load + close of each file; a file tsbpf can't load gets its error. */
export async function benchTsbpf(
  files: string[],
  options: LoadBenchOptions,
  sys: TimedSyscalls,
): Promise<LoadResult[]> {
  const inputs = files.map((file) => ({ file, bytes: new Uint8Array(readFileSync(file)) }));
  // A first pass over everything, with both the plain and the timed calls
  // (feature probes are cached per Syscalls object), so the first file
  // doesn't pay for the JIT and the probes alone.
  for (const { bytes } of inputs) {
    await loadOnce(bytes, sys.inner).catch(() => {});
    await loadOnce(bytes, sys).catch(() => {});
  }
  const out: LoadResult[] = [];
  for (const { file, bytes } of inputs) {
    const res: LoadResult = {
      file,
      iterations: 0,
      msPerObject: null,
      kernelBtf: await needsKernelBtf(bytes).catch(() => false),
      error: null,
    };
    // The first load doubles as the error check.
    try {
      await loadOnce(bytes, sys);
    } catch (err) {
      res.error = err instanceof Error ? err.message : String(err);
      out.push(res);
      continue;
    }
    await round(bytes, sys.inner, 0, (options.seconds / 5) * 1e3); // warm-up
    // Timing every system call costs two clock reads each (about 80 ns in
    // Deno), which the untimed peer doesn't pay: the totals come from plain
    // rounds, the bpf(2)/close(2) split from timed rounds in between them.
    const plain = [];
    const timed = [];
    const budget = (options.seconds / options.rounds) * 1e3;
    for (let i = 0; i < options.rounds; i++) {
      const r = await round(bytes, sys.inner, options.passes ?? 0, budget * 0.75);
      plain.push(r);
      res.iterations += r.passes;
      timed.push(await round(bytes, sys, options.passes ?? 0, budget * 0.25));
    }
    // The median round by total time, with that round's parse/load split.
    const mid = median(plain, (r) => r.msPerObject);
    res.msPerObject = mid.msPerObject;
    res.msParse = mid.parseMs / mid.passes;
    res.msLoad = mid.msPerObject - res.msParse;
    const split = median(timed, (r) => r.msPerObject);
    res.msInBpf = split.bpfMs / split.passes;
    res.msInClose = split.closeMs / split.passes;
    res.bpfCalls = split.bpfCalls / split.passes;
    out.push(res);
  }
  return out;
}

// The middle element of `xs` by `key`.
function median<T>(xs: T[], key: (x: T) => number): T {
  return [...xs].sort((a, b) => key(a) - key(b))[Math.floor(xs.length / 2)];
}

// The fixed number of passes, or as many as fit in budgetMs; the bpf(2)
// and close(2) figures are zero unless `sys` is timed.
async function round(
  bytes: Uint8Array,
  sys: Syscalls | TimedSyscalls,
  passes: number,
  budgetMs: number,
) {
  const timed = "reset" in sys ? sys : undefined;
  timed?.reset();
  const start = performance.now();
  let n = 0;
  let elapsed = 0;
  let parseMs = 0;
  while (passes > 0 ? n < passes : elapsed < budgetMs) {
    parseMs += await loadOnce(bytes, sys);
    n++;
    elapsed = performance.now() - start;
  }
  return {
    msPerObject: elapsed / n,
    passes: n,
    parseMs,
    bpfMs: timed?.bpfMs ?? 0,
    closeMs: timed?.closeMs ?? 0,
    bpfCalls: timed?.bpfCalls ?? 0,
  };
}

/** Build and run `peers/libbpf_load.c`; its JSON lines become results. */
export function benchLibbpf(files: string[], options: LoadBenchOptions): LoadImplementation {
  const name = "libbpf";
  const peer = buildCPeer("bench/peers/libbpf_load.c");
  if (peer.binary === undefined) return { name, version: "", results: [], skipped: peer.skipped };
  const lines = runPeerJson<LoadResult & { version?: string }>(peer.binary, [
    ...timingArgs(options),
    ...files,
  ]);
  if (typeof lines === "string") return { name, version: "", results: [], skipped: lines };
  const total = lines.find((l) => l.file === "total");
  return {
    name,
    version: `${total?.version ?? "?"} (Debian ${debianVersion("libbpf-dev") ?? "?"})`,
    results: lines.filter((l) => l.file !== "total"),
  };
}

// "fixtures/bpfel/x.o" → "bpfel/x.o".
function shortName(file: string): string {
  return `${basename(dirname(file))}/${basename(file)}`;
}

const fmt = (ms: number | null | undefined, digits = 3) =>
  ms === null || ms === undefined ? "—" : ms.toFixed(digits);

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function geomean(xs: number[]): number {
  return Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
}

function ratioText(r: number): string {
  return `${r.toFixed(2)}× (${
    r <= 1 ? `${(1 / r).toFixed(2)}× faster` : `${r.toFixed(2)}× slower`
  })`;
}

/**
 * Print the table, the exclusions, the figures over the objects both
 * loaded and the target; returns the tsbpf / libbpf ratio per object
 * (geometric mean over the common files), or `undefined` without a peer.
 */
export function report(
  ours: LoadImplementation,
  peer: LoadImplementation,
  files: string[],
  log: (line: string) => void,
): number | undefined {
  const hasPeer = peer.skipped === undefined;
  const find = (impl: LoadImplementation, file: string) =>
    impl.results.find((r) => r.file === file);
  const nameWidth = Math.max(24, ...files.map((f) => shortName(f).length)) + 2;
  log("");
  const cols = ["total", "parse", "load", "bpf(2)", "close(2)", "other", "calls"];
  const ourWidth = cols.length * 9 - 1;
  const peerCols = ["total", "load", "total", "load"];
  log(
    "".padEnd(nameWidth) +
      "tsbpf ms/object: total = parse + load; load = bpf(2) + close(2) + other".padEnd(ourWidth) +
      (hasPeer ? "  libbpf ms/object  tsbpf/libbpf" : ""),
  );
  log(
    "file".padEnd(nameWidth) + cols.map((h) => h.padStart(8)).join(" ") +
      (hasPeer ? peerCols.map((h) => h.padStart(9)).join("") : ""),
  );
  for (const file of files) {
    const t = find(ours, file);
    const l = hasPeer ? find(peer, file) : undefined;
    // Rows only for files somebody loaded; the others are listed with their reasons below.
    if (t?.msPerObject == null && l?.msPerObject == null) continue;
    const other = t?.msPerObject == null
      ? null
      : t.msPerObject - (t.msParse ?? 0) - (t.msInBpf ?? 0) - (t.msInClose ?? 0);
    const ratio = (a: number | null | undefined, b: number | null | undefined) =>
      a != null && b != null ? (a / b).toFixed(2) + "×" : "—";
    log(
      shortName(file).padEnd(nameWidth) +
        [
          fmt(t?.msPerObject),
          fmt(t?.msParse),
          fmt(t?.msLoad),
          fmt(t?.msInBpf),
          fmt(t?.msInClose),
          fmt(other),
          t?.bpfCalls === undefined ? "—" : t.bpfCalls.toFixed(0),
        ].map((c) => c.padStart(8)).join(" ") +
        (hasPeer
          ? [
            fmt(l?.msPerObject),
            fmt(l?.msLoad),
            ratio(t?.msPerObject, l?.msPerObject),
            ratio(t?.msLoad, l?.msLoad),
          ].map((c) => c.padStart(9)).join("")
          : ""),
    );
  }

  const common = files.filter((f) =>
    find(ours, f)?.msPerObject != null && (!hasPeer || find(peer, f)?.msPerObject != null)
  );
  const excluded = files.filter((f) => !common.includes(f));
  if (excluded.length > 0) {
    log("");
    log(
      `excluded (${plural(excluded.length, "file")} not loaded by ${hasPeer ? "both" : "tsbpf"}):`,
    );
    for (const f of excluded) {
      const why: string[] = [];
      const t = find(ours, f);
      if (t?.error) why.push(`tsbpf: ${t.error}`);
      const l = hasPeer ? find(peer, f) : undefined;
      if (l?.error) why.push(`libbpf: ${l.error}`);
      log(`  ${shortName(f)}: ${why.join("; ") || "no result"}`);
    }
  }

  log("");
  if (common.length === 0) {
    log(`no file was loaded by ${hasPeer ? "both implementations" : "tsbpf"}: no totals`);
    return undefined;
  }
  const sum = (impl: LoadImplementation, pick: (r: LoadResult) => number) =>
    common.reduce((s, f) => s + pick(find(impl, f)!), 0);
  const tTotal = sum(ours, (r) => r.msPerObject!);
  const tBpf = sum(ours, (r) => r.msInBpf ?? 0);
  const tClose = sum(ours, (r) => r.msInClose ?? 0);
  const tParse = sum(ours, (r) => r.msParse ?? 0);
  const tOutside = tTotal - tBpf;
  const tOther = tTotal - tParse - tBpf - tClose;
  const n = common.length;
  const pct = (x: number) => `${((x / tTotal) * 100).toFixed(0)}%`;
  log(
    `over the ${plural(n, "file")} ${hasPeer ? "both loaded" : "tsbpf loaded"} (${
      common.map(shortName).join(", ")
    }):`,
  );
  log(
    `  tsbpf    ${fmt(tTotal)} ms for one load of each, ${fmt(tTotal / n)} ms per object ` +
      "(mean)",
  );
  log(
    `    per object: ${fmt(tBpf / n)} ms inside bpf(2) (${pct(tBpf)}), ${
      fmt(tOutside / n)
    } ms outside it (${pct(tOutside)}): ${fmt(tParse / n)} ms parsing (${pct(tParse)}), ${
      fmt(tClose / n)
    } ms in close(2) (${pct(tClose)}), ${fmt(tOther / n)} ms other loader work (${pct(tOther)})`,
  );
  if (!hasPeer) return undefined;
  const lTotal = sum(peer, (r) => r.msPerObject!);
  log(`  libbpf   ${fmt(lTotal)} ms for one load of each, ${fmt(lTotal / n)} ms per object (mean)`);
  const perFile = geomean(
    common.map((f) => find(ours, f)!.msPerObject! / find(peer, f)!.msPerObject!),
  );
  const total = tTotal / lTotal;
  const withLoad = common.filter((f) =>
    find(ours, f)!.msLoad !== undefined && find(peer, f)!.msLoad !== undefined
  );
  log(
    `tsbpf / libbpf per object, end to end (parse + load + close against open + load + close; ` +
      `geometric mean of the per-file ratios): ${ratioText(perFile)}; target ≤ 1.0×: ${
        perFile <= 1 ? "met" : "NOT met"
      }`,
  );
  log(
    `  (over the total of one load of each: ${ratioText(total)}, ` +
      `where the slowest objects weigh most)`,
  );
  if (withLoad.length > 0) {
    const perFileLoad = geomean(
      withLoad.map((f) => find(ours, f)!.msLoad! / find(peer, f)!.msLoad!),
    );
    log(
      `tsbpf / libbpf per object, load only (loadCollection + close of a parsed spec against ` +
        `bpf_object__load + close of an opened object): ${ratioText(perFileLoad)}; ` +
        `target ≤ 1.0×: ${perFileLoad <= 1 ? "met" : "NOT met"}`,
    );
    log(
      "  (libbpf's load also relocates, links subprograms and runs CO-RE, which tsbpf does " +
        "while parsing; its open parses ELF and BTF only)",
    );
  }
  // What libbpf re-reads per load and tsbpf caches per process.
  const libbpfBtf = peer.results.filter((r) => r.kernelBtf).map((r) => shortName(r.file));
  const oursBtf = ours.results.filter((r) => r.kernelBtf).map((r) => shortName(r.file));
  const inCommon = (names: string[]) => names.filter((x) => common.map(shortName).includes(x));
  log("");
  log(
    "kernel BTF: libbpf parses /sys/kernel/btf/vmlinux again on every load of an object that " +
      "needs it (CO-RE relocations, BTF attach targets); tsbpf parses it once per process " +
      "(kernelBtf(), cached) and only for attach targets (tracing, LSM) and CO-RE relocations.",
  );
  log(
    `  libbpf read it for ${libbpfBtf.length === 0 ? "no file" : libbpfBtf.join(", ")}; ` +
      `tsbpf would for ${oursBtf.length === 0 ? "no file" : oursBtf.join(", ")}. ` +
      (inCommon([...libbpfBtf, ...oursBtf]).length === 0
        ? "No benchmarked object triggers it, so the figures above don't include it."
        : `Benchmarked objects that trigger it: ${
          [...new Set(inCommon([...libbpfBtf, ...oursBtf]))].join(", ")
        }.`),
  );
  return perFile;
}

/** Why bpf(2) can't be used here, or `undefined` when it can. */
function kernelSkipReason(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  let sys: Syscalls;
  try {
    sys = syscalls();
  } catch (err) {
    return `no FFI: ${err instanceof Error ? err.message : String(err)}`;
  }
  // Not root (or no CAP_BPF), or a kernel without bpf(2): every load would fail alike.
  try {
    closeFd(
      sys,
      mapCreate(sys, { map_type: MapType.ARRAY, key_size: 4, value_size: 4, max_entries: 1 }),
    );
  } catch (err) {
    return `BPF_MAP_CREATE of a one-entry array fails: ${
      err instanceof Error ? err.message : String(err)
    }`;
  }
  return undefined;
}

/** The benchmark's object sets: directories under fixtures/. */
export const SETS = ["bpfel", "tools"] as const;

function fixtureFiles(set: (typeof SETS)[number]): string[] {
  const dir = join(REPO_ROOT, "fixtures", set);
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith(".o")).sort();
  } catch {
    return [];
  }
  return names.map((f) => relative(process.cwd(), join(dir, f)));
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      time: { type: "string", default: "0.5" },
      rounds: { type: "string", default: "5" },
      passes: { type: "string" },
      "no-peers": { type: "boolean", default: false },
      set: { type: "string", default: "all" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: bench/load_bench.ts [--time S] [--rounds N] [--passes N] [--no-peers] [file.o ...]\n" +
        "  --time S     measured seconds per file and implementation (default 0.5), after a warm-up of S/5\n" +
        "  --rounds N   rounds the time is split into; the median is reported (default 5)\n" +
        "  --passes N   fixed passes per round instead of a time budget\n" +
        "  --no-peers   measure tsbpf only\n" +
        "  --set S      bpfel, tools or all (default): fixtures/bpfel/*.o, fixtures/tools/*.o\n" +
        "               (libbpf-tools style, CO-RE), each reported on its own\n" +
        "  default files: the --set objects",
    );
    process.exit(0);
  }
  const options: LoadBenchOptions = {
    seconds: Number(values.time),
    rounds: Number(values.rounds),
    passes: values.passes === undefined ? undefined : Number(values.passes),
  };
  if (
    !(options.seconds > 0) || !Number.isInteger(options.rounds) || options.rounds < 1 ||
    options.rounds > 64 ||
    (options.passes !== undefined && !(Number.isInteger(options.passes) && options.passes > 0))
  ) {
    console.error("--time must be > 0, --rounds 1 to 64 and --passes a positive integer");
    process.exit(2);
  }
  const skip = kernelSkipReason();
  if (skip !== undefined) {
    console.log(`tsbpf load benchmark: skipped: bpf(2) is not available: ${skip}`);
    process.exit(0);
  }
  const set = values.set;
  if (set !== "all" && !(SETS as readonly string[]).includes(set)) {
    console.error(`--set must be ${SETS.join(", ")} or all`);
    process.exit(2);
  }
  // One report per set; named files are one set of their own.
  const groups: { name: string; files: string[] }[] = positionals.length > 0
    ? [{ name: "files", files: positionals }]
    : SETS.filter((s) => set === "all" || s === set).map((s) => ({
      name: s,
      files: fixtureFiles(s),
    })).filter((g) => g.files.length > 0);
  const files = groups.flatMap((g) => g.files);
  if (files.length === 0) {
    console.error("no files: build the fixtures (deno task fixtures) or name some objects");
    process.exit(2);
  }
  for (const file of files) {
    try {
      readFileSync(file);
    } catch (err) {
      console.error(`can't read ${file}: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(2);
    }
  }
  console.log(
    `tsbpf load benchmark: ${files.length} files; ${options.seconds} s per file and ` +
      `implementation after a ${
        options.seconds / 5
      } s warm-up, median of ${options.rounds} rounds` +
      (options.passes ? ` of ${options.passes} passes` : "") + `; kernel ${release()}`,
  );
  const sys = timedSyscalls(syscalls());
  const ours: LoadImplementation = {
    name: "tsbpf",
    version: `${runtimeName()}; parse (stages ${
      Loader.create().pipeline.names().join(", ")
    }) + loadCollection + close()`,
    results: await benchTsbpf(files, options, sys),
  };
  const peer: LoadImplementation = values["no-peers"]
    ? { name: "libbpf", version: "", results: [], skipped: "--no-peers" }
    : benchLibbpf(files, options);
  console.log(`  tsbpf: ${ours.version}`);
  console.log(
    peer.skipped === undefined
      ? `  libbpf: ${peer.version}; bpf_object__open_mem + bpf_object__load + bpf_object__close`
      : `  libbpf: skipped: ${peer.skipped}`,
  );
  for (const [i, group] of groups.entries()) {
    if (groups.length > 1 || group.name === "tools") {
      if (i > 0) console.log("");
      console.log(
        `== set ${group.name}: fixtures/${group.name}/*.o` +
          (group.name === "tools"
            ? " (libbpf-tools style: CO-RE against vmlinux, externs, kfuncs)"
            : ""),
      );
    }
    report(ours, peer, group.files, (line) => console.log(line));
  }
}
