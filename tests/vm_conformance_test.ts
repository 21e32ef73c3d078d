// The conformance suite (tests/vm_conformance/*.data): every file once against the
// BigInt reference interpreter (so the suite itself is checked) and once per VM tier.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TsbpfError } from "../errors/mod.ts";
import {
  availableTiers,
  type ConformanceExecutor,
  parseConformance,
  runConformanceFile,
} from "../backends/vm/conformance/mod.ts";
import { referenceRun } from "./_vm_reference.ts";

const dir = fileURLToPath(new URL("./vm_conformance/", import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith(".data")).sort();

const reference: ConformanceExecutor = (program, { memory }) => referenceRun(program, memory);

test("conformance: the suite has 150+ files", () => {
  assert.ok(files.length >= 150, `${files.length} files`);
});

for (const file of files) {
  const text = readFileSync(dir + file, "utf8");
  test(`conformance reference: ${file}`, () => {
    const outcome = runConformanceFile(text, { name: file, execute: reference });
    assert.ok(outcome.ok, `${file}: expected ${outcome.expected}, got ${outcome.got}`);
  });
  for (const tier of availableTiers()) {
    test(`conformance ${tier}: ${file}`, () => {
      const outcome = runConformanceFile(text, { name: file, tier });
      assert.ok(outcome.ok, `${file}: expected ${outcome.expected}, got ${outcome.got}`);
    });
  }
}

test("conformance: every error file names a typed error code", () => {
  for (const file of files) {
    const t = parseConformance(readFileSync(dir + file, "utf8"), { name: file });
    if (t.error !== undefined) assert.match(t.error, /^VM_[A-Z_]+$/, file);
  }
});

test("conformance: a wrong expectation is reported, not thrown", () => {
  const outcome = runConformanceFile("-- asm\nmov %r0, 2\nexit\n-- result\n0x1\n", {
    execute: reference,
  });
  assert.equal(outcome.ok, false);
  assert.equal(outcome.expected, "0x1");
  assert.equal(outcome.got, "0x2");
  const err = runConformanceFile("-- asm\nmov %r0, 2\nexit\n-- error\nVM_BAD_ACCESS\n", {
    execute: reference,
  });
  assert.equal(err.ok, false);
  assert.equal(err.got, "0x2");
});

test("conformance: an error matches by substring or /regex/", () => {
  const asm = "-- asm\nldxb %r0, [%r10+0]\nexit\n";
  const run = (error: string) =>
    runConformanceFile(`${asm}-- error\n${error}\n`, { execute: reference }).ok;
  assert.ok(run("VM_BAD_ACCESS"));
  assert.ok(run("/^VM_BAD_ACCESS: pc 0/"));
  assert.ok(!run("VM_BUDGET"));
  assert.ok(!run("/^pc/"));
});

test("conformance: an untyped exception never counts as the expected error", () => {
  const outcome = runConformanceFile("-- asm\nexit\n-- error\nboom\n", {
    execute: () => {
      throw new RangeError("boom");
    },
  });
  assert.equal(outcome.ok, false);
  assert.match(outcome.got, /untyped RangeError: boom/);
});

test("conformance format: sections, comments, raw words and memory", () => {
  const t = parseConformance(
    "# header\n-- raw\n0x00000001000000b7 # mov r0, 1\n0x0000000000000095\n-- mem\n" +
      "00 ff\n0x10\n-- result\n42\n",
  );
  assert.equal(t.program.length, 2);
  assert.deepEqual([t.program[0].opcode, t.program[0].imm], [0xb7, 1]);
  assert.deepEqual([...t.memory], [0, 0xff, 0x10]);
  assert.equal(t.result, 42n);
  const c = parseConformance("-- asm\nmov %r0, -1\nexit\n-- result\n-1\n-- c\nint x;\n");
  assert.equal(c.result, 2n ** 64n - 1n);
});

test("conformance format: bad files are VM_BAD_CONFORMANCE with file and line", () => {
  const bad = (text: string, pattern: RegExp) =>
    assert.throws(
      () => parseConformance(text, { name: "t.data" }),
      (e: unknown) =>
        e instanceof TsbpfError && e.code === "VM_BAD_CONFORMANCE" && pattern.test(e.message),
    );
  bad("-- asm\nexit\n", /t\.data:\d+: no -- result or -- error/);
  bad("-- asm\nexit\n-- bogus\n", /t\.data:3: unknown section "-- bogus"/);
  bad("-- asm\nmov %r0, 1\nfrob %r0\n-- result\n1\n", /line 3: unknown mnemonic "frob"/);
  bad("-- asm\nexit\n-- mem\n00 1g\n-- result\n1\n", /t\.data:4: bad memory byte "1g"/);
  bad("-- asm\nexit\n-- result\n0xzz\n", /t\.data:4: bad result/);
  bad("-- raw\n0x95 xyz\n-- result\n1\n", /bad raw instruction word "xyz"/);
  bad("-- result\n1\n", /no -- asm or -- raw/);
  bad("mov %r0, 1\n-- result\n1\n", /t\.data:1: text before the first section/);
});
