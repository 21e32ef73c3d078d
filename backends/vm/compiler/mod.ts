/**
 * The VM's compiled tier: each {@link VmCode} is translated once into a
 * WebAssembly module (registers in locals, memory accesses checked against
 * the arena's region table, the budget charged per basic block) that the
 * engine compiles to machine code.
 *
 * ```ts
 * import { runBytecode } from "../run.ts";
 *
 * // r0 = 2; exit
 * const bytes = new Uint8Array([0xb7, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
 * runBytecode(bytes, { tier: "jit" }).r0; // 2n
 * ```
 *
 * @module
 */

export { compileVmCode, MAY_GOTO_LIMIT } from "./executor.ts";
export { type GeneratedModule, generateModule } from "./codegen.ts";
