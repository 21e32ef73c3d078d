import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Btf } from "../btf/btf.ts";
import { CORE_POISON_IMM, type CoreRelocationResult, CoreReloKind } from "../btf/core/mod.ts";
import type { CollectionSpec } from "../collection/spec.ts";
import { createLoader, resolveConfig } from "../config/mod.ts";
import { readElf } from "../elf/mod.ts";
import { slotCount } from "../isa/opcodes.ts";
import { Loader } from "../plugins/mod.ts";
import { type CoreLoadOptions, Pipeline, specFromContext, type Stage } from "../stages/mod.ts";
import { fixturePath } from "./_util.ts";

const LOCAL = "core/core_local.o";
const TARGET = fixturePath("core/core_target.o");

async function load(
  core: CoreLoadOptions,
  options: { before?: Stage; withoutCore?: boolean } = {},
): Promise<CollectionSpec> {
  const loader = Loader.create();
  let stages = [...loader.pipeline.stages];
  if (options.withoutCore) stages = stages.filter((s) => s.name !== "core");
  if (options.before !== undefined) {
    stages.splice(stages.findIndex((s) => s.name === "core"), 0, options.before);
  }
  const ctx = await new Pipeline(stages).runContext(readFileSync(fixturePath(LOCAL)), {
    ...loader.loadOptions,
    core,
  });
  return specFromContext(ctx);
}

/** `[kind, local spec, orig, new, status]` per relocation of one program. */
function rows(spec: CollectionSpec, program: string): [string, string, number, number, string][] {
  const results = spec.programs.get(program)?.coreRelocations;
  assert.ok(results, `program ${program} has CO-RE results`);
  return results.map((
    r: CoreRelocationResult,
  ) => [r.kindName, r.spec, Number(r.origValue), Number(r.newValue), r.status]);
}

function find(spec: CollectionSpec, program: string, kind: string, access: string) {
  const r = spec.programs.get(program)!.coreRelocations!.find((r) =>
    r.kindName === kind && (r.spec === access || r.spec.startsWith(access + " "))
  );
  assert.ok(r, `${program}: ${kind} ${access}`);
  return r;
}

/** The instruction starting at slot `slot`. */
function at(spec: CollectionSpec, program: string, slot: number) {
  let s = 0;
  for (const ins of spec.programs.get(program)!.instructions) {
    if (s === slot) return ins;
    s += slotCount(ins);
  }
  throw new Error(`no instruction at slot ${slot}`);
}

test("core: field offsets, sizes, existence and signedness against another layout", async () => {
  const spec = await load({ btf: TARGET });
  assert.deepEqual(rows(spec, "field_kinds"), [
    ["byte_off", "struct foo.x (0:0 @ offset 0)", 0, 16, "patched"],
    ["byte_off", "struct foo.y (0:1 @ offset 8)", 8, 20, "patched"],
    ["byte_off", "struct foo.in.b (0:2:1 @ offset 20)", 20, 32, "patched"],
    ["byte_off", "struct foo.arr[2] (0:3:2 @ offset 32)", 32, 48, "patched"],
    ["byte_off", "struct foo.u2 (0:4:1 @ offset 40)", 40, 72, "patched"],
    ["byte_sz", "struct foo.y (0:1 @ offset 8)", 8, 4, "patched"],
    ["byte_sz", "struct foo.arr (0:3 @ offset 24)", 16, 32, "patched"],
    ["field_exists", "struct foo.missing (0:11 @ offset 76)", 1, 0, "patched"],
    ["field_exists", "struct foo.x (0:0 @ offset 0)", 1, 1, "patched"],
    ["signed", "struct foo.color (0:8 @ offset 56)", 0, 0, "patched"],
    ["signed", "struct foo.x (0:0 @ offset 0)", 1, 1, "patched"],
    ["byte_sz", "struct foo.p (0:9 @ offset 64)", 8, 8, "patched"],
  ]);
  // The anonymous union is walked through in both layouts: 0:4:1 locally, 0:5:0 in the target.
  const u2 = find(spec, "field_kinds", "byte_off", "struct foo.u2");
  assert.deepEqual(u2.target, {
    btf: TARGET,
    typeId: 5,
    spec: "struct foo.u2 (0:5:0 @ offset 72)",
  });
  const missing = find(spec, "field_kinds", "field_exists", "struct foo.missing");
  assert.equal(missing.target, undefined);
  assert.equal(missing.reason, 'no field "missing" in target struct foo');
  // ALU immediates carry the new values.
  assert.equal(at(spec, "field_kinds", u2.insn).imm, 72);
  assert.equal(at(spec, "field_kinds", missing.insn).imm, 0);
});

test("core: bitfield byte_off/byte_sz/lshift/rshift/signed as libbpf computes them", async () => {
  const spec = await load({ btf: TARGET });
  assert.deepEqual(rows(spec, "bitfields"), [
    ["byte_off", "struct foo.bf1 (0:5 @ offset 48)", 48, 80, "patched"],
    ["byte_sz", "struct foo.bf1 (0:5 @ offset 48)", 4, 4, "patched"],
    ["lshift_u64", "struct foo.bf1 (0:5 @ offset 48)", 61, 48, "patched"],
    ["rshift_u64", "struct foo.bf1 (0:5 @ offset 48)", 61, 55, "patched"],
    ["signed", "struct foo.bf2 (0:6 @ offset 48.3)", 1, 1, "patched"],
    ["lshift_u64", "struct foo.bf2 (0:6 @ offset 48.3)", 56, 59, "patched"],
    ["byte_off", "struct foo.bf3 (0:7 @ offset 49)", 48, 80, "patched"],
    ["byte_sz", "struct foo.bf3 (0:7 @ offset 49)", 8, 8, "patched"],
    ["lshift_u64", "struct foo.bf3 (0:7 @ offset 49)", 16, 3, "patched"],
    ["rshift_u64", "struct foo.bf3 (0:7 @ offset 49)", 24, 24, "patched"],
  ]);
  assert.equal(
    find(spec, "bitfields", "byte_off", "struct foo.bf1").target?.spec,
    "struct foo.bf1 (0:7 @ offset 80.7)",
  );
});

test("core: type kinds: exists, size, local and target IDs (ld_imm64), typedef roots", async () => {
  const spec = await load({ btf: TARGET });
  assert.deepEqual(rows(spec, "type_kinds"), [
    ["type_exists", "struct foo", 1, 1, "patched"],
    ["type_exists", "struct nope", 1, 0, "patched"],
    ["type_size", "struct foo", 80, 112, "patched"],
    ["type_size", "struct nope", 4, 0, "patched"],
    ["local_type_id", "struct foo", 19, 19, "patched"],
    ["target_type_id", "struct foo", 19, 5, "patched"],
    ["target_type_id", "struct nope", 31, 0, "patched"],
    ["type_exists", "typedef foo_t", 1, 1, "patched"],
  ]);
  const nope = find(spec, "type_kinds", "type_exists", "struct nope");
  assert.equal(nope.reason, `no struct named "nope" in ${TARGET}`);
  const id = find(spec, "type_kinds", "target_type_id", "struct foo");
  const ins = at(spec, "type_kinds", id.insn);
  assert.equal(ins.opcode, 0x18);
  assert.equal(ins.imm, 5);
  assert.equal(ins.immHi, 0);
  assert.equal(find(spec, "type_kinds", "type_exists", "typedef foo_t").target?.typeId, 19);
});

test("core: enumerator kinds resolve by name; a missing one poisons its ld_imm64 in 2 slots", async () => {
  const spec = await load({ btf: TARGET });
  assert.deepEqual(rows(spec, "enum_kinds"), [
    ["enumval_exists", "enum e_color::RED = 1", 1, 1, "patched"],
    ["enumval_exists", "enum e_color::GREEN = 2", 1, 0, "patched"],
    ["enumval_value", "enum e_color::BLUE = 4", 4, 40, "patched"],
    ["enumval_value", "enum e_color::RED = 1", 1, 10, "patched"],
  ]);
  assert.deepEqual(rows(spec, "poisoned_enum"), [
    ["enumval_value", "enum e_color::GREEN = 2", 2, 0, "poisoned"],
  ]);
  const [r] = spec.programs.get("poisoned_enum")!.coreRelocations!;
  assert.equal(r.reason, 'no enumerator "GREEN" in target enum e_color');
  const before = await load({ btf: TARGET }, { withoutCore: true });
  const orig = before.programs.get("poisoned_enum")!.instructions;
  const now = spec.programs.get("poisoned_enum")!.instructions;
  const slots = (xs: typeof now) => xs.reduce((n, i) => n + slotCount(i), 0);
  assert.equal(slots(now), slots(orig));
  assert.equal(now.length, orig.length + 1);
  for (const ins of now.slice(r.insn, r.insn + 2)) {
    assert.deepEqual(
      { opcode: ins.opcode, dst: ins.dst, src: ins.src, offset: ins.offset, imm: ins.imm },
      { opcode: 0x85, dst: 0, src: 0, offset: 0, imm: CORE_POISON_IMM },
    );
  }
  assert.equal(CORE_POISON_IMM, 195896080);
});

test("core: flavoured local types (foo___v2) resolve to the target's foo", async () => {
  const spec = await load({ btf: TARGET });
  assert.deepEqual(rows(spec, "flavours"), [
    ["byte_off", "struct foo___v2.x (0:0 @ offset 0)", 0, 16, "patched"],
    ["field_exists", "struct foo___v2.added (0:1 @ offset 4)", 1, 1, "patched"],
    ["byte_off", "struct foo___v2.added (0:1 @ offset 4)", 4, 108, "patched"],
  ]);
  assert.equal(
    find(spec, "flavours", "byte_off", "struct foo___v2.added").target?.spec,
    "struct foo.added (0:13 @ offset 108)",
  );
});

test("core: loads get new offsets and sizes; unsafe size changes and missing fields poison", async () => {
  const spec = await load({ btf: TARGET });
  assert.deepEqual(rows(spec, "loads"), [
    ["byte_off", "struct foo.x (0:0 @ offset 0)", 0, 16, "patched"],
    ["byte_off", "struct foo.cnt (0:10 @ offset 72)", 72, 104, "patched"],
    // struct inner has no preserve_access_index: only &f->in is relocated (an ALU add).
    ["byte_off", "struct foo.in (0:2 @ offset 16)", 16, 24, "patched"],
    ["byte_off", "struct foo.p (0:9 @ offset 64)", 64, 96, "patched"],
    ["byte_off", "struct foo.y (0:1 @ offset 8)", 8, 0, "poisoned"],
    ["byte_off", "struct foo.missing (0:11 @ offset 76)", 76, 0, "poisoned"],
  ]);
  const cnt = at(spec, "loads", find(spec, "loads", "byte_off", "struct foo.cnt").insn);
  // unsigned int -> unsigned short: LDX W becomes LDX H.
  assert.deepEqual([cnt.opcode, cnt.offset], [0x69, 104]);
  const x = at(spec, "loads", find(spec, "loads", "byte_off", "struct foo.x").insn);
  assert.deepEqual([x.opcode, x.offset], [0x61, 16]);
  const p = at(spec, "loads", find(spec, "loads", "byte_off", "struct foo.p").insn);
  assert.deepEqual([p.opcode, p.offset], [0x79, 96]);
  const y = find(spec, "loads", "byte_off", "struct foo.y");
  assert.match(y.reason!, /8 bytes locally and 4 in the target/);
  assert.equal(at(spec, "loads", y.insn).imm, CORE_POISON_IMM);
});

test("core: type_matches follows libbpf's bpf_core_types_match", async () => {
  // clang 14 can't emit type_matches: turn the type_exists records into it.
  const flip: Stage = {
    name: "flip",
    run(ctx) {
      for (const ins of ctx.programs.get("type_kinds")!.instructions) {
        if (ins.coreRelo?.kind === CoreReloKind.TYPE_EXISTS) {
          ins.coreRelo = { ...ins.coreRelo, kind: CoreReloKind.TYPE_MATCHES };
        }
      }
    },
  };
  const spec = await load({ btf: TARGET }, { before: flip });
  const matches = spec.programs.get("type_kinds")!.coreRelocations!.filter((r) =>
    r.kindName === "type_matches"
  );
  // struct foo's y is a long locally and an int in the target: no match.
  assert.deepEqual(matches.map((r) => [r.spec, Number(r.newValue)]), [
    ["struct foo", 0],
    ["struct nope", 0],
    ["typedef foo_t", 0],
  ]);
  assert.match(matches[0].reason!, /does not match/);
});

test("core: the target may be raw BTF bytes, a parsed Btf, or an ELF path", async () => {
  const elf = readElf(readFileSync(TARGET));
  const raw = elf.sectionData(elf.sectionByName(".BTF")!).slice();
  const fromRaw = await load({ btf: raw });
  const fromBtf = await load({ btf: Btf.parse(raw) });
  const fromPath = await load({ btf: TARGET });
  for (const s of [fromRaw, fromBtf]) {
    const r = find(s, "field_kinds", "byte_off", "struct foo.u2");
    assert.equal(r.newValue, 72n);
    assert.equal(r.target?.btf, "custom");
    assert.deepEqual(
      s.programs.get("loads")!.instructions,
      fromPath.programs.get("loads")!.instructions,
    );
  }
});

test("core: without a target BTF relocations are unresolved, not an error", async () => {
  const spec = await load({ btf: "/nonexistent/vmlinux" });
  const results = spec.programs.get("field_kinds")!.coreRelocations!;
  assert.ok(results.every((r) => r.status === "unresolved"));
  assert.match(results[0].reason!, /reading target BTF \/nonexistent\/vmlinux/);
  // local_type_id needs no target.
  const local = spec.programs.get("type_kinds")!.coreRelocations!.find((r) =>
    r.kindName === "local_type_id"
  );
  assert.equal(local?.status, "patched");
  // Instructions keep the compiler's values.
  const before = await load({}, { withoutCore: true });
  assert.deepEqual(
    spec.programs.get("loads")!.instructions,
    before.programs.get("loads")!.instructions,
  );
  // Bytes that are no BTF are no target either.
  const garbage = await load({ btf: new Uint8Array([1, 2, 3, 4]) });
  const [first] = garbage.programs.get("loads")!.coreRelocations!;
  assert.equal(first.status, "unresolved");
  assert.match(first.reason!, /^target BTF custom: /);
});

test("core: results survive ProgramSpec copy and equality", async () => {
  const spec = await load({ btf: TARGET });
  const prog = spec.programs.get("loads")!;
  const copy = prog.copy();
  assert.ok(copy.equals(prog));
  assert.deepEqual(copy.coreRelocations, prog.coreRelocations);
  copy.coreRelocations![0].newValue = 1n;
  assert.equal(prog.coreRelocations![0].newValue, 0n + 16n);
  assert.ok(!copy.equals(prog));
});

test("core: a config's core.btf (relative to the file) is the target", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-core-"));
  try {
    writeFileSync(join(dir, "target.o"), readFileSync(TARGET));
    const resolved = await resolveConfig({ core: { btf: "target.o" } }, { baseDir: dir });
    assert.equal(resolved.core?.btf, join(dir, "target.o"));
    const loader = await createLoader(resolved);
    assert.ok(loader.pipeline.names().includes("core"));
    const spec = await loader.loadSpec(readFileSync(fixturePath(LOCAL)));
    const r = find(spec, "flavours", "byte_off", "struct foo___v2.added");
    assert.equal(r.newValue, 108n);
    assert.equal(r.target?.btf, join(dir, "target.o"));
    await assert.rejects(
      resolveConfig({ core: { btf: 1 } } as never, { baseDir: dir }),
      { name: "ConfigError" },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("core: tsbpf inspect --core --btf prints one line per relocation", () => {
  const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
  const args = ["inspect", fixturePath(LOCAL), "--core", "--btf", TARGET];
  const argv = "Deno" in globalThis ? ["run", "-A", cli, ...args] : [cli, ...args];
  const r = spawnSync(process.execPath, argv, {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /CO-RE relocations \(44\):/);
  assert.ok(
    r.stdout.includes(
      `insn #1: <byte_off> [19] struct foo.x (0:0 @ offset 0) => ${TARGET} [5] struct foo.x (0:1 @ offset 16): 0 -> 16`,
    ),
  );
  assert.ok(
    r.stdout.includes(
      '<enumval_value> [24] enum e_color::GREEN = 2: poisoned: no enumerator "GREEN" in target enum e_color',
    ),
  );
});
