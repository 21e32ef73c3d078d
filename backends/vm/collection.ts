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
import type { CollectionSpec, MapKV, MapSpec, ProgramSpec } from "../../collection/spec.ts";
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

/** Options of {@link loadVmCollection}. */
export interface VmLoadOptions {
  /** `interpret` (default) or `jit` (compiled to WebAssembly). */
  tier?: VmTier;
  /** What helpers see of the system (clock, seed, CPU, pid …) and the run budget. */
  runtime?: VmRuntimeOptions;
  /** Extra helpers by ID, over the built-in ones (plugins' `helpers`). */
  helpers?: ReadonlyMap<number, VmHelper>;
  /** Load only these programs, plus the maps they reference and what those maps' contents name. */
  programs?: readonly string[];
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
  /** Always empty: the VM loads what the spec says. Kept for API parity with the kernel backend. */
  readonly diagnostics: readonly string[] = [];
  #closed = false;

  /** A collection owning `runtime` and everything in it. */
  constructor(
    runtime: Runtime,
    maps: Map<string, VmCollectionMap>,
    programs: Map<string, VmProgram>,
  ) {
    this.runtime = runtime;
    this.maps = maps;
    this.programs = programs;
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
    const { programs: wanted, maps: mapNames } = selectObjects(spec, options.programs);
    for (const ms of spec.maps.values()) {
      if (!mapNames.has(ms.name)) continue;
      maps.set(ms.name, withContext(`create map ${ms.name}`, () => createMap(runtime, spec, ms)));
    }
    for (const ps of wanted) {
      programs.set(
        ps.name,
        withContext(
          `load program ${ps.name}`,
          () => loadProgram(runtime, ps, { maps, tier, factory }),
        ),
      );
    }
    for (const ms of spec.maps.values()) {
      const map = maps.get(ms.name);
      if (map === undefined) continue;
      withContext(
        `fill map ${ms.name}`,
        () => fillReferences(runtime, ms, map, { maps, programs }),
      );
    }
    return new VmCollection(runtime, maps, programs);
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
 * What to load: the programs asked for (default: every autoload program),
 * the maps they reference, and transitively the maps and programs those
 * maps' contents name (a prog array's programs, a map-of-maps' maps), as
 * the kernel loader does.
 */
function selectObjects(
  spec: CollectionSpec,
  names?: readonly string[],
): { programs: ProgramSpec[]; maps: Set<string> } {
  const roots = names === undefined
    ? [...spec.programs.values()].filter((p) => p.autoload)
    : names.map((name) => {
      const ps = spec.programs.get(name);
      if (ps === undefined) {
        const known = [...spec.programs.keys()].join(", ") || "none";
        throw new VmError(
          "VM_NO_PROGRAM",
          `no program named ${JSON.stringify(name)} (have: ${known})`,
        );
      }
      return ps;
    });
  const programs = new Set<ProgramSpec>();
  const maps = new Set<string>();
  const visitProgram = (ps: ProgramSpec) => {
    if (programs.has(ps)) return;
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
  if (names === undefined) { for (const name of spec.maps.keys()) visitMap(name); }
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
  made: { maps: Map<string, VmCollectionMap>; programs: Map<string, VmProgram> },
): void {
  let filled = false;
  for (const kv of ms.contents) {
    if (typeof kv.value !== "string") continue;
    const target = made.programs.get(kv.value) ?? made.maps.get(kv.value);
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

function loadProgram(
  runtime: Runtime,
  ps: ProgramSpec,
  ctx: { maps: Map<string, VmCollectionMap>; tier: VmTier; factory: ExecutorFactory },
): VmProgram {
  ps.instructions.forEach(refuseExterns);
  const code = loadVmCode(ps.instructions, {
    name: ps.name,
    mem: runtime.mem,
    helpers: runtime.helpers,
    resolveLoad: (ins, pc) => resolveLoad(ins, pc, ctx.maps),
  });
  return new VmProgram(runtime, code, { type: ps.type, tier: ctx.tier, executor: ctx.factory });
}

/** Externs (`.kconfig`, `.ksyms`) and kfunc calls: not resolved in the VM yet. */
function refuseExterns(ins: Instruction, index: number): void {
  if (ins.reference === undefined) return;
  if (isLoadImm64(ins) && (ins.src === 0 || ins.src === BPF_PSEUDO_BTF_ID)) {
    throw new VmError(
      "VM_UNRESOLVED_EXTERN",
      `instruction ${index}: extern ${JSON.stringify(ins.reference)} is not resolved in the VM`,
    );
  }
  if (isKfuncCall(ins)) {
    throw new VmError(
      "VM_UNRESOLVED_EXTERN",
      `instruction ${index}: kfunc ${JSON.stringify(ins.reference)} is not available in the VM`,
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
