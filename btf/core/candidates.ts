/**
 * CO-RE candidate search (libbpf's `bpf_core_find_cands`): target types
 * whose essential name (`___flavour` stripped) and kind agree with the
 * local root type, in vmlinux first and in module BTFs only when vmlinux
 * has none.
 *
 * @module
 */

import { type Btf, essentialName } from "../btf.ts";
import { BtfKind } from "../types.ts";
import { CoreError } from "./errors.ts";
import { describeType } from "./spec.ts";

/** A BTF to resolve against: `vmlinux`, a module (split BTF), or a custom blob. */
export interface CoreTarget {
  /** Name for messages and results: `vmlinux`, the module's name, or a path. */
  name: string;
  /** The BTF; for a module, split BTF on top of vmlinux's. */
  btf: Btf;
}

/** Where target BTFs come from; modules are asked for only when vmlinux has no candidate. */
export interface CoreTargetSource {
  /** The main target (vmlinux, or the custom BTF). */
  main: CoreTarget;
  /** Module targets, read on first need; absent when modules are not searched. */
  modules?: () => CoreTarget[];
}

/** A target type a local root type may relocate to. */
export interface CoreCandidate {
  /** The BTF it is in. */
  target: CoreTarget;
  /** Its type ID there. */
  id: number;
}

/** Kinds `btf_kind_core_compat` treats as one: ENUM and ENUM64 share a class. */
function kindClass(kind: number): number {
  return kind === BtfKind.ENUM64 ? BtfKind.ENUM : kind;
}

/** Candidate IDs by `<kind class>:<essential name>`, per target BTF, shared by every load. */
const CACHE = new WeakMap<Btf, Map<string, number[]>>();

/**
 * IDs of `target`'s own types (not its base's) with this essential name and
 * a kind CO-RE may relocate `kind` to; cached per target BTF per name.
 */
export function candidateIds(target: Btf, name: string, kind: number): number[] {
  let byName = CACHE.get(target);
  if (byName === undefined) CACHE.set(target, byName = new Map());
  const key = `${kindClass(kind)}:${name}`;
  let ids = byName.get(key);
  if (ids === undefined) {
    ids = target.idsByEssentialName(name).filter((id) =>
      id >= target.firstId && kindClass(target.kindOf(id)) === kindClass(kind) &&
      essentialName(target.nameOf(id)) === name
    );
    byName.set(key, ids);
  }
  return ids;
}

/**
 * Candidates for local type `localId`: every type of the main target with
 * the same essential name and a compatible kind; when there is none, the
 * same search over the module targets. Throws a {@link CoreError}
 * (`CORE_ANONYMOUS`) for an anonymous local type, as libbpf does.
 */
export function findCandidates(
  local: Btf,
  localId: number,
  source: CoreTargetSource,
): CoreCandidate[] {
  const name = local.nameOf(localId);
  if (name === "") {
    throw new CoreError(
      "CORE_ANONYMOUS",
      `[${localId}] ${
        describeType(local, localId)
      }: CO-RE relocations of anonymous types are not supported`,
    );
  }
  const essential = essentialName(name);
  const kind = local.kindOf(localId);
  const out: CoreCandidate[] = [];
  for (const id of candidateIds(source.main.btf, essential, kind)) {
    out.push({ target: source.main, id });
  }
  if (out.length > 0 || source.modules === undefined) return out;
  for (const mod of source.modules()) {
    for (const id of candidateIds(mod.btf, essential, kind)) out.push({ target: mod, id });
  }
  return out;
}
