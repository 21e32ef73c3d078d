/**
 * Externs as plugins: `.kconfig` values ({@link kconfigPlugin}), `.ksyms`
 * variables ({@link ksymsPlugin}) and kfunc calls ({@link kfuncsPlugin}),
 * resolved the way libbpf resolves them when it loads an object. The
 * {@link Loader} adds {@link externPlugins} by default; list a plugin of
 * the same name to replace one, or build the loader with
 * `withoutExterns` to leave them all out.
 *
 * ```ts
 * import { Loader } from "../../mod.ts";
 * import { kconfigPlugin } from "./mod.ts";
 *
 * // Same plugins, but CONFIG_HZ forced and the config read from a file.
 * const loader = Loader.create([
 *   kconfigPlugin({ values: { CONFIG_HZ: 1000 }, path: "/tmp/config" }),
 * ]);
 * ```
 *
 * @module
 */

import type { Plugin } from "../types.ts";
import { type KconfigOptions, kconfigPlugin } from "./kconfig.ts";
import { kfuncsPlugin } from "./kfuncs.ts";
import { type KsymsOptions, ksymsPlugin } from "./ksyms.ts";

export {
  type EncodeKconfigOptions,
  encodeKconfigValue,
  type KcfgType,
  kcfgType,
  KCONFIG_STAGE,
  type KconfigOptions,
  kconfigPlugin,
  type KconfigValue,
  linuxKernelVersion,
  parseKconfig,
  readKernelConfig,
  type ReadKernelConfigOptions,
} from "./kconfig.ts";
export { type KsymResolution, KSYMS_STAGE, type KsymsOptions, ksymsPlugin } from "./ksyms.ts";
export { KFUNCS_STAGE, kfuncsPlugin, POISON_CALL_KFUNC_BASE } from "./kfuncs.ts";
export {
  clearKallsymsCache,
  KALLSYMS_PATH,
  kallsymsAddress,
  parseKallsyms,
  readKallsyms,
  type ReadKallsymsOptions,
} from "./kallsyms.ts";
export { EXTERNS_METADATA_KEY, unresolvedReason } from "./metadata.ts";
export { ExternError } from "./errors.ts";
export type { KernelBtfSource } from "./_kernel.ts";

/** Options of {@link externPlugins}. */
export interface ExternPluginsOptions {
  /** For the `kconfig` plugin. */
  kconfig?: KconfigOptions;
  /** For the `ksyms` and `kfuncs` plugins. */
  ksyms?: KsymsOptions;
}

/** The names of the default extern plugins. */
export const EXTERN_PLUGIN_NAMES: readonly string[] = ["kconfig", "ksyms", "kfuncs"];

/** The three extern plugins, in the order the {@link Loader} adds them. */
export function externPlugins(options: ExternPluginsOptions = {}): Plugin[] {
  return [kconfigPlugin(options.kconfig), ksymsPlugin(options.ksyms), kfuncsPlugin(options.ksyms)];
}
