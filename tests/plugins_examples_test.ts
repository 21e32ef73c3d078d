// The example plugins (plugins/examples/): each through a Loader on the
// fixtures in both byte orders, their errors with codes and offsets, their
// options checks, and combinations.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type CollectionSpec,
  ConfigError,
  LinkError,
  Loader,
  MapSpec,
  MapType,
  PipelineError,
  type Plugin,
  type PluginModule,
  ProgramSpec,
  ProgramType,
  sectionsOfKind,
  TsbpfError,
} from "../mod.ts";
import { readElf } from "../elf/mod.ts";
import {
  BPF_OBJ_NAME_LEN,
  describeHelper,
  forbidHelpersPlugin,
  HELPER_IDS,
  helperId,
  mapPrefixPlugin,
  META_KIND,
  metaSectionPlugin,
  parseMetaRecords,
} from "../plugins/examples/mod.ts";
import metaDefault from "../plugins/examples/meta_section.ts";
import prefixDefault from "../plugins/examples/map_prefix.ts";
import forbidDefault from "../plugins/examples/forbid_helpers.ts";
import {
  fixtureManifest,
  fixtureObjects,
  readFixture,
  UAPI_BPF_H,
  uapiHelperIds,
} from "./_util.ts";

const ORDERS = ["bpfel", "bpfeb"] as const;
const META = { owner: "net-team", version: "3", description: "drops short packets" };
const encoder = new TextEncoder();

/** The fixture's bytes with the `.tsbpf.meta` section's bytes passed to `patch`. */
function patchMeta(order: string, patch: (data: Uint8Array) => void): Uint8Array {
  const bytes = readFixture(`${order}/meta_section.o`).slice();
  const sec = readElf(bytes).sectionByName(".tsbpf.meta");
  assert.ok(sec, "meta_section.o has a .tsbpf.meta section");
  patch(bytes.subarray(sec.offset, sec.offset + sec.size));
  return bytes;
}

/** Overwrite `data` at `at` with the UTF-8 bytes of `text`. */
function write(data: Uint8Array, at: number, text: string | number[]): void {
  data.set(typeof text === "string" ? encoder.encode(text) : text, at);
}

/** Whether `fn` rejects with a TsbpfError of `code`; returns the error. */
async function rejection(fn: () => Promise<unknown>, code: string): Promise<TsbpfError> {
  let caught: unknown;
  await assert.rejects(fn, (err: unknown) => {
    caught = err;
    return err instanceof TsbpfError && err.code === code;
  });
  return caught as TsbpfError;
}

/** Whether `fn` throws a ConfigError PLUGIN_INVALID_OPTIONS whose message matches `message`. */
function assertBadOptions(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, "PLUGIN_INVALID_OPTIONS");
    assert.match(err.message, message);
    return true;
  });
}

// ---------------------------------------------------------------- meta_section

test("meta_section: fixture section holds the exact bytes clang was asked for", () => {
  for (const order of ORDERS) {
    const elf = readElf(readFixture(`${order}/meta_section.o`));
    const sec = elf.sectionByName(".tsbpf.meta")!;
    assert.deepEqual(
      elf.sectionData(sec),
      encoder.encode("owner=net-team\0version=3\0description=drops short packets\0"),
    );
  }
});

test("meta_section: the core pipeline loads the object and ignores the section", async () => {
  const want = fixtureManifest()["meta_section.o"];
  for (const order of ORDERS) {
    const ctx = await Loader.create().loadContext(readFixture(`${order}/meta_section.o`));
    const ignored = sectionsOfKind(ctx, "ignored").map((s) => s.section.name);
    assert.ok(ignored.includes(".tsbpf.meta"), order);
    assert.deepEqual(ctx.metadata, {});
    assert.deepEqual([...ctx.maps.keys()], Object.keys(want.maps));
    assert.deepEqual(
      ctx.programs.get("xdp_drop_short")!.references(),
      want.programs.xdp_drop_short.references,
    );
  }
});

test("meta_section: records become metadata['tsbpf.meta'] in both byte orders", async () => {
  const loader = Loader.create([metaSectionPlugin()]);
  assert.deepEqual(loader.pipeline.names(), [
    "read",
    "classify",
    "tsbpf.meta",
    "btf",
    "relocate",
    "maps",
    "kfuncs",
    "link",
    "core",
    "kconfig",
    "ksyms",
  ]);
  for (const order of ORDERS) {
    const ctx = await loader.loadContext(readFixture(`${order}/meta_section.o`));
    const [sec, ...rest] = sectionsOfKind(ctx, META_KIND);
    assert.equal(rest.length, 0);
    assert.equal(sec.section.name, ".tsbpf.meta");
    assert.equal(sec.claimedBy, "tsbpf.meta");
    const spec = await loader.loadSpec(readFixture(`${order}/meta_section.o`));
    assert.deepEqual(spec.metadata, { "tsbpf.meta": META });
    assert.deepEqual(Object.keys(spec.metadata["tsbpf.meta"] as object), [
      "owner",
      "version",
      "description",
    ]);
    // The rest of the spec is what the core alone produces.
    const plain = await Loader.create().loadSpec(readFixture(`${order}/meta_section.o`));
    plain.metadata = spec.metadata;
    assert.ok(plain.equals(spec));
  }
});

test("meta_section: an object without the section gets no metadata entry", async () => {
  const spec = await Loader.create([metaSectionPlugin()]).loadSpec(
    readFixture("bpfel/xdp_counter.o"),
  );
  assert.deepEqual(spec.metadata, {});
});

test("meta_section: UTF-8 values, '=' inside values, and empty values", async () => {
  for (const order of ORDERS) {
    const bytes = patchMeta(order, (data) => {
      write(data, 6, "équipes"); // 8 bytes, like "net-team"
      write(data, 15, "k=v=x=y=z"); // 9 bytes, like "version=3"
      data.fill(0x20, 37, 56); // "drops short packets" -> 19 spaces
    });
    const spec = await Loader.create([metaSectionPlugin()]).loadSpec(bytes);
    assert.deepEqual(spec.metadata["tsbpf.meta"], {
      owner: "équipes",
      k: "v=x=y=z",
      description: " ".repeat(19),
    });
  }
  assert.deepEqual(parseMetaRecords(encoder.encode("a=\0")), [{ key: "a", value: "", offset: 0 }]);
  assert.deepEqual(parseMetaRecords(new Uint8Array(0)), []);
});

test("meta_section: a __proto__ key is a plain property", async () => {
  const bytes = patchMeta("bpfel", (data) => write(data, 0, "__proto__=")); // over "owner=net-"
  const spec = await Loader.create([metaSectionPlugin()]).loadSpec(bytes);
  const meta = spec.metadata["tsbpf.meta"] as Record<string, string>;
  assert.equal(Object.getPrototypeOf(meta), Object.prototype);
  assert.ok(Object.hasOwn(meta, "__proto__"));
  assert.equal(meta["__proto__"], "team");
});

// Each malformed section: the patch, the code, the record offset.
const MALFORMED: {
  what: string;
  patch: (data: Uint8Array) => void;
  code: string;
  offset: number;
}[] = [
  { what: "no '='", patch: (d) => write(d, 22, "_"), code: "META_NO_SEPARATOR", offset: 15 },
  { what: "empty key", patch: (d) => write(d, 15, "="), code: "META_EMPTY_KEY", offset: 15 },
  {
    what: "duplicate key",
    patch: (d) => write(d, 15, "owner=abc"),
    code: "META_DUPLICATE_KEY",
    offset: 15,
  },
  {
    what: "invalid UTF-8 (0xff)",
    patch: (d) => write(d, 30, [0xff]),
    code: "META_BAD_UTF8",
    offset: 25,
  },
  {
    what: "invalid UTF-8 (sequence cut by the NUL)",
    patch: (d) => write(d, 23, [0xc3]),
    code: "META_BAD_UTF8",
    offset: 15,
  },
  {
    what: "unterminated last record",
    patch: (d) => write(d, 56, "!"),
    code: "META_UNTERMINATED",
    offset: 25,
  },
  { what: "empty record", patch: (d) => write(d, 15, [0]), code: "META_EMPTY_RECORD", offset: 15 },
];

for (const c of MALFORMED) {
  test(`meta_section: ${c.what} is ${c.code} at offset ${c.offset}`, async () => {
    for (const order of ORDERS) {
      const bytes = patchMeta(order, c.patch);
      const err = await rejection(
        () => Loader.create([metaSectionPlugin()]).loadSpec(bytes),
        c.code,
      );
      assert.ok(err instanceof LinkError);
      assert.equal(err.section, ".tsbpf.meta");
      assert.equal(err.offset, c.offset);
      assert.equal(err.sectionIndex, readElf(bytes).sectionByName(".tsbpf.meta")!.index);
      assert.match(
        err.message,
        new RegExp(`^tsbpf\\.meta: section \\.tsbpf\\.meta: offset ${c.offset}: `),
      );
      // The core alone still loads the patched object.
      await Loader.create().loadSpec(bytes);
    }
  });
}

test("meta_section: the section option claims another section name", async () => {
  // Rename the section in the string table: ".tsbpf.meta" -> ".tsbpf.info".
  const bytes = readFixture("bpfeb/meta_section.o").slice();
  const elf = readElf(bytes);
  const strtab = elf.sections[elf.header.sectionNamesIndex];
  const names = elf.sectionData(strtab);
  const at = names.findIndex((_, i) => isAt(names, i, ".tsbpf.meta\0"));
  assert.ok(at >= 0);
  write(names, at, ".tsbpf.info");
  assert.ok(readElf(bytes).sectionByName(".tsbpf.info"));

  const other = metaSectionPlugin({ section: ".tsbpf.info", name: "info" });
  const spec = await Loader.create([metaSectionPlugin(), other]).loadSpec(bytes);
  assert.deepEqual(spec.metadata, { info: META });
});

function isAt(haystack: Uint8Array, at: number, text: string): boolean {
  const needle = encoder.encode(text);
  return needle.every((b, i) => haystack[at + i] === b);
}

test("meta_section: claiming .tsbpf.meta under two plugin names is PLUGIN_SECTION_CONFLICT", async () => {
  const loader = Loader.create([metaSectionPlugin(), metaSectionPlugin({ name: "meta.copy" })]);
  const err = await rejection(
    () => loader.loadSpec(readFixture("bpfel/meta_section.o")),
    "PLUGIN_SECTION_CONFLICT",
  );
  assert.ok(err instanceof PipelineError);
  assert.match(err.message, /section \.tsbpf\.meta is claimed by plugin tsbpf\.meta .* meta\.copy/);
  // The same name twice is caught earlier, by the loader.
  assert.throws(
    () => Loader.create([metaSectionPlugin(), metaSectionPlugin()]),
    (e: unknown) => e instanceof PipelineError && e.code === "PLUGIN_DUPLICATE",
  );
});

test("meta_section: options are checked at creation", () => {
  assertBadOptions(() => metaSectionPlugin({ section: "" }), /^plugin tsbpf\.meta: section: /);
  assertBadOptions(
    () => metaSectionPlugin({ section: 5 } as unknown as { section: string }),
    /section: must be a non-empty string/,
  );
  assertBadOptions(() => metaSectionPlugin({ name: "" }), /name: must be a non-empty string/);
  assertBadOptions(
    () => metaSectionPlugin({ sections: ".x" } as unknown as { section: string }),
    /sections: unknown option \(known: section, name\)/,
  );
  assertBadOptions(
    () => metaSectionPlugin(null as unknown as { section: string }),
    /options: must be an object/,
  );
});

// ------------------------------------------------------------------ map_prefix

/** Every map is stored under its own name; every reference names something that exists. */
function assertConsistent(spec: CollectionSpec, label: string): void {
  for (const [key, map] of spec.maps) assert.equal(map.name, key, label);
  for (const prog of spec.programs.values()) {
    const functions = new Set(prog.functions());
    for (const ref of prog.references()) {
      assert.ok(
        spec.maps.has(ref) || spec.programs.has(ref) || functions.has(ref),
        `${label}: program ${prog.name} refers to ${ref}, which does not exist`,
      );
    }
  }
}

/** Fixtures the core loads and whose references all resolve (no externs). */
function prefixFixtures(): string[] {
  const manifest = fixtureManifest();
  return fixtureObjects("bpfel").filter((f) => !manifest[f]?.error && f !== "externs.o");
}

test("map_prefix: renames maps, keys and references, keeping the spec consistent", async () => {
  const files = prefixFixtures();
  assert.ok(files.includes("meta_section.o") && files.includes("legacy_maps.o"));
  const loader = Loader.create([mapPrefixPlugin({ prefix: "app_" })]);
  for (const order of ORDERS) {
    for (const file of files) {
      const label = `${order}/${file}`;
      const plain = await Loader.create().loadSpec(readFixture(label));
      const spec = await loader.loadSpec(readFixture(label));
      assertConsistent(plain, label);
      assertConsistent(spec, label);
      const rename = (name: string) =>
        plain.maps.has(name) && !name.startsWith(".") ? `app_${name}` : name;
      assert.deepEqual([...spec.maps.keys()], [...plain.maps.keys()].map(rename), label);
      for (const [name, map] of plain.maps) {
        const renamed = spec.maps.get(rename(name))!.copy();
        renamed.name = name;
        // Names inside the map (inner template, map-of-maps slots) are renamed too: undo them.
        if (renamed.innerMap !== undefined) renamed.innerMap.name = map.innerMap!.name;
        renamed.contents = renamed.contents.map((kv, i) => ({
          ...kv,
          value: map.contents[i]?.value ?? kv.value,
        }));
        assert.ok(renamed.equals(map), `${label}: map ${name} changed beyond its name`);
        if (map.innerMap !== undefined) {
          assert.equal(spec.maps.get(rename(name))!.innerMap!.name, `app_${map.innerMap.name}`);
        }
      }
      for (const [name, prog] of plain.programs) {
        const got = spec.programs.get(name)!;
        assert.deepEqual(got.references(), prog.references().map(rename).sort(), label);
        assert.equal(got.instructions.length, prog.instructions.length);
        got.instructions.forEach((ins, i) => {
          const want = prog.instructions[i];
          assert.deepEqual(
            { ...ins, reference: undefined },
            { ...want, reference: undefined },
            `${label}: ${name}[${i}]`,
          );
          assert.equal(ins.reference, want.reference && rename(want.reference));
        });
      }
    }
  }
});

test("map_prefix: the meta_section fixture in both byte orders", async () => {
  for (const order of ORDERS) {
    const spec = await Loader.create([mapPrefixPlugin({ prefix: "app_" })]).loadSpec(
      readFixture(`${order}/meta_section.o`),
    );
    assert.deepEqual([...spec.maps.keys()], ["app_short_drops", ".rodata"]);
    assert.deepEqual(spec.programs.get("xdp_drop_short")!.references(), [
      ".rodata",
      "app_short_drops",
    ]);
  }
});

test("map_prefix: includeDataSections renames .data, .rodata, .bss and friends", async () => {
  for (const order of ORDERS) {
    const ctx = await Loader.create([
      mapPrefixPlugin({ prefix: "app_", includeDataSections: true }),
    ]).loadContext(readFixture(`${order}/data_sections.o`));
    assert.deepEqual([...ctx.maps.keys()], [
      "app_.data",
      "app_.rodata",
      "app_.data.custom",
      "app_.rodata.cfg",
      "app_.bss",
      "app_.bss.big",
    ]);
    assert.deepEqual(ctx.programs.get("read_rodata")!.references(), [
      "app_.rodata",
      "app_.rodata.cfg",
    ]);
    // "app_.data.custom" is 16 characters: the only one past the kernel's 15.
    const warnings = ctx.diagnostics.filter((d) => d.stage === "map_prefix");
    assert.deepEqual(warnings.map((d) => [d.level, d.message]), [[
      "warning",
      "map app_.data.custom: 16 characters, more than the kernel's 15: the kernel backend will create it as app_.data.custo",
    ]]);
  }
});

test("map_prefix: names past BPF_OBJ_NAME_LEN - 1 get a warning each", async () => {
  const ctx = await Loader.create([mapPrefixPlugin({ prefix: "application_" })]).loadContext(
    readFixture("bpfel/legacy_maps.o"),
  );
  const long = [...ctx.maps.keys()].filter((n) => n.length > BPF_OBJ_NAME_LEN - 1);
  assert.ok(long.length > 0);
  const warned = ctx.diagnostics.filter((d) => d.stage === "map_prefix").map((d) => d.message);
  assert.deepEqual(warned.map((m) => m.split(":")[0]), long.map((n) => `map ${n}`));
  assert.ok(warned.some((m) => m.endsWith("as application_flo")), warned.join("\n"));
});

test("map_prefix: map-of-maps contents and inner maps are renamed, prog-array contents are not", async () => {
  const addMaps: Plugin = {
    name: "add-maps",
    stages: [{
      after: "maps",
      stage: {
        name: "add-maps",
        run(ctx) {
          const inner = new MapSpec({ name: "outer.inner", type: MapType.ARRAY, keySize: 4 });
          ctx.maps.set(
            "outer",
            new MapSpec({
              name: "outer",
              type: MapType.ARRAY_OF_MAPS,
              innerMap: inner,
              contents: [{ key: 0, value: "counts" }, { key: 1, value: "not_a_map" }],
            }),
          );
          ctx.maps.set(
            "jump",
            new MapSpec({
              name: "jump",
              type: MapType.PROG_ARRAY,
              contents: [{ key: 0, value: "xdp_count" }],
            }),
          );
        },
      },
    }],
  };
  for (const order of ORDERS) {
    const spec = await Loader.create([addMaps, mapPrefixPlugin({ prefix: "p_" })]).loadSpec(
      readFixture(`${order}/xdp_counter.o`),
    );
    assert.deepEqual([...spec.maps.keys()], ["p_counts", "p_outer", "p_jump"]);
    const outer = spec.maps.get("p_outer")!;
    assert.deepEqual(outer.contents.map((kv) => kv.value), ["p_counts", "not_a_map"]);
    assert.equal(outer.innerMap!.name, "p_outer.inner");
    assert.deepEqual(spec.maps.get("p_jump")!.contents.map((kv) => kv.value), ["xdp_count"]);
    assertConsistent(spec, order);
  }
});

test("map_prefix: a new name that another map keeps is MAP_PREFIX_CONFLICT", async () => {
  // Prefix "." turns map "rodata" into ".rodata", which the data section keeps.
  const addRodata: Plugin = {
    name: "add-rodata",
    stages: [{
      after: "maps",
      stage: {
        name: "add-rodata",
        run(ctx) {
          ctx.maps.set("rodata", new MapSpec({ name: "rodata", type: MapType.ARRAY }));
        },
      },
    }],
  };
  const err = await rejection(
    () =>
      Loader.create([addRodata, mapPrefixPlugin({ prefix: "." })]).loadSpec(
        readFixture("bpfel/meta_section.o"),
      ),
    "MAP_PREFIX_CONFLICT",
  );
  assert.ok(err instanceof LinkError);
  assert.equal(
    err.message,
    'map_prefix: map "rodata": new name ".rodata" is taken by another map',
  );
});

test("map_prefix: options are checked at creation", () => {
  const bad = (o: unknown) => () => mapPrefixPlugin(o as { prefix: string });
  assertBadOptions(bad({}), /^plugin map_prefix: prefix: must be a non-empty string$/);
  assertBadOptions(bad({ prefix: "" }), /prefix: must be a non-empty string/);
  assertBadOptions(bad({ prefix: 3 }), /prefix: must be a non-empty string/);
  assertBadOptions(bad({ prefix: "app-" }), /prefix: "app-": the kernel accepts only/);
  assertBadOptions(bad({ prefix: "x".repeat(15) }), /prefix: 15 characters leave no room/);
  assertBadOptions(
    bad({ prefix: "a_", includeDataSections: "yes" }),
    /includeDataSections: must be a boolean/,
  );
  assertBadOptions(bad({ prefix: "a_", prefx: "b" }), /prefx: unknown option/);
  assert.equal(mapPrefixPlugin({ prefix: "x".repeat(14) }).name, "map_prefix");
});

// -------------------------------------------------------------- forbid_helpers

test("forbid_helpers: the helper table matches the uapi __BPF_FUNC_MAPPER IDs", () => {
  const want: Record<string, number> = {
    map_lookup_elem: 1,
    map_update_elem: 2,
    map_delete_elem: 3,
    probe_read: 4,
    ktime_get_ns: 5,
    trace_printk: 6,
    get_prandom_u32: 7,
    get_smp_processor_id: 8,
    tail_call: 12,
    get_current_pid_tgid: 14,
    get_current_comm: 16,
    perf_event_output: 25,
    probe_read_user: 112,
    probe_read_kernel: 113,
    ringbuf_output: 130,
    loop: 181,
  };
  for (const [name, id] of Object.entries(want)) {
    assert.equal(HELPER_IDS[name], id, name);
    assert.equal(helperId(`bpf_${name}`), id);
  }
  assert.equal(new Set(Object.values(HELPER_IDS)).size, Object.keys(HELPER_IDS).length);
  assert.equal(helperId("no_such_helper"), undefined);
  assert.equal(helperId("toString"), undefined);
  assert.equal(describeHelper(1), "bpf_map_lookup_elem (1)");
  assert.equal(describeHelper(77), "helper 77");
});

test("forbid_helpers: every table entry matches <linux/bpf.h> when it is installed", () => {
  const ids = uapiHelperIds();
  if (ids === undefined) return console.log(`skipped: no ${UAPI_BPF_H} (install linux-libc-dev)`);
  assert.equal(ids.get("unspec"), 0);
  for (const [name, id] of Object.entries(HELPER_IDS)) assert.equal(ids.get(name), id, name);
});

test("forbid_helpers: xdp_counter.o calls helper 1, by ID or by name", async () => {
  for (const order of ORDERS) {
    for (const helper of [1, "map_lookup_elem", "bpf_map_lookup_elem"]) {
      const loader = Loader.create([forbidHelpersPlugin({ helpers: [6, helper] })]);
      const err = await rejection(
        () => loader.loadSpec(readFixture(`${order}/xdp_counter.o`)),
        "HELPER_FORBIDDEN",
      );
      assert.ok(err instanceof LinkError);
      assert.equal(
        err.message,
        "forbid_helpers: program xdp_count: pc 11: calls forbidden helper bpf_map_lookup_elem (1)",
      );
    }
  }
});

test("forbid_helpers: passes when only helpers the programs don't call are forbidden", async () => {
  for (const order of ORDERS) {
    const loader = Loader.create([forbidHelpersPlugin({ helpers: [6] })]);
    const spec = await loader.loadSpec(readFixture(`${order}/xdp_counter.o`));
    assert.ok(spec.equals(await Loader.create().loadSpec(readFixture(`${order}/xdp_counter.o`))));
    await Loader.create([forbidHelpersPlugin({ helpers: [] })]).loadSpec(
      readFixture(`${order}/xdp_counter.o`),
    );
  }
});

test("forbid_helpers: pc counts ld_imm64 as two slots; other fixtures and helpers", async () => {
  for (const order of ORDERS) {
    const meta = await rejection(
      () =>
        Loader.create([forbidHelpersPlugin({ helpers: ["map_lookup_elem"] })]).loadSpec(
          readFixture(`${order}/meta_section.o`),
        ),
      "HELPER_FORBIDDEN",
    );
    assert.match(meta.message, /program xdp_drop_short: pc 14: calls forbidden helper/);
    const tail = await rejection(
      () =>
        Loader.create([forbidHelpersPlugin({ helpers: ["tail_call"] })]).loadSpec(
          readFixture(`${order}/legacy_maps.o`),
        ),
      "HELPER_FORBIDDEN",
    );
    assert.match(tail.message, /program tail_and_event: pc \d+: .* bpf_tail_call \(12\)$/);
    const loop = await rejection(
      () =>
        Loader.create([forbidHelpersPlugin({ helpers: ["loop"] })]).loadSpec(
          readFixture(`${order}/func_pointers.o`),
        ),
      "HELPER_FORBIDDEN",
    );
    assert.match(
      loop.message,
      /program loop_sum: pc \d+: calls forbidden helper bpf_loop \(181\)$/,
    );
  }
});

test("forbid_helpers: a call from a subprogram names the function", async () => {
  const call = (imm: number, src = 0) => ({ opcode: 0x85, dst: 0, src, offset: 0, imm });
  const exit = { opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 };
  const addProgram: Plugin = {
    name: "add-program",
    stages: [{
      before: "forbid_helpers",
      stage: {
        name: "add-program",
        run(ctx) {
          ctx.programs.set(
            "entry",
            new ProgramSpec({
              name: "entry",
              type: ProgramType.XDP,
              instructions: [
                { ...call(1, 1), symbol: "entry", reference: "printer" },
                { opcode: 0x18, dst: 1, src: 0, offset: 0, imm: 0, immHi: 0 },
                exit,
                { ...call(6), symbol: "printer" },
                exit,
              ],
            }),
          );
        },
      },
    }],
  };
  const loader = Loader.create([forbidHelpersPlugin({ helpers: ["trace_printk"] }), addProgram]);
  const err = await rejection(
    () => loader.loadSpec(readFixture("bpfel/socket_filter.o")),
    "HELPER_FORBIDDEN",
  );
  assert.equal(
    err.message,
    "forbid_helpers: program entry: pc 4 (function printer): calls forbidden helper bpf_trace_printk (6)",
  );
});

test("forbid_helpers: options are checked at creation", () => {
  const bad = (o: unknown) => () => forbidHelpersPlugin(o as { helpers: number[] });
  assertBadOptions(bad({}), /^plugin forbid_helpers: helpers: must be an array/);
  assertBadOptions(bad({ helpers: "trace_printk" }), /helpers: must be an array/);
  assertBadOptions(
    bad({ helpers: [1, "bpf_printk"] }),
    /^plugin forbid_helpers: helpers\[1\]: unknown helper name "bpf_printk": give its ID, or one of map_lookup_elem, /,
  );
  for (const id of [0, -1, 1.5, 2 ** 31, Number.NaN, null, true]) {
    assertBadOptions(
      bad({ helpers: [id] }),
      /helpers\[0\]: .* is neither a helper name nor a positive 32-bit helper ID/,
    );
  }
  assertBadOptions(bad({ helpers: [""] }), /unknown helper name ""/);
  assertBadOptions(bad({ helpers: [], programs: [] }), /programs: unknown option/);
});

// ---------------------------------------------------------------- together

test("examples: meta_section and map_prefix together, in either order", async () => {
  for (const order of ORDERS) {
    const bytes = readFixture(`${order}/meta_section.o`);
    for (
      const plugins of [
        [metaSectionPlugin(), mapPrefixPlugin({ prefix: "net_" })],
        [mapPrefixPlugin({ prefix: "net_" }), metaSectionPlugin()],
      ]
    ) {
      const spec = await Loader.create(plugins).loadSpec(bytes);
      assert.deepEqual(spec.metadata, { "tsbpf.meta": META });
      assert.deepEqual([...spec.maps.keys()], ["net_short_drops", ".rodata"]);
      assertConsistent(spec, order);
    }
  }
});

test("examples: all three in one loader", async () => {
  const loader = Loader.create([
    metaSectionPlugin(),
    mapPrefixPlugin({ prefix: "app_", includeDataSections: true }),
    forbidHelpersPlugin({ helpers: ["trace_printk", "probe_write_user"] }),
  ]);
  // Stages inserted after the same stage run in plugin order.
  assert.deepEqual(loader.pipeline.names(), [
    "read",
    "classify",
    "tsbpf.meta",
    "btf",
    "relocate",
    "maps",
    "kfuncs",
    "link",
    "core",
    "kconfig",
    "ksyms",
    "map_prefix",
    "forbid_helpers",
  ]);
  for (const order of ORDERS) {
    const spec = await loader.loadSpec(readFixture(`${order}/meta_section.o`));
    assert.deepEqual(spec.metadata["tsbpf.meta"], META);
    assert.deepEqual(spec.programs.get("xdp_drop_short")!.references(), [
      "app_.rodata",
      "app_short_drops",
    ]);
  }
});

test("examples: default exports are config factories (PluginModule)", async () => {
  const modules: PluginModule[] = [metaDefault, prefixDefault, forbidDefault];
  assert.equal(modules.length, 3);
  const plugins = [
    metaDefault({}),
    prefixDefault({ prefix: "app_" }),
    forbidDefault({ helpers: ["trace_printk"] }),
  ];
  assert.deepEqual(plugins.map((p) => p.name), ["tsbpf.meta", "map_prefix", "forbid_helpers"]);
  const spec = await Loader.create(plugins).loadSpec(readFixture("bpfel/meta_section.o"));
  assert.deepEqual([...spec.maps.keys()], ["app_short_drops", ".rodata"]);
  assert.deepEqual(spec.metadata["tsbpf.meta"], META);
  // As a config loader would: import by specifier, call the default export.
  const mod = await import("../plugins/examples/map_prefix.ts");
  assert.equal(mod.default({ prefix: "x_" }).name, "map_prefix");
  assertBadOptions(() => mod.default({}), /prefix: must be a non-empty string/);
});
