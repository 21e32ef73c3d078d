/**
 * The plugin contract: a plugin is a plain object of named hooks.
 *
 * @module
 */

import type { BackendFactory } from "../backends/types.ts";
import type { SectionKindRule } from "../stages/classify.ts";
import type { StageEdit } from "../stages/pipeline.ts";
import type { SectionDef } from "../stages/section_defs.ts";

/**
 * A plugin. Every hook is optional; the built-in stages are themselves
 * provided by the `core` plugin through the same hooks.
 *
 * Order: plugins apply in the order they are listed, after `core`.
 * - `sectionKinds` are tried before those of later plugins and before the
 *   built-in rules; a section that rules of two plugins match is an error
 *   (`PLUGIN_SECTION_CONFLICT`), not a silent first-wins.
 * - `sectionDefs` (program section names, like libbpf's
 *   `libbpf_register_prog_handler`) are tried before later plugins' and
 *   before libbpf's table.
 * - `stages` edits apply in order, after those of earlier plugins, so a
 *   plugin can place its stage relative to one an earlier plugin added.
 *   Stages placed `before` or `after` the same stage run in list order.
 *   An edit naming a stage that does not exist is an error naming the
 *   plugin.
 * - `backends` and `helpers` register by name / helper ID; registering one
 *   that another plugin registered is an error.
 */
export interface Plugin {
  /** Unique name; also the owner recorded on sections it claims. */
  readonly name: string;
  /** Claim sections for kinds of this plugin's own (`prefix` or `match`). */
  sectionKinds?: readonly Omit<SectionKindRule, "owner">[];
  /** Extra program section names, tried before libbpf's table. */
  sectionDefs?: readonly SectionDef[];
  /** Stages to insert before/after, replace, or wrap a named stage. */
  stages?: readonly StageEdit[];
  /** Backends by name. */
  backends?: Readonly<Record<string, BackendFactory>>;
  /** VM helpers by helper ID (used by the VM backend). */
  helpers?: Readonly<Record<number, unknown>>;
}

/** A plugin module's default export: a plugin, or a factory taking options. */
export type PluginModule =
  | Plugin
  | ((options: Record<string, unknown>) => Plugin | Promise<Plugin>);
