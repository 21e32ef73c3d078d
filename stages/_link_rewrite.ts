/**
 * Instruction rewriting for the static link: weak functions that lost
 * dropped, statics renamed, externs resolved, data offsets moved with
 * their section's part, type IDs remapped into the merged BTF.
 *
 * @module
 */

import type { ElfSymbol } from "../elf/types.ts";
import { STB_LOCAL } from "../elf/constants.ts";
import { LinkError, withContext } from "../errors/mod.ts";
import type { Instruction } from "../isa/instruction.ts";
import {
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  isCall,
  isLoadImm64,
} from "../isa/mod.ts";
import { type Definition, type ObjectPlan, type Part, partOffset } from "./_link_plan.ts";

/**
 * One object's part of a merged program section, rewritten in place for
 * the merged object; returns the instructions kept.
 */
export function rewriteInstructions(
  plan: ObjectPlan,
  { part, idMap }: { part: Part; idMap: (id: number) => number },
): Instruction[] {
  const kept: Instruction[] = [];
  let dropping = false;
  for (const ins of part.sec.instructions ?? []) {
    if (ins.symbol !== undefined) dropping = plan.losers.has(ins.symbol);
    if (dropping) continue;
    if (ins.symbol !== undefined) ins.symbol = plan.renames.get(ins.symbol) ?? ins.symbol;
    if (ins.func !== undefined) ins.func = idMap(ins.func);
    if (ins.coreRelo !== undefined) {
      ins.coreRelo = { ...ins.coreRelo, typeId: idMap(ins.coreRelo.typeId) };
    }
    if (ins.reference !== undefined) {
      const rel = ins.sourceOffset === undefined
        ? undefined
        : part.sec.relocations.get(ins.sourceOffset);
      rewriteReference(plan, { ins, symbol: rel?.symbol });
    }
    if (ins.sourceOffset !== undefined) ins.sourceOffset += part.offset;
    kept.push(ins);
  }
  return kept;
}

function rewriteReference(
  plan: ObjectPlan,
  { ins, symbol }: { ins: Instruction; symbol?: ElfSymbol },
): void {
  const ref = ins.reference!;
  if (isLoadImm64(ins) && ins.src === BPF_PSEUDO_MAP_VALUE) {
    const winner = symbol !== undefined && symbol.bind !== STB_LOCAL &&
        plan.losers.has(symbol.name)
      ? plan.globals.get(symbol.name)
      : undefined;
    if (winner === undefined) {
      // Data loads name their section; the offset moves with this object's part.
      ins.immHi = (ins.immHi ?? 0) + partOffset(plan, ref);
      return;
    }
    // A weak variable that lost: load the winner's bytes instead.
    const addend = (ins.immHi ?? 0) - symbol!.value;
    ins.immHi = winner.part.offset + winner.sym.value + addend;
    ins.reference = winner.part.out.name;
    return;
  }
  const renamed = plan.renames.get(ref);
  if (renamed !== undefined) {
    ins.reference = renamed;
    return;
  }
  const def = plan.resolved.get(ref);
  if (def === undefined) return;
  withContext(`extern ${JSON.stringify(ref)}`, () => resolveReference({ ins, def }));
}

/** Turn a reference to an extern into one to the definition another object has. */
function resolveReference({ ins, def }: { ins: Instruction; def: Definition }): void {
  const kind = def.part.out.kind;
  const where = `defined in ${def.part.out.name}`;
  def.part.out.references++;
  if (isCall(ins)) {
    if (kind !== "program") {
      throw new LinkError("LINK_BAD_EXTERN", `called, but ${where}, which holds no functions`);
    }
    ins.src = BPF_PSEUDO_CALL;
    ins.imm = -1;
    return;
  }
  if (!isLoadImm64(ins)) {
    throw new LinkError("LINK_BAD_EXTERN", "referenced by neither a call nor a 64-bit load");
  }
  if (kind === "program") {
    ins.src = BPF_PSEUDO_FUNC;
    ins.imm = -1;
    ins.immHi = 0;
  } else if (kind === "btfMaps") {
    ins.src = BPF_PSEUDO_MAP_FD;
    ins.imm = 0;
    ins.immHi = 0;
  } else if (kind === "data") {
    const offset = def.part.offset + def.sym.value + ins.imm;
    ins.src = BPF_PSEUDO_MAP_VALUE;
    ins.imm = 0;
    ins.immHi = offset;
    ins.reference = def.part.out.name;
  } else {
    throw new LinkError(
      "LINK_BAD_EXTERN",
      `${where} of kind ${kind}, which 64-bit loads can't refer to`,
    );
  }
}
