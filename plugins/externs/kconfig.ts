/**
 * The `kconfig` plugin: resolves `__kconfig` externs as libbpf does
 * (`bpf_object__resolve_externs`, `bpf_object__read_kconfig_file`,
 * `set_kcfg_value_*`). `CONFIG_*` values come from the overrides, then from
 * `/boot/config-$(uname -r)` or `/proc/config.gz`; `LINUX_KERNEL_VERSION`,
 * `LINUX_HAS_BPF_COOKIE` and `LINUX_HAS_SYSCALL_WRAPPER` are computed. The
 * values go into a `.kconfig` map (one frozen, program-read-only array
 * entry laid out as `fixupExterns` lays out the DATASEC), and every load of
 * a kconfig extern becomes a `BPF_PSEUDO_MAP_VALUE` load of `.kconfig` at
 * the variable's offset, so the kernel and the VM read it unchanged.
 *
 * A strong extern no source defines stays unresolved (the backends refuse
 * it, quoting why) unless `strict`, which makes it an error here; a weak one
 * reads 0. A value that does not fit its type is always an error.
 *
 * ```ts
 * import { Loader } from "../../mod.ts";
 * import { kconfigPlugin } from "./kconfig.ts";
 * const loader = Loader.create([kconfigPlugin({ values: { CONFIG_HZ: 1000 } })]);
 * ```
 *
 * @module
 */

import { release } from "node:os";
import { arch } from "node:process";
import { gunzipSync } from "node:zlib";
import type { Btf } from "../../btf/btf.ts";
import { fixupExterns } from "../../btf/sanitize.ts";
import { type BtfDatasec, BtfIntEncoding, BtfKind } from "../../btf/types.ts";
import { MapSpec } from "../../collection/spec.ts";
import { MapFlags, MapType } from "../../collection/types.ts";
import { TsbpfError } from "../../errors/mod.ts";
import { BPF_PSEUDO_MAP_VALUE, isLoadImm64 } from "../../isa/opcodes.ts";
import type { LoadContext } from "../../stages/context.ts";
import type { Plugin } from "../types.ts";
import {
  collectExterns,
  type ExternDecl,
  hasExterns,
  KCONFIG_SEC,
  programInstructions,
} from "./_externs.ts";
import { defaultKernelBtf, type KernelBtfSource } from "./_kernel.ts";
import { ExternError } from "./errors.ts";
import { readFileBytes } from "../../backends/kernel/kernel_btf.ts";
import { type ExternFileReader, readKallsyms, syscallPrefix } from "./kallsyms.ts";
import { recordUnresolved } from "./metadata.ts";

/** A kconfig value as overrides give it: `.config` text (`y`, `m`, `42`, `"str"`), a number or a boolean. */
export type KconfigValue = string | number | boolean;

/** Options of {@link kconfigPlugin}. */
export interface KconfigOptions {
  /** Values by name (`CONFIG_HZ`, also `LINUX_*`), taking precedence over every other source. */
  values?: Readonly<Record<string, KconfigValue>>;
  /** A kernel config file (plain or gzip) to read instead of `/boot/config-$(uname -r)` and `/proc/config.gz`. */
  path?: string;
  /** The kernel release, for `LINUX_KERNEL_VERSION` and `/boot/config-<release>`; `uname -r` by default. */
  release?: string;
  /** How files are read (tests pass a fake); `readFileSync` by default. */
  readFile?: ExternFileReader;
  /** Kernel BTF, for the `LINUX_HAS_BPF_COOKIE` probe; the process-wide cache by default. */
  kernelBtf?: KernelBtfSource;
  /** kallsyms file, for the `LINUX_HAS_SYSCALL_WRAPPER` probe; `/proc/kallsyms` by default. */
  kallsymsPath?: string;
  /** Throw for a strong extern nothing defines, instead of leaving it to the backend. */
  strict?: boolean;
}

/** libbpf's `enum kcfg_type`, with what the value needs. */
export type KcfgType =
  | { kind: "bool" }
  | { kind: "tristate" }
  | { kind: "char"; signed: boolean }
  | { kind: "int"; size: 1 | 2 | 4 | 8; signed: boolean }
  | { kind: "charArray"; size: number };

/** The stage's name. */
export const KCONFIG_STAGE = "kconfig";

/** The `kconfig` plugin: a `kconfig` stage after `link`. */
export function kconfigPlugin(options: KconfigOptions = {}): Plugin {
  return {
    name: "kconfig",
    stages: [{
      after: "link",
      stage: {
        name: KCONFIG_STAGE,
        run: (ctx) => {
          if (hasExterns(ctx)) resolveKconfig(ctx, options);
        },
      },
    }],
  };
}

/**
 * libbpf's `find_kcfg_type`: what a `__kconfig` variable of type `id` may
 * hold, `undefined` for types libbpf refuses.
 */
export function kcfgType(btf: Btf, id: number): KcfgType | undefined {
  const t = btf.type(btf.skipTypedefs(id));
  switch (t.kind) {
    case BtfKind.INT: {
      if ((t.encoding & BtfIntEncoding.BOOL) !== 0) {
        return t.size === 1 ? { kind: "bool" } : undefined;
      }
      const signed = (t.encoding & BtfIntEncoding.SIGNED) !== 0;
      if (t.size === 1) return { kind: "char", signed };
      if (t.size !== 2 && t.size !== 4 && t.size !== 8) return undefined;
      return { kind: "int", size: t.size, signed };
    }
    case BtfKind.ENUM:
      return t.size === 4 && t.name === "libbpf_tristate" ? { kind: "tristate" } : undefined;
    case BtfKind.ENUM64:
      return t.name === "libbpf_tristate" ? { kind: "tristate" } : undefined;
    case BtfKind.ARRAY: {
      if (t.nelems === 0 || kcfgType(btf, t.type)?.kind !== "char") return undefined;
      return { kind: "charArray", size: t.nelems };
    }
    default:
      return undefined;
  }
}

/**
 * `CONFIG_*` lines of a kernel config, by name (libbpf's
 * `bpf_object__process_kconfig_line`): other lines, comments and
 * `# CONFIG_X is not set` are skipped; values are kept as written.
 *
 * @throws {ExternError} `EXTERN_KCONFIG_PARSE` for a `CONFIG_` line without `=`.
 */
export function parseKconfig(text: string, source = "kconfig"): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (!line.startsWith("CONFIG_")) return;
    const eq = line.indexOf("=");
    if (eq < 0) {
      throw new ExternError(
        "EXTERN_KCONFIG_PARSE",
        `${source}:${i + 1}: ${JSON.stringify(line)} has no '=' separator`,
      );
    }
    out.set(line.slice(0, eq), line.slice(eq + 1));
  });
  return out;
}

/** Options of {@link encodeKconfigValue}. */
export interface EncodeKconfigOptions {
  /** Byte order of the object; little by default. */
  littleEndian?: boolean;
  /** Told about strings cut to fit their array (libbpf warns too). */
  warn?: (message: string) => void;
}

/**
 * The bytes of extern `name` of type `type` for `.config` text `value`
 * (libbpf's `set_kcfg_value_tri`, `_str`, `_num`): `y`/`n`/`m` for bools
 * (no `m`), tristates (`y`=1, `n`=0, `m`=2) and chars; `"…"` for char arrays,
 * cut to the array with a warning; integers in C syntax (`0x`, leading `0`
 * octal, `-`) for ints and chars, checked against the type's range.
 *
 * @throws {ExternError} `EXTERN_KCONFIG_VALUE` / `EXTERN_KCONFIG_PARSE`.
 */
export function encodeKconfigValue(
  name: string,
  type: KcfgType,
  value: string,
  options: EncodeKconfigOptions = {},
): Uint8Array {
  const bad = (why: string) =>
    new ExternError(
      "EXTERN_KCONFIG_VALUE",
      `extern (kcfg) ${name}: value ${JSON.stringify(value)} ${why}`,
    );
  const le = options.littleEndian ?? true;
  const c = value[0];
  if (value.length === 1 && (c === "y" || c === "n" || c === "m")) {
    switch (type.kind) {
      case "bool":
        if (c === "m") throw bad("is a tristate, but the extern is a bool");
        return Uint8Array.of(c === "y" ? 1 : 0);
      case "tristate": {
        const out = new Uint8Array(4);
        new DataView(out.buffer).setUint32(0, c === "y" ? 1 : c === "m" ? 2 : 0, le);
        return out;
      }
      case "char":
        return Uint8Array.of(c.charCodeAt(0));
      default:
        throw bad("implies a tristate or char type");
    }
  }
  if (c === '"') {
    if (type.kind !== "charArray") throw bad("implies a char array type");
    if (value.length < 2 || !value.endsWith('"')) {
      throw new ExternError(
        "EXTERN_KCONFIG_PARSE",
        `extern (kcfg) ${name}: invalid string config ${JSON.stringify(value)}`,
      );
    }
    let bytes = new TextEncoder().encode(value.slice(1, -1));
    if (bytes.length >= type.size) {
      options.warn?.(
        `extern (kcfg) ${name}: long string ${value} of ${bytes.length} bytes truncated to ${
          type.size - 1
        } bytes`,
      );
      bytes = bytes.subarray(0, type.size - 1);
    }
    const out = new Uint8Array(type.size);
    out.set(bytes);
    return out;
  }
  const num = parseU64(name, value);
  if (type.kind !== "int" && type.kind !== "char") throw bad("implies an integer type");
  const size = type.kind === "char" ? 1 : type.size;
  if (!inRange(num, size, type.signed)) throw bad(`doesn't fit in ${size} bytes`);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  switch (size) {
    case 1:
      view.setUint8(0, Number(num & 0xffn));
      break;
    case 2:
      view.setUint16(0, Number(num & 0xffffn), le);
      break;
    case 4:
      view.setUint32(0, Number(num & 0xffff_ffffn), le);
      break;
    default:
      view.setBigUint64(0, num, le);
  }
  return out;
}

const U64 = 1n << 64n;

/** `strtoull(value, &end, 0)` that must consume everything: negative values wrap, as in C. */
function parseU64(name: string, value: string): bigint {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(value);
  if (m === null) {
    throw new ExternError(
      "EXTERN_KCONFIG_PARSE",
      `extern (kcfg) ${name}: failed to parse ${JSON.stringify(value)} as an integer`,
    );
  }
  const digits = m[2];
  const magnitude = /^0[0-7]+$/.test(digits) ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
  if (magnitude >= U64) {
    throw new ExternError(
      "EXTERN_KCONFIG_VALUE",
      `extern (kcfg) ${name}: ${JSON.stringify(value)} is out of the 64-bit range`,
    );
  }
  return m[1] === "-" ? (U64 - magnitude) % U64 : magnitude;
}

/** libbpf's `is_kcfg_value_in_range`, on the u64 that `strtoull` gives. */
function inRange(v: bigint, size: number, signed: boolean): boolean {
  if (size === 8) return true;
  const bits = BigInt(size * 8);
  if (signed) return ((v + (1n << (bits - 1n))) % U64) < (1n << bits);
  return v >> bits === 0n;
}

/** libbpf's `KERNEL_VERSION(a, b, c)` of a `uname -r` release, 0 when it does not parse. */
export function linuxKernelVersion(release: string): number {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(release);
  if (m === null) return 0;
  const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return ((a << 16) + (b << 8) + Math.min(c, 255)) >>> 0;
}

/** Options of {@link readKernelConfig}. */
export interface ReadKernelConfigOptions {
  /** A file to read instead of the defaults. */
  path?: string;
  /** The release naming `/boot/config-<release>`; `uname -r` by default. */
  release?: string;
  /** How files are read. */
  readFile?: ExternFileReader;
}

/**
 * The running kernel's config as libbpf finds it: `options.path`, else
 * `/boot/config-<release>`, else `/proc/config.gz`; gzip or plain text.
 * Read with the default reader, it is read once per process and shared.
 *
 * @throws {ExternError} `EXTERN_NO_KERNEL_INFO` when no file can be read.
 */
export function readKernelConfig(
  options: ReadKernelConfigOptions = {},
): ReadonlyMap<string, string> {
  const paths = options.path !== undefined
    ? [options.path]
    : [`/boot/config-${options.release ?? release()}`, "/proc/config.gz"];
  // Files read the default way are read and parsed once per process (a
  // gunzip and 10 000 lines per load otherwise); a custom reader is always called.
  if (options.readFile !== undefined) return readConfigFrom(paths, options.readFile);
  const key = paths.join("\0");
  let config = kernelConfigs.get(key);
  if (config === undefined) {
    config = readConfigFrom(paths, readFileBytes);
    kernelConfigs.set(key, config);
  }
  return config;
}

/** Parsed kernel configs by the paths they were looked for at. */
const kernelConfigs = new Map<string, ReadonlyMap<string, string>>();

function readConfigFrom(
  paths: readonly string[],
  read: ExternFileReader,
): ReadonlyMap<string, string> {
  const failures: string[] = [];
  for (const path of paths) {
    let bytes: Uint8Array;
    try {
      bytes = read(path);
    } catch (err) {
      failures.push(`${path}: ${(err as Error).message ?? String(err)}`);
      continue;
    }
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        bytes = new Uint8Array(gunzipSync(bytes));
      } catch (err) {
        throw new ExternError(
          "EXTERN_KCONFIG_PARSE",
          `${path}: not a valid gzip file: ${(err as Error).message ?? String(err)}`,
        );
      }
    }
    return parseKconfig(new TextDecoder().decode(bytes), path);
  }
  throw new ExternError(
    "EXTERN_NO_KERNEL_INFO",
    `no kernel config could be read (${failures.join("; ")})`,
  );
}

function overrideText(name: string, v: KconfigValue): string {
  if (typeof v === "boolean") return v ? "y" : "n";
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) {
      throw new ExternError(
        "EXTERN_KCONFIG_VALUE",
        `kconfig override ${name}: ${v} is not a safe integer (give big values as strings)`,
      );
    }
    return String(v);
  }
  if (typeof v !== "string") {
    throw new ExternError(
      "EXTERN_KCONFIG_VALUE",
      `kconfig override ${name}: want a string, number or boolean, got ${typeof v}`,
    );
  }
  return v;
}

/** The stage: see the module docs. */
function resolveKconfig(ctx: LoadContext, options: KconfigOptions): void {
  const externs = collectExterns(ctx).filter((e) => e.section === KCONFIG_SEC);
  if (externs.length === 0 || ctx.btf === undefined) return;
  const btf = ctx.btf;
  const referenced = new Set<string>();
  for (const ins of programInstructions(ctx)) {
    if (ins.reference !== undefined && isLoadImm64(ins) && ins.src === 0) {
      referenced.add(ins.reference);
    }
  }
  // libbpf's layout, from the same fixup the kernel backend applies to the BTF it loads.
  const laid = fixupExterns(btf);
  const secId = laid.idsByName(KCONFIG_SEC).find((id) => laid.kindOf(id) === BtfKind.DATASEC)!;
  const sec = laid.type(secId) as BtfDatasec;
  const offsets = new Map(sec.vars.map((v) => [v.type, v.offset]));
  const data = new Uint8Array(sec.size);
  const le = ctx.byteOrder === "little";
  const warn = (message: string) =>
    ctx.diagnostics.push({ stage: KCONFIG_STAGE, level: "warning", message });

  const values = new Map<string, string>();
  for (const [name, v] of Object.entries(options.values ?? {})) {
    values.set(name, overrideText(name, v));
  }
  let config: ReadonlyMap<string, string> | undefined;
  let configError: string | undefined;
  const fromConfig = (name: string): string | undefined => {
    if (config === undefined && configError === undefined) {
      try {
        config = readKernelConfig({
          path: options.path,
          release: options.release,
          readFile: options.readFile,
        });
      } catch (err) {
        if (!(err instanceof TsbpfError)) throw err;
        configError = err.message;
      }
    }
    return config?.get(name);
  };

  const resolved = new Set<string>();
  for (const ext of externs) {
    const type = kcfgType(btf, (btf.type(ext.btfId) as { type: number }).type);
    if (type === undefined) {
      throw new ExternError(
        "EXTERN_UNSUPPORTED_TYPE",
        `extern (kcfg) ${ext.name}: type is unsupported`,
      );
    }
    let text = values.get(ext.name);
    let why: string | undefined;
    if (text === undefined) {
      if (ext.name.startsWith("CONFIG_")) {
        text = fromConfig(ext.name);
        if (text === undefined) {
          why = configError ?? `the kernel config does not set ${ext.name}`;
        }
      } else {
        const v = virtualValue(ext, options);
        if (typeof v === "string") why = v;
        else text = String(v);
      }
    }
    const off = offsets.get(ext.btfId)!;
    if (text !== undefined) {
      data.set(encodeKconfigValue(ext.name, type, text, { littleEndian: le, warn }), off);
      resolved.add(ext.name);
    } else if (ext.weak) {
      resolved.add(ext.name); // weak: stays 0
    } else if (referenced.has(ext.name)) {
      if (options.strict) {
        throw new ExternError(
          "EXTERN_UNRESOLVED",
          `extern (kcfg) ${ext.name} (strong): not resolved: ${why}`,
        );
      }
      recordUnresolved(ctx, KCONFIG_STAGE, ext.name, `not resolved by the kconfig plugin: ${why}`);
    }
  }
  if (resolved.size === 0) return;
  for (const ins of programInstructions(ctx)) {
    if (ins.reference === undefined || !isLoadImm64(ins) || ins.src !== 0) continue;
    if (!resolved.has(ins.reference)) continue;
    const ext = externs.find((e) => e.name === ins.reference)!;
    ins.src = BPF_PSEUDO_MAP_VALUE;
    ins.imm = 0;
    ins.immHi = offsets.get(ext.btfId)!;
    ins.reference = KCONFIG_SEC;
  }
  if (ctx.maps.has(KCONFIG_SEC)) {
    throw new ExternError("EXTERN_UNSUPPORTED_TYPE", `a map named ${KCONFIG_SEC} already exists`);
  }
  ctx.maps.set(
    KCONFIG_SEC,
    new MapSpec({
      name: KCONFIG_SEC,
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: Math.max(sec.size, 1),
      maxEntries: 1,
      flags: MapFlags.BPF_F_RDONLY_PROG,
      freeze: true,
      contents: [{ key: 0, value: data }],
      valueType: sec.size > 0 ? secId : undefined,
    }),
  );
}

/** A `LINUX_*` value, or why there is none. */
function virtualValue(ext: ExternDecl, options: KconfigOptions): number | bigint | string {
  switch (ext.name) {
    case "LINUX_KERNEL_VERSION": {
      const rel = options.release ?? release();
      const v = linuxKernelVersion(rel);
      return v === 0 ? `failed to get the kernel version from release ${JSON.stringify(rel)}` : v;
    }
    case "LINUX_HAS_BPF_COOKIE":
      return hasBpfCookie(options.kernelBtf ?? defaultKernelBtf()) ? 1 : 0;
    case "LINUX_HAS_SYSCALL_WRAPPER":
      return hasSyscallWrapper(options) ? 1 : 0;
    default:
      if (!ext.name.startsWith("LINUX_") || !ext.weak) {
        throw new ExternError(
          "EXTERN_UNRESOLVED",
          `extern (kcfg) ${ext.name}: unrecognized virtual extern (only CONFIG_* and libbpf's LINUX_* are known)`,
        );
      }
      return "unrecognized virtual extern";
  }
}

/**
 * libbpf probes `FEAT_BPF_COOKIE` by loading a program calling
 * `bpf_get_attach_cookie`; a stage makes no system calls, so the kernel's
 * own `enum bpf_func_id` says whether the helper exists.
 */
function hasBpfCookie(source: KernelBtfSource): boolean {
  try {
    const vmlinux = source.vmlinux();
    return vmlinux.idsByName("BPF_FUNC_get_attach_cookie").length > 0 ||
      vmlinux.idsByName("bpf_func_id").some((id) => {
        const t = vmlinux.type(id);
        return t.kind === BtfKind.ENUM &&
          t.values.some((v) => v.name === "BPF_FUNC_get_attach_cookie");
      });
  } catch (err) {
    if (err instanceof TsbpfError) return false;
    throw err;
  }
}

/**
 * libbpf probes `FEAT_SYSCALL_WRAPPER` by creating a kprobe on
 * `__<arch>_sys_bpf`; the symbol being in kallsyms is the same fact.
 */
function hasSyscallWrapper(options: KconfigOptions): boolean {
  const prefix = syscallPrefix(arch);
  if (prefix === undefined) return false;
  const name = `__${prefix}_sys_bpf`;
  try {
    return readKallsyms(new Set([name]), { path: options.kallsymsPath, readFile: options.readFile })
      .has(name);
  } catch (err) {
    if (err instanceof TsbpfError) return false;
    throw err;
  }
}
