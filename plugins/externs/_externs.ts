/**
 * What the extern plugins share: the object's externs as libbpf's
 * `bpf_object__collect_externs` sees them, and the instructions that load
 * or call them.
 *
 * @module
 */

import type { Btf } from "../../btf/btf.ts";
import { type BtfDatasec, BtfKind } from "../../btf/types.ts";
import { SHN_UNDEF, STB_WEAK } from "../../elf/constants.ts";
import type { Instruction } from "../../isa/instruction.ts";
import type { LoadContext } from "../../stages/context.ts";

/** `KCONFIG_SEC` and `KSYMS_SEC` of libbpf. */
export const KCONFIG_SEC = ".kconfig";
/** The section of `__ksym` externs. */
export const KSYMS_SEC = ".ksyms";

/** One extern declared in the object's BTF. */
export interface ExternDecl {
  /** The symbol's name. */
  name: string;
  /** `.kconfig` or `.ksyms`. */
  section: typeof KCONFIG_SEC | typeof KSYMS_SEC;
  /** The VAR or FUNC in the object's BTF. */
  btfId: number;
  /** A FUNC (kfunc) rather than a VAR. */
  isFunc: boolean;
  /** `__weak`: missing means 0 instead of an error. */
  weak: boolean;
  /** Position in libbpf's sorted extern list (`cmp_externs`), for the kfunc poison value. */
  index: number;
}

/**
 * Whether the object declares any extern (a named undefined symbol): most
 * objects don't, and the extern stages then cost one pass over the symbols.
 */
export function hasExterns(ctx: LoadContext): boolean {
  for (const sym of ctx.symbols) {
    if (sym.sectionIndex === SHN_UNDEF && sym.name !== "") return true;
  }
  return false;
}

/** Externs of `.kconfig` and `.ksyms`, in libbpf's order (kconfig by alignment, size, name; then ksyms by name). */
export function collectExterns(ctx: LoadContext): ExternDecl[] {
  const btf = ctx.btf;
  if (btf === undefined) return [];
  const weak = new Set<string>();
  for (const sym of ctx.symbols) {
    if (sym.sectionIndex === SHN_UNDEF && sym.bind === STB_WEAK && sym.name !== "") {
      weak.add(sym.name);
    }
  }
  const kconfig: (ExternDecl & { align: number; size: number })[] = [];
  const ksyms: ExternDecl[] = [];
  for (const section of [KCONFIG_SEC, KSYMS_SEC] as const) {
    const id = btf.idsByName(section).find((i) => btf.kindOf(i) === BtfKind.DATASEC);
    if (id === undefined) continue;
    for (const v of (btf.type(id) as BtfDatasec).vars) {
      const t = btf.type(v.type);
      if (t.kind !== BtfKind.VAR && t.kind !== BtfKind.FUNC) continue;
      const decl: ExternDecl = {
        name: t.name,
        section,
        btfId: t.id,
        isFunc: t.kind === BtfKind.FUNC,
        weak: weak.has(t.name),
        index: 0,
      };
      if (section === KSYMS_SEC) ksyms.push(decl);
      else if (t.kind === BtfKind.VAR) {
        kconfig.push({
          ...decl,
          align: safe(() => btf.alignOf(t.type)),
          size: sizeOf(btf, t.type),
        });
      }
    }
  }
  kconfig.sort((a, b) => b.align - a.align || a.size - b.size || cmp(a.name, b.name));
  ksyms.sort((a, b) => cmp(a.name, b.name));
  const out: ExternDecl[] = [
    ...kconfig.map(({ align: _a, size: _s, ...d }) => d),
    ...ksyms,
  ];
  out.forEach((d, i) => d.index = i);
  return out;
}

/** The size of a type, 0 when BTF can't say. */
export function sizeOf(btf: Btf, id: number): number {
  return safe(() => btf.sizeOf(id));
}

function safe(fn: () => number): number {
  try {
    return fn();
  } catch {
    return 0;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Every instruction of every linked program (`ctx.programs`). */
export function* programInstructions(ctx: LoadContext): IterableIterator<Instruction> {
  for (const p of ctx.programs.values()) yield* p.instructions;
}

/** Every instruction of every program section, before `link` splits them into programs. */
export function* sectionInstructions(ctx: LoadContext): IterableIterator<Instruction> {
  for (const sec of ctx.sections.values()) {
    if (sec.kind === "program") yield* sec.instructions ?? [];
  }
}
