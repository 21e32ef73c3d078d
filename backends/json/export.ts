/**
 * The exporter: a {@link CollectionSpec} as a `tsbpf.collection/v1`
 * document, as a plain object or as deterministic text.
 *
 * @module
 */

import type {
  CollectionSpec,
  MapKV,
  MapSpec,
  Metadata,
  ProgramSpec,
} from "../../collection/spec.ts";
import { attachTypeName, MapType, mapTypeName, programTypeName } from "../../collection/types.ts";
import { TsbpfError } from "../../errors/mod.ts";
import { marshalBtf } from "../../btf/marshal.ts";
import type { VariableSpec } from "../../collection/variables.ts";
import type { CoreRelocationResult } from "../../btf/core/result.ts";
import {
  encodeInstructions,
  formatInstruction,
  type Instruction,
  LD_IMM64_OPCODE,
} from "../../isa/mod.ts";
import { JsonSpecError } from "./errors.ts";
import {
  DOCUMENT_FORMAT,
  type JsonCoreRelocation,
  type JsonDocument,
  type JsonInstruction,
  type JsonMap,
  type JsonMapEntry,
  type JsonPinning,
  type JsonProgram,
  type JsonVariable,
} from "./types.ts";
import {
  copyJson,
  describe,
  indexPath,
  isPlainObject,
  type JsonProblem,
  keyPath,
  MAX_DEPTH,
  toHex,
  U32_MAX,
  U64_MAX,
} from "./_util.ts";

/** Options of {@link exportSpec}. */
export interface JsonExportOptions {
  /** Give every instruction its `asm` text. Default `true`. */
  asm?: boolean;
  /**
   * Show resolved references in `asm` (`r1 = map[counts] ll`, `call helper_fn`)
   * instead of raw immediates; `formatInstruction`'s `annotate`. Default `true`.
   */
  annotate?: boolean;
}

/** Options of {@link stringifyDocument}. */
export interface JsonFormatOptions {
  /** Indent with two spaces (default), or write everything on one line. Either ends in a newline. */
  pretty?: boolean;
}

/** Options of {@link stringifySpec}. */
export interface JsonStringifyOptions extends JsonExportOptions, JsonFormatOptions {}

/**
 * `spec` as a document: a plain object of JSON values, with maps and
 * programs in name order. Instructions are written as they encode, in each
 * program's byte order (see the module docs for what that normalizes).
 *
 * Throws {@link JsonSpecError} `JSON_EXPORT_INVALID`, with the document path
 * of the value, when the spec holds something the document cannot carry:
 * a size that is not a u32, an instruction field that does not fit its
 * bits, a map stored under a key other than its name, metadata that is not
 * JSON.
 *
 * ```ts
 * import { CollectionSpec, MapSpec, MapType } from "../../collection/mod.ts";
 * import { exportSpec } from "./export.ts";
 *
 * const spec = new CollectionSpec({
 *   maps: new Map([["counts", new MapSpec({ name: "counts", type: MapType.ARRAY, keySize: 4 })]]),
 * });
 * exportSpec(spec).maps.counts.type; // "array"
 * ```
 */
export function exportSpec(spec: CollectionSpec, options: JsonExportOptions = {}): JsonDocument {
  const byteOrder = checkByteOrder(spec.byteOrder, "byteOrder");
  const maps: [string, JsonMap][] = [];
  for (const name of [...spec.maps.keys()].sort()) {
    const path = keyPath("maps", name);
    const map = spec.maps.get(name)!;
    if (map.name !== name) {
      throw invalid(
        keyPath(path, "name"),
        `the map is stored as ${describe(name)} but named ${describe(map.name)}`,
      );
    }
    maps.push([name, exportMap(map, path, 0)]);
  }
  const programs: [string, JsonProgram][] = [];
  for (const name of [...spec.programs.keys()].sort()) {
    const path = keyPath("programs", name);
    const prog = spec.programs.get(name)!;
    if (prog.name !== name) {
      throw invalid(
        keyPath(path, "name"),
        `the program is stored as ${describe(name)} but named ${describe(prog.name)}`,
      );
    }
    programs.push([name, exportProgram(prog, path, options)]);
  }
  const doc: JsonDocument = {
    format: DOCUMENT_FORMAT,
    byteOrder,
    // fromEntries makes own properties even of "__proto__".
    maps: Object.fromEntries(maps),
    programs: Object.fromEntries(programs),
    metadata: exportMetadata(spec.metadata),
  };
  if (spec.variables.size > 0) {
    doc.variables = Object.fromEntries(
      [...spec.variables.keys()].sort().map((
        name,
      ) => [name, exportVariable(spec.variables.get(name)!, spec)]),
    );
  }
  if (spec.btf !== undefined) doc.btf = toHex(marshalBtf(spec.btf));
  return doc;
}

/** A variable, with its type's name when BTF has one (informative, not read back). */
function exportVariable(v: VariableSpec, spec: CollectionSpec): JsonVariable {
  const out: JsonVariable = {
    section: v.section,
    offset: v.offset,
    size: v.size,
    linkage: v.linkage,
    constant: v.constant,
  };
  if (v.type !== undefined) {
    out.type = v.type;
    if (spec.btf !== undefined) {
      out.typeName = spec.btf.nameOf(spec.btf.skipQualifiers(v.type)) || "(anon)";
    }
  }
  return out;
}

/**
 * `spec` as document text: `exportSpec` written with two-space indents
 * (or on one line with `pretty: false`) and a closing newline. Maps,
 * programs and metadata keys are sorted, so equal specs give identical
 * text whatever order they were built in.
 *
 * ```ts
 * import { CollectionSpec } from "../../collection/mod.ts";
 * import { stringifySpec } from "./export.ts";
 *
 * stringifySpec(new CollectionSpec(), { pretty: false });
 * // '{"format":"tsbpf.collection/v1","byteOrder":"little","maps":{},"programs":{},"metadata":{}}\n'
 * ```
 */
export function stringifySpec(spec: CollectionSpec, options: JsonStringifyOptions = {}): string {
  return stringifyDocument(exportSpec(spec, options), options);
}

/**
 * Document text for `doc`, formatted as {@link stringifySpec} formats it:
 * the names under `maps` and `programs` and every key inside `metadata`
 * sorted, every other object in its own key order.
 */
export function stringifyDocument(doc: JsonDocument, options: JsonFormatOptions = {}): string {
  const writer = new Writer(options.pretty ?? true);
  writer.document(doc);
  return writer.text();
}

/**
 * Writes JSON as `JSON.stringify(value, null, 2)` does (or with no
 * whitespace), except that the names under `maps` and `programs` and the
 * keys inside `metadata` are sorted. Map and program objects themselves go
 * through `JSON.stringify`, which is much faster than walking them here.
 */
class Writer {
  #parts: string[] = [];
  #pretty: boolean;
  #indents: string[] = ["\n"];

  constructor(pretty: boolean) {
    this.#pretty = pretty;
  }

  document(doc: JsonDocument): void {
    const top = doc as unknown as Record<string, unknown>;
    this.#object(top, 0, false, (key, value, depth) => {
      if ((key === "maps" || key === "programs") && isPlainObject(value)) {
        this.#object(value, depth, true, (_, entry, d) => this.#native(entry, d));
      } else {
        this.#value(value, depth, key === "metadata");
      }
    });
    this.#parts.push("\n");
  }

  text(): string {
    return this.#parts.join("");
  }

  /** `value` by `JSON.stringify`, re-indented to sit at `depth`. */
  #native(value: unknown, depth: number): void {
    const text = JSON.stringify(value, null, this.#pretty ? 2 : undefined) ?? "null";
    this.#parts.push(this.#pretty ? text.replaceAll("\n", this.#indent(depth)) : text);
  }

  /** Write `value`; `sort` sorts the keys of every object in it. */
  #value(value: unknown, depth: number, sort: boolean): void {
    if (Array.isArray(value)) {
      this.#array(value, depth, sort);
    } else if (isPlainObject(value)) {
      this.#object(value, depth, sort, (_, v, d) => this.#value(v, d, sort));
    } else {
      this.#parts.push(JSON.stringify(value) ?? "null");
    }
  }

  #array(items: unknown[], depth: number, sort: boolean): void {
    if (items.length === 0) {
      this.#parts.push("[]");
      return;
    }
    this.#parts.push("[");
    for (let i = 0; i < items.length; i++) {
      if (i > 0) this.#parts.push(",");
      this.#newline(depth + 1);
      this.#value(items[i], depth + 1, sort);
    }
    this.#newline(depth);
    this.#parts.push("]");
  }

  #object(
    obj: Record<string, unknown>,
    depth: number,
    sort: boolean,
    writeValue: (key: string, value: unknown, depth: number) => void,
  ): void {
    // As JSON.stringify: keys whose value is undefined are left out.
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
    if (sort) keys.sort();
    if (keys.length === 0) {
      this.#parts.push("{}");
      return;
    }
    this.#parts.push("{");
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) this.#parts.push(",");
      this.#newline(depth + 1);
      this.#parts.push(JSON.stringify(keys[i]), this.#pretty ? ": " : ":");
      writeValue(keys[i], obj[keys[i]], depth + 1);
    }
    this.#newline(depth);
    this.#parts.push("}");
  }

  #newline(depth: number): void {
    if (this.#pretty) this.#parts.push(this.#indent(depth));
  }

  /** A newline and `depth` two-space indents. */
  #indent(depth: number): string {
    while (this.#indents.length <= depth) this.#indents.push(this.#indents.at(-1) + "  ");
    return this.#indents[depth];
  }
}

function invalid(path: string, detail: string, cause?: unknown): JsonSpecError {
  return new JsonSpecError("JSON_EXPORT_INVALID", path, detail, { cause });
}

function u32(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw invalid(path, `expected an integer from 0 to ${U32_MAX}, got ${describe(value)}`);
  }
  return value;
}

function string(value: unknown, path: string): string {
  if (typeof value !== "string") throw invalid(path, `expected a string, got ${describe(value)}`);
  return value;
}

function boolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") throw invalid(path, `expected a boolean, got ${describe(value)}`);
  return value;
}

function bytes(value: unknown, path: string): string {
  if (!(value instanceof Uint8Array)) {
    throw invalid(path, `expected a Uint8Array, got ${describe(value)}`);
  }
  return toHex(value);
}

function checkByteOrder(value: unknown, path: string): "little" | "big" {
  if (value !== "little" && value !== "big") {
    throw invalid(path, `expected "little" or "big", got ${describe(value)}`);
  }
  return value;
}

function exportMap(map: MapSpec, path: string, depth: number): JsonMap {
  if (depth > MAX_DEPTH) throw invalid(path, `inner maps nest deeper than ${MAX_DEPTH} levels`);
  const type = u32(map.type, keyPath(path, "type"));
  const fields = {
    name: string(map.name, keyPath(path, "name")),
    type: mapTypeName(type),
    keySize: u32(map.keySize, keyPath(path, "keySize")),
    valueSize: u32(map.valueSize, keyPath(path, "valueSize")),
    maxEntries: u32(map.maxEntries, keyPath(path, "maxEntries")),
    flags: u32(map.flags, keyPath(path, "flags")),
    pinning: exportPinning(map.pinning, keyPath(path, "pinning")),
    numaNode: u32(map.numaNode, keyPath(path, "numaNode")),
    mapExtra: u64(map.mapExtra, keyPath(path, "mapExtra")),
    freeze: boolean(map.freeze, keyPath(path, "freeze")),
  };
  const contentsPath = keyPath(path, "contents");
  if (!Array.isArray(map.contents)) {
    throw invalid(contentsPath, `expected an array, got ${describe(map.contents)}`);
  }
  const contents = Array.from(
    map.contents,
    (kv, i) => exportEntry(kv, type, indexPath(contentsPath, i)),
  );
  // Keys in schema order: innerMap sits between freeze and contents.
  const out: JsonMap = map.innerMap === undefined ? { ...fields, contents } : {
    ...fields,
    innerMap: exportMap(map.innerMap, keyPath(path, "innerMap"), depth + 1),
    contents,
  };
  if (map.extra !== undefined) out.extra = bytes(map.extra, keyPath(path, "extra"));
  if (map.keyType !== undefined) out.keyType = u32(map.keyType, keyPath(path, "keyType"));
  if (map.valueType !== undefined) out.valueType = u32(map.valueType, keyPath(path, "valueType"));
  return out;
}

function exportPinning(value: number, path: string): JsonPinning {
  if (value === 0) return "none";
  if (value === 1) return "byName";
  return u32(value, path);
}

/** A u64 bigint as a decimal string (JSON numbers lose precision past 2^53). */
function u64(value: unknown, path: string): string {
  if (typeof value !== "bigint" || value < 0n || value > U64_MAX) {
    throw invalid(path, `expected a bigint from 0 to ${U64_MAX}, got ${describe(value)}`);
  }
  return value.toString();
}

function exportEntry(kv: MapKV, mapType: number, path: string): JsonMapEntry {
  if (typeof kv !== "object" || kv === null) {
    throw invalid(path, `expected a { key, value } entry, got ${describe(kv)}`);
  }
  const keyAt = keyPath(path, "key");
  const key = typeof kv.key === "number" ? u32(kv.key, keyAt) : bytes(kv.key, keyAt);
  const valueAt = keyPath(path, "value");
  if (typeof kv.value === "string") {
    // The model keeps only the name; the map type says what it names.
    const value = mapType === MapType.PROG_ARRAY ? { program: kv.value } : { map: kv.value };
    return { key, value };
  }
  return { key, value: bytes(kv.value, valueAt) };
}

function exportProgram(prog: ProgramSpec, path: string, options: JsonExportOptions): JsonProgram {
  const type = u32(prog.type, keyPath(path, "type"));
  u32(prog.attachType, keyPath(path, "attachType"));
  const attachType = prog.expectedAttachType();
  const byteOrder = checkByteOrder(prog.byteOrder, keyPath(path, "byteOrder"));
  const insnsPath = keyPath(path, "instructions");
  if (!Array.isArray(prog.instructions)) {
    throw invalid(insnsPath, `expected an array, got ${describe(prog.instructions)}`);
  }
  const littleEndian = byteOrder === "little";
  const instructions = exportInstructions(prog.instructions, littleEndian, insnsPath, options);
  const out: JsonProgram = {
    name: string(prog.name, keyPath(path, "name")),
    type: programTypeName(type),
    attachType: attachType === undefined ? null : attachTypeName(attachType),
    attachTo: string(prog.attachTo, keyPath(path, "attachTo")),
    sectionName: string(prog.sectionName, keyPath(path, "sectionName")),
    license: string(prog.license, keyPath(path, "license")),
    kernelVersion: u32(prog.kernelVersion, keyPath(path, "kernelVersion")),
    flags: u32(prog.flags, keyPath(path, "flags")),
    autoload: boolean(prog.autoload, keyPath(path, "autoload")),
    byteOrder,
    references: prog.references(),
    functions: prog.functions(),
    instructions,
  };
  if (prog.coreRelocations !== undefined) {
    const at = keyPath(path, "coreRelocations");
    if (!Array.isArray(prog.coreRelocations)) {
      throw invalid(at, `expected an array, got ${describe(prog.coreRelocations)}`);
    }
    out.coreRelocations = prog.coreRelocations.map((r, i) =>
      exportCoreRelocation(r, indexPath(at, i))
    );
  }
  return out;
}

const CORE_STATUSES: readonly string[] = ["patched", "poisoned", "unresolved"];

function exportCoreRelocation(r: CoreRelocationResult, path: string): JsonCoreRelocation {
  if (typeof r !== "object" || r === null) {
    throw invalid(path, `expected a CO-RE relocation result, got ${describe(r)}`);
  }
  if (!CORE_STATUSES.includes(r.status)) {
    throw invalid(
      keyPath(path, "status"),
      `expected "patched", "poisoned" or "unresolved", got ${describe(r.status)}`,
    );
  }
  const head = {
    insn: u32(r.insn, keyPath(path, "insn")),
    kind: u32(r.kind, keyPath(path, "kind")),
    kindName: string(r.kindName, keyPath(path, "kindName")),
    localTypeId: u32(r.localTypeId, keyPath(path, "localTypeId")),
    localType: string(r.localType, keyPath(path, "localType")),
    accessor: string(r.accessor, keyPath(path, "accessor")),
    spec: string(r.spec, keyPath(path, "spec")),
  };
  const tail = {
    origValue: u64(r.origValue, keyPath(path, "origValue")),
    newValue: u64(r.newValue, keyPath(path, "newValue")),
    status: r.status,
  };
  let out: JsonCoreRelocation = { ...head, ...tail };
  if (r.target !== undefined) {
    const at = keyPath(path, "target");
    if (typeof r.target !== "object" || r.target === null) {
      throw invalid(at, `expected a { btf, typeId, spec } target, got ${describe(r.target)}`);
    }
    const target = {
      btf: string(r.target.btf, keyPath(at, "btf")),
      typeId: u32(r.target.typeId, keyPath(at, "typeId")),
      spec: string(r.target.spec, keyPath(at, "spec")),
    };
    // Keys in schema order: target sits between spec and origValue.
    out = { ...head, target, ...tail };
  }
  if (r.reason !== undefined) out.reason = string(r.reason, keyPath(path, "reason"));
  return out;
}

function exportInstructions(
  insns: Instruction[],
  littleEndian: boolean,
  path: string,
  options: JsonExportOptions,
): JsonInstruction[] {
  // Metadata first, in order; then one encoding of the whole program, which
  // is much faster than one per instruction.
  for (let i = 0; i < insns.length; i++) checkMetadata(insns[i], indexPath(path, i));
  let encoded: Uint8Array;
  try {
    encoded = encodeInstructions(insns, { littleEndian });
  } catch (err) {
    if (!(err instanceof TsbpfError)) throw err;
    throw encodingError(insns, littleEndian, path) ?? err;
  }
  const asm = options.asm ?? true;
  const annotate = options.annotate ?? true;
  const out: JsonInstruction[] = new Array(insns.length);
  let pos = 0;
  for (let i = 0; i < insns.length; i++) {
    const ins = insns[i];
    const size = ins.opcode === LD_IMM64_OPCODE ? 16 : 8;
    const item: JsonInstruction = { raw: toHex(encoded.subarray(pos, pos + size)) };
    pos += size;
    if (asm) item.asm = formatInstruction(ins, { annotate });
    if (ins.symbol !== undefined) item.symbol = ins.symbol;
    if (ins.reference !== undefined) item.reference = ins.reference;
    if (ins.sourceOffset !== undefined) item.sourceOffset = ins.sourceOffset;
    if (ins.func !== undefined) item.func = ins.func;
    if (ins.line !== undefined) item.line = { ...ins.line };
    if (ins.coreRelo !== undefined) item.coreRelo = { ...ins.coreRelo };
    if (ins.btfModule !== undefined) item.btfModule = ins.btfModule;
    out[i] = item;
  }
  return out;
}

function checkMetadata(ins: Instruction, path: string): void {
  if (typeof ins !== "object" || ins === null) {
    throw invalid(path, `expected an instruction, got ${describe(ins)}`);
  }
  if (ins.symbol !== undefined) string(ins.symbol, keyPath(path, "symbol"));
  if (ins.reference !== undefined) string(ins.reference, keyPath(path, "reference"));
  if (ins.btfModule !== undefined) string(ins.btfModule, keyPath(path, "btfModule"));
  const offset = ins.sourceOffset;
  if (offset !== undefined && (!Number.isSafeInteger(offset) || offset < 0)) {
    throw invalid(
      keyPath(path, "sourceOffset"),
      `expected an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${describe(offset)}`,
    );
  }
}

/** The error for the first instruction that does not encode, with its path. */
function encodingError(
  insns: Instruction[],
  littleEndian: boolean,
  path: string,
): JsonSpecError | undefined {
  for (let i = 0; i < insns.length; i++) {
    try {
      encodeInstructions([insns[i]], { littleEndian });
    } catch (err) {
      if (!(err instanceof TsbpfError)) throw err;
      // The codec's detail starts with a position ("pc 0 (…): "); the path says that better.
      const at = err.detail.indexOf("): ");
      return invalid(indexPath(path, i), at < 0 ? err.detail : err.detail.slice(at + 3), err);
    }
  }
  return undefined;
}

function exportMetadata(metadata: Metadata): Metadata {
  if (!isPlainObject(metadata)) {
    throw invalid("metadata", `expected a plain object, got ${describe(metadata)}`);
  }
  return copyJson(metadata, "metadata", exportProblem) as Metadata;
}

function exportProblem(path: string, problem: JsonProblem): Error {
  return invalid(
    path,
    problem.kind === "depth"
      ? `metadata nests deeper than ${MAX_DEPTH} levels`
      : `expected a JSON value (null, a boolean, a finite number, a string, an array or a plain object), got ${
        describe(problem.value)
      }`,
  );
}
