/**
 * 64-bit arithmetic on registers held as two i32 words (`lo`, `hi`), for
 * the interpreter's cases that do not fit in a line: the high word of a
 * 32×32 product, division and remainder, byte swaps, sign extension. No
 * BigInt except in the rare division of operands beyond 2⁵³.
 *
 * @module
 */

const TWO32 = 4294967296;
const INT_MIN = -2147483648;

/** The high 32 bits of the unsigned product of two 32-bit words (16-bit limbs, exact). */
export function mulhu(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const mid1 = a1 * b0 + ((a0 * b0) >>> 16);
  const mid2 = a0 * b1 + (mid1 & 0xffff);
  return (a1 * b1 + (mid1 >>> 16) + (mid2 >>> 16)) | 0;
}

/** Byte swap of a 32-bit word. */
export function bswap32(x: number): number {
  return ((x << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) | 0;
}

/** Byte swap of the low 16 bits (zero-extended). */
export function bswap16(x: number): number {
  return ((x & 0xff) << 8) | ((x >>> 8) & 0xff);
}

/**
 * `lo[r], hi[r]` ÷ or % `bl, bh` as the ISA defines it: `signed` selects
 * `sdiv`/`smod`, `mod` the remainder. Division by zero gives 0, a remainder
 * by zero leaves the dividend; `INT64_MIN / -1` is `INT64_MIN`, `% -1` is 0.
 */
export function divmod64(
  lo: Int32Array,
  hi: Int32Array,
  r: number,
  bl: number,
  bh: number,
  signed: boolean,
  mod: boolean,
): void {
  if (bl === 0 && bh === 0) {
    if (!mod) lo[r] = hi[r] = 0;
    return;
  }
  const al = lo[r], ah = hi[r];
  // Doubles are exact below 2^53, and (a - a % b) / b divides exactly.
  const smallA = signed ? ah >= -0x200000 && ah < 0x200000 : (ah >>> 0) < 0x200000;
  const smallB = signed ? bh >= -0x200000 && bh < 0x200000 : (bh >>> 0) < 0x200000;
  if (smallA && smallB) {
    const a = (signed ? ah : ah >>> 0) * TWO32 + (al >>> 0);
    const b = (signed ? bh : bh >>> 0) * TWO32 + (bl >>> 0);
    const rem = a % b;
    const v = mod ? rem : (a - rem) / b;
    lo[r] = v | 0;
    hi[r] = Math.floor(v / TWO32) | 0;
    return;
  }
  let a = (BigInt(ah) << 32n) | BigInt(al >>> 0);
  let b = (BigInt(bh) << 32n) | BigInt(bl >>> 0);
  if (!signed) {
    a = BigInt.asUintN(64, a);
    b = BigInt.asUintN(64, b);
  }
  // BigInt division truncates toward zero like C; INT64_MIN / -1 wraps below.
  const v = BigInt.asUintN(64, mod ? a % b : a / b);
  lo[r] = Number(v & 0xffffffffn) | 0;
  hi[r] = Number(v >> 32n) | 0;
}

/** The 32-bit `div`/`mod`/`sdiv`/`smod` of `a` by `b` (the result's low word; high is 0). */
export function divmod32(a: number, b: number, signed: boolean, mod: boolean): number {
  if (b === 0) return mod ? a : 0;
  if (!signed) return (mod ? (a >>> 0) % (b >>> 0) : Math.floor((a >>> 0) / (b >>> 0))) | 0;
  if (b === -1) return mod ? 0 : (a === INT_MIN ? INT_MIN : -a | 0);
  return (mod ? a % b : (a / b)) | 0;
}

/** `lo[r], hi[r]` shifted left by `n` (0–63). */
export function lsh64(lo: Int32Array, hi: Int32Array, r: number, n: number): void {
  if (n === 0) return;
  if (n < 32) {
    hi[r] = (hi[r] << n) | (lo[r] >>> (32 - n));
    lo[r] = lo[r] << n;
  } else {
    hi[r] = lo[r] << (n - 32);
    lo[r] = 0;
  }
}

/** `lo[r], hi[r]` shifted right logically by `n` (0–63). */
export function rsh64(lo: Int32Array, hi: Int32Array, r: number, n: number): void {
  if (n === 0) return;
  if (n < 32) {
    lo[r] = (lo[r] >>> n) | (hi[r] << (32 - n));
    hi[r] = hi[r] >>> n;
  } else {
    lo[r] = hi[r] >>> (n - 32);
    hi[r] = 0;
  }
}

/** `lo[r], hi[r]` shifted right arithmetically by `n` (0–63). */
export function arsh64(lo: Int32Array, hi: Int32Array, r: number, n: number): void {
  if (n === 0) return;
  if (n < 32) {
    lo[r] = (lo[r] >>> n) | (hi[r] << (32 - n));
    hi[r] = hi[r] >> n;
  } else {
    lo[r] = hi[r] >> (n - 32);
    hi[r] = hi[r] >> 31;
  }
}

/** `BPF_END`: to big endian / byte swap (`swap`) or to little endian, of width `bits`. */
export function end(lo: Int32Array, hi: Int32Array, r: number, bits: number, swap: boolean): void {
  if (bits === 16) {
    lo[r] = swap ? bswap16(lo[r]) : lo[r] & 0xffff;
    hi[r] = 0;
  } else if (bits === 32) {
    if (swap) lo[r] = bswap32(lo[r]);
    hi[r] = 0;
  } else if (swap) {
    const l = lo[r];
    lo[r] = bswap32(hi[r]);
    hi[r] = bswap32(l);
  }
}

/** `movsx`: `lo[r], hi[r]` = the low `bits` of `x` sign-extended (to 64 bits, or 32 when `alu32`). */
export function movsx(
  lo: Int32Array,
  hi: Int32Array,
  r: number,
  x: number,
  bits: number,
  alu32: boolean,
): void {
  const v = bits === 8 ? (x << 24) >> 24 : bits === 16 ? (x << 16) >> 16 : x | 0;
  lo[r] = v;
  hi[r] = alu32 ? 0 : v >> 31;
}
