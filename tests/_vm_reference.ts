// A slow, obviously-correct reference interpreter of the BPF ISA, written
// straight from RFC 9669 (plus the v4 additions: sdiv/smod, movsx, ldsx,
// bswap, gotol, the 32-bit jumps and every atomic). Every register is a
// bigint kept in 0 … 2^64-1; every operation is spelled out with BigInt
// arithmetic so that it can be checked against the RFC line by line. Tests
// use it as the oracle the VM's tiers and the conformance suite must agree with.
//
// Address space (flat, 64-bit): the caller's memory at MEMORY_BASE, stack
// frame d (512 bytes each, one per call depth) at STACK_BASE + d·2^32, and
// BPF functions at FUNCTION_BASE + pc (what `ld_imm64` src 4 loads and
// `callx` jumps to). Any access not wholly inside one of those regions faults.

import type { Instruction } from "../isa/mod.ts";
import { VmError } from "../backends/vm/errors.ts";

/** Address of the first byte of the run's memory (r1). */
export const MEMORY_BASE = 0x1_0000_0000n;
/** Address of the first stack frame; frame d is at STACK_BASE + d·2^32. */
export const STACK_BASE = 0x10_0000_0000n;
/** Address of the function starting at pc 0; a function at pc p is FUNCTION_BASE + p. */
export const FUNCTION_BASE = 0x20_0000_0000n;
/** Bytes per stack frame. */
export const STACK_SIZE = 512;
/** Frames a run may use at once (the kernel's MAX_CALL_FRAMES). */
export const MAX_FRAMES = 8;

/** Access to the run's memory, for helper callbacks. */
export interface ReferenceMemoryAccess {
  /** `len` bytes at `address` (a copy); throws VM_BAD_ACCESS outside every region. */
  read(address: bigint, len: number): Uint8Array;
  /** Store `bytes` at `address`; throws VM_BAD_ACCESS outside every region. */
  write(address: bigint, bytes: Uint8Array): void;
}

/** A helper: gets its id and r1–r5 (unsigned), returns r0 (any bigint; its low 64 bits count). */
export type ReferenceHelper = (
  id: number,
  args: readonly bigint[],
  memory: ReferenceMemoryAccess,
) => bigint;

/** Options of {@link referenceRun}. */
export interface ReferenceOptions {
  /** Helper calls (`call` src 0). Default: {@link defaultReferenceHelper}. */
  helper?: ReferenceHelper;
  /** Instructions one run may execute; default 1,000,000. */
  budget?: number;
}

/** What {@link referenceRun} returns. */
export interface ReferenceResult {
  /** r0 at the final exit, unsigned. */
  r0: bigint;
  /** The run's memory after the run (a copy of the input, modified). */
  memory: Uint8Array;
  /** Instructions executed (`ld_imm64` counts once). */
  steps: number;
}

const U64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const U32 = (v: bigint): bigint => BigInt.asUintN(32, v);
const S64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const S32 = (v: bigint): bigint => BigInt.asIntN(32, v);

let clock = 1_000_000n;

/** The default helpers: 5 = ktime_get_ns (a strictly increasing nonzero clock); others fault. */
export function defaultReferenceHelper(id: number): bigint {
  if (id === 5) return clock += 1000n;
  throw new VmError("VM_BAD_PROGRAM", `unknown helper ${id}`);
}

interface Region {
  base: bigint;
  bytes: Uint8Array;
}

interface Frame {
  returnPc: number;
  saved: bigint[]; // r6–r9
}

/**
 * Run `insns` (decoded; `ld_imm64` is one instruction spanning two slots)
 * with r1 = address of a copy of `memory` (0 when absent), r2 = its length,
 * r10 = top of a fresh 512-byte stack. Throws {@link VmError} on a bad
 * access (VM_BAD_ACCESS), a bad instruction (VM_BAD_PROGRAM), more than
 * 8 frames (VM_CALL_DEPTH) or an exhausted budget (VM_BUDGET).
 */
export function referenceRun(
  insns: readonly Instruction[],
  memory?: Uint8Array,
  options: ReferenceOptions = {},
): ReferenceResult {
  const helper = options.helper ?? defaultReferenceHelper;
  const budget = options.budget ?? 1_000_000;

  // Slot → instruction; the second slot of ld_imm64 maps to -1 (not a jump target).
  const bySlot: number[] = [];
  for (let i = 0; i < insns.length; i++) {
    bySlot.push(i);
    if (insns[i].opcode === 0x18) bySlot.push(-1);
  }
  const slots = bySlot.length;

  const mem = memory === undefined ? new Uint8Array(0) : memory.slice();
  const regions: Region[] = [{ base: MEMORY_BASE, bytes: mem }];
  for (let d = 0; d < MAX_FRAMES; d++) {
    regions.push({
      base: STACK_BASE + BigInt(d) * 0x1_0000_0000n,
      bytes: new Uint8Array(STACK_SIZE),
    });
  }
  const stackTop = (depth: number): bigint =>
    STACK_BASE + BigInt(depth) * 0x1_0000_0000n + BigInt(STACK_SIZE);

  let pc = 0;
  const locate = (address: bigint, size: number): [Uint8Array, number] => {
    for (const r of regions) {
      if (address >= r.base && address + BigInt(size) <= r.base + BigInt(r.bytes.length)) {
        return [r.bytes, Number(address - r.base)];
      }
    }
    throw new VmError(
      "VM_BAD_ACCESS",
      `pc ${pc}: ${size}-byte access at 0x${address.toString(16)} is outside every region`,
      { pc, size },
    );
  };
  // Little-endian, as every supported target.
  const load = (address: bigint, size: number): bigint => {
    const [bytes, at] = locate(address, size);
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]);
    return v;
  };
  const store = (address: bigint, size: number, value: bigint): void => {
    const [bytes, at] = locate(address, size);
    for (let i = 0; i < size; i++) bytes[at + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  };
  const access: ReferenceMemoryAccess = {
    read(address, len) {
      const [bytes, at] = locate(U64(address), len);
      return bytes.slice(at, at + len);
    },
    write(address, data) {
      const [bytes, at] = locate(U64(address), data.length);
      bytes.set(data, at);
    },
  };

  const r: bigint[] = new Array(11).fill(0n);
  // As the VM's raw runner: no memory (or none at all) means r1 = r2 = 0.
  r[1] = mem.length === 0 ? 0n : MEMORY_BASE;
  r[2] = BigInt(mem.length);
  r[10] = stackTop(0);
  const frames: Frame[] = [];
  let steps = 0;

  const bad = (why: string): never => {
    throw new VmError("VM_BAD_PROGRAM", `pc ${pc}: ${why}`, { pc });
  };
  const jumpTo = (target: number): void => {
    if (target < 0 || target >= slots || bySlot[target] < 0) bad(`jump to ${target} out of range`);
    pc = target;
  };
  const enterCall = (target: number): void => {
    if (frames.length + 1 >= MAX_FRAMES) {
      throw new VmError("VM_CALL_DEPTH", `pc ${pc}: call depth over ${MAX_FRAMES}`, { pc });
    }
    frames.push({ returnPc: pc + 1, saved: r.slice(6, 10) });
    r[10] = stackTop(frames.length);
    jumpTo(target);
  };

  for (;;) {
    if (pc < 0 || pc >= slots || bySlot[pc] < 0) bad("ran off the program");
    if (++steps > budget) {
      throw new VmError("VM_BUDGET", `pc ${pc}: budget of ${budget} instructions exhausted`, {
        pc,
      });
    }
    const ins = insns[bySlot[pc]];
    const { opcode, dst, src, offset } = ins;
    if (dst > 10 || src > 10) bad(`bad register in opcode 0x${opcode.toString(16)}`);
    const cls = opcode & 0x07;
    const imm = BigInt(ins.imm | 0); // signed 32-bit
    const writable = (reg: number) => {
      if (reg === 10) bad("r10 is read-only");
    };

    switch (cls) {
      case 0x04: // BPF_ALU: 32-bit, result zero-extended
      case 0x07: { // BPF_ALU64
        const is64 = cls === 0x07;
        const op = opcode & 0xf0;
        const useReg = (opcode & 0x08) !== 0;
        writable(dst);
        if (op === 0xd0) { // BPF_END
          const width = Number(imm);
          if (width !== 16 && width !== 32 && width !== 64) bad(`bad byte swap width ${width}`);
          const n = BigInt(width);
          const value = r[dst] & ((1n << n) - 1n);
          const swap = is64 || useReg; // ALU64 = bswap; ALU|TO_BE = be (host is LE)
          r[dst] = swap ? byteSwap(value, width / 8) : value;
          break;
        }
        // The operand: the register, or imm sign-extended to 64 bits.
        let a = r[dst];
        let b = useReg ? r[src] : U64(imm);
        if (!is64) {
          a = U32(a);
          b = U32(b);
        }
        const bits = is64 ? 64n : 32n;
        const wrap = is64 ? U64 : U32;
        const signed = is64 ? S64 : S32;
        let result: bigint;
        switch (op) {
          case 0x00:
            result = a + b;
            break;
          case 0x10:
            result = a - b;
            break;
          case 0x20:
            result = a * b;
            break;
          case 0x30: // div: offset 0 unsigned, 1 signed; by zero gives 0
            if (offset === 0) result = b === 0n ? 0n : a / b;
            else if (offset === 1) {
              // BigInt division truncates toward zero, as the RFC's sdiv does;
              // INT_MIN / -1 overflows back to INT_MIN through wrap().
              result = b === 0n ? 0n : signed(a) / signed(b);
            } else return bad(`bad div offset ${offset}`);
            break;
          case 0x90: // mod: by zero leaves dst (its low half for ALU32)
            if (offset === 0) result = b === 0n ? a : a % b;
            else if (offset === 1) {
              // Truncated modulo: the sign follows the dividend; INT_MIN % -1 = 0.
              result = b === 0n ? a : signed(a) % signed(b);
            } else return bad(`bad mod offset ${offset}`);
            break;
          case 0x40:
            result = a | b;
            break;
          case 0x50:
            result = a & b;
            break;
          case 0xa0:
            result = a ^ b;
            break;
          case 0x60: // shifts mask the count to the width
            result = a << (b & (bits - 1n));
            break;
          case 0x70:
            result = a >> (b & (bits - 1n));
            break;
          case 0xc0:
            result = signed(a) >> (b & (bits - 1n));
            break;
          case 0x80:
            if (useReg) bad("neg with BPF_X");
            result = -a;
            break;
          case 0xb0: // mov, or movsx with offset 8/16/32 (register source only)
            if (offset === 0) result = b;
            else if (useReg && (offset === 8 || offset === 16 || (offset === 32 && is64))) {
              result = BigInt.asIntN(offset, r[src]);
            } else return bad(`bad mov offset ${offset}`);
            break;
          default:
            return bad(`bad ALU opcode 0x${opcode.toString(16)}`);
        }
        if ((op !== 0x30 && op !== 0x90 && op !== 0xb0) && offset !== 0) {
          bad(`non-zero offset in opcode 0x${opcode.toString(16)}`);
        }
        r[dst] = U64(wrap(result));
        break;
      }

      case 0x05: // BPF_JMP
      case 0x06: { // BPF_JMP32
        const op = opcode & 0xf0;
        const useReg = (opcode & 0x08) !== 0;
        if (op === 0x00) { // ja / gotol
          jumpTo(pc + 1 + (cls === 0x06 ? Number(imm) : offset));
          continue;
        }
        if (op === 0x80 && cls === 0x05) { // call
          if (useReg) { // callx: dst holds a function's address
            const target = r[dst] - FUNCTION_BASE;
            if (target < 0n || target >= BigInt(slots)) {
              bad(`callx to 0x${r[dst].toString(16)}, not a function`);
            }
            enterCall(Number(target));
            continue;
          }
          if (src === 1) { // bpf-to-bpf
            enterCall(pc + 1 + Number(imm));
            continue;
          }
          if (src !== 0) bad(`unsupported call src ${src}`);
          r[0] = U64(helper(Number(imm), r.slice(1, 6), access));
          break;
        }
        if (op === 0x90 && cls === 0x05) { // exit
          const frame = frames.pop();
          if (frame === undefined) return { r0: r[0], memory: mem, steps };
          for (let i = 0; i < 4; i++) r[6 + i] = frame.saved[i];
          r[10] = stackTop(frames.length);
          pc = frame.returnPc;
          continue;
        }
        const is64 = cls === 0x05;
        let a = r[dst];
        let b = useReg ? r[src] : U64(imm);
        if (!is64) {
          a = U32(a);
          b = U32(b);
        }
        const signed = is64 ? S64 : S32;
        let taken: boolean;
        switch (op) {
          case 0x10:
            taken = a === b;
            break;
          case 0x20:
            taken = a > b;
            break;
          case 0x30:
            taken = a >= b;
            break;
          case 0x40:
            taken = (a & b) !== 0n;
            break;
          case 0x50:
            taken = a !== b;
            break;
          case 0x60:
            taken = signed(a) > signed(b);
            break;
          case 0x70:
            taken = signed(a) >= signed(b);
            break;
          case 0xa0:
            taken = a < b;
            break;
          case 0xb0:
            taken = a <= b;
            break;
          case 0xc0:
            taken = signed(a) < signed(b);
            break;
          case 0xd0:
            taken = signed(a) <= signed(b);
            break;
          default:
            return bad(`bad jump opcode 0x${opcode.toString(16)}`);
        }
        if (taken) {
          jumpTo(pc + 1 + offset);
          continue;
        }
        break;
      }

      case 0x00: { // BPF_LD: only ld_imm64
        if (opcode !== 0x18) bad(`unsupported opcode 0x${opcode.toString(16)}`);
        writable(dst);
        const lo = U32(imm);
        const hi = U32(BigInt(ins.immHi ?? 0));
        if (src === 0) r[dst] = (hi << 32n) | lo;
        else if (src === 4) r[dst] = FUNCTION_BASE + BigInt(pc + 1) + S32(lo); // function address
        else bad(`unsupported ld_imm64 src ${src}`);
        pc += 2;
        continue;
      }

      case 0x01: { // BPF_LDX
        const mode = opcode & 0xe0;
        const size = sizeOf(opcode);
        writable(dst);
        const address = U64(r[src] + BigInt(offset));
        if (mode === 0x60) r[dst] = load(address, size);
        else if (mode === 0x80 && size < 8) {
          r[dst] = U64(BigInt.asIntN(size * 8, load(address, size)));
        } else bad(`unsupported load opcode 0x${opcode.toString(16)}`);
        break;
      }

      case 0x02: { // BPF_ST: *(dst + off) = imm
        if ((opcode & 0xe0) !== 0x60) bad(`unsupported store opcode 0x${opcode.toString(16)}`);
        store(U64(r[dst] + BigInt(offset)), sizeOf(opcode), U64(imm));
        break;
      }

      case 0x03: { // BPF_STX
        const mode = opcode & 0xe0;
        const size = sizeOf(opcode);
        const address = U64(r[dst] + BigInt(offset));
        if (mode === 0x60) {
          store(address, size, r[src]);
          break;
        }
        if (mode !== 0xc0) bad(`unsupported store opcode 0x${opcode.toString(16)}`);
        if (ins.imm === 0x100) { // load-acquire: dst = *(src + off), zero-extended
          writable(dst);
          r[dst] = load(U64(r[src] + BigInt(offset)), size);
          break;
        }
        if (ins.imm === 0x110) { // store-release: *(dst + off) = src
          store(address, size, r[src]);
          break;
        }
        atomic(Number(U32(imm)), size, address, src);
        break;
      }

      default:
        bad(`unsupported opcode 0x${opcode.toString(16)}`);
    }
    pc++;
  }

  function atomic(op: number, size: number, address: bigint, src: number): void {
    if (size !== 4 && size !== 8) bad(`atomic of ${size} bytes`);
    const wrap = size === 8 ? U64 : U32;
    const old = load(address, size);
    const operand = wrap(r[src]);
    switch (op & ~0x01) {
      case 0x00:
        store(address, size, wrap(old + operand));
        break;
      case 0x40:
        store(address, size, old | operand);
        break;
      case 0x50:
        store(address, size, old & operand);
        break;
      case 0xa0:
        store(address, size, old ^ operand);
        break;
      case 0xe0: // xchg
        if (op !== 0xe1) bad("xchg without fetch");
        store(address, size, operand);
        break;
      case 0xf0: // cmpxchg: compare with r0, r0 = old
        if (op !== 0xf1) bad("cmpxchg without fetch");
        if (old === wrap(r[0])) store(address, size, operand);
        r[0] = old;
        return;
      default:
        bad(`unsupported atomic operation 0x${op.toString(16)}`);
    }
    if (op & 0x01) r[src] = old; // fetch: zero-extended for 32-bit
  }
}

function sizeOf(opcode: number): number {
  return [4, 2, 1, 8][(opcode >> 3) & 3];
}

function byteSwap(value: bigint, bytes: number): bigint {
  let out = 0n;
  for (let i = 0; i < bytes; i++) out = (out << 8n) | ((value >> BigInt(8 * i)) & 0xffn);
  return out;
}
