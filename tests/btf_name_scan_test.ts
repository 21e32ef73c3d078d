import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { Btf } from "../btf/btf.ts";
import { readElf } from "../elf/mod.ts";

// Btf.idsByName answers its first lookups by scanning the blob (comparing
// ASCII names with the string section in place) and later ones from the
// name index: both must give the same IDs.

function fixtureBtfs(): { file: string; bytes: Uint8Array }[] {
  const out: { file: string; bytes: Uint8Array }[] = [];
  for (const dir of ["bpfel", "bpfeb"]) {
    const path = new URL(`../fixtures/${dir}/`, import.meta.url);
    for (const name of readdirSync(path).filter((f) => f.endsWith(".o")).sort()) {
      const elf = readElf(new Uint8Array(readFileSync(new URL(name, path))));
      const sec = elf.sections.find((s) => s.name === ".BTF");
      if (sec !== undefined) out.push({ file: `${dir}/${name}`, bytes: elf.sectionData(sec) });
    }
  }
  return out;
}

test("btf: idsByName gives the same IDs by scan and by index, for every fixture", () => {
  const blobs = fixtureBtfs();
  assert.ok(blobs.length > 0);
  for (const { file, bytes } of blobs) {
    const indexed = Btf.parse(bytes);
    const names = new Set<string>(["", "no_such_name", "int", ".maps", "é"]);
    for (let id = indexed.firstId; id <= indexed.lastId; id++) names.add(indexed.nameOf(id));
    // Exhaust the scans, so `indexed` answers from its index from here on.
    for (let i = 0; i < 16; i++) indexed.idsByName("warm-up");
    for (const name of names) {
      const fresh = Btf.parse(bytes); // its first lookup scans
      assert.deepEqual(fresh.idsByName(name), indexed.idsByName(name), `${file}: ${name}`);
    }
  }
});

test("btf: a scan sees types replaced with replaceType, as the index does", () => {
  const { bytes } = fixtureBtfs().find((b) => b.file === "bpfel/data_sections.o")!;
  const btf = Btf.parse(bytes);
  const [id] = btf.idsByName(".data");
  assert.ok(id !== undefined);
  const ds = btf.type(id);
  btf.replaceType(id, { ...ds, name: ".data.renamed" } as typeof ds);
  assert.deepEqual(btf.idsByName(".data"), []);
  assert.deepEqual(btf.idsByName(".data.renamed"), [id]);
});
