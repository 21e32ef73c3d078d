/**
 * The `relocate` stage: assigns symbols to sections, decodes program
 * sections and applies their relocations, so that every instruction that
 * refers to a map, a data section, a function or an extern carries that
 * name as its `reference`.
 *
 * @module
 */

import {
  SHN_LORESERVE,
  SHN_UNDEF,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_FUNC,
  STT_NOTYPE,
  STT_OBJECT,
  STT_SECTION,
} from "../elf/constants.ts";
import type { ElfSymbol } from "../elf/types.ts";
import { LinkError } from "../errors/mod.ts";
import type { Instruction } from "../isa/instruction.ts";
import type { BtfExt } from "../btf/ext.ts";
import {
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  CALL_OPCODE,
  decodeInstructions,
  isCall,
  isLoadImm64,
} from "../isa/mod.ts";
import type { ClassifiedSection, LoadContext, SectionRelocation } from "./context.ts";
import { relocationsIfAny } from "./classify.ts";
import { inContext, requireElf } from "./context.ts";
import type { Stage } from "./pipeline.ts";

const BIND_NAMES: Record<number, string> = { 0: "LOCAL", 1: "GLOBAL", 2: "WEAK" };
const TYPE_NAMES: Record<number, string> = {
  0: "NOTYPE",
  1: "OBJECT",
  2: "FUNC",
  3: "SECTION",
  4: "FILE",
};

/** `"name" (OBJECT GLOBAL)`, or `section .text` for section symbols, for messages. */
function describe(sym: ElfSymbol, ctx?: LoadContext): string {
  if (sym.type === STT_SECTION) {
    const name = ctx?.sections.get(sym.sectionIndex)?.section.name;
    return name === undefined ? `section symbol ${sym.index}` : `section ${name}`;
  }
  const bind = BIND_NAMES[sym.bind] ?? `bind(${sym.bind})`;
  const type = TYPE_NAMES[sym.type] ?? `type(${sym.type})`;
  return `${JSON.stringify(sym.name)} (${type} ${bind})`;
}

/** Apply relocations to every program section; see the module docs. */
export function relocateStage(): Stage {
  return {
    name: "relocate",
    run(ctx: LoadContext) {
      assignSymbols(ctx);
      collectRelocations(ctx);
      for (const sec of ctx.sections.values()) {
        if (sec.kind !== "program") continue;
        try {
          relocateSection(ctx, sec);
        } catch (err) {
          throw inContext(err, `section ${sec.section.name}`);
        }
      }
    },
  };
}

/**
 * Record which named symbols mark places in map, data and program sections.
 * LLVM before 8 left symbols NOTYPE, so those count; local `LBB` labels are
 * jump targets inside functions and are skipped.
 */
function assignSymbols(ctx: LoadContext): void {
  for (const sym of ctx.symbols) {
    if (sym.name === "" || sym.sectionIndex === SHN_UNDEF || sym.sectionIndex >= SHN_LORESERVE) {
      continue;
    }
    const sec = ctx.sections.get(sym.sectionIndex);
    if (sec === undefined) continue;
    switch (sec.kind) {
      case "legacyMaps":
      case "btfMaps":
      case "data":
        if (sym.type !== STT_NOTYPE && sym.type !== STT_OBJECT) continue;
        break;
      case "program":
        if (sym.type !== STT_NOTYPE && sym.type !== STT_FUNC) continue;
        if (sym.type === STT_NOTYPE && sym.bind === STB_LOCAL && sym.name.startsWith("LBB")) {
          continue;
        }
        break;
      default:
        continue;
    }
    const existing = sec.symbols.get(sym.value);
    // Prefer a typed symbol over an untyped alias at the same place.
    if (existing === undefined || (existing.type === STT_NOTYPE && sym.type !== STT_NOTYPE)) {
      sec.symbols.set(sym.value, sym);
    }
  }
}

/** Attach every REL section's entries to the program or `.maps` section it applies to. */
function collectRelocations(ctx: LoadContext): void {
  const elf = requireElf(ctx, "relocate");
  for (const rel of ctx.sections.values()) {
    if (rel.kind !== "relocations") continue;
    const target = ctx.sections.get(rel.section.info);
    if (target === undefined || (target.kind !== "program" && target.kind !== "btfMaps")) continue;
    const entries = elf.relocations(rel.section);
    const relocations = target.relocations;
    const fromCode = target.kind === "program";
    for (let i = 0; i < entries.length; i++) {
      const { offset, symbolIndex, type } = entries[i];
      const symbol = ctx.symbols[symbolIndex];
      if (symbol === undefined) {
        throw new LinkError(
          "LINK_BAD_SYMBOL_INDEX",
          `section ${rel.section.name}: relocation at offset ${offset} names symbol ${symbolIndex}, past the symbol table`,
          { section: rel.section.name, offset },
        );
      }
      // A literal, not `{ ...entry, symbol }`: spreads are slow in both engines.
      relocations.set(offset, { offset, symbolIndex, type, symbol });
      if (fromCode) {
        const into = ctx.sections.get(symbol.sectionIndex);
        if (into !== undefined) into.references++;
      }
    }
  }
}

function relocateSection(ctx: LoadContext, sec: ClassifiedSection): void {
  const elf = requireElf(ctx, "relocate");
  const insns = decodeInstructions(elf.sectionData(sec.section), {
    littleEndian: elf.littleEndian,
  });
  // Slot → instruction (undefined for the second slot of ld_imm64), to
  // find relocation targets.
  const bySlot: (Instruction | undefined)[] = new Array(sec.section.size >>> 3);
  for (let i = 0; i < insns.length; i++) {
    const ins = insns[i];
    bySlot[ins.sourceOffset! >>> 3] = ins;
  }
  // A section has a few symbols and many instructions: look each symbol up
  // by slot rather than each instruction up by offset.
  for (const [at, sym] of sec.symbols) {
    const ins = at % 8 === 0 ? bySlot[at >>> 3] : undefined;
    if (ins !== undefined && ins.sourceOffset === at) ins.symbol = sym.name;
  }

  if (ctx.btfExt !== undefined) attachExtInfo(ctx.btfExt, sec, bySlot);

  const relocations = relocationsIfAny(sec);
  if (relocations !== undefined) applyRelocations(ctx, sec, relocations, bySlot);

  // Up to LLVM 9, calls inside one section could be plain relative calls
  // without a relocation: name their target before the section is split.
  for (let i = 0; i < insns.length; i++) {
    const ins = insns[i];
    if (ins.opcode !== CALL_OPCODE || ins.src !== BPF_PSEUDO_CALL || ins.imm === -1) continue;
    const at = ins.sourceOffset!;
    if (relocations?.has(at)) continue;
    const target = at + (ins.imm + 1) * 8;
    const sym = sec.symbols.get(target);
    if (sym === undefined) {
      throw new LinkError(
        "LINK_BAD_CALL_TARGET",
        `offset ${at}: relative call to offset ${target}, where no function starts`,
        { section: sec.section.name, offset: at },
      );
    }
    ins.reference = sym.name;
    ins.imm = -1;
  }
  sec.instructions = insns;
}

/** Point every relocated instruction of `sec` at what its symbol names. */
function applyRelocations(
  ctx: LoadContext,
  sec: ClassifiedSection,
  relocations: Map<number, SectionRelocation>,
  bySlot: (Instruction | undefined)[],
): void {
  for (const [at, rel] of relocations) {
    const ins = at % 8 === 0 ? bySlot[at >>> 3] : undefined;
    if (ins === undefined) {
      throw new LinkError(
        "LINK_BAD_RELOCATION_OFFSET",
        `offset ${at}: relocation does not point at the start of an instruction`,
        { section: sec.section.name, offset: at },
      );
    }
    try {
      relocateInstruction(ctx, ins, rel.symbol);
    } catch (err) {
      throw inContext(err, `offset ${at}: relocating instruction`);
    }
  }
}

/**
 * `.BTF.ext` records become instruction metadata (`func`, `line`,
 * `coreRelo`), so they follow their instructions through linking.
 */
function attachExtInfo(
  ext: BtfExt,
  sec: ClassifiedSection,
  bySlot: (Instruction | undefined)[],
): void {
  const name = sec.section.name;
  const funcs = ext.funcInfo.get(name);
  if (funcs !== undefined) {
    for (const r of funcs) extTarget(bySlot, r.insnOff, "func_info", name).func = r.typeId;
  }
  const lines = ext.lineInfo.get(name);
  if (lines !== undefined) {
    for (const r of lines) {
      extTarget(bySlot, r.insnOff, "line_info", name).line = {
        fileName: r.fileName,
        lineText: r.lineText,
        line: r.line,
        column: r.column,
      };
    }
  }
  // Most objects have no CO-RE relocations: skip the lookup by name.
  const relos = ext.coreRelos.size === 0 ? undefined : ext.coreRelos.get(name);
  if (relos !== undefined) {
    for (const r of relos) {
      extTarget(bySlot, r.insnOff, "CO-RE relocation", name).coreRelo = {
        typeId: r.typeId,
        accessor: r.accessor,
        kind: r.kind,
      };
    }
  }
}

/** The instruction a `.BTF.ext` record of section `name` points at. */
function extTarget(
  bySlot: (Instruction | undefined)[],
  insnOff: number,
  what: string,
  name: string,
): Instruction {
  const ins = insnOff % 8 === 0 ? bySlot[insnOff >>> 3] : undefined;
  if (ins === undefined) {
    throw new LinkError(
      "LINK_BAD_EXT_INFO",
      `.BTF.ext ${what} record at instruction offset ${insnOff} does not start an instruction of section ${name}`,
      { section: name, offset: insnOff },
    );
  }
  return ins;
}

function relocateInstruction(ctx: LoadContext, ins: Instruction, sym: ElfSymbol): void {
  if (sym.sectionIndex === SHN_UNDEF) return relocateExtern(ins, sym);
  const target = sym.sectionIndex < SHN_LORESERVE ? ctx.sections.get(sym.sectionIndex) : undefined;
  if (target === undefined) {
    throw new LinkError(
      "LINK_UNSUPPORTED_RELOCATION",
      `symbol ${describe(sym, ctx)} is in special section 0x${
        sym.sectionIndex.toString(16)
      }; common symbols need an initializer or -fno-common`,
    );
  }
  switch (target.kind) {
    case "legacyMaps":
    case "btfMaps":
      return relocateMap(ins, sym, target, ctx);
    case "data":
      return relocateData(ins, sym, target, ctx);
    case "program":
      return relocateFunction(ins, sym, target, ctx);
    default:
      throw new LinkError(
        "LINK_UNSUPPORTED_RELOCATION",
        `reference to ${
          describe(sym, ctx)
        } in section ${target.section.name} (${target.kind}) is not supported`,
      );
  }
}

/** Undefined symbols: externs (kconfig, ksyms, kfuncs, inline asm) left for later stages. */
function relocateExtern(ins: Instruction, sym: ElfSymbol): void {
  if (sym.bind !== STB_GLOBAL && sym.bind !== STB_WEAK) {
    throw new LinkError("LINK_BAD_EXTERN", `extern ${describe(sym)} must be global or weak`);
  }
  if (!isLoadImm64(ins) && !isCall(ins)) {
    throw new LinkError(
      "LINK_BAD_EXTERN",
      `extern ${
        describe(sym)
      } referenced by an instruction that is neither a 64-bit load nor a call`,
    );
  }
  ins.reference = sym.name;
}

function relocateMap(
  ins: Instruction,
  sym: ElfSymbol,
  target: ClassifiedSection,
  ctx: LoadContext,
): void {
  let map = sym;
  if (sym.type === STT_SECTION) {
    // Static map definitions: the offset is in the instruction.
    const named = target.symbols.get(ins.imm);
    if (named === undefined) {
      throw new LinkError(
        "LINK_BAD_MAP_REFERENCE",
        `no map symbol at offset ${ins.imm} of section ${target.section.name}`,
      );
    }
    map = named;
  } else if (sym.type !== STT_OBJECT && sym.type !== STT_NOTYPE) {
    throw new LinkError("LINK_BAD_MAP_REFERENCE", `map ${describe(sym, ctx)}: not a data object`);
  }
  if (map.bind === STB_LOCAL) {
    throw new LinkError(
      "LINK_STATIC_MAP",
      `map ${
        JSON.stringify(map.name)
      }: static maps can't be referenced (drop the static qualifier)`,
    );
  }
  if (!isLoadImm64(ins)) {
    throw new LinkError(
      "LINK_BAD_MAP_REFERENCE",
      `map ${JSON.stringify(map.name)}: referenced by an instruction that is not a 64-bit load`,
    );
  }
  ins.src = BPF_PSEUDO_MAP_FD;
  ins.imm = 0;
  ins.immHi = 0;
  ins.reference = map.name;
}

/**
 * Loads of global data become map-value loads of the section's map. As in
 * libbpf, the offset is the symbol's value plus the addend clang leaves in
 * the instruction (for section symbols, the addend alone).
 */
function relocateData(
  ins: Instruction,
  sym: ElfSymbol,
  target: ClassifiedSection,
  ctx: LoadContext,
): void {
  const name = target.section.name;
  if (!isLoadImm64(ins)) {
    throw new LinkError(
      "LINK_BAD_DATA_REFERENCE",
      `${describe(sym, ctx)} in ${name}: referenced by an instruction that is not a 64-bit load`,
    );
  }
  const accepted = (sym.type === STT_SECTION && sym.bind === STB_LOCAL) ||
    (sym.type === STT_OBJECT && sym.bind <= STB_WEAK) ||
    (sym.type === STT_NOTYPE && sym.bind === STB_LOCAL);
  if (!accepted) {
    throw new LinkError(
      "LINK_BAD_DATA_REFERENCE",
      `${describe(sym, ctx)} in ${name}: unsupported symbol for a global data load`,
    );
  }
  const offset = sym.value + ins.imm;
  if (offset < 0 || offset >= Math.max(target.section.size, 1)) {
    throw new LinkError(
      "LINK_BAD_DATA_REFERENCE",
      `${describe(sym, ctx)}: offset ${offset} is outside ${name} (${target.section.size} bytes)`,
    );
  }
  ins.src = BPF_PSEUDO_MAP_VALUE;
  ins.imm = 0;
  ins.immHi = offset;
  ins.reference = name;
}

/** Calls to and addresses of functions: named now, offsets fixed by `link`. */
function relocateFunction(
  ins: Instruction,
  sym: ElfSymbol,
  target: ClassifiedSection,
  ctx: LoadContext,
): void {
  const bindOk = sym.type === STT_SECTION
    ? sym.bind === STB_LOCAL
    : sym.type === STT_FUNC || sym.type === STT_NOTYPE;
  if (!bindOk) {
    throw new LinkError(
      "LINK_BAD_CALL",
      `function reference to ${describe(sym, ctx)} is not supported`,
    );
  }
  let offset: number;
  if (isCall(ins)) {
    if (ins.src !== BPF_PSEUDO_CALL) {
      throw new LinkError(
        "LINK_BAD_CALL",
        `call to ${
          describe(sym, ctx)
        }: source register ${ins.src}, want ${BPF_PSEUDO_CALL} (bpf-to-bpf call)`,
      );
    }
    offset = sym.value + (ins.imm + 1) * 8;
  } else if (isLoadImm64(ins)) {
    offset = sym.value + ins.imm;
    ins.src = BPF_PSEUDO_FUNC;
    ins.immHi = 0;
  } else {
    throw new LinkError(
      "LINK_BAD_CALL",
      `reference to function ${
        describe(sym, ctx)
      } from an instruction that is neither a call nor a 64-bit load`,
    );
  }
  const fn = target.symbols.get(offset);
  if (fn === undefined) {
    throw new LinkError(
      "LINK_BAD_CALL_TARGET",
      `no function at offset ${offset} of section ${target.section.name} (via ${
        describe(sym, ctx)
      })`,
    );
  }
  ins.imm = -1;
  ins.reference = fn.name;
}
