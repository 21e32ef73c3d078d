/**
 * The VM's memory: one growable `WebAssembly.Memory` (the arena) that both
 * the interpreter and the compiled tier address, and a table of tagged
 * regions that every program access is checked against.
 *
 * A program never sees arena offsets. It sees virtual addresses
 * `tag × 2³² + offset`: the high word names a region (stack frame, context,
 * packet, map values, read-only data …), the low word is an offset into it.
 * Pointer arithmetic that leaves a region changes the offset past its length
 * or carries into the tag, and the next access faults with the nearest
 * region named. Tags stay below 2¹⁶, so an address is exact in a JS number.
 *
 * Arena layout (all little-endian, as WebAssembly memory always is):
 *
 * | offset | what |
 * | --- | --- |
 * | 0 … 4095 | null guard, never part of a region |
 * | {@link ARGS_BASE} | r0–r5 as six 8-byte slots: helper arguments in, result out |
 * | {@link SCRATCH_BASE} | 8 bytes: a special (host-handled) load's result |
 * | {@link TABLE_BASE} | region table, {@link REGION_ENTRY} bytes per tag |
 * | {@link HEAP_BASE} … | allocations: stacks, packets, contexts, map storage |
 *
 * A region table entry is five u32 words: `base` (arena offset), `len`,
 * `flags` ({@link REGION_READ}, {@link REGION_WRITE}, {@link REGION_STRIDED},
 * {@link REGION_SPECIAL}), `stride` and `elem`. A strided region is an
 * array of `len / stride` elements of `elem` bytes (map values, which the
 * kernel lays out 8-byte aligned); an access must stay inside one element.
 * An entry with flags 0 is a handle (a map, a function): it has an address
 * but any access through it faults.
 *
 * @module
 */

import { formatAddress, VmError } from "./errors.ts";

/** Arena offset of r0–r5 (8 bytes each: low word, then high word). */
export const ARGS_BASE = 4096;
/** Arena offset of the 8-byte result of a special load. */
export const SCRATCH_BASE = ARGS_BASE + 64;
/** Arena offset of the region table. */
export const TABLE_BASE = 8192;
/** Bytes per region table entry (five u32 words used, three spare). */
export const REGION_ENTRY = 32;
/** Tags available; tag 0 is never used, so address 0 is NULL. */
export const MAX_REGIONS = 65536;
/** Arena offset where allocations start. */
export const HEAP_BASE = TABLE_BASE + MAX_REGIONS * REGION_ENTRY;

/** Region flag: programs may load from it. */
export const REGION_READ = 1;
/** Region flag: programs may store to it. */
export const REGION_WRITE = 2;
/** Region flag: an array of `elem`-byte elements every `stride` bytes. */
export const REGION_STRIDED = 4;
/** Region flag: accesses go to the region's {@link SpecialAccess} (contexts). */
export const REGION_SPECIAL = 8;

/** 2³², the weight of the tag in an address. */
export const TAG_SCALE = 4294967296;

const PAGE = 65536;

/** Loads and stores the host answers itself, e.g. a context's pointer fields. */
export interface SpecialAccess {
  /**
   * The value of a `size`-byte load at `offset` (a number, exact below 2⁵³,
   * or a bigint). Loads of 4 and 8 bytes keep the whole value, so a 4-byte
   * pointer field (`xdp_md.data`) can give a whole address, as the kernel's
   * context rewriting does; 1- and 2-byte loads keep their low bytes.
   */
  load(offset: number, size: number): number | bigint;
  /** Store `value` (`lo`, `hi` words) at `offset`; return false to refuse the write. */
  store(offset: number, size: number, lo: number, hi: number): boolean;
}

/** What {@link VmMemory.map} needs to describe a region. */
export interface RegionInit {
  /** Name used in errors, e.g. `stack frame 1`, `map counts value`. */
  name: string;
  /** Arena offset of the first byte. */
  base: number;
  /** Length in bytes. */
  len: number;
  /** REGION_* flags; 0 for a handle. */
  flags: number;
  /** Element size of a strided region. */
  elem?: number;
  /** Distance between elements of a strided region; default `elem` rounded up to 8. */
  stride?: number;
  /** Host handling for a {@link REGION_SPECIAL} region. */
  special?: SpecialAccess;
}

/** Options of {@link VmMemory}. */
export interface VmMemoryOptions {
  /** Initial arena size in bytes (rounded up to 64 KiB pages); default 4 MiB. */
  initialBytes?: number;
  /** Largest arena size in bytes; default 1 GiB. */
  maxBytes?: number;
}

/** The address of byte `offset` of region `tag`. */
export function vmAddress(tag: number, offset: number): number {
  return tag * TAG_SCALE + offset;
}

/** The region tag of an address (its high word). */
export function tagOf(address: number): number {
  return Math.floor(address / TAG_SCALE);
}

/** The offset part of an address (its low word). */
export function offsetOf(address: number): number {
  return address % TAG_SCALE;
}

/**
 * The arena, its allocator and the region table. Views (`u8`, `dv`, `u32`,
 * `i32`) are replaced when the arena grows: read them again after anything
 * that may allocate, never keep one across a helper call.
 */
export class VmMemory {
  /** The arena; compiled programs import it. */
  readonly memory: WebAssembly.Memory;
  /** Bytes of the arena. */
  u8!: Uint8Array;
  /** The arena as a DataView. */
  dv!: DataView;
  /** The arena as u32 words (region table, argument slots). */
  u32!: Uint32Array;
  /** The arena as i32 words. */
  i32!: Int32Array;

  readonly #names: string[] = [""];
  readonly #special: (SpecialAccess | undefined)[] = [undefined];
  readonly #freeTags: number[] = [];
  #nextTag = 1;
  #top = HEAP_BASE;
  readonly #maxBytes: number;
  readonly #free = new Map<number, number[]>();

  constructor(options: VmMemoryOptions = {}) {
    const maxBytes = options.maxBytes ?? 1 << 30;
    const initial = Math.max(HEAP_BASE + (options.initialBytes ?? 4 << 20), HEAP_BASE + PAGE);
    this.#maxBytes = Math.max(maxBytes, initial);
    this.memory = new WebAssembly.Memory({
      initial: Math.ceil(initial / PAGE),
      maximum: Math.ceil(this.#maxBytes / PAGE),
    });
    this.#refresh();
  }

  /** Regions in use (tags handed out and not yet unmapped). */
  get regionCount(): number {
    return this.#nextTag - 1 - this.#freeTags.length;
  }

  /** Bytes of the arena handed out by {@link alloc} and not freed. */
  get heapTop(): number {
    return this.#top;
  }

  /**
   * Allocate `size` zeroed bytes, 8-byte aligned; returns the arena offset.
   * Sizes round up to a size class (a power of two from 16 bytes to 1 MiB,
   * whole 64 KiB pages above) so freed blocks are reused by later
   * allocations of the same class.
   */
  alloc(size: number): number {
    if (!Number.isInteger(size) || size < 0) {
      throw new VmError("VM_BAD_RUN", `cannot allocate ${size} bytes`);
    }
    const klass = sizeClass(size);
    const list = this.#free.get(klass);
    const reused = list?.pop();
    if (reused !== undefined) {
      this.u8.fill(0, reused, reused + klass);
      return reused;
    }
    const at = this.#top;
    const end = at + klass;
    if (end > this.u8.length) this.#grow(end);
    this.#top = end;
    return at;
  }

  /** Return a block from {@link alloc} of `size` bytes to the allocator. */
  free(offset: number, size: number): void {
    const klass = sizeClass(size);
    let list = this.#free.get(klass);
    if (list === undefined) this.#free.set(klass, list = []);
    list.push(offset);
  }

  /** Add a region; returns its tag. */
  map(init: RegionInit): number {
    const tag = this.#freeTags.pop() ?? this.#nextTag++;
    if (tag >= MAX_REGIONS) {
      this.#nextTag--;
      throw new VmError("VM_BAD_RUN", `out of VM regions (${MAX_REGIONS - 1} in use)`);
    }
    const elem = init.elem ?? 0;
    const stride = init.stride ?? ((elem + 7) & ~7);
    if ((init.flags & REGION_STRIDED) !== 0 && (elem <= 0 || stride < elem)) {
      throw new VmError("VM_BAD_RUN", `region ${init.name}: bad element size ${elem}/${stride}`);
    }
    const w = (TABLE_BASE + tag * REGION_ENTRY) >>> 2;
    this.u32[w] = init.base;
    this.u32[w + 1] = init.len;
    this.u32[w + 2] = init.flags;
    this.u32[w + 3] = stride;
    this.u32[w + 4] = elem;
    this.#names[tag] = init.name;
    this.#special[tag] = init.special;
    return tag;
  }

  /** Change a region's base and length (a packet that grew or shrank). */
  remap(tag: number, base: number, len: number): void {
    this.#checkTag(tag);
    const w = (TABLE_BASE + tag * REGION_ENTRY) >>> 2;
    this.u32[w] = base;
    this.u32[w + 1] = len;
  }

  /** Change a region's flags (a map that was frozen). */
  setFlags(tag: number, flags: number): void {
    this.#checkTag(tag);
    this.u32[((TABLE_BASE + tag * REGION_ENTRY) >>> 2) + 2] = flags;
  }

  /** Remove a region; its tag may be handed out again. */
  unmap(tag: number): void {
    this.#checkTag(tag);
    this.u32.fill(
      0,
      (TABLE_BASE + tag * REGION_ENTRY) >>> 2,
      (TABLE_BASE + (tag + 1) * REGION_ENTRY) >>> 2,
    );
    this.#names[tag] = "";
    this.#special[tag] = undefined;
    this.#freeTags.push(tag);
  }

  /** A region's name, or `undefined` for a tag not in use. */
  regionName(tag: number): string | undefined {
    return tag > 0 && tag < this.#nextTag && this.#names[tag] !== "" ? this.#names[tag] : undefined;
  }

  /** A region's table entry, or `undefined` for a tag not in use. */
  region(
    tag: number,
  ): Required<Omit<RegionInit, "special">> & { special?: SpecialAccess } | undefined {
    const name = this.regionName(tag);
    if (name === undefined) return undefined;
    const w = (TABLE_BASE + tag * REGION_ENTRY) >>> 2;
    return {
      name,
      base: this.u32[w],
      len: this.u32[w + 1],
      flags: this.u32[w + 2],
      stride: this.u32[w + 3],
      elem: this.u32[w + 4],
      special: this.#special[tag],
    };
  }

  /** The host handler of a {@link REGION_SPECIAL} region. */
  special(tag: number): SpecialAccess | undefined {
    return this.#special[tag];
  }

  /**
   * The arena offset of a `size`-byte access at `address` (given as its low
   * and high words), or a {@link VmError} `VM_BAD_ACCESS`. Special regions
   * return -1: the caller asks {@link special} instead.
   */
  translate(lo: number, hi: number, size: number, write: boolean, pc = -1): number {
    const tag = hi >>> 0;
    if (tag > 0 && tag < MAX_REGIONS) {
      const w = (TABLE_BASE + tag * REGION_ENTRY) >>> 2;
      const u32 = this.u32;
      const flags = u32[w + 2];
      const off = lo >>> 0;
      if ((flags & (write ? REGION_WRITE : REGION_READ)) !== 0 && off + size <= u32[w + 1]) {
        if ((flags & REGION_SPECIAL) !== 0) return -1;
        if ((flags & REGION_STRIDED) === 0 || (off % u32[w + 3]) + size <= u32[w + 4]) {
          return u32[w] + off;
        }
      }
    }
    throw this.fault(tag * TAG_SCALE + (lo >>> 0), size, write, pc);
  }

  /**
   * The arena offset of `len` bytes at `address` for a helper (a key, a
   * buffer): the whole range must lie in one region (one element of a
   * strided one) with the access asked for. `len` 0 is always fine.
   */
  range(address: number, len: number, write: boolean, pc = -1): number {
    if (len === 0) return 0;
    const tag = tagOf(address);
    const off = offsetOf(address);
    if (tag > 0 && tag < MAX_REGIONS) {
      const w = (TABLE_BASE + tag * REGION_ENTRY) >>> 2;
      const u32 = this.u32;
      const flags = u32[w + 2];
      if (
        (flags & (write ? REGION_WRITE : REGION_READ)) !== 0 && (flags & REGION_SPECIAL) === 0 &&
        off + len <= u32[w + 1] &&
        ((flags & REGION_STRIDED) === 0 || (off % u32[w + 3]) + len <= u32[w + 4])
      ) {
        return u32[w] + off;
      }
    }
    throw this.fault(address, len, write, pc);
  }

  /** A copy of `len` bytes at `address` (checked like {@link range}). */
  read(address: number, len: number, pc = -1): Uint8Array {
    const at = this.range(address, len, false, pc);
    return this.u8.slice(at, at + len);
  }

  /** Write `bytes` at `address` (checked like {@link range}). */
  write(address: number, bytes: Uint8Array, pc = -1): void {
    const at = this.range(address, bytes.length, true, pc);
    this.u8.set(bytes, at);
  }

  /** The {@link VmError} for a bad access, naming the nearest region. */
  fault(address: number, size: number, write: boolean, pc = -1): VmError {
    const tag = tagOf(address);
    const off = offsetOf(address);
    const kind = write ? "write" : "read";
    const region = this.regionName(tag);
    let where: string;
    if (address === 0 || (tag === 0 && off < 4096)) {
      where = "a NULL pointer dereference";
    } else if (region === undefined) {
      where = tag === 0 ? "not a pointer (no region)" : `no region has tag ${tag}`;
    } else {
      const r = this.region(tag)!;
      if (r.flags === 0) where = `${region} is a handle, not memory`;
      else if ((r.flags & (write ? REGION_WRITE : REGION_READ)) === 0) {
        where = `${region} is ${write ? "read-only" : "write-only"}`;
      } else if (off + size > r.len) {
        where = off >= r.len
          ? `${off - r.len} bytes past the end of ${region} (${r.len} bytes)`
          : `runs ${off + size - r.len} bytes past the end of ${region} (${r.len} bytes)`;
      } else if ((r.flags & REGION_STRIDED) !== 0) {
        where =
          `crosses an element boundary of ${region} (elements of ${r.elem} bytes every ${r.stride})`;
      } else {
        where = `refused by ${region}`;
      }
    }
    const at = pc >= 0 ? `pc ${pc}: ` : "";
    return new VmError(
      "VM_BAD_ACCESS",
      `${at}invalid ${kind} of ${size} bytes at ${formatAddress(address)}: ${where}`,
      { pc: pc >= 0 ? pc : undefined, address, size, region },
    );
  }

  /** Argument register `n` (0–5) from the argument slots: low word, unsigned. */
  argLo(n: number): number {
    return this.u32[(ARGS_BASE >>> 2) + 2 * n];
  }

  /** Argument register `n` (0–5): high word, unsigned. */
  argHi(n: number): number {
    return this.u32[(ARGS_BASE >>> 2) + 2 * n + 1];
  }

  /** Set argument slot `n` from a number (an integer, negative meaning two's complement). */
  setArg(n: number, value: number): void {
    const w = (ARGS_BASE >>> 2) + 2 * n;
    const [lo, hi] = splitNumber(value);
    this.u32[w] = lo;
    this.u32[w + 1] = hi;
  }

  #checkTag(tag: number): void {
    if (this.regionName(tag) === undefined) {
      throw new VmError("VM_BAD_RUN", `region tag ${tag} is not in use`);
    }
  }

  #grow(end: number): void {
    if (end > this.#maxBytes) {
      throw new VmError(
        "VM_BAD_RUN",
        `VM memory limit reached: ${end} bytes needed, at most ${this.#maxBytes}`,
      );
    }
    const have = this.memory.buffer.byteLength;
    const want = Math.min(Math.max(end, have * 2), this.#maxBytes);
    this.memory.grow(Math.ceil((want - have) / PAGE));
    this.#refresh();
  }

  #refresh(): void {
    const buffer = this.memory.buffer;
    this.u8 = new Uint8Array(buffer);
    this.dv = new DataView(buffer);
    this.u32 = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
  }
}

/** An integer (|value| < 2⁵³; negative is two's complement) as unsigned [lo, hi] words. */
export function splitNumber(value: number): [number, number] {
  const lo = value >>> 0;
  if (value >= 0) return [lo, Math.floor(value / TAG_SCALE) >>> 0];
  // Two's complement of a negative integer above -2⁵³.
  const hi = Math.floor(value / TAG_SCALE);
  return [lo, hi >>> 0];
}

/** [lo, hi] words as a number: exact when the value is below 2⁵³. */
export function joinWords(lo: number, hi: number): number {
  return (hi >>> 0) * TAG_SCALE + (lo >>> 0);
}

// Powers of two up to 1 MiB so freed blocks fit later requests of the same
// class; whole 64 KiB pages above, where doubling would waste too much.
function sizeClass(size: number): number {
  if (size <= 16) return 16;
  if (size > 1 << 20) return Math.ceil(size / PAGE) * PAGE;
  return 2 ** Math.ceil(Math.log2(size));
}
