/**
 * The kernel's uapi enumerations (`include/uapi/linux/bpf.h`) and libbpf's
 * lower-case names for them.
 *
 * Each enumeration is an `as const` object plus a type of the same name, so
 * `ProgramType.XDP` is the number 6 and `ProgramType` is the union of all
 * program type numbers. Type enumerations drop the kernel's prefix
 * (`BPF_PROG_TYPE_`, `BPF_MAP_TYPE_`, `BPF_`); flags keep their full kernel
 * names (`MapFlags.BPF_F_RDONLY_PROG`, `ProgramFlags.BPF_F_SLEEPABLE`).
 * Flag types are `number`, since flags combine with `|`.
 *
 * Values follow the uapi header at libbpf 1.8 / Linux 7.x: 33 program types
 * (UNSPEC…NETFILTER), 62 attach types (…TRACE_FSESSION_MULTI) and 36 map
 * types (…RHASH).
 *
 * @example
 * ```ts
 * import { ProgramType, programTypeName, programTypeFromName } from "./types.ts";
 * programTypeName(ProgramType.XDP); // "xdp"
 * programTypeFromName("sched_cls"); // 3
 * programTypeName(99); // "unknown(99)"
 * ```
 *
 * @module
 */

/** `enum bpf_prog_type`. */
export const ProgramType = {
  UNSPEC: 0,
  SOCKET_FILTER: 1,
  KPROBE: 2,
  SCHED_CLS: 3,
  SCHED_ACT: 4,
  TRACEPOINT: 5,
  XDP: 6,
  PERF_EVENT: 7,
  CGROUP_SKB: 8,
  CGROUP_SOCK: 9,
  LWT_IN: 10,
  LWT_OUT: 11,
  LWT_XMIT: 12,
  SOCK_OPS: 13,
  SK_SKB: 14,
  CGROUP_DEVICE: 15,
  SK_MSG: 16,
  RAW_TRACEPOINT: 17,
  CGROUP_SOCK_ADDR: 18,
  LWT_SEG6LOCAL: 19,
  LIRC_MODE2: 20,
  SK_REUSEPORT: 21,
  FLOW_DISSECTOR: 22,
  CGROUP_SYSCTL: 23,
  RAW_TRACEPOINT_WRITABLE: 24,
  CGROUP_SOCKOPT: 25,
  TRACING: 26,
  STRUCT_OPS: 27,
  EXT: 28,
  LSM: 29,
  SK_LOOKUP: 30,
  SYSCALL: 31,
  NETFILTER: 32,
} as const;
/** A `BPF_PROG_TYPE_*` value. */
export type ProgramType = typeof ProgramType[keyof typeof ProgramType];

/**
 * `enum bpf_attach_type`, in uapi order.
 *
 * The kernel has no "none" member: an expected attach type of 0 means "none"
 * for most program types and `BPF_CGROUP_INET_INGRESS` for cgroup_skb.
 */
export const AttachType = {
  CGROUP_INET_INGRESS: 0,
  CGROUP_INET_EGRESS: 1,
  CGROUP_INET_SOCK_CREATE: 2,
  CGROUP_SOCK_OPS: 3,
  SK_SKB_STREAM_PARSER: 4,
  SK_SKB_STREAM_VERDICT: 5,
  CGROUP_DEVICE: 6,
  SK_MSG_VERDICT: 7,
  CGROUP_INET4_BIND: 8,
  CGROUP_INET6_BIND: 9,
  CGROUP_INET4_CONNECT: 10,
  CGROUP_INET6_CONNECT: 11,
  CGROUP_INET4_POST_BIND: 12,
  CGROUP_INET6_POST_BIND: 13,
  CGROUP_UDP4_SENDMSG: 14,
  CGROUP_UDP6_SENDMSG: 15,
  LIRC_MODE2: 16,
  FLOW_DISSECTOR: 17,
  CGROUP_SYSCTL: 18,
  CGROUP_UDP4_RECVMSG: 19,
  CGROUP_UDP6_RECVMSG: 20,
  CGROUP_GETSOCKOPT: 21,
  CGROUP_SETSOCKOPT: 22,
  TRACE_RAW_TP: 23,
  TRACE_FENTRY: 24,
  TRACE_FEXIT: 25,
  MODIFY_RETURN: 26,
  LSM_MAC: 27,
  TRACE_ITER: 28,
  CGROUP_INET4_GETPEERNAME: 29,
  CGROUP_INET6_GETPEERNAME: 30,
  CGROUP_INET4_GETSOCKNAME: 31,
  CGROUP_INET6_GETSOCKNAME: 32,
  XDP_DEVMAP: 33,
  CGROUP_INET_SOCK_RELEASE: 34,
  XDP_CPUMAP: 35,
  SK_LOOKUP: 36,
  XDP: 37,
  SK_SKB_VERDICT: 38,
  SK_REUSEPORT_SELECT: 39,
  SK_REUSEPORT_SELECT_OR_MIGRATE: 40,
  PERF_EVENT: 41,
  TRACE_KPROBE_MULTI: 42,
  LSM_CGROUP: 43,
  STRUCT_OPS: 44,
  NETFILTER: 45,
  TCX_INGRESS: 46,
  TCX_EGRESS: 47,
  TRACE_UPROBE_MULTI: 48,
  CGROUP_UNIX_CONNECT: 49,
  CGROUP_UNIX_SENDMSG: 50,
  CGROUP_UNIX_RECVMSG: 51,
  CGROUP_UNIX_GETPEERNAME: 52,
  CGROUP_UNIX_GETSOCKNAME: 53,
  NETKIT_PRIMARY: 54,
  NETKIT_PEER: 55,
  TRACE_KPROBE_SESSION: 56,
  TRACE_UPROBE_SESSION: 57,
  TRACE_FSESSION: 58,
  TRACE_FENTRY_MULTI: 59,
  TRACE_FEXIT_MULTI: 60,
  TRACE_FSESSION_MULTI: 61,
} as const;
/** A `BPF_*` attach type value. */
export type AttachType = typeof AttachType[keyof typeof AttachType];

/**
 * `enum bpf_map_type`.
 *
 * The uapi aliases `CGROUP_STORAGE_DEPRECATED` (= CGROUP_STORAGE, 19) and
 * `PERCPU_CGROUP_STORAGE_DEPRECATED` (= PERCPU_CGROUP_STORAGE, 21) are left
 * out so every value has one name, as in libbpf's name table.
 */
export const MapType = {
  UNSPEC: 0,
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  CGROUP_ARRAY: 8,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  DEVMAP: 14,
  SOCKMAP: 15,
  CPUMAP: 16,
  XSKMAP: 17,
  SOCKHASH: 18,
  CGROUP_STORAGE: 19,
  REUSEPORT_SOCKARRAY: 20,
  PERCPU_CGROUP_STORAGE: 21,
  QUEUE: 22,
  STACK: 23,
  SK_STORAGE: 24,
  DEVMAP_HASH: 25,
  STRUCT_OPS: 26,
  RINGBUF: 27,
  INODE_STORAGE: 28,
  TASK_STORAGE: 29,
  BLOOM_FILTER: 30,
  USER_RINGBUF: 31,
  CGRP_STORAGE: 32,
  ARENA: 33,
  INSN_ARRAY: 34,
  RHASH: 35,
} as const;
/** A `BPF_MAP_TYPE_*` value. */
export type MapType = typeof MapType[keyof typeof MapType];

/** `map_flags` for `BPF_MAP_CREATE` (the `BPF_F_*` map enum). */
export const MapFlags = {
  BPF_F_NO_PREALLOC: 1 << 0,
  BPF_F_NO_COMMON_LRU: 1 << 1,
  BPF_F_NUMA_NODE: 1 << 2,
  BPF_F_RDONLY: 1 << 3,
  BPF_F_WRONLY: 1 << 4,
  BPF_F_STACK_BUILD_ID: 1 << 5,
  BPF_F_ZERO_SEED: 1 << 6,
  BPF_F_RDONLY_PROG: 1 << 7,
  BPF_F_WRONLY_PROG: 1 << 8,
  BPF_F_CLONE: 1 << 9,
  BPF_F_MMAPABLE: 1 << 10,
  BPF_F_PRESERVE_ELEMS: 1 << 11,
  BPF_F_INNER_MAP: 1 << 12,
  BPF_F_LINK: 1 << 13,
  BPF_F_PATH_FD: 1 << 14,
  BPF_F_VTYPE_BTF_OBJ_FD: 1 << 15,
  BPF_F_TOKEN_FD: 1 << 16,
  BPF_F_SEGV_ON_FAULT: 1 << 17,
  BPF_F_NO_USER_CONV: 1 << 18,
  BPF_F_RB_OVERWRITE: 1 << 19,
} as const;
/** One `BPF_F_*` map flag (flags combine with `|`). */
export type MapFlags = typeof MapFlags[keyof typeof MapFlags];

/** `prog_flags` for `BPF_PROG_LOAD`. */
export const ProgramFlags = {
  BPF_F_STRICT_ALIGNMENT: 1 << 0,
  BPF_F_ANY_ALIGNMENT: 1 << 1,
  BPF_F_TEST_RND_HI32: 1 << 2,
  BPF_F_TEST_STATE_FREQ: 1 << 3,
  BPF_F_SLEEPABLE: 1 << 4,
  BPF_F_XDP_HAS_FRAGS: 1 << 5,
  BPF_F_XDP_DEV_BOUND_ONLY: 1 << 6,
  BPF_F_TEST_REG_INVARIANTS: 1 << 7,
  BPF_F_TOKEN_FD: 1 << 16,
} as const;
/** One `BPF_F_*` program load flag (flags combine with `|`). */
export type ProgramFlags = typeof ProgramFlags[keyof typeof ProgramFlags];

/** `flags` for `BPF_MAP_UPDATE_ELEM` (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`, `BPF_F_LOCK`). */
export const UpdateFlags = {
  BPF_ANY: 0,
  BPF_NOEXIST: 1,
  BPF_EXIST: 2,
  BPF_F_LOCK: 4,
} as const;
/** One map update flag. */
export type UpdateFlags = typeof UpdateFlags[keyof typeof UpdateFlags];

/** The `pinning` attribute of a BTF map definition (`enum libbpf_pin_type`). */
export const PinType = {
  NONE: 0,
  BY_NAME: 1,
} as const;
/** A `LIBBPF_PIN_*` value. */
export type PinType = typeof PinType[keyof typeof PinType];

// libbpf's prog_type_name[], indexed by value.
const PROGRAM_TYPE_NAMES: readonly string[] = [
  "unspec",
  "socket_filter",
  "kprobe",
  "sched_cls",
  "sched_act",
  "tracepoint",
  "xdp",
  "perf_event",
  "cgroup_skb",
  "cgroup_sock",
  "lwt_in",
  "lwt_out",
  "lwt_xmit",
  "sock_ops",
  "sk_skb",
  "cgroup_device",
  "sk_msg",
  "raw_tracepoint",
  "cgroup_sock_addr",
  "lwt_seg6local",
  "lirc_mode2",
  "sk_reuseport",
  "flow_dissector",
  "cgroup_sysctl",
  "raw_tracepoint_writable",
  "cgroup_sockopt",
  "tracing",
  "struct_ops",
  "ext",
  "lsm",
  "sk_lookup",
  "syscall",
  "netfilter",
];

// libbpf's attach_type_name[], indexed by value (libbpf lists them in a
// different order; the strings are the same).
const ATTACH_TYPE_NAMES: readonly string[] = [
  "cgroup_inet_ingress",
  "cgroup_inet_egress",
  "cgroup_inet_sock_create",
  "cgroup_sock_ops",
  "sk_skb_stream_parser",
  "sk_skb_stream_verdict",
  "cgroup_device",
  "sk_msg_verdict",
  "cgroup_inet4_bind",
  "cgroup_inet6_bind",
  "cgroup_inet4_connect",
  "cgroup_inet6_connect",
  "cgroup_inet4_post_bind",
  "cgroup_inet6_post_bind",
  "cgroup_udp4_sendmsg",
  "cgroup_udp6_sendmsg",
  "lirc_mode2",
  "flow_dissector",
  "cgroup_sysctl",
  "cgroup_udp4_recvmsg",
  "cgroup_udp6_recvmsg",
  "cgroup_getsockopt",
  "cgroup_setsockopt",
  "trace_raw_tp",
  "trace_fentry",
  "trace_fexit",
  "modify_return",
  "lsm_mac",
  "trace_iter",
  "cgroup_inet4_getpeername",
  "cgroup_inet6_getpeername",
  "cgroup_inet4_getsockname",
  "cgroup_inet6_getsockname",
  "xdp_devmap",
  "cgroup_inet_sock_release",
  "xdp_cpumap",
  "sk_lookup",
  "xdp",
  "sk_skb_verdict",
  "sk_reuseport_select",
  "sk_reuseport_select_or_migrate",
  "perf_event",
  "trace_kprobe_multi",
  "lsm_cgroup",
  "struct_ops",
  "netfilter",
  "tcx_ingress",
  "tcx_egress",
  "trace_uprobe_multi",
  "cgroup_unix_connect",
  "cgroup_unix_sendmsg",
  "cgroup_unix_recvmsg",
  "cgroup_unix_getpeername",
  "cgroup_unix_getsockname",
  "netkit_primary",
  "netkit_peer",
  "trace_kprobe_session",
  "trace_uprobe_session",
  "trace_fsession",
  "trace_fentry_multi",
  "trace_fexit_multi",
  "trace_fsession_multi",
];

// libbpf's map_type_name[], indexed by value.
const MAP_TYPE_NAMES: readonly string[] = [
  "unspec",
  "hash",
  "array",
  "prog_array",
  "perf_event_array",
  "percpu_hash",
  "percpu_array",
  "stack_trace",
  "cgroup_array",
  "lru_hash",
  "lru_percpu_hash",
  "lpm_trie",
  "array_of_maps",
  "hash_of_maps",
  "devmap",
  "sockmap",
  "cpumap",
  "xskmap",
  "sockhash",
  "cgroup_storage",
  "reuseport_sockarray",
  "percpu_cgroup_storage",
  "queue",
  "stack",
  "sk_storage",
  "devmap_hash",
  "struct_ops",
  "ringbuf",
  "inode_storage",
  "task_storage",
  "bloom_filter",
  "user_ringbuf",
  "cgrp_storage",
  "arena",
  "insn_array",
  "rhash",
];

function inverse(names: readonly string[]): ReadonlyMap<string, number> {
  const out = new Map<string, number>();
  names.forEach((name, value) => out.set(name, value));
  return out;
}

const PROGRAM_TYPE_BY_NAME = inverse(PROGRAM_TYPE_NAMES);
const ATTACH_TYPE_BY_NAME = inverse(ATTACH_TYPE_NAMES);
const MAP_TYPE_BY_NAME = inverse(MAP_TYPE_NAMES);

function nameOf(names: readonly string[], value: number): string {
  // NaN, fractions and negatives are unknown too, never an array property.
  if (Number.isInteger(value) && value >= 0 && value < names.length) {
    return names[value];
  }
  return `unknown(${value})`;
}

/**
 * libbpf's name for a program type (`libbpf_bpf_prog_type_str`), e.g.
 * `"sched_cls"`; `"unknown(N)"` for a value the table does not know.
 */
export function programTypeName(type: number): string {
  return nameOf(PROGRAM_TYPE_NAMES, type);
}

/**
 * libbpf's name for an attach type (`libbpf_bpf_attach_type_str`), e.g.
 * `"trace_fentry"`; `"unknown(N)"` for a value the table does not know.
 */
export function attachTypeName(type: number): string {
  return nameOf(ATTACH_TYPE_NAMES, type);
}

/**
 * libbpf's name for a map type (`libbpf_bpf_map_type_str`), e.g.
 * `"ringbuf"`; `"unknown(N)"` for a value the table does not know.
 */
export function mapTypeName(type: number): string {
  return nameOf(MAP_TYPE_NAMES, type);
}

/** The program type with libbpf's name `name`, or `undefined`. */
export function programTypeFromName(name: string): ProgramType | undefined {
  return PROGRAM_TYPE_BY_NAME.get(name) as ProgramType | undefined;
}

/** The attach type with libbpf's name `name`, or `undefined`. */
export function attachTypeFromName(name: string): AttachType | undefined {
  return ATTACH_TYPE_BY_NAME.get(name) as AttachType | undefined;
}

/** The map type with libbpf's name `name`, or `undefined`. */
export function mapTypeFromName(name: string): MapType | undefined {
  return MAP_TYPE_BY_NAME.get(name) as MapType | undefined;
}
