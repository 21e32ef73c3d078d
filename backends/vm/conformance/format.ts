/**
 * The text format of BPF conformance tests, as bpf_conformance's
 * `tests/*.data` (and uBPF's before it) use it:
 *
 * ```text
 * # comment
 * -- asm
 * mov %r0, 1
 * exit
 * -- mem
 * 00 11 22 33
 * -- result
 * 0x1
 * ```
 *
 * Sections: `-- asm` (assembly, see `isa/asm.ts`), `-- raw` (the program as
 * 64-bit little-endian words `0x…`, taking precedence over `-- asm`),
 * `-- mem` (bytes in hex, whitespace-separated), `-- result` (expected r0,
 * `0x…` hex or decimal), `-- error` (expected error: a substring of the
 * error, or `/regex/`). `-- c` and `-- no register offset` sections are
 * ignored, as bpf_conformance ignores them. A test needs a result or an error.
 *
 * @module
 */

import { IsaError } from "../../../errors/mod.ts";
import { assemble } from "../../../isa/asm.ts";
import { decodeInstructions } from "../../../isa/codec.ts";
import type { Instruction } from "../../../isa/instruction.ts";
import { VmError } from "../errors.ts";

/** One parsed conformance test. */
export interface ConformanceTest {
  /** The test's name (file name), for messages. */
  name: string;
  /** The program. */
  program: Instruction[];
  /** The assembly text, when the test has an `-- asm` section. */
  asm?: string;
  /** Memory the program gets in r1 (length in r2); empty when the test has none. */
  memory: Uint8Array;
  /** Expected r0 (unsigned 64-bit), when the test expects a result. */
  result?: bigint;
  /** Expected error text (substring, or `/regex/`), when the test expects an error. */
  error?: string;
}

/** Options of {@link parseConformance}. */
export interface ParseConformanceOptions {
  /** Name used in messages; default `"test"`. */
  name?: string;
}

type Section = "asm" | "raw" | "mem" | "result" | "error" | "ignore";

const SECTIONS: Record<string, Section> = {
  asm: "asm",
  raw: "raw",
  mem: "mem",
  result: "result",
  error: "error",
  c: "ignore",
  "no register offset": "ignore",
};

/**
 * Parse one test file. Throws {@link VmError} `VM_BAD_CONFORMANCE` naming
 * the file and line for an unknown section, a bad number or byte, a program
 * that does not assemble, or a test with neither result nor error.
 */
export function parseConformance(
  text: string,
  options: ParseConformanceOptions = {},
): ConformanceTest {
  const name = options.name ?? "test";
  const fail = (line: number, detail: string): never => {
    throw new VmError("VM_BAD_CONFORMANCE", `${name}:${line}: ${detail}`);
  };
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  let section: Section | undefined;
  const asm: string[] = [];
  let asmFirst = 0;
  const raw: [string, number][] = [];
  const mem: [string, number][] = [];
  let result: [string, number] | undefined;
  let error: string | undefined;
  const seen = new Set<Section>();
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i];
    const header = /^\s*--\s*(.*?)\s*$/.exec(line);
    if (header) {
      const s = SECTIONS[header[1].toLowerCase()];
      if (s === undefined) fail(lineNo, `unknown section "-- ${header[1]}"`);
      if (s !== "ignore" && seen.has(s)) fail(lineNo, `second "-- ${header[1]}" section`);
      seen.add(s);
      section = s;
      if (s === "asm") asmFirst = lineNo + 1;
      continue;
    }
    if (section === "asm") {
      asm.push(line);
      continue;
    }
    if (section === "error") {
      if (line.trim() !== "") {
        if (error !== undefined) fail(lineNo, "an error section holds one line");
        error = line.trim();
      }
      continue;
    }
    const content = line.replace(/#.*/, "").trim();
    if (content === "") continue;
    if (section === undefined) fail(lineNo, `text before the first section: "${content}"`);
    if (section === "raw") {
      raw.push(...content.split(/\s+/).map((t): [string, number] => [t, lineNo]));
    } else if (section === "mem") {
      mem.push(...content.split(/\s+/).map((t): [string, number] => [t, lineNo]));
    } else if (section === "result") {
      if (result !== undefined) fail(lineNo, "a result section holds one value");
      result = [content, lineNo];
    }
  }

  let program: Instruction[];
  if (raw.length > 0) {
    const bytes = new Uint8Array(raw.length * 8);
    const view = new DataView(bytes.buffer);
    raw.forEach(([token, lineNo], i) => {
      const v = parseNumber(token);
      if (v === undefined || v >= 2n ** 64n) fail(lineNo, `bad raw instruction word "${token}"`);
      view.setBigUint64(i * 8, v!, true);
    });
    program = decodeOrFail(bytes, (detail) => fail(raw[0][1], detail));
  } else if (seen.has("asm")) {
    try {
      program = assemble(asm.join("\n"), { firstLine: asmFirst });
    } catch (e) {
      if (e instanceof IsaError) return fail(asmFirst, `asm: ${e.message}`);
      throw e;
    }
  } else return fail(1, "no -- asm or -- raw section");
  if (program.length === 0) fail(asmFirst || 1, "the program is empty");

  const memory = new Uint8Array(mem.length);
  mem.forEach(([token, lineNo], i) => {
    if (!/^(0x)?[0-9a-f]{1,2}$/i.test(token)) fail(lineNo, `bad memory byte "${token}"`);
    memory[i] = parseInt(token.replace(/^0x/i, ""), 16);
  });

  const test: ConformanceTest = { name, program, memory };
  if (seen.has("asm")) test.asm = asm.join("\n");
  if (result !== undefined) {
    const v = parseNumber(result[0]);
    if (v === undefined || v >= 2n ** 64n || v < -(2n ** 63n)) {
      fail(result[1], `bad result "${result[0]}"`);
    }
    test.result = BigInt.asUintN(64, v!);
  }
  if (error !== undefined) test.error = error;
  if (test.result === undefined && test.error === undefined) {
    fail(lines.length, "no -- result or -- error section");
  }
  return test;
}

function decodeOrFail(bytes: Uint8Array, fail: (detail: string) => never): Instruction[] {
  try {
    return decodeInstructions(bytes, { littleEndian: true });
  } catch (e) {
    if (e instanceof IsaError) return fail(`raw: ${e.message}`);
    throw e;
  }
}

/** `0x…` hex or decimal, optionally negative; undefined when malformed. */
function parseNumber(s: string): bigint | undefined {
  const m = /^(-?)(0x[0-9a-f]+|\d+)$/i.exec(s);
  if (!m) return undefined;
  const v = BigInt(m[2]);
  return m[1] === "-" ? -v : v;
}

/**
 * Whether the error `message` matches the test's expectation `expected`:
 * `/regex/` (with optional flags) is a regular expression, anything else a
 * case-sensitive substring.
 */
export function errorMatches(expected: string, message: string): boolean {
  const m = /^\/(.*)\/([a-z]*)$/.exec(expected);
  if (m) return new RegExp(m[1], m[2]).test(message);
  return message.includes(expected);
}
