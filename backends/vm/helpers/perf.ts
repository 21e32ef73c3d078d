/**
 * `bpf_perf_event_output`: a sample to a perf event array, on the CPU the
 * flags' index names (`BPF_F_CURRENT_CPU`: the runtime's CPU). In programs
 * whose context is a packet (skb, xdp), `BPF_F_CTXLEN_MASK` appends that
 * many packet bytes after the data, as `bpf_skb_event_output` does.
 *
 * @module
 */

import type { VmHelper } from "../types.ts";
import {
  argBytes,
  argFlags,
  argMap,
  argSize,
  E2BIG,
  EFAULT,
  EINVAL,
  wrongMapType,
} from "./common.ts";

const CURRENT_CPU = 0xffffffff;
// BPF_F_CTXLEN_MASK is bits 32–51.
const MAX_CTXLEN = 0xfffff;
const TWO_32 = 2 ** 32;

/** `long bpf_perf_event_output(ctx, map, flags, data, size)`. */
export const perfEventOutput: VmHelper = {
  name: "perf_event_output",
  call(env) {
    const map = argMap(env, 2);
    if (map.perfOutput === undefined) throw wrongMapType(env, map, "perf_event_output");
    const data = argBytes(env, 4, argSize(env, 5, true), false);
    const flags = argFlags(env, 3);
    const packet = env.runtime.packetOf(env.arg(1));
    const ctxLen = Math.floor(flags / TWO_32);
    if (ctxLen !== 0 && (packet === undefined || ctxLen > MAX_CTXLEN)) return EINVAL;
    let payload = data;
    if (ctxLen !== 0) {
      if (ctxLen > packet!.end - packet!.data) return EFAULT;
      const from = env.mem.range(packet!.data, ctxLen, false, env.pc);
      payload = new Uint8Array(data.length + ctxLen);
      payload.set(env.mem.u8.subarray(from, from + ctxLen), data.length);
      payload.set(data);
    }
    const index = flags % TWO_32 === CURRENT_CPU ? env.runtime.options.cpu ?? 0 : flags % TWO_32;
    if (index >= map.maxEntries) return E2BIG;
    return map.perfOutput(index, payload);
  },
};

/** The perf event helpers. */
export const PERF_HELPERS: readonly VmHelper[] = [perfEventOutput];
