import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  matchSectionDef,
  parseProgramSection,
  SEC_ATTACH_BTF,
  SEC_ATTACHABLE,
  SEC_ATTACHABLE_OPT,
  SEC_EXP_ATTACH_OPT,
  SEC_NONE,
  SEC_SLEEPABLE,
  SEC_USDT,
  SEC_XDP_FRAGS,
  SECTION_DEFS,
  type SectionDef,
  sectionDefMatches,
} from "../stages/section_defs.ts";
import { AttachType, ProgramFlags, ProgramType } from "../collection/types.ts";

// libbpf 1.8's section_defs[] as listed in peers.md §4, one entry a line:
// "<pattern> <BPF_PROG_TYPE_ suffix> <BPF_ attach suffix or 0> <flags> <auto-attach or ->".
const EXPECTED = [
  "socket SOCKET_FILTER 0 SEC_NONE -",
  "sk_reuseport/migrate SK_REUSEPORT SK_REUSEPORT_SELECT_OR_MIGRATE SEC_ATTACHABLE -",
  "sk_reuseport SK_REUSEPORT SK_REUSEPORT_SELECT SEC_ATTACHABLE -",
  "kprobe+ KPROBE 0 SEC_NONE kprobe",
  "uprobe+ KPROBE 0 SEC_NONE uprobe",
  "uprobe.s+ KPROBE 0 SEC_SLEEPABLE uprobe",
  "kretprobe+ KPROBE 0 SEC_NONE kprobe",
  "uretprobe+ KPROBE 0 SEC_NONE uprobe",
  "uretprobe.s+ KPROBE 0 SEC_SLEEPABLE uprobe",
  "kprobe.multi+ KPROBE TRACE_KPROBE_MULTI SEC_NONE kprobe_multi",
  "kretprobe.multi+ KPROBE TRACE_KPROBE_MULTI SEC_NONE kprobe_multi",
  "kprobe.session+ KPROBE TRACE_KPROBE_SESSION SEC_NONE kprobe_session",
  "uprobe.multi+ KPROBE TRACE_UPROBE_MULTI SEC_NONE uprobe_multi",
  "uretprobe.multi+ KPROBE TRACE_UPROBE_MULTI SEC_NONE uprobe_multi",
  "uprobe.session+ KPROBE TRACE_UPROBE_SESSION SEC_NONE uprobe_multi",
  "uprobe.multi.s+ KPROBE TRACE_UPROBE_MULTI SEC_SLEEPABLE uprobe_multi",
  "uretprobe.multi.s+ KPROBE TRACE_UPROBE_MULTI SEC_SLEEPABLE uprobe_multi",
  "uprobe.session.s+ KPROBE TRACE_UPROBE_SESSION SEC_SLEEPABLE uprobe_multi",
  "ksyscall+ KPROBE 0 SEC_NONE ksyscall",
  "kretsyscall+ KPROBE 0 SEC_NONE ksyscall",
  "usdt+ KPROBE 0 SEC_USDT usdt",
  "usdt.s+ KPROBE 0 SEC_USDT|SEC_SLEEPABLE usdt",
  "tc/ingress SCHED_CLS TCX_INGRESS SEC_NONE -",
  "tc/egress SCHED_CLS TCX_EGRESS SEC_NONE -",
  "tcx/ingress SCHED_CLS TCX_INGRESS SEC_NONE -",
  "tcx/egress SCHED_CLS TCX_EGRESS SEC_NONE -",
  "tc SCHED_CLS 0 SEC_NONE -",
  "classifier SCHED_CLS 0 SEC_NONE -",
  "action SCHED_ACT 0 SEC_NONE -",
  "netkit/primary SCHED_CLS NETKIT_PRIMARY SEC_NONE -",
  "netkit/peer SCHED_CLS NETKIT_PEER SEC_NONE -",
  "tracepoint+ TRACEPOINT 0 SEC_NONE tp",
  "tp+ TRACEPOINT 0 SEC_NONE tp",
  "tracepoint.s+ TRACEPOINT 0 SEC_SLEEPABLE tp",
  "tp.s+ TRACEPOINT 0 SEC_SLEEPABLE tp",
  "raw_tracepoint+ RAW_TRACEPOINT 0 SEC_NONE raw_tp",
  "raw_tp+ RAW_TRACEPOINT 0 SEC_NONE raw_tp",
  "raw_tracepoint.s+ RAW_TRACEPOINT 0 SEC_SLEEPABLE raw_tp",
  "raw_tp.s+ RAW_TRACEPOINT 0 SEC_SLEEPABLE raw_tp",
  "raw_tracepoint.w+ RAW_TRACEPOINT_WRITABLE 0 SEC_NONE raw_tp",
  "raw_tp.w+ RAW_TRACEPOINT_WRITABLE 0 SEC_NONE raw_tp",
  "tp_btf+ TRACING TRACE_RAW_TP SEC_ATTACH_BTF trace",
  "tp_btf.s+ TRACING TRACE_RAW_TP SEC_ATTACH_BTF|SEC_SLEEPABLE trace",
  "fentry+ TRACING TRACE_FENTRY SEC_ATTACH_BTF trace",
  "fmod_ret+ TRACING MODIFY_RETURN SEC_ATTACH_BTF trace",
  "fexit+ TRACING TRACE_FEXIT SEC_ATTACH_BTF trace",
  "fentry.s+ TRACING TRACE_FENTRY SEC_ATTACH_BTF|SEC_SLEEPABLE trace",
  "fmod_ret.s+ TRACING MODIFY_RETURN SEC_ATTACH_BTF|SEC_SLEEPABLE trace",
  "fexit.s+ TRACING TRACE_FEXIT SEC_ATTACH_BTF|SEC_SLEEPABLE trace",
  "fsession+ TRACING TRACE_FSESSION SEC_ATTACH_BTF trace",
  "fsession.s+ TRACING TRACE_FSESSION SEC_ATTACH_BTF|SEC_SLEEPABLE trace",
  "fsession.multi+ TRACING TRACE_FSESSION_MULTI SEC_NONE tracing_multi",
  "fsession.multi.s+ TRACING TRACE_FSESSION_MULTI SEC_SLEEPABLE tracing_multi",
  "fentry.multi+ TRACING TRACE_FENTRY_MULTI SEC_NONE tracing_multi",
  "fexit.multi+ TRACING TRACE_FEXIT_MULTI SEC_NONE tracing_multi",
  "fentry.multi.s+ TRACING TRACE_FENTRY_MULTI SEC_SLEEPABLE tracing_multi",
  "fexit.multi.s+ TRACING TRACE_FEXIT_MULTI SEC_SLEEPABLE tracing_multi",
  "freplace+ EXT 0 SEC_ATTACH_BTF trace",
  "lsm+ LSM LSM_MAC SEC_ATTACH_BTF lsm",
  "lsm.s+ LSM LSM_MAC SEC_ATTACH_BTF|SEC_SLEEPABLE lsm",
  "lsm_cgroup+ LSM LSM_CGROUP SEC_ATTACH_BTF -",
  "iter+ TRACING TRACE_ITER SEC_ATTACH_BTF iter",
  "iter.s+ TRACING TRACE_ITER SEC_ATTACH_BTF|SEC_SLEEPABLE iter",
  "syscall SYSCALL 0 SEC_SLEEPABLE -",
  "xdp.frags/devmap XDP XDP_DEVMAP SEC_XDP_FRAGS -",
  "xdp/devmap XDP XDP_DEVMAP SEC_ATTACHABLE -",
  "xdp.frags/cpumap XDP XDP_CPUMAP SEC_XDP_FRAGS -",
  "xdp/cpumap XDP XDP_CPUMAP SEC_ATTACHABLE -",
  "xdp.frags XDP XDP SEC_XDP_FRAGS -",
  "xdp XDP XDP SEC_ATTACHABLE_OPT -",
  "perf_event PERF_EVENT 0 SEC_NONE -",
  "lwt_in LWT_IN 0 SEC_NONE -",
  "lwt_out LWT_OUT 0 SEC_NONE -",
  "lwt_xmit LWT_XMIT 0 SEC_NONE -",
  "lwt_seg6local LWT_SEG6LOCAL 0 SEC_NONE -",
  "sockops SOCK_OPS CGROUP_SOCK_OPS SEC_ATTACHABLE_OPT -",
  "sk_skb/stream_parser SK_SKB SK_SKB_STREAM_PARSER SEC_ATTACHABLE_OPT -",
  "sk_skb/stream_verdict SK_SKB SK_SKB_STREAM_VERDICT SEC_ATTACHABLE_OPT -",
  "sk_skb/verdict SK_SKB SK_SKB_VERDICT SEC_ATTACHABLE_OPT -",
  "sk_skb SK_SKB 0 SEC_NONE -",
  "sk_msg SK_MSG SK_MSG_VERDICT SEC_ATTACHABLE_OPT -",
  "lirc_mode2 LIRC_MODE2 LIRC_MODE2 SEC_ATTACHABLE_OPT -",
  "flow_dissector FLOW_DISSECTOR FLOW_DISSECTOR SEC_ATTACHABLE_OPT -",
  "cgroup_skb/ingress CGROUP_SKB CGROUP_INET_INGRESS SEC_ATTACHABLE_OPT -",
  "cgroup_skb/egress CGROUP_SKB CGROUP_INET_EGRESS SEC_ATTACHABLE_OPT -",
  "cgroup/skb CGROUP_SKB 0 SEC_NONE -",
  "cgroup/sock_create CGROUP_SOCK CGROUP_INET_SOCK_CREATE SEC_ATTACHABLE -",
  "cgroup/sock_release CGROUP_SOCK CGROUP_INET_SOCK_RELEASE SEC_ATTACHABLE -",
  "cgroup/sock CGROUP_SOCK CGROUP_INET_SOCK_CREATE SEC_ATTACHABLE_OPT -",
  "cgroup/post_bind4 CGROUP_SOCK CGROUP_INET4_POST_BIND SEC_ATTACHABLE -",
  "cgroup/post_bind6 CGROUP_SOCK CGROUP_INET6_POST_BIND SEC_ATTACHABLE -",
  "cgroup/bind4 CGROUP_SOCK_ADDR CGROUP_INET4_BIND SEC_ATTACHABLE -",
  "cgroup/bind6 CGROUP_SOCK_ADDR CGROUP_INET6_BIND SEC_ATTACHABLE -",
  "cgroup/connect4 CGROUP_SOCK_ADDR CGROUP_INET4_CONNECT SEC_ATTACHABLE -",
  "cgroup/connect6 CGROUP_SOCK_ADDR CGROUP_INET6_CONNECT SEC_ATTACHABLE -",
  "cgroup/connect_unix CGROUP_SOCK_ADDR CGROUP_UNIX_CONNECT SEC_ATTACHABLE -",
  "cgroup/sendmsg4 CGROUP_SOCK_ADDR CGROUP_UDP4_SENDMSG SEC_ATTACHABLE -",
  "cgroup/sendmsg6 CGROUP_SOCK_ADDR CGROUP_UDP6_SENDMSG SEC_ATTACHABLE -",
  "cgroup/sendmsg_unix CGROUP_SOCK_ADDR CGROUP_UNIX_SENDMSG SEC_ATTACHABLE -",
  "cgroup/recvmsg4 CGROUP_SOCK_ADDR CGROUP_UDP4_RECVMSG SEC_ATTACHABLE -",
  "cgroup/recvmsg6 CGROUP_SOCK_ADDR CGROUP_UDP6_RECVMSG SEC_ATTACHABLE -",
  "cgroup/recvmsg_unix CGROUP_SOCK_ADDR CGROUP_UNIX_RECVMSG SEC_ATTACHABLE -",
  "cgroup/getpeername4 CGROUP_SOCK_ADDR CGROUP_INET4_GETPEERNAME SEC_ATTACHABLE -",
  "cgroup/getpeername6 CGROUP_SOCK_ADDR CGROUP_INET6_GETPEERNAME SEC_ATTACHABLE -",
  "cgroup/getpeername_unix CGROUP_SOCK_ADDR CGROUP_UNIX_GETPEERNAME SEC_ATTACHABLE -",
  "cgroup/getsockname4 CGROUP_SOCK_ADDR CGROUP_INET4_GETSOCKNAME SEC_ATTACHABLE -",
  "cgroup/getsockname6 CGROUP_SOCK_ADDR CGROUP_INET6_GETSOCKNAME SEC_ATTACHABLE -",
  "cgroup/getsockname_unix CGROUP_SOCK_ADDR CGROUP_UNIX_GETSOCKNAME SEC_ATTACHABLE -",
  "cgroup/sysctl CGROUP_SYSCTL CGROUP_SYSCTL SEC_ATTACHABLE -",
  "cgroup/getsockopt CGROUP_SOCKOPT CGROUP_GETSOCKOPT SEC_ATTACHABLE -",
  "cgroup/setsockopt CGROUP_SOCKOPT CGROUP_SETSOCKOPT SEC_ATTACHABLE -",
  "cgroup/dev CGROUP_DEVICE CGROUP_DEVICE SEC_ATTACHABLE_OPT -",
  "struct_ops+ STRUCT_OPS 0 SEC_NONE -",
  "struct_ops.s+ STRUCT_OPS 0 SEC_SLEEPABLE -",
  "sk_lookup SK_LOOKUP SK_LOOKUP SEC_ATTACHABLE -",
  "netfilter NETFILTER NETFILTER SEC_NONE -",
];

const FLAG_BITS: Record<string, number> = {
  SEC_NONE,
  SEC_EXP_ATTACH_OPT,
  SEC_ATTACHABLE,
  SEC_ATTACHABLE_OPT,
  SEC_ATTACH_BTF,
  SEC_SLEEPABLE,
  SEC_XDP_FRAGS,
  SEC_USDT,
};

function count(pred: (d: SectionDef) => boolean): number {
  return SECTION_DEFS.filter(pred).length;
}

function must(name: string) {
  const s = parseProgramSection(name);
  assert.ok(s, `expected a match for ${JSON.stringify(name)}`);
  return s;
}

test("section_defs: flag values are libbpf's enum sec_def_flags", () => {
  assert.deepEqual(
    [SEC_NONE, SEC_EXP_ATTACH_OPT, SEC_ATTACHABLE, SEC_ATTACHABLE_OPT, SEC_ATTACH_BTF],
    [0, 1, 2, 3, 4],
  );
  assert.deepEqual([SEC_SLEEPABLE, SEC_XDP_FRAGS, SEC_USDT], [8, 16, 32]);
  assert.equal(SEC_ATTACHABLE_OPT, SEC_ATTACHABLE | SEC_EXP_ATTACH_OPT);
});

test("section_defs: all 116 entries, in libbpf's order, with their fields", () => {
  assert.equal(EXPECTED.length, 116);
  assert.equal(SECTION_DEFS.length, 116);
  EXPECTED.forEach((row, i) => {
    const [sec, pt, at, flags, auto] = row.split(" ");
    const got = SECTION_DEFS[i];
    const where = `entry ${i + 1} (${sec})`;
    assert.equal(got.sec, sec, where);
    assert.equal(got.programType, ProgramType[pt as keyof typeof ProgramType], where);
    const attach = at === "0" ? 0 : AttachType[at as keyof typeof AttachType];
    assert.notEqual(attach, undefined, where);
    assert.equal(got.expectedAttachType, attach, where);
    const bits = flags.split("|").reduce((acc, f) => {
      assert.ok(f in FLAG_BITS, `${where}: flag ${f}`);
      return acc | FLAG_BITS[f];
    }, 0);
    assert.equal(got.flags, bits, where);
    assert.equal(got.autoAttach, auto === "-" ? undefined : auto, where);
  });
});

test("section_defs: counts match peers.md", () => {
  assert.equal(count((d) => d.sec.endsWith("+")), 53);
  assert.equal(count((d) => !d.sec.endsWith("+") && !d.sec.endsWith("/")), 63);
  assert.equal(count((d) => d.sec.endsWith("/")), 0);
  assert.equal(count((d) => (d.flags & SEC_SLEEPABLE) !== 0), 22);
  assert.equal(count((d) => (d.flags & SEC_ATTACH_BTF) !== 0), 16);
  assert.equal(count((d) => (d.flags & SEC_ATTACHABLE) !== 0), 41);
  assert.equal(count((d) => (d.flags & SEC_ATTACHABLE_OPT) === SEC_ATTACHABLE_OPT), 12);
  assert.equal(count((d) => (d.flags & SEC_XDP_FRAGS) !== 0), 3);
  assert.equal(count((d) => (d.flags & SEC_USDT) !== 0), 2);
  assert.equal(count((d) => d.autoAttach !== undefined), 50);
  // 36 entries carry the number 0; one of them is cgroup_skb/ingress, whose
  // BPF_CGROUP_INET_INGRESS happens to be 0. peers.md counts the other 35.
  assert.equal(count((d) => d.expectedAttachType === 0), 36);
  assert.equal(
    count((d) => d.expectedAttachType === 0 && d.sec !== "cgroup_skb/ingress"),
    35,
  );
  assert.equal(new Set(SECTION_DEFS.map((d) => d.programType)).size, 32);
  // Base keyword: the pattern before any "/" and "." ("uprobe.multi.s+" -> "uprobe").
  const keywords = SECTION_DEFS.map((d) => d.sec.replace(/\+$/, "").split("/")[0].split(".")[0]);
  assert.equal(new Set(keywords).size, 44);
  assert.equal(new Set(SECTION_DEFS.map((d) => d.sec)).size, 116);
});

test("section_defs: entries per program type", () => {
  const per = new Map<number, number>();
  for (const d of SECTION_DEFS) per.set(d.programType, (per.get(d.programType) ?? 0) + 1);
  assert.equal(per.get(ProgramType.KPROBE), 19);
  assert.equal(per.get(ProgramType.TRACING), 18);
  assert.equal(per.get(ProgramType.CGROUP_SOCK_ADDR), 17);
  assert.equal(per.get(ProgramType.SCHED_CLS), 8);
  assert.equal(per.get(ProgramType.XDP), 6);
  assert.equal(per.get(ProgramType.CGROUP_SOCK), 5);
  for (const [type, n] of per) {
    if (n < 5) assert.ok(n >= 1 && n <= 4, `type ${type}: ${n}`);
  }
});

test("section_defs: the table is frozen", () => {
  assert.ok(Object.isFrozen(SECTION_DEFS));
  assert.ok(SECTION_DEFS.every((d) => Object.isFrozen(d)));
});

test("section_defs: every entry is reachable by its own name", () => {
  for (const d of SECTION_DEFS) {
    const name = d.sec.endsWith("+") ? d.sec.slice(0, -1) : d.sec;
    assert.equal(matchSectionDef(name), d, name);
  }
});

test("matchSectionDef: '+' matches the name or name/…, nothing else", () => {
  assert.equal(matchSectionDef("kprobe")?.sec, "kprobe+");
  assert.equal(matchSectionDef("kprobe/x")?.sec, "kprobe+");
  assert.equal(matchSectionDef("kprobe/")?.sec, "kprobe+");
  assert.equal(matchSectionDef("kprobex"), undefined);
  assert.equal(matchSectionDef("kprob"), undefined);
  assert.equal(matchSectionDef("kprobe.multi/foo*")?.sec, "kprobe.multi+");
  assert.equal(matchSectionDef("kprobe.mult"), undefined);
  assert.equal(matchSectionDef("Kprobe/x"), undefined);
});

test("matchSectionDef: exact patterns match exactly", () => {
  assert.equal(matchSectionDef("xdp")?.sec, "xdp");
  assert.equal(matchSectionDef("xdp/foo"), undefined);
  assert.equal(matchSectionDef("xdpx"), undefined);
  assert.equal(matchSectionDef("socket1"), undefined);
  assert.equal(matchSectionDef("syscall/x"), undefined);
  assert.equal(matchSectionDef("xdp.frags/devmap")?.sec, "xdp.frags/devmap");
  assert.equal(matchSectionDef("xdp.frags")?.sec, "xdp.frags");
  assert.equal(matchSectionDef("xdp.frags/cpumap")?.sec, "xdp.frags/cpumap");
  assert.equal(matchSectionDef("xdp/devmap")?.sec, "xdp/devmap");
  assert.equal(matchSectionDef("xdp.frags/other"), undefined);
});

test("matchSectionDef: first match wins (order-sensitive pairs)", () => {
  const idx = (sec: string) => SECTION_DEFS.findIndex((d) => d.sec === sec);
  assert.ok(idx("xdp.frags/devmap") < idx("xdp.frags"));
  assert.ok(idx("sk_reuseport/migrate") < idx("sk_reuseport"));
  assert.equal(
    matchSectionDef("sk_reuseport/migrate")?.expectedAttachType,
    AttachType.SK_REUSEPORT_SELECT_OR_MIGRATE,
  );
  assert.equal(matchSectionDef("sk_reuseport")?.expectedAttachType, AttachType.SK_REUSEPORT_SELECT);
  assert.equal(matchSectionDef("sk_reuseport/other"), undefined);
});

test("matchSectionDef: tc/ingress is tcx, plain tc is legacy", () => {
  const ingress = matchSectionDef("tc/ingress")!;
  assert.equal(ingress.programType, ProgramType.SCHED_CLS);
  assert.equal(ingress.expectedAttachType, AttachType.TCX_INGRESS);
  assert.equal(matchSectionDef("tc/egress")?.expectedAttachType, AttachType.TCX_EGRESS);
  const tc = matchSectionDef("tc")!;
  assert.equal(tc.sec, "tc");
  assert.equal(tc.expectedAttachType, 0);
  assert.equal(matchSectionDef("tc/other"), undefined);
  assert.equal(matchSectionDef("classifier")?.programType, ProgramType.SCHED_CLS);
  assert.equal(matchSectionDef("action")?.programType, ProgramType.SCHED_ACT);
});

test("matchSectionDef: cgroup/sock vs cgroup/sock_create", () => {
  assert.equal(matchSectionDef("cgroup/sock")?.sec, "cgroup/sock");
  assert.equal(matchSectionDef("cgroup/sock")?.flags, SEC_ATTACHABLE_OPT);
  assert.equal(matchSectionDef("cgroup/sock_create")?.sec, "cgroup/sock_create");
  assert.equal(matchSectionDef("cgroup/sock_create")?.flags, SEC_ATTACHABLE);
  assert.equal(
    matchSectionDef("cgroup/sock_release")?.expectedAttachType,
    AttachType.CGROUP_INET_SOCK_RELEASE,
  );
  assert.equal(matchSectionDef("cgroup/sockx"), undefined);
  assert.equal(
    matchSectionDef("cgroup/connect_unix")?.expectedAttachType,
    AttachType.CGROUP_UNIX_CONNECT,
  );
});

test("matchSectionDef: '?' prefix is stripped once", () => {
  assert.equal(matchSectionDef("?kprobe/x")?.sec, "kprobe+");
  assert.equal(matchSectionDef("?xdp")?.sec, "xdp");
  assert.equal(matchSectionDef("??xdp"), undefined);
  assert.equal(matchSectionDef("?"), undefined);
});

test("matchSectionDef: no match for non-program sections", () => {
  for (const name of ["", ".text", "license", ".maps", ".rodata", ".BTF", "maps", "/", "+"]) {
    assert.equal(matchSectionDef(name), undefined, name);
  }
});

test("matchSectionDef: custom defs are matched instead of the table", () => {
  const custom: SectionDef = {
    sec: "custom/",
    programType: ProgramType.KPROBE,
    expectedAttachType: 0,
    flags: SEC_NONE,
  };
  const defs = [custom, ...SECTION_DEFS];
  assert.equal(matchSectionDef("custom/x", defs), custom);
  assert.equal(matchSectionDef("custom", defs), undefined); // "/" needs the slash
  assert.equal(matchSectionDef("xdp", defs)?.sec, "xdp");
  assert.equal(matchSectionDef("xdp", []), undefined);
  const s = parseProgramSection("custom/target/more", { defs })!;
  assert.equal(s.def, custom);
  assert.equal(s.attachTo, "target/more");
});

test("parseProgramSection: kprobe and tracepoint targets", () => {
  const k = must("kprobe/do_sys_open");
  assert.equal(k.programType, ProgramType.KPROBE);
  assert.equal(k.attachType, 0);
  assert.equal(k.attachTo, "do_sys_open");
  assert.equal(k.autoload, true);
  assert.equal(k.sleepable, false);
  assert.equal(k.xdpFrags, false);
  assert.equal(k.programFlags, 0);
  assert.equal(k.def.sec, "kprobe+");
  assert.equal(must("kprobe").attachTo, "");
  assert.equal(must("kprobe/").attachTo, "");
  assert.equal(must("tracepoint/syscalls/sys_enter_open").attachTo, "syscalls/sys_enter_open");
  assert.equal(must("tp/sched/sched_switch").programType, ProgramType.TRACEPOINT);
  assert.equal(must("uprobe//usr/lib/libc.so.6:malloc").attachTo, "/usr/lib/libc.so.6:malloc");
  assert.equal(must("usdt/libc.so.6:libc:setjmp").attachTo, "libc.so.6:libc:setjmp");
  assert.equal(must("raw_tp/sched_switch").attachTo, "sched_switch");
});

test("parseProgramSection: BTF-attached tracing", () => {
  const f = must("fentry/tcp_v4_connect");
  assert.equal(f.programType, ProgramType.TRACING);
  assert.equal(f.attachType, AttachType.TRACE_FENTRY);
  assert.equal(f.attachTo, "tcp_v4_connect");
  assert.equal(must("fexit/tcp_v4_connect").attachType, AttachType.TRACE_FEXIT);
  assert.equal(must("fmod_ret/x").attachType, AttachType.MODIFY_RETURN);
  assert.equal(must("lsm/file_open").attachType, AttachType.LSM_MAC);
  assert.equal(must("lsm_cgroup/socket_bind").attachTo, "socket_bind");
  assert.equal(must("iter/task").attachType, AttachType.TRACE_ITER);
  assert.equal(must("tp_btf/sched_switch").attachType, AttachType.TRACE_RAW_TP);
  assert.equal(must("freplace/handler").programType, ProgramType.EXT);
  assert.equal(must("freplace/handler").attachTo, "handler");
  const m = must("fentry.multi/bpf_fentry_test*");
  assert.equal(m.attachType, AttachType.TRACE_FENTRY_MULTI);
  assert.equal(m.attachTo, "bpf_fentry_test*");
  assert.equal(must("fsession.multi.s/x").attachType, AttachType.TRACE_FSESSION_MULTI);
});

test("parseProgramSection: sleepable and xdp frags set the load flags", () => {
  const u = must("uprobe.s/bin:func");
  assert.equal(u.sleepable, true);
  assert.equal(u.programFlags, ProgramFlags.BPF_F_SLEEPABLE);
  assert.equal(u.attachTo, "bin:func");
  assert.equal(must("uprobe/bin:func").sleepable, false);
  const fs = must("fentry.s/x");
  assert.equal(fs.sleepable, true);
  assert.equal(fs.attachType, AttachType.TRACE_FENTRY);
  assert.equal(must("syscall").sleepable, true);
  assert.equal(must("struct_ops.s/x").sleepable, true);
  const frags = must("xdp.frags");
  assert.equal(frags.xdpFrags, true);
  assert.equal(frags.programFlags, ProgramFlags.BPF_F_XDP_HAS_FRAGS);
  assert.equal(frags.attachType, AttachType.XDP);
  assert.equal(must("xdp.frags/devmap").attachType, AttachType.XDP_DEVMAP);
  assert.equal(must("xdp").xdpFrags, false);
  assert.equal(must("usdt.s").programFlags, ProgramFlags.BPF_F_SLEEPABLE);
});

test("parseProgramSection: xdp keeps libbpf's BPF_XDP attach type", () => {
  const x = must("xdp");
  assert.equal(x.programType, ProgramType.XDP);
  assert.equal(x.attachType, AttachType.XDP);
  assert.equal(x.attachTo, "");
});

test("parseProgramSection: exact and struct_ops sections carry no attach target", () => {
  assert.equal(must("tc/ingress").attachTo, "");
  assert.equal(must("cgroup/connect4").attachTo, "");
  assert.equal(must("sk_skb/stream_parser").attachTo, "");
  assert.equal(must("struct_ops/tcp_ca_init").attachTo, "");
  assert.equal(must("struct_ops/tcp_ca_init").programType, ProgramType.STRUCT_OPS);
});

test("parseProgramSection: '?' means autoload=false", () => {
  const s = must("?fentry/x");
  assert.equal(s.autoload, false);
  assert.equal(s.attachTo, "x");
  assert.equal(s.def.sec, "fentry+");
  assert.equal(must("?xdp").autoload, false);
  assert.equal(must("xdp").autoload, true);
  assert.equal(parseProgramSection("??xdp"), undefined);
});

test("parseProgramSection: undefined for unknown sections", () => {
  assert.equal(parseProgramSection(""), undefined);
  assert.equal(parseProgramSection(".text"), undefined);
  assert.equal(parseProgramSection("xdp/foo"), undefined);
  assert.equal(parseProgramSection("kprobex"), undefined);
});

test("property: every '+' entry matches name/<anything> with that target", () => {
  const plus = SECTION_DEFS.filter((d) => d.sec.endsWith("+"));
  fc.assert(
    fc.property(fc.constantFrom(...plus), fc.string(), fc.boolean(), (d, extra, optional) => {
      const name = `${optional ? "?" : ""}${d.sec.slice(0, -1)}/${extra}`;
      const s = parseProgramSection(name);
      assert.ok(s);
      assert.equal(s.def, d);
      assert.equal(s.autoload, !optional);
      const named = (d.flags & SEC_ATTACH_BTF) !== 0 || d.autoAttach !== undefined;
      assert.equal(s.attachTo, named ? extra : "");
    }),
  );
});

test("property: arbitrary names never throw and only yield table entries", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), (name) => {
      const d = matchSectionDef(name);
      if (d !== undefined) assert.ok(SECTION_DEFS.includes(d));
      const s = parseProgramSection(name);
      assert.equal(s?.def, d);
    }),
  );
});

test("section defs: the indexed lookup equals libbpf's first-match scan", () => {
  const scan = (name: string) => SECTION_DEFS.find((d) => sectionDefMatches(d.sec, name));
  const bases = SECTION_DEFS.map((d) => d.sec.replace(/\+$/, ""));
  fc.assert(
    fc.property(
      fc.constantFrom(...bases),
      fc.constantFrom("", "/", "/x", "/a/b", "x", ".s", ".s/y", "//"),
      (base, suffix) => {
        const name = base + suffix;
        assert.equal(matchSectionDef(name), scan(name), name);
      },
    ),
    { numRuns: 2000 },
  );
  const custom = [
    { sec: "my/", programType: 1, expectedAttachType: 0, flags: 0 },
    ...SECTION_DEFS,
  ] as const;
  assert.equal(matchSectionDef("my/thing", custom), custom[0]);
  assert.equal(matchSectionDef("my", custom), undefined);
});
