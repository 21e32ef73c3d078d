/**
 * `bpftool btf dump … format raw`: one line per type (plus one indented
 * line per member, enumerator, parameter or section variable), byte for
 * byte what bpftool v7.1 (libbpf 1.1) prints.
 *
 * ```ts
 * import { Btf } from "./btf.ts";
 * import { dumpRaw } from "./dump_raw.ts";
 * import { readFileSync } from "node:fs";
 *
 * const btf = Btf.parse(readFileSync("/sys/kernel/btf/vmlinux"));
 * console.log(dumpRaw(btf).split("\n", 3).join("\n"));
 * // [1] INT 'long unsigned int' size=8 bits_offset=0 nr_bits=64 encoding=(none)
 * // [2] CONST '(anon)' type_id=1
 * ```
 *
 * For split BTF (a kernel module's BTF on top of vmlinux) only the split
 * part is listed, numbered after the base, as bpftool does.
 *
 * @module
 */

import type { Btf } from "./btf.ts";
import { BtfKind, type BtfType } from "./types.ts";

/** bpftool's kind names; kinds past ENUM64 print as `UNKNOWN`. */
const KIND_NAMES = [
  "UNKNOWN",
  "INT",
  "PTR",
  "ARRAY",
  "STRUCT",
  "UNION",
  "ENUM",
  "FWD",
  "TYPEDEF",
  "VOLATILE",
  "CONST",
  "RESTRICT",
  "FUNC",
  "FUNC_PROTO",
  "VAR",
  "DATASEC",
  "FLOAT",
  "DECL_TAG",
  "TYPE_TAG",
  "ENUM64",
];

/**
 * The kind name bpftool prints (`STRUCT`, `FUNC_PROTO`, …; `UNKNOWN` for
 * kind 0 and for kinds it does not know).
 */
export function bpftoolKindName(kind: number): string {
  return KIND_NAMES[kind] ?? "UNKNOWN";
}

/** bpftool's `btf_str`: anonymous names print as `(anon)`. */
export function bpftoolName(name: string): string {
  return name === "" ? "(anon)" : name;
}

/** bpftool's `btf_int_enc_str`: the whole encoding byte, not its bits. */
export function bpftoolIntEncoding(encoding: number): string {
  switch (encoding) {
    case 0:
      return "(none)";
    case 1:
      return "SIGNED";
    case 2:
      return "CHAR";
    case 4:
      return "BOOL";
    default:
      return "UNKN";
  }
}

/** bpftool's linkage names for FUNC (vlen) and VAR (linkage) alike. */
export function bpftoolLinkage(linkage: number): string {
  switch (linkage) {
    case 0:
      return "static";
    case 1:
      return "global";
    case 2:
      return "extern";
    default:
      return "(unknown)";
  }
}

/** Options for {@link dumpRaw} and {@link dumpRawLines}. */
export interface DumpRawOptions {
  /**
   * Type IDs to list, in this order (bpftool's root types for `map … kv`);
   * default: every type of this blob, in ID order.
   */
  ids?: Iterable<number>;
}

/** The IDs a dump walks: the given ones, or this blob's own types in order. */
export function* dumpIds(btf: Btf, ids?: Iterable<number>): Generator<number> {
  if (ids !== undefined) {
    yield* ids;
    return;
  }
  for (let id = btf.firstId; id <= btf.lastId; id++) yield id;
}

/**
 * The lines of `bpftool btf dump … format raw`, without line terminators:
 * a type's header line, then one tab-indented line per member,
 * enumerator, parameter or section variable.
 *
 * Throws the parser's {@link BtfError} for a type that does not decode.
 */
export function* dumpRawLines(btf: Btf, options: DumpRawOptions = {}): Generator<string> {
  const lines: string[] = [];
  for (const id of dumpIds(btf, options.ids)) {
    lines.length = 0;
    appendType(btf, id, lines);
    yield* lines;
  }
}

/** {@link dumpRawLines} joined, each line ending in `\n` (bpftool's stdout). */
export function dumpRaw(btf: Btf, options: DumpRawOptions = {}): string {
  const lines: string[] = [];
  for (const id of dumpIds(btf, options.ids)) appendType(btf, id, lines);
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}

function appendType(btf: Btf, id: number, out: string[]): void {
  const kind = btf.kindOf(id);
  // bpftool knows no fields for kinds past its table: header only.
  if (kind > BtfKind.ENUM64) out.push(`[${id}] UNKNOWN '${bpftoolName(btf.nameOf(id))}'`);
  else appendTypeLines(btf, btf.type(id), out);
}

function appendTypeLines(btf: Btf, t: BtfType, out: string[]): void {
  const head = `[${t.id}] ${bpftoolKindName(t.kind)} '${bpftoolName(t.name)}'`;
  switch (t.kind) {
    case BtfKind.INT: {
      const enc = bpftoolIntEncoding(t.encoding);
      out.push(
        `${head} size=${t.size} bits_offset=${t.bitOffset} nr_bits=${t.bits} encoding=${enc}`,
      );
      return;
    }
    case BtfKind.PTR:
    case BtfKind.CONST:
    case BtfKind.VOLATILE:
    case BtfKind.RESTRICT:
    case BtfKind.TYPEDEF:
    case BtfKind.TYPE_TAG:
      out.push(`${head} type_id=${t.type}`);
      return;
    case BtfKind.ARRAY:
      out.push(`${head} type_id=${t.type} index_type_id=${t.indexType} nr_elems=${t.nelems}`);
      return;
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      out.push(`${head} size=${t.size} vlen=${t.members.length}`);
      for (const m of t.members) {
        const line = `\t'${bpftoolName(m.name)}' type_id=${m.type} bits_offset=${m.bitOffset}`;
        out.push(m.bitfieldSize ? `${line} bitfield_size=${m.bitfieldSize}` : line);
      }
      return;
    case BtfKind.ENUM:
    case BtfKind.ENUM64: {
      const enc = t.signed ? "SIGNED" : "UNSIGNED";
      out.push(`${head} encoding=${enc} size=${t.size} vlen=${t.values.length}`);
      const suffix = t.kind === BtfKind.ENUM ? "" : t.signed ? "LL" : "ULL";
      for (const v of t.values) out.push(`\t'${bpftoolName(v.name)}' val=${v.value}${suffix}`);
      return;
    }
    case BtfKind.FWD:
      out.push(`${head} fwd_kind=${t.union ? "union" : "struct"}`);
      return;
    case BtfKind.FUNC:
      out.push(`${head} type_id=${t.type} linkage=${bpftoolLinkage(t.linkage)}`);
      return;
    case BtfKind.FUNC_PROTO:
      out.push(`${head} ret_type_id=${t.returnType} vlen=${t.params.length}`);
      for (const p of t.params) out.push(`\t'${bpftoolName(p.name)}' type_id=${p.type}`);
      return;
    case BtfKind.VAR:
      out.push(`${head} type_id=${t.type}, linkage=${bpftoolLinkage(t.linkage)}`);
      return;
    case BtfKind.DATASEC:
      out.push(`${head} size=${t.size} vlen=${t.vars.length}`);
      for (const v of t.vars) {
        const line = `\ttype_id=${v.type} offset=${v.offset} size=${v.size}`;
        // bpftool names the variable when its ID is in range (void included).
        if (v.type > btf.lastId) {
          out.push(line);
        } else {
          const kind = v.type === 0 ? "UNKNOWN" : bpftoolKindName(btf.kindOf(v.type));
          const name = v.type === 0 ? "(anon)" : bpftoolName(btf.nameOf(v.type));
          out.push(`${line} (${kind} '${name}')`);
        }
      }
      return;
    case BtfKind.FLOAT:
      out.push(`${head} size=${t.size}`);
      return;
    case BtfKind.DECL_TAG:
      out.push(`${head} type_id=${t.type} component_idx=${t.componentIdx}`);
      return;
    default:
      out.push(head);
  }
}
