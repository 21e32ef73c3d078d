/**
 * {@link KernelCollection}: the maps and programs one load created, closed
 * together.
 *
 * @module
 */

import type { KernelMap } from "./map.ts";
import type { KernelProgram } from "./program.ts";
import type { ProgramLoadReport } from "../selection.ts";

/**
 * Live maps and programs by name (cilium/ebpf's `Collection`). Closing it
 * closes every fd; pinned maps stay in the bpffs.
 *
 * ```ts
 * import { loadCollectionSpec } from "../../mod.ts";
 * import { loadCollection } from "./loader.ts";
 *
 * const spec = await loadCollectionSpec(await Deno.readFile("fixtures/bpfel/xdp_counter.o"));
 * using coll = await loadCollection(spec);
 * const { retval } = coll.programs.get("xdp_count")!.run(new Uint8Array(100));
 * ```
 */
export class KernelCollection implements Disposable {
  /** Maps by the spec's names. */
  readonly maps: Map<string, KernelMap>;
  /** Programs by the spec's names. */
  readonly programs: Map<string, KernelProgram>;

  /**
   * What loaded differently from the spec, and why: BTF the kernel refused
   * (for the object or one map), like libbpf's warnings. Empty normally.
   */
  readonly diagnostics: readonly string[];

  #report: readonly ProgramLoadReport[] | (() => readonly ProgramLoadReport[]);

  /**
   * A collection owning `maps` and `programs`. `options.report` may be a
   * function: the loader passes one, so a load whose report nobody reads
   * doesn't build it.
   */
  constructor(
    maps: Map<string, KernelMap>,
    programs: Map<string, KernelProgram>,
    options: {
      diagnostics?: readonly string[];
      report?: readonly ProgramLoadReport[] | (() => readonly ProgramLoadReport[]);
    } = {},
  ) {
    this.maps = maps;
    this.programs = programs;
    this.diagnostics = options.diagnostics ?? [];
    this.#report = options.report ?? [];
  }

  /**
   * What became of every program of the spec, in spec order: `loaded`,
   * `skipped` (with the reason) or `failed` (an optional program, with its
   * error). Empty for a collection made without a spec.
   */
  get report(): readonly ProgramLoadReport[] {
    if (typeof this.#report === "function") this.#report = this.#report();
    return this.#report;
  }

  /** A map by name, or `undefined` when there is none. */
  map(name: string): KernelMap | undefined {
    return this.maps.get(name);
  }

  /** A program by name, or `undefined`. */
  program(name: string): KernelProgram | undefined {
    return this.programs.get(name);
  }

  /** Close every program, then every map; later calls are no-ops. */
  close(): void {
    let first: unknown;
    for (const handle of this.programs.values()) {
      try {
        handle.close();
      } catch (err) {
        first ??= err;
      }
    }
    for (const handle of this.maps.values()) {
      try {
        handle.close();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  /** {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
