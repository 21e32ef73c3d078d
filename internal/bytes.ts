/**
 * Integer stores into a `Uint8Array` by hand. Building a `DataView` needs
 * the array's `ArrayBuffer`, and asking a small array for it costs more
 * than the stores themselves (it moves the bytes off the engine's heap,
 * ~0.2 µs in Bun); encoders of short records write bytes directly.
 *
 * @module
 */

/** Store the low 16 bits of `value` at `at`. */
export function putU16(bytes: Uint8Array, at: number, value: number, littleEndian: boolean): void {
  if (littleEndian) {
    bytes[at] = value;
    bytes[at + 1] = value >>> 8;
  } else {
    bytes[at] = value >>> 8;
    bytes[at + 1] = value;
  }
}

/** Store the low 32 bits of `value` (signed or unsigned) at `at`. */
export function putU32(bytes: Uint8Array, at: number, value: number, littleEndian: boolean): void {
  if (littleEndian) {
    bytes[at] = value;
    bytes[at + 1] = value >>> 8;
    bytes[at + 2] = value >>> 16;
    bytes[at + 3] = value >>> 24;
  } else {
    bytes[at] = value >>> 24;
    bytes[at + 1] = value >>> 16;
    bytes[at + 2] = value >>> 8;
    bytes[at + 3] = value;
  }
}
