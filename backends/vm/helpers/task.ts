/**
 * What a program sees of "the current task" and CPU:
 * `bpf_get_current_pid_tgid`, `_uid_gid`, `_comm`,
 * `bpf_get_smp_processor_id` and `bpf_get_numa_node_id`, from the
 * runtime's options.
 *
 * @module
 */

import type { VmHelper } from "../types.ts";
import { argSize } from "./common.ts";

const U64 = 0xffffffffffffffffn;
// TASK_COMM_LEN: task->comm holds at most 15 bytes and a NUL.
const TASK_COMM_LEN = 16;
const encoder = new TextEncoder();

/** `u64 bpf_get_current_pid_tgid(void)`: `tgid << 32 | pid`. */
export const getCurrentPidTgid: VmHelper = {
  name: "get_current_pid_tgid",
  call: (env) => (env.runtime.options.pidTgid ?? 0n) & U64,
};

/** `u64 bpf_get_current_uid_gid(void)`: `gid << 32 | uid`. */
export const getCurrentUidGid: VmHelper = {
  name: "get_current_uid_gid",
  call: (env) => (env.runtime.options.uidGid ?? 0n) & U64,
};

/**
 * `long bpf_get_current_comm(buf, size)`: the comm cut to 15 bytes, then
 * copied as `strscpy_pad` does (at most `size - 1` bytes, NUL-padded to
 * `size`); returns 0.
 */
export const getCurrentComm: VmHelper = {
  name: "get_current_comm",
  call(env) {
    const size = argSize(env, 2, false);
    const at = env.mem.range(env.arg(1), size, true, env.pc);
    const comm = encoder.encode(env.runtime.options.comm ?? "tsbpf")
      .subarray(0, TASK_COMM_LEN - 1);
    const n = Math.min(comm.length, size - 1);
    const u8 = env.mem.u8;
    u8.set(comm.subarray(0, n), at);
    u8.fill(0, at + n, at + size);
    return 0;
  },
};

/** `u32 bpf_get_smp_processor_id(void)`. */
export const getSmpProcessorId: VmHelper = {
  name: "get_smp_processor_id",
  call: (env) => env.runtime.options.cpu ?? 0,
};

/** `long bpf_get_numa_node_id(void)`: one NUMA node, 0. */
export const getNumaNodeId: VmHelper = { name: "get_numa_node_id", call: () => 0 };

/** The task and CPU helpers. */
export const TASK_HELPERS: readonly VmHelper[] = [
  getCurrentPidTgid,
  getCurrentUidGid,
  getCurrentComm,
  getSmpProcessorId,
  getNumaNodeId,
];
