/**
 * Run one conformance test file against the VM (either tier) and compare
 * what happened with what the file expects.
 *
 * @module
 */

import type { Instruction } from "../../../isa/instruction.ts";
import { TsbpfError } from "../../../errors/mod.ts";
import { runBytecode } from "../run.ts";
import { VM_TIERS } from "../tiers.ts";
import type { VmTier } from "../types.ts";
import { errorMatches, parseConformance } from "./format.ts";

/** Runs a program on a memory; returns r0 or throws. */
export type ConformanceExecutor = (
  program: readonly Instruction[],
  options: { memory: Uint8Array; tier: VmTier },
) => { r0: bigint };

/** Options of {@link runConformanceFile}. */
export interface ConformanceRunOptions {
  /** The tier to run in; default `"interpret"`. */
  tier?: VmTier;
  /** The file's name, for messages; default `"test"`. */
  name?: string;
  /** What runs the program; default the VM's raw runner (`runBytecode`). */
  execute?: ConformanceExecutor;
}

/** What {@link runConformanceFile} found. */
export interface ConformanceOutcome {
  /** Whether the run did what the file expects. */
  ok: boolean;
  /** What the file expects: `0x…` (r0) or `error …`. */
  expected: string;
  /** What happened: `0x…` (r0) or `error <code>: <message>`. */
  got: string;
  /** The run's error text (`<code>: <message>`), when it threw. */
  error?: string;
  /** r0, when the run returned. */
  r0?: bigint;
}

/** The VM's raw runner as a {@link ConformanceExecutor}. */
export const vmExecutor: ConformanceExecutor = (program, { memory, tier }) =>
  runBytecode(program, { memory, tier });

/** The tiers a conformance run can use: every tier of the VM. */
export function availableTiers(): VmTier[] {
  return [...VM_TIERS];
}

/**
 * Parse `text` (see `format.ts`), run it in `options.tier` and compare: r0
 * must equal `-- result` in all 64 bits, or the run must throw a typed
 * error whose `<code>: <message>` matches `-- error`. A file that does not
 * parse throws `VM_BAD_CONFORMANCE`; everything the program does is
 * reported in the outcome, never thrown.
 */
export function runConformanceFile(
  text: string,
  options: ConformanceRunOptions = {},
): ConformanceOutcome {
  const test = parseConformance(text, { name: options.name });
  const tier = options.tier ?? "interpret";
  const execute = options.execute ?? vmExecutor;
  const expected = test.error !== undefined
    ? `error ${test.error}`
    : `0x${test.result!.toString(16)}`;
  let r0: bigint;
  try {
    r0 = BigInt.asUintN(64, execute(test.program, { memory: test.memory.slice(), tier }).r0);
  } catch (e) {
    const typed = e instanceof TsbpfError;
    const error = typed ? `${e.code}: ${e.message}` : `untyped ${String(e)}`;
    const ok = typed && test.error !== undefined && errorMatches(test.error, error);
    return { ok, expected, got: `error ${error}`, error };
  }
  const got = `0x${r0.toString(16)}`;
  return { ok: test.error === undefined && r0 === test.result, expected, got, r0 };
}
