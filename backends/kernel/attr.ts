/**
 * `union bpf_attr` layouts for the bpf(2) commands tsbpf uses, in one place,
 * with the kernel's field names and offsets (`include/uapi/linux/bpf.h`),
 * and a small encoder/decoder for them.
 *
 * ```ts
 * import { encodeAttr, MAP_CREATE } from "./attr.ts";
 *
 * const attr = encodeAttr(MAP_CREATE, { map_type: 2, key_size: 4, value_size: 8, max_entries: 1 });
 * ```
 *
 * @module
 */

import { KernelError } from "./errors.ts";

/** bpf(2) command numbers (`enum bpf_cmd`), without the `BPF_` prefix. */
export const BPF_CMD = Object.freeze(
  {
    MAP_CREATE: 0,
    MAP_LOOKUP_ELEM: 1,
    MAP_UPDATE_ELEM: 2,
    MAP_DELETE_ELEM: 3,
    MAP_GET_NEXT_KEY: 4,
    PROG_LOAD: 5,
    OBJ_PIN: 6,
    OBJ_GET: 7,
    PROG_ATTACH: 8,
    PROG_DETACH: 9,
    PROG_TEST_RUN: 10,
    PROG_GET_NEXT_ID: 11,
    MAP_GET_NEXT_ID: 12,
    PROG_GET_FD_BY_ID: 13,
    MAP_GET_FD_BY_ID: 14,
    OBJ_GET_INFO_BY_FD: 15,
    PROG_QUERY: 16,
    RAW_TRACEPOINT_OPEN: 17,
    BTF_LOAD: 18,
    BTF_GET_FD_BY_ID: 19,
    TASK_FD_QUERY: 20,
    MAP_LOOKUP_AND_DELETE_ELEM: 21,
    MAP_FREEZE: 22,
    BTF_GET_NEXT_ID: 23,
    MAP_LOOKUP_BATCH: 24,
    MAP_LOOKUP_AND_DELETE_BATCH: 25,
    MAP_UPDATE_BATCH: 26,
    MAP_DELETE_BATCH: 27,
    LINK_CREATE: 28,
    LINK_UPDATE: 29,
    LINK_GET_FD_BY_ID: 30,
    LINK_GET_NEXT_ID: 31,
    ENABLE_STATS: 32,
    ITER_CREATE: 33,
    LINK_DETACH: 34,
    PROG_BIND_MAP: 35,
  } as const,
);

/** A command name as the kernel spells it: `BPF_MAP_CREATE` for {@link BPF_CMD}.MAP_CREATE. */
export function commandName(cmd: number): string {
  for (const [name, value] of Object.entries(BPF_CMD)) if (value === cmd) return `BPF_${name}`;
  return `BPF_CMD_${cmd}`;
}

/** `BPF_ANY`: create a new element or update an existing one. */
export const BPF_ANY = 0;
/** `BPF_NOEXIST`: create a new element only if it does not exist. */
export const BPF_NOEXIST = 1;
/** `BPF_EXIST`: update an existing element only. */
export const BPF_EXIST = 2;
/** `BPF_F_LOCK`: spin-locked update/lookup. */
export const BPF_F_LOCK = 4;
/** `BPF_OBJ_NAME_LEN`: map and program names, NUL included. */
export const BPF_OBJ_NAME_LEN = 16;

/** How a field is stored: a u32, a u64 (pointers are u64 addresses), or `char[16]`. */
export type FieldKind = "u32" | "u64" | "name";

/** One field of a layout. */
export interface AttrField {
  /** Byte offset in `union bpf_attr` (or the info struct). */
  readonly offset: number;
  /** Storage kind. */
  readonly kind: FieldKind;
}

/** The part of `union bpf_attr` one command uses. */
export interface AttrLayout {
  /** The command (from {@link BPF_CMD}); -1 for info structs. */
  readonly cmd: number;
  /** The uapi name (`BPF_MAP_CREATE`, `bpf_prog_info`). */
  readonly name: string;
  /** Bytes to pass: up to the end of the last field listed. */
  readonly size: number;
  /** Fields by uapi name. */
  readonly fields: Readonly<Record<string, AttrField>>;
}

const KIND_SIZE: Record<FieldKind, number> = { u32: 4, u64: 8, name: BPF_OBJ_NAME_LEN };

function layout(
  cmd: number,
  name: string,
  fields: ReadonlyArray<readonly [string, number, FieldKind]>,
  size?: number,
): AttrLayout {
  const out: Record<string, AttrField> = {};
  let end = 0;
  for (const [field, offset, kind] of fields) {
    out[field] = Object.freeze({ offset, kind });
    end = Math.max(end, offset + KIND_SIZE[kind]);
  }
  return Object.freeze({ cmd, name, size: size ?? end, fields: Object.freeze(out) });
}

/** `BPF_MAP_CREATE` (up to `map_token_fd`, 6.9). */
export const MAP_CREATE: AttrLayout = layout(BPF_CMD.MAP_CREATE, "BPF_MAP_CREATE", [
  ["map_type", 0, "u32"],
  ["key_size", 4, "u32"],
  ["value_size", 8, "u32"],
  ["max_entries", 12, "u32"],
  ["map_flags", 16, "u32"],
  ["inner_map_fd", 20, "u32"],
  ["numa_node", 24, "u32"],
  ["map_name", 28, "name"],
  ["map_ifindex", 44, "u32"],
  ["btf_fd", 48, "u32"],
  ["btf_key_type_id", 52, "u32"],
  ["btf_value_type_id", 56, "u32"],
  ["btf_vmlinux_value_type_id", 60, "u32"],
  ["map_extra", 64, "u64"],
  ["value_type_btf_obj_fd", 72, "u32"],
  ["map_token_fd", 76, "u32"],
]);

const ELEM_FIELDS = [
  ["map_fd", 0, "u32"],
  ["key", 8, "u64"],
  ["value", 16, "u64"],
  ["flags", 24, "u64"],
] as const;

/** `BPF_MAP_LOOKUP_ELEM`. */
export const MAP_LOOKUP_ELEM: AttrLayout = layout(
  BPF_CMD.MAP_LOOKUP_ELEM,
  "BPF_MAP_LOOKUP_ELEM",
  ELEM_FIELDS,
);
/** `BPF_MAP_UPDATE_ELEM`. */
export const MAP_UPDATE_ELEM: AttrLayout = layout(
  BPF_CMD.MAP_UPDATE_ELEM,
  "BPF_MAP_UPDATE_ELEM",
  ELEM_FIELDS,
);
/** `BPF_MAP_DELETE_ELEM`. */
export const MAP_DELETE_ELEM: AttrLayout = layout(
  BPF_CMD.MAP_DELETE_ELEM,
  "BPF_MAP_DELETE_ELEM",
  ELEM_FIELDS,
);
/** `BPF_MAP_GET_NEXT_KEY`: `next_key` shares `value`'s offset. */
export const MAP_GET_NEXT_KEY: AttrLayout = layout(
  BPF_CMD.MAP_GET_NEXT_KEY,
  "BPF_MAP_GET_NEXT_KEY",
  [
    ["map_fd", 0, "u32"],
    ["key", 8, "u64"],
    ["next_key", 16, "u64"],
  ],
);
/** `BPF_MAP_FREEZE`. */
export const MAP_FREEZE: AttrLayout = layout(BPF_CMD.MAP_FREEZE, "BPF_MAP_FREEZE", [
  ["map_fd", 0, "u32"],
]);

const BATCH_FIELDS = [
  ["in_batch", 0, "u64"],
  ["out_batch", 8, "u64"],
  ["keys", 16, "u64"],
  ["values", 24, "u64"],
  ["count", 32, "u32"],
  ["map_fd", 36, "u32"],
  ["elem_flags", 40, "u64"],
  ["flags", 48, "u64"],
] as const;

/** `BPF_MAP_LOOKUP_BATCH` (`attr.batch`). */
export const MAP_LOOKUP_BATCH: AttrLayout = layout(
  BPF_CMD.MAP_LOOKUP_BATCH,
  "BPF_MAP_LOOKUP_BATCH",
  BATCH_FIELDS,
);
/** `BPF_MAP_UPDATE_BATCH` (`attr.batch`). */
export const MAP_UPDATE_BATCH: AttrLayout = layout(
  BPF_CMD.MAP_UPDATE_BATCH,
  "BPF_MAP_UPDATE_BATCH",
  BATCH_FIELDS,
);
/** `BPF_MAP_DELETE_BATCH` (`attr.batch`). */
export const MAP_DELETE_BATCH: AttrLayout = layout(
  BPF_CMD.MAP_DELETE_BATCH,
  "BPF_MAP_DELETE_BATCH",
  BATCH_FIELDS,
);

/** `BPF_PROG_LOAD` (up to `fd_array_cnt`, 6.14). */
export const PROG_LOAD: AttrLayout = layout(BPF_CMD.PROG_LOAD, "BPF_PROG_LOAD", [
  ["prog_type", 0, "u32"],
  ["insn_cnt", 4, "u32"],
  ["insns", 8, "u64"],
  ["license", 16, "u64"],
  ["log_level", 24, "u32"],
  ["log_size", 28, "u32"],
  ["log_buf", 32, "u64"],
  ["kern_version", 40, "u32"],
  ["prog_flags", 44, "u32"],
  ["prog_name", 48, "name"],
  ["prog_ifindex", 64, "u32"],
  ["expected_attach_type", 68, "u32"],
  ["prog_btf_fd", 72, "u32"],
  ["func_info_rec_size", 76, "u32"],
  ["func_info", 80, "u64"],
  ["func_info_cnt", 88, "u32"],
  ["line_info_rec_size", 92, "u32"],
  ["line_info", 96, "u64"],
  ["line_info_cnt", 104, "u32"],
  ["attach_btf_id", 108, "u32"],
  // A union: a prog fd for freplace/extension targets, a module BTF fd otherwise.
  ["attach_prog_fd", 112, "u32"],
  ["attach_btf_obj_fd", 112, "u32"],
  ["core_relo_cnt", 116, "u32"],
  ["fd_array", 120, "u64"],
  ["core_relos", 128, "u64"],
  ["core_relo_rec_size", 136, "u32"],
  ["log_true_size", 140, "u32"],
  ["prog_token_fd", 144, "u32"],
  ["fd_array_cnt", 148, "u32"],
]);

const OBJ_FIELDS = [
  ["pathname", 0, "u64"],
  ["bpf_fd", 8, "u32"],
  ["file_flags", 12, "u32"],
] as const;

/** `BPF_OBJ_PIN`. */
export const OBJ_PIN: AttrLayout = layout(BPF_CMD.OBJ_PIN, "BPF_OBJ_PIN", OBJ_FIELDS);
/** `BPF_OBJ_GET`. */
export const OBJ_GET: AttrLayout = layout(BPF_CMD.OBJ_GET, "BPF_OBJ_GET", OBJ_FIELDS);

/** `BPF_PROG_TEST_RUN` (`attr.test`). */
export const PROG_TEST_RUN: AttrLayout = layout(BPF_CMD.PROG_TEST_RUN, "BPF_PROG_TEST_RUN", [
  ["prog_fd", 0, "u32"],
  ["retval", 4, "u32"],
  ["data_size_in", 8, "u32"],
  ["data_size_out", 12, "u32"],
  ["data_in", 16, "u64"],
  ["data_out", 24, "u64"],
  ["repeat", 32, "u32"],
  ["duration", 36, "u32"],
  ["ctx_size_in", 40, "u32"],
  ["ctx_size_out", 44, "u32"],
  ["ctx_in", 48, "u64"],
  ["ctx_out", 56, "u64"],
  ["flags", 64, "u32"],
  ["cpu", 68, "u32"],
  ["batch_size", 72, "u32"],
], 80);

const GET_FD_BY_ID_FIELDS = [
  ["id", 0, "u32"],
  ["next_id", 4, "u32"],
  ["open_flags", 8, "u32"],
] as const;

/** `BPF_PROG_GET_FD_BY_ID` (`prog_id`, here `id`: a union of the id fields). */
export const PROG_GET_FD_BY_ID: AttrLayout = layout(
  BPF_CMD.PROG_GET_FD_BY_ID,
  "BPF_PROG_GET_FD_BY_ID",
  GET_FD_BY_ID_FIELDS,
);
/** `BPF_MAP_GET_FD_BY_ID` (`map_id`, here `id`). */
export const MAP_GET_FD_BY_ID: AttrLayout = layout(
  BPF_CMD.MAP_GET_FD_BY_ID,
  "BPF_MAP_GET_FD_BY_ID",
  GET_FD_BY_ID_FIELDS,
);
/** `BPF_BTF_GET_FD_BY_ID` (`btf_id`, here `id`). */
export const BTF_GET_FD_BY_ID: AttrLayout = layout(
  BPF_CMD.BTF_GET_FD_BY_ID,
  "BPF_BTF_GET_FD_BY_ID",
  GET_FD_BY_ID_FIELDS,
);

/** `BPF_BTF_GET_NEXT_ID` (`start_id`, here `id`; the kernel writes `next_id`). */
export const BTF_GET_NEXT_ID: AttrLayout = layout(
  BPF_CMD.BTF_GET_NEXT_ID,
  "BPF_BTF_GET_NEXT_ID",
  GET_FD_BY_ID_FIELDS,
);

/** `BPF_OBJ_GET_INFO_BY_FD` (`attr.info`). */
export const OBJ_GET_INFO_BY_FD: AttrLayout = layout(
  BPF_CMD.OBJ_GET_INFO_BY_FD,
  "BPF_OBJ_GET_INFO_BY_FD",
  [["bpf_fd", 0, "u32"], ["info_len", 4, "u32"], ["info", 8, "u64"]],
);

/** `BPF_BTF_LOAD` (up to `btf_token_fd`, 6.9). */
export const BTF_LOAD: AttrLayout = layout(BPF_CMD.BTF_LOAD, "BPF_BTF_LOAD", [
  ["btf", 0, "u64"],
  ["btf_log_buf", 8, "u64"],
  ["btf_size", 16, "u32"],
  ["btf_log_size", 20, "u32"],
  ["btf_log_level", 24, "u32"],
  ["btf_log_true_size", 28, "u32"],
  ["btf_flags", 32, "u32"],
  ["btf_token_fd", 36, "u32"],
]);

/** `BPF_PROG_BIND_MAP` (`attr.prog_bind_map`). */
export const PROG_BIND_MAP: AttrLayout = layout(BPF_CMD.PROG_BIND_MAP, "BPF_PROG_BIND_MAP", [
  ["prog_fd", 0, "u32"],
  ["map_fd", 4, "u32"],
  ["flags", 8, "u32"],
]);

/** `struct bpf_prog_info` (fields tsbpf reads; size as of 6.x, 232 bytes). */
export const BPF_PROG_INFO: AttrLayout = layout(-1, "bpf_prog_info", [
  ["type", 0, "u32"],
  ["id", 4, "u32"],
  ["tag", 8, "u64"],
  ["jited_prog_len", 16, "u32"],
  ["xlated_prog_len", 20, "u32"],
  ["jited_prog_insns", 24, "u64"],
  ["xlated_prog_insns", 32, "u64"],
  ["load_time", 40, "u64"],
  ["created_by_uid", 48, "u32"],
  ["nr_map_ids", 52, "u32"],
  ["map_ids", 56, "u64"],
  ["name", 64, "name"],
  ["ifindex", 80, "u32"],
  ["btf_id", 128, "u32"],
  ["func_info_rec_size", 132, "u32"],
  ["nr_func_info", 144, "u32"],
  ["nr_line_info", 148, "u32"],
  ["run_time_ns", 192, "u64"],
  ["run_cnt", 200, "u64"],
  ["verified_insns", 216, "u32"],
  ["attach_btf_obj_id", 220, "u32"],
  ["attach_btf_id", 224, "u32"],
], 232);

/** `struct bpf_btf_info` (32 bytes; `name` points at a buffer of `name_len` bytes). */
export const BPF_BTF_INFO: AttrLayout = layout(-1, "bpf_btf_info", [
  ["btf", 0, "u64"],
  ["btf_size", 8, "u32"],
  ["id", 12, "u32"],
  ["name", 16, "u64"],
  ["name_len", 24, "u32"],
  ["kernel_btf", 28, "u32"],
], 32);

/** `struct bpf_map_info` (88 bytes). */
export const BPF_MAP_INFO: AttrLayout = layout(-1, "bpf_map_info", [
  ["type", 0, "u32"],
  ["id", 4, "u32"],
  ["key_size", 8, "u32"],
  ["value_size", 12, "u32"],
  ["max_entries", 16, "u32"],
  ["map_flags", 20, "u32"],
  ["name", 24, "name"],
  ["ifindex", 40, "u32"],
  ["btf_vmlinux_value_type_id", 44, "u32"],
  ["netns_dev", 48, "u64"],
  ["netns_ino", 56, "u64"],
  ["btf_id", 64, "u32"],
  ["btf_key_type_id", 68, "u32"],
  ["btf_value_type_id", 72, "u32"],
  ["map_extra", 80, "u64"],
], 88);

/** A value for one field: numbers or bigints for integers, a string for a name. */
export type AttrValue = number | bigint | string | undefined;

/**
 * Sanitise an object name the way libbpf and cilium/ebpf do: keep only
 * `[A-Za-z0-9_.]` (the kernel rejects anything else), truncate to 15 bytes.
 */
export function sanitizeObjectName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, "").slice(0, BPF_OBJ_NAME_LEN - 1);
}

/**
 * Encode `values` into a zeroed buffer of `layout.size` bytes, in host
 * (little-endian on every supported arch) byte order. Unset fields stay 0.
 * Names are sanitised with {@link sanitizeObjectName}.
 *
 * Throws {@link KernelError} `KERNEL_BAD_ATTR` for an unknown field or a value
 * that does not fit.
 */
export function encodeAttr(
  layout: AttrLayout,
  values: Readonly<Record<string, AttrValue>>,
): Uint8Array {
  const buf = new Uint8Array(layout.size);
  const view = new DataView(buf.buffer);
  // for-in over a plain object walks V8's enum cache: no entries array per call.
  for (const name in values) {
    const value = values[name];
    if (value === undefined || !Object.hasOwn(values, name)) continue;
    writeField(layout, view, name, value);
  }
  return buf;
}

/**
 * Encode `values` into `view` (zeroed by the caller, at least `layout.size`
 * bytes), like {@link encodeAttr} but without allocating: for staging areas
 * that are reused across calls.
 */
export function encodeAttrInto(
  layout: AttrLayout,
  view: DataView,
  values: Readonly<Record<string, AttrValue>>,
): void {
  for (const name in values) {
    const value = values[name];
    if (value === undefined || !Object.hasOwn(values, name)) continue;
    writeField(layout, view, name, value);
  }
}

/** Write one field of `layout` into `buf` (see {@link encodeAttr}). */
export function setField(layout: AttrLayout, buf: Uint8Array, name: string, value: AttrValue) {
  if (value === undefined) return;
  writeField(layout, new DataView(buf.buffer, buf.byteOffset, buf.byteLength), name, value);
}

function fieldOf(layout: AttrLayout, name: string): AttrField {
  const field = Object.hasOwn(layout.fields, name) ? layout.fields[name] : undefined;
  if (field === undefined) {
    throw new KernelError("KERNEL_BAD_ATTR", `${layout.name}: no field ${JSON.stringify(name)}`);
  }
  return field;
}

function badValue(layout: AttrLayout, name: string, why: string, value: unknown): KernelError {
  return new KernelError("KERNEL_BAD_ATTR", `${layout.name}.${name}: ${why}: ${String(value)}`);
}

// sanitizeObjectName(name), written as it is made: the kept characters
// are ASCII, so no encoder and no intermediate string.
function writeSanitizedName(view: DataView, offset: number, name: string): void {
  let n = 0;
  for (let i = 0; i < name.length && n < BPF_OBJ_NAME_LEN - 1; i++) {
    const c = name.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
      c === 0x5f || c === 0x2e;
    if (ok) view.setUint8(offset + n++, c);
  }
}

/**
 * Write a u64 given as a number or bigint at `offset` (little-endian like
 * every attr field here, two's complement for negatives down to -2^63). Returns false when it is
 * not an integer in [-2^63, 2^64).
 */
export function writeU64(view: DataView, offset: number, value: number | bigint): boolean {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) return false;
    // Numbers split into two u32 halves: no BigInt on the common path.
    const lo = value >>> 0;
    const hi = Math.floor(value / 0x1_0000_0000);
    view.setUint32(offset, lo, true);
    view.setUint32(offset + 4, hi >>> 0, true);
    return true;
  }
  if (value < -(1n << 63n) || value >= 1n << 64n) return false;
  view.setBigUint64(offset, BigInt.asUintN(64, value), true);
  return true;
}

function writeField(
  layout: AttrLayout,
  view: DataView,
  name: string,
  value: number | bigint | string,
): void {
  const field = fieldOf(layout, name);
  if (field.offset + KIND_SIZE[field.kind] > view.byteLength) {
    throw badValue(layout, name, "buffer too short", value);
  }
  if (field.kind === "name") {
    writeNameField(view, field.offset, value as string, layout, name);
    return;
  }
  if (typeof value === "string") throw badValue(layout, name, "expected a number", value);
  if (field.kind === "u32") {
    const n = typeof value === "bigint" ? Number(value) : value;
    // fds and ids are u32 in the uapi; accept -1..-2^31 as their two's complement.
    if (!Number.isInteger(n) || n < -0x80000000 || n > 0xffffffff) {
      throw badValue(layout, name, "not a u32", value);
    }
    view.setUint32(field.offset, n >>> 0, true);
    return;
  }
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    throw badValue(layout, name, "not an integer", value);
  }
  if (!writeU64(view, field.offset, value)) throw badValue(layout, name, "not a u64", value);
}

/** The byte offset of field `name` of `layout` (for encoders that write fields directly). */
export function fieldOffset(layout: AttrLayout, name: string): number {
  return fieldOf(layout, name).offset;
}

/**
 * Write an optional u32 at `offset` of `view`; `undefined` leaves the field
 * alone. Like {@link encodeAttr}, -2^31..-1 are taken as two's complement
 * (fds) and anything else outside a u32 throws `KERNEL_BAD_ATTR` naming
 * `layout.name` and `name`.
 */
export function writeU32Field(
  view: DataView,
  offset: number,
  value: number | bigint | undefined,
  layout: AttrLayout,
  name: string,
): void {
  if (value === undefined) return;
  const n = typeof value === "bigint" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < -0x80000000 || n > 0xffffffff) {
    throw badValue(layout, name, typeof n === "number" ? "not a u32" : "expected a number", value);
  }
  view.setUint32(offset, n >>> 0, true);
}

/**
 * Write an optional `char[16]` name at `offset` of `view`, sanitised like
 * {@link encodeAttr} does; a non-string throws `KERNEL_BAD_ATTR`.
 */
export function writeNameField(
  view: DataView,
  offset: number,
  value: string | undefined,
  layout: AttrLayout,
  name: string,
): void {
  if (value === undefined) return;
  if (typeof value !== "string") throw badValue(layout, name, "expected a string", value);
  writeSanitizedName(view, offset, value);
}

/** Read a u32 field of `layout` from `buf`. */
export function getU32(layout: AttrLayout, buf: Uint8Array, name: string): number {
  const field = fieldOf(layout, name);
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(field.offset, true);
}

/** Read a u64 field of `layout` from `buf`. */
export function getU64(layout: AttrLayout, buf: Uint8Array, name: string): bigint {
  const field = fieldOf(layout, name);
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(field.offset, true);
}

/** Read a `char[16]` name field of `layout` from `buf`, up to its first NUL. */
export function getName(layout: AttrLayout, buf: Uint8Array, name: string): string {
  const field = fieldOf(layout, name);
  const bytes = buf.subarray(field.offset, field.offset + BPF_OBJ_NAME_LEN);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}
