/**
 * tsbpf: load eBPF ELF objects in TypeScript.
 *
 * ```ts
 * import { loadCollectionSpec } from "./mod.ts";
 * const spec = await loadCollectionSpec(await Deno.readFile("fixtures/bpfel/xdp_counter.o"));
 * for (const [name, prog] of spec.programs) console.log(name, prog.sectionName);
 * ```
 *
 * @module
 */

import type { CollectionSpec } from "./collection/spec.ts";
import { Loader } from "./plugins/mod.ts";
import type { PipelineInput } from "./stages/pipeline.ts";

export * from "./errors/mod.ts";
export * from "./collection/mod.ts";
export * from "./stages/mod.ts";
export * from "./plugins/mod.ts";
export type { Backend, BackendFactory } from "./backends/types.ts";
export * from "./backends/selection.ts";
export * as json from "./backends/json/mod.ts";
export * as elf from "./elf/mod.ts";
export * as isa from "./isa/mod.ts";

let defaultLoader: Loader | undefined;

/**
 * Parse an ELF object into a {@link CollectionSpec} with the built-in
 * stages and default plugins (CO-RE against this kernel, `.kconfig`,
 * `.ksyms` and kfunc externs) and no others (cilium/ebpf's `LoadCollectionSpecFromReader`,
 * libbpf's `bpf_object__open_mem`). A list of objects is linked statically
 * into one spec, as `bpftool gen object` would link them. For plugins, use
 * {@link Loader.create}.
 */
export function loadCollectionSpec(input: PipelineInput): Promise<CollectionSpec> {
  defaultLoader ??= Loader.create();
  return defaultLoader.loadSpec(input);
}
