// Valid ELF that is wrong for a BPF loader: every object in
// fixtures/bad_links gives its typed error with a message naming where.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadCollectionSpec, TsbpfError } from "../mod.ts";
import { fixturePath, readFixture } from "./_util.ts";

const manifest: Record<string, { code: string; what: string }> = JSON.parse(
  readFileSync(fixturePath("bad_links/manifest.json"), "utf8"),
);

for (const [file, want] of Object.entries(manifest)) {
  test(`bad links: ${file}: ${want.what} → ${want.code}`, async () => {
    await assert.rejects(loadCollectionSpec(readFixture(`bad_links/${file}`)), (err: unknown) => {
      assert.ok(err instanceof TsbpfError, `want a TsbpfError, got ${err}`);
      assert.equal(err.code, want.code, err.message);
      assert.ok(err.context.length >= 1, "the stage is named");
      assert.match(err.message, /^(read|classify|relocate|maps|link): /);
      return true;
    });
  });
}
