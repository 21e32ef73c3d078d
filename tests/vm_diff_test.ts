// Differential tests: random programs the kernel verifier accepts must give the
// same retval, output packet and map contents in the VM (both tiers) as in the
// kernel. A few hundred runs per CI run; the long runs are `tools/diff_fuzz.ts`.
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  formatReproducer,
  fuzz,
  type FuzzReport,
  kernelSkipReason,
  loadVm,
  type Tier,
  tierAvailable,
  type VmBackend,
} from "../tools/diff_fuzz.ts";

const RUNS = Number(process.env.TSBPF_DIFF_RUNS ?? 500);
const SEED = process.env.TSBPF_DIFF_SEED !== undefined
  ? Number(process.env.TSBPF_DIFF_SEED)
  : Date.now() & 0x7fffffff;

const kernelSkip = kernelSkipReason();
if (kernelSkip !== undefined) console.log(`vm diff tests skipped: ${kernelSkip}`);

test("vm diff: the kernel verifier accepts the generated programs", {
  skip: kernelSkip ?? false,
}, () => {
  // Kernel only: the generator stays useful while the VM side is unavailable.
  const report = fuzz({ runs: RUNS, seed: SEED, tiers: [] });
  const f = report.failure;
  if (f !== undefined) assert.fail(`run ${f.run}:\n${formatReproducer(f.case, f.result)}`);
  let rejected = 0;
  for (const n of report.stats.rejected.values()) rejected += n;
  assert.ok(
    rejected <= RUNS / 10,
    `the verifier rejected ${rejected} of ${RUNS}: ${[...report.stats.rejected.keys()].join("; ")}`,
  );
});

const vmOrReason = kernelSkip === undefined ? await loadVm() : kernelSkip;
const SKIP = typeof vmOrReason === "string" ? vmOrReason : undefined;
const VM = typeof vmOrReason === "string" ? undefined : vmOrReason;
if (SKIP !== undefined && kernelSkip === undefined) console.log(`vm diff tests skipped: ${SKIP}`);
else console.log(`vm diff tests: ${RUNS} runs per tier, seed ${SEED} (TSBPF_DIFF_SEED replays)`);

function check(vm: VmBackend, tier: Tier): void {
  const report: FuzzReport = fuzz({ runs: RUNS, seed: SEED, tiers: [tier], vm });
  const f = report.failure;
  if (f !== undefined) {
    assert.fail(
      `kernel and VM (${tier}) disagree at run ${f.run}, seed ${SEED} ` +
        `(replay: deno run -A tools/diff_fuzz.ts --seed ${SEED} --tier ${tier}):\n` +
        formatReproducer(f.case, f.result),
    );
  }
  let rejected = 0;
  for (const n of report.stats.rejected.values()) rejected += n;
  // Programs the verifier refuses test nothing: the generator must keep them rare.
  assert.ok(
    rejected <= RUNS / 10,
    `the verifier rejected ${rejected} of ${RUNS}: ${[...report.stats.rejected.keys()].join("; ")}`,
  );
}

for (const tier of ["interpret", "jit"] as const) {
  const tierSkip = SKIP ?? (tierAvailable(VM!, tier) ? undefined : `tier ${tier} is not available`);
  if (SKIP === undefined && tierSkip !== undefined) console.log(`vm diff ${tier}: ${tierSkip}`);
  test(
    `vm diff: ${tier} agrees with the kernel on random verified programs`,
    { skip: tierSkip ?? false },
    () => check(VM!, tier),
  );
}
