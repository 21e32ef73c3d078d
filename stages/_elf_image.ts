/**
 * A minimal relocatable ELF64 image (sections and their names, no symbol
 * table): the static-link stage gives a merged context one, so the later
 * stages read merged section contents through the same `ElfFile` API as
 * for a single object.
 *
 * @module
 */

import {
  ELF64_EHDR_SIZE,
  ELF64_SHDR_SIZE,
  EM_BPF,
  ET_REL,
  SHT_NOBITS,
  SHT_STRTAB,
} from "../elf/constants.ts";
import { ElfFile } from "../elf/reader.ts";

/** One section of an {@link elfImage}. */
export interface ImageSection {
  /** Section name. */
  name: string;
  /** sh_type (`SHT_PROGBITS`, `SHT_NOBITS`, …). */
  type: number;
  /** sh_flags. */
  flags: number;
  /** sh_addralign. */
  addralign: number;
  /** Contents; for `SHT_NOBITS`, only `size` counts. */
  data?: Uint8Array;
  /** Size in bytes (the contents' length unless NOBITS). */
  size: number;
}

/**
 * Write `sections` (after the null section, in order, so the first gets
 * index 1) into an ELF image and read it back.
 */
export function elfImage(sections: readonly ImageSection[], littleEndian: boolean): ElfFile {
  const encoder = new TextEncoder();
  const names: number[] = [0];
  const nameOffsets: number[] = [];
  for (const name of [...sections.map((s) => s.name), ".shstrtab"]) {
    nameOffsets.push(names.length);
    names.push(...encoder.encode(name), 0);
  }
  let offset = ELF64_EHDR_SIZE;
  const offsets: number[] = [];
  for (const s of sections) {
    offset = alignUp(offset, 8);
    offsets.push(offset);
    if (s.type !== SHT_NOBITS) offset += s.size;
  }
  const strtabOffset = offset;
  const shoff = alignUp(strtabOffset + names.length, 8);
  const shnum = sections.length + 2;
  const bytes = new Uint8Array(shoff + shnum * ELF64_SHDR_SIZE);
  const view = new DataView(bytes.buffer);
  const le = littleEndian;
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, le ? 1 : 2, 1]);
  view.setUint16(16, ET_REL, le);
  view.setUint16(18, EM_BPF, le);
  view.setUint32(20, 1, le);
  view.setBigUint64(40, BigInt(shoff), le);
  view.setUint16(52, ELF64_EHDR_SIZE, le);
  view.setUint16(58, ELF64_SHDR_SIZE, le);
  view.setUint16(60, shnum, le);
  view.setUint16(62, shnum - 1, le);
  const header = (i: number, h: {
    name: number;
    type: number;
    flags: number;
    offset: number;
    size: number;
    addralign: number;
  }) => {
    const at = shoff + i * ELF64_SHDR_SIZE;
    view.setUint32(at, h.name, le);
    view.setUint32(at + 4, h.type, le);
    view.setBigUint64(at + 8, BigInt(h.flags), le);
    view.setBigUint64(at + 24, BigInt(h.offset), le);
    view.setBigUint64(at + 32, BigInt(h.size), le);
    view.setBigUint64(at + 48, BigInt(h.addralign), le);
  };
  sections.forEach((s, i) => {
    if (s.type !== SHT_NOBITS && s.data !== undefined) bytes.set(s.data, offsets[i]);
    header(i + 1, { ...s, name: nameOffsets[i], offset: offsets[i] });
  });
  bytes.set(names, strtabOffset);
  header(shnum - 1, {
    name: nameOffsets[sections.length],
    type: SHT_STRTAB,
    flags: 0,
    offset: strtabOffset,
    size: names.length,
    addralign: 1,
  });
  return new ElfFile(bytes);
}

/** `n` rounded up to a multiple of `align` (alignments of 0 and 1 leave it). */
export function alignUp(n: number, align: number): number {
  return align > 1 ? Math.ceil(n / align) * align : n;
}
