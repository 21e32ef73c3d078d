/**
 * The `link` stage: splits program sections into functions at their
 * symbols, then builds one {@link ProgramSpec} per function outside `.text`
 * with every function it calls or takes the address of appended once
 * (flattened), and call and function-pointer offsets fixed.
 *
 * @module
 */

import { copyInstruction, ProgramSpec } from "../collection/spec.ts";
import { ProgramFlags, ProgramType } from "../collection/types.ts";
import { LinkError, withContext } from "../errors/mod.ts";
import type { Instruction } from "../isa/instruction.ts";
import { BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, isCall, isLoadImm64 } from "../isa/mod.ts";
import type { ClassifiedSection, LoadContext } from "./context.ts";
import { sectionsOfKind } from "./context.ts";
import type { Stage } from "./pipeline.ts";

/** A function cut out of a program section. */
interface BpfFunction {
  name: string;
  section: ClassifiedSection;
  instructions: Instruction[];
}

/** Build `ctx.programs` from the relocated program sections. */
export function linkStage(): Stage {
  return {
    name: "link",
    run(ctx: LoadContext) {
      const functions = new Map<string, BpfFunction>();
      for (const sec of sectionsOfKind(ctx, "program")) {
        withContext(`section ${sec.section.name}`, () => {
          for (const fn of splitFunctions(sec)) {
            if (functions.has(fn.name)) {
              throw new LinkError(
                "LINK_DUPLICATE_PROGRAM",
                `duplicate program name ${JSON.stringify(fn.name)} (also in section ${
                  functions.get(fn.name)!.section.section.name
                })`,
              );
            }
            functions.set(fn.name, fn);
          }
        });
      }
      // The first program to use a function takes its instructions; later
      // ones copy them, so no two programs share an instruction object.
      const taken = new Set<string>();
      for (const fn of functions.values()) {
        if (fn.section.section.name === ".text") continue;
        withContext(`program ${fn.name}`, () => {
          ctx.programs.set(fn.name, buildProgram(ctx, fn, { functions, taken }));
        });
      }
    },
  };
}

/** Cut a section's instructions at every instruction that starts a symbol. */
function splitFunctions(sec: ClassifiedSection): BpfFunction[] {
  const insns = sec.instructions;
  if (insns === undefined) {
    throw new LinkError(
      "LINK_NOT_RELOCATED",
      "program section was not relocated: run the relocate stage first",
    );
  }
  if (insns.length === 0 || insns[0].symbol === undefined) {
    throw new LinkError(
      "LINK_MISSING_SYMBOL",
      "instructions at offset 0 belong to no function symbol",
      { section: sec.section.name, offset: 0 },
    );
  }
  const out: BpfFunction[] = [];
  for (const ins of insns) {
    if (ins.symbol !== undefined) out.push({ name: ins.symbol, section: sec, instructions: [] });
    out[out.length - 1].instructions.push(ins);
  }
  return out;
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
  { functions, taken }: { functions: Map<string, BpfFunction>; taken: Set<string> },
): ProgramSpec {
  const order = [entry];
  const included = new Set([entry.name]);
  for (let i = 0; i < order.length; i++) {
    for (const ins of order[i].instructions) {
      if (!isFunctionReference(ins) || included.has(ins.reference!)) continue;
      const callee = functions.get(ins.reference!);
      if (callee === undefined) {
        throw new LinkError(
          "LINK_UNKNOWN_FUNCTION",
          `function ${order[i].name} refers to unknown function ${JSON.stringify(ins.reference)}`,
          { offset: ins.sourceOffset },
        );
      }
      included.add(callee.name);
      order.push(callee);
    }
  }

  const instructions: Instruction[] = [];
  const startSlot = new Map<string, number>();
  let slot = 0;
  for (const fn of order) {
    startSlot.set(fn.name, slot);
    const own = !taken.has(fn.name);
    taken.add(fn.name);
    for (const ins of fn.instructions) {
      instructions.push(own ? ins : copyInstruction(ins));
      slot += isLoadImm64(ins) ? 2 : 1;
    }
  }
  slot = 0;
  for (const ins of instructions) {
    if (isFunctionReference(ins)) ins.imm = startSlot.get(ins.reference!)! - (slot + 1);
    slot += isLoadImm64(ins) ? 2 : 1;
  }

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
