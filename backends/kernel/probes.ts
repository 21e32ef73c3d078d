/**
 * Feature probes: what the running kernel supports, found out by behaviour
 * (a minimal map create, program load or BTF load and the errno it gives),
 * never by kernel version or by the text of a verifier log.
 *
 * Results are cached per {@link Syscalls} instance; `syscalls()` is itself
 * cached per process, so in practice each probe runs once per process.
 * A probe answers `true` or `false`; an errno that says nothing about the
 * feature (EPERM without privileges, EMFILE, ENOMEM…) is thrown as a
 * {@link KernelError} `KERNEL_PROBE` explaining what happened, and is not
 * cached, so a later call can try again.
 *
 * ```ts
 * import { syscalls } from "./syscalls.ts";
 * import { haveMapType, sanitizeOptionsForKernel } from "./probes.ts";
 * import { MapType } from "../../collection/types.ts";
 *
 * const sys = syscalls();
 * if (!haveMapType(sys, MapType.RINGBUF)) console.log("no ring buffers here");
 * const options = sanitizeOptionsForKernel(sys); // { funcs: true, …, enum64: true }
 * ```
 *
 * @module
 */

import { BtfBuilder } from "../../btf/builder.ts";
import { marshalBtf } from "../../btf/marshal.ts";
import { SANITIZE_FEATURES, type SanitizeOptions } from "../../btf/sanitize.ts";
import { BtfFuncLinkage, BtfVarLinkage } from "../../btf/types.ts";
import {
  AttachType,
  MapFlags,
  MapType,
  mapTypeName,
  ProgramFlags,
  ProgramType,
  programTypeName,
} from "../../collection/types.ts";
import {
  BPF_ADD,
  BPF_ALU64,
  BPF_JLT,
  BPF_JMP,
  BPF_K,
  BPF_MOV,
  CALL_OPCODE,
  EXIT_OPCODE,
} from "../../isa/opcodes.ts";
import { encodeInstructions } from "../../isa/codec.ts";
import type { Instruction } from "../../isa/instruction.ts";
import { ERRNO, errnoName, KernelError, SyscallError } from "./errors.ts";
import { btfLoad, closeFd, mapCreate, progLoad } from "./sys.ts";
import type { Syscalls } from "./syscalls.ts";

/** The BTF features {@link haveBtfFeature} probes: the keys of {@link SanitizeOptions}. */
export type BtfFeature = keyof SanitizeOptions;

/** Every {@link BtfFeature}: the features `btf/sanitize.ts` can rewrite away. */
export const BTF_FEATURES: readonly BtfFeature[] = SANITIZE_FEATURES;

const { EINVAL, E2BIG, EBADF, EACCES } = ERRNO as Record<string, number>;

/** Probe results by Syscalls instance, then by probe key. */
const cache = new WeakMap<Syscalls, Map<string, boolean>>();

/** The host byte order: the kernel takes instructions and BTF in it. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** `PAGE_SIZE` for ring buffers: 4 KiB is a valid size whatever the real page size. */
const RINGBUF_SIZE = 4096;

function cached(sys: Syscalls, key: string, probe: () => boolean): boolean {
  let results = cache.get(sys);
  if (results === undefined) {
    results = new Map();
    cache.set(sys, results);
  }
  const hit = results.get(key);
  if (hit !== undefined) return hit;
  const result = probe();
  results.set(key, result);
  return result;
}

/**
 * {@link sanitizeOptionsForKernel}'s answer by Syscalls instance: asked for
 * on every load with BTF, it is built once instead of from nine lookups.
 */
const sanitizeCache = new WeakMap<Syscalls, Readonly<SanitizeOptions>>();

/** Forget every cached result for `sys` (tests; after gaining privileges). */
export function clearProbeCache(sys: Syscalls): void {
  cache.delete(sys);
  sanitizeCache.delete(sys);
}

/** Run a create or load; returns 0 on success (the fd closed) or the positive errno. */
function attempt(sys: Syscalls, create: () => number): number {
  let fd: number;
  try {
    fd = create();
  } catch (err) {
    if (err instanceof SyscallError) return err.errno;
    throw err;
  }
  closeFd(sys, fd);
  return 0;
}

/** The error for an errno a probe can't interpret. */
function unexpected(what: string, errno: number): KernelError {
  const why = errno === ERRNO.EPERM
    ? "the probe needs CAP_BPF (with CAP_PERFMON/CAP_NET_ADMIN for some types) or root"
    : "this errno says nothing about the feature";
  return new KernelError(
    "KERNEL_PROBE",
    `probing ${what}: unexpected ${errnoName(errno)}: ${why}`,
  );
}

/**
 * Whether the kernel can create maps of `type`, from a minimal
 * `BPF_MAP_CREATE` (as cilium/ebpf's `HaveMapType`): success means yes;
 * EINVAL (unknown type) or E2BIG (attr fields past what the kernel knows)
 * mean no; for map-in-map and local storage types, whose probe passes an
 * invalid inner map or BTF fd on purpose, EBADF means the kernel got past
 * the type check, so yes. `STRUCT_OPS` and `INSN_ARRAY` need vmlinux
 * BTF or a program to probe and throw `KERNEL_PROBE_UNSUPPORTED`.
 *
 * @throws {KernelError} `KERNEL_PROBE` for any other errno (EPERM: no privileges).
 */
export function haveMapType(sys: Syscalls, type: number): boolean {
  const name = `map type ${mapTypeName(type)}`;
  if (type === MapType.STRUCT_OPS || type === MapType.INSN_ARRAY || type === MapType.UNSPEC) {
    throw new KernelError("KERNEL_PROBE_UNSUPPORTED", `no probe for ${name}`);
  }
  return cached(sys, `map:${type}`, () => {
    const { expectEbadf, ...attrs } = mapProbeAttrs(type);
    const errno = attempt(sys, () => mapCreate(sys, attrs));
    if (errno === 0) return true;
    if (errno === EBADF && expectEbadf) return true;
    if (errno === EINVAL || errno === E2BIG) return false;
    throw unexpected(name, errno);
  });
}

interface MapProbeAttrs {
  map_type: number;
  key_size: number;
  value_size: number;
  max_entries: number;
  map_flags: number;
  inner_map_fd: number;
  btf_fd: number;
  btf_key_type_id: number;
  btf_value_type_id: number;
  /** The probe passes an invalid fd on purpose: EBADF means the type was accepted. */
  expectEbadf: boolean;
}

/** The smallest valid attributes per map type (each kernel's `map_alloc_check`). */
function mapProbeAttrs(type: number): MapProbeAttrs {
  const a: MapProbeAttrs = {
    map_type: type,
    key_size: 4,
    value_size: 4,
    max_entries: 1,
    map_flags: 0,
    inner_map_fd: 0,
    btf_fd: 0,
    btf_key_type_id: 0,
    btf_value_type_id: 0,
    expectEbadf: false,
  };
  switch (type) {
    case MapType.STACK_TRACE:
      a.value_size = 8; // one u64 instruction pointer
      break;
    case MapType.LPM_TRIE:
      // struct bpf_lpm_trie_key_u8 with 4 bytes of data; tries must not preallocate.
      a.key_size = 8;
      a.value_size = 8;
      a.map_flags = MapFlags.BPF_F_NO_PREALLOC;
      break;
    case MapType.ARRAY_OF_MAPS:
    case MapType.HASH_OF_MAPS:
      a.inner_map_fd = 0xffffffff; // invalid on purpose: EBADF comes after the type check
      a.expectEbadf = true;
      break;
    case MapType.CGROUP_STORAGE:
    case MapType.PERCPU_CGROUP_STORAGE:
      a.key_size = 16; // struct bpf_cgroup_storage_key
      a.max_entries = 0;
      break;
    case MapType.QUEUE:
    case MapType.STACK:
    case MapType.BLOOM_FILTER:
      a.key_size = 0;
      break;
    case MapType.RINGBUF:
    case MapType.USER_RINGBUF:
      a.key_size = 0;
      a.value_size = 0;
      a.max_entries = RINGBUF_SIZE;
      break;
    case MapType.ARENA:
      a.key_size = 0;
      a.value_size = 0;
      a.max_entries = 1; // pages
      a.map_flags = MapFlags.BPF_F_MMAPABLE;
      break;
    case MapType.SK_STORAGE:
    case MapType.INODE_STORAGE:
    case MapType.TASK_STORAGE:
    case MapType.CGRP_STORAGE:
      // Local storage needs BTF for key and value; an invalid BTF fd fails
      // with EBADF only once the type and its flags have been accepted.
      a.max_entries = 0;
      a.map_flags = MapFlags.BPF_F_NO_PREALLOC;
      a.btf_fd = 0xffffffff;
      a.btf_key_type_id = 1;
      a.btf_value_type_id = 1;
      a.expectEbadf = true;
      break;
  }
  return a;
}

/** `mov64 r0, 0`. */
const MOV_R0_0: Instruction = {
  opcode: BPF_ALU64 | BPF_MOV | BPF_K,
  dst: 0,
  src: 0,
  offset: 0,
  imm: 0,
};
/** `exit`. */
const EXIT: Instruction = { opcode: EXIT_OPCODE, dst: 0, src: 0, offset: 0, imm: 0 };

/** What a program probe loads besides its instructions. */
interface ProgProbeAttrs {
  expected_attach_type: number;
  prog_flags: number;
}

/**
 * Expected attach types the kernel checks at load
 * (`bpf_prog_load_check_attach`), and flags it insists on.
 */
function progProbeAttrs(type: number): ProgProbeAttrs {
  let expected = 0;
  let flags = 0;
  switch (type) {
    case ProgramType.CGROUP_SOCK_ADDR:
      expected = AttachType.CGROUP_INET4_CONNECT;
      break;
    case ProgramType.CGROUP_SOCKOPT:
      expected = AttachType.CGROUP_GETSOCKOPT;
      break;
    case ProgramType.SK_LOOKUP:
      expected = AttachType.SK_LOOKUP;
      break;
    case ProgramType.NETFILTER:
      expected = AttachType.NETFILTER;
      break;
    case ProgramType.SYSCALL:
      flags = ProgramFlags.BPF_F_SLEEPABLE; // the verifier takes only sleepable syscall programs
      break;
  }
  return { expected_attach_type: expected, prog_flags: flags };
}

function loadProbeProgram(sys: Syscalls, type: number, insns: Instruction[]): number {
  const bytes = encodeInstructions(insns, { littleEndian: HOST_LITTLE_ENDIAN });
  const extra = progProbeAttrs(type);
  return attempt(sys, () =>
    progLoad(sys, {
      prog_type: type,
      insns: bytes,
      license: "GPL",
      expected_attach_type: extra.expected_attach_type,
      prog_flags: extra.prog_flags,
    }, { logLevel: 0, logSize: 0 }));
}

/**
 * Whether the kernel loads programs of `type`: `mov r0, 0; exit` with the
 * expected attach type the kernel insists on (as cilium/ebpf's
 * `HaveProgramType`). Success means yes; EINVAL or E2BIG mean no.
 * `TRACING`, `EXT`, `LSM` and `STRUCT_OPS` need an attach target (a vmlinux
 * function, a program, a struct_ops type) to probe and throw
 * `KERNEL_PROBE_UNSUPPORTED`.
 *
 * @throws {KernelError} `KERNEL_PROBE` for any other errno (EPERM: no privileges).
 */
export function haveProgramType(sys: Syscalls, type: number): boolean {
  const name = `program type ${programTypeName(type)}`;
  if (
    type === ProgramType.TRACING || type === ProgramType.EXT || type === ProgramType.LSM ||
    type === ProgramType.STRUCT_OPS || type === ProgramType.UNSPEC
  ) {
    throw new KernelError(
      "KERNEL_PROBE_UNSUPPORTED",
      `no probe for ${name}: it needs an attach target to load`,
    );
  }
  return cached(sys, `prog:${type}`, () => {
    const errno = loadProbeProgram(sys, type, [MOV_R0_0, EXIT]);
    if (errno === 0) return true;
    if (errno === EINVAL || errno === E2BIG) return false;
    throw unexpected(name, errno);
  });
}

/**
 * Whether programs of `progType` may call helper `helperId`.
 *
 * The rule, by errno only (the verifier's wording is not matched, after
 * cilium/ebpf#2084):
 *
 * 1. the program type must load at all ({@link haveProgramType}); if it
 *    doesn't, no helper is available to it;
 * 2. then `call helperId; mov r0, 0; exit` is loaded with R1–R5 left
 *    uninitialised. The verifier looks the helper up for the program type
 *    first (unknown or not allowed: EINVAL), then checks GPL-only and
 *    `allowed()` (EINVAL, but the probe is GPL), and only then reads the
 *    arguments: a helper that takes any fails there with EACCES ("R1
 *    !read_ok"), one that takes none loads. So success or EACCES means the
 *    helper is available, EINVAL that it is not (the same program without
 *    the call loaded in step 1, so the call is what the kernel refused).
 *
 * Like cilium's `HaveProgramHelper`, program types the kernel checks more
 * strictly at load (attach targets) can't be probed and throw.
 *
 * @throws {KernelError} `KERNEL_PROBE` for any other errno.
 */
export function haveProgramHelper(sys: Syscalls, progType: number, helperId: number): boolean {
  if (!Number.isInteger(helperId) || helperId <= 0 || helperId > 0x7fffffff) {
    throw new KernelError("KERNEL_PROBE_BAD_HELPER", `helper ID ${helperId} is not a positive s32`);
  }
  if (!haveProgramType(sys, progType)) return false;
  const name = `helper #${helperId} for program type ${programTypeName(progType)}`;
  return cached(sys, `helper:${progType}:${helperId}`, () => {
    const call: Instruction = { opcode: CALL_OPCODE, dst: 0, src: 0, offset: 0, imm: helperId };
    const errno = loadProbeProgram(sys, progType, [call, MOV_R0_0, EXIT]);
    if (errno === 0 || errno === EACCES) return true;
    if (errno === EINVAL) return false;
    throw unexpected(name, errno);
  });
}

/**
 * Whether the kernel accepts BPF-to-BPF calls (`call` with src 1, 4.16):
 * a program calling a subprogram that returns 0. EINVAL means no.
 *
 * @throws {KernelError} `KERNEL_PROBE` for any other errno.
 */
export function haveBpfToBpfCalls(sys: Syscalls): boolean {
  return cached(sys, "bpf2bpf", () => {
    const call: Instruction = { opcode: CALL_OPCODE, dst: 0, src: 1, offset: 0, imm: 1 };
    const errno = loadProbeProgram(sys, ProgramType.SOCKET_FILTER, [call, EXIT, MOV_R0_0, EXIT]);
    if (errno === 0) return true;
    if (errno === EINVAL) return false;
    throw unexpected("BPF-to-BPF calls", errno);
  });
}

/**
 * Whether the verifier accepts bounded loops (back-edges, 5.3): `r0 = 0;
 * do r0 += 1 while (r0 < 4)`. EINVAL (a back-edge refused) means no.
 *
 * @throws {KernelError} `KERNEL_PROBE` for any other errno.
 */
export function haveBoundedLoops(sys: Syscalls): boolean {
  return cached(sys, "bounded-loops", () => {
    const add: Instruction = {
      opcode: BPF_ALU64 | BPF_ADD | BPF_K,
      dst: 0,
      src: 0,
      offset: 0,
      imm: 1,
    };
    const loop: Instruction = {
      opcode: BPF_JMP | BPF_JLT | BPF_K,
      dst: 0,
      src: 0,
      offset: -2,
      imm: 4,
    };
    const errno = loadProbeProgram(sys, ProgramType.SOCKET_FILTER, [MOV_R0_0, add, loop, EXIT]);
    if (errno === 0) return true;
    if (errno === EINVAL) return false;
    throw unexpected("bounded loops", errno);
  });
}

/**
 * Whether the kernel accepts BTF at all (`BPF_BTF_LOAD` of one INT, 4.18).
 *
 * @throws {KernelError} `KERNEL_PROBE` for an errno other than EINVAL/E2BIG.
 */
export function haveBtf(sys: Syscalls): boolean {
  return cached(sys, "btf", () =>
    probeBtfBlob(sys, "BTF", () => {
      const b = new BtfBuilder({ littleEndian: HOST_LITTLE_ENDIAN });
      b.int("int", 4, { signed: true });
      return marshalBtf(b);
    }));
}

/**
 * Whether the kernel supports one BTF feature, by loading a tiny blob that
 * uses it (libbpf's `probe_kern_btf_*`): `funcs` (FUNC and FUNC_PROTO),
 * `funcLinkage` (a global FUNC), `datasec` (VAR and DATASEC `.data`),
 * `qmarkDatasec` (DATASEC `?.data`), `float`, `declTag`, `typeTag`,
 * `enum64`, `layout` (the layout section after the types). Success means
 * yes; EINVAL (the BTF verifier's answer to anything it does not know) or
 * E2BIG (a header longer than the kernel's, with non-zero fields) mean no.
 * Without BTF support at all every feature is `false`.
 *
 * @throws {KernelError} `KERNEL_PROBE` for any other errno; `KERNEL_PROBE_UNSUPPORTED` for an unknown name.
 */
export function haveBtfFeature(sys: Syscalls, name: BtfFeature): boolean {
  const blob = BTF_PROBES[name];
  if (blob === undefined) {
    throw new KernelError("KERNEL_PROBE_UNSUPPORTED", `no BTF feature probe named ${String(name)}`);
  }
  if (!haveBtf(sys)) return false;
  return cached(sys, `btf:${name}`, () => probeBtfBlob(sys, `BTF feature ${name}`, blob));
}

/**
 * The {@link SanitizeOptions} for this kernel: every BTF feature probed,
 * `false` where the kernel lacks it (so `sanitizeBtf` rewrites it away).
 */
export function sanitizeOptionsForKernel(sys: Syscalls): SanitizeOptions {
  let known = sanitizeCache.get(sys);
  if (known === undefined) {
    const options: SanitizeOptions = {};
    for (const f of BTF_FEATURES) options[f] = haveBtfFeature(sys, f);
    // Only once every probe answered: one that threw is tried again next time.
    sanitizeCache.set(sys, options);
    known = options;
  }
  // A copy: callers own what they get.
  return { ...known };
}

function probeBtfBlob(sys: Syscalls, what: string, build: () => Uint8Array): boolean {
  const blob = build();
  const errno = attempt(sys, () => btfLoad(sys, blob, { logSize: 0 }));
  if (errno === 0) return true;
  if (errno === EINVAL || errno === E2BIG) return false;
  throw unexpected(what, errno);
}

/** `int` plus whatever `add` builds on it (type 1 is the int). */
function btfBlob(add: (b: BtfBuilder, int: number) => void, layout = false): () => Uint8Array {
  return () => {
    const b = new BtfBuilder({ littleEndian: HOST_LITTLE_ENDIAN });
    const int = b.int("int", 4, { signed: true });
    add(b, int);
    return marshalBtf(b, { layout });
  };
}

/** The probe blobs, after libbpf's `probe_kern_btf_*` (src/features.c). */
const BTF_PROBES: Record<BtfFeature, () => Uint8Array> = {
  funcs: btfBlob((b, int) => {
    const proto = b.funcProto(int, [{ name: "x", type: int }]);
    b.func("a", proto, BtfFuncLinkage.STATIC);
  }),
  funcLinkage: btfBlob((b, int) => {
    const proto = b.funcProto(int, [{ name: "x", type: int }]);
    b.func("a", proto, BtfFuncLinkage.GLOBAL);
  }),
  datasec: btfBlob((b, int) => {
    const x = b.variable("x", int, BtfVarLinkage.STATIC);
    b.datasec(".data", [{ type: x, offset: 0, size: 4 }], 4);
  }),
  qmarkDatasec: btfBlob((b, int) => {
    const x = b.variable("x", int, BtfVarLinkage.STATIC);
    b.datasec("?.data", [{ type: x, offset: 0, size: 4 }], 4);
  }),
  float: btfBlob((b) => {
    b.float("float", 4);
  }),
  declTag: btfBlob((b, int) => {
    const x = b.variable("x", int, BtfVarLinkage.STATIC);
    b.declTag("tag", x, -1);
  }),
  typeTag: btfBlob((b, int) => {
    const tag = b.typeTag("tag", int);
    b.pointer(tag);
  }),
  enum64: btfBlob((b) => {
    b.enum64("e", [{ name: "a", value: 1n << 40n }], { size: 8 });
  }),
  layout: btfBlob(() => {}, true),
};

/** For tests: the probe blob of a feature, in host byte order. */
export function btfProbeBlob(name: BtfFeature): Uint8Array {
  const build = BTF_PROBES[name];
  if (build === undefined) {
    throw new KernelError("KERNEL_PROBE_UNSUPPORTED", `no BTF feature probe named ${String(name)}`);
  }
  return build();
}
