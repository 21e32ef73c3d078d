/**
 * Which programs of a {@link CollectionSpec} a backend loads, and what
 * became of each: shared by the kernel and VM backends so both read the
 * same options the same way and report in the same shape.
 *
 * Selection, in order:
 *
 * 1. the candidates: the programs `programs` names (whatever their
 *    `autoload`), else those matching an `include` glob (also whatever
 *    their `autoload`, as the config's `programs.include` does), else every
 *    program with `autoload`;
 * 2. minus those matching an `exclude` glob (exclude wins, and an excluded
 *    program is not pulled back in by a prog array that names it: the slot
 *    is left empty).
 *
 * With `programs` or `include` a backend creates only the maps the chosen
 * programs need (cilium/ebpf's `LoadAndAssign`); otherwise every map, as a
 * whole-object load does.
 *
 * Globs are the config's (`*`, `?`, `[abc]`, `[!abc]`, see
 * `config/_glob.ts`). A glob matching no program is a diagnostic, not an
 * error, as in the config.
 *
 * `optional` marks programs whose failure does not fail the load (libbpf
 * and cilium/ebpf have no such mode: a program there is loaded or the
 * whole object fails). Maps stay all-or-nothing.
 *
 * @module
 */

import type { CollectionSpec } from "../collection/spec.ts";
import type { TsbpfError } from "../errors/mod.ts";
import { globToRegExp } from "../config/_glob.ts";

/** Program selection options, the same for every backend. */
export interface SelectionOptions {
  /**
   * Load only these programs (and what they need), even if their
   * `autoload` is false; default: every program with `autoload`.
   */
  programs?: readonly string[];
  /** Load only programs matching one of these globs (even with `autoload` false). */
  include?: readonly string[];
  /** Never load programs matching one of these globs, whatever else says so. */
  exclude?: readonly string[];
  /**
   * Programs allowed to fail: `true` for all of them, or name globs. A
   * failing optional program is reported as `failed` and left out (and out
   * of any prog array naming it); the rest of the collection loads. A
   * failing program that is not optional fails the whole load, as before.
   */
  optional?: boolean | readonly string[];
}

/** Why a program was not loaded. */
export type SkipReason = "not-autoloaded" | "not-selected" | "not-included" | "excluded";

/** What became of one program of the spec. */
export interface ProgramLoadReport {
  /** The program's name in the spec. */
  name: string;
  /** `loaded`, `skipped` (never tried: see `reason`) or `failed` (tried, refused: see `error`). */
  status: "loaded" | "skipped" | "failed";
  /** Why a skipped program was skipped. */
  reason?: SkipReason;
  /** Why an optional program failed, with the loader's context. */
  error?: TsbpfError;
  /** What else happened because of it, e.g. `left out of prog array jump (key 1)`. */
  notes: string[];
}

/** The outcome of {@link selectPrograms}. */
export interface ProgramSelection {
  /** Programs to load, in spec order. */
  roots: string[];
  /** Programs not selected, with the reason, in spec order. */
  skipped: Map<string, SkipReason>;
  /** Names in `options.programs` that the spec lacks (the backend reports them its own way). */
  unknown: string[];
  /** Globs that matched no program, as warnings (`options.exclude[0]: "x" matches no program`). */
  diagnostics: string[];
  /** Whether `name` may fail without failing the load. */
  isOptional(name: string): boolean;
}

/**
 * Decide which programs of `spec` to load (see the module docs).
 *
 * @example
 * ```ts
 * import { loadCollectionSpec } from "../mod.ts";
 * import { selectPrograms } from "./selection.ts";
 *
 * const spec = await loadCollectionSpec(await Deno.readFile("fixtures/select/optional_progs.o"));
 * selectPrograms(spec, { exclude: ["xdp_*"] }).roots; // ["kprobe_missing"]
 * ```
 */
export function selectPrograms(
  spec: CollectionSpec,
  options: SelectionOptions = {},
): ProgramSelection {
  const diagnostics: string[] = [];
  // Most loads name no globs: no name list or regexps for them.
  let names: string[] | undefined;
  const globs = (list: readonly string[], key: string) =>
    list.length === 0 ? [] : compile(list, key, names ??= [...spec.programs.keys()], diagnostics);
  const includes = options.include === undefined ? undefined : globs(options.include, "include");
  const excludes = globs(options.exclude ?? [], "exclude");
  const optional = options.optional;
  const optionals = Array.isArray(optional) ? globs(optional, "optional") : [];
  const unknown = options.programs === undefined
    ? []
    : options.programs.filter((n) => !spec.programs.has(n));
  const named = options.programs === undefined ? undefined : new Set(options.programs);
  const roots: string[] = [];
  const skipped = new Map<string, SkipReason>();
  for (const [name, ps] of spec.programs) {
    let reason: SkipReason | undefined;
    if (named !== undefined) {
      if (!named.has(name)) reason = "not-selected";
    } else if (includes !== undefined) {
      if (!matches(includes, name)) reason = "not-included";
    } else if (!ps.autoload) reason = "not-autoloaded";
    if (reason === undefined && matches(excludes, name)) reason = "excluded";
    if (reason === undefined) roots.push(name);
    else skipped.set(name, reason);
  }
  return {
    roots,
    skipped,
    unknown,
    diagnostics,
    isOptional: (name) => optional === true || matches(optionals, name),
  };
}

/**
 * The report of every program of `spec` (or of the program names given
 * instead, in spec order), in spec order: `loaded` for those in `loaded`,
 * `failed` for those in `failed`, `skipped` with the reason for the rest
 * (`not-selected` for a program neither selected nor loaded).
 */
export function buildReport(
  spec: CollectionSpec | readonly string[],
  outcome: {
    loaded: ReadonlySet<string>;
    failed: ReadonlyMap<string, TsbpfError>;
    skipped: ReadonlyMap<string, SkipReason>;
    notes: ReadonlyMap<string, string[]>;
  },
): ProgramLoadReport[] {
  const names: readonly string[] = "programs" in spec ? [...spec.programs.keys()] : spec;
  return names.map((name): ProgramLoadReport => {
    const notes = [...(outcome.notes.get(name) ?? [])];
    if (outcome.loaded.has(name)) return { name, status: "loaded", notes };
    const error = outcome.failed.get(name);
    if (error !== undefined) return { name, status: "failed", error, notes };
    return { name, status: "skipped", reason: outcome.skipped.get(name) ?? "not-selected", notes };
  });
}

/** A skip reason in words: `optional: not autoloaded`, `excluded`, … */
export function skipReasonText(reason: SkipReason): string {
  switch (reason) {
    case "not-autoloaded":
      // `?` sections (libbpf's optional programs) or autoload turned off.
      return "optional: not autoloaded";
    case "not-selected":
      return "not selected";
    case "not-included":
      return "not included";
    case "excluded":
      return "excluded";
  }
}

/**
 * One report entry as a line: `xdp_a: loaded`, `xdp_b: skipped (excluded)`,
 * `xdp_c: failed: <first line of the error>`, notes after `;`.
 */
export function formatReportEntry(entry: ProgramLoadReport): string {
  let line = `${entry.name}: ${entry.status}`;
  if (entry.status === "skipped" && entry.reason !== undefined) {
    line += ` (${skipReasonText(entry.reason)})`;
  }
  if (entry.error !== undefined) line += `: ${entry.error.message.split("\n")[0]}`;
  if (entry.notes.length > 0) line += `; ${entry.notes.join("; ")}`;
  return line;
}

interface CompiledGlob {
  re: RegExp;
}

/** The globs of `options.<key>` as regular expressions; each matching nothing adds a warning. */
function compile(
  globs: readonly string[],
  key: string,
  names: readonly string[],
  diagnostics: string[],
): CompiledGlob[] {
  return globs.map((glob, i) => {
    const re = globToRegExp(glob);
    if (!names.some((n) => re.test(n))) {
      diagnostics.push(`options.${key}[${i}]: ${JSON.stringify(glob)} matches no program`);
    }
    return { re };
  });
}

function matches(globs: readonly CompiledGlob[], name: string): boolean {
  for (let i = 0; i < globs.length; i++) if (globs[i].re.test(name)) return true;
  return false;
}
