import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { spawnSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type AttrLayout,
  BPF_ANY,
  BPF_CMD,
  BPF_EXIST,
  BPF_MAP_INFO,
  BPF_NOEXIST,
  BPF_PROG_INFO,
  BTF_LOAD,
  commandName,
  encodeAttr,
  getName,
  getU32,
  getU64,
  MAP_CREATE,
  MAP_GET_NEXT_KEY,
  MAP_LOOKUP_BATCH,
  MAP_LOOKUP_ELEM,
  OBJ_GET,
  OBJ_GET_INFO_BY_FD,
  PROG_BIND_MAP,
  PROG_GET_FD_BY_ID,
  PROG_LOAD,
  PROG_TEST_RUN,
  sanitizeObjectName,
} from "../backends/kernel/attr.ts";
import { errnoName, KernelError, SyscallError, VerifierError } from "../backends/kernel/errors.ts";
import { bpfSyscallNumber, type Syscalls, syscalls } from "../backends/kernel/syscalls.ts";
import {
  btfLoad,
  closeFd,
  decodeMapInfo,
  decodeProgInfo,
  mapCreate,
  mapDelete,
  mapFreeze,
  mapGetFdById,
  mapGetNextKey,
  mapInfoByFd,
  mapLookup,
  mapLookupBatch,
  mapUpdate,
  mapUpdateBatch,
  MAX_LOG_SIZE,
  objGet,
  objGetInfoByFd,
  objPin,
  progGetFdById,
  progInfoByFd,
  progLoad,
  progTestRun,
} from "../backends/kernel/sys.ts";
import { encodeInstructions, type Instruction } from "../isa/mod.ts";
import { BtfBuilder } from "../btf/builder.ts";
import { marshalBtf } from "../btf/marshal.ts";
import {
  BPF_FUNC_INFO_SIZE,
  BPF_LINE_INFO_SIZE,
  encodeFuncInfo,
  encodeLineInfo,
} from "../btf/ext_encode.ts";
import { MapType, ProgramType } from "../collection/types.ts";
import { haveCommand } from "./_util.ts";

// --- environment -----------------------------------------------------------

function probeKernel(): { sys?: Syscalls; why?: string } {
  let sys: Syscalls;
  try {
    sys = syscalls();
  } catch (err) {
    return { why: `no FFI: ${(err as Error).message}` };
  }
  try {
    closeFd(
      sys,
      mapCreate(sys, { map_type: MapType.ARRAY, key_size: 4, value_size: 4, max_entries: 1 }),
    );
  } catch (err) {
    return { why: `bpf(2) unavailable: ${(err as Error).message}` };
  }
  return { sys };
}

const kernel = probeKernel();
if (kernel.why) console.log(`kernel_sys_test: skipping kernel tests: ${kernel.why}`);
const skip = kernel.why ? { skip: kernel.why } : {};
const sys = kernel.sys as Syscalls;

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

function insn(opcode: number, dst: number, src: number, offset: number, imm: number): Instruction {
  return { opcode, dst, src, offset, imm };
}

const EXIT = insn(0x95, 0, 0, 0, 0);
const MOV_R0_1 = insn(0xb7, 0, 0, 0, 1);
const encode = (insns: Instruction[]) => encodeInstructions(insns, { littleEndian: true });
const RET_1 = encode([MOV_R0_1, EXIT]);
// r0 = r2 with r2 never written: the verifier says "R2 !read_ok".
const BAD = encode([insn(0xbf, 0, 2, 0, 0), EXIT]);

function u32(n: number): Uint8Array {
  return new Uint8Array(new Uint32Array([n]).buffer);
}
function u64(n: number): Uint8Array {
  return new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);
}
function readU64(b: Uint8Array): number {
  return Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
}

function throwsErrno(fn: () => unknown, name: string, command?: string): SyscallError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SyscallError, `expected SyscallError ${name}, got ${caught}`);
  assert.equal(caught.errnoName, name, caught.message);
  if (command) assert.equal(caught.command, command);
  return caught;
}

/** A Syscalls that records each bpf(2) call's command and a copy of its attr. */
function recording(inner: Syscalls): Syscalls & { calls: { cmd: number; attr: Uint8Array }[] } {
  const calls: { cmd: number; attr: Uint8Array }[] = [];
  return {
    runtime: inner.runtime,
    calls,
    bpf(cmd, attr) {
      const before = attr.slice();
      const r = inner.bpf(cmd, attr);
      calls.push({ cmd, attr: before });
      return r;
    },
    close: (fd) => inner.close(fd),
    address: (buf) => inner.address(buf),
  };
}

/** A Syscalls that answers every bpf(2) call with `result`. */
function fake(result: number): Syscalls {
  return { runtime: "deno", bpf: () => result, close: () => result, address: () => 0x1000n };
}

// --- attr layouts ------------------------------------------------------------

test("attr: command numbers follow enum bpf_cmd", () => {
  assert.equal(BPF_CMD.MAP_CREATE, 0);
  assert.equal(BPF_CMD.PROG_LOAD, 5);
  assert.equal(BPF_CMD.PROG_TEST_RUN, 10);
  assert.equal(BPF_CMD.OBJ_GET_INFO_BY_FD, 15);
  assert.equal(BPF_CMD.BTF_LOAD, 18);
  assert.equal(BPF_CMD.MAP_FREEZE, 22);
  assert.equal(BPF_CMD.MAP_LOOKUP_BATCH, 24);
  assert.equal(BPF_CMD.MAP_UPDATE_BATCH, 26);
  assert.equal(BPF_CMD.PROG_BIND_MAP, 35);
  assert.deepEqual(Object.values(BPF_CMD), [...Array(36).keys()]);
  assert.equal(commandName(0), "BPF_MAP_CREATE");
  assert.equal(commandName(99), "BPF_CMD_99");
});

test("attr: fields added after this machine's header sit where the current uapi puts them", () => {
  // Kernel >= 6.4 / 6.9 / 6.14 fields, after the last ones every header has.
  assert.equal(PROG_LOAD.fields.core_relo_rec_size.offset, 136);
  assert.equal(PROG_LOAD.fields.log_true_size.offset, 140);
  assert.equal(PROG_LOAD.fields.prog_token_fd.offset, 144);
  assert.equal(PROG_LOAD.fields.fd_array_cnt.offset, 148);
  assert.equal(BTF_LOAD.fields.btf_log_true_size.offset, 28);
  assert.equal(BTF_LOAD.fields.btf_flags.offset, 32);
  assert.equal(BTF_LOAD.fields.btf_token_fd.offset, 36);
  assert.equal(MAP_CREATE.fields.map_extra.offset, 64);
  assert.equal(MAP_CREATE.fields.map_token_fd.offset, 76);
  assert.equal(PROG_TEST_RUN.size, 80);
});

// The C expression naming a layout field in union bpf_attr or the info structs.
function cField(layout: AttrLayout, field: string): string | undefined {
  // bpf_prog_info, bpf_map_info, bpf_btf_info: layouts named after their struct.
  if (/^bpf_\w+_info$/.test(layout.name)) return `((struct ${layout.name} *)0)->${field}`;
  const sub: Record<string, string> = {
    BPF_MAP_LOOKUP_BATCH: "batch.",
    BPF_MAP_UPDATE_BATCH: "batch.",
    BPF_MAP_DELETE_BATCH: "batch.",
    BPF_PROG_TEST_RUN: "test.",
    BPF_OBJ_GET_INFO_BY_FD: "info.",
    BPF_PROG_BIND_MAP: "prog_bind_map.",
  };
  const name = field === "id" ? "prog_id" : field;
  return `((union bpf_attr *)0)->${sub[layout.name] ?? ""}${name}`;
}

test(
  "attr: every offset agrees with offsetof() in /usr/include/linux/bpf.h",
  haveCommand("cc") ? {} : { skip: "no C compiler" },
  async () => {
    const attr = await import("../backends/kernel/attr.ts");
    const layouts = Object.values(attr).filter((v): v is AttrLayout =>
      typeof v === "object" && v !== null && "fields" in v && "size" in v
    );
    const header = (await import("node:fs")).readFileSync("/usr/include/linux/bpf.h", "utf8");
    const dir = mkdtempSync(join(tmpdir(), "tsbpf-attr-"));
    try {
      const lines: string[] = [];
      const expected: string[] = [];
      for (const layout of layouts) {
        for (const [field, { offset }] of Object.entries(layout.fields)) {
          // Fields newer than this header are checked by the test above.
          if (!new RegExp(`\\b${field === "id" ? "prog_id" : field}\\b`).test(header)) continue;
          if (layout === PROG_GET_FD_BY_ID && field !== "id") continue;
          const expr = cField(layout, field)!;
          lines.push(`  printf("%s.%s %zu\\n", "${layout.name}", "${field}", (size_t)&${expr});`);
          expected.push(`${layout.name}.${field} ${offset}`);
        }
      }
      writeFileSync(
        join(dir, "off.c"),
        `#include <stdio.h>\n#include <stddef.h>\n#include <linux/bpf.h>\nint main(void) {\n${
          lines.join("\n")
        }\n  return 0;\n}\n`,
      );
      const cc = spawnSync("cc", ["-w", "-o", join(dir, "off"), join(dir, "off.c")], {
        encoding: "utf8",
      });
      assert.equal(cc.status, 0, cc.stderr);
      const run = spawnSync(join(dir, "off"), [], { encoding: "utf8" });
      assert.equal(run.status, 0);
      assert.ok(expected.length > 100, `only ${expected.length} fields checked`);
      assert.deepEqual(run.stdout.trim().split("\n"), expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("attr: encodeAttr writes little-endian fields, names sanitised, rest zero", () => {
  const b = encodeAttr(MAP_CREATE, {
    map_type: 2,
    key_size: 4,
    value_size: 8,
    max_entries: 16,
    map_name: "my-map: counts!",
    map_extra: 0x1_0000_0002n,
    btf_fd: -1,
  });
  assert.equal(b.length, MAP_CREATE.size);
  assert.equal(getU32(MAP_CREATE, b, "map_type"), 2);
  assert.equal(getU32(MAP_CREATE, b, "max_entries"), 16);
  assert.equal(getName(MAP_CREATE, b, "map_name"), "mymapcounts");
  assert.equal(getU64(MAP_CREATE, b, "map_extra"), 0x1_0000_0002n);
  assert.equal(getU32(MAP_CREATE, b, "btf_fd"), 0xffffffff);
  assert.equal(getU32(MAP_CREATE, b, "inner_map_fd"), 0);
  assert.equal(b[28 + 15], 0, "name NUL-terminated");
});

test("attr: sanitizeObjectName keeps [A-Za-z0-9_.] and 15 bytes", () => {
  assert.equal(sanitizeObjectName("xdp/prog-1.main"), "xdpprog1.main");
  assert.equal(sanitizeObjectName("a_very_long_program_name"), "a_very_long_pro");
  assert.equal(sanitizeObjectName("çà"), "");
});

test("attr property: a name field holds sanitizeObjectName of any string, NUL-padded", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 40 }), (name) => {
      const b = encodeAttr(PROG_LOAD, { prog_name: name });
      const at = PROG_LOAD.fields.prog_name.offset;
      const want = new TextEncoder().encode(sanitizeObjectName(name));
      assert.deepEqual(b.subarray(at, at + want.length), want);
      assert.ok(b.subarray(at + want.length, at + 16).every((x) => x === 0), "NUL padded");
    }),
    { numRuns: 2000 },
  );
});

test("attr: bad fields and values are typed KernelErrors", () => {
  const bad = (fn: () => unknown, re: RegExp) =>
    assert.throws(
      fn,
      (e) => e instanceof KernelError && e.code === "KERNEL_BAD_ATTR" && re.test(e.message),
    );
  bad(() => encodeAttr(MAP_CREATE, { nope: 1 }), /no field "nope"/);
  bad(() => encodeAttr(MAP_CREATE, { key_size: 2 ** 32 }), /not a u32/);
  bad(() => encodeAttr(MAP_CREATE, { key_size: 1.5 }), /not a u32/);
  bad(() => encodeAttr(MAP_CREATE, { key_size: "4" }), /expected a number/);
  bad(() => encodeAttr(MAP_CREATE, { map_name: 3 }), /expected a string/);
  bad(() => encodeAttr(MAP_CREATE, { map_extra: 2 ** 60 }), /not an integer/);
  bad(() => encodeAttr(MAP_CREATE, { map_extra: 1n << 64n }), /not a u64/);
  bad(() => getU32(MAP_CREATE, new Uint8Array(80), "toString"), /no field/);
});

// --- errors ------------------------------------------------------------------

test("errors: messages name the command, errno and a hint", () => {
  const e = new SyscallError("BPF_MAP_CREATE", 1);
  assert.ok(e instanceof KernelError);
  assert.equal(e.code, "KERNEL_SYSCALL");
  assert.equal(e.errnoName, "EPERM");
  // As root, EPERM is not about privileges; otherwise the hint says what is missing.
  const root = (globalThis as { process?: { getuid?: () => number } }).process?.getuid?.() === 0;
  if (root) {
    assert.match(
      e.message,
      /^BPF_MAP_CREATE: EPERM \(operation not permitted\): already root: the kernel refuses/,
    );
    assert.match(new SyscallError("BPF_PROG_LOAD", 1).message, /fentry\/fexit\/lsm/);
  } else {
    assert.match(e.message, /^BPF_MAP_CREATE: EPERM \(operation not permitted\): need CAP_BPF/);
    assert.match(e.message, /RLIMIT_MEMLOCK/);
  }
  assert.equal(
    new SyscallError("BPF_MAP_LOOKUP_ELEM", 2).message,
    "BPF_MAP_LOOKUP_ELEM: ENOENT (no such file or directory)",
  );
  assert.equal(errnoName(524), "ENOTSUPP");
  assert.equal(errnoName(95), "EOPNOTSUPP");
  assert.equal(errnoName(7), "E2BIG");
  assert.equal(errnoName(4242), "E4242");
  const v = new VerifierError(
    "BPF_PROG_LOAD",
    13,
    "0: (bf) r0 = r2\nR2 !read_ok\nprocessed 1 insns\n",
  );
  assert.ok(v instanceof SyscallError);
  assert.equal(v.code, "KERNEL_VERIFIER");
  assert.equal(v.truncated, false);
  assert.equal(v.message, "BPF_PROG_LOAD: EACCES (permission denied): R2 !read_ok");
});

test("syscalls: unknown architectures are a typed error", () => {
  assert.equal(bpfSyscallNumber("x86_64"), 321);
  assert.equal(bpfSyscallNumber("aarch64"), 280);
  assert.throws(
    () => bpfSyscallNumber("sparc"),
    (e) => e instanceof KernelError && e.code === "KERNEL_UNSUPPORTED_RUNTIME",
  );
});

test(
  "syscalls: deno without --allow-ffi gets KERNEL_NO_FFI_PERMISSION",
  haveCommand("true") ? {} : { skip: "no shell" },
  () => {
    const deno = fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url));
    const mod = fileURLToPath(new URL("../backends/kernel/syscalls.ts", import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), "tsbpf-ffi-"));
    try {
      const script = join(dir, "probe.ts");
      writeFileSync(
        script,
        `import { syscalls } from ${JSON.stringify(mod)};\n` +
          `try { syscalls(); console.log("ok"); } catch (e) { console.log(e.code, e.message); }\n`,
      );
      const r = spawnSync(deno, ["run", "--no-prompt", "--allow-read", script], {
        encoding: "utf8",
      });
      assert.match(r.stdout, /^KERNEL_NO_FFI_PERMISSION run deno with --allow-ffi/, r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

// --- fake syscalls -------------------------------------------------------------

test("sys: errors from a fake kernel are typed", () => {
  throwsErrno(
    () => mapCreate(fake(-1), { map_type: 1, key_size: 4, value_size: 4, max_entries: 1 }),
    "EPERM",
    "BPF_MAP_CREATE",
  );
  assert.equal(mapLookup(fake(-2), 3, u32(0), u32(0)), false);
  assert.equal(mapDelete(fake(-2), 3, u32(0)), false);
  assert.equal(mapGetNextKey(fake(-2), 3, undefined, u32(0)), false);
  throwsErrno(() => mapLookup(fake(-9), 3, u32(0), u32(0)), "EBADF", "BPF_MAP_LOOKUP_ELEM");
  for (const errno of [22, 95, 524]) {
    const opts = { outBatch: u32(0), keys: u32(0), values: u32(0), count: 1 };
    const e = throwsErrno(() => mapLookupBatch(fake(-errno), 3, opts), errnoName(errno));
    assert.equal(e.code, "KERNEL_NOT_SUPPORTED");
    const f = throwsErrno(() => mapUpdateBatch(fake(-errno), 3, opts), errnoName(errno));
    assert.equal(f.code, "KERNEL_NOT_SUPPORTED");
  }
  // Without a log: other errnos are plain SyscallErrors, EACCES/EINVAL retry with one.
  const e2big = throwsErrno(
    () => progLoad(fake(-7), { prog_type: 1, insns: RET_1, license: "GPL" }),
    "E2BIG",
  );
  assert.ok(!(e2big instanceof VerifierError));
  const rec = recording(fake(-13));
  assert.throws(() => progLoad(rec, { prog_type: 1, insns: RET_1, license: "GPL" }), VerifierError);
  assert.equal(rec.calls.length, 2);
  assert.equal(getU32(PROG_LOAD, rec.calls[0].attr, "log_level"), 0);
  assert.equal(getU32(PROG_LOAD, rec.calls[1].attr, "log_level"), 1);
  assert.equal(getU32(PROG_LOAD, rec.calls[1].attr, "log_size"), 64 * 1024);
  // A log was asked for but the kernel refused for another reason: no verifier involved.
  const eperm = throwsErrno(
    () => progLoad(fake(-1), { prog_type: 1, insns: RET_1, license: "GPL" }, { logLevel: 1 }),
    "EPERM",
  );
  assert.ok(!(eperm instanceof VerifierError));
  // logDisabled (or the contract's logSize 0): one attempt, a VerifierError without a log.
  for (const opts of [{ logDisabled: true }, { logSize: 0 }]) {
    const once = recording(fake(-13));
    assert.throws(
      () => progLoad(once, { prog_type: 1, insns: RET_1, license: "GPL" }, opts),
      (e) => e instanceof VerifierError && e.log === "" && !e.truncated,
    );
    assert.equal(once.calls.length, 1);
  }
  assert.throws(
    () => closeFd(fake(-9), 3),
    (e) => e instanceof SyscallError && e.command === "close" && e.errnoName === "EBADF",
  );
});

test("sys: a log that never fits grows x8 up to the cap, then is marked truncated", () => {
  const sizes: number[] = [];
  const always: Syscalls = {
    runtime: "deno",
    bpf(_cmd, attr) {
      const size = getU32(PROG_LOAD, attr, "log_size");
      sizes.push(size);
      return size === 0 ? -13 : -28;
    },
    close: () => 0,
    address: () => 0x1000n,
  };
  let caught: unknown;
  try {
    progLoad(always, { prog_type: 1, insns: RET_1, license: "GPL" }, {
      logSizeStart: 16,
      logSizeMax: 1 << 16,
    });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof VerifierError);
  assert.equal(caught.truncated, true);
  assert.equal(caught.errnoName, "ENOSPC");
  assert.deepEqual(sizes, [0, 16, 128, 1024, 8192, 1 << 16]);
  assert.equal(MAX_LOG_SIZE, 0x3fffffff);
});

/**
 * A fake kernel that rejects every program with `text` as its verifier log,
 * writing the log into the buffer `log_buf` addresses, like a kernel before
 * 6.4 (no `log_true_size`, at least 128 bytes) or after (with it).
 */
function logKernel(text: string, modern: boolean): Syscalls & { sizes: number[] } {
  const buffers = new Map<bigint, Uint8Array>();
  const sizes: number[] = [];
  const bytes = new TextEncoder().encode(text);
  return {
    runtime: "deno",
    sizes,
    address(buf) {
      const addr = 0x1000n * BigInt(buffers.size + 1);
      buffers.set(addr, buf);
      return addr;
    },
    close: () => 0,
    bpf(_cmd, attr) {
      const size = getU32(PROG_LOAD, attr, "log_size");
      sizes.push(size);
      if (getU32(PROG_LOAD, attr, "log_level") === 0) return -13;
      if (!modern && size < 128) return -22;
      const buf = buffers.get(getU64(PROG_LOAD, attr, "log_buf"))!;
      assert.equal(buf.length, size);
      const n = Math.min(bytes.length, size - 1);
      buf.set(bytes.subarray(0, n));
      buf[n] = 0;
      if (modern) new DataView(attr.buffer).setUint32(140, bytes.length + 1, true);
      return n < bytes.length ? -28 : -13;
    },
  };
}

test("sys: logs grow x8 on kernels without log_true_size, honouring their 128-byte minimum", () => {
  const text = "0: (bf) r0 = r2\n".repeat(300) + "R2 !read_ok\nprocessed 1 insns\n";
  const k = logKernel(text, false);
  let caught: unknown;
  try {
    progLoad(k, { prog_type: 1, insns: RET_1, license: "GPL" }, { logSizeStart: 16 });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof VerifierError);
  assert.equal(caught.log, text);
  assert.equal(caught.truncated, false);
  assert.deepEqual(k.sizes, [0, 16, 128, 1024, 8192]);
});

test("sys: logs grow to log_true_size in one step on kernels that report it", () => {
  const text = "x".repeat(100_000) + "\nprocessed 1 insns\n";
  const k = logKernel(text, true);
  let caught: unknown;
  try {
    progLoad(k, { prog_type: 1, insns: RET_1, license: "GPL" }, { logLevel: 1 });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof VerifierError);
  assert.equal(caught.log, text);
  assert.deepEqual(k.sizes, [65536, text.length + 1]);
});

test("sys: bad instruction buffers and record sizes are typed errors", () => {
  const bad = (fn: () => unknown) =>
    assert.throws(fn, (e) => e instanceof KernelError && e.code === "KERNEL_BAD_ATTR");
  bad(() => progLoad(fake(3), { prog_type: 1, insns: new Uint8Array(12), license: "GPL" }));
  bad(() => progLoad(fake(3), { prog_type: 1, insns: new Uint8Array(0), license: "GPL" }));
  bad(() => progLoad(fake(3), { prog_type: 1, insns: RET_1, license: "G\0PL" }));
  bad(() =>
    progLoad(fake(3), {
      prog_type: 1,
      insns: RET_1,
      license: "GPL",
      func_info: new Uint8Array(12),
      func_info_rec_size: 8,
    })
  );
  bad(() => objPin(fake(0), 3, "/sys/fs/bpf/a\0b"));
  bad(() => mapLookup(fake(0), -1, u32(0), u32(0)));
  bad(() => mapLookup(fake(0), 1.5, u32(0), u32(0)));
  bad(() => mapUpdate(fake(0), 3, u32(0), u32(0), -1));
});

test("sys: info decoders read the uapi structs, short ones zero-extended", () => {
  const m = new Uint8Array(BPF_MAP_INFO.size);
  const dv = new DataView(m.buffer);
  dv.setUint32(0, 1, true);
  dv.setUint32(4, 77, true);
  dv.setUint32(8, 4, true);
  dv.setUint32(12, 8, true);
  dv.setUint32(16, 16, true);
  m.set(new TextEncoder().encode("counts"), 24);
  dv.setUint32(64, 5, true);
  dv.setBigUint64(80, 9n, true);
  const info = decodeMapInfo(m);
  assert.deepEqual(info, {
    type: 1,
    id: 77,
    keySize: 4,
    valueSize: 8,
    maxEntries: 16,
    mapFlags: 0,
    name: "counts",
    btfId: 5,
    btfKeyTypeId: 0,
    btfValueTypeId: 0,
    mapExtra: 9n,
  });
  assert.equal(decodeMapInfo(m.subarray(0, 40)).btfId, 0);
  const p = new Uint8Array(64);
  p.set([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3], 8);
  assert.equal(decodeProgInfo(p).tag, "deadbeef00010203");
  assert.equal(decodeProgInfo(p).name, "");
});

// --- the real kernel -------------------------------------------------------------

test("kernel: syscalls() is cached and names the runtime", skip, () => {
  assert.equal(syscalls(), sys);
  const isBun = (globalThis as { Bun?: unknown }).Bun !== undefined;
  assert.equal(sys.runtime, isBun ? "bun" : "deno");
  assert.equal(sys.address(new Uint8Array(0)), 0n);
  assert.ok(sys.address(new Uint8Array(8)) > 0n);
  const big = new Uint8Array(64);
  assert.equal(sys.address(big.subarray(24)), sys.address(big) + 24n);
  // A small typed array's address stays put once taken (JSC/V8 may otherwise
  // keep its bytes in the GC heap and move them when `buffer` is first read).
  const small = new Uint8Array(4);
  const first = sys.address(small);
  void small.buffer;
  const gc = (globalThis as { Bun?: { gc(sync: boolean): void } }).Bun?.gc;
  if (gc) gc(true);
  assert.equal(sys.address(small), first);
});

test("kernel: array map create, update, lookup, flags, delete, iterate", skip, () => {
  const before = openFds();
  const fd = mapCreate(sys, {
    map_type: MapType.ARRAY,
    key_size: 4,
    value_size: 8,
    max_entries: 4,
    map_name: "tsbpf_array",
  });
  try {
    const v = new Uint8Array(8);
    assert.equal(mapLookup(sys, fd, u32(2), v), true);
    assert.equal(readU64(v), 0);
    mapUpdate(sys, fd, u32(2), u64(42), BPF_ANY);
    mapUpdate(sys, fd, u32(3), u64(7), BPF_EXIST);
    assert.equal(mapLookup(sys, fd, u32(2), v), true);
    assert.equal(readU64(v), 42);
    // Array elements always exist.
    throwsErrno(
      () => mapUpdate(sys, fd, u32(1), u64(1), BPF_NOEXIST),
      "EEXIST",
      "BPF_MAP_UPDATE_ELEM",
    );
    throwsErrno(() => mapUpdate(sys, fd, u32(4), u64(1), BPF_ANY), "E2BIG");
    assert.equal(mapLookup(sys, fd, u32(9), v), false);
    throwsErrno(() => mapDelete(sys, fd, u32(1)), "EINVAL", "BPF_MAP_DELETE_ELEM");
    const keys: number[] = [];
    const next = new Uint8Array(4);
    let key: Uint8Array | undefined;
    while (mapGetNextKey(sys, fd, key, next)) {
      keys.push(new DataView(next.buffer).getUint32(0, true));
      key = next.slice();
    }
    assert.deepEqual(keys, [0, 1, 2, 3]);
  } finally {
    closeFd(sys, fd);
  }
  assert.equal(openFds(), before);
});

test(
  "kernel: hash map flags (BPF_ANY, BPF_NOEXIST → EEXIST, BPF_EXIST → ENOENT), delete, iterate",
  skip,
  () => {
    const before = openFds();
    const fd = mapCreate(sys, {
      map_type: MapType.HASH,
      key_size: 4,
      value_size: 8,
      max_entries: 8,
    });
    try {
      const v = new Uint8Array(8);
      assert.equal(mapLookup(sys, fd, u32(1), v), false);
      throwsErrno(
        () => mapUpdate(sys, fd, u32(1), u64(10), BPF_EXIST),
        "ENOENT",
        "BPF_MAP_UPDATE_ELEM",
      );
      mapUpdate(sys, fd, u32(1), u64(10), BPF_NOEXIST);
      throwsErrno(() => mapUpdate(sys, fd, u32(1), u64(11), BPF_NOEXIST), "EEXIST");
      mapUpdate(sys, fd, u32(1), u64(12), BPF_EXIST);
      mapUpdate(sys, fd, u32(2), u64(20), BPF_ANY);
      mapUpdate(sys, fd, u32(3), u64(30));
      assert.equal(mapLookup(sys, fd, u32(1), v), true);
      assert.equal(readU64(v), 12);
      assert.equal(mapDelete(sys, fd, u32(3)), true);
      assert.equal(mapDelete(sys, fd, u32(3)), false);
      const keys: number[] = [];
      const next = new Uint8Array(4);
      let key: Uint8Array | undefined;
      while (mapGetNextKey(sys, fd, key, next)) {
        keys.push(new DataView(next.buffer).getUint32(0, true));
        key = next.slice();
      }
      assert.deepEqual(keys.sort(), [1, 2]);
      throwsErrno(() => mapUpdate(sys, fd, u32(1), u64(1), 99), "EINVAL");
    } finally {
      closeFd(sys, fd);
    }
    assert.equal(openFds(), before);
  },
);

test("kernel: batch update and lookup of a hash map", skip, () => {
  const fd = mapCreate(sys, {
    map_type: MapType.HASH,
    key_size: 4,
    value_size: 8,
    max_entries: 64,
  });
  try {
    const n = 40;
    const keys = new Uint8Array(4 * n);
    const values = new Uint8Array(8 * n);
    const kv = new DataView(keys.buffer);
    const vv = new DataView(values.buffer);
    for (let i = 0; i < n; i++) {
      kv.setUint32(i * 4, i, true);
      vv.setBigUint64(i * 8, BigInt(i * 100), true);
    }
    assert.equal(mapUpdateBatch(sys, fd, { keys, values, count: n }), n);
    const seen = new Map<number, number>();
    let inBatch: Uint8Array | undefined;
    for (;;) {
      const outBatch = new Uint8Array(8);
      const ks = new Uint8Array(4 * 16);
      const vs = new Uint8Array(8 * 16);
      const r = mapLookupBatch(sys, fd, { inBatch, outBatch, keys: ks, values: vs, count: 16 });
      for (let i = 0; i < r.count; i++) {
        seen.set(
          new DataView(ks.buffer).getUint32(i * 4, true),
          Number(new DataView(vs.buffer).getBigUint64(i * 8, true)),
        );
      }
      if (r.done) break;
      inBatch = outBatch;
    }
    assert.equal(seen.size, n);
    for (const [k, v] of seen) assert.equal(v, k * 100);
  } finally {
    closeFd(sys, fd);
  }
});

test("kernel: a frozen map refuses updates with EPERM", skip, () => {
  const fd = mapCreate(sys, {
    map_type: MapType.ARRAY,
    key_size: 4,
    value_size: 4,
    max_entries: 1,
  });
  try {
    mapUpdate(sys, fd, u32(0), u32(5));
    mapFreeze(sys, fd);
    const e = throwsErrno(() => mapUpdate(sys, fd, u32(0), u32(6)), "EPERM", "BPF_MAP_UPDATE_ELEM");
    assert.match(e.message, /^BPF_MAP_UPDATE_ELEM: EPERM \(operation not permitted\): .*frozen/);
    const v = new Uint8Array(4);
    assert.equal(mapLookup(sys, fd, u32(0), v), true);
    assert.deepEqual(v, u32(5));
    // Frozen again: 6.x says EPERM (no write access left), older kernels EBUSY.
    assert.throws(
      () => mapFreeze(sys, fd),
      (e) => e instanceof SyscallError && ["EPERM", "EBUSY"].includes(e.errnoName),
    );
  } finally {
    closeFd(sys, fd);
  }
});

function bpffsDir(): string | undefined {
  try {
    const dir = join("/sys/fs/bpf", `tsbpf-test-${process.pid}-${Date.now()}`);
    mkdirSync(dir);
    return dir;
  } catch {
    return undefined;
  }
}

test("kernel: pin a map and a program to bpffs and get them back", skip, () => {
  const dir = bpffsDir();
  if (dir === undefined) {
    console.log("kernel_sys_test: /sys/fs/bpf is not a writable bpffs; pin test skipped");
    return;
  }
  const before = openFds();
  const fd = mapCreate(sys, { map_type: MapType.HASH, key_size: 4, value_size: 4, max_entries: 2 });
  const prog = progLoad(sys, {
    prog_type: ProgramType.SOCKET_FILTER,
    insns: RET_1,
    license: "GPL",
  });
  try {
    mapUpdate(sys, fd, u32(1), u32(99));
    objPin(sys, fd, join(dir, "map"));
    objPin(sys, prog, join(dir, "prog"));
    throwsErrno(() => objPin(sys, fd, join(dir, "map")), "EEXIST", "BPF_OBJ_PIN");
    const again = objGet(sys, join(dir, "map"));
    try {
      assert.equal(mapInfoByFd(sys, again).id, mapInfoByFd(sys, fd).id);
      const v = new Uint8Array(4);
      assert.equal(mapLookup(sys, again, u32(1), v), true);
      assert.deepEqual(v, u32(99));
    } finally {
      closeFd(sys, again);
    }
    const p2 = objGet(sys, join(dir, "prog"));
    try {
      assert.equal(progInfoByFd(sys, p2).id, progInfoByFd(sys, prog).id);
    } finally {
      closeFd(sys, p2);
    }
    throwsErrno(() => objGet(sys, join(dir, "missing")), "ENOENT", "BPF_OBJ_GET");
  } finally {
    closeFd(sys, fd);
    closeFd(sys, prog);
    for (const f of ["map", "prog"]) {
      try {
        unlinkSync(join(dir, f));
      } catch { /* not pinned */ }
    }
    rmdirSync(dir);
  }
  assert.equal(openFds(), before);
});

test("kernel: load a socket filter and test-run it (retval 1)", skip, () => {
  const fd = progLoad(sys, {
    prog_type: ProgramType.SOCKET_FILTER,
    insns: RET_1,
    license: "GPL",
    prog_name: "ret-one",
  });
  try {
    const r = progTestRun(sys, fd, { dataIn: new Uint8Array(64), repeat: 100 });
    assert.equal(r.retval, 1);
    assert.ok(r.duration >= 0);
    const out = progTestRun(sys, fd, { dataIn: new Uint8Array(64).fill(7), dataOutSize: 128 });
    assert.equal(out.dataOut.length, 64);
    // The kernel rewrites the Ethernet header's view of the skb; the payload comes back as is.
    assert.ok(out.dataOut.subarray(14).every((b) => b === 7));
    throwsErrno(
      () => progTestRun(sys, fd, { dataIn: new Uint8Array(4) }),
      "EINVAL",
      "BPF_PROG_TEST_RUN",
    );
  } finally {
    closeFd(sys, fd);
  }
});

test("kernel: a rejected program throws VerifierError with the complete log", skip, () => {
  const before = openFds();
  let caught: unknown;
  try {
    progLoad(sys, { prog_type: ProgramType.SOCKET_FILTER, insns: BAD, license: "GPL" });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof VerifierError, String(caught));
  assert.equal(caught.command, "BPF_PROG_LOAD");
  assert.equal(caught.errnoName, "EACCES");
  assert.equal(caught.truncated, false);
  assert.match(caught.log, /R2 !read_ok/);
  assert.match(caught.log, /processed \d+ insns/, "log ends with the verifier's summary");
  assert.ok(!caught.log.includes("\0"));
  assert.match(caught.message, /R2 !read_ok/);
  assert.equal(openFds(), before);
});

test("kernel: a 16-byte log buffer grows until the log is complete", skip, () => {
  const rec = recording(sys);
  let reference = "";
  try {
    progLoad(sys, { prog_type: ProgramType.SOCKET_FILTER, insns: BAD, license: "GPL" });
  } catch (err) {
    reference = (err as VerifierError).log;
  }
  let caught: unknown;
  try {
    progLoad(rec, { prog_type: ProgramType.SOCKET_FILTER, insns: BAD, license: "GPL" }, {
      logSizeStart: 16,
    });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof VerifierError);
  assert.equal(caught.truncated, false);
  assert.equal(caught.log, reference);
  const sizes = rec.calls.map((c) => getU32(PROG_LOAD, c.attr, "log_size"));
  assert.equal(sizes[0], 0, "first attempt without a log");
  assert.equal(sizes[1], 16);
  assert.ok(sizes.length >= 3 && sizes[sizes.length - 1] > 16, `sizes ${sizes}`);
});

test("kernel: a large verbose log on success grows and reaches onLog whole", skip, () => {
  // 3000 ALU instructions: log level 2 writes a line or more per instruction.
  const insns = [MOV_R0_1];
  for (let i = 0; i < 3000; i++) insns.push(insn(0x07, 0, 0, 0, 1));
  insns.push(EXIT);
  const rec = recording(sys);
  let log = "";
  const fd = progLoad(rec, {
    prog_type: ProgramType.SOCKET_FILTER,
    insns: encode(insns),
    license: "GPL",
  }, { logLevel: 2, logSizeStart: 1024, onLog: (l) => (log = l) });
  try {
    assert.ok(log.length > 64 * 1024, `log of ${log.length} bytes`);
    assert.match(log, /3001: \(95\) exit/);
    assert.match(log, /processed 3002 insns/);
    assert.ok(rec.calls.length >= 2);
    const r = progTestRun(sys, fd, { dataIn: new Uint8Array(64) });
    assert.equal(r.retval, 3001);
  } finally {
    closeFd(sys, fd);
  }
});

test("kernel: obj info of a map and of a program using it", skip, () => {
  const before = openFds();
  const map = mapCreate(sys, {
    map_type: MapType.HASH,
    key_size: 4,
    value_size: 16,
    max_entries: 32,
    map_flags: 1, // BPF_F_NO_PREALLOC
    map_name: "info-map",
  });
  let prog = -1;
  try {
    const m = mapInfoByFd(sys, map);
    assert.equal(m.type, MapType.HASH);
    assert.equal(m.keySize, 4);
    assert.equal(m.valueSize, 16);
    assert.equal(m.maxEntries, 32);
    assert.equal(m.mapFlags, 1);
    assert.equal(m.name, "infomap");
    assert.ok(m.id > 0);
    // Trimmed to what this kernel writes (bpf_map_info grows with new kernels).
    const raw = objGetInfoByFd(sys, map, 1024);
    assert.ok(raw.length >= BPF_MAP_INFO.size && raw.length < 1024, `${raw.length}`);
    // r1 = map (ld_imm64, BPF_PSEUDO_MAP_FD); r0 = 1; exit
    const ldMap: Instruction = { opcode: 0x18, dst: 1, src: 1, offset: 0, imm: map, immHi: 0 };
    prog = progLoad(sys, {
      prog_type: ProgramType.SOCKET_FILTER,
      insns: encode([ldMap, MOV_R0_1, EXIT]),
      license: "GPL",
      prog_name: "info_prog",
    });
    const p = progInfoByFd(sys, prog);
    assert.equal(p.type, ProgramType.SOCKET_FILTER);
    assert.equal(p.name, "info_prog");
    assert.match(p.tag, /^[0-9a-f]{16}$/);
    assert.equal(p.xlatedProgLen, 4 * 8);
    assert.ok(p.jitedProgLen > 0);
    assert.deepEqual(p.mapIds, [m.id]);
    const byId = progGetFdById(sys, p.id);
    try {
      assert.equal(progInfoByFd(sys, byId).tag, p.tag);
    } finally {
      closeFd(sys, byId);
    }
    const mapById = mapGetFdById(sys, m.id);
    try {
      assert.equal(mapInfoByFd(sys, mapById).id, m.id);
    } finally {
      closeFd(sys, mapById);
    }
    throwsErrno(() => progGetFdById(sys, 0x7ffffff0), "ENOENT", "BPF_PROG_GET_FD_BY_ID");
  } finally {
    if (prog >= 0) closeFd(sys, prog);
    closeFd(sys, map);
  }
  assert.equal(openFds(), before);
});

test("kernel: a closed fd is EBADF as SyscallError", skip, () => {
  const fd = mapCreate(sys, {
    map_type: MapType.ARRAY,
    key_size: 4,
    value_size: 4,
    max_entries: 1,
  });
  closeFd(sys, fd);
  throwsErrno(() => mapLookup(sys, fd, u32(0), new Uint8Array(4)), "EBADF", "BPF_MAP_LOOKUP_ELEM");
  throwsErrno(() => mapUpdate(sys, fd, u32(0), u32(0)), "EBADF");
  // BPF_OBJ_GET_INFO_BY_FD says EBADFD for an fd that is not open.
  assert.throws(
    () => objGetInfoByFd(sys, fd, 64),
    (e) => e instanceof SyscallError && ["EBADF", "EBADFD"].includes(e.errnoName),
  );
  throwsErrno(() => closeFd(sys, fd), "EBADF", "close");
});

test("kernel: BTF load of a builder blob, used by a map; bad BTF has a BTF log", skip, () => {
  const before = openFds();
  const b = new BtfBuilder();
  const u32t = b.int("unsigned int", 4);
  const u64t = b.int("unsigned long long", 8);
  const value = b.struct("value", [{ name: "a", type: u32t }, { name: "b", type: u64t }]);
  const btf = btfLoad(sys, marshalBtf(b));
  try {
    const map = mapCreate(sys, {
      map_type: MapType.HASH,
      key_size: 4,
      value_size: 16,
      max_entries: 4,
      btf_fd: btf,
      btf_key_type_id: u32t,
      btf_value_type_id: value,
    });
    try {
      const info = mapInfoByFd(sys, map);
      assert.ok(info.btfId > 0);
      assert.equal(info.btfKeyTypeId, u32t);
      assert.equal(info.btfValueTypeId, value);
    } finally {
      closeFd(sys, map);
    }
  } finally {
    closeFd(sys, btf);
  }
  // An INT whose bits exceed its size.
  const bad = new BtfBuilder();
  bad.add({ kind: 1, name: "int", size: 4, encoding: 0, bitOffset: 0, bits: 64 } as never);
  let caught: unknown;
  try {
    btfLoad(sys, marshalBtf(bad), { logSizeStart: 16 });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof VerifierError, String(caught));
  assert.equal(caught.command, "BPF_BTF_LOAD");
  assert.equal(caught.truncated, false);
  assert.match(caught.log, /magic: 0xeb9f/);
  assert.match(caught.log, /int/);
  assert.equal(openFds(), before);
});

test("kernel: BTF func_info, line_info and fd_array reach the kernel", skip, () => {
  const before = openFds();
  const b = new BtfBuilder();
  const int = b.int("int", 4, { signed: true });
  const proto = b.funcProto(int, [{ name: "ctx", type: b.pointer(0) }]);
  const func = b.func("prog", proto);
  const fileNameOff = b.addString("prog.c");
  const lineOff = b.addString("return 1;");
  const btf = btfLoad(sys, marshalBtf(b));
  const map = mapCreate(sys, {
    map_type: MapType.ARRAY,
    key_size: 4,
    value_size: 4,
    max_entries: 1,
  });
  let prog = -1;
  try {
    // r1 = fd_array[0] (ld_imm64, BPF_PSEUDO_MAP_IDX); r0 = 1; exit
    const ldMapIdx: Instruction = { opcode: 0x18, dst: 1, src: 5, offset: 0, imm: 0, immHi: 0 };
    prog = progLoad(sys, {
      prog_type: ProgramType.SOCKET_FILTER,
      insns: encode([ldMapIdx, MOV_R0_1, EXIT]),
      license: "GPL",
      prog_btf_fd: btf,
      func_info: encodeFuncInfo([{ insnOff: 0, typeId: func }], true),
      func_info_rec_size: BPF_FUNC_INFO_SIZE,
      line_info: encodeLineInfo(
        [{ insnOff: 0, fileNameOff, lineOff, line: 1, column: 2 }],
        true,
      ),
      line_info_rec_size: BPF_LINE_INFO_SIZE,
      fd_array: new Int32Array([map]),
    });
    const info = progInfoByFd(sys, prog);
    assert.ok(info.btfId > 0);
    assert.equal(info.name, "");
    assert.deepEqual(info.mapIds, [mapInfoByFd(sys, map).id]);
    const raw = objGetInfoByFd(sys, prog, BPF_PROG_INFO.size);
    assert.equal(getU32(BPF_PROG_INFO, raw, "nr_func_info"), 1);
    assert.equal(getU32(BPF_PROG_INFO, raw, "nr_line_info"), 1);
    assert.equal(progTestRun(sys, prog, { dataIn: new Uint8Array(64) }).retval, 1);
  } finally {
    if (prog >= 0) closeFd(sys, prog);
    closeFd(sys, map);
    closeFd(sys, btf);
  }
  assert.equal(openFds(), before);
});

test("kernel: no fd leaks over 200 create/load/close cycles incl. failing loads", skip, () => {
  const before = openFds();
  for (let i = 0; i < 200; i++) {
    const map = mapCreate(sys, {
      map_type: MapType.ARRAY,
      key_size: 4,
      value_size: 8,
      max_entries: 1,
    });
    const prog = progLoad(sys, {
      prog_type: ProgramType.SOCKET_FILTER,
      insns: RET_1,
      license: "GPL",
    });
    assert.throws(
      () => progLoad(sys, { prog_type: ProgramType.SOCKET_FILTER, insns: BAD, license: "GPL" }),
      VerifierError,
    );
    assert.throws(
      () => mapCreate(sys, { map_type: MapType.ARRAY, key_size: 4, value_size: 8, max_entries: 0 }),
      SyscallError,
    );
    closeFd(sys, prog);
    closeFd(sys, map);
  }
  assert.equal(openFds(), before);
});

test("kernel: attr layouts used here have the shapes the kernel accepts", skip, () => {
  // Sanity: sizes passed for every command are within union bpf_attr of 6.x.
  for (
    const l of [
      MAP_CREATE,
      MAP_LOOKUP_ELEM,
      MAP_GET_NEXT_KEY,
      MAP_LOOKUP_BATCH,
      PROG_LOAD,
      OBJ_GET,
      PROG_TEST_RUN,
      OBJ_GET_INFO_BY_FD,
      BTF_LOAD,
      PROG_BIND_MAP,
    ]
  ) {
    assert.ok(l.size > 0 && l.size <= 160, `${l.name} ${l.size}`);
  }
});

test("progLoad: EAGAIN is tried again, as libbpf does, up to five attempts", () => {
  const answers = [-11, -11, 9];
  let calls = 0;
  const flaky: Syscalls = {
    runtime: "deno",
    bpf: () => answers[calls++],
    close: () => 0,
    address: () => 0x1000n,
  };
  assert.equal(progLoad(flaky, { prog_type: 1, insns: RET_1, license: "GPL" }), 9);
  assert.equal(calls, 3);
  let always = 0;
  const busy: Syscalls = {
    runtime: "deno",
    bpf: () => (always++, -11),
    close: () => 0,
    address: () => 0x1000n,
  };
  assert.throws(
    () => progLoad(busy, { prog_type: 1, insns: RET_1, license: "GPL" }),
    (err: unknown) => err instanceof SyscallError && err.errnoName === "EAGAIN",
  );
  // Five tries without a log, then one with it (any failure asks for the log).
  assert.equal(always, 6);
});
