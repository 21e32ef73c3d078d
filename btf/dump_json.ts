/**
 * BTF as JSON, shaped like `bpftool -j btf dump … format raw`: a document
 * `{ "types": [...] }` with one object per type, in ID order.
 *
 * Every object starts with `id`, `kind` (bpftool's kind name: `INT`,
 * `STRUCT`, `FUNC_PROTO`, …, `UNKNOWN` for kinds bpftool does not know)
 * and `name` (`"(anon)"` for anonymous types, as bpftool prints it), then
 * the kind's fields under bpftool's names, in bpftool's order:
 *
 * | kind | fields |
 * | --- | --- |
 * | `INT` | `size`, `bits_offset`, `nr_bits`, `encoding` (`"(none)"`, `"SIGNED"`, `"CHAR"`, `"BOOL"`, `"UNKN"`) |
 * | `PTR`, `CONST`, `VOLATILE`, `RESTRICT`, `TYPEDEF`, `TYPE_TAG` | `type_id` |
 * | `ARRAY` | `type_id`, `index_type_id`, `nr_elems` |
 * | `STRUCT`, `UNION` | `size`, `vlen`, `members`: `{ name, type_id, bits_offset, bitfield_size? }` (`bitfield_size` only for bitfields) |
 * | `ENUM` | `encoding` (`"SIGNED"`/`"UNSIGNED"`), `size`, `vlen`, `values`: `{ name, val }` (`val` a number, negative for signed enums) |
 * | `ENUM64` | as `ENUM`, but `val` is a decimal string (64-bit values do not fit a JSON number) |
 * | `FWD` | `fwd_kind` (`"struct"`/`"union"`) |
 * | `FUNC` | `type_id`, `linkage` (`"static"`, `"global"`, `"extern"`) |
 * | `FUNC_PROTO` | `ret_type_id`, `vlen`, `params`: `{ name, type_id }` (a last `type_id` 0 is `...`) |
 * | `VAR` | `type_id`, `linkage` |
 * | `DATASEC` | `size`, `vlen`, `vars`: `{ type_id, offset, size }` |
 * | `FLOAT` | `size` |
 * | `DECL_TAG` | `type_id`, `component_idx` (-1 for the declaration itself) |
 *
 * Apart from `ENUM64` values, each object equals bpftool's. The document
 * is deterministic: the same BTF always gives the same JSON text.
 *
 * ```ts
 * import { Btf } from "./btf.ts";
 * import { dumpJson } from "./dump_json.ts";
 * import { readFileSync } from "node:fs";
 *
 * const btf = Btf.parse(readFileSync("/sys/kernel/btf/vmlinux"));
 * console.log(JSON.stringify(dumpJson(btf).types[0]));
 * // {"id":1,"kind":"INT","name":"long unsigned int","size":8,"bits_offset":0,"nr_bits":64,"encoding":"(none)"}
 * ```
 *
 * @module
 */

import type { Btf } from "./btf.ts";
import { BtfKind, type BtfType } from "./types.ts";
import {
  bpftoolIntEncoding,
  bpftoolKindName,
  bpftoolLinkage,
  bpftoolName,
  dumpIds,
  type DumpRawOptions,
} from "./dump_raw.ts";

/** A struct or union member. */
export interface BtfJsonMember {
  /** Member name, `"(anon)"` when anonymous. */
  name: string;
  /** Member type ID. */
  type_id: number;
  /** Offset from the start of the struct, in bits. */
  bits_offset: number;
  /** Bitfield width in bits; present only for bitfields. */
  bitfield_size?: number;
}

/** An enumerator; `val` is a decimal string for ENUM64. */
export interface BtfJsonEnumValue {
  /** Enumerator name. */
  name: string;
  /** Value: a number for ENUM, a decimal string for ENUM64. */
  val: number | string;
}

/** A function prototype parameter. */
export interface BtfJsonParam {
  /** Parameter name, `"(anon)"` when unnamed. */
  name: string;
  /** Parameter type ID; 0 for a trailing `...`. */
  type_id: number;
}

/** A variable's place in a DATASEC. */
export interface BtfJsonVar {
  /** The VAR (or FUNC) type ID. */
  type_id: number;
  /** Offset in the section, in bytes. */
  offset: number;
  /** Size in bytes. */
  size: number;
}

/**
 * One type. `id`, `kind` and `name` are always present; the other fields
 * depend on the kind (see the module documentation).
 */
export interface BtfJsonType {
  /** Type ID. */
  id: number;
  /** bpftool's kind name. */
  kind: string;
  /** Name, `"(anon)"` when anonymous. */
  name: string;
  /** INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT: size in bytes. */
  size?: number;
  /** INT: bit offset of the value. */
  bits_offset?: number;
  /** INT: number of value bits. */
  nr_bits?: number;
  /** INT: `"(none)"`, `"SIGNED"`, `"CHAR"`, `"BOOL"`; ENUM, ENUM64: `"SIGNED"`, `"UNSIGNED"`. */
  encoding?: string;
  /** Referenced type ID (pointee, element, alias target, FUNC_PROTO, variable type, tagged type). */
  type_id?: number;
  /** ARRAY: index type ID. */
  index_type_id?: number;
  /** ARRAY: number of elements. */
  nr_elems?: number;
  /** STRUCT, UNION, ENUM, ENUM64, FUNC_PROTO, DATASEC: number of entries. */
  vlen?: number;
  /** STRUCT, UNION: members. */
  members?: BtfJsonMember[];
  /** ENUM, ENUM64: enumerators. */
  values?: BtfJsonEnumValue[];
  /** FWD: `"struct"` or `"union"`. */
  fwd_kind?: string;
  /** FUNC, VAR: `"static"`, `"global"`, `"extern"`. */
  linkage?: string;
  /** FUNC_PROTO: return type ID. */
  ret_type_id?: number;
  /** FUNC_PROTO: parameters. */
  params?: BtfJsonParam[];
  /** DATASEC: variables. */
  vars?: BtfJsonVar[];
  /** DECL_TAG: member or parameter index, -1 for the declaration itself. */
  component_idx?: number;
}

/** The document: bpftool's top-level `{ "types": [...] }`. */
export interface BtfJsonDocument {
  /** Types in ID order (or the order of `ids`). */
  types: BtfJsonType[];
}

/** Options for {@link dumpJson}: the same as for the raw dump. */
export type DumpJsonOptions = DumpRawOptions;

/**
 * Every type of `btf` (for split BTF: of the split part) as a JSON-ready
 * object, the way `bpftool -j btf dump` shapes it.
 */
export function dumpJson(btf: Btf, options: DumpJsonOptions = {}): BtfJsonDocument {
  const types: BtfJsonType[] = [];
  for (const id of dumpIds(btf, options.ids)) {
    const kind = btf.kindOf(id);
    types.push(
      kind > BtfKind.ENUM64
        ? { id, kind: "UNKNOWN", name: bpftoolName(btf.nameOf(id)) }
        : typeToJson(btf.type(id)),
    );
  }
  return { types };
}

/** One decoded type as bpftool's JSON object. */
export function typeToJson(t: BtfType): BtfJsonType {
  const head = { id: t.id, kind: bpftoolKindName(t.kind), name: bpftoolName(t.name) };
  switch (t.kind) {
    case BtfKind.INT:
      return {
        ...head,
        size: t.size,
        bits_offset: t.bitOffset,
        nr_bits: t.bits,
        encoding: bpftoolIntEncoding(t.encoding),
      };
    case BtfKind.PTR:
    case BtfKind.CONST:
    case BtfKind.VOLATILE:
    case BtfKind.RESTRICT:
    case BtfKind.TYPEDEF:
    case BtfKind.TYPE_TAG:
      return { ...head, type_id: t.type };
    case BtfKind.ARRAY:
      return { ...head, type_id: t.type, index_type_id: t.indexType, nr_elems: t.nelems };
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      return {
        ...head,
        size: t.size,
        vlen: t.members.length,
        members: t.members.map((m) => {
          const out: BtfJsonMember = {
            name: bpftoolName(m.name),
            type_id: m.type,
            bits_offset: m.bitOffset,
          };
          if (m.bitfieldSize) out.bitfield_size = m.bitfieldSize;
          return out;
        }),
      };
    case BtfKind.ENUM:
    case BtfKind.ENUM64:
      return {
        ...head,
        encoding: t.signed ? "SIGNED" : "UNSIGNED",
        size: t.size,
        vlen: t.values.length,
        values: t.values.map((v) => ({
          name: bpftoolName(v.name),
          val: typeof v.value === "bigint" ? v.value.toString() : v.value,
        })),
      };
    case BtfKind.FWD:
      return { ...head, fwd_kind: t.union ? "union" : "struct" };
    case BtfKind.FUNC:
      return { ...head, type_id: t.type, linkage: bpftoolLinkage(t.linkage) };
    case BtfKind.FUNC_PROTO:
      return {
        ...head,
        ret_type_id: t.returnType,
        vlen: t.params.length,
        params: t.params.map((p) => ({ name: bpftoolName(p.name), type_id: p.type })),
      };
    case BtfKind.VAR:
      return { ...head, type_id: t.type, linkage: bpftoolLinkage(t.linkage) };
    case BtfKind.DATASEC:
      return {
        ...head,
        size: t.size,
        vlen: t.vars.length,
        vars: t.vars.map((v) => ({ type_id: v.type, offset: v.offset, size: v.size })),
      };
    case BtfKind.FLOAT:
      return { ...head, size: t.size };
    case BtfKind.DECL_TAG:
      return { ...head, type_id: t.type, component_idx: t.componentIdx };
    default:
      return head;
  }
}
