/**
 * `BPF_MAP_TYPE_PROG_ARRAY`: programs by index for `bpf_tail_call`.
 *
 * The host stores a program by fd (EBADF when the runtime has no such
 * program, EINVAL when its type differs from the programs already stored,
 * as the kernel's owner-type check does) and looks up an index to get the
 * program's id back — the VM uses the fd as the id. Programs cannot look
 * up, update or delete elements (the verifier only allows tail calls).
 *
 * @module
 */

import { MapFlags } from "../../../collection/types.ts";
import type { VmProgramHandle, VmRuntime } from "../types.ts";
import { BPF_ANY, MapBase, u32Bytes, u32Of, type VmMapInit } from "./_base.ts";
import { mapError } from "./_errno.ts";
import { refuse } from "./_check.ts";
import { checkArray } from "./array.ts";

/** `fd_array_map_alloc_check`: u32 values, no program access flags, then the array checks. */
export function checkFdArray(init: VmMapInit): void {
  if (init.valueSize !== 4) refuse(init, "EINVAL", "value_size must be 4 (an fd)");
  const flags = init.flags ?? 0;
  if ((flags & (MapFlags.BPF_F_RDONLY_PROG | MapFlags.BPF_F_WRONLY_PROG)) !== 0) {
    refuse(init, "EINVAL", "BPF_F_RDONLY_PROG / BPF_F_WRONLY_PROG not allowed on fd arrays");
  }
  checkArray(init, 1);
}

/** The u32 index of an fd-array key, or throw E2BIG past the end. */
export function fdIndex(map: MapBase, key: Uint8Array, op: string): number {
  const index = u32Of(map.hostKey(key, op));
  if (index >= map.maxEntries) {
    throw mapError(
      map.name,
      op,
      "E2BIG",
      `index ${index} out of range (max_entries ${map.maxEntries})`,
    );
  }
  return index;
}

/** A prog array. */
export class VmProgArray extends MapBase {
  readonly #slots: (VmProgramHandle | undefined)[] = [];
  #ownerType: number | undefined;

  constructor(runtime: VmRuntime, init: VmMapInit) {
    super(runtime, init);
  }

  /** The program at `index` for `bpf_tail_call`, or undefined. */
  programAt(index: number): VmProgramHandle | undefined {
    return index >= 0 && index < this.maxEntries ? this.#slots[index] : undefined;
  }

  /** Host: the program id (the VM's fd) at `key`, or undefined. */
  override lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkHostRead("lookup");
    const index = u32Of(this.hostKey(key, "lookup"));
    const prog = index < this.maxEntries ? this.#slots[index] : undefined;
    return prog === undefined ? undefined : u32Bytes(prog.fd);
  }

  /** Host: store the program whose fd is `value` (a u32) at `key`; flags must be BPF_ANY. */
  override update(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
    this.checkHostWrite("update");
    if (flags !== BPF_ANY) throw mapError(this.name, "update", "EINVAL", "flags must be BPF_ANY");
    const index = fdIndex(this, key, "update");
    const fd = u32Of(this.hostValue(value, "update"));
    const prog = this.runtime.programByFd(fd);
    if (prog === undefined) throw mapError(this.name, "update", "EBADF", `no program has fd ${fd}`);
    if (this.#ownerType !== undefined && prog.type !== this.#ownerType) {
      throw mapError(
        this.name,
        "update",
        "EINVAL",
        `program type ${prog.type} differs from the array's (${this.#ownerType})`,
      );
    }
    this.#ownerType = prog.type;
    this.#slots[index] = prog;
  }

  /** Host: empty slot `key`; false when it was empty. */
  override delete(key: Uint8Array): boolean {
    this.checkHostWrite("delete");
    const index = fdIndex(this, key, "delete");
    const had = this.#slots[index] !== undefined;
    this.#slots[index] = undefined;
    return had;
  }

  /** Host: every index (as the kernel's get_next_key walks them, empty or not). */
  override *keys(): IterableIterator<Uint8Array> {
    this.checkHostRead("keys");
    for (let i = 0; i < this.maxEntries; i++) yield u32Bytes(i);
  }

  protected override release(): void {
    this.#slots.length = 0;
  }
}
