/**
 * Packet copies: `bpf_skb_load_bytes`, `bpf_skb_store_bytes`,
 * `bpf_xdp_load_bytes`, `bpf_xdp_store_bytes` and `bpf_xdp_get_buff_len`,
 * on the packet the context points at ({@link VmRuntime.packetOf}).
 *
 * Errors as the kernel returns them: skb copies past the packet are
 * -EFAULT (a failed load zeroes the buffer); xdp copies with an offset or
 * length over 0xffff are -EFAULT and ones past the packet -EINVAL. The
 * skb store flags `BPF_F_RECOMPUTE_CSUM` and `BPF_F_INVALIDATE_HASH` are
 * accepted; the VM keeps no skb checksum or hash for them to update.
 *
 * @module
 */

import type { HelperEnv, VmHelper, VmPacket } from "../types.ts";
import { argFlags, argSize, argU32, EFAULT, EINVAL, helperError } from "./common.ts";

// BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH.
const STORE_FLAGS = 3;
const INT_MAX = 0x7fffffff;
const XDP_MAX = 0xffff;

function packet(env: HelperEnv, helper: string): VmPacket {
  const p = env.runtime.packetOf(env.arg(1));
  if (p === undefined) throw helperError(env, `r1 is not a packet context in bpf_${helper}`);
  return p;
}

// Copy `len` bytes between the packet at `offset` and the buffer in r3.
function copy(env: HelperEnv, p: VmPacket, offset: number, len: number, store: boolean): void {
  const mem = env.mem;
  const buf = mem.range(env.arg(3), len, !store, env.pc);
  const pkt = mem.range(p.data + offset, len, store, env.pc);
  if (store) mem.u8.copyWithin(pkt, buf, buf + len);
  else mem.u8.copyWithin(buf, pkt, pkt + len);
}

/** `long bpf_skb_load_bytes(skb, offset, to, len)`. */
export const skbLoadBytes: VmHelper = {
  name: "skb_load_bytes",
  call(env) {
    const p = packet(env, "skb_load_bytes");
    const offset = argU32(env, 2);
    const len = argSize(env, 4, false);
    const to = env.mem.range(env.arg(3), len, true, env.pc);
    if (offset > INT_MAX || offset + len > p.end - p.data) {
      env.mem.u8.fill(0, to, to + len);
      return EFAULT;
    }
    copy(env, p, offset, len, false);
    return 0;
  },
};

/** `long bpf_skb_store_bytes(skb, offset, from, len, flags)`. */
export const skbStoreBytes: VmHelper = {
  name: "skb_store_bytes",
  call(env) {
    const p = packet(env, "skb_store_bytes");
    const offset = argU32(env, 2);
    const len = argSize(env, 4, false);
    env.mem.range(env.arg(3), len, false, env.pc);
    if (argFlags(env, 5) > STORE_FLAGS) return EINVAL;
    if (offset > INT_MAX || offset + len > p.end - p.data) return EFAULT;
    copy(env, p, offset, len, true);
    return 0;
  },
};

function xdpCopy(env: HelperEnv, helper: string, store: boolean): number {
  const p = packet(env, helper);
  const offset = argU32(env, 2);
  const len = argSize(env, 4, false);
  env.mem.range(env.arg(3), len, !store, env.pc);
  if (offset > XDP_MAX || len > XDP_MAX) return EFAULT;
  if (offset + len > p.end - p.data) return EINVAL;
  copy(env, p, offset, len, store);
  return 0;
}

/** `long bpf_xdp_load_bytes(xdp_md, offset, buf, len)`. */
export const xdpLoadBytes: VmHelper = {
  name: "xdp_load_bytes",
  call: (env) => xdpCopy(env, "xdp_load_bytes", false),
};

/** `long bpf_xdp_store_bytes(xdp_md, offset, buf, len)`. */
export const xdpStoreBytes: VmHelper = {
  name: "xdp_store_bytes",
  call: (env) => xdpCopy(env, "xdp_store_bytes", true),
};

/** `u64 bpf_xdp_get_buff_len(xdp_md)`: the packet's length (no fragments in the VM). */
export const xdpGetBuffLen: VmHelper = {
  name: "xdp_get_buff_len",
  call(env) {
    const p = packet(env, "xdp_get_buff_len");
    return p.end - p.data;
  },
};

/** The packet helpers. */
export const PACKET_HELPERS: readonly VmHelper[] = [
  skbLoadBytes,
  skbStoreBytes,
  xdpLoadBytes,
  xdpStoreBytes,
  xdpGetBuffLen,
];
