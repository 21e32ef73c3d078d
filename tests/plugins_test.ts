// The plugin contract: how a Loader applies plugins, their order, and the
// errors for conflicts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Loader, PipelineError, type Plugin, ProgramType } from "../mod.ts";
import { sectionsOfKind } from "../stages/mod.ts";
import { readFixture } from "./_util.ts";

const xdp = () => readFixture("bpfel/xdp_counter.o");

test("plugins: core provides the built-in stages through the contract", () => {
  const loader = Loader.create();
  // The extern plugins (.kconfig, .ksyms, kfuncs) come by default, on the same contract.
  assert.deepEqual(loader.plugins.map((p) => p.name), ["core", "kconfig", "ksyms", "kfuncs"]);
  assert.deepEqual(loader.pipeline.names(), [
    "read",
    "classify",
    "btf",
    "relocate",
    "maps",
    "kfuncs",
    "link",
    "core",
    "kconfig",
    "ksyms",
  ]);
  assert.equal(Loader.create([], { withoutCore: true }).pipeline.names().length, 0);
});

test("plugins: stage edits apply in plugin order and can anchor on earlier plugins' stages", async () => {
  const seen: string[] = [];
  const stage = (name: string) => ({ name, run: () => void seen.push(name) });
  const a: Plugin = { name: "a", stages: [{ after: "maps", stage: stage("a1") }] };
  const b: Plugin = {
    name: "b",
    stages: [{ before: "a1", stage: stage("b1") }, { append: stage("b2") }],
  };
  const loader = Loader.create([a, b]);
  assert.deepEqual(loader.pipeline.names(), [
    "read",
    "classify",
    "btf",
    "relocate",
    "maps",
    "b1",
    "a1",
    "kfuncs",
    "link",
    "core",
    "kconfig",
    "ksyms",
    "b2",
  ]);
  await loader.loadSpec(xdp());
  assert.deepEqual(seen, ["b1", "a1", "b2"]);
});

test("plugins: an edit naming a missing stage names the plugin", () => {
  assert.throws(
    () =>
      Loader.create([{
        name: "late",
        stages: [{ after: "optimize", stage: { name: "x", run() {} } }],
      }]),
    (err: unknown) => {
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, "PIPELINE_UNKNOWN_STAGE");
      assert.match(err.message, /^plugin late: no stage named "optimize"/);
      return true;
    },
  );
});

test("plugins: duplicate and nameless plugins are errors", () => {
  assert.throws(
    () => Loader.create([{ name: "p" }, { name: "p" }]),
    (e: unknown) => e instanceof PipelineError && e.code === "PLUGIN_DUPLICATE",
  );
  assert.throws(
    () => Loader.create([{ name: "core" }]),
    (e: unknown) => e instanceof PipelineError && e.code === "PLUGIN_DUPLICATE",
  );
  assert.throws(
    () => Loader.create([{ name: "" }]),
    (e: unknown) => e instanceof PipelineError && e.code === "PLUGIN_INVALID",
  );
});

test("plugins: a plugin's section kind is tried before the built-in rules", async () => {
  const claim: Plugin = { name: "lic", sectionKinds: [{ kind: "lic.text", prefix: "license" }] };
  const ctx = await Loader.create([claim]).loadContext(xdp());
  const [sec] = sectionsOfKind(ctx, "lic.text");
  assert.equal(sec.section.name, "license");
  assert.equal(sec.claimedBy, "lic");
  assert.equal(ctx.license, "", "the built-in license rule no longer sees it");
});

test("plugins: two plugins claiming one section is an error naming both", async () => {
  const a: Plugin = { name: "a", sectionKinds: [{ kind: "a.maps", prefix: "maps" }] };
  const b: Plugin = {
    name: "b",
    sectionKinds: [{ kind: "b.maps", match: (s) => s.name === "maps" }],
  };
  await assert.rejects(Loader.create([a, b]).loadSpec(xdp()), (err: unknown) => {
    assert.ok(err instanceof PipelineError);
    assert.equal(err.code, "PLUGIN_SECTION_CONFLICT");
    assert.match(
      err.message,
      /^classify: section maps is claimed by plugin a \(kind a\.maps\) and by plugin b \(kind b\.maps\)/,
    );
    return true;
  });
  // One plugin with two rules for the same section is not a conflict: its first rule wins.
  const one: Plugin = {
    name: "one",
    sectionKinds: [{ kind: "first", prefix: ".llvm_addrsig" }, { kind: "second", prefix: ".llvm" }],
  };
  const ctx = await Loader.create([one]).loadContext(xdp());
  assert.equal(sectionsOfKind(ctx, "first").length, 1);
});

test("plugins: section definitions name new program sections before libbpf's table", async () => {
  const claimXdp: Plugin = {
    name: "xdp-as-socket",
    sectionDefs: [{
      sec: "xdp",
      programType: ProgramType.SOCKET_FILTER,
      expectedAttachType: 0,
      flags: 0,
    }],
  };
  const spec = await Loader.create([claimXdp]).loadSpec(xdp());
  assert.equal(spec.programs.get("xdp_count")!.type, ProgramType.SOCKET_FILTER);
  assert.equal(
    (await Loader.create().loadSpec(xdp())).programs.get("xdp_count")!.type,
    ProgramType.XDP,
  );
});

test("plugins: backends and helpers register once, by name and ID", async () => {
  const echo: Plugin = {
    name: "echo",
    backends: {
      echo: (options) => ({
        name: "echo",
        load: (spec) => Promise.resolve({ options, maps: spec.maps.size }),
      }),
    },
    helpers: { 1000: "fake helper" },
  };
  const loader = Loader.create([echo]);
  const spec = await loader.loadSpec(xdp());
  assert.deepEqual(await loader.backend("echo", { x: 1 }).load(spec), {
    options: { x: 1 },
    maps: 1,
  });
  assert.equal(loader.helpers.get(1000), "fake helper");
  assert.throws(
    () => loader.backend("nope"),
    (e: unknown) =>
      e instanceof PipelineError && e.code === "PLUGIN_UNKNOWN_BACKEND" &&
      /registered: .*echo/.test(e.message),
  );
  const again: Plugin = { name: "again", backends: { echo: echo.backends!.echo } };
  assert.throws(
    () => Loader.create([echo, again]),
    (e: unknown) =>
      e instanceof PipelineError && e.code === "PLUGIN_BACKEND_CONFLICT" &&
      /already registered by plugin echo/.test(e.message),
  );
  const helperAgain: Plugin = { name: "h", helpers: { 1000: "other" } };
  assert.throws(
    () => Loader.create([echo, helperAgain]),
    (e: unknown) => e instanceof PipelineError && e.code === "PLUGIN_HELPER_CONFLICT",
  );
});

test("plugins: a throwing plugin stage surfaces with the stage as context", async () => {
  const boom: Plugin = {
    name: "boom",
    stages: [{
      after: "link",
      stage: {
        name: "boom-check",
        run() {
          throw new PipelineError("BOOM", "no programs allowed");
        },
      },
    }],
  };
  await assert.rejects(
    Loader.create([boom]).loadSpec(xdp()),
    (err: unknown) =>
      err instanceof PipelineError && err.message === "boom-check: no programs allowed",
  );
});

test("plugins: a plain Error from a plugin stage becomes a PipelineError naming the stage", async () => {
  const cause = new Error("bpf_trace_printk is not allowed");
  const plain: Plugin = {
    name: "plain",
    stages: [{
      after: "link",
      stage: {
        name: "no-printk",
        run() {
          throw cause;
        },
      },
    }],
  };
  await assert.rejects(Loader.create([plain]).loadSpec(xdp()), (err: unknown) => {
    assert.ok(err instanceof PipelineError);
    assert.equal(err.code, "PIPELINE_STAGE_FAILED");
    assert.equal(err.message, "no-printk: bpf_trace_printk is not allowed");
    assert.equal(err.cause, cause);
    return true;
  });
});
