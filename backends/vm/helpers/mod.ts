/**
 * The VM's helper functions, by their kernel IDs (`BPF_FUNC_*` from
 * `include/uapi/linux/bpf.h`). {@link defaultHelpers} gives a fresh table
 * a runtime can extend or override (e.g. with {@link csumDiffLegacy} to
 * match a kernel older than 6.13).
 *
 * Results follow Linux 6.18 (printf, csum_diff, strtol, probe reads,
 * bpf_loop, skb/xdp copies were checked against it with
 * BPF_PROG_TEST_RUN). Where the VM cannot or does not copy the kernel:
 * - `%p` and `%pK` print the raw value (as with `no_hash_pointers`), not
 *   the per-boot hash; `%ps`/`%pS`/`%pB` print `0x…` (no kernel symbols);
 * - a trace line is the formatted text verbatim (trace_pipe adds a `\n`);
 * - `bpf_probe_read_kernel*` also read the VM's own regions;
 * - `bpf_spin_lock` of a held lock and `bpf_spin_unlock` of a free one are
 *   `VM_HELPER` errors (one program runs at a time, so they could never
 *   complete);
 * - a failed `bpf_tail_call` leaves -ENOENT / -E2BIG in r0 (the kernel
 *   leaves r0 unspecified);
 * - `bpf_loop` with flags 0 behaves as the verifier's inlined loop;
 * - `bpf_xdp_load_bytes` / `_store_bytes` past the packet return -EINVAL,
 *   as the kernel does (over 0xffff: -EFAULT).
 *
 * @module
 */

import type { VmHelper } from "../types.ts";
import { CSUM_HELPERS } from "./csum.ts";
import { LOCK_HELPERS } from "./lock.ts";
import { LOOP_HELPERS } from "./loop.ts";
import { MAP_HELPERS } from "./maps.ts";
import { PACKET_HELPERS } from "./packet.ts";
import { PERF_HELPERS } from "./perf.ts";
import { PROBE_HELPERS } from "./probe.ts";
import { RANDOM_HELPERS } from "./random.ts";
import { RINGBUF_HELPERS } from "./ringbuf.ts";
import { STRING_HELPERS } from "./string.ts";
import { TAIL_CALL_HELPERS } from "./tail_call.ts";
import { TASK_HELPERS } from "./task.ts";
import { TIME_HELPERS } from "./time.ts";
import { TRACE_HELPERS } from "./trace.ts";

export { csumDiff, csumDiffLegacy, csumDiffLegacyBytes, csumPartial } from "./csum.ts";
export { bprintf, type PrintfMemory, type PrintfResult } from "./printf.ts";
export { probeRead, probeReadString, type ProbeSpace } from "./probe.ts";
export { type ParsedInteger, parseInteger } from "./string.ts";
export { BPF_MAX_LOOPS } from "./loop.ts";

/** `BPF_FUNC_*` IDs of the helpers the VM implements, by name (without `bpf_`). */
export const HELPER_IDS = {
  map_lookup_elem: 1,
  map_update_elem: 2,
  map_delete_elem: 3,
  probe_read: 4,
  ktime_get_ns: 5,
  trace_printk: 6,
  get_prandom_u32: 7,
  get_smp_processor_id: 8,
  skb_store_bytes: 9,
  tail_call: 12,
  get_current_pid_tgid: 14,
  get_current_uid_gid: 15,
  get_current_comm: 16,
  perf_event_output: 25,
  skb_load_bytes: 26,
  csum_diff: 28,
  get_numa_node_id: 42,
  probe_read_str: 45,
  map_push_elem: 87,
  map_pop_elem: 88,
  map_peek_elem: 89,
  spin_lock: 93,
  spin_unlock: 94,
  strtol: 105,
  strtoul: 106,
  probe_read_user: 112,
  probe_read_kernel: 113,
  probe_read_user_str: 114,
  probe_read_kernel_str: 115,
  jiffies64: 118,
  ktime_get_boot_ns: 125,
  ringbuf_output: 130,
  ringbuf_reserve: 131,
  ringbuf_submit: 132,
  ringbuf_discard: 133,
  ringbuf_query: 134,
  copy_from_user: 148,
  ktime_get_coarse_ns: 160,
  for_each_map_elem: 164,
  snprintf: 165,
  trace_vprintk: 177,
  loop: 181,
  strncmp: 182,
  xdp_get_buff_len: 188,
  xdp_load_bytes: 189,
  xdp_store_bytes: 190,
} as const;

/** A helper name the VM implements. */
export type HelperName = keyof typeof HELPER_IDS;

const ALL: readonly VmHelper[] = [
  ...MAP_HELPERS,
  ...PROBE_HELPERS,
  ...TIME_HELPERS,
  ...RANDOM_HELPERS,
  ...TASK_HELPERS,
  ...TRACE_HELPERS,
  ...RINGBUF_HELPERS,
  ...PERF_HELPERS,
  ...LOOP_HELPERS,
  ...LOCK_HELPERS,
  ...PACKET_HELPERS,
  ...CSUM_HELPERS,
  ...TAIL_CALL_HELPERS,
  ...STRING_HELPERS,
];

/** A fresh table of every helper the VM implements, by `BPF_FUNC_*` ID. */
export function defaultHelpers(): Map<number, VmHelper> {
  const table = new Map<number, VmHelper>();
  for (const helper of ALL) table.set(HELPER_IDS[helper.name as HelperName], helper);
  return table;
}
