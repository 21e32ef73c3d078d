/**
 * {@link loadVmCollection}: a {@link CollectionSpec} brought to life in the
 * VM, with the kernel backend's `Collection` API: `maps` and `programs` by
 * name, `close()` and `using`.
 *
 * The order of work follows the kernel loader's: maps (inner templates
 * first, contents written, `.rodata` frozen), then programs with their map
 * references resolved to addresses, then prog arrays and map-of-maps filled
 * from contents that name programs and maps. Any failure closes what was
 * made and rethrows with context.
 *
 * ```ts
 * import { loadCollectionSpec } from "../../mod.ts";
 * import { loadVmCollection } from "./collection.ts";
 *
 * const spec = await loadCollectionSpec(await Deno.readFile("fixtures/bpfel/xdp_counter.o"));
 * using coll = loadVmCollection(spec, { tier: "jit" });
 * const { retval } = coll.programs.get("xdp_count")!.run(new Uint8Array(64));
 * ```
 *
 * @module
 */

import type { Btf } from "../../btf/btf.ts";
import { BtfKind } from "../../btf/types.ts";
import type {
  CollectionSpec,
  MapKV,
  MapSpec,
  Metadata,
  ProgramSpec,
} from "../../collection/spec.ts";
import { MapType } from "../../collection/types.ts";
import { TsbpfError } from "../../errors/mod.ts";
import type { Instruction } from "../../isa/instruction.ts";
import {
  BPF_PSEUDO_BTF_ID,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_IDX,
  BPF_PSEUDO_MAP_IDX_VALUE,
  BPF_PSEUDO_MAP_VALUE,
  isKfuncCall,
  isLoadImm64,
} from "../../isa/opcodes.ts";
import { unresolvedReason } from "../../plugins/externs/metadata.ts";
import { VmError } from "./errors.ts";
import type { VmMemory } from "./memory.ts";
import { defaultHelpers } from "./helpers/mod.ts";
import { VmCollectionMap } from "./map_handle.ts";
import { createVmMap, type VmMapInit } from "./maps/mod.ts";
import { loadVmCode } from "./program.ts";
import { type ExecutorFactory, VmProgram } from "./program_handle.ts";
import { createRuntime, type Runtime } from "./runtime.ts";
import { executorFactory } from "./tiers.ts";
import type { VmHelper, VmMap, VmRuntimeOptions, VmTier } from "./types.ts";
import {
  buildReport,
  type ProgramLoadReport,
  type ProgramSelection,
  type SelectionOptions,
  selectPrograms,
} from "../selection.ts";

/**
 * Options of {@link loadVmCollection}. Program selection (`programs`,
 * `include`, `exclude`, `optional`) is {@link SelectionOptions}, read as
 * the kernel backend reads it.
 */
export interface VmLoadOptions extends SelectionOptions {
  /** `interpret` (default) or `jit` (compiled to WebAssembly). */
  tier?: VmTier;
  /** What helpers see of the system (clock, seed, CPU, pid …) and the run budget. */
  runtime?: VmRuntimeOptions;
  /** Extra helpers by ID, over the built-in ones (plugins' `helpers`). */
  helpers?: ReadonlyMap<number, VmHelper>;
  /**
   * The arena to live in; default a fresh one per collection. Collections
   * sharing one arena share its size limit; each still has its own maps.
   */
  memory?: VmMemory;
}

/** Maps and programs of one load into the VM, closed together. */
export class VmCollection implements Disposable {
  /** Maps by the spec's names. */
  readonly maps: Map<string, VmCollectionMap>;
  /** Programs by the spec's names. */
  readonly programs: Map<string, VmProgram>;
  /** The runtime the programs share (trace output, clocks, the arena). */
  readonly runtime: Runtime;
  /** Warnings of the load: selection globs that matched no program. */
  readonly diagnostics: readonly string[];
  /**
   * What became of every program of the spec, in spec order, as the kernel
   * backend reports it (`loaded`, `skipped` with a reason, `failed`).
   */
  readonly report: readonly ProgramLoadReport[];
  #closed = false;

  /** A collection owning `runtime` and everything in it. */
  constructor(
    runtime: Runtime,
    maps: Map<string, VmCollectionMap>,
    programs: Map<string, VmProgram>,
    options: { diagnostics?: readonly string[]; report?: readonly ProgramLoadReport[] } = {},
  ) {
    this.runtime = runtime;
    this.maps = maps;
    this.programs = programs;
    this.diagnostics = options.diagnostics ?? [];
    this.report = options.report ?? [];
  }

  /** A map by name. */
  map(name: string): VmCollectionMap | undefined {
    return this.maps.get(name);
  }

  /** A program by name. */
  program(name: string): VmProgram | undefined {
    return this.programs.get(name);
  }

  /** Lines `bpf_trace_printk` and friends wrote, oldest first. */
  get trace(): readonly string[] {
    return this.runtime.trace;
  }

  /** Close every program, then every map, then the runtime; later calls are no-ops. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.programs.values()) p.close();
    for (const m of this.maps.values()) m.close();
    this.runtime.close();
  }

  /** {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Load `spec` into a fresh VM. */
export function loadVmCollection(spec: CollectionSpec, options: VmLoadOptions = {}): VmCollection {
  const helpers = new Map(defaultHelpers());
  for (const [id, helper] of options.helpers ?? []) helpers.set(id, helper);
  const runtime = createRuntime({ ...options.runtime, helpers, mem: options.memory });
  const maps = new Map<string, VmCollectionMap>();
  const programs = new Map<string, VmProgram>();
  try {
    const tier = options.tier ?? "interpret";
    const factory = executorFactory(tier);
    const chosen = selectPrograms(spec, options);
    const { programs: wanted, maps: mapNames } = selectObjects(spec, chosen, {
      wholeObject: options.programs === undefined && options.include === undefined,
    });
    for (const ms of spec.maps.values()) {
      if (!mapNames.has(ms.name)) continue;
      maps.set(ms.name, withContext(`create map ${ms.name}`, () => createMap(runtime, spec, ms)));
    }
    const failed = new Map<string, TsbpfError>();
    for (const ps of wanted) {
      try {
        programs.set(
          ps.name,
          withContext(
            `load program ${ps.name}`,
            () => loadProgram(runtime, ps, { maps, tier, factory, metadata: spec.metadata }),
          ),
        );
      } catch (err) {
        // Maps stay all-or-nothing; an optional program's refusal is reported instead.
        if (!(err instanceof TsbpfError) || !chosen.isOptional(ps.name)) throw err;
        failed.set(ps.name, err);
      }
    }
    const notes = new Map<string, string[]>();
    const absent = (name: string) => failed.has(name) || chosen.skipped.get(name) === "excluded";
    for (const ms of spec.maps.values()) {
      const map = maps.get(ms.name);
      if (map === undefined) continue;
      withContext(
        `fill map ${ms.name}`,
        () => fillReferences(runtime, ms, map, { maps, programs, absent, notes }),
      );
    }
    const report = buildReport(spec, {
      loaded: new Set(programs.keys()),
      failed,
      skipped: chosen.skipped,
      notes,
    });
    return new VmCollection(runtime, maps, programs, {
      diagnostics: chosen.diagnostics,
      report,
    });
  } catch (err) {
    for (const p of programs.values()) p.close();
    for (const m of maps.values()) m.close();
    runtime.close();
    throw err;
  }
}

function withContext<T>(context: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TsbpfError) err.addContext(context);
    throw err;
  }
}

/**
 * What to load: the programs chosen ({@link selectPrograms}), the maps they
 * reference (every map for a whole-object load), and transitively the maps and programs those
 * maps' contents name (a prog array's programs, a map-of-maps' maps), as
 * the kernel loader does.
 */
function selectObjects(
  spec: CollectionSpec,
  chosen: ProgramSelection,
  options: { wholeObject: boolean },
): { programs: ProgramSpec[]; maps: Set<string> } {
  if (chosen.unknown.length > 0) {
    const known = [...spec.programs.keys()].join(", ") || "none";
    throw new VmError(
      "VM_NO_PROGRAM",
      `no program named ${JSON.stringify(chosen.unknown[0])} (have: ${known})`,
    );
  }
  const roots = chosen.roots.map((name) => spec.programs.get(name)!);
  const programs = new Set<ProgramSpec>();
  const maps = new Set<string>();
  const visitProgram = (ps: ProgramSpec) => {
    if (programs.has(ps)) return;
    // Excluded stays excluded, even when a prog array names it (its slot stays empty).
    if (chosen.skipped.get(ps.name) === "excluded") return;
    programs.add(ps);
    for (const ref of ps.references()) visitMap(ref);
  };
  const visitMap = (name: string) => {
    const ms = spec.maps.get(name);
    if (ms === undefined || maps.has(name)) return;
    maps.add(name);
    for (const kv of ms.contents) {
      if (typeof kv.value !== "string") continue;
      const target = spec.programs.get(kv.value);
      if (target !== undefined) visitProgram(target);
      else visitMap(kv.value);
    }
  };
  roots.forEach(visitProgram);
  // A whole-object load creates every map, as the kernel loader does.
  if (options.wholeObject) { for (const name of spec.maps.keys()) visitMap(name); }
  // Spec order, so loads are deterministic whatever the order of `names`.
  return { programs: [...spec.programs.values()].filter((p) => programs.has(p)), maps };
}

/** Whether the BTF type `id` holds a `struct bpf_spin_lock` (directly or in a nested struct). */
function hasSpinLock(btf: Btf | undefined, id: number | undefined, depth = 0): boolean {
  if (btf === undefined || id === undefined || depth > 8) return false;
  const t = btf.type(btf.skipQualifiers(id));
  if (t.kind !== BtfKind.STRUCT && t.kind !== BtfKind.UNION) return false;
  if (t.name === "bpf_spin_lock") return true;
  return t.members.some((m) => hasSpinLock(btf, m.type, depth + 1));
}

function mapInit(ms: MapSpec, possibleCpus: number, btf?: Btf): VmMapInit {
  return {
    name: ms.name,
    type: ms.type,
    keySize: ms.keySize,
    valueSize: ms.valueSize,
    // As libbpf does: a perf event array without max_entries gets one slot per CPU.
    maxEntries: ms.type === MapType.PERF_EVENT_ARRAY && ms.maxEntries === 0
      ? possibleCpus
      : ms.maxEntries,
    flags: ms.flags,
    mapExtra: ms.mapExtra,
    innerMap: ms.innerMap === undefined ? undefined : mapInit(ms.innerMap, possibleCpus, btf),
    spinLock: hasSpinLock(btf, ms.valueType),
  };
}

function createMap(runtime: Runtime, spec: CollectionSpec, ms: MapSpec): VmCollectionMap {
  const cpus = runtime.options.possibleCpus ?? 1;
  const map = new VmCollectionMap(createVmMap(runtime, mapInit(ms, cpus, spec.btf)), {
    btf: spec.btf,
    keyType: ms.keyType,
    valueType: ms.valueType,
    possibleCpus: cpus,
  });
  try {
    for (const kv of ms.contents) {
      if (typeof kv.value === "string") continue; // programs and maps: once they exist
      map.update(contentKey(ms, kv), kv.value);
    }
    if (ms.freeze) map.freeze();
    return map;
  } catch (err) {
    map.close();
    throw err;
  }
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function contentKey(ms: MapSpec, kv: MapKV): Uint8Array {
  if (kv.key instanceof Uint8Array) return kv.key;
  const key = new Uint8Array(ms.keySize);
  new DataView(key.buffer).setUint32(0, kv.key >>> 0, HOST_LITTLE_ENDIAN);
  return key;
}

function fillReferences(
  _runtime: Runtime,
  ms: MapSpec,
  map: VmCollectionMap,
  made: {
    maps: Map<string, VmCollectionMap>;
    programs: Map<string, VmProgram>;
    /** Whether a program is left out on purpose (excluded, or optional and failed). */
    absent: (name: string) => boolean;
    /** Report notes by program, added to here. */
    notes: Map<string, string[]>;
  },
): void {
  let filled = false;
  for (const kv of ms.contents) {
    if (typeof kv.value !== "string") continue;
    const target = made.programs.get(kv.value) ?? made.maps.get(kv.value);
    if (target === undefined && ms.type === MapType.PROG_ARRAY && made.absent(kv.value)) {
      const note = `left out of prog array ${ms.name} (key ${keyText(kv)})`;
      made.notes.set(kv.value, [...(made.notes.get(kv.value) ?? []), note]);
      continue;
    }
    if (target === undefined) {
      throw new VmError(
        "VM_NO_MAP",
        `entry ${String(kv.key)} names ${kv.value}, which was not loaded`,
      );
    }
    const value = new Uint8Array(4);
    new DataView(value.buffer).setUint32(0, target.fd, HOST_LITTLE_ENDIAN);
    map.update(contentKey(ms, kv), value);
    filled = true;
  }
  if (filled && ms.freeze) map.freeze();
}

function keyText(kv: MapKV): string {
  return kv.key instanceof Uint8Array
    ? [...kv.key].map((b) => b.toString(16).padStart(2, "0")).join("")
    : String(kv.key);
}

function loadProgram(
  runtime: Runtime,
  ps: ProgramSpec,
  ctx: {
    maps: Map<string, VmCollectionMap>;
    tier: VmTier;
    factory: ExecutorFactory;
    metadata: Metadata;
  },
): VmProgram {
  ps.instructions.forEach((ins, i) => refuseExterns(ins, i, ctx.metadata));
  const code = loadVmCode(ps.instructions, {
    name: ps.name,
    mem: runtime.mem,
    helpers: runtime.helpers,
    resolveLoad: (ins, pc) => resolveLoad(ins, pc, ctx.maps),
  });
  return new VmProgram(runtime, code, { type: ps.type, tier: ctx.tier, executor: ctx.factory });
}

/**
 * Externs the VM can't have: typed ksyms (kernel addresses) and kfunc calls
 * (kernel functions), and externs the extern plugins left unresolved (with
 * the reason they recorded). `.kconfig` externs are map-value loads by now,
 * and weak missing ones constants or never-reached poisoned calls.
 */
function refuseExterns(ins: Instruction, index: number, metadata: Metadata): void {
  const ref = ins.reference;
  if (ref === undefined) return;
  if (isLoadImm64(ins) && (ins.src === 0 || ins.src === BPF_PSEUDO_BTF_ID)) {
    const why = ins.src === BPF_PSEUDO_BTF_ID && ins.btfModule !== undefined
      ? `it is a kernel variable (BTF ID ${ins.imm} of ${ins.btfModule}), and the VM has no kernel memory`
      : `it is unresolved: ${unresolvedReason(metadata, ref) ?? "no extern plugin resolved it"}`;
    throw new VmError(
      "VM_UNRESOLVED_EXTERN",
      `instruction ${index}: extern ${JSON.stringify(ref)} is not available in the VM: ${why}`,
    );
  }
  if (isKfuncCall(ins)) {
    const why = ins.btfModule !== undefined
      ? `it is a kernel function (BTF ID ${ins.imm} of ${ins.btfModule}), which the VM can't call`
      : `it is unresolved: ${unresolvedReason(metadata, ref) ?? "no extern plugin resolved it"}`;
    throw new VmError(
      "VM_UNRESOLVED_EXTERN",
      `instruction ${index}: kfunc ${JSON.stringify(ref)} is not available in the VM: ${why}`,
    );
  }
}

/** The address an `ld_imm64` with a map pseudo source loads. */
function resolveLoad(ins: Instruction, pc: number, maps: Map<string, VmCollectionMap>): number {
  const ref = ins.reference;
  const src = ins.src;
  if (ref === undefined) {
    throw new VmError(
      "VM_BAD_PROGRAM",
      `pc ${pc}: ld_imm64 with pseudo source ${src} names no map (raw fds mean nothing in the VM)`,
      { pc },
    );
  }
  const map = maps.get(ref);
  if (map === undefined) {
    if (src === BPF_PSEUDO_MAP_FD || src === BPF_PSEUDO_MAP_VALUE) {
      throw new VmError("VM_NO_MAP", `pc ${pc}: map ${JSON.stringify(ref)} was not created`, {
        pc,
      });
    }
    throw new VmError(
      "VM_UNRESOLVED_EXTERN",
      `pc ${pc}: extern ${JSON.stringify(ref)} is not resolved in the VM (kconfig/ksym externs)`,
      { pc },
    );
  }
  if (src === BPF_PSEUDO_MAP_FD || src === BPF_PSEUDO_MAP_IDX) return map.raw.address;
  if (src === BPF_PSEUDO_MAP_VALUE || src === BPF_PSEUDO_MAP_IDX_VALUE) {
    return valueAddress(map.raw, pc) + ((ins.immHi ?? 0) >>> 0);
  }
  throw new VmError(
    "VM_BAD_PROGRAM",
    `pc ${pc}: ld_imm64 pseudo source ${src} with reference ${ref} is not supported in the VM`,
    { pc },
  );
}

/** Address of a direct-value map's single value (data sections; BPF_PSEUDO_MAP_VALUE). */
function valueAddress(map: VmMap, pc: number): number {
  const address = map.lookupElem(new Uint8Array(map.keySize));
  if (address === 0) {
    throw new VmError(
      "VM_BAD_PROGRAM",
      `pc ${pc}: map ${map.name} has no value at key 0 to point into`,
      { pc },
    );
  }
  return address;
}
