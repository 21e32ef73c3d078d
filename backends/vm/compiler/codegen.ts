/**
 * BPF → WebAssembly translation of one {@link VmCode}: one wasm function
 * per BPF function, registers as i64 locals, every memory access checked
 * against the arena's region table (with a one-entry cache per direction
 * in locals), the instruction budget charged per basic block.
 *
 * The module imports the arena as its memory, a mutable f64 global with
 * the budget left, and the host functions of {@link HostImports}. It
 * exports `e<k>(depth)` per function entry `k`: r1–r5 come from the
 * argument slots, r0 goes back to slot 0. A tail call replaces the
 * function invocation that made it: the host runs the target in the same
 * frame and its r0 becomes the invocation's result.
 *
 * @module
 */

import { ARGS_BASE, MAX_REGIONS, REGION_ENTRY, SCRATCH_BASE, TABLE_BASE } from "../memory.ts";
import { MAX_CALL_DEPTH, STACK_SIZE, type VmCode } from "../types.ts";
import { type Construct, type FunctionLayout, layoutFunction } from "./cfg.ts";
import { ByteWriter, encodeModule, F64, type FuncDef, I32, I64, VOID } from "./wasm_encoder.ts";

/** Names and order of the host functions a compiled module imports. */
export const HOST_IMPORTS = [
  "fault", // (lo, hi, size, write, pc): throws the access fault
  "budgetShort", // (start, remaining f64): the budget runs out in the block at `start`
  "depthOut", // (pc): throws VM_CALL_DEPTH
  "helper", // (pc, depth) → status
  "sload", // (lo, hi, size, pc): special load into SCRATCH_BASE
  "sstore", // (lo, hi, size, vlo, vhi, pc): special store
  "bad", // (pc, why): throws VM_BAD_PROGRAM
  "callxBad", // (lo, hi, pc): throws for a callx to a non-function
  "runTail", // (depth): runs the pending tail call's target in this frame, r0 into slot 0
  "budgetPending", // (): throws the VM_BUDGET error budgetShort recorded
] as const;

/** `why` codes of the `bad` import. */
export const BAD_OPCODE = 0;
/** `why`: execution fell off the end of a function. */
export const BAD_FALL_OFF = 1;

const F_FAULT = 0, F_BUDGET = 1, F_DEPTH = 2, F_HELPER = 3, F_SLOAD = 4, F_SSTORE = 5;
const F_BAD = 6, F_CALLX_BAD = 7, F_TAIL = 8, F_PENDING = 9, F_XLATE = 10, F_FRAME = 11;
const F_FIRST = 12;
// Globals: imported budget, may_goto counter, short-block limit; then the last translation.
const G_BUDGET = 0, G_MAY_GOTO = 1, G_REM = 2, G_S = 3, G_B = 4, G_E = 5; // G_E…+3: sizes 1,2,4,8

/** `budgetRem` when no block is short of budget. */
export const NOT_SHORT = 0x7fffffff;

// Locals of a BPF function: params r1–r5 (0–4), depth (5), r0 (6), r6–r9 (7–10), then the rest.
const L_R0 = 6, L_R6 = 7, L_R10 = 11, L_BUD = 12, L_A = 13, L_X = 14, L_T1 = 15;
const L_RS = 17, L_RE = 18, L_WS = 22, L_WE = 23; // RE/WE: four each
const L_P = 28, L_TGT = 29, L_D1 = 30, L_TI = 31, L_TJ = 32, L_RB = 33, L_WB = 34;
// r0 and r6–r9 are parameters too: a callee sees the caller's registers, as in the interpreter.
const FN_PARAMS = [I64, I64, I64, I64, I64, I32, I64, I64, I64, I64, I64];
// Results: r0, then r1–r5 as the callee leaves them.
const FN_RESULTS = [I64, I64, I64, I64, I64, I64];
const FN_LOCALS = [
  ...new Array(L_P - L_R10).fill(I64),
  ...new Array(L_WB + 1 - L_P).fill(I32),
];

const SIZE_INDEX: Record<number, number> = { 1: 0, 2: 1, 4: 2, 8: 3 };

function reg(r: number): number {
  if (r === 0) return L_R0;
  if (r <= 5) return r - 1;
  return L_R6 + r - 6;
}

/** What {@link generateModule} produces. */
export interface GeneratedModule {
  /** The module's bytes. */
  bytes: Uint8Array;
  /** Entry pcs of the functions, in export order (`e0`, `e1`, …). */
  entries: readonly number[];
  /** Bytes of the largest function body (engines refuse bodies over {@link MAX_FUNCTION_BYTES}). */
  largestFunction: number;
}

/** The JS API's limit on one function body's size (V8 and JavaScriptCore alike). */
export const MAX_FUNCTION_BYTES = 7_654_321;

/**
 * Translate `code` to a WebAssembly module. `frameTags` are the runtime's
 * stack frame tags, baked in: r10 at depth `d` is `frameTags[d] × 2³² + 512`.
 */
export function generateModule(code: VmCode, frameTags: readonly number[]): GeneratedModule {
  const entries = [...code.functions];
  const funcIndex = new Map<number, number>(entries.map((pc, k) => [pc, F_FIRST + k]));
  const funcs: FuncDef[] = [xlateFunction(), frameFunction(frameTags, STACK_SIZE)];
  entries.forEach((entry, k) => {
    const end = k + 1 < entries.length ? entries[k + 1] : code.slots;
    const layout = layoutFunction(code.code, entry, end);
    funcs.push(new FunctionEmitter(code, layout, funcIndex, entries).emit());
  });
  entries.forEach((_, k) => funcs.push(exportWrapper(F_FIRST + k, `e${k}`)));
  const bytes = encodeModule({
    funcImports: [
      { name: "fault", type: { params: [I32, I32, I32, I32, I32], results: [] } },
      { name: "budgetShort", type: { params: [I32, F64], results: [] } },
      { name: "depthOut", type: { params: [I32], results: [] } },
      { name: "helper", type: { params: [I32, I32], results: [I32] } },
      { name: "sload", type: { params: [I32, I32, I32, I32], results: [] } },
      { name: "sstore", type: { params: [I32, I32, I32, I32, I32, I32], results: [] } },
      { name: "bad", type: { params: [I32, I32], results: [] } },
      { name: "callxBad", type: { params: [I32, I32, I32], results: [] } },
      { name: "runTail", type: { params: [I32], results: [] } },
      { name: "budgetPending", type: { params: [], results: [] } },
    ],
    memoryImport: "memory",
    globalImports: [
      { name: "budget", type: F64, mutable: true },
      { name: "mayGoto", type: I32, mutable: true },
      { name: "budgetRem", type: I32, mutable: true },
    ],
    globals: [
      { type: I64, mutable: true, init: 0 }, // last translation: region start address
      { type: I32, mutable: true, init: 0 }, //   its arena base
      { type: I64, mutable: true, init: 0 }, //   end bounds per access size
      { type: I64, mutable: true, init: 0 },
      { type: I64, mutable: true, init: 0 },
      { type: I64, mutable: true, init: 0 },
    ],
    funcs,
  });
  const largestFunction = Math.max(...funcs.map((f) => f.body.length));
  return { bytes, entries, largestFunction };
}

// Opcode bytes used below.
const OP = {
  unreachable: 0x00,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  brTable: 0x0e,
  return: 0x0f,
  call: 0x10,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  globalGet: 0x23,
  globalSet: 0x24,
  i32Load: 0x28,
  i64Load: 0x29,
  i64Store: 0x37,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32GeU: 0x4f,
  i64Eqz: 0x50,
  i64Eq: 0x51,
  i64Ne: 0x52,
  i64LtS: 0x53,
  i64LtU: 0x54,
  i64GtS: 0x55,
  i64GtU: 0x56,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32And: 0x71,
  i32Or: 0x72,
  i32Shl: 0x74,
  i32ShrU: 0x76,
  i32Rotl: 0x77,
  i32Rotr: 0x78,
  i32RemU: 0x70,
  i64Add: 0x7c,
  i64Sub: 0x7d,
  i64And: 0x83,
  i64Or: 0x84,
  i64Shl: 0x86,
  i64ShrU: 0x88,
  i32WrapI64: 0xa7,
  i64ExtendI32U: 0xad,
  f64ConvertI64S: 0xb9,
} as const;

// BPF ALU op → [i64 opcode, i32 opcode] for the plain binary operations.
const BINARY: Record<number, [number, number]> = {
  0x00: [0x7c, 0x6a], // add
  0x10: [0x7d, 0x6b], // sub
  0x20: [0x7e, 0x6c], // mul
  0x40: [0x84, 0x72], // or
  0x50: [0x83, 0x71], // and
  0x60: [0x86, 0x74], // lsh
  0x70: [0x88, 0x76], // rsh
  0xa0: [0x85, 0x73], // xor
  0xc0: [0x87, 0x75], // arsh
};

// BPF jump op → [i64 compare, i32 compare]; jset is handled apart.
const COMPARE: Record<number, [number, number]> = {
  0x10: [0x51, 0x46], // jeq
  0x20: [0x56, 0x4b], // jgt
  0x30: [0x5a, 0x4f], // jge
  0x50: [0x52, 0x47], // jne
  0x60: [0x55, 0x4a], // jsgt
  0x70: [0x59, 0x4e], // jsge
  0xa0: [0x54, 0x49], // jlt
  0xb0: [0x58, 0x4d], // jle
  0xc0: [0x53, 0x48], // jslt
  0xd0: [0x57, 0x4c], // jsle
};

// Load opcodes by size: [i64 zero-extending, i64 sign-extending]; store by size.
const LOAD: Record<number, [number, number]> = {
  1: [0x31, 0x30],
  2: [0x33, 0x32],
  4: [0x35, 0x34],
  8: [0x29, 0x29],
};
const STORE: Record<number, number> = { 1: 0x3c, 2: 0x3d, 4: 0x3e, 8: 0x37 };
const SIZE_OF: Record<number, number> = { 0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8 };

class FunctionEmitter {
  readonly w = new ByteWriter();
  readonly stack: Construct[] = [];
  /** Stack position of every open construct. */
  readonly level = new Map<Construct, number>();
  /** Extra label depth from `if`s the current code sits in. */
  extra = 0;
  /** Index of the instruction being emitted in its block. */
  index = 0;
  readonly code: Int32Array;

  constructor(
    readonly vm: VmCode,
    readonly layout: FunctionLayout,
    readonly funcIndex: Map<number, number>,
    readonly entries: readonly number[],
  ) {
    this.code = vm.code;
  }

  op(b: number): void {
    this.w.byte(b);
  }
  i32(v: number): void {
    this.w.byte(OP.i32Const);
    this.w.s32(v);
  }
  i64(lo: number, hi: number): void {
    this.w.byte(OP.i64Const);
    this.w.s64(lo, hi);
  }
  /** i64.const of a sign-extended i32. */
  i64s(v: number): void {
    this.w.byte(OP.i64Const);
    this.w.s32(v);
  }
  get(l: number): void {
    this.w.byte(OP.localGet);
    this.w.u32(l);
  }
  set(l: number): void {
    this.w.byte(OP.localSet);
    this.w.u32(l);
  }
  tee(l: number): void {
    this.w.byte(OP.localTee);
    this.w.u32(l);
  }
  call(f: number): void {
    this.w.byte(OP.call);
    this.w.u32(f);
  }
  mem(opcode: number, offset = 0): void {
    this.w.byte(opcode);
    this.w.u32(0); // align hint 1: BPF accesses need not be aligned
    this.w.u32(offset);
  }
  blockType(b: number, t: number): void {
    this.w.byte(b);
    this.w.byte(t);
  }
  syncOut(): void {
    this.get(L_BUD);
    this.op(OP.f64ConvertI64S);
    this.w.byte(OP.globalSet);
    this.w.u32(G_BUDGET);
  }
  syncIn(): void {
    this.w.byte(OP.globalGet);
    this.w.u32(G_BUDGET);
    this.w.raw([0xfc, 0x06]); // i64.trunc_sat_f64_s
    this.set(L_BUD);
  }
  /** Push the address's low and high words (i32) from local L_A. */
  addrWords(): void {
    this.get(L_A);
    this.op(OP.i32WrapI64);
    this.get(L_A);
    this.i64s(32);
    this.op(OP.i64ShrU);
    this.op(OP.i32WrapI64);
  }

  emit(): FuncDef {
    const { blocks, constructs, dispatch } = this.layout;
    // Prologue: a zeroed frame and r10 at its top, the budget.
    this.get(5);
    this.call(F_FRAME);
    this.set(L_R10);
    this.syncIn();
    // Constructs by start, outermost (latest end) first.
    const opening: Construct[][] = Array.from({ length: blocks.length }, () => []);
    for (const c of constructs) opening[c.start].push(c);
    for (const list of opening) list.sort((a, b) => b.end - a.end);
    for (let p = 0; p <= blocks.length; p++) {
      while (this.stack.length > 0 && this.stack[this.stack.length - 1].end === p) {
        this.stack.pop();
        this.op(OP.end);
      }
      if (p === blocks.length) break;
      for (const c of opening[p]) {
        this.blockType(c.kind === "loop" ? OP.loop : OP.block, VOID);
        this.level.set(c, this.stack.length);
        this.stack.push(c);
      }
      if (p === 0 && dispatch !== undefined) {
        this.blockType(OP.block, VOID);
        this.get(L_TGT);
        this.w.byte(OP.brTable);
        this.w.u32(dispatch.targets.length);
        for (const t of [...dispatch.targets, 0]) {
          this.w.u32(t === 0 ? 0 : this.depthOf(this.layout.forward.get(t)!) + 1);
        }
        this.op(OP.end);
      }
      this.emitBlock(p);
    }
    // Falling off the end was rejected at load; keep the validator happy.
    this.i32(this.layout.end - 1);
    this.i32(BAD_FALL_OFF);
    this.call(F_BAD);
    this.op(OP.unreachable);
    return {
      type: { params: FN_PARAMS, results: FN_RESULTS },
      locals: FN_LOCALS,
      body: this.w,
    };
  }

  lastOpcode(start: number, end: number): number {
    let last = start;
    for (let pc = start; pc < end; pc += this.code[pc * 4] === 0x18 ? 2 : 1) last = pc;
    return this.code[last * 4];
  }

  depthOf(c: Construct): number {
    const i = this.level.get(c);
    if (i === undefined || this.stack[i] !== c) {
      throw new Error("compiled tier: branch to a construct that is not open");
    }
    return this.stack.length - 1 - i + this.extra;
  }

  /** Branch (conditionally when `cond`, the i32 condition on the stack) to block `t` from block `from`. */
  branch(from: number, t: number, cond: boolean): void {
    const { dispatch, forward, backward } = this.layout;
    if (t > from) {
      this.w.byte(cond ? OP.brIf : OP.br);
      this.w.u32(this.depthOf(forward.get(t)!));
      return;
    }
    if (dispatch === undefined) {
      this.w.byte(cond ? OP.brIf : OP.br);
      this.w.u32(this.depthOf(backward.get(t)!));
      return;
    }
    if (cond) {
      this.blockType(OP.if, VOID);
      this.extra++;
    }
    this.i32(dispatch.index.get(t)!);
    this.set(L_TGT);
    this.w.byte(OP.br);
    this.w.u32(this.depthOf(dispatch.loop));
    if (cond) {
      this.extra--;
      this.op(OP.end);
    }
  }

  emitBlock(b: number): void {
    const block = this.layout.blocks[b];
    // Charge the block to the budget. On a shortfall the host throws at once
    // unless a load or store comes before the point the budget runs out at;
    // then the block runs on with the caches off, and the translation of
    // the first access at or past that point throws (exactly as the
    // interpreter, which faults or stores first).
    this.get(L_BUD);
    this.i64s(block.count);
    this.op(OP.i64Sub);
    this.tee(L_BUD);
    this.i64s(0);
    this.op(OP.i64LtS);
    this.blockType(OP.if, VOID);
    this.i32(block.start);
    this.get(L_BUD);
    this.i64s(block.count);
    this.op(OP.i64Add);
    this.op(OP.f64ConvertI64S);
    this.call(F_BUDGET);
    let later = false;
    for (let pc = block.start, i = 0; pc < block.end; pc += this.code[pc * 4] === 0x18 ? 2 : 1) {
      const cls = this.code[pc * 4] & 7;
      if (i++ > 0 && (cls === 1 || cls === 2 || cls === 3)) later = true;
    }
    if (later) this.invalidateCaches();
    this.op(OP.end);
    this.index = 0;
    for (let pc = block.start; pc < block.end; pc += this.code[pc * 4] === 0x18 ? 2 : 1) {
      this.emitInstruction(pc, b);
      this.index++;
    }
  }

  emitInstruction(pc: number, b: number): void {
    const c = this.code;
    const opcode = c[pc * 4];
    const dst = c[pc * 4 + 1] & 0xf;
    const src = (c[pc * 4 + 1] >> 4) & 0xf;
    const off = c[pc * 4 + 2];
    const imm = c[pc * 4 + 3];
    const cls = opcode & 7;
    if (dst > 10 || (src > 10 && ((opcode & 8) !== 0 || cls === 1 || cls === 3))) {
      return this.bad(pc);
    }
    switch (cls) {
      case 4:
      case 7:
        return this.alu(pc, opcode, dst, src, off, imm);
      case 5:
      case 6:
        return this.jump(pc, b, opcode, dst, src, off, imm);
      case 0:
        if (opcode !== 0x18) return this.bad(pc);
        this.i64(imm, c[pc * 4 + 7]);
        this.set(reg(dst));
        return;
      case 1: {
        const mode = opcode & 0xe0;
        if (mode !== 0x60 && mode !== 0x80) return this.bad(pc);
        return this.load(pc, SIZE_OF[opcode & 0x18], mode === 0x80, dst, src, off);
      }
      case 2:
        if ((opcode & 0xe0) !== 0x60) return this.bad(pc);
        return this.store(pc, SIZE_OF[opcode & 0x18], dst, off, () => this.i64s(imm));
      case 3: {
        const size = SIZE_OF[opcode & 0x18];
        const mode = opcode & 0xe0;
        if (mode === 0x60) return this.store(pc, size, dst, off, () => this.get(reg(src)));
        if (mode !== 0xc0) return this.bad(pc);
        if (imm === 0x100) return this.load(pc, size, false, dst, src, off); // load-acquire
        if (imm === 0x110) return this.store(pc, size, dst, off, () => this.get(reg(src)));
        return this.atomic(pc, size, dst, src, off, imm);
      }
    }
  }

  bad(pc: number): void {
    this.i32(pc);
    this.i32(BAD_OPCODE);
    this.call(F_BAD);
  }

  alu(pc: number, opcode: number, dst: number, src: number, off: number, imm: number): void {
    const is64 = (opcode & 7) === 7;
    const x = (opcode & 8) !== 0;
    const op = opcode & 0xf0;
    const d = reg(dst);
    const pushSrc = () => {
      if (is64) {
        if (x) this.get(reg(src));
        else this.i64s(imm);
      } else if (x) {
        this.get(reg(src));
        this.op(OP.i32WrapI64);
      } else this.i32(imm);
    };
    const pushDst = () => {
      this.get(d);
      if (!is64) this.op(OP.i32WrapI64);
    };
    const finish = () => {
      if (!is64) this.op(OP.i64ExtendI32U);
      this.set(d);
    };
    const pair = BINARY[op];
    if (pair !== undefined) {
      pushDst();
      pushSrc();
      this.op(is64 ? pair[0] : pair[1]);
      return finish();
    }
    switch (op) {
      case 0x80: // neg
        if (is64) this.i64s(0);
        else this.i32(0);
        pushDst();
        this.op(is64 ? OP.i64Sub : OP.i32Sub);
        return finish();
      case 0xb0: // mov, movsx
        if (!x) {
          if (is64) this.i64s(imm);
          else this.i64(imm, 0);
          this.set(d);
          return;
        }
        this.get(reg(src));
        if (is64) {
          if (off === 8) this.op(0xc2);
          else if (off === 16) this.op(0xc3);
          else if (off === 32) this.op(0xc4);
        } else {
          this.op(OP.i32WrapI64);
          if (off === 8) this.op(0xc0);
          else if (off === 16) this.op(0xc1);
          this.op(OP.i64ExtendI32U);
        }
        this.set(d);
        return;
      case 0x30: // div
      case 0x90: // mod
        return this.divide(op === 0x90, off === 1, is64, x, imm, pushDst, pushSrc, finish);
      case 0xd0: // end, bswap
        return this.endian(opcode, is64, imm, d);
    }
    this.bad(pc);
  }

  divide(
    mod: boolean,
    signed: boolean,
    is64: boolean,
    x: boolean,
    imm: number,
    pushDst: () => void,
    pushSrc: () => void,
    finish: () => void,
  ): void {
    const t = is64 ? I64 : I32;
    const zero = () => (is64 ? this.i64s(0) : this.i32(0));
    const opc = is64
      ? (mod ? (signed ? 0x81 : 0x82) : signed ? 0x7f : 0x80)
      : mod
      ? (signed ? 0x6f : 0x70)
      : signed
      ? 0x6d
      : 0x6e;
    // Division by zero: div gives 0, mod leaves dst (zero-extended for 32 bits).
    const byZero = () => (mod ? pushDst() : zero());
    // Signed division by -1: sdiv negates (INT_MIN stays INT_MIN), smod gives 0.
    const byMinusOne = () => {
      if (mod) return zero();
      zero();
      pushDst();
      this.op(is64 ? OP.i64Sub : OP.i32Sub);
    };
    if (!x) {
      if (imm === 0) byZero();
      else if (signed && imm === -1) byMinusOne();
      else {
        pushDst();
        pushSrc();
        this.op(opc);
      }
      return finish();
    }
    pushSrc();
    this.op(is64 ? OP.i64Eqz : OP.i32Eqz);
    this.blockType(OP.if, t);
    byZero();
    this.op(OP.else);
    if (signed) {
      pushSrc();
      if (is64) {
        this.i64s(-1);
        this.op(OP.i64Eq);
      } else {
        this.i32(-1);
        this.op(OP.i32Eq);
      }
      this.blockType(OP.if, t);
      byMinusOne();
      this.op(OP.else);
    }
    pushDst();
    pushSrc();
    this.op(opc);
    if (signed) this.op(OP.end);
    this.op(OP.end);
    finish();
  }

  /** Byte-swap the i32 in L_TI (result on the stack). */
  bswap32(l: number): void {
    this.get(l);
    this.i32(0x00ff00ff);
    this.op(OP.i32And);
    this.i32(8);
    this.op(OP.i32Rotr);
    this.get(l);
    this.i32(0xff00ff00 | 0);
    this.op(OP.i32And);
    this.i32(8);
    this.op(OP.i32Rotl);
    this.op(OP.i32Or);
  }

  endian(opcode: number, is64: boolean, imm: number, d: number): void {
    const swap = is64 || (opcode & 8) !== 0; // bswap, or to_be on a little-endian machine
    if (!swap) {
      if (imm === 64) return;
      this.get(d);
      this.i64(imm === 16 ? 0xffff : -1, 0);
      this.op(OP.i64And);
      this.set(d);
      return;
    }
    if (imm === 16) {
      this.get(d);
      this.op(OP.i32WrapI64);
      this.tee(L_TI);
      this.i32(8);
      this.op(OP.i32Shl);
      this.i32(0xff00);
      this.op(OP.i32And);
      this.get(L_TI);
      this.i32(8);
      this.op(OP.i32ShrU);
      this.i32(0xff);
      this.op(OP.i32And);
      this.op(OP.i32Or);
      this.op(OP.i64ExtendI32U);
      this.set(d);
    } else if (imm === 32) {
      this.get(d);
      this.op(OP.i32WrapI64);
      this.set(L_TI);
      this.bswap32(L_TI);
      this.op(OP.i64ExtendI32U);
      this.set(d);
    } else {
      this.get(d);
      this.op(OP.i32WrapI64);
      this.set(L_TI);
      this.get(d);
      this.i64s(32);
      this.op(OP.i64ShrU);
      this.op(OP.i32WrapI64);
      this.set(L_TJ);
      this.bswap32(L_TI);
      this.op(OP.i64ExtendI32U);
      this.i64s(32);
      this.op(OP.i64Shl);
      this.bswap32(L_TJ);
      this.op(OP.i64ExtendI32U);
      this.op(OP.i64Or);
      this.set(d);
    }
  }

  jump(
    pc: number,
    b: number,
    opcode: number,
    dst: number,
    src: number,
    off: number,
    imm: number,
  ): void {
    const is32 = (opcode & 7) === 6;
    const op = opcode & 0xf0;
    const x = (opcode & 8) !== 0;
    const target = (p: number) => this.layout.blockAt.get(p)!;
    if (op === 0x90) {
      this.syncOut();
      this.pushResults();
      this.op(OP.return);
      return;
    }
    if (op === 0x80) {
      if (is32) return this.bad(pc);
      if (x) return this.callx(pc, dst);
      if (src === 1) return this.bpfCall(pc, this.funcIndex.get(pc + imm + 1)!);
      if (src === 0) return this.helperCall(pc);
      return this.bad(pc);
    }
    if (op === 0x00) {
      const to = pc + (is32 ? imm : off) + 1;
      return this.branch(b, target(to), false);
    }
    if (op === 0xe0) { // may_goto: taken once the run's counter runs out
      this.w.byte(OP.globalGet);
      this.w.u32(G_MAY_GOTO);
      this.op(OP.i32Eqz);
      this.branch(b, target(pc + off + 1), true);
      this.w.byte(OP.globalGet);
      this.w.u32(G_MAY_GOTO);
      this.i32(1);
      this.op(OP.i32Sub);
      this.w.byte(OP.globalSet);
      this.w.u32(G_MAY_GOTO);
      return;
    }
    this.get(reg(dst));
    if (is32) this.op(OP.i32WrapI64);
    if (x) {
      this.get(reg(src));
      if (is32) this.op(OP.i32WrapI64);
    } else if (is32) this.i32(imm);
    else this.i64s(imm);
    if (op === 0x40) { // jset
      if (is32) {
        this.op(OP.i32And);
      } else {
        this.op(OP.i64And);
        this.op(OP.i64Eqz);
        this.op(OP.i32Eqz);
      }
    } else {
      const cmp = COMPARE[op];
      if (cmp === undefined) {
        return this.bad(pc);
      }
      this.op(is32 ? cmp[1] : cmp[0]);
    }
    this.branch(b, target(pc + off + 1), true);
  }

  helperCall(pc: number): void {
    for (let n = 1; n <= 5; n++) {
      this.i32(0);
      this.get(reg(n));
      this.mem(OP.i64Store, ARGS_BASE + 8 * n);
    }
    this.syncOut();
    this.i32(pc);
    this.get(5);
    this.call(F_HELPER);
    this.syncIn();
    this.i32(0);
    this.mem(OP.i64Load, ARGS_BASE);
    this.set(L_R0);
    this.invalidateCaches();
    // Status 1: a tail call is pending; its target's r0 is this invocation's result.
    this.blockType(OP.if, VOID);
    this.get(5);
    this.call(F_TAIL);
    this.i32(0);
    this.mem(OP.i64Load, ARGS_BASE);
    for (let n = 1; n <= 5; n++) this.get(reg(n));
    this.op(OP.return);
    this.op(OP.end);
  }

  depthCheck(pc: number): void {
    this.get(5);
    this.i32(1);
    this.op(OP.i32Add);
    this.tee(L_D1);
    this.i32(MAX_CALL_DEPTH);
    this.op(OP.i32GeU);
    this.blockType(OP.if, VOID);
    this.i32(pc);
    this.call(F_DEPTH);
    this.op(OP.end);
  }

  /** Forget both region caches: a call may have remapped or unmapped regions. */
  invalidateCaches(): void {
    for (let k = 0; k < 4; k++) {
      this.i64s(0);
      this.set(L_RE + k);
      this.i64s(0);
      this.set(L_WE + k);
    }
  }

  pushCallArgs(): void {
    for (let n = 1; n <= 5; n++) this.get(reg(n));
    this.get(L_D1);
    this.get(L_R0);
    for (let n = 6; n <= 9; n++) this.get(reg(n));
  }

  /** Take a callee's results: r5 … r1, then r0. */
  takeResults(): void {
    for (let n = 5; n >= 0; n--) this.set(reg(n));
  }

  /** Return r0 and r1–r5. */
  pushResults(): void {
    this.get(L_R0);
    for (let n = 1; n <= 5; n++) this.get(reg(n));
  }

  bpfCall(pc: number, f: number): void {
    if (f === undefined) return this.bad(pc);
    this.depthCheck(pc);
    this.syncOut();
    this.pushCallArgs();
    this.call(f);
    this.takeResults();
    this.syncIn();
    this.invalidateCaches();
  }

  callx(pc: number, dst: number): void {
    this.get(reg(dst));
    this.set(L_A);
    this.get(L_A);
    this.i64s(32);
    this.op(OP.i64ShrU);
    this.i64s(this.vm.codeTag);
    this.op(OP.i64Ne);
    this.blockType(OP.if, VOID);
    this.addrWords();
    this.i32(pc);
    this.call(F_CALLX_BAD);
    this.op(OP.end);
    this.depthCheck(pc);
    this.syncOut();
    this.get(L_A);
    this.op(OP.i32WrapI64);
    this.set(L_TI);
    for (const entry of this.entries) {
      this.get(L_TI);
      this.i32(entry);
      this.op(OP.i32Eq);
      this.blockType(OP.if, VOID);
      this.pushCallArgs();
      this.call(this.funcIndex.get(entry)!);
      this.takeResults();
      this.op(OP.else);
    }
    this.addrWords();
    this.i32(pc);
    this.call(F_CALLX_BAD);
    for (let k = 0; k < this.entries.length; k++) this.op(OP.end);
    this.syncIn();
    this.invalidateCaches();
  }

  /**
   * Leave in `L_P` the arena offset of a checked `size`-byte access at
   * `L_A`: `mode` 0 load, 1 store (of the i64 `value` pushes, which a
   * special region gets), 2 atomic. Special loads come back in scratch.
   */
  translate(pc: number, size: number, mode: number, value: () => void): void {
    const write = mode !== 0;
    const s = write ? L_WS : L_RS;
    const e = (write ? L_WE : L_RE) + SIZE_INDEX[size];
    const base = write ? L_WB : L_RB;
    this.get(L_A);
    this.get(s);
    this.op(OP.i64Sub);
    this.tee(L_X);
    this.get(e);
    this.op(OP.i64LtU);
    this.blockType(OP.if, I32);
    this.get(base);
    this.get(L_X);
    this.op(OP.i32WrapI64);
    this.op(OP.i32Add);
    this.op(OP.else);
    this.get(L_A);
    this.i32(size);
    this.i32(mode);
    this.i32(pc);
    this.i32(this.index);
    value();
    this.call(F_XLATE);
    // Remember the region (or element) for the next access this way.
    this.w.byte(OP.globalGet);
    this.w.u32(G_S);
    this.set(s);
    this.w.byte(OP.globalGet);
    this.w.u32(G_B);
    this.set(base);
    for (let k = 0; k < 4; k++) {
      this.w.byte(OP.globalGet);
      this.w.u32(G_E + k);
      this.set((write ? L_WE : L_RE) + k);
    }
    this.op(OP.end);
    this.set(L_P);
  }

  address(base: number, off: number): void {
    this.get(reg(base));
    if (off !== 0) {
      this.i64s(off);
      this.op(OP.i64Add);
    }
    this.set(L_A);
  }

  load(pc: number, size: number, signed: boolean, dst: number, src: number, off: number): void {
    this.address(src, off);
    this.translate(pc, size, 0, () => this.i64s(0));
    if (size === 4 && !signed) {
      // A context's 4-byte pointer fields (xdp_md.data …) come back from the
      // host as whole addresses in scratch: take all 8 bytes from there.
      this.get(L_P);
      this.i32(SCRATCH_BASE);
      this.op(OP.i32Eq);
      this.blockType(OP.if, I64);
      this.get(L_P);
      this.mem(LOAD[8][0]);
      this.op(OP.else);
      this.get(L_P);
      this.mem(LOAD[4][0]);
      this.op(OP.end);
    } else {
      this.get(L_P);
      this.mem(LOAD[size][signed ? 1 : 0]);
    }
    this.set(reg(dst));
  }

  store(
    pc: number,
    size: number,
    dst: number,
    off: number,
    value: () => void,
  ): void {
    this.address(dst, off);
    this.translate(pc, size, 1, value);
    this.get(L_P);
    value();
    this.mem(STORE[size]);
  }

  atomic(pc: number, size: number, dst: number, src: number, off: number, imm: number): void {
    if (size !== 4 && size !== 8) return this.bad(pc);
    this.address(dst, off);
    this.translate(pc, size, 2, () => this.i64s(0));
    const ld = LOAD[size][0];
    const st = STORE[size];
    const s = reg(src);
    // Old value into T1.
    this.get(L_P);
    this.mem(ld);
    this.set(L_T1);
    const fetch = (imm & 1) !== 0;
    const base = imm & ~1;
    if (imm === 0xf1) { // cmpxchg: compare with r0
      this.get(L_T1);
      this.get(L_R0);
      if (size === 4) {
        this.i64(-1, 0);
        this.op(OP.i64And);
      }
      this.op(OP.i64Eq);
      this.blockType(OP.if, VOID);
      this.get(L_P);
      this.get(s);
      this.mem(st);
      this.op(OP.end);
      this.get(L_T1);
      this.set(L_R0);
      return;
    }
    this.get(L_P);
    if (imm === 0xe1) {
      this.get(s);
    } else {
      const pair = BINARY[base];
      if (
        pair === undefined || (base !== 0x00 && base !== 0x40 && base !== 0x50 && base !== 0xa0)
      ) {
        return this.bad(pc);
      }
      this.get(L_T1);
      this.get(s);
      this.op(pair[0]);
    }
    this.mem(st);
    if (fetch) {
      this.get(L_T1);
      this.set(s);
    }
  }
}

/**
 * `xlate(address, size, mode, pc, index, value) → arena offset`: check an
 * access (mode 0 load, 1 store, 2 atomic) against the region table, serve
 * special regions through the host (a load's value lands in scratch, whose
 * offset is returned), fault through the host, and describe the region (or
 * element) in the G_S/G_B/G_E globals for the caller's cache. `index` is
 * the access's place in its block, checked against a short budget first.
 */
function xlateFunction(): FuncDef {
  const w = new ByteWriter();
  const A = 0, SIZE = 1, WRITE = 2, PC = 3, IDX = 4, VALUE = 5, TAG = 6, OFF = 7, ENT = 8;
  const FLAGS = 9, LEN = 10, R = 11, BASE = 12, L = 13, WF = 14;
  const get = (l: number) => {
    w.byte(OP.localGet);
    w.u32(l);
  };
  const set = (l: number) => {
    w.byte(OP.localSet);
    w.u32(l);
  };
  const tee = (l: number) => {
    w.byte(OP.localTee);
    w.u32(l);
  };
  const i32 = (v: number) => {
    w.byte(OP.i32Const);
    w.s32(v);
  };
  const load = (offset: number) => {
    w.byte(OP.i32Load);
    w.u32(2);
    w.u32(offset);
  };
  const gset = (g: number) => {
    w.byte(OP.globalSet);
    w.u32(g);
  };
  const fault = () => {
    get(A);
    w.byte(OP.i32WrapI64);
    get(A);
    w.byte(OP.i64Const);
    w.s32(32);
    w.byte(OP.i64ShrU);
    w.byte(OP.i32WrapI64);
    get(SIZE);
    get(WF);
    get(PC);
    w.byte(OP.call);
    w.u32(F_FAULT);
    w.byte(OP.unreachable);
  };
  const ifFault = () => {
    w.byte(OP.if);
    w.byte(VOID);
    fault();
    w.byte(OP.end);
  };
  // In a block short of budget, the access at or past the limit does not happen.
  get(IDX);
  w.byte(OP.globalGet);
  w.u32(G_REM);
  w.byte(OP.i32GeU);
  w.byte(OP.if);
  w.byte(VOID);
  w.byte(OP.call);
  w.u32(F_PENDING);
  w.byte(OP.end);
  // The fault is a write fault for stores, and for atomics unless only the read permission is missing.
  get(WRITE);
  i32(0);
  w.byte(OP.i32Ne);
  set(WF);
  // tag - 1 ≥ MAX_REGIONS - 1 ⇔ tag is 0 or too large.
  get(A);
  w.byte(OP.i64Const);
  w.s32(32);
  w.byte(OP.i64ShrU);
  w.byte(OP.i32WrapI64);
  tee(TAG);
  i32(1);
  w.byte(OP.i32Sub);
  i32(MAX_REGIONS - 1);
  w.byte(OP.i32GeU);
  ifFault();
  get(A);
  w.byte(OP.i32WrapI64);
  set(OFF);
  get(TAG);
  i32(5);
  w.byte(OP.i32Shl);
  set(ENT);
  get(ENT);
  load(TABLE_BASE + 8);
  tee(FLAGS);
  i32(3);
  w.byte(OP.i32And);
  i32(2);
  w.byte(OP.i32Eq);
  get(WRITE);
  i32(2);
  w.byte(OP.i32Eq);
  w.byte(OP.i32And);
  w.byte(OP.if);
  w.byte(VOID);
  i32(0);
  set(WF);
  w.byte(OP.end);
  // need = mode + 1: READ, WRITE or both.
  get(FLAGS);
  get(WRITE);
  i32(1);
  w.byte(OP.i32Add);
  tee(R);
  w.byte(OP.i32And);
  get(R);
  w.byte(OP.i32Ne);
  ifFault();
  // off + size > len?
  get(OFF);
  w.byte(OP.i64ExtendI32U);
  get(SIZE);
  w.byte(OP.i64ExtendI32U);
  w.byte(OP.i64Add);
  get(ENT);
  load(TABLE_BASE + 4);
  tee(LEN);
  w.byte(OP.i64ExtendI32U);
  w.byte(OP.i64GtU);
  ifFault();
  get(FLAGS);
  i32(8);
  w.byte(OP.i32And);
  w.byte(OP.if);
  w.byte(VOID);
  {
    for (let k = 0; k < 4; k++) {
      w.byte(OP.i64Const);
      w.s32(0);
      gset(G_E + k);
    }
    // Atomics never reach the host; loads and stores do.
    get(WRITE);
    i32(2);
    w.byte(OP.i32Eq);
    ifFault();
    get(WRITE);
    w.byte(OP.if);
    w.byte(VOID);
    get(A);
    w.byte(OP.i32WrapI64);
    get(TAG);
    get(SIZE);
    get(VALUE);
    w.byte(OP.i32WrapI64);
    get(VALUE);
    w.byte(OP.i64Const);
    w.s32(32);
    w.byte(OP.i64ShrU);
    w.byte(OP.i32WrapI64);
    get(PC);
    w.byte(OP.call);
    w.u32(F_SSTORE);
    w.byte(OP.else);
    get(A);
    w.byte(OP.i32WrapI64);
    get(TAG);
    get(SIZE);
    get(PC);
    w.byte(OP.call);
    w.u32(F_SLOAD);
    w.byte(OP.end);
    i32(SCRATCH_BASE);
    w.byte(OP.return);
  }
  w.byte(OP.end);
  get(ENT);
  load(TABLE_BASE);
  set(BASE);
  get(FLAGS);
  i32(4);
  w.byte(OP.i32And);
  w.byte(OP.if);
  w.byte(VOID);
  {
    // Strided: stay inside one element; cache that element.
    get(OFF);
    get(ENT);
    load(TABLE_BASE + 12);
    w.byte(OP.i32RemU);
    tee(R);
    w.byte(OP.i64ExtendI32U);
    get(SIZE);
    w.byte(OP.i64ExtendI32U);
    w.byte(OP.i64Add);
    get(ENT);
    load(TABLE_BASE + 16);
    tee(L);
    w.byte(OP.i64ExtendI32U);
    w.byte(OP.i64GtU);
    ifFault();
    get(A);
    get(R);
    w.byte(OP.i64ExtendI32U);
    w.byte(OP.i64Sub);
    gset(G_S);
    get(BASE);
    get(OFF);
    w.byte(OP.i32Add);
    get(R);
    w.byte(OP.i32Sub);
    gset(G_B);
  }
  w.byte(OP.else);
  {
    get(A);
    get(OFF);
    w.byte(OP.i64ExtendI32U);
    w.byte(OP.i64Sub);
    gset(G_S);
    get(BASE);
    gset(G_B);
    get(LEN);
    set(L);
  }
  w.byte(OP.end);
  // End bound per size: len - size + 1, or 0 (never hits) when len < size.
  [1, 2, 4, 8].forEach((size, k) => {
    get(L);
    w.byte(OP.i64ExtendI32U);
    w.byte(OP.i64Const);
    w.s32(1 - size);
    w.byte(OP.i64Add);
    w.byte(OP.i64Const);
    w.s32(0);
    get(L);
    i32(size);
    w.byte(OP.i32GeU);
    w.byte(OP.select);
    gset(G_E + k);
  });
  // A block short of budget keeps the caches off.
  w.byte(OP.globalGet);
  w.u32(G_REM);
  i32(NOT_SHORT);
  w.byte(OP.i32Ne);
  w.byte(OP.if);
  w.byte(VOID);
  for (let k = 0; k < 4; k++) {
    w.byte(OP.i64Const);
    w.s32(0);
    gset(G_E + k);
  }
  w.byte(OP.end);
  get(BASE);
  get(OFF);
  w.byte(OP.i32Add);
  return {
    type: { params: [I64, I32, I32, I32, I32, I64], results: [I32] },
    locals: [I32, I32, I32, I32, I32, I32, I32, I32, I32],
    body: w,
  };
}

/** `frame(depth) → r10`: the top of the stack frame serving `depth`. */
function frameFunction(frameTags: readonly number[], stackSize: number): FuncDef {
  const w = new ByteWriter();
  const n = frameTags.length;
  for (let i = 0; i < n; i++) {
    w.byte(OP.block);
    w.byte(VOID);
  }
  w.byte(OP.localGet);
  w.u32(0);
  w.byte(OP.brTable);
  w.u32(n);
  for (let i = 0; i < n; i++) w.u32(i);
  w.u32(n - 1);
  for (let i = 0; i < n; i++) {
    w.byte(OP.end);
    // Every invocation starts with a zeroed frame, as the interpreter's does.
    const entry = frameTags[i] * REGION_ENTRY;
    w.byte(OP.i32Const);
    w.s32(entry);
    w.byte(OP.i32Load);
    w.u32(2);
    w.u32(TABLE_BASE);
    w.byte(OP.i32Const);
    w.s32(0);
    w.byte(OP.i32Const);
    w.s32(entry);
    w.byte(OP.i32Load);
    w.u32(2);
    w.u32(TABLE_BASE + 4);
    w.raw([0xfc, 0x0b, 0x00]); // memory.fill
    w.byte(OP.i64Const);
    w.s64(stackSize, frameTags[i]);
    w.byte(OP.return);
  }
  w.byte(OP.unreachable);
  return { type: { params: [I32], results: [I64] }, locals: [], body: w };
}

/** `e<k>(depth)`: run function `f` with r1–r5 from the argument slots, r0 to slot 0. */
function exportWrapper(f: number, name: string): FuncDef {
  const w = new ByteWriter();
  for (let n = 1; n <= 5; n++) {
    w.byte(OP.i32Const);
    w.s32(0);
    w.byte(OP.i64Load);
    w.u32(3);
    w.u32(ARGS_BASE + 8 * n);
  }
  w.byte(OP.localGet);
  w.u32(0);
  for (let n = 0; n < 5; n++) { // r0, r6–r9 start at 0
    w.byte(OP.i64Const);
    w.s32(0);
  }
  w.byte(OP.call);
  w.u32(f);
  for (let n = 0; n < 5; n++) w.byte(0x1a); // drop r5 … r1
  w.byte(OP.localSet);
  w.u32(1);
  w.byte(OP.i32Const);
  w.s32(0);
  w.byte(OP.localGet);
  w.u32(1);
  w.byte(OP.i64Store);
  w.u32(3);
  w.u32(ARGS_BASE);
  return {
    type: { params: [I32], results: [] },
    locals: [I64],
    body: w,
    exportName: name,
  };
}
