/**
 * Plugins: plain objects of named hooks that claim section kinds, add
 * program section names, edit the pipeline, and register backends and VM
 * helpers. {@link Loader} resolves a list of them; the built-in stages come
 * from the {@link corePlugin} through the same contract.
 *
 * ```ts
 * import { Loader, type Plugin } from "./mod.ts";
 *
 * const noDebugPrints: Plugin = {
 *   name: "no-printk",
 *   stages: [{
 *     after: "link",
 *     stage: {
 *       name: "no-printk",
 *       run(ctx) {
 *         for (const p of ctx.programs.values()) {
 *           if (p.instructions.some((i) => i.opcode === 0x85 && i.src === 0 && i.imm === 6)) {
 *             throw new Error(`${p.name} calls bpf_trace_printk`);
 *           }
 *         }
 *       },
 *     },
 *   }],
 * };
 * const loader = Loader.create([noDebugPrints]);
 * ```
 *
 * @module
 */

export type { Plugin, PluginModule } from "./types.ts";
export { corePlugin } from "./core.ts";
export { Loader } from "./loader.ts";
export type { LoaderOptions } from "./loader.ts";
