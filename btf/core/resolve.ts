/**
 * Resolving one CO-RE relocation (libbpf's `bpf_core_calc_relo_insn`):
 * parse the local spec, match it against every candidate, check that the
 * candidates agree, and compute the values to patch.
 *
 * @module
 */

import { type Btf, essentialName } from "../btf.ts";
import { calcCoreRelo, type CalcOptions, type CoreCalcResult } from "./calc.ts";
import type { CoreCandidate } from "./candidates.ts";
import { CoreError } from "./errors.ts";
import { CoreReloKind, coreReloKindString } from "./kinds.ts";
import { matchCoreSpec } from "./match.ts";
import { type CoreRelocationInput, type CoreSpec, describeType, parseCoreSpec } from "./spec.ts";

/** The outcome of {@link resolveCoreRelocation}. */
export interface CoreResolution {
  /** The local spec. */
  local: CoreSpec;
  /** The values to patch (or `poison`). */
  result: CoreCalcResult;
  /** The first matching candidate and its spec; absent when none matched. */
  target?: { candidate: CoreCandidate; spec: CoreSpec };
  /** Why no candidate matched (when none did). */
  reason?: string;
}

/** Options of {@link resolveCoreRelocation}. */
export interface ResolveOptions extends CalcOptions {
  /**
   * Candidates for the local root type. Like libbpf's candidate cache, the
   * list is narrowed in place to the candidates that matched (when some
   * did), so later relocations of the same type only try those.
   */
  candidates?: CoreCandidate[];
  /** Names the target BTFs searched, for the "no candidate" reason; default `the target BTF`. */
  targetName?: string;
}

/**
 * Resolve a relocation against its candidates. `local_type_id` needs no
 * candidates. Throws a {@link CoreError} for a malformed spec, for
 * candidates that resolve to different offsets or values
 * (`CORE_AMBIGUOUS`), and for an anonymous root type.
 */
export function resolveCoreRelocation(
  local: Btf,
  relo: CoreRelocationInput,
  options: ResolveOptions = {},
): CoreResolution {
  const spec = parseCoreSpec(local, relo);
  if (relo.kind === CoreReloKind.TYPE_ID_LOCAL) {
    const id = BigInt(spec.rootTypeId);
    return {
      local: spec,
      result: {
        origVal: id,
        newVal: id,
        poison: false,
        validate: false,
        failMemszAdjust: false,
        origSize: 0,
        newSize: 0,
        origTypeId: 0,
        newTypeId: 0,
      },
    };
  }
  if (local.nameOf(relo.typeId) === "") {
    throw new CoreError(
      "CORE_ANONYMOUS",
      `<${coreReloKindString(relo.kind)}> relocation of [${relo.typeId}] ${
        describeType(local, relo.typeId)
      }: anonymous types are not supported`,
    );
  }
  const cands = options.candidates ?? [];
  const kept: CoreCandidate[] = [];
  const reasons: string[] = [];
  let chosen: { candidate: CoreCandidate; spec: CoreSpec } | undefined;
  let chosenRes: CoreCalcResult | undefined;
  for (const cand of cands) {
    const m = matchCoreSpec(spec, cand.target.btf, cand.id);
    if (m.spec === undefined) {
      reasons.push(cands.length > 1 ? `${cand.target.name} [${cand.id}]: ${m.reason}` : m.reason);
      continue;
    }
    const res = calcCoreRelo(spec, m.spec, options);
    if (chosen === undefined) {
      chosen = { candidate: cand, spec: m.spec };
      chosenRes = res;
    } else if (m.spec.bitOffset !== chosen.spec.bitOffset) {
      throw new CoreError(
        "CORE_AMBIGUOUS",
        `field offset ambiguity: ${m.spec.bitOffset} != ${chosen.spec.bitOffset} (candidates [${chosen.candidate.id}] and [${cand.id}])`,
      );
    } else if (
      res.poison !== chosenRes!.poison || (!res.poison && res.newVal !== chosenRes!.newVal)
    ) {
      throw new CoreError(
        "CORE_AMBIGUOUS",
        `relocation decision ambiguity: ${chosenRes!.poison ? "poison" : "value"} ${
          chosenRes!.newVal
        } != ${res.poison ? "poison" : "value"} ${res.newVal}`,
      );
    }
    kept.push(cand);
  }
  if (kept.length > 0) {
    cands.length = 0;
    cands.push(...kept);
    return { local: spec, result: chosenRes!, target: chosen };
  }
  const reason = cands.length === 0
    ? `no ${describeType(local, relo.typeId).replace(/ .*/, "")} named "${
      essentialName(local.nameOf(relo.typeId))
    }" in ${options.targetName ?? "the target BTF"}`
    : reasons.join("; ");
  return { local: spec, result: calcCoreRelo(spec, undefined, options), reason };
}
