/**
 * Compares tsbpf's reading of eBPF objects with cilium/ebpf 0.9.1's (the
 * Debian package), field by field: maps (name, type, key/value size, max
 * entries, flags) and programs (name, section, type, attach type, attach
 * target, license, kernel version, instruction count, references, functions).
 *
 * Where tsbpf follows current libbpf and cilium 0.9.1 does not, the
 * difference is listed in {@link KNOWN_DIFFERENCES} with the reason, and
 * reported as `explained` rather than as a difference. Anything else is a
 * difference someone has to look at.
 *
 * ```sh
 * deno run -A tools/compare_cilium.ts                 # every fixtures/bpf{el,eb}/*.o
 * deno run -A tools/compare_cilium.ts some.o other.o
 * ```
 *
 * Exit code 0 when every difference is explained (or the peer can't be
 * built here, which is printed), 1 otherwise.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { elf, loadCollectionSpec, TsbpfError } from "../mod.ts";
import type { CollectionSpec, MapSpec, ProgramSpec } from "../mod.ts";
import {
  AttachType,
  attachTypeName,
  MapType,
  mapTypeName,
  ProgramType,
  programTypeName,
} from "../collection/types.ts";
import { buildGoPeer, REPO_ROOT } from "./peers/build.ts";

/** One map as `cilium_dump` prints it. */
export interface CiliumMap {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

/** One program as `cilium_dump` prints it. */
export interface CiliumProgram {
  sectionName: string;
  type: number;
  attachType: number;
  attachTo: string;
  license: string;
  kernelVersion: number;
  instructionCount: number;
  rawInstructionSlots: number;
  references: string[];
  functions: string[];
}

/** What cilium/ebpf 0.9.1 made of one file (`tools/peers/cilium_dump`). */
export interface CiliumDump {
  file: string;
  error: string | null;
  maps: Record<string, CiliumMap>;
  programs: Record<string, CiliumProgram>;
}

/** A value on one side of a difference; `undefined` means "absent". */
export type FieldValue = string | number | undefined;

/** One field on which tsbpf and cilium/ebpf disagree. */
export interface Difference {
  /** What the field belongs to: a map, a program, or the whole file (errors). */
  kind: "map" | "program" | "file";
  /** Map or program name; the path for `file`. */
  name: string;
  /** Spec field, `presence` (only one side has it) or `error`. */
  field: string;
  /** tsbpf's value. */
  ours: FieldValue;
  /** cilium/ebpf's value. */
  cilium: FieldValue;
  /** The known difference that explains it, by id. */
  explainedBy?: string;
}

/** What a {@link KnownDifference} may look at besides the difference. */
export interface RuleContext {
  /** tsbpf's spec, when tsbpf read the file. */
  ours?: CollectionSpec;
  /** tsbpf's error code (`TsbpfError.code`), when it could not read the file. */
  oursErrorCode?: string;
  /** cilium/ebpf's dump. */
  cilium: CiliumDump;
  /** The object's bytes. */
  bytes: Uint8Array;
  /** Possible CPUs of this machine (`/sys/devices/system/cpu/possible`). */
  possibleCpus?: number;
}

/** A difference that is expected, with the reason. */
export interface KnownDifference {
  /** Short stable id, printed next to the difference. */
  id: string;
  /** Why the two loaders disagree, and which one follows libbpf. */
  reason: string;
  /** A feature tsbpf lacks for now, rather than a place where it follows libbpf. */
  gap?: boolean;
  /** Whether this rule explains `diff`. */
  matches(diff: Difference, ctx: RuleContext): boolean;
}

/** The comparison of one file. */
export interface FileComparison {
  /** Path as given. */
  file: string;
  /** Maps and programs compared (union of both sides). */
  maps: string[];
  programs: string[];
  /** cilium's error, when it could not read the file. */
  ciliumError?: string;
  /** tsbpf's error, when it could not read the file. */
  oursError?: string;
  /** tsbpf's error code, when it could not read the file. */
  oursErrorCode?: string;
  /** tsbpf's spec, when it read the file. */
  ours?: CollectionSpec;
  /** cilium/ebpf's view of the file. */
  cilium?: CiliumDump;
  /** Every difference; explained ones carry `explainedBy`. */
  differences: Difference[];
}

/** Result of {@link compareWithCilium}. */
export interface ComparisonReport {
  /** Why nothing was compared (no `go`, no cilium sources, failed build). */
  skipped?: string;
  /** One entry per file. */
  files: FileComparison[];
  /** Count of differences no known difference explains. */
  unexplained: number;
  /** Count of explained differences. */
  explained: number;
  /** Possible CPUs here, the bound of cilium's perf event array clamp. */
  possibleCpus?: number;
}

/** Options of {@link compareWithCilium}. */
export interface CompareOptions {
  /** Where to build and cache the Go dumper; default `.tsbpf-tmp/peers/`. */
  cacheDir?: string;
  /** Receives the printed report line by line; default none (silent). */
  log?: (line: string) => void;
}

const A = AttachType;
const P = ProgramType;

/** Values of a program's fields that a section rule expects. */
interface SectionValues {
  type?: number;
  attachType?: number;
  attachTo?: string;
}

/** One section family on which cilium 0.9.1's table and libbpf's disagree. */
interface SectionLag {
  id: string;
  section: RegExp;
  /** What libbpf gives, written here by hand from libbpf.c. */
  libbpf: (section: string) => SectionValues;
  /** What cilium 0.9.1 gives. */
  cilium: SectionValues;
  reason: string;
}

// The cgroup/*_unix hooks by the part after "cgroup/".
const UNIX_ATTACH: Record<string, number> = {
  connect_unix: A.CGROUP_UNIX_CONNECT,
  sendmsg_unix: A.CGROUP_UNIX_SENDMSG,
  recvmsg_unix: A.CGROUP_UNIX_RECVMSG,
  getpeername_unix: A.CGROUP_UNIX_GETPEERNAME,
  getsockname_unix: A.CGROUP_UNIX_GETSOCKNAME,
};

/**
 * Sections whose program type, attach type or attach target cilium 0.9.1's
 * section table (`getProgType` in elf_reader.go, copied from libbpf of early
 * 2022 and matched by prefix) gives differently from current libbpf's
 * `section_defs[]`. libbpf's values are written out here rather than taken
 * from tsbpf's own table, so a bug in that table still shows up.
 */
const SECTION_TABLE_LAG: readonly SectionLag[] = [
  {
    id: "section-xdp-attach-type",
    section: /^xdp(\.frags)?$/,
    libbpf: () => ({ attachType: A.XDP }),
    cilium: { attachType: 0 },
    reason:
      'libbpf\'s SEC_DEF("xdp"/"xdp.frags", XDP, BPF_XDP, …) sets expected_attach_type BPF_XDP; ' +
      "cilium 0.9.1's table has AttachNone for every xdp section",
  },
  {
    id: "section-xdp-devmap-cpumap",
    section: /^xdp(\.frags)?\/(devmap|cpumap)$/,
    libbpf: (s) => ({ attachType: s.endsWith("devmap") ? A.XDP_DEVMAP : A.XDP_CPUMAP }),
    cilium: { attachType: 0 },
    reason:
      'libbpf names these "xdp/devmap" and "xdp/cpumap" (BPF_XDP_DEVMAP/CPUMAP); cilium 0.9.1 only knows the ' +
      'old "xdp_devmap/" and "xdp_cpumap/" prefixes, and its prefix match on "xdp" gives no attach type',
  },
  {
    id: "section-sk-skb-verdict",
    section: /^sk_skb\/verdict$/,
    libbpf: () => ({ attachType: A.SK_SKB_VERDICT }),
    cilium: { attachType: 0 },
    reason:
      'libbpf\'s "sk_skb/verdict" gives BPF_SK_SKB_VERDICT; cilium 0.9.1 predates it and its prefix match on ' +
      '"sk_skb" gives no attach type',
  },
  {
    id: "section-cgroup-unix",
    section: /^cgroup\/(connect|sendmsg|recvmsg|getpeername|getsockname)_unix$/,
    libbpf: (s) => ({
      type: P.CGROUP_SOCK_ADDR,
      attachType: UNIX_ATTACH[s.slice("cgroup/".length)],
    }),
    cilium: { type: 0, attachType: 0 },
    reason:
      "the cgroup/*_unix hooks (libbpf 1.3: CGROUP_SOCK_ADDR, BPF_CGROUP_UNIX_*) postdate cilium 0.9.1, " +
      "which leaves them UNSPEC",
  },
  {
    id: "section-multi-probes",
    section: /^(kprobe|uprobe)\.multi(\.s)?\//,
    libbpf: (s) => ({
      type: P.KPROBE,
      attachType: s.startsWith("k") ? A.TRACE_KPROBE_MULTI : A.TRACE_UPROBE_MULTI,
      attachTo: s.slice(s.indexOf("/") + 1),
    }),
    cilium: { type: 0, attachType: 0, attachTo: "" },
    reason:
      "kprobe.multi and uprobe.multi (KPROBE with BPF_TRACE_KPROBE_MULTI/UPROBE_MULTI) postdate cilium 0.9.1, " +
      "which leaves them UNSPEC",
  },
  {
    id: "section-sk-lookup",
    section: /^sk_lookup$/,
    libbpf: () => ({ type: P.SK_LOOKUP, attachType: A.SK_LOOKUP }),
    cilium: { type: 0, attachType: 0 },
    reason:
      'libbpf\'s entry is the exact name "sk_lookup" (SK_LOOKUP, BPF_SK_LOOKUP); cilium 0.9.1 only knows ' +
      'the prefix "sk_lookup/", so plain "sk_lookup" is UNSPEC to it',
  },
  {
    id: "section-tcx",
    section: /^tcx\/(ingress|egress)$/,
    libbpf: (s) => ({ attachType: s.endsWith("egress") ? A.TCX_EGRESS : A.TCX_INGRESS }),
    cilium: { attachType: 0 },
    reason:
      "tcx/ingress and tcx/egress (libbpf 1.3) give BPF_TCX_INGRESS/EGRESS; cilium 0.9.1 predates them, " +
      'and its prefix match on "tc" gives SCHED_CLS with no attach type',
  },
  {
    id: "section-netfilter",
    section: /^netfilter$/,
    libbpf: () => ({ type: P.NETFILTER, attachType: A.NETFILTER }),
    cilium: { type: 0, attachType: 0 },
    reason:
      "netfilter programs (libbpf 1.2: NETFILTER, BPF_NETFILTER) postdate cilium 0.9.1, which leaves them UNSPEC",
  },
  {
    id: "section-struct-ops",
    section: /^struct_ops(\.s)?(\/.*)?$/,
    libbpf: () => ({ type: P.STRUCT_OPS }),
    cilium: { type: 0 },
    reason:
      'libbpf\'s "struct_ops+" means "struct_ops" or "struct_ops/…"; cilium 0.9.1 copied the "+" into its ' +
      'prefix table literally ("struct_ops+"), which matches no real section, so the type stays UNSPEC',
  },
  {
    id: "section-sleepable-uprobe",
    section: /^uprobe\.s\//,
    libbpf: (s) => ({ type: P.KPROBE, attachType: 0, attachTo: s.slice("uprobe.s/".length) }),
    cilium: { type: 0, attachType: 0, attachTo: "" },
    reason: 'sleepable uprobes ("uprobe.s+") are KPROBE programs; cilium 0.9.1 predates them and ' +
      "leaves the type UNSPEC with no attach target",
  },
];

const SECTION_FIELDS: readonly string[] = ["type", "attachType", "attachTo"];

function sectionRule(lag: SectionLag): KnownDifference {
  return {
    id: lag.id,
    reason: lag.reason,
    matches(diff, ctx) {
      if (diff.kind !== "program" || !SECTION_FIELDS.includes(diff.field)) return false;
      const field = diff.field as keyof SectionValues;
      const section = ctx.cilium.programs[diff.name]?.sectionName;
      if (section === undefined || !lag.section.test(section)) return false;
      return lag.cilium[field] === diff.cilium && lag.libbpf(section)[field] === diff.ours;
    },
  };
}

/**
 * SEC("?…"): cilium 0.9.1 keeps the "?" in the section name, so its table
 * matches nothing. tsbpf's section name must be the name without "?" (with
 * autoload off), and its type, attach type and target those of a program in
 * the bare section of the same file, which is itself compared with cilium.
 */
const AUTOLOAD_PREFIX: KnownDifference = {
  id: "section-autoload-prefix",
  reason:
    'SEC("?…") (libbpf 0.8) turns autoload off and is not part of the section name; cilium 0.9.1 keeps ' +
    'the "?" in SectionName, so its prefix table matches nothing (UNSPEC). tsbpf strips it and types the program ' +
    "like the other programs of the bare section",
  matches(diff, ctx) {
    if (diff.kind !== "program" || ctx.ours === undefined) return false;
    const section = ctx.cilium.programs[diff.name]?.sectionName;
    const ours = ctx.ours.programs.get(diff.name);
    if (section === undefined || !section.startsWith("?") || ours === undefined) return false;
    const bare = section.slice(1);
    if (diff.field === "sectionName") return ours.sectionName === bare && !ours.autoload;
    if (!SECTION_FIELDS.includes(diff.field)) return false;
    const field = diff.field as keyof SectionValues;
    if (diff.cilium !== (field === "attachTo" ? "" : 0)) return false;
    const sibling = [...ctx.ours.programs.values()].find((p) =>
      p !== ours && p.sectionName === bare && p.autoload
    );
    return sibling !== undefined && sibling[field] === ours[field];
  },
};

/** Data sections current libbpf matches by prefix and cilium 0.9.1 does not. */
const PREFIX_DATA_SECTION = /^\.(data|bss)\./;
/** Mergeable string sections clang emits for string literals. */
const STRING_SECTION = /^\.rodata\.str\d+\.\d+$/;

/**
 * Features tsbpf's default pipeline lacks for now, by the error code it
 * fails with. fixtures/manifest.json expects the same errors; when the
 * feature lands the error goes away and the file is compared field by field.
 */
/** Differences that are gaps in tsbpf rather than choices; none today. */
const TSBPF_GAPS: readonly KnownDifference[] = [];

/**
 * Differences between tsbpf and cilium/ebpf 0.9.1 that are understood, with
 * the reason each. tsbpf follows current libbpf wherever the two disagree.
 */
export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  ...SECTION_TABLE_LAG.map(sectionRule),
  AUTOLOAD_PREFIX,
  {
    id: "perf-event-array-clamp",
    reason:
      "cilium 0.9.1 clamps a perf event array's max_entries to the number of possible CPUs while parsing " +
      "(MapSpec.clampPerfEventArraySize); libbpf keeps the declared value in the spec and only fills in the CPU " +
      "count at creation when it is 0. tsbpf reports the declared value",
    matches(diff, ctx) {
      if (diff.kind !== "map" || diff.field !== "maxEntries") return false;
      const ours = ctx.ours?.maps.get(diff.name);
      if (ours?.type !== MapType.PERF_EVENT_ARRAY) return false;
      const [o, c] = [Number(diff.ours), Number(diff.cilium)];
      return c < o && (ctx.possibleCpus === undefined || c === ctx.possibleCpus);
    },
  },
  {
    id: "data-section-prefix",
    reason:
      "libbpf makes every .data.* and .bss.* section an internal array map (matched by prefix, like .rodata.*); " +
      "cilium 0.9.1 only knows .data, .bss and .rodata*, so it rejects instructions that reference .data.*/.bss.* " +
      '("reference to … in section …: not supported") and has no map for them',
    matches(diff, ctx) {
      if (diff.kind === "map") {
        return diff.field === "presence" && diff.cilium === undefined &&
          PREFIX_DATA_SECTION.test(diff.name);
      }
      if (diff.kind !== "file" || diff.field !== "error") return false;
      const m = /reference to "[^"]*" in section SHN_UNDEF\+(\d+): not supported/.exec(
        String(diff.cilium),
      );
      return m !== null && PREFIX_DATA_SECTION.test(sectionName(ctx.bytes, Number(m[1])) ?? "");
    },
  },
  {
    id: "rodata-strings",
    reason:
      "clang puts string literals in mergeable .rodata.str1.1 sections (SHF_MERGE|SHF_STRINGS); libbpf maps them " +
      'like any .rodata.* section, cilium 0.9.1 refuses references to them ("string is not stack allocated")',
    matches(diff, ctx) {
      if (diff.kind === "map") {
        return diff.field === "presence" && diff.cilium === undefined &&
          STRING_SECTION.test(diff.name);
      }
      return diff.kind === "file" && diff.field === "error" &&
        /string is not stack allocated: not supported/.test(String(diff.cilium)) &&
        sectionNames(ctx.bytes).some((n) => STRING_SECTION.test(n));
    },
  },
  {
    id: "weak-symbols",
    reason:
      "libbpf accepts defined __weak functions and variables (STB_WEAK) like global ones; cilium 0.9.1 only " +
      'accepts STB_GLOBAL targets for calls and maps ("unsupported binding: STB_WEAK"); current cilium/ebpf accepts them',
    matches(diff) {
      return diff.kind === "file" && diff.field === "error" &&
        /unsupported binding: STB_WEAK/.test(String(diff.cilium));
    },
  },
  {
    id: "kconfig-externs",
    reason:
      "__kconfig externs put a .kconfig DATASEC in the BTF; libbpf turns them into a .kconfig map (filled " +
      'at load time), cilium 0.9.1 refuses the whole BTF ("load BTF: reference to .kconfig: not supported"); current cilium/ebpf supports them',
    matches(diff) {
      return diff.kind === "file" && diff.field === "error" &&
        /load BTF: reference to \.kconfig: not supported/.test(String(diff.cilium));
    },
  },
  {
    id: "btf-map-numa-node",
    reason:
      "libbpf reads numa_node in BTF map definitions (with BPF_F_NUMA_NODE); cilium 0.9.1 refuses the object " +
      '("unrecognized field numa_node in BTF map definition"); current cilium/ebpf reads it',
    matches(diff) {
      return diff.kind === "file" && diff.field === "error" &&
        /unrecognized field numa_node in BTF map definition/.test(String(diff.cilium));
    },
  },
  {
    id: "btf-map-strict",
    reason:
      "libbpf's parse_btf_map_def refuses a BTF map without a type and a pinning value other than NONE or " +
      "BY_NAME; cilium 0.9.1 accepts both (an UNSPEC map, an unknown PinType). tsbpf refuses them as libbpf does",
    matches(diff, ctx) {
      return diff.kind === "file" && diff.field === "error" && diff.cilium === undefined &&
        ctx.oursErrorCode === "LINK_BAD_BTF_MAP" &&
        /map type isn't specified|invalid pinning value/.test(String(diff.ours));
    },
  },
  ...TSBPF_GAPS,
];

/** The id of the first {@link KNOWN_DIFFERENCES} entry that explains `diff`, if any. */
export function explainDifference(diff: Difference, ctx: RuleContext): string | undefined {
  return KNOWN_DIFFERENCES.find((k) => k.matches(diff, ctx))?.id;
}

/** Every `fixtures/bpfel/*.o` and `fixtures/bpfeb/*.o`, sorted, relative to the repository root. */
export function defaultFiles(): string[] {
  const files: string[] = [];
  for (const dir of ["bpfel", "bpfeb"]) {
    const path = join(REPO_ROOT, "fixtures", dir);
    if (!existsSync(path)) continue;
    for (const f of readdirSync(path).filter((f) => f.endsWith(".o")).sort()) {
      files.push(relative(process.cwd(), join(path, f)));
    }
  }
  return files;
}

/**
 * Read `files` with tsbpf and with cilium/ebpf 0.9.1 and compare them.
 * Builds the Go dumper first; when that can't be done here, the report
 * says why in `skipped` and compares nothing.
 *
 * @example
 * ```ts
 * import { compareWithCilium, defaultFiles } from "./compare_cilium.ts";
 * const report = await compareWithCilium(defaultFiles(), { log: console.log });
 * if (report.unexplained > 0) throw new Error("tsbpf and cilium/ebpf disagree");
 * ```
 */
export async function compareWithCilium(
  files: string[],
  options: CompareOptions = {},
): Promise<ComparisonReport> {
  const log = options.log ?? (() => {});
  const peer = buildGoPeer("tools/peers/cilium_dump", { cacheDir: options.cacheDir });
  if (peer.binary === undefined) {
    log(`compare_cilium: skipped: ${peer.skipped}`);
    return { skipped: peer.skipped, files: [], unexplained: 0, explained: 0 };
  }
  const dumps = runDumper(peer.binary, files);
  const possibleCpus = readPossibleCpus();

  const report: ComparisonReport = { files: [], unexplained: 0, explained: 0, possibleCpus };
  log(
    `tsbpf vs cilium/ebpf 0.9.1 (${plural(files.length, "file")}; possible CPUs: ${
      possibleCpus ?? "unknown"
    })`,
  );
  for (const [i, file] of files.entries()) {
    const bytes = new Uint8Array(readFileSync(file));
    const cmp = await compareFile(file, bytes, dumps[i], possibleCpus);
    for (const d of cmp.differences) {
      if (d.explainedBy === undefined) report.unexplained++;
      else report.explained++;
    }
    report.files.push(cmp);
    for (const line of formatFile(cmp)) log(line);
  }
  for (const line of formatSummary(report)) log(line);
  return report;
}

function runDumper(binary: string, files: string[]): CiliumDump[] {
  if (files.length === 0) return [];
  const res = spawnSync(binary, files, { encoding: "utf8", maxBuffer: 256 << 20 });
  if (res.status !== 0) {
    throw new Error(`cilium_dump failed (${res.status}): ${res.stderr || res.error}`);
  }
  const dumps = res.stdout.trim().split("\n").map((line) => JSON.parse(line) as CiliumDump);
  if (dumps.length !== files.length) {
    throw new Error(`cilium_dump printed ${dumps.length} documents for ${files.length} files`);
  }
  return dumps;
}

function readPossibleCpus(): number | undefined {
  try {
    // "0-3" or "0,2-5": count the CPUs in every range, as cilium does.
    const text = readFileSync("/sys/devices/system/cpu/possible", "utf8").trim();
    let n = 0;
    for (const part of text.split(",")) {
      const [lo, hi] = part.split("-").map(Number);
      n += (hi ?? lo) - lo + 1;
    }
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

async function compareFile(
  file: string,
  bytes: Uint8Array,
  cilium: CiliumDump,
  possibleCpus: number | undefined,
): Promise<FileComparison> {
  const out: FileComparison = { file, maps: [], programs: [], differences: [], cilium };
  let ours: CollectionSpec | undefined;
  try {
    ours = out.ours = await loadCollectionSpec(bytes);
  } catch (err) {
    out.oursError = err instanceof Error ? err.message : String(err);
    if (err instanceof TsbpfError) out.oursErrorCode = err.code;
  }
  if (cilium.error !== null) out.ciliumError = cilium.error;
  const ctx: RuleContext = { ours, oursErrorCode: out.oursErrorCode, cilium, bytes, possibleCpus };

  if (ours === undefined || cilium.error !== null) {
    // Both refusing the file agrees; one refusing it is a difference.
    if ((ours === undefined) !== (cilium.error !== null)) {
      out.differences.push({
        kind: "file",
        name: file,
        field: "error",
        ours: out.oursError,
        cilium: out.ciliumError,
      });
    }
  } else {
    out.maps = union(ours.maps.keys(), Object.keys(cilium.maps));
    out.programs = union(ours.programs.keys(), Object.keys(cilium.programs));
    for (const name of out.maps) {
      out.differences.push(...compareMap(name, ours.maps.get(name), cilium.maps[name]));
    }
    for (const name of out.programs) {
      out.differences.push(...compareProgram(name, ours.programs.get(name), cilium.programs[name]));
    }
  }
  for (const d of out.differences) d.explainedBy = explainDifference(d, ctx);
  return out;
}

function union(a: Iterable<string>, b: Iterable<string>): string[] {
  return [...new Set([...a, ...b])].sort();
}

function compareMap(
  name: string,
  ours: MapSpec | undefined,
  cilium: CiliumMap | undefined,
): Difference[] {
  if (ours === undefined || cilium === undefined) {
    return [{
      kind: "map",
      name,
      field: "presence",
      ours: ours && "present",
      cilium: cilium && "present",
    }];
  }
  const fields = ["type", "keySize", "valueSize", "maxEntries", "flags"] as const;
  return fields.filter((f) => ours[f] !== cilium[f])
    .map((f) => ({ kind: "map", name, field: f, ours: ours[f], cilium: cilium[f] }));
}

function compareProgram(
  name: string,
  ours: ProgramSpec | undefined,
  cilium: CiliumProgram | undefined,
): Difference[] {
  if (ours === undefined || cilium === undefined) {
    return [{
      kind: "program",
      name,
      field: "presence",
      ours: ours && "present",
      cilium: cilium && "present",
    }];
  }
  const mine: Record<string, FieldValue> = {
    sectionName: ours.sectionName,
    type: ours.type,
    attachType: ours.attachType,
    attachTo: ours.attachTo,
    license: ours.license,
    kernelVersion: ours.kernelVersion,
    instructionCount: ours.instructions.length,
    references: ours.references().join(","),
    // Flattening may order subprograms differently: compare the set.
    functions: [...ours.functions()].sort().join(","),
  };
  const theirs: Record<string, FieldValue> = {
    sectionName: cilium.sectionName,
    type: cilium.type,
    attachType: cilium.attachType,
    attachTo: cilium.attachTo,
    license: cilium.license,
    kernelVersion: cilium.kernelVersion,
    instructionCount: cilium.instructionCount,
    references: cilium.references.join(","),
    functions: [...cilium.functions].sort().join(","),
  };
  return Object.keys(mine).filter((f) => mine[f] !== theirs[f])
    .map((f) => ({ kind: "program", name, field: f, ours: mine[f], cilium: theirs[f] }));
}

function sectionNames(bytes: Uint8Array): string[] {
  try {
    return elf.readElf(bytes).sections.map((s) => s.name);
  } catch {
    return [];
  }
}

function sectionName(bytes: Uint8Array, index: number): string | undefined {
  return sectionNames(bytes)[index];
}

// Numbers get their libbpf name next to them, so a reader needn't look up 37.
function show(field: string, value: FieldValue): string {
  if (value === undefined) return "absent";
  if (typeof value === "string") return value === "" ? '""' : JSON.stringify(value);
  const name = field === "type:map"
    ? mapTypeName(value)
    : field === "type:program"
    ? programTypeName(value)
    : field === "attachType" && value !== 0 // 0 is "none" for most types: no name
    ? attachTypeName(value)
    : undefined;
  return name === undefined ? String(value) : `${value} (${name})`;
}

function describe(d: Difference): string {
  const field = d.field === "type" ? `type:${d.kind}` : d.field;
  if (d.field === "presence") return `only in ${d.ours === undefined ? "cilium/ebpf" : "tsbpf"}`;
  if (d.field === "error") {
    return d.ours === undefined
      ? `cilium/ebpf can't read it: ${d.cilium}`
      : `tsbpf can't read it: ${d.ours}`;
  }
  return `${d.field}: tsbpf ${show(field, d.ours)}, cilium ${show(field, d.cilium)}`;
}

function formatFile(cmp: FileComparison): string[] {
  const lines = [`${cmp.file}`];
  if (cmp.oursError !== undefined && cmp.ciliumError !== undefined) {
    lines.push(
      `  both refuse it: tsbpf: ${cmp.oursError}`,
      `                  cilium: ${cmp.ciliumError}`,
    );
    return lines;
  }
  const fileDiffs = cmp.differences.filter((d) => d.kind === "file");
  for (const d of fileDiffs) lines.push(`  ${verdict(d)}`);
  const width = Math.max(0, ...[...cmp.maps, ...cmp.programs].map((n) => n.length)) + 10;
  for (const [kind, names] of [["map", cmp.maps], ["program", cmp.programs]] as const) {
    for (const name of names) {
      const diffs = cmp.differences.filter((d) => d.kind === kind && d.name === name);
      const label = `${kind} ${name}`.padEnd(width);
      if (diffs.length === 0) lines.push(`  ${label}same`);
      for (const [i, d] of diffs.entries()) {
        lines.push(`  ${i === 0 ? label : " ".repeat(width)}${verdict(d)}`);
      }
    }
  }
  return lines;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function verdict(d: Difference): string {
  return d.explainedBy === undefined
    ? `DIFFERENT ${describe(d)}`
    : `explained: ${describe(d)} [${d.explainedBy}]`;
}

function refused(f: FileComparison): boolean {
  return f.ciliumError !== undefined || f.oursError !== undefined;
}

function unexplained(f: FileComparison): boolean {
  return f.differences.some((d) => d.explainedBy === undefined);
}

function formatSummary(report: ComparisonReport): string[] {
  const files = report.files;
  const same = files.filter((f) => f.differences.length === 0 && !refused(f)).length;
  const explainedOnly = files.filter((f) => f.differences.length > 0 && !unexplained(f)).length;
  const withUnexplained = files.filter(unexplained).length;
  const ciliumRefused = files.filter((f) => f.ciliumError !== undefined && !f.oursError).length;
  const bothRefused = files.filter((f) => f.ciliumError !== undefined && f.oursError).length;
  const used = new Set(files.flatMap((f) => f.differences.map((d) => d.explainedBy)));
  const gapIds = new Set(KNOWN_DIFFERENCES.filter((k) => k.gap).map((k) => k.id));
  const gaps = files.flatMap((f) => f.differences).filter((d) => gapIds.has(d.explainedBy!)).length;

  const lines = [""];
  if (used.size > 0) {
    lines.push("explained differences (tsbpf follows current libbpf, or a known tsbpf gap):");
    for (const k of KNOWN_DIFFERENCES) if (used.has(k.id)) lines.push(`  ${k.id}: ${k.reason}`);
    lines.push("");
  }
  const isPerfArray = (f: FileComparison, m: string) =>
    f.ours?.maps.get(m)?.type === MapType.PERF_EVENT_ARRAY;
  if (files.some((f) => f.maps.some((m) => isPerfArray(f, m)))) {
    const cpus = report.possibleCpus ?? "unknown";
    lines.push(
      `note: cilium 0.9.1 clamps a perf event array's max_entries to the possible CPUs (${cpus} here) ` +
        "while parsing; its values above are after that clamp (perf-event-array-clamp), tsbpf's are " +
        "as declared",
      "",
    );
  }
  lines.push(
    `summary: ${plural(files.length, "file")}: ${same} same, ${explainedOnly} with explained ` +
      `differences only, ${withUnexplained} with unexplained differences; ${report.explained} ` +
      `explained (${gaps} of them known tsbpf gaps), ${report.unexplained} unexplained; ` +
      `cilium/ebpf 0.9.1 could not read ` +
      `${ciliumRefused}` + (bothRefused > 0 ? `, both refused ${bothRefused}` : ""),
  );
  return lines;
}

if (import.meta.main) {
  const { positionals, values } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(
      "usage: deno run -A tools/compare_cilium.ts [file.o ...]   (default: fixtures/bpfel/*.o fixtures/bpfeb/*.o)",
    );
    process.exit(0);
  }
  const files = positionals.length > 0 ? positionals : defaultFiles();
  const report = await compareWithCilium(files, { log: (line) => console.log(line) });
  process.exitCode = report.unexplained > 0 ? 1 : 0;
}
