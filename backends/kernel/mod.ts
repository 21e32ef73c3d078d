/**
 * The kernel backend: BPF maps and programs in the running Linux kernel
 * through bpf(2), called with Deno FFI or Bun FFI.
 *
 * ```ts
 * import { loadCollectionSpec } from "../../mod.ts";
 * import { loadCollection } from "./mod.ts";
 *
 * const spec = await loadCollectionSpec(await Deno.readFile("fixtures/bpfel/xdp_counter.o"));
 * using coll = await loadCollection(spec);
 * const { retval } = coll.programs.get("xdp_count")!.run(new Uint8Array(100)); // 2: XDP_PASS
 * coll.maps.get("counts")!.get(1); // 1n
 * ```
 *
 * Layers, from the top: {@link loadCollection} and {@link kernelBackend}
 * (the loader and its `Backend`), {@link KernelMap} / {@link KernelProgram}
 * / {@link KernelCollection} (handles), `probes.ts`, `kernel_btf.ts` and
 * `object_btf.ts` (what the kernel supports, its BTF, the object's BTF as
 * the kernel takes it), `sys.ts` (one typed wrapper per bpf(2) command),
 * `attr.ts` (the `bpf_attr` layouts) and {@link syscalls} (the FFI seam).
 * Everything that fails is a {@link KernelError}; a failed command is a
 * {@link SyscallError}, a rejected program a {@link VerifierError} with the
 * full log.
 *
 * @module
 */

export * from "./errors.ts";
export * from "./syscalls.ts";
export * from "./attr.ts";
export * from "./sys.ts";
export * from "./probes.ts";
export * from "./kernel_btf.ts";
export * from "./object_btf.ts";
export * from "./map.ts";
export * from "./program.ts";
export * from "./collection.ts";
export * from "./loader.ts";
export * from "./backend.ts";
