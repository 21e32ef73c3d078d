/**
 * Reading, resolving and running a config: the parts that touch files and
 * import modules (`node:fs/promises`, `node:path`, `node:url` and dynamic
 * `import()`, which behave the same in Deno, Bun and Node). Validation
 * itself is pure and lives in `validate.ts`.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Backend } from "../backends/types.ts";
import type { CollectionSpec } from "../collection/spec.ts";
import { ConfigError, PipelineError, withContextAsync } from "../errors/mod.ts";
import { Loader } from "../plugins/loader.ts";
import { kconfigPlugin } from "../plugins/externs/kconfig.ts";
import type { Plugin } from "../plugins/types.ts";
import { Pipeline, type Stage } from "../stages/pipeline.ts";
import { parseJson } from "./_json.ts";
import { joinPath, validate } from "./_validate.ts";
import { CONFIG_STAGES, configPlugin } from "./plugin.ts";
import type { ModuleEntry, ResolvedConfig, ResolvedModule, TsbpfConfig } from "./types.ts";
import { validateConfig } from "./validate.ts";

/** Options of {@link resolveConfig}. */
export interface ResolveOptions {
  /** Directory that relative object paths and module specifiers resolve against. */
  baseDir: string;
}

/**
 * Read, parse, validate and resolve the config file at `path`. Errors are
 * `ConfigError`s with the file as context:
 * `/etc/tsbpf.json: backend.colour: unknown key (known: name, options)`.
 *
 * @example
 * ```ts
 * import { loadConfigFile, runConfig } from "./mod.ts";
 * const results = await runConfig(await loadConfigFile("tsbpf.json"));
 * ```
 */
export async function loadConfigFile(path: string): Promise<ResolvedConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(
      "CONFIG_FILE_UNREADABLE",
      "",
      `cannot read the config file: ${ioReason(err)}`,
      { cause: err },
    ).addContext(file);
  }
  const parsed = parseJson(text);
  if (!parsed.ok) {
    const { line, column, reason } = parsed.issue;
    throw new ConfigError(
      "CONFIG_NOT_JSON",
      "",
      `not valid JSON at line ${line}, column ${column}: ${reason}`,
    ).addContext(file);
  }
  const resolved = await withContextAsync(
    file,
    () => resolveConfig(parsed.value as TsbpfConfig, { baseDir: dirname(file) }),
  );
  return { ...resolved, file };
}

/**
 * Validate a config given as an object and resolve it: defaults filled in,
 * object paths absolute, module specifiers ready for `import()`.
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./mod.ts";
 * const resolved = await resolveConfig(
 *   { objects: ["prog.bpf.o"], constants: { ro_limit: 1000 } },
 *   { baseDir: "build" },
 * );
 * ```
 */
export function resolveConfig(
  config: TsbpfConfig,
  options: ResolveOptions,
): Promise<ResolvedConfig> {
  // Async by contract, so a bad config is a rejection, never a synchronous throw.
  return Promise.resolve().then(() => resolveSync(config, options));
}

function resolveSync(config: TsbpfConfig, options: ResolveOptions): ResolvedConfig {
  validateConfig(config);
  const baseDir = resolve(options.baseDir);
  const replace: Record<string, ResolvedModule> = {};
  for (const [name, entry] of Object.entries(config.pipeline?.replace ?? {})) {
    replace[name] = resolveModule(entry, joinPath("pipeline.replace", name), baseDir);
  }
  return {
    baseDir,
    objects: (config.objects ?? []).map((object) => resolve(baseDir, object)),
    link: config.link ?? false,
    plugins: (config.plugins ?? []).map((entry, i) =>
      resolveModule(entry, joinPath("plugins", i), baseDir)
    ),
    pipeline: {
      stages: config.pipeline?.stages === undefined ? undefined : [...config.pipeline.stages],
      replace,
    },
    backend: {
      name: config.backend?.name ?? "json",
      options: { ...config.backend?.options },
    },
    programs: {
      include: config.programs?.include === undefined ? undefined : [...config.programs.include],
      exclude: [...(config.programs?.exclude ?? [])],
      // Only when given, so a config without it resolves as before.
      ...(config.programs?.attachTo === undefined
        ? {}
        : { attachTo: { ...config.programs.attachTo } }),
    },
    maps: Object.fromEntries(
      Object.entries(config.maps ?? {}).map(([key, override]) => [key, { ...override }]),
    ),
    constants: { ...config.constants },
    ...(config.kconfig === undefined ? {} : { kconfig: { ...config.kconfig } }),
    // Only when given, so a config without it resolves as before.
    ...(config.core?.btf === undefined ? {} : { core: { btf: resolve(baseDir, config.core.btf) } }),
  };
}

function resolveModule(entry: ModuleEntry, path: string, baseDir: string): ResolvedModule {
  const specifier = typeof entry === "string" ? entry : entry.module;
  const options = typeof entry === "string" ? undefined : entry.options;
  return { path, specifier, url: moduleUrl(specifier, baseDir), options };
}

/** `./` and `../` specifiers and absolute paths become `file:` URLs; URLs and bare names stay. */
function moduleUrl(specifier: string, baseDir: string): string {
  if (specifier.startsWith("./") || specifier.startsWith("../") || isAbsolute(specifier)) {
    return pathToFileURL(resolve(baseDir, specifier)).href;
  }
  return specifier;
}

/**
 * Import the config's plugins and replacement stages and build the
 * {@link Loader}: the core, the plugins in order, then the `config` plugin
 * (program selection, map overrides, constants, after `link` and after the
 * stages plugins placed after `link`), with
 * `pipeline.stages` and `pipeline.replace` applied last.
 */
export async function createLoader(resolved: ResolvedConfig): Promise<Loader> {
  const plugins: Plugin[] = [];
  for (const entry of resolved.plugins) plugins.push(await importPlugin(entry));
  // `kconfig` values replace the default kconfig plugin, unless a listed plugin already does.
  if (resolved.kconfig !== undefined && !plugins.some((p) => p.name === "kconfig")) {
    plugins.unshift(kconfigPlugin({ values: resolved.kconfig }));
  }
  const replacements = new Map<string, { stage: Stage; path: string }>();
  for (const [name, entry] of Object.entries(resolved.pipeline.replace)) {
    replacements.set(name, { stage: await importStage(entry), path: entry.path });
  }
  // Where `link` is once the plugins have applied decides where the config's stages go.
  const names = Loader.create(plugins).pipeline.names();
  const after = names.includes("link") || names.length === 0 ? "link" : names[names.length - 1];
  const loader = Loader.create([...plugins, configPlugin(resolved, { after })]);
  if (resolved.pipeline.stages === undefined && replacements.size === 0) return loader;
  return loader.withPipeline(editPipeline(loader.pipeline, resolved.pipeline.stages, replacements));
}

/**
 * `pipeline.stages` (order, and which stages run) then `pipeline.replace`.
 * The config's own stages are not the user's to list: they go back after
 * the stage they followed, else after `link`, else last.
 */
function editPipeline(
  pipeline: Pipeline,
  stages: readonly string[] | undefined,
  replacements: Map<string, { stage: Stage; path: string }>,
): Pipeline {
  const own = new Set(CONFIG_STAGES);
  const byName = new Map(pipeline.stages.map((s) => [s.name, s]));
  const available = pipeline.names().filter((n) => !own.has(n));
  const unknown = (path: string, name: string) =>
    new ConfigError(
      "CONFIG_UNKNOWN_STAGE",
      path,
      own.has(name)
        ? `${JSON.stringify(name)} is the config's own stage, which always runs after link`
        : `no stage named ${JSON.stringify(name)} (stages: ${available.join(", ")})`,
    );
  stages?.forEach((name, i) => {
    if (own.has(name) || !byName.has(name)) throw unknown(joinPath("pipeline.stages", i), name);
  });
  const order = stages ?? available;
  for (const [name, { path }] of replacements) {
    if (own.has(name) || !byName.has(name)) throw unknown(path, name);
    if (!order.includes(name)) {
      throw new ConfigError(
        "CONFIG_UNKNOWN_STAGE",
        path,
        `stage ${
          JSON.stringify(name)
        } is left out of pipeline.stages, so there is nothing to replace`,
      );
    }
  }
  // The config's stages keep the place the plugins left them (after `link`
  // and the stages anchored after it): after the nearest stage before them
  // that is still listed, else after `link`, else last.
  const names = pipeline.names();
  const before = names.slice(0, names.indexOf(CONFIG_STAGES[0])).reverse();
  const anchor = before.find((n) => order.includes(n)) ??
    (order.includes("link") ? "link" : undefined);
  const at = anchor === undefined ? order.length : order.indexOf(anchor) + 1;
  const final = [...order.slice(0, at), ...CONFIG_STAGES, ...order.slice(at)];
  try {
    return new Pipeline(final.map((name) => replacements.get(name)?.stage ?? byName.get(name)!));
  } catch (err) {
    if (!(err instanceof PipelineError)) throw err;
    throw new ConfigError("CONFIG_PIPELINE", "pipeline.replace", err.detail, { cause: err });
  }
}

async function importModule(entry: ResolvedModule): Promise<Record<string, unknown>> {
  try {
    return await import(entry.url);
  } catch (err) {
    throw new ConfigError(
      "CONFIG_IMPORT",
      entry.path,
      `cannot import ${JSON.stringify(entry.specifier)}: ${reason(err)}`,
      { cause: err },
    );
  }
}

function isPlugin(value: unknown): value is Plugin {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    typeof (value as Plugin).name === "string" && (value as Plugin).name !== "";
}

function isStage(value: unknown): value is Stage {
  return typeof value === "object" && value !== null &&
    typeof (value as Stage).name === "string" && (value as Stage).name !== "" &&
    typeof (value as Stage).run === "function";
}

/** A plugin module's default export, or its export named `plugin`: a plugin or a factory. */
async function importPlugin(entry: ResolvedModule): Promise<Plugin> {
  const mod = await importModule(entry);
  const exported = mod.default ?? mod.plugin;
  if (typeof exported === "function") {
    let plugin: unknown;
    try {
      plugin = await exported(entry.options ?? {});
    } catch (err) {
      throw new ConfigError(
        "CONFIG_PLUGIN_FACTORY",
        entry.path,
        `plugin factory threw: ${reason(err)}`,
        { cause: err },
      );
    }
    if (!isPlugin(plugin)) {
      throw new ConfigError(
        "CONFIG_NOT_PLUGIN",
        entry.path,
        `plugin factory returned ${describeValue(plugin)}, expected a plugin object with a name`,
      );
    }
    return plugin;
  }
  if (isPlugin(exported)) {
    if (Object.keys(entry.options ?? {}).length > 0) {
      throw new ConfigError(
        "CONFIG_NOT_PLUGIN",
        joinPath(entry.path, "options"),
        "the module exports a plugin object, not a factory, so it takes no options",
      );
    }
    return exported;
  }
  throw new ConfigError(
    "CONFIG_NOT_PLUGIN",
    entry.path,
    `expected a plugin object or factory, got ${describeExport(mod, exported, "plugin")}`,
  );
}

/** A stage module's default export, or its export named `stage`: a stage or a factory. */
async function importStage(entry: ResolvedModule): Promise<Stage> {
  const mod = await importModule(entry);
  const exported = mod.default ?? mod.stage;
  let stage = exported;
  if (typeof exported === "function") {
    try {
      stage = await exported(entry.options ?? {});
    } catch (err) {
      throw new ConfigError(
        "CONFIG_STAGE_FACTORY",
        entry.path,
        `stage factory threw: ${reason(err)}`,
        { cause: err },
      );
    }
    if (!isStage(stage)) {
      throw new ConfigError(
        "CONFIG_NOT_STAGE",
        entry.path,
        `stage factory returned ${describeValue(stage)}, expected a stage { name, run }`,
      );
    }
  }
  if (!isStage(stage)) {
    throw new ConfigError(
      "CONFIG_NOT_STAGE",
      entry.path,
      `expected a stage { name, run } or a factory, got ${describeExport(mod, exported, "stage")}`,
    );
  }
  return stage;
}

function describeExport(mod: Record<string, unknown>, exported: unknown, named: string): string {
  if (exported === undefined && !("default" in mod)) {
    return `a module with no default export and no export named ${JSON.stringify(named)}`;
  }
  return describeValue(exported);
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return `a string (${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)})`;
    case "number":
    case "bigint":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    case "function":
      return "a function";
    case "object": {
      const keys = Object.keys(value as object);
      return keys.length === 0 ? "an empty object" : `an object with keys ${keys.join(", ")}`;
    }
    default:
      return typeof value;
  }
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function ioReason(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  const words: Record<string, string> = {
    ENOENT: "no such file",
    EACCES: "permission denied",
    EISDIR: "is a directory",
    ENOTDIR: "a parent is not a directory",
  };
  if (typeof code === "string" && code in words) return `${words[code]} (${code})`;
  return reason(err);
}

/**
 * The configured backend, made from `backend.options` after checking them
 * against the backend's `optionsSchema` (paths under `backend.options`).
 */
export function createBackend(loader: Loader, resolved: Pick<ResolvedConfig, "backend">): Backend {
  const { name, options } = resolved.backend;
  const factory = loader.backends.get(name);
  if (factory === undefined) {
    const known = [...loader.backends.keys()].sort().join(", ") || "none";
    throw new ConfigError(
      "CONFIG_UNKNOWN_BACKEND",
      "backend.name",
      `no backend named ${JSON.stringify(name)} (registered: ${known})`,
    );
  }
  if (factory.optionsSchema !== undefined) {
    validate(options, factory.optionsSchema, { path: "backend.options" });
  }
  try {
    return factory(options, { helpers: loader.helpers });
  } catch (err) {
    // A factory that checks its own options already names the key.
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(
      "CONFIG_BACKEND",
      "backend",
      `backend factory ${JSON.stringify(name)} threw: ${reason(err)}`,
      { cause: err },
    );
  }
}

/** One object's outcome in {@link runConfig} (all objects' with `link: true`). */
export interface RunResult<R = unknown> {
  /** The object file, absolute; with `link: true`, the files joined by ` + `. */
  file: string;
  /** The object files this result came from, absolute (several with `link: true`). */
  files: string[];
  /** The spec the pipeline produced, config settings applied. */
  spec: CollectionSpec;
  /** What the backend returned for it. */
  result: R;
}

/** Options of {@link runConfig}. */
export interface RunOptions {
  /** A loader from {@link createLoader} to reuse; default one made from the config. */
  loader?: Loader;
}

/**
 * Load every object of the config through its loader and hand each spec to
 * its backend; with `link: true`, link them all into one spec first (one
 * result). The backend is checked before any object is read; load errors
 * carry the object file as context (`/abs/prog.o: classify: …`).
 */
export async function runConfig(
  resolved: ResolvedConfig,
  options: RunOptions = {},
): Promise<RunResult[]> {
  const loader = options.loader ?? await createLoader(resolved);
  const backend = createBackend(loader, resolved);
  const results: RunResult[] = [];
  if (resolved.link && resolved.objects.length > 0) {
    const objects = await readConfigObjects(resolved);
    const file = resolved.objects.join(" + ");
    const spec = await withContextAsync(file, () => loader.loadSpec(objects));
    const result = await withContextAsync(file, () => backend.load(spec));
    return [{ file, files: [...resolved.objects], spec, result }];
  }
  for (const [i, file] of resolved.objects.entries()) {
    const bytes = await readObject(file, i);
    const spec = await withContextAsync(file, () => loader.loadSpec(bytes));
    const result = await withContextAsync(file, () => backend.load(spec));
    results.push({ file, files: [file], spec, result });
  }
  return results;
}

/**
 * The config's objects as the static-link stage takes them, named by their
 * path relative to the config's directory (for messages).
 */
export async function readConfigObjects(
  resolved: ResolvedConfig,
): Promise<{ name: string; bytes: Uint8Array }[]> {
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const [i, file] of resolved.objects.entries()) {
    out.push({ name: relative(resolved.baseDir, file) || file, bytes: await readObject(file, i) });
  }
  return out;
}

async function readObject(file: string, index: number): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (err) {
    throw new ConfigError(
      "CONFIG_OBJECT_UNREADABLE",
      joinPath("objects", index),
      `cannot read ${file}: ${ioReason(err)}`,
      { cause: err },
    );
  }
}
