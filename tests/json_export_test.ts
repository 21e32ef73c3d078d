// The JSON exporter: the document's shape (golden check of xdp_counter.o),
// determinism, the schema (every exported document validates, every key is
// declared, every declared key is emitted), random specs round-tripping,
// exporter errors, and the backend object.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { loadCollectionSpec, TsbpfError } from "../mod.ts";
import {
  type AttachType,
  attachTypeName,
  CollectionSpec,
  type JsonValue,
  type MapKV,
  MapSpec,
  MapType,
  mapTypeName,
  type PinType,
  ProgramSpec,
  ProgramType,
  programTypeName,
} from "../collection/mod.ts";
import { ConfigError } from "../errors/mod.ts";
import { Btf, BtfBuilder, BtfKind, marshalBtf } from "../btf/mod.ts";
import { decodeInstructions, type Instruction } from "../isa/mod.ts";
import {
  DOCUMENT_FORMAT,
  exportSpec,
  importSpec,
  jsonBackend,
  jsonBackendFactory,
  type JsonDocument,
  JsonSpecError,
  parseSpec,
  schemaUrl,
  stringifyDocument,
  stringifySpec,
} from "../backends/json/mod.ts";
import { fixtureManifest, fixtureObjects, readFixture } from "./_util.ts";
import { assertJsonError } from "./_json_util.ts";

const manifest = fixtureManifest();

/** Every fixture that loads today, with its spec; the ones that do not are named with their error. */
async function loadableFixtures(): Promise<{ file: string; spec: CollectionSpec }[]> {
  const out: { file: string; spec: CollectionSpec }[] = [];
  for (const dir of ["bpfel", "bpfeb"] as const) {
    for (const file of fixtureObjects(dir)) {
      if (manifest[file]?.error !== undefined) continue; // e.g. btf_maps.o: LINK_BTF_MAPS_UNSUPPORTED
      out.push({
        file: `${dir}/${file}`,
        spec: await loadCollectionSpec(readFixture(`${dir}/${file}`)),
      });
    }
  }
  assert.ok(out.length > 0, "no fixtures built");
  return out;
}

// ---------------------------------------------------------------------------
// A validator for the subset of JSON Schema (draft 2020-12) schema.json uses.
// Any other keyword is an error, so the schema cannot drift out of the subset.

type Schema = { [key: string]: unknown };

const ANNOTATIONS = new Set(["$schema", "$id", "$defs", "title", "description", "default"]);
const KEYWORDS = new Set([
  "$ref",
  "type",
  "enum",
  "pattern",
  "minimum",
  "maximum",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "anyOf",
]);

const schema: Schema = JSON.parse(readFileSync(schemaUrl, "utf8"));

/** Schema locations (`#/$defs/map/properties/keySize`) of the properties documents used. */
const usedProperties = new Set<string>();

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** Errors of `value` against `node` (at schema location `at`); records used properties in `used`. */
function validate(
  node: Schema,
  at: string,
  value: unknown,
  path: string,
  used: Set<string>,
): string[] {
  const errors: string[] = [];
  for (const key of Object.keys(node)) {
    if (!ANNOTATIONS.has(key) && !KEYWORDS.has(key)) {
      throw new Error(`${at}: keyword ${key} is not in the subset`);
    }
  }
  if (typeof node.$ref === "string") {
    const name = node.$ref.replace(/^#\/\$defs\//, "");
    const target = (schema.$defs as Record<string, Schema>)[name];
    if (target === undefined) throw new Error(`${at}: unresolved ${node.$ref}`);
    errors.push(...validate(target, node.$ref, value, path, used));
  }
  const type = typeOf(value);
  if (typeof node.type === "string") {
    const ok = node.type === type || (node.type === "number" && type === "integer");
    if (!ok) return [...errors, `${path}: expected ${node.type}, got ${type}`];
  }
  if (Array.isArray(node.enum) && !node.enum.some((v) => v === value)) {
    errors.push(`${path}: ${JSON.stringify(value)} not in enum`);
  }
  if (typeof node.pattern === "string" && typeof value === "string") {
    if (!new RegExp(node.pattern, "u").test(value)) {
      errors.push(`${path}: does not match ${node.pattern}`);
    }
  }
  if (typeof value === "number") {
    if (typeof node.minimum === "number" && value < node.minimum) {
      errors.push(`${path}: below minimum`);
    }
    if (typeof node.maximum === "number" && value > node.maximum) {
      errors.push(`${path}: above maximum`);
    }
  }
  if (type === "object") {
    const obj = value as Record<string, unknown>;
    const props = (node.properties ?? {}) as Record<string, Schema>;
    for (const key of (node.required ?? []) as string[]) {
      if (!Object.hasOwn(obj, key)) errors.push(`${path}: missing ${key}`);
    }
    for (const key of Object.keys(obj)) {
      if (Object.hasOwn(props, key)) {
        used.add(`${at}/properties/${key}`);
        errors.push(
          ...validate(props[key], `${at}/properties/${key}`, obj[key], `${path}.${key}`, used),
        );
      } else if (node.additionalProperties === false) {
        errors.push(`${path}: undeclared key ${key}`);
      } else if (typeof node.additionalProperties === "object") {
        const extra = node.additionalProperties as Schema;
        errors.push(
          ...validate(extra, `${at}/additionalProperties`, obj[key], `${path}.${key}`, used),
        );
      }
    }
  }
  if (type === "array" && typeof node.items === "object") {
    (value as unknown[]).forEach((item, i) => {
      errors.push(...validate(node.items as Schema, `${at}/items`, item, `${path}[${i}]`, used));
    });
  }
  if (Array.isArray(node.anyOf)) {
    const passing = node.anyOf.map((branch: Schema, i) => {
      const branchUsed = new Set<string>();
      const branchErrors = validate(branch, `${at}/anyOf/${i}`, value, path, branchUsed);
      return { branchErrors, branchUsed };
    }).filter((b) => b.branchErrors.length === 0);
    if (passing.length === 0) errors.push(`${path}: matches no anyOf branch`);
    for (const key of passing[0]?.branchUsed ?? []) used.add(key);
  }
  return errors;
}

function assertValid(doc: unknown, what: string): void {
  const used = new Set<string>();
  const errors = validate(schema, "#", doc, "$", used);
  assert.deepEqual(errors, [], `${what} does not validate`);
  for (const key of used) usedProperties.add(key);
}

/** Every declared property's schema location, and every schema node that declares properties. */
function declaredProperties(): { locations: string[]; nodes: [string, Schema][] } {
  const locations: string[] = [];
  const nodes: [string, Schema][] = [];
  function walk(node: unknown, at: string): void {
    if (typeof node !== "object" || node === null) return;
    if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${at}/${i}`));
    const obj = node as Schema;
    nodes.push([at, obj]);
    for (const [key, child] of Object.entries(obj)) {
      if (key === "properties" || key === "$defs") {
        for (const [name, sub] of Object.entries(child as Record<string, unknown>)) {
          if (key === "properties") locations.push(`${at}/properties/${name}`);
          walk(sub, `${at === "#" && key === "$defs" ? "#/$defs" : `${at}/${key}`}/${name}`);
        }
      } else if (key !== "enum" && key !== "default") {
        walk(child, `${at}/${key}`);
      }
    }
  }
  walk(schema, "#");
  return { locations, nodes };
}

/** A spec with every optional part of the document: inner maps, extra bytes, each kind of entry. */
function kitchenSink(): CollectionSpec {
  const inner = new MapSpec({
    name: "inner",
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: 4,
    maxEntries: 1,
  });
  const maps = [
    new MapSpec({
      name: "outer",
      type: MapType.HASH_OF_MAPS,
      keySize: 4,
      valueSize: 4,
      maxEntries: 8,
      innerMap: inner,
      pinning: 1,
      contents: [{ key: new Uint8Array([1, 0, 0, 0]), value: "inner_instance" }],
    }),
    new MapSpec({
      name: "jumps",
      type: MapType.PROG_ARRAY,
      keySize: 4,
      valueSize: 4,
      maxEntries: 4,
      contents: [{ key: 0, value: "target" }],
    }),
    new MapSpec({
      name: "legacy",
      type: 99 as MapType,
      pinning: 7 as PinType,
      numaNode: 1,
      flags: 5,
      mapExtra: (1n << 64n) - 1n,
      freeze: true,
      contents: [{ key: 3, value: new Uint8Array([0xde, 0xad]) }],
      extra: new Uint8Array([1, 2, 3, 4]),
    }),
  ];
  const target = new ProgramSpec({
    name: "target",
    type: ProgramType.CGROUP_SKB,
    sectionName: "cgroup_skb/ingress",
    attachType: 0,
    instructions: [{
      opcode: 0x95,
      dst: 0,
      src: 0,
      offset: 0,
      imm: 0,
      symbol: "target",
      sourceOffset: 0,
      func: 3,
      line: { fileName: "target.c", lineText: "return 0;", line: 3, column: 2 },
      coreRelo: { typeId: 1, accessor: "0:0", kind: 0 },
    }, { opcode: 0x85, dst: 0, src: 2, offset: 1, imm: 77, reference: "kf", btfModule: "mod" }],
    coreRelocations: [{
      insn: 0,
      kind: 0,
      kindName: "byte_off",
      localTypeId: 1,
      localType: "struct thing",
      accessor: "0:0",
      spec: "struct thing.x (0:0 @ offset 0)",
      target: { btf: "vmlinux", typeId: 9, spec: "struct thing.x (0:0 @ offset 4)" },
      origValue: 0n,
      newValue: (1n << 64n) - 1n,
      status: "patched",
      reason: "why not",
    }, {
      insn: 0,
      kind: 2,
      kindName: "field_exists",
      localTypeId: 1,
      localType: "struct thing",
      accessor: "0:1",
      spec: "struct thing.y (0:1)",
      origValue: 1n,
      newValue: 0n,
      status: "poisoned",
    }],
  });
  const odd = new ProgramSpec({
    name: "odd",
    type: 77 as ProgramType,
    attachType: 1234 as AttachType,
    attachTo: "somewhere",
    kernelVersion: 0x050a00,
    flags: 16,
    autoload: false,
    byteOrder: "big",
    license: "Dual BSD/GPL",
    instructions: [
      { opcode: 0x18, dst: 1, src: 2, offset: 0, imm: 0, immHi: 8, reference: ".rodata" },
      { opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 },
    ],
  });
  return new CollectionSpec({
    maps: new Map(maps.map((m) => [m.name, m])),
    programs: new Map([target, odd].map((p) => [p.name, p])),
    metadata: { tool: { version: [1, 2], ok: true, none: null, ratio: 0.5 } },
    btf: kitchenBtf(),
  });
}

/** A small BTF for the kitchen sink's references: a struct (1), a prototype (2), a function (3). */
function kitchenBtf(): Btf {
  const builder = new BtfBuilder();
  const s = builder.add({
    kind: BtfKind.STRUCT,
    name: "thing",
    size: 4,
    members: [],
    kindFlag: false,
  });
  const fn = builder.func("target", builder.funcProto(0, []), 1);
  assert.deepEqual([s, fn], [1, 3]);
  return Btf.parse(marshalBtf(builder));
}

// ---------------------------------------------------------------------------
// Golden check of a small fixture.

test("json export: golden fields of bpfel/xdp_counter.o", async () => {
  const spec = await loadCollectionSpec(readFixture("bpfel/xdp_counter.o"));
  const doc = exportSpec(spec);
  assert.equal(doc.format, "tsbpf.collection/v1");
  assert.equal(doc.byteOrder, "little");
  assert.deepEqual(Object.keys(doc), [
    "format",
    "byteOrder",
    "maps",
    "programs",
    "metadata",
    "btf",
  ]);
  assert.ok(parseSpec(stringifySpec(spec)).btf!.lastId === spec.btf!.lastId, "the BTF goes along");
  assert.deepEqual(doc.maps.counts, {
    name: "counts",
    type: "array",
    keySize: 4,
    valueSize: 8,
    maxEntries: 2,
    flags: 0,
    pinning: "none",
    numaNode: 0,
    mapExtra: "0",
    freeze: false,
    contents: [],
  });
  const prog = doc.programs.xdp_count;
  const { instructions, ...fields } = prog;
  assert.deepEqual(fields, {
    name: "xdp_count",
    type: "xdp",
    attachType: "xdp",
    attachTo: "",
    sectionName: "xdp",
    license: "GPL",
    kernelVersion: 0,
    flags: 0,
    autoload: true,
    byteOrder: "little",
    references: ["counts"],
    functions: ["xdp_count"],
  });
  assert.equal(instructions.length, 19);
  assert.deepEqual(instructions[0], {
    raw: "6112000000000000",
    asm: "r2 = *(u32 *)(r1 + 0)",
    symbol: "xdp_count",
    sourceOffset: 0,
    func: spec.btf!.typeByName("xdp_count", BtfKind.FUNC).id,
    line: {
      fileName: "./fixtures/src/xdp_counter.c",
      lineText: "\tvoid *data = (void *)(long)ctx->data;",
      line: 22,
      column: 34,
    },
  });
  assert.deepEqual(instructions[9], {
    raw: "18110000000000000000000000000000",
    asm: "r1 = map[counts] ll",
    reference: "counts",
    sourceOffset: 72,
    line: {
      fileName: "./fixtures/src/xdp_counter.c",
      lineText: "\tcount = bpf_map_lookup_elem(&counts, &key);",
      line: 27,
      column: 10,
    },
  });
  assert.deepEqual(instructions[10], { raw: "8500000001000000", asm: "call 1", sourceOffset: 88 });
  assert.deepEqual(instructions[18], { raw: "9500000000000000", asm: "exit", sourceOffset: 152 });
  assert.deepEqual(doc.metadata, {});
});

test("json export: bpfeb/xdp_counter.o writes raw in big-endian order", async () => {
  const doc = exportSpec(await loadCollectionSpec(readFixture("bpfeb/xdp_counter.o")));
  const insns = doc.programs.xdp_count.instructions;
  assert.equal(doc.byteOrder, "big");
  assert.equal(doc.programs.xdp_count.byteOrder, "big");
  // Register nibbles swap with the byte order; offsets and immediates are big-endian.
  assert.equal(insns[0].raw, "6121000000000000");
  assert.equal(insns[8].raw, "07200000fffffffc");
  assert.equal(insns[8].asm, "r2 += -4");
  assert.equal(insns[9].raw, "18110000000000000000000000000000");
});

test("json export: text is JSON.stringify's two-space layout with a closing newline", async () => {
  for (const { file, spec } of await loadableFixtures()) {
    const doc = exportSpec(spec);
    assert.equal(stringifySpec(spec), JSON.stringify(doc, null, 2) + "\n", file);
    assert.equal(stringifySpec(spec, { pretty: false }), JSON.stringify(doc) + "\n", file);
  }
});

// ---------------------------------------------------------------------------
// Determinism.

test("json export: equal specs give byte-identical text", async () => {
  for (const { file, spec } of await loadableFixtures()) {
    const text = stringifySpec(spec);
    assert.equal(stringifySpec(spec), text, `${file}: twice`);
    assert.equal(stringifySpec(spec.copy()), text, `${file}: copy`);
    // Insertion order of maps and programs does not matter.
    const reversed = new CollectionSpec({
      maps: new Map([...spec.maps].reverse()),
      programs: new Map([...spec.programs].reverse()),
      byteOrder: spec.byteOrder,
      metadata: spec.metadata,
      btf: spec.btf,
      variables: new Map([...spec.variables].reverse()),
    });
    assert.equal(stringifySpec(reversed), text, `${file}: reversed`);
  }
});

test("json export: metadata keys are sorted at every depth; names sort by code unit", () => {
  const a = new CollectionSpec({ metadata: { b: { y: 1, x: [{ q: 1, p: 2 }] }, a: "first" } });
  const b = new CollectionSpec({ metadata: { a: "first", b: { x: [{ p: 2, q: 1 }], y: 1 } } });
  assert.ok(a.equals(b));
  assert.equal(stringifySpec(a), stringifySpec(b));
  assert.match(
    stringifySpec(a, { pretty: false }),
    /"metadata":\{"a":"first","b":\{"x":\[\{"p":2,"q":1\}\],"y":1\}\}/,
  );

  // Integer-like names are sorted as strings in the text, although JavaScript
  // enumerates them first in the plain object.
  const names = ["b", "10", "9", "A", ".rodata", "__proto__"];
  const spec = new CollectionSpec({
    maps: new Map(names.map((n) => [n, new MapSpec({ name: n, type: MapType.ARRAY })])),
  });
  const text = stringifySpec(spec);
  const order = [...text.matchAll(/^ {4}"([^"]+)": \{$/gm)].map((m) => m[1]);
  assert.deepEqual(order, [...names].sort());
  assert.ok(parseSpec(text).equals(spec));
});

// ---------------------------------------------------------------------------
// The schema.

test("json schema: every exported fixture document validates", async () => {
  for (const { file, spec } of await loadableFixtures()) assertValid(exportSpec(spec), file);
  assertValid(exportSpec(kitchenSink()), "kitchen sink");
  assertValid(exportSpec(kitchenSink(), { asm: false }), "kitchen sink without asm");
});

test("json schema: every declared property is emitted by some exported document", async () => {
  for (const { file, spec } of await loadableFixtures()) assertValid(exportSpec(spec), file);
  assertValid(exportSpec(kitchenSink()), "kitchen sink");
  const { locations } = declaredProperties();
  const unused = locations.filter((l) => !usedProperties.has(l));
  assert.deepEqual(unused, [], "declared in schema.json but never emitted");
});

test("json schema: self-describing, and its name enums are libbpf's tables", () => {
  const { nodes } = declaredProperties();
  for (const [at, node] of nodes) {
    if (at === "#" || /\/\$defs\/[^/]+$/.test(at) || /\/properties\/[^/]+$/.test(at)) {
      assert.equal(typeof node.description, "string", `${at} has no description`);
    }
  }
  const defs = schema.$defs as Record<string, Schema>;
  const prop = (def: string, name: string) =>
    (defs[def].properties as Record<string, Schema>)[name].anyOf as Schema[];
  const table = (nameOf: (v: number) => string) => {
    const names: string[] = [];
    for (let v = 0; !nameOf(v).startsWith("unknown("); v++) names.push(nameOf(v));
    return names;
  };
  assert.deepEqual(prop("map", "type")[0].enum, table(mapTypeName));
  assert.deepEqual(prop("program", "type")[0].enum, table(programTypeName));
  assert.deepEqual(prop("program", "attachType")[1].enum, table(attachTypeName));
  assert.equal(
    (schema.properties as Record<string, Schema>).format.enum?.toString(),
    DOCUMENT_FORMAT,
  );
});

test("json schema: the validator used here rejects what the schema forbids", () => {
  // deno-lint-ignore no-explicit-any
  type Loose = Record<string, any>;
  const doc = exportSpec(kitchenSink()) as unknown as Loose;
  const broken = (edit: (d: Loose) => void) => {
    const copy = structuredClone(doc);
    edit(copy);
    return validate(schema, "#", copy, "$", new Set()).length > 0;
  };
  assert.ok(broken((d) => (d.maps.jumps.keysize = 4)));
  assert.ok(broken((d) => (d.maps.jumps.keySize = -1)));
  assert.ok(broken((d) => (d.maps.jumps.type = "hashh")));
  assert.ok(broken((d) => (d.maps.legacy.extra = "abc")));
  assert.ok(broken((d) => (d.programs.odd.instructions[0].raw = "zz")));
  assert.ok(broken((d) => (d.programs.odd.attachType = 3)));
  assert.ok(broken((d) => (d.format = "tsbpf.collection/v2")));
  assert.ok(broken((d) => delete d.byteOrder));
  assert.ok(!broken(() => {}));
});

// ---------------------------------------------------------------------------
// Random specs.

/**
 * `a.equals(b)`, except that `secondSlot`s compare by value:
 * `instructionEquals` compares fields with `!==`, so two equal `secondSlot`
 * objects that are not the same object make it report a difference (reported
 * to the lead; `collection/` is not this module's to change).
 */
function sameSpec(a: CollectionSpec, b: CollectionSpec): boolean {
  const comparable = (spec: CollectionSpec) => {
    const out = spec.copy();
    for (const prog of out.programs.values()) {
      for (const ins of prog.instructions) {
        if (ins.secondSlot !== undefined) {
          const { opcode, dst, src, offset } = ins.secondSlot;
          (ins as unknown as Record<string, unknown>).secondSlot =
            `${opcode},${dst},${src},${offset}`;
        }
      }
    }
    return out;
  };
  return comparable(a).equals(comparable(b));
}

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const smallU32 = fc.oneof(fc.integer({ min: 0, max: 64 }), u32);
const bytes = fc.uint8Array({ maxLength: 12 });
/** Names, odd ones included: data sections, integer-like, `__proto__`, non-ASCII. */
const name = fc.oneof(
  fc.string({ minLength: 1, maxLength: 8 }),
  fc.constantFrom(".rodata", ".bss.big", "0", "10", "__proto__", "constructor", "café", "a b"),
);
const mapType = fc.oneof(fc.integer({ min: 0, max: 40 }), u32) as fc.Arbitrary<MapType>;

function mapArb(depth: number): fc.Arbitrary<(name: string) => MapSpec> {
  return fc.record({
    type: mapType,
    keySize: smallU32,
    valueSize: smallU32,
    maxEntries: smallU32,
    flags: smallU32,
    pinning: fc.oneof(fc.constantFrom(0, 1), u32) as fc.Arbitrary<PinType>,
    numaNode: smallU32,
    mapExtra: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    freeze: fc.boolean(),
    inner: depth < 2 ? fc.option(mapArb(depth + 1).chain((f) => name.map(f))) : fc.constant(null),
    contents: fc.array(
      fc.record({ key: fc.oneof(u32, bytes), value: fc.oneof(bytes, name) }) as fc.Arbitrary<MapKV>,
      { maxLength: 4 },
    ),
    extra: fc.option(bytes),
  }).map((r) => (n: string) =>
    new MapSpec({
      ...r,
      name: n,
      innerMap: r.inner ?? undefined,
      extra: r.extra ?? undefined,
    })
  );
}

/** One slot's bytes, ld_imm64 and its second slot (zero or not) made common. */
const slot = fc.tuple(
  fc.oneof(fc.constant(0x18), fc.constant(0x18), fc.integer({ min: 0, max: 255 })),
  fc.uint8Array({ minLength: 7, maxLength: 7 }),
  fc.boolean(),
  fc.uint8Array({ minLength: 8, maxLength: 8 }),
).map(([opcode, rest, zeroSecond, second]) => {
  const out = [opcode, ...rest];
  if (opcode === 0x18) out.push(...(zeroSecond ? [0, 0, 0, 0, ...second.subarray(4)] : second));
  return Uint8Array.from(out);
});

/** Instructions in decoded form, each with random metadata. */
const instructions = (littleEndian: boolean) =>
  fc.array(
    fc.tuple(
      slot,
      fc.option(name),
      fc.option(name),
      fc.option(fc.oneof(fc.nat(4096), fc.constant(Number.MAX_SAFE_INTEGER))),
    ),
    { maxLength: 12 },
  ).map((items) =>
    items.map(([raw, symbol, reference, sourceOffset]) => {
      const ins: Instruction = decodeInstructions(raw, { littleEndian })[0];
      delete ins.sourceOffset;
      if (symbol !== null) ins.symbol = symbol;
      if (reference !== null) ins.reference = reference;
      if (sourceOffset !== null) ins.sourceOffset = sourceOffset;
      return ins;
    })
  );

const programArb = fc.constantFrom("little", "big").chain((byteOrder) =>
  fc.record({
    type: fc.oneof(fc.integer({ min: 0, max: 40 }), u32) as fc.Arbitrary<ProgramType>,
    attachType: fc.oneof(fc.integer({ min: 0, max: 70 }), u32) as fc.Arbitrary<AttachType>,
    attachTo: fc.string({ maxLength: 6 }),
    sectionName: fc.oneof(fc.constant("cgroup_skb/ingress"), fc.string({ maxLength: 6 })),
    license: fc.string({ maxLength: 6 }),
    kernelVersion: smallU32,
    flags: smallU32,
    autoload: fc.boolean(),
    byteOrder: fc.constant(byteOrder as "little" | "big"),
    instructions: instructions(byteOrder === "little"),
  })
).map((r) => (n: string) => new ProgramSpec({ ...r, name: n }));

const specArb = fc.record({
  byteOrder: fc.constantFrom("little", "big") as fc.Arbitrary<"little" | "big">,
  maps: fc.uniqueArray(fc.tuple(name, mapArb(0)), { selector: (t) => t[0], maxLength: 4 }),
  programs: fc.uniqueArray(fc.tuple(name, programArb), { selector: (t) => t[0], maxLength: 3 }),
  metadata: fc.dictionary(
    fc.string({ maxLength: 6 }),
    fc.jsonValue({ maxDepth: 3 }),
  ) as fc.Arbitrary<
    Record<string, JsonValue>
  >,
}).map((r) =>
  new CollectionSpec({
    byteOrder: r.byteOrder,
    maps: new Map(r.maps.map(([n, make]) => [n, make(n)])),
    programs: new Map(r.programs.map(([n, make]) => [n, make(n)])),
    metadata: r.metadata,
  })
);

test("json property: random specs round-trip through the document and the text", () => {
  fc.assert(
    fc.property(specArb, (spec) => {
      const doc = exportSpec(spec);
      assert.ok(sameSpec(importSpec(doc), spec), "importSpec(exportSpec(spec))");
      const text = stringifySpec(spec);
      const back = parseSpec(text);
      assert.ok(sameSpec(back, spec), "parseSpec(stringifySpec(spec))");
      assert.equal(stringifySpec(back), text, "stable text");
      assert.equal(stringifySpec(spec.copy()), text, "copy");
      const compact = stringifySpec(spec, { pretty: false, asm: false });
      assert.ok(sameSpec(parseSpec(compact), spec), "compact");
    }),
    { numRuns: 300 },
  );
});

test("json property: random specs export to schema-valid documents", () => {
  fc.assert(
    fc.property(specArb, (spec) => {
      const errors = validate(schema, "#", exportSpec(spec), "$", new Set());
      assert.deepEqual(errors, []);
    }),
    { numRuns: 200 },
  );
});

// ---------------------------------------------------------------------------
// Special values.

test("json export: type names, unknown(N), attach types and pinning", () => {
  const doc = exportSpec(kitchenSink());
  assert.equal(doc.maps.outer.type, "hash_of_maps");
  assert.equal(doc.maps.outer.pinning, "byName");
  assert.equal(doc.maps.outer.innerMap?.name, "inner");
  assert.equal(doc.maps.legacy.type, "unknown(99)");
  assert.equal(doc.maps.legacy.pinning, 7);
  assert.equal(doc.maps.legacy.mapExtra, "18446744073709551615");
  assert.equal(doc.maps.legacy.extra, "01020304");
  assert.deepEqual(doc.maps.legacy.contents, [{ key: 3, value: "dead" }]);
  assert.deepEqual(doc.maps.jumps.contents, [{ key: 0, value: { program: "target" } }]);
  assert.deepEqual(doc.maps.outer.contents, [{
    key: "01000000",
    value: { map: "inner_instance" },
  }]);
  assert.equal(doc.programs.odd.type, "unknown(77)");
  assert.equal(doc.programs.odd.attachType, "unknown(1234)");
  assert.equal(doc.programs.odd.instructions[0].raw, "18120000000000000000000000000008");
  assert.equal(doc.programs.odd.instructions[0].asm, "r1 = map_value[.rodata] + 8 ll");
  // 0 is cgroup_inet_ingress only for a cgroup_skb ingress program.
  assert.equal(doc.programs.target.attachType, "cgroup_inet_ingress");
  const plain = new ProgramSpec({ name: "p", type: ProgramType.SOCKET_FILTER, instructions: [] });
  assert.equal(
    exportSpec(new CollectionSpec({ programs: new Map([["p", plain]]) })).programs.p.attachType,
    null,
  );
  assert.ok(importSpec(doc).equals(kitchenSink()));
});

test("json export: asm can be left out or printed without annotations", () => {
  const spec = kitchenSink();
  const bare = exportSpec(spec, { asm: false });
  assert.ok(bare.programs.odd.instructions.every((i) => !("asm" in i)));
  assert.ok(importSpec(bare).equals(spec));
  const raw = exportSpec(spec, { annotate: false });
  assert.equal(raw.programs.odd.instructions[0].asm, "ld_pseudo\tr1, 2, 0");
});

test("json export: instructions are written as they encode (decoded form on import)", () => {
  const prog = new ProgramSpec({
    name: "p",
    type: ProgramType.XDP,
    instructions: [
      { opcode: 0xb7, dst: 0, src: 0, offset: 0, imm: 0xffff_ffff }, // unsigned imm
      { opcode: 0x18, dst: 1, src: 0, offset: 0, imm: 1 }, // no immHi
      { opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0, immHi: 5 }, // immHi off ld_imm64
    ],
  });
  const back = importSpec(exportSpec(new CollectionSpec({ programs: new Map([["p", prog]]) })));
  assert.deepEqual(back.programs.get("p")!.instructions, [
    { opcode: 0xb7, dst: 0, src: 0, offset: 0, imm: -1 },
    { opcode: 0x18, dst: 1, src: 0, offset: 0, imm: 1, immHi: 0 },
    { opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 },
  ]);
});

// ---------------------------------------------------------------------------
// What the exporter refuses.

/** `[1, <hole>, 3]`. */
function holey(): JsonValue[] {
  const out: JsonValue[] = [1];
  out[2] = 3;
  return out;
}

function specWith(edit: (spec: CollectionSpec) => void): CollectionSpec {
  const spec = kitchenSink();
  edit(spec);
  return spec;
}

test("json export errors: each bad value names its document path", () => {
  const cases: [string, (s: CollectionSpec) => void, string][] = [
    ["byteOrder", (s) => (s.byteOrder = "middle" as "big"), "byteOrder"],
    ["key vs name", (s) => (s.maps.get("jumps")!.name = "other"), "maps.jumps.name"],
    ["program key vs name", (s) => (s.programs.get("odd")!.name = "x"), "programs.odd.name"],
    ["keySize", (s) => (s.maps.get("jumps")!.keySize = -1), "maps.jumps.keySize"],
    ["flags bit 31 as negative", (s) => (s.maps.get("jumps")!.flags = 1 << 31), "maps.jumps.flags"],
    [
      "maxEntries fraction",
      (s) => (s.maps.get("jumps")!.maxEntries = 1.5),
      "maps.jumps.maxEntries",
    ],
    ["type", (s) => (s.maps.get("jumps")!.type = -3 as MapType), "maps.jumps.type"],
    ["mapExtra", (s) => (s.maps.get("legacy")!.mapExtra = -1n), "maps.legacy.mapExtra"],
    [
      "mapExtra number",
      (s) => (s.maps.get("legacy")!.mapExtra = 1 as unknown as bigint),
      "maps.legacy.mapExtra",
    ],
    [
      "inner",
      (s) => (s.maps.get("outer")!.innerMap!.valueSize = NaN),
      "maps.outer.innerMap.valueSize",
    ],
    [
      "entry key",
      (s) => (s.maps.get("jumps")!.contents[0].key = 2 ** 32),
      "maps.jumps.contents[0].key",
    ],
    [
      "entry value",
      (s) => (s.maps.get("jumps")!.contents[0].value = [1] as unknown as Uint8Array),
      "maps.jumps.contents[0].value",
    ],
    [
      "extra",
      (s) => (s.maps.get("legacy")!.extra = "01" as unknown as Uint8Array),
      "maps.legacy.extra",
    ],
    [
      "attachType",
      (s) => (s.programs.get("odd")!.attachType = -1 as AttachType),
      "programs.odd.attachType",
    ],
    [
      "autoload",
      (s) => (s.programs.get("odd")!.autoload = 1 as unknown as boolean),
      "programs.odd.autoload",
    ],
    [
      "imm",
      (s) => (s.programs.get("odd")!.instructions[1].imm = 2 ** 32),
      "programs.odd.instructions[1]",
    ],
    [
      "secondSlot",
      (
        s,
      ) => (s.programs.get("odd")!.instructions[0].secondSlot = {
        opcode: 0,
        dst: 16,
        src: 0,
        offset: 0,
      }),
      "programs.odd.instructions[0]",
    ],
    [
      "sourceOffset",
      (s) => (s.programs.get("odd")!.instructions[1].sourceOffset = -8),
      "programs.odd.instructions[1].sourceOffset",
    ],
    [
      "symbol",
      (s) => (s.programs.get("odd")!.instructions[1].symbol = 3 as unknown as string),
      "programs.odd.instructions[1].symbol",
    ],
    ["metadata NaN", (s) => (s.metadata.tool = { x: [1, NaN] }), "metadata.tool.x[1]"],
    [
      "metadata Map",
      (s) => (s.metadata["a b"] = new Map() as unknown as JsonValue),
      'metadata["a b"]',
    ],
    ["metadata bigint", (s) => (s.metadata.n = 1n as unknown as JsonValue), "metadata.n"],
    ["metadata hole", (s) => (s.metadata.h = holey()), "metadata.h[1]"],
    [
      "instruction hole",
      (s) => (s.programs.get("odd")!.instructions[3] = s.programs.get("odd")!.instructions[0]),
      "programs.odd.instructions[2]",
    ],
    [
      "entry hole",
      (s) => (s.maps.get("jumps")!.contents[2] = { key: 1, value: "target" }),
      "maps.jumps.contents[1]",
    ],
  ];
  for (const [what, edit, path] of cases) {
    const spec = specWith(edit);
    const err = assertJsonError(() => exportSpec(spec), "JSON_EXPORT_INVALID", path);
    assert.ok(err instanceof TsbpfError, what);
  }
  const imm = assertJsonError(
    () => exportSpec(specWith((s) => (s.programs.get("odd")!.instructions[1].imm = 2 ** 32))),
    "JSON_EXPORT_INVALID",
    "programs.odd.instructions[1]",
  );
  assert.equal(imm.message, "programs.odd.instructions[1]: imm 4294967296 does not fit its field");
});

test("json export errors: metadata cycles and runaway inner maps end in a typed error", () => {
  const cyclic: Record<string, JsonValue> = {};
  cyclic.self = cyclic;
  const err = assertJsonError(
    () => exportSpec(new CollectionSpec({ metadata: { c: cyclic } })),
    "JSON_EXPORT_INVALID",
    "metadata.c" + ".self".repeat(256),
  );
  assert.match(err.message, /deeper than 256 levels/);
  const loop = new MapSpec({ name: "loop", type: MapType.ARRAY_OF_MAPS });
  loop.innerMap = loop;
  assert.throws(
    () => exportSpec(new CollectionSpec({ maps: new Map([["loop", loop]]) })),
    (e: unknown) => e instanceof JsonSpecError && e.code === "JSON_EXPORT_INVALID",
  );
});

// ---------------------------------------------------------------------------
// The backend.

test("json backend: load gives the document; stringify formats it per options", async () => {
  const spec = kitchenSink();
  const backend = jsonBackend({ output: "out.json" });
  assert.equal(backend.name, "json");
  assert.equal(backend.output, "out.json");
  assert.equal(backend.pretty, true);
  const doc: JsonDocument = await backend.load(spec);
  assert.deepEqual(doc, exportSpec(spec));
  assert.equal(backend.stringify(doc), stringifySpec(spec));
  assert.equal(
    jsonBackend({ pretty: false }).stringify(doc),
    stringifySpec(spec, { pretty: false }),
  );
  assert.equal(stringifyDocument(doc), stringifySpec(spec));
  const bare = await jsonBackend({ asm: false }).load(spec);
  assert.ok(bare.programs.odd.instructions.every((i) => i.asm === undefined));
  const perCall = await jsonBackend().load(spec, { asm: false });
  assert.deepEqual(perCall, bare);
});

test("json backend: bad specs and bad options reject with typed errors", async () => {
  const bad = specWith((s) => (s.maps.get("jumps")!.keySize = -1));
  await assert.rejects(
    jsonBackend().load(bad),
    (e: unknown) => e instanceof JsonSpecError && e.path === "maps.jumps.keySize",
  );
  await assert.rejects(
    jsonBackend().load(kitchenSink(), { pretty: true }),
    (e: unknown) => e instanceof ConfigError && e.path === "options.pretty",
  );
  assert.throws(
    () => jsonBackendFactory({ outptu: "x.json" }),
    (e: unknown) =>
      e instanceof ConfigError && e.code === "CONFIG_UNKNOWN_KEY" &&
      e.path === "backend.options.outptu" && /did you mean "output"/.test(e.message),
  );
  assert.throws(
    () => jsonBackendFactory({ pretty: "yes" }),
    (e: unknown) =>
      e instanceof ConfigError && e.code === "CONFIG_TYPE" && e.path === "backend.options.pretty",
  );
  const made = jsonBackendFactory({ output: "a.json", pretty: false });
  assert.equal(made.output, "a.json");
  assert.equal(made.pretty, false);
  assert.equal(typeof jsonBackendFactory.optionsSchema, "object");
});
