/**
 * The contracts between the VM's parts: the code both execution tiers run
 * ({@link VmCode}), helpers ({@link VmHelper}, {@link HelperEnv}), maps
 * ({@link VmMap}) and the per-collection {@link VmRuntime}.
 *
 * Values that are 64-bit in BPF cross these interfaces as JS numbers where
 * they are addresses, sizes or flags (exact below 2⁵³; addresses are below
 * 2⁴⁸) and as bigint only where a full 64-bit value is the point (a clock,
 * a map key decoded for a user). Nothing here allocates per instruction.
 *
 * @module
 */

import type { VmMemory } from "./memory.ts";

/** A virtual address: region tag × 2³² + offset (see `memory.ts`); 0 is NULL. */
export type VmAddress = number;

/**
 * One program, loaded and resolved, in the form both tiers execute.
 *
 * `code` holds four i32 words per 8-byte instruction slot: `opcode`,
 * `dst | src << 4`, `offset` (sign-extended 16-bit) and `imm`. An
 * `ld_imm64` takes two slots; its second slot has opcode 0 and its `imm` is
 * the value's high word. Pseudo sources are already resolved: every
 * `ld_imm64` has src 0 and holds its final 64-bit value (a map's handle
 * address, a map value's address, a function's address). A bpf-to-bpf call
 * (`call` with src 1) keeps its relative `imm`; `callx` (opcode 0x8d) calls
 * the function whose address is in `dst`; a helper call (src 0) keeps the
 * helper ID and its helper is in {@link helpers}.
 */
export interface VmCode {
  /** The program's name. */
  readonly name: string;
  /** Four i32 words per slot (see above). */
  readonly code: Int32Array;
  /** Number of 8-byte slots. */
  readonly slots: number;
  /**
   * Entry pcs of the functions: 0 first, then every bpf-to-bpf call target
   * and every function whose address is loaded, ascending.
   */
  readonly functions: readonly number[];
  /** The helper of every helper call, by the call's pc. */
  readonly helpers: ReadonlyMap<number, VmHelper>;
  /**
   * Tag of the handle region standing for this program's code: the function
   * at pc `p` has address `codeTag × 2³² + p` (`ld_imm64` src 4, callbacks).
   */
  readonly codeTag: number;
}

/** What a helper sees of the call it serves. */
export interface HelperEnv {
  /** The arena; its views change when it grows. */
  readonly mem: VmMemory;
  /** The collection's runtime: maps, programs, clocks, captured output. */
  readonly runtime: VmRuntime;
  /** The program making the call. */
  readonly code: VmCode;
  /** The pc of the call instruction. */
  readonly pc: number;
  /** r`n` (1–5) as an unsigned number: exact below 2⁵³ (addresses, sizes, flags). */
  arg(n: number): number;
  /** r`n` (1–5) as a full unsigned 64-bit value. */
  argU64(n: number): bigint;
  /**
   * Call the BPF function at `fn` (an address from `ld_imm64` src 4) with
   * r1–r5 = `args` on a fresh stack frame, as `bpf_loop` and
   * `bpf_for_each_map_elem` do; returns its r0 as a number.
   */
  callback(fn: VmAddress, args: readonly number[]): number;
  /**
   * Make the program continue in `target` once this helper returns, as
   * `bpf_tail_call` does: same context in r1, fresh stack. Returns false
   * (and nothing happens) when the run already made 33 tail calls.
   */
  tailCall(target: VmProgramHandle): boolean;
}

/** A helper function by ID (`BPF_FUNC_*`), as plugins register them. */
export interface VmHelper {
  /** The kernel's name without `bpf_`, e.g. `map_lookup_elem`. */
  readonly name: string;
  /**
   * Serve one call. Returns r0: a number (an integer above -2⁵³ and below
   * 2⁵³, negative meaning two's complement, e.g. `-ENOENT`) or a bigint (its
   * low 64 bits). Throwing a {@link import("./errors.ts").VmError} stops the
   * run; argument checks the kernel's verifier would make at load throw
   * `VM_HELPER`.
   */
  call(env: HelperEnv): number | bigint;
}

/** A program a prog array can hold and a tail call can enter. */
export interface VmProgramHandle {
  /** The loaded code. */
  readonly code: VmCode;
  /** BPF_PROG_TYPE_*. */
  readonly type: number;
  /** A per-runtime unique number standing in for the kernel's fd. */
  readonly fd: number;
}

/**
 * A map living in the VM, with the kernel's semantics and errno results.
 *
 * Program-side operations take keys and values as views into the arena
 * (valid during the call only) and return what the kernel helper returns:
 * 0 or a negative errno, or an address. Host-side operations mirror the
 * kernel backend's `KernelMap` and throw `VmError` `VM_MAP` with the errno
 * name the kernel would have returned.
 */
export interface VmMap {
  /** The spec's name. */
  readonly name: string;
  /** BPF_MAP_TYPE_*. */
  readonly type: number;
  /** key_size. */
  readonly keySize: number;
  /** value_size (per CPU for per-CPU maps). */
  readonly valueSize: number;
  /** max_entries. */
  readonly maxEntries: number;
  /** map_flags. */
  readonly flags: number;
  /** The map's handle address, which `ld_imm64` of the map loads. */
  readonly address: VmAddress;
  /** A per-runtime unique number standing in for the kernel's fd. */
  readonly fd: number;

  /** `bpf_map_lookup_elem`: the value's address, or 0. */
  lookupElem(key: Uint8Array): VmAddress;
  /** `bpf_map_update_elem`: 0 or -errno. */
  updateElem(key: Uint8Array, value: Uint8Array, flags: number): number;
  /** `bpf_map_delete_elem`: 0 or -errno. */
  deleteElem(key: Uint8Array): number;

  /** `bpf_map_push_elem` (queue, stack, bloom filter): 0 or -errno. */
  pushElem?(value: Uint8Array, flags: number): number;
  /** `bpf_map_pop_elem` (queue, stack): copies into `out`; 0 or -errno. */
  popElem?(out: Uint8Array): number;
  /** `bpf_map_peek_elem` (queue, stack; bloom filter: 0 when maybe present, -ENOENT when not): 0 or -errno. */
  peekElem?(out: Uint8Array): number;
  /**
   * `bpf_for_each_map_elem`: calls `fn(keyAddress, valueAddress)` per
   * element until it returns non-zero; returns how many elements it visited.
   */
  forEachElem?(fn: (key: VmAddress, value: VmAddress) => number): number;
  /** Prog array: the program at `index`, for `bpf_tail_call`. */
  programAt?(index: number): VmProgramHandle | undefined;
  /** Ring buffer `bpf_ringbuf_output`: 0 or -errno. */
  ringbufOutput?(data: Uint8Array, flags: number): number;
  /** Ring buffer `bpf_ringbuf_reserve`: the record's address, or 0. */
  ringbufReserve?(size: number, flags: number): VmAddress;
  /** Ring buffer `bpf_ringbuf_submit` / `_discard` of a reserved record. */
  ringbufCommit?(record: VmAddress, discard: boolean, flags: number): void;
  /** Ring buffer `bpf_ringbuf_query` (BPF_RB_AVAIL_DATA, RING_SIZE, CONS_POS, PROD_POS). */
  ringbufQuery?(flags: number): number | bigint;
  /** Perf event array `bpf_perf_event_output` to CPU `cpu`: 0 or -errno. */
  perfOutput?(cpu: number, data: Uint8Array): number;

  /** Host: a copy of the value (all CPUs' values back to back for per-CPU maps), or `undefined`. */
  lookup(key: Uint8Array): Uint8Array | undefined;
  /** Host: BPF_ANY, BPF_NOEXIST or BPF_EXIST (plus BPF_F_LOCK where it applies). */
  update(key: Uint8Array, value: Uint8Array, flags?: number): void;
  /** Host: whether a key was deleted (false for a missing key; arrays throw EINVAL). */
  delete(key: Uint8Array): boolean;
  /** Host: every key, in the map's iteration order. */
  keys(): IterableIterator<Uint8Array>;
  /** Host: every key with a copy of its value. */
  entries(): IterableIterator<[Uint8Array, Uint8Array]>;
  /** Host: make the map read-only for programs (BPF_MAP_FREEZE). */
  freeze(): void;
  /** Release the map's memory and regions. */
  close(): void;
}

/** Memory `bpf_probe_read_*` reads from, keyed by full 64-bit addresses. */
export interface ProbeMemory {
  /** `len` bytes at `address`, or `undefined` when any of it is unmapped (the helper then returns -EFAULT). */
  read(address: bigint, len: number): Uint8Array | undefined;
}

/** Settings of a VM runtime: what helpers see of "the system". */
export interface VmRuntimeOptions {
  /** Nanoseconds for `ktime_get_ns`; default a monotonic clock. */
  clock?: () => bigint;
  /** Nanoseconds for `ktime_get_boot_ns`; default `clock`. */
  bootClock?: () => bigint;
  /** Seed of `get_prandom_u32`; default fixed (runs are reproducible). */
  seed?: number;
  /** `get_smp_processor_id`; default 0. */
  cpu?: number;
  /** CPUs per-CPU maps hold values for; default 1. */
  possibleCpus?: number;
  /** `get_current_pid_tgid` (tgid << 32 | pid); default the host process's. */
  pidTgid?: bigint;
  /** `get_current_uid_gid` (gid << 32 | uid); default 0. */
  uidGid?: bigint;
  /** `get_current_comm`; default `"tsbpf"`. */
  comm?: string;
  /** What `probe_read_kernel*` reads. Default: nothing mapped. */
  kernelMemory?: ProbeMemory;
  /** What `probe_read_user*` reads. Default: nothing mapped. */
  userMemory?: ProbeMemory;
  /** Instructions one run may execute before `VM_BUDGET`; default 100,000,000. */
  budget?: number;
}

/** Default instruction budget of one run. */
export const DEFAULT_BUDGET = 100_000_000;

/** The state one collection's programs share in the VM. */
export interface VmRuntime {
  /** The arena. */
  readonly mem: VmMemory;
  /** The settings, defaults filled in where helpers need them. */
  readonly options: Readonly<VmRuntimeOptions>;
  /** Helpers by ID. */
  readonly helpers: ReadonlyMap<number, VmHelper>;
  /** Lines `trace_printk` and friends wrote, oldest first. */
  readonly trace: string[];
  /** The map whose handle address is `address`. */
  mapAt(address: VmAddress): VmMap | undefined;
  /** The map with fd `fd`. */
  mapByFd(fd: number): VmMap | undefined;
  /** The program with fd `fd`. */
  programByFd(fd: number): VmProgramHandle | undefined;
  /** The next `get_prandom_u32` value (u32). */
  random(): number;
  /** A fresh number standing in for a kernel fd (maps, programs). */
  allocFd(): number;
  /** Register a map so `mapAt` / `mapByFd` find it. */
  addMap(map: VmMap): void;
  /** Forget a closed map. */
  removeMap(map: VmMap): void;
  /** Register a program so `programByFd` finds it (prog arrays hold fds). */
  addProgram(program: VmProgramHandle): void;
  /** Forget a closed program. */
  removeProgram(program: VmProgramHandle): void;
  /**
   * Tags of the {@link MAX_CALL_DEPTH} stack frame regions
   * ({@link STACK_SIZE} bytes each, read/write). Frame `d` serves call
   * depth `d`: r10 = `frameTags[d] × 2³² + STACK_SIZE`.
   */
  readonly frameTags: readonly number[];
  /**
   * Frames in use right now. An executor entered for a callback starts at
   * frame `depth`, raises it for every call it makes and restores it when
   * it returns or throws.
   */
  depth: number;
  /** The packet a context points at (`data`, `data_end`), for skb/xdp load/store_bytes. */
  packetOf(ctx: VmAddress): VmPacket | undefined;
}

/** A packet as helpers see it. */
export interface VmPacket {
  /** Address of the first byte (`data`). */
  data: VmAddress;
  /** Address one past the last byte (`data_end`). */
  end: VmAddress;
}

/** Bytes of one stack frame (MAX_BPF_STACK). */
export const STACK_SIZE = 512;
/** Frames a run may use at once (MAX_CALL_FRAMES). */
export const MAX_CALL_DEPTH = 8;
/** Tail calls one run may make (MAX_TAIL_CALL_CNT). */
export const MAX_TAIL_CALLS = 33;

/** What one run of an {@link Executor} returned. */
export interface ExecResult {
  /** r0's low word, unsigned. */
  lo: number;
  /** r0's high word, unsigned. */
  hi: number;
  /** Instructions executed (an `ld_imm64` counts once), tail calls and callbacks included. */
  steps: number;
}

/** Options of {@link Executor.run}. */
export interface ExecOptions {
  /** Instruction budget of this run; default the runtime's (`DEFAULT_BUDGET`). */
  budget?: number;
}

/**
 * A program made runnable by one tier (the interpreter, or the compiled
 * tier). `run` starts at pc 0 with r1–r5 = `args` (missing ones 0) and r10
 * at the top of a fresh 512-byte stack frame, follows tail calls, and
 * returns r0. Faults, budget exhaustion, call depth over 8 and helper
 * errors throw `VmError` naming the pc.
 */
export interface Executor {
  /** Run once. */
  run(args: readonly number[], options?: ExecOptions): ExecResult;
}

/** Execution tiers: `interpret`, or `jit` (compiled to WebAssembly). */
export type VmTier = "interpret" | "jit";
