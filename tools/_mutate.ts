/**
 * Structure-aware mutations of ELF objects for fuzzing: most mutations land
 * in the ELF header, the section header table, or one section's bytes
 * (symbol tables, relocations, instructions, map definitions), where the
 * loader's checks live; the rest hit anywhere or truncate.
 *
 * @module
 */

import fc from "fast-check";
import { readElf } from "../elf/mod.ts";

/** One edit to an object's bytes; offsets are taken modulo the region size. */
export type Mutation =
  | { kind: "byte"; region: number; at: number; value: number }
  | { kind: "flip"; region: number; at: number; bit: number }
  | { kind: "word"; region: number; at: number; value: number; size: 2 | 4 | 8 }
  | { kind: "truncate"; keep: number };

/** A byte range worth mutating. */
interface Region {
  start: number;
  length: number;
}

/** The ranges of an object worth aiming at: header, section table, each section's bytes. */
export function regionsOf(bytes: Uint8Array): Region[] {
  const regions: Region[] = [{ start: 0, length: bytes.length }, {
    start: 0,
    length: Math.min(64, bytes.length),
  }];
  try {
    const elf = readElf(bytes);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const shoff = Number(view.getBigUint64(40, elf.littleEndian));
    regions.push({ start: shoff, length: elf.sections.length * 64 });
    for (const s of elf.sections) {
      if (s.size > 0 && s.type !== 8 /* SHT_NOBITS */) {
        regions.push({ start: s.offset, length: s.size });
      }
    }
  } catch {
    // An unreadable seed still gets the whole-file regions.
  }
  return regions;
}

/** Extreme values that break size and index arithmetic. */
const EXTREMES = [
  0,
  1,
  0x7f,
  0x80,
  0xff,
  0x7fff,
  0xffff,
  0x7fffffff,
  0x80000000,
  0xffffffff,
  0xfff1,
  0xfff2,
  0xffff,
];

/** fast-check arbitrary of mutation lists. */
export function mutationsArbitrary(maxMutations = 4): fc.Arbitrary<Mutation[]> {
  const region = fc.nat(64);
  const at = fc.nat();
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ kind: fc.constant("byte" as const), region, at, value: fc.nat(255) }),
    },
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant("flip" as const), region, at, bit: fc.nat(7) }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant("word" as const),
        region,
        at,
        value: fc.oneof(fc.constantFrom(...EXTREMES), fc.nat()),
        size: fc.constantFrom(2 as const, 4 as const, 8 as const),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("truncate" as const), keep: fc.nat() }) },
  );
  return fc.array(mutation, { minLength: 1, maxLength: maxMutations });
}

/** A mutated copy of `bytes`. */
export function applyMutations(
  bytes: Uint8Array,
  mutations: Mutation[],
  littleEndian = true,
): Uint8Array {
  const regions = regionsOf(bytes);
  let out = bytes.slice();
  for (const m of mutations) {
    if (m.kind === "truncate") {
      out = out.slice(0, m.keep % (out.length + 1));
      continue;
    }
    if (out.length === 0) continue;
    const r = regions[m.region % regions.length];
    const pos = (r.start + (r.length > 0 ? m.at % r.length : 0)) % out.length;
    if (m.kind === "byte") out[pos] = m.value;
    else if (m.kind === "flip") out[pos] ^= 1 << m.bit;
    else {
      const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
      if (pos + m.size > out.length) continue;
      if (m.size === 2) view.setUint16(pos, m.value & 0xffff, littleEndian);
      else if (m.size === 4) view.setUint32(pos, m.value >>> 0, littleEndian);
      else view.setBigUint64(pos, BigInt(m.value), littleEndian);
    }
  }
  return out;
}
