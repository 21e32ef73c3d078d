/**
 * CO-RE relocation kinds (`enum bpf_core_relo_kind`) and the short names
 * libbpf prints for them (`byte_off`, `field_exists`, …).
 *
 * @module
 */

import { CoreReloKind } from "../ext.ts";

export { CoreReloKind };

/** libbpf's `core_relo_kind_str` names, by kind. */
const KIND_NAMES: readonly string[] = [
  "byte_off",
  "byte_sz",
  "field_exists",
  "signed",
  "lshift_u64",
  "rshift_u64",
  "local_type_id",
  "target_type_id",
  "type_exists",
  "type_size",
  "enumval_exists",
  "enumval_value",
  "type_matches",
];

/** The name libbpf prints for a relocation kind (`byte_off`, …), or `unknown` like libbpf. */
export function coreReloKindString(kind: number): string {
  return KIND_NAMES[kind] ?? "unknown";
}

/** Whether the kind is about a field (`byte_off` … `rshift_u64`). */
export function isFieldBased(kind: number): boolean {
  return kind >= CoreReloKind.FIELD_BYTE_OFFSET && kind <= CoreReloKind.FIELD_RSHIFT_U64;
}

/** Whether the kind is about a whole type (`local_type_id` … `type_size`, `type_matches`). */
export function isTypeBased(kind: number): boolean {
  return (kind >= CoreReloKind.TYPE_ID_LOCAL && kind <= CoreReloKind.TYPE_SIZE) ||
    kind === CoreReloKind.TYPE_MATCHES;
}

/** Whether the kind is about an enumerator (`enumval_exists`, `enumval_value`). */
export function isEnumvalBased(kind: number): boolean {
  return kind === CoreReloKind.ENUMVAL_EXISTS || kind === CoreReloKind.ENUMVAL_VALUE;
}
