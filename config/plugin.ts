/**
 * The `config` plugin: three stages that apply a config's program, map and
 * constant settings to every load, after `link` (and, listed last, after
 * the stages other plugins placed after `link`).
 *
 * - `config-programs` sets `ProgramSpec.autoload` from `programs.include`
 *   and `programs.exclude`, and `ProgramSpec.attachTo` from
 *   `programs.attachTo`;
 * - `config-maps` applies `maps` overrides: `maxEntries`, `pinning` (to
 *   `MapSpec.pinning`), and `pinPath`, which has no `MapSpec` field and is
 *   recorded in the spec's metadata as {@link ConfigMetadata} for the kernel
 *   backend;
 * - `config-constants` writes `constants` into the `.rodata*` data maps.
 *
 * Constants are found through the ELF symbol table, not BTF: a global is an
 * `STT_OBJECT` symbol in a `.rodata` or `.rodata.*` section, and only 1, 2,
 * 4 and 8-byte globals can be set, as integers (booleans for 1 byte). Signed
 * and unsigned values are both accepted, since the symbol table does not say
 * which the global is. Typed, BTF-based variables (structs, arrays, enums)
 * are later work.
 *
 * @module
 */

import { STT_OBJECT } from "../elf/constants.ts";
import type { ElfSymbol } from "../elf/types.ts";
import type { MapSpec } from "../collection/spec.ts";
import type { JsonValue } from "../collection/spec.ts";
import { PinType } from "../collection/types.ts";
import { ConfigError } from "../errors/mod.ts";
import type { Plugin } from "../plugins/types.ts";
import type { LoadContext } from "../stages/context.ts";
import type { Stage } from "../stages/pipeline.ts";
import { CORE_STAGE, coreStage } from "../stages/core.ts";
import { globToRegExp, isGlob } from "./_glob.ts";
import { joinPath } from "./_validate.ts";
import type { ConfigSettings, ConstantValue, MapOverride } from "./types.ts";

/** The config plugin's stage names, in run order. */
export const CONFIG_STAGES: readonly string[] = [
  "config-programs",
  "config-maps",
  "config-constants",
];

/** Key of {@link ConfigMetadata} in `CollectionSpec.metadata`. */
export const CONFIG_METADATA_KEY = "config";

/**
 * What the config plugin records in `CollectionSpec.metadata.config`: the
 * settings that have no field in the spec itself. Present only when there
 * is something to record.
 */
export interface ConfigMetadata {
  /** Per map name: the bpffs directory to pin it under (`maps.<key>.pinPath`). */
  maps: Record<string, { pinPath: string }>;
}

/** Options of {@link configPlugin}. */
export interface ConfigPluginOptions {
  /** The stage the config's stages run after; default `"link"`. */
  after?: string;
}

/**
 * The plugin applying `settings` during every load: program selection, map
 * overrides and constants, in stages placed after `options.after`.
 *
 * @example
 * ```ts
 * import { Loader } from "../mod.ts";
 * import { configPlugin } from "./mod.ts";
 * const loader = Loader.create([configPlugin({
 *   programs: { exclude: ["*_debug"] },
 *   maps: {},
 *   constants: { ro_limit: 1000 },
 * })]);
 * ```
 */
export function configPlugin(settings: ConfigSettings, options: ConfigPluginOptions = {}): Plugin {
  const [programs, maps, constants] = CONFIG_STAGES;
  return {
    name: "config",
    stages: [
      {
        after: options.after ?? "link",
        stage: stage(programs, (ctx) => selectPrograms(ctx, settings)),
      },
      { after: programs, stage: stage(maps, (ctx) => overrideMaps(ctx, settings.maps)) },
      { after: maps, stage: stage(constants, (ctx) => setConstants(ctx, settings.constants)) },
      // `core.btf`: the core stage resolves against that file instead of the kernel's BTF.
      ...(settings.core?.btf === undefined
        ? []
        : [{ replace: CORE_STAGE, stage: coreStage({ btf: settings.core.btf }) }]),
    ],
  };
}

function stage(name: string, run: (ctx: LoadContext) => void): Stage {
  return { name, run };
}

/** `attachTo` by program name; a name that is no program is an error. */
function setAttachTargets(ctx: LoadContext, settings: ConfigSettings): void {
  for (const [name, target] of Object.entries(settings.programs.attachTo ?? {})) {
    const prog = ctx.programs.get(name);
    if (prog === undefined) {
      const known = [...ctx.programs.keys()].sort().join(", ") || "none";
      throw new ConfigError(
        "CONFIG_UNKNOWN_PROGRAM",
        joinPath("programs.attachTo", name),
        `no program of that name (programs: ${known})`,
      );
    }
    prog.attachTo = target;
  }
}

/** `autoload` from the include and exclude globs; a glob matching nothing gets a warning. */
function selectPrograms(ctx: LoadContext, settings: ConfigSettings): void {
  setAttachTargets(ctx, settings);
  const { include, exclude } = settings.programs;
  if (include === undefined && exclude.length === 0) return;
  const globs = (list: readonly string[], key: string) =>
    list.map((glob, i) => ({ glob, path: joinPath(`programs.${key}`, i), re: globToRegExp(glob) }));
  const includes = include === undefined ? undefined : globs(include, "include");
  const excludes = globs(exclude, "exclude");
  const used = new Set<string>();
  for (const prog of ctx.programs.values()) {
    const included = includes === undefined || matchAny(includes, prog.name, used);
    const excluded = matchAny(excludes, prog.name, used);
    if (includes !== undefined || excluded) prog.autoload = included && !excluded;
  }
  for (const g of [...(includes ?? []), ...excludes]) {
    if (!used.has(g.path)) {
      ctx.diagnostics.push({
        stage: "config-programs",
        level: "warning",
        message: `${g.path}: ${JSON.stringify(g.glob)} matches no program`,
      });
    }
  }
}

/** Whether any glob matches `name`; every matching glob's path goes into `used`. */
function matchAny(
  globs: readonly { path: string; re: RegExp }[],
  name: string,
  used: Set<string>,
): boolean {
  let any = false;
  for (const g of globs) {
    if (g.re.test(name)) {
      used.add(g.path);
      any = true;
    }
  }
  return any;
}

/** Apply map overrides in key order; a key matching no map is an error. */
function overrideMaps(ctx: LoadContext, overrides: Readonly<Record<string, MapOverride>>): void {
  for (const [key, override] of Object.entries(overrides)) {
    const path = joinPath("maps", key);
    const re = globToRegExp(key);
    const matched = [...ctx.maps.values()].filter((m) => re.test(m.name));
    if (matched.length === 0) {
      const known = [...ctx.maps.keys()].join(", ") || "none";
      throw new ConfigError(
        "CONFIG_UNKNOWN_MAP",
        path,
        `${isGlob(key) ? "matches no map" : "no map of that name"} (maps: ${known})`,
      );
    }
    for (const map of matched) {
      if (override.maxEntries !== undefined) {
        if (isDataSection(ctx, map.name)) {
          throw new ConfigError(
            "CONFIG_MAP_OVERRIDE",
            joinPath(path, "maxEntries"),
            `map ${map.name} holds a data section, which is always one entry`,
          );
        }
        map.maxEntries = override.maxEntries;
      }
      if (override.pinning !== undefined) {
        map.pinning = override.pinning === "byName" ? PinType.BY_NAME : PinType.NONE;
      }
      if (override.pinPath !== undefined) recordPinPath(ctx, map, override.pinPath);
    }
  }
}

function isDataSection(ctx: LoadContext, name: string): boolean {
  for (const sec of ctx.sections.values()) {
    if (sec.kind === "data" && sec.section.name === name) return true;
  }
  return false;
}

function recordPinPath(ctx: LoadContext, map: MapSpec, pinPath: string): void {
  const config = jsonObject(ctx.metadata, CONFIG_METADATA_KEY);
  const maps = jsonObject(config, "maps");
  maps[map.name] = { ...jsonObject(maps, map.name), pinPath };
}

/** `parent[key]` as an object, created (or replaced, if it is not one) on the way. */
function jsonObject(parent: Record<string, JsonValue>, key: string): Record<string, JsonValue> {
  const current = parent[key];
  if (typeof current === "object" && current !== null && !Array.isArray(current)) return current;
  const fresh: Record<string, JsonValue> = {};
  parent[key] = fresh;
  return fresh;
}

function isReadOnlyData(name: string): boolean {
  return name === ".rodata" || name.startsWith(".rodata.");
}

/** Write each constant into its `.rodata*` map, in the object's byte order. */
function setConstants(
  ctx: LoadContext,
  constants: Readonly<Record<string, ConstantValue>>,
): void {
  const entries = Object.entries(constants);
  if (entries.length === 0) return;
  const sectionName = (sym: ElfSymbol) => ctx.sections.get(sym.sectionIndex)?.section.name ?? "";
  const globals = ctx.symbols.filter((s) => s.type === STT_OBJECT && s.name !== "");
  for (const [name, value] of entries) {
    const path = joinPath("constants", name);
    const named = globals.filter((s) => s.name === name);
    const readOnly = named.filter((s) => isReadOnlyData(sectionName(s)));
    if (readOnly.length === 0) {
      if (named.length > 0) {
        throw new ConfigError(
          "CONFIG_UNKNOWN_GLOBAL",
          path,
          `the global is in ${
            sectionName(named[0]) || "no section"
          }, not in .rodata: only read-only (const volatile) globals can be set`,
        );
      }
      const known = globals.filter((s) => isReadOnlyData(sectionName(s))).map((s) => s.name);
      throw new ConfigError(
        "CONFIG_UNKNOWN_GLOBAL",
        path,
        `no global of that name in .rodata (read-only globals: ${
          known.sort().join(", ") || "none"
        })`,
      );
    }
    if (readOnly.length > 1) {
      throw new ConfigError(
        "CONFIG_UNKNOWN_GLOBAL",
        path,
        `${readOnly.length} globals have that name (in ${readOnly.map(sectionName).join(", ")})`,
      );
    }
    const sym = readOnly[0];
    const section = sectionName(sym);
    const map = ctx.maps.get(section);
    const kv = map?.contents.find((c) => c.key === 0);
    if (map === undefined || kv === undefined || !(kv.value instanceof Uint8Array)) {
      throw new ConfigError(
        "CONFIG_UNKNOWN_GLOBAL",
        path,
        `section ${section} holds the global but became no map (no program reads it, so it was pruned)`,
      );
    }
    const bytes = kv.value;
    if (![1, 2, 4, 8].includes(sym.size)) {
      throw new ConfigError(
        "CONFIG_CONSTANT",
        path,
        `the global is ${sym.size} bytes; only 1, 2, 4 and 8-byte globals can be set (typed BTF variables are not supported yet)`,
      );
    }
    if (sym.value + sym.size > bytes.length) {
      throw new ConfigError(
        "CONFIG_CONSTANT",
        path,
        `the global (offset ${sym.value}, ${sym.size} bytes) lies past the end of ${section} (${bytes.length} bytes)`,
      );
    }
    const bits = constantBits(value, sym.size, path);
    const view = new DataView(bytes.buffer, bytes.byteOffset + sym.value, sym.size);
    const little = ctx.byteOrder === "little";
    if (sym.size === 8) view.setBigUint64(0, bits, little);
    else if (sym.size === 4) view.setUint32(0, Number(bits), little);
    else if (sym.size === 2) view.setUint16(0, Number(bits), little);
    else view.setUint8(0, Number(bits));
  }
}

/**
 * The raw bits of `value` in `size` bytes. Any value from the signed
 * minimum to the unsigned maximum fits: without BTF the signedness of the
 * global is unknown, and two's complement makes both readings agree.
 */
function constantBits(value: ConstantValue, size: number, path: string): bigint {
  let n: bigint;
  if (typeof value === "boolean") {
    if (size !== 1) {
      throw new ConfigError(
        "CONFIG_CONSTANT",
        path,
        `${value} is a boolean, but the global is ${size} bytes (booleans set 1-byte globals)`,
      );
    }
    n = value ? 1n : 0n;
  } else if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new ConfigError(
        "CONFIG_CONSTANT",
        path,
        `${value} is not a safe integer (write values past 2^53 as strings)`,
      );
    }
    n = BigInt(value);
  } else {
    const m = /^(-?)(0[xX][0-9a-fA-F]+|[0-9]+)$/.exec(value);
    if (m === null) {
      throw new ConfigError(
        "CONFIG_CONSTANT",
        path,
        `${JSON.stringify(value)} is not a decimal or 0x-hex integer`,
      );
    }
    n = m[1] === "-" ? -BigInt(m[2]) : BigInt(m[2]);
  }
  const width = BigInt(size * 8);
  if (n < -(1n << (width - 1n)) || n >= 1n << width) {
    const shown = typeof value === "string" ? value : String(value);
    throw new ConfigError(
      "CONFIG_CONSTANT",
      path,
      `${shown} does not fit in ${size} byte${size === 1 ? "" : "s"}`,
    );
  }
  return BigInt.asUintN(size * 8, n);
}
