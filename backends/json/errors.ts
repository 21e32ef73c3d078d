/**
 * The error of the JSON exporter and importer.
 *
 * @module
 */

import { TsbpfError, type TsbpfErrorOptions } from "../../errors/mod.ts";

/**
 * The stable codes of {@link JsonSpecError}:
 *
 * | code | meaning |
 * | --- | --- |
 * | `JSON_SYNTAX` | the text is not JSON; `offset` is where it goes wrong |
 * | `JSON_DUPLICATE_KEY` | an object has the same key twice |
 * | `JSON_TOO_DEEP` | values nested deeper than the importer follows |
 * | `JSON_FORMAT` | `format` is missing or not `tsbpf.collection/v1` |
 * | `JSON_TYPE` | a value of the wrong JSON type (a string where a number goes) |
 * | `JSON_MISSING_KEY` | a required key is absent |
 * | `JSON_UNKNOWN_KEY` | a key the schema does not declare |
 * | `JSON_RANGE` | a number that is not an integer in the field's range |
 * | `JSON_UNKNOWN_NAME` | a type, attach type, pinning or byte order name nobody knows |
 * | `JSON_BAD_HEX` | a byte string that is not an even number of hex digits |
 * | `JSON_BAD_INSTRUCTION` | raw bytes that are not one instruction (8 bytes, or 16 for ld_imm64) |
 * | `JSON_MISMATCH` | two parts of the document disagree (a name and its key, `references` and the instructions) |
 * | `JSON_EXPORT_INVALID` | the exporter met a spec value the document cannot represent |
 * | `JSON_BAD_BTF` | `btf` is hex, but not a `.BTF` blob the parser reads |
 */
export type JsonSpecErrorCode =
  | "JSON_SYNTAX"
  | "JSON_DUPLICATE_KEY"
  | "JSON_TOO_DEEP"
  | "JSON_FORMAT"
  | "JSON_TYPE"
  | "JSON_MISSING_KEY"
  | "JSON_UNKNOWN_KEY"
  | "JSON_RANGE"
  | "JSON_UNKNOWN_NAME"
  | "JSON_BAD_HEX"
  | "JSON_BAD_INSTRUCTION"
  | "JSON_MISMATCH"
  | "JSON_EXPORT_INVALID"
  | "JSON_BAD_BTF";

/**
 * A document that is not a valid `tsbpf.collection/v1` document, or a spec
 * the exporter cannot write. `path` is the JSON path of the bad value
 * (`programs.xdp_count.instructions[3].raw`, `maps[".rodata"].keySize`; empty
 * for the document itself) and the message starts with it.
 *
 * ```ts
 * import { JsonSpecError, parseSpec } from "./mod.ts";
 *
 * try {
 *   parseSpec('{"format": "tsbpf.collection/v1", "byteOrder": "middle"}');
 * } catch (err) {
 *   if (err instanceof JsonSpecError) console.log(err.code, err.path); // JSON_UNKNOWN_NAME byteOrder
 * }
 * ```
 */
export class JsonSpecError extends TsbpfError {
  /** JSON path of the bad value; empty for the document as a whole. */
  readonly path: string;
  /** One of {@link JsonSpecErrorCode}. */
  declare readonly code: JsonSpecErrorCode;

  constructor(
    code: JsonSpecErrorCode,
    path: string,
    detail: string,
    options: TsbpfErrorOptions = {},
  ) {
    super(code, path === "" ? detail : `${path}: ${detail}`, options);
    this.path = path;
  }
}
