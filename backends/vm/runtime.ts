/**
 * The state one collection's programs share in the VM: the arena, the
 * registries of maps and programs, the stack frames, the clocks and the
 * random source helpers read.
 *
 * ```ts
 * import { createRuntime } from "./runtime.ts";
 *
 * const runtime = createRuntime({ seed: 42 });
 * runtime.random(); // the same value on every run with seed 42
 * runtime.close();
 * ```
 *
 * @module
 */

import { REGION_READ, REGION_WRITE, tagOf, VmMemory } from "./memory.ts";
import {
  DEFAULT_BUDGET,
  MAX_CALL_DEPTH,
  STACK_SIZE,
  type VmAddress,
  type VmHelper,
  type VmMap,
  type VmPacket,
  type VmProgramHandle,
  type VmRuntime,
  type VmRuntimeOptions,
} from "./types.ts";

/** Options of {@link createRuntime}: the runtime's settings plus its parts. */
export interface CreateRuntimeOptions extends VmRuntimeOptions {
  /** Helpers by ID; default none. */
  helpers?: ReadonlyMap<number, VmHelper>;
  /** The arena; default a fresh {@link VmMemory} (closed with the runtime). */
  mem?: VmMemory;
}

/** First number {@link Runtime.allocFd} hands out (clear of real fds in messages). */
export const FIRST_FD = 1000;

/** Default seed of `get_prandom_u32`: runs are reproducible. */
export const DEFAULT_SEED = 0x2545f491;

/** A {@link VmRuntime} with its registries, stack frames and packet table. */
export class Runtime implements VmRuntime {
  /** The arena. */
  readonly mem: VmMemory;
  /** Settings with defaults filled in. */
  readonly options: Readonly<VmRuntimeOptions>;
  /** Helpers by ID. */
  readonly helpers: ReadonlyMap<number, VmHelper>;
  /** Lines `trace_printk` wrote. */
  readonly trace: string[] = [];
  /** Tags of the stack frame regions. */
  readonly frameTags: readonly number[];
  /** Frames in use. */
  depth = 0;

  readonly #maps = new Map<number, VmMap>();
  readonly #mapsByFd = new Map<number, VmMap>();
  readonly #programs = new Map<number, VmProgramHandle>();
  readonly #packets = new Map<number, VmPacket>();
  readonly #ownsMem: boolean;
  readonly #stackBase: number;
  #nextFd = FIRST_FD;
  #rand: number;
  #closed = false;

  constructor(options: CreateRuntimeOptions = {}) {
    const { helpers, mem, ...settings } = options;
    this.#ownsMem = mem === undefined;
    this.mem = mem ?? new VmMemory();
    this.helpers = helpers ?? new Map();
    const clock = settings.clock ?? monotonicNs;
    this.options = Object.freeze({
      ...settings,
      clock,
      bootClock: settings.bootClock ?? clock,
      seed: settings.seed ?? DEFAULT_SEED,
      cpu: settings.cpu ?? 0,
      possibleCpus: settings.possibleCpus ?? 1,
      pidTgid: settings.pidTgid ?? 0n,
      uidGid: settings.uidGid ?? 0n,
      comm: settings.comm ?? "tsbpf",
      budget: settings.budget ?? DEFAULT_BUDGET,
    });
    this.#rand = (this.options.seed! | 0) || DEFAULT_SEED;
    this.#stackBase = this.mem.alloc(STACK_SIZE * MAX_CALL_DEPTH);
    const tags: number[] = [];
    for (let d = 0; d < MAX_CALL_DEPTH; d++) {
      tags.push(this.mem.map({
        name: `stack frame ${d}`,
        base: this.#stackBase + d * STACK_SIZE,
        len: STACK_SIZE,
        flags: REGION_READ | REGION_WRITE,
      }));
    }
    this.frameTags = Object.freeze(tags);
  }

  /** The map whose handle address is `address`. */
  mapAt(address: VmAddress): VmMap | undefined {
    return this.#maps.get(tagOf(address));
  }

  /** The map with fd `fd`. */
  mapByFd(fd: number): VmMap | undefined {
    return this.#mapsByFd.get(fd);
  }

  /** The program with fd `fd`. */
  programByFd(fd: number): VmProgramHandle | undefined {
    return this.#programs.get(fd);
  }

  /** The next `get_prandom_u32` value: mulberry32 over the seeded state. */
  random(): number {
    this.#rand = (this.#rand + 0x6d2b79f5) | 0;
    let t = this.#rand;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A fresh fd-like number. */
  allocFd(): number {
    return this.#nextFd++;
  }

  /** Register a map by its handle address and fd. */
  addMap(map: VmMap): void {
    this.#maps.set(tagOf(map.address), map);
    this.#mapsByFd.set(map.fd, map);
  }

  /** Forget a map. */
  removeMap(map: VmMap): void {
    if (this.#maps.get(tagOf(map.address)) === map) this.#maps.delete(tagOf(map.address));
    if (this.#mapsByFd.get(map.fd) === map) this.#mapsByFd.delete(map.fd);
  }

  /** Register a program by fd. */
  addProgram(program: VmProgramHandle): void {
    this.#programs.set(program.fd, program);
  }

  /** Forget a program. */
  removeProgram(program: VmProgramHandle): void {
    if (this.#programs.get(program.fd) === program) this.#programs.delete(program.fd);
  }

  /** The packet of the context at `ctx` (any address in the context's region). */
  packetOf(ctx: VmAddress): VmPacket | undefined {
    return this.#packets.get(tagOf(ctx));
  }

  /** Record the packet the context region `ctxTag` points at. */
  setPacket(ctxTag: number, packet: VmPacket): void {
    this.#packets.set(ctxTag, packet);
  }

  /** Forget the packet of context region `ctxTag`. */
  clearPacket(ctxTag: number): void {
    this.#packets.delete(ctxTag);
  }

  /** Whether {@link close} ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Unmap the stack frames and free their memory (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const tag of this.frameTags) {
      if (this.mem.regionName(tag) !== undefined) this.mem.unmap(tag);
    }
    if (!this.#ownsMem) this.mem.free(this.#stackBase, STACK_SIZE * MAX_CALL_DEPTH);
  }
}

/** A runtime with `options` (see {@link CreateRuntimeOptions}). */
export function createRuntime(options: CreateRuntimeOptions = {}): Runtime {
  return new Runtime(options);
}

// performance.now() is monotonic and web-standard; ms with a fraction → ns.
function monotonicNs(): bigint {
  return BigInt(Math.round(performance.now() * 1e6));
}
