import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  AttachType,
  attachTypeFromName,
  attachTypeName,
  MapFlags,
  MapType,
  mapTypeFromName,
  mapTypeName,
  PinType,
  ProgramFlags,
  ProgramType,
  programTypeFromName,
  programTypeName,
  UpdateFlags,
} from "../collection/types.ts";

function values(o: Record<string, number>): number[] {
  return Object.values(o);
}

test("types: enumerations are dense 0..N-1 with unique values", () => {
  for (
    const [name, e, n] of [
      ["ProgramType", ProgramType, 33],
      ["AttachType", AttachType, 62],
      ["MapType", MapType, 36],
    ] as const
  ) {
    const v = values(e);
    assert.equal(v.length, n, name);
    assert.deepEqual(v, [...Array(n).keys()], name);
  }
});

test("types: program types match the uapi header", () => {
  assert.equal(ProgramType.UNSPEC, 0);
  assert.equal(ProgramType.SOCKET_FILTER, 1);
  assert.equal(ProgramType.KPROBE, 2);
  assert.equal(ProgramType.SCHED_CLS, 3);
  assert.equal(ProgramType.XDP, 6);
  assert.equal(ProgramType.CGROUP_SKB, 8);
  assert.equal(ProgramType.RAW_TRACEPOINT, 17);
  assert.equal(ProgramType.CGROUP_SOCKOPT, 25);
  assert.equal(ProgramType.TRACING, 26);
  assert.equal(ProgramType.STRUCT_OPS, 27);
  assert.equal(ProgramType.EXT, 28);
  assert.equal(ProgramType.LSM, 29);
  assert.equal(ProgramType.SYSCALL, 31);
  assert.equal(ProgramType.NETFILTER, 32);
});

test("types: attach types match the uapi header", () => {
  assert.equal(AttachType.CGROUP_INET_INGRESS, 0);
  assert.equal(AttachType.CGROUP_SETSOCKOPT, 22);
  assert.equal(AttachType.TRACE_RAW_TP, 23);
  assert.equal(AttachType.TRACE_FENTRY, 24);
  assert.equal(AttachType.TRACE_FEXIT, 25);
  assert.equal(AttachType.MODIFY_RETURN, 26);
  assert.equal(AttachType.LSM_MAC, 27);
  assert.equal(AttachType.TRACE_ITER, 28);
  assert.equal(AttachType.XDP_DEVMAP, 33);
  assert.equal(AttachType.XDP_CPUMAP, 35);
  assert.equal(AttachType.SK_LOOKUP, 36);
  assert.equal(AttachType.XDP, 37);
  assert.equal(AttachType.SK_REUSEPORT_SELECT_OR_MIGRATE, 40);
  assert.equal(AttachType.TRACE_KPROBE_MULTI, 42);
  assert.equal(AttachType.LSM_CGROUP, 43);
  assert.equal(AttachType.NETFILTER, 45);
  assert.equal(AttachType.TCX_INGRESS, 46);
  assert.equal(AttachType.TCX_EGRESS, 47);
  assert.equal(AttachType.TRACE_UPROBE_MULTI, 48);
  assert.equal(AttachType.CGROUP_UNIX_GETSOCKNAME, 53);
  assert.equal(AttachType.NETKIT_PRIMARY, 54);
  assert.equal(AttachType.NETKIT_PEER, 55);
  assert.equal(AttachType.TRACE_KPROBE_SESSION, 56);
  assert.equal(AttachType.TRACE_UPROBE_SESSION, 57);
  assert.equal(AttachType.TRACE_FSESSION, 58);
  assert.equal(AttachType.TRACE_FENTRY_MULTI, 59);
  assert.equal(AttachType.TRACE_FEXIT_MULTI, 60);
  assert.equal(AttachType.TRACE_FSESSION_MULTI, 61);
});

test("types: map types match the uapi header", () => {
  assert.equal(MapType.HASH, 1);
  assert.equal(MapType.ARRAY, 2);
  assert.equal(MapType.PROG_ARRAY, 3);
  assert.equal(MapType.PERF_EVENT_ARRAY, 4);
  assert.equal(MapType.LPM_TRIE, 11);
  assert.equal(MapType.ARRAY_OF_MAPS, 12);
  assert.equal(MapType.HASH_OF_MAPS, 13);
  assert.equal(MapType.CGROUP_STORAGE, 19);
  assert.equal(MapType.PERCPU_CGROUP_STORAGE, 21);
  assert.equal(MapType.STRUCT_OPS, 26);
  assert.equal(MapType.RINGBUF, 27);
  assert.equal(MapType.USER_RINGBUF, 31);
  assert.equal(MapType.CGRP_STORAGE, 32);
  assert.equal(MapType.ARENA, 33);
  assert.equal(MapType.INSN_ARRAY, 34);
  assert.equal(MapType.RHASH, 35);
});

test("types: flag values match the uapi header", () => {
  assert.equal(MapFlags.BPF_F_NO_PREALLOC, 1);
  assert.equal(MapFlags.BPF_F_NO_COMMON_LRU, 2);
  assert.equal(MapFlags.BPF_F_NUMA_NODE, 4);
  assert.equal(MapFlags.BPF_F_RDONLY_PROG, 0x80);
  assert.equal(MapFlags.BPF_F_WRONLY_PROG, 0x100);
  assert.equal(MapFlags.BPF_F_MMAPABLE, 0x400);
  assert.equal(MapFlags.BPF_F_INNER_MAP, 0x1000);
  assert.equal(MapFlags.BPF_F_TOKEN_FD, 0x10000);
  assert.equal(ProgramFlags.BPF_F_STRICT_ALIGNMENT, 1);
  assert.equal(ProgramFlags.BPF_F_ANY_ALIGNMENT, 2);
  assert.equal(ProgramFlags.BPF_F_SLEEPABLE, 16);
  assert.equal(ProgramFlags.BPF_F_XDP_HAS_FRAGS, 32);
  assert.equal(ProgramFlags.BPF_F_XDP_DEV_BOUND_ONLY, 64);
  assert.deepEqual(
    [UpdateFlags.BPF_ANY, UpdateFlags.BPF_NOEXIST, UpdateFlags.BPF_EXIST, UpdateFlags.BPF_F_LOCK],
    [0, 1, 2, 4],
  );
  assert.equal(PinType.NONE, 0);
  assert.equal(PinType.BY_NAME, 1);
  // Every map and program flag is a single distinct bit.
  for (const flags of [MapFlags, ProgramFlags]) {
    const v = values(flags);
    assert.ok(v.every((f) => f > 0 && (f & (f - 1)) === 0));
    assert.equal(new Set(v).size, v.length);
  }
});

test("types: libbpf names", () => {
  assert.equal(programTypeName(ProgramType.XDP), "xdp");
  assert.equal(programTypeName(ProgramType.SCHED_CLS), "sched_cls");
  assert.equal(programTypeName(ProgramType.RAW_TRACEPOINT_WRITABLE), "raw_tracepoint_writable");
  assert.equal(programTypeName(ProgramType.NETFILTER), "netfilter");
  assert.equal(attachTypeName(AttachType.CGROUP_INET_INGRESS), "cgroup_inet_ingress");
  assert.equal(attachTypeName(AttachType.TRACE_FENTRY), "trace_fentry");
  assert.equal(attachTypeName(AttachType.XDP), "xdp");
  assert.equal(
    attachTypeName(AttachType.SK_REUSEPORT_SELECT_OR_MIGRATE),
    "sk_reuseport_select_or_migrate",
  );
  assert.equal(attachTypeName(AttachType.TRACE_UPROBE_SESSION), "trace_uprobe_session");
  assert.equal(attachTypeName(AttachType.TRACE_FSESSION), "trace_fsession");
  assert.equal(mapTypeName(MapType.RINGBUF), "ringbuf");
  assert.equal(mapTypeName(MapType.LRU_PERCPU_HASH), "lru_percpu_hash");
  assert.equal(mapTypeName(MapType.CGRP_STORAGE), "cgrp_storage");
  assert.equal(mapTypeName(MapType.ARENA), "arena");
  assert.equal(mapTypeName(MapType.INSN_ARRAY), "insn_array");
});

test("types: libbpf names are the lower-cased uapi names", () => {
  // libbpf's tables follow this rule for every entry; it checks the hand-written
  // name tables against the enumerations.
  for (const [k, v] of Object.entries(ProgramType)) {
    assert.equal(programTypeName(v), k.toLowerCase());
  }
  for (const [k, v] of Object.entries(AttachType)) assert.equal(attachTypeName(v), k.toLowerCase());
  for (const [k, v] of Object.entries(MapType)) assert.equal(mapTypeName(v), k.toLowerCase());
});

test("types: names round trip", () => {
  for (const v of values(ProgramType)) assert.equal(programTypeFromName(programTypeName(v)), v);
  for (const v of values(AttachType)) assert.equal(attachTypeFromName(attachTypeName(v)), v);
  for (const v of values(MapType)) assert.equal(mapTypeFromName(mapTypeName(v)), v);
  assert.equal(programTypeFromName("xdp"), ProgramType.XDP);
  assert.equal(attachTypeFromName("tcx_ingress"), AttachType.TCX_INGRESS);
  assert.equal(mapTypeFromName("hash_of_maps"), MapType.HASH_OF_MAPS);
});

test("types: unknown values and names", () => {
  assert.equal(programTypeName(99), "unknown(99)");
  assert.equal(programTypeName(33), "unknown(33)");
  assert.equal(attachTypeName(62), "unknown(62)");
  assert.equal(mapTypeName(36), "unknown(36)");
  assert.equal(mapTypeName(-1), "unknown(-1)");
  assert.equal(mapTypeName(1.5), "unknown(1.5)");
  assert.equal(mapTypeName(NaN), "unknown(NaN)");
  assert.equal(programTypeFromName("XDP"), undefined);
  assert.equal(programTypeFromName("BPF_PROG_TYPE_XDP"), undefined);
  assert.equal(programTypeFromName(""), undefined);
  assert.equal(attachTypeFromName("none"), undefined);
  assert.equal(mapTypeFromName("constructor"), undefined);
  assert.equal(mapTypeFromName("__proto__"), undefined);
  assert.equal(mapTypeFromName("length"), undefined);
});

test("property: names of arbitrary numbers are a known name or unknown(n)", () => {
  fc.assert(
    fc.property(fc.oneof(fc.integer(), fc.double()), (n) => {
      for (
        const [name, from] of [
          [programTypeName(n), programTypeFromName],
          [attachTypeName(n), attachTypeFromName],
          [mapTypeName(n), mapTypeFromName],
        ] as const
      ) {
        const back = from(name);
        if (back === undefined) assert.equal(name, `unknown(${n})`);
        else assert.ok(back === n, `${name} -> ${back}, want ${n}`);
      }
    }),
  );
});
