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
import { BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, isCall, isLoadImm64 } from "../isa/mod.ts";
import type { ClassifiedSection, LoadContext } from "./context.ts";
import { inContext } from "./context.ts";
import type { Stage } from "./pipeline.ts";

/** A function cut out of a program section. */
interface BpfFunction {
  name: string;
  section: ClassifiedSection;
  /** Byte offset of its first instruction in its section. */
  offset: number;
  /** Its symbol's binding (STB_LOCAL for static functions). */
  bind: number;
  instructions: Instruction[];
}

/** Every function of the object, by name (several when static functions share one). */
type FunctionTable = Map<string, BpfFunction[]>;

/** Build `ctx.programs` from the relocated program sections. */
export function linkStage(): Stage {
  return {
    name: "link",
    run(ctx: LoadContext) {
      const functions: FunctionTable = new Map();
      for (const sec of ctx.sections.values()) {
        if (sec.kind !== "program") continue;
        try {
          for (const fn of splitFunctions(ctx, sec)) addFunction(functions, fn);
        } catch (err) {
          throw inContext(err, `section ${sec.section.name}`);
        }
      }
      // The first program to use a function takes its instructions; later
      // ones copy them, so no two programs share an instruction object.
      const taken = new Set<BpfFunction>();
      for (const fns of functions.values()) {
        for (const fn of fns) {
          if (isSubprogramSection(fn.section)) continue;
          try {
            ctx.programs.set(fn.name, buildProgram(ctx, fn, { functions, taken }));
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
  const same = functions.get(fn.name);
  if (same === undefined) {
    functions.set(fn.name, [fn]);
    return;
  }
  const all = [...same, fn];
  const entries = all.filter((f) => !isSubprogramSection(f.section));
  const visible = all.filter((f) => f.bind !== STB_LOCAL);
  if (entries.length > 1 || visible.length > 1) {
    const other = (entries.length > 1 ? entries[0] : visible[0]).section.section.name;
    throw new LinkError(
      "LINK_DUPLICATE_PROGRAM",
      `duplicate program name ${JSON.stringify(fn.name)} (also in section ${other})`,
    );
  }
  same.push(fn);
}

/**
 * Cut a section's instructions into functions: each function symbol covers
 * `st_size` bytes (up to the next symbol when it has no size). Code no
 * symbol covers is unreachable (nothing can call code without a symbol) and
 * is dropped, except at the start of an entry section, where it means the
 * symbol table is wrong.
 */
function splitFunctions(ctx: LoadContext, sec: ClassifiedSection): BpfFunction[] {
  const insns = sec.instructions;
  if (insns === undefined) {
    throw new LinkError(
      "LINK_NOT_RELOCATED",
      "program section was not relocated: run the relocate stage first",
    );
  }
  if (insns.length === 0) return [];
  if (insns[0].symbol === undefined && !isSubprogramSection(sec)) {
    throw new LinkError(
      "LINK_MISSING_SYMBOL",
      "instructions at offset 0 belong to no function symbol",
      { section: sec.section.name, offset: 0 },
    );
  }
  const out: BpfFunction[] = [];
  const dropped: number[] = [];
  let current: BpfFunction | undefined;
  let end = 0;
  for (let i = 0; i < insns.length; i++) {
    const ins = insns[i];
    const at = ins.sourceOffset ?? 0;
    if (ins.symbol !== undefined) {
      const sym = sec.symbols.get(at);
      current = {
        name: ins.symbol,
        section: sec,
        offset: at,
        bind: sym?.bind ?? STB_LOCAL,
        instructions: [],
      };
      out.push(current);
      end = functionEnd(sym, insns, i);
    } else if (current !== undefined && at >= end) {
      current = undefined;
    }
    if (current === undefined) {
      dropped.push(at);
      continue;
    }
    current.instructions.push(ins);
  }
  if (dropped.length > 0) {
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
  return out;
}

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
  { ins, functions }: { ins: Instruction; functions: FunctionTable },
): BpfFunction {
  const name = ins.reference!;
  const candidates = functions.get(name);
  if (candidates === undefined) {
    throw new LinkError(
      "LINK_UNKNOWN_FUNCTION",
      `function ${caller.name} refers to unknown function ${JSON.stringify(name)}`,
      { offset: ins.sourceOffset },
    );
  }
  if (candidates.length === 1) return candidates[0];
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
    ((isCall(ins) && ins.src === BPF_PSEUDO_CALL) ||
      (isLoadImm64(ins) && ins.src === BPF_PSEUDO_FUNC));
}

/**
 * The entry function followed by every function it reaches, each once, in
 * breadth-first order; then call and function-pointer immediates become
 * slot offsets relative to the next instruction, as the kernel wants.
 */
function buildProgram(
  ctx: LoadContext,
  entry: BpfFunction,
  { functions, taken }: { functions: FunctionTable; taken: Set<BpfFunction> },
): ProgramSpec {
  const order = [entry];
  const included = new Set([entry]);
  // Per function in `order`: the callee of each of its instructions.
  const callees: (BpfFunction | undefined)[][] = [];
  for (let i = 0; i < order.length; i++) {
    const fn = order[i];
    const targets = fn.instructions.map((ins) =>
      isFunctionReference(ins) ? resolveCallee(ctx, fn, { ins, functions }) : undefined
    );
    callees.push(targets);
    for (const callee of targets) {
      if (callee === undefined || included.has(callee)) continue;
      included.add(callee);
      order.push(callee);
    }
  }

  const startSlot = new Map<BpfFunction, number>();
  let slot = 0;
  for (const fn of order) {
    startSlot.set(fn, slot);
    for (const ins of fn.instructions) slot += isLoadImm64(ins) ? 2 : 1;
  }
  const instructions: Instruction[] = [];
  slot = 0;
  order.forEach((fn, f) => {
    const own = !taken.has(fn);
    taken.add(fn);
    fn.instructions.forEach((original, k) => {
      const ins = own ? original : copyInstruction(original);
      const callee = callees[f][k];
      if (callee !== undefined) ins.imm = startSlot.get(callee)! - (slot + 1);
      instructions.push(ins);
      slot += isLoadImm64(ins) ? 2 : 1;
    });
  });

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
  const sectionName = section.section.name.startsWith("?")
    ? section.section.name.slice(1)
    : section.section.name;
  return new ProgramSpec({
    name: entry.name,
    type: info?.programType ?? ProgramType.UNSPEC,
    attachType: info?.attachType ?? 0,
    attachTo: info?.attachTo ?? "",
    sectionName,
    license: ctx.license,
    kernelVersion: ctx.kernelVersion,
    flags,
    autoload: info?.autoload ?? !section.section.name.startsWith("?"),
    byteOrder: ctx.byteOrder,
    instructions,
  });
}
