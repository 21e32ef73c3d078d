/**
 * Helpers shared by the exporter and the importer: JSON paths, hex, type
 * names, and how a bad value is described in an error message.
 *
 * @module
 */

import type { JsonValue } from "../../collection/spec.ts";
import { attachTypeName, mapTypeName, programTypeName } from "../../collection/types.ts";

/** Largest u32, the range of most numeric fields. */
export const U32_MAX = 0xffff_ffff;
/** Largest u64, the range of `mapExtra`. */
export const U64_MAX = (1n << 64n) - 1n;
/**
 * How deep `innerMap` chains and metadata values may nest. Deeper input is
 * refused instead of overflowing the stack (or looping on a cycle).
 */
export const MAX_DEPTH = 256;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `base.key`, or `base["odd key"]` when the key is not an identifier. */
export function keyPath(base: string, key: string): string {
  if (IDENTIFIER.test(key)) return base === "" ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}

/** `base[index]`. */
export function indexPath(base: string, index: number): string {
  return `${base}[${index}]`;
}

const HEX_BYTE: readonly string[] = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

/** Lower-case hex digits of `bytes`, two per byte. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX_BYTE[bytes[i]];
  return out;
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30; // 0-9
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10; // a-f, A-F
  return -1;
}

/** The bytes of a hex string (either case), or `undefined` when it is not an even number of hex digits. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0) return undefined;
  const out = new Uint8Array(text.length / 2);
  return hexInto(text, out, 0) ? out : undefined;
}

/**
 * Write the bytes of `text` (an even number of hex digits, either case) to
 * `out` at `offset`; `false` when a character is not a hex digit.
 */
export function hexInto(text: string, out: Uint8Array, offset: number): boolean {
  const length = text.length >> 1;
  for (let i = 0; i < length; i++) {
    const hi = hexDigit(text.charCodeAt(2 * i));
    const lo = hexDigit(text.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return false;
    out[offset + i] = (hi << 4) | lo;
  }
  return true;
}

/** A short description of a value for "got …" in messages: `"zz"`, `1.5`, `an object`, `a Map`. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string": {
      const text = JSON.stringify(value);
      return text.length > 48 ? `${text.slice(0, 44)}…" (${value.length} characters)` : text;
    }
    case "number":
    case "boolean":
      return String(value);
    case "bigint":
      return `${value}n`;
    case "object": {
      // Name what is not a plain object (a Map, a Uint8Array) by its class.
      const proto = Object.getPrototypeOf(value);
      const name = proto === null || proto === Object.prototype ? "" : proto.constructor?.name;
      return typeof name === "string" && name !== "" ? `a ${name}` : "an object";
    }
    default:
      return `a ${typeof value}`;
  }
}

/** The known names of a libbpf name table, in value order. */
function tableNames(nameOf: (value: number) => string): readonly string[] {
  const names: string[] = [];
  for (let v = 0; !nameOf(v).startsWith("unknown("); v++) names.push(nameOf(v));
  return names;
}

/** libbpf's map type names, in value order. */
export const MAP_TYPE_NAMES: readonly string[] = tableNames(mapTypeName);
/** libbpf's program type names, in value order. */
export const PROGRAM_TYPE_NAMES: readonly string[] = tableNames(programTypeName);
/** libbpf's attach type names, in value order. */
export const ATTACH_TYPE_NAMES: readonly string[] = tableNames(attachTypeName);

/**
 * `, did you mean "x"?` when one candidate is within two edits of `word`
 * (case ignored), else the empty string. For typos in keys and names.
 */
export function suggestion(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  const lower = word.toLowerCase();
  for (const candidate of candidates) {
    const d = editDistance(lower, candidate.toLowerCase(), bestDistance);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best === undefined ? "" : `, did you mean ${JSON.stringify(best)}?`;
}

/** Levenshtein distance, giving up (returning `limit`) once it reaches `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      rowMin = Math.min(rowMin, cur[j]);
    }
    if (rowMin >= limit) return limit;
    prev = cur;
  }
  return Math.min(prev[b.length], limit);
}

/** Whether `value` is an object made by a JSON reader or an object literal (not an array, not a class instance). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Why a value is not JSON: too deep, or of a type JSON lacks. */
export type JsonProblem = { kind: "depth" } | { kind: "type"; value: unknown };

/**
 * A copy of `value`, checked to be JSON: finite numbers, plain objects,
 * arrays without holes, no deeper than {@link MAX_DEPTH}. `fail` turns a
 * problem at a path into the caller's error.
 */
export function copyJson(
  value: unknown,
  path: string,
  fail: (path: string, problem: JsonProblem) => Error,
  depth = 0,
): JsonValue {
  if (depth > MAX_DEPTH) throw fail(path, { kind: "depth" });
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (Number.isFinite(value)) return value;
      break;
    case "object":
      if (value === null) return null;
      if (Array.isArray(value)) {
        // Array.from visits holes too, so a sparse array fails instead of gaining nulls.
        return Array.from(value, (item, i) => copyJson(item, indexPath(path, i), fail, depth + 1));
      }
      if (isPlainObject(value)) {
        // fromEntries keeps even a "__proto__" key as an own property.
        return Object.fromEntries(
          Object.keys(value).map((k) => [k, copyJson(value[k], keyPath(path, k), fail, depth + 1)]),
        );
      }
  }
  throw fail(path, { kind: "type", value });
}
