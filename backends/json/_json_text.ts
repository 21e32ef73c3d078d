/**
 * A strict check of JSON text before `JSON.parse` reads it, so that bad text
 * gets the same error on every engine: the line, column and JSON path of
 * the first problem. It also refuses what `JSON.parse` lets through
 * silently (duplicate keys, where the last one would win) and nesting deep
 * enough to exhaust a recursive reader.
 *
 * @module
 */

import { JsonSpecError } from "./errors.ts";
import { indexPath, keyPath, MAX_DEPTH } from "./_util.ts";

/**
 * Text may nest a little deeper than the values the importer follows (the
 * document's own objects sit around metadata and inner maps), so that those
 * limits are reported by the importer, with their own message.
 */
const MAX_TEXT_DEPTH = MAX_DEPTH + 16;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Throw {@link JsonSpecError} `JSON_SYNTAX`, `JSON_DUPLICATE_KEY` or `JSON_TOO_DEEP` unless `text` is one JSON value. */
export function checkJsonText(text: string): void {
  const scanner = new Scanner(text);
  scanner.whitespace();
  scanner.value(0);
  scanner.whitespace();
  if (!scanner.atEnd()) scanner.fail("the end of the text");
}

class Scanner {
  #text: string;
  #pos = 0;
  /** Keys and indexes from the document down to the value being read. */
  #path: (string | number)[] = [];

  constructor(text: string) {
    this.#text = text;
  }

  atEnd(): boolean {
    return this.#pos >= this.#text.length;
  }

  whitespace(): void {
    const text = this.#text;
    while (this.#pos < text.length) {
      const c = text.charCodeAt(this.#pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.#pos++;
    }
  }

  value(depth: number): void {
    const c = this.#text.charCodeAt(this.#pos);
    if (c === 0x7b) return this.#object(depth + 1); // {
    if (c === 0x5b) return this.#array(depth + 1); // [
    if (c === QUOTE) return void this.#string(false);
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.#number(); // - 0-9
    for (const word of LITERALS) {
      if (this.#text.startsWith(word, this.#pos)) {
        this.#pos += word.length;
        return;
      }
    }
    this.fail("a value");
  }

  #object(depth: number): void {
    this.#enter(depth);
    this.#pos++;
    this.whitespace();
    if (this.#text.charCodeAt(this.#pos) === 0x7d) { // }
      this.#pos++;
      return;
    }
    const keys = new Set<string>();
    for (;;) {
      this.whitespace();
      if (this.#text.charCodeAt(this.#pos) !== QUOTE) {
        this.fail("a key (a string in double quotes)");
      }
      const at = this.#pos;
      const key = this.#string(true)!;
      if (keys.has(key)) {
        throw new JsonSpecError(
          "JSON_DUPLICATE_KEY",
          this.#pathString(key),
          `duplicate key at ${this.#where(at)}`,
          { offset: at },
        );
      }
      keys.add(key);
      this.whitespace();
      if (this.#text.charCodeAt(this.#pos) !== 0x3a) this.fail('":"'); // :
      this.#pos++;
      this.whitespace();
      this.#path.push(key);
      this.value(depth);
      this.#path.pop();
      this.whitespace();
      const c = this.#text.charCodeAt(this.#pos);
      this.#pos++;
      if (c === 0x7d) return; // }
      if (c !== 0x2c) { // ,
        this.#pos--;
        this.fail('"," or "}"');
      }
    }
  }

  #array(depth: number): void {
    this.#enter(depth);
    this.#pos++;
    this.whitespace();
    if (this.#text.charCodeAt(this.#pos) === 0x5d) { // ]
      this.#pos++;
      return;
    }
    for (let index = 0;; index++) {
      this.whitespace();
      this.#path.push(index);
      this.value(depth);
      this.#path.pop();
      this.whitespace();
      const c = this.#text.charCodeAt(this.#pos);
      this.#pos++;
      if (c === 0x5d) return; // ]
      if (c !== 0x2c) { // ,
        this.#pos--;
        this.fail('"," or "]"');
      }
    }
  }

  #enter(depth: number): void {
    if (depth > MAX_TEXT_DEPTH) {
      throw new JsonSpecError(
        "JSON_TOO_DEEP",
        this.#pathString(),
        `values nest deeper than ${MAX_TEXT_DEPTH} levels at ${this.#where(this.#pos)}`,
        { offset: this.#pos },
      );
    }
  }

  /** Read a string; returns its value when `decode` is set. */
  #string(decode: boolean): string | undefined {
    const text = this.#text;
    this.#pos++; // the opening quote
    let out = "";
    let chunk = this.#pos;
    for (;;) {
      if (this.#pos >= text.length) this.fail('a closing """');
      const c = text.charCodeAt(this.#pos);
      if (c === QUOTE) {
        if (decode) out += text.slice(chunk, this.#pos);
        this.#pos++;
        return decode ? out : undefined;
      }
      if (c < 0x20) this.fail("a character other than a control character (escape it)");
      if (c !== BACKSLASH) {
        this.#pos++;
        continue;
      }
      if (decode) out += text.slice(chunk, this.#pos);
      this.#pos++;
      const e = text[this.#pos];
      const simple = ESCAPES[e as keyof typeof ESCAPES];
      if (simple !== undefined) {
        out += simple;
        this.#pos++;
      } else if (e === "u") {
        const hex = text.slice(this.#pos + 1, this.#pos + 5);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
          this.#pos++;
          while (/[0-9a-fA-F]/.test(text[this.#pos] ?? "")) this.#pos++;
          this.fail("four hex digits after \\u");
        }
        out += String.fromCharCode(parseInt(hex, 16));
        this.#pos += 5;
      } else {
        this.fail('an escape (\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX)');
      }
      chunk = this.#pos;
    }
  }

  #number(): void {
    const text = this.#text;
    if (text.charCodeAt(this.#pos) === 0x2d) this.#pos++; // -
    if (text.charCodeAt(this.#pos) === 0x30) { // a leading 0 stands alone
      this.#pos++;
    } else {
      this.#digits();
    }
    if (text.charCodeAt(this.#pos) === 0x2e) { // .
      this.#pos++;
      this.#digits();
    }
    const e = text.charCodeAt(this.#pos);
    if (e === 0x65 || e === 0x45) { // e E
      this.#pos++;
      const sign = text.charCodeAt(this.#pos);
      if (sign === 0x2b || sign === 0x2d) this.#pos++; // + -
      this.#digits();
    }
  }

  #digits(): void {
    const start = this.#pos;
    while (isDigit(this.#text.charCodeAt(this.#pos))) this.#pos++;
    if (this.#pos === start) this.fail("a digit");
  }

  /** Throw `JSON_SYNTAX` at the current position, saying what was expected there. */
  fail(expected: string): never {
    const at = this.#pos;
    const found = at >= this.#text.length
      ? "the end of the text"
      : JSON.stringify(String.fromCodePoint(this.#text.codePointAt(at)!));
    throw new JsonSpecError(
      "JSON_SYNTAX",
      this.#pathString(),
      `invalid JSON at ${this.#where(at)}: found ${found}, expected ${expected}`,
      { offset: at },
    );
  }

  /** `line L, column C (offset O)`, 1-based, columns in UTF-16 code units. */
  #where(offset: number): string {
    let line = 1;
    let lineStart = 0;
    for (
      let i = this.#text.indexOf("\n");
      i >= 0 && i < offset;
      i = this.#text.indexOf("\n", i + 1)
    ) {
      line++;
      lineStart = i + 1;
    }
    return `line ${line}, column ${offset - lineStart + 1} (offset ${offset})`;
  }

  #pathString(last?: string): string {
    let path = "";
    for (const part of this.#path) {
      path = typeof part === "number" ? indexPath(path, part) : keyPath(path, part);
    }
    return last === undefined ? path : keyPath(path, last);
  }
}

const LITERALS = ["true", "false", "null"] as const;

const ESCAPES = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
} as const;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
