/**
 * Values of BTF types as JavaScript values, and back: what a global
 * variable's bytes mean, and the bytes a new value needs.
 *
 * | BTF | JavaScript |
 * | --- | --- |
 * | INT of 1–4 bytes, ENUM, FLOAT | `number` |
 * | INT of 8 bytes, ENUM64, PTR | `bigint` |
 * | INT with BOOL encoding | `boolean` |
 * | ARRAY | array of element values (a `char` array also accepts a string) |
 * | STRUCT, UNION | object by member name (anonymous members' fields inline) |
 * | DATASEC | object by variable name |
 * | TYPEDEF, qualifiers, TYPE_TAG | the aliased type's value |
 *
 * @module
 */

import { BtfError } from "../errors/mod.ts";
import type { Btf } from "./btf.ts";
import { BtfIntEncoding, BtfKind, btfKindName, type BtfType } from "./types.ts";

/** A decoded value. */
export type BtfValue = number | bigint | boolean | BtfValue[] | { [member: string]: BtfValue };

/** Options of {@link decodeValue} and {@link encodeValue}. */
export interface ValueOptions {
  /** Byte order of the bytes; default little-endian. */
  littleEndian?: boolean;
}

const MAX_DEPTH = 64;

function valueError(path: string, detail: string): BtfError {
  return new BtfError("BTF_BAD_VALUE", path === "" ? detail : `${path}: ${detail}`);
}

/** The value `bytes` hold for BTF type `id`. */
export function decodeValue(
  btf: Btf,
  id: number,
  bytes: Uint8Array,
  options: ValueOptions = {},
): BtfValue {
  const size = btf.sizeOf(id);
  if (bytes.length < size) throw valueError("", `${bytes.length} bytes, the type needs ${size}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeAt(btf, id, {
    view,
    le: options.littleEndian ?? true,
    offset: 0,
    path: "",
    depth: 0,
  });
}

/** The bytes of `value` as BTF type `id` (the type's size). */
export function encodeValue(
  btf: Btf,
  id: number,
  value: unknown,
  options: ValueOptions = {},
): Uint8Array {
  const out = new Uint8Array(btf.sizeOf(id));
  const view = new DataView(out.buffer);
  encodeAt(btf, id, value, {
    view,
    le: options.littleEndian ?? true,
    offset: 0,
    path: "",
    depth: 0,
  });
  return out;
}

interface Cursor {
  view: DataView;
  le: boolean;
  offset: number;
  path: string;
  depth: number;
}

function resolved(btf: Btf, id: number, at: Cursor): BtfType {
  if (at.depth > MAX_DEPTH) throw valueError(at.path, `types nest deeper than ${MAX_DEPTH}`);
  return btf.type(btf.skipTypedefs(id));
}

function decodeAt(btf: Btf, id: number, at: Cursor): BtfValue {
  const t = resolved(btf, id, at);
  const { view, le, offset } = at;
  switch (t.kind) {
    case BtfKind.INT: {
      if (t.encoding & BtfIntEncoding.BOOL) return view.getUint8(offset) !== 0;
      return readInt(view, offset, t.size, (t.encoding & BtfIntEncoding.SIGNED) !== 0, le);
    }
    case BtfKind.ENUM:
      return Number(readInt(view, offset, t.size, t.signed, le));
    case BtfKind.ENUM64:
      return BigInt(readInt(view, offset, t.size, t.signed, le));
    case BtfKind.PTR:
      return view.getBigUint64(offset, le);
    case BtfKind.FLOAT:
      if (t.size === 4) return view.getFloat32(offset, le);
      if (t.size === 8) return view.getFloat64(offset, le);
      throw valueError(at.path, `${t.size}-byte floats are not supported`);
    case BtfKind.ARRAY: {
      const elem = btf.sizeOf(t.type);
      const out: BtfValue[] = [];
      for (let i = 0; i < t.nelems; i++) {
        out.push(
          decodeAt(btf, t.type, {
            ...at,
            offset: offset + i * elem,
            path: `${at.path}[${i}]`,
            depth: at.depth + 1,
          }),
        );
      }
      return out;
    }
    case BtfKind.DATASEC: {
      // A data section's value: its variables by name.
      const out: { [variable: string]: BtfValue } = {};
      for (const v of t.vars) {
        const variable = btf.type(v.type);
        if (variable.kind !== BtfKind.VAR) continue;
        const path = at.path === "" ? variable.name : `${at.path}.${variable.name}`;
        out[variable.name] = decodeAt(btf, variable.type, {
          ...at,
          offset: offset + v.offset,
          path,
          depth: at.depth + 1,
        });
      }
      return out;
    }
    case BtfKind.STRUCT:
    case BtfKind.UNION: {
      const out: { [member: string]: BtfValue } = {};
      for (const m of t.members) {
        const path = at.path === "" ? m.name : `${at.path}.${m.name}`;
        const inner = {
          ...at,
          offset: offset + Math.floor(m.bitOffset / 8),
          path,
          depth: at.depth + 1,
        };
        const value = m.bitfieldSize > 0 || m.bitOffset % 8 !== 0
          ? readBitfield(btf, m, at, offset)
          : decodeAt(btf, m.type, inner);
        if (m.name === "" && typeof value === "object" && !Array.isArray(value)) {
          Object.assign(out, value);
        } else out[m.name] = value;
      }
      return out;
    }
    default:
      throw valueError(at.path, `a ${btfKindName(t.kind)} has no value`);
  }
}

function encodeAt(btf: Btf, id: number, value: unknown, at: Cursor): void {
  const t = resolved(btf, id, at);
  const { view, le, offset } = at;
  switch (t.kind) {
    case BtfKind.INT:
      if (t.encoding & BtfIntEncoding.BOOL) {
        if (typeof value !== "boolean") {
          throw valueError(at.path, `expected a boolean, got ${describe(value)}`);
        }
        view.setUint8(offset, value ? 1 : 0);
        return;
      }
      return writeInt(view, offset, {
        size: t.size,
        signed: (t.encoding & BtfIntEncoding.SIGNED) !== 0,
        le,
      }, integer(value, at));
    case BtfKind.ENUM:
    case BtfKind.ENUM64:
      return writeInt(view, offset, { size: t.size, signed: t.signed, le }, integer(value, at));
    case BtfKind.PTR:
      return writeInt(view, offset, { size: 8, signed: false, le }, integer(value, at));
    case BtfKind.FLOAT:
      if (typeof value !== "number") {
        throw valueError(at.path, `expected a number, got ${describe(value)}`);
      }
      if (t.size === 4) view.setFloat32(offset, value, le);
      else if (t.size === 8) view.setFloat64(offset, value, le);
      else throw valueError(at.path, `${t.size}-byte floats are not supported`);
      return;
    case BtfKind.ARRAY: {
      const elem = btf.sizeOf(t.type);
      let items = value;
      if (typeof value === "string" && isChar(btf, t.type)) {
        const bytes = new TextEncoder().encode(value);
        if (bytes.length > t.nelems) {
          throw valueError(
            at.path,
            `string of ${bytes.length} bytes does not fit char[${t.nelems}]`,
          );
        }
        items = [...bytes, ...new Array(t.nelems - bytes.length).fill(0)];
      }
      if (!Array.isArray(items) || items.length !== t.nelems) {
        throw valueError(at.path, `expected an array of ${t.nelems}, got ${describe(value)}`);
      }
      items.forEach((item, i) => {
        encodeAt(btf, t.type, item, {
          ...at,
          offset: offset + i * elem,
          path: `${at.path}[${i}]`,
          depth: at.depth + 1,
        });
      });
      return;
    }
    case BtfKind.DATASEC: {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw valueError(at.path, `expected an object of variables, got ${describe(value)}`);
      }
      const record = value as Record<string, unknown>;
      const vars = new Map<string, { type: number; offset: number }>();
      for (const v of t.vars) {
        const variable = btf.type(v.type);
        if (variable.kind === BtfKind.VAR) {
          vars.set(variable.name, { type: variable.type, offset: v.offset });
        }
      }
      for (const [name, item] of Object.entries(record)) {
        const v = vars.get(name);
        const path = at.path === "" ? name : `${at.path}.${name}`;
        if (v === undefined) {
          throw valueError(at.path, `no variable ${JSON.stringify(name)} in ${t.name}`);
        }
        encodeAt(btf, v.type, item, {
          ...at,
          offset: offset + v.offset,
          path,
          depth: at.depth + 1,
        });
      }
      return;
    }
    case BtfKind.STRUCT:
    case BtfKind.UNION: {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw valueError(at.path, `expected an object, got ${describe(value)}`);
      }
      const record = value as Record<string, unknown>;
      const known = new Set(fieldNames(btf, t.members));
      for (const key of Object.keys(record)) {
        if (!known.has(key)) throw valueError(at.path, `no member ${JSON.stringify(key)}`);
      }
      for (const m of t.members) {
        const path = at.path === "" ? m.name : `${at.path}.${m.name}`;
        if (m.name !== "" && !(m.name in record)) continue; // members left out keep their bytes
        const inner = {
          ...at,
          offset: offset + Math.floor(m.bitOffset / 8),
          path,
          depth: at.depth + 1,
        };
        const memberValue = m.name === "" ? record : record[m.name];
        if (m.bitfieldSize > 0 || m.bitOffset % 8 !== 0) {
          writeBitfield(btf, m, { ...at, path }, { base: offset, value: memberValue });
        } else if (m.name === "") encodeAnonymous(btf, m.type, record, inner);
        else encodeAt(btf, m.type, memberValue, inner);
      }
      return;
    }
    default:
      throw valueError(at.path, `a ${btfKindName(t.kind)} has no value`);
  }
}

/** An anonymous struct/union member takes the fields of the outer object that belong to it. */
function encodeAnonymous(btf: Btf, id: number, record: Record<string, unknown>, at: Cursor): void {
  const t = resolved(btf, id, at);
  if (t.kind !== BtfKind.STRUCT && t.kind !== BtfKind.UNION) return;
  const mine = new Set(fieldNames(btf, t.members));
  const part = Object.fromEntries(Object.entries(record).filter(([k]) => mine.has(k)));
  if (Object.keys(part).length > 0) encodeAt(btf, id, part, at);
}

function fieldNames(btf: Btf, members: { name: string; type: number }[]): string[] {
  const out: string[] = [];
  for (const m of members) {
    if (m.name !== "") {
      out.push(m.name);
      continue;
    }
    const t = btf.type(btf.skipTypedefs(m.type));
    if (t.kind === BtfKind.STRUCT || t.kind === BtfKind.UNION) {
      out.push(...fieldNames(btf, t.members));
    }
  }
  return out;
}

function isChar(btf: Btf, id: number): boolean {
  const t = btf.type(btf.skipTypedefs(id));
  return t.kind === BtfKind.INT && t.size === 1;
}

function readInt(
  view: DataView,
  offset: number,
  size: number,
  signed: boolean,
  le: boolean,
): number | bigint {
  switch (size) {
    case 1:
      return signed ? view.getInt8(offset) : view.getUint8(offset);
    case 2:
      return signed ? view.getInt16(offset, le) : view.getUint16(offset, le);
    case 4:
      return signed ? view.getInt32(offset, le) : view.getUint32(offset, le);
    case 8:
      return signed ? view.getBigInt64(offset, le) : view.getBigUint64(offset, le);
    default:
      throw valueError("", `${size}-byte integers are not supported`);
  }
}

function integer(value: unknown, at: Cursor): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (typeof value === "boolean") return value ? 1n : 0n;
  throw valueError(at.path, `expected an integer, got ${describe(value)}`);
}

function writeInt(
  view: DataView,
  offset: number,
  shape: { size: number; signed: boolean; le: boolean },
  value: bigint,
): void {
  const bits = BigInt(shape.size * 8);
  const min = shape.signed ? -(1n << (bits - 1n)) : 0n;
  const max = shape.signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  // Either reading of the bits is accepted, as C assignment would.
  if (value < -(1n << (bits - 1n)) || value > (1n << bits) - 1n) {
    throw valueError("", `${value} does not fit ${shape.size} bytes (${min}..${max})`);
  }
  const raw = BigInt.asUintN(Number(bits), value);
  switch (shape.size) {
    case 1:
      return view.setUint8(offset, Number(raw));
    case 2:
      return view.setUint16(offset, Number(raw), shape.le);
    case 4:
      return view.setUint32(offset, Number(raw), shape.le);
    case 8:
      return view.setBigUint64(offset, raw, shape.le);
    default:
      throw valueError("", `${shape.size}-byte integers are not supported`);
  }
}

/** A bitfield's bits, read from the containing storage as a little- or big-endian integer. */
function readBitfield(
  btf: Btf,
  m: { type: number; bitOffset: number; bitfieldSize: number },
  at: Cursor,
  base: number,
): BtfValue {
  const t = btf.type(btf.skipTypedefs(m.type));
  const bits = m.bitfieldSize > 0 ? m.bitfieldSize : btf.sizeOf(m.type) * 8;
  const signed = (t.kind === BtfKind.INT && (t.encoding & BtfIntEncoding.SIGNED) !== 0) ||
    ((t.kind === BtfKind.ENUM || t.kind === BtfKind.ENUM64) && t.signed);
  const { word, shift } = bitWord(at, base, m.bitOffset, bits);
  let v = (word >> shift) & ((1n << BigInt(bits)) - 1n);
  if (signed) v = BigInt.asIntN(bits, v);
  if (t.kind === BtfKind.INT && (t.encoding & BtfIntEncoding.BOOL)) return v !== 0n;
  return btf.sizeOf(m.type) === 8 ? v : Number(v);
}

function writeBitfield(
  btf: Btf,
  m: { type: number; bitOffset: number; bitfieldSize: number },
  at: Cursor,
  target: { base: number; value: unknown },
): void {
  const bits = m.bitfieldSize > 0 ? m.bitfieldSize : btf.sizeOf(m.type) * 8;
  const value = integer(target.value, at);
  if (value < -(1n << BigInt(bits - 1)) || value >= 1n << BigInt(bits)) {
    throw valueError(at.path, `${value} does not fit a ${bits}-bit field`);
  }
  const { word, shift, first, count } = bitWord(at, target.base, m.bitOffset, bits);
  const mask = ((1n << BigInt(bits)) - 1n) << shift;
  const next = (word & ~mask) | ((BigInt.asUintN(bits, value) << shift) & mask);
  for (let i = 0; i < count; i++) {
    const byte = Number((next >> BigInt(at.le ? i * 8 : (count - 1 - i) * 8)) & 0xffn);
    at.view.setUint8(first + i, byte);
  }
}

/**
 * The bytes holding bits [bitOffset, bitOffset + bits) as one integer, and
 * the shift of the field in it. Little-endian counts bits from the lowest
 * byte's least significant bit; big-endian from the first byte's most
 * significant bit, as compilers lay out bitfields.
 */
function bitWord(at: Cursor, base: number, bitOffset: number, bits: number) {
  const first = base + Math.floor(bitOffset / 8);
  const last = base + Math.floor((bitOffset + bits - 1) / 8);
  const count = last - first + 1;
  let word = 0n;
  for (let i = 0; i < count; i++) {
    const byte = BigInt(at.view.getUint8(first + i));
    word |= at.le ? byte << BigInt(i * 8) : byte << BigInt((count - 1 - i) * 8);
  }
  const lowBit = bitOffset % 8;
  const shift = at.le ? BigInt(lowBit) : BigInt(count * 8 - lowBit - bits);
  return { word, shift, first, count };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}
