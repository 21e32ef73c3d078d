/**
 * The `maps` stage: builds a {@link MapSpec} for every legacy map record
 * and every referenced global data section.
 *
 * BTF-defined maps (`.maps`) are read from the object's BTF (see
 * `btf_maps.ts`); data-section maps get their DATASEC as value type.
 *
 * @module
 */

import { SHT_NOBITS, SHT_PROGBITS } from "../elf/constants.ts";
import type { Btf } from "../btf/btf.ts";
import { MapSpec } from "../collection/spec.ts";
import { MapFlags, MapType } from "../collection/types.ts";
import { LinkError } from "../errors/mod.ts";
import { slabU8 } from "../internal/slab.ts";
import { loadBtfMaps } from "./btf_maps.ts";
import { collectVariables, datasecsByName } from "./variables.ts";
import type { ClassifiedSection, LoadContext } from "./context.ts";
import { inContext, requireElf } from "./context.ts";
import type { Stage } from "./pipeline.ts";

/** Size of the five `struct bpf_map_def` fields every legacy record starts with. */
const MAP_DEF_SIZE = 20;
/** The largest value the kernel accepts for a u32 size field. */
const U32_MAX = 0xffff_ffff;

/** Build legacy and data-section maps into `ctx.maps`. */
export function mapsStage(): Stage {
  return {
    name: "maps",
    run(ctx: LoadContext) {
      // One pass sorts the sections; maps are then added legacy ones first,
      // BTF-defined next, data sections last.
      const legacy: ClassifiedSection[] = [];
      const btfMaps: ClassifiedSection[] = [];
      const data: ClassifiedSection[] = [];
      for (const sec of ctx.sections.values()) {
        if (sec.kind === "legacyMaps") legacy.push(sec);
        else if (sec.kind === "btfMaps") btfMaps.push(sec);
        else if (sec.kind === "data") data.push(sec);
      }
      for (const sec of legacy) {
        try {
          loadLegacyMaps(ctx, sec);
        } catch (err) {
          throw inContext(err, `section ${sec.section.name}`);
        }
      }
      for (const sec of btfMaps) {
        try {
          loadBtfMaps(ctx, sec);
        } catch (err) {
          throw inContext(err, `section ${sec.section.name}`);
        }
      }
      if (data.length === 0) return;
      const datasecs: Datasecs = { btf: ctx.btf, byName: undefined };
      for (const sec of data) {
        try {
          loadDataSection(ctx, sec, datasecs);
        } catch (err) {
          throw inContext(err, `data section ${sec.section.name}`);
        }
      }
      collectVariables(ctx, { sections: data, datasecs: datasecs.byName });
    },
  };
}

function addMap(ctx: LoadContext, spec: MapSpec): void {
  if (ctx.maps.has(spec.name)) {
    throw new LinkError("LINK_DUPLICATE_MAP", `map ${JSON.stringify(spec.name)} is defined twice`);
  }
  ctx.maps.set(spec.name, spec);
}

/**
 * `struct bpf_map_def` records: one symbol per record, all records the same
 * size, bytes past the five standard fields kept as `extra`.
 */
function loadLegacyMaps(ctx: LoadContext, sec: ClassifiedSection): void {
  const elf = requireElf(ctx, "maps");
  const { name } = sec.section;
  const count = sec.symbols.size;
  if (sec.section.type !== SHT_PROGBITS) {
    throw new LinkError(
      "LINK_BAD_MAP_DEF",
      `map definitions must be SHT_PROGBITS, not type ${sec.section.type}`,
    );
  }
  // Sizes come from the bytes actually there, never from the header alone.
  const data = elf.sectionData(sec.section);
  const size = data.length;
  if (count === 0) {
    if (size === 0) return;
    throw new LinkError("LINK_BAD_MAP_DEF", `${size} bytes of map definitions but no map symbols`);
  }
  if (size % count !== 0) {
    throw new LinkError(
      "LINK_BAD_MAP_DEF",
      `${size} bytes do not split into ${count} equal map definitions`,
      { section: name },
    );
  }
  const recordSize = size / count;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const le = elf.littleEndian;
  for (const [offset, sym] of sec.symbols) {
    if (offset % recordSize !== 0 || offset + recordSize > size) {
      throw new LinkError(
        "LINK_BAD_MAP_DEF",
        `map ${
          JSON.stringify(sym.name)
        } starts at offset ${offset}, not at a ${recordSize}-byte record boundary inside the ${size}-byte section`,
        { offset },
      );
    }
    if (recordSize < MAP_DEF_SIZE) {
      throw new LinkError(
        "LINK_BAD_MAP_DEF",
        `map ${
          JSON.stringify(sym.name)
        }: ${recordSize}-byte definition is shorter than the ${MAP_DEF_SIZE}-byte struct bpf_map_def`,
        { offset },
      );
    }
    const tail = data.subarray(offset + MAP_DEF_SIZE, offset + recordSize);
    addMap(
      ctx,
      new MapSpec({
        name: sym.name,
        type: view.getUint32(offset, le) as MapType,
        keySize: view.getUint32(offset + 4, le),
        valueSize: view.getUint32(offset + 8, le),
        maxEntries: view.getUint32(offset + 12, le),
        flags: view.getUint32(offset + 16, le),
        extra: tail.length > 0 ? tail.slice() : undefined,
      }),
    );
  }
}

/**
 * A referenced data section becomes a one-element array holding its bytes.
 * `.rodata*` is read-only for programs and frozen; NOBITS sections (`.bss*`)
 * start zeroed by the kernel, so they carry no contents.
 */
function loadDataSection(
  ctx: LoadContext,
  sec: ClassifiedSection,
  datasecs: Datasecs,
): void {
  const { name, size } = sec.section;
  if (sec.references === 0) {
    ctx.diagnostics.push({
      stage: "maps",
      level: "info",
      message: `data section ${name} is unreferenced: pruned`,
    });
    return;
  }
  if (size > U32_MAX) {
    throw new LinkError("LINK_DATA_TOO_LARGE", `${size} bytes exceed the 4 GiB value size limit`);
  }
  const readOnly = name === ".rodata" || name.startsWith(".rodata.");
  const nobits = sec.section.type === SHT_NOBITS;
  const value = nobits ? undefined : copyData(requireElf(ctx, "maps").sectionData(sec.section));
  addMap(
    ctx,
    new MapSpec({
      name,
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: size,
      maxEntries: 1,
      flags: readOnly ? MapFlags.BPF_F_RDONLY_PROG : 0,
      freeze: readOnly,
      contents: value === undefined ? [] : [{ key: 0, value }],
      valueType: datasecOf(datasecs, name),
    }),
  );
}

/**
 * A copy of a data section's bytes, carved from a shared slab: an
 * ArrayBuffer per map costs about a microsecond in Deno whatever its size.
 */
function copyData(data: Uint8Array): Uint8Array {
  const value = slabU8(data.length);
  value.set(data);
  return value;
}

/**
 * The DATASECs of a load by name, found on first use: one pass over the
 * BTF serves every data section (and then `collectVariables`).
 */
interface Datasecs {
  btf: Btf | undefined;
  byName: Map<string, number> | undefined;
}

/** The DATASEC describing a data section, as libbpf gives it to the kernel as value type. */
function datasecOf(datasecs: Datasecs, name: string): number | undefined {
  if (datasecs.btf === undefined) return undefined;
  return (datasecs.byName ??= datasecsByName(datasecs.btf)).get(name);
}
