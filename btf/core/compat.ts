/**
 * Type compatibility for CO-RE, as libbpf decides it: loose compatibility
 * of fields (`bpf_core_fields_are_compat`) and of whole types
 * (`bpf_core_types_are_compat`), and the stricter match of
 * `bpf_core_type_matches` (`bpf_core_types_match`).
 *
 * @module
 */

import type { Btf } from "../btf.ts";
import { essentialName } from "../btf.ts";
import { BtfIntEncoding, BtfKind, type BtfType } from "../types.ts";
import { CoreError } from "./errors.ts";
import { isAnyEnum, isComposite } from "./spec.ts";

/** libbpf's recursion limit for compatibility checks. */
const MAX_DEPTH = 32;

/** libbpf's `btf_kind_core_compat`: same kind, or both some enum. */
export function kindsCoreCompat(a: BtfType, b: BtfType): boolean {
  return a.kind === b.kind || (isAnyEnum(a) && isAnyEnum(b));
}

/** Essential names equal (flavours ignored); an anonymous target only matches an anonymous local. */
export function namesMatch(local: string, target: string): boolean {
  if (target === "") return local === "";
  return essentialName(local) === essentialName(target);
}

function tooDeep(): CoreError {
  return new CoreError("CORE_TOO_DEEP", `type compatibility check nests deeper than ${MAX_DEPTH}`);
}

function intOffset(t: BtfType): number {
  return t.kind === BtfKind.INT ? t.bitOffset : 0;
}

/**
 * Whether a local field's type may be relocated to a target field's type:
 * any two structs/unions, same-kind pointers and floats, enums and FWDs
 * with the same essential name (or either anonymous), integers that are
 * not the deprecated bit-offset kind, arrays of compatible elements.
 */
export function fieldsAreCompat(
  local: Btf,
  localId: number,
  target: { btf: Btf; id: number },
): boolean {
  const targ = target.btf;
  let targId = target.id;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    localId = local.skipTypedefs(localId);
    targId = targ.skipTypedefs(targId);
    const lt = local.type(localId);
    const tt = targ.type(targId);
    if (isComposite(lt) && isComposite(tt)) return true;
    if (!kindsCoreCompat(lt, tt)) return false;
    switch (lt.kind) {
      case BtfKind.PTR:
      case BtfKind.FLOAT:
        return true;
      case BtfKind.FWD:
      case BtfKind.ENUM:
      case BtfKind.ENUM64: {
        const ln = essentialName(lt.name);
        const tn = essentialName(tt.name);
        return ln === "" || tn === "" || ln === tn;
      }
      case BtfKind.INT:
        return intOffset(lt) === 0 && intOffset(tt) === 0;
      case BtfKind.ARRAY:
        localId = lt.type;
        targId = (tt as { type: number }).type;
        continue;
      default:
        return false;
    }
  }
  throw tooDeep();
}

/**
 * libbpf's `bpf_core_types_are_compat` for type-based relocations: kinds
 * must agree (typedefs and qualifiers skipped after the first check);
 * structs, unions, enums and FWDs are compatible by name alone (the
 * candidate search matched it), pointers and arrays recurse, function
 * prototypes compare every parameter and the return type.
 */
export function typesAreCompat(
  local: Btf,
  localId: number,
  target: { btf: Btf; id: number },
): boolean {
  return typesAreCompatAt(local, localId, target.btf, target.id, MAX_DEPTH);
}

function typesAreCompatAt(
  local: Btf,
  localId: number,
  targ: Btf,
  targId: number,
  level: number,
): boolean {
  if (!kindsCoreCompat(local.type(localId), targ.type(targId))) return false;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    localId = local.skipTypedefs(localId);
    targId = targ.skipTypedefs(targId);
    const lt = local.type(localId);
    const tt = targ.type(targId);
    if (!kindsCoreCompat(lt, tt)) return false;
    switch (lt.kind) {
      case BtfKind.UNKN:
      case BtfKind.STRUCT:
      case BtfKind.UNION:
      case BtfKind.ENUM:
      case BtfKind.ENUM64:
      case BtfKind.FWD:
        return true;
      case BtfKind.INT:
        return intOffset(lt) === 0 && intOffset(tt) === 0;
      case BtfKind.PTR:
      case BtfKind.ARRAY:
        localId = lt.type;
        targId = (tt as { type: number }).type;
        continue;
      case BtfKind.FUNC_PROTO: {
        if (tt.kind !== BtfKind.FUNC_PROTO || lt.params.length !== tt.params.length) return false;
        for (let i = 0; i < lt.params.length; i++) {
          if (level <= 0) throw tooDeep();
          const ok = typesAreCompatAt(
            local,
            local.skipTypedefs(lt.params[i].type),
            targ,
            targ.skipTypedefs(tt.params[i].type),
            level - 1,
          );
          if (!ok) return false;
        }
        localId = lt.returnType;
        targId = tt.returnType;
        continue;
      }
      default:
        return false;
    }
  }
  throw tooDeep();
}

/**
 * libbpf's `bpf_core_types_match` for `type_matches`: names agree at every
 * level (flavours ignored), integers agree in size and signedness, every
 * local enumerator and member has a matching one in the target, arrays
 * agree in length; behind a pointer a struct also matches a FWD of the
 * same kind.
 */
export function typesMatch(local: Btf, localId: number, target: { btf: Btf; id: number }): boolean {
  return typesMatchAt(local, localId, target.btf, target.id, {
    behindPtr: false,
    level: MAX_DEPTH,
  });
}

function typesMatchAt(
  local: Btf,
  localId: number,
  targ: Btf,
  targId: number,
  at: { behindPtr: boolean; level: number },
): boolean {
  let { behindPtr } = at;
  const { level } = at;
  if (level <= 0) throw tooDeep();
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    localId = local.skipTypedefs(localId);
    targId = targ.skipTypedefs(targId);
    const lt = local.type(localId);
    const tt = targ.type(targId);
    if (!namesMatch(lt.name, tt.name)) return false;
    switch (lt.kind) {
      case BtfKind.UNKN:
        return tt.kind === BtfKind.UNKN;
      case BtfKind.FWD:
        if (behindPtr) {
          if (tt.kind === BtfKind.FWD) return lt.union === tt.union;
          return (tt.kind === BtfKind.STRUCT && !lt.union) ||
            (tt.kind === BtfKind.UNION && lt.union);
        }
        return tt.kind === BtfKind.FWD && lt.union === tt.union;
      case BtfKind.ENUM:
      case BtfKind.ENUM64: {
        if (tt.kind !== BtfKind.ENUM && tt.kind !== BtfKind.ENUM64) return false;
        if (lt.size !== tt.size || lt.values.length > tt.values.length) return false;
        return lt.values.every((lv) => tt.values.some((tv) => namesMatch(lv.name, tv.name)));
      }
      case BtfKind.STRUCT:
      case BtfKind.UNION: {
        if (behindPtr) {
          if (tt.kind === lt.kind) return true;
          if (tt.kind !== BtfKind.FWD) return false;
          return (lt.kind === BtfKind.UNION) === tt.union;
        }
        if (tt.kind !== lt.kind || lt.members.length > tt.members.length) return false;
        const next = { behindPtr, level: level - 1 };
        return lt.members.every((lm) =>
          tt.members.some((tm) =>
            namesMatch(lm.name, tm.name) && typesMatchAt(local, lm.type, targ, tm.type, next)
          )
        );
      }
      case BtfKind.INT: {
        if (tt.kind !== BtfKind.INT) return false;
        const ls = lt.encoding & BtfIntEncoding.SIGNED;
        const ts = tt.encoding & BtfIntEncoding.SIGNED;
        return lt.size === tt.size && ls === ts;
      }
      case BtfKind.PTR:
        if (tt.kind !== BtfKind.PTR) return false;
        behindPtr = true;
        localId = lt.type;
        targId = tt.type;
        continue;
      case BtfKind.ARRAY:
        if (tt.kind !== BtfKind.ARRAY || lt.nelems !== tt.nelems) return false;
        localId = lt.type;
        targId = tt.type;
        continue;
      case BtfKind.FUNC_PROTO: {
        if (tt.kind !== BtfKind.FUNC_PROTO || lt.params.length !== tt.params.length) return false;
        const next = { behindPtr, level: level - 1 };
        for (let i = 0; i < lt.params.length; i++) {
          if (!typesMatchAt(local, lt.params[i].type, targ, tt.params[i].type, next)) return false;
        }
        localId = lt.returnType;
        targId = tt.returnType;
        continue;
      }
      default:
        return false;
    }
  }
  throw tooDeep();
}
