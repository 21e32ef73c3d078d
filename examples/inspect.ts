/**
 * The API in a script: load an object, look at its maps and programs,
 * change a spec, and print a program's assembly.
 *
 *   node_modules/.bin/deno run -A examples/inspect.ts fixtures/bpfel/data_sections.o
 *   node_modules/.bin/bun examples/inspect.ts fixtures/bpfel/data_sections.o
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import { loadCollectionSpec, mapTypeName, programTypeName, TsbpfError } from "../mod.ts";
import { disassemble } from "../isa/mod.ts";

const file = process.argv[2] ?? "fixtures/bpfel/data_sections.o";
try {
  const spec = await loadCollectionSpec(new Uint8Array(readFileSync(file)));
  for (const [name, map] of spec.maps) {
    console.log(
      `map ${name}: ${mapTypeName(map.type)} ${map.keySize}/${map.valueSize} x${map.maxEntries}`,
    );
  }
  for (const [name, prog] of spec.programs) {
    console.log(
      `program ${name}: ${programTypeName(prog.type)} in ${prog.sectionName}, uses ${
        prog.references().join(", ") || "nothing"
      }`,
    );
  }
  // Specs are plain data: copy one, edit the copy, compare.
  const edited = spec.copy();
  for (const prog of edited.programs.values()) prog.autoload = false;
  console.log(`copy equals original: ${spec.equals(edited)}`);
  const [first] = spec.programs.values();
  if (first) console.log(disassemble(first.instructions, { annotate: true }));
} catch (err) {
  // Every failure on bad input is a TsbpfError with a stable code.
  if (err instanceof TsbpfError) console.error(`${err.code}: ${err.message}`);
  else throw err;
  process.exitCode = 1;
}
