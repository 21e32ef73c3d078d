/**
 * The loader: checks a program the way the kernel's verifier checks
 * instructions statically (`check_subprogs`, the opcode checks of
 * `do_check`) and resolves it into the {@link VmCode} form both tiers run.
 *
 * ```ts
 * import { VmMemory } from "./memory.ts";
 * import { loadVmCode, unloadVmCode } from "./program.ts";
 *
 * const mem = new VmMemory();
 * const code = loadVmCode([
 *   { opcode: 0xb7, dst: 0, src: 0, offset: 0, imm: 2 }, // r0 = 2
 *   { opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 }, // exit
 * ], { name: "two", mem, helpers: new Map() });
 * code.slots; // 2
 * unloadVmCode(mem, code);
 * ```
 *
 * @module
 */

import type { Instruction } from "../../isa/instruction.ts";
import { VmError } from "./errors.ts";
import { splitNumber, TAG_SCALE, type VmMemory } from "./memory.ts";
import type { VmCode, VmHelper } from "./types.ts";

/** Options of {@link loadVmCode}. */
export interface LoadVmCodeOptions {
  /** The program's name (errors, the code region's name). */
  name: string;
  /** The arena the code's handle region is mapped in. */
  mem: VmMemory;
  /** Helpers by ID; every helper call must name one of them. */
  helpers: ReadonlyMap<number, VmHelper>;
  /**
   * The address an `ld_imm64` with a pseudo source other than 0 and
   * `BPF_PSEUDO_FUNC` loads (a map's handle, a map value). Without it such
   * loads are rejected.
   */
  resolveLoad?: (ins: Instruction, pc: number) => number;
}

const R10 = 10;

/**
 * Check `instructions` and resolve them into a {@link VmCode}, mapping a
 * handle region for the code (its tag makes function addresses). Throws
 * `VmError` `VM_BAD_PROGRAM` naming the pc of the first bad instruction.
 */
export function loadVmCode(
  instructions: readonly Instruction[],
  options: LoadVmCodeOptions,
): VmCode {
  const { name } = options;
  const bad = (pc: number, detail: string) =>
    new VmError("VM_BAD_PROGRAM", `pc ${pc}: ${detail}`, { pc, program: name });

  // Slot index of every instruction, and which slots start one.
  let slots = 0;
  for (const ins of instructions) slots += ins.opcode === 0x18 ? 2 : 1;
  if (slots === 0) throw new VmError("VM_BAD_PROGRAM", "the program is empty", { program: name });
  const starts = new Uint8Array(slots + 1);
  const pcs = new Array<number>(instructions.length);
  const indexAt = new Int32Array(slots);
  for (let i = 0, pc = 0; i < instructions.length; i++) {
    pcs[i] = pc;
    indexAt[pc] = i;
    starts[pc] = 1;
    pc += instructions[i].opcode === 0x18 ? 2 : 1;
  }
  const target = (pc: number, rel: number, what: string): number => {
    const to = pc + rel + 1;
    if (!Number.isInteger(to) || to < 0 || to >= slots) {
      throw bad(pc, `${what} target ${to} is out of range (0…${slots - 1})`);
    }
    if (starts[to] === 0) throw bad(pc, `${what} target ${to} is the middle of an ld_imm64`);
    return to;
  };

  // First pass: every form, and the function entries.
  const entries = new Set<number>([0]);
  for (let i = 0; i < instructions.length; i++) {
    const ins = instructions[i];
    const pc = pcs[i];
    checkInstruction(ins, pc, bad);
    if (
      ins.opcode === 0x85 && ins.src === 0 && !options.helpers.has(ins.imm) && !isPoison(ins.imm)
    ) {
      throw bad(pc, `unknown helper ID ${ins.imm}`);
    }
    if (ins.opcode === 0x85 && ins.src === 1) entries.add(target(pc, ins.imm, "call"));
    if (ins.opcode === 0x18 && ins.src === 4) entries.add(target(pc, ins.imm, "function address"));
  }
  const functions = [...entries].sort((a, b) => a - b);

  // Second pass: jumps stay in their function; every function ends in exit or goto.
  const fnEnd = (pc: number): [number, number] => {
    let k = 0;
    while (k + 1 < functions.length && functions[k + 1] <= pc) k++;
    return [functions[k], k + 1 < functions.length ? functions[k + 1] : slots];
  };
  for (let i = 0; i < instructions.length; i++) {
    const ins = instructions[i];
    const cls = ins.opcode & 7;
    if (cls !== 5 && cls !== 6) continue;
    const op = ins.opcode & 0xf0;
    if (op === 0x80 || op === 0x90) continue;
    const pc = pcs[i];
    const to = target(pc, ins.opcode === 0x06 ? ins.imm : ins.offset, "jump");
    const [from, end] = fnEnd(pc);
    if (to < from || to >= end) {
      throw bad(pc, `jump to ${to} leaves the function at ${from}…${end - 1}`);
    }
  }
  for (let k = 0; k < functions.length; k++) {
    const end = k + 1 < functions.length ? functions[k + 1] : slots;
    let last = end - 1;
    if (starts[last] === 0) last--;
    const op = instructions[indexAt[last]].opcode;
    if (op !== 0x95 && op !== 0x05 && op !== 0x06) {
      throw bad(last, "the last instruction of a function must be exit or a jump (it falls off)");
    }
  }

  // Encode, resolving ld_imm64 pseudo sources.
  const codeTag = options.mem.map({ name: `program ${name} code`, base: 0, len: slots, flags: 0 });
  try {
    const code = new Int32Array(slots * 4);
    const helpers = new Map<number, VmHelper>();
    for (let i = 0; i < instructions.length; i++) {
      const ins = instructions[i];
      const pc = pcs[i];
      const w = pc * 4;
      code[w] = ins.opcode;
      code[w + 1] = ins.dst | (ins.src << 4);
      code[w + 2] = ins.offset;
      code[w + 3] = ins.imm | 0;
      if (ins.opcode === 0x85 && ins.src === 0) {
        helpers.set(pc, options.helpers.get(ins.imm) ?? poisonedKfunc(ins.imm));
      }
      if (ins.opcode !== 0x18) continue;
      let lo = ins.imm | 0;
      let hi = (ins.immHi ?? 0) | 0;
      if (ins.src === 4) {
        lo = pc + ins.imm + 1;
        hi = codeTag;
      } else if (ins.src !== 0) {
        if (options.resolveLoad === undefined) {
          throw bad(pc, `ld_imm64 with pseudo source ${ins.src} needs a resolver (no maps here)`);
        }
        const address = options.resolveLoad(ins, pc);
        if (!Number.isSafeInteger(address)) {
          throw bad(pc, `ld_imm64 pseudo source ${ins.src} resolved to a bad address ${address}`);
        }
        [lo, hi] = splitNumber(address);
      }
      code[w + 1] = ins.dst;
      code[w + 3] = lo | 0;
      code[w + 7] = hi | 0;
    }
    return { name, code, slots, functions, helpers, codeTag };
  } catch (err) {
    options.mem.unmap(codeTag);
    throw err;
  }
}

/** Unmap the handle region of `code` (after which its function addresses fault). */
export function unloadVmCode(mem: VmMemory, code: VmCode): void {
  if (mem.regionName(code.codeTag) !== undefined) mem.unmap(code.codeTag);
}

/** The address of the function at `pc` of `code`. */
export function functionAddress(code: VmCode, pc: number): number {
  return code.codeTag * TAG_SCALE + pc;
}

type Bad = (pc: number, detail: string) => VmError;

/** libbpf's `POISON_CALL_KFUNC_BASE`: calls to weak kfuncs no kernel has become helper calls from here. */
const POISON_CALL_KFUNC_BASE = 2002000000;

/** A poisoned kfunc call (`bpf_ksym_exists()`-guarded): loads, and traps only when reached. */
function isPoison(id: number): boolean {
  return id >= POISON_CALL_KFUNC_BASE && id <= POISON_CALL_KFUNC_BASE + 0xffff;
}

function poisonedKfunc(id: number): VmHelper {
  return {
    name: `poisoned_kfunc_${id - POISON_CALL_KFUNC_BASE}`,
    call() {
      throw new VmError(
        "VM_UNRESOLVED_EXTERN",
        `a call to a weak kfunc no kernel has (poisoned as helper ${id}) was reached`,
      );
    },
  };
}

/** The kernel's static checks of one instruction (`do_check` and friends). */
function checkInstruction(ins: Instruction, pc: number, bad: Bad): void {
  const { opcode, dst, src, offset, imm } = ins;
  if (
    !Number.isInteger(opcode) || opcode < 0 || opcode > 0xff || !Number.isInteger(dst) ||
    dst < 0 || dst > 15 || !Number.isInteger(src) || src < 0 || src > 15 ||
    !Number.isInteger(offset) || ((offset << 16) >> 16) !== offset || !Number.isInteger(imm) ||
    ((imm | 0) !== imm && imm >>> 0 !== imm)
  ) {
    throw bad(pc, `instruction fields out of range (opcode ${opcode}, regs ${dst}/${src})`);
  }
  const cls = opcode & 7;
  const hex = `0x${opcode.toString(16).padStart(2, "0")}`;
  const reserved = (what: string) => bad(pc, `${what} uses reserved fields (opcode ${hex})`);
  const readReg = (r: number) => {
    if (r > R10) throw bad(pc, `r${r} is not a register`);
  };
  const writeReg = (r: number) => {
    readReg(r);
    if (r === R10) throw bad(pc, "r10 (the frame pointer) is read-only");
  };
  switch (cls) {
    case 0x04: // ALU
    case 0x07: { // ALU64
      const op = opcode & 0xf0;
      const x = (opcode & 8) !== 0;
      const alu64 = cls === 7;
      if (op > 0xd0) throw bad(pc, `unknown ALU operation (opcode ${hex})`);
      if (op === 0x80) {
        if (x || src !== 0 || offset !== 0 || imm !== 0) throw reserved("neg");
      } else if (op === 0xd0) {
        if (src !== 0 || offset !== 0 || (imm !== 16 && imm !== 32 && imm !== 64)) {
          throw reserved("end");
        }
        if (alu64 && x) throw bad(pc, `unknown ALU operation (opcode ${hex})`);
      } else if (op === 0xb0) {
        if (x) {
          const ok = offset === 0 || offset === 8 || offset === 16 || (alu64 && offset === 32);
          if (alu64 && offset === 1) throw bad(pc, "addr_space_cast (arenas) is not supported");
          if (!ok || imm !== 0) throw reserved("mov");
          readReg(src);
        } else if (src !== 0 || offset !== 0) throw reserved("mov");
      } else {
        // offset 1 selects sdiv/smod; nothing else takes an offset.
        const divides = op === 0x30 || op === 0x90;
        if ((offset !== 0 && offset !== 1) || (offset === 1 && !divides)) throw reserved("alu");
        if (x) {
          if (imm !== 0) throw reserved("alu");
          readReg(src);
        } else if (src !== 0) {
          throw reserved("alu");
        }
        // Division by an immediate zero and immediate shifts past the width
        // load: RFC 9669 defines them (0 / dst kept / count masked). The
        // kernel's verifier refuses them; the VM runs what the ISA defines.
      }
      writeReg(dst);
      return;
    }
    case 0x01: { // LDX
      const mode = opcode & 0xe0;
      if (mode === 0x80 && (opcode & 0x18) === 0x18) throw bad(pc, `unknown opcode ${hex}`);
      if ((mode !== 0x60 && mode !== 0x80) || imm !== 0) throw reserved("ldx");
      readReg(src);
      writeReg(dst);
      return;
    }
    case 0x02: // ST
      if ((opcode & 0xe0) !== 0x60 || src !== 0) throw reserved("st");
      readReg(dst);
      return;
    case 0x03: { // STX
      const mode = opcode & 0xe0;
      readReg(dst);
      readReg(src);
      if (mode === 0x60) {
        if (imm !== 0) throw reserved("stx");
        return;
      }
      if (mode !== 0xc0) throw bad(pc, `unknown opcode ${hex}`);
      if (imm === 0x100 || imm === 0x110) { // load-acquire, store-release
        if (imm === 0x100) writeReg(dst);
        return;
      }
      const size = opcode & 0x18;
      if (
        imm !== 0x00 && imm !== 0x01 && imm !== 0x40 && imm !== 0x41 && imm !== 0x50 &&
        imm !== 0x51 && imm !== 0xa0 && imm !== 0xa1 && imm !== 0xe1 && imm !== 0xf1
      ) {
        throw bad(pc, `unknown atomic operation ${imm}`);
      }
      if (size !== 0x00 && size !== 0x18) throw bad(pc, "atomic operations need size W or DW");
      if (imm === 0xf1) writeReg(0);
      else if ((imm & 1) !== 0) writeReg(src);
      return;
    }
    case 0x00: { // LD
      if (opcode === 0x20 || opcode === 0x28 || opcode === 0x30 || opcode === 0x40) {
        throw bad(pc, "legacy packet access (LD_ABS/LD_IND) is not supported");
      }
      if (opcode === 0x48 || opcode === 0x50) {
        throw bad(pc, "legacy packet access (LD_ABS/LD_IND) is not supported");
      }
      if (opcode !== 0x18) throw bad(pc, `unknown opcode ${hex}`);
      if (offset !== 0) throw reserved("ld_imm64");
      const slot = ins.secondSlot;
      if (
        slot !== undefined &&
        (slot.opcode !== 0 || slot.dst !== 0 || slot.src !== 0 || slot.offset !== 0)
      ) {
        throw bad(pc, "invalid ld_imm64: the second slot's fields must be zero");
      }
      if (src > 6) throw bad(pc, `unknown ld_imm64 pseudo source ${src}`);
      writeReg(dst);
      return;
    }
    case 0x05: // JMP
    case 0x06: { // JMP32
      const op = opcode & 0xf0;
      const x = (opcode & 8) !== 0;
      const jmp32 = cls === 6;
      if (op === 0x00) {
        if (x || src !== 0 || dst !== 0 || (!jmp32 && imm !== 0) || (jmp32 && offset !== 0)) {
          throw reserved(jmp32 ? "gotol" : "ja");
        }
        return;
      }
      if (op === 0x80) {
        if (jmp32) throw bad(pc, `unknown opcode ${hex}`);
        if (x) {
          if (src !== 0 || offset !== 0 || imm !== 0) throw reserved("callx");
          readReg(dst);
          return;
        }
        if (offset !== 0 || dst !== 0) throw reserved("call");
        if (src === 2) throw bad(pc, "kfunc calls are not supported in the VM");
        if (src === 1) return; // the target is checked by the caller
        if (src !== 0) throw reserved("call");
        return; // the caller checks the helper ID
      }
      if (op === 0x90) {
        if (jmp32 || x || src !== 0 || dst !== 0 || offset !== 0 || imm !== 0) {
          throw reserved("exit");
        }
        return;
      }
      if (op === 0xe0) {
        if (jmp32 || x || src !== 0 || dst !== 0 || imm !== 0) throw reserved("may_goto");
        return;
      }
      if (op === 0xf0) throw bad(pc, `unknown opcode ${hex}`);
      if (x) {
        if (imm !== 0) throw reserved("jump");
        readReg(src);
      } else if (src !== 0) throw reserved("jump");
      readReg(dst);
      return;
    }
  }
}
