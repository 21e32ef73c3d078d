/**
 * {@link loadCollection}: turn a {@link CollectionSpec} into live maps and
 * programs (cilium/ebpf's `NewCollectionWithOptions`, libbpf's
 * `bpf_object__load`).
 *
 * Order of work, and why:
 *
 * 1. Decide what to load ({@link selectPrograms}): every map and every
 *    program whose `autoload` is true, or, with `options.programs` /
 *    `include`, only those programs plus the maps they reference and
 *    whatever the contents of those maps name (transitively: a prog
 *    array's programs, a map-of-maps' maps); never an `exclude`d program.
 * 2. The object's BTF is loaded once ({@link loadObjectBtf}); when the
 *    kernel refuses it everything loads without BTF, as in libbpf.
 * 3. Maps are created in spec order: pinned ones reused when compatible,
 *    inner map templates created for `inner_map_fd` and closed right after,
 *    BTF key/value types passed where the map type takes them (retried
 *    without BTF on failure, like libbpf), contents written, `.rodata*`
 *    frozen so the verifier may treat them as constants.
 * 4. Programs are loaded with map fds patched into their `ld_imm64`
 *    instructions and with func_info/line_info against the object's BTF.
 * 5. Prog arrays and map-of-maps get the entries naming programs and maps,
 *    then are frozen if asked.
 *
 * Any failure closes everything created so far and removes the pins this
 * load made, then rethrows with context, e.g. `load program xdp_count:
 * BPF_PROG_LOAD: EACCES (permission denied): …`. The exception is a
 * program matched by `options.optional`: its failure is recorded in
 * `KernelCollection.report` and the load goes on without it (and without
 * its prog array slots). An option rather than a second function, because
 * it is one more thing the same load may do, as cilium/ebpf's
 * `CollectionOptions` grow; and a per-program report rather than libbpf's
 * all-or-nothing `bpf_object__load`, since the point is to learn which
 * programs this kernel takes.
 *
 * Data sections and `BPF_F_MMAPABLE`: libbpf (1.2+) makes a data-section
 * map mmapable when its DATASEC holds a non-static variable, so user space
 * can map it. tsbpf writes contents with `BPF_MAP_UPDATE_ELEM` and never
 * maps them, so it does not ask for `BPF_F_MMAPABLE` (which costs a
 * page-rounded vmalloc per map); a pinned data map made by libbpf with the
 * flag still counts as compatible.
 *
 * @module
 */

import type { Btf } from "../../btf/btf.ts";
import { BtfKind } from "../../btf/types.ts";
import type { CollectionSpec, MapKV, MapSpec, ProgramSpec } from "../../collection/spec.ts";
import {
  AttachType,
  MapFlags,
  MapType,
  PinType,
  ProgramType,
  programTypeName,
} from "../../collection/types.ts";
import { TsbpfError } from "../../errors/mod.ts";
import { encodeInstructionsInto } from "../../isa/codec.ts";
import type { Instruction } from "../../isa/instruction.ts";
import {
  BPF_PSEUDO_BTF_ID,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  isKfuncCall,
  isLoadImm64,
} from "../../isa/opcodes.ts";
import { unresolvedReason } from "../../plugins/externs/metadata.ts";
import { kfuncFdArray, ModuleBtfObjects } from "./btf_objects.ts";
import { KernelCollection } from "./collection.ts";
import { ERRNO, KernelError, SyscallError, VerifierError } from "./errors.ts";
import { explainCoreFailure } from "../../btf/core/explain.ts";
import { kernelBtf } from "./kernel_btf.ts";
import { isPerCpu, KernelMap, makePinDir, possibleCpus } from "./map.ts";
import { funcAndLineInfo, type LoadedObjectBtf, loadObjectBtf } from "./object_btf.ts";
import { KernelProgram } from "./program.ts";
import {
  closeFd,
  mapCreate,
  type MapCreateAttrs,
  mapGetFdById,
  type MapInfo,
  objGet,
  progLoad,
  type ProgLoadAttrs,
} from "./sys.ts";
import { type Syscalls, syscalls } from "./syscalls.ts";
import {
  buildReport,
  type ProgramSelection,
  type SelectionOptions,
  selectPrograms,
  type SkipReason,
} from "../selection.ts";

/**
 * Options of {@link loadCollection}. Program selection (`programs`,
 * `include`, `exclude`, `optional`) is {@link SelectionOptions}, shared with
 * the VM backend.
 */
export interface LoadCollectionOptions extends SelectionOptions {
  /**
   * bpffs directory for maps with `pinning` BY_NAME (pinned as
   * `<pinPath>/<map name>`). A config's per-map `pinPath`
   * (`spec.metadata.config.maps[name].pinPath`) takes precedence for its map.
   */
  pinPath?: string;
  /**
   * Attach targets by program name, over `ProgramSpec.attachTo` (the
   * section's `fentry/<target>`): which kernel function, tracepoint or LSM
   * hook a tracing program is verified against (its `attach_btf_id`).
   */
  attachTo?: Readonly<Record<string, string>>;
  /** Verifier log level for every program (0: a log only on failure; 1, 2: always). */
  logLevel?: 0 | 1 | 2;
  /** First verifier log buffer size in bytes (grown as needed). */
  logSizeStart?: number;
  /**
   * Existing maps to use instead of creating the spec's map of that name;
   * each must be compatible with the spec. The collection holds its own fd
   * (reopened by ID), so closing the collection leaves these open.
   */
  mapReplacements?: Map<string, KernelMap>;
  /** System calls to use; default {@link syscalls}(). */
  sys?: Syscalls;
}

/** One difference between a pinned map and the spec that wants to reuse it. */
export interface MapFieldDiff {
  /** The kernel's field name: `map_type`, `key_size`, `value_size`, `max_entries`, `map_flags`, `map_extra`. */
  field: string;
  /** What the existing map has. */
  existing: number | bigint;
  /** What the spec asks for. */
  wanted: number | bigint;
}

/** A pinned (or replacement) map that does not match its spec: `diff` says how. */
export class MapIncompatibleError extends KernelError {
  /** The differing fields. */
  readonly diff: MapFieldDiff[];
  /** Where the map is pinned, or `undefined` for a replacement. */
  readonly path?: string;

  /** The map's name in the spec. */
  readonly mapName: string;

  /**
   * The error for map `name`, pinned at `path` (or a replacement when
   * `path` is undefined); the loader adds `create map <name>` as context.
   */
  constructor(name: string, diff: MapFieldDiff[], path?: string) {
    const where = path === undefined ? "replacement map" : `pinned map ${path}`;
    super(
      "KERNEL_MAP_INCOMPATIBLE",
      `${where} is incompatible: ${
        diff.map((d) =>
          `${d.field} is ${show(d.field, d.existing)}, want ${show(d.field, d.wanted)}`
        )
          .join("; ")
      }`,
    );
    this.diff = diff;
    this.path = path;
    this.mapName = name;
  }
}

function show(field: string, v: number | bigint): string {
  return field === "map_flags" ? `0x${v.toString(16)}` : String(v);
}

/**
 * Create the spec's maps and load its programs into the kernel.
 *
 * ```ts
 * import { loadCollectionSpec } from "../../mod.ts";
 * import { loadCollection } from "./loader.ts";
 *
 * const spec = await loadCollectionSpec(await Deno.readFile("fixtures/bpfel/xdp_counter.o"));
 * using coll = await loadCollection(spec, { pinPath: "/sys/fs/bpf/demo" });
 * coll.programs.get("xdp_count")!.run(new Uint8Array(100));
 * ```
 *
 * @throws {KernelError} `KERNEL_MAP_INCOMPATIBLE` ({@link MapIncompatibleError}),
 *   `KERNEL_NO_PROGRAM`, `KERNEL_NO_MAP`, `KERNEL_NO_PIN_PATH`,
 *   `KERNEL_BYTE_ORDER`, `KERNEL_UNRESOLVED_EXTERN`, `KERNEL_BAD_CONTENTS`,
 *   `KERNEL_NO_ATTACH_TARGET`; `SyscallError` / `VerifierError` from the
 *   kernel, with the map or program as context.
 */
export function loadCollection(
  spec: CollectionSpec,
  options: LoadCollectionOptions = {},
): Promise<KernelCollection> {
  try {
    return Promise.resolve(loadCollectionSync(spec, options));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** {@link loadCollection}, synchronously (every step is a synchronous system call). */
export function loadCollectionSync(
  spec: CollectionSpec,
  options: LoadCollectionOptions = {},
): KernelCollection {
  const state = new LoadState(spec, options);
  try {
    return state.run();
  } catch (err) {
    state.cleanup();
    throw err;
  }
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// libbpf's bpf_object__create_map: these map types are created without BTF
// key/value types (the kernel refuses them, or they say nothing useful).
const NO_BTF_TYPES: ReadonlySet<number> = new Set([
  MapType.PROG_ARRAY,
  MapType.PERF_EVENT_ARRAY,
  MapType.CGROUP_ARRAY,
  MapType.STACK_TRACE,
  MapType.ARRAY_OF_MAPS,
  MapType.HASH_OF_MAPS,
  MapType.DEVMAP,
  MapType.DEVMAP_HASH,
  MapType.CPUMAP,
  MapType.XSKMAP,
  MapType.SOCKMAP,
  MapType.SOCKHASH,
  MapType.QUEUE,
  MapType.STACK,
  MapType.ARENA,
]);

class LoadState {
  readonly spec: CollectionSpec;
  readonly options: LoadCollectionOptions;
  readonly sys: Syscalls;
  readonly maps = new Map<string, KernelMap>();
  readonly programs = new Map<string, KernelProgram>();
  /** Pins this load made, removed again on failure. */
  readonly pinned: KernelMap[] = [];
  /** Maps whose entries naming programs/maps are written at the end. */
  readonly pending: { name: string; map: KernelMap; spec: MapSpec }[] = [];
  /** What loaded differently from the spec and why (libbpf's warnings). */
  readonly diagnostics: string[] = [];
  objectBtf?: LoadedObjectBtf;
  btfTried = false;
  /** Module BTF objects typed ksyms and kfuncs refer to, closed when the load ends. */
  moduleBtfs?: ModuleBtfObjects;
  /** The programs chosen by the options, set by {@link selection}. */
  chosen?: ProgramSelection;
  /** Optional programs the kernel (or the loader) refused. */
  readonly failed = new Map<string, TsbpfError>();
  /** Per program: what its absence did to others (prog array slots left empty). */
  readonly notes = new Map<string, string[]>();

  constructor(spec: CollectionSpec, options: LoadCollectionOptions) {
    this.spec = spec;
    this.options = options;
    this.sys = options.sys ?? syscalls();
  }

  run(): KernelCollection {
    const want: ByteOrderName = HOST_LITTLE_ENDIAN ? "little" : "big";
    if (this.spec.byteOrder !== want) {
      throw new KernelError(
        "KERNEL_BYTE_ORDER",
        `the object is ${this.spec.byteOrder}-endian, this kernel runs ${want}-endian programs`,
      );
    }
    for (const name of this.options.mapReplacements?.keys() ?? []) {
      if (!this.spec.maps.has(name)) {
        throw new KernelError(
          "KERNEL_NO_MAP",
          `options.mapReplacements: no map ${JSON.stringify(name)} in the spec`,
        );
      }
    }
    for (const name of Object.keys(this.options.attachTo ?? {})) {
      const ps = this.spec.programs.get(name);
      if (ps === undefined) {
        throw new KernelError(
          "KERNEL_NO_PROGRAM",
          `options.attachTo: no program ${JSON.stringify(name)} (programs: ${
            [...this.spec.programs.keys()].sort().join(", ") || "none"
          })`,
        );
      }
      if (ps.type !== ProgramType.TRACING && ps.type !== ProgramType.LSM) {
        this.diagnostics.push(
          `options.attachTo.${name}: a ${
            programTypeName(ps.type)
          } program's target is not used at load`,
        );
      }
    }
    const { maps, programs } = this.selection();
    for (const [name, ms] of this.spec.maps) {
      if (!maps.has(name)) continue;
      step(`create map ${name}`, () => this.maps.set(name, this.createMap(name, ms)));
    }
    for (const [name, ps] of this.spec.programs) {
      if (!programs.has(name)) continue;
      // No closure or context string per program: the context is only
      // built for an error (this loop runs once per program per load).
      try {
        this.programs.set(name, this.loadProgram(ps));
      } catch (err) {
        if (err instanceof TsbpfError) err.addContext(`load program ${name}`);
        // Maps stay all-or-nothing; an optional program's refusal is reported instead.
        if (!(err instanceof TsbpfError) || !this.chosen!.isOptional(name)) throw err;
        this.failed.set(name, err);
      }
    }
    for (const { name, map, spec } of this.pending) {
      step(`map ${name}: write contents`, () => {
        this.writeContents(map, spec, true);
        if (spec.freeze) map.freeze();
      });
    }
    this.closeBtf();
    // Built when first read, from what is fixed now: the spec's program
    // names, and every selected program but the failed ones loaded (the
    // collection's own map may change). The spec itself is not kept.
    const names = [...this.spec.programs.keys()];
    const { failed, notes } = this;
    const skipped = this.chosen!.skipped;
    const report = () => {
      const loaded = new Set<string>();
      for (const name of programs) if (!failed.has(name)) loaded.add(name);
      return buildReport(names, { loaded, failed, skipped, notes });
    };
    return new KernelCollection(this.maps, this.programs, {
      diagnostics: this.diagnostics,
      report,
    });
  }

  /** Add `note` to the report entry of program `name`. */
  note(name: string, note: string): void {
    const list = this.notes.get(name);
    if (list === undefined) this.notes.set(name, [note]);
    else list.push(note);
  }

  /** Why program `name` is deliberately absent (excluded or failed), or `undefined`. */
  absence(name: string): SkipReason | "failed" | undefined {
    if (this.failed.has(name)) return "failed";
    return this.chosen?.skipped.get(name) === "excluded" ? "excluded" : undefined;
  }

  /** Close everything this load made and remove its pins; never throws. */
  cleanup(): void {
    for (const p of this.programs.values()) ignore(() => p.close());
    for (const m of this.pinned) ignore(() => m.unpin());
    for (const m of this.maps.values()) ignore(() => m.close());
    this.programs.clear();
    this.maps.clear();
    ignore(() => this.closeBtf());
  }

  closeBtf(): void {
    this.moduleBtfs?.close();
    this.moduleBtfs = undefined;
    const fd = this.objectBtf?.fd;
    this.objectBtf = undefined;
    if (fd !== undefined) closeFd(this.sys, fd);
  }

  /** The object's BTF, loaded on first use; `undefined` when the kernel can't have it. */
  btf(): LoadedObjectBtf | undefined {
    if (!this.btfTried) {
      this.btfTried = true;
      const loaded = withCtx("load object BTF", () => loadObjectBtf(this.sys, this.spec));
      if (loaded.fd !== undefined) this.objectBtf = loaded;
      else if (this.spec.btf !== undefined) {
        this.diagnostics.push(`loaded without BTF: ${loaded.diagnostic}`);
      }
    }
    return this.objectBtf;
  }

  /** The maps and programs to load (see the module docs). */
  selection(): { maps: Set<string>; programs: Set<string> } {
    const chosen = selectPrograms(this.spec, this.options);
    this.chosen = chosen;
    this.diagnostics.push(...chosen.diagnostics);
    const maps = new Set<string>();
    const programs = new Set<string>();
    const queue: string[] = [];
    const addProgram = (name: string, from: string) => {
      if (programs.has(name)) return;
      // An excluded program stays out even when a prog array names it: its slot stays empty.
      if (chosen.skipped.get(name) === "excluded") return;
      if (!this.spec.programs.has(name)) {
        throw new KernelError(
          "KERNEL_NO_PROGRAM",
          `${from}: no program ${JSON.stringify(name)} (programs: ${
            [...this.spec.programs.keys()].sort().join(", ") || "none"
          })`,
        );
      }
      programs.add(name);
      queue.push(name);
    };
    const addMap = (name: string, from: string) => {
      if (maps.has(name)) return;
      const ms = this.spec.maps.get(name);
      if (ms === undefined) {
        throw new KernelError("KERNEL_NO_MAP", `${from}: no map ${JSON.stringify(name)}`);
      }
      maps.add(name);
      for (const kv of ms.contents) {
        if (typeof kv.value !== "string") continue;
        if (ms.type === MapType.PROG_ARRAY) addProgram(kv.value, `map ${name} contents`);
        else if (isMapOfMaps(ms.type)) addMap(kv.value, `map ${name} contents`);
        // Names in other maps are refused when the contents are written.
      }
    };
    for (const name of chosen.unknown) addProgram(name, "options.programs");
    // A whole-object load creates every map; a chosen set of programs only what it needs.
    if (this.options.programs === undefined && this.options.include === undefined) {
      for (const name of this.spec.maps.keys()) addMap(name, "spec");
    }
    for (const name of chosen.roots) addProgram(name, "spec");
    // Every map is in already: the programs' references can add none.
    if (maps.size === this.spec.maps.size) return { maps, programs };
    while (queue.length > 0) {
      const ps = this.spec.programs.get(queue.pop()!)!;
      for (const ref of ps.references()) {
        if (this.spec.maps.has(ref)) addMap(ref, `program ${ps.name}`);
      }
    }
    return { maps, programs };
  }

  pinDir(name: string): string | undefined {
    const config = this.spec.metadata.config;
    if (typeof config === "object" && config !== null && !Array.isArray(config)) {
      const maps = config.maps;
      if (typeof maps === "object" && maps !== null && !Array.isArray(maps)) {
        const entry = maps[name];
        if (typeof entry === "object" && entry !== null && !Array.isArray(entry)) {
          if (typeof entry.pinPath === "string") return entry.pinPath;
        }
      }
    }
    return this.options.pinPath;
  }

  createMap(name: string, ms: MapSpec): KernelMap {
    const replacement = this.options.mapReplacements?.get(name);
    if (replacement !== undefined) return this.replaceMap(name, ms, replacement);
    let path: string | undefined;
    if (ms.pinning === PinType.BY_NAME) {
      const dir = this.pinDir(name);
      if (dir === undefined) {
        throw new KernelError(
          "KERNEL_NO_PIN_PATH",
          "the map is pinned by name but no pinPath is set (give options.pinPath or the config's maps.<name>.pinPath)",
        );
      }
      path = `${dir.replace(/\/+$/, "")}/${name}`;
      const reused = this.reusePinned(name, ms, path);
      if (reused !== undefined) return reused;
    } else if (ms.pinning !== PinType.NONE) {
      throw new KernelError("KERNEL_BAD_PINNING", `unsupported pinning type ${ms.pinning}`);
    }
    const map = this.newMap(name, ms);
    try {
      const deferred = this.writeContents(map, ms, false);
      if (deferred) this.pending.push({ name, map, spec: ms });
      else if (ms.freeze) map.freeze();
      // Pinned once its contents are in, as libbpf does, so a process that
      // reuses the pin never sees a half-written map (prog array slots
      // naming programs come later, as in libbpf).
      if (path !== undefined) {
        makePinDir(path.slice(0, path.lastIndexOf("/")) || "/");
        map.pin(path);
        this.pinned.push(map);
      }
    } catch (err) {
      if (path !== undefined && map.pinnedPath !== undefined) ignore(() => map.unpin());
      map.close();
      throw err;
    }
    return map;
  }

  replaceMap(name: string, ms: MapSpec, replacement: KernelMap): KernelMap {
    const info = replacement.info();
    const diff = compareMap(this.expected(ms), info);
    if (diff.length > 0) throw new MapIncompatibleError(name, diff);
    const fd = this.reopen(info.id);
    try {
      return this.wrap(name, ms, fd);
    } catch (err) {
      ignore(() => closeFd(this.sys, fd));
      throw err;
    }
  }

  /** A second fd for the map with ID `id`, owned by this load. */
  reopen(id: number): number {
    return mapGetFdById(this.sys, id);
  }

  /** The pinned map at `path` if there is one and it fits; `undefined` when nothing is pinned there. */
  reusePinned(name: string, ms: MapSpec, path: string): KernelMap | undefined {
    let fd: number;
    try {
      fd = objGet(this.sys, path);
    } catch (err) {
      if (err instanceof SyscallError && err.errno === ERRNO.ENOENT) return undefined;
      throw err;
    }
    let map: KernelMap;
    try {
      map = this.wrap(name, ms, fd);
    } catch (err) {
      ignore(() => closeFd(this.sys, fd));
      throw err;
    }
    try {
      const diff = compareMap(this.expected(ms), map.info());
      if (diff.length > 0) throw new MapIncompatibleError(name, diff, path);
    } catch (err) {
      map.close();
      throw err;
    }
    // Reused as it is: libbpf and cilium/ebpf write no contents into a reused map.
    map.pinnedPath = path;
    return map;
  }

  /** The attributes the spec asks for, with libbpf's defaults filled in. */
  expected(ms: MapSpec): ExpectedMap {
    let maxEntries = ms.maxEntries;
    if (ms.type === MapType.PERF_EVENT_ARRAY && maxEntries === 0) maxEntries = possibleCpus();
    return {
      type: ms.type,
      keySize: ms.keySize,
      valueSize: ms.valueSize,
      maxEntries,
      flags: ms.flags,
      mapExtra: ms.mapExtra,
    };
  }

  wrap(name: string, ms: MapSpec, fd: number): KernelMap {
    const exp = this.expected(ms);
    const btf = this.spec.btf;
    // A data section's value is its DATASEC: typed access reads and writes
    // its variables by name.
    const valueType = ms.valueType;
    return new KernelMap(fd, {
      name,
      type: ms.type,
      keySize: ms.keySize,
      valueSize: ms.valueSize,
      maxEntries: exp.maxEntries,
      flags: ms.flags,
      btf,
      keyType: btf === undefined ? undefined : ms.keyType,
      valueType: btf === undefined ? undefined : valueType,
      sys: this.sys,
    });
  }

  /** Create the map (and its inner template) and wrap the fd. */
  newMap(name: string, ms: MapSpec): KernelMap {
    let innerFd: number | undefined;
    if (ms.innerMap !== undefined) {
      const inner = ms.innerMap;
      innerFd = withCtx("inner map", () => this.createRaw(inner.name || `${name}.inner`, inner));
    }
    try {
      return this.wrap(name, ms, this.createRaw(name, ms, innerFd));
    } finally {
      // The kernel copied what it needs of the template.
      if (innerFd !== undefined) closeFd(this.sys, innerFd);
    }
  }

  /** BPF_MAP_CREATE with BTF where it fits, retried without it like libbpf. */
  createRaw(name: string, ms: MapSpec, innerFd?: number): number {
    if (isMapOfMaps(ms.type) && innerFd === undefined) {
      throw new KernelError("KERNEL_NO_INNER_MAP", "a map-of-maps needs an inner map template");
    }
    const exp = this.expected(ms);
    const attrs: MapCreateAttrs = {
      map_type: ms.type,
      key_size: ms.keySize,
      value_size: ms.valueSize,
      max_entries: exp.maxEntries,
      map_flags: ms.flags,
      inner_map_fd: innerFd,
      numa_node: (ms.flags & MapFlags.BPF_F_NUMA_NODE) !== 0 ? ms.numaNode : undefined,
      map_name: name,
      map_extra: ms.mapExtra === 0n ? undefined : ms.mapExtra,
    };
    const wantsBtf = !NO_BTF_TYPES.has(ms.type) &&
      ((ms.keyType ?? 0) !== 0 || (ms.valueType ?? 0) !== 0);
    const btf = wantsBtf ? this.btf() : undefined;
    if (btf !== undefined) {
      try {
        return mapCreate(this.sys, {
          ...attrs,
          btf_fd: btf.fd,
          btf_key_type_id: ms.keyType ?? 0,
          btf_value_type_id: ms.type === MapType.STRUCT_OPS ? 0 : ms.valueType ?? 0,
        });
      } catch (err) {
        if (!(err instanceof SyscallError)) throw err;
        // libbpf: "Error in bpf_create_map_xattr(…). Retrying without BTF."
        this.diagnostics.push(`map ${name}: created without BTF: ${err.message}`);
      }
    }
    return mapCreate(this.sys, attrs);
  }

  /**
   * Write the spec's contents: raw entries now, entries naming programs or
   * maps when `late` (after every program is loaded). Returns whether named
   * entries are left for later.
   */
  writeContents(map: KernelMap, ms: MapSpec, late: boolean): boolean {
    let deferred = false;
    ms.contents.forEach((kv, i) => {
      if (typeof kv.value === "string") {
        if (!late) {
          deferred = true;
          return;
        }
        withCtx(`contents[${i}]`, () => {
          const value = this.fdValue(ms, kv);
          if (value !== undefined) map.update(keyBytes(map, kv), value);
        });
      } else if (!late) {
        withCtx(`contents[${i}]`, () => map.update(keyBytes(map, kv), valueBytes(map, kv)));
      }
    });
    return deferred;
  }

  /** The fd an entry naming a program or map holds; `undefined` for a slot left empty on purpose. */
  fdValue(ms: MapSpec, kv: MapKV): Uint8Array | undefined {
    const name = kv.value as string;
    let fd: number | undefined;
    if (ms.type === MapType.PROG_ARRAY) {
      fd = this.programs.get(name)?.fd;
      const absence = fd === undefined ? this.absence(name) : undefined;
      if (absence !== undefined) {
        this.note(name, `left out of prog array ${ms.name} (key ${keyText(kv)})`);
        return undefined;
      }
    } else if (isMapOfMaps(ms.type)) fd = this.maps.get(name)?.fd;
    else {
      throw new KernelError(
        "KERNEL_BAD_CONTENTS",
        `a ${mapTypeLabel(ms.type)} map can't hold ${
          JSON.stringify(name)
        }: only prog arrays and map-of-maps take names`,
      );
    }
    if (fd === undefined) {
      throw new KernelError("KERNEL_BAD_CONTENTS", `${JSON.stringify(name)} was not loaded`);
    }
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, fd, HOST_LITTLE_ENDIAN);
    return out;
  }

  loadProgram(ps: ProgramSpec): KernelProgram {
    // The core stage had no target BTF: the instructions still hold the local values.
    const unresolved = ps.coreRelocations?.find((r) => r.status === "unresolved");
    if (unresolved !== undefined) {
      throw new KernelError(
        "KERNEL_CORE_UNRESOLVED",
        `CO-RE relocation ${unresolved.kindName} of ${unresolved.spec} at insn #${unresolved.insn} is unresolved: ${unresolved.reason}`,
      );
    }
    // One pass: patch, count slots (ld_imm64 takes two), and notice a
    // module kfunc (which needs an fd_array) and func_info.
    const source = ps.instructions;
    const insns: Instruction[] = [];
    let slots = source.length;
    let moduleKfunc = false;
    let hasFunc = false;
    for (let i = 0; i < source.length; i++) {
      const ins = source[i];
      const out = ins.reference === undefined ? ins : this.patch(ins, i);
      insns.push(out);
      if (isLoadImm64(out)) slots++;
      else if (out.btfModule !== undefined && out.btfModule !== "vmlinux") moduleKfunc = true;
      if (ins.func !== undefined) hasFunc = true;
    }
    const attrs: ProgLoadAttrs = {
      prog_type: ps.type,
      // Encoded straight into the syscall's staging area.
      insns: {
        byteLength: slots * 8,
        writeTo: (out, offset) => {
          encodeInstructionsInto(insns, out, { offset, littleEndian: HOST_LITTLE_ENDIAN });
        },
      },
      license: ps.license,
      kern_version: ps.kernelVersion,
      prog_flags: ps.flags,
      prog_name: ps.name,
      expected_attach_type: ps.expectedAttachType(),
    };
    if (moduleKfunc) {
      const fdArray = kfuncFdArray(insns, (module) => this.moduleBtfFd(module));
      if (fdArray !== undefined) attrs.fd_array = fdArray;
    }
    const attachBtfId = attachTarget(ps, this.options.attachTo?.[ps.name]);
    if (attachBtfId !== undefined) attrs.attach_btf_id = attachBtfId;
    const btf = this.btf();
    if (btf !== undefined && hasFunc) {
      const info = funcAndLineInfo(ps, btf.strings);
      attrs.prog_btf_fd = btf.fd;
      if (info.funcInfoCount > 0) {
        attrs.func_info = info.funcInfo;
        attrs.func_info_rec_size = info.funcInfoRecSize;
      }
      if (info.lineInfoCount > 0) {
        attrs.line_info = info.lineInfo;
        attrs.line_info_rec_size = info.lineInfoRecSize;
      }
    }
    let log: string | undefined;
    let fd: number;
    try {
      fd = progLoad(this.sys, attrs, {
        logLevel: this.options.logLevel ?? 0,
        logSizeStart: this.options.logSizeStart,
        onLog: (text) => {
          log = text;
        },
      });
    } catch (err) {
      // Name the CO-RE relocation behind a reached poisoned call, like libbpf's log fixup.
      if (err instanceof VerifierError && ps.coreRelocations !== undefined) {
        const why = explainCoreFailure(err.log, ps.coreRelocations);
        if (why !== undefined) {
          err.coreExplanation = why;
          err.addContext(why);
        }
      }
      throw err;
    }
    return new KernelProgram(fd, { name: ps.name, type: ps.type, log, sys: this.sys });
  }

  /**
   * The instruction as the kernel must see it: map fds in `ld_imm64`, the
   * module BTF fd in `immHi` of a typed ksym found in a module. Externs the
   * extern plugins resolved pass through; the others are refused with the
   * reason the plugins recorded.
   */
  patch(ins: Instruction, index: number): Instruction {
    const ref = ins.reference;
    if (ref === undefined) return ins;
    if (isLoadImm64(ins)) {
      if (ins.src === BPF_PSEUDO_MAP_FD || ins.src === BPF_PSEUDO_MAP_VALUE) {
        const map = this.maps.get(ref);
        if (map === undefined) {
          throw new KernelError(
            "KERNEL_NO_MAP",
            `instruction ${index}: map ${JSON.stringify(ref)} was not created`,
          );
        }
        // BPF_PSEUDO_MAP_VALUE keeps the value offset in the second slot (immHi).
        return { ...ins, imm: map.fd };
      }
      if (ins.src === BPF_PSEUDO_FUNC) return ins;
      if (ins.src === BPF_PSEUDO_BTF_ID && ins.btfModule !== undefined) {
        return { ...ins, immHi: this.moduleBtfFd(ins.btfModule) };
      }
      if (ins.src === 0 || ins.src === BPF_PSEUDO_BTF_ID) {
        throw new KernelError(
          "KERNEL_UNRESOLVED_EXTERN",
          `instruction ${index}: extern ${JSON.stringify(ref)} is unresolved: ${
            this.unresolved(ref)
          }`,
        );
      }
    }
    if (isKfuncCall(ins)) {
      if (ins.btfModule !== undefined) return ins;
      throw new KernelError(
        "KERNEL_UNRESOLVED_EXTERN",
        `instruction ${index}: kfunc ${JSON.stringify(ref)} is unresolved: ${this.unresolved(ref)}`,
      );
    }
    return ins;
  }

  /** Why the extern plugins left `name` unresolved, for messages. */
  unresolved(name: string): string {
    return unresolvedReason(this.spec.metadata, name) ??
      "no extern plugin resolved it (only .kconfig and .ksyms externs are resolved, by the kconfig, ksyms and kfuncs plugins)";
  }

  /** The BTF object fd of a module (0 for vmlinux), opened once per load. */
  moduleBtfFd(module: string): number {
    if (module === "vmlinux") return 0;
    this.moduleBtfs ??= new ModuleBtfObjects(this.sys);
    return withCtx(`module ${module} BTF`, () => this.moduleBtfs!.fd(module));
  }
}

type ByteOrderName = "little" | "big";

/** What a map should have, to compare with an existing map ({@link compareMap}). */
export interface ExpectedMap {
  /** BPF_MAP_TYPE_*. */
  type: number;
  /** key_size. */
  keySize: number;
  /** value_size. */
  valueSize: number;
  /** max_entries, after libbpf's defaults (perf event arrays: possible CPUs). */
  maxEntries: number;
  /** map_flags. */
  flags: number;
  /** map_extra. */
  mapExtra: bigint;
}

// Flags an existing map may have that the spec need not ask for: the
// kernel sets BPF_F_RDONLY_PROG on devmaps itself; libbpf adds
// BPF_F_MMAPABLE to data-section maps.
function ignoredFlags(type: number): number {
  if (type === MapType.DEVMAP || type === MapType.DEVMAP_HASH) return MapFlags.BPF_F_RDONLY_PROG;
  if (type === MapType.ARRAY) return MapFlags.BPF_F_MMAPABLE;
  return 0;
}

/** Field-by-field differences that make `info` unusable for `want`. */
export function compareMap(want: ExpectedMap, info: MapInfo): MapFieldDiff[] {
  const diff: MapFieldDiff[] = [];
  const check = (field: string, existing: number | bigint, wanted: number | bigint) => {
    if (existing !== wanted) diff.push({ field, existing, wanted });
  };
  check("map_type", info.type, want.type);
  check("key_size", info.keySize, want.keySize);
  check("value_size", info.valueSize, want.valueSize);
  const ringbuf = want.type === MapType.RINGBUF || want.type === MapType.USER_RINGBUF;
  if (!(ringbuf && ringbufSizeMatches(want.maxEntries, info.maxEntries))) {
    check("max_entries", info.maxEntries, want.maxEntries);
  }
  const ignored = ignoredFlags(want.type);
  if ((info.mapFlags & ~ignored) !== (want.flags & ~ignored)) {
    diff.push({ field: "map_flags", existing: info.mapFlags, wanted: want.flags });
  }
  check("map_extra", info.mapExtra, want.mapExtra);
  return diff;
}

/** A ring buffer's size as a kernel or libbpf rounds it: up to a power-of-two multiple of the page size. */
function ringbufSizeMatches(wanted: number, existing: number): boolean {
  if (wanted === existing) return true;
  for (const page of [4096, 16384, 65536]) {
    let size = page;
    while (size < wanted) size *= 2;
    if (size === existing) return true;
  }
  return false;
}

function keyBytes(map: KernelMap, kv: MapKV): Uint8Array {
  if (kv.key instanceof Uint8Array) return kv.key;
  return map.encodeKey(kv.key);
}

function valueBytes(map: KernelMap, kv: MapKV): Uint8Array {
  const value = kv.value as Uint8Array;
  if (value.length < map.valueSize) {
    // Data sections may be shorter than the map's value (trailing .bss-like zeros).
    const padded = new Uint8Array(map.valueSize);
    padded.set(value);
    return padded;
  }
  if (value.length > map.valueSize && !(isPerCpu(map.type) && value.length === map.rawValueSize)) {
    throw new KernelError(
      "KERNEL_BAD_CONTENTS",
      `value of ${value.length} bytes, the map's values are ${map.valueSize}`,
    );
  }
  return value;
}

function isMapOfMaps(type: number): boolean {
  return type === MapType.ARRAY_OF_MAPS || type === MapType.HASH_OF_MAPS;
}

function mapTypeLabel(type: number): string {
  const entry = Object.entries(MapType).find(([, v]) => v === type);
  return entry === undefined ? `type ${type}` : entry[0].toLowerCase();
}

/**
 * attach_btf_id of a program that needs one, from the kernel's BTF (libbpf's
 * find_attach_btf_id); `override` (options.attachTo) replaces
 * `ps.attachTo`.
 */
function attachTarget(ps: ProgramSpec, override?: string): number | undefined {
  const target = override ?? ps.attachTo;
  let name: string;
  let kind: number = BtfKind.FUNC;
  if (ps.type === ProgramType.LSM) name = `bpf_lsm_${target}`;
  else if (ps.type === ProgramType.TRACING) {
    switch (ps.attachType) {
      case AttachType.TRACE_RAW_TP:
        name = `btf_trace_${target}`;
        kind = BtfKind.TYPEDEF;
        break;
      case AttachType.TRACE_ITER:
        name = `bpf_iter_${target}`;
        break;
      default:
        name = target;
    }
  } else return undefined;
  if (target === "") {
    throw new KernelError(
      "KERNEL_NO_ATTACH_TARGET",
      `section ${ps.sectionName} names no attach target (set options.attachTo or config programs.attachTo)`,
    );
  }
  const vmlinux: Btf = kernelBtf();
  const ids = vmlinux.idsByName(name).filter((id) => vmlinux.kindOf(id) === kind);
  if (ids.length === 0) {
    throw new KernelError(
      "KERNEL_NO_ATTACH_TARGET",
      `attach target ${JSON.stringify(target)}: no ${
        kind === BtfKind.FUNC ? "function" : "typedef"
      } ${name} in the kernel's BTF`,
    );
  }
  return ids[0];
}

function keyText(kv: MapKV): string {
  return kv.key instanceof Uint8Array
    ? [...kv.key].map((b) => b.toString(16).padStart(2, "0")).join("")
    : String(kv.key);
}

function step(context: string, fn: () => void): void {
  withCtx(context, fn);
}

function withCtx<T>(context: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TsbpfError) err.addContext(context);
    throw err;
  }
}

function ignore(fn: () => void): void {
  try {
    fn();
  } catch {
    // Cleanup after a failure: the first error is the one to report.
  }
}
