/**
 * BTF-defined maps: the `.maps` section, read the way libbpf's
 * `parse_btf_map_def` reads it. Each variable of the `.maps` DATASEC is a
 * struct whose members encode the definition in their types:
 *
 * - `__uint(name, n)` is `int (*name)[n]`: a pointer to an array of n;
 * - `__ulong(name, n)` (libbpf ≥ 1.2) is an enum whose one enumerator is n;
 * - `__type(key, T)` is `T *key`: the key type, its size the key size;
 * - `__array(values, T)` is `T *values[]`: inner map templates (map-in-map)
 *   or programs (prog arrays), initialised through relocations in `.maps`.
 *
 * @module
 */

import type { Btf } from "../btf/btf.ts";
import {
  type BtfComposite,
  type BtfDatasec,
  BtfKind,
  btfKindName,
  type BtfMember,
} from "../btf/types.ts";
import { MapSpec } from "../collection/spec.ts";
import { MapType, PinType } from "../collection/types.ts";
import { SHT_PROGBITS } from "../elf/constants.ts";
import { LinkError } from "../errors/mod.ts";
import type { ClassifiedSection, LoadContext } from "./context.ts";
import { requireElf } from "./context.ts";
import { datasecIds } from "./btf.ts";

const MAP_IN_MAP: ReadonlySet<number> = new Set([MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS]);

function bad(map: string, detail: string): LinkError {
  return new LinkError("LINK_BAD_BTF_MAP", `map ${JSON.stringify(map)}: ${detail}`);
}

/** A number from `__uint()` (pointer to array) or `__ulong()` (enum). */
function fieldNumber(btf: Btf, map: string, member: BtfMember): bigint {
  const t = btf.type(btf.skipTypedefs(member.type));
  if (t.kind === BtfKind.PTR) {
    const arr = btf.type(t.type);
    if (arr.kind !== BtfKind.ARRAY) {
      throw bad(
        map,
        `attribute ${member.name}: type ${t.type} is not an array, as __uint() makes it`,
      );
    }
    return BigInt(arr.nelems);
  }
  if ((t.kind === BtfKind.ENUM || t.kind === BtfKind.ENUM64) && t.values.length === 1) {
    return BigInt(t.values[0].value);
  }
  throw bad(
    map,
    `attribute ${member.name}: expected a pointer to an array (__uint) or a one-value enum (__ulong), got ${
      btfKindName(t.kind)
    }`,
  );
}

function u32Field(btf: Btf, map: string, member: BtfMember): number {
  const n = fieldNumber(btf, map, member);
  if (n < 0n || n > 0xffff_ffffn) {
    throw bad(map, `attribute ${member.name}: ${n} does not fit in 32 bits`);
  }
  return Number(n);
}

/** What a `values` member says: inner map template, or programs. */
type Values = { kind: "maps"; inner: MapSpec } | { kind: "programs" };

/** A definition read from one struct, before its name-level checks. */
interface ParsedDef {
  spec: MapSpec;
  values?: Values;
  /** Byte offset of the `values` member in the definition. */
  valuesOffset?: number;
}

/** One map definition struct; `inner` marks an inner map template (no `values` allowed). */
function parseDef(btf: Btf, name: string, def: BtfComposite, inner: boolean): ParsedDef {
  const spec = new MapSpec({ name, type: MapType.UNSPEC });
  let keySize: number | undefined;
  let valueSize: number | undefined;
  let values: Values | undefined;
  let valuesOffset: number | undefined;
  let typeSeen = false;
  def.members.forEach((m, i) => {
    switch (m.name) {
      case "type":
        spec.type = u32Field(btf, name, m) as MapType;
        typeSeen = true;
        break;
      case "max_entries":
        spec.maxEntries = u32Field(btf, name, m);
        break;
      case "map_flags":
        spec.flags = u32Field(btf, name, m);
        break;
      case "numa_node":
        spec.numaNode = u32Field(btf, name, m);
        break;
      case "map_extra":
        spec.mapExtra = fieldNumber(btf, name, m);
        break;
      case "key_size":
      case "value_size": {
        const size = u32Field(btf, name, m);
        const known = m.name === "key_size" ? keySize : valueSize;
        if (known !== undefined && known !== size) {
          throw bad(name, `conflicting ${m.name.replace("_", " ")} ${known} != ${size}`);
        }
        if (m.name === "key_size") keySize = size;
        else valueSize = size;
        break;
      }
      case "key":
      case "value": {
        const ptr = btf.type(btf.skipTypedefs(m.type));
        if (ptr.kind !== BtfKind.PTR) {
          throw bad(name, `${m.name} is not a pointer to its type, as __type() makes it`);
        }
        const size = btf.sizeOf(ptr.type);
        const known = m.name === "key" ? keySize : valueSize;
        if (known !== undefined && known !== size) {
          throw bad(name, `conflicting ${m.name} size ${known} != ${size}`);
        }
        if (m.name === "key") {
          keySize = size;
          spec.keyType = ptr.type;
        } else {
          valueSize = size;
          spec.valueType = ptr.type;
        }
        break;
      }
      case "pinning": {
        const pin = u32Field(btf, name, m);
        if (pin !== PinType.NONE && pin !== PinType.BY_NAME) {
          throw bad(name, `invalid pinning value ${pin}`);
        }
        spec.pinning = pin as PinType;
        break;
      }
      case "values": {
        if (inner) throw bad(name, "multi-level inner maps are not supported");
        if (i !== def.members.length - 1) throw bad(name, "values must be the last member");
        if (!typeSeen) throw bad(name, "values needs the map type declared before it");
        const isMapInMap = MAP_IN_MAP.has(spec.type);
        if (!isMapInMap && spec.type !== MapType.PROG_ARRAY) {
          throw bad(name, "values is only for map-in-map and prog-array maps");
        }
        if (valueSize !== undefined && valueSize !== 4) {
          throw bad(name, `conflicting value size ${valueSize} != 4`);
        }
        valueSize = 4;
        const arr = btf.type(btf.skipTypedefs(m.type));
        if (arr.kind !== BtfKind.ARRAY) {
          throw bad(name, "values is not an array, as __array() makes it");
        }
        const ptr = btf.type(btf.skipTypedefs(arr.type));
        if (ptr.kind !== BtfKind.PTR) throw bad(name, "values elements are not pointers");
        const target = btf.type(btf.skipTypedefs(ptr.type));
        if (isMapInMap) {
          if (target.kind !== BtfKind.STRUCT) {
            throw bad(name, `inner map definition is a ${btfKindName(target.kind)}, not a struct`);
          }
          values = { kind: "maps", inner: parseDef(btf, `${name}.inner`, target, true).spec };
        } else {
          if (target.kind !== BtfKind.FUNC_PROTO) {
            throw bad(
              name,
              `prog array values point to a ${btfKindName(target.kind)}, not a function`,
            );
          }
          values = { kind: "programs" };
        }
        valuesOffset = m.bitOffset / 8;
        break;
      }
      default:
        throw bad(name, `unknown field ${JSON.stringify(m.name)}`);
    }
  });
  if (!typeSeen || spec.type === MapType.UNSPEC) throw bad(name, "map type isn't specified");
  spec.keySize = keySize ?? 0;
  spec.valueSize = valueSize ?? 0;
  if (values?.kind === "maps") spec.innerMap = values.inner;
  return { spec, values, valuesOffset };
}

/**
 * Build a {@link MapSpec} for every variable of the `.maps` DATASEC, with
 * `values` slots filled from the section's relocations.
 */
export function loadBtfMaps(ctx: LoadContext, sec: ClassifiedSection): void {
  const name = sec.section.name;
  const btf = ctx.btf;
  if (btf === undefined) {
    throw new LinkError(
      "LINK_BTF_MAPS_NO_BTF",
      `section ${name} defines maps with BTF, but the object has no .BTF`,
    );
  }
  if (sec.section.type !== SHT_PROGBITS) {
    throw new LinkError("LINK_BAD_BTF_MAP", `section ${name} is not SHT_PROGBITS`);
  }
  const data = requireElf(ctx, "maps").sectionData(sec.section);
  const ids = datasecIds(btf, name);
  if (ids.length !== 1) {
    throw new LinkError(
      "LINK_BAD_BTF_MAP",
      `section ${name}: ${ids.length} DATASECs of that name in BTF, want 1`,
    );
  }
  const ds = btf.type(ids[0]) as BtfDatasec;
  const placed: { name: string; start: number; end: number; def: ParsedDef }[] = [];
  for (const v of ds.vars) {
    const variable = btf.type(v.type);
    if (variable.kind !== BtfKind.VAR) {
      throw new LinkError(
        "LINK_BAD_BTF_MAP",
        `section ${name}: entry of type ${v.type} is a ${
          btfKindName(variable.kind)
        }, not a variable`,
      );
    }
    const mapName = variable.name;
    {
      const defType = btf.type(btf.skipTypedefs(variable.type));
      if (defType.kind !== BtfKind.STRUCT) {
        throw bad(mapName, `definition is a ${btfKindName(defType.kind)}, not a struct`);
      }
      if (v.offset + v.size > data.length || v.size < defType.size) {
        throw bad(
          mapName,
          `definition at offset ${v.offset} (${v.size} bytes) does not fit section ${name} (${data.length} bytes)`,
        );
      }
      // Definitions carry no data: every byte is zero, values included (they are relocations).
      for (let i = v.offset; i < v.offset + v.size; i++) {
        if (data[i] !== 0) {
          throw bad(
            mapName,
            `definition has non-zero byte at offset ${i}; map definitions carry no data`,
          );
        }
      }
      const def = parseDef(btf, mapName, defType, false);
      if (ctx.maps.has(mapName)) {
        throw new LinkError(
          "LINK_DUPLICATE_MAP",
          `map ${JSON.stringify(mapName)} is defined twice`,
        );
      }
      placed.push({ name: mapName, start: v.offset, end: v.offset + v.size, def });
    }
  }
  placed.sort((a, b) => a.start - b.start);
  for (let i = 1; i < placed.length; i++) {
    if (placed[i].start < placed[i - 1].end) {
      throw new LinkError(
        "LINK_BAD_BTF_MAP",
        `section ${name}: maps ${placed[i - 1].name} and ${placed[i].name} overlap`,
      );
    }
  }
  fillValues(ctx, sec, placed);
  for (const p of placed) ctx.maps.set(p.name, p.def.spec);
}

/** Slots of `values` arrays, from the relocations libbpf's `init_*_slots` use. */
function fillValues(
  ctx: LoadContext,
  sec: ClassifiedSection,
  placed: { name: string; start: number; end: number; def: ParsedDef }[],
): void {
  for (const [offset, rel] of [...sec.relocations].sort((a, b) => a[0] - b[0])) {
    const owner = placed.find((p) => offset >= p.start && offset < p.end);
    const where = `relocation at offset ${offset} of ${sec.section.name}`;
    if (
      owner === undefined || owner.def.values === undefined || owner.def.valuesOffset === undefined
    ) {
      throw new LinkError("LINK_BAD_BTF_MAP", `${where} is outside every map's values`);
    }
    const rel8 = offset - owner.start - owner.def.valuesOffset;
    if (rel8 < 0 || rel8 % 8 !== 0) {
      throw bad(owner.name, `${where} is not on a values slot`);
    }
    const slot = rel8 / 8;
    if (slot >= owner.def.spec.maxEntries) {
      throw bad(owner.name, `values slot ${slot} is past max_entries ${owner.def.spec.maxEntries}`);
    }
    const target = rel.symbol.name;
    const targetSection = ctx.sections.get(rel.symbol.sectionIndex);
    if (owner.def.values.kind === "programs") {
      if (targetSection?.kind !== "program" || targetSection.section.name === ".text") {
        throw bad(
          owner.name,
          `values slot ${slot} names ${JSON.stringify(target)}, which is not a program`,
        );
      }
    } else if (targetSection !== sec) {
      throw bad(
        owner.name,
        `values slot ${slot} names ${
          JSON.stringify(target)
        }, which is not a map in ${sec.section.name}`,
      );
    }
    owner.def.spec.contents.push({ key: slot, value: target });
  }
}
