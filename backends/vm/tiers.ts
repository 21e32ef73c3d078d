/**
 * The VM's execution tiers by name: `interpret` (the interpreter) and `jit`
 * (programs compiled to WebAssembly). Both take the same resolved code and
 * give the same results; the conformance suite and the differential tests
 * run in both.
 *
 * @module
 */

import { compileVmCode } from "./compiler/mod.ts";
import { VmError } from "./errors.ts";
import { createInterpreter } from "./interpreter.ts";
import type { Executor, VmCode, VmRuntime, VmTier } from "./types.ts";

/** Makes code of one program runnable in a tier. */
export type TierFactory = (runtime: VmRuntime, code: VmCode) => Executor;

const TIERS: Readonly<Record<VmTier, TierFactory>> = Object.freeze({
  interpret: createInterpreter,
  jit: compileVmCode,
});

/** Every tier's name. */
export const VM_TIERS: readonly VmTier[] = Object.freeze(Object.keys(TIERS) as VmTier[]);

/** The factory of tier `tier`; a `VmError` `VM_BAD_RUN` for an unknown name. */
export function executorFactory(tier: string): TierFactory {
  const factory = (TIERS as Record<string, TierFactory>)[tier];
  if (factory === undefined) {
    throw new VmError(
      "VM_BAD_RUN",
      `unknown VM tier ${JSON.stringify(tier)} (have: ${VM_TIERS.join(", ")})`,
    );
  }
  return factory;
}
