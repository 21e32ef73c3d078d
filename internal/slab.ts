/**
 * Typed arrays carved out of shared slabs. Creating a view is cheap in
 * every engine, but allocating a fresh ArrayBuffer is not everywhere (about
 * a microsecond each in Deno), and parsing one small object needs several
 * small index arrays. Small requests share a slab; large ones get their own
 * buffer, so a slab never pins much memory.
 *
 * The arrays are zero-filled like `new Uint32Array(n)`.
 *
 * @module
 */

const SLAB_BYTES = 64 * 1024;
/** Requests above this get their own buffer. */
const SMALL_BYTES = 4 * 1024;

let slab = new ArrayBuffer(SLAB_BYTES);
let used = 0;

function carve(bytes: number, align: number): { buffer: ArrayBuffer; offset: number } {
  if (bytes > SMALL_BYTES) return { buffer: new ArrayBuffer(bytes), offset: 0 };
  let offset = (used + align - 1) & ~(align - 1);
  if (offset + bytes > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    offset = 0;
  }
  used = offset + bytes;
  return { buffer: slab, offset };
}

/** A zero-filled `Uint32Array` of `n` elements. */
export function slabU32(n: number): Uint32Array {
  const { buffer, offset } = carve(n * 4, 4);
  return new Uint32Array(buffer, offset, n);
}

/** A zero-filled `Uint8Array` of `n` elements. */
export function slabU8(n: number): Uint8Array {
  const { buffer, offset } = carve(n, 1);
  return new Uint8Array(buffer, offset, n);
}

/** A zero-filled `Float64Array` of `n` elements. */
export function slabF64(n: number): Float64Array {
  const { buffer, offset } = carve(n * 8, 8);
  return new Float64Array(buffer, offset, n);
}
