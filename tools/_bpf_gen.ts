/**
 * fast-check arbitraries of random BPF programs that the kernel's verifier
 * accepts, for differential testing of the VM against the kernel.
 *
 * A case is an XDP or tc program, an array or hash map with u32 keys, and
 * an input packet. The program is generated as a tree of {@link Node}s and
 * then assembled. The tree keeps one invariant at every node boundary: r6
 * is the packet's `data` (bounds-checked for {@link PACKET_RANGE} bytes), r7
 * is `data_end`, r10 the frame pointer, and every other register holds an
 * initialized scalar. Pointers other than r6/r7/r10 live only inside one
 * node, which turns them back into scalars before it ends: so any node may
 * follow any other, a jump may skip any run of nodes, and no pointer ever
 * reaches the output (root may leak pointers into memory, and a VM address
 * never equals a kernel one). Called functions ({@link SubProgram}) keep
 * the same invariant without the packet.
 *
 * Frame layout: `fp-64 .. fp-1` is initialized by the prologue (data slots,
 * also the source of map update values), `fp-72` holds map keys, `fp-80` is
 * where r6 is spilled and `fp-88` holds the context pointer. Packet layout:
 * the body reads and writes `[0, 128)`; the epilogue dumps the eight scalar
 * registers at `[128, 192)` and the 64 stack bytes at `[192, 256)`, so the
 * packet shows full 64-bit registers, not only the u32 the kernel reports as
 * retval.
 *
 * @module
 */

import fc from "fast-check";
import type { Instruction } from "../isa/instruction.ts";
import {
  BPF_ADD,
  BPF_ALU,
  BPF_ALU64,
  BPF_AND,
  BPF_ARSH,
  BPF_ATOMIC,
  BPF_B,
  BPF_CMPXCHG,
  BPF_DIV,
  BPF_DW,
  BPF_END,
  BPF_EXIT,
  BPF_FETCH,
  BPF_H,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JLE,
  BPF_JLT,
  BPF_JMP,
  BPF_JMP32,
  BPF_JNE,
  BPF_JSET,
  BPF_JSGE,
  BPF_JSGT,
  BPF_JSLE,
  BPF_JSLT,
  BPF_K,
  BPF_LDX,
  BPF_LOAD_ACQ,
  BPF_LSH,
  BPF_MEM,
  BPF_MEMSX,
  BPF_MOD,
  BPF_MOV,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_MAP_FD,
  BPF_RSH,
  BPF_ST,
  BPF_STORE_REL,
  BPF_STX,
  BPF_SUB,
  BPF_TO_BE,
  BPF_TO_LE,
  BPF_W,
  BPF_X,
  BPF_XCHG,
  BPF_XOR,
  CALL_OPCODE,
  LD_IMM64_OPCODE,
} from "../isa/opcodes.ts";
import { CollectionSpec, MapSpec, ProgramSpec } from "../collection/spec.ts";
import { MapType, ProgramType } from "../collection/types.ts";

/** Registers that hold scalars at every node boundary. */
export const SCALARS: readonly number[] = [0, 1, 2, 3, 4, 5, 8, 9];
/** Bytes of packet the prologue bounds-checks; shorter packets take the early exit. */
export const PACKET_RANGE = 256;
/** The packet bytes the body reads and writes. */
export const BODY_BYTES = 128;
/** Where the epilogue dumps the scalar registers (8 bytes each, in {@link SCALARS} order). */
export const DUMP_REGS = 128;
/** Where the epilogue dumps the 64 initialized stack bytes (`fp-64` first). */
export const DUMP_STACK = 192;
/** The map's name in the spec. */
export const MAP_NAME = "vals";
/** The program's name in the spec. */
export const PROG_NAME = "fuzz";

const PKT = 6;
const PKT_END = 7;
const FP = 10;
const STACK_BYTES = 64;
const KEY_SLOT = -72;
const PTR_SLOT = -80;
const CTX_SLOT = -88;
// Scalar u32 context fields the test run fills the same way every time:
// xdp_md ingress_ifindex, rx_queue_index; __sk_buff len … tc_classid, napi_id, gso_size.
const XDP_FIELDS = [12, 16];
const SKB_FIELDS = [...Array.from({ length: 19 }, (_, i) => 4 * i), 84, 176];
const MAX_DEPTH = 2;
const SKB_DATA = 76;

/** Access size in bytes. */
export type Size = 1 | 2 | 4 | 8;

/** A memory access of the body: a load, a sign-extending load, or a store of a register or an immediate. */
export type MemKind = "ldx" | "ldsx" | "stx" | "st";

/** A jump condition: `if dst <op> src/imm` in JMP or JMP32. */
export interface JmpCond {
  /** JMP (64-bit compare) or JMP32. */
  wide: boolean;
  /** BPF_JEQ … BPF_JSLE. */
  op: number;
  /** Compared register. */
  dst: number;
  /** Compare with a register (`BPF_X`) or `imm` (`BPF_K`). */
  x: boolean;
  /** The other register. */
  src: number;
  /** The immediate. */
  imm: number;
}

/** A map key on the stack: a constant index or a register's low 32 bits. */
export type KeySrc = { imm: number } | { reg: number };

/** An access to the map value through its pointer (r1 in a {@link LookupNode}). */
export interface ValueOp {
  /** What the access does; `atomic`, `acq` (load-acquire) and `rel` (store-release) too. */
  kind: MemKind | "atomic" | "acq" | "rel";
  /** Access size. */
  size: Size;
  /** Byte offset into the value (fitted to the value size when assembled). */
  off: number;
  /** Loaded-into or stored register. */
  reg: number;
  /** Immediate of `st`. */
  imm: number;
  /** `imm` of an atomic: BPF_ADD … BPF_CMPXCHG. */
  aop: number;
  /** cmpxchg: see {@link Prime}. */
  prime: Prime;
  /** cmpxchg W: follow with `w0 = w0` (see {@link GenOptions.kernelBugs}). */
  zext: boolean;
}

/**
 * How r0 is set up before a cmpxchg, whose compare random values would
 * almost never pass: 0 as it is, 1 loaded from the target (the exchange
 * happens), 2 equal in the low word only (DW: fails; W: the 8 bytes at an
 * aligned target, so the high word differs and the exchange still happens).
 */
export type Prime = 0 | 1 | 2;

/** One piece of a program; see the module comment for the invariant each keeps. */
export type Node =
  | {
    t: "alu";
    wide: boolean;
    op: number;
    x: boolean;
    dst: number;
    src: number;
    imm: number;
    off: number;
    /** Edge values (lo, hi words) loaded into `dst` (and a writable `src`) first. */
    pre?: { a: [number, number]; b?: [number, number] };
  }
  | { t: "imm64"; dst: number; lo: number; hi: number }
  | { t: "end"; opcode: number; dst: number; bits: number }
  | {
    t: "pkt";
    kind: MemKind;
    size: Size;
    abs: number;
    reg: number;
    imm: number;
    via?: { tmp: number; add: number; reset: number };
  }
  | {
    t: "vpkt";
    kind: MemKind;
    size: Size;
    off: number;
    mask: number;
    index: number;
    tmp: [number, number];
    reg: number;
    imm: number;
    reset: [number, number];
  }
  | { t: "stk"; kind: MemKind | "acq" | "rel"; size: Size; off: number; reg: number; imm: number }
  | {
    t: "atomic";
    size: 4 | 8;
    off: number;
    aop: number;
    src: number;
    prime: Prime;
    zext: boolean;
  }
  | {
    t: "spill";
    tmp: number;
    dst: number;
    size: Size;
    signed: boolean;
    abs: number;
    reset: number;
  }
  | { t: "if"; jmp: JmpCond; then: Node[]; else?: Node[]; gotol: boolean }
  | { t: "loop"; counter: number; count: number; style: number; body: Node[] }
  | {
    t: "lookup";
    key: KeySrc;
    reinit: number[];
    r0: number;
    body: ValueOp[];
    finalLoad?: number;
  }
  | { t: "update"; key: KeySrc; valOff: number; flags: number; reinit: number[] }
  | { t: "delete"; key: KeySrc; reinit: number[] }
  | { t: "exit"; jmp: JmpCond }
  | { t: "call"; fn: number; reinit: number[] }
  | { t: "ctx"; field: number; tmp: number; dst: number; reset: number }
  | {
    t: "bytes";
    store: boolean;
    off: number;
    len: number;
    buf: number;
    flags: number;
    reinit: number[];
  };

/** How the prologue initializes one scalar register. */
export type RegInit =
  | { k: "imm"; v: number }
  | { k: "imm64"; lo: number; hi: number }
  | { k: "pkt"; size: Size; signed: boolean; abs: number };

/** How the prologue initializes one 8-byte stack slot. */
export type StackInit = { reg: number } | { imm: number };

/**
 * A BPF function the program calls (bpf-to-bpf): it gets r1–r5, sets r0 and
 * r6–r9 itself (the caller's must survive the call), has its own frame.
 */
export interface SubProgram {
  /** Initial r0, r6, r7, r8, r9. */
  regs: number[];
  /** Initial values of its slots `fp-8` … `fp-64`. */
  stack: StackInit[];
  /** The body (no packet access: r6 is not the packet here). */
  body: Node[];
}

/** One generated test case: a program, its array map, and its input packet. */
export interface ProgramCase {
  /** A tc (SCHED_CLS, `struct __sk_buff`) program rather than XDP. */
  tc: boolean;
  /** Initial values of {@link SCALARS}, in order. */
  init: RegInit[];
  /** Initial values of the slots `fp-8`, `fp-16`, … `fp-64`. */
  stack: StackInit[];
  /** The body. */
  body: Node[];
  /** Functions `call` nodes call (index modulo their number; none: calls are left out). */
  subs: SubProgram[];
  /** r0 on the path of packets shorter than {@link PACKET_RANGE}. */
  outRet: number;
  /** The map: an array, or a (preallocated) hash with u32 keys. */
  hash: boolean;
  /** Hash maps: keys `0 … initialKeys-1` are present at load. */
  initialKeys: number;
  /** The map's value size in bytes. */
  valueSize: number;
  /** The map's max_entries. */
  maxEntries: number;
  /** Initial map values: entry `i` is bytes `[i*valueSize, (i+1)*valueSize)`. */
  contents: Uint8Array;
  /** The input packet. */
  packet: Uint8Array;
}

/** Options of {@link programCaseArbitrary}. */
export interface GenOptions {
  /** Most nodes in the top-level body; default 24. */
  maxBody?: number;
  /** Include cpu v4 instructions (sdiv/smod, movsx, ldsx, bswap, gotol); default true. */
  v4?: boolean;
  /** Include load-acquire / store-release (kernel 6.15+); default true. */
  acquireRelease?: boolean;
  /** Program types to generate; default both. */
  types?: readonly ("xdp" | "tc")[];
  /**
   * Also generate what known kernel verifier bugs miscompile (default
   * false), to check whether a kernel still has them: sign-extending loads
   * from the stack, W cmpxchg without a `w0 = w0` after it
   * (`tools/diff_fuzz_notes.md`).
   */
  kernelBugs?: boolean;
}

// ---------------------------------------------------------------------------
// Arbitraries

const SIZE_CODE: Record<Size, number> = { 1: BPF_B, 2: BPF_H, 4: BPF_W, 8: BPF_DW };
const ALU_OPS = [
  BPF_ADD,
  BPF_SUB,
  BPF_MUL,
  BPF_DIV,
  BPF_OR,
  BPF_AND,
  BPF_LSH,
  BPF_RSH,
  BPF_NEG,
  BPF_MOD,
  BPF_XOR,
  BPF_MOV,
  BPF_ARSH,
];
const JMP_OPS = [
  BPF_JEQ,
  BPF_JGT,
  BPF_JGE,
  BPF_JSET,
  BPF_JNE,
  BPF_JSGT,
  BPF_JSGE,
  BPF_JLT,
  BPF_JLE,
  BPF_JSLT,
  BPF_JSLE,
];
const ATOMIC_OPS = [
  BPF_ADD,
  BPF_OR,
  BPF_AND,
  BPF_XOR,
  BPF_ADD | BPF_FETCH,
  BPF_OR | BPF_FETCH,
  BPF_AND | BPF_FETCH,
  BPF_XOR | BPF_FETCH,
  BPF_XCHG,
  BPF_CMPXCHG,
];

/** 32-bit immediates, biased toward edges (0, ±1, sign bits, shift widths). */
export const imm32: fc.Arbitrary<number> = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      0,
      1,
      -1,
      2,
      0x7fffffff,
      -0x80000000,
      0xff,
      0xffff,
      0x80,
      0x8000,
      0x7fff,
      31,
      32,
      63,
      64,
    ),
    weight: 3,
  },
  { arbitrary: fc.integer({ min: -64, max: 64 }), weight: 3 },
  { arbitrary: fc.integer({ min: -0x80000000, max: 0x7fffffff }), weight: 4 },
);

/** 64-bit edge values as (lo, hi) words: signed/unsigned extremes, word boundaries, shift widths. */
const edge64: fc.Arbitrary<[number, number]> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom<[number, number]>(
      [0, 0],
      [1, 0],
      [-1, -1],
      [-2, -1],
      [-0x80000000, 0],
      [-0x80000000, -1],
      [0x7fffffff, 0],
      [-1, 0],
      [0, 1],
      [0, -0x80000000],
      [-1, 0x7fffffff],
      [1, -0x80000000],
      [31, 0],
      [32, 0],
      [63, 0],
      [64, 0],
      [0xff, 0],
      [0x80, 0],
      [0x8000, 0],
      [0x12345678, -0x6543210f],
    ),
  },
  { weight: 1, arbitrary: fc.tuple(imm32, imm32) },
);

const sizeArb: fc.Arbitrary<Size> = fc.constantFrom(1, 2, 4, 8);

interface Ctx {
  depth: number;
  /** Registers nodes may write (a loop's counter is not among them). */
  writable: readonly number[];
  loops: boolean;
  /** In a called function: no packet (r6 is a scalar there), no further calls. */
  sub: boolean;
}

function callsAllowed(ctx: Ctx): boolean {
  return [0, 1, 2, 3, 4, 5].every((r) => ctx.writable.includes(r));
}

function condArb(): fc.Arbitrary<JmpCond> {
  return fc.record({
    wide: fc.boolean(),
    op: fc.constantFrom(...JMP_OPS),
    dst: fc.constantFrom(...SCALARS),
    x: fc.boolean(),
    src: fc.constantFrom(...SCALARS),
    imm: imm32,
  });
}

function aluArb(ctx: Ctx, opts: Required<GenOptions>): fc.Arbitrary<Node> {
  return fc.record({
    wide: fc.boolean(),
    op: fc.constantFrom(...ALU_OPS),
    x: fc.boolean(),
    dst: fc.constantFrom(...ctx.writable),
    src: fc.constantFrom(...SCALARS),
    imm: imm32,
    variant: fc.nat(3),
    pre: fc.option(
      fc.record({ a: edge64, b: edge64 }) as fc.Arbitrary<
        { a: [number, number]; b?: [number, number] }
      >,
      { freq: 2, nil: undefined },
    ),
  }).map(({ wide, op, x, dst, src, imm, variant, pre }): Node => {
    const width = wide ? 64 : 32;
    let off = 0;
    if (pre !== undefined && !x) imm = pre.b![0];
    // `src` takes its edge value only when it is a different, writable register.
    if (pre !== undefined && (!x || src === dst || !ctx.writable.includes(src))) pre = { a: pre.a };
    if (op === BPF_NEG) {
      const a = pre === undefined ? undefined : { a: pre.a };
      return { t: "alu", wide, op, x: false, dst, src: 0, imm: 0, off: 0, pre: a };
    }
    if (!x && (op === BPF_LSH || op === BPF_RSH || op === BPF_ARSH)) {
      imm = ((imm % width) + width) % width; // the verifier refuses constant shifts ≥ width
    }
    if (op === BPF_DIV || op === BPF_MOD) {
      if (!x && imm === 0) imm = 1; // division by a constant 0 is refused at load
      if (opts.v4) off = variant & 1; // sdiv / smod
    }
    if (op === BPF_MOV && x && opts.v4) {
      off = wide ? [0, 8, 16, 32][variant] : [0, 8, 16, 0][variant];
    }
    return { t: "alu", wide, op, x, dst, src: x ? src : 0, imm: x ? 0 : imm, off, pre };
  });
}

function endArb(ctx: Ctx, opts: Required<GenOptions>): fc.Arbitrary<Node> {
  const kinds = [BPF_ALU | BPF_END | BPF_TO_LE, BPF_ALU | BPF_END | BPF_TO_BE];
  if (opts.v4) kinds.push(BPF_ALU64 | BPF_END | BPF_TO_LE);
  return fc.record({
    t: fc.constant("end" as const),
    opcode: fc.constantFrom(...kinds),
    dst: fc.constantFrom(...ctx.writable),
    bits: fc.constantFrom(16, 32, 64),
  });
}

function memKindArb(opts: Required<GenOptions>): fc.Arbitrary<MemKind> {
  return opts.v4
    ? fc.constantFrom("ldx", "ldsx", "stx", "st")
    : fc.constantFrom("ldx", "stx", "st");
}

/** `ldsx` has no 8-byte form; a store of `reg` that may not be read stays a store of `imm`. */
function fixKind(kind: MemKind, size: Size): MemKind {
  return kind === "ldsx" && size === 8 ? "ldx" : kind;
}

function pktArb(ctx: Ctx, opts: Required<GenOptions>): fc.Arbitrary<Node> {
  return fc.record({
    kind: memKindArb(opts),
    size: sizeArb,
    abs: fc.nat(BODY_BYTES - 1),
    reg: fc.constantFrom(...SCALARS),
    dst: fc.constantFrom(...ctx.writable),
    imm: imm32,
    via: fc.option(
      fc.record({ tmp: fc.constantFrom(...ctx.writable), add: fc.nat(BODY_BYTES), reset: imm32 }),
      { freq: 3 },
    ),
  }).map(({ kind, size, abs, reg, dst, imm, via }): Node => {
    kind = fixKind(kind, size);
    abs = Math.min(abs, BODY_BYTES - size);
    const load = kind === "ldx" || kind === "ldsx";
    // A store through `tmp` must not store `tmp` itself: it is a pointer then.
    if (kind === "stx" && via !== null && reg === via.tmp) kind = "st";
    return {
      t: "pkt",
      kind,
      size,
      abs,
      reg: load ? dst : reg,
      imm,
      ...(via === null ? {} : { via }),
    };
  });
}

function vpktArb(ctx: Ctx, opts: Required<GenOptions>): fc.Arbitrary<Node> {
  const pairs: [number, number][] = [];
  for (const a of ctx.writable) for (const b of ctx.writable) if (a !== b) pairs.push([a, b]);
  return fc.record({
    kind: memKindArb(opts),
    size: sizeArb,
    off: fc.nat(BODY_BYTES - 1),
    mask: fc.constantFrom(1, 3, 7, 15, 31, 63),
    index: fc.constantFrom(...SCALARS),
    tmp: fc.constantFrom(...pairs),
    reg: fc.constantFrom(...SCALARS),
    dst: fc.constantFrom(...ctx.writable),
    imm: imm32,
    reset: fc.tuple(imm32, imm32),
  }).map(({ kind, size, off, mask, index, tmp, reg, dst, imm, reset }): Node => {
    kind = fixKind(kind, size);
    const load = kind === "ldx" || kind === "ldsx";
    const r = load ? dst : reg;
    // The base and the bound pointer must neither be stored nor loaded into.
    if (tmp.includes(r)) kind = "st";
    return {
      t: "vpkt",
      kind,
      size,
      off: Math.min(off, BODY_BYTES - size - mask),
      mask,
      index,
      tmp,
      reg: r,
      imm,
      reset,
    };
  });
}

/** Offset of an aligned `size`-byte slot in the initialized frame area, from a free number. */
function stackOff(x: number, size: number): number {
  return -STACK_BYTES + Math.floor((x % STACK_BYTES) / size) * size;
}

function stkArb(ctx: Ctx, opts: Required<GenOptions>): fc.Arbitrary<Node> {
  const kinds: fc.Arbitrary<MemKind | "acq" | "rel"> = opts.acquireRelease
    ? fc.oneof({ arbitrary: memKindArb(opts), weight: 6 }, fc.constantFrom("acq", "rel"))
    : memKindArb(opts);
  return fc.record({
    kind: kinds,
    size: sizeArb,
    x: fc.nat(STACK_BYTES - 1),
    reg: fc.constantFrom(...SCALARS),
    dst: fc.constantFrom(...ctx.writable),
    imm: imm32,
  }).map(({ kind, size, x, reg, dst, imm }): Node => {
    if (kind !== "acq" && kind !== "rel") kind = fixKind(kind, size);
    // Linux 6.18 keeps a sign-extending fill linked to the spilled register
    // (see tools/diff_fuzz_notes.md): branches after it are miscompiled.
    if (kind === "ldsx" && !opts.kernelBugs) kind = "ldx";
    const load = kind === "ldx" || kind === "ldsx" || kind === "acq";
    return { t: "stk", kind, size, off: stackOff(x, size), reg: load ? dst : reg, imm };
  });
}

/** An atomic op `src` may receive the old value of only when it is writable (and cmpxchg writes r0). */
function fixAtomic(aop: number, src: number, writable: readonly number[]): number {
  if (aop === BPF_CMPXCHG && !writable.includes(0)) return BPF_ADD;
  if ((aop & BPF_FETCH) !== 0 && aop !== BPF_CMPXCHG && !writable.includes(src)) {
    return aop === BPF_XCHG ? BPF_ADD : aop & ~BPF_FETCH;
  }
  return aop;
}

const primeArb: fc.Arbitrary<Prime> = fc.constantFrom(0, 1, 2);

function atomicArb(ctx: Ctx, opts: Required<GenOptions>): fc.Arbitrary<Node> {
  return fc.record({
    size: fc.constantFrom(4 as const, 8 as const),
    x: fc.nat(STACK_BYTES - 1),
    aop: fc.constantFrom(...ATOMIC_OPS),
    src: fc.constantFrom(...SCALARS),
    prime: primeArb,
  }).map(({ size, x, aop, src, prime }): Node => ({
    t: "atomic",
    size,
    off: stackOff(x, size),
    aop: fixAtomic(aop, src, ctx.writable),
    src,
    prime,
    zext: !opts.kernelBugs,
  }));
}

function spillArb(ctx: Ctx, opts: Required<GenOptions>): fc.Arbitrary<Node> {
  return fc.record({
    tmp: fc.constantFrom(...ctx.writable),
    dst: fc.constantFrom(...ctx.writable),
    size: sizeArb,
    signed: fc.boolean(),
    abs: fc.nat(PACKET_RANGE - 1),
    reset: imm32,
  }).map(({ tmp, dst, size, signed, abs, reset }): Node => ({
    t: "spill",
    tmp,
    dst,
    size,
    signed: opts.v4 && signed && size !== 8,
    abs: Math.min(abs, PACKET_RANGE - size),
    reset,
  }));
}

const keyArb: fc.Arbitrary<KeySrc> = fc.oneof(
  { arbitrary: fc.record({ imm: fc.nat(5) }), weight: 6 }, // KEY_RANGE
  { arbitrary: fc.record({ reg: fc.constantFrom(...SCALARS) }), weight: 1 },
);
const reinitArb = fc.array(imm32, { minLength: 5, maxLength: 5 });

function valueOpArb(ctx: Ctx, opts: Required<GenOptions>): fc.Arbitrary<ValueOp> {
  const writable = ctx.writable.filter((r) => r !== 1);
  const srcs = SCALARS.filter((r) => r !== 1);
  const choices: fc.WeightedArbitrary<ValueOp["kind"]>[] = [
    { arbitrary: memKindArb(opts), weight: 6 },
    { arbitrary: fc.constant("atomic" as const), weight: 3 },
  ];
  if (opts.acquireRelease) {
    choices.push({ arbitrary: fc.constantFrom("acq" as const, "rel" as const), weight: 1 });
  }
  const kinds = fc.oneof(...choices);
  return fc.record({
    kind: kinds,
    size: sizeArb,
    off: fc.nat(63),
    src: fc.constantFrom(...srcs),
    dst: fc.constantFrom(...writable),
    imm: imm32,
    aop: fc.constantFrom(...ATOMIC_OPS),
    prime: primeArb,
  }).map(({ kind, size, off, src, dst, imm, aop, prime }): ValueOp => {
    if (kind === "ldx" || kind === "ldsx" || kind === "stx" || kind === "st") {
      kind = fixKind(kind, size);
    }
    if (kind === "atomic" && size < 4) size = 4;
    const load = kind === "ldx" || kind === "ldsx" || kind === "acq";
    return {
      kind,
      size,
      off,
      reg: load ? dst : src,
      imm,
      aop: kind === "atomic" ? fixAtomic(aop, src, writable) : 0,
      prime,
      zext: !opts.kernelBugs,
    };
  });
}

function lookupArb(ctx: Ctx, opts: Required<GenOptions>): fc.Arbitrary<Node> {
  return fc.record({
    t: fc.constant("lookup" as const),
    key: keyArb,
    reinit: reinitArb,
    r0: imm32,
    body: fc.array(valueOpArb(ctx, opts), { maxLength: 6 }),
    finalLoad: fc.option(fc.nat(63), { nil: undefined }),
  }, { requiredKeys: ["t", "key", "reinit", "r0", "body"] });
}

function updateArb(): fc.Arbitrary<Node> {
  return fc.record({
    t: fc.constant("update" as const),
    key: keyArb,
    valOff: fc.nat(STACK_BYTES),
    flags: fc.oneof({ arbitrary: fc.constantFrom(0, 1, 2), weight: 8 }, fc.constantFrom(3, 4)),
    reinit: reinitArb,
  });
}

function deleteArb(): fc.Arbitrary<Node> {
  return fc.record({ t: fc.constant("delete" as const), key: keyArb, reinit: reinitArb });
}

const cache = new Map<string, fc.Arbitrary<Node>>();

function nodeArb(ctx: Ctx, opts: Required<GenOptions>): fc.Arbitrary<Node> {
  const key = `${ctx.depth}/${ctx.writable.join(",")}/${ctx.loops}/${ctx.sub}/${
    JSON.stringify(opts)
  }`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const calls = callsAllowed(ctx);
  const choices: fc.WeightedArbitrary<Node>[] = [
    { arbitrary: aluArb(ctx, opts), weight: 14 },
    {
      arbitrary: fc.record({
        t: fc.constant("imm64" as const),
        dst: fc.constantFrom(...ctx.writable),
        lo: imm32,
        hi: imm32,
      }),
      weight: 1,
    },
    { arbitrary: endArb(ctx, opts), weight: 2 },
    ...(ctx.sub ? [] : [{ arbitrary: pktArb(ctx, opts), weight: 4 }]),
    { arbitrary: stkArb(ctx, opts), weight: 4 },
    ...(ctx.writable.length >= 2 && !ctx.sub ? [{ arbitrary: vpktArb(ctx, opts), weight: 2 }] : []),
    { arbitrary: atomicArb(ctx, opts), weight: 3 },
    ...(ctx.sub ? [] : [{ arbitrary: spillArb(ctx, opts), weight: 1 }, {
      arbitrary: fc.record({
        t: fc.constant("ctx" as const),
        field: fc.nat(SKB_FIELDS.length - 1),
        tmp: fc.constantFrom(...ctx.writable),
        dst: fc.constantFrom(...ctx.writable),
        reset: imm32,
      }),
      weight: 1,
    }]),
    { arbitrary: fc.record({ t: fc.constant("exit" as const), jmp: condArb() }), weight: 1 },
  ];
  if (calls) {
    choices.push(
      { arbitrary: lookupArb(ctx, opts), weight: 3 },
      { arbitrary: updateArb(), weight: 2 },
      { arbitrary: deleteArb(), weight: 1 },
    );
    if (!ctx.sub) {
      choices.push({
        arbitrary: fc.record({ t: fc.constant("call" as const), fn: fc.nat(1), reinit: reinitArb }),
        weight: 2,
      }, {
        arbitrary: fc.record({
          t: fc.constant("bytes" as const),
          store: fc.boolean(),
          off: fc.oneof({ arbitrary: fc.nat(PACKET_RANGE + 80), weight: 6 }, imm32),
          len: fc.integer({ min: 1, max: STACK_BYTES }),
          buf: fc.nat(STACK_BYTES - 1),
          flags: fc.oneof({ arbitrary: fc.constantFrom(0, 1, 2, 3), weight: 6 }, imm32),
          reinit: reinitArb,
        }),
        weight: 1,
      });
    }
  }
  if (ctx.depth < MAX_DEPTH) {
    const inner = nodeArb({ ...ctx, depth: ctx.depth + 1 }, opts);
    choices.push({
      arbitrary: fc.record({
        t: fc.constant("if" as const),
        jmp: condArb(),
        then: fc.array(inner, { maxLength: 4 }),
        else: fc.option(fc.array(inner, { maxLength: 3 }), { nil: undefined }),
        gotol: fc.boolean().map((b) => b && opts.v4),
      }, { requiredKeys: ["t", "jmp", "then", "gotol"] }),
      weight: 4,
    });
    if (ctx.loops) choices.push({ arbitrary: loopArb(ctx, opts), weight: 2 });
  }
  const arb = fc.oneof(...choices);
  cache.set(key, arb);
  return arb;
}

function loopArb(ctx: Ctx, opts: Required<GenOptions>): fc.Arbitrary<Node> {
  // Loops do not nest: the verifier walks every iteration of every path.
  return fc.oneof(...ctx.writable.map((counter) => {
    const inner: Ctx = {
      depth: ctx.depth + 1,
      writable: ctx.writable.filter((r) => r !== counter),
      loops: false,
      sub: ctx.sub,
    };
    return fc.record({
      t: fc.constant("loop" as const),
      counter: fc.constant(counter),
      count: fc.integer({ min: 1, max: 6 }),
      style: fc.nat(2),
      body: fc.array(nodeArb(inner, opts), { maxLength: 4 }),
    });
  }));
}

const regInitArb: fc.Arbitrary<RegInit> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant("imm" as const), v: imm32 }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant("imm64" as const), lo: imm32, hi: imm32 }), weight: 2 },
  {
    arbitrary: fc.record({
      k: fc.constant("pkt" as const),
      size: sizeArb,
      signed: fc.boolean(),
      abs: fc.nat(PACKET_RANGE - 8),
    }),
    weight: 3,
  },
);

const stackInitArb: fc.Arbitrary<StackInit> = fc.oneof(
  fc.record({ reg: fc.constantFrom(...SCALARS) }),
  fc.record({ imm: imm32 }),
);

/**
 * Random XDP and tc programs (with their array map and input packet) that the
 * kernel verifier accepts. Reproducible: sample with a fast-check seed.
 */
export function programCaseArbitrary(options: GenOptions = {}): fc.Arbitrary<ProgramCase> {
  const opts: Required<GenOptions> = {
    maxBody: options.maxBody ?? 24,
    v4: options.v4 ?? true,
    acquireRelease: options.acquireRelease ?? true,
    types: options.types ?? ["xdp", "tc"],
    kernelBugs: options.kernelBugs ?? false,
  };
  const top: Ctx = { depth: 0, writable: SCALARS, loops: true, sub: false };
  const subArb: fc.Arbitrary<SubProgram> = fc.record({
    regs: fc.array(imm32, { minLength: 5, maxLength: 5 }),
    stack: fc.array(stackInitArb, { minLength: 8, maxLength: 8 }),
    body: fc.array(nodeArb({ ...top, sub: true }, opts), { maxLength: 8 }),
  });
  return fc.record({
    tc: fc.constantFrom(...opts.types).map((t) => t === "tc"),
    init: fc.array(regInitArb, { minLength: SCALARS.length, maxLength: SCALARS.length }),
    stack: fc.array(stackInitArb, { minLength: 8, maxLength: 8 }),
    // "max": the default size keeps arrays under ~10 elements.
    body: fc.array(nodeArb(top, opts), { maxLength: opts.maxBody, size: "max" }),
    subs: fc.array(subArb, { maxLength: 2 }),
    outRet: imm32,
    hash: fc.boolean(),
    initialKeys: fc.nat(4),
    valueSize: fc.constantFrom(8, 16, 24, 32, 48, 64),
    maxEntries: fc.integer({ min: 1, max: 4 }),
    contents: fc.uint8Array({ minLength: 256, maxLength: 256 }),
    packet: fc.oneof(
      {
        arbitrary: fc.uint8Array({ minLength: PACKET_RANGE, maxLength: PACKET_RANGE + 64 }),
        weight: 15,
      },
      { arbitrary: fc.uint8Array({ minLength: 14, maxLength: PACKET_RANGE - 1 }), weight: 1 },
    ),
  });
}

// ---------------------------------------------------------------------------
// Assembly

function ins(opcode: number, dst: number, src: number, offset: number, imm: number): Instruction {
  return { opcode, dst, src, offset, imm };
}

function movImm(dst: number, imm: number): Instruction {
  return ins(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}

function movReg(dst: number, src: number): Instruction {
  return ins(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}

function addImm(dst: number, imm: number): Instruction {
  return ins(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm);
}

function load(size: Size, signed: boolean, dst: number, base: number, off: number): Instruction {
  return ins(BPF_LDX | (signed ? BPF_MEMSX : BPF_MEM) | SIZE_CODE[size], dst, base, off, 0);
}

function storeReg(size: Size, base: number, off: number, src: number): Instruction {
  return ins(BPF_STX | BPF_MEM | SIZE_CODE[size], base, src, off, 0);
}

function storeImm(size: Size, base: number, off: number, imm: number): Instruction {
  return ins(BPF_ST | BPF_MEM | SIZE_CODE[size], base, 0, off, imm);
}

function atomic(size: Size, base: number, off: number, src: number, aop: number): Instruction {
  return ins(BPF_STX | BPF_ATOMIC | SIZE_CODE[size], base, src, off, aop);
}

/** Emits instructions with symbolic forward and backward jump targets. */
class Asm {
  readonly insns: Instruction[] = [];
  #slot = 0;
  #labels: number[] = [];
  #fixups: { index: number; slot: number; label: number; inImm: boolean }[] = [];

  label(): number {
    this.#labels.push(-1);
    return this.#labels.length - 1;
  }

  bind(label: number): void {
    this.#labels[label] = this.#slot;
  }

  emit(i: Instruction): void {
    this.insns.push(i);
    this.#slot += i.opcode === LD_IMM64_OPCODE ? 2 : 1;
  }

  jump(i: Instruction, label: number, inImm = false): void {
    this.#fixups.push({ index: this.insns.length, slot: this.#slot, label, inImm });
    this.emit(i);
  }

  finish(): Instruction[] {
    for (const f of this.#fixups) {
      const delta = this.#labels[f.label] - (f.slot + 1);
      if (f.inImm) this.insns[f.index].imm = delta;
      else this.insns[f.index].offset = delta;
    }
    return this.insns;
  }
}

function condJump(asm: Asm, c: JmpCond, label: number): void {
  const cls = c.wide ? BPF_JMP : BPF_JMP32;
  asm.jump(
    ins(cls | c.op | (c.x ? BPF_X : BPF_K), c.dst, c.x ? c.src : 0, 0, c.x ? 0 : c.imm),
    label,
  );
}

function storeKey(asm: Asm, key: KeySrc): void {
  if ("imm" in key) asm.emit(storeImm(4, FP, KEY_SLOT, key.imm));
  else asm.emit(storeReg(4, FP, KEY_SLOT, key.reg));
}

function loadMap(dst: number): Instruction {
  return { ...ins(LD_IMM64_OPCODE, dst, BPF_PSEUDO_MAP_FD, 0, 0), immHi: 0, reference: MAP_NAME };
}

function reinit(asm: Asm, values: number[], from: number): void {
  for (let r = from; r <= 5; r++) asm.emit(movImm(r, values[r - 1]));
}

interface EmitEnv {
  asm: Asm;
  /** Where `exit` nodes go: the epilogue of the program or of the function. */
  epilogue: number;
  valueSize: number;
  /** Entry labels of the functions. */
  subs: number[];
  /** The program is tc (its context is a `__sk_buff`). */
  tc: boolean;
  /** The early exit of packets shorter than {@link PACKET_RANGE}. */
  out: number;
  /** The functions some `call` calls: only those are emitted (the verifier refuses unreachable code). */
  called: Set<number>;
}

function emitNodes(env: EmitEnv, nodes: Node[]): void {
  for (const n of nodes) emitNode(env, n);
}

function emitNode(env: EmitEnv, n: Node): void {
  const { asm } = env;
  switch (n.t) {
    case "alu": {
      const cls = n.wide ? BPF_ALU64 : BPF_ALU;
      if (n.pre !== undefined) {
        asm.emit({ ...ins(LD_IMM64_OPCODE, n.dst, 0, 0, n.pre.a[0]), immHi: n.pre.a[1] });
        if (n.pre.b !== undefined) {
          asm.emit({ ...ins(LD_IMM64_OPCODE, n.src, 0, 0, n.pre.b[0]), immHi: n.pre.b[1] });
        }
      }
      asm.emit(ins(cls | n.op | (n.x ? BPF_X : BPF_K), n.dst, n.src, n.off, n.imm));
      return;
    }
    case "imm64":
      asm.emit({ ...ins(LD_IMM64_OPCODE, n.dst, 0, 0, n.lo), immHi: n.hi });
      return;
    case "end":
      asm.emit(ins(n.opcode, n.dst, 0, 0, n.bits));
      return;
    case "pkt": {
      let base = PKT;
      let off = n.abs;
      if (n.via !== undefined) {
        asm.emit(movReg(n.via.tmp, PKT));
        asm.emit(addImm(n.via.tmp, n.via.add));
        base = n.via.tmp;
        off = n.abs - n.via.add;
      }
      emitMem(asm, n.kind, n.size, base, off, n.reg, n.imm);
      const loadedIntoTmp = (n.kind === "ldx" || n.kind === "ldsx") && n.reg === n.via?.tmp;
      if (n.via !== undefined && !loadedIntoTmp) asm.emit(movImm(n.via.tmp, n.via.reset));
      return;
    }
    case "vpkt": {
      // The canonical variable-offset access: base + (index & mask), then a
      // bounds check of its own (adding a variable forgets r6's range).
      const [bound, base] = n.tmp;
      const skip = asm.label();
      asm.emit(movReg(bound, n.index));
      asm.emit(ins(BPF_ALU64 | BPF_AND | BPF_K, bound, 0, 0, n.mask));
      asm.emit(movReg(base, PKT));
      asm.emit(ins(BPF_ALU64 | BPF_ADD | BPF_X, base, bound, 0, 0));
      asm.emit(movReg(bound, base));
      asm.emit(addImm(bound, n.off + n.size));
      asm.jump(ins(BPF_JMP | BPF_JGT | BPF_X, bound, PKT_END, 0, 0), skip);
      emitMem(asm, n.kind, n.size, base, n.off, n.reg, n.imm);
      asm.bind(skip);
      asm.emit(movImm(bound, n.reset[0]));
      asm.emit(movImm(base, n.reset[1]));
      return;
    }
    case "stk":
      emitMem(asm, n.kind, n.size, FP, n.off, n.reg, n.imm);
      return;
    case "atomic":
      emitAtomic(asm, { size: n.size, base: FP, off: n.off, src: n.src, aop: n.aop }, {
        prime: n.prime,
        zext: n.zext,
        limit: 0,
      });
      return;
    case "spill":
      asm.emit(storeReg(8, FP, PTR_SLOT, PKT));
      asm.emit(load(8, false, n.tmp, FP, PTR_SLOT));
      asm.emit(load(n.size, n.signed, n.dst, n.tmp, n.abs));
      if (n.tmp !== n.dst) asm.emit(movImm(n.tmp, n.reset));
      return;
    case "if": {
      const skip = asm.label();
      condJump(asm, n.jmp, skip);
      emitNodes(env, n.then);
      if (n.else === undefined) {
        asm.bind(skip);
        return;
      }
      const end = asm.label();
      if (n.gotol) asm.jump(ins(BPF_JMP32 | BPF_JA, 0, 0, 0, 0), end, true);
      else asm.jump(ins(BPF_JMP | BPF_JA, 0, 0, 0, 0), end);
      asm.bind(skip);
      emitNodes(env, n.else);
      asm.bind(end);
      return;
    }
    case "loop": {
      const top = asm.label();
      const c = n.counter;
      asm.emit(movImm(c, n.style === 1 ? 0 : n.count));
      asm.bind(top);
      emitNodes(env, n.body);
      if (n.style === 1) {
        asm.emit(ins(BPF_ALU | BPF_ADD | BPF_K, c, 0, 0, 1));
        asm.jump(ins(BPF_JMP32 | BPF_JLT | BPF_K, c, 0, 0, n.count), top);
      } else {
        asm.emit(ins(BPF_ALU64 | BPF_SUB | BPF_K, c, 0, 0, 1));
        const op = n.style === 0 ? BPF_JNE : BPF_JSGT;
        asm.jump(ins(BPF_JMP | op | BPF_K, c, 0, 0, 0), top);
      }
      return;
    }
    case "lookup": {
      storeKey(asm, n.key);
      asm.emit(movReg(2, FP));
      asm.emit(addImm(2, KEY_SLOT));
      asm.emit(loadMap(1));
      asm.emit(ins(CALL_OPCODE, 0, 0, 0, 1)); // map_lookup_elem
      reinit(asm, n.reinit, 2);
      const isNull = asm.label();
      const end = asm.label();
      asm.jump(ins(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0, 0), isNull);
      asm.emit(movReg(1, 0));
      asm.emit(movImm(0, n.r0));
      for (const op of n.body) emitValueOp(asm, op, env.valueSize);
      if (n.finalLoad !== undefined) {
        asm.emit(load(8, false, 1, 1, Math.min(n.finalLoad, env.valueSize - 8)));
      } else {
        asm.emit(movImm(1, n.reinit[0]));
      }
      asm.jump(ins(BPF_JMP | BPF_JA, 0, 0, 0, 0), end);
      asm.bind(isNull);
      asm.emit(movImm(1, n.reinit[0]));
      asm.bind(end);
      return;
    }
    case "update": {
      storeKey(asm, n.key);
      asm.emit(loadMap(1));
      asm.emit(movReg(2, FP));
      asm.emit(addImm(2, KEY_SLOT));
      asm.emit(movReg(3, FP));
      asm.emit(addImm(3, -STACK_BYTES + (n.valOff % (STACK_BYTES - env.valueSize + 1))));
      asm.emit(movImm(4, n.flags));
      asm.emit(ins(CALL_OPCODE, 0, 0, 0, 2)); // map_update_elem
      reinit(asm, n.reinit, 1);
      return;
    }
    case "delete": {
      storeKey(asm, n.key);
      asm.emit(loadMap(1));
      asm.emit(movReg(2, FP));
      asm.emit(addImm(2, KEY_SLOT));
      asm.emit(ins(CALL_OPCODE, 0, 0, 0, 3)); // map_delete_elem
      reinit(asm, n.reinit, 1);
      return;
    }
    case "exit":
      condJump(asm, n.jmp, env.epilogue);
      return;
    case "ctx": {
      const fields = env.tc ? SKB_FIELDS : XDP_FIELDS;
      asm.emit(load(8, false, n.tmp, FP, CTX_SLOT));
      asm.emit(load(4, false, n.dst, n.tmp, fields[n.field % fields.length]));
      if (n.tmp !== n.dst) asm.emit(movImm(n.tmp, n.reset));
      return;
    }
    case "bytes": {
      // bpf_{xdp,skb}_{load,store}_bytes between the packet and the frame's data slots.
      const id = env.tc ? (n.store ? 9 : 26) : (n.store ? 190 : 189);
      asm.emit(load(8, false, 1, FP, CTX_SLOT));
      asm.emit(movImm(2, n.off));
      asm.emit(movReg(3, FP));
      asm.emit(addImm(3, -STACK_BYTES + (n.buf % (STACK_BYTES - n.len + 1))));
      asm.emit(movImm(4, n.len));
      if (env.tc && n.store) asm.emit(movImm(5, n.flags));
      asm.emit(ins(CALL_OPCODE, 0, 0, 0, id));
      reinit(asm, n.reinit, 1);
      // skb_store_bytes may move the packet: every packet pointer must be loaded again.
      if (env.tc && n.store) {
        emitPacketPointers(asm, { tc: true, scratch: 2, out: env.out, reset: n.reinit[1] });
      }
      return;
    }
    case "call":
      if (env.subs.length === 0) return;
      env.called.add(n.fn % env.subs.length);
      asm.jump(ins(CALL_OPCODE, 0, BPF_PSEUDO_CALL, 0, 0), env.subs[n.fn % env.subs.length], true);
      reinit(asm, n.reinit, 1);
      return;
  }
}

function emitMem(
  asm: Asm,
  kind: MemKind | "acq" | "rel",
  size: Size,
  base: number,
  off: number,
  reg: number,
  imm: number,
): void {
  switch (kind) {
    case "ldx":
    case "ldsx":
      asm.emit(load(size, kind === "ldsx", reg, base, off));
      return;
    case "stx":
      asm.emit(storeReg(size, base, off, reg));
      return;
    case "st":
      asm.emit(storeImm(size, base, off, imm));
      return;
    case "acq":
      asm.emit(ins(BPF_STX | BPF_ATOMIC | SIZE_CODE[size], reg, base, off, BPF_LOAD_ACQ));
      return;
    case "rel":
      asm.emit(atomic(size, base, off, reg, BPF_STORE_REL));
      return;
  }
}

function emitValueOp(asm: Asm, op: ValueOp, valueSize: number): void {
  const aligned = op.kind === "atomic" || op.kind === "acq" || op.kind === "rel";
  let off = Math.min(op.off, valueSize - op.size);
  if (aligned) off -= off % op.size;
  if (op.kind === "atomic") {
    emitAtomic(asm, { size: op.size, base: 1, off, src: op.reg, aop: op.aop }, {
      prime: op.prime,
      zext: op.zext,
      limit: valueSize,
    });
  } else emitMem(asm, op.kind, op.size, 1, off, op.reg, op.imm);
}

/** An atomic op, r0 first set up as `prime` says for a cmpxchg (`limit`: end of the memory). */
function emitAtomic(
  asm: Asm,
  a: { size: Size; base: number; off: number; src: number; aop: number },
  options: { prime: Prime; zext: boolean; limit: number },
): void {
  if (a.aop === BPF_CMPXCHG && options.prime !== 0) {
    const two = options.prime === 2;
    const wide = two && (a.size === 8 || (a.off % 8 === 0 && a.off + 8 <= options.limit));
    asm.emit(load(wide ? 8 : a.size, false, 0, a.base, a.off));
    if (two && a.size === 8) asm.emit(ins(BPF_ALU | BPF_MOV | BPF_X, 0, 0, 0, 0)); // w0 = w0
  }
  asm.emit(atomic(a.size, a.base, a.off, a.src, a.aop));
  // Linux 6.18 leaves r0's high word after a successful W cmpxchg when the
  // verifier pruned the path to r0's next 64-bit use (tools/diff_fuzz_notes.md).
  if (a.aop === BPF_CMPXCHG && a.size === 4 && options.zext) {
    asm.emit(ins(BPF_ALU | BPF_MOV | BPF_X, 0, 0, 0, 0));
  }
}

/**
 * r6 = data, r7 = data_end, checked for {@link PACKET_RANGE} bytes (else to
 * `out`), from the context in r1, or with `reset` from the one saved at
 * fp-88 (`scratch` is then set to `reset`).
 */
function emitPacketPointers(
  asm: Asm,
  o: { tc: boolean; scratch: number; out: number; reset?: number },
): void {
  const ctx = o.reset === undefined ? 1 : o.scratch;
  if (o.reset !== undefined) asm.emit(load(8, false, o.scratch, FP, CTX_SLOT));
  // xdp_md.data / data_end, or __sk_buff.data / data_end.
  asm.emit(load(4, false, PKT, ctx, o.tc ? SKB_DATA : 0));
  asm.emit(load(4, false, PKT_END, ctx, o.tc ? SKB_DATA + 4 : 4));
  asm.emit(movReg(o.scratch, PKT));
  asm.emit(addImm(o.scratch, PACKET_RANGE));
  asm.jump(ins(BPF_JMP | BPF_JGT | BPF_X, o.scratch, PKT_END, 0, 0), o.out);
  if (o.reset !== undefined) asm.emit(movImm(o.scratch, o.reset));
}

/** The instructions of a case's program. */
export function programInstructions(c: ProgramCase): Instruction[] {
  const asm = new Asm();
  const out = asm.label();
  const epilogue = asm.label();
  emitPacketPointers(asm, { tc: c.tc, scratch: 8, out });
  asm.emit(storeReg(8, FP, CTX_SLOT, 1)); // for "ctx" nodes: r1 is a scalar from here on
  SCALARS.forEach((r, i) => {
    const init = c.init[i];
    if (init.k === "imm") asm.emit(movImm(r, init.v));
    else if (init.k === "imm64") {
      asm.emit({ ...ins(LD_IMM64_OPCODE, r, 0, 0, init.lo), immHi: init.hi });
    } else asm.emit(load(init.size, init.signed && init.size !== 8, r, PKT, init.abs));
  });
  c.stack.forEach((s, i) => {
    const off = -8 * (i + 1);
    asm.emit("reg" in s ? storeReg(8, FP, off, s.reg) : storeImm(8, FP, off, s.imm));
  });
  const subs = c.subs.map(() => asm.label());
  const called = new Set<number>();
  emitNodes({ asm, epilogue, valueSize: c.valueSize, subs, called, tc: c.tc, out }, c.body);
  asm.bind(epilogue);
  SCALARS.forEach((r, i) => asm.emit(storeReg(8, PKT, DUMP_REGS + 8 * i, r)));
  for (let i = 0; i < STACK_BYTES / 8; i++) {
    asm.emit(load(8, false, 1, FP, -STACK_BYTES + 8 * i));
    asm.emit(storeReg(8, PKT, DUMP_STACK + 8 * i, 1));
  }
  asm.emit(ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  asm.bind(out);
  asm.emit(movImm(0, c.outRet));
  asm.emit(ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  const starts: number[] = [];
  c.subs.forEach((sub, i) => {
    if (!called.has(i)) return;
    const end = asm.label();
    starts.push(asm.insns.length);
    asm.bind(subs[i]);
    [0, 6, 7, 8, 9].forEach((r, j) => asm.emit(movImm(r, sub.regs[j])));
    sub.stack.forEach((s, j) => {
      const off = -8 * (j + 1);
      asm.emit("reg" in s ? storeReg(8, FP, off, s.reg) : storeImm(8, FP, off, s.imm));
    });
    emitNodes(
      { asm, epilogue: end, valueSize: c.valueSize, subs: [], called, tc: c.tc, out },
      sub.body,
    );
    asm.bind(end);
    asm.emit(ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  });
  const insns = asm.finish();
  insns[0].symbol = PROG_NAME;
  starts.forEach((at, i) => insns[at].symbol = `sub${i}`);
  return insns;
}

/** Keys the map's programs use: 0 … {@link KEY_RANGE}-1 (some beyond max_entries). */
export const KEY_RANGE = 6;

/** The keys present at load. */
export function initialKeys(c: ProgramCase): number[] {
  const n = c.hash ? Math.min(c.initialKeys, c.maxEntries) : c.maxEntries;
  return Array.from({ length: n }, (_, i) => i);
}

/** A u32 key's bytes (host byte order, as the kernel reads it). */
export function u32Key(i: number): Uint8Array {
  return new Uint8Array(new Uint32Array([i]).buffer);
}

/** The initial value of map entry `i`. */
export function initialValue(c: ProgramCase, i: number): Uint8Array {
  return c.contents.slice(i * c.valueSize, (i + 1) * c.valueSize);
}

/** The collection both backends load: the array map {@link MAP_NAME} and the program {@link PROG_NAME}. */
export function caseSpec(c: ProgramCase): CollectionSpec {
  const contents = [];
  for (const i of initialKeys(c)) {
    contents.push({ key: c.hash ? u32Key(i) : i, value: initialValue(c, i) });
  }
  const map = new MapSpec({
    name: MAP_NAME,
    type: c.hash ? MapType.HASH : MapType.ARRAY,
    keySize: 4,
    valueSize: c.valueSize,
    maxEntries: c.maxEntries,
    contents,
  });
  const prog = new ProgramSpec({
    name: PROG_NAME,
    type: c.tc ? ProgramType.SCHED_CLS : ProgramType.XDP,
    license: "GPL",
    instructions: programInstructions(c),
  });
  return new CollectionSpec({
    maps: new Map([[MAP_NAME, map]]),
    programs: new Map([[PROG_NAME, prog]]),
  });
}

/** Bytes as hex, 32 per line. */
export function hex(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 32) {
    lines.push(
      [...bytes.subarray(i, i + 32)].map((b) => b.toString(16).padStart(2, "0")).join(""),
    );
  }
  return lines.join("\n");
}
