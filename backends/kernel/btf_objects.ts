/**
 * Kernel module BTF objects by name, for the instructions the extern
 * plugins resolved against a module's BTF: a typed ksym's `ld_imm64` needs
 * the module's BTF object fd in `immHi`, a module kfunc call needs it in the
 * program's `fd_array` at the call's `offset` (libbpf's `load_module_btfs`,
 * `fd_array`).
 *
 * A module's BTF object is found by walking `BPF_BTF_GET_NEXT_ID`, opening
 * each with `BPF_BTF_GET_FD_BY_ID` and reading its name with
 * `BPF_OBJ_GET_INFO_BY_FD`. The name → object ID map is cached per process
 * (checked again on reuse, since a module can be reloaded); the fds are
 * owned by the {@link ModuleBtfObjects} that opened them, which the kernel
 * loader closes once its programs are loaded (the kernel keeps its own
 * references to the BTF a program uses).
 *
 * @module
 */

import { BPF_BTF_INFO, BTF_GET_NEXT_ID, encodeAttr, fieldOffset, getU32 } from "./attr.ts";
import { ERRNO, KernelError, SyscallError } from "./errors.ts";
import { btfGetFdById, closeFd, objGetInfoByFd } from "./sys.ts";
import type { Syscalls } from "./syscalls.ts";
import type { Instruction } from "../../isa/instruction.ts";
import { isKfuncCall } from "../../isa/opcodes.ts";

/** `MODULE_NAME_LEN` is 64 - sizeof(unsigned long). */
const NAME_BUF = 64;

/** What `BPF_OBJ_GET_INFO_BY_FD` says about a BTF object. */
export interface BtfObjectInfo {
  /** The object's ID. */
  id: number;
  /** `vmlinux`, a module name, or "" for BTF a program loaded. */
  name: string;
  /** Whether the kernel made it (vmlinux or a module). */
  kernelBtf: boolean;
}

/** `BPF_BTF_GET_NEXT_ID`: the next BTF object ID after `start`, `undefined` past the last. */
export function btfGetNextId(sys: Syscalls, start: number): number | undefined {
  const attr = encodeAttr(BTF_GET_NEXT_ID, { id: start >>> 0 });
  const r = sys.bpf(BTF_GET_NEXT_ID.cmd, attr);
  if (r === -ERRNO.ENOENT) return undefined;
  if (r < 0) throw new SyscallError(BTF_GET_NEXT_ID.name, -r);
  return getU32(BTF_GET_NEXT_ID, attr, "next_id");
}

/** `BPF_OBJ_GET_INFO_BY_FD` of a BTF object fd: its ID, name and whether it is the kernel's. */
export function btfObjectInfo(sys: Syscalls, fd: number): BtfObjectInfo {
  const name = new Uint8Array(NAME_BUF);
  const info = encodeAttr(BPF_BTF_INFO, { name: sys.address(name), name_len: name.length });
  const got = objGetInfoByFd(sys, fd, info);
  // An older kernel may fill fewer bytes: a field past its answer reads as 0.
  const field = (f: string) =>
    got.byteLength >= fieldOffset(BPF_BTF_INFO, f) + 4 ? getU32(BPF_BTF_INFO, got, f) : 0;
  const end = name.indexOf(0);
  return {
    id: field("id"),
    name: new TextDecoder().decode(name.subarray(0, end < 0 ? name.length : end)),
    kernelBtf: field("kernel_btf") !== 0,
  };
}

/** Process-wide: module name → BTF object ID, per syscall implementation. */
const idCache = new WeakMap<Syscalls, Map<string, number>>();

/** The fds of module BTF objects one load needs; see the module docs. */
export class ModuleBtfObjects {
  readonly #sys: Syscalls;
  readonly #fds = new Map<string, number>();

  /** Objects found and opened through `sys`. */
  constructor(sys: Syscalls) {
    this.#sys = sys;
  }

  /**
   * An fd for module `name`'s BTF object, opened on first use.
   *
   * @throws {KernelError} `KERNEL_NO_MODULE_BTF` when no loaded module has that name.
   */
  fd(name: string): number {
    const open = this.#fds.get(name);
    if (open !== undefined) return open;
    let ids = idCache.get(this.#sys);
    if (ids === undefined) idCache.set(this.#sys, ids = new Map());
    const cached = ids.get(name);
    if (cached !== undefined) {
      const fd = this.#openIfNamed(cached, name);
      if (fd !== undefined) return this.#keep(name, fd);
      ids.delete(name);
    }
    for (let id = btfGetNextId(this.#sys, 0); id !== undefined; id = btfGetNextId(this.#sys, id)) {
      let fd: number;
      try {
        fd = btfGetFdById(this.#sys, id);
      } catch (err) {
        // Freed between the two calls.
        if (err instanceof SyscallError && err.errno === ERRNO.ENOENT) continue;
        throw err;
      }
      let info: BtfObjectInfo;
      try {
        info = btfObjectInfo(this.#sys, fd);
      } catch (err) {
        closeFd(this.#sys, fd);
        throw err;
      }
      if (info.kernelBtf && info.name !== "" && info.name !== "vmlinux") ids.set(info.name, id);
      if (info.kernelBtf && info.name === name) return this.#keep(name, fd);
      closeFd(this.#sys, fd);
    }
    throw new KernelError(
      "KERNEL_NO_MODULE_BTF",
      `no BTF object of kernel module ${JSON.stringify(name)} is loaded (was the module unloaded?)`,
    );
  }

  /** Close every fd this opened; never throws. */
  close(): void {
    for (const fd of this.#fds.values()) {
      try {
        closeFd(this.#sys, fd);
      } catch {
        // Nothing to do about a failing close.
      }
    }
    this.#fds.clear();
  }

  #keep(name: string, fd: number): number {
    this.#fds.set(name, fd);
    return fd;
  }

  #openIfNamed(id: number, name: string): number | undefined {
    let fd: number;
    try {
      fd = btfGetFdById(this.#sys, id);
    } catch (err) {
      if (err instanceof SyscallError && err.errno === ERRNO.ENOENT) return undefined;
      throw err;
    }
    try {
      const info = btfObjectInfo(this.#sys, fd);
      if (info.kernelBtf && info.name === name) return fd;
    } catch (err) {
      closeFd(this.#sys, fd);
      throw err;
    }
    closeFd(this.#sys, fd);
    return undefined;
  }
}

/**
 * The fd_array a program's module kfunc calls index (libbpf's
 * `obj->fd_array`): slot `offset` of each call naming a module holds that
 * module's BTF fd; slot 0 and unused slots hold 0. `undefined` when no call
 * names a module.
 *
 * @throws {KernelError} `KERNEL_BAD_KFUNC` for a module kfunc call without an index.
 */
export function kfuncFdArray(
  insns: readonly Instruction[],
  moduleFd: (module: string) => number,
): Int32Array | undefined {
  let slots: number[] | undefined;
  insns.forEach((ins, i) => {
    if (!isKfuncCall(ins) || ins.btfModule === undefined || ins.btfModule === "vmlinux") return;
    if (ins.offset <= 0) {
      throw new KernelError(
        "KERNEL_BAD_KFUNC",
        `instruction ${i}: kfunc ${
          ins.reference ?? ins.imm
        } of module ${ins.btfModule} has fd_array index ${ins.offset}`,
      );
    }
    slots ??= [0];
    while (slots.length <= ins.offset) slots.push(0);
    slots[ins.offset] = moduleFd(ins.btfModule);
  });
  return slots === undefined ? undefined : Int32Array.from(slots);
}
