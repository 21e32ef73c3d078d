/**
 * Internal: the text of one instruction in LLVM's BPF assembly syntax.
 *
 * Two readers share the work. {@link formatLlvm14} mirrors what LLVM 14's
 * disassembler decodes and how its instruction printer prints it, down to
 * the fields it ignores and the registers it rejects (only r0-r11 exist for
 * it). {@link formatModern} knows the encodings added or given a new meaning
 * after LLVM 14 (ISA v4, `BPF_ST`, `BPF_JSET`, `BPF_MOD`, the 32-bit
 * atomics, load-acquire / store-release, `may_goto`, `addr_space_cast`) and
 * prints them as newer LLVM does.
 *
 * @module
 */

import type { Instruction } from "./instruction.ts";

/** r11 is the last register LLVM's BPF disassembler accepts. */
const MAX_REG = 11;

/** Compound assignment operators by `op >> 4`; LLVM 14 has no MOD and NEG is special. */
const ALU_OPS: readonly (string | undefined)[] = [
  "+=", // ADD
  "-=", // SUB
  "*=", // MUL
  "/=", // DIV
  "|=", // OR
  "&=", // AND
  "<<=", // LSH
  ">>=", // RSH
  undefined, // NEG
  undefined, // MOD
  "^=", // XOR
  "=", // MOV
  "s>>=", // ARSH
];

/** Comparison operators of conditional jumps by `op >> 4`; LLVM 14 has no JSET. */
const JMP_OPS: readonly (string | undefined)[] = [
  undefined, // JA
  "==", // JEQ
  ">", // JGT
  ">=", // JGE
  undefined, // JSET
  "!=", // JNE
  "s>", // JSGT
  "s>=", // JSGE
  undefined, // CALL
  undefined, // EXIT
  "<", // JLT
  "<=", // JLE
  "s<", // JSLT
  "s<=", // JSLE
];

/** Unsigned access types by `(opcode >> 3) & 3` (W, H, B, DW). */
const UNSIGNED_TYPES = ["u32", "u16", "u8", "u64"];
/** Signed access types of `BPF_MEMSX` loads by `(opcode >> 3) & 3`. */
const SIGNED_TYPES = ["s32", "s16", "s8", undefined];

/** Atomic read-modify-write operations by `(imm >> 4) & 0xf`. */
const ATOMIC_OPS: readonly (readonly [string, string] | undefined)[] = [
  ["+", "add"],
  undefined,
  undefined,
  undefined,
  ["|", "or"],
  ["&", "and"],
  undefined,
  undefined,
  undefined,
  undefined,
  ["^", "xor"],
];

/** `r1 + 8` / `r1 - 8`, as LLVM prints a memory operand. */
function memory(base: number, offset: number): string {
  return offset >= 0 ? `r${base} + ${offset}` : `r${base} - ${-offset}`;
}

/** `+3` / `-3`, as LLVM prints a branch displacement. */
function displacement(value: number): string {
  return value >= 0 ? `+${value}` : `${value}`;
}

const TWO_POW_32 = 4294967296;

/** The signed 64-bit value of `ld_imm64` in decimal. */
export function formatImm64(imm: number, immHi: number): string {
  const value = (immHi | 0) * TWO_POW_32 + (imm >>> 0);
  if (Number.isSafeInteger(value)) return String(value);
  return String(BigInt.asIntN(64, (BigInt(immHi | 0) << 32n) | BigInt(imm >>> 0)));
}

/**
 * Whether LLVM 14 decodes `ld_imm64` at all: it wants offset 0 and a valid
 * `dst`. When it does not, llvm-objdump moves on by one slot and decodes the
 * second slot as an instruction of its own.
 */
export function llvm14DecodesLoadImm64(ins: Instruction): boolean {
  return ins.offset === 0 && ins.dst <= MAX_REG;
}

/**
 * LLVM 14's text for `ins`, or `undefined` where its disassembler fails
 * (llvm-objdump then prints `<unknown>`).
 */
export function formatLlvm14(ins: Instruction): string | undefined {
  const { opcode, dst, src, offset } = ins;
  const imm = ins.imm | 0;
  switch (opcode & 0x07) {
    case 0x04: // BPF_ALU
    case 0x07: { // BPF_ALU64
      const reg = (opcode & 0x07) === 0x07 ? "r" : "w";
      const op = opcode >> 4;
      if (dst > MAX_REG) return undefined;
      if (op === 0x8) { // NEG, immediate form only
        return opcode & 0x08 ? undefined : `${reg}${dst} = -${reg}${dst}`;
      }
      if (op === 0xd) { // END: only the 32-bit class, LLVM 14 has no bswap
        if (reg !== "w" || (imm !== 16 && imm !== 32 && imm !== 64)) return undefined;
        return `r${dst} = ${opcode & 0x08 ? "be" : "le"}${imm} r${dst}`;
      }
      const sym = ALU_OPS[op];
      if (sym === undefined) return undefined;
      if (opcode & 0x08) {
        if (src > MAX_REG) return undefined;
        return `${reg}${dst} ${sym} ${reg}${src}`;
      }
      return `${reg}${dst} ${sym} ${imm}`;
    }
    case 0x05: // BPF_JMP
    case 0x06: { // BPF_JMP32
      const jmp32 = (opcode & 0x07) === 0x06;
      const op = opcode >> 4;
      if (!jmp32) {
        if (opcode === 0x05) return `goto ${displacement(offset)}`;
        if (opcode === 0x85) return `call ${imm}`;
        if (opcode === 0x8d) return imm >= 0 && imm <= MAX_REG ? `callx r${imm}` : undefined;
        if (opcode === 0x95) return imm === 0 ? "exit" : undefined;
      }
      const sym = JMP_OPS[op];
      if (sym === undefined || dst > MAX_REG) return undefined;
      const reg = jmp32 ? "w" : "r";
      if (opcode & 0x08) {
        if (src > MAX_REG) return undefined;
        return `if ${reg}${dst} ${sym} ${reg}${src} goto ${displacement(offset)}`;
      }
      return `if ${reg}${dst} ${sym} ${imm} goto ${displacement(offset)}`;
    }
    case 0x00: { // BPF_LD
      if (opcode === 0x18) {
        if (!llvm14DecodesLoadImm64(ins)) return undefined;
        if (src === 0) return `r${dst} = ${formatImm64(imm, ins.immHi ?? 0)} ll`;
        return `ld_pseudo\tr${dst}, ${src}, ${imm >>> 0}`;
      }
      const type = UNSIGNED_TYPES[(opcode >> 3) & 3];
      if (opcode === 0x20 || opcode === 0x28 || opcode === 0x30) {
        return `r0 = *(${type} *)skb[${imm}]`;
      }
      if (opcode === 0x40 || opcode === 0x48 || opcode === 0x50) {
        return src <= MAX_REG ? `r0 = *(${type} *)skb[r${src}]` : undefined;
      }
      return undefined;
    }
    case 0x01: { // BPF_LDX
      if ((opcode & 0xe0) !== 0x60 || dst > MAX_REG || src > MAX_REG) return undefined;
      return `r${dst} = *(${UNSIGNED_TYPES[(opcode >> 3) & 3]} *)(${memory(src, offset)})`;
    }
    case 0x03: { // BPF_STX
      if (dst > MAX_REG || src > MAX_REG) return undefined;
      const mode = opcode & 0xe0;
      if (mode === 0x60) {
        return `*(${UNSIGNED_TYPES[(opcode >> 3) & 3]} *)(${memory(dst, offset)}) = r${src}`;
      }
      if (mode !== 0xc0) return undefined;
      const op = (imm >> 4) & 0x0f;
      const fetch = (imm & 0x0f) === 1;
      if (opcode === 0xc3) { // W: only the plain add of the 64-bit decoder table
        return op === 0 ? `lock *(u32 *)(${memory(dst, offset)}) += r${src}` : undefined;
      }
      if (opcode !== 0xdb) return undefined;
      const atomic = ATOMIC_OPS[op];
      if (atomic !== undefined) {
        return fetch
          ? `r${src} = atomic_fetch_${atomic[1]}((u64 *)(${memory(dst, offset)}), r${src})`
          : `lock *(u64 *)(${memory(dst, offset)}) ${atomic[0]}= r${src}`;
      }
      if (fetch && op === 0x0e) return `r${src} = xchg_64(${memory(dst, offset)}, r${src})`;
      if (fetch && op === 0x0f) return `r0 = cmpxchg_64(${memory(dst, offset)}, r0, r${src})`;
      return undefined;
    }
    default: // BPF_ST: LLVM 14 has no store-immediate
      return undefined;
  }
}

/**
 * Newer LLVM's text for the encodings LLVM 14 cannot show or shows with
 * the wrong meaning; `undefined` for everything else. Like LLVM 14, it looks
 * only at the fields that select and parameterise the operation.
 */
export function formatModern(ins: Instruction): string | undefined {
  const { opcode, dst, src, offset } = ins;
  const imm = ins.imm | 0;
  switch (opcode & 0x07) {
    case 0x04: // BPF_ALU
    case 0x07: { // BPF_ALU64
      if (dst > MAX_REG) return undefined;
      const alu64 = (opcode & 0x07) === 0x07;
      const reg = alu64 ? "r" : "w";
      const op = opcode & 0xf0;
      const x = (opcode & 0x08) !== 0;
      if (x && src > MAX_REG) return undefined;
      const operand = x ? `${reg}${src}` : `${imm}`;
      if (op === 0x30 || op === 0x90) { // DIV, MOD: offset 1 makes them signed
        const sign = offset === 1 ? "s" : "";
        if (op === 0x30 && sign === "") return undefined; // plain DIV: LLVM 14 knows it
        return `${reg}${dst} ${sign}${op === 0x30 ? "/" : "%"}= ${operand}`;
      }
      if (op === 0xb0 && x) { // MOV: movsx, addr_space_cast
        if (offset === 8 || offset === 16 || (offset === 32 && alu64)) {
          return `${reg}${dst} = (s${offset})${reg}${src}`;
        }
        if (offset === 1 && alu64) {
          return `r${dst} = addr_space_cast(r${src}, ${imm >>> 16}, ${imm & 0xffff})`;
        }
        return undefined;
      }
      if (op === 0xd0 && alu64 && !x && (imm === 16 || imm === 32 || imm === 64)) {
        return `r${dst} = bswap${imm} r${dst}`;
      }
      return undefined;
    }
    case 0x05: // BPF_JMP
    case 0x06: { // BPF_JMP32
      const reg = (opcode & 0x07) === 0x06 ? "w" : "r";
      if (opcode === 0x06) return `gotol ${displacement(imm)}`;
      if (opcode === 0xe5) return src === 0 ? `may_goto ${displacement(offset)}` : undefined;
      if ((opcode & 0xf0) !== 0x40 || dst > MAX_REG) return undefined; // JSET
      if (opcode & 0x08) {
        if (src > MAX_REG) return undefined;
        return `if ${reg}${dst} & ${reg}${src} goto ${displacement(offset)}`;
      }
      return `if ${reg}${dst} & ${imm} goto ${displacement(offset)}`;
    }
    case 0x01: { // BPF_LDX: sign-extending loads
      const type = SIGNED_TYPES[(opcode >> 3) & 3];
      if ((opcode & 0xe0) !== 0x80 || type === undefined || dst > MAX_REG || src > MAX_REG) {
        return undefined;
      }
      return `r${dst} = *(${type} *)(${memory(src, offset)})`;
    }
    case 0x02: { // BPF_ST
      if ((opcode & 0xe0) !== 0x60 || dst > MAX_REG) return undefined;
      return `*(${UNSIGNED_TYPES[(opcode >> 3) & 3]} *)(${memory(dst, offset)}) = ${imm}`;
    }
    case 0x03: { // BPF_STX | BPF_ATOMIC
      if ((opcode & 0xe0) !== 0xc0 || dst > MAX_REG || src > MAX_REG) return undefined;
      const size = (opcode >> 3) & 3;
      const type = UNSIGNED_TYPES[size];
      const reg = size === 3 ? "r" : "w";
      if (imm === 0x100) return `${reg}${dst} = load_acquire((${type} *)(${memory(src, offset)}))`;
      if (imm === 0x110) return `store_release((${type} *)(${memory(dst, offset)}), ${reg}${src})`;
      if (size !== 0) return undefined; // DW is LLVM 14's; B and H have only the two above
      const atomic = ATOMIC_OPS[(imm >> 4) & 0x0f];
      if (atomic !== undefined && (imm & ~0xf1) === 0 && imm !== 0) {
        return imm & 1
          ? `w${src} = atomic_fetch_${atomic[1]}((u32 *)(${memory(dst, offset)}), w${src})`
          : `lock *(u32 *)(${memory(dst, offset)}) ${atomic[0]}= w${src}`;
      }
      if (imm === 0xe1) return `w${src} = xchg32_32(${memory(dst, offset)}, w${src})`;
      if (imm === 0xf1) return `w0 = cmpxchg32_32(${memory(dst, offset)}, w0, w${src})`;
      return undefined;
    }
    default:
      return undefined;
  }
}
