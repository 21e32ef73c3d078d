/**
 * The declarative config: one JSON file (or the same as a TypeScript
 * object) saying which objects to load, with which plugins and pipeline,
 * into which backend, and with which program, map and constant settings.
 * `config/schema.json` (JSON Schema draft 2020-12) is the single source of
 * truth for the shape; {@link TsbpfConfig} mirrors it.
 *
 * ```json
 * {
 *   "$schema": "../config/schema.json",
 *   "objects": ["build/prog.bpf.o"],
 *   "plugins": ["./plugins/meta.ts", { "module": "./plugins/prefix.ts", "options": { "prefix": "app_" } }],
 *   "pipeline": { "stages": ["read", "classify", "btf", "relocate", "maps", "link"], "replace": { "link": "./my_link.ts" } },
 *   "backend": { "name": "json", "options": { "output": "out.json" } },
 *   "programs": { "include": ["xdp_*"], "exclude": ["*_debug"] },
 *   "maps": { "counts": { "maxEntries": 4096 }, "*_pinned": { "pinPath": "/sys/fs/bpf/app", "pinning": "byName" } },
 *   "constants": { "ro_limit": 1000, "ro_mode": "0x2", "big": "18446744073709551615" }
 * }
 * ```
 *
 * - `"link": true` links all `objects` statically into one collection
 *   (as `bpftool gen object` would); `runConfig` then gives one result,
 *   and `tsbpf inspect` / `tsbpf load` with `--config` and no FILE load it.
 * - Paths (`objects`, and module specifiers starting `./` or `../`) are
 *   relative to the config file; absolute paths, URLs and bare specifiers
 *   are imported as written (bare ones resolve as tsbpf's own imports do).
 * - A plugin module's default export (or export named `plugin`) is a
 *   `Plugin` or a factory `(options) => Plugin | Promise<Plugin>`;
 *   a `pipeline.replace` module's default export (or export named `stage`)
 *   is a stage or a factory returning one.
 * - The loader is the core plugin, the config's plugins in order, then the
 *   {@link configPlugin} (stages `config-programs`, `config-maps`,
 *   `config-constants`). Being listed last, its stages run after `link` and
 *   after the stages plugins placed after `link`, so the settings see the
 *   spec as the plugins leave it (map keys name maps as a renaming plugin
 *   renamed them). `pipeline.stages` and `pipeline.replace` apply last.
 * - `programs.include` (when given) sets `autoload` true on matching
 *   programs, `?` sections included, and false on the rest;
 *   `programs.exclude` sets it false.
 * - `maps` keys are names or globs, applied in key order; a key that
 *   matches no map of an object fails that object's load. `pinPath` goes to
 *   `spec.metadata.config.maps[name].pinPath` ({@link ConfigMetadata}).
 * - `constants` set `.rodata*` globals found through the ELF symbol table
 *   (1, 2, 4 or 8 bytes, in the object's byte order). BTF-typed variables
 *   (structs, arrays, signedness) are not supported yet.
 * - The backend's options are checked against its factory's
 *   `optionsSchema` when it has one.
 *
 * Every problem is a `ConfigError` whose `path` names the key and whose
 * message reads `path: detail`, e.g. `maps.counts.maxEntries: expected an
 * integer from 1 to 4294967295`; errors from a file carry the file as
 * context. Errors of plugins' stages during a load are not config errors:
 * they surface as the pipeline reports them, with the stage as context.
 *
 * ```ts
 * import { createLoader, loadConfigFile, runConfig } from "./mod.ts";
 * const config = await loadConfigFile("tsbpf.json");
 * for (const { file, spec, result } of await runConfig(config)) {
 *   console.log(file, [...spec.programs.keys()], result);
 * }
 * const loader = await createLoader(config); // or just the loader
 * ```
 *
 * @module
 */

export {
  createBackend,
  createLoader,
  loadConfigFile,
  readConfigObjects,
  resolveConfig,
  type ResolveOptions,
  runConfig,
  type RunOptions,
  type RunResult,
} from "./load.ts";
export {
  CONFIG_METADATA_KEY,
  CONFIG_STAGES,
  type ConfigMetadata,
  configPlugin,
  type ConfigPluginOptions,
} from "./plugin.ts";
export {
  CONFIG_SCHEMA,
  describeSchema,
  type JsonSchema,
  type SchemaIssue,
  validate,
  validateConfig,
  type ValidateOptions,
} from "./validate.ts";
export type * from "./types.ts";
