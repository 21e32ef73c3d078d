/**
 * CO-RE access specs: an access string (`0:1:2`) parsed against the local
 * BTF into the accessors it walks (libbpf's `bpf_core_parse_spec`), and
 * printed the way libbpf prints them (`bpf_core_format_spec`).
 *
 * @module
 */

import type { Btf } from "../btf.ts";
import { BtfKind, type BtfType } from "../types.ts";
import { CoreError } from "./errors.ts";
import { coreReloKindString, isEnumvalBased, isFieldBased, isTypeBased } from "./kinds.ts";

/** libbpf's `BPF_CORE_SPEC_MAX_LEN`: how deep an access may nest. */
export const CORE_SPEC_MAX_LEN = 64;

/** One step of a spec: a named member, an array index, or the root. */
export interface CoreAccessor {
  /** The type the step indexes into (a struct/union for members, the element type for arrays). */
  typeId: number;
  /** Member index, array index, or enumerator index. */
  idx: number;
  /** Member or enumerator name; `undefined` for array and root steps. */
  name?: string;
}

/** A parsed access: what a relocation reaches, in one BTF. */
export interface CoreSpec {
  /** The BTF the spec walks. */
  btf: Btf;
  /** The root type the access starts from. */
  rootTypeId: number;
  /** The relocation kind (decides how the access string reads). */
  kind: number;
  /** Named members and array indexes, anonymous members left out. */
  accessors: CoreAccessor[];
  /** Every index of the access string, anonymous members included. */
  raw: number[];
  /** Bit offset of the field from the root, for field-based kinds. */
  bitOffset: number;
}

/** The relocation record fields a spec is parsed from. */
export interface CoreRelocationInput {
  /** Root type ID in the local BTF. */
  typeId: number;
  /** The access string. */
  accessor: string;
  /** The relocation kind. */
  kind: number;
}

/** Whether a type is a struct or union. */
export function isComposite(t: BtfType): boolean {
  return t.kind === BtfKind.STRUCT || t.kind === BtfKind.UNION;
}

/** Whether a type is an ENUM or ENUM64. */
export function isAnyEnum(t: BtfType): boolean {
  return t.kind === BtfKind.ENUM || t.kind === BtfKind.ENUM64;
}

const KIND_STRINGS: Record<number, string> = {
  [BtfKind.UNKN]: "void",
  [BtfKind.INT]: "int",
  [BtfKind.PTR]: "ptr",
  [BtfKind.ARRAY]: "array",
  [BtfKind.STRUCT]: "struct",
  [BtfKind.UNION]: "union",
  [BtfKind.ENUM]: "enum",
  [BtfKind.FWD]: "fwd",
  [BtfKind.TYPEDEF]: "typedef",
  [BtfKind.VOLATILE]: "volatile",
  [BtfKind.CONST]: "const",
  [BtfKind.RESTRICT]: "restrict",
  [BtfKind.FUNC]: "func",
  [BtfKind.FUNC_PROTO]: "func_proto",
  [BtfKind.VAR]: "var",
  [BtfKind.DATASEC]: "datasec",
  [BtfKind.FLOAT]: "float",
  [BtfKind.DECL_TAG]: "decl_tag",
  [BtfKind.TYPE_TAG]: "type_tag",
  [BtfKind.ENUM64]: "enum64",
};

/** libbpf's `btf_kind_str`: `struct`, `typedef`, `enum`, …. */
export function btfKindString(kind: number): string {
  return KIND_STRINGS[kind] ?? "unknown";
}

/** `struct task_struct`, `typedef u32`, `enum <anon>`: a type as libbpf names it in messages. */
export function describeType(btf: Btf, id: number): string {
  const name = btf.nameOf(id);
  return `${btfKindString(btf.kindOf(id))} ${name === "" ? "<anon>" : name}`;
}

/**
 * libbpf's `is_flex_arr`: an array of `nelems` elements reached through
 * `prev` is flexible when it has no elements and is the last member of
 * the struct `prev` names a member of.
 */
export function isFlexArray(btf: Btf, prev: CoreAccessor | undefined, nelems: number): boolean {
  // A flexible array is a zero-length array that is the last member of its struct.
  if (prev === undefined || prev.name === undefined || nelems > 0) return false;
  const t = btf.type(prev.typeId);
  return isComposite(t) && prev.idx === (t as { members: unknown[] }).members.length - 1;
}

function bad(input: CoreRelocationInput, btf: Btf, why: string): CoreError {
  return new CoreError(
    "CORE_BAD_ACCESS",
    `parsing [${input.typeId}] ${describeType(btf, input.typeId)} + ${
      JSON.stringify(input.accessor)
    } failed: ${why}`,
  );
}

/**
 * Parse a relocation's access string against the local BTF.
 *
 * Type-based kinds must have the access string `0`; enumerator kinds one
 * index into an enum; field kinds an index into the root (as an array of
 * it) followed by member and array indexes. Throws a {@link CoreError}
 * (`CORE_BAD_ACCESS`) naming the type and access string otherwise, and
 * `CORE_UNKNOWN_KIND` for a kind past `type_matches`.
 */
export function parseCoreSpec(btf: Btf, input: CoreRelocationInput): CoreSpec {
  const { typeId, accessor, kind } = input;
  if (!isFieldBased(kind) && !isTypeBased(kind) && !isEnumvalBased(kind)) {
    throw new CoreError("CORE_UNKNOWN_KIND", `unknown CO-RE relocation kind ${kind}`);
  }
  if (typeId < 1 || typeId > btf.lastId) {
    throw new CoreError(
      "CORE_BAD_ACCESS",
      `relocation refers to type ID ${typeId}, past the local BTF's last ID ${btf.lastId}`,
    );
  }
  const spec: CoreSpec = { btf, rootTypeId: typeId, kind, accessors: [], raw: [], bitOffset: 0 };
  if (!/^\d+(:\d+)*$/.test(accessor)) throw bad(input, btf, "not a list of indexes");
  const raw = accessor.split(":").map(Number);
  if (raw.length > CORE_SPEC_MAX_LEN) throw bad(input, btf, "access nests too deep");
  if (isTypeBased(kind)) {
    if (accessor !== "0") throw bad(input, btf, "type-based relocations take the access string 0");
    return spec;
  }
  spec.raw = raw;
  let id = btf.skipTypedefs(typeId);
  let t = btf.type(id);
  const first = raw[0];
  spec.accessors.push({ typeId: id, idx: first });
  if (isEnumvalBased(kind)) {
    if (!isAnyEnum(t) || raw.length !== 1) {
      throw bad(input, btf, "enumerator relocations take one index into an enum");
    }
    const values = (t as { values: { name: string }[] }).values;
    if (first >= values.length) {
      throw bad(input, btf, `enumerator ${first} out of ${values.length}`);
    }
    spec.accessors[0].name = values[first].name;
    return spec;
  }
  let bitOffset = first * sizeOf(btf, typeId, input) * 8;
  for (let i = 1; i < raw.length; i++) {
    id = btf.skipTypedefs(id);
    t = btf.type(id);
    const idx = raw[i];
    if (t.kind === BtfKind.STRUCT || t.kind === BtfKind.UNION) {
      if (idx >= t.members.length) {
        throw bad(
          input,
          btf,
          `member ${idx} out of ${t.members.length} of ${describeType(btf, id)}`,
        );
      }
      const m = t.members[idx];
      bitOffset += m.bitOffset;
      // Anonymous members are walked through but are no step of their own.
      if (m.name !== "") spec.accessors.push({ typeId: id, idx, name: m.name });
      id = m.type;
    } else if (t.kind === BtfKind.ARRAY) {
      const prev = spec.accessors[spec.accessors.length - 1];
      id = btf.skipTypedefs(t.type);
      const flex = isFlexArray(btf, prev, t.nelems);
      if (!flex && idx >= t.nelems) {
        throw bad(input, btf, `index ${idx} out of ${t.nelems} elements`);
      }
      spec.accessors.push({ typeId: id, idx });
      bitOffset += idx * sizeOf(btf, id, input) * 8;
    } else {
      throw bad(
        input,
        btf,
        `index ${i} reaches [${id}] ${describeType(btf, id)}, which has no members or elements`,
      );
    }
  }
  spec.bitOffset = bitOffset;
  return spec;
}

function sizeOf(btf: Btf, id: number, input: CoreRelocationInput): number {
  try {
    return btf.sizeOf(id);
  } catch (err) {
    throw bad(input, btf, `type [${id}] has no size: ${(err as Error).message}`);
  }
}

/**
 * The spec's path without the kind prefix, as libbpf's
 * `bpf_core_format_spec` prints it after `<kind> [id] `:
 * `struct task_struct.real_parent (0:57 @ offset 1448)`, `enum e::RED = 1`,
 * `struct foo`.
 */
export function formatCoreAccess(spec: CoreSpec): string {
  const { btf, rootTypeId, kind } = spec;
  let out = describeType(btf, rootTypeId);
  if (isTypeBased(kind)) return out;
  if (isEnumvalBased(kind)) {
    const t = btf.type(btf.skipTypedefs(rootTypeId));
    const acc = spec.accessors[0];
    if (acc !== undefined && (t.kind === BtfKind.ENUM || t.kind === BtfKind.ENUM64)) {
      const v = t.values[acc.idx];
      if (v !== undefined) out += `::${v.name} = ${v.value}`;
    }
    return out;
  }
  spec.accessors.forEach((acc, i) => {
    if (acc.name !== undefined) out += `.${acc.name}`;
    else if (i > 0 || acc.idx > 0) out += `[${acc.idx}]`;
  });
  const byte = Math.floor(spec.bitOffset / 8);
  const bit = spec.bitOffset % 8;
  return `${out} (${spec.raw.join(":")} @ offset ${bit === 0 ? byte : `${byte}.${bit}`})`;
}

/** The whole spec as libbpf prints it: `<byte_off> [5] struct foo.x (0:0 @ offset 0)`. */
export function formatCoreSpec(spec: CoreSpec): string {
  return `<${coreReloKindString(spec.kind)}> [${spec.rootTypeId}] ${formatCoreAccess(spec)}`;
}
