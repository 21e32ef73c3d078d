/**
 * `tsbpf map dump PINNED_PATH [--json]`: every key and value of a pinned
 * map, in hex, and decoded with the map's BTF when it has key/value types.
 *
 * @module
 */

import {
  btfGetFdById,
  closeFd,
  KernelMap,
  type MapInfo,
  objGet,
  objGetInfoByFd,
  type Syscalls,
  syscalls,
} from "../backends/kernel/mod.ts";
import { Btf } from "../btf/btf.ts";
import { type BtfValue, decodeValue } from "../btf/value.ts";
import { BtfKind } from "../btf/types.ts";
import { mapTypeName } from "../collection/types.ts";
import { TsbpfError } from "../errors/mod.ts";
import { type Command, UsageError } from "./command.ts";
import { toHex } from "./test_run.ts";

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// struct bpf_btf_info { __aligned_u64 btf; __u32 btf_size; __u32 id; ... }
const BTF_INFO_SIZE = 32;

/** The BTF object with kernel ID `id`, read back with `BPF_OBJ_GET_INFO_BY_FD`. */
function kernelBtfById(sys: Syscalls, id: number): Btf {
  const fd = btfGetFdById(sys, id);
  try {
    const first = objGetInfoByFd(sys, fd, BTF_INFO_SIZE);
    const size = new DataView(first.buffer, first.byteOffset, first.byteLength)
      .getUint32(8, HOST_LITTLE_ENDIAN);
    const blob = new Uint8Array(size);
    const request = new Uint8Array(BTF_INFO_SIZE);
    const view = new DataView(request.buffer);
    view.setBigUint64(0, sys.address(blob), HOST_LITTLE_ENDIAN);
    view.setUint32(8, size, HOST_LITTLE_ENDIAN);
    objGetInfoByFd(sys, fd, request);
    return Btf.parse(blob);
  } finally {
    closeFd(sys, fd);
  }
}

/**
 * The map pinned at `path`, with its BTF value (and key) types when the kernel
 * has them (`typed` false when it has none or they can't be read).
 */
function openPinned(path: string): { map: KernelMap; info: MapInfo; typed: boolean } {
  const plain = KernelMap.fromPin(path);
  const info = plain.info();
  if (info.btfId === 0 || info.btfValueTypeId === 0) {
    return { map: plain, info, typed: false };
  }
  const sys = syscalls();
  let btf: Btf;
  try {
    btf = kernelBtfById(sys, info.btfId);
  } catch {
    return { map: plain, info, typed: false };
  }
  plain.close();
  const map = new KernelMap(objGet(sys, path), {
    name: info.name,
    type: info.type,
    keySize: info.keySize,
    valueSize: info.valueSize,
    maxEntries: info.maxEntries,
    flags: info.mapFlags,
    btf,
    keyType: info.btfKeyTypeId,
    valueType: info.btfValueTypeId,
    sys,
  });
  map.pinnedPath = path;
  return { map, info, typed: true };
}

/**
 * A raw value decoded with the map's BTF: as {@link KernelMap.decodeValue}
 * does, except that a data section's DATASEC becomes an object of its
 * variables by name.
 */
function decodeMapValue(map: KernelMap, raw: Uint8Array): BtfValue | BtfValue[] | Uint8Array {
  const btf = map.btf;
  if (btf !== undefined && map.valueType !== undefined) {
    const t = btf.type(map.valueType);
    if (t.kind === BtfKind.DATASEC) {
      const out: { [name: string]: BtfValue } = {};
      for (const v of t.vars) {
        const variable = btf.type(v.type);
        if (variable.kind !== BtfKind.VAR) continue;
        out[variable.name] = decodeValue(
          btf,
          variable.type,
          raw.subarray(v.offset, v.offset + v.size),
          { littleEndian: HOST_LITTLE_ENDIAN },
        );
      }
      return out;
    }
  }
  return map.decodeValue(raw);
}

/** A decoded BTF value as plain JSON: bigints become numbers when exact, else strings. */
function plain(value: BtfValue | BtfValue[] | Uint8Array): unknown {
  if (value instanceof Uint8Array) return toHex(value);
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** `tsbpf map`. */
export const mapCommand: Command = {
  name: "map",
  summary: "show the contents of a pinned map (map dump PATH)",
  help: `Usage: tsbpf map dump PINNED_PATH [--json]

Opens the map pinned at PINNED_PATH on a bpffs and prints every key and
value in hex, one entry a line; when the map has BTF key and value types the
entry is also shown decoded with them (integers, structs as objects, arrays,
one value per CPU for per-CPU maps). Needs root, or CAP_BPF.

Options:
  --json      a JSON array of {"key", "value"} in hex (plus "formatted"
              {"key", "value"} when the map has BTF)
  --debug     print the stack of an error
  -h, --help  this text
`,
  options: { json: { type: "boolean" } },
  run(args, io) {
    const [sub, path, ...rest] = args.positionals;
    if (sub === undefined) throw new UsageError("map needs a subcommand: map dump PINNED_PATH");
    if (sub !== "dump") {
      throw new UsageError(`unknown map subcommand ${JSON.stringify(sub)} (known: dump)`);
    }
    if (path === undefined) throw new UsageError("map dump needs a PINNED_PATH");
    if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(" ")}`);
    let opened: ReturnType<typeof openPinned>;
    try {
      opened = openPinned(path);
    } catch (err) {
      if (err instanceof TsbpfError) err.addContext(`open pinned map ${path}`);
      throw err;
    }
    const { map, info, typed } = opened;
    try {
      const entries: {
        key: string;
        value: string;
        formatted?: { key: unknown; value: unknown };
      }[] = [];
      try {
        for (const [key, value] of map.entries()) {
          const entry: (typeof entries)[number] = { key: toHex(key), value: toHex(value) };
          if (typed) {
            entry.formatted = {
              key: plain(map.decodeKey(key)),
              value: plain(decodeMapValue(map, value)),
            };
          }
          entries.push(entry);
        }
      } catch (err) {
        if (err instanceof TsbpfError) {
          err.addContext(`dump ${mapTypeName(info.type)} map ${info.name} (${path})`);
        }
        throw err;
      }
      if (args.values.json) {
        io.out(`${JSON.stringify(entries, null, 2)}\n`);
        return Promise.resolve(0);
      }
      const lines = [
        `${path}: ${mapTypeName(info.type)} map ${JSON.stringify(info.name)} id ${info.id}, ` +
        `key ${info.keySize}B, value ${info.valueSize}B, max_entries ${info.maxEntries}` +
        `${typed ? ", BTF" : ""}: ${entries.length} ${entries.length === 1 ? "entry" : "entries"}`,
      ];
      for (const e of entries) {
        lines.push(`key: ${spaced(e.key)}  value: ${spaced(e.value)}`);
        if (e.formatted !== undefined) {
          lines.push(
            `  = ${JSON.stringify(e.formatted.key)}: ${JSON.stringify(e.formatted.value)}`,
          );
        }
      }
      io.out(`${lines.join("\n")}\n`);
      return Promise.resolve(0);
    } finally {
      map.close();
    }
  },
};

function spaced(hex: string): string {
  return hex.replace(/(..)(?!$)/g, "$1 ");
}
