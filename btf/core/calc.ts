/**
 * The values a CO-RE relocation puts into an instruction (libbpf's
 * `bpf_core_calc_relo`): the value the compiler computed from the local
 * BTF and the value the target BTF calls for, per kind.
 *
 * @module
 */

import { BtfIntEncoding, BtfKind } from "../types.ts";
import { CoreError } from "./errors.ts";
import { CoreReloKind, coreReloKindString, isFieldBased, isTypeBased } from "./kinds.ts";
import type { CoreSpec } from "./spec.ts";

/** What applying one relocation means for its instruction. */
export interface CoreCalcResult {
  /** The value the instruction should hold now (computed from the local BTF). */
  origVal: bigint;
  /** The value to put there. */
  newVal: bigint;
  /** The instruction must become an invalid call: the target has no such field / enumerator. */
  poison: boolean;
  /** Whether the instruction's current value must equal `origVal` (off for bitfields, type IDs). */
  validate: boolean;
  /** A load/store of the field would change size in a way that reads the wrong value. */
  failMemszAdjust: boolean;
  /** Field size for loads/stores, locally (0 when not a plain field offset). */
  origSize: number;
  /** Field size for loads/stores in the target. */
  newSize: number;
  /** Field type ID locally (for the load-size rules). */
  origTypeId: number;
  /** Field type ID in the target. */
  newTypeId: number;
}

/** Options of {@link calcCoreRelo}. */
export interface CalcOptions {
  /** Byte order of the program (bitfield shifts depend on it); default little. */
  littleEndian?: boolean;
}

interface FieldValue {
  val: bigint;
  size: number;
  typeId: number;
  validate: boolean;
  poison: boolean;
}

/** Sentinel: the target has no such thing and the instruction is poisoned. */
const POISON: FieldValue = { val: 0n, size: 0, typeId: 0, validate: true, poison: true };

function fieldValue(
  spec: CoreSpec | undefined,
  kind: number,
  littleEndian: boolean,
): FieldValue {
  if (kind === CoreReloKind.FIELD_EXISTS) {
    return { val: spec === undefined ? 0n : 1n, size: 0, typeId: 0, validate: true, poison: false };
  }
  if (spec === undefined) return POISON;
  const btf = spec.btf;
  const acc = spec.accessors[spec.accessors.length - 1];
  if (acc.name === undefined) {
    // The access ends at an array element (or the root itself).
    const size = btf.sizeOf(acc.typeId);
    if (kind === CoreReloKind.FIELD_BYTE_OFFSET) {
      return {
        val: BigInt(Math.floor(spec.bitOffset / 8)),
        size,
        typeId: acc.typeId,
        validate: true,
        poison: false,
      };
    }
    if (kind === CoreReloKind.FIELD_BYTE_SIZE) {
      return { val: BigInt(size), size: 0, typeId: 0, validate: true, poison: false };
    }
    throw new CoreError(
      "CORE_BAD_ACCESS",
      `relocation ${coreReloKindString(kind)} can't be applied to an array element`,
    );
  }
  const holder = btf.type(acc.typeId);
  if (holder.kind !== BtfKind.STRUCT && holder.kind !== BtfKind.UNION) {
    throw new CoreError("CORE_BAD_ACCESS", `accessor ${acc.name} is not a member of a struct`);
  }
  const member = holder.members[acc.idx];
  const fieldTypeId = btf.skipTypedefs(member.type);
  const mt = btf.type(fieldTypeId);
  const bitOff = spec.bitOffset;
  let bitSz = member.bitfieldSize;
  const bitfield = bitSz > 0;
  let byteSz: number;
  let byteOff: number;
  if (bitfield) {
    byteSz = "size" in mt ? mt.size : 0;
    if (byteSz === 0) {
      throw new CoreError("CORE_BAD_ACCESS", `bitfield ${acc.name} has a type without a size`);
    }
    byteOff = Math.floor(bitOff / 8 / byteSz) * byteSz;
    // The smallest load (up to 8 bytes) that covers the whole bitfield.
    while (bitOff + bitSz - byteOff * 8 > byteSz * 8) {
      if (byteSz >= 8) {
        throw new CoreError(
          "CORE_BITFIELD_TOO_WIDE",
          `bitfield ${acc.name} can't be read with one 64-bit load`,
        );
      }
      byteSz *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSz) * byteSz;
    }
  } else {
    byteSz = btf.sizeOf(fieldTypeId);
    byteOff = Math.floor(bitOff / 8);
    bitSz = byteSz * 8;
  }
  // Compilers and libbpf may disagree on bitfield loads: only signedness
  // and the right shift are checked against the instruction for them.
  let validate = !bitfield;
  let val: number;
  let size = 0;
  let typeId = 0;
  switch (kind) {
    case CoreReloKind.FIELD_BYTE_OFFSET:
      val = byteOff;
      if (!bitfield) {
        size = byteSz;
        typeId = fieldTypeId;
      }
      break;
    case CoreReloKind.FIELD_BYTE_SIZE:
      val = byteSz;
      break;
    case CoreReloKind.FIELD_SIGNED:
      val = ((mt.kind === BtfKind.ENUM || mt.kind === BtfKind.ENUM64) && mt.signed) ||
          (mt.kind === BtfKind.INT && (mt.encoding & BtfIntEncoding.SIGNED) !== 0)
        ? 1
        : 0;
      validate = true;
      break;
    case CoreReloKind.FIELD_LSHIFT_U64:
      val = littleEndian
        ? 64 - (bitOff + bitSz - byteOff * 8)
        : (8 - byteSz) * 8 + (bitOff - byteOff * 8);
      break;
    case CoreReloKind.FIELD_RSHIFT_U64:
      val = 64 - bitSz;
      validate = true;
      break;
    default:
      throw new CoreError("CORE_UNKNOWN_KIND", `unknown CO-RE relocation kind ${kind}`);
  }
  return { val: BigInt(val), size, typeId, validate, poison: false };
}

function typeValue(spec: CoreSpec | undefined, kind: number): bigint {
  // Type-based kinds give 0 when the target has no such type.
  if (spec === undefined) return 0n;
  switch (kind) {
    case CoreReloKind.TYPE_ID_TARGET:
    case CoreReloKind.TYPE_ID_LOCAL:
      return BigInt(spec.rootTypeId);
    case CoreReloKind.TYPE_EXISTS:
    case CoreReloKind.TYPE_MATCHES:
      return 1n;
    case CoreReloKind.TYPE_SIZE:
      return BigInt(spec.btf.sizeOf(spec.rootTypeId));
    default:
      throw new CoreError("CORE_UNKNOWN_KIND", `unknown CO-RE relocation kind ${kind}`);
  }
}

/**
 * An enumerator's value as libbpf puts it in an instruction: 32-bit
 * values are sign-extended from their 32 bits (libbpf reads them as
 * `__s32`), 64-bit ones kept as their 64 bits.
 */
function enumValue(spec: CoreSpec): bigint {
  const acc = spec.accessors[0];
  const t = spec.btf.type(acc.typeId);
  if (t.kind === BtfKind.ENUM) return BigInt.asUintN(64, BigInt(t.values[acc.idx].value | 0));
  if (t.kind === BtfKind.ENUM64) return BigInt.asUintN(64, t.values[acc.idx].value);
  throw new CoreError("CORE_BAD_ACCESS", `[${acc.typeId}] is not an enum`);
}

/**
 * The relocation's original and new value from the local spec and the
 * matched target spec (`undefined` when no candidate matched: existence
 * kinds give 0, type kinds give 0, other field and enumerator kinds
 * poison the instruction).
 */
export function calcCoreRelo(
  local: CoreSpec,
  target: CoreSpec | undefined,
  options: CalcOptions = {},
): CoreCalcResult {
  const kind = local.kind;
  const res: CoreCalcResult = {
    origVal: 0n,
    newVal: 0n,
    poison: false,
    validate: true,
    failMemszAdjust: false,
    origSize: 0,
    newSize: 0,
    origTypeId: 0,
    newTypeId: 0,
  };
  const le = options.littleEndian ?? true;
  if (isFieldBased(kind)) {
    const orig = fieldValue(local, kind, le);
    const next = fieldValue(target, kind, le);
    res.origVal = orig.val;
    res.validate = orig.validate;
    res.origSize = orig.size;
    res.origTypeId = orig.typeId;
    if (next.poison) {
      res.poison = true;
      return res;
    }
    res.newVal = next.val;
    res.newSize = next.size;
    res.newTypeId = next.typeId;
    if (res.origSize !== res.newSize) {
      // Size changes are safe for pointers (32-bit kernel pointers read
      // zero-extended) and for unsigned integers; anything else reads a
      // wrong value, so such loads and stores get poisoned.
      const ot = local.btf.type(res.origTypeId);
      const nt = target!.btf.type(res.newTypeId);
      const unsignedInt = (t: typeof ot) =>
        t.kind === BtfKind.INT && t.encoding !== BtfIntEncoding.SIGNED;
      const safe = (ot.kind === BtfKind.PTR && nt.kind === BtfKind.PTR) ||
        (unsignedInt(ot) && unsignedInt(nt));
      res.failMemszAdjust = !safe;
    }
    return res;
  }
  if (isTypeBased(kind)) {
    res.origVal = typeValue(local, kind);
    res.newVal = typeValue(target, kind);
    // Type IDs move when objects are linked: never check them.
    if (kind === CoreReloKind.TYPE_ID_TARGET) res.validate = false;
    if (kind === CoreReloKind.TYPE_ID_LOCAL) res.validate = false;
    return res;
  }
  if (kind === CoreReloKind.ENUMVAL_EXISTS) {
    res.origVal = 1n;
    res.newVal = target === undefined ? 0n : 1n;
    return res;
  }
  if (kind === CoreReloKind.ENUMVAL_VALUE) {
    res.origVal = enumValue(local);
    if (target === undefined) res.poison = true;
    else res.newVal = enumValue(target);
    return res;
  }
  throw new CoreError("CORE_UNKNOWN_KIND", `unknown CO-RE relocation kind ${kind}`);
}
