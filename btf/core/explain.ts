/**
 * Explaining a verifier rejection caused by a poisoned CO-RE relocation,
 * like libbpf's `fixup_verifier_log`: the log names the poisoned call by
 * instruction index; this names the relocation that failed there.
 *
 * @module
 */

import type { CoreRelocationResult } from "./result.ts";
import { CORE_POISON_IMM } from "./patch.ts";

const POISON_LINE = new RegExp(`^(\\d+): \\(85\\) call unknown#${CORE_POISON_IMM}\\b`, "gm");

/** The access without the offset libbpf prints after `@`: `struct foo.x (0:1)`. */
function shortSpec(spec: string): string {
  return spec.replace(/ @ offset [0-9.]+\)$/, ")");
}

/**
 * Text naming each failed relocation the verifier reached, one line per
 * poisoned instruction the log shows, e.g. `insn #12: relocation byte_off
 * of struct task_struct___old.state (0:1) failed: no field "state" in
 * target struct task_struct`; `undefined` when the log shows none (or none
 * of this program's poisoned relocations).
 */
export function explainCoreFailure(
  log: string,
  results: readonly CoreRelocationResult[],
): string | undefined {
  const lines: string[] = [];
  const seen = new Set<number>();
  for (const m of log.matchAll(POISON_LINE)) {
    const insn = Number(m[1]);
    if (seen.has(insn)) continue;
    seen.add(insn);
    // A poisoned ld_imm64 is two calls: the second slot belongs to the first.
    const r = results.find((r) =>
      r.status === "poisoned" && (r.insn === insn || r.insn === insn - 1)
    );
    if (r === undefined) continue;
    lines.push(
      `insn #${insn}: relocation ${r.kindName} of ${shortSpec(r.spec)} failed: ${
        r.reason ?? "no matching target"
      }`,
    );
  }
  if (lines.length === 0 && log.includes(`invalid func unknown#${CORE_POISON_IMM}`)) {
    const poisoned = results.filter((r) => r.status === "poisoned");
    if (poisoned.length === 1) {
      const r = poisoned[0];
      lines.push(
        `insn #${r.insn}: relocation ${r.kindName} of ${shortSpec(r.spec)} failed: ${
          r.reason ?? "no matching target"
        }`,
      );
    }
  }
  return lines.length === 0 ? undefined : lines.join("\n");
}
