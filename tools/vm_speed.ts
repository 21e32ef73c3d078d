/**
 * Measure the VM's speed on the benchmark programs in a directory of raw
 * little-endian bytecode (`name.bin`) with `name.json` describing the
 * memory (`mem_len`, `mem_init`) and the expected r0. Prints ns per
 * executed instruction for each tier that is registered.
 *
 * Usage: `deno run -A tools/vm_speed.ts [dir] [tier]`
 *
 * @module
 */

import process from "node:process";
import { createRawRunner } from "../backends/vm/run.ts";
import type { VmTier } from "../backends/vm/types.ts";

const dir = Deno.args[0] ?? "/work/shared/bench/vm";
const tier = (Deno.args[1] ?? "interpret") as VmTier;
const names = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".bin"))
  .map((e) => e.name.slice(0, -4)).sort();
for (const name of names) {
  const bin = Deno.readFileSync(`${dir}/${name}.bin`);
  const meta = JSON.parse(Deno.readTextFileSync(`${dir}/${name}.json`));
  const memory = new Uint8Array(meta.mem_len ?? 0);
  if (String(meta.mem_init).startsWith("pat131")) {
    for (let i = 0; i < memory.length; i++) memory[i] = (i * 131 + 7) & 0xff;
  }
  const runner = createRawRunner(bin, { memory, tier, budget: 2e9 });
  // Memory carries over between runs for some programs (bubble sorts), so
  // only the first run is checked against the expected r0.
  let mem = memory;
  const first = runner.run(mem);
  // expected_r0 may exceed 2^53: read its digits, not the parsed number.
  const text = Deno.readTextFileSync(`${dir}/${name}.json`);
  const expected = BigInt(/"expected_r0":\s*(\d+)/.exec(text)?.[1] ?? "-1");
  const ok = expected === first.r0;
  mem = first.memory;
  let steps = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let runs = 0;
  while (performance.now() - t0 < 1500 || runs < 3) {
    const r = runner.run(mem);
    mem = r.memory;
    steps += r.steps;
    runs++;
  }
  const ns = ((performance.now() - t0) * 1e6) / steps;
  // CPU time is steadier than wall time on a busy machine.
  const c1 = process.cpuUsage(c0);
  const cpuNs = ((c1.user + c1.system) * 1e3) / steps;
  console.log(
    `${name.padEnd(20)} ${ok ? "ok " : "BAD"} ${ns.toFixed(2)} ns/insn wall, ${
      cpuNs.toFixed(2)
    } cpu (${runs} runs, ${steps} insns)`,
  );
  runner.close();
}
