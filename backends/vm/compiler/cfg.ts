/**
 * Control flow of one BPF function for the compiled tier: basic blocks in
 * pc order, and a structured layout of WebAssembly `block`/`loop`
 * constructs that expresses every jump as a `br`.
 *
 * Blocks end at every jump, exit and call, so each block's instruction
 * count can be charged to the budget once at its start and a block is
 * never left half-way except by a fault. Fall-through edges stay
 * straight-line code. A forward jump to block `t` breaks out of a `block`
 * ending right before `t`; a backward jump to `t` continues a `loop`
 * starting at `t` (the stackifier of reducible control flow). When the
 * jumps cannot be nested that way (irreducible flow, which the kernel's
 * verifier would reject anyway), the layout falls back to one dispatch
 * loop with a `br_table` over the backward targets.
 *
 * @module
 */

/** One basic block: slots `[start, end)` holding `count` instructions. */
export interface BasicBlock {
  /** First slot. */
  start: number;
  /** One past the last slot. */
  end: number;
  /** Instructions (an `ld_imm64` counts once). */
  count: number;
}

/** A `block` (forward target at its end) or `loop` (backward target at its start). */
export interface Construct {
  /** `block` or `loop`. */
  kind: "block" | "loop";
  /** Block index the construct opens before. */
  start: number;
  /** Block index the construct closes before (the number of blocks for the end). */
  end: number;
}

/** The blocks of one function and how to nest them. */
export interface FunctionLayout {
  /** First slot of the function. */
  entry: number;
  /** One past its last slot. */
  end: number;
  /** Basic blocks in pc order. */
  blocks: BasicBlock[];
  /** Block index by start slot. */
  blockAt: Map<number, number>;
  /** The nesting constructs (stackified, or the dispatch layout). */
  constructs: Construct[];
  /** The `block` each forward target breaks to, by block index. */
  forward: Map<number, Construct>;
  /** The `loop` each backward target continues, by block index (stackified layout). */
  backward: Map<number, Construct>;
  /** Dispatch layout: the outer loop, and the br_table index of every backward target. */
  dispatch?: { loop: Construct; index: Map<number, number>; targets: number[] };
}

/** The jump target of the instruction at `pc`, or -1 when it is not a jump. */
export function jumpTarget(code: Int32Array, pc: number): number {
  const opcode = code[pc * 4];
  const cls = opcode & 7;
  if (cls !== 5 && cls !== 6) return -1;
  const op = opcode & 0xf0;
  if (op === 0x80 || op === 0x90) return -1;
  if (op === 0x00 && cls === 6) return pc + code[pc * 4 + 3] + 1; // gotol
  return pc + code[pc * 4 + 2] + 1;
}

/** Whether the instruction at `pc` ends its block (jump, exit, call). */
function endsBlock(code: Int32Array, pc: number): boolean {
  const opcode = code[pc * 4];
  const cls = opcode & 7;
  return cls === 5 || cls === 6;
}

/** Split the function at slots `[entry, end)` into blocks and lay them out. */
export function layoutFunction(code: Int32Array, entry: number, end: number): FunctionLayout {
  const leader = new Uint8Array(end - entry + 1);
  leader[0] = 1;
  for (let pc = entry; pc < end; pc += code[pc * 4] === 0x18 ? 2 : 1) {
    if (!endsBlock(code, pc)) continue;
    const next = pc + 1;
    if (next < end) leader[next - entry] = 1;
    const t = jumpTarget(code, pc);
    if (t >= entry && t < end) leader[t - entry] = 1;
  }
  const blocks: BasicBlock[] = [];
  const blockAt = new Map<number, number>();
  let current: BasicBlock | undefined;
  for (let pc = entry; pc < end; pc += code[pc * 4] === 0x18 ? 2 : 1) {
    if (leader[pc - entry] === 1 || current === undefined) {
      current = { start: pc, end: pc, count: 0 };
      blockAt.set(pc, blocks.length);
      blocks.push(current);
    }
    current.count++;
    current.end = pc + (code[pc * 4] === 0x18 ? 2 : 1);
  }

  // Edges by block index.
  const forwardFrom = new Map<number, number>(); // target -> earliest source
  const backwardFrom = new Map<number, number>(); // target -> latest source
  for (let i = 0; i < blocks.length; i++) {
    let last = blocks[i].start;
    for (let pc = last; pc < blocks[i].end; pc += code[pc * 4] === 0x18 ? 2 : 1) last = pc;
    const t = jumpTarget(code, last);
    const ti = blockAt.get(t);
    if (ti === undefined) continue;
    if (ti > i) {
      if (!forwardFrom.has(ti)) forwardFrom.set(ti, i);
    } else {
      backwardFrom.set(ti, Math.max(backwardFrom.get(ti) ?? i, i));
    }
  }
  const layout: FunctionLayout = {
    entry,
    end,
    blocks,
    blockAt,
    constructs: [],
    forward: new Map(),
    backward: new Map(),
  };
  if (!stackify(layout, forwardFrom, backwardFrom)) {
    dispatchLayout(layout, forwardFrom, backwardFrom);
  }
  return layout;
}

/**
 * Constructs beyond which the pairwise nesting fix-up would be too slow;
 * such (huge) functions take the dispatch layout.
 */
export const MAX_STACKIFY = 4096;

function stackify(
  layout: FunctionLayout,
  forwardFrom: Map<number, number>,
  backwardFrom: Map<number, number>,
): boolean {
  if (forwardFrom.size + backwardFrom.size > MAX_STACKIFY) return false;
  const all: Construct[] = [];
  for (const [t, s] of forwardFrom) {
    const c: Construct = { kind: "block", start: s, end: t };
    layout.forward.set(t, c);
    all.push(c);
  }
  for (const [t, s] of backwardFrom) {
    const c: Construct = { kind: "loop", start: t, end: s + 1 };
    layout.backward.set(t, c);
    all.push(c);
  }
  // Blocks may open earlier, loops may close later: widen until no two cross.
  // Every change widens one construct within [0, blocks], so this ends.
  for (let changed = true; changed;) {
    changed = false;
    for (const a of all) {
      for (const b of all) {
        if (!(a.start < b.start && b.start < a.end && a.end < b.end)) continue;
        if (b.kind === "block") b.start = a.start;
        else if (a.kind === "loop") a.end = b.end;
        else return false;
        changed = true;
      }
    }
  }
  layout.constructs = all;
  return true;
}

function dispatchLayout(
  layout: FunctionLayout,
  forwardFrom: Map<number, number>,
  backwardFrom: Map<number, number>,
): void {
  layout.forward.clear();
  layout.backward.clear();
  const loop: Construct = { kind: "loop", start: 0, end: layout.blocks.length };
  const constructs: Construct[] = [loop];
  const targets = [0, ...[...backwardFrom.keys()].filter((t) => t > 0).sort((a, b) => a - b)];
  const index = new Map<number, number>(targets.map((t, i) => [t, i]));
  for (const t of new Set([...forwardFrom.keys(), ...targets])) {
    if (t === 0) continue;
    const c: Construct = { kind: "block", start: 0, end: t };
    layout.forward.set(t, c);
    constructs.push(c);
  }
  layout.constructs = constructs;
  layout.dispatch = { loop, index, targets };
}
