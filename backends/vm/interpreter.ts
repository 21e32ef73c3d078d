/**
 * The interpreter tier: runs a {@link VmCode} instruction by instruction
 * with every memory access checked against the region table.
 *
 * Registers live in two `Int32Array`s (low and high words), the code is
 * pre-decoded once per {@link VmCode} into four i32 words per slot
 * (`opcode | dst << 8 | src << 12`, offset or absolute jump target, imm,
 * imm's high word), and one `switch` dispatches on the opcode byte. The
 * loop allocates nothing and uses no BigInt; rare work (64-bit division
 * beyond 2⁵³, helper calls, special regions, atomics, faults) lives in
 * functions outside it.
 *
 * Choices the compiled tier must share so both tiers agree bit for bit:
 * every stack frame is zeroed when a function (or tail-called program)
 * enters it; a tail call starts the target with r1 = the context the run
 * began with and r10 at the top of the current frame; `may_goto` allows
 * {@link MAY_GOTO_LIMIT} iterations per run; helpers see r1–r5 in the
 * arena's argument slots and leave r1–r5 unchanged.
 *
 * ```ts
 * import { createInterpreter } from "./interpreter.ts";
 * import { loadVmCode } from "./program.ts";
 * import { createRuntime } from "./runtime.ts";
 *
 * const runtime = createRuntime();
 * const code = loadVmCode([
 *   { opcode: 0xb7, dst: 0, src: 0, offset: 0, imm: 42 }, // r0 = 42
 *   { opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 }, // exit
 * ], { name: "answer", mem: runtime.mem, helpers: runtime.helpers });
 * createInterpreter(runtime, code).run([]).lo; // 42
 * ```
 *
 * @module
 */

import { arsh64, divmod32, divmod64, end, lsh64, movsx, mulhu, rsh64 } from "./_alu.ts";
import { formatAddress, VmError } from "./errors.ts";
import {
  ARGS_BASE,
  MAX_REGIONS,
  offsetOf,
  REGION_ENTRY,
  REGION_READ,
  REGION_SPECIAL,
  REGION_STRIDED,
  REGION_WRITE,
  splitNumber,
  TABLE_BASE,
  TAG_SCALE,
  tagOf,
  type VmMemory,
} from "./memory.ts";
import {
  DEFAULT_BUDGET,
  type ExecOptions,
  type ExecResult,
  type Executor,
  type HelperEnv,
  MAX_CALL_DEPTH,
  MAX_TAIL_CALLS,
  STACK_SIZE,
  type VmAddress,
  type VmCode,
  type VmHelper,
  type VmProgramHandle,
  type VmRuntime,
} from "./types.ts";

/** `may_goto` iterations before it jumps (the kernel's BPF_MAX_LOOPS). */
export const MAY_GOTO_LIMIT = 8 * 1024 * 1024;

// Word index of tag 0's region table entry; an entry is REGION_ENTRY / 4 words.
const TW = TABLE_BASE >>> 2;
const ENTRY_SHIFT = Math.log2(REGION_ENTRY >>> 2);

/** A {@link VmCode} pre-decoded for the interpreter. */
interface Decoded {
  readonly code: VmCode;
  /** Four words per slot: `op | dst << 8 | src << 12`, offset or jump target, imm, imm high. */
  readonly d: Int32Array;
  /** Helper of each helper call, by pc. */
  readonly helpers: (VmHelper | undefined)[];
  /** 1 at every function entry. */
  readonly entries: Uint8Array;
}

/** Registers and call stack of one (possibly nested) activation. */
interface Regs {
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  /** Per call level: r6–r9 and r10 (lo, hi pairs), return pc; 12 words. */
  readonly saved: Int32Array;
  /** Per call level: the caller's program (a tail call may have switched it). */
  readonly progs: Decoded[];
}

const SAVED_WORDS = 12;
const cache = new WeakMap<VmCode, Decoded>();

/** The decoded form of `code`, made once per code object. */
function decoded(code: VmCode): Decoded {
  let dec = cache.get(code);
  if (dec !== undefined) return dec;
  const c = code.code;
  const slots = code.slots;
  const d = new Int32Array(slots * 4 + 4);
  const helpers: (VmHelper | undefined)[] = new Array(slots).fill(undefined);
  const entries = new Uint8Array(slots);
  for (const f of code.functions) if (f >= 0 && f < slots) entries[f] = 1;
  for (let pc = 0; pc < slots; pc++) {
    const p = pc << 2;
    const op = c[p] & 0xff, regs = c[p + 1], off = c[p + 2], imm = c[p + 3];
    // movsx gets a dispatch code of its own (ALU op 0xe0 is no instruction) so
    // that plain register moves, which are frequent, need no offset test.
    const key = (op === 0xbf || op === 0xbc) && off !== 0 ? op + 0x30 : op;
    d[p] = key | ((regs & 15) << 8) | (((regs >>> 4) & 15) << 12);
    d[p + 1] = off;
    d[p + 2] = imm;
    d[p + 3] = imm >> 31;
    const cls = op & 7;
    if (op === 0x18 && pc + 1 < slots) {
      d[p + 3] = c[p + 7];
      pc++;
    } else if (op === 0x85) {
      if (((regs >>> 4) & 15) === 1) d[p + 1] = pc + 1 + imm;
      else helpers[pc] = code.helpers.get(pc);
    } else if ((cls === 5 || cls === 6) && (op & 0xf0) !== 0x90 && (op & 0xf0) !== 0x80) {
      d[p + 1] = pc + 1 + (op === 0x06 ? imm : off);
    }
  }
  dec = { code, d, helpers, entries };
  cache.set(code, dec);
  return dec;
}

/**
 * The arena offset of a `size`-byte access at `al`, `ah` needing `flag`
 * (REGION_READ, REGION_WRITE or both), or -1 when the access faults or goes
 * to a special region (the caller's slow path tells which).
 */
function xlate(u32: Uint32Array, al: number, ah: number, size: number, flag: number): number {
  if (((ah - 1) >>> 0) >= MAX_REGIONS - 1) return -1;
  const t = TW + (ah << ENTRY_SHIFT);
  const flags = u32[t + 2];
  const off = al >>> 0;
  if ((flags & (flag | REGION_SPECIAL)) === flag && off + size <= u32[t + 1]) {
    if ((flags & REGION_STRIDED) === 0 || (off % u32[t + 3]) + size <= u32[t + 4]) {
      return u32[t] + off;
    }
  }
  return -1;
}

/** The special region's `size`-byte load at `al`, `ah` (low word; high in `st.scratchHi`), or the fault. */
function slowLoad(st: RunState, al: number, ah: number, size: number, pc: number): number {
  const mem = st.mem;
  const tag = ah >>> 0, off = al >>> 0;
  if (tag > 0 && tag < MAX_REGIONS) {
    const t = TW + (tag << ENTRY_SHIFT);
    const flags = mem.u32[t + 2];
    const special = mem.special(tag);
    if (
      (flags & (REGION_SPECIAL | REGION_READ)) === (REGION_SPECIAL | REGION_READ) &&
      off + size <= mem.u32[t + 1] && special !== undefined
    ) {
      const v = special.load(off, size);
      let lo: number, hi: number;
      if (typeof v === "bigint") {
        const u = BigInt.asUintN(size * 8, v);
        lo = Number(u & 0xffffffffn) | 0;
        hi = Number(u >> 32n) | 0;
      } else {
        lo = v | 0;
        // 8-byte fields, and 4-byte pointer fields (which are whole addresses).
        hi = size >= 4 ? Math.floor(v / TAG_SCALE) | 0 : 0;
        if (size < 4) lo &= size === 1 ? 0xff : 0xffff;
      }
      st.scratchHi = hi;
      return lo;
    }
  }
  throw withProgram(mem.fault(tag * TAG_SCALE + off, size, false, pc), st);
}

/** Store to a special region, or the fault. */
function slowStore(
  st: RunState,
  al: number,
  ah: number,
  size: number,
  vlo: number,
  vhi: number,
  pc: number,
): void {
  const mem = st.mem;
  const tag = ah >>> 0, off = al >>> 0;
  if (tag > 0 && tag < MAX_REGIONS) {
    const t = TW + (tag << ENTRY_SHIFT);
    const flags = mem.u32[t + 2];
    const special = mem.special(tag);
    if (
      (flags & (REGION_SPECIAL | REGION_WRITE)) === (REGION_SPECIAL | REGION_WRITE) &&
      off + size <= mem.u32[t + 1] && special !== undefined
    ) {
      const lo = size === 1 ? vlo & 0xff : size === 2 ? vlo & 0xffff : vlo >>> 0;
      if (special.store(off, size, lo, size === 8 ? vhi >>> 0 : 0)) return;
    }
  }
  throw withProgram(mem.fault(tag * TAG_SCALE + off, size, true, pc), st);
}

/** `err` with the running program's name filled in. */
function withProgram(err: VmError, st: RunState): VmError {
  if (err.program !== undefined) return err;
  return new VmError(err.code, err.detail, {
    pc: err.pc,
    program: st.code.name,
    address: err.address,
    size: err.size,
    region: err.region,
    errnoName: err.errnoName,
  });
}

/** The atomic operations and load-acquire / store-release (`BPF_STX | BPF_ATOMIC`). */
function atomic(
  st: RunState,
  lo: Int32Array,
  hi: Int32Array,
  w: number,
  off: number,
  imm: number,
  pc: number,
): void {
  const mem = st.mem;
  const r = (w >>> 8) & 15, s = (w >>> 12) & 15;
  const sz = w & 0x18;
  const size = sz === 0x18 ? 8 : sz === 0x00 ? 4 : sz === 0x08 ? 2 : 1;
  const b = imm === 0x100 ? s : r;
  const a = lo[b], al = (a + off) | 0;
  const ah = (hi[b] + (off >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
  if (imm === 0x100) { // load-acquire: dst = *(src + off)
    const at = xlate(mem.u32, al, ah, size, REGION_READ);
    let vlo: number, vhi = 0;
    if (at >= 0) {
      const dv = mem.dv;
      vlo = size === 1 ? mem.u8[at] : size === 2 ? dv.getUint16(at, true) : dv.getInt32(at, true);
      if (size === 8) vhi = dv.getInt32(at + 4, true);
    } else {
      vlo = slowLoad(st, al, ah, size, pc);
      vhi = size === 8 ? st.scratchHi : 0;
    }
    lo[r] = vlo;
    hi[r] = vhi;
    return;
  }
  if (imm === 0x110) { // store-release: *(dst + off) = src
    const at = xlate(mem.u32, al, ah, size, REGION_WRITE);
    if (at < 0) return slowStore(st, al, ah, size, lo[s], hi[s], pc);
    const dv = mem.dv;
    if (size === 1) mem.u8[at] = lo[s];
    else if (size === 2) dv.setInt16(at, lo[s], true);
    else dv.setInt32(at, lo[s], true);
    if (size === 8) dv.setInt32(at + 4, hi[s], true);
    return;
  }
  const at = xlate(mem.u32, al, ah, size, REGION_READ | REGION_WRITE);
  if (at < 0) {
    const address = (ah >>> 0) * TAG_SCALE + (al >>> 0);
    const writable = xlate(mem.u32, al, ah, size, REGION_WRITE) >= 0;
    throw withProgram(mem.fault(address, size, !writable, pc), st);
  }
  const dv = mem.dv;
  const op = imm & 0xf0;
  const oldLo = dv.getInt32(at, true);
  const oldHi = size === 8 ? dv.getInt32(at + 4, true) : 0;
  const vlo = lo[s], vhi = size === 8 ? hi[s] : 0;
  let nlo: number, nhi: number;
  switch (op) {
    case 0x00: // add
      nlo = (oldLo + vlo) | 0;
      nhi = (oldHi + vhi + ((nlo >>> 0) < (oldLo >>> 0) ? 1 : 0)) | 0;
      break;
    case 0x40:
      nlo = oldLo | vlo, nhi = oldHi | vhi;
      break;
    case 0x50:
      nlo = oldLo & vlo, nhi = oldHi & vhi;
      break;
    case 0xa0:
      nlo = oldLo ^ vlo, nhi = oldHi ^ vhi;
      break;
    case 0xe0: // xchg
      nlo = vlo, nhi = vhi;
      break;
    default: { // cmpxchg: compare with r0 (its low word for W), r0 = old either way
      const eq = lo[0] === oldLo && (size === 4 || hi[0] === oldHi);
      nlo = eq ? vlo : oldLo;
      nhi = eq ? vhi : oldHi;
      lo[0] = oldLo;
      hi[0] = oldHi;
      break;
    }
  }
  dv.setInt32(at, nlo, true);
  if (size === 8) dv.setInt32(at + 4, nhi, true);
  if ((imm & 1) !== 0 && op !== 0xf0) {
    lo[s] = oldLo;
    hi[s] = oldHi;
  }
}

/** Call the helper of the call at `pc`; returns the tail call it asked for, if any. */
function callHelper(
  st: RunState,
  prog: Decoded,
  pc: number,
  lo: Int32Array,
  hi: Int32Array,
): VmProgramHandle | undefined {
  const helper = prog.helpers[pc];
  if (helper === undefined) {
    throw new VmError("VM_BAD_PROGRAM", `pc ${pc}: no helper for this call`, {
      pc,
      program: prog.code.name,
    });
  }
  const u32 = st.mem.u32;
  const a = ARGS_BASE >>> 2;
  for (let n = 1; n <= 5; n++) {
    u32[a + 2 * n] = lo[n];
    u32[a + 2 * n + 1] = hi[n];
  }
  st.pc = pc;
  st.code = prog.code;
  st.pendingTail = undefined;
  let v: number | bigint;
  try {
    v = helper.call(st);
  } catch (err) {
    if (err instanceof VmError) throw err;
    throw new VmError(
      "VM_HELPER",
      `pc ${pc}: helper ${helper.name} failed: ${err instanceof Error ? err.message : String(err)}`,
      { pc, program: prog.code.name, cause: err },
    );
  }
  if (typeof v === "bigint") {
    const u = BigInt.asUintN(64, v);
    lo[0] = Number(u & 0xffffffffn) | 0;
    hi[0] = Number(u >> 32n) | 0;
  } else {
    lo[0] = v | 0;
    hi[0] = Math.floor(v / TAG_SCALE) | 0;
  }
  const tail = st.pendingTail;
  st.pendingTail = undefined;
  return tail;
}

/** The state of one run, which is also the {@link HelperEnv} helpers see. */
class RunState implements HelperEnv {
  readonly mem: VmMemory;
  readonly runtime: VmRuntime;
  code: VmCode;
  pc = 0;
  steps = 0;
  budget = 0;
  tailCalls = 0;
  pendingTail: VmProgramHandle | undefined = undefined;
  ctxLo = 0;
  ctxHi = 0;
  mayGoto = MAY_GOTO_LIMIT;
  scratchHi = 0;
  r0lo = 0;
  r0hi = 0;
  level = 0;
  busy = false;
  readonly pool: Regs[] = [];

  constructor(runtime: VmRuntime, code: VmCode) {
    this.runtime = runtime;
    this.mem = runtime.mem;
    this.code = code;
  }

  arg(n: number): number {
    const w = (ARGS_BASE >>> 2) + 2 * n;
    return this.mem.u32[w + 1] * TAG_SCALE + this.mem.u32[w];
  }

  argU64(n: number): bigint {
    const w = (ARGS_BASE >>> 2) + 2 * n;
    return (BigInt(this.mem.u32[w + 1]) << 32n) | BigInt(this.mem.u32[w]);
  }

  callback(fn: VmAddress, args: readonly number[]): number {
    const code = this.code;
    const prog = decoded(code);
    const pc = offsetOf(fn);
    if (tagOf(fn) !== code.codeTag || pc >= code.slots || prog.entries[pc] !== 1) {
      throw new VmError(
        "VM_BAD_ACCESS",
        `pc ${this.pc}: callback ${formatAddress(fn)} is not a function of program ${code.name}`,
        { pc: this.pc, program: code.name, address: fn },
      );
    }
    const savedPc = this.pc, savedTail = this.pendingTail;
    this.pendingTail = undefined;
    try {
      execute(this, prog, pc, args);
    } finally {
      this.pc = savedPc;
      this.code = code;
      this.pendingTail = savedTail;
    }
    return this.r0hi * TAG_SCALE + (this.r0lo >>> 0);
  }

  tailCall(target: VmProgramHandle): boolean {
    if (!(target?.code?.code instanceof Int32Array)) {
      throw new VmError(
        "VM_HELPER",
        `pc ${this.pc}: tail call to something that is not a program`,
        {
          pc: this.pc,
          program: this.code.name,
        },
      );
    }
    if (this.tailCalls >= MAX_TAIL_CALLS) return false;
    this.tailCalls++;
    this.pendingTail = target;
    return true;
  }
}

function callDepthError(st: RunState, pc: number): VmError {
  return new VmError(
    "VM_CALL_DEPTH",
    `pc ${pc}: call depth exceeds ${MAX_CALL_DEPTH} frames`,
    { pc, program: st.code.name },
  );
}

/** Run `prog` from `pc` with r1–r5 = `args` on the frame `runtime.depth`; r0 ends in `st.r0lo/hi`. */
function execute(st: RunState, prog: Decoded, pc: number, args: readonly number[]): void {
  const rt = st.runtime;
  const depth = rt.depth;
  if (depth >= MAX_CALL_DEPTH) throw callDepthError(st, pc);
  const level = st.level;
  let regs = st.pool[level];
  if (regs === undefined) {
    regs = {
      lo: new Int32Array(16),
      hi: new Int32Array(16),
      saved: new Int32Array(MAX_CALL_DEPTH * SAVED_WORDS),
      progs: [],
    };
    st.pool[level] = regs;
  }
  regs.lo.fill(0);
  regs.hi.fill(0);
  for (let n = 0; n < 5 && n < args.length; n++) {
    const [l, h] = splitNumber(args[n]);
    regs.lo[n + 1] = l;
    regs.hi[n + 1] = h;
  }
  st.level = level + 1;
  rt.depth = depth + 1;
  try {
    loop(st, regs, prog, pc, depth);
  } finally {
    rt.depth = depth;
    st.level = level;
  }
}

/** Zero stack frame `frame` and point r10 at its top. */
function enterFrame(st: RunState, lo: Int32Array, hi: Int32Array, frame: number): void {
  const tag = st.runtime.frameTags[frame];
  const mem = st.mem;
  const t = TW + (tag << ENTRY_SHIFT);
  const base = mem.u32[t];
  mem.u8.fill(0, base, base + mem.u32[t + 1]);
  lo[10] = STACK_SIZE;
  hi[10] = tag;
}

/** The interpreter loop proper. */
function loop(st: RunState, regs: Regs, prog0: Decoded, pc: number, frame: number): void {
  const rt = st.runtime;
  const mem = st.mem;
  const lo = regs.lo, hi = regs.hi, saved = regs.saved, progs = regs.progs;
  let prog = prog0, d = prog.d;
  let u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
  let steps = st.steps;
  const budget = st.budget;
  let sp = 0;
  enterFrame(st, lo, hi, frame);
  for (;;) {
    const p = pc << 2;
    const w = d[p];
    pc++;
    if (++steps > budget) {
      st.steps = steps - 1;
      throw new VmError(
        "VM_BUDGET",
        `pc ${pc - 1}: instruction budget of ${budget} exhausted`,
        { pc: pc - 1, program: prog.code.name },
      );
    }
    switch (w & 0xff) {
      case 0x07: { // add64 imm
        const r = (w >>> 8) & 15;
        const a = lo[r], x = (a + d[p + 2]) | 0;
        hi[r] = (hi[r] + d[p + 3] + ((x >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        lo[r] = x;
        break;
      }
      case 0x04: { // add32 imm
        const r = (w >>> 8) & 15;
        lo[r] = (lo[r] + d[p + 2]) | 0;
        hi[r] = 0;
        break;
      }
      case 0x17: { // sub64 imm
        const r = (w >>> 8) & 15;
        const a = lo[r], b = d[p + 2];
        hi[r] = (hi[r] - d[p + 3] - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
        lo[r] = (a - b) | 0;
        break;
      }
      case 0x14: { // sub32 imm
        const r = (w >>> 8) & 15;
        lo[r] = (lo[r] - d[p + 2]) | 0;
        hi[r] = 0;
        break;
      }
      case 0x27: { // mul64 imm
        const r = (w >>> 8) & 15;
        const a = lo[r], b = d[p + 2];
        hi[r] = (mulhu(a, b) + Math.imul(a, d[p + 3]) + Math.imul(hi[r], b)) | 0;
        lo[r] = Math.imul(a, b);
        break;
      }
      case 0x24: { // mul32 imm
        const r = (w >>> 8) & 15;
        lo[r] = Math.imul(lo[r], d[p + 2]);
        hi[r] = 0;
        break;
      }
      case 0x37: { // div64 imm
        const r = (w >>> 8) & 15;
        divmod64(lo, hi, r, d[p + 2], d[p + 3], d[p + 1] === 1, false);
        break;
      }
      case 0x34: { // div32 imm
        const r = (w >>> 8) & 15;
        lo[r] = divmod32(lo[r], d[p + 2], d[p + 1] === 1, false);
        hi[r] = 0;
        break;
      }
      case 0x47: { // or64 imm
        const r = (w >>> 8) & 15;
        lo[r] |= d[p + 2];
        hi[r] |= d[p + 3];
        break;
      }
      case 0x44: { // or32 imm
        const r = (w >>> 8) & 15;
        lo[r] = lo[r] | d[p + 2];
        hi[r] = 0;
        break;
      }
      case 0x57: { // and64 imm
        const r = (w >>> 8) & 15;
        lo[r] &= d[p + 2];
        hi[r] &= d[p + 3];
        break;
      }
      case 0x54: { // and32 imm
        const r = (w >>> 8) & 15;
        lo[r] = lo[r] & d[p + 2];
        hi[r] = 0;
        break;
      }
      case 0x67: { // lsh64 imm
        const r = (w >>> 8) & 15;
        lsh64(lo, hi, r, d[p + 2] & 63);
        break;
      }
      case 0x64: { // lsh32 imm
        const r = (w >>> 8) & 15;
        lo[r] = lo[r] << d[p + 2];
        hi[r] = 0;
        break;
      }
      case 0x77: { // rsh64 imm
        const r = (w >>> 8) & 15;
        rsh64(lo, hi, r, d[p + 2] & 63);
        break;
      }
      case 0x74: { // rsh32 imm
        const r = (w >>> 8) & 15;
        lo[r] = lo[r] >>> d[p + 2];
        hi[r] = 0;
        break;
      }
      case 0x87: { // neg64 imm
        const r = (w >>> 8) & 15;
        const a = lo[r];
        hi[r] = (~hi[r] + (a === 0 ? 1 : 0)) | 0;
        lo[r] = -a | 0;
        break;
      }
      case 0x84: { // neg32 imm
        const r = (w >>> 8) & 15;
        lo[r] = -lo[r] | 0;
        hi[r] = 0;
        break;
      }
      case 0x97: { // mod64 imm
        const r = (w >>> 8) & 15;
        divmod64(lo, hi, r, d[p + 2], d[p + 3], d[p + 1] === 1, true);
        break;
      }
      case 0x94: { // mod32 imm
        const r = (w >>> 8) & 15;
        lo[r] = divmod32(lo[r], d[p + 2], d[p + 1] === 1, true);
        hi[r] = 0;
        break;
      }
      case 0xa7: { // xor64 imm
        const r = (w >>> 8) & 15;
        lo[r] ^= d[p + 2];
        hi[r] ^= d[p + 3];
        break;
      }
      case 0xa4: { // xor32 imm
        const r = (w >>> 8) & 15;
        lo[r] = lo[r] ^ d[p + 2];
        hi[r] = 0;
        break;
      }
      case 0xb7: { // mov64 imm
        const r = (w >>> 8) & 15;
        lo[r] = d[p + 2];
        hi[r] = d[p + 3];
        break;
      }
      case 0xb4: { // mov32 imm
        const r = (w >>> 8) & 15;
        lo[r] = d[p + 2];
        hi[r] = 0;
        break;
      }
      case 0xc7: { // arsh64 imm
        const r = (w >>> 8) & 15;
        arsh64(lo, hi, r, d[p + 2] & 63);
        break;
      }
      case 0xc4: { // arsh32 imm
        const r = (w >>> 8) & 15;
        lo[r] = lo[r] >> d[p + 2];
        hi[r] = 0;
        break;
      }
      case 0xd7: { // end64 imm
        const r = (w >>> 8) & 15;
        end(lo, hi, r, d[p + 2], true);
        break;
      }
      case 0xd4: { // end32 imm
        const r = (w >>> 8) & 15;
        end(lo, hi, r, d[p + 2], false);
        break;
      }
      case 0x0f: { // add64 reg
        const r = (w >>> 8) & 15;
        const a = lo[r], x = (a + lo[(w >>> 12) & 15]) | 0;
        hi[r] = (hi[r] + hi[(w >>> 12) & 15] + ((x >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        lo[r] = x;
        break;
      }
      case 0x0c: { // add32 reg
        const r = (w >>> 8) & 15;
        lo[r] = (lo[r] + lo[(w >>> 12) & 15]) | 0;
        hi[r] = 0;
        break;
      }
      case 0x1f: { // sub64 reg
        const r = (w >>> 8) & 15;
        const a = lo[r], b = lo[(w >>> 12) & 15];
        hi[r] = (hi[r] - hi[(w >>> 12) & 15] - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
        lo[r] = (a - b) | 0;
        break;
      }
      case 0x1c: { // sub32 reg
        const r = (w >>> 8) & 15;
        lo[r] = (lo[r] - lo[(w >>> 12) & 15]) | 0;
        hi[r] = 0;
        break;
      }
      case 0x2f: { // mul64 reg
        const r = (w >>> 8) & 15;
        const a = lo[r], b = lo[(w >>> 12) & 15];
        hi[r] = (mulhu(a, b) + Math.imul(a, hi[(w >>> 12) & 15]) + Math.imul(hi[r], b)) | 0;
        lo[r] = Math.imul(a, b);
        break;
      }
      case 0x2c: { // mul32 reg
        const r = (w >>> 8) & 15;
        lo[r] = Math.imul(lo[r], lo[(w >>> 12) & 15]);
        hi[r] = 0;
        break;
      }
      case 0x3f: { // div64 reg
        const r = (w >>> 8) & 15;
        divmod64(lo, hi, r, lo[(w >>> 12) & 15], hi[(w >>> 12) & 15], d[p + 1] === 1, false);
        break;
      }
      case 0x3c: { // div32 reg
        const r = (w >>> 8) & 15;
        lo[r] = divmod32(lo[r], lo[(w >>> 12) & 15], d[p + 1] === 1, false);
        hi[r] = 0;
        break;
      }
      case 0x4f: { // or64 reg
        const r = (w >>> 8) & 15;
        lo[r] |= lo[(w >>> 12) & 15];
        hi[r] |= hi[(w >>> 12) & 15];
        break;
      }
      case 0x4c: { // or32 reg
        const r = (w >>> 8) & 15;
        lo[r] = lo[r] | lo[(w >>> 12) & 15];
        hi[r] = 0;
        break;
      }
      case 0x5f: { // and64 reg
        const r = (w >>> 8) & 15;
        lo[r] &= lo[(w >>> 12) & 15];
        hi[r] &= hi[(w >>> 12) & 15];
        break;
      }
      case 0x5c: { // and32 reg
        const r = (w >>> 8) & 15;
        lo[r] = lo[r] & lo[(w >>> 12) & 15];
        hi[r] = 0;
        break;
      }
      case 0x6f: { // lsh64 reg
        const r = (w >>> 8) & 15;
        lsh64(lo, hi, r, lo[(w >>> 12) & 15] & 63);
        break;
      }
      case 0x6c: { // lsh32 reg
        const r = (w >>> 8) & 15;
        lo[r] = lo[r] << lo[(w >>> 12) & 15];
        hi[r] = 0;
        break;
      }
      case 0x7f: { // rsh64 reg
        const r = (w >>> 8) & 15;
        rsh64(lo, hi, r, lo[(w >>> 12) & 15] & 63);
        break;
      }
      case 0x7c: { // rsh32 reg
        const r = (w >>> 8) & 15;
        lo[r] = lo[r] >>> lo[(w >>> 12) & 15];
        hi[r] = 0;
        break;
      }
      case 0x9f: { // mod64 reg
        const r = (w >>> 8) & 15;
        divmod64(lo, hi, r, lo[(w >>> 12) & 15], hi[(w >>> 12) & 15], d[p + 1] === 1, true);
        break;
      }
      case 0x9c: { // mod32 reg
        const r = (w >>> 8) & 15;
        lo[r] = divmod32(lo[r], lo[(w >>> 12) & 15], d[p + 1] === 1, true);
        hi[r] = 0;
        break;
      }
      case 0xaf: { // xor64 reg
        const r = (w >>> 8) & 15;
        lo[r] ^= lo[(w >>> 12) & 15];
        hi[r] ^= hi[(w >>> 12) & 15];
        break;
      }
      case 0xac: { // xor32 reg
        const r = (w >>> 8) & 15;
        lo[r] = lo[r] ^ lo[(w >>> 12) & 15];
        hi[r] = 0;
        break;
      }
      case 0xbf: { // mov64 reg
        const r = (w >>> 8) & 15;
        const s = (w >>> 12) & 15;
        lo[r] = lo[s];
        hi[r] = hi[s];
        break;
      }
      case 0xbc: { // mov32 reg
        const r = (w >>> 8) & 15;
        lo[r] = lo[(w >>> 12) & 15];
        hi[r] = 0;
        break;
      }
      case 0xcf: { // arsh64 reg
        const r = (w >>> 8) & 15;
        arsh64(lo, hi, r, lo[(w >>> 12) & 15] & 63);
        break;
      }
      case 0xcc: { // arsh32 reg
        const r = (w >>> 8) & 15;
        lo[r] = lo[r] >> lo[(w >>> 12) & 15];
        hi[r] = 0;
        break;
      }
      case 0xdc: { // end32 reg
        const r = (w >>> 8) & 15;
        end(lo, hi, r, d[p + 2], true);
        break;
      }
      case 0x15: { // jeq imm
        const r = (w >>> 8) & 15;
        if (lo[r] === d[p + 2] && hi[r] === d[p + 3]) pc = d[p + 1];
        break;
      }
      case 0x16: { // jeq32 imm
        const r = (w >>> 8) & 15;
        if (lo[r] === d[p + 2]) pc = d[p + 1];
        break;
      }
      case 0x25: { // jgt imm
        const r = (w >>> 8) & 15;
        const ah = hi[r] >>> 0, bh = d[p + 3] >>> 0;
        if (ah > bh || (ah === bh && (lo[r] >>> 0) > (d[p + 2] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0x26: { // jgt32 imm
        const r = (w >>> 8) & 15;
        if ((lo[r] >>> 0) > (d[p + 2] >>> 0)) pc = d[p + 1];
        break;
      }
      case 0x35: { // jge imm
        const r = (w >>> 8) & 15;
        const ah = hi[r] >>> 0, bh = d[p + 3] >>> 0;
        if (ah > bh || (ah === bh && (lo[r] >>> 0) >= (d[p + 2] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0x36: { // jge32 imm
        const r = (w >>> 8) & 15;
        if ((lo[r] >>> 0) >= (d[p + 2] >>> 0)) pc = d[p + 1];
        break;
      }
      case 0x45: { // jset imm
        const r = (w >>> 8) & 15;
        if ((lo[r] & d[p + 2]) !== 0 || (hi[r] & d[p + 3]) !== 0) pc = d[p + 1];
        break;
      }
      case 0x46: { // jset32 imm
        const r = (w >>> 8) & 15;
        if ((lo[r] & d[p + 2]) !== 0) pc = d[p + 1];
        break;
      }
      case 0x55: { // jne imm
        const r = (w >>> 8) & 15;
        if (lo[r] !== d[p + 2] || hi[r] !== d[p + 3]) pc = d[p + 1];
        break;
      }
      case 0x56: { // jne32 imm
        const r = (w >>> 8) & 15;
        if (lo[r] !== d[p + 2]) pc = d[p + 1];
        break;
      }
      case 0x65: { // jsgt imm
        const r = (w >>> 8) & 15;
        const ah = hi[r], bh = d[p + 3];
        if (ah > bh || (ah === bh && (lo[r] >>> 0) > (d[p + 2] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0x66: { // jsgt32 imm
        const r = (w >>> 8) & 15;
        if (lo[r] > d[p + 2]) pc = d[p + 1];
        break;
      }
      case 0x75: { // jsge imm
        const r = (w >>> 8) & 15;
        const ah = hi[r], bh = d[p + 3];
        if (ah > bh || (ah === bh && (lo[r] >>> 0) >= (d[p + 2] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0x76: { // jsge32 imm
        const r = (w >>> 8) & 15;
        if (lo[r] >= d[p + 2]) pc = d[p + 1];
        break;
      }
      case 0xa5: { // jlt imm
        const r = (w >>> 8) & 15;
        const ah = hi[r] >>> 0, bh = d[p + 3] >>> 0;
        if (ah < bh || (ah === bh && (lo[r] >>> 0) < (d[p + 2] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0xa6: { // jlt32 imm
        const r = (w >>> 8) & 15;
        if ((lo[r] >>> 0) < (d[p + 2] >>> 0)) pc = d[p + 1];
        break;
      }
      case 0xb5: { // jle imm
        const r = (w >>> 8) & 15;
        const ah = hi[r] >>> 0, bh = d[p + 3] >>> 0;
        if (ah < bh || (ah === bh && (lo[r] >>> 0) <= (d[p + 2] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0xb6: { // jle32 imm
        const r = (w >>> 8) & 15;
        if ((lo[r] >>> 0) <= (d[p + 2] >>> 0)) pc = d[p + 1];
        break;
      }
      case 0xc5: { // jslt imm
        const r = (w >>> 8) & 15;
        const ah = hi[r], bh = d[p + 3];
        if (ah < bh || (ah === bh && (lo[r] >>> 0) < (d[p + 2] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0xc6: { // jslt32 imm
        const r = (w >>> 8) & 15;
        if (lo[r] < d[p + 2]) pc = d[p + 1];
        break;
      }
      case 0xd5: { // jsle imm
        const r = (w >>> 8) & 15;
        const ah = hi[r], bh = d[p + 3];
        if (ah < bh || (ah === bh && (lo[r] >>> 0) <= (d[p + 2] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0xd6: { // jsle32 imm
        const r = (w >>> 8) & 15;
        if (lo[r] <= d[p + 2]) pc = d[p + 1];
        break;
      }
      case 0x1d: { // jeq reg
        const r = (w >>> 8) & 15;
        if (lo[r] === lo[(w >>> 12) & 15] && hi[r] === hi[(w >>> 12) & 15]) pc = d[p + 1];
        break;
      }
      case 0x1e: { // jeq32 reg
        const r = (w >>> 8) & 15;
        if (lo[r] === lo[(w >>> 12) & 15]) pc = d[p + 1];
        break;
      }
      case 0x2d: { // jgt reg
        const r = (w >>> 8) & 15;
        const ah = hi[r] >>> 0, bh = hi[(w >>> 12) & 15] >>> 0;
        if (ah > bh || (ah === bh && (lo[r] >>> 0) > (lo[(w >>> 12) & 15] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0x2e: { // jgt32 reg
        const r = (w >>> 8) & 15;
        if ((lo[r] >>> 0) > (lo[(w >>> 12) & 15] >>> 0)) pc = d[p + 1];
        break;
      }
      case 0x3d: { // jge reg
        const r = (w >>> 8) & 15;
        const ah = hi[r] >>> 0, bh = hi[(w >>> 12) & 15] >>> 0;
        if (ah > bh || (ah === bh && (lo[r] >>> 0) >= (lo[(w >>> 12) & 15] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0x3e: { // jge32 reg
        const r = (w >>> 8) & 15;
        if ((lo[r] >>> 0) >= (lo[(w >>> 12) & 15] >>> 0)) pc = d[p + 1];
        break;
      }
      case 0x4d: { // jset reg
        const r = (w >>> 8) & 15;
        if ((lo[r] & lo[(w >>> 12) & 15]) !== 0 || (hi[r] & hi[(w >>> 12) & 15]) !== 0) {
          pc = d[p + 1];
        }
        break;
      }
      case 0x4e: { // jset32 reg
        const r = (w >>> 8) & 15;
        if ((lo[r] & lo[(w >>> 12) & 15]) !== 0) pc = d[p + 1];
        break;
      }
      case 0x5d: { // jne reg
        const r = (w >>> 8) & 15;
        if (lo[r] !== lo[(w >>> 12) & 15] || hi[r] !== hi[(w >>> 12) & 15]) pc = d[p + 1];
        break;
      }
      case 0x5e: { // jne32 reg
        const r = (w >>> 8) & 15;
        if (lo[r] !== lo[(w >>> 12) & 15]) pc = d[p + 1];
        break;
      }
      case 0x6d: { // jsgt reg
        const r = (w >>> 8) & 15;
        const ah = hi[r], bh = hi[(w >>> 12) & 15];
        if (ah > bh || (ah === bh && (lo[r] >>> 0) > (lo[(w >>> 12) & 15] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0x6e: { // jsgt32 reg
        const r = (w >>> 8) & 15;
        if (lo[r] > lo[(w >>> 12) & 15]) pc = d[p + 1];
        break;
      }
      case 0x7d: { // jsge reg
        const r = (w >>> 8) & 15;
        const ah = hi[r], bh = hi[(w >>> 12) & 15];
        if (ah > bh || (ah === bh && (lo[r] >>> 0) >= (lo[(w >>> 12) & 15] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0x7e: { // jsge32 reg
        const r = (w >>> 8) & 15;
        if (lo[r] >= lo[(w >>> 12) & 15]) pc = d[p + 1];
        break;
      }
      case 0xad: { // jlt reg
        const r = (w >>> 8) & 15;
        const ah = hi[r] >>> 0, bh = hi[(w >>> 12) & 15] >>> 0;
        if (ah < bh || (ah === bh && (lo[r] >>> 0) < (lo[(w >>> 12) & 15] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0xae: { // jlt32 reg
        const r = (w >>> 8) & 15;
        if ((lo[r] >>> 0) < (lo[(w >>> 12) & 15] >>> 0)) pc = d[p + 1];
        break;
      }
      case 0xbd: { // jle reg
        const r = (w >>> 8) & 15;
        const ah = hi[r] >>> 0, bh = hi[(w >>> 12) & 15] >>> 0;
        if (ah < bh || (ah === bh && (lo[r] >>> 0) <= (lo[(w >>> 12) & 15] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0xbe: { // jle32 reg
        const r = (w >>> 8) & 15;
        if ((lo[r] >>> 0) <= (lo[(w >>> 12) & 15] >>> 0)) pc = d[p + 1];
        break;
      }
      case 0xcd: { // jslt reg
        const r = (w >>> 8) & 15;
        const ah = hi[r], bh = hi[(w >>> 12) & 15];
        if (ah < bh || (ah === bh && (lo[r] >>> 0) < (lo[(w >>> 12) & 15] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0xce: { // jslt32 reg
        const r = (w >>> 8) & 15;
        if (lo[r] < lo[(w >>> 12) & 15]) pc = d[p + 1];
        break;
      }
      case 0xdd: { // jsle reg
        const r = (w >>> 8) & 15;
        const ah = hi[r], bh = hi[(w >>> 12) & 15];
        if (ah < bh || (ah === bh && (lo[r] >>> 0) <= (lo[(w >>> 12) & 15] >>> 0))) pc = d[p + 1];
        break;
      }
      case 0xde: { // jsle32 reg
        const r = (w >>> 8) & 15;
        if (lo[r] <= lo[(w >>> 12) & 15]) pc = d[p + 1];
        break;
      }
      case 0xef: { // movsx64 (decoded from mov64 reg with an offset)
        movsx(lo, hi, (w >>> 8) & 15, lo[(w >>> 12) & 15], d[p + 1], false);
        break;
      }
      case 0xec: { // movsx32 (decoded from mov32 reg with an offset)
        movsx(lo, hi, (w >>> 8) & 15, lo[(w >>> 12) & 15], d[p + 1], true);
        break;
      }
      // ---- memory
      case 0x61: { // ldxw
        const b = (w >>> 12) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_READ | REGION_SPECIAL)) === REGION_READ &&
            off + 4 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 4 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        const r = (w >>> 8) & 15;
        if (at >= 0) {
          lo[r] = dv.getInt32(at, true);
          hi[r] = 0;
        } else {
          // A context's pointer fields (xdp_md.data …) load as whole
          // pointers, as the kernel's context rewriting makes them.
          lo[r] = slowLoad(st, al, ah, 4, pc - 1);
          hi[r] = st.scratchHi;
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        break;
      }
      case 0x81: { // ldsxw
        const b = (w >>> 12) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_READ | REGION_SPECIAL)) === REGION_READ &&
            off + 4 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 4 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        const r = (w >>> 8) & 15;
        let v: number;
        if (at >= 0) v = dv.getInt32(at, true);
        else {
          v = slowLoad(st, al, ah, 4, pc - 1);
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        lo[r] = v;
        hi[r] = v >> 31;
        break;
      }
      case 0x62: { // stw
        const b = (w >>> 8) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_WRITE | REGION_SPECIAL)) === REGION_WRITE &&
            off + 4 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 4 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        if (at >= 0) dv.setInt32(at, d[p + 2], true);
        else {
          slowStore(st, al, ah, 4, d[p + 2], d[p + 3], pc - 1);
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        break;
      }
      case 0x63: { // stxw
        const b = (w >>> 8) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_WRITE | REGION_SPECIAL)) === REGION_WRITE &&
            off + 4 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 4 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        if (at >= 0) dv.setInt32(at, lo[(w >>> 12) & 15], true);
        else {
          slowStore(st, al, ah, 4, lo[(w >>> 12) & 15], hi[(w >>> 12) & 15], pc - 1);
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        break;
      }
      case 0x69: { // ldxh
        const b = (w >>> 12) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_READ | REGION_SPECIAL)) === REGION_READ &&
            off + 2 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 2 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        const r = (w >>> 8) & 15;
        if (at >= 0) lo[r] = dv.getUint16(at, true);
        else {
          lo[r] = slowLoad(st, al, ah, 2, pc - 1);
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        hi[r] = 0;
        break;
      }
      case 0x89: { // ldsxh
        const b = (w >>> 12) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_READ | REGION_SPECIAL)) === REGION_READ &&
            off + 2 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 2 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        const r = (w >>> 8) & 15;
        let v: number;
        if (at >= 0) v = dv.getInt16(at, true);
        else {
          v = slowLoad(st, al, ah, 2, pc - 1);
          v = (v << 16) >> 16;
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        lo[r] = v;
        hi[r] = v >> 31;
        break;
      }
      case 0x6a: { // sth
        const b = (w >>> 8) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_WRITE | REGION_SPECIAL)) === REGION_WRITE &&
            off + 2 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 2 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        if (at >= 0) dv.setInt16(at, d[p + 2], true);
        else {
          slowStore(st, al, ah, 2, d[p + 2], d[p + 3], pc - 1);
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        break;
      }
      case 0x6b: { // stxh
        const b = (w >>> 8) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_WRITE | REGION_SPECIAL)) === REGION_WRITE &&
            off + 2 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 2 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        if (at >= 0) dv.setInt16(at, lo[(w >>> 12) & 15], true);
        else {
          slowStore(st, al, ah, 2, lo[(w >>> 12) & 15], hi[(w >>> 12) & 15], pc - 1);
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        break;
      }
      case 0x71: { // ldxb
        const b = (w >>> 12) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_READ | REGION_SPECIAL)) === REGION_READ &&
            off + 1 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 1 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        const r = (w >>> 8) & 15;
        if (at >= 0) lo[r] = u8[at];
        else {
          lo[r] = slowLoad(st, al, ah, 1, pc - 1);
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        hi[r] = 0;
        break;
      }
      case 0x91: { // ldsxb
        const b = (w >>> 12) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_READ | REGION_SPECIAL)) === REGION_READ &&
            off + 1 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 1 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        const r = (w >>> 8) & 15;
        let v: number;
        if (at >= 0) v = (u8[at] << 24) >> 24;
        else {
          v = slowLoad(st, al, ah, 1, pc - 1);
          v = (v << 24) >> 24;
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        lo[r] = v;
        hi[r] = v >> 31;
        break;
      }
      case 0x72: { // stb
        const b = (w >>> 8) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_WRITE | REGION_SPECIAL)) === REGION_WRITE &&
            off + 1 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 1 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        if (at >= 0) u8[at] = d[p + 2];
        else {
          slowStore(st, al, ah, 1, d[p + 2], d[p + 3], pc - 1);
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        break;
      }
      case 0x73: { // stxb
        const b = (w >>> 8) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_WRITE | REGION_SPECIAL)) === REGION_WRITE &&
            off + 1 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 1 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        if (at >= 0) u8[at] = lo[(w >>> 12) & 15];
        else {
          slowStore(st, al, ah, 1, lo[(w >>> 12) & 15], hi[(w >>> 12) & 15], pc - 1);
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        break;
      }
      case 0x79: { // ldxdw
        const b = (w >>> 12) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_READ | REGION_SPECIAL)) === REGION_READ &&
            off + 8 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 8 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        const r = (w >>> 8) & 15;
        if (at >= 0) {
          lo[r] = dv.getInt32(at, true);
          hi[r] = dv.getInt32(at + 4, true);
        } else {
          lo[r] = slowLoad(st, al, ah, 8, pc - 1);
          hi[r] = st.scratchHi;
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        break;
      }
      case 0x7a: { // stdw
        const b = (w >>> 8) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_WRITE | REGION_SPECIAL)) === REGION_WRITE &&
            off + 8 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 8 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        if (at >= 0) {
          dv.setInt32(at, d[p + 2], true);
          dv.setInt32(at + 4, d[p + 3], true);
        } else {
          slowStore(st, al, ah, 8, d[p + 2], d[p + 3], pc - 1);
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        break;
      }
      case 0x7b: { // stxdw
        const b = (w >>> 8) & 15, o = d[p + 1], a = lo[b], al = (a + o) | 0;
        const ah = (hi[b] + (o >> 31) + ((al >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
        const t = TW + (ah << ENTRY_SHIFT), off = al >>> 0, fl = u32[t + 2];
        const at = ((ah - 1) >>> 0) < MAX_REGIONS - 1 &&
            (fl & (REGION_WRITE | REGION_SPECIAL)) === REGION_WRITE &&
            off + 8 <= u32[t + 1] &&
            ((fl & REGION_STRIDED) === 0 || (off % u32[t + 3]) + 8 <= u32[t + 4])
          ? u32[t] + off
          : -1;
        if (at >= 0) {
          dv.setInt32(at, lo[(w >>> 12) & 15], true);
          dv.setInt32(at + 4, hi[(w >>> 12) & 15], true);
        } else {
          slowStore(st, al, ah, 8, lo[(w >>> 12) & 15], hi[(w >>> 12) & 15], pc - 1);
          u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        }
        break;
      }
      case 0x18: { // ld_imm64
        const r = (w >>> 8) & 15;
        lo[r] = d[p + 2];
        hi[r] = d[p + 3];
        pc++;
        break;
      }
      case 0x05: // ja
      case 0x06: // gotol
        pc = d[p + 1];
        break;
      case 0xe5: // may_goto
        if (st.mayGoto === 0) pc = d[p + 1];
        else st.mayGoto--;
        break;
      case 0x85: { // call
        if (((w >>> 12) & 15) === 1) {
          if (rt.depth >= MAX_CALL_DEPTH) throw callDepthError(st, pc - 1);
          sp = pushFrame(saved, progs, sp, lo, hi, pc, prog);
          enterFrame(st, lo, hi, rt.depth++);
          u8 = mem.u8;
          pc = d[p + 1];
          break;
        }
        st.steps = steps;
        const tail = callHelper(st, prog, pc - 1, lo, hi);
        u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        steps = st.steps;
        if (tail !== undefined) {
          prog = decoded(tail.code);
          d = prog.d;
          pc = 0;
          lo[1] = st.ctxLo;
          hi[1] = st.ctxHi;
          enterFrame(st, lo, hi, rt.depth - 1);
        }
        break;
      }
      case 0x8d: { // callx
        const r = (w >>> 8) & 15;
        const to = lo[r] >>> 0;
        if (
          (hi[r] >>> 0) !== prog.code.codeTag || to >= prog.code.slots || prog.entries[to] !== 1
        ) {
          const address = (hi[r] >>> 0) * TAG_SCALE + to;
          throw new VmError(
            "VM_BAD_ACCESS",
            `pc ${pc - 1}: callx to ${
              formatAddress(address)
            }, which is not a function of program ${prog.code.name}`,
            { pc: pc - 1, program: prog.code.name, address },
          );
        }
        if (rt.depth >= MAX_CALL_DEPTH) throw callDepthError(st, pc - 1);
        sp = pushFrame(saved, progs, sp, lo, hi, pc, prog);
        enterFrame(st, lo, hi, rt.depth++);
        u8 = mem.u8;
        pc = to;
        break;
      }
      case 0x95: { // exit
        if (sp === 0) {
          st.steps = steps;
          st.r0lo = lo[0];
          st.r0hi = hi[0];
          return;
        }
        sp--;
        const q = sp * SAVED_WORDS;
        lo[6] = saved[q], hi[6] = saved[q + 1], lo[7] = saved[q + 2], hi[7] = saved[q + 3];
        lo[8] = saved[q + 4], hi[8] = saved[q + 5], lo[9] = saved[q + 6], hi[9] = saved[q + 7];
        lo[10] = saved[q + 8], hi[10] = saved[q + 9];
        pc = saved[q + 10];
        prog = progs[sp];
        d = prog.d;
        rt.depth--;
        break;
      }
      case 0xc3: // atomic w
      case 0xdb: // atomic dw
      case 0xd3: // load-acquire / store-release b
      case 0xcb: // load-acquire / store-release h
        st.code = prog.code;
        atomic(st, lo, hi, w, d[p + 1], d[p + 2], pc - 1);
        u8 = mem.u8, dv = mem.dv, u32 = mem.u32;
        break;
      default:
        throw new VmError(
          "VM_BAD_PROGRAM",
          `pc ${pc - 1}: unknown opcode 0x${(w & 0xff).toString(16)}`,
          { pc: pc - 1, program: prog.code.name },
        );
    }
  }
}

/** Save r6–r10 and the return pc for a bpf-to-bpf call; returns the new call stack height. */
function pushFrame(
  saved: Int32Array,
  progs: Decoded[],
  sp: number,
  lo: Int32Array,
  hi: Int32Array,
  pc: number,
  prog: Decoded,
): number {
  const q = sp * SAVED_WORDS;
  saved[q] = lo[6], saved[q + 1] = hi[6], saved[q + 2] = lo[7], saved[q + 3] = hi[7];
  saved[q + 4] = lo[8], saved[q + 5] = hi[8], saved[q + 6] = lo[9], saved[q + 7] = hi[9];
  saved[q + 8] = lo[10], saved[q + 9] = hi[10];
  saved[q + 10] = pc;
  progs[sp] = prog;
  return sp + 1;
}

/** An {@link Executor} interpreting `code`. */
class Interpreter implements Executor {
  readonly #runtime: VmRuntime;
  readonly #prog: Decoded;
  readonly #state: RunState;

  constructor(runtime: VmRuntime, code: VmCode) {
    this.#runtime = runtime;
    this.#prog = decoded(code);
    this.#state = new RunState(runtime, code);
  }

  run(args: readonly number[], options: ExecOptions = {}): ExecResult {
    const code = this.#prog.code;
    const budget = options.budget ?? this.#runtime.options.budget ?? DEFAULT_BUDGET;
    if (typeof budget !== "number" || !(budget >= 0)) {
      throw new VmError("VM_BAD_RUN", `budget must be a non-negative number, not ${budget}`, {
        program: code.name,
      });
    }
    for (const a of args) {
      if (typeof a !== "number" || !Number.isSafeInteger(a)) {
        throw new VmError("VM_BAD_RUN", `argument ${a} is not an integer below 2^53`, {
          program: code.name,
        });
      }
    }
    // Re-entry (a helper running this program again) gets a state of its own.
    const st = this.#state.busy ? new RunState(this.#runtime, code) : this.#state;
    st.busy = true;
    st.code = code;
    st.steps = 0;
    st.budget = budget;
    st.tailCalls = 0;
    st.pendingTail = undefined;
    st.mayGoto = MAY_GOTO_LIMIT;
    const [ctxLo, ctxHi] = splitNumber(args[0] ?? 0);
    st.ctxLo = ctxLo | 0;
    st.ctxHi = ctxHi | 0;
    try {
      execute(st, this.#prog, 0, args);
    } finally {
      st.busy = false;
    }
    return { lo: st.r0lo >>> 0, hi: st.r0hi >>> 0, steps: st.steps };
  }
}

/** An {@link Executor} that interprets `code` against `runtime`. */
export function createInterpreter(runtime: VmRuntime, code: VmCode): Executor {
  return new Interpreter(runtime, code);
}
