/**
 * `bpf_spin_lock` / `bpf_spin_unlock` on the 4-byte lock word of a map
 * value. The VM runs one program at a time, so a lock that is already held
 * can never be released: locking it is the deadlock the verifier rules out
 * (it forbids nested locks), and unlocking a free lock is the unbalanced
 * call it rejects. Both are `VM_HELPER` errors. The word holds 1 while
 * locked.
 *
 * @module
 */

import type { HelperEnv, VmHelper } from "../types.ts";
import { helperError } from "./common.ts";

function lockWord(env: HelperEnv, helper: string): number {
  const address = env.arg(1);
  const at = env.mem.range(address, 4, true, env.pc);
  if (at % 4 !== 0) throw helperError(env, `r1 is not a 4-byte aligned bpf_spin_lock in ${helper}`);
  return at;
}

/** `long bpf_spin_lock(lock)`. */
export const spinLock: VmHelper = {
  name: "spin_lock",
  call(env) {
    const at = lockWord(env, "bpf_spin_lock");
    if (env.mem.dv.getUint32(at, true) !== 0) {
      throw helperError(env, "bpf_spin_lock of a lock already held (a deadlock)");
    }
    env.mem.dv.setUint32(at, 1, true);
    return 0;
  },
};

/** `long bpf_spin_unlock(lock)`. */
export const spinUnlock: VmHelper = {
  name: "spin_unlock",
  call(env) {
    const at = lockWord(env, "bpf_spin_unlock");
    if (env.mem.dv.getUint32(at, true) === 0) {
      throw helperError(env, "bpf_spin_unlock of a lock that is not held");
    }
    env.mem.dv.setUint32(at, 0, true);
    return 0;
  },
};

/** The lock helpers. */
export const LOCK_HELPERS: readonly VmHelper[] = [spinLock, spinUnlock];
