/**
 * BTF of several objects as one: every object's types appended in order
 * with their IDs shifted (and their names re-interned in one string
 * table), except that DATASECs of the same name become one whose
 * variables carry their offsets in the merged section. No deduplication:
 * identical types of two objects stay two types, which the kernel accepts.
 *
 * @module
 */

import { Btf } from "../btf/btf.ts";
import { BtfBuilder } from "../btf/builder.ts";
import { marshalBtf } from "../btf/marshal.ts";
import { type BtfDatasec, BtfKind, type BtfType, type BtfVarSecinfo } from "../btf/types.ts";

/** What the merge needs to know about one object. */
export interface BtfMergeInput {
  /** The object's BTF (DATASECs already fixed up from its ELF); absent without `.BTF`. */
  btf?: Btf;
  /** Offset of this object's part in each merged section, by section name. */
  sectionOffset: (section: string) => number;
  /** New names of this object's renamed static variables and maps. */
  renames: ReadonlyMap<string, string>;
  /** Variables to leave out of DATASECs: resolved externs, weak definitions that lost. */
  dropVars: ReadonlySet<string>;
}

/** The merged BTF and, per input, old type ID → new type ID. */
export interface BtfMergeResult {
  /** The merged BTF, marshalled and parsed back; undefined when no input had BTF. */
  btf?: Btf;
  /** Per input, a function from its type IDs to merged ones (identity on 0). */
  idMaps: ((id: number) => number)[];
}

/**
 * Merge the BTF of `inputs`; `sectionSize` gives each merged ELF section's
 * size (undefined for DATASECs without one, such as `.kconfig`).
 */
export function mergeBtf(
  inputs: readonly BtfMergeInput[],
  sectionSize: (section: string) => number | undefined,
): BtfMergeResult {
  const withBtf = inputs.find((i) => i.btf !== undefined);
  if (withBtf === undefined) return { idMaps: inputs.map(() => (id: number) => id) };
  const builder = new BtfBuilder({ littleEndian: withBtf.btf!.littleEndian });
  const datasecs = new Map<string, { id: number; vars: BtfVarSecinfo[]; size: number }>();
  const idMaps: ((id: number) => number)[] = [];
  for (const input of inputs) {
    const btf = input.btf;
    if (btf === undefined) {
      idMaps.push((id) => id);
      continue;
    }
    // New IDs first, so types referring forward can be rewritten in one pass.
    const ids = new Int32Array(btf.lastId + 1);
    let next = builder.lastId + 1;
    for (let id = btf.firstId; id <= btf.lastId; id++) {
      const existing = btf.kindOf(id) === BtfKind.DATASEC
        ? datasecs.get(btf.nameOf(id))
        : undefined;
      ids[id] = existing?.id ?? next++;
    }
    const map = (id: number) => (id === 0 ? 0 : ids[id]);
    idMaps.push(map);
    for (let id = btf.firstId; id <= btf.lastId; id++) {
      const t = btf.type(id);
      if (t.kind === BtfKind.DATASEC) {
        appendVars(btf, t, { input, map, datasecs, builder });
        continue;
      }
      const copy = remapType(t, map);
      if (t.kind === BtfKind.VAR) copy.name = input.renames.get(t.name) ?? t.name;
      builder.add(copy);
    }
  }
  for (const [name, ds] of datasecs) {
    const size = sectionSize(name) ?? ds.size;
    // The kernel wants a DATASEC's variables in offset order.
    const vars = size > 0 ? [...ds.vars].sort((a, b) => a.offset - b.offset) : ds.vars;
    builder.replaceType(ds.id, { id: ds.id, kind: BtfKind.DATASEC, name, size, vars });
  }
  return { btf: Btf.parse(marshalBtf(builder)), idMaps };
}

/** Add the variables of one object's DATASEC to the merged one of its name. */
function appendVars(
  btf: Btf,
  ds: BtfDatasec,
  { input, map, datasecs, builder }: {
    input: BtfMergeInput;
    map: (id: number) => number;
    datasecs: Map<string, { id: number; vars: BtfVarSecinfo[]; size: number }>;
    builder: BtfBuilder;
  },
): void {
  let merged = datasecs.get(ds.name);
  if (merged === undefined) {
    const id = builder.add({ kind: BtfKind.DATASEC, name: ds.name, size: ds.size, vars: [] });
    merged = { id, vars: [], size: ds.size };
    datasecs.set(ds.name, merged);
  }
  const base = input.sectionOffset(ds.name);
  const seen = new Set(merged.vars.map((v) => builder.nameOf(v.type)));
  for (const v of ds.vars) {
    const name = btf.nameOf(v.type);
    if (input.dropVars.has(name)) continue;
    const renamed = input.renames.get(name) ?? name;
    // Externs no object defines (kconfig, ksyms) appear once, as libbpf keeps them.
    if (renamed !== "" && seen.has(renamed) && isExtern(btf.type(v.type))) continue;
    seen.add(renamed);
    merged.vars.push({ type: map(v.type), offset: v.offset + base, size: v.size });
  }
}

function isExtern(t: BtfType): boolean {
  return (t.kind === BtfKind.VAR || t.kind === BtfKind.FUNC) && t.linkage === 2;
}

/** A copy of `t` with every type ID it holds passed through `map`. */
export function remapType(t: BtfType, map: (id: number) => number): BtfType {
  const out = { ...t } as BtfType & Record<string, unknown>;
  if ("type" in t) (out as { type: number }).type = map(t.type);
  if (t.kind === BtfKind.ARRAY) {
    (out as typeof t).indexType = map(t.indexType);
  } else if (t.kind === BtfKind.STRUCT || t.kind === BtfKind.UNION) {
    (out as typeof t).members = t.members.map((m) => ({ ...m, type: map(m.type) }));
  } else if (t.kind === BtfKind.FUNC_PROTO) {
    (out as typeof t).returnType = map(t.returnType);
    (out as typeof t).params = t.params.map((p) => ({ ...p, type: map(p.type) }));
  } else if (t.kind === BtfKind.DATASEC) {
    (out as typeof t).vars = t.vars.map((v) => ({ ...v, type: map(v.type) }));
  }
  return out;
}
