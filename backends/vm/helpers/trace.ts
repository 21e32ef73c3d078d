/**
 * Formatted output: `bpf_trace_printk`, `bpf_trace_vprintk` (lines go to
 * {@link VmRuntime.trace}) and `bpf_snprintf` (into program memory), all
 * through the shared {@link bprintf}.
 *
 * A trace line is what the kernel hands to its `bpf_trace_printk` trace
 * event: the output cut to 1023 bytes and at its first NUL (a `%c` of 0
 * ends it), decoded as UTF-8, kept verbatim. The kernel's trace_pipe adds
 * its own `\n` after each event, so a format ending in `\n` shows an empty
 * line there; here the line simply ends in `\n`.
 *
 * @module
 */

import type { HelperEnv, VmHelper } from "../types.ts";
import { argBytes, argSize, constString, EINVAL } from "./common.ts";
import {
  bprintf,
  MAX_BPRINTF_BUF,
  MAX_BPRINTF_VARARGS,
  type PrintfMemory,
  type PrintfResult,
} from "./printf.ts";
import { probeRead, probeReadString } from "./probe.ts";

const decoder = new TextDecoder();

/** Where a helper's printf reads strings and IP addresses: VM memory, then probe memory. */
export function printfMemory(env: HelperEnv): PrintfMemory {
  return {
    string(address, max, space) {
      const kind = space === "u" ? "user" : space === "k" ? "kernel" : "compat";
      const str = probeReadString(env, address, max, kind);
      return typeof str === "number" ? undefined : str;
    },
    bytes(address, len) {
      const bytes = probeRead(env, address, len, "kernel");
      return typeof bytes === "number" ? undefined : bytes;
    },
  };
}

function emit(env: HelperEnv, r: PrintfResult): number {
  const nul = r.text.indexOf(0);
  env.runtime.trace.push(decoder.decode(nul < 0 ? r.text : r.text.subarray(0, nul)));
  return r.length;
}

// A vprintk/snprintf argument array: a multiple of 8 bytes, at most 12 u64s.
function argArray(env: HelperEnv, ptrArg: number, lenArg: number): bigint[] | number {
  const len = argSize(env, lenArg, true);
  const at = env.mem.range(env.arg(ptrArg), len, false, env.pc);
  if (len % 8 !== 0 || len > MAX_BPRINTF_VARARGS * 8) return EINVAL;
  const dv = env.mem.dv;
  const args: bigint[] = [];
  for (let i = 0; i < len; i += 8) args.push(dv.getBigUint64(at + i, true));
  return args;
}

/** `long bpf_trace_printk(fmt, fmt_size, a1, a2, a3)`: bytes formatted, or -EINVAL. */
export const tracePrintk: VmHelper = {
  name: "trace_printk",
  call(env) {
    const fmt = argBytes(env, 1, argSize(env, 2, false), false).slice();
    const args = [env.argU64(3), env.argU64(4), env.argU64(5)];
    const r = bprintf(fmt, args, MAX_BPRINTF_BUF, printfMemory(env));
    return typeof r === "number" ? r : emit(env, r);
  },
};

/** `long bpf_trace_vprintk(fmt, fmt_size, data, data_len)`: up to 12 u64 arguments. */
export const traceVprintk: VmHelper = {
  name: "trace_vprintk",
  call(env) {
    const fmt = argBytes(env, 1, argSize(env, 2, false), false).slice();
    const args = argArray(env, 3, 4);
    if (typeof args === "number") return args;
    const r = bprintf(fmt, args, MAX_BPRINTF_BUF, printfMemory(env));
    return typeof r === "number" ? r : emit(env, r);
  },
};

/**
 * `long bpf_snprintf(str, str_size, fmt, data, data_len)`: writes the
 * NUL-terminated output cut to `str_size`; returns the size the whole
 * output needs, NUL included.
 */
export const snprintf: VmHelper = {
  name: "snprintf",
  call(env) {
    const size = argSize(env, 2, true);
    const at = env.mem.range(env.arg(1), size, true, env.pc);
    const fmt = constString(env, 3);
    const args = argArray(env, 4, 5);
    if (typeof args === "number") return args;
    const r = bprintf(fmt, args, size, printfMemory(env));
    if (typeof r === "number") return r;
    if (size > 0) {
      const u8 = env.mem.u8;
      u8.set(r.text, at);
      u8[at + r.text.length] = 0;
    }
    return r.length + 1;
  },
};

/** The formatted-output helpers. */
export const TRACE_HELPERS: readonly VmHelper[] = [tracePrintk, traceVprintk, snprintf];
