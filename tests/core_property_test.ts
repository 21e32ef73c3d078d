import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Btf } from "../btf/btf.ts";
import { BtfBuilder } from "../btf/builder.ts";
import { marshalBtf } from "../btf/marshal.ts";
import { BtfKind } from "../btf/types.ts";
import { CoreReloKind, findCandidates, resolveCoreRelocation } from "../btf/core/mod.ts";

/** One member: a name, an integer size, and an array length (0: not an array). */
interface Field {
  name: string;
  size: 1 | 2 | 4 | 8;
  nelems: number;
}

const field = (name: string) =>
  fc.record({
    name: fc.constant(name),
    size: fc.constantFrom<(1 | 2 | 4 | 8)[]>(1, 2, 4, 8),
    nelems: fc.constantFrom(0, 0, 1, 3, 5),
  });

/** Local members f0..fn; the target keeps a shuffled subset, sizes and lengths changed. */
const layouts = fc.integer({ min: 1, max: 8 }).chain((n) => {
  const names = Array.from({ length: n }, (_, i) => `f${i}`);
  return fc.record({
    local: fc.tuple(...names.map(field)),
    target: fc.shuffledSubarray(names).chain((kept) =>
      fc.tuple(fc.constant(null), ...kept.map(field)).map(([, ...fs]) => fs)
    ),
    pad: fc.nat({ max: 3 }),
    flavour: fc.boolean(),
  });
});

function build(fields: Field[], options: { name: string; pad: number }): Btf {
  const b = new BtfBuilder();
  const ints = new Map<number, number>();
  const intOf = (size: number) => {
    if (!ints.has(size)) ints.set(size, b.int(`u${size * 8}`, size));
    return ints.get(size)!;
  };
  const members = [];
  for (let i = 0; i < options.pad; i++) members.push({ name: `pad${i}`, type: intOf(8) });
  for (const f of fields) {
    const t = f.nelems === 0 ? intOf(f.size) : b.array(intOf(f.size), f.nelems);
    members.push({ name: f.name, type: t });
  }
  b.struct(options.name, members);
  return Btf.parse(marshalBtf(b));
}

function structOf(btf: Btf, name: string) {
  const t = btf.type(btf.idsByName(name).find((id) => btf.kindOf(id) === BtfKind.STRUCT)!);
  assert.ok(t.kind === BtfKind.STRUCT);
  return t;
}

test("core property: byte_off / byte_sz / field_exists equal a direct computation", () => {
  const seen = { matched: 0, missing: 0 };
  fc.assert(
    fc.property(layouts, ({ local, target, pad, flavour }) => {
      const localName = flavour ? "s___v2" : "s";
      const localBtf = build(local, { name: localName, pad: 0 });
      const targetBtf = build(target, { name: "s", pad });
      const ls = structOf(localBtf, localName);
      const ts = structOf(targetBtf, "s");
      const source = { main: { name: "t", btf: targetBtf } };
      const candidates = findCandidates(localBtf, ls.id, source);
      assert.equal(candidates.length, 1);
      local.forEach((lf, i) => {
        const tm = ts.members.find((m) => m.name === lf.name);
        const tf = target.find((f) => f.name === lf.name);
        // Plain field, then (for arrays) the last element.
        const accesses: [string, number | undefined][] = [[`0:${i}`, undefined]];
        if (lf.nelems > 0) accesses.push([`0:${i}:${lf.nelems - 1}`, lf.nelems - 1]);
        for (const [accessor, elem] of accesses) {
          const run = (kind: number) =>
            resolveCoreRelocation(localBtf, { typeId: ls.id, accessor, kind }, {
              candidates: candidates.slice(),
            }).result;
          // Kinds must agree: an int and an array of ints are incompatible fields.
          const compatible = tm !== undefined && (lf.nelems === 0) === (tf!.nelems === 0) &&
            (elem === undefined || elem < tf!.nelems);
          const exists = run(CoreReloKind.FIELD_EXISTS);
          assert.equal(exists.newVal, compatible ? 1n : 0n, `${accessor} exists`);
          const off = run(CoreReloKind.FIELD_BYTE_OFFSET);
          const sz = run(CoreReloKind.FIELD_BYTE_SIZE);
          seen[compatible ? "matched" : "missing"]++;
          if (!compatible) {
            assert.ok(off.poison && sz.poison, `${accessor} poisoned`);
            continue;
          }
          const elemOff = elem === undefined ? 0 : elem * tf!.size;
          assert.equal(off.newVal, BigInt(tm!.bitOffset / 8 + elemOff), `${accessor} offset`);
          const size = elem !== undefined || tf!.nelems === 0 ? tf!.size : tf!.size * tf!.nelems;
          assert.equal(sz.newVal, BigInt(size), `${accessor} size`);
          // The local side is the same computation on the local layout.
          const lm = ls.members[i];
          assert.equal(
            off.origVal,
            BigInt(lm.bitOffset / 8 + (elem === undefined ? 0 : elem * lf.size)),
          );
        }
      });
    }),
    { numRuns: 300 },
  );
  assert.ok(seen.matched > 100 && seen.missing > 100, JSON.stringify(seen));
});
