/**
 * CO-RE (compile once, run everywhere): relocating a program's field
 * offsets, sizes, type and enumerator facts from the BTF it was compiled
 * against to a target kernel's BTF, the way libbpf does
 * (`relo_core.c`, `bpf_core_find_cands`).
 *
 * ```ts
 * import { Btf } from "../mod.ts";
 * import { findCandidates, resolveCoreRelocation } from "./mod.ts";
 *
 * declare const local: Btf, vmlinux: Btf;
 * const relo = { typeId: 5, accessor: "0:1", kind: 0 };
 * const candidates = findCandidates(local, 5, { main: { name: "vmlinux", btf: vmlinux } });
 * const { result } = resolveCoreRelocation(local, relo, { candidates });
 * console.log(result.origVal, result.newVal, result.poison);
 * ```
 *
 * @module
 */

export * from "./kinds.ts";
export * from "./errors.ts";
export * from "./spec.ts";
export * from "./compat.ts";
export * from "./candidates.ts";
export * from "./match.ts";
export * from "./calc.ts";
export * from "./patch.ts";
export * from "./resolve.ts";
export * from "./result.ts";
export * from "./explain.ts";
