/**
 * libbpf's type resolution over any source of types (a parsed `Btf` or a
 * `BtfBuilder`): `btf__resolve_size`, `btf__align_of`, and the
 * qualifier/typedef skipping of `skip_mods_and_typedefs`.
 *
 * @module
 */

import { BtfError } from "../errors/mod.ts";
import { BtfKind, btfKindName, type BtfType } from "./types.ts";

/** What resolution needs from a set of types. */
export interface TypeSource {
  /** The type with this ID (0 is void). */
  type(id: number): BtfType;
  /** Pointer size of the target, in bytes. */
  readonly pointerSize: number;
}

/** Hops through typedefs, qualifiers and arrays before a loop is declared. */
export const MAX_RESOLVE_DEPTH = 32;
/** Nesting of composites before an alignment computation gives up. */
export const MAX_ALIGN_DEPTH = 256;

const U32_MAX = 0xffff_ffff;

function describe(t: BtfType): string {
  return t.id === 0 ? "void" : `${btfKindName(t.kind)} [${t.id}]`;
}

/** Size in bytes, as libbpf's `btf__resolve_size`. */
export function resolveSize(source: TypeSource, id: number): number {
  let nelems = 1;
  let cur = id;
  for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
    const t = source.type(cur);
    let size: number;
    switch (t.kind) {
      case BtfKind.INT:
      case BtfKind.STRUCT:
      case BtfKind.UNION:
      case BtfKind.ENUM:
      case BtfKind.ENUM64:
      case BtfKind.DATASEC:
      case BtfKind.FLOAT:
        size = t.size;
        break;
      case BtfKind.PTR:
        size = source.pointerSize;
        break;
      case BtfKind.TYPEDEF:
      case BtfKind.VOLATILE:
      case BtfKind.CONST:
      case BtfKind.RESTRICT:
      case BtfKind.VAR:
      case BtfKind.DECL_TAG:
      case BtfKind.TYPE_TAG:
        cur = t.type;
        continue;
      case BtfKind.ARRAY:
        if (nelems !== 0 && t.nelems > Math.floor(U32_MAX / nelems)) throw overflow(id);
        nelems *= t.nelems;
        cur = t.type;
        continue;
      default:
        throw new BtfError(
          "BTF_NO_SIZE",
          `type ${id}${cur === id ? "" : ` (through type ${cur})`} is ${
            describe(t)
          }, which has no size`,
        );
    }
    if (nelems !== 0 && size > Math.floor(U32_MAX / nelems)) throw overflow(id);
    return nelems * size;
  }
  throw new BtfError(
    "BTF_LOOP",
    `type ${id}: more than ${MAX_RESOLVE_DEPTH} typedef/qualifier/array hops (a loop?) resolving its size`,
  );
}

function overflow(id: number): BtfError {
  return new BtfError("BTF_SIZE_OVERFLOW", `type ${id}: its size overflows 32 bits`);
}

/**
 * Follow VOLATILE, CONST, RESTRICT and TYPE_TAG (and with `typedefs`,
 * TYPEDEF) from `id`; the first other type's ID.
 */
export function skipModifiers(source: TypeSource, id: number, typedefs: boolean): number {
  let cur = id;
  for (let depth = 0; depth <= MAX_RESOLVE_DEPTH; depth++) {
    const t = source.type(cur);
    switch (t.kind) {
      case BtfKind.TYPEDEF:
        if (!typedefs) return cur;
        cur = t.type;
        break;
      case BtfKind.VOLATILE:
      case BtfKind.CONST:
      case BtfKind.RESTRICT:
      case BtfKind.TYPE_TAG:
        cur = t.type;
        break;
      default:
        return cur;
    }
  }
  throw new BtfError(
    "BTF_LOOP",
    `type ${id}: more than ${MAX_RESOLVE_DEPTH} ${
      typedefs ? "typedef/qualifier" : "qualifier"
    } hops (a loop?)`,
  );
}

/** Composite alignments already known, and the ones being computed (0). */
export type AlignMemo = Map<number, number>;

/**
 * Alignment in bytes, as libbpf's `btf__align_of`: integers, enums and
 * floats align to their size capped at the pointer size; a struct or union
 * to its largest member's alignment, or 1 when a member offset or the size
 * shows it is packed. `memo` remembers composites across calls.
 */
export function resolveAlign(source: TypeSource, id: number, memo: AlignMemo = new Map()): number {
  return align(source, id, { memo, depth: 0 });
}

function align(source: TypeSource, id: number, at: { memo: AlignMemo; depth: number }): number {
  if (at.depth > MAX_ALIGN_DEPTH) {
    throw new BtfError(
      "BTF_LOOP",
      `type ${id}: nested more than ${MAX_ALIGN_DEPTH} levels deep (a loop?) computing its alignment`,
    );
  }
  const t = source.type(id);
  const deeper = { memo: at.memo, depth: at.depth + 1 };
  switch (t.kind) {
    case BtfKind.INT:
    case BtfKind.ENUM:
    case BtfKind.ENUM64:
    case BtfKind.FLOAT: {
      const a = Math.min(source.pointerSize, t.size);
      if (a === 0) {
        throw new BtfError(
          "BTF_NO_ALIGNMENT",
          `type ${id} is ${describe(t)} of size 0: no alignment`,
        );
      }
      return a;
    }
    case BtfKind.PTR:
      return source.pointerSize;
    case BtfKind.TYPEDEF:
    case BtfKind.VOLATILE:
    case BtfKind.CONST:
    case BtfKind.RESTRICT:
    case BtfKind.TYPE_TAG:
    case BtfKind.ARRAY:
      return align(source, t.type, deeper);
    case BtfKind.STRUCT:
    case BtfKind.UNION: {
      const known = at.memo.get(id);
      if (known === 0) {
        throw new BtfError("BTF_LOOP", `${describe(t)} contains itself (computing its alignment)`);
      }
      if (known !== undefined) return known;
      at.memo.set(id, 0);
      let result = 0;
      try {
        let maxAlign = 1;
        for (const m of t.members) {
          const a = align(source, m.type, deeper);
          if (a > maxAlign) maxAlign = a;
          // A member off its type's alignment means the composite is packed.
          if (m.bitfieldSize === 0 && m.bitOffset % (8 * a) !== 0) {
            result = 1;
            break;
          }
        }
        if (result === 0) result = t.size % maxAlign !== 0 ? 1 : maxAlign;
      } finally {
        // A failed computation leaves nothing behind: the next call fails the same way.
        if (result === 0) at.memo.delete(id);
        else at.memo.set(id, result);
      }
      return result;
    }
    default:
      throw new BtfError(
        "BTF_NO_ALIGNMENT",
        `type ${id} is ${describe(t)}, which has no alignment`,
      );
  }
}
