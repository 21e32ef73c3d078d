/**
 * JSON parsing with a position on failure. `JSON.parse` does the parsing;
 * its error messages differ between engines (V8 gives a position, JSC does
 * not), so on failure a small scanner finds the first bad character itself
 * and says where it is, the same way on every runtime.
 *
 * @module
 */

/** Where and why a JSON text stops being JSON. */
export interface JsonSyntaxIssue {
  /** 1-based line. */
  line: number;
  /** 1-based column, in UTF-16 code units. */
  column: number;
  /** What was wrong there, e.g. `expected "," or "}"`. */
  reason: string;
}

/** The result of {@link parseJson}: a value, or where the text went wrong. */
export type JsonParseResult =
  | { ok: true; value: unknown }
  | { ok: false; issue: JsonSyntaxIssue };

/** Parse `text` (a leading byte order mark is allowed), reporting a position on failure. */
export function parseJson(text: string): JsonParseResult {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch (err) {
    const found = scan(body);
    if (found !== undefined) {
      return { ok: false, issue: position(body, found.offset, found.reason) };
    }
    // The scanner and the engine disagree: keep the engine's own words.
    return {
      ok: false,
      issue: { line: 1, column: 1, reason: err instanceof Error ? err.message : String(err) },
    };
  }
}

function position(text: string, offset: number, reason: string): JsonSyntaxIssue {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1, reason };
}

class Stop {
  constructor(readonly offset: number, readonly reason: string) {}
}

/** The first syntax error in `text` (offset and reason), or `undefined` when it is JSON. */
export function scan(text: string): { offset: number; reason: string } | undefined {
  let i = 0;
  const what = (at: number) =>
    at >= text.length ? "end of input" : `character ${JSON.stringify(text[at])}`;
  const fail = (reason: string): never => {
    throw new Stop(i, reason);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(`unexpected ${what(i)}`);
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail("control character in a string (escape it)");
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("bad \\u escape");
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2;
        } else {
          fail("bad escape in a string");
        }
      } else {
        i++;
      }
    }
  };
  const number = () => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (m === null || m[0] === "-") fail(`unexpected ${what(i)}`);
    i += m![0].length;
  };
  const value = (depth: number): void => {
    if (depth > 1000) fail("nested too deeply");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a property name in double quotes, got ${what(i)}`);
        string();
        ws();
        if (text[i] !== ":") fail(`expected ":" after a property name, got ${what(i)}`);
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return;
        }
        fail(`expected "," or "}" after a property value, got ${what(i)}`);
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return;
        }
        fail(`expected "," or "]" after an array element, got ${what(i)}`);
      }
    }
    if (c === '"') return string();
    if (c === "t") return literal("true");
    if (c === "f") return literal("false");
    if (c === "n") return literal("null");
    if (c === "-" || (c >= "0" && c <= "9")) return number();
    fail(`expected a value, got ${what(i)}`);
  };
  try {
    value(0);
    ws();
    if (i < text.length) fail(`unexpected ${what(i)} after the end of the value`);
    return undefined;
  } catch (err) {
    if (err instanceof Stop) return { offset: err.offset, reason: err.reason };
    throw err;
  }
}
