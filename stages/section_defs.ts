/**
 * libbpf's `section_defs[]`: how a program's ELF section name (its `SEC()`)
 * picks the program type, expected attach type and load flags, with the
 * matching rules of libbpf's `sec_def_matches()` / `find_sec_def()`.
 *
 * The table is libbpf 1.8's, entry for entry and in order (116 entries).
 * Matching is libbpf's, which is stricter than cilium/ebpf's: cilium matches
 * exact patterns by prefix, so it maps `xdp/foo` to XDP where libbpf (and
 * tsbpf) find no match.
 *
 * @example
 * ```ts
 * import { parseProgramSection } from "./section_defs.ts";
 * const s = parseProgramSection("fentry.s/tcp_v4_connect");
 * // s.programType === ProgramType.TRACING, s.attachType === AttachType.TRACE_FENTRY,
 * // s.sleepable === true, s.attachTo === "tcp_v4_connect"
 * ```
 *
 * @module
 */

import { AttachType, ProgramFlags, ProgramType } from "../collection/types.ts";

/** No flags. */
export const SEC_NONE = 0;
/** The expected attach type is optional on kernels that don't know it. */
export const SEC_EXP_ATTACH_OPT = 1;
/** Legacy marker for program types attached with `BPF_PROG_ATTACH`. */
export const SEC_ATTACHABLE = 2;
/** `SEC_ATTACHABLE | SEC_EXP_ATTACH_OPT`. */
export const SEC_ATTACHABLE_OPT = 3;
/** The attach target is named by BTF (fentry, lsm, iter, …). */
export const SEC_ATTACH_BTF = 4;
/** The program is sleepable: load it with `BPF_F_SLEEPABLE`. */
export const SEC_SLEEPABLE = 8;
/** The XDP program handles multi-buffer frames: load it with `BPF_F_XDP_HAS_FRAGS`. */
export const SEC_XDP_FRAGS = 16;
/** USDT probe: the attach type is chosen at load time by kernel support. */
export const SEC_USDT = 32;

/** One entry of the section-name table. */
export interface SectionDef {
  /**
   * The pattern: `name+` matches `name` or `name/…`; `name/` matches any
   * name starting with `name/`; anything else matches exactly.
   */
  sec: string;
  /** Program type a matching section gets. */
  programType: ProgramType;
  /** Expected attach type; 0 means none (except where 0 is CGROUP_INET_INGRESS). */
  expectedAttachType: AttachType | 0;
  /** `SEC_*` bits. */
  flags: number;
  /**
   * Name of libbpf's auto-attach function (`kprobe`, `trace`, `tp`, …) when
   * the entry has one. The part after `/` is an attach target only then, or
   * with `SEC_ATTACH_BTF`.
   */
  autoAttach?: string;
}

function def(
  sec: string,
  programType: ProgramType,
  expectedAttachType: AttachType | 0,
  flags: number,
  autoAttach?: string,
): SectionDef {
  const entry: SectionDef = { sec, programType, expectedAttachType, flags };
  if (autoAttach !== undefined) entry.autoAttach = autoAttach;
  return Object.freeze(entry);
}

const P = ProgramType;
const A = AttachType;

/**
 * libbpf's `section_defs[]` (libbpf 1.8, `src/libbpf.c`), in libbpf's order:
 * the first match wins, so order matters (`sk_reuseport/migrate` before
 * `sk_reuseport`, `xdp.frags/devmap` before `xdp.frags`).
 *
 * An expected attach type of 0 means the program loads without one, as in
 * libbpf. cilium/ebpf differs for `xdp` (SEC_ATTACHABLE_OPT): it loads XDP
 * programs with no attach type, where tsbpf keeps libbpf's `BPF_XDP`.
 */
export const SECTION_DEFS: readonly SectionDef[] = Object.freeze([
  def("socket", P.SOCKET_FILTER, 0, SEC_NONE),
  def("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, SEC_ATTACHABLE),
  def("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, SEC_ATTACHABLE),
  def("kprobe+", P.KPROBE, 0, SEC_NONE, "kprobe"),
  def("uprobe+", P.KPROBE, 0, SEC_NONE, "uprobe"),
  def("uprobe.s+", P.KPROBE, 0, SEC_SLEEPABLE, "uprobe"),
  def("kretprobe+", P.KPROBE, 0, SEC_NONE, "kprobe"),
  def("uretprobe+", P.KPROBE, 0, SEC_NONE, "uprobe"),
  def("uretprobe.s+", P.KPROBE, 0, SEC_SLEEPABLE, "uprobe"),
  def("kprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI, SEC_NONE, "kprobe_multi"),
  def("kretprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI, SEC_NONE, "kprobe_multi"),
  def("kprobe.session+", P.KPROBE, A.TRACE_KPROBE_SESSION, SEC_NONE, "kprobe_session"),
  def("uprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI, SEC_NONE, "uprobe_multi"),
  def("uretprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI, SEC_NONE, "uprobe_multi"),
  def("uprobe.session+", P.KPROBE, A.TRACE_UPROBE_SESSION, SEC_NONE, "uprobe_multi"),
  def("uprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, SEC_SLEEPABLE, "uprobe_multi"),
  def("uretprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, SEC_SLEEPABLE, "uprobe_multi"),
  def("uprobe.session.s+", P.KPROBE, A.TRACE_UPROBE_SESSION, SEC_SLEEPABLE, "uprobe_multi"),
  def("ksyscall+", P.KPROBE, 0, SEC_NONE, "ksyscall"),
  def("kretsyscall+", P.KPROBE, 0, SEC_NONE, "ksyscall"),
  // libbpf switches usdt to TRACE_UPROBE_MULTI at load time when the kernel
  // has uprobe-multi links; the static table says 0.
  def("usdt+", P.KPROBE, 0, SEC_USDT, "usdt"),
  def("usdt.s+", P.KPROBE, 0, SEC_USDT | SEC_SLEEPABLE, "usdt"),
  def("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS, SEC_NONE), // alias of tcx/ingress
  def("tc/egress", P.SCHED_CLS, A.TCX_EGRESS, SEC_NONE), // alias of tcx/egress
  def("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS, SEC_NONE),
  def("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS, SEC_NONE),
  def("tc", P.SCHED_CLS, 0, SEC_NONE), // legacy, use tcx
  def("classifier", P.SCHED_CLS, 0, SEC_NONE), // legacy, use tcx
  def("action", P.SCHED_ACT, 0, SEC_NONE), // legacy, use tcx
  def("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY, SEC_NONE),
  def("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER, SEC_NONE),
  def("tracepoint+", P.TRACEPOINT, 0, SEC_NONE, "tp"),
  def("tp+", P.TRACEPOINT, 0, SEC_NONE, "tp"),
  def("tracepoint.s+", P.TRACEPOINT, 0, SEC_SLEEPABLE, "tp"),
  def("tp.s+", P.TRACEPOINT, 0, SEC_SLEEPABLE, "tp"),
  def("raw_tracepoint+", P.RAW_TRACEPOINT, 0, SEC_NONE, "raw_tp"),
  def("raw_tp+", P.RAW_TRACEPOINT, 0, SEC_NONE, "raw_tp"),
  def("raw_tracepoint.s+", P.RAW_TRACEPOINT, 0, SEC_SLEEPABLE, "raw_tp"),
  def("raw_tp.s+", P.RAW_TRACEPOINT, 0, SEC_SLEEPABLE, "raw_tp"),
  def("raw_tracepoint.w+", P.RAW_TRACEPOINT_WRITABLE, 0, SEC_NONE, "raw_tp"),
  def("raw_tp.w+", P.RAW_TRACEPOINT_WRITABLE, 0, SEC_NONE, "raw_tp"),
  def("tp_btf+", P.TRACING, A.TRACE_RAW_TP, SEC_ATTACH_BTF, "trace"),
  def("tp_btf.s+", P.TRACING, A.TRACE_RAW_TP, SEC_ATTACH_BTF | SEC_SLEEPABLE, "trace"),
  def("fentry+", P.TRACING, A.TRACE_FENTRY, SEC_ATTACH_BTF, "trace"),
  def("fmod_ret+", P.TRACING, A.MODIFY_RETURN, SEC_ATTACH_BTF, "trace"),
  def("fexit+", P.TRACING, A.TRACE_FEXIT, SEC_ATTACH_BTF, "trace"),
  def("fentry.s+", P.TRACING, A.TRACE_FENTRY, SEC_ATTACH_BTF | SEC_SLEEPABLE, "trace"),
  def("fmod_ret.s+", P.TRACING, A.MODIFY_RETURN, SEC_ATTACH_BTF | SEC_SLEEPABLE, "trace"),
  def("fexit.s+", P.TRACING, A.TRACE_FEXIT, SEC_ATTACH_BTF | SEC_SLEEPABLE, "trace"),
  def("fsession+", P.TRACING, A.TRACE_FSESSION, SEC_ATTACH_BTF, "trace"),
  def("fsession.s+", P.TRACING, A.TRACE_FSESSION, SEC_ATTACH_BTF | SEC_SLEEPABLE, "trace"),
  // The *.multi entries resolve their (glob) targets when attaching, not
  // through a BTF id at load, so they lack SEC_ATTACH_BTF.
  def("fsession.multi+", P.TRACING, A.TRACE_FSESSION_MULTI, SEC_NONE, "tracing_multi"),
  def("fsession.multi.s+", P.TRACING, A.TRACE_FSESSION_MULTI, SEC_SLEEPABLE, "tracing_multi"),
  def("fentry.multi+", P.TRACING, A.TRACE_FENTRY_MULTI, SEC_NONE, "tracing_multi"),
  def("fexit.multi+", P.TRACING, A.TRACE_FEXIT_MULTI, SEC_NONE, "tracing_multi"),
  def("fentry.multi.s+", P.TRACING, A.TRACE_FENTRY_MULTI, SEC_SLEEPABLE, "tracing_multi"),
  def("fexit.multi.s+", P.TRACING, A.TRACE_FEXIT_MULTI, SEC_SLEEPABLE, "tracing_multi"),
  def("freplace+", P.EXT, 0, SEC_ATTACH_BTF, "trace"),
  def("lsm+", P.LSM, A.LSM_MAC, SEC_ATTACH_BTF, "lsm"),
  def("lsm.s+", P.LSM, A.LSM_MAC, SEC_ATTACH_BTF | SEC_SLEEPABLE, "lsm"),
  def("lsm_cgroup+", P.LSM, A.LSM_CGROUP, SEC_ATTACH_BTF),
  def("iter+", P.TRACING, A.TRACE_ITER, SEC_ATTACH_BTF, "iter"),
  def("iter.s+", P.TRACING, A.TRACE_ITER, SEC_ATTACH_BTF | SEC_SLEEPABLE, "iter"),
  def("syscall", P.SYSCALL, 0, SEC_SLEEPABLE),
  def("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, SEC_XDP_FRAGS),
  def("xdp/devmap", P.XDP, A.XDP_DEVMAP, SEC_ATTACHABLE),
  def("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, SEC_XDP_FRAGS),
  def("xdp/cpumap", P.XDP, A.XDP_CPUMAP, SEC_ATTACHABLE),
  def("xdp.frags", P.XDP, A.XDP, SEC_XDP_FRAGS),
  // cilium/ebpf drops this attach type (loads with none); libbpf keeps BPF_XDP.
  def("xdp", P.XDP, A.XDP, SEC_ATTACHABLE_OPT),
  def("perf_event", P.PERF_EVENT, 0, SEC_NONE),
  def("lwt_in", P.LWT_IN, 0, SEC_NONE),
  def("lwt_out", P.LWT_OUT, 0, SEC_NONE),
  def("lwt_xmit", P.LWT_XMIT, 0, SEC_NONE),
  def("lwt_seg6local", P.LWT_SEG6LOCAL, 0, SEC_NONE),
  def("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, SEC_ATTACHABLE_OPT),
  def("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, SEC_ATTACHABLE_OPT),
  def("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, SEC_ATTACHABLE_OPT),
  def("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT, SEC_ATTACHABLE_OPT),
  def("sk_skb", P.SK_SKB, 0, SEC_NONE),
  def("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, SEC_ATTACHABLE_OPT),
  def("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2, SEC_ATTACHABLE_OPT),
  def("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, SEC_ATTACHABLE_OPT),
  // CGROUP_INET_INGRESS is 0: the one entry where 0 is a real attach type.
  def("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, SEC_ATTACHABLE_OPT),
  def("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, SEC_ATTACHABLE_OPT),
  def("cgroup/skb", P.CGROUP_SKB, 0, SEC_NONE),
  def("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, SEC_ATTACHABLE),
  def("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, SEC_ATTACHABLE),
  def("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, SEC_ATTACHABLE_OPT),
  def("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND, SEC_ATTACHABLE),
  def("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, SEC_ATTACHABLE),
  def("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND, SEC_ATTACHABLE),
  def("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND, SEC_ATTACHABLE),
  def("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, SEC_ATTACHABLE),
  def("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT, SEC_ATTACHABLE),
  def("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT, SEC_ATTACHABLE),
  def("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, SEC_ATTACHABLE),
  def("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG, SEC_ATTACHABLE),
  def("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG, SEC_ATTACHABLE),
  def("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG, SEC_ATTACHABLE),
  def("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG, SEC_ATTACHABLE),
  def("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG, SEC_ATTACHABLE),
  def("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME, SEC_ATTACHABLE),
  def("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME, SEC_ATTACHABLE),
  def("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME, SEC_ATTACHABLE),
  def("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME, SEC_ATTACHABLE),
  def("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME, SEC_ATTACHABLE),
  def("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME, SEC_ATTACHABLE),
  def("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, SEC_ATTACHABLE),
  def("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, SEC_ATTACHABLE),
  def("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT, SEC_ATTACHABLE),
  def("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, SEC_ATTACHABLE_OPT),
  // struct_ops programs attach through their struct_ops map: the part after
  // "/" is no attach target.
  def("struct_ops+", P.STRUCT_OPS, 0, SEC_NONE),
  def("struct_ops.s+", P.STRUCT_OPS, 0, SEC_SLEEPABLE),
  def("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, SEC_ATTACHABLE),
  def("netfilter", P.NETFILTER, A.NETFILTER, SEC_NONE),
]);

/**
 * Whether `sectionName` (already stripped of a leading `?`) matches the
 * pattern `sec`, exactly as libbpf's `sec_def_matches()`.
 */
export function sectionDefMatches(sec: string, sectionName: string): boolean {
  const last = sec.length > 0 ? sec[sec.length - 1] : "";
  if (last === "/") return sectionName.startsWith(sec);
  if (last === "+") {
    const base = sec.slice(0, -1);
    if (!sectionName.startsWith(base)) return false;
    return sectionName.length === base.length || sectionName[base.length] === "/";
  }
  return sectionName === sec;
}

/**
 * Where each pattern of a table sits, so a lookup compares a name with a
 * pattern or two instead of scanning the table. Exact and `+` patterns are
 * filed by the name they match whole, `+` patterns also by their base (for
 * `base/…`), both under a key made of the length and first character, so a
 * lookup neither hashes the name nor cuts it; `/` patterns (prefixes) sit
 * in a list. Table order still decides: the lowest index among the matches
 * wins, as in libbpf's first-match scan. Built once per table; nothing in
 * it depends on the names looked up.
 */
interface SecDefIndex {
  /** Exact and `+` patterns by {@link nameKey} of the whole name they match, in table order. */
  whole: Map<number, Candidate[]>;
  /** `+` patterns by {@link nameKey} of their base, for names `base/…`, in table order. */
  plus: Map<number, Candidate[]>;
  /** Whether some `+` base holds a `/`: else only a name's first `/` can end a base. */
  slashInBase: boolean;
  /** `prefix/` patterns, in table order. */
  prefixes: Candidate[];
}

/** A pattern's literal part and its table index. */
interface Candidate {
  text: string;
  index: number;
}

/** Length and first character of the first `length` characters of `name`. */
function nameKey(name: string, length: number): number {
  return length * 0x10000 + (length === 0 ? 0 : name.charCodeAt(0));
}

const indexes = new WeakMap<readonly SectionDef[], SecDefIndex>();
/** The table looked up last and its index: loads use one table, and this skips the WeakMap. */
let lastDefs: readonly SectionDef[] | undefined;
let lastIndex: SecDefIndex | undefined;

function indexOf(defs: readonly SectionDef[]): SecDefIndex {
  if (defs === lastDefs) return lastIndex!;
  let index = indexes.get(defs);
  if (index === undefined) {
    index = buildIndex(defs);
    indexes.set(defs, index);
  }
  lastDefs = defs;
  lastIndex = index;
  return index;
}

function buildIndex(defs: readonly SectionDef[]): SecDefIndex {
  const index: SecDefIndex = {
    whole: new Map(),
    plus: new Map(),
    slashInBase: false,
    prefixes: [],
  };
  defs.forEach((entry, i) => {
    const sec = entry.sec;
    const last = sec.length > 0 ? sec[sec.length - 1] : "";
    if (last === "/") {
      index.prefixes.push({ text: sec, index: i });
      return;
    }
    const name = last === "+" ? sec.slice(0, -1) : sec;
    addCandidate(index.whole, { text: name, index: i });
    if (last === "+") {
      addCandidate(index.plus, { text: name, index: i });
      if (name.includes("/")) index.slashInBase = true;
    }
  });
  return index;
}

/** File `c` under its {@link nameKey}, after the candidates filed before it. */
function addCandidate(map: Map<number, Candidate[]>, c: Candidate): void {
  const key = nameKey(c.text, c.text.length);
  const list = map.get(key);
  if (list === undefined) map.set(key, [c]);
  else list.push(c);
}

/** libbpf's `find_sec_def()`: the first match in table order wins. */
function findSecDef(name: string, defs: readonly SectionDef[]): SectionDef | undefined {
  const { whole, plus, slashInBase, prefixes } = indexOf(defs);
  let best = Infinity;
  const same = whole.get(nameKey(name, name.length));
  if (same !== undefined) {
    for (const c of same) {
      if (c.text === name) {
        best = c.index;
        break;
      }
    }
  }
  // A `base+` pattern also matches `base/anything`: try the bases ending before a '/'.
  for (let slash = name.indexOf("/"); slash >= 0; slash = name.indexOf("/", slash + 1)) {
    const bases = plus.get(nameKey(name, slash));
    if (bases !== undefined) {
      for (const c of bases) {
        if (c.index >= best) break;
        if (name.startsWith(c.text)) {
          best = c.index;
          break;
        }
      }
    }
    if (!slashInBase) break;
  }
  for (const p of prefixes) if (p.index < best && name.startsWith(p.text)) best = p.index;
  return best === Infinity ? undefined : defs[best];
}

function stripOptional(sectionName: string): string {
  // libbpf strips exactly one '?': SEC("??x") looks for "?x".
  return sectionName.startsWith("?") ? sectionName.slice(1) : sectionName;
}

/**
 * The first entry of `defs` (default: {@linkcode SECTION_DEFS}) whose
 * pattern matches `sectionName`, or `undefined`. A leading `?` (libbpf's
 * "don't autoload" marker) is ignored.
 *
 * To put custom entries ahead of the built-in ones, as libbpf does for
 * handlers from `libbpf_register_prog_handler`, pass
 * `[...custom, ...SECTION_DEFS]`.
 *
 * @example
 * ```ts
 * matchSectionDef("kprobe/do_sys_open")?.sec; // "kprobe+"
 * matchSectionDef("kprobex"); // undefined
 * matchSectionDef("xdp/foo"); // undefined: "xdp" must match exactly
 * ```
 */
export function matchSectionDef(
  sectionName: string,
  defs: readonly SectionDef[] = SECTION_DEFS,
): SectionDef | undefined {
  return findSecDef(stripOptional(sectionName), defs);
}

/** What a program's section name says about the program. */
export interface ProgramSection {
  /** Program type for `BPF_PROG_LOAD`. */
  programType: ProgramType;
  /** Expected attach type for `BPF_PROG_LOAD`; 0 when the entry has none. */
  attachType: AttachType | 0;
  /** `SEC_SLEEPABLE`: load with `BPF_F_SLEEPABLE`. */
  sleepable: boolean;
  /** `SEC_XDP_FRAGS`: load with `BPF_F_XDP_HAS_FRAGS`. */
  xdpFrags: boolean;
  /** The `prog_flags` these imply (`BPF_F_SLEEPABLE`, `BPF_F_XDP_HAS_FRAGS`). */
  programFlags: number;
  /**
   * The attach target written in the section name, e.g. `do_sys_open` for
   * `kprobe/do_sys_open` or `syscalls/sys_enter_open` for
   * `tracepoint/syscalls/sys_enter_open`; "" when there is none
   * (cilium/ebpf's `AttachTo`).
   */
  attachTo: string;
  /** `false` when the section name starts with `?`. */
  autoload: boolean;
  /** The table entry that matched. */
  def: SectionDef;
}

/** Options for {@linkcode parseProgramSection}. */
export interface ParseProgramSectionOptions {
  /** The table to match against (default: {@linkcode SECTION_DEFS}). */
  defs?: readonly SectionDef[];
}

function attachTarget(entry: SectionDef, name: string): string {
  const sec = entry.sec;
  // Character codes, not endsWith(): this runs for every program section.
  const last = sec.charCodeAt(sec.length - 1);
  if (last === 0x2f) return name.slice(sec.length); // "prefix/"
  if (last !== 0x2b) return ""; // not "base+"
  // Only entries that name a target after "/" (BTF-attached or auto-attached
  // ones) have one; struct_ops ignores the suffix. The target starts after
  // "base/", which is as long as "base+"; a name of just "base" has none.
  if ((entry.flags & SEC_ATTACH_BTF) === 0 && entry.autoAttach === undefined) return "";
  return name.slice(sec.length);
}

/**
 * Classifies a program's ELF section name: program type, expected attach
 * type, load flags, attach target and autoload. `undefined` when no entry
 * matches (e.g. `.text`, `license`, `xdp/foo`).
 *
 * @example
 * ```ts
 * const s = parseProgramSection("?tracepoint/syscalls/sys_enter_open")!;
 * s.programType; // ProgramType.TRACEPOINT
 * s.attachTo; // "syscalls/sys_enter_open"
 * s.autoload; // false
 * ```
 */
export function parseProgramSection(
  sectionName: string,
  options: ParseProgramSectionOptions = {},
): ProgramSection | undefined {
  const autoload = sectionName.charCodeAt(0) !== 0x3f; // '?'
  const name = autoload ? sectionName : sectionName.slice(1);
  const entry = findSecDef(name, options.defs ?? SECTION_DEFS);
  if (entry === undefined) return undefined;
  const sleepable = (entry.flags & SEC_SLEEPABLE) !== 0;
  const xdpFrags = (entry.flags & SEC_XDP_FRAGS) !== 0;
  let programFlags = 0;
  if (sleepable) programFlags |= ProgramFlags.BPF_F_SLEEPABLE;
  if (xdpFrags) programFlags |= ProgramFlags.BPF_F_XDP_HAS_FRAGS;
  return {
    programType: entry.programType,
    attachType: entry.expectedAttachType,
    sleepable,
    xdpFrags,
    programFlags,
    attachTo: attachTarget(entry, name),
    autoload,
    def: entry,
  };
}
