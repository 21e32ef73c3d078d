/**
 * The JSON backend: a {@link CollectionSpec} as a `tsbpf.collection/v1`
 * document and back, losslessly. `schema.json` next to this module is the
 * document's JSON Schema (draft 2020-12), every property described.
 *
 * ```ts
 * import { loadCollectionSpec } from "../../mod.ts";
 * import { parseSpec, stringifySpec } from "./mod.ts";
 *
 * const spec = await loadCollectionSpec(await Deno.readFile("fixtures/bpfel/xdp_counter.o"));
 * const text = stringifySpec(spec); // deterministic: equal specs give identical text
 * parseSpec(text).equals(spec); // true
 * ```
 *
 * ## The document
 *
 * What `stringifySpec` writes for `fixtures/bpfel/xdp_counter.o` (most
 * instructions left out):
 *
 * ```json
 * {
 *   "format": "tsbpf.collection/v1",
 *   "byteOrder": "little",
 *   "maps": {
 *     "counts": {
 *       "name": "counts",
 *       "type": "array",
 *       "keySize": 4,
 *       "valueSize": 8,
 *       "maxEntries": 2,
 *       "flags": 0,
 *       "pinning": "none",
 *       "numaNode": 0,
 *       "mapExtra": "0",
 *       "freeze": false,
 *       "contents": []
 *     }
 *   },
 *   "programs": {
 *     "xdp_count": {
 *       "name": "xdp_count",
 *       "type": "xdp",
 *       "attachType": "xdp",
 *       "attachTo": "",
 *       "sectionName": "xdp",
 *       "license": "GPL",
 *       "kernelVersion": 0,
 *       "flags": 0,
 *       "autoload": true,
 *       "byteOrder": "little",
 *       "references": ["counts"],
 *       "functions": ["xdp_count"],
 *       "instructions": [
 *         { "raw": "6112000000000000", "asm": "r2 = *(u32 *)(r1 + 0)", "symbol": "xdp_count", "sourceOffset": 0 },
 *         { "raw": "18110000000000000000000000000000", "asm": "r1 = map[counts] ll", "reference": "counts", "sourceOffset": 72 },
 *         { "raw": "8500000001000000", "asm": "call 1", "sourceOffset": 88 },
 *         { "raw": "9500000000000000", "asm": "exit", "sourceOffset": 152 }
 *       ]
 *     }
 *   },
 *   "metadata": {}
 * }
 * ```
 *
 * - **Order.** Maps and programs are sorted by name (JavaScript's string
 *   order, UTF-16 code units), every key inside `metadata` too; all other
 *   objects have their keys in the order above. Text is indented by two
 *   spaces (or on one line with `pretty: false`) and ends in a newline.
 * - **Names.** Map, program and attach types are libbpf's lower-case names
 *   (`hash`, `perf_event_array`, `sched_cls`, `cgroup_inet_ingress`). A
 *   number libbpf has no name for is written `unknown(N)`, the same text
 *   `mapTypeName` prints, and read back as N; a number that has a name
 *   must be written by it. `pinning` is `"none"`, `"byName"`, or a number
 *   for any other value.
 * - **attachType** is `null` when the program has none. The kernel's 0
 *   means both "none" and `cgroup_inet_ingress`; the exporter writes what
 *   `ProgramSpec.expectedAttachType()` says, and the importer turns `null`,
 *   an absent key and `"cgroup_inet_ingress"` alike into 0.
 * - **u64.** `mapExtra` and a CO-RE result's `origValue` and `newValue`
 *   are decimal strings, since JSON numbers lose precision past 2^53.
 * - **Bytes** (`extra`, entry keys and values) are hex strings, two digits a
 *   byte; the importer takes either case, the exporter writes lower case.
 * - **Map contents.** `key` is a number (an array index) or a hex string
 *   (key bytes). `value` is a hex string (value bytes) or an object naming
 *   what a backend puts there at load time: `{ "program": "name" }` in a
 *   `prog_array`, `{ "map": "name" }` in any other map (maps of maps). The
 *   model keeps only the name, so the map type decides which of the two is
 *   written, and the importer refuses the other. Names are not resolved
 *   here: a backend resolves them.
 * - **Instructions.** `raw` is the instruction's encoding in hex, in the
 *   program's `byteOrder`: 16 digits, or 32 for ld_imm64 (opcode 0x18),
 *   whose second slot, non-zero fields included, is all in `raw`. `asm` is
 *   the LLVM-syntax text from `formatInstruction` (with references
 *   resolved) for people and for grep; it is informative only: the
 *   importer never reads it, so an `asm` that disagrees with `raw` is not
 *   an error, and editing an instruction means editing `raw`. `symbol`,
 *   `reference`, `sourceOffset`, `func`, `line`, `coreRelo` and
 *   `btfModule` (the kernel BTF a resolved ksym or kfunc is in, so that a
 *   reimported program still loads) are the instruction's metadata,
 *   present only when set.
 * - **CO-RE results.** A program's `coreRelocations` is what the `core`
 *   stage recorded (`CoreRelocationResult`), present when the stage set
 *   it. The instructions already hold the patched values; the list
 *   explains them and is read back as is.
 * - **Derived lists.** A program's `references` (sorted, unique) and
 *   `functions` (in instruction order) come from its instructions. They may
 *   be left out of a hand-written document; when present, they must match.
 * - **Names as keys.** A map's or program's `name` must equal its key in
 *   `maps` / `programs`. An `innerMap` has a name of its own.
 * - **Defaults.** Only `format` and `byteOrder` at the top, `name` and
 *   `type` in a map, `name`, `type` and `instructions` in a program, `raw`
 *   in an instruction, and `key` and `value` in an entry are required. An
 *   absent key takes the model's default (`MapSpec` / `ProgramSpec`), and a
 *   program's `byteOrder` the document's.
 *
 * ## Round trip
 *
 * `importSpec(exportSpec(spec)).equals(spec)` holds for every spec whose
 * instructions are in the form the decoder produces, which is every spec
 * `loadCollectionSpec` returns. Instructions are written as they encode,
 * so an instruction the encoder reads differently from how it is stored
 * comes back in decoded form: `imm` given unsigned (`0xffffffff`) comes
 * back signed (`-1`), an ld_imm64 without `immHi` gets `immHi: 0`, `immHi`
 * or `secondSlot` on any other instruction, or an all-zero `secondSlot`,
 * are dropped.
 *
 * ## Errors
 *
 * Every problem is a {@link JsonSpecError} with a stable `code` (listed at
 * {@link JsonSpecErrorCode}) and the JSON path of the bad value at the
 * start of its message, e.g.
 *
 * ```
 * programs.xdp_count.instructions[3].raw: expected 16 hex digits (32 for ld_imm64), got "zz"
 * maps.counts.type: unknown map type "hashh", did you mean "hash"?
 * maps.counts.keysize: unknown key, did you mean "keySize"?
 * maps.counts.keySize: expected an integer from 0 to 4294967295, got -1
 * ```
 *
 * `parseSpec` also checks the text itself before `JSON.parse` reads it, so
 * that bad text reports a line, column and path on every engine, and an
 * object with a key twice is an error instead of the last value silently
 * winning.
 *
 * @module
 */

export { DOCUMENT_FORMAT } from "./types.ts";
export type {
  JsonCoreRelocation,
  JsonDocument,
  JsonInstruction,
  JsonMap,
  JsonMapEntry,
  JsonMapRef,
  JsonPinning,
  JsonProgram,
  JsonProgramRef,
} from "./types.ts";
export { JsonSpecError } from "./errors.ts";
export type { JsonSpecErrorCode } from "./errors.ts";
export { exportSpec, stringifyDocument, stringifySpec } from "./export.ts";
export type { JsonExportOptions, JsonFormatOptions, JsonStringifyOptions } from "./export.ts";
export { importSpec, parseSpec } from "./import.ts";
export { jsonBackend, jsonBackendFactory, jsonBackendOptionsSchema } from "./backend.ts";
export type { JsonBackend, JsonBackendOptions } from "./backend.ts";

/** Where the document's JSON Schema (draft 2020-12) is: `schema.json` next to this module. */
export const schemaUrl: URL = new URL("./schema.json", import.meta.url);
