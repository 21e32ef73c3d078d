/**
 * A small JSON Schema (draft 2020-12) validator for the subset tsbpf's
 * schemas use, with messages that name the bad key: `maps.counts.maxEntries:
 * expected an integer from 1 to 4294967295`. The config schema file is the
 * single source of truth; nothing here knows the config's shape.
 *
 * Supported: `type` (one or a list), `enum`, `const`, `minimum`, `maximum`,
 * `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`,
 * `pattern`, `items`, `minItems`, `maxItems`, `uniqueItems`, `properties`,
 * `required`, `additionalProperties` (false or a schema), `anyOf`, `oneOf`,
 * `allOf`, and local `$ref`s (`#/$defs/…`). Annotations (`title`,
 * `description`, `default`, …) are ignored, except that a `title` replaces
 * the generated "expected …" phrase. Any other keyword is a bug in the
 * schema and throws a `TypeError`, so a schema never silently checks less
 * than it says.
 *
 * @module
 */

import { ConfigError } from "../errors/mod.ts";

/** A JSON Schema document or subschema (the subset above). */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** One way a value fails a schema: the code and path a {@link ConfigError} gets. */
export interface SchemaIssue {
  /** `CONFIG_TYPE`, `CONFIG_VALUE`, `CONFIG_UNKNOWN_KEY` or `CONFIG_MISSING_KEY`. */
  code: string;
  /** Path of the bad key, e.g. `plugins[1].module`. */
  path: string;
  /** What is wrong, e.g. `expected a string`. */
  detail: string;
}

/** Options of {@link validate} and {@link firstIssue}. */
export interface ValidateOptions {
  /** Path of the value itself, prefixed to every issue's path; default `""`. */
  path?: string;
  /** Document `$ref`s resolve against; default the schema itself. */
  root?: JsonSchema;
}

const ANNOTATIONS = new Set([
  "$schema",
  "$id",
  "$comment",
  "$defs",
  "definitions",
  "title",
  "description",
  "default",
  "examples",
  "deprecated",
  "readOnly",
  "writeOnly",
]);
const KEYWORDS = new Set([
  "$ref",
  "type",
  "enum",
  "const",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "minLength",
  "maxLength",
  "pattern",
  "items",
  "minItems",
  "maxItems",
  "uniqueItems",
  "properties",
  "required",
  "additionalProperties",
  "anyOf",
  "oneOf",
  "allOf",
]);

/** Throw a {@link ConfigError} for the first way `value` fails `schema`. */
export function validate(value: unknown, schema: JsonSchema, options: ValidateOptions = {}): void {
  const issue = firstIssue(value, schema, options);
  if (issue !== undefined) throw new ConfigError(issue.code, issue.path, issue.detail);
}

/** The first way `value` fails `schema`, or `undefined` when it is valid. */
export function firstIssue(
  value: unknown,
  schema: JsonSchema,
  options: ValidateOptions = {},
): SchemaIssue | undefined {
  return check(value, schema, options.path ?? "", options.root ?? schema);
}

/**
 * `base` extended by an object key or array index, the way the messages
 * spell paths: `a.b`, `a[2]`, `maps[".rodata"]`.
 */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return base === "" ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}

/** The JSON type of a value: `integer` for integral numbers, `other` for what JSON cannot hold. */
function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  switch (typeof value) {
    case "string":
    case "boolean":
      return typeof value;
    case "number":
      return Number.isInteger(value) ? "integer" : Number.isFinite(value) ? "number" : "other";
    case "object": {
      // Only plain objects: a Map or a class instance is not what a config means.
      const proto = Object.getPrototypeOf(value);
      return proto === Object.prototype || proto === null ? "object" : "other";
    }
    default:
      return "other";
  }
}

function typeIs(value: unknown, type: string): boolean {
  const actual = jsonType(value);
  return actual === type || (type === "number" && actual === "integer");
}

function resolveRef(schema: JsonSchema, root: JsonSchema): JsonSchema {
  let current = schema;
  // A chain of refs ends somewhere or loops; 32 hops is far past any real schema.
  for (let hops = 0; typeof current.$ref === "string"; hops++) {
    const ref = current.$ref;
    if (hops > 32 || !ref.startsWith("#")) {
      throw new TypeError(`unsupported or looping $ref ${JSON.stringify(ref)}`);
    }
    let target: unknown = root;
    for (const raw of ref.slice(1).split("/").slice(1)) {
      const part = raw.replaceAll("~1", "/").replaceAll("~0", "~");
      target = typeof target === "object" && target !== null
        ? (target as Record<string, unknown>)[part]
        : undefined;
    }
    if (typeof target !== "object" || target === null) {
      throw new TypeError(`$ref ${JSON.stringify(ref)} points at nothing`);
    }
    const rest = Object.keys(current).filter((k) => k !== "$ref" && !ANNOTATIONS.has(k));
    if (rest.length > 0) throw new TypeError(`$ref next to ${rest.join(", ")} is not supported`);
    current = target as JsonSchema;
  }
  return current;
}

function check(
  value: unknown,
  raw: JsonSchema,
  path: string,
  root: JsonSchema,
): SchemaIssue | undefined {
  const schema = resolveRef(raw, root);
  for (const key of Object.keys(schema)) {
    if (!KEYWORDS.has(key) && !ANNOTATIONS.has(key)) {
      throw new TypeError(`unsupported JSON Schema keyword ${JSON.stringify(key)} (at ${path})`);
    }
  }
  const expected = (code: string): SchemaIssue => ({
    code,
    path,
    detail: `expected ${describe(schema, root)}`,
  });

  const alternatives = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (alternatives !== undefined) {
    const issues = alternatives.map((alt) => check(value, alt, path, root));
    const passed = issues.filter((issue) => issue === undefined).length;
    if (passed === 0) {
      // Report the alternative the value was evidently meant for (the one of
      // its type), so `{ "modul": … }` says "unknown key", not "expected a string".
      const typed = alternatives.flatMap((alt, i) => typeFits(value, alt, root) ? [i] : []);
      if (typed.length === 1) return issues[typed[0]];
      return expected(typed.length === 0 ? "CONFIG_TYPE" : "CONFIG_VALUE");
    }
    if (schema.oneOf !== undefined && passed > 1) {
      return {
        code: "CONFIG_VALUE",
        path,
        detail: `matches more than one of: ${describe(schema, root)}`,
      };
    }
  }
  for (const sub of (schema.allOf ?? []) as JsonSchema[]) {
    const issue = check(value, sub, path, root);
    if (issue !== undefined) return issue;
  }

  if (schema.type !== undefined && !typeFits(value, schema, root)) return expected("CONFIG_TYPE");
  if (schema.enum !== undefined || "const" in schema) {
    const allowed = (schema.enum ?? [schema.const]) as unknown[];
    if (!allowed.some((a) => sameJson(a, value))) {
      const sameType = allowed.some((a) => jsonType(a) === jsonType(value));
      return expected(sameType ? "CONFIG_VALUE" : "CONFIG_TYPE");
    }
  }

  if (typeof value === "number") {
    const { minimum, maximum, exclusiveMinimum, exclusiveMaximum } = schema as Record<
      string,
      number | undefined
    >;
    if (
      (minimum !== undefined && value < minimum) || (maximum !== undefined && value > maximum) ||
      (exclusiveMinimum !== undefined && value <= exclusiveMinimum) ||
      (exclusiveMaximum !== undefined && value >= exclusiveMaximum)
    ) return expected("CONFIG_VALUE");
  }

  if (typeof value === "string") {
    const { minLength, maxLength, pattern } = schema as Record<string, unknown>;
    const length = [...value].length;
    if (
      (typeof minLength === "number" && length < minLength) ||
      (typeof maxLength === "number" && length > maxLength) ||
      (typeof pattern === "string" && !new RegExp(pattern, "u").test(value))
    ) return expected("CONFIG_VALUE");
  }

  if (Array.isArray(value)) {
    const { minItems, maxItems } = schema as Record<string, unknown>;
    if (
      (typeof minItems === "number" && value.length < minItems) ||
      (typeof maxItems === "number" && value.length > maxItems)
    ) return expected("CONFIG_VALUE");
    for (let i = 0; i < value.length; i++) {
      if (schema.items !== undefined) {
        const issue = check(value[i], schema.items as JsonSchema, joinPath(path, i), root);
        if (issue !== undefined) return issue;
      }
      if (schema.uniqueItems === true) {
        const first = value.findIndex((v) => sameJson(v, value[i]));
        if (first < i) {
          return {
            code: "CONFIG_VALUE",
            path: joinPath(path, i),
            detail: `${JSON.stringify(value[i])} repeats ${joinPath(path, first)}`,
          };
        }
      }
    }
  }

  if (jsonType(value) === "object") {
    return checkObject(value as Record<string, unknown>, schema, path, root);
  }
  return undefined;
}

function checkObject(
  value: Record<string, unknown>,
  schema: JsonSchema,
  path: string,
  root: JsonSchema,
): SchemaIssue | undefined {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const additional = schema.additionalProperties as JsonSchema | boolean | undefined;
  // An explicitly undefined property (TypeScript's optional fields) counts as absent.
  const keys = Object.keys(value).filter((k) => value[k] !== undefined);
  for (const key of keys) {
    if (Object.hasOwn(properties, key)) continue;
    if (additional === false) {
      const known = Object.keys(properties).join(", ") || "none";
      return {
        code: "CONFIG_UNKNOWN_KEY",
        path: joinPath(path, key),
        detail: `unknown key (known: ${known})`,
      };
    }
  }
  for (const key of keys) {
    const sub = Object.hasOwn(properties, key)
      ? properties[key]
      : typeof additional === "object"
      ? additional
      : undefined;
    if (sub === undefined) continue;
    const issue = check(value[key], sub, joinPath(path, key), root);
    if (issue !== undefined) return issue;
  }
  for (const key of (schema.required ?? []) as string[]) {
    if (value[key] === undefined) {
      return {
        code: "CONFIG_MISSING_KEY",
        path: joinPath(path, key),
        detail: "required key is missing",
      };
    }
  }
  return undefined;
}

/** Whether `value` has a type `schema` accepts (any type when it names none). */
function typeFits(value: unknown, raw: JsonSchema, root: JsonSchema): boolean {
  const schema = resolveRef(raw, root);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type as string[] : [schema.type as string];
    return types.some((t) => typeIs(value, t));
  }
  if (schema.enum !== undefined || "const" in schema) {
    const allowed = (schema.enum ?? [schema.const]) as unknown[];
    return allowed.some((a) => jsonType(a) === jsonType(value));
  }
  return true;
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** What `schema` accepts, as a noun phrase: "an integer from 1 to 4294967295". */
export function describe(raw: JsonSchema, root: JsonSchema = raw): string {
  const schema = resolveRef(raw, root);
  if (typeof schema.title === "string") return schema.title;
  if (schema.enum !== undefined) {
    return `one of ${(schema.enum as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
  }
  if ("const" in schema) return JSON.stringify(schema.const);
  const alternatives = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (alternatives !== undefined) return orList(alternatives.map((alt) => describe(alt, root)));
  if (schema.type === undefined) return "a value";
  const types = Array.isArray(schema.type) ? schema.type as string[] : [schema.type as string];
  return orList(types.map((type) => describeType(type, schema, root)));
}

function orList(phrases: string[]): string {
  if (phrases.length <= 1) return phrases.join("");
  return `${phrases.slice(0, -1).join(", ")} or ${phrases[phrases.length - 1]}`;
}

function describeType(type: string, schema: JsonSchema, root: JsonSchema): string {
  switch (type) {
    case "integer":
    case "number":
      return (type === "integer" ? "an integer" : "a number") + range(schema);
    case "string": {
      if (typeof schema.pattern === "string") return `a string matching /${schema.pattern}/`;
      return schema.minLength === 1 ? "a non-empty string" : "a string";
    }
    case "array": {
      const items = schema.items === undefined
        ? undefined
        : plural(schema.items as JsonSchema, root);
      return items === undefined ? "an array" : `an array of ${items}`;
    }
    case "object":
      return "an object";
    case "boolean":
      return "a boolean";
    case "null":
      return "null";
    default:
      throw new TypeError(`unknown JSON Schema type ${JSON.stringify(type)}`);
  }
}

function range(schema: JsonSchema): string {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum } = schema as Record<
    string,
    number | undefined
  >;
  if (minimum !== undefined && maximum !== undefined) return ` from ${minimum} to ${maximum}`;
  const parts: string[] = [];
  if (minimum !== undefined) parts.push(`at least ${minimum}`);
  if (exclusiveMinimum !== undefined) parts.push(`greater than ${exclusiveMinimum}`);
  if (maximum !== undefined) parts.push(`at most ${maximum}`);
  if (exclusiveMaximum !== undefined) parts.push(`less than ${exclusiveMaximum}`);
  return parts.length === 0 ? "" : ` ${parts.join(" and ")}`;
}

/** "strings" for `{ type: "string" }`; `undefined` when items need more words than a plural. */
function plural(raw: JsonSchema, root: JsonSchema): string | undefined {
  const schema = resolveRef(raw, root);
  const constrained = Object.keys(schema).some((k) => KEYWORDS.has(k) && k !== "type");
  if (constrained || typeof schema.type !== "string") return undefined;
  const nouns: Record<string, string> = {
    string: "strings",
    integer: "integers",
    number: "numbers",
    boolean: "booleans",
    object: "objects",
    array: "arrays",
  };
  return nouns[schema.type];
}
