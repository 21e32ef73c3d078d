/**
 * The string section of one blob. The section is decoded once, on first
 * use, into one JS string (one char per byte, so byte offsets are string
 * offsets); a name is then a slice of it. Non-ASCII names are decoded as
 * UTF-8 on their own. A small direct-mapped cache shares the JS string of
 * names many types repeat (`next`, `skb`, `flags`, …) without the cost of
 * a Map.
 *
 * @module
 */

import { slabU32 } from "../internal/slab.ts";

const utf8 = new TextDecoder();
// "latin1" is windows-1252 in the Encoding Standard: still one char per byte.
const latin1 = new TextDecoder("latin1");

/** Most cache slots: names repeat across vmlinux's 126k types. */
const MAX_CACHE_SIZE = 1 << 13;

/** Sections up to this size are turned into a string without a TextDecoder. */
const SMALL_SECTION = 1 << 16;

/** Latin-1 text of `bytes`, one char per byte, in chunks the argument list can hold. */
function fromCharCodes(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  }
  return out;
}

/** One blob's string section; offsets are relative to its start. */
export class StringTable {
  readonly #bytes: Uint8Array;
  readonly #start: number;
  /** Length of the section in bytes. */
  readonly length: number;
  #all?: string;
  /** Whether the whole section is ASCII (then every slice is the string). */
  #ascii = false;
  /** Offset + 1 of the string in each slot; 0 for an empty slot. */
  #cacheKeys?: Uint32Array;
  #cacheValues?: string[];
  /** Slots, a power of two: an object's small section needs few (about one per 16 bytes). */
  readonly #cacheSize: number;

  constructor(bytes: Uint8Array, start: number, length: number) {
    this.#bytes = bytes;
    this.#start = start;
    this.length = length;
    let size = 16;
    while (size < MAX_CACHE_SIZE && size * 16 < length) size <<= 1;
    this.#cacheSize = size;
  }

  /**
   * The string at `offset`, or `undefined` when the offset is outside the
   * section. The section ends with a NUL (the header parser checks), so
   * every string ends inside it.
   */
  get(offset: number): string | undefined {
    if (!((offset >>> 0) === offset && offset < this.length)) return undefined;
    const keys = this.#cacheKeys;
    if (keys === undefined) return this.#init(offset);
    const slot = offset & (this.#cacheSize - 1);
    if (keys[slot] === offset + 1) return this.#cacheValues![slot];
    const all = this.#all!;
    const end = all.indexOf("\0", offset);
    const s = this.#ascii ? all.slice(offset, end) : this.#decode(all, offset, end);
    keys[slot] = offset + 1;
    this.#cacheValues![slot] = s;
    return s;
  }

  #init(offset: number): string | undefined {
    const section = this.#bytes.subarray(this.#start, this.#start + this.length);
    let ascii = true;
    for (let i = 0; i < section.length; i++) {
      if (section[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    // A decoder call has a fixed cost that dominates for an object's few
    // KiB of names; fromCharCode over chunks is cheaper there.
    this.#all = section.length <= SMALL_SECTION ? fromCharCodes(section) : latin1.decode(section);
    this.#ascii = ascii;
    this.#cacheKeys = slabU32(this.#cacheSize);
    this.#cacheValues = new Array<string>(this.#cacheSize).fill("");
    return this.get(offset);
  }

  #decode(all: string, from: number, end: number): string {
    const bytes = this.#bytes;
    const start = this.#start;
    for (let i = start + from; i < start + end; i++) {
      if (bytes[i] >= 0x80) return utf8.decode(bytes.subarray(start + from, start + end));
    }
    return all.slice(from, end);
  }
}
