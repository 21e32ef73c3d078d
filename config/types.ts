/**
 * The config as TypeScript types: {@link TsbpfConfig} mirrors
 * `config/schema.json` field for field; {@link ResolvedConfig} is a config
 * after validation, with defaults filled in and paths made absolute.
 *
 * @module
 */

/**
 * A module to import: a specifier, or a specifier with options for the
 * module's factory. `./` and `../` specifiers are relative to the config
 * file; absolute paths, URLs and bare names are imported as written.
 */
export type ModuleEntry = string | {
  /** The module specifier. */
  module: string;
  /** Options passed to the module's factory; default `{}`. */
  options?: Record<string, unknown>;
};

/** Edits to the stage pipeline, applied after the plugins (`pipeline` in the file). */
export interface PipelineConfig {
  /**
   * The exact stages to run, in order, by name. Every name must exist once
   * the plugins have applied; stages left out do not run. The config's own
   * stages are not listed: they always run, where the plugins left them
   * (after `link` and the stages anchored after it), or last when those
   * are left out.
   */
  stages?: string[];
  /**
   * Stages to replace, by name. The module's default export (or its export
   * named `stage`) is a stage `{ name, run }` or a factory `(options) => Stage`.
   */
  replace?: Record<string, ModuleEntry>;
}

/** The backend that receives each loaded spec (`backend` in the file). */
export interface BackendConfig {
  /** Name of a backend registered by the core or a plugin; default `"json"`. */
  name?: string;
  /** Options for the backend, checked against its `optionsSchema` when it has one; default `{}`. */
  options?: Record<string, unknown>;
}

/**
 * Which programs a backend loads (`programs` in the file), by name glob:
 * `*`, `?`, `[abc]`, `[a-z]`, `[!abc]`.
 */
export interface ProgramSelection {
  /**
   * When given, only programs matching one of these globs load (`autoload`
   * true, even for programs from `?` sections); the others do not.
   */
  include?: string[];
  /** Programs matching one of these globs do not load, whatever `include` says; default `[]`. */
  exclude?: string[];
  /**
   * Attach targets by program name (not glob), over `ProgramSpec.attachTo`:
   * `{ "trace_open": "do_sys_openat2" }`; default `{}`.
   */
  attachTo?: Record<string, string>;
}

/** Settings for the maps a `maps` key matches. */
export interface MapOverride {
  /** max_entries, 1 to 4294967295 (not for data-section maps, which hold one entry). */
  maxEntries?: number;
  /** `"byName"` pins the map under its name (LIBBPF_PIN_BY_NAME); `"none"` does not pin. */
  pinning?: "none" | "byName";
  /**
   * Directory in bpffs to pin under (libbpf's `pin_root_path`). Recorded in
   * the spec's metadata at `config.maps.<name>.pinPath` for the kernel
   * backend.
   */
  pinPath?: string;
}

/**
 * Value of a read-only global: a safe integer, a decimal or `0x`-hex string
 * (for values past 2^53, optionally negative), or a boolean (1-byte globals).
 */
export type ConstantValue = number | string | boolean;

/** A tsbpf config, as the JSON file holds it or as a TypeScript object. */
export interface TsbpfConfig {
  /** Where editors find the schema, e.g. `"../config/schema.json"`; ignored. */
  $schema?: string;
  /** eBPF ELF object files to load, relative to the config file; default `[]`. */
  objects?: string[];
  /**
   * Link `objects` statically into ONE collection (as `bpftool gen object`
   * would) instead of loading each on its own; default `false`.
   */
  link?: boolean;
  /** Plugin modules, applied in order after the core plugin; default `[]`. */
  plugins?: ModuleEntry[];
  /** Edits to the stage pipeline after the plugins apply. */
  pipeline?: PipelineConfig;
  /** The backend each spec goes to; default `{ name: "json", options: {} }`. */
  backend?: BackendConfig;
  /** Which programs load (`autoload`), by name glob. */
  programs?: ProgramSelection;
  /** Map overrides by name or name glob, applied in key order; a key matching no map is an error. */
  maps?: Record<string, MapOverride>;
  /**
   * Values of globals in `.rodata` / `.rodata.*` by symbol name, written into
   * the data before the backend sees it. Globals of 1, 2, 4 or 8 bytes only,
   * until BTF-typed variables land.
   */
  constants?: Record<string, ConstantValue>;
  /**
   * Values of `__kconfig` externs by name (`CONFIG_*`, also `LINUX_*`), over
   * the running kernel's config: `.config` text (`"y"`, `"m"`, `"0x10"`,
   * `"\"text\""`), an integer or a boolean.
   */
  kconfig?: Record<string, string | number | boolean>;
  /** CO-RE relocations: where they resolve; default the running kernel's BTF. */
  core?: CoreConfig;
}

/** CO-RE settings (`core` in the file). */
export interface CoreConfig {
  /**
   * Target BTF, relative to the config file: a raw BTF blob or an ELF
   * file with `.BTF` (like libbpf's `btf_custom_path`); module BTFs are
   * not searched then. Default: `/sys/kernel/btf/vmlinux`.
   */
  btf?: string;
}

/** A module entry after resolution. */
export interface ResolvedModule {
  /** Where it sits in the config, for messages: `plugins[1]`, `pipeline.replace.link`. */
  path: string;
  /** The specifier as written. */
  specifier: string;
  /** What `import()` gets: a `file:` URL for paths, else the specifier as written. */
  url: string;
  /** Options for the module's factory; `undefined` when the config gives none. */
  options?: Record<string, unknown>;
}

/** The program, map and constant settings the config plugin applies during a load. */
export interface ConfigSettings {
  /**
   * Program selection (`include` undefined means "every program") and
   * attach targets by program name.
   */
  programs: {
    include?: readonly string[];
    exclude: readonly string[];
    attachTo?: Readonly<Record<string, string>>;
  };
  /** Map overrides by name or glob, in key order. */
  maps: Readonly<Record<string, MapOverride>>;
  /** Values of read-only globals by symbol name. */
  constants: Readonly<Record<string, ConstantValue>>;
  /** `__kconfig` extern values over the kernel's config; absent when the config gives none. */
  kconfig?: Readonly<Record<string, string | number | boolean>>;
  /** CO-RE target BTF (absolute path); absent for the running kernel's. */
  core?: Readonly<CoreConfig>;
}

/** A validated config with defaults filled in and paths made absolute. */
export interface ResolvedConfig extends ConfigSettings {
  /** The config file, absolute; `undefined` for a config given as an object. */
  file?: string;
  /** Directory relative paths resolve against, absolute. */
  baseDir: string;
  /** Object files, absolute paths. */
  objects: string[];
  /** Whether `objects` are linked into one collection. */
  link: boolean;
  /** Plugin modules in order. */
  plugins: ResolvedModule[];
  /** Pipeline edits. */
  pipeline: { stages?: string[]; replace: Record<string, ResolvedModule> };
  /** The backend and its options. */
  backend: { name: string; options: Record<string, unknown> };
}
