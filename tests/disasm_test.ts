import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readElf, SHF_EXECINSTR, SHT_NOBITS, STT_SECTION } from "../elf/mod.ts";
import {
  decodeInstructions,
  type DisasmSymbol,
  disassemble,
  formatInstruction,
  type Instruction,
} from "../isa/mod.ts";
import { fixtureObjects, fixturePath, haveCommand, ins } from "./_util.ts";

const HAVE_OBJDUMP = haveCommand("llvm-objdump");
const HAVE_CLANG = haveCommand("clang");

// ---------------------------------------------------------------------------
// Helpers: llvm-objdump output, split per section and per symbol.

function objdump(file: string): string {
  return execFileSync("llvm-objdump", ["-d", "--no-show-raw-insn", file], {
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
}

/** Section name → the text llvm-objdump prints after `Disassembly of section NAME:\n`. */
function objdumpSections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split("\nDisassembly of section ").slice(1)) {
    const colon = part.indexOf(":\n");
    out.set(part.slice(0, colon), part.slice(colon + 2));
  }
  return out;
}

interface Ours {
  llvm14: boolean;
}

/** Our disassembly of every executable section of an object, as llvm-objdump lays it out. */
function ourSections(bytes: Uint8Array, options: Ours): Map<string, string> {
  const elf = readElf(bytes);
  const symbols = elf.symbols();
  const out = new Map<string, string>();
  for (const section of elf.sections) {
    if (
      (section.flags & SHF_EXECINSTR) === 0 || section.type === SHT_NOBITS || section.size === 0
    ) continue;
    const insns = decodeInstructions(elf.sectionData(section), { littleEndian: elf.littleEndian });
    // llvm-objdump labels with every named, non-section symbol of the section.
    const labels: DisasmSymbol[] = symbols
      .filter((s) => s.sectionIndex === section.index && s.type !== STT_SECTION && s.name !== "")
      .map((s) => ({ name: s.name, offset: s.value, type: s.type }));
    out.set(
      section.name,
      disassemble(insns, {
        llvm14: options.llvm14,
        symbols: labels,
        section: section.name,
        littleEndian: elf.littleEndian,
      }),
    );
  }
  return out;
}

/** Split a section's text into its symbol blocks (each starting with `\n%016x <name>:`). */
function blocks(text: string): string[] {
  return text.split(/\n(?=[0-9a-f]{16} <)/).filter((b) => b !== "");
}

/** Compare line by line, failing on the first difference with some context. */
function assertSameLines(ours: string, theirs: string, where: string): void {
  const a = ours.split("\n");
  const b = theirs.split("\n");
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      const context = b.slice(Math.max(0, i - 3), i + 3).join("\n");
      assert.fail(
        `${where}: line ${i} differs\n  ours:        ${JSON.stringify(a[i])}\n  llvm-objdump: ${
          JSON.stringify(b[i])
        }\nllvm-objdump around it:\n${context}`,
      );
    }
  }
}

/** Compare an object's disassembly with llvm-objdump's, section by section and symbol by symbol. */
function compareObject(file: string, label: string): number {
  const theirs = objdumpSections(objdump(file));
  const bytes = new Uint8Array(readFileSync(file));
  const ours = ourSections(bytes, { llvm14: true });
  assert.deepEqual([...ours.keys()], [...theirs.keys()], `${label}: executable sections`);
  let lines = 0;
  for (const [name, text] of theirs) {
    const mine = ours.get(name)!;
    const theirBlocks = blocks(text);
    const ourBlocks = blocks(mine);
    assert.deepEqual(
      ourBlocks.map((b) => b.split("\n")[0]),
      theirBlocks.map((b) => b.split("\n")[0]),
      `${label}: section ${name}: labels`,
    );
    theirBlocks.forEach((block, i) => {
      assertSameLines(ourBlocks[i], block, `${label}: section ${name}: ${block.split("\n")[0]}`);
    });
    lines += text.split("\n").length;
  }
  // Without llvm14 the text is the same, except where LLVM 14 can only say
  // <unknown> or reads an atomic the old way (fetch-add on 32 bits, 0x01, as a plain add).
  const modern = ourSections(bytes, { llvm14: false });
  for (const [name, text] of theirs) {
    const a = modern.get(name)!.split("\n");
    const b = text.split("\n");
    assert.equal(a.length, b.length, `${label}: section ${name}: default mode line count`);
    b.forEach((line, i) => {
      if (a[i] === line) return;
      const where = `${label}: section ${name}: default mode line ${i}: ${a[i]}`;
      assert.match(line, /:\t(<unknown>|lock \*\(u32 \*\).* \+= r\d+)$/, where);
      assert.equal(a[i].split("\t")[0], line.split("\t")[0], where);
    });
  }
  return lines;
}

interface TempDir {
  path: string;
  [Symbol.dispose](): void;
}

function tempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), "tsbpf-disasm-"));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

function clang(args: string[]): void {
  execFileSync("clang", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Assemble `.byte` lines into one executable section `sec` and return llvm-objdump's text of it. */
function objdumpOfBytes(bytes: Uint8Array, littleEndian: boolean): string {
  using dir = tempDir();
  const lines = ['\t.section\tsec,"ax",@progbits'];
  for (let i = 0; i < bytes.length; i += 16) {
    lines.push(`\t.byte ${Array.from(bytes.subarray(i, i + 16)).join(",")}`);
  }
  writeFileSync(join(dir.path, "t.s"), lines.join("\n") + "\n");
  clang([
    "-target",
    littleEndian ? "bpfel" : "bpfeb",
    "-c",
    join(dir.path, "t.s"),
    "-o",
    join(dir.path, "t.o"),
  ]);
  return objdumpSections(objdump(join(dir.path, "t.o"))).get("sec")!;
}

/** Encode raw slots `[opcode, dst, src, offset, imm]` in one byte order. */
function rawSlots(slots: readonly number[][], littleEndian: boolean): Uint8Array {
  const bytes = new Uint8Array(slots.length * 8);
  const view = new DataView(bytes.buffer);
  slots.forEach(([opcode, dst, src, offset, imm], i) => {
    bytes[i * 8] = opcode;
    bytes[i * 8 + 1] = littleEndian ? (src << 4) | dst : (dst << 4) | src;
    view.setInt16(i * 8 + 2, offset, littleEndian);
    view.setInt32(i * 8 + 4, imm, littleEndian);
  });
  return bytes;
}

// ---------------------------------------------------------------------------
// The fixtures against llvm-objdump.

for (const dir of ["bpfel", "bpfeb"] as const) {
  test(`disasm: fixtures/${dir}/*.o match llvm-objdump line by line`, () => {
    if (!HAVE_OBJDUMP) return console.log("skipped: llvm-objdump is not on PATH");
    const files = fixtureObjects(dir);
    if (files.length === 0) {
      return console.log(`skipped: no fixtures/${dir}/*.o built yet (see the C snippet test)`);
    }
    let lines = 0;
    for (const file of files) {
      lines += compareObject(fixturePath(`${dir}/${file}`), `${dir}/${file}`);
    }
    assert.ok(lines > 100, `only ${lines} lines compared`);
  });
}

// C without system headers, so only clang is needed.
const C_PRELUDE = `
typedef unsigned long long u64; typedef unsigned int u32; typedef unsigned short u16;
typedef unsigned char u8; typedef long long s64; typedef int s32;
#define SEC(n) __attribute__((section(n), used))
struct xdp_md { u32 data, data_end, data_meta, ingress_ifindex, rx_queue_index; };
static void *(*map_lookup)(void *map, const void *key) = (void *)1;
struct { u32 type, key_size, value_size, max_entries; } counts SEC("maps") = { 2, 4, 8, 16 };
u64 total; const volatile u32 limit = 100; char buf[32];
char LICENSE[] SEC("license") = "GPL";
`;

const C_SNIPPETS: Record<string, { source: string; cpus: string[] }> = {
  core: {
    cpus: ["v1", "v2", "v3"],
    source: `${C_PRELUDE}
static __attribute__((noinline)) u64 mix(u64 a, u64 b) { return (a * b + (a >> 3) - (b << 2)) ^ (a | b); }
static __attribute__((noinline)) s32 smix(s32 a, u16 b) { return (a >> 2) * (s32)b - (a & 0x7fff); }
SEC("xdp") int prog(struct xdp_md *ctx) {
  u8 *p = (u8 *)(long)ctx->data, *end = (u8 *)(long)ctx->data_end;
  if (p + 64 > end) return 1;
  u32 k = (u32)p[12] << 8 | p[13];
  u64 *v = map_lookup(&counts, &k);
  if (v) { __sync_fetch_and_add(v, 1); total += mix(*v, k); }
  s32 s = (s32)k - 300;
  if (s < -5) return smix(s, k);
  if ((s64)total >= 7) buf[k & 31] = (char)k;
  for (int i = 0; i < 8; i++) if (p[i] == 0xff || p[i + 8] < (u8)i) return 2;
  u64 w = __builtin_bswap64(total) + __builtin_bswap32(k) + __builtin_bswap16((u16)k);
  if (w == 0x1122334455667788ULL) return 5;
  return k > limit ? 2 : (int)(total / 3) + (int)(u32)(w >> 40);
}
SEC("tc") int other(struct xdp_md *ctx) { return mix(ctx->ingress_ifindex, ctx->rx_queue_index) > 9 ? -1 : 0; }
`,
  },
  packet: {
    cpus: ["v1", "v3"],
    source: `${C_PRELUDE}
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");
SEC("socket") int sock(void *skb) {
  u32 proto = load_half(skb, 12);
  u32 ihl = load_byte(skb, 14) & 0xf;
  return load_word(skb, 14 + ihl * 4) == proto ? -1 : 0;
}
`,
  },
  atomics: {
    cpus: ["v3"],
    source: `${C_PRELUDE}
SEC("tc") int atom(u64 *p) {
  u32 *q = (u32 *)p;
  u64 a = __sync_fetch_and_add(p, 1);
  a += __sync_fetch_and_or(p + 1, 2);
  a += __sync_fetch_and_and(p + 2, 3);
  a += __sync_fetch_and_xor(p + 3, 4);
  __sync_fetch_and_or(p + 4, 2); __sync_fetch_and_and(p + 5, 3); __sync_fetch_and_xor(p + 6, 4);
  a += __sync_lock_test_and_set(p + 7, 5);
  a += __sync_val_compare_and_swap(p + 8, a, 6);
  u32 b = __sync_fetch_and_add(q, 1);
  b += __sync_fetch_and_and(q + 1, 7);
  __sync_fetch_and_or(q + 2, 1); __sync_fetch_and_xor(q + 3, 1); __sync_fetch_and_add(q + 9, 1);
  b += __sync_lock_test_and_set(q + 4, 5);
  b += __sync_val_compare_and_swap(q + 5, b, 6);
  return (int)(a + b);
}
`,
  },
};

test("disasm: objects compiled from C snippets match llvm-objdump (bpfel, bpfeb, -mcpu v1-v3)", () => {
  if (!HAVE_OBJDUMP) return console.log("skipped: llvm-objdump is not on PATH");
  if (!HAVE_CLANG) return console.log("skipped: clang is not on PATH");
  using dir = tempDir();
  let objects = 0;
  for (const [name, { source, cpus }] of Object.entries(C_SNIPPETS)) {
    const src = join(dir.path, `${name}.c`);
    writeFileSync(src, source);
    for (const target of ["bpfel", "bpfeb"]) {
      for (const cpu of cpus) {
        const obj = join(dir.path, `${name}_${target}_${cpu}.o`);
        clang(["-O2", "-g", "-target", target, `-mcpu=${cpu}`, "-c", src, "-o", obj]);
        compareObject(obj, `${name}.c -target ${target} -mcpu=${cpu}`);
        objects++;
      }
    }
  }
  assert.equal(objects, 12);
});

// ---------------------------------------------------------------------------
// Every opcode, with field variations, against llvm-objdump.

/** Each of the 256 opcodes with every register, and offsets and immediates that select variants. */
function enumerateSlots(): number[][] {
  const offsets = [0, 1, 2, 3, 8, 16, 32, 64, -1, -32768, 32767];
  const imms = [
    0,
    1,
    2,
    3,
    4,
    8,
    16,
    32,
    64,
    -1,
    0x40,
    0x41,
    0x43,
    0x50,
    0x51,
    0xa0,
    0xa1,
    0xe0,
    0xe1,
    0xf0,
    0xf1,
    0x100,
    0x110,
    0x10000,
    0x10001,
    0x7fffffff,
    -2147483648,
    11,
    12,
  ];
  const slots: number[][] = [];
  for (let opcode = 0; opcode < 256; opcode++) {
    const seen = new Set<string>();
    const add = (dst: number, src: number, offset: number, imm: number) => {
      const key = `${dst},${src},${offset},${imm}`;
      if (seen.has(key)) return;
      seen.add(key);
      // Every case is followed by `exit`, which an ld_imm64 takes as its second slot.
      slots.push([opcode, dst, src, offset, imm], [0x95, 0, 0, 0, 0]);
    };
    for (let r = 0; r < 16; r++) {
      add(1, r, 3, 4);
      add(r, 2, 3, 4);
      add(1, r, 0, 0);
    }
    for (const offset of offsets) {
      add(1, 2, offset, 4);
      add(1, 0, offset, 0);
      add(1, 2, offset, 0);
    }
    for (const imm of imms) {
      add(1, 2, 3, imm);
      add(1, 2, 0, imm);
      add(1, 0, 0, imm);
    }
  }
  return slots;
}

for (const littleEndian of [true, false]) {
  test(`disasm: every opcode with field variations matches llvm-objdump (${littleEndian ? "bpfel" : "bpfeb"})`, () => {
    if (!HAVE_OBJDUMP || !HAVE_CLANG) {
      return console.log("skipped: needs clang and llvm-objdump on PATH");
    }
    const bytes = rawSlots(enumerateSlots(), littleEndian);
    const insns = decodeInstructions(bytes, { littleEndian });
    assertSameLines(
      disassemble(insns, { llvm14: true, section: "sec" }),
      objdumpOfBytes(bytes, littleEndian),
      "sec",
    );
  });
}

/** mulberry32: a small seeded generator, so failures reproduce. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return function next(): number {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const littleEndian of [true, false]) {
  test(`disasm: random slots match llvm-objdump (${littleEndian ? "bpfel" : "bpfeb"})`, () => {
    if (!HAVE_OBJDUMP || !HAVE_CLANG) {
      return console.log("skipped: needs clang and llvm-objdump on PATH");
    }
    const next = random(littleEndian ? 0x5eed : 0xbeef);
    const int = (n: number) => Math.floor(next() * n);
    const slots: number[][] = [];
    for (let i = 0; i < 20000; i++) {
      const opcode = int(256);
      const small = next() < 0.5;
      const imm = small ? int(0x120) - 16 : int(2 ** 32) - 2 ** 31;
      const offset = small ? int(64) - 8 : int(65536) - 32768;
      // Keep clear of all-zero slots: llvm-objdump folds runs of zero bytes at byte granularity.
      slots.push([opcode, int(16), int(16), opcode === 0 && offset === 0 ? 1 : offset, imm]);
    }
    slots.push([0x95, 0, 0, 0, 0]);
    const bytes = rawSlots(slots, littleEndian);
    const insns = decodeInstructions(bytes, { littleEndian });
    assertSameLines(
      disassemble(insns, { llvm14: true, section: "sec" }),
      objdumpOfBytes(bytes, littleEndian),
      "sec",
    );
  });
}

// Labels, zero runs, data symbols and jump targets, assembled with symbols.
const LAYOUT_ASM = `
	.section	xdp,"ax",@progbits
	.byte 0xb7,0x01,0,0,1,0,0,0
	.byte 0x05,0x00,1,0,0,0,0,0
bbb:
aaa:
	.globl aaa
	.type aaa,@function
	.byte 0x05,0x00,0xfe,0xff,0,0,0,0
	.byte 0x18,0x01,0,0,1,0,0,0
mid:
	.byte 0,0,0,0,0,0,0,0
	.byte 0,0,0,0,0,0,0,0
	.byte 0,0,0,0,0,0,0,0
zz:
	.byte 0,0,0,0,0,0,0,0
	.byte 0x05,0x00,0xfa,0xff,0,0,0,0
	.byte 0x15,0x01,0x00,0x80,0,0,0,0
	.byte 0x05,0x00,0xff,0x7f,0,0,0,0
	.byte 0x18,0x01,1,0,1,0,0,0
	.byte 0,0,0,0,0,0,0,0
	.byte 0x18,0x01,0,0,1,0,0,0
	.byte 0x95,0,0,0,0,0,0,0
dat:
	.type dat,@object
	.byte 0x41,0x42,0,0,0x7e,0x7f,0x20,0x19
	.byte 0x41,0x42,0,0,0x7e,0x7f,0x20,0x61
fn:
	.type fn,@function
	.byte 0x85,0x10,0,0,0xff,0xff,0xff,0xff
	.byte 0x95,0,0,0,0,0,0,0
	.section	nosyms,"ax",@progbits
	.byte 0x05,0x00,0x01,0,0,0,0,0
	.byte 0,0,0,0,0,0,0,0
	.byte 0,0,0,0,0,0,0,0
	.byte 0x95,0,0,0,0,0,0,0
	.section	late,"ax",@progbits
	.byte 0x05,0x00,0x01,0,0,0,0,0
	.byte 0x95,0,0,0,0,0,0,0
first:
	.byte 0xa5,0x01,0xfd,0xff,7,0,0,0
	.byte 0x95,0,0,0,0,0,0,0
`;

test("disasm: labels, zero runs, data symbols and jump targets match llvm-objdump", () => {
  if (!HAVE_OBJDUMP || !HAVE_CLANG) {
    return console.log("skipped: needs clang and llvm-objdump on PATH");
  }
  using dir = tempDir();
  for (const target of ["bpfel", "bpfeb"]) {
    const obj = join(dir.path, `layout_${target}.o`);
    writeFileSync(join(dir.path, "layout.s"), LAYOUT_ASM);
    clang(["-target", target, "-c", join(dir.path, "layout.s"), "-o", obj]);
    compareObject(obj, `layout.s ${target}`);
  }
});

// ---------------------------------------------------------------------------
// Formatting without tools.

// [instruction, default text, llvm14 text]
const FORMS: [Instruction, string, string][] = [
  [ins(0xbf, 1, 2, 0, 0), "r1 = r2", "r1 = r2"],
  [ins(0xbc, 1, 2, 0, 0), "w1 = w2", "w1 = w2"],
  [ins(0xb7, 1, 0, 0, -5), "r1 = -5", "r1 = -5"],
  [ins(0x07, 10, 0, 0, -8), "r10 += -8", "r10 += -8"],
  [ins(0xc4, 3, 0, 0, 7), "w3 s>>= 7", "w3 s>>= 7"],
  [ins(0x87, 4, 0, 0, 0), "r4 = -r4", "r4 = -r4"],
  [ins(0x18, 1, 0, 0, 0, 0), "r1 = 0 ll", "r1 = 0 ll"],
  [ins(0x18, 1, 0, 0, -1, -1), "r1 = -1 ll", "r1 = -1 ll"],
  [
    ins(0x18, 1, 0, 0, 0, -2147483648),
    "r1 = -9223372036854775808 ll",
    "r1 = -9223372036854775808 ll",
  ],
  [ins(0x18, 2, 1, 0, -1, 0), "ld_pseudo\tr2, 1, 4294967295", "ld_pseudo\tr2, 1, 4294967295"],
  [ins(0x30, 0, 0, 0, 12), "r0 = *(u8 *)skb[12]", "r0 = *(u8 *)skb[12]"],
  [ins(0x48, 0, 3, 0, 0), "r0 = *(u16 *)skb[r3]", "r0 = *(u16 *)skb[r3]"],
  [ins(0x61, 1, 2, -4, 0), "r1 = *(u32 *)(r2 - 4)", "r1 = *(u32 *)(r2 - 4)"],
  [ins(0x7b, 10, 1, -8, 0), "*(u64 *)(r10 - 8) = r1", "*(u64 *)(r10 - 8) = r1"],
  [ins(0xdb, 1, 2, 0, 0x00), "lock *(u64 *)(r1 + 0) += r2", "lock *(u64 *)(r1 + 0) += r2"],
  [ins(0xc3, 1, 2, 0, 0x00), "lock *(u32 *)(r1 + 0) += r2", "lock *(u32 *)(r1 + 0) += r2"],
  [
    ins(0xdb, 1, 2, 8, 0x51),
    "r2 = atomic_fetch_and((u64 *)(r1 + 8), r2)",
    "r2 = atomic_fetch_and((u64 *)(r1 + 8), r2)",
  ],
  [ins(0xdb, 1, 2, 0, 0xe1), "r2 = xchg_64(r1 + 0, r2)", "r2 = xchg_64(r1 + 0, r2)"],
  [ins(0xdb, 1, 2, 0, 0xf1), "r0 = cmpxchg_64(r1 + 0, r0, r2)", "r0 = cmpxchg_64(r1 + 0, r0, r2)"],
  [ins(0xdc, 6, 0, 0, 16), "r6 = be16 r6", "r6 = be16 r6"],
  [ins(0xd4, 6, 0, 0, 64), "r6 = le64 r6", "r6 = le64 r6"],
  [ins(0x05, 0, 0, 3, 0), "goto +3", "goto +3"],
  [ins(0x05, 0, 0, 0, 0), "goto +0", "goto +0"],
  [ins(0x15, 1, 0, 5, 0), "if r1 == 0 goto +5", "if r1 == 0 goto +5"],
  [ins(0x3e, 1, 2, -7, 0), "if w1 >= w2 goto -7", "if w1 >= w2 goto -7"],
  [ins(0xd5, 1, 0, 1, -3), "if r1 s<= -3 goto +1", "if r1 s<= -3 goto +1"],
  [ins(0x85, 0, 1, 0, -1), "call -1", "call -1"],
  [ins(0x85, 0, 0, 0, 12), "call 12", "call 12"],
  [ins(0x8d, 0, 0, 0, 3), "callx r3", "callx r3"],
  [ins(0x95, 0, 0, 0, 0), "exit", "exit"],
  // v4 and other encodings LLVM 14 cannot show, in newer LLVM's syntax.
  [ins(0x3f, 1, 2, 1, 0), "r1 s/= r2", "r1 /= r2"],
  [ins(0x37, 1, 0, 1, -3), "r1 s/= -3", "r1 /= -3"],
  [ins(0x9c, 1, 2, 1, 0), "w1 s%= w2", "<unknown>"],
  [ins(0x97, 1, 0, 0, 10), "r1 %= 10", "<unknown>"],
  [ins(0x9c, 1, 2, 0, 0), "w1 %= w2", "<unknown>"],
  [ins(0xbf, 1, 2, 8, 0), "r1 = (s8)r2", "r1 = r2"],
  [ins(0xbf, 1, 2, 16, 0), "r1 = (s16)r2", "r1 = r2"],
  [ins(0xbf, 1, 2, 32, 0), "r1 = (s32)r2", "r1 = r2"],
  [ins(0xbc, 1, 2, 8, 0), "w1 = (s8)w2", "w1 = w2"],
  [ins(0xbc, 1, 2, 16, 0), "w1 = (s16)w2", "w1 = w2"],
  [ins(0x91, 1, 2, 0, 0), "r1 = *(s8 *)(r2 + 0)", "<unknown>"],
  [ins(0x89, 1, 2, -2, 0), "r1 = *(s16 *)(r2 - 2)", "<unknown>"],
  [ins(0x81, 1, 2, 4, 0), "r1 = *(s32 *)(r2 + 4)", "<unknown>"],
  [ins(0xd7, 1, 0, 0, 16), "r1 = bswap16 r1", "<unknown>"],
  [ins(0xd7, 1, 0, 0, 32), "r1 = bswap32 r1", "<unknown>"],
  [ins(0xd7, 1, 0, 0, 64), "r1 = bswap64 r1", "<unknown>"],
  [ins(0x06, 0, 0, 0, 5), "gotol +5", "<unknown>"],
  [ins(0x06, 0, 0, 0, -70000), "gotol -70000", "<unknown>"],
  [ins(0x45, 1, 0, 2, 4), "if r1 & 4 goto +2", "<unknown>"],
  [ins(0x4e, 1, 2, 2, 0), "if w1 & w2 goto +2", "<unknown>"],
  [ins(0xe5, 0, 0, 3, 0), "may_goto +3", "<unknown>"],
  [ins(0x62, 1, 0, 4, 7), "*(u32 *)(r1 + 4) = 7", "<unknown>"],
  [ins(0x7a, 10, 0, -8, -1), "*(u64 *)(r10 - 8) = -1", "<unknown>"],
  [ins(0xc3, 1, 2, 0, 0x50), "lock *(u32 *)(r1 + 0) &= w2", "<unknown>"],
  [ins(0xc3, 1, 2, 0, 0x40), "lock *(u32 *)(r1 + 0) |= w2", "<unknown>"],
  [ins(0xc3, 1, 2, 0, 0xa0), "lock *(u32 *)(r1 + 0) ^= w2", "<unknown>"],
  [
    ins(0xc3, 1, 2, 0, 0x01),
    "w2 = atomic_fetch_add((u32 *)(r1 + 0), w2)",
    "lock *(u32 *)(r1 + 0) += r2",
  ],
  [ins(0xc3, 1, 2, 0, 0xa1), "w2 = atomic_fetch_xor((u32 *)(r1 + 0), w2)", "<unknown>"],
  [ins(0xc3, 1, 2, 0, 0xe1), "w2 = xchg32_32(r1 + 0, w2)", "<unknown>"],
  [ins(0xc3, 1, 2, 0, 0xf1), "w0 = cmpxchg32_32(r1 + 0, w0, w2)", "<unknown>"],
  [ins(0xdb, 0, 1, 0, 0x100), "r0 = load_acquire((u64 *)(r1 + 0))", "lock *(u64 *)(r0 + 0) += r1"],
  [ins(0xd3, 0, 1, 8, 0x100), "w0 = load_acquire((u8 *)(r1 + 8))", "<unknown>"],
  [ins(0xcb, 0, 1, 0, 0x100), "w0 = load_acquire((u16 *)(r1 + 0))", "<unknown>"],
  [ins(0xc3, 0, 1, 0, 0x100), "w0 = load_acquire((u32 *)(r1 + 0))", "lock *(u32 *)(r0 + 0) += r1"],
  [ins(0xdb, 1, 2, -8, 0x110), "store_release((u64 *)(r1 - 8), r2)", "<unknown>"],
  [ins(0xd3, 1, 2, 0, 0x110), "store_release((u8 *)(r1 + 0), w2)", "<unknown>"],
  [ins(0xbf, 1, 2, 1, 1), "r1 = addr_space_cast(r2, 0, 1)", "r1 = r2"],
  [ins(0xbf, 1, 2, 1, 0x10000), "r1 = addr_space_cast(r2, 1, 0)", "r1 = r2"],
  // Invalid encodings.
  [ins(0x00, 0, 0, 0, 0), "<unknown>", "<unknown>"],
  [ins(0xff, 1, 2, 0, 0), "<unknown>", "<unknown>"],
  [ins(0x8f, 1, 2, 0, 0), "<unknown>", "<unknown>"],
  [ins(0x95, 0, 0, 0, 1), "<unknown>", "<unknown>"],
  [ins(0xbf, 12, 2, 0, 0), "<unknown>", "<unknown>"],
  [ins(0xdb, 1, 2, 0, 0x10), "<unknown>", "<unknown>"],
  [ins(0xdc, 1, 0, 0, 8), "<unknown>", "<unknown>"],
  [ins(0x18, 1, 0, 1, 0, 0), "<unknown>", "<unknown>"],
];

test("disasm: formatInstruction, default and llvm14", () => {
  for (const [instruction, modern, llvm14] of FORMS) {
    const what = JSON.stringify(instruction);
    assert.equal(formatInstruction(instruction), modern, what);
    assert.equal(formatInstruction(instruction, { llvm14: true }), llvm14, what);
  }
});

test("disasm: annotate shows references", () => {
  const cases: [Instruction, string, string][] = [
    [{ ...ins(0x85, 0, 1, 0, 3), reference: "my_func" }, "call my_func", "call 3"],
    [
      { ...ins(0x85, 0, 2, 0, 99), reference: "bpf_obj_new_impl" },
      "call bpf_obj_new_impl",
      "call 99",
    ],
    [
      { ...ins(0x18, 1, 1, 0, 0, 0), reference: "counts" },
      "r1 = map[counts] ll",
      "ld_pseudo\tr1, 1, 0",
    ],
    [
      { ...ins(0x18, 1, 5, 0, 2, 0), reference: "counts" },
      "r1 = map[counts] ll",
      "ld_pseudo\tr1, 5, 2",
    ],
    [
      { ...ins(0x18, 2, 2, 0, 0, 8), reference: ".rodata" },
      "r2 = map_value[.rodata] + 8 ll",
      "ld_pseudo\tr2, 2, 0",
    ],
    [
      { ...ins(0x18, 2, 2, 0, 0, 0), reference: ".bss" },
      "r2 = map_value[.bss] ll",
      "ld_pseudo\tr2, 2, 0",
    ],
    [{ ...ins(0x18, 3, 4, 0, 5, 0), reference: "cb" }, "r3 = func[cb] ll", "ld_pseudo\tr3, 4, 5"],
    [
      { ...ins(0x18, 3, 3, 0, 0, 0), reference: "bpf_prog_active" },
      "r3 = btf[bpf_prog_active] ll",
      "ld_pseudo\tr3, 3, 0",
    ],
    [
      { ...ins(0x18, 1, 0, 0, 0, 0), reference: "LINUX_KERNEL_VERSION" },
      "r1 = LINUX_KERNEL_VERSION ll",
      "r1 = 0 ll",
    ],
    [{ ...ins(0x18, 1, 0, 0, 16, 0), reference: "data" }, "r1 = data + 16 ll", "r1 = 16 ll"],
    [{ ...ins(0xb7, 1, 0, 0, 16), reference: "ignored" }, "r1 = 16", "r1 = 16"],
  ];
  for (const [instruction, annotated, plain] of cases) {
    assert.equal(formatInstruction(instruction, { annotate: true }), annotated);
    assert.equal(formatInstruction(instruction), plain);
  }
  const program = [{ ...cases[0][0], symbol: "prog" }, ins(0x95, 0, 0, 0, 0)];
  assert.equal(
    disassemble(program, { annotate: true }),
    "\n0000000000000000 <prog>:\n       0:\tcall my_func\n       1:\texit\n",
  );
});

test("disasm: layout without symbols, with instruction symbols and with a section name", () => {
  const program: Instruction[] = [
    ins(0xb7, 0, 0, 0, 0),
    ins(0x15, 1, 0, 1, 0),
    { ...ins(0x18, 1, 0, 0, 7, 0) },
    ins(0x95, 0, 0, 0, 0),
    { ...ins(0x07, 1, 0, 0, 1), symbol: "sub" },
    ins(0x05, 0, 0, -3, 0),
  ];
  assert.equal(
    disassemble(program.map((i) => ({ ...i, symbol: undefined }))),
    [
      "       0:\tr0 = 0",
      "       1:\tif r1 == 0 goto +1",
      "       2:\tr1 = 7 ll",
      "       4:\texit",
      "       5:\tr1 += 1",
      "       6:\tgoto -3",
      "",
    ].join("\n"),
  );
  assert.equal(
    disassemble(program, { section: "xdp" }),
    [
      "",
      "0000000000000000 <xdp>:",
      "       0:\tr0 = 0",
      "       1:\tif r1 == 0 goto +1 <xdp+0x18>",
      "       2:\tr1 = 7 ll",
      "       4:\texit",
      "",
      "0000000000000028 <sub>:",
      "       5:\tr1 += 1",
      "       6:\tgoto -3 <xdp+0x20>",
      "",
    ].join("\n"),
  );
  // Labels from instruction symbols only: the first block prints without a label.
  assert.equal(
    disassemble(program).split("\n").slice(0, 2).join("\n"),
    "       0:\tr0 = 0\n       1:\tif r1 == 0 goto +1",
  );
  assert.equal(disassemble([]), "");
});

test("disasm: explicit symbols, jump targets before and after the section, zero runs, data", () => {
  const program: Instruction[] = [
    ins(0x05, 0, 0, -32768, 0),
    ins(0x05, 0, 0, 32767, 0),
    ins(0, 0, 0, 0, 0),
    ins(0, 0, 0, 0, 0),
    ins(0x61, 2, 4, 0x4645, 0x7a7e2019),
  ];
  const text = disassemble(program, {
    symbols: [
      { name: "zeta", offset: 0 },
      { name: "alpha", offset: 0, type: 0 },
      { name: "data", offset: 32, type: 1 },
      { name: "tail", offset: 37 },
    ],
  });
  assert.equal(
    text,
    [
      "",
      "0000000000000000 <zeta>:",
      "       0:\tgoto -32768 <tail+0xfffffffffffbffe3>",
      "       1:\tgoto +32767 <tail+0x3ffe3>",
      "\t\t...",
      "",
      "0000000000000020 <data>:",
      `      20: 61 42 45 46 19${" ".repeat(18)}aBEF.`,
      "",
      "0000000000000025 <tail>:",
      "",
    ].join("\n"),
  );
  // Data bytes follow the byte order.
  assert.match(
    disassemble(program, { symbols: [{ name: "d", offset: 32, type: 1 }], littleEndian: false }),
    /20: 61 24 46 45 7a /,
  );
});

test("disasm: an ld_imm64 LLVM cannot decode shows its second slot on its own", () => {
  const bad: Instruction = {
    ...ins(0x18, 1, 0, 5, 1, 0x95),
    secondSlot: { opcode: 0x95, dst: 0, src: 0, offset: 0 },
  };
  assert.equal(
    disassemble([bad, ins(0x95, 0, 0, 0, 0)]),
    "       0:\t<unknown>\n       1:\t<unknown>\n       2:\texit\n",
  );
  const zeroSecond = ins(0x18, 1, 0, 5, 1, 0);
  assert.equal(
    disassemble([zeroSecond, ins(0x95, 0, 0, 0, 0)]),
    "       0:\t<unknown>\n\t\t...\n       2:\texit\n",
  );
});
