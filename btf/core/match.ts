/**
 * Matching a local spec against one candidate target type (libbpf's
 * `bpf_core_spec_match`): the target spec it leads to, or why not.
 *
 * @module
 */

import type { Btf } from "../btf.ts";
import { essentialName } from "../btf.ts";
import { BtfKind } from "../types.ts";
import { fieldsAreCompat, typesAreCompat, typesMatch } from "./compat.ts";
import { CoreError } from "./errors.ts";
import { CoreReloKind, isEnumvalBased, isTypeBased } from "./kinds.ts";
import {
  CORE_SPEC_MAX_LEN,
  type CoreAccessor,
  type CoreSpec,
  describeType,
  isComposite,
  isFlexArray,
} from "./spec.ts";

/** A candidate that matched, with its spec, or one that did not, with the reason. */
export type CoreMatch = { spec: CoreSpec; reason?: undefined } | {
  spec?: undefined;
  reason: string;
};

/**
 * Match `local` against target type `targetId` of `target`. Field specs
 * follow member names through the target (anonymous members searched
 * depth-first), checking each field's type with `fieldsAreCompat`;
 * enumerator specs look for an enumerator with the same essential name;
 * type specs check `typesAreCompat` (`typesMatch` for `type_matches`).
 */
export function matchCoreSpec(local: CoreSpec, target: Btf, targetId: number): CoreMatch {
  const spec: CoreSpec = {
    btf: target,
    rootTypeId: targetId,
    kind: local.kind,
    accessors: [],
    raw: [],
    bitOffset: 0,
  };
  const what = () => describeType(target, targetId);
  if (isTypeBased(local.kind)) {
    const cand = { btf: target, id: targetId };
    const ok = local.kind === CoreReloKind.TYPE_MATCHES
      ? typesMatch(local.btf, local.rootTypeId, cand)
      : typesAreCompat(local.btf, local.rootTypeId, cand);
    if (ok) return { spec };
    return {
      reason: `${what()} does not ${
        local.kind === CoreReloKind.TYPE_MATCHES ? "match" : "agree with"
      } ${describeType(local.btf, local.rootTypeId)}`,
    };
  }
  if (isEnumvalBased(local.kind)) {
    const id = target.skipTypedefs(targetId);
    const t = target.type(id);
    if (!(t.kind === BtfKind.ENUM || t.kind === BtfKind.ENUM64)) {
      return { reason: `${what()} is not an enum` };
    }
    const want = essentialName(local.accessors[0].name!);
    const idx = t.values.findIndex((v) => essentialName(v.name) === want);
    if (idx < 0) return { reason: `no enumerator "${want}" in target ${what()}` };
    spec.accessors.push({ typeId: id, idx, name: t.values[idx].name });
    spec.raw.push(idx);
    return { spec };
  }
  let targId = targetId;
  for (let i = 0; i < local.accessors.length; i++) {
    const acc = local.accessors[i];
    if (acc.name !== undefined) {
      const found = matchMember(local.btf, acc, { btf: target, id: targId, spec });
      if (found === undefined) {
        const holder = target.skipTypedefs(targId);
        return {
          reason: isComposite(target.type(holder))
            ? `no field "${acc.name}" in target ${describeType(target, holder)}`
            : `target ${describeType(target, holder)} has no field "${acc.name}"`,
        };
      }
      if (typeof found === "string") return { reason: found };
      targId = found;
      continue;
    }
    // The root step indexes the root type itself (as an array of it).
    if (i > 0) {
      const arrId = target.skipTypedefs(targId);
      const t = target.type(arrId);
      if (t.kind !== BtfKind.ARRAY) {
        return { reason: `target ${describeType(target, arrId)} is not an array` };
      }
      const prev = spec.accessors[spec.accessors.length - 1];
      if (!isFlexArray(target, prev, t.nelems) && acc.idx >= t.nelems) {
        return { reason: `index ${acc.idx} is past the target array's ${t.nelems} elements` };
      }
      targId = target.skipTypedefs(t.type);
    }
    if (spec.raw.length >= CORE_SPEC_MAX_LEN) throw tooLong();
    spec.accessors.push({ typeId: targId, idx: acc.idx });
    spec.raw.push(acc.idx);
    spec.bitOffset += acc.idx * target.sizeOf(targId) * 8;
  }
  return { spec };
}

function tooLong(): CoreError {
  return new CoreError("CORE_TOO_DEEP", `target access nests deeper than ${CORE_SPEC_MAX_LEN}`);
}

/**
 * libbpf's `bpf_core_match_member`: find the local accessor's member by
 * name in the target composite, descending into anonymous members; pushes
 * onto `at.spec` and returns the member's type ID, a reason when the name
 * is there with an incompatible type, or `undefined` when it is not there.
 */
function matchMember(
  local: Btf,
  acc: CoreAccessor,
  at: { btf: Btf; id: number; spec: CoreSpec },
): number | string | undefined {
  const { btf: target, spec } = at;
  const lt = local.type(acc.typeId);
  if (!isComposite(lt)) return undefined;
  const localMember = (lt as { members: { name: string; type: number }[] }).members[acc.idx];
  const targId = target.skipTypedefs(at.id);
  const tt = target.type(targId);
  if (tt.kind !== BtfKind.STRUCT && tt.kind !== BtfKind.UNION) return undefined;
  for (let i = 0; i < tt.members.length; i++) {
    const m = tt.members[i];
    if (spec.raw.length >= CORE_SPEC_MAX_LEN) throw tooLong();
    spec.bitOffset += m.bitOffset;
    spec.raw.push(i);
    if (m.name === "") {
      const found = matchMember(local, acc, { btf: target, id: m.type, spec });
      if (found !== undefined) return found;
    } else if (m.name === localMember.name) {
      if (!fieldsAreCompat(local, localMember.type, { btf: target, id: m.type })) {
        return `field "${m.name}" of target ${describeType(target, targId)} has type ${
          describeType(target, target.skipTypedefs(m.type))
        }, incompatible with local ${describeType(local, local.skipTypedefs(localMember.type))}`;
      }
      spec.accessors.push({ typeId: targId, idx: i, name: m.name });
      return m.type;
    }
    spec.bitOffset -= m.bitOffset;
    spec.raw.pop();
  }
  return undefined;
}
