/**
 * BTF types as plain data. Types refer to each other by type ID, never by
 * object reference: decoding one type never decodes another, cycles cost
 * nothing, and a type list marshals back to bytes as it is.
 *
 * Type ID 0 is `void`. In split BTF (kernel modules), IDs continue after
 * the base's last ID.
 *
 * @module
 */

/** `BTF_KIND_*` from the uapi `linux/btf.h`. */
export const BtfKind = {
  UNKN: 0,
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

/** One of {@link BtfKind}'s values. */
export type BtfKind = typeof BtfKind[keyof typeof BtfKind];

/** `BTF_INT_SIGNED`, `BTF_INT_CHAR`, `BTF_INT_BOOL`: bits of {@link BtfInt.encoding}. */
export const BtfIntEncoding = { SIGNED: 1, CHAR: 2, BOOL: 4 } as const;

/** `BTF_FUNC_STATIC`, `BTF_FUNC_GLOBAL`, `BTF_FUNC_EXTERN`: {@link BtfFunc.linkage}. */
export const BtfFuncLinkage = { STATIC: 0, GLOBAL: 1, EXTERN: 2 } as const;

/** `BTF_VAR_STATIC`, `BTF_VAR_GLOBAL_ALLOCATED`, `BTF_VAR_GLOBAL_EXTERN`: {@link BtfVar.linkage}. */
export const BtfVarLinkage = { STATIC: 0, GLOBAL_ALLOCATED: 1, GLOBAL_EXTERN: 2 } as const;

/** Fields every type has. */
interface BtfTypeCommon {
  /** Type ID (0 is void). */
  id: number;
  /** Name; "" for anonymous types. */
  name: string;
}

/** `void`, type ID 0 (also what BTF_KIND_UNKN decodes to). */
export interface BtfVoid extends BtfTypeCommon {
  kind: typeof BtfKind.UNKN;
}

/** An integer. */
export interface BtfInt extends BtfTypeCommon {
  kind: typeof BtfKind.INT;
  /** Size in bytes. */
  size: number;
  /** {@link BtfIntEncoding} bits. */
  encoding: number;
  /** Bit offset of the value (BTF_INT_OFFSET); 0 in practice. */
  bitOffset: number;
  /** Number of value bits (BTF_INT_BITS). */
  bits: number;
}

/** A pointer. */
export interface BtfPtr extends BtfTypeCommon {
  kind: typeof BtfKind.PTR;
  /** Pointee type ID. */
  type: number;
}

/** An array. */
export interface BtfArray extends BtfTypeCommon {
  kind: typeof BtfKind.ARRAY;
  /** Element type ID. */
  type: number;
  /** Index type ID. */
  indexType: number;
  /** Number of elements. */
  nelems: number;
}

/** A struct or union member. */
export interface BtfMember {
  /** Member name; "" for anonymous members. */
  name: string;
  /** Member type ID. */
  type: number;
  /** Offset from the start of the struct, in bits. */
  bitOffset: number;
  /** Bitfield size in bits; 0 when the member is not a bitfield. */
  bitfieldSize: number;
}

/** A struct or a union. */
export interface BtfComposite extends BtfTypeCommon {
  kind: typeof BtfKind.STRUCT | typeof BtfKind.UNION;
  /** Size in bytes. */
  size: number;
  /** Members in declaration order. */
  members: BtfMember[];
  /**
   * The kind_flag: member offsets carry a bitfield size in their top 8 bits
   * (decoded into `bitfieldSize`); kept to marshal back the same way.
   */
  kindFlag: boolean;
}

/** An enumerator of a 32-bit enum. */
export interface BtfEnumValue {
  /** Enumerator name. */
  name: string;
  /** Value (signed when the enum is, unsigned otherwise). */
  value: number;
}

/** An enum with 32-bit values. */
export interface BtfEnum extends BtfTypeCommon {
  kind: typeof BtfKind.ENUM;
  /** Size in bytes (1, 2, 4 or 8). */
  size: number;
  /** kind_flag: values are signed. */
  signed: boolean;
  /** Enumerators in declaration order. */
  values: BtfEnumValue[];
}

/** An enumerator of a 64-bit enum. */
export interface BtfEnum64Value {
  /** Enumerator name. */
  name: string;
  /** Value (signed when the enum is, unsigned otherwise). */
  value: bigint;
}

/** An enum with 64-bit values (BTF_KIND_ENUM64). */
export interface BtfEnum64 extends BtfTypeCommon {
  kind: typeof BtfKind.ENUM64;
  /** Size in bytes. */
  size: number;
  /** kind_flag: values are signed. */
  signed: boolean;
  /** Enumerators in declaration order. */
  values: BtfEnum64Value[];
}

/** A forward declaration. */
export interface BtfFwd extends BtfTypeCommon {
  kind: typeof BtfKind.FWD;
  /** kind_flag: `union X;` rather than `struct X;`. */
  union: boolean;
}

/** A typedef, qualifier or type tag: a named or qualified alias of `type`. */
export interface BtfAlias extends BtfTypeCommon {
  kind:
    | typeof BtfKind.TYPEDEF
    | typeof BtfKind.VOLATILE
    | typeof BtfKind.CONST
    | typeof BtfKind.RESTRICT
    | typeof BtfKind.TYPE_TAG;
  /** The aliased type ID. */
  type: number;
  /**
   * TYPE_TAG only, the kind_flag: an attribute (`__attribute__((name))`)
   * rather than a `btf_type_tag`. Absent when not set.
   */
  attribute?: boolean;
}

/** A function: a name and linkage for a FUNC_PROTO. */
export interface BtfFunc extends BtfTypeCommon {
  kind: typeof BtfKind.FUNC;
  /** The FUNC_PROTO type ID. */
  type: number;
  /** {@link BtfFuncLinkage} (the vlen field). */
  linkage: number;
}

/** One parameter of a function prototype. */
export interface BtfParam {
  /** Parameter name; "" when unnamed. */
  name: string;
  /** Parameter type ID; 0 with an empty name for `...`. */
  type: number;
}

/** A function prototype. */
export interface BtfFuncProto extends BtfTypeCommon {
  kind: typeof BtfKind.FUNC_PROTO;
  /** Return type ID (0 for void). */
  returnType: number;
  /** Parameters in order. */
  params: BtfParam[];
}

/** A global variable. */
export interface BtfVar extends BtfTypeCommon {
  kind: typeof BtfKind.VAR;
  /** The variable's type ID. */
  type: number;
  /** {@link BtfVarLinkage}. */
  linkage: number;
}

/** A variable's place in a data section. */
export interface BtfVarSecinfo {
  /** The VAR (or FUNC, for `.ksyms`) type ID. */
  type: number;
  /** Offset in the section, in bytes. */
  offset: number;
  /** Size in bytes. */
  size: number;
}

/** A data section (`.data`, `.rodata`, `.bss`, `.maps`, `.kconfig`, …). */
export interface BtfDatasec extends BtfTypeCommon {
  kind: typeof BtfKind.DATASEC;
  /** Section size in bytes (0 in objects until fixed up from the ELF). */
  size: number;
  /** Variables in the section. */
  vars: BtfVarSecinfo[];
}

/** A floating-point type. */
export interface BtfFloat extends BtfTypeCommon {
  kind: typeof BtfKind.FLOAT;
  /** Size in bytes. */
  size: number;
}

/** A declaration tag (`__attribute__((btf_decl_tag("…")))`). */
export interface BtfDeclTag extends BtfTypeCommon {
  kind: typeof BtfKind.DECL_TAG;
  /** The tagged type ID. */
  type: number;
  /** Member or parameter index the tag applies to; -1 for the type itself. */
  componentIdx: number;
  /** The kind_flag: an attribute rather than a `btf_decl_tag`. Absent when not set. */
  attribute?: boolean;
}

/** Any BTF type. */
export type BtfType =
  | BtfVoid
  | BtfInt
  | BtfPtr
  | BtfArray
  | BtfComposite
  | BtfEnum
  | BtfEnum64
  | BtfFwd
  | BtfAlias
  | BtfFunc
  | BtfFuncProto
  | BtfVar
  | BtfDatasec
  | BtfFloat
  | BtfDeclTag;

/** The name libbpf and bpftool print for a kind (`STRUCT`, `FUNC_PROTO`, …). */
export function btfKindName(kind: number): string {
  for (const [name, value] of Object.entries(BtfKind)) if (value === kind) return name;
  return `UNKNOWN(${kind})`;
}
