// The kconfig plugin: .config parsing, value encoding per libbpf's kcfg
// types, the .kconfig map and rewritten loads, overrides, weak/strong, and
// the real kernel and VM reading the values.
import { test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { release } from "node:os";
import { existsSync } from "node:fs";
import { Loader, TsbpfError } from "../mod.ts";
import {
  encodeKconfigValue,
  ExternError,
  type KcfgType,
  type KconfigOptions,
  kconfigPlugin,
  linuxKernelVersion,
  parseKconfig,
  readKernelConfig,
  unresolvedReason,
} from "../plugins/externs/mod.ts";
import { BPF_PSEUDO_MAP_VALUE } from "../isa/opcodes.ts";
import { MapFlags, MapType } from "../collection/types.ts";
import { loadCollection } from "../backends/kernel/loader.ts";
import { loadVmCollection } from "../backends/vm/collection.ts";
import { createLoader, resolveConfig } from "../config/load.ts";
import type { TsbpfConfig } from "../config/types.ts";
import { readFixture } from "./_util.ts";
import { kernelSkipReason } from "./_kernel_util.ts";

const KCONFIG_O = "externs/kconfig.o";

function code(want: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof TsbpfError, `want a TsbpfError, got ${err}`);
    assert.equal(err.code, want, err.message);
    return true;
  };
}

const FAKE_CONFIG = [
  "# Automatically generated file; DO NOT EDIT.",
  "CONFIG_BPF=y",
  "CONFIG_BPF_SYSCALL=m",
  "CONFIG_HZ=300",
  'CONFIG_LOCALVERSION="-test"',
  "# CONFIG_TSBPF_NOT_A_REAL_OPTION is not set",
  "",
].join("\n");

function fakeReader(files: Record<string, Uint8Array>): (path: string) => Uint8Array {
  return (path) => {
    const f = files[path];
    if (f === undefined) {
      throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
    }
    return f;
  };
}

function loader(options: KconfigOptions): Loader {
  return Loader.create([kconfigPlugin(options)]);
}

const text = (s: string) => new TextEncoder().encode(s);

// ------------------------------------------------------------------ parsing

test("kconfig: parseKconfig keeps CONFIG_ lines, skips comments and 'is not set'", () => {
  const m = parseKconfig(FAKE_CONFIG + "CONFIG_CRLF=y\r\n");
  assert.deepEqual([...m.entries()], [
    ["CONFIG_BPF", "y"],
    ["CONFIG_BPF_SYSCALL", "m"],
    ["CONFIG_HZ", "300"],
    ["CONFIG_LOCALVERSION", '"-test"'],
    ["CONFIG_CRLF", "y"],
  ]);
  assert.throws(() => parseKconfig("CONFIG_BROKEN\n", "x.config"), (err: unknown) => {
    code("EXTERN_KCONFIG_PARSE")(err);
    assert.match((err as Error).message, /x\.config:1: "CONFIG_BROKEN" has no '='/);
    return true;
  });
});

test("kconfig: every kcfg type encodes like libbpf's set_kcfg_value_*", () => {
  const bool: KcfgType = { kind: "bool" };
  const tri: KcfgType = { kind: "tristate" };
  const chr: KcfgType = { kind: "char", signed: true };
  assert.deepEqual(encodeKconfigValue("B", bool, "y"), Uint8Array.of(1));
  assert.deepEqual(encodeKconfigValue("B", bool, "n"), Uint8Array.of(0));
  assert.deepEqual(encodeKconfigValue("T", tri, "y"), Uint8Array.of(1, 0, 0, 0));
  assert.deepEqual(encodeKconfigValue("T", tri, "n"), Uint8Array.of(0, 0, 0, 0));
  assert.deepEqual(encodeKconfigValue("T", tri, "m"), Uint8Array.of(2, 0, 0, 0));
  assert.deepEqual(
    encodeKconfigValue("T", tri, "m", { littleEndian: false }),
    Uint8Array.of(0, 0, 0, 2),
  );
  assert.deepEqual(encodeKconfigValue("C", chr, "m"), Uint8Array.of(0x6d));
  assert.deepEqual(encodeKconfigValue("C", chr, "-1"), Uint8Array.of(0xff));
  const int = (size: 1 | 2 | 4 | 8, signed: boolean): KcfgType => ({ kind: "int", size, signed });
  assert.deepEqual(encodeKconfigValue("I", int(2, false), "0x1234"), Uint8Array.of(0x34, 0x12));
  assert.deepEqual(
    encodeKconfigValue("I", int(4, true), "-2"),
    Uint8Array.of(0xfe, 0xff, 0xff, 0xff),
  );
  assert.deepEqual(encodeKconfigValue("I", int(4, false), "010"), Uint8Array.of(8, 0, 0, 0));
  assert.deepEqual(
    encodeKconfigValue("I", int(8, false), "18446744073709551615"),
    Uint8Array.of(255, 255, 255, 255, 255, 255, 255, 255),
  );
  const warnings: string[] = [];
  const arr: KcfgType = { kind: "charArray", size: 4 };
  assert.deepEqual(encodeKconfigValue("S", arr, '"ab"'), Uint8Array.of(0x61, 0x62, 0, 0));
  assert.deepEqual(
    encodeKconfigValue("S", arr, '"abcdef"', { warn: (m) => warnings.push(m) }),
    Uint8Array.of(0x61, 0x62, 0x63, 0),
  );
  assert.match(warnings[0], /S: long string "abcdef" of 6 bytes truncated to 3 bytes/);
});

test("kconfig: bad values are typed errors naming the extern", () => {
  const cases: [KcfgType, string, string, RegExp][] = [
    [{ kind: "bool" }, "m", "EXTERN_KCONFIG_VALUE", /X: value "m" is a tristate/],
    [{ kind: "int", size: 4, signed: false }, "y", "EXTERN_KCONFIG_VALUE", /implies a tristate/],
    [{ kind: "bool" }, '"s"', "EXTERN_KCONFIG_VALUE", /implies a char array/],
    [{ kind: "charArray", size: 8 }, '"open', "EXTERN_KCONFIG_PARSE", /invalid string/],
    [{ kind: "tristate" }, "12", "EXTERN_KCONFIG_VALUE", /implies an integer type/],
    [{ kind: "int", size: 4, signed: false }, "12abc", "EXTERN_KCONFIG_PARSE", /as an integer/],
    [
      { kind: "int", size: 1, signed: false },
      "256",
      "EXTERN_KCONFIG_VALUE",
      /doesn't fit in 1 bytes/,
    ],
    [{ kind: "int", size: 2, signed: true }, "32768", "EXTERN_KCONFIG_VALUE", /doesn't fit in 2/],
    [{ kind: "int", size: 2, signed: true }, "-32769", "EXTERN_KCONFIG_VALUE", /doesn't fit in 2/],
    [{ kind: "int", size: 4, signed: false }, "-1", "EXTERN_KCONFIG_VALUE", /doesn't fit in 4/],
    [
      { kind: "int", size: 8, signed: false },
      "0x10000000000000000",
      "EXTERN_KCONFIG_VALUE",
      /64-bit/,
    ],
  ];
  for (const [type, value, want, message] of cases) {
    assert.throws(() => encodeKconfigValue("X", type, value), (err: unknown) => {
      assert.ok(err instanceof ExternError, `${value}: ${err}`);
      assert.equal(err.code, want, `${value}: ${err.message}`);
      assert.match(err.message, message);
      return true;
    });
  }
  // Edges that fit.
  encodeKconfigValue("X", { kind: "int", size: 2, signed: true }, "-32768");
  encodeKconfigValue("X", { kind: "int", size: 1, signed: false }, "255");
});

test("kconfig: LINUX_KERNEL_VERSION as libbpf's KERNEL_VERSION(a, b, c), patch capped at 255", () => {
  assert.equal(linuxKernelVersion("6.18.44-fc-v769"), (6 << 16) + (18 << 8) + 44);
  assert.equal(linuxKernelVersion("5.10.300"), (5 << 16) + (10 << 8) + 255);
  assert.equal(linuxKernelVersion("6.8"), 0);
});

test("kconfig: readKernelConfig tries /boot/config-<release>, then /proc/config.gz (gzip)", () => {
  const gz = new Uint8Array(gzipSync(text(FAKE_CONFIG)));
  const fromProc = readKernelConfig({
    release: "9.9.9",
    readFile: fakeReader({ "/proc/config.gz": gz }),
  });
  assert.equal(fromProc.get("CONFIG_HZ"), "300");
  const fromBoot = readKernelConfig({
    release: "9.9.9",
    readFile: fakeReader({ "/boot/config-9.9.9": text("CONFIG_HZ=100\n"), "/proc/config.gz": gz }),
  });
  assert.equal(fromBoot.get("CONFIG_HZ"), "100");
  assert.throws(() => readKernelConfig({ release: "9.9.9", readFile: fakeReader({}) }), (err) => {
    code("EXTERN_NO_KERNEL_INFO")(err);
    assert.match((err as Error).message, /\/boot\/config-9\.9\.9.*\/proc\/config\.gz/);
    return true;
  });
  assert.throws(
    () =>
      readKernelConfig({
        path: "/x",
        readFile: fakeReader({ "/x": Uint8Array.of(0x1f, 0x8b, 1, 2) }),
      }),
    code("EXTERN_KCONFIG_PARSE"),
  );
});

test("kconfig: this machine's config has CONFIG_BPF=y", {
  skip: existsSync("/proc/config.gz") || existsSync(`/boot/config-${release()}`)
    ? undefined
    : "no kernel config on this machine",
}, () => {
  assert.equal(readKernelConfig().get("CONFIG_BPF"), "y");
});

// ------------------------------------------------------------------ the stage

test("kconfig: the stage builds a frozen read-only .kconfig map laid out like libbpf", async () => {
  const spec = await loader({
    release: "6.1.2",
    readFile: fakeReader({ "/proc/config.gz": new Uint8Array(gzipSync(text(FAKE_CONFIG))) }),
  }).loadSpec(readFixture(KCONFIG_O));
  const m = spec.maps.get(".kconfig")!;
  assert.equal(m.type, MapType.ARRAY);
  assert.equal(m.keySize, 4);
  assert.equal(m.maxEntries, 1);
  assert.equal(m.flags, MapFlags.BPF_F_RDONLY_PROG);
  assert.equal(m.freeze, true);
  assert.ok(m.valueType !== undefined && m.valueType > 0);
  // libbpf's order: 8-byte u64 first, then 4-byte (int CONFIG_HZ, tristate,
  // LINUX_KERNEL_VERSION by size then name), then the 1-byte ones.
  const value = m.contents[0].value as Uint8Array;
  const view = new DataView(value.buffer, value.byteOffset);
  const offsets = new Map<string, number[]>();
  for (const [name, p] of spec.programs) {
    offsets.set(
      name,
      p.instructions.filter((i) => i.reference === ".kconfig").map((i) => {
        assert.equal(i.src, BPF_PSEUDO_MAP_VALUE);
        assert.equal(i.imm, 0);
        return i.immHi!;
      }),
    );
  }
  const [kver] = offsets.get("kernel_version")!;
  assert.equal(view.getUint32(kver, true), (6 << 16) + (1 << 8) + 2);
  const [hz] = offsets.get("config_hz")!;
  assert.equal(view.getInt32(hz, true), 300);
  const [missing, bpf, syscall] = offsets.get("config_flags")!;
  assert.equal(view.getBigUint64(missing, true), 0n, "weak and unset reads 0");
  assert.equal(value[bpf], 1);
  assert.equal(view.getUint32(syscall, true), 2, "m is TRI_MODULE");
  const [lv] = offsets.get("localversion_char")!;
  assert.equal(new TextDecoder().decode(value.subarray(lv, lv + 6)), "-test\0");
  assert.equal(missing, 0);
  assert.deepEqual(m.valueSize, value.length);
});

test("kconfig: overrides win over the config file; a config file path can be given", async () => {
  const spec = await loader({
    release: "6.1.2",
    path: "/etc/my-config",
    values: { CONFIG_HZ: 1000, CONFIG_BPF: false, LINUX_KERNEL_VERSION: "0x050a00" },
    readFile: fakeReader({ "/etc/my-config": text(FAKE_CONFIG) }),
  }).loadSpec(readFixture(KCONFIG_O));
  const value = spec.maps.get(".kconfig")!.contents[0].value as Uint8Array;
  const view = new DataView(value.buffer, value.byteOffset);
  const at = (prog: string, i = 0) =>
    spec.programs.get(prog)!.instructions.filter((x) => x.reference === ".kconfig")[i].immHi!;
  assert.equal(view.getInt32(at("config_hz"), true), 1000);
  assert.equal(value[at("config_flags", 1)], 0);
  assert.equal(view.getUint32(at("kernel_version"), true), 0x050a00);
  await assert.rejects(
    loader({ values: { CONFIG_HZ: 1.5 }, readFile: fakeReader({}) }).loadSpec(
      readFixture(KCONFIG_O),
    ),
    code("EXTERN_KCONFIG_VALUE"),
  );
  await assert.rejects(
    loader({ values: { CONFIG_BPF: "maybe" }, release: "6.1.2", readFile: fakeReader({}) })
      .loadSpec(readFixture(KCONFIG_O)),
    code("EXTERN_KCONFIG_PARSE"),
  );
});

test("kconfig: a strong extern nothing sets stays unresolved with a reason, or fails when strict", async () => {
  const options: KconfigOptions = {
    release: "6.1.2",
    readFile: fakeReader({ "/proc/config.gz": text("CONFIG_BPF_SYSCALL=y\n") }),
  };
  const spec = await loader(options).loadSpec(readFixture(KCONFIG_O));
  const reason = unresolvedReason(spec.metadata, "CONFIG_BPF");
  assert.match(reason ?? "", /kernel config does not set CONFIG_BPF/);
  const load = spec.programs.get("config_flags")!.instructions.find((i) =>
    i.reference === "CONFIG_BPF"
  );
  assert.ok(load !== undefined && load.src === 0, "the load stays an unresolved extern");
  assert.throws(() => loadVmCollection(spec, { programs: ["config_flags"] }), (err) => {
    code("VM_UNRESOLVED_EXTERN")(err);
    assert.match((err as Error).message, /CONFIG_BPF.*kernel config does not set CONFIG_BPF/);
    return true;
  });
  await assert.rejects(
    loader({ ...options, strict: true }).loadSpec(readFixture(KCONFIG_O)),
    (err) => {
      code("EXTERN_UNRESOLVED")(err);
      assert.match((err as Error).message, /CONFIG_BPF \(strong\)/);
      return true;
    },
  );
});

test("kconfig: the kernel backend refuses an unresolved extern quoting why", {
  skip: kernelSkipReason(),
}, async () => {
  const spec = await loader({
    release: "6.1.2",
    readFile: fakeReader({ "/proc/config.gz": text("CONFIG_BPF_SYSCALL=y\n") }),
  }).loadSpec(readFixture(KCONFIG_O));
  await assert.rejects(loadCollection(spec, { programs: ["config_flags"] }), (err) => {
    code("KERNEL_UNRESOLVED_EXTERN")(err);
    assert.match(
      (err as Error).message,
      /load program config_flags: instruction \d+: extern "CONFIG_BPF" is unresolved: not resolved by the kconfig plugin: the kernel config does not set CONFIG_BPF/,
    );
    return true;
  });
});

test("kconfig: without the plugin the extern stays as relocate left it", async () => {
  const spec = await Loader.create([], { withoutExterns: true }).loadSpec(readFixture(KCONFIG_O));
  assert.equal(spec.maps.has(".kconfig"), false);
  const refs = spec.programs.get("kernel_version")!.instructions.filter((i) => i.reference);
  assert.deepEqual(refs.map((i) => i.reference), ["LINUX_KERNEL_VERSION"]);
});

// ------------------------------------------------------------------ backends

test("kconfig: the kernel reads LINUX_KERNEL_VERSION, CONFIG_HZ and flags from .kconfig", {
  skip: kernelSkipReason(),
}, async () => {
  const spec = await Loader.create().loadSpec(readFixture(KCONFIG_O));
  const config = readKernelConfig();
  using coll = await loadCollection(spec);
  const run = (name: string) => coll.programs.get(name)!.run(new Uint8Array(64)).retval;
  assert.equal(run("kernel_version"), linuxKernelVersion(release()));
  assert.equal(run("config_hz"), Number(config.get("CONFIG_HZ") ?? 0));
  const sys = config.get("CONFIG_BPF_SYSCALL");
  assert.equal(run("config_flags"), 1 | ((sys === "y" ? 1 : sys === "m" ? 2 : 0) << 1));
  const lv = JSON.parse(config.get("CONFIG_LOCALVERSION") ?? '""') as string;
  assert.equal(run("localversion_char"), lv.charCodeAt(1) || 0);
  assert.ok(coll.maps.get(".kconfig") !== undefined);
});

test("kconfig: the VM reads the same values through the .kconfig map", async () => {
  const spec = await loader({
    release: "6.18.44",
    values: { CONFIG_HZ: 250 },
    readFile: fakeReader({ "/proc/config.gz": text(FAKE_CONFIG) }),
  })
    .loadSpec(readFixture(KCONFIG_O));
  using coll = loadVmCollection(spec);
  const run = (name: string) => coll.programs.get(name)!.run(new Uint8Array(64)).retval;
  assert.equal(Number(run("kernel_version")), (6 << 16) + (18 << 8) + 44);
  assert.equal(Number(run("config_hz")), 250);
  assert.equal(Number(run("config_flags")), 1 | (2 << 1));
  assert.equal(Number(run("localversion_char")), "t".charCodeAt(0));
});

test("kconfig: a config file's kconfig key overrides values; bad ones are config errors", async () => {
  const resolved = await resolveConfig(
    { kconfig: { CONFIG_HZ: 1000, LINUX_KERNEL_VERSION: "0x050a00", CONFIG_BPF: true } },
    { baseDir: "." },
  );
  const spec = await (await createLoader(resolved)).loadSpec(readFixture(KCONFIG_O));
  const value = spec.maps.get(".kconfig")!.contents[0].value as Uint8Array;
  const view = new DataView(value.buffer, value.byteOffset);
  const at = (prog: string) =>
    spec.programs.get(prog)!.instructions.find((x) => x.reference === ".kconfig")!.immHi!;
  assert.equal(view.getInt32(at("config_hz"), true), 1000);
  assert.equal(view.getUint32(at("kernel_version"), true), 0x050a00);
  await assert.rejects(
    resolveConfig({ kconfig: { CONFIG_HZ: [1] } } as unknown as TsbpfConfig, { baseDir: "." }),
    (err) => err instanceof TsbpfError && /kconfig/.test(err.message),
  );
});
