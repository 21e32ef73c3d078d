/**
 * The disassembler: instructions as text in LLVM's BPF assembly syntax,
 * laid out as `llvm-objdump -d --no-show-raw-insn` prints them.
 *
 * By default the text is what the installed LLVM 14 prints for every
 * encoding it understands. Encodings it cannot show, or shows with the
 * wrong meaning, print the way newer LLVM prints them:
 *
 * | encoding | text |
 * | --- | --- |
 * | sdiv / smod (`offset` 1) | `r1 s/= r2`, `w1 s%= 3` |
 * | mod | `r1 %= r2` |
 * | movsx (`offset` 8, 16, 32) | `r1 = (s8)r2`, `w1 = (s16)w2` |
 * | sign-extending load | `r1 = *(s8 *)(r2 + 0)` |
 * | bswap (`BPF_ALU64 \| BPF_END`) | `r1 = bswap16 r1` |
 * | gotol (`BPF_JMP32 \| BPF_JA`) | `gotol +5` |
 * | jset | `if r1 & 4 goto +2` |
 * | may_goto | `may_goto +3` |
 * | store immediate (`BPF_ST`) | `*(u32 *)(r1 + 4) = 7` |
 * | 32-bit atomics | `lock *(u32 *)(r1 + 0) \|= w2`, `w2 = atomic_fetch_and((u32 *)(r1 + 0), w2)`, `w2 = xchg32_32(r1 + 0, w2)`, `w0 = cmpxchg32_32(r1 + 0, w0, w2)` |
 * | load-acquire, store-release | `r0 = load_acquire((u64 *)(r1 + 0))`, `store_release((u8 *)(r1 + 0), w2)` |
 * | addr_space_cast | `r1 = addr_space_cast(r2, 0, 1)` |
 *
 * What neither knows prints as `<unknown>`, as llvm-objdump does. Set
 * `llvm14: true` to get exactly LLVM 14's output, `<unknown>` and all.
 *
 * ```ts
 * import { decodeInstructions } from "./codec.ts";
 * import { disassemble } from "./disasm.ts";
 *
 * const bytes = new Uint8Array([0xb7, 0x00, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
 * const insns = decodeInstructions(bytes, { littleEndian: true });
 * insns[0].symbol = "prog";
 * console.log(disassemble(insns));
 * //
 * // 0000000000000000 <prog>:
 * //        0:	r0 = 2
 * //        1:	exit
 * ```
 *
 * @module
 */

import { encodeInstructions } from "./codec.ts";
import type { Instruction } from "./instruction.ts";
import {
  BPF_PSEUDO_BTF_ID,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_IDX,
  BPF_PSEUDO_MAP_IDX_VALUE,
  BPF_PSEUDO_MAP_VALUE,
  CALL_OPCODE,
  isJump,
  jumpOffset,
  LD_IMM64_OPCODE,
} from "./opcodes.ts";
import { formatImm64, formatLlvm14, formatModern, llvm14DecodesLoadImm64 } from "./_format.ts";

/** Options of {@link formatInstruction}. */
export interface FormatOptions {
  /**
   * Print exactly what LLVM 14's llvm-objdump prints: `<unknown>` for every
   * encoding it cannot decode (ISA v4 and later additions included), and its
   * own reading of the few it decodes with an older meaning (sdiv prints as
   * `/=`, movsx as a plain move). Default `false`.
   */
  llvm14?: boolean;
  /**
   * Show what the pipeline resolved instead of raw immediates, for
   * instructions with a `reference`: `call my_func`, `r1 = map[counts] ll`,
   * `r1 = map_value[.rodata] + 8 ll`, `r1 = func[cb] ll`, `r1 = btf[name] ll`,
   * or `r1 = name ll` while the pseudo source is still 0. Default `false`.
   */
  annotate?: boolean;
}

/** A label for {@link disassemble}: a symbol of the disassembled section. */
export interface DisasmSymbol {
  /** The symbol's name. */
  name: string;
  /** Byte offset from the first instruction (an ELF symbol's `st_value` in a relocatable object). */
  offset: number;
  /**
   * `STT_*` type. llvm-objdump dumps `STT_OBJECT` (1) and `STT_COMMON` (5)
   * symbols as data instead of disassembling them. Default `STT_FUNC` (2).
   */
  type?: number;
}

/** Options of {@link disassemble}. */
export interface DisassembleOptions extends FormatOptions {
  /**
   * Labels, in any order. llvm-objdump uses every symbol of the section that
   * has a name and is not `STT_SECTION`; pass the same to reproduce its
   * output. Default: the `symbol` of each instruction that has one.
   */
  symbols?: readonly DisasmSymbol[];
  /**
   * The section's name. When set and no symbol starts at offset 0,
   * llvm-objdump's stand-in label with the section's name is added.
   */
  section?: string;
  /**
   * Byte order for the raw bytes of data symbols (see `DisasmSymbol.type`).
   * Default `true`.
   */
  littleEndian?: boolean;
  /**
   * Print the source line (`.BTF.ext` line_info, an instruction's `line`)
   * as a `; text` line before the first instruction of each line, as
   * `bpftool prog dump xlated` and `llvm-objdump -S` do. Default `false`.
   */
  sourceLines?: boolean;
}

/**
 * The text of one instruction, e.g. `r1 = 0 ll`, `if r1 == 0 goto +5`,
 * `lock *(u64 *)(r1 + 0) += r2`, or `<unknown>` for an encoding that has
 * none. Jump targets are not resolved here; see {@link disassemble}.
 */
export function formatInstruction(ins: Instruction, options: FormatOptions = {}): string {
  if (options.annotate === true && ins.reference !== undefined) {
    const text = annotated(ins, ins.reference);
    if (text !== undefined) return text;
  }
  return formatSlot(ins, options.llvm14 === true) ?? "<unknown>";
}

/**
 * Disassemble a section or program: one line per instruction, `%8d:` pc,
 * a tab, the instruction, and for jumps the target as `<label>` or
 * `<label+0xoffset>` relative to the nearest label at or before it; each
 * label starts a block `\n%016x <name>:`. Runs of all-zero slots collapse
 * into a `\t\t...` line, and data symbols print as hex and ASCII, as
 * llvm-objdump does.
 *
 * The result is exactly what `llvm-objdump -d --no-show-raw-insn` prints
 * after a section's `Disassembly of section NAME:` line, given the section's
 * symbols and name. Two byte-level oddities of llvm-objdump are not
 * reproduced, as instructions have no bytes between slots: a symbol that
 * does not start on an 8-byte boundary (its block starts at the next slot),
 * and a run of zero slots followed by a slot whose first four bytes are
 * zero (llvm-objdump resumes four bytes into that slot).
 *
 * Returns `""` for no instructions; otherwise every line ends in `\n`.
 */
export function disassemble(
  insns: readonly Instruction[],
  options: DisassembleOptions = {},
): string {
  const llvm14 = options.llvm14 === true;
  const annotate = options.annotate === true;

  // The instruction starting at each slot; a second ld_imm64 slot maps to ~index.
  const slotOwner: number[] = [];
  for (let i = 0; i < insns.length; i++) {
    slotOwner.push(i);
    if (insns[i].opcode === LD_IMM64_OPCODE) slotOwner.push(~i);
  }
  const end = slotOwner.length * 8;
  if (end === 0) return "";

  const symbols = sortSymbols(options.symbols ?? symbolsOf(insns));
  if (options.section !== undefined && (symbols.length === 0 || symbols[0].offset !== 0)) {
    symbols.unshift({ name: options.section, offset: 0, type: STT_FUNC });
  }

  const lines: string[] = [];
  let bytes: Uint8Array | undefined;
  // Instructions before the first label print without one.
  const firstLabel = symbols.length > 0 ? symbols[0].offset : end;
  const blocks: { start: number; stop: number; symbol?: DisasmSymbol }[] = [];
  if (firstLabel > 0) blocks.push({ start: 0, stop: Math.min(firstLabel, end) });
  for (let s = 0; s < symbols.length; s++) {
    const start = symbols[s].offset;
    const stop = s + 1 < symbols.length ? Math.min(end, symbols[s + 1].offset) : end;
    if (start >= stop) continue; // later symbol at the same address, or past the end
    blocks.push({ start, stop, symbol: symbols[s] });
  }

  for (const { start, stop, symbol } of blocks) {
    if (symbol !== undefined) {
      lines.push("", `${symbol.offset.toString(16).padStart(16, "0")} <${symbol.name}>:`);
      if (symbol.type === STT_OBJECT || symbol.type === STT_COMMON) {
        bytes ??= encodeInstructions(insns, { littleEndian: options.littleEndian ?? true });
        dumpData(lines, bytes, start, stop);
        continue;
      }
    }
    let at = Math.ceil(start / 8) * 8;
    while (at < stop) {
      const slot = at / 8;
      const view = slotView(insns, slotOwner[slot]);
      if (isZero(view)) {
        let next = at + 8;
        while (next < stop && isZero(slotView(insns, slotOwner[next / 8]))) next += 8;
        lines.push("\t\t...");
        at = next;
        continue;
      }
      let text: string | undefined;
      let size = 8;
      if (annotate && view.reference !== undefined && slotOwner[slot] >= 0) {
        text = annotated(view, view.reference);
      }
      text ??= formatSlot(view, llvm14);
      // An ld_imm64 LLVM cannot decode takes one slot; the next is shown on its own.
      if (view.opcode === LD_IMM64_OPCODE && slotOwner[slot] >= 0 && llvm14DecodesLoadImm64(view)) {
        size = 16;
      }
      const source = slotOwner[slot] >= 0 ? view.line : undefined;
      if (options.sourceLines && source !== undefined && source.lineText.trim() !== "") {
        lines.push(`; ${source.lineText.trim()}`);
      }
      let line = `${String(slot).padStart(8, " ")}:\t${text ?? "<unknown>"}`;
      if (text !== undefined && isJump(view)) {
        line += targetLabel(symbols, at + 8 + jumpOffset(view) * 8);
      }
      lines.push(line);
      at += size;
    }
  }
  return lines.join("\n") + "\n";
}

const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_COMMON = 5;

/** Text of one slot-sized view, `undefined` when nothing decodes it. */
function formatSlot(ins: Instruction, llvm14: boolean): string | undefined {
  if (llvm14) return formatLlvm14(ins);
  return formatModern(ins) ?? formatLlvm14(ins);
}

/** The instruction at a slot, or the second half of an ld_imm64 seen as one of its own. */
function slotView(insns: readonly Instruction[], owner: number): Instruction {
  if (owner >= 0) return insns[owner];
  const first = insns[~owner];
  const slot = first.secondSlot;
  return {
    opcode: slot?.opcode ?? 0,
    dst: slot?.dst ?? 0,
    src: slot?.src ?? 0,
    offset: slot?.offset ?? 0,
    imm: first.immHi ?? 0,
  };
}

function isZero(ins: Instruction): boolean {
  return ins.opcode === 0 && ins.dst === 0 && ins.src === 0 && ins.offset === 0 &&
    (ins.imm | 0) === 0;
}

/** Labels from the instructions' own `symbol` fields. */
function symbolsOf(insns: readonly Instruction[]): DisasmSymbol[] {
  const out: DisasmSymbol[] = [];
  let offset = 0;
  for (const ins of insns) {
    if (ins.symbol !== undefined) out.push({ name: ins.symbol, offset, type: STT_FUNC });
    offset += ins.opcode === LD_IMM64_OPCODE ? 16 : 8;
  }
  return out;
}

/** llvm-objdump's order: by address, then name (bytewise), then type; stable. */
function sortSymbols(symbols: readonly DisasmSymbol[]): DisasmSymbol[] {
  return symbols
    .map((s) => ({ name: s.name, offset: s.offset, type: s.type ?? STT_FUNC }))
    .sort((a, b) =>
      a.offset - b.offset || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) || a.type - b.type
    );
}

/**
 * ` <name>` or ` <name+0x10>` for a jump target: the last label at or before
 * it. Targets are unsigned 64-bit byte addresses, so a jump before the start
 * wraps around and resolves against the last label.
 */
function targetLabel(symbols: readonly DisasmSymbol[], target: number): string {
  if (symbols.length === 0) return "";
  if (target < 0) {
    const last = symbols[symbols.length - 1];
    const disp = (1n << 64n) + BigInt(target) - BigInt(last.offset);
    return ` <${last.name}+0x${disp.toString(16)}>`;
  }
  let lo = 0;
  let hi = symbols.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (symbols[mid].offset <= target) lo = mid + 1;
    else hi = mid;
  }
  if (lo === 0) return "";
  const sym = symbols[lo - 1];
  const disp = target - sym.offset;
  return disp === 0 ? ` <${sym.name}>` : ` <${sym.name}+0x${disp.toString(16)}>`;
}

/** llvm-objdump's dump of a data symbol: up to 8 bytes a line, hex then ASCII. */
function dumpData(lines: string[], bytes: Uint8Array, start: number, stop: number): void {
  for (let at = start; at < stop; at += 8) {
    const n = Math.min(8, stop - at);
    let hex = "";
    let ascii = "";
    for (let i = 0; i < n; i++) {
      const b = bytes[at + i];
      hex += ` ${b.toString(16).padStart(2, "0")}`;
      ascii += b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : ".";
    }
    lines.push(
      `${at.toString(16).padStart(8, " ")}:${hex}${" ".repeat(3 * (8 - n))}         ${ascii}`,
    );
  }
}

/** The annotated form of an instruction with a `reference`, if it has one. */
function annotated(ins: Instruction, reference: string): string | undefined {
  if (ins.opcode === CALL_OPCODE) return `call ${reference}`;
  if (ins.opcode !== LD_IMM64_OPCODE || !llvm14DecodesLoadImm64(ins)) return undefined;
  const dst = `r${ins.dst}`;
  switch (ins.src) {
    case BPF_PSEUDO_MAP_FD:
    case BPF_PSEUDO_MAP_IDX:
      return `${dst} = map[${reference}] ll`;
    case BPF_PSEUDO_MAP_VALUE:
    case BPF_PSEUDO_MAP_IDX_VALUE: {
      const offset = ins.immHi ?? 0;
      return `${dst} = map_value[${reference}]${offset === 0 ? "" : ` + ${offset}`} ll`;
    }
    case BPF_PSEUDO_FUNC:
      return `${dst} = func[${reference}] ll`;
    case BPF_PSEUDO_BTF_ID:
      return `${dst} = btf[${reference}] ll`;
    default: {
      const value = formatImm64(ins.imm, ins.immHi ?? 0);
      return `${dst} = ${reference}${value === "0" ? "" : ` + ${value}`} ll`;
    }
  }
}
