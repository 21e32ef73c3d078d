/**
 * Specs: descriptions of maps and programs that can be inspected, copied and
 * edited before any backend turns them into live objects.
 *
 * @module
 */

import type { Instruction } from "../isa/instruction.ts";
import { type AttachType, type MapType, type PinType, ProgramType } from "./types.ts";
import type { VariableSpec } from "./variables.ts";
import type { Btf } from "../btf/btf.ts";
import { type BtfValue, decodeValue, encodeValue } from "../btf/value.ts";
import { marshalBtf } from "../btf/marshal.ts";
import { SpecError } from "../errors/mod.ts";
import { copyCoreResult, type CoreRelocationResult, coreResultsEqual } from "../btf/core/result.ts";

const CGROUP_SKB = ProgramType.CGROUP_SKB;

/** Byte order of an object and of the instructions in it. */
export type ByteOrder = "little" | "big";

/**
 * One initial entry of a map. Keys of array-like maps are indexes; a string
 * value names a program (prog arrays) or a map (map-of-maps) that a backend
 * resolves at load time.
 */
export interface MapKV {
  /** Array index, or raw key bytes. */
  key: number | Uint8Array;
  /** Raw value bytes, or the name of a program or map. */
  value: Uint8Array | string;
}

/** The fields of a {@link MapSpec}; every field but `name` and `type` has a default. */
export interface MapSpecInit {
  name: string;
  type: MapType;
  keySize?: number;
  valueSize?: number;
  maxEntries?: number;
  flags?: number;
  pinning?: PinType;
  numaNode?: number;
  mapExtra?: bigint;
  innerMap?: MapSpec;
  contents?: MapKV[];
  freeze?: boolean;
  extra?: Uint8Array;
  keyType?: number;
  valueType?: number;
}

/** A map as the object describes it (cilium/ebpf's `MapSpec`). */
export class MapSpec {
  /** Name as written in the object; data sections keep theirs (`.rodata`). */
  name: string;
  /** BPF_MAP_TYPE_*. */
  type: MapType;
  /** Key size in bytes. */
  keySize: number;
  /** Value size in bytes. */
  valueSize: number;
  /** max_entries. */
  maxEntries: number;
  /** map_flags (BPF_F_*). */
  flags: number;
  /** Pinning mode (LIBBPF_PIN_*). */
  pinning: PinType;
  /** NUMA node, when BPF_F_NUMA_NODE is set. */
  numaNode: number;
  /** map_extra (bloom filter hash count, arena address). */
  mapExtra: bigint;
  /** Template for the inner maps of a map-of-maps. */
  innerMap?: MapSpec;
  /** Initial contents, written after creation. */
  contents: MapKV[];
  /** Freeze the map after writing contents (read-only for user space). */
  freeze: boolean;
  /** Bytes of a legacy map definition past the five standard fields. */
  extra?: Uint8Array;
  /** BTF type ID of the key in the collection's BTF (`CollectionSpec.btf`). */
  keyType?: number;
  /** BTF type ID of the value (for data sections: their DATASEC). */
  valueType?: number;

  constructor(init: MapSpecInit) {
    this.name = init.name;
    this.type = init.type;
    this.keySize = init.keySize ?? 0;
    this.valueSize = init.valueSize ?? 0;
    this.maxEntries = init.maxEntries ?? 0;
    this.flags = init.flags ?? 0;
    this.pinning = init.pinning ?? 0;
    this.numaNode = init.numaNode ?? 0;
    this.mapExtra = init.mapExtra ?? 0n;
    this.innerMap = init.innerMap;
    this.contents = init.contents ?? [];
    this.freeze = init.freeze ?? false;
    this.extra = init.extra;
    this.keyType = init.keyType;
    this.valueType = init.valueType;
  }

  /** A deep copy: editing it never changes this spec. */
  copy(): MapSpec {
    return new MapSpec({
      ...this,
      innerMap: this.innerMap?.copy(),
      contents: this.contents.map(copyKV),
      extra: this.extra?.slice(),
    });
  }

  /** Structural equality, contents and inner map included. */
  equals(other: MapSpec): boolean {
    return this.name === other.name && this.type === other.type &&
      this.keySize === other.keySize && this.valueSize === other.valueSize &&
      this.maxEntries === other.maxEntries && this.flags === other.flags &&
      this.pinning === other.pinning && this.numaNode === other.numaNode &&
      this.mapExtra === other.mapExtra && this.freeze === other.freeze &&
      this.keyType === other.keyType && this.valueType === other.valueType &&
      optionalEquals(this.innerMap, other.innerMap, (a, b) => a.equals(b)) &&
      optionalEquals(this.extra, other.extra, bytesEqual) &&
      arrayEquals(this.contents, other.contents, kvEquals);
  }
}

/** The fields of a {@link ProgramSpec}; every field but `name`, `type` and `instructions` has a default. */
export interface ProgramSpecInit {
  name: string;
  type: ProgramType;
  instructions: Instruction[];
  attachType?: AttachType;
  attachTo?: string;
  sectionName?: string;
  license?: string;
  kernelVersion?: number;
  flags?: number;
  autoload?: boolean;
  byteOrder?: ByteOrder;
  coreRelocations?: CoreRelocationResult[];
}

/** A program as the object describes it (cilium/ebpf's `ProgramSpec`). */
export class ProgramSpec {
  /** Function name of the program's entry point. */
  name: string;
  /** BPF_PROG_TYPE_*. */
  type: ProgramType;
  /** expected_attach_type; 0 when the section implies none. */
  attachType: AttachType;
  /** Attach target from the section name (`kprobe/do_sys_open` → `do_sys_open`). */
  attachTo: string;
  /** ELF section the program came from, without a leading `?`. */
  sectionName: string;
  /** License string from the `license` section. */
  license: string;
  /** kern_version from the `version` section. */
  kernelVersion: number;
  /** prog_flags (BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS, …). */
  flags: number;
  /** Whether a backend loads it by default (`false` for `?`-prefixed sections). */
  autoload: boolean;
  /** Byte order of the object the instructions came from. */
  byteOrder: ByteOrder;
  /** The program's instructions with its subprograms appended (flattened). */
  instructions: Instruction[];
  /** CO-RE relocations as the `core` stage applied them; absent when it did not run or there were none. */
  coreRelocations?: CoreRelocationResult[];

  constructor(init: ProgramSpecInit) {
    this.name = init.name;
    this.type = init.type;
    this.instructions = init.instructions;
    this.attachType = init.attachType ?? 0;
    this.attachTo = init.attachTo ?? "";
    this.sectionName = init.sectionName ?? "";
    this.license = init.license ?? "";
    this.kernelVersion = init.kernelVersion ?? 0;
    this.flags = init.flags ?? 0;
    this.autoload = init.autoload ?? true;
    this.byteOrder = init.byteOrder ?? "little";
    if (init.coreRelocations !== undefined) this.coreRelocations = init.coreRelocations;
  }

  /** A deep copy: editing it or its instructions never changes this spec. */
  copy(): ProgramSpec {
    return new ProgramSpec({
      ...this,
      instructions: this.instructions.map(copyInstruction),
      coreRelocations: this.coreRelocations?.map(copyCoreResult),
    });
  }

  /** Structural equality, instructions and their metadata included. */
  equals(other: ProgramSpec): boolean {
    return this.name === other.name && this.type === other.type &&
      this.attachType === other.attachType && this.attachTo === other.attachTo &&
      this.sectionName === other.sectionName && this.license === other.license &&
      this.kernelVersion === other.kernelVersion && this.flags === other.flags &&
      this.autoload === other.autoload && this.byteOrder === other.byteOrder &&
      arrayEquals(this.instructions, other.instructions, instructionEquals) &&
      optionalEquals(
        this.coreRelocations,
        other.coreRelocations,
        (a, b) => arrayEquals(a, b, coreResultsEqual),
      );
  }

  /**
   * The expected attach type, or `undefined` when the program has none.
   * The kernel's 0 means both "none" and BPF_CGROUP_INET_INGRESS; only
   * cgroup_skb programs can mean the latter.
   */
  expectedAttachType(): AttachType | undefined {
    if (this.attachType !== 0) return this.attachType;
    return this.type === CGROUP_SKB && this.sectionName === "cgroup_skb/ingress"
      ? this.attachType
      : undefined;
  }

  /** Names this program's instructions refer to (maps, data sections, functions, externs), sorted. */
  references(): string[] {
    const names = new Set<string>();
    for (const ins of this.instructions) if (ins.reference !== undefined) names.add(ins.reference);
    return [...names].sort();
  }

  /** Names of the functions in this program, entry point first, in instruction order. */
  functions(): string[] {
    const names: string[] = [];
    for (const ins of this.instructions) if (ins.symbol !== undefined) names.push(ins.symbol);
    return names;
  }
}

/** Plugin-provided facts about an object: JSON-compatible values by key. */
export type Metadata = Record<string, JsonValue>;

/** A value JSON can represent. */
export type JsonValue = string | number | boolean | null | JsonValue[] | {
  [key: string]: JsonValue;
};

/** The fields of a {@link CollectionSpec}. */
export interface CollectionSpecInit {
  maps?: Map<string, MapSpec>;
  programs?: Map<string, ProgramSpec>;
  byteOrder?: ByteOrder;
  metadata?: Metadata;
  btf?: Btf;
  variables?: Map<string, VariableSpec>;
}

/** Everything an object file describes: its maps and its programs. */
export class CollectionSpec {
  /** Maps by name. */
  maps: Map<string, MapSpec>;
  /** Programs by name. */
  programs: Map<string, ProgramSpec>;
  /** Byte order of the object. */
  byteOrder: ByteOrder;
  /**
   * What plugins learned about the object (e.g. a `.tsbpf.meta` section),
   * by key; keys are the plugin's to choose, conventionally its name.
   */
  metadata: Metadata;
  /**
   * The object's BTF, data sections fixed up: the types map keys and
   * values, variables and `func`/`line` instruction metadata refer to.
   * Shared by copies: treat it as read-only.
   */
  btf?: Btf;
  /** Global and static variables of the data-section maps, by name. */
  variables: Map<string, VariableSpec>;

  constructor(init: CollectionSpecInit = {}) {
    this.maps = init.maps ?? new Map();
    this.programs = init.programs ?? new Map();
    this.byteOrder = init.byteOrder ?? "little";
    this.metadata = init.metadata ?? {};
    this.btf = init.btf;
    this.variables = init.variables ?? new Map();
  }

  /**
   * The value of a variable: decoded with its BTF type (numbers, bigints
   * for 64-bit, objects for structs, arrays), or its raw bytes when the
   * object has no BTF.
   */
  getVariable(name: string): BtfValue | Uint8Array {
    const { variable, bytes } = this.#variableBytes(name);
    if (variable.type === undefined || this.btf === undefined) return bytes.slice();
    return decodeValue(this.btf, variable.type, bytes, {
      littleEndian: this.byteOrder === "little",
    });
  }

  /**
   * Set a variable before load: encodes `value` with its BTF type (or takes
   * raw bytes of its size) into the contents of its section's map.
   */
  setVariable(name: string, value: unknown): void {
    const { variable, map, bytes } = this.#variableBytes(name);
    let encoded: Uint8Array;
    if (value instanceof Uint8Array) {
      if (value.length !== variable.size) {
        throw new SpecError(
          "SPEC_BAD_VALUE",
          `variable ${name}: ${value.length} bytes, want ${variable.size}`,
        );
      }
      encoded = value;
    } else if (variable.type !== undefined && this.btf !== undefined) {
      encoded = mergeEncoded(this.btf, variable, {
        current: bytes,
        value,
        littleEndian: this.byteOrder === "little",
      });
    } else {
      throw new SpecError(
        "SPEC_BAD_VALUE",
        `variable ${name} has no BTF type: set it with a Uint8Array of ${variable.size} bytes`,
      );
    }
    const contents = new Uint8Array(map.valueSize);
    const old = map.contents[0]?.value;
    if (old instanceof Uint8Array) contents.set(old.subarray(0, contents.length));
    contents.set(encoded, variable.offset);
    map.contents = [{ key: 0, value: contents }];
  }

  #variableBytes(name: string): { variable: VariableSpec; map: MapSpec; bytes: Uint8Array } {
    const variable = this.variables.get(name);
    if (variable === undefined) {
      const known = [...this.variables.keys()].sort().join(", ") || "none";
      throw new SpecError(
        "SPEC_NO_VARIABLE",
        `no variable ${JSON.stringify(name)} (variables: ${known})`,
      );
    }
    const map = this.maps.get(variable.section);
    if (map === undefined) {
      throw new SpecError(
        "SPEC_NO_VARIABLE",
        `variable ${name}: its section ${variable.section} has no map`,
      );
    }
    if (variable.offset + variable.size > map.valueSize) {
      throw new SpecError(
        "SPEC_BAD_VALUE",
        `variable ${name} at ${variable.offset} (+${variable.size}) is outside ${map.name}`,
      );
    }
    const current = map.contents[0]?.value;
    const bytes = current instanceof Uint8Array
      ? current.subarray(variable.offset, variable.offset + variable.size)
      : new Uint8Array(variable.size);
    return { variable, map, bytes };
  }

  /** A deep copy of every map and program. */
  copy(): CollectionSpec {
    return new CollectionSpec({
      maps: new Map([...this.maps].map(([name, spec]) => [name, spec.copy()])),
      programs: new Map([...this.programs].map(([name, spec]) => [name, spec.copy()])),
      byteOrder: this.byteOrder,
      metadata: structuredClone(this.metadata),
      btf: this.btf,
      variables: new Map([...this.variables].map(([name, v]) => [name, { ...v }])),
    });
  }

  /** Structural equality of all maps, programs and metadata, independent of insertion order. */
  equals(other: CollectionSpec): boolean {
    return this.byteOrder === other.byteOrder && jsonEquals(this.metadata, other.metadata) &&
      btfEquals(this.btf, other.btf) &&
      mapsEqual(this.variables, other.variables, variableEquals) &&
      mapsEqual(this.maps, other.maps, (a, b) => a.equals(b)) &&
      mapsEqual(this.programs, other.programs, (a, b) => a.equals(b));
  }
}

/** A copy of an instruction that shares nothing with it. */
export function copyInstruction(ins: Instruction): Instruction {
  const copy = { ...ins };
  if (ins.secondSlot !== undefined) copy.secondSlot = { ...ins.secondSlot };
  if (ins.line !== undefined) copy.line = { ...ins.line };
  if (ins.coreRelo !== undefined) copy.coreRelo = { ...ins.coreRelo };
  return copy;
}

/** Field-by-field equality of two instructions, metadata included. */
export function instructionEquals(a: Instruction, b: Instruction): boolean {
  const keysA = Object.keys(a) as (keyof Instruction)[];
  const keysB = Object.keys(b) as (keyof Instruction)[];
  const defined = (ins: Instruction, keys: (keyof Instruction)[]) =>
    keys.filter((k) => ins[k] !== undefined).length;
  if (defined(a, keysA) !== defined(b, keysB)) return false;
  for (const k of keysA) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    // Metadata objects (second slot, source line, CO-RE record) hold primitives only.
    if (typeof x !== "object" || typeof y !== "object" || !shallowEquals(x, y)) return false;
  }
  return true;
}

function shallowEquals(a: object, b: object): boolean {
  const ka = Object.keys(a) as (keyof typeof a)[];
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

/** Byte-wise equality of two arrays. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Same types in the same order: the same object, or equal bytes when marshalled alike. */
export function btfEquals(a: Btf | undefined, b: Btf | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const options = { littleEndian: true, strings: "compact" as const };
  return bytesEqual(marshalBtf(a, options), marshalBtf(b, options));
}

function variableEquals(a: VariableSpec, b: VariableSpec): boolean {
  return a.name === b.name && a.section === b.section && a.offset === b.offset &&
    a.size === b.size &&
    a.type === b.type && a.linkage === b.linkage && a.constant === b.constant;
}

/**
 * `value` encoded over `current`: for structs, members `value` leaves out
 * keep their current bytes.
 */
function mergeEncoded(
  btf: Btf,
  variable: VariableSpec,
  input: { current: Uint8Array; value: unknown; littleEndian: boolean },
): Uint8Array {
  const options = { littleEndian: input.littleEndian };
  const before = decodeValue(btf, variable.type!, input.current, options);
  const merged =
    typeof before === "object" && !Array.isArray(before) && typeof input.value === "object" &&
      input.value !== null && !Array.isArray(input.value) && !(input.value instanceof Uint8Array)
      ? { ...before, ...(input.value as Record<string, unknown>) }
      : input.value;
  return encodeValue(btf, variable.type!, merged, options);
}

/** Deep equality of JSON values; object key order does not matter. */
export function jsonEquals(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && arrayEquals(a, b, jsonEquals);
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && jsonEquals(a[k], b[k]));
}

function copyKV(kv: MapKV): MapKV {
  return {
    key: typeof kv.key === "number" ? kv.key : kv.key.slice(),
    value: typeof kv.value === "string" ? kv.value : kv.value.slice(),
  };
}

function kvEquals(a: MapKV, b: MapKV): boolean {
  return valueEquals(a.key, b.key) && valueEquals(a.value, b.value);
}

function valueEquals(a: number | string | Uint8Array, b: number | string | Uint8Array): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return bytesEqual(a, b);
  return a === b;
}

function optionalEquals<T>(
  a: T | undefined,
  b: T | undefined,
  eq: (a: T, b: T) => boolean,
): boolean {
  if (a === undefined || b === undefined) return a === b;
  return eq(a, b);
}

function arrayEquals<T>(a: T[], b: T[], eq: (a: T, b: T) => boolean): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!eq(a[i], b[i])) return false;
  return true;
}

function mapsEqual<T>(a: Map<string, T>, b: Map<string, T>, eq: (a: T, b: T) => boolean): boolean {
  if (a.size !== b.size) return false;
  for (const [name, value] of a) {
    const other = b.get(name);
    if (other === undefined || !eq(value, other)) return false;
  }
  return true;
}
