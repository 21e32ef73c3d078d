import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { Btf } from "../btf/btf.ts";
import { BtfKind, type BtfType } from "../btf/types.ts";
import { readElf } from "../elf/mod.ts";
import { BtfError } from "../errors/mod.ts";
import { fixtureObjects, readFixture } from "./_util.ts";
import { BtfBlobWriter, encodeTypes, HDR } from "./_btf_blob.ts";

/** A valid blob to mutate, and the offsets of what steers the parser. */
interface Seed {
  name: string;
  bytes: Uint8Array;
  le: boolean;
  /** Base for split BTF, when the seed is split. */
  base?: Btf;
  /** Offsets of each type record's info word and size/type word, and of every other type-section word. */
  infoWords: number[];
  typeWords: number[];
}

/** Record offsets of a valid blob, from its own header (known kinds only). */
function describe(name: string, bytes: Uint8Array, base?: Btf): Seed {
  const le = bytes[0] === 0x9f;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hdrLen = view.getUint32(4, le);
  const start = hdrLen + view.getUint32(8, le);
  const end = start + view.getUint32(12, le);
  const info = [0, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 4, 0, 0];
  const elem = [0, 0, 0, 0, 12, 12, 8, 0, 0, 0, 0, 0, 0, 8, 0, 12, 0, 0, 0, 12];
  const infoWords: number[] = [];
  const typeWords: number[] = [];
  for (let off = start; off < end;) {
    const word = view.getUint32(off + 4, le);
    const kind = (word >>> 24) & 0x7f;
    infoWords.push(off + 4);
    const size = 12 + info[kind] + (word & 0xffff) * elem[kind];
    off += size;
  }
  for (let off = start; off + 4 <= end; off += 4) typeWords.push(off);
  return { name, bytes, le, base, infoWords, typeWords };
}

function fixtureSeeds(): Seed[] {
  const seeds: Seed[] = [];
  for (const dir of ["bpfel", "bpfeb"] as const) {
    for (const file of fixtureObjects(dir)) {
      const elf = readElf(readFixture(`${dir}/${file}`));
      const section = elf.sectionByName(".BTF");
      if (section !== undefined) {
        seeds.push(describe(`${dir}/${file}`, elf.sectionData(section).slice()));
      }
    }
  }
  return seeds;
}

/** Replace references past `last` by void, so a prefix of vmlinux is valid on its own. */
function clampRefs(t: BtfType, last: number): BtfType {
  const c = (id: number) => (id > last ? 0 : id);
  switch (t.kind) {
    case BtfKind.PTR:
    case BtfKind.TYPEDEF:
    case BtfKind.VOLATILE:
    case BtfKind.CONST:
    case BtfKind.RESTRICT:
    case BtfKind.TYPE_TAG:
    case BtfKind.FUNC:
    case BtfKind.VAR:
    case BtfKind.DECL_TAG:
      return { ...t, type: c(t.type) };
    case BtfKind.ARRAY:
      return { ...t, type: c(t.type), indexType: c(t.indexType) };
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      return { ...t, members: t.members.map((m) => ({ ...m, type: c(m.type) })) };
    case BtfKind.FUNC_PROTO:
      return {
        ...t,
        returnType: c(t.returnType),
        params: t.params.map((p) => ({ ...p, type: c(p.type) })),
      };
    case BtfKind.DATASEC:
      return { ...t, vars: t.vars.map((v) => ({ ...v, type: c(v.type) })) };
    default:
      return t;
  }
}

/** The first ~20 KB of vmlinux's types, re-wrapped in both byte orders. */
function vmlinuxSeeds(): Seed[] {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync("/sys/kernel/btf/vmlinux"));
  } catch {
    console.log("vmlinux seed skipped: /sys/kernel/btf/vmlinux is not readable");
    return [];
  }
  const btf = Btf.parse(bytes);
  const types: BtfType[] = [];
  let size = 0;
  for (let id = 1; id <= btf.lastId && size < 20_000; id++) {
    const t = btf.type(id);
    types.push(t);
    size += 12 + ("members" in t ? 12 * t.members.length : 0) +
      ("params" in t ? 8 * t.params.length : 0) +
      ("values" in t ? 12 * t.values.length : 0) + 12;
  }
  const last = types.length;
  const clamped = types.map((t) => clampRefs(t, last));
  return [true, false].map((le) =>
    describe(
      `vmlinux[1..${last}] ${le ? "el" : "eb"}`,
      encodeTypes(clamped, { littleEndian: le }).bytes,
    )
  );
}

/** Hand-built seeds: every kind with a layout section and an unknown kind, and split BTF. */
function builtSeeds(): Seed[] {
  const seeds: Seed[] = [];
  for (const le of [true, false]) {
    const w = new BtfBlobWriter({ littleEndian: le });
    const int = w.add({
      kind: BtfKind.INT,
      name: "int",
      size: 4,
      encoding: 1,
      bitOffset: 0,
      bits: 32,
    });
    const ptr = w.add({ kind: BtfKind.PTR, name: "", type: int });
    const s = w.add({
      kind: BtfKind.STRUCT,
      name: "s___v1",
      size: 16,
      kindFlag: true,
      members: [
        { name: "a", type: int, bitOffset: 0, bitfieldSize: 3 },
        { name: "p", type: ptr, bitOffset: 64, bitfieldSize: 0 },
      ],
    });
    w.add({ kind: BtfKind.ARRAY, name: "", type: s, indexType: int, nelems: 4 });
    w.add({
      kind: BtfKind.ENUM64,
      name: "e",
      size: 8,
      signed: true,
      values: [{ name: "A", value: -5n }],
    });
    w.raw({ name: "unknown", kind: 21, vlen: 2, sizeOrType: int, words: [1, 2, 3] });
    w.add({ kind: BtfKind.TYPEDEF, name: "t", type: 6 });
    w.add({ kind: BtfKind.DECL_TAG, name: "tag", type: s, componentIdx: 1 });
    // The known kinds as libbpf writes them, kind 20 empty, kind 21: 4 bytes + 4 per element.
    const infoSize = [0, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 4, 0, 0, 0, 4];
    const elemSize = [0, 0, 0, 0, 12, 12, 8, 0, 0, 0, 0, 0, 0, 8, 0, 12, 0, 0, 0, 12, 0, 4];
    const layout = infoSize.map((size, k) => ({ infoSize: size, elemSize: elemSize[k] }));
    const layoutSeed = describe(`layout ${le ? "el" : "eb"}`, w.build({ layout }).bytes);
    seeds.push(layoutSeed);

    const base = Btf.parse(layoutSeed.bytes.slice());
    const strLen = new DataView(layoutSeed.bytes.buffer).getUint32(20, le);
    const sw = new BtfBlobWriter({
      littleEndian: le,
      base: { lastId: base.lastId, stringsLength: strLen },
    });
    sw.raw({ name: 1, kind: BtfKind.TYPEDEF, sizeOrType: 1 });
    sw.add({
      kind: BtfKind.UNION,
      name: "mod",
      size: 8,
      kindFlag: false,
      members: [{ name: "x", type: base.lastId + 1, bitOffset: 0, bitfieldSize: 0 }],
    });
    sw.add({ kind: BtfKind.PTR, name: "", type: base.lastId + 2 });
    const split = sw.build().bytes;
    seeds.push(describe(`split on ${layoutSeed.name}`, split, base));
  }
  return seeds;
}

const EXTREMES = [
  0,
  1,
  2,
  3,
  4,
  11,
  12,
  23,
  24,
  25,
  31,
  32,
  0x7f,
  0x80,
  0xff,
  0x100,
  0xffff,
  0x10000,
  0xffffff,
  0x1000000,
  0x7fffffff,
  0x80000000,
  0xfffffff0,
  0xfffffffc,
  0xffffffff,
];

/** One mutation, as fast-check generates it. */
type Mutation =
  | { op: "flip"; at: number; bit: number }
  | { op: "set"; at: number; value: number }
  | { op: "truncate"; at: number }
  | { op: "header"; field: number; value: number }
  | { op: "info"; at: number; kind: number; vlen: number; kflag: boolean }
  | { op: "word"; at: number; value: number };

const HEADER_FIELDS = Object.values(HDR);

function mutation(): fc.Arbitrary<Mutation> {
  const at = fc.nat();
  const extreme = fc.oneof(fc.constantFrom(...EXTREMES), fc.nat({ max: 0xffffffff }));
  // Weighted towards changes that keep the blob parseable, so decoding gets exercised too.
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({ op: fc.constant("flip" as const), at, bit: fc.nat({ max: 7 }) }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant("set" as const), at, value: fc.nat({ max: 255 }) }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("truncate" as const), at }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("header" as const),
        field: fc.nat({ max: HEADER_FIELDS.length - 1 }),
        value: extreme,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant("info" as const),
        at,
        kind: fc.oneof(fc.nat({ max: 25 }), fc.constantFrom(0x1f, 0x20, 0x7f)),
        vlen: fc.oneof(fc.nat({ max: 4 }), fc.constantFrom(0xfff, 0xffff)),
        kflag: fc.boolean(),
      }),
    },
    { weight: 4, arbitrary: fc.record({ op: fc.constant("word" as const), at, value: extreme }) },
  );
}

function apply(seed: Seed, mutations: Mutation[]): Uint8Array {
  let bytes = seed.bytes.slice();
  const view = () => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const m of mutations) {
    if (bytes.length === 0) break;
    switch (m.op) {
      case "flip":
        bytes[m.at % bytes.length] ^= 1 << m.bit;
        break;
      case "set":
        bytes[m.at % bytes.length] = m.value;
        break;
      case "truncate":
        bytes = bytes.slice(0, m.at % (bytes.length + 1));
        break;
      case "header": {
        const [off, width] = HEADER_FIELDS[m.field];
        if (off + width > bytes.length) break;
        if (width === 1) bytes[off] = m.value & 0xff;
        else if (width === 2) view().setUint16(off, m.value & 0xffff, seed.le);
        else view().setUint32(off, m.value, seed.le);
        break;
      }
      case "info": {
        if (seed.infoWords.length === 0) break;
        const off = seed.infoWords[m.at % seed.infoWords.length];
        if (off + 4 > bytes.length) break;
        view().setUint32(off, ((m.kflag ? 1 : 0) << 31 | (m.kind << 24) | m.vlen) >>> 0, seed.le);
        break;
      }
      case "word": {
        if (seed.typeWords.length === 0) break;
        const off = seed.typeWords[m.at % seed.typeWords.length];
        if (off + 4 > bytes.length) break;
        view().setUint32(off, m.value, seed.le);
        break;
      }
    }
  }
  return bytes;
}

/** Call `fn`; a BtfError is fine, anything else fails the property. */
function tolerate<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BtfError) return undefined;
    throw err;
  }
}

/** How far mutated blobs get: parsed at all, and decoded in full. */
const stats = { runs: 0, parsed: 0, decoded: 0 };

/** Everything a consumer might do with a parsed blob. */
function exercise(bytes: Uint8Array, base?: Btf): void {
  stats.runs++;
  const btf = tolerate(() => Btf.parse(bytes, { base }));
  if (btf === undefined) return;
  stats.parsed++;
  if (tolerate(() => (btf.decodeAll(), true))) stats.decoded++;
  tolerate(() => [...btf.types()]);
  const names = new Set<string>(["", "int", "s", "mod", "nothing"]);
  for (let id = Math.max(0, btf.firstId - 2); id <= btf.lastId + 1; id++) {
    const t = tolerate(() => btf.type(id));
    if (t !== undefined) names.add(t.name);
    tolerate(() => btf.kindOf(id));
    const name = tolerate(() => btf.nameOf(id));
    if (name !== undefined) names.add(name);
    tolerate(() => btf.sizeOf(id));
    tolerate(() => btf.alignOf(id));
    tolerate(() => btf.skipTypedefs(id));
    tolerate(() => btf.skipQualifiers(id));
  }
  for (const name of names) {
    tolerate(() => btf.idsByName(name));
    tolerate(() => btf.typeByName(name));
    tolerate(() => btf.idsByEssentialName(name));
  }
  tolerate(() => btf.string(0));
  tolerate(() => btf.string(1));
  assert.ok(btf.pointerSize === 4 || btf.pointerSize === 8);
}

const SEEDS = [...fixtureSeeds(), ...builtSeeds(), ...vmlinuxSeeds()];

test("every seed is valid before it is mutated", () => {
  assert.ok(SEEDS.length >= 4);
  for (const seed of SEEDS) {
    const btf = Btf.parse(seed.bytes, { base: seed.base });
    btf.decodeAll();
  }
});

test("mutated blobs only ever throw BtfError (bit flips, byte sets, truncation, extreme fields)", {
  timeout: 60000,
}, () => {
  fc.assert(
    fc.property(
      fc.nat({ max: SEEDS.length - 1 }),
      fc.array(mutation(), { minLength: 1, maxLength: 3 }),
      (which, mutations) => {
        const seed = SEEDS[which];
        exercise(apply(seed, mutations), seed.base);
      },
    ),
    { numRuns: 8000 },
  );
  console.log(
    `${stats.runs} mutated blobs: ${stats.parsed} parsed, ${stats.decoded} decoded in full`,
  );
});

test("every single header field at every extreme value", () => {
  for (const seed of SEEDS) {
    for (let field = 0; field < HEADER_FIELDS.length; field++) {
      for (const value of EXTREMES) {
        exercise(apply(seed, [{ op: "header", field, value }]), seed.base);
      }
    }
  }
});

test("every truncation of a small blob", () => {
  for (const seed of SEEDS.filter((s) => s.bytes.length < 2000).slice(0, 4)) {
    for (let n = 0; n <= seed.bytes.length; n++) exercise(seed.bytes.subarray(0, n), seed.base);
  }
});
