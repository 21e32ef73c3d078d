// Every fixture through the built-in stages, checked against fixtures/manifest.json
// (written from the C sources), in both byte orders.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadCollectionSpec, TsbpfError } from "../mod.ts";
import { attachTypeName, mapTypeName, ProgramFlags, programTypeName } from "../collection/types.ts";
import { fixtureManifest, fixtureObjects, readFixture } from "./_util.ts";

const manifest = fixtureManifest();

for (const dir of ["bpfel", "bpfeb"] as const) {
  for (const file of fixtureObjects(dir)) {
    const want = manifest[file];
    test(`pipeline: ${dir}/${file} matches its C source`, async () => {
      assert.ok(want, `fixtures/manifest.json has no entry for ${file}`);
      const bytes = readFixture(`${dir}/${file}`);
      if (want.error) {
        await assert.rejects(loadCollectionSpec(bytes), (err: unknown) => {
          assert.ok(err instanceof TsbpfError, `want a TsbpfError, got ${err}`);
          assert.equal(err.code, want.error);
          return true;
        });
        return;
      }
      const spec = await loadCollectionSpec(bytes);
      assert.equal(spec.byteOrder, dir === "bpfel" ? "little" : "big");

      assert.deepEqual([...spec.maps.keys()].sort(), Object.keys(want.maps).sort(), "map names");
      for (const [name, m] of Object.entries(want.maps)) {
        const got = spec.maps.get(name)!;
        assert.deepEqual(
          {
            type: mapTypeName(got.type),
            keySize: got.keySize,
            valueSize: got.valueSize,
            maxEntries: got.maxEntries,
            flags: got.flags,
          },
          {
            type: m.type,
            keySize: m.keySize,
            valueSize: m.valueSize,
            maxEntries: m.maxEntries,
            flags: m.flags,
          },
          `map ${name}`,
        );
      }
      for (const pruned of want.prunedSections ?? []) {
        assert.ok(!spec.maps.has(pruned), `${pruned} must be pruned`);
      }

      assert.deepEqual(
        [...spec.programs.keys()].sort(),
        Object.keys(want.programs).sort(),
        "program names",
      );
      for (const [name, p] of Object.entries(want.programs)) {
        const got = spec.programs.get(name)!;
        assert.equal(got.sectionName, p.sectionName, `${name}: section`);
        assert.equal(programTypeName(got.type), p.type, `${name}: type`);
        if (p.attachType === null) assert.equal(got.attachType, 0, `${name}: attach type`);
        else assert.equal(attachTypeName(got.attachType), p.attachType, `${name}: attach type`);
        assert.equal(got.autoload, p.autoload, `${name}: autoload`);
        assert.equal(
          (got.flags & ProgramFlags.BPF_F_SLEEPABLE) !== 0,
          p.sleepable,
          `${name}: sleepable`,
        );
        assert.equal(got.license, want.license, `${name}: license`);
        assert.equal(got.kernelVersion, want.kernelVersion, `${name}: kernel version`);
        assert.deepEqual(got.references(), [...p.references].sort(), `${name}: references`);
        assert.deepEqual(got.functions(), p.functions, `${name}: functions`);
      }
    });
  }
}
