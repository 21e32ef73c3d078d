/**
 * `BPF_MAP_TYPE_RINGBUF`: a ring of max_entries bytes (a power of two and a
 * multiple of 4096) holding records with the kernel's 8-byte header (`len`
 * with the BUSY and DISCARD bits, `pg_off`), each record rounded up to 8
 * bytes. Positions grow without wrapping, as the kernel's `producer_pos` and
 * `consumer_pos` do; a record may use at most max_entries - 1 bytes past the
 * consumer, so a reserve fails (returns 0) when the ring is that full.
 *
 * Every reserved record is its own read/write region, unmapped at submit
 * or discard, so a program cannot touch a neighbour or a committed record.
 * A record that would wrap past the ring's end is reserved in a separate
 * block and copied into the ring (in two parts) when it is committed —
 * the kernel maps the ring twice to make it contiguous instead.
 *
 * The host drains submitted records in order with {@link VmRingBuf.consume},
 * which skips discarded ones and stops at the first still-reserved record.
 *
 * @module
 */

import { MapFlags } from "../../../collection/types.ts";
import { VmError } from "../errors.ts";
import { offsetOf, REGION_READ, REGION_WRITE, tagOf, vmAddress } from "../memory.ts";
import type { VmAddress, VmRuntime } from "../types.ts";
import { MapBase, roundUp8, type VmMapInit } from "./_base.ts";
import { NEG_EAGAIN, NEG_EINVAL } from "./_errno.ts";
import { checkFlagMask, refuse } from "./_check.ts";

/** Bytes of a record header. */
export const BPF_RINGBUF_HDR_SZ = 8;
/** Header bit: the record is reserved, not yet committed. */
export const BPF_RINGBUF_BUSY_BIT = 0x80000000;
/** Header bit: the record was discarded. */
export const BPF_RINGBUF_DISCARD_BIT = 0x40000000;
/** `BPF_RB_NO_WAKEUP`. */
export const BPF_RB_NO_WAKEUP = 1;
/** `BPF_RB_FORCE_WAKEUP`. */
export const BPF_RB_FORCE_WAKEUP = 2;
/** `bpf_ringbuf_query` flags. */
export const BPF_RB_AVAIL_DATA = 0;
/** `bpf_ringbuf_query`: the ring's size. */
export const BPF_RB_RING_SIZE = 1;
/** `bpf_ringbuf_query`: the consumer position. */
export const BPF_RB_CONS_POS = 2;
/** `bpf_ringbuf_query`: the producer position. */
export const BPF_RB_PROD_POS = 3;
/** Largest record (`RINGBUF_MAX_RECORD_SZ`). */
export const RINGBUF_MAX_RECORD_SZ = Math.floor(0xffffffff / 4);

/** `ringbuf_map_alloc` checks. */
export function checkRingbuf(init: VmMapInit): void {
  checkFlagMask(init, MapFlags.BPF_F_NUMA_NODE);
  const n = init.maxEntries;
  if (init.keySize !== 0 || init.valueSize !== 0) {
    refuse(init, "EINVAL", "key_size and value_size must be 0 for ring buffers");
  }
  if (n === 0 || (n & (n - 1)) !== 0 || n % 4096 !== 0) {
    refuse(init, "EINVAL", `max_entries ${n} must be a power of two and a multiple of 4096`);
  }
  if (n > RINGBUF_MAX_RECORD_SZ) refuse(init, "E2BIG", `max_entries ${n} too large`);
}

interface Reserved {
  pos: number;
  size: number;
  // Arena offset of a separate block for a record that wraps, else -1.
  block: number;
}

/** A ring buffer map. */
export class VmRingBuf extends MapBase {
  readonly #data: number;
  readonly #mask: number;
  readonly #reserved = new Map<number, Reserved>();
  #prod = 0;
  #cons = 0;

  constructor(runtime: VmRuntime, init: VmMapInit) {
    super(runtime, init);
    this.#data = this.allocBlock(init.maxEntries);
    this.#mask = init.maxEntries - 1;
  }

  /** `bpf_ringbuf_reserve`: the record's address, or 0 (flags not 0, too big, no room). */
  ringbufReserve(size: number, flags: number): VmAddress {
    this.checkOpen("ringbuf_reserve");
    if (flags !== 0 || !Number.isInteger(size) || size < 0 || size > RINGBUF_MAX_RECORD_SZ) {
      return 0;
    }
    const len = roundUp8(size + BPF_RINGBUF_HDR_SZ);
    const ringSize = this.#mask + 1;
    if (len > ringSize) return 0;
    if (this.#prod + len - this.#cons > this.#mask) return 0;
    const pos = this.#prod;
    const at = this.#data + (pos & this.#mask);
    const mem = this.runtime.mem;
    const wraps = (pos & this.#mask) + len > ringSize;
    const block = wraps ? this.allocBlock(size) : -1;
    const base = wraps ? block : at + BPF_RINGBUF_HDR_SZ;
    if (!wraps) mem.u8.fill(0, base, base + size);
    const dv = this.runtime.mem.dv;
    dv.setUint32(at, (size | BPF_RINGBUF_BUSY_BIT) >>> 0, true);
    dv.setUint32(at + 4, 0, true);
    const tag = this.mapRegion({
      name: `map ${this.name} record`,
      base,
      len: size,
      flags: REGION_READ | REGION_WRITE,
    });
    this.#reserved.set(tag, { pos, size, block });
    this.#prod = pos + len;
    return vmAddress(tag, 0);
  }

  /**
   * `bpf_ringbuf_submit` / `bpf_ringbuf_discard`: a record address that is
   * not a live reservation (committed twice, never reserved) is the
   * verifier's "release of unreferenced memory" and throws `VM_HELPER`.
   */
  ringbufCommit(record: VmAddress, discard: boolean, _flags: number): void {
    const tag = tagOf(record);
    const rec = this.#reserved.get(tag);
    if (rec === undefined || offsetOf(record) !== 0) {
      throw new VmError(
        "VM_HELPER",
        `map ${this.name}: ringbuf_${discard ? "discard" : "submit"}: ` +
          `0x${record.toString(16)} is not a reserved record (already submitted or discarded?)`,
      );
    }
    this.#reserved.delete(tag);
    this.unmapRegion(tag);
    const mem = this.runtime.mem;
    const ringSize = this.#mask + 1;
    const at = this.#data + (rec.pos & this.#mask);
    if (rec.block >= 0) {
      const start = (rec.pos & this.#mask) + BPF_RINGBUF_HDR_SZ;
      const first = Math.max(0, Math.min(rec.size, ringSize - start));
      const u8 = mem.u8;
      if (first > 0) u8.copyWithin(this.#data + start, rec.block, rec.block + first);
      u8.copyWithin(this.#data, rec.block + first, rec.block + rec.size);
      this.freeBlock(rec.block);
    }
    mem.dv.setUint32(at, (rec.size | (discard ? BPF_RINGBUF_DISCARD_BIT : 0)) >>> 0, true);
  }

  /** `bpf_ringbuf_output`: 0, -EAGAIN when there is no room, -EINVAL for unknown flags. */
  ringbufOutput(data: Uint8Array, flags: number): number {
    if ((flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP)) !== 0) return NEG_EINVAL;
    const copy = data.slice();
    const rec = this.ringbufReserve(copy.length, 0);
    if (rec === 0) return NEG_EAGAIN;
    this.runtime.mem.write(rec, copy);
    this.ringbufCommit(rec, false, flags);
    return 0;
  }

  /** `bpf_ringbuf_query`: available bytes, ring size, consumer or producer position; else 0. */
  ringbufQuery(flags: number): number {
    switch (flags) {
      case BPF_RB_AVAIL_DATA:
        return this.#prod - this.#cons;
      case BPF_RB_RING_SIZE:
        return this.#mask + 1;
      case BPF_RB_CONS_POS:
        return this.#cons;
      case BPF_RB_PROD_POS:
        return this.#prod;
      default:
        return 0;
    }
  }

  /** Records reserved and not yet committed. */
  get reserved(): number {
    return this.#reserved.size;
  }

  /**
   * Host: the submitted records in order (copies), freeing their space;
   * discarded records are skipped, a still-reserved record stops the walk.
   */
  consume(): Uint8Array[] {
    this.checkOpen("consume");
    const out: Uint8Array[] = [];
    const u8 = this.runtime.mem.u8;
    const dv = this.runtime.mem.dv;
    const ringSize = this.#mask + 1;
    while (this.#cons < this.#prod) {
      const off = this.#cons & this.#mask;
      const hdr = dv.getUint32(this.#data + off, true);
      if ((hdr & BPF_RINGBUF_BUSY_BIT) !== 0) break;
      const size = hdr & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
      if ((hdr & BPF_RINGBUF_DISCARD_BIT) === 0) {
        const rec = new Uint8Array(size);
        const start = off + BPF_RINGBUF_HDR_SZ;
        const first = Math.max(0, Math.min(size, ringSize - start));
        rec.set(u8.subarray(this.#data + start, this.#data + start + first));
        rec.set(u8.subarray(this.#data, this.#data + size - first), first);
        out.push(rec);
      }
      this.#cons += roundUp8(size + BPF_RINGBUF_HDR_SZ);
    }
    return out;
  }

  protected override release(): void {
    this.#reserved.clear();
  }
}
