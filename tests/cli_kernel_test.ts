// The kernel commands of the tsbpf command line (load, run FILE --program,
// map dump) against the real kernel, run as a user would with whichever
// runtime runs this test (deno run -A cli.ts …, or bun cli.ts …).
// Skips (with the reason printed) where bpf(2), FFI or the bpffs is missing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { syscalls, VerifierError } from "../backends/kernel/mod.ts";
import { kernelFailure, pinName } from "../cli/load.ts";
import { parseHex } from "../cli/test_run.ts";
import { UsageError } from "../cli/command.ts";
import { SHF_ALLOC, SHF_EXECINSTR, SHT_PROGBITS, STB_GLOBAL, STT_FUNC } from "../elf/constants.ts";
import { ElfBuilder } from "./_elf_builder.ts";
import { fixturePath } from "./_util.ts";

const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
const root = fileURLToPath(new URL("..", import.meta.url));
const isDeno = "Deno" in globalThis;

function tsbpf(...args: string[]) {
  const argv = isDeno ? ["run", "-A", cli, ...args] : [cli, ...args];
  const r = spawnSync(process.execPath, argv, {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Why the kernel commands can't run here, or `undefined` when they can. */
function kernelSkipReason(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  try {
    syscalls();
  } catch (err) {
    return `no FFI: ${(err as Error).message}`;
  }
  const mounts = existsSync("/proc/mounts") ? readFileSync("/proc/mounts", "utf8") : "";
  if (!/ \/sys\/fs\/bpf bpf /.test(mounts)) return "no bpffs mounted at /sys/fs/bpf";
  // One real load tells whether bpf(2) works for this user (root, CAP_BPF).
  const probe = tsbpf("load", fixturePath("bpfel/socket_filter.o"));
  if (probe.code !== 0) return `bpf(2) unavailable: ${probe.stderr.trim()}`;
  return undefined;
}

const SKIP = kernelSkipReason();
if (SKIP !== undefined) console.log(`cli kernel tests skipped: ${SKIP}`);
const opts = { skip: SKIP ?? false };

const XDP = fixturePath("bpfel/xdp_counter.o");

/** A temporary directory under /sys/fs/bpf, removed after `fn`. */
async function withPinDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = `/sys/fs/bpf/tsbpf_cli_test_${process.pid}_${Math.random().toString(36).slice(2)}`;
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A temporary directory on the normal filesystem, removed after `fn`. */
async function withTempDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-cli-kernel-"));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * An object with one XDP program the verifier rejects after `moves`
 * instructions (`r1 = 0` each): it exits without setting r0 ("R0 !read_ok").
 */
function rejectedObject(moves: number): Uint8Array {
  const insns = new Uint8Array((moves + 1) * 8);
  for (let i = 0; i < moves; i++) insns.set([0xb7, 0x01, 0, 0, 0, 0, 0, 0], i * 8);
  insns.set([0x95, 0, 0, 0, 0, 0, 0, 0], moves * 8);
  const b = new ElfBuilder({ littleEndian: true });
  const xdp = b.addSection({
    name: "xdp",
    type: SHT_PROGBITS,
    flags: SHF_ALLOC | SHF_EXECINSTR,
    data: insns,
    addralign: 8,
  });
  b.addSymbol({
    name: "no_r0",
    section: xdp,
    type: STT_FUNC,
    bind: STB_GLOBAL,
    size: insns.length,
  });
  b.addSection({
    name: "license",
    type: SHT_PROGBITS,
    flags: SHF_ALLOC,
    data: new TextEncoder().encode("GPL\0"),
    addralign: 1,
  });
  return b.build().bytes;
}

test("cli kernel: load prints the map and the program, then closes them", opts, () => {
  const r = tsbpf("load", XDP);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /loaded 1 map, 1 program\n/);
  assert.match(
    r.stdout,
    /Maps \(1\):\n\s+name\s+type\s+key\s+value\s+max\s+flags\s+fd\s+id\s+pinned\n/,
  );
  assert.match(r.stdout, /\n\s+counts\s+array\s+4\s+8\s+2\s+0x0\s+\d+\s+\d+\s+-\n/);
  assert.match(
    r.stdout,
    /Programs \(1\):\n\s+name\s+type\s+fd\s+id\s+tag\s+jited\s+xlated\s+insns/,
  );
  assert.match(
    r.stdout,
    /\n\s+xdp_count\s+xdp\s+\d+\s+\d+\s+[0-9a-f]{16}\s+\d+\s+\d+\s+(\d+|-)\s+-\n/,
  );
});

test("cli kernel: load --json is the report as data", opts, () => {
  const r = tsbpf("load", "--json", XDP);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.maps.length, 1);
  assert.deepEqual(
    { ...doc.maps[0], fd: 0, id: 0 },
    {
      name: "counts",
      type: "array",
      keySize: 4,
      valueSize: 8,
      maxEntries: 2,
      flags: 0,
      fd: 0,
      id: 0,
      btf: false,
      pinned: null,
    },
  );
  assert.ok(doc.maps[0].id > 0);
  const [prog] = doc.programs;
  assert.equal(prog.name, "xdp_count");
  assert.equal(prog.type, "xdp");
  assert.match(prog.tag, /^[0-9a-f]{16}$/);
  assert.ok(prog.id > 0 && prog.xlatedSize > 0, JSON.stringify(prog));
});

test(
  "cli kernel: load --pin pins every map and program; map dump reads them back",
  opts,
  async () => {
    await withPinDir((dir) => {
      const r = tsbpf("load", XDP, "--pin", dir);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(existsSync(join(dir, "counts")), "map pinned");
      assert.ok(existsSync(join(dir, "xdp_count")), "program pinned");
      assert.match(r.stdout, new RegExp(`counts .*${dir}/counts\\n`));
      assert.match(r.stdout, new RegExp(`xdp_count .*${dir}/xdp_count\\n`));

      const dump = tsbpf("map", "dump", join(dir, "counts"));
      assert.equal(dump.code, 0, dump.stderr);
      assert.match(dump.stdout, /array map "counts" .*: 2 entries\n/);
      const entries = dump.stdout.split("\n").filter((l) => l.startsWith("key: "));
      assert.deepEqual(entries, [
        "key: 00 00 00 00  value: 00 00 00 00 00 00 00 00",
        "key: 01 00 00 00  value: 00 00 00 00 00 00 00 00",
      ]);

      const json = tsbpf("map", "dump", "--json", join(dir, "counts"));
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), [
        { key: "00000000", value: "0000000000000000" },
        { key: "01000000", value: "0000000000000000" },
      ]);

      // Loading again into the same directory: the program's pin is taken.
      const again = tsbpf("load", XDP, "--pin", dir);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /pin map counts at .*: BPF_OBJ_PIN: EEXIST/);
    });
  },
);

test("cli kernel: map dump decodes values with the map's BTF", opts, async () => {
  await withPinDir((dir) => {
    const r = tsbpf("load", fixturePath("bpfel/data_sections.o"), "--pin", dir);
    assert.equal(r.code, 0, r.stderr);
    // bpffs refuses dots in names: .rodata pins as _rodata.
    assert.equal(pinName(".rodata"), "_rodata");
    const dump = tsbpf("map", "dump", join(dir, "_rodata"));
    assert.equal(dump.code, 0, dump.stderr);
    assert.match(dump.stdout, /array map "\.rodata" .*, BTF: 1 entry\n/);
    assert.match(dump.stdout, /= 0: \{"ro_limit":1500,"ro_mode":2\}/);
    const json = JSON.parse(tsbpf("map", "dump", "--json", join(dir, "_rodata")).stdout);
    assert.deepEqual(json[0].formatted, { key: 0, value: { ro_limit: 1500, ro_mode: 2 } });

    const btfMaps = tsbpf("load", fixturePath("bpfel/btf_maps.o"), "--pin", join(dir, "btf"));
    assert.equal(btfMaps.code, 0, btfMaps.stderr);
    const array = JSON.parse(tsbpf("map", "dump", "--json", join(dir, "btf", "btf_array")).stdout);
    assert.equal(array.length, 4);
    assert.deepEqual(array[3].formatted, { key: 3, value: 0 });
    const ringbuf = tsbpf("map", "dump", join(dir, "btf", "btf_ringbuf"));
    assert.equal(ringbuf.code, 1);
    assert.match(ringbuf.stderr, /dump ringbuf map btf_ringbuf .*BPF_MAP_GET_NEXT_KEY: E/);
  });
});

test("cli kernel: map dump errors", opts, () => {
  const missing = tsbpf("map", "dump", `/sys/fs/bpf/tsbpf_no_such_pin_${process.pid}`);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /BPF_OBJ_GET: ENOENT/);
  assert.equal(tsbpf("map").code, 2);
  assert.equal(tsbpf("map", "dump").code, 2);
  assert.equal(tsbpf("map", "frob", "/sys/fs/bpf/x").code, 2);
});

test("cli kernel: run FILE --program tests a program with BPF_PROG_TEST_RUN", opts, () => {
  const pass = tsbpf("run", XDP, "--program", "xdp_count", "--data", "00".repeat(100));
  assert.equal(pass.code, 0, pass.stderr);
  assert.match(pass.stdout, /^retval: 2 \(XDP_PASS\)\n/);
  assert.match(pass.stdout, /\nduration: \d+ ns per run \(1 run\)\n/);
  assert.match(pass.stdout, /\ndata \(100 bytes\):\n {2}0000: 00 00 00/);

  const drop = tsbpf("run", XDP, "-p", "xdp_count", "--data", "ab".repeat(40));
  assert.equal(drop.code, 0, drop.stderr);
  assert.match(drop.stdout, /^retval: 1 \(XDP_DROP\)\n/);
  assert.match(drop.stdout, /\n {2}0020: ab ab ab ab ab ab ab ab\n$/);

  const repeat = tsbpf(
    "run",
    XDP,
    "--program",
    "xdp_count",
    "--data",
    "00".repeat(100),
    "--repeat",
    "10",
  );
  assert.equal(repeat.code, 0, repeat.stderr);
  assert.match(repeat.stdout, /^retval: 2 /);
  assert.match(repeat.stdout, /\nduration: \d+ ns per run \(10 runs\)\n/);

  const json = tsbpf(
    "run",
    XDP,
    "--program",
    "xdp_count",
    "--data",
    "0x" + "11".repeat(70),
    "--json",
  );
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout);
  assert.equal(doc.retval, 2);
  assert.equal(doc.data, "11".repeat(70));
  assert.equal(doc.repeat, 1);
  assert.equal(typeof doc.duration, "number");
});

test("cli kernel: run --data @file reads the packet from a file", opts, async () => {
  await withTempDir((dir) => {
    const packet = join(dir, "packet.bin");
    writeFileSync(packet, new Uint8Array(77).fill(0x5a));
    const r = tsbpf(
      "run",
      fixturePath("bpfel/socket_filter.o"),
      "--program",
      "socket_len",
      "--data",
      `@${packet}`,
    );
    assert.equal(r.code, 0, r.stderr);
    // A socket filter's run starts after the 14-byte Ethernet header.
    assert.match(r.stdout, /^retval: 63\n/);
    assert.match(r.stdout, /\ndata \(77 bytes\):\n/);
  });
});

test("cli kernel: run usage errors exit 2 and name the option", opts, () => {
  const badHex = tsbpf("run", XDP, "--program", "xdp_count", "--data", "0g");
  assert.equal(badHex.code, 2);
  assert.match(badHex.stderr, /--data: not hex/);
  const odd = tsbpf("run", XDP, "--program", "xdp_count", "--data", "000");
  assert.equal(odd.code, 2);
  assert.match(odd.stderr, /--data: odd number of hex digits/);
  const badCtx = tsbpf("run", XDP, "--program", "xdp_count", "--data", "00", "--ctx", "zz");
  assert.equal(badCtx.code, 2);
  assert.match(badCtx.stderr, /--ctx: not hex/);
  const noData = tsbpf("run", XDP, "--program", "xdp_count");
  assert.equal(noData.code, 2);
  assert.match(noData.stderr, /--data/);
  const noFile = tsbpf("run", XDP, "--program", "xdp_count", "--data", "@/nonexistent/packet");
  assert.equal(noFile.code, 2);
  assert.match(noFile.stderr, /cannot read \/nonexistent\/packet/);
  const badRepeat = tsbpf("run", XDP, "--program", "xdp_count", "--data", "00", "--repeat", "x");
  assert.equal(badRepeat.code, 2);
  assert.match(badRepeat.stderr, /--repeat/);
  const unknown = tsbpf("run", XDP, "--program", "nope", "--data", "00");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no program "nope" in .*; programs: xdp_count/);
  const noProgram = tsbpf("run", XDP, "--data", "00");
  assert.equal(noProgram.code, 2);
  assert.match(noProgram.stderr, /--program/);
  const programWithoutFile = tsbpf("run", "--program", "xdp_count");
  assert.equal(programWithoutFile.code, 2);
});

test("cli kernel: a kernel error in a test run exits 1 with the errno name", opts, () => {
  // XDP wants at least an Ethernet header of data.
  const r = tsbpf("run", XDP, "--program", "xdp_count", "--data", "00");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^tsbpf: test run of xdp program xdp_count: BPF_PROG_TEST_RUN: EINVAL/);
});

test("cli kernel: a program the kernel refuses is one line naming it and the errno", opts, () => {
  const r = tsbpf("load", fixturePath("bpfel/prog_types_trace.o"));
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /^tsbpf: load program \w+: BPF_PROG_LOAD: EPERM \(/);
});

test("cli kernel: load --log prints each program's verifier log", opts, () => {
  const r = tsbpf("load", "--log", fixturePath("bpfel/socket_filter.o"));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\nVerifier log of socket_len:\n(.*\n)*processed \d+ insns/);
  const json = JSON.parse(tsbpf("load", "--log", "--json", XDP).stdout);
  assert.match(json.programs[0].log, /processed \d+ insns/);
  assert.equal(JSON.parse(tsbpf("load", "--json", XDP).stdout).programs[0].log, undefined);
});

test("cli kernel: a verifier rejection prints the log's tail, --log all of it", opts, async () => {
  await withTempDir((dir) => {
    const object = join(dir, "no_r0.o");
    writeFileSync(object, rejectedObject(30));
    const r = tsbpf("load", object);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^tsbpf: load program no_r0: BPF_PROG_LOAD: EACCES .*R0 !read_ok\n/);
    assert.match(r.stderr, /\nverifier log \(last 12 of \d+ lines\):\n/);
    assert.match(r.stderr, /\nRun with --log for the full verifier log\.\n$/);
    assert.doesNotMatch(r.stderr, /\n {2}0: /, "the first instruction is not in the tail");

    const full = tsbpf("load", object, "--log");
    assert.equal(full.code, 1);
    assert.match(full.stderr, /\nverifier log:\n/);
    assert.match(full.stderr, /\n0: \(b7\) r1 = 0 /);
    assert.match(full.stderr, /R0 !read_ok/);
    assert.doesNotMatch(full.stderr, /Run with --log/);

    const run = tsbpf("run", object, "--program", "no_r0", "--data", "00".repeat(64));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^tsbpf: load program no_r0: BPF_PROG_LOAD: EACCES/);
  });
});

test("cli kernel: run --config keeps its meaning next to run FILE", opts, () => {
  const r = tsbpf("run", "--config", join(root, "examples/tsbpf.json"));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).format, "tsbpf.collection/v1");
  const help = tsbpf("run", "--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: tsbpf run --config FILE\n/);
  assert.match(help.stdout, /\nUsage: tsbpf run FILE --program NAME --data HEX\|@PATH/);
  const top = tsbpf("--help");
  for (const name of ["load", "run", "map"]) assert.match(top.stdout, new RegExp(`\\n  ${name} `));
  for (const name of ["load", "map"]) {
    const h = tsbpf(name, "--help");
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, new RegExp(`^Usage: tsbpf ${name} `));
  }
});

test("cli: hex parsing and the verifier-failure report (no kernel)", () => {
  assert.deepEqual(parseHex("data", "0x01 02:ff"), new Uint8Array([1, 2, 255]));
  assert.throws(
    () => parseHex("ctx", ""),
    (err) => err instanceof UsageError && /--ctx/.test(err.message),
  );
  const log = Array.from({ length: 20 }, (_, i) => `${i}: line`).join("\n") + "\nR0 !read_ok\n";
  const err = new VerifierError("BPF_PROG_LOAD", 13, log);
  const lines: string[] = [];
  const io = { out: (t: string) => lines.push(t), err: (t: string) => lines.push(t) };
  assert.equal(kernelFailure(err, io, false), 1);
  const text = lines.join("");
  assert.match(text, /^tsbpf: BPF_PROG_LOAD: EACCES \(.*\): R0 !read_ok\n/);
  assert.match(text, /last 12 of 21 lines/);
  assert.doesNotMatch(text, / {2}0: line/);
  assert.throws(() => kernelFailure(new Error("other"), io, false), /other/);
});
