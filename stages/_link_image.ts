/**
 * The synthetic ELF image of a static link: the merged sections' bytes,
 * plus the first object's license and version sections.
 *
 * @module
 */

import { SHT_NOBITS, SHT_PROGBITS } from "../elf/constants.ts";
import { LinkError } from "../errors/mod.ts";
import { elfImage, type ImageSection } from "./_elf_image.ts";
import type { ObjectPlan, OutSection } from "./_link_plan.ts";
import type { ClassifiedSection, LoadContext, SectionKind } from "./context.ts";

/** A linked image: the ELF view, and the index and kind of each section added after the merged ones. */
export interface LinkImage {
  /** The ELF view of the image. */
  elf: ReturnType<typeof elfImage>;
  /** License and version sections: index in the image, and kind. */
  extra: [number, SectionKind][];
}

/** The merged sections as an ELF image, plus license and version sections. */
export function buildImage(
  plans: readonly ObjectPlan[],
  out: ReadonlyMap<string, OutSection>,
): LinkImage {
  const sections: ImageSection[] = [];
  for (const o of out.values()) {
    let data: Uint8Array | undefined;
    if (o.type !== SHT_NOBITS) {
      data = new Uint8Array(o.size);
      for (const p of o.parts) {
        data.set(requireData(plans[p.object].ctx, p.sec), p.offset);
      }
    }
    sections.push({
      name: o.name,
      type: o.type,
      flags: o.flags,
      addralign: o.align,
      data,
      size: o.size,
    });
  }
  const extra: [number, SectionKind][] = [];
  for (const kind of ["license", "version"] as const) {
    for (const plan of plans) {
      const sec = [...plan.ctx.sections.values()].find((s) => s.kind === kind);
      if (sec === undefined) continue;
      const data = requireData(plan.ctx, sec);
      sections.push({
        name: sec.section.name,
        type: SHT_PROGBITS,
        flags: sec.section.flags,
        addralign: 1,
        data,
        size: data.length,
      });
      extra.push([sections.length, kind]);
      break;
    }
  }
  return { elf: elfImage(sections, plans[0].ctx.byteOrder === "little"), extra };
}

function requireData(ctx: LoadContext, sec: ClassifiedSection): Uint8Array {
  if (ctx.elf === undefined) {
    throw new LinkError(
      "LINK_NOT_READ",
      "an object has no ELF view: run the read stage before static-link",
    );
  }
  return ctx.elf.sectionData(sec.section);
}
