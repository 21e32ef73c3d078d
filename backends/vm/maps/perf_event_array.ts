/**
 * `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: what `bpf_perf_event_output` sends.
 *
 * The VM has no perf events: every CPU slot behaves as if a reader were
 * attached, and records queue up until the host drains them with
 * {@link VmPerfEventArray.read}. max_entries 0 means the runtime's possible
 * CPUs, as libbpf sets it.
 *
 * @module
 */

import type { VmRuntime } from "../types.ts";
import { MapBase, u32Bytes, type VmMapInit } from "./_base.ts";
import { mapError, NEG_E2BIG } from "./_errno.ts";
import { fdIndex } from "./prog_array.ts";

/** One `bpf_perf_event_output` record. */
export interface PerfRecord {
  /** The CPU slot the record was sent to. */
  cpu: number;
  /** The bytes sent. */
  data: Uint8Array;
}

/** A perf event array. */
export class VmPerfEventArray extends MapBase {
  #records: PerfRecord[] = [];

  constructor(runtime: VmRuntime, init: VmMapInit) {
    super(runtime, init);
  }

  /** `bpf_perf_event_output` to slot `cpu`: 0, or -E2BIG past max_entries. */
  perfOutput(cpu: number, data: Uint8Array): number {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.maxEntries) return NEG_E2BIG;
    this.#records.push({ cpu, data: data.slice() });
    return 0;
  }

  /** Records waiting to be read. */
  get pending(): number {
    return this.#records.length;
  }

  /** Host: every record sent since the last read, oldest first. */
  read(): PerfRecord[] {
    this.checkOpen("read");
    const out = this.#records;
    this.#records = [];
    return out;
  }

  /** Host: EBADF — there are no perf event fds to store in the VM. */
  override update(key: Uint8Array, _value: Uint8Array, _flags?: number): void {
    this.checkHostWrite("update");
    fdIndex(this, key, "update");
    throw mapError(this.name, "update", "EBADF", "the VM has no perf event fds; use read()");
  }

  /** Host: false (no slot holds a perf event fd), E2BIG past the end. */
  override delete(key: Uint8Array): boolean {
    this.checkHostWrite("delete");
    fdIndex(this, key, "delete");
    return false;
  }

  /** Host: every index. */
  override *keys(): IterableIterator<Uint8Array> {
    this.checkHostRead("keys");
    for (let i = 0; i < this.maxEntries; i++) yield u32Bytes(i);
  }

  /** Host: nothing (the kernel's lookup returns ENOTSUPP for every slot). */
  override entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    this.checkHostRead("entries");
    return ([] as [Uint8Array, Uint8Array][]).values();
  }

  protected override release(): void {
    this.#records = [];
  }
}
