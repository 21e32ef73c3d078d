/**
 * The string section of one blob. The section is decoded once, on first
 * use, into one JS string (one char per byte, so byte offsets are string
 * offsets); a name is then a slice of it. Non-ASCII names are decoded as
 * UTF-8 on their own. In big sections (vmlinux), a small direct-mapped
 * cache shares the JS string of names many types repeat (`next`, `skb`,
 * `flags`, …) without the cost of a Map.
 *
 * @module
 */

import { slabU32 } from "../internal/slab.ts";

const utf8 = new TextDecoder();
// "latin1" is windows-1252 in the Encoding Standard: still one char per byte.
const latin1 = new TextDecoder("latin1");

/** Sections up to this many bytes go without the name cache. */
const CACHE_MIN_LENGTH = 16 * 1024;

/** Most cache slots: names repeat across vmlinux's 126k types. */
const MAX_CACHE_SIZE = 1 << 13;

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
   * Whether the string at `offset` is exactly the ASCII text `ascii` (one
   * char code per byte), compared in place: no string is built and the
   * section is not decoded. `false` for an offset outside the section.
   */
  equalsAscii(offset: number, ascii: string): boolean {
    if (!((offset >>> 0) === offset && offset < this.length)) return false;
    const n = ascii.length;
    if (offset + n >= this.length) return false;
    const bytes = this.#bytes;
    const at = this.#start + offset;
    if (bytes[at + n] !== 0) return false;
    for (let i = 0; i < n; i++) if (bytes[at + i] !== ascii.charCodeAt(i)) return false;
    return true;
  }

  /**
   * The string at `offset`, or `undefined` when the offset is outside the
   * section. The section ends with a NUL (the header parser checks), so
   * every string ends inside it.
   */
  get(offset: number): string | undefined {
    if (!((offset >>> 0) === offset && offset < this.length)) return undefined;
    const all = this.#all ?? this.#init();
    const keys = this.#cacheKeys;
    if (keys === undefined) {
      const end = all.indexOf("\0", offset);
      return this.#ascii ? all.slice(offset, end) : this.#decode(all, offset, end);
    }
    const slot = offset & (this.#cacheSize - 1);
    if (keys[slot] === offset + 1) return this.#cacheValues![slot];
    const end = all.indexOf("\0", offset);
    const s = this.#ascii ? all.slice(offset, end) : this.#decode(all, offset, end);
    keys[slot] = offset + 1;
    this.#cacheValues![slot] = s;
    return s;
  }

  #init(): string {
    const section = this.#bytes.subarray(this.#start, this.#start + this.length);
    // ASCII is UTF-8 one byte per char, and both engines decode it with a
    // bulk copy: several times faster than latin1 (windows-1252 maps bytes
    // one by one) and than String.fromCharCode over chunks. The decoded
    // length tells whether every byte became one char: then offsets are
    // string offsets and a slice is what decoding that string alone gives
    // (the only non-ASCII bytes possible are lone invalid ones, each one
    // U+FFFD either way, and a NUL ends any sequence).
    let all = utf8.decode(section);
    const ascii = all.length === this.length;
    if (!ascii) all = latin1.decode(section);
    this.#all = all;
    this.#ascii = ascii;
    // Sharing repeated names pays off in big sections (vmlinux); an
    // object's small section is cheaper without the cache.
    if (this.length > CACHE_MIN_LENGTH) {
      this.#cacheKeys = slabU32(this.#cacheSize);
      this.#cacheValues = new Array<string>(this.#cacheSize).fill("");
    }
    return all;
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
