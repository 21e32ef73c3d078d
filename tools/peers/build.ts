/**
 * Builds the peer programs tsbpf is measured against (cilium/ebpf 0.9.1 in
 * Go, libbpf in C) into a cache directory, rebuilding only when a source is
 * newer than its binary. A peer that can't be built is reported with the
 * reason, never thrown, so callers can skip it and say why.
 *
 * ```ts
 * import { buildGoPeer } from "./build.ts";
 * const dump = buildGoPeer("tools/peers/cilium_dump");
 * if (dump.binary === undefined) console.log(`skipped: ${dump.skipped}`);
 * ```
 *
 * Runs unchanged under Deno and Bun (node:fs, node:child_process).
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository root (two levels above this file). */
export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

/** Default cache for peer binaries; `.tsbpf-tmp/` is gitignored. */
export const DEFAULT_PEER_DIR: string = join(REPO_ROOT, ".tsbpf-tmp", "peers");

/** Where Debian's `golang-github-cilium-ebpf-dev` puts its sources. */
export const DEBIAN_GOPATH = "/usr/share/gocode";

/** Outcome of building one peer: a binary, or why there is none. */
export interface PeerBuild {
  /** Absolute path of the built program, when the build worked. */
  binary?: string;
  /** Why the peer is skipped, when it is. */
  skipped?: string;
}

/** Options of {@link buildGoPeer} and {@link buildCPeer}. */
export interface BuildOptions {
  /** Directory for binaries and build state; default {@link DEFAULT_PEER_DIR}. */
  cacheDir?: string;
}

/**
 * The GOPATH entry holding cilium/ebpf's sources (Debian's, or one from
 * `$GOPATH`), or `undefined` when there is none.
 */
export function findCiliumGopath(): string | undefined {
  const candidates = [
    ...(process.env.GOPATH ?? "").split(":").filter((p) => p !== ""),
    DEBIAN_GOPATH,
  ];
  return candidates.find((dir) =>
    existsSync(join(dir, "src/github.com/cilium/ebpf/elf_reader.go"))
  );
}

/** The version line of a working `go`, or `undefined` when there is none on PATH. */
export function goVersion(): string | undefined {
  const res = spawnSync("go", ["version"], { encoding: "utf8" });
  return res.status === 0 ? res.stdout.trim() : undefined;
}

/**
 * Build the Go program in `sourceDir` (relative to the repository root, or
 * absolute) against cilium/ebpf in GOPATH mode, as Debian packages it.
 */
export function buildGoPeer(sourceDir: string, options: BuildOptions = {}): PeerBuild {
  if (goVersion() === undefined) return { skipped: "no working `go` on PATH (install golang-go)" };
  const ciliumPath = findCiliumGopath();
  if (ciliumPath === undefined) {
    return {
      skipped: `cilium/ebpf sources not found in $GOPATH or ${DEBIAN_GOPATH} ` +
        "(install golang-github-cilium-ebpf-dev)",
    };
  }
  const src = isAbsolute(sourceDir) ? sourceDir : join(REPO_ROOT, sourceDir);
  const cacheDir = options.cacheDir ?? DEFAULT_PEER_DIR;
  const binary = join(cacheDir, basename(src));
  if (upToDate(binary, sourceFiles(src, ".go"))) return { binary };

  const env: Record<string, string | undefined> = {
    ...process.env,
    GO111MODULE: "off",
    GOFLAGS: "",
    // The first entry takes `go get` writes; ours keeps Debian's tree clean.
    GOPATH: `${join(cacheDir, "gopath")}:${ciliumPath}`,
  };
  // go refuses to run without a cache directory.
  if (!env.GOCACHE && !env.XDG_CACHE_HOME && !env.HOME) env.GOCACHE = join(cacheDir, "gocache");
  return build(binary, (out) => ["go", ["build", "-o", out, "."], { cwd: src, env }]);
}

/**
 * Build a one-file C program against libbpf (`cc -O2 … -lbpf`); `source`
 * is relative to the repository root, or absolute.
 */
export function buildCPeer(source: string, options: BuildOptions = {}): PeerBuild {
  const cc = process.env.CC ?? "cc";
  if (spawnSync(cc, ["--version"], { stdio: "ignore" }).status !== 0) {
    return { skipped: `no working C compiler \`${cc}\` (install gcc or set $CC)` };
  }
  if (!existsSync("/usr/include/bpf/libbpf.h")) {
    return { skipped: "libbpf headers not found at /usr/include/bpf (install libbpf-dev)" };
  }
  const src = isAbsolute(source) ? source : join(REPO_ROOT, source);
  const cacheDir = options.cacheDir ?? DEFAULT_PEER_DIR;
  const binary = join(cacheDir, basename(src).replace(/\.c$/, ""));
  // The peers share a header next to them: a change there rebuilds them too.
  const header = join(dirname(src), "peer_common.h");
  if (upToDate(binary, existsSync(header) ? [src, header] : [src])) return { binary };
  return build(binary, (out) => [cc, ["-O2", "-Wall", "-Wextra", "-o", out, src, "-lbpf"], {}]);
}

type Command = [string, string[], { cwd?: string; env?: Record<string, string | undefined> }];

// Builds to a temporary name and renames, so a concurrent run never sees a
// half-written binary.
function build(binary: string, command: (out: string) => Command): PeerBuild {
  mkdirSync(join(binary, ".."), { recursive: true });
  const tmp = `${binary}.tmp${process.pid}`;
  const [cmd, args, opts] = command(tmp);
  const res = spawnSync(cmd, args, { ...opts, encoding: "utf8" });
  if (res.status !== 0) {
    const why = (res.stderr || res.stdout || String(res.error ?? "")).trim();
    return { skipped: `build of ${basename(binary)} failed: ${cmd} ${args.join(" ")}: ${why}` };
  }
  renameSync(tmp, binary);
  return { binary };
}

function sourceFiles(dir: string, ext: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith(ext)).map((f) => join(dir, f));
}

function upToDate(binary: string, sources: string[]): boolean {
  if (!existsSync(binary)) return false;
  const built = statSync(binary).mtimeMs;
  return sources.every((s) => statSync(s).mtimeMs <= built);
}
