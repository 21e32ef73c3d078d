// `tsbpf load` with --all / --optional, --include / --exclude and
// --attach-to, run as a user would with whichever runtime runs this test.
// Against the real kernel; skips with the reason where bpf(2) is missing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { kernelSkipReason } from "./_kernel_util.ts";
import { fixturePath } from "./_util.ts";

const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
const isDeno = "Deno" in globalThis;
const skip = kernelSkipReason() ?? false;
const OPTIONAL = fixturePath("select/optional_progs.o");
const ATTACH = fixturePath("select/attach_targets.o");

function tsbpf(...args: string[]) {
  const argv = isDeno ? ["run", "-A", cli, ...args] : [cli, ...args];
  const r = spawnSync(process.execPath, argv, {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The lines of the program report at the end of `load`'s text output. */
function reportLines(stdout: string): string[] {
  const at = stdout.indexOf("Program report (");
  assert.ok(at >= 0, stdout);
  return stdout.slice(at).trimEnd().split("\n").slice(1).map((l) => l.trim());
}

test("select cli: without --all a rejected program fails the load (exit 1)", { skip }, () => {
  const r = tsbpf("load", OPTIONAL);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^tsbpf: load program xdp_bad: BPF_PROG_LOAD: EACCES/);
});

test("select cli: --all prints the per-program report and exits 0", { skip }, () => {
  const r = tsbpf("load", OPTIONAL, "--all", "--exclude", "kprobe_*", "--exclude", "zzz");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /loaded 2 maps, 2 programs/);
  assert.deepEqual(reportLines(r.stdout), [
    "xdp_good_a: loaded",
    "xdp_good_b: loaded",
    "xdp_bad: failed: load program xdp_bad: BPF_PROG_LOAD: EACCES (permission denied): " +
    "R9 !read_ok; left out of prog array jump (key 1)",
    "xdp_optional: skipped (optional: not autoloaded)",
    "kprobe_missing: skipped (excluded)",
  ]);
  assert.equal(r.stderr, 'tsbpf: warning: options.exclude[1]: "zzz" matches no program\n');
});

test("select cli: --optional GLOB and --include, with --json", { skip }, () => {
  const r = tsbpf("load", OPTIONAL, "--optional", "xdp_b*", "--include", "xdp_*", "--json");
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(
    doc.programs.map((p: { name: string }) => p.name),
    ["xdp_good_a", "xdp_good_b", "xdp_optional"],
  );
  assert.deepEqual(doc.report[2].error.code, "KERNEL_VERIFIER");
  assert.deepEqual(
    doc.report.map((p: { name: string; status: string; reason?: string }) =>
      [p.name, p.status, p.reason ?? ""].join(":")
    ),
    [
      "xdp_good_a:loaded:",
      "xdp_good_b:loaded:",
      "xdp_bad:failed:",
      "xdp_optional:loaded:",
      "kprobe_missing:skipped:not-included",
    ],
  );
});

test("select cli: --attach-to sets a tp_btf target; a missing one is named", { skip }, () => {
  const ok = tsbpf("load", ATTACH, "--include", "tp_*", "--attach-to", "tp_missing=sched_wakeup");
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(reportLines(ok.stdout), [
    "tp_switch: loaded",
    "tp_missing: loaded",
    "fentry_sleep: skipped (not included)",
  ]);
  const bad = tsbpf("load", ATTACH, "--include", "tp_switch", "--attach-to", "tp_switch=nope");
  assert.equal(bad.code, 1);
  assert.equal(
    bad.stderr,
    `tsbpf: load program tp_switch: attach target "nope": no typedef btf_trace_nope in the kernel's BTF\n`,
  );
});

test("select cli: bad --attach-to and --all with --optional are usage errors", () => {
  const r = tsbpf("load", ATTACH, "--attach-to", "tp_switch");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--attach-to tp_switch: expected PROG=TARGET/);
  const both = tsbpf("load", ATTACH, "--all", "--optional", "x");
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--all already makes every program optional/);
});
