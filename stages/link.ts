/**
 * The `link` stage: splits program sections into functions at their
 * symbols, then builds one {@link ProgramSpec} per function outside `.text`
 * with every function it calls or takes the address of appended once
 * (flattened), and call and function-pointer offsets fixed.
 *
 * As in libbpf, a function is its symbol's range (`st_value`, `st_size`),
 * not its name: objects linked by `bpftool gen object` hold several static
 * functions of one name in `.text` (one per input object), and calls are
 * resolved to the right one by their relocation's target offset. Code that
 * no function symbol covers (the losing copy of a weak function after
 * linking) is unreachable: it is dropped with an `info` diagnostic. Only the
 * start of an entry section must be a function.
 *
 * @module
 */

import { copyInstruction, ProgramSpec } from "../collection/spec.ts";
import { ProgramFlags, ProgramType } from "../collection/types.ts";
import { STB_LOCAL, STT_FUNC } from "../elf/constants.ts";
import type { ElfSymbol } from "../elf/types.ts";
import { LinkError } from "../errors/mod.ts";
import type { Instruction } from "../isa/instruction.ts";
import {
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  CALL_OPCODE,
  isCall,
  LD_IMM64_OPCODE,
} from "../isa/mod.ts";
import type { ClassifiedSection, LoadContext } from "./context.ts";
import { inContext } from "./context.ts";
import type { Stage } from "./pipeline.ts";

/**
 * A function cut out of a program section. The last three fields are
 * per-load scratch space of {@link buildProgram}: flags on the function
 * cost less than a `Set` and a `Map` per program.
 */
interface BpfFunction {
  name: string;
  section: ClassifiedSection;
  /** Byte offset of its first instruction in its section. */
  offset: number;
  /** Its symbol's binding (STB_LOCAL for static functions). */
  bind: number;
  instructions: Instruction[];
  /** Later functions of the same name (static functions of several objects), when there are any. */
  sameName: BpfFunction[] | undefined;
  /** Whether a program took its instructions: later programs copy them. */
  taken: boolean;
  /** Serial of the last program that included it. */
  visited: number;
  /** Its first slot in that program. */
  slot: number;
}

/**
 * Every function of the object by name: the first of each name, holding
 * the others in `sameName`. Most names are unique, so no list per name.
 */
type FunctionTable = Map<string, BpfFunction>;

/** Build `ctx.programs` from the relocated program sections. */
export function linkStage(): Stage {
  return {
    name: "link",
    run(ctx: LoadContext) {
      const functions: FunctionTable = new Map();
      for (const sec of ctx.sections.values()) {
        if (sec.kind !== "program") continue;
        try {
          splitFunctions(ctx, sec, functions);
        } catch (err) {
          throw inContext(err, `section ${sec.section.name}`);
        }
      }
      // Programs in the order their names first appear; the first program to
      // use a function takes its instructions, later ones copy them, so no
      // two programs share an instruction object.
      let serial = 0;
      for (const first of functions.values()) {
        const others = first.sameName;
        for (let i = -1; i < (others === undefined ? 0 : others.length); i++) {
          const fn = i < 0 ? first : others![i];
          if (isSubprogramSection(fn.section)) continue;
          try {
            ctx.programs.set(fn.name, buildProgram(ctx, fn, functions, ++serial));
          } catch (err) {
            throw inContext(err, `program ${fn.name}`);
          }
        }
      }
    },
  };
}

function isSubprogramSection(sec: ClassifiedSection): boolean {
  return sec.section.name === ".text";
}

/**
 * Programs need unique names; a function name may repeat only when at most
 * one of its holders is visible outside its object (statics are per-object,
 * as libbpf treats them) and none of them is an entry program sharing the
 * name with another.
 */
function addFunction(functions: FunctionTable, fn: BpfFunction): void {
  const first = functions.get(fn.name);
  if (first === undefined) {
    functions.set(fn.name, fn);
    return;
  }
  const all = [first, ...(first.sameName ?? []), fn];
  const entries = all.filter((f) => !isSubprogramSection(f.section));
  const visible = all.filter((f) => f.bind !== STB_LOCAL);
  if (entries.length > 1 || visible.length > 1) {
    const other = (entries.length > 1 ? entries[0] : visible[0]).section.section.name;
    throw new LinkError(
      "LINK_DUPLICATE_PROGRAM",
      `duplicate program name ${JSON.stringify(fn.name)} (also in section ${other})`,
    );
  }
  (first.sameName ??= []).push(fn);
}

/** Every function of that name, in the order they were added. */
function functionsNamed(first: BpfFunction): BpfFunction[] {
  return first.sameName === undefined ? [first] : [first, ...first.sameName];
}

/**
 * Cut a section's instructions into functions and add them to `functions`:
 * each function symbol covers `st_size` bytes (up to the next symbol when
 * it has no size). Code no symbol covers is unreachable (nothing can call
 * code without a symbol) and is dropped, except at the start of an entry
 * section, where it means the symbol table is wrong.
 *
 * A function is a run of consecutive instructions, so it is sliced out of
 * the section's list once its end is known.
 */
function splitFunctions(ctx: LoadContext, sec: ClassifiedSection, functions: FunctionTable): void {
  const insns = sec.instructions;
  if (insns === undefined) {
    throw new LinkError(
      "LINK_NOT_RELOCATED",
      "program section was not relocated: run the relocate stage first",
    );
  }
  if (insns.length === 0) return;
  if (insns[0].symbol === undefined && !isSubprogramSection(sec)) {
    throw new LinkError(
      "LINK_MISSING_SYMBOL",
      "instructions at offset 0 belong to no function symbol",
      { section: sec.section.name, offset: 0 },
    );
  }
  const out: BpfFunction[] = [];
  let dropped: number[] | undefined;
  let current: BpfFunction | undefined;
  let start = 0;
  let end = 0;
  for (let i = 0; i < insns.length; i++) {
    const ins = insns[i];
    const at = ins.sourceOffset ?? 0;
    if (ins.symbol !== undefined) {
      if (current !== undefined) current.instructions = insns.slice(start, i);
      const sym = sec.symbols.get(at);
      current = {
        name: ins.symbol,
        section: sec,
        offset: at,
        bind: sym?.bind ?? STB_LOCAL,
        instructions: NO_INSTRUCTIONS,
        sameName: undefined,
        taken: false,
        visited: 0,
        slot: 0,
      };
      out.push(current);
      start = i;
      end = functionEnd(sym, insns, i);
    } else if (current !== undefined && at >= end) {
      current.instructions = insns.slice(start, i);
      current = undefined;
    }
    if (current === undefined) (dropped ??= []).push(at);
  }
  if (current !== undefined) current.instructions = insns.slice(start);
  if (dropped !== undefined) {
    ctx.diagnostics.push({
      stage: "link",
      level: "info",
      message: `section ${sec.section.name}: dropped ${dropped.length} instruction${
        dropped.length === 1 ? "" : "s"
      } at ${
        ranges(dropped)
      } that no function symbol covers (unreachable, e.g. the losing copy of a weak function after linking)`,
    });
  }
  for (const fn of out) addFunction(functions, fn);
}

/** Placeholder until a function's end is known; never handed out. */
const NO_INSTRUCTIONS: Instruction[] = [];

/** Where a function starting at `insns[i]` ends: its symbol's size, else the next symbol. */
function functionEnd(sym: ElfSymbol | undefined, insns: Instruction[], i: number): number {
  const start = insns[i].sourceOffset ?? 0;
  if (sym !== undefined && sym.type === STT_FUNC && sym.size > 0) return start + sym.size;
  for (let k = i + 1; k < insns.length; k++) {
    if (insns[k].symbol !== undefined) return insns[k].sourceOffset ?? Infinity;
  }
  return Infinity;
}

/** Byte offsets of dropped instructions as `offset 0x0`, `offsets 0x0-0x8, 0x48-0x50`. */
function ranges(offsets: number[]): string {
  const parts: string[] = [];
  let first = offsets[0];
  let last = offsets[0];
  const flush = () =>
    parts.push(
      first === last ? `0x${first.toString(16)}` : `0x${first.toString(16)}-0x${last.toString(16)}`,
    );
  for (const at of offsets.slice(1)) {
    if (at - last <= 16) {
      last = at;
      continue;
    }
    flush();
    first = last = at;
  }
  flush();
  return `${offsets.length === 1 ? "offset" : "offsets"} ${parts.join(", ")}`;
}

/**
 * The function a call or function pointer in `caller` refers to. Names
 * decide, unless several static functions share the name: then the
 * relocation's target offset does, computed as the relocate stage did from
 * the instruction's original immediate.
 */
function resolveCallee(
  ctx: LoadContext,
  caller: BpfFunction,
  ins: Instruction,
  functions: FunctionTable,
): BpfFunction {
  const name = ins.reference!;
  const first = functions.get(name);
  if (first === undefined) {
    throw new LinkError(
      "LINK_UNKNOWN_FUNCTION",
      `function ${caller.name} refers to unknown function ${JSON.stringify(name)}`,
      { offset: ins.sourceOffset },
    );
  }
  if (first.sameName === undefined) return first;
  const candidates = functionsNamed(first);
  const target = targetOf(ctx, caller.section, ins);
  const found = target === undefined
    ? undefined
    : candidates.find((fn) =>
      fn.section.section.index === target.section && fn.offset === target.offset
    );
  if (found === undefined) {
    throw new LinkError(
      "LINK_AMBIGUOUS_FUNCTION",
      `function ${caller.name} refers to ${
        JSON.stringify(name)
      }, which names ${candidates.length} static functions (in ${
        candidates.map((fn) => `${fn.section.section.name}+${fn.offset}`).join(", ")
      }), and its relocation does not say which`,
      { offset: ins.sourceOffset },
    );
  }
  return found;
}

/** Section index and byte offset a call or function pointer was relocated to. */
function targetOf(
  ctx: LoadContext,
  sec: ClassifiedSection,
  ins: Instruction,
): { section: number; offset: number } | undefined {
  const at = ins.sourceOffset;
  const elf = ctx.elf;
  if (at === undefined || elf === undefined) return undefined;
  const bytes = elf.sectionData(sec.section);
  if (at + 8 > bytes.length) return undefined;
  // The relocate stage overwrote imm; the section bytes still hold the original.
  const imm = new DataView(bytes.buffer, bytes.byteOffset + at, 8).getInt32(4, elf.littleEndian);
  const rel = sec.relocations.get(at);
  if (rel === undefined) {
    return { section: sec.section.index, offset: at + (imm + 1) * 8 };
  }
  const base = rel.symbol.value;
  return {
    section: rel.symbol.sectionIndex,
    offset: isCall(ins) ? base + (imm + 1) * 8 : base + imm,
  };
}

function isFunctionReference(ins: Instruction): boolean {
  return ins.reference !== undefined &&
    ((ins.opcode === CALL_OPCODE && ins.src === BPF_PSEUDO_CALL) ||
      (ins.opcode === LD_IMM64_OPCODE && ins.src === BPF_PSEUDO_FUNC));
}

/**
 * The entry function followed by every function it reaches, each once, in
 * breadth-first order; then call and function-pointer immediates become
 * slot offsets relative to the next instruction, as the kernel wants.
 * `serial` is unique to this program (see {@link BpfFunction.visited}).
 */
function buildProgram(
  ctx: LoadContext,
  entry: BpfFunction,
  functions: FunctionTable,
  serial: number,
): ProgramSpec {
  const instructions = flatten(ctx, entry, functions, serial);
  const section = entry.section;
  const info = section.program;
  if (info === undefined) {
    ctx.diagnostics.push({
      stage: "link",
      level: "warning",
      message:
        `program ${entry.name}: section ${section.section.name} implies no program type; set one before loading`,
    });
  }
  let flags = 0;
  if (info?.sleepable) flags |= ProgramFlags.BPF_F_SLEEPABLE;
  if (info?.xdpFrags) flags |= ProgramFlags.BPF_F_XDP_HAS_FRAGS;
  const name = section.section.name;
  const optional = name.charCodeAt(0) === 0x3f; // '?'
  return new ProgramSpec({
    name: entry.name,
    type: info?.programType ?? ProgramType.UNSPEC,
    attachType: info?.attachType ?? 0,
    attachTo: info?.attachTo ?? "",
    sectionName: optional ? name.slice(1) : name,
    license: ctx.license,
    kernelVersion: ctx.kernelVersion,
    flags,
    autoload: info?.autoload ?? !optional,
    byteOrder: ctx.byteOrder,
    instructions,
  });
}

/** The instructions of `entry` and every function it reaches; see {@link buildProgram}. */
function flatten(
  ctx: LoadContext,
  entry: BpfFunction,
  functions: FunctionTable,
  serial: number,
): Instruction[] {
  // Most programs call nothing: their instructions are the entry's own.
  if (!entry.instructions.some(isFunctionReference)) return takeInstructions(entry);

  const order = [entry];
  entry.visited = serial;
  // The callee of every instruction of `order`, in the order they are emitted.
  const callees: (BpfFunction | undefined)[] = [];
  for (let f = 0; f < order.length; f++) {
    const fn = order[f];
    for (const ins of fn.instructions) {
      if (!isFunctionReference(ins)) {
        callees.push(undefined);
        continue;
      }
      const callee = resolveCallee(ctx, fn, ins, functions);
      callees.push(callee);
      if (callee.visited === serial) continue;
      callee.visited = serial;
      order.push(callee);
    }
  }

  let slot = 0;
  for (const fn of order) {
    fn.slot = slot;
    for (const ins of fn.instructions) slot += ins.opcode === LD_IMM64_OPCODE ? 2 : 1;
  }
  const instructions: Instruction[] = new Array(callees.length);
  let k = 0;
  slot = 0;
  for (const fn of order) {
    const own = !fn.taken;
    fn.taken = true;
    for (const original of fn.instructions) {
      const ins = own ? original : copyInstruction(original);
      const callee = callees[k];
      if (callee !== undefined) ins.imm = callee.slot - (slot + 1);
      instructions[k++] = ins;
      slot += ins.opcode === LD_IMM64_OPCODE ? 2 : 1;
    }
  }
  return instructions;
}

/** A function's instructions for a program of its own: its own objects the first time, copies after. */
function takeInstructions(fn: BpfFunction): Instruction[] {
  if (fn.taken) return fn.instructions.map(copyInstruction);
  fn.taken = true;
  return fn.instructions;
}
