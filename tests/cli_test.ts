// The tsbpf command line, run as a user would, with whichever runtime runs
// this test (deno run -A cli.ts …, or bun cli.ts …).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { fixturePath } from "./_util.ts";

const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
const isDeno = "Deno" in globalThis;

function tsbpf(...args: string[]) {
  const argv = isDeno ? ["run", "-A", cli, ...args] : [cli, ...args];
  const r = spawnSync(process.execPath, argv, {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("cli: inspect prints sections, maps and programs", () => {
  const r = tsbpf("inspect", fixturePath("bpfel/xdp_counter.o"));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /little-endian, license "GPL"/);
  assert.match(r.stdout, /Maps \(1\):\n.*\n\s+counts\s+array\s+4\s+8\s+2\s+0x0/);
  assert.match(r.stdout, /xdp_count\s+xdp\s+xdp\s+xdp\s+19\s+1\s+counts/);
});

test("cli: disasm shows linked programs with resolved references", () => {
  const r = tsbpf("disasm", fixturePath("bpfel/subprograms.o"), "--program", "sub_nested");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /call nested_outer/);
  assert.match(r.stdout, /<nested_inner>:/);
});

test("cli: a load error is one line on stderr and exit 1", () => {
  const r = tsbpf("inspect", fixturePath("bad_links/static_map.bpfel.o"));
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.match(
    r.stderr,
    /^tsbpf: relocate: section xdp: offset 72: .*static maps can't be referenced/,
  );
});

test("cli: bad usage exits 2", () => {
  assert.equal(tsbpf("frobnicate", "x").code, 2);
  assert.equal(tsbpf("inspect").code, 2);
  assert.equal(tsbpf("inspect", "/nonexistent.o").code, 2);
  const r = tsbpf("disasm", fixturePath("bpfel/xdp_counter.o"), "--program", "nope");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no program "nope"/);
  assert.equal(tsbpf("--help").code, 0);
});

test("cli: every command has --help, and the command list names them", () => {
  const top = tsbpf("--help");
  assert.equal(top.code, 0);
  for (const name of ["inspect", "disasm"]) {
    assert.match(top.stdout, new RegExp(`\\n  ${name} `));
    const r = tsbpf(name, "--help");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: tsbpf ${name} `));
  }
  assert.equal(tsbpf().code, 2, "no command is bad usage");
  assert.equal(tsbpf("inspect", "--frobnicate", fixturePath("bpfel/xdp_counter.o")).code, 2);
});

test("cli: inspect --json is the report as data", () => {
  const r = tsbpf("inspect", "--json", fixturePath("bpfeb/data_sections.o"));
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.byteOrder, "big");
  assert.deepEqual(doc.maps.map((m: { name: string }) => m.name), [
    ".bss",
    ".bss.big",
    ".data",
    ".data.custom",
    ".rodata",
    ".rodata.cfg",
  ]);
  const rodata = doc.programs.find((p: { name: string }) => p.name === "read_rodata");
  assert.deepEqual(rodata.references, [".rodata", ".rodata.cfg"]);
  assert.equal(rodata.attachType, null);
  assert.ok(
    doc.sections.some((s: { name: string; kind: string }) =>
      s.name === ".data.unused" && s.kind === "data"
    ),
  );
  assert.ok(doc.diagnostics.some((d: { message: string }) => d.message.includes(".data.unused")));
});

test("cli: disasm --raw shows immediates as llvm-objdump does", () => {
  const r = tsbpf("disasm", fixturePath("bpfel/xdp_counter.o"), "--raw");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ld_pseudo\tr1, 1, 0/, "the pseudo map fd load, as LLVM prints it");
  assert.doesNotMatch(r.stdout, /map\[counts\]/);
});

test("cli: export writes the JSON document that imports back to the same spec", async () => {
  const { mkdtempSync, readFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { parseSpec } = await import("../backends/json/mod.ts");
  const { loadCollectionSpec } = await import("../mod.ts");
  const { readFixture } = await import("./_util.ts");
  const out = join(mkdtempSync(join(tmpdir(), "tsbpf-cli-")), "spec.json");
  const r = tsbpf("export", fixturePath("bpfeb/subprograms.o"), "-o", out);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "");
  const text = readFileSync(out, "utf8");
  assert.ok(parseSpec(text).equals(await loadCollectionSpec(readFixture("bpfeb/subprograms.o"))));
  const stdout = tsbpf("export", fixturePath("bpfeb/subprograms.o"));
  assert.equal(stdout.stdout, text, "stdout and -o give the same text");
  const compact = tsbpf("export", "--compact", "--no-asm", fixturePath("bpfeb/subprograms.o"));
  assert.equal(compact.stdout.trim().split("\n").length, 1);
  assert.doesNotMatch(compact.stdout, /"asm"/);
  assert.equal(
    tsbpf("export", fixturePath("bpfel/xdp_counter.o"), "-o", "/nonexistent-dir/x.json").code,
    2,
  );
});

/** A config file in a fresh temp dir; module paths are absolute so it can live anywhere. */
async function writeConfig(
  config: Record<string, unknown>,
): Promise<{ path: string; dir: string }> {
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-run-"));
  const path = join(dir, "tsbpf.json");
  writeFileSync(path, JSON.stringify(config));
  return { path, dir };
}

const example = (name: string) =>
  fileURLToPath(new URL(`../plugins/examples/${name}.ts`, import.meta.url));

test("cli: run --config loads objects through the example plugins into the json backend", async () => {
  const { readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { path, dir } = await writeConfig({
    objects: [fixturePath("bpfeb/meta_section.o")],
    plugins: [example("meta_section"), {
      module: example("map_prefix"),
      options: { prefix: "app_" },
    }],
    backend: { name: "json", options: { output: "out.json" } },
    constants: { min_len: 100 },
  });
  const r = tsbpf("run", "--config", path);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(readFileSync(join(dir, "out.json"), "utf8"));
  assert.deepEqual(doc.metadata["tsbpf.meta"], {
    owner: "net-team",
    version: "3",
    description: "drops short packets",
  });
  assert.ok("app_short_drops" in doc.maps);
  assert.equal(doc.maps[".rodata"].contents[0].value, "00000064", "min_len = 100, big-endian");
  const inspect = tsbpf("inspect", "--config", path, fixturePath("bpfel/meta_section.o"));
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.match(
    inspect.stdout,
    /Metadata:\n {2}tsbpf\.meta: \{"owner":"net-team","version":"3","description":"drops short packets"\}/,
  );
  assert.match(inspect.stdout, /app_short_drops/);
});

test("cli: run --config with forbid_helpers fails the load with one line", async () => {
  const { path } = await writeConfig({
    objects: [fixturePath("bpfel/xdp_counter.o")],
    plugins: [{ module: example("forbid_helpers"), options: { helpers: ["map_lookup_elem"] } }],
  });
  const r = tsbpf("run", "-c", path);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.match(
    r.stderr,
    /program xdp_count: pc 11: calls forbidden helper bpf_map_lookup_elem \(1\)/,
  );
});

test("cli: run with several objects writes one document per object path", async () => {
  const { path } = await writeConfig({
    objects: [fixturePath("bpfel/xdp_counter.o"), fixturePath("bpfel/socket_filter.o")],
  });
  const r = tsbpf("run", "--config", path);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  const keys = Object.keys(doc);
  assert.equal(keys.length, 2);
  assert.ok(keys.every((k) => doc[k].format === "tsbpf.collection/v1"));
});

test("cli: run config errors name the key; usage errors exit 2", async () => {
  const { path } = await writeConfig({
    objects: [fixturePath("bpfel/xdp_counter.o")],
    backend: { name: "json", options: { output: 7 } },
  });
  const bad = tsbpf("run", "--config", path);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /backend\.options\.output: expected a string/);
  assert.equal(tsbpf("run").code, 2);
  assert.equal(tsbpf("run", "--config", "/nonexistent/tsbpf.json").code, 1);
  const empty = await writeConfig({});
  assert.equal(tsbpf("run", "--config", empty.path).code, 2);
});

test("cli: the bundled examples/tsbpf.json runs, and examples/inspect.ts works", () => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const r = tsbpf("run", "--config", `${root}/examples/tsbpf.json`);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.maps[".rodata"].contents[0].value, "80000000", "min_len = 128");
  assert.equal(doc.maps.app_short_drops.maxEntries, 1);
  const script = fileURLToPath(new URL("../examples/inspect.ts", import.meta.url));
  const argv = isDeno ? ["run", "-A", script] : [script];
  const s = spawnSync(process.execPath, [...argv, fixturePath("bpfel/data_sections.o")], {
    encoding: "utf8",
  });
  assert.equal(s.status, 0, s.stderr);
  assert.match(
    s.stdout,
    /program read_rodata: socket_filter in socket, uses \.rodata, \.rodata\.cfg/,
  );
  assert.match(s.stdout, /copy equals original: false/);
});

test("cli: btf dump prints bpftool's raw lines, C and JSON", async () => {
  const { haveCommand } = await import("./_util.ts");
  const file = fixturePath("bpfeb/btf_maps.o");
  const raw = tsbpf("btf", "dump", file);
  assert.equal(raw.code, 0, raw.stderr);
  assert.match(raw.stdout, /^\[1\] /);
  if (haveCommand("bpftool")) {
    const want = spawnSync("bpftool", ["btf", "dump", "file", file, "format", "raw"], {
      encoding: "utf8",
    });
    assert.equal(raw.stdout, want.stdout, "same lines as bpftool");
  } else {
    console.log("skipped bpftool comparison: bpftool is not installed");
  }
  const c = tsbpf("btf", "dump", file, "--format", "c");
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /#ifndef __VMLINUX_H__/);
  const json = JSON.parse(tsbpf("btf", "dump", file, "--format", "json").stdout);
  assert.ok(Array.isArray(json.types) && json.types.length > 0);
  assert.equal(tsbpf("btf", "list", file).code, 2);
  assert.equal(tsbpf("btf", "dump", file, "--format", "yaml").code, 2);
  const noBtf = tsbpf(
    "btf",
    "dump",
    fixturePath("bad_links/static_map.bpfel.o").replace("static_map", "version_short"),
  );
  assert.equal(noBtf.code, 0, "objects with .BTF dump even when they do not load");
  const notBtf = tsbpf("btf", "dump", cli);
  assert.equal(notBtf.code, 1);
  assert.match(notBtf.stderr, /^tsbpf: .*BTF/);
});

test("cli: disasm shows source lines from .BTF.ext", () => {
  const r = tsbpf("disasm", fixturePath("bpfel/xdp_counter.o"));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /; count = bpf_map_lookup_elem\(&counts, &key\);\n\s+\d+:\t/);
});

test("cli: run FILE --vm test-runs a program in the VM, in both tiers", () => {
  const data = "00".repeat(80);
  for (const tier of [[], ["--jit"]]) {
    const r = tsbpf(
      "run",
      fixturePath("bpfel/xdp_counter.o"),
      "--program",
      "xdp_count",
      "--data",
      data,
      "--vm",
      ...tier,
      "--json",
    );
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.retval, 2);
    assert.equal(doc.data, data);
  }
  const ctx = tsbpf(
    "run",
    fixturePath("bpfel/test_run_progs.o"),
    "--program",
    "raw_tp_sum",
    "--ctx",
    "05000000000000000600000000000000",
    "--vm",
  );
  assert.equal(ctx.code, 0, ctx.stderr);
  assert.match(ctx.stdout, /^retval: 11$/m);
  const bad = tsbpf(
    "run",
    fixturePath("bpfel/xdp_counter.o"),
    "--program",
    "xdp_count",
    "--data",
    "00",
    "--jit",
  );
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--jit needs --vm/);
  const short = tsbpf(
    "run",
    fixturePath("bpfel/xdp_counter.o"),
    "--program",
    "xdp_count",
    "--data",
    "00",
    "--vm",
  );
  assert.equal(short.code, 1);
  assert.match(short.stderr, /VM|Ethernet header/);
});
