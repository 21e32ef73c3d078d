/**
 * Name globs for program and map selection: `*` (any run), `?` (any one
 * character), `[abc]`, `[a-z]`, `[!abc]` / `[^abc]` (classes). Everything
 * else matches itself, dots included.
 *
 * @module
 */

/** Whether `pattern` uses any glob syntax (else it is a plain name). */
export function isGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** A regular expression matching exactly the names `glob` matches. */
export function globToRegExp(glob: string): RegExp {
  let source = "^";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") {
      source += ".*";
    } else if (c === "?") {
      source += ".";
    } else if (c === "[") {
      const negate = glob[i + 1] === "!" || glob[i + 1] === "^";
      const start = i + 1 + (negate ? 1 : 0);
      // A "]" first in the class is a member, as in shell globs.
      const end = glob.indexOf("]", glob[start] === "]" ? start + 1 : start);
      if (end < 0) {
        source += "\\[";
        continue;
      }
      const members = glob.slice(start, end).replace(/[\\\]^]/g, "\\$&");
      source += `[${negate ? "^" : ""}${members}]`;
      i = end;
    } else {
      source += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
    }
  }
  return new RegExp(source + "$", "s");
}
