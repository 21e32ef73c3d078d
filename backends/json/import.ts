/**
 * The importer: a `tsbpf.collection/v1` document back into a
 * {@link CollectionSpec}, every value checked on the way.
 *
 * @module
 */

import {
  type ByteOrder,
  CollectionSpec,
  type MapKV,
  MapSpec,
  type Metadata,
  ProgramSpec,
} from "../../collection/spec.ts";
import {
  type AttachType,
  attachTypeFromName,
  attachTypeName,
  MapType,
  mapTypeFromName,
  mapTypeName,
  type PinType,
  type ProgramType,
  programTypeFromName,
  programTypeName,
} from "../../collection/types.ts";
import { decodeInstructions, type Instruction, LD_IMM64_OPCODE } from "../../isa/mod.ts";
import { Btf } from "../../btf/btf.ts";
import type { VariableSpec } from "../../collection/variables.ts";
import type { CoreRelocationResult, CoreRelocationStatus } from "../../btf/core/result.ts";
import { TsbpfError } from "../../errors/mod.ts";
import { JsonSpecError, type JsonSpecErrorCode } from "./errors.ts";
import { DOCUMENT_FORMAT } from "./types.ts";
import {
  ATTACH_TYPE_NAMES,
  copyJson,
  describe,
  fromHex,
  hexInto,
  indexPath,
  isPlainObject,
  type JsonProblem,
  keyPath,
  MAP_TYPE_NAMES,
  MAX_DEPTH,
  PROGRAM_TYPE_NAMES,
  suggestion,
  U32_MAX,
  U64_MAX,
} from "./_util.ts";
import { checkJsonText } from "./_json_text.ts";

type Obj = Record<string, unknown>;

const TOP_KEYS = [
  "format",
  "byteOrder",
  "maps",
  "programs",
  "metadata",
  "variables",
  "btf",
] as const;
const VARIABLE_KEYS = [
  "section",
  "offset",
  "size",
  "linkage",
  "constant",
  "type",
  "typeName",
] as const;
const LINE_KEYS = ["fileName", "lineText", "line", "column"] as const;
const CORE_RELO_KEYS = ["typeId", "accessor", "kind"] as const;
const MAP_KEYS = [
  "name",
  "type",
  "keySize",
  "valueSize",
  "maxEntries",
  "flags",
  "pinning",
  "numaNode",
  "mapExtra",
  "freeze",
  "innerMap",
  "contents",
  "extra",
  "keyType",
  "valueType",
] as const;
const PROGRAM_KEYS = [
  "name",
  "type",
  "attachType",
  "attachTo",
  "sectionName",
  "license",
  "kernelVersion",
  "flags",
  "autoload",
  "byteOrder",
  "references",
  "functions",
  "instructions",
  "coreRelocations",
] as const;
const CORE_RESULT_KEYS = [
  "insn",
  "kind",
  "kindName",
  "localTypeId",
  "localType",
  "accessor",
  "spec",
  "target",
  "origValue",
  "newValue",
  "status",
  "reason",
] as const;
const CORE_RESULT_REQUIRED = CORE_RESULT_KEYS.filter((k) => k !== "target" && k !== "reason");
const CORE_TARGET_KEYS = ["btf", "typeId", "spec"] as const;
const CORE_STATUSES = ["patched", "poisoned", "unresolved"] as const;
const INSTRUCTION_KEYS = [
  "raw",
  "asm",
  "symbol",
  "reference",
  "sourceOffset",
  "func",
  "line",
  "coreRelo",
  "btfModule",
] as const;
const ENTRY_KEYS = ["key", "value"] as const;
const REF_KEYS = ["program", "map"] as const;

/**
 * The spec a document describes. `doc` is a parsed document (from
 * `JSON.parse`, or the object `exportSpec` returns).
 *
 * Everything is checked; the first problem throws {@link JsonSpecError}
 * with the JSON path of the bad value and what was expected there, e.g.
 * `maps.counts.keySize: expected an integer from 0 to 4294967295, got -1`.
 * Unknown keys are errors. Optional keys take the model's defaults, a
 * program's `byteOrder` the document's. `asm` is never read back: only
 * `raw` says what an instruction is.
 *
 * ```ts
 * import { importSpec } from "./import.ts";
 *
 * const spec = importSpec({
 *   format: "tsbpf.collection/v1",
 *   byteOrder: "little",
 *   programs: {
 *     ret2: {
 *       name: "ret2",
 *       type: "xdp",
 *       instructions: [{ raw: "b700000002000000" }, { raw: "9500000000000000" }],
 *     },
 *   },
 * });
 * spec.programs.get("ret2")!.instructions.length; // 2
 * ```
 */
export function importSpec(doc: unknown): CollectionSpec {
  const top = object(doc, "", "a tsbpf.collection/v1 document");
  if (!has(top, "format")) {
    throw error("JSON_FORMAT", "format", `missing, expected ${JSON.stringify(DOCUMENT_FORMAT)}`);
  }
  if (top.format !== DOCUMENT_FORMAT) {
    throw error(
      "JSON_FORMAT",
      "format",
      `expected ${JSON.stringify(DOCUMENT_FORMAT)}, got ${describe(top.format)}`,
    );
  }
  checkKeys(top, "", TOP_KEYS, ["byteOrder"]);
  const byteOrder = importByteOrder(top.byteOrder, "byteOrder");

  const maps = new Map<string, MapSpec>();
  if (has(top, "maps")) {
    const all = object(top.maps, "maps", "an object of maps by name");
    for (const name of Object.keys(all)) {
      maps.set(name, importMap(all[name], keyPath("maps", name), { key: name, depth: 0 }));
    }
  }
  const programs = new Map<string, ProgramSpec>();
  if (has(top, "programs")) {
    const all = object(top.programs, "programs", "an object of programs by name");
    for (const name of Object.keys(all)) {
      programs.set(
        name,
        importProgram(all[name], keyPath("programs", name), { key: name, byteOrder }),
      );
    }
  }
  let metadata: Metadata = {};
  if (has(top, "metadata")) {
    object(top.metadata, "metadata", "an object of JSON values");
    metadata = copyJson(top.metadata, "metadata", importProblem) as Metadata;
  }
  let btf: Btf | undefined;
  if (has(top, "btf")) {
    const blob = hex(top.btf, "btf");
    try {
      btf = Btf.parse(blob);
    } catch (err) {
      if (!(err instanceof TsbpfError)) throw err;
      throw error("JSON_BAD_BTF", "btf", `not a .BTF blob: ${err.message}`, err);
    }
  }
  const variables = new Map<string, VariableSpec>();
  if (has(top, "variables")) {
    const all = object(top.variables, "variables", "an object of variables by name");
    for (const name of Object.keys(all)) {
      variables.set(name, importVariable(all[name], keyPath("variables", name), name));
    }
  }
  const spec = new CollectionSpec({ maps, programs, byteOrder, metadata, btf, variables });
  checkBtfReferences(spec);
  return spec;
}

function importVariable(value: unknown, path: string, name: string): VariableSpec {
  const obj = object(value, path, "a variable");
  checkKeys(obj, path, VARIABLE_KEYS, ["section", "offset", "size", "linkage", "constant"]);
  const linkage = string(obj.linkage, keyPath(path, "linkage"));
  if (linkage !== "static" && linkage !== "global" && linkage !== "extern") {
    throw error(
      "JSON_TYPE",
      keyPath(path, "linkage"),
      `expected "static", "global" or "extern", got ${describe(linkage)}`,
    );
  }
  if (has(obj, "typeName")) string(obj.typeName, keyPath(path, "typeName"));
  const variable: VariableSpec = {
    name,
    section: string(obj.section, keyPath(path, "section")),
    offset: integer(obj.offset, keyPath(path, "offset"), U32_MAX),
    size: integer(obj.size, keyPath(path, "size"), U32_MAX),
    linkage,
    constant: boolean(obj.constant, keyPath(path, "constant")),
  };
  if (has(obj, "type")) variable.type = integer(obj.type, keyPath(path, "type"), U32_MAX);
  return variable;
}

/** BTF type IDs (map keys and values, variables, func info) must name types of the document's btf. */
function checkBtfReferences(spec: CollectionSpec): void {
  const last = spec.btf?.lastId ?? 0;
  const check = (id: number | undefined, path: string) => {
    if (id === undefined) return;
    if (spec.btf === undefined) {
      throw error("JSON_MISMATCH", path, "a BTF type ID, but the document has no btf");
    }
    if (id > last) {
      throw error("JSON_MISMATCH", path, `type ID ${id} is past the btf's last type ${last}`);
    }
  };
  for (const [name, map] of spec.maps) {
    check(map.keyType, keyPath(keyPath("maps", name), "keyType"));
    check(map.valueType, keyPath(keyPath("maps", name), "valueType"));
  }
  for (const [name, v] of spec.variables) {
    check(v.type, keyPath(keyPath("variables", name), "type"));
  }
  for (const [name, prog] of spec.programs) {
    prog.instructions.forEach((ins, i) => {
      check(
        ins.func,
        keyPath(indexPath(keyPath(keyPath("programs", name), "instructions"), i), "func"),
      );
      check(
        ins.coreRelo?.typeId,
        keyPath(indexPath(keyPath(keyPath("programs", name), "instructions"), i), "coreRelo"),
      );
    });
  }
}

/**
 * The spec described by document text. Text that is not JSON throws
 * {@link JsonSpecError} `JSON_SYNTAX` with the line, column and offset of
 * the first problem (and the path of the value it is in); an object with
 * the same key twice throws `JSON_DUPLICATE_KEY`. Then as {@link importSpec}.
 *
 * ```ts
 * import { parseSpec } from "./import.ts";
 *
 * const spec = parseSpec('{ "format": "tsbpf.collection/v1", "byteOrder": "big" }');
 * spec.byteOrder; // "big"
 * ```
 */
export function parseSpec(text: string): CollectionSpec {
  if (typeof text !== "string") {
    throw error("JSON_TYPE", "", `expected document text (a string), got ${describe(text)}`);
  }
  checkJsonText(text);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // checkJsonText accepts only what JSON.parse reads; this is a safety net.
    throw error("JSON_SYNTAX", "", `invalid JSON: ${(err as Error).message}`, err);
  }
  return importSpec(doc);
}

function error(
  code: JsonSpecErrorCode,
  path: string,
  detail: string,
  cause?: unknown,
): JsonSpecError {
  return new JsonSpecError(code, path, detail, cause === undefined ? {} : { cause });
}

/** Whether `obj` has `key`; a key whose value is `undefined` counts as absent. */
function has(obj: Obj, key: string): boolean {
  return Object.hasOwn(obj, key) && obj[key] !== undefined;
}

function object(value: unknown, path: string, what: string): Obj {
  if (!isPlainObject(value)) {
    throw error("JSON_TYPE", path, `expected ${what} (a JSON object), got ${describe(value)}`);
  }
  return value;
}

function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) {
    throw error("JSON_TYPE", path, `expected an array, got ${describe(value)}`);
  }
  return value;
}

/** Unknown keys first (a typo is the likeliest mistake), then missing ones. */
function checkKeys(
  obj: Obj,
  path: string,
  allowed: readonly string[],
  required: readonly string[],
) {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw error("JSON_UNKNOWN_KEY", keyPath(path, key), `unknown key${suggestion(key, allowed)}`);
    }
  }
  for (const key of required) {
    if (!has(obj, key)) throw error("JSON_MISSING_KEY", keyPath(path, key), "missing (required)");
  }
}

function string(value: unknown, path: string): string {
  if (typeof value !== "string") {
    throw error("JSON_TYPE", path, `expected a string, got ${describe(value)}`);
  }
  return value;
}

function boolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") {
    throw error("JSON_TYPE", path, `expected a boolean, got ${describe(value)}`);
  }
  return value;
}

function integer(value: unknown, path: string, max: number): number {
  const expected = `expected an integer from 0 to ${max}`;
  if (typeof value !== "number") {
    throw error("JSON_TYPE", path, `${expected}, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw error("JSON_RANGE", path, `${expected}, got ${describe(value)}`);
  }
  return value;
}

/** `obj[key]` as a u32, or `fallback` when absent. */
function optionalU32(obj: Obj, key: string, path: string, fallback = 0): number {
  return has(obj, key) ? integer(obj[key], keyPath(path, key), U32_MAX) : fallback;
}

function optionalString(obj: Obj, key: string, path: string): string {
  return has(obj, key) ? string(obj[key], keyPath(path, key)) : "";
}

function hex(value: unknown, path: string): Uint8Array {
  const expected = "expected bytes as an even number of hex digits";
  if (typeof value !== "string") {
    throw error("JSON_TYPE", path, `${expected}, got ${describe(value)}`);
  }
  const bytes = fromHex(value);
  if (bytes === undefined) throw error("JSON_BAD_HEX", path, `${expected}, got ${describe(value)}`);
  return bytes;
}

function importByteOrder(value: unknown, path: string): ByteOrder {
  if (value === "little" || value === "big") return value;
  const code = typeof value === "string" ? "JSON_UNKNOWN_NAME" : "JSON_TYPE";
  throw error(code, path, `expected "little" or "big", got ${describe(value)}`);
}

/**
 * A type from libbpf's name for it, or from `unknown(N)` for a number the
 * name table does not have (the form the exporter writes for those).
 */
function typeFromName(
  value: unknown,
  path: string,
  what: string,
  table: {
    fromName: (name: string) => number | undefined;
    nameOf: (value: number) => string;
    names: readonly string[];
  },
): number {
  if (typeof value !== "string") {
    throw error("JSON_TYPE", path, `expected a ${what} name (a string), got ${describe(value)}`);
  }
  const known = table.fromName(value);
  if (known !== undefined) return known;
  const match = /^unknown\((0|[1-9][0-9]*)\)$/.exec(value);
  if (match === null) {
    throw error(
      "JSON_UNKNOWN_NAME",
      path,
      `unknown ${what} ${describe(value)}${suggestion(value, table.names)}`,
    );
  }
  const number = Number(match[1]);
  if (number > U32_MAX) {
    throw error("JSON_RANGE", path, `${what} ${describe(value)}: N must be from 0 to ${U32_MAX}`);
  }
  if (table.nameOf(number) !== value) {
    // One spelling per value keeps documents comparable as text.
    throw error(
      "JSON_UNKNOWN_NAME",
      path,
      `${what} ${number} has a name: write ${JSON.stringify(table.nameOf(number))}, not ${
        describe(value)
      }`,
    );
  }
  return number;
}

const MAP_TYPES = { fromName: mapTypeFromName, nameOf: mapTypeName, names: MAP_TYPE_NAMES };
const PROGRAM_TYPES = {
  fromName: programTypeFromName,
  nameOf: programTypeName,
  names: PROGRAM_TYPE_NAMES,
};
const ATTACH_TYPES = {
  fromName: attachTypeFromName,
  nameOf: attachTypeName,
  names: ATTACH_TYPE_NAMES,
};

interface MapPlace {
  /** The map's key in `maps`, which its name must equal; absent for inner maps. */
  key?: string;
  /** How many inner maps enclose it. */
  depth: number;
}

function importMap(value: unknown, path: string, place: MapPlace): MapSpec {
  if (place.depth > MAX_DEPTH) {
    throw error("JSON_TOO_DEEP", path, `inner maps nest deeper than ${MAX_DEPTH} levels`);
  }
  const obj = object(value, path, "a map");
  checkKeys(obj, path, MAP_KEYS, ["name", "type"]);
  const name = string(obj.name, keyPath(path, "name"));
  if (place.key !== undefined && name !== place.key) {
    throw error(
      "JSON_MISMATCH",
      keyPath(path, "name"),
      `expected ${JSON.stringify(place.key)} (the map's key in maps), got ${describe(name)}`,
    );
  }
  const type = typeFromName(obj.type, keyPath(path, "type"), "map type", MAP_TYPES) as MapType;
  const keySize = optionalU32(obj, "keySize", path);
  const valueSize = optionalU32(obj, "valueSize", path);
  const maxEntries = optionalU32(obj, "maxEntries", path);
  const flags = optionalU32(obj, "flags", path);
  const pinning = has(obj, "pinning") ? importPinning(obj.pinning, keyPath(path, "pinning")) : 0;
  const numaNode = optionalU32(obj, "numaNode", path);
  const mapExtra = has(obj, "mapExtra") ? importU64(obj.mapExtra, keyPath(path, "mapExtra")) : 0n;
  const freeze = has(obj, "freeze") ? boolean(obj.freeze, keyPath(path, "freeze")) : false;
  const innerMap = has(obj, "innerMap")
    ? importMap(obj.innerMap, keyPath(path, "innerMap"), { depth: place.depth + 1 })
    : undefined;
  const contents: MapKV[] = [];
  if (has(obj, "contents")) {
    const at = keyPath(path, "contents");
    const entries = array(obj.contents, at);
    for (let i = 0; i < entries.length; i++) {
      contents.push(importEntry(entries[i], indexPath(at, i), type));
    }
  }
  const extra = has(obj, "extra") ? hex(obj.extra, keyPath(path, "extra")) : undefined;
  const keyType = has(obj, "keyType")
    ? integer(obj.keyType, keyPath(path, "keyType"), U32_MAX)
    : undefined;
  const valueType = has(obj, "valueType")
    ? integer(obj.valueType, keyPath(path, "valueType"), U32_MAX)
    : undefined;
  return new MapSpec({
    keyType,
    valueType,
    name,
    type,
    keySize,
    valueSize,
    maxEntries,
    flags,
    pinning,
    numaNode,
    mapExtra,
    innerMap,
    contents,
    freeze,
    extra,
  });
}

function importPinning(value: unknown, path: string): PinType {
  if (value === "none") return 0;
  if (value === "byName") return 1;
  if (typeof value === "string") {
    throw error(
      "JSON_UNKNOWN_NAME",
      path,
      `unknown pinning ${describe(value)}, expected "none", "byName" or a number${
        suggestion(value, ["none", "byName"])
      }`,
    );
  }
  if (typeof value !== "number") {
    throw error(
      "JSON_TYPE",
      path,
      `expected "none", "byName" or an integer from 0 to ${U32_MAX}, got ${describe(value)}`,
    );
  }
  return integer(value, path, U32_MAX) as PinType;
}

function importU64(value: unknown, path: string): bigint {
  const expected = `expected a decimal string from "0" to "${U64_MAX}"`;
  if (typeof value !== "string") {
    throw error("JSON_TYPE", path, `${expected}, got ${describe(value)}`);
  }
  if (!/^(0|[1-9][0-9]*)$/.test(value) || value.length > 20 || BigInt(value) > U64_MAX) {
    throw error("JSON_RANGE", path, `${expected}, got ${describe(value)}`);
  }
  return BigInt(value);
}

function importEntry(value: unknown, path: string, mapType: MapType): MapKV {
  const obj = object(value, path, "a map entry { key, value }");
  checkKeys(obj, path, ENTRY_KEYS, ENTRY_KEYS);
  const keyAt = keyPath(path, "key");
  let key: number | Uint8Array;
  if (typeof obj.key === "number") {
    key = integer(obj.key, keyAt, U32_MAX);
  } else if (typeof obj.key === "string") {
    key = hex(obj.key, keyAt);
  } else {
    throw error(
      "JSON_TYPE",
      keyAt,
      `expected an index (an integer) or key bytes (hex digits), got ${describe(obj.key)}`,
    );
  }
  const valueAt = keyPath(path, "value");
  if (typeof obj.value === "string") return { key, value: hex(obj.value, valueAt) };
  if (!isPlainObject(obj.value)) {
    throw error(
      "JSON_TYPE",
      valueAt,
      `expected value bytes (hex digits), {"program": name} or {"map": name}, got ${
        describe(obj.value)
      }`,
    );
  }
  return { key, value: importReference(obj.value, valueAt, mapType) };
}

/** A `{ "program": name }` or `{ "map": name }` value; which one the map type decides. */
function importReference(ref: Obj, path: string, mapType: MapType): string {
  checkKeys(ref, path, REF_KEYS, []);
  const wanted = mapType === MapType.PROG_ARRAY ? "program" : "map";
  const other = wanted === "program" ? "map" : "program";
  if (has(ref, other)) {
    const why = wanted === "program"
      ? 'a prog_array holds programs: write {"program": name}'
      : `only a prog_array holds programs, this map is a ${
        mapTypeName(mapType)
      }: write {"map": name}`;
    throw error("JSON_MISMATCH", keyPath(path, other), why);
  }
  if (!has(ref, wanted)) {
    throw error("JSON_MISSING_KEY", keyPath(path, wanted), "missing (required)");
  }
  return string(ref[wanted], keyPath(path, wanted));
}

interface ProgramPlace {
  /** The program's key in `programs`, which its name must equal. */
  key: string;
  /** The document's byte order, the default of the program's. */
  byteOrder: ByteOrder;
}

function importProgram(value: unknown, path: string, place: ProgramPlace): ProgramSpec {
  const obj = object(value, path, "a program");
  checkKeys(obj, path, PROGRAM_KEYS, ["name", "type", "instructions"]);
  const name = string(obj.name, keyPath(path, "name"));
  if (name !== place.key) {
    throw error(
      "JSON_MISMATCH",
      keyPath(path, "name"),
      `expected ${JSON.stringify(place.key)} (the program's key in programs), got ${
        describe(name)
      }`,
    );
  }
  const type = typeFromName(obj.type, keyPath(path, "type"), "program type", PROGRAM_TYPES);
  // null and absent both mean none, which the kernel spells 0.
  const attachType = has(obj, "attachType") && obj.attachType !== null
    ? typeFromName(obj.attachType, keyPath(path, "attachType"), "attach type", ATTACH_TYPES)
    : 0;
  const attachTo = optionalString(obj, "attachTo", path);
  const sectionName = optionalString(obj, "sectionName", path);
  const license = optionalString(obj, "license", path);
  const kernelVersion = optionalU32(obj, "kernelVersion", path);
  const flags = optionalU32(obj, "flags", path);
  const autoload = has(obj, "autoload") ? boolean(obj.autoload, keyPath(path, "autoload")) : true;
  const byteOrder = has(obj, "byteOrder")
    ? importByteOrder(obj.byteOrder, keyPath(path, "byteOrder"))
    : place.byteOrder;
  const at = keyPath(path, "instructions");
  const items = array(obj.instructions, at);
  const instructions = importInstructions(items, at, byteOrder === "little");
  const prog = new ProgramSpec({
    name,
    type: type as ProgramType,
    instructions,
    attachType: attachType as AttachType,
    attachTo,
    sectionName,
    license,
    kernelVersion,
    flags,
    autoload,
    byteOrder,
  });
  if (has(obj, "coreRelocations")) {
    const at = keyPath(path, "coreRelocations");
    prog.coreRelocations = array(obj.coreRelocations, at).map((item, i) =>
      importCoreRelocation(item, indexPath(at, i))
    );
  }
  // Derived lists are optional, but when present they must tell the truth.
  checkDerived(obj, "references", path, prog.references(), "the instructions' references, sorted");
  checkDerived(obj, "functions", path, prog.functions(), "the instructions' symbols, in order");
  return prog;
}

function importCoreRelocation(value: unknown, path: string): CoreRelocationResult {
  const obj = object(value, path, "a CO-RE relocation result");
  checkKeys(obj, path, CORE_RESULT_KEYS, CORE_RESULT_REQUIRED);
  const statusAt = keyPath(path, "status");
  const status = string(obj.status, statusAt);
  if (!(CORE_STATUSES as readonly string[]).includes(status)) {
    throw error(
      "JSON_UNKNOWN_NAME",
      statusAt,
      `expected "patched", "poisoned" or "unresolved", got ${describe(status)}`,
    );
  }
  const result: CoreRelocationResult = {
    insn: integer(obj.insn, keyPath(path, "insn"), U32_MAX),
    kind: integer(obj.kind, keyPath(path, "kind"), U32_MAX),
    kindName: string(obj.kindName, keyPath(path, "kindName")),
    localTypeId: integer(obj.localTypeId, keyPath(path, "localTypeId"), U32_MAX),
    localType: string(obj.localType, keyPath(path, "localType")),
    accessor: string(obj.accessor, keyPath(path, "accessor")),
    spec: string(obj.spec, keyPath(path, "spec")),
    origValue: importU64(obj.origValue, keyPath(path, "origValue")),
    newValue: importU64(obj.newValue, keyPath(path, "newValue")),
    status: status as CoreRelocationStatus,
  };
  if (has(obj, "target")) {
    const at = keyPath(path, "target");
    const target = object(obj.target, at, "a CO-RE target { btf, typeId, spec }");
    checkKeys(target, at, CORE_TARGET_KEYS, CORE_TARGET_KEYS);
    result.target = {
      btf: string(target.btf, keyPath(at, "btf")),
      typeId: integer(target.typeId, keyPath(at, "typeId"), U32_MAX),
      spec: string(target.spec, keyPath(at, "spec")),
    };
  }
  if (has(obj, "reason")) result.reason = string(obj.reason, keyPath(path, "reason"));
  return result;
}

function checkDerived(obj: Obj, key: string, path: string, want: string[], what: string): void {
  if (!has(obj, key)) return;
  const at = keyPath(path, key);
  const got = array(obj[key], at);
  got.forEach((item, i) => string(item, indexPath(at, i)));
  if (got.length !== want.length || got.some((item, i) => item !== want[i])) {
    throw error(
      "JSON_MISMATCH",
      at,
      `expected ${JSON.stringify(want)} (${what}), got ${JSON.stringify(got)}`,
    );
  }
}

function importInstructions(items: unknown[], path: string, littleEndian: boolean): Instruction[] {
  // Check every item and gather the raw bytes, then decode them all at once
  // (much faster than one decode per instruction); each raw is exactly one
  // instruction by then, so decoded instruction i is item i.
  const bytes = new Uint8Array(items.length * 16);
  let size = 0;
  for (let i = 0; i < items.length; i++) {
    size = checkInstruction(items[i], indexPath(path, i), bytes, size);
  }
  const decoded = decodeInstructions(bytes.subarray(0, size), { littleEndian });
  const out: Instruction[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const d = decoded[i];
    const obj = items[i] as Obj;
    // A fresh object without the decoder's sourceOffset: the document says whether there is one.
    const ins: Instruction = {
      opcode: d.opcode,
      dst: d.dst,
      src: d.src,
      offset: d.offset,
      imm: d.imm,
    };
    if (d.immHi !== undefined) ins.immHi = d.immHi;
    if (d.secondSlot !== undefined) ins.secondSlot = d.secondSlot;
    if (has(obj, "symbol")) ins.symbol = obj.symbol as string;
    if (has(obj, "reference")) ins.reference = obj.reference as string;
    if (has(obj, "sourceOffset")) ins.sourceOffset = obj.sourceOffset as number;
    if (has(obj, "func")) ins.func = obj.func as number;
    if (has(obj, "line")) ins.line = { ...(obj.line as NonNullable<Instruction["line"]>) };
    if (has(obj, "coreRelo")) {
      ins.coreRelo = { ...(obj.coreRelo as NonNullable<Instruction["coreRelo"]>) };
    }
    if (has(obj, "btfModule")) ins.btfModule = obj.btfModule as string;
    out[i] = ins;
  }
  return out;
}

/** Check one instruction object, and copy its raw bytes to `bytes` at `size`; returns the new size. */
function checkInstruction(value: unknown, path: string, bytes: Uint8Array, size: number): number {
  const obj = object(value, path, "an instruction");
  checkKeys(obj, path, INSTRUCTION_KEYS, ["raw"]);
  const rawAt = keyPath(path, "raw");
  const raw = obj.raw;
  const expected = "expected 16 hex digits (32 for ld_imm64)";
  if (typeof raw !== "string") throw error("JSON_TYPE", rawAt, `${expected}, got ${describe(raw)}`);
  if ((raw.length !== 16 && raw.length !== 32) || !hexInto(raw, bytes, size)) {
    throw error("JSON_BAD_HEX", rawAt, `${expected}, got ${describe(raw)}`);
  }
  const wide = bytes[size] === LD_IMM64_OPCODE;
  if (wide !== (raw.length === 32)) {
    const detail = wide
      ? "ld_imm64 (opcode 0x18) takes two slots: expected 32 hex digits, got 16"
      : `opcode 0x${raw.slice(0, 2).toLowerCase()} takes one slot: expected 16 hex digits, got 32`;
    throw error("JSON_BAD_INSTRUCTION", rawAt, detail);
  }
  // asm is informative: checked to be text, never compared with raw.
  if (has(obj, "asm")) string(obj.asm, keyPath(path, "asm"));
  if (has(obj, "symbol")) string(obj.symbol, keyPath(path, "symbol"));
  if (has(obj, "reference")) string(obj.reference, keyPath(path, "reference"));
  if (has(obj, "btfModule")) string(obj.btfModule, keyPath(path, "btfModule"));
  if (has(obj, "sourceOffset")) {
    integer(obj.sourceOffset, keyPath(path, "sourceOffset"), Number.MAX_SAFE_INTEGER);
  }
  if (has(obj, "func")) integer(obj.func, keyPath(path, "func"), U32_MAX);
  if (has(obj, "line")) {
    const at = keyPath(path, "line");
    const line = object(obj.line, at, "a source line");
    checkKeys(line, at, LINE_KEYS, LINE_KEYS);
    string(line.fileName, keyPath(at, "fileName"));
    string(line.lineText, keyPath(at, "lineText"));
    integer(line.line, keyPath(at, "line"), U32_MAX);
    integer(line.column, keyPath(at, "column"), U32_MAX);
  }
  if (has(obj, "coreRelo")) {
    const at = keyPath(path, "coreRelo");
    const relo = object(obj.coreRelo, at, "a CO-RE relocation");
    checkKeys(relo, at, CORE_RELO_KEYS, CORE_RELO_KEYS);
    integer(relo.typeId, keyPath(at, "typeId"), U32_MAX);
    string(relo.accessor, keyPath(at, "accessor"));
    integer(relo.kind, keyPath(at, "kind"), U32_MAX);
  }
  return size + raw.length / 2;
}

function importProblem(path: string, problem: JsonProblem): Error {
  return problem.kind === "depth"
    ? error("JSON_TOO_DEEP", path, `nests deeper than ${MAX_DEPTH} levels`)
    : error("JSON_TYPE", path, `expected a JSON value, got ${describe(problem.value)}`);
}
