/**
 * The VM backend: BPF programs run in userspace with emulated maps and
 * helpers, through the same `Collection` API as the kernel backend.
 *
 * ```ts
 * import { loadCollectionSpec } from "../../mod.ts";
 * import { loadVmCollection } from "./mod.ts";
 *
 * const spec = await loadCollectionSpec(await Deno.readFile("fixtures/bpfel/xdp_counter.o"));
 * using coll = loadVmCollection(spec, { tier: "jit" });
 * const { retval } = coll.programs.get("xdp_count")!.run(new Uint8Array(100)); // 2: XDP_PASS
 * coll.maps.get("counts")!.get(1); // 1n
 * ```
 *
 * Layers, from the top: {@link loadVmCollection} and {@link vmBackend}
 * (the loader and its `Backend`), {@link VmCollectionMap} / {@link VmProgram}
 * (handles, as the kernel backend's), `context.ts` (`xdp_md`, `__sk_buff`,
 * raw contexts as `BPF_PROG_TEST_RUN` builds them), `maps/` (map types with
 * the kernel's semantics and errnos), `helpers/` (helpers by ID), the two
 * tiers (`interpreter.ts`, and `compiler/`, which translates programs to
 * WebAssembly) behind `tiers.ts`, `program.ts` (the loader's static checks
 * and resolved code form), `runtime.ts` and `memory.ts` (the arena of
 * tagged regions every access is checked against). `run.ts` runs raw
 * bytecode (conformance runners, benchmarks); `conformance/` reads the
 * common conformance test format. Everything that fails is a
 * {@link VmError} naming the pc, and for a bad access the address, size and
 * nearest region.
 *
 * @module
 */

export * from "./errors.ts";
export * from "./types.ts";
export * from "./memory.ts";
export * from "./runtime.ts";
export * from "./program.ts";
export { createInterpreter } from "./interpreter.ts";
export { compileVmCode } from "./compiler/mod.ts";
export * from "./tiers.ts";
export * from "./context.ts";
export * from "./map_handle.ts";
export * from "./program_handle.ts";
export * from "./collection.ts";
export * from "./backend.ts";
export {
  createRawRunner,
  type RawRunner,
  type RawRunOptions,
  type RawRunResult,
  runBytecode,
} from "./run.ts";
export { createVmMap, type VmMapInit } from "./maps/mod.ts";
export { defaultHelpers, HELPER_IDS } from "./helpers/mod.ts";
export * from "./conformance/mod.ts";
