/**
 * Runtimes the VM map tests run against: H1's `createRuntime` and a minimal
 * fake (a VmMemory plus map and program registries), so map behaviour does
 * not depend on the rest of the runtime.
 *
 * @module
 */

import { tagOf, VmMemory } from "../backends/vm/memory.ts";
import { createRuntime } from "../backends/vm/runtime.ts";
import type { VmMap, VmProgramHandle, VmRuntime, VmRuntimeOptions } from "../backends/vm/types.ts";
import { VmError } from "../backends/vm/errors.ts";

/** A runtime factory by name. */
export type RuntimeFactory = (options?: VmRuntimeOptions) => VmRuntime;

/** The bare minimum a map needs of a runtime. */
export function fakeRuntime(options: VmRuntimeOptions = {}): VmRuntime {
  const mem = new VmMemory();
  const maps = new Map<number, VmMap>();
  const byFd = new Map<number, VmMap>();
  const programs = new Map<number, VmProgramHandle>();
  let nextFd = 3;
  return {
    mem,
    options: { possibleCpus: 1, cpu: 0, ...options },
    helpers: new Map(),
    trace: [],
    frameTags: [],
    depth: 0,
    mapAt: (address) => maps.get(tagOf(address)),
    mapByFd: (fd) => byFd.get(fd),
    programByFd: (fd) => programs.get(fd),
    random: () => 4,
    allocFd: () => nextFd++,
    addMap(map) {
      maps.set(tagOf(map.address), map);
      byFd.set(map.fd, map);
    },
    removeMap(map) {
      maps.delete(tagOf(map.address));
      byFd.delete(map.fd);
    },
    addProgram: (p) => void programs.set(p.fd, p),
    removeProgram: (p) => void programs.delete(p.fd),
    packetOf: () => undefined,
  };
}

/** Both runtimes, by name. */
export const RUNTIMES: readonly [string, RuntimeFactory][] = [
  ["runtime", (options) => createRuntime(options)],
  ["fake", fakeRuntime],
];

/** The errno name of the VmError `fn` throws (fails when it does not throw one). */
export function errnoOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof VmError) return err.errnoName ?? err.code;
    throw err;
  }
  return "no error";
}
