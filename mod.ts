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
import { defaultPipeline } from "./stages/mod.ts";
import type { LoadOptions } from "./stages/mod.ts";

export * from "./errors/mod.ts";
export * from "./collection/mod.ts";
export * from "./stages/mod.ts";
export * as elf from "./elf/mod.ts";
export * as isa from "./isa/mod.ts";

/**
 * Parse an ELF object into a {@link CollectionSpec} with the default
 * pipeline (cilium/ebpf's `LoadCollectionSpecFromReader`, libbpf's
 * `bpf_object__open_mem`).
 */
export function loadCollectionSpec(
  bytes: Uint8Array,
  options: LoadOptions = {},
): Promise<CollectionSpec> {
  return defaultPipeline().run(bytes, options);
}
