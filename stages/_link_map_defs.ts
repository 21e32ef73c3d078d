/**
 * Extern maps against their definitions: an extern map's declaration must
 * describe the map it resolves to, field by field (libbpf's
 * `glob_map_defs_match`).
 *
 * @module
 */

import type { Btf } from "../btf/btf.ts";
import { BtfKind } from "../btf/types.ts";
import { LinkError } from "../errors/mod.ts";
import type { Definition, ObjectPlan } from "./_link_plan.ts";
import { datasecIds } from "./btf.ts";

/**
 * Throw `LINK_MAP_MISMATCH` unless the extern map of `plan` matches its
 * definition `def`: type, sizes, limits, flags. Objects without BTF for
 * either side are not checked.
 */
export function checkMapDefinitions(
  plans: readonly ObjectPlan[],
  { plan, def }: { plan: ObjectPlan; def: Definition },
): void {
  const name = def.sym.name;
  const declared = mapFields(plan.ctx.btf, name);
  const defined = mapFields(plans[def.object].ctx.btf, name);
  if (declared === undefined || defined === undefined) return;
  for (const field of new Set([...declared.keys(), ...defined.keys()])) {
    const a = declared.get(field);
    const b = defined.get(field);
    if (a === b) continue;
    throw new LinkError(
      "LINK_MAP_MISMATCH",
      `extern map ${JSON.stringify(name)} of ${plan.name} does not match its definition in ${
        plans[def.object].name
      }: ${field} is ${a ?? "unset"} in the extern, ${b ?? "unset"} in the definition`,
    );
  }
}

/** The fields of a BTF map definition as comparable strings, by member name. */
function mapFields(btf: Btf | undefined, name: string): Map<string, string> | undefined {
  if (btf === undefined) return undefined;
  const ds = datasecIds(btf, ".maps")[0];
  if (ds === undefined) return undefined;
  const dsType = btf.type(ds);
  if (dsType.kind !== BtfKind.DATASEC) return undefined;
  const v = dsType.vars.find((x) => btf.nameOf(x.type) === name);
  if (v === undefined) return undefined;
  const variable = btf.type(v.type);
  if (variable.kind !== BtfKind.VAR) return undefined;
  const struct = btf.type(btf.skipTypedefs(btf.skipQualifiers(variable.type)));
  if (struct.kind !== BtfKind.STRUCT) return undefined;
  const fields = new Map<string, string>();
  for (const m of struct.members) {
    const t = btf.type(btf.skipTypedefs(m.type));
    let value = "?";
    if (t.kind === BtfKind.PTR) {
      const target = btf.type(btf.skipTypedefs(t.type));
      // __uint(f, n) is a pointer to an array of n; __type(f, T) a pointer to T.
      value = target.kind === BtfKind.ARRAY
        ? String(target.nelems)
        : `a ${sizeOrUnknown(btf, t.type)}-byte type`;
    } else if (t.kind === BtfKind.ENUM || t.kind === BtfKind.ENUM64) {
      value = t.values.map((x) => String(x.value)).join(",");
    } else if (t.kind === BtfKind.ARRAY) {
      value = "an array of values";
    }
    fields.set(m.name, value);
  }
  return fields;
}

function sizeOrUnknown(btf: Btf, id: number): string {
  try {
    return String(btf.sizeOf(id));
  } catch {
    return "?";
  }
}
