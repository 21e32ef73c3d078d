import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import process from "node:process";
import { Loader } from "../plugins/mod.ts";
import { kernelSkipReason } from "./_kernel_util.ts";
import { fixturePath, haveCommand, readFixture } from "./_util.ts";

/** Objects with CO-RE relocations against this kernel, from the core and tools groups. */
const OBJECTS = [
  "core/core_kernel.o",
  ...readdirSync(fixturePath("tools")).filter((f) => f.endsWith(".o")).map((f) => `tools/${f}`),
];

function skipReason(): string | undefined {
  const kernel = kernelSkipReason();
  if (kernel !== undefined) return kernel;
  if (!haveCommand("bpftool")) return "no bpftool";
  if (process.getuid?.() !== 0) return "bpftool needs root";
  return undefined;
}

/** What libbpf did per relocation, by `prog#insn`: the new value, or `poison`. */
function libbpfRelocations(file: string): Map<string, string> {
  const dir = mkdtempSync("/sys/fs/bpf/tsbpf-core-");
  try {
    const r = spawnSync("bpftool", ["-d", "prog", "loadall", file, `${dir}/p`], {
      encoding: "utf8",
    });
    const out = new Map<string, string>();
    for (const line of r.stderr.split("\n")) {
      const patched = /prog '(\w+)': relo #\d+: patched insn #(\d+) \(\S+\) \w+ (\d+) -> (\d+)/
        .exec(line);
      if (patched) out.set(`${patched[1]}#${patched[2]}`, patched[4]);
      const poisoned = /prog '(\w+)': relo #\d+: substituting insn #(\d+) w\/ invalid insn/.exec(
        line,
      );
      if (poisoned && !out.has(`${poisoned[1]}#${Number(poisoned[2]) - 1}`)) {
        out.set(`${poisoned[1]}#${poisoned[2]}`, "poison");
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("core vs libbpf: every relocation of the core and tools fixtures patches to libbpf's value", {
  skip: skipReason(),
}, async () => {
  const loader = Loader.create();
  let compared = 0;
  for (const name of OBJECTS) {
    const spec = await loader.loadSpec(readFixture(name));
    const ours = new Map<string, string>();
    for (const prog of spec.programs.values()) {
      for (const r of prog.coreRelocations ?? []) {
        ours.set(`${prog.name}#${r.insn}`, r.status === "poisoned" ? "poison" : String(r.newValue));
      }
    }
    if (ours.size === 0) continue;
    const theirs = libbpfRelocations(fixturePath(name));
    // libbpf logs only the relocations it patched or poisoned, in every program.
    assert.deepEqual(
      Object.fromEntries([...ours].filter(([k]) => theirs.has(k))),
      Object.fromEntries(theirs),
      name,
    );
    assert.ok(theirs.size > 0, `${name}: libbpf logged relocations`);
    compared += theirs.size;
  }
  assert.ok(compared >= 40, `compared ${compared} relocations`);
});
