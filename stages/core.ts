/**
 * The `core` stage: applies every program's CO-RE relocations against a
 * target BTF (the running kernel's vmlinux and module BTFs by default, or
 * `LoadOptions.core.btf`), patching instructions the way libbpf does, and
 * records one {@link CoreRelocationResult} per relocation on
 * `ProgramSpec.coreRelocations`.
 *
 * Without a target BTF the stage does not fail: relocations that need one
 * are recorded as `unresolved` with the reason and their instructions are
 * left alone; the kernel backend refuses such programs.
 *
 * @module
 */

import { Btf } from "../btf/btf.ts";
import {
  type CoreCandidate,
  CoreError,
  type CoreRelocationResult,
  CoreReloKind,
  coreReloKindString,
  type CoreTarget,
  type CoreTargetSource,
  describeType,
  findCandidates,
  formatCoreAccess,
  parseCoreSpec,
  patchCoreInstruction,
  resolveCoreRelocation,
} from "../btf/core/mod.ts";
import type { ProgramSpec } from "../collection/spec.ts";
import { readElf } from "../elf/mod.ts";
import { TsbpfError, withContext } from "../errors/mod.ts";
import type { Instruction } from "../isa/instruction.ts";
import { slotCount } from "../isa/opcodes.ts";
import {
  kernelBtf,
  kernelModuleBtf,
  kernelModuleNames,
  readFileBytes,
} from "../backends/kernel/kernel_btf.ts";
import type { CoreLoadOptions, LoadContext } from "./context.ts";
import type { Stage } from "./pipeline.ts";

/** The stage's name, for plugins placing stages around it. */
export const CORE_STAGE = "core";

/**
 * The `core` stage. `defaults` apply when the load's options have no
 * `core` key (the config plugin passes the config's `core.btf` this way).
 */
export function coreStage(defaults: CoreLoadOptions = {}): Stage {
  return {
    name: CORE_STAGE,
    run(ctx: LoadContext) {
      const programs = [...ctx.programs.values()].filter((p) =>
        p.instructions.some((ins) => ins.coreRelo !== undefined)
      );
      if (programs.length === 0) return;
      const local = ctx.btf;
      if (local === undefined) {
        throw new CoreError(
          "CORE_NO_LOCAL_BTF",
          "the object has CO-RE relocations but no usable .BTF to read them against",
        );
      }
      const options = ctx.options.core ?? defaults;
      let source: CoreTargetSource | undefined;
      let unresolved: string | undefined;
      try {
        source = targetSource(options);
      } catch (err) {
        if (!(err instanceof TsbpfError)) throw err;
        unresolved = err.message;
      }
      // One candidate list per local type per load, narrowed as relocations
      // match (libbpf's cand_cache); the lookups behind it are cached per target.
      const cache = new Map<number, CoreCandidate[]>();
      const env: RelocateEnv = { local, source, unresolved, cache };
      for (const prog of programs) {
        withContext(`program ${prog.name}`, () => relocateProgram(prog, env));
      }
    },
  };
}

interface RelocateEnv {
  local: Btf;
  source?: CoreTargetSource;
  unresolved?: string;
  cache: Map<number, CoreCandidate[]>;
}

function relocateProgram(prog: ProgramSpec, env: RelocateEnv): void {
  const out: Instruction[] = [];
  const results: CoreRelocationResult[] = [];
  let slot = 0;
  const littleEndian = prog.byteOrder === "little";
  for (const ins of prog.instructions) {
    const relo = ins.coreRelo;
    if (relo === undefined) {
      out.push(ins);
      slot += slotCount(ins);
      continue;
    }
    const index = slot;
    const what = `insn #${index}: <${
      coreReloKindString(relo.kind)
    }> relocation of [${relo.typeId}]`;
    withContext(what, () => {
      const needsTarget = relo.kind !== CoreReloKind.TYPE_ID_LOCAL;
      if (needsTarget && env.source === undefined) {
        const spec = parseCoreSpec(env.local, relo);
        results.push({
          ...baseResult(env.local, relo, index),
          spec: formatCoreAccess(spec),
          origValue: 0n,
          newValue: 0n,
          status: "unresolved",
          reason: env.unresolved ?? "no target BTF",
        });
        out.push(ins);
        return;
      }
      let candidates: CoreCandidate[] | undefined;
      if (needsTarget) {
        candidates = env.cache.get(relo.typeId);
        if (candidates === undefined) {
          candidates = findCandidates(env.local, relo.typeId, env.source!);
          env.cache.set(relo.typeId, candidates);
        }
      }
      const resolution = resolveCoreRelocation(env.local, relo, {
        candidates,
        littleEndian,
        targetName: targetNames(env.source),
      });
      const { instructions: patched, poisoned } = patchCoreInstruction(
        ins,
        resolution.result,
        index,
      );
      const target = resolution.target;
      results.push({
        ...baseResult(env.local, relo, index),
        spec: formatCoreAccess(resolution.local),
        target: target === undefined ? undefined : {
          btf: target.candidate.target.name,
          typeId: target.candidate.id,
          spec: formatCoreAccess(target.spec),
        },
        origValue: resolution.result.origVal,
        newValue: poisoned ? 0n : resolution.result.newVal,
        status: poisoned ? "poisoned" : "patched",
        reason: poisoned && resolution.reason === undefined
          ? `the field is ${resolution.result.origSize} bytes locally and ${resolution.result.newSize} in the target: only loads and stores of pointers and unsigned integers can be resized`
          : resolution.reason,
      });
      out.push(...patched);
    });
    slot += slotCount(ins);
  }
  prog.instructions = out;
  prog.coreRelocations = results;
}

function baseResult(
  local: Btf,
  relo: { typeId: number; accessor: string; kind: number },
  insn: number,
): Pick<
  CoreRelocationResult,
  "insn" | "kind" | "kindName" | "localTypeId" | "localType" | "accessor"
> {
  return {
    insn,
    kind: relo.kind,
    kindName: coreReloKindString(relo.kind),
    localTypeId: relo.typeId,
    localType: describeType(local, relo.typeId),
    accessor: relo.accessor,
  };
}

function targetNames(source: CoreTargetSource | undefined): string {
  if (source === undefined) return "the target BTF";
  return source.modules === undefined ? source.main.name : `${source.main.name} or kernel modules`;
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/**
 * A target BTF from a `Btf`, raw bytes, or a file path: a raw BTF blob or
 * an ELF file with a `.BTF` section (like libbpf's `btf_custom_path`).
 * Throws a {@link CoreError} (`CORE_TARGET_BTF`) naming the file when it
 * can't be read or has no BTF.
 */
export function loadTargetBtf(source: Btf | Uint8Array | string): CoreTarget {
  if (source instanceof Btf) return { name: "custom", btf: source };
  const name = typeof source === "string" ? source : "custom";
  let bytes: Uint8Array;
  if (typeof source === "string") {
    try {
      bytes = readFileBytes(source);
    } catch (err) {
      throw new CoreError(
        "CORE_TARGET_BTF",
        `reading target BTF ${source}: ${(err as Error).message ?? String(err)}`,
        { cause: err },
      );
    }
  } else bytes = source;
  return withContext(`target BTF ${name}`, () => {
    if (ELF_MAGIC.every((b, i) => bytes[i] === b)) {
      const elf = readElf(bytes);
      const sec = elf.sectionByName(".BTF");
      if (sec === undefined) {
        throw new CoreError("CORE_TARGET_BTF", "the ELF file has no .BTF section");
      }
      return { name, btf: Btf.parse(elf.sectionData(sec)) };
    }
    return { name, btf: Btf.parse(bytes) };
  });
}

/** The targets for `options`: the custom BTF alone, or vmlinux then (lazily) module BTFs. */
function targetSource(options: CoreLoadOptions): CoreTargetSource {
  if (options.btf !== undefined) {
    const main = loadTargetBtf(options.btf);
    // As libbpf: a custom vmlinux BTF is not combined with the kernel's modules.
    return { main, modules: options.modules === true ? kernelModules : undefined };
  }
  const main = { name: "vmlinux", btf: kernelBtf() };
  return { main, modules: options.modules === false ? undefined : kernelModules };
}

function kernelModules(): CoreTarget[] {
  const out: CoreTarget[] = [];
  for (const name of kernelModuleNames()) {
    try {
      out.push({ name, btf: kernelModuleBtf(name) });
    } catch (err) {
      // A module that went away or has unreadable BTF is no candidate.
      if (!(err instanceof TsbpfError)) throw err;
    }
  }
  return out;
}
