/**
 * Shared by the extern plugin tests: a fake kernel BTF directory (vmlinux
 * plus module split BTF) for `KernelBtfCache({ dir })`, and fake readers.
 *
 * @module
 */

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Btf } from "../btf/btf.ts";
import { BtfBuilder } from "../btf/builder.ts";
import { marshalBtf } from "../btf/marshal.ts";
import { BtfFuncLinkage } from "../btf/types.ts";

/** What goes where in {@link fakeKernelBtfDir}. */
export interface FakeKernelLayout {
  /** Kfuncs `bpf_task_from_pid` / `bpf_task_release` in vmlinux, else in this module. */
  fromPid?: string;
  /** Where `bpf_task_release` lives. */
  release?: string;
  /** `bpf_prog_active` as a struct, not an int (for incompatibility). */
  progActiveIsStruct?: boolean;
}

/**
 * A temporary `/sys/kernel/btf`-like directory: vmlinux with `int`,
 * `struct task_struct`, `bpf_prog_active` and (unless placed in a module)
 * the two task kfuncs; modules holding the kfuncs placed there.
 */
export function fakeKernelBtfDir(layout: FakeKernelLayout = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-kbtf-"));
  const b = new BtfBuilder();
  const int = b.int("int", 4, { signed: true });
  const task = b.struct("task_struct", [{ name: "pid", type: int, bitOffset: 0 }], { size: 4 });
  const taskPtr = b.pointer(task);
  const fromPidProto = b.funcProto(taskPtr, [{ name: "pid", type: int }]);
  const releaseProto = b.funcProto(0, [{ name: "p", type: taskPtr }]);
  const activeType = layout.progActiveIsStruct
    ? b.struct("bpf_prog_active_t", [], { size: 4 })
    : int;
  b.variable("bpf_prog_active", activeType);
  if (layout.fromPid === undefined) {
    b.func("bpf_task_from_pid", fromPidProto, BtfFuncLinkage.GLOBAL);
  }
  if (layout.release === undefined) b.func("bpf_task_release", releaseProto, BtfFuncLinkage.GLOBAL);
  const vmlinuxBytes = marshalBtf(b);
  writeFileSync(join(dir, "vmlinux"), vmlinuxBytes);
  const base = Btf.parse(vmlinuxBytes);
  const modules = new Map<string, BtfBuilder>();
  const mod = (name: string) => {
    let m = modules.get(name);
    if (m === undefined) modules.set(name, m = new BtfBuilder({ base }));
    return m;
  };
  if (layout.fromPid !== undefined) {
    mod(layout.fromPid).func("bpf_task_from_pid", fromPidProto, BtfFuncLinkage.GLOBAL);
  }
  if (layout.release !== undefined) {
    mod(layout.release).func("bpf_task_release", releaseProto, BtfFuncLinkage.GLOBAL);
  }
  for (const [name, m] of modules) writeFileSync(join(dir, name), marshalBtf(m));
  return dir;
}

/** A reader serving `files` by path, ENOENT for anything else. */
export function fakeReader(files: Record<string, Uint8Array>): (path: string) => Uint8Array {
  return (path) => {
    const f = files[path];
    if (f === undefined) {
      throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
    }
    return f;
  };
}
