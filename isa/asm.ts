/**
 * A small assembler and its inverse for the text syntax of the common BPF
 * conformance suites (bpf_conformance's `tests/*.data`, derived from
 * uBPF's assembler): `mov %r0, 1`, `ldxw %r0, [%r1+2]`, `jeq %r1, 1, +1`,
 * `lock fetch add [%r10-8], %r1` …, one instruction per line, `# comments`,
 * `name:` labels. Registers may be written `%r1` or `r1`.
 *
 * ```ts
 * import { assemble, formatAsm } from "./asm.ts";
 *
 * const insns = assemble("mov %r0, 1\nadd32 %r0, 2\nexit");
 * formatAsm(insns); // "mov %r0, 1\nadd32 %r0, 2\nexit\n"
 * ```
 *
 * Beyond bpf_conformance's own mnemonics it accepts the v4 additions:
 * `smod`/`smod32`, `movsx832 %r0, %r1` (sign-extend 8 bits to 32; also
 * `movsx1632`, `movsx864`, `movsx1664`, `movsx3264`), `ldxsb`/`ldxsh`/`ldxsw`,
 * `bswap16`/`32`/`64` (alias of `swap`), `gotol` (alias `ja32`), `callx %rN`,
 * `lock load_acquire`/`store_release` and `lddw %rN, local label` (`ld_imm64`
 * src 4, a function's address).
 *
 * @module
 */

import { IsaError } from "../errors/mod.ts";
import type { Instruction } from "./instruction.ts";

/** Options of {@link assemble}. */
export interface AssembleOptions {
  /** Line number of the text's first line in its file, for error messages; default 1. */
  firstLine?: number;
}

/** Options of {@link formatAsm}. */
export interface FormatAsmOptions {
  /** Prefix of every line; default none. */
  indent?: string;
}

const ALU_OPS: Record<string, number> = {
  add: 0x00,
  sub: 0x10,
  mul: 0x20,
  div: 0x30,
  sdiv: 0x30,
  or: 0x40,
  and: 0x50,
  lsh: 0x60,
  rsh: 0x70,
  neg: 0x80,
  mod: 0x90,
  smod: 0x90,
  xor: 0xa0,
  mov: 0xb0,
  arsh: 0xc0,
};

const JMP_OPS: Record<string, number> = {
  jeq: 0x10,
  jgt: 0x20,
  jge: 0x30,
  jset: 0x40,
  jne: 0x50,
  jsgt: 0x60,
  jsge: 0x70,
  jlt: 0xa0,
  jle: 0xb0,
  jslt: 0xc0,
  jsle: 0xd0,
};

const ATOMIC_OPS: Record<string, number> = {
  add: 0x00,
  or: 0x40,
  and: 0x50,
  xor: 0xa0,
  xchg: 0xe1,
  cmpxchg: 0xf1,
  load_acquire: 0x100,
  store_release: 0x110,
};

const reverse = (table: Record<string, number>, skip: string[] = []) =>
  new Map(Object.entries(table).filter(([k]) => !skip.includes(k)).map(([k, v]) => [v, k]));
const ALU_NAMES = reverse(ALU_OPS, ["sdiv", "smod"]);
const JMP_NAMES = reverse(JMP_OPS);
const ATOMIC_NAMES = reverse(ATOMIC_OPS);

// Size suffixes of loads and stores: BPF_W, BPF_H, BPF_B, BPF_DW.
const SIZES: Record<string, number> = { w: 0x00, h: 0x08, b: 0x10, dw: 0x18 };
const SIZE_NAMES = ["w", "h", "b", "dw"];

const MOVSX: Record<string, [number, boolean]> = {
  movsx832: [8, false],
  movsx1632: [16, false],
  movsx864: [8, true],
  movsx1664: [16, true],
  movsx3264: [32, true],
};

/** One instruction in the making: a pending label reference resolves once every label is known. */
interface Pending {
  ins: Instruction;
  line: number;
  slot: number;
  /** Label to resolve, and where the relative distance goes. */
  label?: string;
  field?: "offset" | "imm";
}

/**
 * Assemble `text` into instructions (`lddw` is one instruction spanning two
 * slots). Jump targets are `+N` / `-N` (slots after the next instruction) or
 * a label; as in bpf_conformance, `exit` names the first `exit` unless a
 * label of that name exists. Throws {@link IsaError} `ISA_ASM` naming the
 * line of the first problem.
 */
export function assemble(text: string, options: AssembleOptions = {}): Instruction[] {
  const first = options.firstLine ?? 1;
  const pending: Pending[] = [];
  const labels = new Map<string, number>();
  let firstExit: number | undefined;
  let slot = 0;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const lineNo = first + i;
    let line = lines[i];
    const hash = line.indexOf("#");
    if (hash >= 0) line = line.slice(0, hash);
    line = line.trim();
    // Leading labels, possibly followed by an instruction on the same line.
    for (
      let m = /^([A-Za-z_.$][\w.$]*)\s*:/.exec(line);
      m;
      m = /^([A-Za-z_.$][\w.$]*)\s*:/.exec(line)
    ) {
      if (labels.has(m[1])) fail(lineNo, `duplicate label "${m[1]}"`);
      labels.set(m[1], slot);
      line = line.slice(m[0].length).trim();
    }
    if (line === "") continue;
    const tokens = line.match(/\[[^\]]*\]|[^\s,]+/g) ?? [];
    const p = parseLine(tokens, lineNo);
    p.slot = slot;
    if (p.ins.opcode === 0x95 && firstExit === undefined) firstExit = slot;
    pending.push(p);
    slot += p.ins.opcode === 0x18 ? 2 : 1;
  }
  if (!labels.has("exit") && firstExit !== undefined) labels.set("exit", firstExit);
  return pending.map((p) => {
    if (p.label === undefined) return p.ins;
    const target = labels.get(p.label);
    if (target === undefined) fail(p.line, `unknown label "${p.label}"`);
    const distance = target! - p.slot - 1;
    if (p.field === "offset") {
      if (distance < -32768 || distance > 32767) {
        fail(p.line, `label "${p.label}" is ${distance} slots away, beyond a 16-bit offset`);
      }
      p.ins.offset = distance;
    } else p.ins.imm = distance;
    return p.ins;
  });
}

function fail(line: number, detail: string): never {
  throw new IsaError("ISA_ASM", `line ${line}: ${detail}`);
}

function parseLine(tokens: string[], line: number): Pending {
  let mnemonic = tokens[0].toLowerCase();
  const ops = tokens.slice(1);
  const ins: Instruction = { opcode: 0, dst: 0, src: 0, offset: 0, imm: 0 };
  const out: Pending = { ins, line, slot: 0 };
  const want = (n: number) => {
    if (ops.length !== n) {
      fail(line, `${mnemonic} takes ${n} operand${n === 1 ? "" : "s"}, got ${ops.length}`);
    }
  };
  const reg = (s: string) => parseRegister(s, line);
  const target = (s: string, field: "offset" | "imm") => {
    if (/^[+-]/.test(s)) {
      const v = parseInteger(s, line);
      const [lo, hi] = field === "offset" ? [-32768, 32767] : [-(2 ** 31), 2 ** 31 - 1];
      if (v < BigInt(lo) || v > BigInt(hi)) fail(line, `jump distance ${s} out of range`);
      ins[field] = Number(v);
    } else if (/^[A-Za-z_.$][\w.$]*$/.test(s)) {
      out.label = s;
      out.field = field;
    } else fail(line, `bad jump target "${s}"`);
  };
  const operand = (s: string) => {
    if (REGISTER.test(s)) {
      ins.opcode |= 0x08;
      ins.src = reg(s);
    } else ins.imm = parseImm32(s, line);
  };

  if (mnemonic === "exit") {
    want(0);
    ins.opcode = 0x95;
    return out;
  }
  if (mnemonic === "ja" || mnemonic === "gotol" || mnemonic === "ja32") {
    want(1);
    const long = mnemonic !== "ja";
    ins.opcode = long ? 0x06 : 0x05;
    target(ops[0], long ? "imm" : "offset");
    return out;
  }
  if (mnemonic === "callx" || (mnemonic === "call" && ops.length === 1 && REGISTER.test(ops[0]))) {
    want(1);
    ins.opcode = 0x8d;
    ins.dst = reg(ops[0]);
    return out;
  }
  if (mnemonic === "call") {
    if (ops.length === 1) ops.unshift("helper");
    want(2);
    ins.opcode = 0x85;
    const mode = ops[0].toLowerCase();
    if (mode === "helper") ins.imm = parseImm32(ops[1], line);
    else if (mode === "runtime" || mode === "kfunc") {
      ins.src = 2;
      ins.imm = parseImm32(ops[1], line);
    } else if (mode === "local") {
      ins.src = 1;
      target(ops[1], "imm");
    } else fail(line, `bad call mode "${ops[0]}" (helper, local or runtime)`);
    return out;
  }
  if (mnemonic === "lddw") {
    if (ops.length !== 3) want(2);
    ins.opcode = 0x18;
    ins.dst = reg(ops[0]);
    if (ops[1]?.toLowerCase() === "local") { // a function's address (BPF_PSEUDO_FUNC)
      if (ops.length !== 3) fail(line, "lddw %rN, local takes a label or +N");
      ins.src = 4;
      ins.immHi = 0;
      target(ops[2], "imm");
      return out;
    }
    const v = parseInteger(ops[1], line);
    if (v < -(2n ** 63n) || v >= 2n ** 64n) fail(line, `${ops[1]} does not fit in 64 bits`);
    ins.imm = Number(BigInt.asIntN(32, v));
    ins.immHi = Number(BigInt.asIntN(32, v >> 32n));
    return out;
  }
  if (mnemonic === "lock") {
    let fetch = false;
    if (ops[0]?.toLowerCase() === "fetch") {
      fetch = true;
      ops.shift();
    }
    let op = (ops.shift() ?? "").toLowerCase();
    mnemonic = `lock ${op}`;
    let size = 0x18;
    if (op.endsWith("32")) {
      size = 0x00;
      op = op.slice(0, -2);
    } else if (op.endsWith("64")) op = op.slice(0, -2);
    const code = ATOMIC_OPS[op];
    if (code === undefined) fail(line, `unknown atomic operation "${op}"`);
    want(2);
    if (fetch && code > 0xa0) fail(line, `${op} always fetches; drop "fetch"`);
    if (code === 0x100) { // load_acquire %rD, [%rS+off]
      ins.dst = reg(ops[0]);
      [ins.src, ins.offset] = parseMemory(ops[1], line);
    } else {
      [ins.dst, ins.offset] = parseMemory(ops[0], line);
      ins.src = reg(ops[1]);
    }
    ins.opcode = 0xc3 | size;
    ins.imm = code | (fetch ? 0x01 : 0);
    return out;
  }
  let m = /^(ldx|stx|st|ldxs)(dw|w|h|b)$/.exec(mnemonic);
  if (m) {
    want(2);
    const size = SIZES[m[2]];
    if (m[1] === "ldx" || m[1] === "ldxs") {
      if (m[1] === "ldxs" && m[2] === "dw") fail(line, "ldxsdw does not exist; use ldxdw");
      ins.opcode = (m[1] === "ldx" ? 0x61 : 0x81) | size;
      ins.dst = reg(ops[0]);
      [ins.src, ins.offset] = parseMemory(ops[1], line);
    } else {
      ins.opcode = (m[1] === "st" ? 0x62 : 0x63) | size;
      [ins.dst, ins.offset] = parseMemory(ops[0], line);
      if (m[1] === "st") ins.imm = parseImm32(ops[1], line);
      else ins.src = reg(ops[1]);
    }
    return out;
  }
  m = /^(le|be|swap|bswap)(16|32|64)$/.exec(mnemonic);
  if (m) {
    want(1);
    ins.opcode = m[1] === "le" ? 0xd4 : m[1] === "be" ? 0xdc : 0xd7;
    ins.dst = reg(ops[0]);
    ins.imm = Number(m[2]);
    return out;
  }
  const sx = MOVSX[mnemonic];
  if (sx !== undefined) {
    want(2);
    ins.opcode = sx[1] ? 0xbf : 0xbc;
    ins.dst = reg(ops[0]);
    ins.src = reg(ops[1]);
    ins.offset = sx[0];
    return out;
  }
  m = /^([a-z]+?)(32|64)?$/.exec(mnemonic);
  if (m && JMP_OPS[m[1]] !== undefined) {
    want(3);
    ins.opcode = JMP_OPS[m[1]] | (m[2] === "32" ? 0x06 : 0x05);
    ins.dst = reg(ops[0]);
    operand(ops[1]);
    target(ops[2], "offset");
    return out;
  }
  if (m && ALU_OPS[m[1]] !== undefined) {
    const op = ALU_OPS[m[1]];
    ins.opcode = op | (m[2] === "32" ? 0x04 : 0x07);
    if (m[1] === "sdiv" || m[1] === "smod") ins.offset = 1;
    if (op === 0x80) {
      want(1);
      ins.dst = reg(ops[0]);
      return out;
    }
    want(2);
    ins.dst = reg(ops[0]);
    operand(ops[1]);
    return out;
  }
  return fail(line, `unknown mnemonic "${tokens[0]}"`);
}

/** `%rN`, or `rN` as some bpf_conformance files write it. */
const REGISTER = /^%?r(\d+)$/i;

function parseRegister(s: string, line: number): number {
  const m = REGISTER.exec(s);
  if (!m || Number(m[1]) > 15) fail(line, `bad register "${s}" (expected %r0 … %r10)`);
  return Number(m![1]);
}

/** `[%rN]`, `[%rN+off]`, `[%rN-off]` → register and signed 16-bit offset. */
function parseMemory(s: string, line: number): [number, number] {
  const m = /^\[\s*(%?r\d+)\s*(?:([+-])\s*(\w+))?\s*\]$/i.exec(s);
  if (!m) fail(line, `bad memory operand "${s}" (expected [%rN+off])`);
  const r = parseRegister(m![1], line);
  if (m![2] === undefined) return [r, 0];
  const v = parseInteger(m![2] + m![3], line);
  // bpf_conformance truncates to 16 bits; accept -32768 … 65535 the same way.
  if (v < -32768n || v > 65535n) fail(line, `offset ${m![2]}${m![3]} does not fit in 16 bits`);
  return [r, Number(BigInt.asIntN(16, v))];
}

function parseInteger(s: string, line: number): bigint {
  const m = /^([+-]?)(0x[0-9a-f]+|\d+)$/i.exec(s);
  if (!m) fail(line, `bad number "${s}"`);
  const v = BigInt(m![2]);
  return m![1] === "-" ? -v : v;
}

/** A 32-bit immediate, signed or unsigned (-2^31 … 2^32-1), as the signed field value. */
function parseImm32(s: string, line: number): number {
  if (s === undefined) fail(line, "missing immediate");
  const v = parseInteger(s, line);
  if (v < -(2n ** 31n) || v >= 2n ** 32n) fail(line, `immediate ${s} does not fit in 32 bits`);
  return Number(BigInt.asIntN(32, v));
}

/**
 * Write `insns` in the syntax {@link assemble} reads, one line each, so that
 * `assemble(formatAsm(insns))` gives back the same fields. Jumps and local
 * calls are written as `+N` / `-N`. Throws {@link IsaError} `ISA_ASM` for an
 * instruction the syntax cannot express (an unknown opcode, or a field the
 * opcode does not use set to non-zero).
 */
export function formatAsm(insns: readonly Instruction[], options: FormatAsmOptions = {}): string {
  const indent = options.indent ?? "";
  let text = "";
  for (let i = 0; i < insns.length; i++) text += `${indent}${formatOne(insns[i], i)}\n`;
  return text;
}

function formatOne(ins: Instruction, index: number): string {
  const { opcode, dst, src, offset, imm } = ins;
  const bad = (): never => {
    throw new IsaError(
      "ISA_ASM",
      `instruction ${index}: opcode 0x${
        opcode.toString(16)
      } (dst ${dst}, src ${src}, offset ${offset}, imm ${imm}) has no assembly form`,
    );
  };
  const r = (n: number) => `%r${n}`;
  const rel = (n: number) => (n < 0 ? `${n}` : `+${n}`);
  const mem = (reg: number, off: number) => `[${r(reg)}${off < 0 ? off : `+${off}`}]`;
  const cls = opcode & 0x07;
  const op = opcode & 0xf0;
  const x = (opcode & 0x08) !== 0;
  // Fields unused by a form must be zero for the text to say everything.
  const zero = (...fields: number[]) => {
    if (fields.some((f) => f !== 0)) bad();
  };
  if (ins.secondSlot !== undefined) bad();
  if (opcode === 0x18) {
    zero(offset);
    if (src === 4) return (ins.immHi ?? 0) !== 0 ? bad() : `lddw ${r(dst)}, local ${rel(imm)}`;
    if (src !== 0) bad();
    const v = (BigInt(ins.immHi ?? 0) << 32n) | BigInt(imm >>> 0);
    return `lddw ${r(dst)}, 0x${BigInt.asUintN(64, v).toString(16)}`;
  }
  switch (cls) {
    case 0x04:
    case 0x07: {
      const suffix = cls === 0x04 ? "32" : "";
      if (op === 0xd0) {
        zero(src, offset);
        if (imm !== 16 && imm !== 32 && imm !== 64) bad();
        if (cls === 0x07) return x ? bad() : `swap${imm} ${r(dst)}`;
        return `${x ? "be" : "le"}${imm} ${r(dst)}`;
      }
      if (op === 0x80) {
        zero(src, offset, imm, x ? 1 : 0);
        return `neg${suffix} ${r(dst)}`;
      }
      if (op === 0xb0 && x && offset !== 0) {
        zero(imm);
        const name = `movsx${offset}${cls === 0x04 ? "32" : "64"}`;
        if (MOVSX[name] === undefined) bad();
        return `${name} ${r(dst)}, ${r(src)}`;
      }
      let name = ALU_NAMES.get(op);
      if (op === 0x30 || op === 0x90) {
        if (offset === 1) name = op === 0x30 ? "sdiv" : "smod";
        else zero(offset);
      } else zero(offset);
      if (name === undefined || op > 0xc0) return bad();
      if (x) {
        zero(imm);
        return `${name}${suffix} ${r(dst)}, ${r(src)}`;
      }
      zero(src);
      return `${name}${suffix} ${r(dst)}, ${imm}`;
    }
    case 0x05:
    case 0x06: {
      const suffix = cls === 0x06 ? "32" : "";
      if (op === 0x00) {
        if (x) bad();
        if (cls === 0x06) {
          zero(dst, src, offset);
          return `gotol ${rel(imm)}`;
        }
        zero(dst, src, imm);
        return `ja ${rel(offset)}`;
      }
      if (cls === 0x05 && op === 0x80) {
        if (x) {
          zero(src, offset, imm);
          return `callx ${r(dst)}`;
        }
        zero(dst, offset);
        if (src === 0) return `call ${imm}`;
        if (src === 1) return `call local ${rel(imm)}`;
        if (src === 2) return `call runtime ${imm}`;
        return bad();
      }
      if (cls === 0x05 && op === 0x90) {
        zero(dst, src, offset, imm, x ? 1 : 0);
        return "exit";
      }
      const name = JMP_NAMES.get(op);
      if (name === undefined) return bad();
      if (x) {
        zero(imm);
        return `${name}${suffix} ${r(dst)}, ${r(src)}, ${rel(offset)}`;
      }
      zero(src);
      return `${name}${suffix} ${r(dst)}, ${imm}, ${rel(offset)}`;
    }
    case 0x01: {
      const size = SIZE_NAMES[(opcode >> 3) & 3];
      const mode = opcode & 0xe0;
      zero(imm);
      if (mode === 0x60) return `ldx${size} ${r(dst)}, ${mem(src, offset)}`;
      if (mode === 0x80 && size !== "dw") return `ldxs${size} ${r(dst)}, ${mem(src, offset)}`;
      return bad();
    }
    case 0x02: {
      if ((opcode & 0xe0) !== 0x60) bad();
      zero(src);
      return `st${SIZE_NAMES[(opcode >> 3) & 3]} ${mem(dst, offset)}, ${imm}`;
    }
    case 0x03: {
      const size = SIZE_NAMES[(opcode >> 3) & 3];
      const mode = opcode & 0xe0;
      if (mode === 0x60) {
        zero(imm);
        return `stx${size} ${mem(dst, offset)}, ${r(src)}`;
      }
      if (mode !== 0xc0 || (size !== "w" && size !== "dw")) return bad();
      const suffix = size === "w" ? "32" : "";
      if (imm === 0x100) return `lock load_acquire${suffix} ${r(dst)}, ${mem(src, offset)}`;
      if (imm === 0x110) return `lock store_release${suffix} ${mem(dst, offset)}, ${r(src)}`;
      const fetch = imm < 0xe0 && (imm & 1) !== 0 ? "fetch " : "";
      const name = ATOMIC_NAMES.get(imm < 0xe0 ? imm & ~1 : imm);
      if (name === undefined) return bad();
      return `lock ${fetch}${name}${suffix} ${mem(dst, offset)}, ${r(src)}`;
    }
  }
  return bad();
}
