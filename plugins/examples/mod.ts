/**
 * Three example plugins, each small and meant to be read as a how-to:
 *
 * | module | hook | does |
 * | --- | --- | --- |
 * | `meta_section.ts` | `sectionKinds` + a stage after `classify` | reads NUL-separated `key=value` records from `.tsbpf.meta` into `spec.metadata["tsbpf.meta"]` |
 * | `map_prefix.ts` | a stage after `link` | renames every map to `prefix + name`, references and map-of-maps contents included |
 * | `forbid_helpers.ts` | a stage after `link` | fails the load when a program calls a forbidden helper |
 *
 * From the API, create them with options and hand them to a loader. Each
 * places its stage next to a core stage (`after: "classify"`, `after:
 * "link"`); plugins anchored on the same stage run in list order:
 *
 * ```ts
 * import { Loader } from "../../mod.ts";
 * import { forbidHelpersPlugin, mapPrefixPlugin, metaSectionPlugin } from "./mod.ts";
 *
 * const loader = Loader.create([
 *   metaSectionPlugin(),
 *   mapPrefixPlugin({ prefix: "app_" }),
 *   forbidHelpersPlugin({ helpers: ["trace_printk", "probe_write_user"] }),
 * ]);
 * const spec = await loader.loadSpec(await Deno.readFile("fixtures/bpfel/meta_section.o"));
 * console.log(spec.metadata["tsbpf.meta"], [...spec.maps.keys()]);
 * // { owner: "net-team", version: "3", description: "drops short packets" } [ "app_short_drops", ".rodata" ]
 * ```
 *
 * From a config file, name each module; its default export is a factory
 * that takes the `options` object (checked at run time, so a typo fails
 * before any object loads):
 *
 * ```json
 * {
 *   "plugins": [
 *     { "module": "./plugins/examples/meta_section.ts" },
 *     { "module": "./plugins/examples/map_prefix.ts", "options": { "prefix": "app_" } },
 *     { "module": "./plugins/examples/forbid_helpers.ts", "options": { "helpers": ["trace_printk", 36] } }
 *   ]
 * }
 * ```
 *
 * Bad options throw a `ConfigError` with code `PLUGIN_INVALID_OPTIONS` and
 * the option's path, e.g. `plugin forbid_helpers: helpers[0]: unknown helper
 * name "bpf_printk": …`.
 *
 * @module
 */

export {
  META_ERRORS,
  META_KIND,
  META_PLUGIN,
  META_SECTION,
  type MetaRecord,
  type MetaSectionOptions,
  metaSectionPlugin,
  parseMetaRecords,
} from "./meta_section.ts";
export {
  BPF_OBJ_NAME_LEN,
  isDataSectionName,
  MAP_PREFIX_CONFLICT,
  MAP_PREFIX_PLUGIN,
  type MapPrefixOptions,
  mapPrefixPlugin,
} from "./map_prefix.ts";
export {
  describeHelper,
  FORBID_HELPERS_PLUGIN,
  type ForbidHelpersOptions,
  forbidHelpersPlugin,
  HELPER_FORBIDDEN,
  HELPER_IDS,
  helperId,
} from "./forbid_helpers.ts";
export { PLUGIN_INVALID_OPTIONS } from "./_options.ts";
