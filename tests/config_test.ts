// The declarative config: schema, validation messages, file errors, plugin
// modules, pipeline edits, program selection, map overrides, constants and
// backend options. Configs are written to a fresh temp dir per test; plugin
// modules live in tests/fixtures_config/.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CONFIG_SCHEMA,
  CONFIG_STAGES,
  configPlugin,
  type ConfigSettings,
  createLoader,
  type JsonSchema,
  loadConfigFile,
  type ModuleEntry,
  resolveConfig,
  type ResolvedConfig,
  runConfig,
  type TsbpfConfig,
  validate,
} from "../config/mod.ts";
import { MapSpec } from "../collection/spec.ts";
import { MapType, PinType } from "../collection/types.ts";
import { STT_OBJECT } from "../elf/constants.ts";
import { ConfigError, PipelineError } from "../errors/mod.ts";
import { newLoadContext } from "../stages/context.ts";
import type { FakeResult } from "./fixtures_config/fake_json_backend.ts";
import { scan } from "../config/_json.ts";
import { fixturePath } from "./_util.ts";

const HERE = fileURLToPath(new URL("./fixtures_config/", import.meta.url));
const CORE_STAGES = [
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
];

// One temp dir for the whole module, removed after its tests.
const TMP = mkdtempSync(join(tmpdir(), "tsbpf-config-"));
after(() => rmSync(TMP, { recursive: true, force: true }));

/** A fresh temp dir holding `config` as `tsbpf.json` (a string is written as is); the file's path. */
function writeConfig(config: unknown, name = "tsbpf.json"): string {
  const dir = mkdtempSync(join(TMP, "c-"));
  const file = join(dir, name);
  writeFileSync(file, typeof config === "string" ? config : JSON.stringify(config, null, 2));
  return file;
}

/** A `./`-relative specifier or path from the directory of `file` to `target`. */
function rel(file: string, target: string): string {
  const path = relative(join(file, ".."), target);
  return path.startsWith(".") ? path : `./${path}`;
}

/** Path of a module under tests/fixtures_config/. */
function helper(name: string): string {
  return join(HERE, name);
}

/** Write `config` (with paths relative to where it lands) and load it. */
async function loadWritten(build: (file: string) => unknown): Promise<ResolvedConfig> {
  const file = writeConfig({});
  writeFileSync(file, JSON.stringify(build(file)));
  return await loadConfigFile(file);
}

/** Assert `promise` rejects with a ConfigError of `code` at `path` whose message is `message`. */
async function rejectsConfig(
  promise: Promise<unknown>,
  expected: { code: string; path: string; message: string | RegExp },
): Promise<ConfigError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  assert.equal(caught.code, expected.code, caught.message);
  assert.equal(caught.path, expected.path, caught.message);
  if (typeof expected.message === "string") assert.equal(caught.message, expected.message);
  else assert.match(caught.message, expected.message);
  return caught;
}

/** A config object with the fake JSON backend, relative to `baseDir`. */
function withFakeBackend(config: TsbpfConfig, baseDir: string): TsbpfConfig {
  return {
    ...config,
    plugins: [rel(join(baseDir, "x"), helper("fake_json_backend.ts")), ...(config.plugins ?? [])],
    backend: config.backend ?? { name: "fake-json" },
  };
}

/** Run `config` (objects given as fixture-relative paths) with the fake backend from `HERE`. */
async function runFake(config: TsbpfConfig): Promise<{ results: FakeResult[]; specs: unknown[] }> {
  const resolved = await resolveConfig(withFakeBackend(config, HERE), { baseDir: HERE });
  const runs = await runConfig(resolved);
  return { results: runs.map((r) => r.result as FakeResult), specs: runs.map((r) => r.spec) };
}

function fixtureRel(name: string): string {
  return relative(HERE, fixturePath(name));
}

// ---- the schema ------------------------------------------------------------

test("config: the schema file parses, is draft 2020-12, and describes and closes every object", () => {
  const text = readFileSync(
    fileURLToPath(new URL("../config/schema.json", import.meta.url)),
    "utf8",
  );
  const schema = JSON.parse(text);
  assert.deepEqual(schema, CONFIG_SCHEMA);
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  const walk = (node: Record<string, unknown>, where: string) => {
    if (node.properties !== undefined) {
      assert.equal(node.additionalProperties, false, `${where}: additionalProperties false`);
      for (const [key, sub] of Object.entries(node.properties as Record<string, JsonSchema>)) {
        assert.equal(typeof sub.description, "string", `${where}.${key} has a description`);
      }
    }
    for (const value of Object.values(node)) {
      if (typeof value === "object" && value !== null) {
        walk(value as Record<string, unknown>, where);
      }
    }
  };
  walk(schema, "schema");
});

test("config: every key of TsbpfConfig is in the schema, and no other", () => {
  // Each record must list every key of its type exactly (the compiler checks both ways).
  const top: Record<keyof TsbpfConfig, true> = {
    $schema: true,
    objects: true,
    link: true,
    plugins: true,
    pipeline: true,
    backend: true,
    programs: true,
    maps: true,
    constants: true,
    core: true,
    kconfig: true,
  };
  const pipeline: Record<keyof NonNullable<TsbpfConfig["pipeline"]>, true> = {
    stages: true,
    replace: true,
  };
  const backend: Record<keyof NonNullable<TsbpfConfig["backend"]>, true> = {
    name: true,
    options: true,
  };
  const programs: Record<keyof NonNullable<TsbpfConfig["programs"]>, true> = {
    include: true,
    exclude: true,
    attachTo: true,
  };
  const map: Record<keyof NonNullable<TsbpfConfig["maps"]>[string], true> = {
    maxEntries: true,
    pinning: true,
    pinPath: true,
  };
  const module: Record<keyof Exclude<ModuleEntry, string>, true> = { module: true, options: true };
  const props = (s: unknown) => Object.keys((s as { properties: object }).properties).sort();
  const p = CONFIG_SCHEMA.properties as Record<string, JsonSchema>;
  const defs = CONFIG_SCHEMA.$defs as Record<string, JsonSchema>;
  assert.deepEqual(props(CONFIG_SCHEMA), Object.keys(top).sort());
  assert.deepEqual(props(p.pipeline), Object.keys(pipeline).sort());
  assert.deepEqual(props(p.backend), Object.keys(backend).sort());
  assert.deepEqual(props(p.programs), Object.keys(programs).sort());
  assert.deepEqual(props(defs.mapOverride), Object.keys(map).sort());
  assert.deepEqual(props((defs.module.anyOf as JsonSchema[])[1]), Object.keys(module).sort());
});

test("config: {} is valid, and resolves to the schema's defaults", async () => {
  const resolved = await resolveConfig({}, { baseDir: "/srv/app" });
  assert.deepEqual(resolved, {
    baseDir: "/srv/app",
    objects: [],
    link: false,
    plugins: [],
    pipeline: { stages: undefined, replace: {} },
    backend: { name: "json", options: {} },
    programs: { include: undefined, exclude: [] },
    maps: {},
    constants: {},
  });
  const p = CONFIG_SCHEMA.properties as Record<string, { default?: unknown }>;
  assert.deepEqual(p.backend.default, resolved.backend);
  assert.deepEqual(p.objects.default, resolved.objects);
  assert.deepEqual(p.maps.default, resolved.maps);
  const file = writeConfig({});
  const fromFile = await loadConfigFile(file);
  assert.deepEqual(fromFile, { ...resolved, baseDir: join(file, ".."), file });
  const loader = await createLoader(fromFile);
  assert.deepEqual(loader.pipeline.names(), [...CORE_STAGES, ...CONFIG_STAGES]);
  assert.deepEqual(loader.plugins.map((x) => x.name), [
    "core",
    "kconfig",
    "ksyms",
    "kfuncs",
    "config",
  ]);
  // `$schema` is allowed and ignored.
  await resolveConfig({ $schema: "../config/schema.json" }, { baseDir: "." });
});

// ---- validation messages ---------------------------------------------------

test("config: a wrong type names the key at every depth", async () => {
  const cases: [unknown, string, string, string][] = [
    [{ objects: "prog.o" }, "CONFIG_TYPE", "objects", "expected an array of strings"],
    [{ objects: ["a.o", 3] }, "CONFIG_TYPE", "objects[1]", "expected a string"],
    [
      { programs: { include: ["a", "b", 3] } },
      "CONFIG_TYPE",
      "programs.include[2]",
      "expected a string",
    ],
    [
      { maps: { counts: { maxEntries: "4096" } } },
      "CONFIG_TYPE",
      "maps.counts.maxEntries",
      "expected an integer from 1 to 4294967295",
    ],
    [
      { maps: { counts: { maxEntries: 0 } } },
      "CONFIG_VALUE",
      "maps.counts.maxEntries",
      "expected an integer from 1 to 4294967295",
    ],
    [
      { maps: { "*_pinned": { pinning: "always" } } },
      "CONFIG_VALUE",
      'maps["*_pinned"].pinning',
      'expected one of "none", "byName"',
    ],
    [{ backend: { options: [] } }, "CONFIG_TYPE", "backend.options", "expected an object"],
    [{ backend: "json" }, "CONFIG_TYPE", "backend", "expected an object"],
    [{ plugins: [5] }, "CONFIG_TYPE", "plugins[0]", "expected a string or an object"],
    [
      { plugins: ["./a.ts", { module: 3 }] },
      "CONFIG_TYPE",
      "plugins[1].module",
      "expected a string",
    ],
    [
      { plugins: [{ module: "./a.ts", options: "x" }] },
      "CONFIG_TYPE",
      "plugins[0].options",
      "expected an object",
    ],
    [
      { pipeline: { replace: { link: 7 } } },
      "CONFIG_TYPE",
      "pipeline.replace.link",
      "expected a string or an object",
    ],
    [
      { pipeline: { stages: ["read", "read"] } },
      "CONFIG_VALUE",
      "pipeline.stages[1]",
      '"read" repeats pipeline.stages[0]',
    ],
    [
      { constants: { ro_limit: 1.5 } },
      "CONFIG_TYPE",
      "constants.ro_limit",
      "expected an integer, a decimal or 0x-hex integer string, or a boolean",
    ],
    [
      { constants: { ro_mode: "12abc" } },
      "CONFIG_VALUE",
      "constants.ro_mode",
      "expected a decimal or 0x-hex integer string",
    ],
    [
      { constants: { big: 2 ** 64 } },
      "CONFIG_VALUE",
      "constants.big",
      "expected a safe integer (write larger values as decimal or 0x-hex strings)",
    ],
    [[], "CONFIG_TYPE", "", "expected an object"],
  ];
  for (const [config, code, path, detail] of cases) {
    const message = path === "" ? detail : `${path}: ${detail}`;
    await rejectsConfig(resolveConfig(config as TsbpfConfig, { baseDir: "." }), {
      code,
      path,
      message,
    });
    // The same from a file, with the file as context.
    const file = writeConfig(config);
    await rejectsConfig(loadConfigFile(file), { code, path, message: `${file}: ${message}` });
  }
});

test("config: an unknown or missing key names the key at every depth", async () => {
  const top =
    "$schema, objects, link, plugins, pipeline, backend, programs, maps, constants, kconfig, core";
  const cases: [unknown, string, string, string][] = [
    [{ object: [] }, "CONFIG_UNKNOWN_KEY", "object", `unknown key (known: ${top})`],
    [
      { backend: { name: "json", colour: "red" } },
      "CONFIG_UNKNOWN_KEY",
      "backend.colour",
      "unknown key (known: name, options)",
    ],
    [
      { maps: { counts: { max_entries: 10 } } },
      "CONFIG_UNKNOWN_KEY",
      "maps.counts.max_entries",
      "unknown key (known: maxEntries, pinning, pinPath)",
    ],
    [
      { plugins: ["./a.ts", { modul: "./b.ts" }] },
      "CONFIG_UNKNOWN_KEY",
      "plugins[1].modul",
      "unknown key (known: module, options)",
    ],
    [
      { plugins: [{ options: {} }] },
      "CONFIG_MISSING_KEY",
      "plugins[0].module",
      "required key is missing",
    ],
    [
      { pipeline: { order: [] } },
      "CONFIG_UNKNOWN_KEY",
      "pipeline.order",
      "unknown key (known: stages, replace)",
    ],
    [
      { programs: { only: ["x"] } },
      "CONFIG_UNKNOWN_KEY",
      "programs.only",
      "unknown key (known: include, exclude, attachTo)",
    ],
  ];
  for (const [config, code, path, detail] of cases) {
    await rejectsConfig(resolveConfig(config as TsbpfConfig, { baseDir: "." }), {
      code,
      path,
      message: `${path}: ${detail}`,
    });
  }
  // In TypeScript, an optional key set to undefined is as good as absent.
  await resolveConfig({ backend: undefined, programs: { include: undefined } }, { baseDir: "." });
});

test("config: a missing config file says which file and why", async () => {
  const file = join(mkdtempSync(join(TMP, "c-")), "missing.json");
  const err = await rejectsConfig(loadConfigFile(file), {
    code: "CONFIG_FILE_UNREADABLE",
    path: "",
    message: `${file}: cannot read the config file: no such file (ENOENT)`,
  });
  assert.ok(err.cause !== undefined);
});

test("config: a config that is not JSON gives the file, line and column", async () => {
  const cases: [string, string][] = [
    ['{"objects": ["a.o",]}', 'line 1, column 20: expected a value, got character "]"'],
    [
      '{\n  "objects": ["a.o"]\n  "maps": {}\n}',
      'line 3, column 3: expected "," or "}" after a property value, got character "\\""',
    ],
    [
      "{\n  objects: []\n}",
      'line 2, column 3: expected a property name in double quotes, got character "o"',
    ],
    [
      '{"objects": []',
      'line 1, column 15: expected "," or "}" after a property value, got end of input',
    ],
    ["", "line 1, column 1: expected a value, got end of input"],
    ["// comment\n{}", 'line 1, column 1: expected a value, got character "/"'],
  ];
  for (const [text, where] of cases) {
    const file = writeConfig(text);
    await rejectsConfig(loadConfigFile(file), {
      code: "CONFIG_NOT_JSON",
      path: "",
      message: `${file}: not valid JSON at ${where}`,
    });
  }
  // A byte order mark is not an error.
  await loadConfigFile(writeConfig("\uFEFF{}"));
});

test("config: the JSON scanner agrees with JSON.parse on mutated configs", () => {
  // The scanner only runs when JSON.parse fails; if the two ever disagreed the
  // message would lose its position, so check agreement both ways.
  const seeds = [
    readFileSync(join(HERE, "full.json"), "utf8"),
    '{"a": [1, -2.5e+3, true, false, null, "x\\u00e9\\n"], "b": {}}',
  ];
  const alphabet = ' {}[]":,-+.0123456789eEtrufalsn\\\n\tx\u0001';
  let state = 0x2545f491;
  const next = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % n;
  };
  for (let i = 0; i < 3000; i++) {
    let text = seeds[i % seeds.length];
    for (let edits = 1 + next(3); edits > 0; edits--) {
      const at = next(text.length + 1);
      const op = next(3);
      const c = alphabet[next(alphabet.length)];
      if (op === 0) text = text.slice(0, at) + text.slice(at + 1);
      else if (op === 1) text = text.slice(0, at) + c + text.slice(at);
      else text = text.slice(0, at) + c + text.slice(at + 1);
    }
    let valid = true;
    try {
      JSON.parse(text);
    } catch {
      valid = false;
    }
    assert.equal(scan(text) === undefined, valid, JSON.stringify(text));
  }
});

test("config: a missing object file names the objects entry", async () => {
  const missing = join(HERE, "no_such_object.o");
  await rejectsConfig(
    runFake({ objects: [fixtureRel("bpfel/xdp_counter.o"), "no_such_object.o"] }),
    {
      code: "CONFIG_OBJECT_UNREADABLE",
      path: "objects[1]",
      message: `objects[1]: cannot read ${missing}: no such file (ENOENT)`,
    },
  );
});

// ---- plugin modules ----------------------------------------------------------

test("config: a plugin module that cannot be imported names the entry and the specifier", async () => {
  const resolved = await loadWritten((file) => ({
    plugins: [rel(file, helper("claim_license.ts")), "./nope.ts"],
  }));
  const err = await rejectsConfig(createLoader(resolved), {
    code: "CONFIG_IMPORT",
    path: "plugins[1]",
    message: /^plugins\[1\]: cannot import "\.\/nope\.ts": ./,
  });
  assert.ok(err.cause instanceof Error);
});

test("config: a plugin factory that throws keeps the cause", async () => {
  const resolved = await loadWritten((file) => ({
    plugins: [{ module: rel(file, helper("throwing_factory.ts")), options: { level: 3 } }],
  }));
  const err = await rejectsConfig(createLoader(resolved), {
    code: "CONFIG_PLUGIN_FACTORY",
    path: "plugins[0]",
    message: 'plugins[0]: plugin factory threw: cannot use options {"level":3}',
  });
  assert.ok(err.cause instanceof Error);
  assert.equal(err.cause.message, 'cannot use options {"level":3}');
});

test("config: a module exporting no plugin, and options for a plugin object, are errors", async () => {
  const notPlugin = await loadWritten((file) => ({
    plugins: [rel(file, helper("not_a_plugin.ts"))],
  }));
  await rejectsConfig(createLoader(notPlugin), {
    code: "CONFIG_NOT_PLUGIN",
    path: "plugins[0]",
    message: "plugins[0]: expected a plugin object or factory, got number 42",
  });
  const replaceNoStage = await loadWritten((file) => ({
    pipeline: { replace: { link: rel(file, helper("named_plugin.ts")) } },
  }));
  await rejectsConfig(createLoader(replaceNoStage), {
    code: "CONFIG_NOT_STAGE",
    path: "pipeline.replace.link",
    message:
      'pipeline.replace.link: expected a stage { name, run } or a factory, got a module with no default export and no export named "stage"',
  });
  const options = await loadWritten((file) => ({
    plugins: [{ module: rel(file, helper("named_plugin.ts")), options: { x: 1 } }],
  }));
  await rejectsConfig(createLoader(options), {
    code: "CONFIG_NOT_PLUGIN",
    path: "plugins[0].options",
    message:
      "plugins[0].options: the module exports a plugin object, not a factory, so it takes no options",
  });
  // The named export `plugin` is accepted, and an absolute path works as well as a relative one.
  const named = await resolveConfig({ plugins: [helper("named_plugin.ts")] }, { baseDir: "/" });
  assert.deepEqual((await createLoader(named)).plugins.map((p) => p.name), [
    "core",
    "kconfig",
    "ksyms",
    "kfuncs",
    "named",
    "config",
  ]);
});

test("config: a plugin stage that throws during a load is the pipeline error, naming the stage", async () => {
  const object = fixturePath("bpfel/xdp_counter.o");
  const resolved = await resolveConfig(
    withFakeBackend({ objects: [object], plugins: [helper("throwing_stage.ts")] }, HERE),
    { baseDir: HERE },
  );
  await assert.rejects(runConfig(resolved), (err: unknown) => {
    assert.ok(err instanceof PipelineError && !(err instanceof ConfigError));
    assert.equal(err.code, "CHECK_FAILED");
    assert.equal(err.message, `${object}: no-programs: 1 programs, none allowed`);
    return true;
  });
  const loader = await createLoader(resolved);
  await assert.rejects(
    loader.loadSpec(readFileSync(object)),
    (err: unknown) =>
      err instanceof PipelineError && err.message === "no-programs: 1 programs, none allowed",
  );
});

test("config: two plugins claiming the same section fail the load with PLUGIN_SECTION_CONFLICT", async () => {
  const object = fixturePath("bpfel/xdp_counter.o");
  const claim = helper("claim_license.ts");
  const resolved = await resolveConfig(
    withFakeBackend({
      objects: [object],
      plugins: [claim, { module: claim, options: { name: "claim-b" } }],
    }, HERE),
    { baseDir: HERE },
  );
  await assert.rejects(runConfig(resolved), (err: unknown) => {
    assert.ok(err instanceof PipelineError);
    assert.equal(err.code, "PLUGIN_SECTION_CONFLICT");
    assert.match(
      err.message,
      new RegExp(
        `^${object}: classify: section license is claimed by plugin claim-a \\(kind claim-a\\.license\\) and by plugin claim-b`,
      ),
    );
    return true;
  });
});

// ---- pipeline edits ----------------------------------------------------------

test("config: pipeline.stages picks and orders stages; unknown names list the stages there are", async () => {
  const unknown = await resolveConfig(
    { pipeline: { stages: ["read", "classify", "relocate", "lnk"] } },
    { baseDir: "." },
  );
  await rejectsConfig(createLoader(unknown), {
    code: "CONFIG_UNKNOWN_STAGE",
    path: "pipeline.stages[3]",
    message:
      'pipeline.stages[3]: no stage named "lnk" (stages: read, classify, btf, relocate, maps, kfuncs, link, core, kconfig, ksyms)',
  });
  const own = await resolveConfig({ pipeline: { stages: ["read", "config-maps"] } }, {
    baseDir: ".",
  });
  await rejectsConfig(createLoader(own), {
    code: "CONFIG_UNKNOWN_STAGE",
    path: "pipeline.stages[1]",
    message:
      'pipeline.stages[1]: "config-maps" is the config\'s own stage, which always runs after link',
  });
  // Dropping link: the config's stages run last.
  const short = await resolveConfig({ pipeline: { stages: ["read", "classify"] } }, {
    baseDir: ".",
  });
  assert.deepEqual((await createLoader(short)).pipeline.names(), [
    "read",
    "classify",
    ...CONFIG_STAGES,
  ]);
  // A plugin's stage can be listed; one left out does not run.
  const named = helper("named_plugin.ts");
  const kept = await createLoader(
    await resolveConfig({ plugins: [named], pipeline: { stages: CORE_STAGES } }, { baseDir: "." }),
  );
  assert.deepEqual(kept.pipeline.names(), [...CORE_STAGES, ...CONFIG_STAGES]);
  const spec = await kept.loadSpec(readFileSync(fixturePath("bpfel/xdp_counter.o")));
  assert.equal(spec.metadata.named, undefined);
});

test("config: the config's stages run after the stages plugins place after link, and keep that place", async () => {
  const after = helper("throwing_stage.ts");
  const stages = async (pipeline: TsbpfConfig["pipeline"]) =>
    (await createLoader(await resolveConfig({ plugins: [after], pipeline }, { baseDir: "." })))
      .pipeline.names();
  const placed = [...CORE_STAGES, "no-programs", ...CONFIG_STAGES];
  assert.deepEqual(await stages(undefined), placed);
  assert.deepEqual(await stages({ stages: [...CORE_STAGES, "no-programs"] }), placed);
  assert.deepEqual(await stages({ stages: ["no-programs", ...CORE_STAGES] }), [
    "no-programs",
    ...CONFIG_STAGES,
    ...CORE_STAGES,
  ]);
  assert.deepEqual(await stages({ stages: CORE_STAGES }), [...CORE_STAGES, ...CONFIG_STAGES]);
});

test("config: pipeline.replace swaps a stage for a module's stage", async () => {
  const resolved = await loadWritten((file) => ({
    pipeline: {
      replace: { link: { module: rel(file, helper("replace_link.ts")), options: { tag: "t" } } },
    },
  }));
  const loader = await createLoader(resolved);
  assert.deepEqual(loader.pipeline.names(), [
    "read",
    "classify",
    "btf",
    "relocate",
    "maps",
    "kfuncs",
    "my-link",
    "core",
    "kconfig",
    "ksyms",
    ...CONFIG_STAGES,
  ]);
  const spec = await loader.loadSpec(readFileSync(fixturePath("bpfel/subprograms.o")));
  assert.equal(spec.metadata.linkedBy, "t");
  assert.ok(spec.programs.size > 0);
  const unknown = await loadWritten((file) => ({
    pipeline: { replace: { lnk: rel(file, helper("replace_link.ts")) } },
  }));
  await rejectsConfig(createLoader(unknown), {
    code: "CONFIG_UNKNOWN_STAGE",
    path: "pipeline.replace.lnk",
    message:
      'pipeline.replace.lnk: no stage named "lnk" (stages: read, classify, btf, relocate, maps, kfuncs, link, core, kconfig, ksyms)',
  });
  const dropped = await loadWritten((file) => ({
    pipeline: { stages: ["read"], replace: { link: rel(file, helper("replace_link.ts")) } },
  }));
  await rejectsConfig(createLoader(dropped), {
    code: "CONFIG_UNKNOWN_STAGE",
    path: "pipeline.replace.link",
    message:
      'pipeline.replace.link: stage "link" is left out of pipeline.stages, so there is nothing to replace',
  });
  const clash = await loadWritten((file) => ({
    pipeline: {
      replace: {
        maps: rel(file, helper("replace_link.ts")),
        link: rel(file, helper("replace_link.ts")),
      },
    },
  }));
  await rejectsConfig(createLoader(clash), {
    code: "CONFIG_PIPELINE",
    path: "pipeline.replace",
    message: "pipeline.replace: stage my-link appears twice",
  });
});

// ---- program selection -------------------------------------------------------

test("config: programs.include and exclude set autoload by glob", async () => {
  const multi = fixtureRel("bpfel/multi_prog_section.o");
  let { results } = await runFake({ objects: [multi], programs: { include: ["xdp_*"] } });
  assert.deepEqual(results[0].autoload, ["xdp_first", "xdp_second"]);
  ({ results } = await runFake({
    objects: [multi],
    programs: { include: ["xdp_*", "socket_?irst"], exclude: ["*_second"] },
  }));
  assert.deepEqual(results[0].autoload, ["socket_first", "xdp_first"]);
  ({ results } = await runFake({ objects: [multi], programs: { exclude: ["[xs]*_first"] } }));
  assert.deepEqual(results[0].autoload, ["socket_second", "xdp_second"]);

  const net = fixtureRel("bpfel/prog_types_net.o");
  ({ results } = await runFake({ objects: [net] }));
  assert.ok(!results[0].autoload.includes("type_xdp_noautoload"), "? sections stay off");
  const all = results[0].autoload.length;
  // Including a `?` program by name turns it on; excluding wins over including.
  ({ results } = await runFake({
    objects: [net],
    programs: { include: ["type_xdp*", "type_lwt_i?"], exclude: ["*_frags"] },
  }));
  assert.deepEqual(results[0].autoload, ["type_lwt_in", "type_xdp", "type_xdp_noautoload"]);
  ({ results } = await runFake({
    objects: [net],
    programs: { exclude: ["type_cgroup_*", "type_sk_[!l]*"] },
  }));
  assert.ok(results[0].autoload.includes("type_sk_lookup"));
  assert.ok(!results[0].autoload.some((n) => n.startsWith("type_cgroup_")));
  assert.equal(results[0].autoload.length, all - 9);
});

test("config: a program glob that matches nothing is a warning, not an error", async () => {
  const loader = await createLoader(
    await resolveConfig({ programs: { include: ["xdp_*"], exclude: ["nothing_*"] } }, {
      baseDir: ".",
    }),
  );
  const ctx = await loader.loadContext(readFileSync(fixturePath("bpfel/multi_prog_section.o")));
  assert.deepEqual(ctx.diagnostics.filter((d) => d.stage === "config-programs"), [{
    stage: "config-programs",
    level: "warning",
    message: 'programs.exclude[0]: "nothing_*" matches no program',
  }]);
});

// ---- map overrides -----------------------------------------------------------

test("config: map overrides set maxEntries and pinning, and record pinPath in metadata", async () => {
  const xdp = fixtureRel("bpfel/xdp_counter.o");
  const resolved = await resolveConfig(
    withFakeBackend({
      objects: [xdp],
      maps: {
        "c*": { maxEntries: 10, pinPath: "/sys/fs/bpf/first" },
        counts: { maxEntries: 4096, pinning: "byName", pinPath: "/sys/fs/bpf/app" },
      },
    }, HERE),
    { baseDir: HERE },
  );
  const [run] = await runConfig(resolved);
  const counts = run.spec.maps.get("counts")!;
  assert.equal(counts.maxEntries, 4096, "later keys win");
  assert.equal(counts.pinning, PinType.BY_NAME);
  assert.deepEqual(run.spec.metadata, {
    config: { maps: { counts: { pinPath: "/sys/fs/bpf/app" } } },
  });
  assert.deepEqual((run.result as FakeResult).maxEntries, { counts: 4096 });
});

test("config: a map key that matches no map fails the load, naming the key", async () => {
  const xdp = fixtureRel("bpfel/xdp_counter.o");
  const file = join(HERE, xdp);
  await rejectsConfig(runFake({ objects: [xdp], maps: { countz: { maxEntries: 2 } } }), {
    code: "CONFIG_UNKNOWN_MAP",
    path: "maps.countz",
    message: `${file}: config-maps: maps.countz: no map of that name (maps: counts)`,
  });
  await rejectsConfig(runFake({ objects: [xdp], maps: { "*_pinned": { pinning: "byName" } } }), {
    code: "CONFIG_UNKNOWN_MAP",
    path: 'maps["*_pinned"]',
    message: `${file}: config-maps: maps["*_pinned"]: matches no map (maps: counts)`,
  });
  const data = fixtureRel("bpfel/data_sections.o");
  await rejectsConfig(runFake({ objects: [data], maps: { ".rodata": { maxEntries: 2 } } }), {
    code: "CONFIG_MAP_OVERRIDE",
    path: 'maps[".rodata"].maxEntries',
    message: `${
      join(HERE, data)
    }: config-maps: maps[".rodata"].maxEntries: map .rodata holds a data section, which is always one entry`,
  });
});

// ---- constants -------------------------------------------------------------

test("config: constants set .rodata globals in the object's byte order", async () => {
  for (
    const [order, limit, mode] of [
      ["bpfel", [0xe8, 0x03, 0, 0], [7, 0, 0, 0]],
      ["bpfeb", [0, 0, 0x03, 0xe8], [0, 0, 0, 7]],
    ] as const
  ) {
    const object = fixtureRel(`${order}/data_sections.o`);
    const before = (await runFake({ objects: [object] })).specs[0] as {
      maps: Map<string, MapSpec>;
    };
    const original = before.maps.get(".rodata")!.contents[0].value as Uint8Array;
    const view = new DataView(original.buffer, original.byteOffset);
    assert.equal(view.getUint32(0, order === "bpfel"), 1500, `${order}: ro_limit starts at 1500`);
    const { specs } = await runFake({
      objects: [object],
      constants: { ro_limit: 1000, ro_mode: "0x7", cfg_flags: "-1" },
    });
    const maps = (specs[0] as { maps: Map<string, MapSpec> }).maps;
    assert.deepEqual([...(maps.get(".rodata")!.contents[0].value as Uint8Array)], [
      ...limit,
      ...mode,
    ]);
    assert.deepEqual([...(maps.get(".rodata.cfg")!.contents[0].value as Uint8Array)], [
      0xff,
      0xff,
      0xff,
      0xff,
    ]);
  }
});

test("config: constants that name no read-only global, or do not fit, are errors naming the key", async () => {
  const object = fixtureRel("bpfel/data_sections.o");
  const file = join(HERE, object);
  const cases: [Record<string, number | string | boolean>, string, string, string][] = [
    [
      { nope: 1 },
      "CONFIG_UNKNOWN_GLOBAL",
      "constants.nope",
      "no global of that name in .rodata (read-only globals: cfg_flags, ro_limit, ro_mode)",
    ],
    [
      { data_first: 1 },
      "CONFIG_UNKNOWN_GLOBAL",
      "constants.data_first",
      "the global is in .data, not in .rodata: only read-only (const volatile) globals can be set",
    ],
    [
      { ro_limit: 4294967296 },
      "CONFIG_CONSTANT",
      "constants.ro_limit",
      "4294967296 does not fit in 4 bytes",
    ],
    [
      { ro_limit: "-2147483649" },
      "CONFIG_CONSTANT",
      "constants.ro_limit",
      "-2147483649 does not fit in 4 bytes",
    ],
    [
      { ro_mode: true },
      "CONFIG_CONSTANT",
      "constants.ro_mode",
      "true is a boolean, but the global is 4 bytes (booleans set 1-byte globals)",
    ],
  ];
  for (const [constants, code, path, detail] of cases) {
    await rejectsConfig(runFake({ objects: [object], constants }), {
      code,
      path,
      message: `${file}: config-constants: ${path}: ${detail}`,
    });
  }
});

test("config: constants of 1, 2 and 8 bytes, booleans and 64-bit strings", () => {
  // A hand-made context: the fixtures have only 4-byte read-only globals.
  for (const order of ["little", "big"] as const) {
    const ctx = newLoadContext(new Uint8Array());
    ctx.byteOrder = order;
    const section = {
      index: 3,
      name: ".rodata.wide",
      type: 1,
      flags: 2,
      offset: 0,
      size: 24,
      link: 0,
      info: 0,
      addralign: 8,
      entsize: 0,
    };
    ctx.sections.set(3, {
      section,
      kind: "data",
      symbols: new Map(),
      relocations: new Map(),
      references: 1,
    });
    const sym = (name: string, value: number, size: number) => ({
      index: ctx.symbols.length + 1,
      name,
      value,
      size,
      type: STT_OBJECT,
      bind: 1,
      visibility: 0,
      sectionIndex: 3,
    });
    ctx.symbols.push(
      sym("flag", 0, 1),
      sym("port", 2, 2),
      sym("big", 8, 8),
      sym("neg", 16, 8),
      sym("blob", 4, 3),
    );
    ctx.maps.set(
      ".rodata.wide",
      new MapSpec({
        name: ".rodata.wide",
        type: MapType.ARRAY,
        keySize: 4,
        valueSize: 24,
        maxEntries: 1,
        contents: [{ key: 0, value: new Uint8Array(24) }],
      }),
    );
    const settings = (constants: ConfigSettings["constants"]): ConfigSettings => ({
      programs: { exclude: [] },
      maps: {},
      constants,
    });
    const run = (constants: ConfigSettings["constants"]) => {
      for (const edit of configPlugin(settings(constants)).stages ?? []) {
        if ("stage" in edit && edit.stage.name === "config-constants") edit.stage.run(ctx);
      }
    };
    run({ flag: true, port: "0x1f90", big: "18446744073709551615", neg: "-2" });
    const bytes = ctx.maps.get(".rodata.wide")!.contents[0].value as Uint8Array;
    const view = new DataView(bytes.buffer);
    const little = order === "little";
    assert.equal(bytes[0], 1);
    assert.equal(view.getUint16(2, little), 8080);
    assert.equal(view.getBigUint64(8, little), 0xffff_ffff_ffff_ffffn);
    assert.equal(view.getBigInt64(16, little), -2n);
    assert.throws(() => run({ flag: 256 }), /constants\.flag: 256 does not fit in 1 byte$/);
    assert.throws(() => run({ flag: -129 }), /constants\.flag: -129 does not fit in 1 byte$/);
    run({ flag: -128 });
    assert.equal(bytes[0], 0x80);
    assert.throws(
      () => run({ big: "0x10000000000000000" }),
      /constants\.big: 0x10000000000000000 does not fit in 8 bytes$/,
    );
    assert.throws(
      () => run({ blob: 1 }),
      (err: unknown) =>
        err instanceof ConfigError && err.code === "CONFIG_CONSTANT" &&
        err.path === "constants.blob" &&
        /the global is 3 bytes; only 1, 2, 4 and 8-byte globals can be set/.test(err.message),
    );
  }
});

// ---- backends ----------------------------------------------------------------

test("config: backend options are checked against the factory's optionsSchema", async () => {
  const xdp = fixtureRel("bpfel/xdp_counter.o");
  const backend = (options: Record<string, unknown>) => ({ name: "fake-json", options });
  await rejectsConfig(runFake({ objects: [xdp], backend: backend({ output: 3 }) }), {
    code: "CONFIG_TYPE",
    path: "backend.options.output",
    message: "backend.options.output: expected a string",
  });
  await rejectsConfig(runFake({ objects: [xdp], backend: backend({ pinPath: "/x" }) }), {
    code: "CONFIG_UNKNOWN_KEY",
    path: "backend.options.pinPath",
    message: "backend.options.pinPath: unknown key (known: output, pretty)",
  });
  await rejectsConfig(runFake({ objects: [xdp], backend: backend({ pretty: "yes" }) }), {
    code: "CONFIG_TYPE",
    path: "backend.options.pretty",
    message: "backend.options.pretty: expected a boolean",
  });
  const { results } = await runFake({
    objects: [xdp],
    backend: backend({ output: "out.json", pretty: true }),
  });
  assert.deepEqual(results[0].options, { output: "out.json", pretty: true });
  // A factory's own ConfigError passes through; any other error is wrapped with the cause.
  await rejectsConfig(runFake({ objects: [xdp], backend: backend({ output: "" }) }), {
    code: "CONFIG_VALUE",
    path: "backend.options.output",
    message: "backend.options.output: must not be empty",
  });
  const err = await rejectsConfig(runFake({ objects: [xdp], backend: backend({ output: "!" }) }), {
    code: "CONFIG_BACKEND",
    path: "backend",
    message: 'backend: backend factory "fake-json" threw: cannot open !',
  });
  assert.ok(err.cause instanceof Error);
  await rejectsConfig(runFake({ objects: [xdp], backend: { name: "nope" } }), {
    code: "CONFIG_UNKNOWN_BACKEND",
    path: "backend.name",
    message: /^backend\.name: no backend named "nope" \(registered: (.*, )?fake-json(, .*)?\)$/,
  });
  // The validator on its own, with a `backend.options` path like the loader's.
  assert.throws(
    () =>
      validate({ pinPath: 3 }, { type: "object", properties: { pinPath: { type: "string" } } }, {
        path: "backend.options",
      }),
    (err: unknown) =>
      err instanceof ConfigError && err.message === "backend.options.pinPath: expected a string",
  );
});

// ---- the same config as a file and as an object ------------------------------

test("config: the same config as a TypeScript object gives the same result as the file", async () => {
  const file = join(HERE, "full.json");
  const fromFile = await loadConfigFile(file);
  const config: TsbpfConfig = JSON.parse(readFileSync(file, "utf8"));
  const fromObject = await resolveConfig(config, { baseDir: HERE });
  const { file: _, ...withoutFile } = fromFile;
  assert.deepEqual(fromObject, withoutFile);
  const a = await runConfig(fromFile);
  const b = await runConfig(fromObject);
  assert.equal(a.length, 2);
  for (let i = 0; i < a.length; i++) {
    assert.equal(a[i].file, b[i].file);
    assert.ok(a[i].spec.equals(b[i].spec), `${a[i].file}: specs are equal`);
    assert.deepEqual(a[i].result, b[i].result);
    assert.deepEqual(a[i].result, {
      options: { output: "out.json", pretty: true },
      autoload: ["read_data", "read_rodata", "write_bss"],
      maxEntries: {
        ".data": 1,
        ".rodata": 1,
        ".data.custom": 1,
        ".rodata.cfg": 1,
        ".bss": 1,
        ".bss.big": 1,
      },
    });
    assert.deepEqual(a[i].spec.metadata, {
      linkedBy: "full",
      named: true,
      config: {
        maps: {
          ".data": { pinPath: "/sys/fs/bpf/app" },
          ".data.custom": { pinPath: "/sys/fs/bpf/app" },
        },
      },
    });
    const rodata = a[i].spec.maps.get(".rodata")!.contents[0].value as Uint8Array;
    assert.equal(new DataView(rodata.buffer, rodata.byteOffset).getUint32(0, i === 0), 1000);
  }
});
