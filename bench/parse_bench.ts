/**
 * Parse benchmark: how fast tsbpf turns object bytes into a CollectionSpec
 * (`loadCollectionSpec`: read, classify, relocate, maps, link), next to
 * cilium/ebpf 0.9.1 (`LoadCollectionSpecFromReader`) and libbpf
 * (`bpf_object__open_mem` + `bpf_object__close`) measured in the same run on
 * the same files.
 *
 * ```sh
 * deno task bench                      # deno run -A bench/parse_bench.ts
 * bun bench/parse_bench.ts
 * deno run -A bench/parse_bench.ts --time 1 --rounds 7 some.o other.o
 * ```
 *
 * Every implementation reads each file into memory once, then parses it in
 * a loop: a warm-up, then `--rounds` rounds that share `--time` seconds;
 * the median round gives milliseconds per pass. See bench/README.md.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { defaultPipeline, loadCollectionSpec } from "../mod.ts";
import { defaultFiles } from "../tools/compare_cilium.ts";
import { buildCPeer, buildGoPeer, goVersion } from "../tools/peers/build.ts";
import { debianVersion, runPeerJson, runtimeName, timingArgs } from "./_util.ts";

/** Options of {@link benchTsbpf} and the peers. */
export interface BenchOptions {
  /** Seconds of measured parsing per file, after a warm-up of a fifth of that. */
  seconds: number;
  /** Rounds the time is split into; the median round is reported. */
  rounds: number;
  /** Fixed passes per round instead of filling the time. */
  passes?: number;
}

/** The figure of one implementation for one file. */
export interface FileResult {
  file: string;
  bytes: number;
  iterations: number;
  /** Median milliseconds per pass, or `null` when the file could not be read. */
  msPerPass: number | null;
  mbPerSec: number | null;
  error: string | null;
}

/** One implementation's results, or why it did not run. */
export interface ImplementationResult {
  name: string;
  /** Version or runtime line shown in the header. */
  version: string;
  results: FileResult[];
  skipped?: string;
}

/** Time `loadCollectionSpec` over each file; a file it can't read gets its error. */
export async function benchTsbpf(files: string[], options: BenchOptions): Promise<FileResult[]> {
  const inputs = files.map((file) => ({ file, bytes: new Uint8Array(readFileSync(file)) }));
  // A first pass over everything, so the first file doesn't pay for the JIT alone.
  for (const { bytes } of inputs) await loadCollectionSpec(bytes).catch(() => {});

  const out: FileResult[] = [];
  for (const { file, bytes } of inputs) {
    const res: FileResult = {
      file,
      bytes: bytes.length,
      iterations: 0,
      msPerPass: null,
      mbPerSec: null,
      error: null,
    };
    try {
      await loadCollectionSpec(bytes);
    } catch (err) {
      res.error = err instanceof Error ? err.message : String(err);
      out.push(res);
      continue;
    }
    await round(bytes, 0, (options.seconds / 5) * 1e3); // warm-up
    const perPass: number[] = [];
    for (let i = 0; i < options.rounds; i++) {
      const r = await round(bytes, options.passes ?? 0, (options.seconds / options.rounds) * 1e3);
      perPass.push(r.msPerPass);
      res.iterations += r.passes;
    }
    res.msPerPass = median(perPass);
    res.mbPerSec = bytes.length / 1e6 / (res.msPerPass / 1e3);
    out.push(res);
  }
  return out;
}

// The fixed number of passes, or as many as fit in budgetMs.
async function round(bytes: Uint8Array, passes: number, budgetMs: number) {
  const start = performance.now();
  let n = 0;
  let elapsed = 0;
  while (passes > 0 ? n < passes : elapsed < budgetMs) {
    await loadCollectionSpec(bytes);
    n++;
    elapsed = performance.now() - start;
  }
  return { msPerPass: elapsed / n, passes: n };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Build and run one peer program; its JSON lines become results. */
function runPeer(
  name: string,
  build: () => { binary?: string; skipped?: string },
  files: string[],
  options: BenchOptions,
): ImplementationResult {
  const peer = build();
  if (peer.binary === undefined) return { name, version: "", results: [], skipped: peer.skipped };
  const lines = runPeerJson<Omit<FileResult, "bytes"> & { bytes?: number; version?: string }>(
    peer.binary,
    [...timingArgs(options), ...files],
  );
  if (typeof lines === "string") return { name, version: "", results: [], skipped: lines };
  const total = lines.find((l) => l.file === "total");
  return {
    name,
    version: total?.version ?? "",
    results: lines.filter((l) => l.file !== "total").map((l) => ({ bytes: 0, ...l })),
  };
}

const fmtMs = (ms: number | null) => (ms === null ? "—" : ms.toFixed(4));
const fmtMbs = (mbs: number | null) => (mbs === null ? "—" : mbs.toFixed(1));

// "fixtures/bpfel/x.o" → "bpfel/x.o": the byte order matters, the prefix doesn't.
function shortName(file: string): string {
  return `${basename(dirname(file))}/${basename(file)}`;
}

/** Print the table, totals and ratios; returns the tsbpf / cilium ratio over the common files. */
export function report(
  impls: ImplementationResult[],
  files: string[],
  log: (line: string) => void,
): number | undefined {
  const ran = impls.filter((i) => i.skipped === undefined);
  const byFile = (impl: ImplementationResult, file: string) =>
    impl.results.find((r) => r.file === file);
  const sizes = new Map(files.map((f) => [f, readFileSync(f).length]));

  const nameWidth = Math.max(24, ...files.map((f) => shortName(f).length)) + 2;
  const col = 22;
  log("");
  log(" ".repeat(nameWidth + 9) + ran.map((i) => i.name.padEnd(col)).join(""));
  log(
    "file".padEnd(nameWidth) + "KiB".padStart(7) + "  " +
      ran.map(() => "ms/pass     MB/s".padEnd(col)).join(""),
  );
  const errors = new Map<string, string[]>();
  for (const file of files) {
    const cells = ran.map((impl) => {
      const r = byFile(impl, file);
      // One line per implementation and reason: libbpf refuses every bpfeb file alike.
      if (r?.error) {
        const key = `${impl.name}\0${r.error.replaceAll(basename(file), "<file>")}`;
        errors.set(key, [...errors.get(key) ?? [], shortName(file)]);
      }
      return `${fmtMs(r?.msPerPass ?? null).padStart(7)}  ${
        fmtMbs(r?.mbPerSec ?? null).padStart(7)
      }`.padEnd(col);
    });
    log(
      shortName(file).padEnd(nameWidth) + (sizes.get(file)! / 1024).toFixed(1).padStart(7) + "  " +
        cells.join(""),
    );
  }

  log("");
  log("totals (one pass over every file that implementation read):");
  for (const impl of ran) {
    const ok = impl.results.filter((r) => r.msPerPass !== null);
    const t = total(ok.map((r) => r.file), impl, sizes);
    const excluded = files.length - ok.length;
    log(
      `  ${impl.name.padEnd(20)} ${ok.length} files, ${fmtMs(t.ms)} ms, ${fmtMbs(t.mbs)} MB/s` +
        (excluded > 0 ? ` (${excluded} it could not read excluded)` : ""),
    );
  }
  if (errors.size > 0) {
    log("");
    log("not read (excluded from that implementation's totals):");
    for (const [key, names] of errors) {
      const [impl, why] = key.split("\0");
      const which = names.length <= 3 ? names.join(", ") : `${names.length} files (${names[0]}, …)`;
      log(`  ${impl} can't read ${which}: ${why}`);
    }
  }

  const common = files.filter((f) => ran.every((impl) => byFile(impl, f)?.msPerPass != null));
  log("");
  if (common.length === 0) {
    log("no file was read by every implementation: no ratios");
    return undefined;
  }
  log(
    `over the ${common.length} files every implementation read (${
      common.map(shortName).join(", ")
    }):`,
  );
  const ours = total(common, ran[0], sizes);
  for (const impl of ran) {
    const t = total(common, impl, sizes);
    log(`  ${impl.name.padEnd(20)} ${fmtMs(t.ms)} ms per pass over all, ${fmtMbs(t.mbs)} MB/s`);
  }
  let ciliumRatio: number | undefined;
  for (const impl of ran.slice(1)) {
    const ratio = total(common, impl, sizes).ms / ours.ms;
    const perFile = geomean(
      common.map((f) => byFile(impl, f)!.msPerPass! / byFile(ran[0], f)!.msPerPass!),
    );
    const isCilium = impl.name.startsWith("cilium");
    if (isCilium) ciliumRatio = ratio;
    const target = isCilium ? ` (target ≥ 3×: ${ratio >= 3 ? "met" : "NOT met"})` : "";
    log(
      `${ran[0].name} vs ${impl.name}: ${speed(ratio)}${target}; per file (geometric mean) ${
        speed(perFile)
      }`,
    );
  }
  const cilium = ran.find((i) => i.name.startsWith("cilium"));
  if (cilium !== undefined && ran.length > 2) {
    // libbpf reads the native byte order only, so also compare over both orders.
    const both = files.filter((f) =>
      [ran[0], cilium].every((i) => byFile(i, f)?.msPerPass != null)
    );
    const ratio = total(both, cilium, sizes).ms / total(both, ran[0], sizes).ms;
    log(
      `(tsbpf vs cilium/ebpf over the ${both.length} files both read, both byte orders: ${
        speed(ratio)
      })`,
    );
  }
  return ciliumRatio;
}

function speed(ratio: number): string {
  return ratio >= 1 ? `${ratio.toFixed(1)}× faster` : `${(1 / ratio).toFixed(1)}× slower`;
}

function geomean(xs: number[]): number {
  return Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
}

function total(files: string[], impl: ImplementationResult, sizes: Map<string, number>) {
  let ms = 0;
  let bytes = 0;
  for (const f of files) {
    ms += impl.results.find((r) => r.file === f)?.msPerPass ?? 0;
    bytes += sizes.get(f)!;
  }
  return { ms, mbs: ms > 0 ? bytes / 1e6 / (ms / 1e3) : null };
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
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: bench/parse_bench.ts [--time S] [--rounds N] [--passes N] [--no-peers] [file.o ...]\n" +
        "  --time S     measured seconds per file and implementation (default 0.5), after a warm-up of S/5\n" +
        "  --rounds N   rounds the time is split into; the median is reported (default 5)\n" +
        "  --passes N   fixed passes per round instead of a time budget\n" +
        "  --no-peers   measure tsbpf only\n" +
        "  default files: fixtures/bpfel/*.o fixtures/bpfeb/*.o",
    );
    process.exit(0);
  }
  const options: BenchOptions = {
    seconds: Number(values.time),
    rounds: Number(values.rounds),
    passes: values.passes === undefined ? undefined : Number(values.passes),
  };
  if (!(options.seconds > 0) || !Number.isInteger(options.rounds) || options.rounds < 1) {
    console.error("--time must be > 0 and --rounds a positive integer");
    process.exit(2);
  }
  const files = positionals.length > 0 ? positionals : defaultFiles();
  if (files.length === 0) {
    console.error("no files: build the fixtures (deno task fixtures) or name some objects");
    process.exit(2);
  }
  const kib = files.reduce((s, f) => s + readFileSync(f).length, 0) / 1024;
  console.log(
    `tsbpf parse benchmark: ${files.length} files, ${
      kib.toFixed(1)
    } KiB; ${options.seconds} s per file and ` +
      `implementation after a ${
        options.seconds / 5
      } s warm-up, median of ${options.rounds} rounds` +
      (options.passes ? ` of ${options.passes} passes` : ""),
  );

  const impls: ImplementationResult[] = [
    {
      name: "tsbpf",
      // The stages say what a pass does: whether BTF is parsed changes the comparison.
      version: `${runtimeName()}; stages ${defaultPipeline().names().join(", ")}`,
      results: await benchTsbpf(files, options),
    },
  ];
  if (!values["no-peers"]) {
    const cilium = runPeer(
      "cilium/ebpf",
      () => buildGoPeer("bench/peers/cilium_parse"),
      files,
      options,
    );
    cilium.version = `${debianVersion("golang-github-cilium-ebpf-dev") ?? "?"}, ${
      goVersion() ?? ""
    }`;
    const libbpf = runPeer("libbpf", () => buildCPeer("bench/peers/libbpf_open.c"), files, options);
    libbpf.version = `${libbpf.version} (Debian ${debianVersion("libbpf-dev") ?? "?"})`;
    impls.push(cilium, libbpf);
  }
  for (const impl of impls) {
    console.log(
      impl.skipped === undefined
        ? `  ${impl.name}: ${impl.version}`
        : `  ${impl.name}: skipped: ${impl.skipped}`,
    );
  }
  report(impls, files, (line) => console.log(line));
}
