// `tsbpf conformance`: the bpf_conformance plugin protocol, run as the runner would run
// it (program on stdin, memory as the first argument, r0 in hex on stdout).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { assemble } from "../isa/asm.ts";
import { encodeInstructions } from "../isa/mod.ts";
import { parseHex } from "../cli/conformance.ts";

const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
const isDeno = "Deno" in globalThis;

function plugin(stdin: string, ...args: string[]) {
  const argv = isDeno ? ["run", "-A", cli, "conformance", ...args] : [cli, "conformance", ...args];
  const r = spawnSync(process.execPath, argv, {
    input: stdin,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The program as bpf_conformance sends it: each byte in hex, then two spaces. */
function hexProgram(asm: string): string {
  const bytes = encodeInstructions(assemble(asm), { littleEndian: true });
  return [...bytes].map((b) => b.toString(16).padStart(2, "0") + "  ").join("") + "\n";
}

test("cli conformance: prints r0 in hex and exits 0", () => {
  const r = plugin(hexProgram("lddw %r0, 0x1122334455667788\nexit"));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "1122334455667788\n");
  assert.equal(BigInt(`0x${r.stdout.trim()}`), 0x1122334455667788n);
});

test("cli conformance: memory in the first argument, spaced or run together", () => {
  const prog = hexProgram("ldxw %r0, [%r1+0]\nadd %r0, %r2\nstb [%r1+0], 1\nexit");
  // bpf_conformance passes "aa  bb  …" and its (empty) plugin options as arguments.
  const spaced = plugin(prog, "11  22  33  44  ", "");
  assert.equal(spaced.code, 0, spaced.stderr);
  assert.equal(spaced.stdout, "44332215\n");
  const packed = plugin(prog, "11223344");
  assert.equal(packed.stdout, "44332215\n");
});

test("cli conformance: no memory means r1 = r2 = 0", () => {
  const r = plugin(hexProgram("mov %r0, %r2\nadd %r0, %r1\nexit"));
  assert.equal(r.stdout, "0\n");
});

test("cli conformance: helper 5 is available", () => {
  const r = plugin(hexProgram("call 5\njne %r0, 0, +1\nexit\nmov %r0, 1\nexit"));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "1\n");
});

test("cli conformance: --interpret, and --jit runs or names the missing tier", () => {
  const prog = hexProgram("mov %r0, 7\nexit");
  assert.equal(plugin(prog, "--interpret").stdout, "7\n");
  const jit = plugin(prog, "--jit");
  if (jit.code === 0) assert.equal(jit.stdout, "7\n");
  else assert.match(jit.stdout, /^VM_BAD_RUN: tier jit is not available\n$/);
  assert.equal(plugin(prog, "--jit", "--interpret").code, 2);
});

test("cli conformance: a faulting program prints one error line and exits 1", () => {
  const r = plugin(hexProgram("ldxb %r0, [%r1+4]\nexit"), "00 01 02 03");
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^VM_BAD_ACCESS: [^\n]+\n$/);
  assert.match(r.stderr, /^tsbpf: conformance: VM_BAD_ACCESS/);
});

test("cli conformance: bad programs and bad hex are error lines", () => {
  const badOpcode = plugin("ff 00 00 00 00 00 00 00 95 00 00 00 00 00 00 00");
  assert.equal(badOpcode.code, 1);
  assert.match(badOpcode.stdout, /^VM_BAD_PROGRAM: /);
  const badHex = plugin("b7 00 zz");
  assert.equal(badHex.code, 1);
  assert.match(badHex.stdout, /^VM_BAD_RUN: bad program hex "zz"/);
  const badMem = plugin(hexProgram("exit"), "0g");
  assert.match(badMem.stdout, /^VM_BAD_RUN: bad memory hex "0g"/);
  const odd = plugin(hexProgram("exit"), "123");
  assert.match(odd.stdout, /^VM_BAD_RUN: bad memory hex "123"/);
  const partial = plugin("b7 00 00");
  assert.equal(partial.code, 1);
  assert.match(partial.stdout, /^VM_BAD_PROGRAM: /);
  const empty = plugin("");
  assert.equal(empty.code, 1);
  assert.match(empty.stdout, /empty program/);
  assert.equal(plugin("", "00", "11").code, 2);
});

test("cli conformance: parseHex forms", () => {
  assert.deepEqual([...parseHex("0x0a 1B\tc\n", "x")], [10, 27, 12]);
  assert.deepEqual([...parseHex("0a1b", "x")], [10, 27]);
  assert.deepEqual([...parseHex("  ", "x")], []);
  assert.deepEqual([...parseHex("7", "x")], [7]);
});
