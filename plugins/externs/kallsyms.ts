/**
 * `/proc/kallsyms`: the kernel's symbol addresses, for typeless `__ksym`
 * externs and the syscall-wrapper probe (libbpf's
 * `libbpf_kallsyms_parse` / `bpf_object__read_kallsyms_file`).
 *
 * @module
 */

import { type FileReader, readFileBytes } from "../../backends/kernel/kernel_btf.ts";
import { ExternError } from "./errors.ts";

/** Where the kernel lists its symbols. */
export const KALLSYMS_PATH = "/proc/kallsyms";

/** Reads a whole file (tests pass a fake); the kernel BTF cache's reader type. */
export type ExternFileReader = FileReader;

/**
 * Addresses of the `wanted` symbols in kallsyms text (`addr type name
 * [module]` lines), each the list of distinct addresses seen. Lines that
 * don't parse are skipped, as libbpf does.
 */
export function parseKallsyms(
  text: string,
  wanted: ReadonlySet<string>,
): Map<string, bigint[]> {
  const out = new Map<string, bigint[]>();
  // A handful of names in ~120 000 lines: let the engine's substring search
  // find each name's lines rather than splitting every line.
  for (const name of wanted) {
    const needle = ` ${name}`;
    for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
      const after = at + needle.length;
      const next = text[after];
      if (after < text.length && next !== "\n" && next !== "\t" && next !== " ") continue;
      const lineStart = text.lastIndexOf("\n", at) + 1;
      // `addr type name`: the name must be the third field.
      const fields = text.slice(lineStart, at).split(" ");
      if (fields.length !== 2 || fields[1].length !== 1) continue;
      if (!/^[0-9a-fA-F]{1,16}$/.test(fields[0])) continue;
      const addr = BigInt(`0x${fields[0]}`);
      const seen = out.get(name);
      if (seen === undefined) out.set(name, [addr]);
      else if (!seen.includes(addr)) seen.push(addr);
    }
  }
  return out;
}

/** Kallsyms text and the answers found in it, by path, for reads without a custom reader. */
const kallsymsCache = new Map<
  string,
  { text: string; found: Map<string, bigint[] | undefined> }
>();

/** Options of {@link readKallsyms}. */
export interface ReadKallsymsOptions {
  /** The file; {@link KALLSYMS_PATH} by default. */
  path?: string;
  /** How it is read; `readFileSync` by default. */
  readFile?: ExternFileReader;
}

/**
 * The `wanted` symbols' addresses from kallsyms. The file is read, and
 * each name looked up, once per process and path (see
 * {@link clearKallsymsCache}).
 *
 * @throws {ExternError} `EXTERN_NO_KERNEL_INFO` when the file can't be read.
 */
export function readKallsyms(
  wanted: ReadonlySet<string>,
  options: ReadKallsymsOptions = {},
): Map<string, bigint[]> {
  const path = options.path ?? KALLSYMS_PATH;
  // A custom reader (tests) is always called.
  if (options.readFile !== undefined) {
    return parseKallsyms(readText(path, options.readFile), wanted);
  }
  // Reading /proc/kallsyms costs ~30 ms (the kernel formats 120 000 lines on
  // each read) and a search ~1 ms per name: keep the text and every answer,
  // as the kernel BTF is kept.
  let cache = kallsymsCache.get(path);
  if (cache === undefined) {
    cache = { text: readText(path, readFileBytes), found: new Map() };
    kallsymsCache.set(path, cache);
  }
  const missing = new Set([...wanted].filter((name) => !cache.found.has(name)));
  if (missing.size > 0) {
    const found = parseKallsyms(cache.text, missing);
    for (const name of missing) cache.found.set(name, found.get(name));
  }
  const out = new Map<string, bigint[]>();
  for (const name of wanted) {
    const addrs = cache.found.get(name);
    if (addrs !== undefined) out.set(name, [...addrs]);
  }
  return out;
}

function readText(path: string, readFile: ExternFileReader): string {
  let bytes: Uint8Array;
  try {
    bytes = readFile(path);
  } catch (err) {
    throw new ExternError(
      "EXTERN_NO_KERNEL_INFO",
      `can't read ${path}: ${(err as Error).message ?? String(err)}`,
      { cause: err },
    );
  }
  return new TextDecoder().decode(bytes);
}

/**
 * Forget the kallsyms text and answers {@link readKallsyms} keeps per process, e.g.
 * after loading a kernel module whose symbols a later load needs.
 */
export function clearKallsymsCache(): void {
  kallsymsCache.clear();
}

/**
 * The one address of `name`, `undefined` when kallsyms lacks it.
 *
 * @throws {ExternError} `EXTERN_AMBIGUOUS` for two different addresses (libbpf: "resolution is ambiguous").
 */
export function kallsymsAddress(
  found: ReadonlyMap<string, bigint[]>,
  name: string,
): bigint | undefined {
  const addrs = found.get(name);
  if (addrs === undefined || addrs.length === 0) return undefined;
  if (addrs.length > 1) {
    throw new ExternError(
      "EXTERN_AMBIGUOUS",
      `extern (ksym) ${name}: resolution is ambiguous: ${
        addrs.map((a) => `0x${a.toString(16)}`).join(" or ")
      }`,
    );
  }
  return addrs[0];
}

/** The arch prefix of syscall entry points (`__x64_sys_bpf`), libbpf's `arch_specific_syscall_pfx`. */
export function syscallPrefix(arch: string): string | undefined {
  switch (arch) {
    case "x64":
    case "x86_64":
      return "x64";
    case "ia32":
      return "ia32";
    case "arm64":
    case "aarch64":
      return "arm64";
    case "arm":
      return "arm";
    case "s390":
    case "s390x":
      return "s390x";
    case "ppc64":
    case "ppc":
      return "powerpc";
    case "riscv64":
      return "riscv";
    case "loong64":
    case "loongarch64":
      return "loongarch";
    default:
      return undefined;
  }
}
