/**
 * Example plugin: a custom section kind. It claims the `.tsbpf.meta`
 * section and turns it into `spec.metadata["tsbpf.meta"]`.
 *
 * The section holds NUL-terminated `key=value` records in UTF-8, the way C
 * writes them (the string literal's implicit NUL ends the last record):
 *
 * ```c
 * char __meta[] SEC(".tsbpf.meta") = "owner=net-team\0version=3";
 * ```
 *
 * ```ts
 * import { Loader } from "../../mod.ts";
 * import { metaSectionPlugin } from "./meta_section.ts";
 *
 * const loader = Loader.create([metaSectionPlugin()]);
 * const spec = await loader.loadSpec(await Deno.readFile("fixtures/bpfel/meta_section.o"));
 * spec.metadata["tsbpf.meta"]; // { owner: "net-team", version: "3", description: "drops short packets" }
 * ```
 *
 * What it shows: `sectionKinds` to claim a section the core would ignore,
 * a stage that reads only the sections its own plugin claimed, and typed
 * errors that say where in the section the input is wrong. Without the
 * plugin the section is `ignored` and the object loads as before.
 *
 * @module
 */

import { LinkError } from "../../errors/mod.ts";
import type { ClassifiedSection, LoadContext } from "../../stages/context.ts";
import { requireElf } from "../../stages/context.ts";
import type { Plugin } from "../types.ts";
import { checkOptions, invalidOptions } from "./_options.ts";

/** The section the plugin reads unless told otherwise. */
export const META_SECTION = ".tsbpf.meta";

/** The section kind claimed sections get (see `ClassifiedSection.kind`). */
export const META_KIND = "tsbpf.meta";

/** Default plugin name, which is also its stage name and its metadata key. */
export const META_PLUGIN = "tsbpf.meta";

/**
 * Error codes, all thrown as {@link LinkError} with `section` set and
 * `offset` at the start of the offending record, in bytes from the start
 * of the section.
 */
export const META_ERRORS = {
  /** The last record has no NUL terminator. */
  unterminated: "META_UNTERMINATED",
  /** A record is not valid UTF-8. */
  badUtf8: "META_BAD_UTF8",
  /** A record is empty (two NULs in a row, or a lone NUL). */
  emptyRecord: "META_EMPTY_RECORD",
  /** A record has no `=`. */
  noSeparator: "META_NO_SEPARATOR",
  /** A record starts with `=`. */
  emptyKey: "META_EMPTY_KEY",
  /** A key appears twice. */
  duplicateKey: "META_DUPLICATE_KEY",
} as const;

/** Options of {@link metaSectionPlugin}. */
export interface MetaSectionOptions {
  /** Name of the section to claim; default `.tsbpf.meta`. Matched exactly, not as a prefix. */
  section?: string;
  /**
   * Plugin name, also used as its stage name and metadata key; default
   * `tsbpf.meta`. Two instances need two names (and two sections: a section
   * that two plugins claim is a `PLUGIN_SECTION_CONFLICT`).
   */
  name?: string;
}

/** One `key=value` record and where it starts in its section. */
export interface MetaRecord {
  /** Text before the first `=`; never empty. */
  key: string;
  /** Text after the first `=`; may be empty and may contain `=`. */
  value: string;
  /** Byte offset of the record in the section. */
  offset: number;
}

// fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: keep the bytes as written.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The records of a meta section's bytes, in order. Checks the syntax only;
 * duplicate keys are for the caller to judge (the plugin rejects them).
 *
 * @throws {LinkError} a `META_*` code from {@link META_ERRORS}, naming
 *   `options.section` (default `.tsbpf.meta`; `options.sectionIndex` goes
 *   into the error's location) and the record's offset.
 *
 * @example
 * ```ts
 * import { parseMetaRecords } from "./meta_section.ts";
 * const bytes = new TextEncoder().encode("owner=net-team\0version=3\0");
 * parseMetaRecords(bytes); // [{ key: "owner", value: "net-team", offset: 0 }, { key: "version", value: "3", offset: 15 }]
 * ```
 */
export function parseMetaRecords(
  data: Uint8Array,
  options: { section?: string; sectionIndex?: number } = {},
): MetaRecord[] {
  const section = { name: options.section ?? META_SECTION, index: options.sectionIndex };
  const records: MetaRecord[] = [];
  let start = 0;
  while (start < data.length) {
    const end = data.indexOf(0, start);
    if (end < 0) {
      throw metaError(
        META_ERRORS.unterminated,
        section,
        start,
        "last record has no NUL terminator",
      );
    }
    if (end === start) {
      throw metaError(META_ERRORS.emptyRecord, section, start, "empty record");
    }
    let text: string;
    try {
      text = utf8.decode(data.subarray(start, end));
    } catch {
      throw metaError(META_ERRORS.badUtf8, section, start, "record is not valid UTF-8");
    }
    const eq = text.indexOf("=");
    if (eq < 0) {
      throw metaError(
        META_ERRORS.noSeparator,
        section,
        start,
        `record ${quote(text)} has no "=" (want key=value)`,
      );
    }
    if (eq === 0) {
      throw metaError(
        META_ERRORS.emptyKey,
        section,
        start,
        `record ${quote(text)} has an empty key`,
      );
    }
    records.push({ key: text.slice(0, eq), value: text.slice(eq + 1), offset: start });
    start = end + 1;
  }
  return records;
}

/**
 * A plugin that claims the meta section and, after `classify`, records its
 * key/value pairs as `ctx.metadata[name]` (a JSON object of strings). An
 * object without the section gets no metadata entry.
 *
 * @throws {ConfigError} `PLUGIN_INVALID_OPTIONS` for options of the wrong shape.
 */
export function metaSectionPlugin(options: MetaSectionOptions = {}): Plugin {
  const opts = checkOptions(META_PLUGIN, options, ["section", "name"]);
  const name = opts.name ?? META_PLUGIN;
  if (typeof name !== "string" || name === "") {
    throw invalidOptions(META_PLUGIN, "name", "must be a non-empty string");
  }
  const section = opts.section ?? META_SECTION;
  if (typeof section !== "string" || section === "") {
    throw invalidOptions(name, "section", "must be a non-empty string");
  }
  return {
    name,
    // An exact match: `.tsbpf.meta.old` is not ours to claim.
    sectionKinds: [{ kind: META_KIND, match: (s) => s.name === section }],
    stages: [{
      // After `classify` because the records need nothing but the claimed
      // section's bytes: no relocations, maps or programs. Running this
      // early fails a load with a bad section before any relocation work,
      // and lets every later stage (a plugin's included) read the metadata,
      // say to pick map settings by `owner`.
      after: "classify",
      stage: { name, run: (ctx) => readMetaSections(ctx, name) },
    }],
  };
}

/** The module's default export for config files: {@link metaSectionPlugin} over untyped options. */
export default function plugin(options: Record<string, unknown> = {}): Plugin {
  return metaSectionPlugin(options as MetaSectionOptions);
}

function readMetaSections(ctx: LoadContext, name: string): void {
  // Only sections this plugin claimed: another instance (another name,
  // another section) uses the same kind.
  const claimed: ClassifiedSection[] = [];
  for (const sec of ctx.sections.values()) {
    if (sec.kind === META_KIND && sec.claimedBy === name) claimed.push(sec);
  }
  if (claimed.length === 0) return;
  const elf = requireElf(ctx, name);
  // A Map, then Object.fromEntries: a key like "__proto__" becomes an
  // ordinary property instead of changing the object's prototype.
  const records = new Map<string, string>();
  for (const { section } of claimed) {
    const where = { section: section.name, sectionIndex: section.index };
    for (const r of parseMetaRecords(elf.sectionData(section), where)) {
      if (records.has(r.key)) {
        throw metaError(
          META_ERRORS.duplicateKey,
          section,
          r.offset,
          `key ${quote(r.key)} appears twice`,
        );
      }
      records.set(r.key, r.value);
    }
  }
  ctx.metadata[name] = Object.fromEntries(records);
}

function metaError(
  code: string,
  section: { name: string; index?: number },
  offset: number,
  detail: string,
): LinkError {
  return new LinkError(code, `section ${section.name}: offset ${offset}: ${detail}`, {
    section: section.name,
    sectionIndex: section.index,
    offset,
  });
}

/** A record for a message: quoted, and cut short when long. */
function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
