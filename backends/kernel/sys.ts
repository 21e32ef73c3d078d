/**
 * Thin typed wrappers around bpf(2), one per command. Each takes the
 * {@link Syscalls} as first argument (tests can pass a fake), returns fds or
 * values, and throws {@link SyscallError} (or {@link VerifierError}) on
 * failure. Nothing here holds an fd past an error.
 *
 * ```ts
 * import { syscalls } from "./syscalls.ts";
 * import { closeFd, mapCreate, mapLookup, mapUpdate } from "./sys.ts";
 *
 * const sys = syscalls();
 * const fd = mapCreate(sys, { map_type: 2, key_size: 4, value_size: 8, max_entries: 4 });
 * mapUpdate(sys, fd, new Uint8Array(4), new Uint8Array(8), 0);
 * closeFd(sys, fd);
 * ```
 *
 * @module
 */

import {
  type AttrLayout,
  BPF_ANY,
  BPF_MAP_INFO,
  BPF_PROG_INFO,
  BTF_GET_FD_BY_ID,
  BTF_LOAD,
  encodeAttr,
  encodeAttrInto,
  fieldOffset,
  getName,
  getU32,
  getU64,
  MAP_CREATE,
  MAP_DELETE_ELEM,
  MAP_FREEZE,
  MAP_GET_FD_BY_ID,
  MAP_GET_NEXT_KEY,
  MAP_LOOKUP_BATCH,
  MAP_LOOKUP_ELEM,
  MAP_UPDATE_BATCH,
  MAP_UPDATE_ELEM,
  OBJ_GET,
  OBJ_GET_INFO_BY_FD,
  OBJ_PIN,
  PROG_GET_FD_BY_ID,
  PROG_LOAD,
  PROG_TEST_RUN,
  setField,
  writeNameField,
  writeU32Field,
  writeU64,
} from "./attr.ts";
import { ERRNO, KernelError, SyscallError, VerifierError } from "./errors.ts";
import type { Syscalls } from "./syscalls.ts";

/** The largest log buffer the kernel accepts (`UINT_MAX >> 2`). */
export const MAX_LOG_SIZE = 0xffffffff >>> 2;
/** The first log buffer when the caller gives no size: 64 KiB, like cilium/ebpf. */
export const DEFAULT_LOG_SIZE = 64 * 1024;
// The smallest log buffer kernels before 6.4 accept.
const MIN_LOG_SIZE_OLD = 128;
/** `BPF_F_RDONLY` for {@link objGet} and `open_flags`. */
export const BPF_F_RDONLY = 1 << 3;
/** `BPF_F_WRONLY` for {@link objGet} and `open_flags`. */
export const BPF_F_WRONLY = 1 << 4;

/** How often a load that failed with EAGAIN is tried again (libbpf: 5 attempts in all). */
const EAGAIN_RETRIES = 4;

function call(sys: Syscalls, layout: AttrLayout, attr: Uint8Array): number {
  const r = sys.bpf(layout.cmd, attr);
  if (r < 0) throw new SyscallError(layout.name, -r);
  return r;
}

function cString(s: string): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  if (bytes.includes(0)) {
    throw new KernelError("KERNEL_BAD_ATTR", `string contains NUL: ${JSON.stringify(s)}`);
  }
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return view instanceof Uint8Array
    ? view
    : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * A staging area per {@link Syscalls}: one ArrayBuffer whose address is
 * asked for once, holding the attr at offset 0 and, after it, copies of the
 * small buffers the attr points to (instructions, license, func/line info,
 * map keys and values). Their addresses are then the base plus an offset,
 * plain numbers: no address lookup, no BigInt and no allocation per call.
 * bpf(2) is synchronous, so one area per Syscalls suffices; a call made
 * while it is in use (from a log callback, say) gets a fresh one.
 */
interface Staging {
  bytes: Uint8Array;
  view: DataView;
  /** The address of `bytes`, as a number (user-space addresses fit 53 bits). */
  base: number;
  /** Next free payload offset. */
  used: number;
  busy: boolean;
  /** attr views by size, at offset 0. */
  attrs: Map<number, Uint8Array>;
  /** Payloads too large for the area, written into arrays of their own: alive until release. */
  keep: Uint8Array[];
}

/** Room for the attr; payloads start after it, 8-aligned. */
const ATTR_ROOM = 256;
const STAGING_START = 16 * 1024;
/** Payloads larger than this are passed by their own address, not copied. */
const STAGING_MAX = 1 << 20;

const stagings = new WeakMap<Syscalls, Staging>();

function newStaging(sys: Syscalls, size: number): Staging {
  const bytes = new Uint8Array(new ArrayBuffer(size));
  return {
    bytes,
    view: new DataView(bytes.buffer),
    base: Number(sys.address(bytes)),
    used: ATTR_ROOM,
    busy: true,
    attrs: new Map(),
    keep: [],
  };
}

/**
 * The staging area of `sys` with room for `payload` bytes after the attr,
 * or with none when `payload` is over {@link STAGING_MAX} (the caller then
 * passes buffers by their own address). The attr's `size` bytes are
 * zeroed. Give it back with {@link releaseStaging}.
 */
function acquireStaging(sys: Syscalls, size: number, payload: number): Staging {
  const need = ATTR_ROOM + (payload <= STAGING_MAX ? payload : 0);
  let s = stagings.get(sys);
  if (s === undefined || (!s.busy && s.bytes.length < need)) {
    let cap = STAGING_START;
    while (cap < need) cap *= 2;
    s = newStaging(sys, cap);
    stagings.set(sys, s);
  } else if (s.busy) {
    // Re-entered: a private area for this call, dropped after it.
    s = newStaging(sys, Math.max(need, ATTR_ROOM));
  }
  s.busy = true;
  s.used = ATTR_ROOM;
  s.bytes.fill(0, 0, size);
  return s;
}

function releaseStaging(s: Staging): void {
  s.busy = false;
  if (s.keep.length > 0) s.keep = [];
}

/** The attr of `size` bytes at the start of `s`. */
function stagedAttr(s: Staging, size: number): Uint8Array {
  let attr = s.attrs.get(size);
  if (attr === undefined) {
    attr = s.bytes.subarray(0, size);
    s.attrs.set(size, attr);
  }
  return attr;
}

/**
 * The address the kernel should use for `buf`: a copy in the staging area
 * when it has room (always, for a payload counted in
 * {@link acquireStaging}), else `buf`'s own. An {@link AttrPayload} is
 * written in place; without room, into an array of its own, kept alive in
 * `s.keep` until the staging area is released.
 */
function stage(sys: Syscalls, s: Staging, buf: Uint8Array | AttrPayload): number | bigint {
  if (buf.byteLength === 0) return 0;
  const off = s.used;
  if (off + buf.byteLength > s.bytes.length) {
    if (buf instanceof Uint8Array) return sys.address(buf);
    const own = new Uint8Array(buf.byteLength);
    buf.writeTo(own, 0);
    s.keep.push(own);
    return sys.address(own);
  }
  if (buf instanceof Uint8Array) s.bytes.set(buf, off);
  else buf.writeTo(s.bytes, off);
  s.used = (off + buf.byteLength + 7) & ~7;
  return s.base + off;
}

/** Bytes {@link stage} takes for `buf`, rounded up like it. */
function stagedSize(buf: Uint8Array | AttrPayload | undefined): number {
  return buf === undefined ? 0 : (buf.byteLength + 7) & ~7;
}

// The element commands, the hot path of map access, share one layout.
const ELEM_SIZE = MAP_LOOKUP_ELEM.size;
const ELEM_FD = MAP_LOOKUP_ELEM.fields.map_fd.offset;
const ELEM_KEY = MAP_LOOKUP_ELEM.fields.key.offset;
const ELEM_VALUE = MAP_LOOKUP_ELEM.fields.value.offset;
const ELEM_FLAGS = MAP_LOOKUP_ELEM.fields.flags.offset;

/**
 * Run an element command on `fd` with `key` and `value` staged; `out` says
 * the kernel writes `value` (copied back after a successful call, so bytes
 * the kernel leaves alone keep the caller's contents). Returns the result
 * or -errno for the errnos in `allowed`.
 */
function elemCall(
  sys: Syscalls,
  layout: AttrLayout,
  fd: number,
  key: Uint8Array | undefined,
  value: Uint8Array | undefined,
  options: { flags: number; out: boolean; allowed?: number },
): number {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
    throw new KernelError("KERNEL_BAD_ATTR", `map fd ${fd} is not a file descriptor`);
  }
  const flags = options.flags;
  if (!Number.isInteger(flags) || flags < 0 || flags > Number.MAX_SAFE_INTEGER) {
    throw new KernelError("KERNEL_BAD_ATTR", `map element flags ${flags} are not a u64`);
  }
  const s = acquireStaging(sys, ELEM_SIZE, stagedSize(key) + stagedSize(value));
  try {
    const view = s.view;
    view.setUint32(ELEM_FD, fd, true);
    if (key !== undefined) writeU64(view, ELEM_KEY, stage(sys, s, key));
    const valueAt = s.used;
    const valueAddr = value === undefined ? 0 : stage(sys, s, value);
    writeU64(view, ELEM_VALUE, valueAddr);
    writeU64(view, ELEM_FLAGS, flags);
    const r = sys.bpf(layout.cmd, stagedAttr(s, ELEM_SIZE));
    if (r < 0 && -r !== options.allowed) throw new SyscallError(layout.name, -r);
    if (r >= 0 && options.out && value !== undefined && typeof valueAddr === "number") {
      value.set(s.bytes.subarray(valueAt, valueAt + value.byteLength));
    }
    return r;
  } finally {
    releaseStaging(s);
  }
}

/** `BPF_MAP_CREATE` attributes, by their uapi names; unset ones are 0. */
export interface MapCreateAttrs {
  map_type: number;
  key_size: number;
  value_size: number;
  max_entries: number;
  map_flags?: number;
  inner_map_fd?: number;
  numa_node?: number;
  /** Sanitised to `[A-Za-z0-9_.]`, at most 15 bytes. */
  map_name?: string;
  map_ifindex?: number;
  btf_fd?: number;
  btf_key_type_id?: number;
  btf_value_type_id?: number;
  btf_vmlinux_value_type_id?: number;
  map_extra?: number | bigint;
  value_type_btf_obj_fd?: number;
  map_token_fd?: number;
}

/** `BPF_MAP_CREATE`: a new map's fd. */
export function mapCreate(sys: Syscalls, attrs: MapCreateAttrs): number {
  const s = acquireStaging(sys, MAP_CREATE.size, 0);
  try {
    const view = s.view;
    writeU32Field(view, MC_TYPE, attrs.map_type, MAP_CREATE, "map_type");
    writeU32Field(view, MC_KEY_SIZE, attrs.key_size, MAP_CREATE, "key_size");
    writeU32Field(view, MC_VALUE_SIZE, attrs.value_size, MAP_CREATE, "value_size");
    writeU32Field(view, MC_MAX_ENTRIES, attrs.max_entries, MAP_CREATE, "max_entries");
    // The rarely set fields, and any a caller adds, by name.
    let rest: Record<string, number | bigint | string | undefined> | undefined;
    for (const name in attrs) {
      if (MC_DIRECT.has(name) || !Object.hasOwn(attrs, name)) continue;
      const value = (attrs as unknown as Record<string, number | bigint | string | undefined>)[
        name
      ];
      if (value === undefined) continue;
      (rest ??= {})[name] = value;
    }
    if (rest !== undefined) encodeAttrInto(MAP_CREATE, view, rest);
    return call(sys, MAP_CREATE, stagedAttr(s, MAP_CREATE.size));
  } finally {
    releaseStaging(s);
  }
}

const MC_TYPE = fieldOffset(MAP_CREATE, "map_type");
const MC_KEY_SIZE = fieldOffset(MAP_CREATE, "key_size");
const MC_VALUE_SIZE = fieldOffset(MAP_CREATE, "value_size");
const MC_MAX_ENTRIES = fieldOffset(MAP_CREATE, "max_entries");
const MC_DIRECT = new Set(["map_type", "key_size", "value_size", "max_entries"]);

/**
 * `BPF_MAP_LOOKUP_ELEM`: copy the value of `key` into `value`; false when
 * there is no such key (ENOENT).
 *
 * The kernel reads `key_size` bytes of `key` and writes `value_size` bytes
 * (times the possible CPUs for per-CPU maps) to `value`: the buffers must be
 * at least that large. This layer does not know the map's sizes; the map
 * handle checks them.
 */
export function mapLookup(
  sys: Syscalls,
  fd: number,
  key: Uint8Array,
  value: Uint8Array,
  flags = 0,
): boolean {
  const opts = { flags, out: true, allowed: ERRNO.ENOENT };
  return elemCall(sys, MAP_LOOKUP_ELEM, fd, key, value, opts) >= 0;
}

/**
 * `BPF_MAP_UPDATE_ELEM` with `BPF_ANY`, `BPF_NOEXIST` (EEXIST when the key
 * exists) or `BPF_EXIST` (ENOENT when it does not). Buffer sizes as for
 * {@link mapLookup}.
 */
export function mapUpdate(
  sys: Syscalls,
  fd: number,
  key: Uint8Array,
  value: Uint8Array,
  flags: number = BPF_ANY,
): void {
  elemCall(sys, MAP_UPDATE_ELEM, fd, key, value, { flags, out: false });
}

/** `BPF_MAP_DELETE_ELEM`: false when there is no such key (ENOENT). */
export function mapDelete(sys: Syscalls, fd: number, key: Uint8Array): boolean {
  const opts = { flags: 0, out: false, allowed: ERRNO.ENOENT };
  return elemCall(sys, MAP_DELETE_ELEM, fd, key, undefined, opts) >= 0;
}

/**
 * `BPF_MAP_GET_NEXT_KEY`: write the key after `key` (the first key when
 * `key` is undefined) into `next`; false at the end (ENOENT).
 */
export function mapGetNextKey(
  sys: Syscalls,
  fd: number,
  key: Uint8Array | undefined,
  next: Uint8Array,
): boolean {
  // next_key shares value's offset.
  const opts = { flags: 0, out: true, allowed: ERRNO.ENOENT };
  return elemCall(sys, MAP_GET_NEXT_KEY, fd, key, next, opts) >= 0;
}

/** `BPF_MAP_FREEZE`: make the map read-only for user space. */
export function mapFreeze(sys: Syscalls, fd: number): void {
  const s = acquireStaging(sys, MAP_FREEZE.size, 0);
  try {
    writeU32Field(s.view, 0, fd, MAP_FREEZE, "map_fd");
    call(sys, MAP_FREEZE, stagedAttr(s, MAP_FREEZE.size));
  } finally {
    releaseStaging(s);
  }
}

/** Options of {@link mapLookupBatch}. */
export interface MapLookupBatchOptions {
  /** The batch token from the previous call's `outBatch`; omit to start at the beginning. */
  inBatch?: Uint8Array;
  /** Receives the token to continue from (at least key-size bytes). */
  outBatch: Uint8Array;
  /** Room for `count` keys. */
  keys: Uint8Array;
  /** Room for `count` values. */
  values: Uint8Array;
  /** How many elements to fetch at most. */
  count: number;
  /** `elem_flags`, e.g. `BPF_F_LOCK`. */
  elemFlags?: number;
}

/** What {@link mapLookupBatch} fetched. */
export interface MapLookupBatchResult {
  /** Elements written to `keys` / `values`. */
  count: number;
  /** True when the map has no more elements (the kernel said ENOENT). */
  done: boolean;
}

const NOT_SUPPORTED = [ERRNO.EINVAL, ERRNO.ENOTSUPP, ERRNO.EOPNOTSUPP];

function notSupported(layout: AttrLayout, errno: number): SyscallError {
  return new SyscallError(layout.name, errno, {
    code: "KERNEL_NOT_SUPPORTED",
    hint: "this kernel or map type does not support batch operations (or an argument is invalid)",
  });
}

/**
 * `BPF_MAP_LOOKUP_BATCH`. Throws {@link SyscallError} with code
 * `KERNEL_NOT_SUPPORTED` when the kernel or map type has no batch support
 * (EINVAL, ENOTSUPP, EOPNOTSUPP); ENOSPC (a hash bucket holds more than
 * `count` elements) is a plain {@link SyscallError}: retry with a larger
 * `count`. `keys` and `values` must hold `count` keys and values.
 */
export function mapLookupBatch(
  sys: Syscalls,
  fd: number,
  options: MapLookupBatchOptions,
): MapLookupBatchResult {
  const attr = encodeAttr(MAP_LOOKUP_BATCH, {
    in_batch: options.inBatch === undefined ? 0n : sys.address(options.inBatch),
    out_batch: sys.address(options.outBatch),
    keys: sys.address(options.keys),
    values: sys.address(options.values),
    count: options.count,
    map_fd: fd,
    elem_flags: options.elemFlags ?? 0,
  });
  const r = sys.bpf(MAP_LOOKUP_BATCH.cmd, attr);
  const count = getU32(MAP_LOOKUP_BATCH, attr, "count");
  if (r >= 0) return { count, done: false };
  if (-r === ERRNO.ENOENT) return { count, done: true };
  if (NOT_SUPPORTED.includes(-r)) throw notSupported(MAP_LOOKUP_BATCH, -r);
  throw new SyscallError(MAP_LOOKUP_BATCH.name, -r);
}

/**
 * `BPF_MAP_UPDATE_BATCH` of `count` keys and values laid out back to back;
 * returns how many were written. Unsupported kernels or map types throw
 * {@link SyscallError} with code `KERNEL_NOT_SUPPORTED`.
 */
export function mapUpdateBatch(
  sys: Syscalls,
  fd: number,
  options: { keys: Uint8Array; values: Uint8Array; count: number; elemFlags?: number },
): number {
  const attr = encodeAttr(MAP_UPDATE_BATCH, {
    keys: sys.address(options.keys),
    values: sys.address(options.values),
    count: options.count,
    map_fd: fd,
    elem_flags: options.elemFlags ?? 0,
  });
  const r = sys.bpf(MAP_UPDATE_BATCH.cmd, attr);
  if (r >= 0) return getU32(MAP_UPDATE_BATCH, attr, "count");
  if (NOT_SUPPORTED.includes(-r)) throw notSupported(MAP_UPDATE_BATCH, -r);
  throw new SyscallError(MAP_UPDATE_BATCH.name, -r);
}

/** `BPF_OBJ_PIN`: pin `fd` at `path` on a bpffs. */
export function objPin(sys: Syscalls, fd: number, path: string): void {
  const name = cString(path);
  call(sys, OBJ_PIN, encodeAttr(OBJ_PIN, { pathname: sys.address(name), bpf_fd: fd }));
}

/** `BPF_OBJ_GET`: open the object pinned at `path`; `flags` as `BPF_F_RDONLY`/`BPF_F_WRONLY`. */
export function objGet(sys: Syscalls, path: string, flags = 0): number {
  const name = cString(path);
  return call(
    sys,
    OBJ_GET,
    encodeAttr(OBJ_GET, { pathname: sys.address(name), file_flags: flags }),
  );
}

/** `BPF_PROG_LOAD` attributes, by uapi names; buffers instead of addresses. */
/**
 * Bytes an attr points to, written by their producer straight into the
 * staging area when the command is made (see {@link progLoad}), instead
 * of being built in an array of their own and copied: in Deno every
 * `ArrayBuffer` costs ~0.7 µs to allocate, whatever its size.
 */
export interface AttrPayload {
  /** Size in bytes. */
  readonly byteLength: number;
  /** Write exactly `byteLength` bytes at `out[offset]`. */
  writeTo(out: Uint8Array, offset: number): void;
}

export interface ProgLoadAttrs {
  prog_type: number;
  /** Encoded instructions (8 bytes a slot); `insn_cnt` follows from the length. */
  insns: Uint8Array | AttrPayload;
  /** E.g. `GPL`; NUL-terminated for the kernel. */
  license: string;
  kern_version?: number;
  prog_flags?: number;
  /** Sanitised to `[A-Za-z0-9_.]`, at most 15 bytes. */
  prog_name?: string;
  prog_ifindex?: number;
  expected_attach_type?: number;
  prog_btf_fd?: number;
  /** `bpf_func_info` records; `func_info_cnt` follows from the length. */
  func_info?: Uint8Array | AttrPayload;
  func_info_rec_size?: number;
  /** `bpf_line_info` records; `line_info_cnt` follows from the length. */
  line_info?: Uint8Array | AttrPayload;
  line_info_rec_size?: number;
  attach_btf_id?: number;
  attach_prog_fd?: number;
  attach_btf_obj_fd?: number;
  /** fds the instructions refer to by index (`BPF_PSEUDO_MAP_IDX`, kfunc modules). */
  fd_array?: Int32Array;
  prog_token_fd?: number;
}

/** Verifier log options of {@link progLoad} and {@link btfLoad}. */
export interface LogOptions {
  /** Log level of the first attempt; 0 (default) loads without a log and logs only on failure. */
  logLevel?: number;
  /** First log buffer size (default 64 KiB); grown as needed. */
  logSizeStart?: number;
  /** The contract's name for `logSizeStart`; 0 means `logDisabled` (as for probes). */
  logSize?: number;
  /** Cap on the log buffer (default and at most the kernel's, {@link MAX_LOG_SIZE}). */
  logSizeMax?: number;
  /** Never ask for a log (a rejection then has an empty log). */
  logDisabled?: boolean;
  /** Receives the log when one was requested and the load succeeded. */
  onLog?: (log: string) => void;
}

interface LogFields {
  level: string;
  size: string;
  buf: string;
  trueSize: string;
}

const PROG_LOG: LogFields = {
  level: "log_level",
  size: "log_size",
  buf: "log_buf",
  trueSize: "log_true_size",
};
const BTF_LOG: LogFields = {
  level: "btf_log_level",
  size: "btf_log_size",
  buf: "btf_log_buf",
  trueSize: "btf_log_true_size",
};

function decodeLog(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return new TextDecoder().decode(end < 0 ? buf : buf.subarray(0, end));
}

// The errnos with which the verifier (or the BTF checker) rejects its input.
function isRejection(errno: number): boolean {
  return errno === ERRNO.EACCES || errno === ERRNO.EINVAL;
}

// A VerifierError when the kernel rejected the input or left a log; a plain
// SyscallError for anything else (EPERM, ENOMEM, E2BIG without a log).
function rejection(command: string, errno: number, log: string, truncated: boolean): SyscallError {
  if (log === "" && !isRejection(errno) && !truncated) return new SyscallError(command, errno);
  return new VerifierError(command, errno, log, { truncated });
}

/**
 * Run a load command, retrying with a verifier log like libbpf and
 * cilium/ebpf: first without a log (unless `logLevel` asks for one); on
 * any error again with `log_level` 1 (as libbpf does); on ENOSPC (or when the kernel's
 * `log_true_size` says so) with a larger buffer, until the log fits or the
 * kernel's cap is reached.
 */
function loadWithLog(
  sys: Syscalls,
  layout: AttrLayout,
  attr: Uint8Array,
  fields: LogFields,
  options: LogOptions,
): number {
  const disabled = options.logDisabled === true || options.logSize === 0;
  let level = disabled ? 0 : options.logLevel ?? 0;
  const start = options.logSizeStart ?? options.logSize ?? DEFAULT_LOG_SIZE;
  const max = Math.min(Math.max(1, Math.floor(options.logSizeMax ?? MAX_LOG_SIZE)), MAX_LOG_SIZE);
  let size = Math.min(Math.max(1, Math.floor(start)), max);
  let log: Uint8Array | undefined;
  const attach = () => {
    log = new Uint8Array(size);
    setField(layout, attr, fields.level, level);
    setField(layout, attr, fields.size, size);
    setField(layout, attr, fields.buf, sys.address(log));
    setField(layout, attr, fields.trueSize, 0);
  };
  if (level !== 0) attach();
  let retries = EAGAIN_RETRIES;
  for (;;) {
    const r = sys.bpf(layout.cmd, attr);
    // The kernel's EAGAIN is transient (a verification interrupted, deferred
    // frees not done yet): try again, as libbpf's sys_bpf_prog_load does.
    if (r === -ERRNO.EAGAIN && retries-- > 0) continue;
    if (r >= 0) {
      if (log !== undefined && options.onLog) options.onLog(decodeLog(log));
      return r;
    }
    const errno = -r;
    if (disabled) throw rejection(layout.name, errno, "", false);
    if (log === undefined) {
      // Any errno may come with the kernel's reason in the log (ENOENT for
      // a ksym without an address, EINVAL, EACCES, ...): ask again with a
      // log, as libbpf does, whatever the errno.
      level = 1;
      attach();
      continue;
    }
    const trueSize = getU32(layout, attr, fields.trueSize);
    // Kernels < 6.4 refuse buffers under 128 bytes with EINVAL and an empty log.
    const tooSmall = errno === ERRNO.ENOSPC || trueSize > size ||
      (size < MIN_LOG_SIZE_OLD && log[0] === 0);
    if (!tooSmall) throw rejection(layout.name, errno, decodeLog(log), false);
    if (size >= max) throw rejection(layout.name, errno, decodeLog(log), true);
    // Kernels >= 6.4 say exactly how much they need; older ones make us guess.
    size = Math.min(trueSize > size ? trueSize : size * 8, max);
    attach();
  }
}

/**
 * `BPF_PROG_LOAD`: the new program's fd. A rejection throws
 * {@link VerifierError} with the complete verifier log (never silently
 * truncated: `truncated` is true only when even the kernel's largest log
 * buffer was too small).
 */
export function progLoad(sys: Syscalls, attrs: ProgLoadAttrs, options: LogOptions = {}): number {
  if (attrs.insns.byteLength % 8 !== 0 || attrs.insns.byteLength === 0) {
    throw new KernelError(
      "KERNEL_BAD_ATTR",
      `BPF_PROG_LOAD: instructions are ${attrs.insns.byteLength} bytes, not a non-zero multiple of 8`,
    );
  }
  const recCount = (
    what: string,
    buf: Uint8Array | AttrPayload | undefined,
    rec: number | undefined,
  ) => {
    if (buf === undefined) return 0;
    if (!rec || buf.byteLength % rec !== 0) {
      throw new KernelError(
        "KERNEL_BAD_ATTR",
        `BPF_PROG_LOAD: ${what} is ${buf.byteLength} bytes, not a multiple of its record size ${rec}`,
      );
    }
    return buf.byteLength / rec;
  };
  const funcInfoCnt = recCount("func_info", attrs.func_info, attrs.func_info_rec_size);
  const lineInfoCnt = recCount("line_info", attrs.line_info, attrs.line_info_rec_size);
  const fdArray = attrs.fd_array === undefined ? undefined : bytesOf(attrs.fd_array);
  const license = typeof attrs.license === "string" ? attrs.license : String(attrs.license ?? "");
  if (license.includes("\0")) {
    throw new KernelError("KERNEL_BAD_ATTR", `string contains NUL: ${JSON.stringify(license)}`);
  }
  // A license is short ASCII in practice; anything else goes through the encoder.
  const licenseBytes = license.length < 4096 && isAscii(license) ? undefined : cString(license);
  const licenseLen = licenseBytes?.byteLength ?? license.length + 1;
  const payload = stagedSize(attrs.insns) + ((licenseLen + 7) & ~7) +
    (funcInfoCnt ? stagedSize(attrs.func_info) : 0) +
    (lineInfoCnt ? stagedSize(attrs.line_info) : 0) + stagedSize(fdArray);
  const s = acquireStaging(sys, PROG_LOAD.size, payload);
  try {
    const view = s.view;
    const L = PROG_LOAD;
    writeU32Field(view, PL.prog_type, attrs.prog_type, L, "prog_type");
    view.setUint32(PL.insn_cnt, attrs.insns.byteLength / 8, true);
    // The license first: a short one always fits the area's first 16 KiB.
    writeU64(view, PL.license, stageLicense(sys, s, license, licenseBytes));
    writeU64(view, PL.insns, stage(sys, s, attrs.insns));
    writeU32Field(view, PL.kern_version, attrs.kern_version, L, "kern_version");
    writeU32Field(view, PL.prog_flags, attrs.prog_flags, L, "prog_flags");
    writeNameField(view, PL.prog_name, attrs.prog_name, L, "prog_name");
    writeU32Field(view, PL.prog_ifindex, attrs.prog_ifindex, L, "prog_ifindex");
    writeU32Field(
      view,
      PL.expected_attach_type,
      attrs.expected_attach_type,
      L,
      "expected_attach_type",
    );
    writeU32Field(view, PL.prog_btf_fd, attrs.prog_btf_fd, L, "prog_btf_fd");
    if (funcInfoCnt) {
      writeU32Field(view, PL.func_info_rec_size, attrs.func_info_rec_size, L, "func_info_rec_size");
      writeU64(view, PL.func_info, stage(sys, s, attrs.func_info!));
      view.setUint32(PL.func_info_cnt, funcInfoCnt, true);
    }
    if (lineInfoCnt) {
      writeU32Field(view, PL.line_info_rec_size, attrs.line_info_rec_size, L, "line_info_rec_size");
      writeU64(view, PL.line_info, stage(sys, s, attrs.line_info!));
      view.setUint32(PL.line_info_cnt, lineInfoCnt, true);
    }
    writeU32Field(view, PL.attach_btf_id, attrs.attach_btf_id, L, "attach_btf_id");
    // attach_prog_fd and attach_btf_obj_fd share their offset: the latter wins, as before.
    writeU32Field(view, PL.attach_prog_fd, attrs.attach_prog_fd, L, "attach_prog_fd");
    writeU32Field(view, PL.attach_btf_obj_fd, attrs.attach_btf_obj_fd, L, "attach_btf_obj_fd");
    if (fdArray !== undefined) writeU64(view, PL.fd_array, stage(sys, s, fdArray));
    writeU32Field(view, PL.prog_token_fd, attrs.prog_token_fd, L, "prog_token_fd");
    const fd = loadWithLog(sys, PROG_LOAD, stagedAttr(s, PROG_LOAD.size), PROG_LOG, options);
    // Buffers too large to copy were passed by address: keep them alive until here.
    void attrs.insns;
    void licenseBytes;
    void fdArray;
    return fd;
  } finally {
    releaseStaging(s);
  }
}

/** Offsets of the `BPF_PROG_LOAD` fields {@link progLoad} writes. */
const PL = Object.fromEntries(
  Object.entries(PROG_LOAD.fields).map(([name, f]) => [name, f.offset]),
) as Record<keyof typeof PROG_LOAD.fields, number>;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/**
 * The license as a C string in the staging area; its address. `bytes` is
 * its encoding when it is not short ASCII (staged, or passed by address).
 */
function stageLicense(
  sys: Syscalls,
  s: Staging,
  license: string,
  bytes: Uint8Array | undefined,
): number | bigint {
  if (bytes !== undefined) return stage(sys, s, bytes);
  const off = s.used;
  const out = s.bytes;
  for (let i = 0; i < license.length; i++) out[off + i] = license.charCodeAt(i);
  out[off + license.length] = 0;
  s.used = (off + license.length + 1 + 7) & ~7;
  return s.base + off;
}

/** `BPF_BTF_LOAD`: the BTF object's fd; a rejection throws {@link VerifierError} with the BTF log. */
export function btfLoad(sys: Syscalls, blob: Uint8Array, options: LogOptions = {}): number {
  const s = acquireStaging(sys, BTF_LOAD.size, stagedSize(blob));
  try {
    writeU64(s.view, BTF_LOAD.fields.btf.offset, stage(sys, s, blob));
    writeU32Field(s.view, BTF_LOAD.fields.btf_size.offset, blob.byteLength, BTF_LOAD, "btf_size");
    const fd = loadWithLog(sys, BTF_LOAD, stagedAttr(s, BTF_LOAD.size), BTF_LOG, options);
    void blob;
    return fd;
  } finally {
    releaseStaging(s);
  }
}

/** Options of {@link progTestRun}. */
export interface ProgTestRunOptions {
  /** Packet data (`data_in`). */
  dataIn?: Uint8Array;
  /** Room for output data (`data_out`); 0 or unset for none. */
  dataOutSize?: number;
  /** Context (`ctx_in`), e.g. a `struct __sk_buff`. */
  ctxIn?: Uint8Array;
  /** Room for the output context (`ctx_out`). */
  ctxOutSize?: number;
  /** Runs to average `duration` over (kernel default 1). */
  repeat?: number;
  /** `BPF_F_TEST_RUN_ON_CPU` and friends. */
  flags?: number;
  /** CPU to run on with `BPF_F_TEST_RUN_ON_CPU`. */
  cpu?: number;
  /** `batch_size` for XDP live frames. */
  batchSize?: number;
}

/** What {@link progTestRun} returns. */
export interface ProgTestRunResult {
  /** The program's return value (u32). */
  retval: number;
  /** Output data, trimmed to `data_size_out`; empty without `dataOutSize`. */
  dataOut: Uint8Array;
  /** Output context, trimmed to `ctx_size_out`; empty without `ctxOutSize`. */
  ctxOut: Uint8Array;
  /** Average run time in nanoseconds. */
  duration: number;
}

/** `BPF_PROG_TEST_RUN`. */
export function progTestRun(
  sys: Syscalls,
  fd: number,
  options: ProgTestRunOptions = {},
): ProgTestRunResult {
  const dataOut = options.dataOutSize ? new Uint8Array(options.dataOutSize) : undefined;
  const ctxOut = options.ctxOutSize ? new Uint8Array(options.ctxOutSize) : undefined;
  const { dataIn, ctxIn } = options;
  const attr = encodeAttr(PROG_TEST_RUN, {
    prog_fd: fd,
    data_size_in: dataIn?.byteLength,
    data_in: dataIn === undefined ? undefined : sys.address(dataIn),
    data_size_out: dataOut?.byteLength,
    data_out: dataOut === undefined ? undefined : sys.address(dataOut),
    ctx_size_in: ctxIn?.byteLength,
    ctx_in: ctxIn === undefined ? undefined : sys.address(ctxIn),
    ctx_size_out: ctxOut?.byteLength,
    ctx_out: ctxOut === undefined ? undefined : sys.address(ctxOut),
    repeat: options.repeat,
    flags: options.flags,
    cpu: options.cpu,
    batch_size: options.batchSize,
  });
  call(sys, PROG_TEST_RUN, attr);
  const dataSize = getU32(PROG_TEST_RUN, attr, "data_size_out");
  const ctxSize = getU32(PROG_TEST_RUN, attr, "ctx_size_out");
  return {
    retval: getU32(PROG_TEST_RUN, attr, "retval"),
    dataOut: dataOut?.subarray(0, Math.min(dataSize, dataOut.byteLength)) ?? new Uint8Array(0),
    ctxOut: ctxOut?.subarray(0, Math.min(ctxSize, ctxOut.byteLength)) ?? new Uint8Array(0),
    duration: getU32(PROG_TEST_RUN, attr, "duration"),
  };
}

/**
 * `BPF_OBJ_GET_INFO_BY_FD` into a zeroed buffer of `infoSize` bytes (or of
 * `info`, whose pointer fields the caller may have filled). Returns the
 * buffer trimmed to the `info_len` the kernel wrote.
 */
export function objGetInfoByFd(
  sys: Syscalls,
  fd: number,
  infoSize: number | Uint8Array,
): Uint8Array {
  const info = typeof infoSize === "number" ? new Uint8Array(infoSize) : infoSize;
  const attr = encodeAttr(OBJ_GET_INFO_BY_FD, {
    bpf_fd: fd,
    info_len: info.byteLength,
    info: sys.address(info),
  });
  call(sys, OBJ_GET_INFO_BY_FD, attr);
  return info.subarray(0, Math.min(getU32(OBJ_GET_INFO_BY_FD, attr, "info_len"), info.byteLength));
}

/** The fields of `struct bpf_prog_info` tsbpf reads. */
export interface ProgInfo {
  type: number;
  id: number;
  /** The program tag (sha1 prefix of the instructions), 16 hex digits. */
  tag: string;
  jitedProgLen: number;
  xlatedProgLen: number;
  name: string;
  nrMapIds: number;
  /** Ids of the maps the program uses (from a second call with a buffer). */
  mapIds: number[];
  btfId: number;
  verifiedInsns: number;
}

/** The fields of `struct bpf_map_info` tsbpf reads. */
export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  name: string;
  btfId: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  mapExtra: bigint;
}

function padded(info: Uint8Array, size: number): Uint8Array {
  if (info.byteLength >= size) return info;
  // Older kernels write a shorter struct; the missing fields read as 0.
  const out = new Uint8Array(size);
  out.set(info);
  return out;
}

/** Decode a `struct bpf_prog_info` (map ids left empty; see {@link progInfoByFd}). */
export function decodeProgInfo(info: Uint8Array): ProgInfo {
  const b = padded(info, BPF_PROG_INFO.size);
  const tag = Array.from(b.subarray(8, 16), (x) => x.toString(16).padStart(2, "0")).join("");
  return {
    type: getU32(BPF_PROG_INFO, b, "type"),
    id: getU32(BPF_PROG_INFO, b, "id"),
    tag,
    jitedProgLen: getU32(BPF_PROG_INFO, b, "jited_prog_len"),
    xlatedProgLen: getU32(BPF_PROG_INFO, b, "xlated_prog_len"),
    name: getName(BPF_PROG_INFO, b, "name"),
    nrMapIds: getU32(BPF_PROG_INFO, b, "nr_map_ids"),
    mapIds: [],
    btfId: getU32(BPF_PROG_INFO, b, "btf_id"),
    verifiedInsns: getU32(BPF_PROG_INFO, b, "verified_insns"),
  };
}

/** Decode a `struct bpf_map_info`. */
export function decodeMapInfo(info: Uint8Array): MapInfo {
  const b = padded(info, BPF_MAP_INFO.size);
  return {
    type: getU32(BPF_MAP_INFO, b, "type"),
    id: getU32(BPF_MAP_INFO, b, "id"),
    keySize: getU32(BPF_MAP_INFO, b, "key_size"),
    valueSize: getU32(BPF_MAP_INFO, b, "value_size"),
    maxEntries: getU32(BPF_MAP_INFO, b, "max_entries"),
    mapFlags: getU32(BPF_MAP_INFO, b, "map_flags"),
    name: getName(BPF_MAP_INFO, b, "name"),
    btfId: getU32(BPF_MAP_INFO, b, "btf_id"),
    btfKeyTypeId: getU32(BPF_MAP_INFO, b, "btf_key_type_id"),
    btfValueTypeId: getU32(BPF_MAP_INFO, b, "btf_value_type_id"),
    mapExtra: getU64(BPF_MAP_INFO, b, "map_extra"),
  };
}

/** A program's info, with its map ids (a second call with a buffer for them). */
export function progInfoByFd(sys: Syscalls, fd: number): ProgInfo {
  const info = decodeProgInfo(objGetInfoByFd(sys, fd, BPF_PROG_INFO.size));
  if (info.nrMapIds === 0) return info;
  const ids = new Uint32Array(info.nrMapIds);
  const idBytes = bytesOf(ids);
  const buf = encodeAttr(BPF_PROG_INFO, {
    nr_map_ids: info.nrMapIds,
    map_ids: sys.address(idBytes),
  });
  const second = decodeProgInfo(objGetInfoByFd(sys, fd, buf));
  const n = Math.min(second.nrMapIds, ids.length);
  return { ...second, mapIds: Array.from(ids.subarray(0, n)) };
}

/** A map's info. */
export function mapInfoByFd(sys: Syscalls, fd: number): MapInfo {
  return decodeMapInfo(objGetInfoByFd(sys, fd, BPF_MAP_INFO.size));
}

/** `BPF_PROG_GET_FD_BY_ID`: an fd for the program with this id. */
export function progGetFdById(sys: Syscalls, id: number, openFlags = 0): number {
  return call(
    sys,
    PROG_GET_FD_BY_ID,
    encodeAttr(PROG_GET_FD_BY_ID, { id, open_flags: openFlags }),
  );
}

/** `BPF_MAP_GET_FD_BY_ID`: an fd for the map with this id. */
export function mapGetFdById(sys: Syscalls, id: number, openFlags = 0): number {
  return call(sys, MAP_GET_FD_BY_ID, encodeAttr(MAP_GET_FD_BY_ID, { id, open_flags: openFlags }));
}

/** `BPF_BTF_GET_FD_BY_ID`: an fd for the BTF object with this id. */
export function btfGetFdById(sys: Syscalls, id: number, openFlags = 0): number {
  return call(sys, BTF_GET_FD_BY_ID, encodeAttr(BTF_GET_FD_BY_ID, { id, open_flags: openFlags }));
}

/** close(2) an fd; throws {@link SyscallError} (command `close`) on failure, e.g. EBADF. */
export function closeFd(sys: Syscalls, fd: number): void {
  const r = sys.close(fd);
  if (r < 0) throw new SyscallError("close", -r);
}
