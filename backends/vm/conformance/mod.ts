/**
 * Conformance testing of the VM: the text format of bpf_conformance's test
 * files (`-- asm`, `-- mem`, `-- result`, `-- error`) and a runner that
 * runs one file in a tier and compares.
 *
 * ```ts
 * import { runConformanceFile } from "./mod.ts";
 *
 * const outcome = runConformanceFile("-- asm\nmov %r0, 1\nexit\n-- result\n0x1\n");
 * outcome.ok; // true
 * ```
 *
 * @module
 */

export { errorMatches, parseConformance } from "./format.ts";
export type { ConformanceTest, ParseConformanceOptions } from "./format.ts";
export { availableTiers, runConformanceFile, vmExecutor } from "./runner.ts";
export type { ConformanceExecutor, ConformanceOutcome, ConformanceRunOptions } from "./runner.ts";
