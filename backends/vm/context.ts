/**
 * Program contexts in the VM, laid out as `BPF_PROG_TEST_RUN` builds them:
 * `struct xdp_md` for XDP, `struct __sk_buff` for socket filters, tc and
 * the other skb program types, and raw bytes for everything else.
 *
 * The context is a {@link REGION_SPECIAL} region: the kernel rewrites
 * context accesses at load (a 4-byte load of `__sk_buff.data` becomes a
 * pointer load), and the VM answers them at run time the same way: pointer
 * fields read as packet addresses, writable fields accept stores, the rest
 * is read-only. The packet is a region of its own, `data` to `data_end`.
 *
 * @module
 */

import { ProgramType } from "../../collection/types.ts";
import { VmError } from "./errors.ts";
import {
  REGION_READ,
  REGION_SPECIAL,
  REGION_WRITE,
  type SpecialAccess,
  vmAddress,
  type VmMemory,
} from "./memory.ts";
import type { VmAddress, VmPacket } from "./types.ts";

/** Where packets of a run are registered for the packet helpers. */
export interface PacketRegistry {
  /** The arena. */
  readonly mem: VmMemory;
  /** Record that the context region `ctxTag` points at `packet`. */
  setPacket(ctxTag: number, packet: VmPacket): void;
  /** Forget the packet of context region `ctxTag`. */
  clearPacket(ctxTag: number): void;
}

/** What one run's context needs from the caller. */
export interface ContextInput {
  /** The packet (`data_in`), or for raw contexts nothing. */
  data: Uint8Array;
  /** The context in (`ctx_in`): a `struct xdp_md`, a `struct __sk_buff`, or raw bytes. */
  ctx?: Uint8Array;
}

/** A context made for one run (or one `repeat` series). */
export interface RunContext {
  /** r1. */
  readonly address: VmAddress;
  /** The packet after the run (`data_out`): the whole frame, as the kernel returns it. */
  data(): Uint8Array;
  /** The context after the run (`ctx_out`), when the program type has one to return. */
  ctx(): Uint8Array | undefined;
  /** Free the regions and memory. */
  release(): void;
}

/** Ethernet header length; skb test runs need at least this much packet. */
export const ETH_HLEN = 14;
/** sizeof(struct xdp_md). */
export const XDP_MD_SIZE = 24;
/** sizeof(struct __sk_buff). */
export const SK_BUFF_SIZE = 192;

/** Program types whose context is a `struct __sk_buff`. */
const SKB_TYPES: ReadonlySet<number> = new Set([
  ProgramType.SOCKET_FILTER,
  ProgramType.SCHED_CLS,
  ProgramType.SCHED_ACT,
  ProgramType.CGROUP_SKB,
  ProgramType.LWT_IN,
  ProgramType.LWT_OUT,
  ProgramType.LWT_XMIT,
  ProgramType.LWT_SEG6LOCAL,
]);

/** Types that see the frame from its Ethernet header (bpf_prog_test_run_skb's `is_l2`). */
const L2_TYPES: ReadonlySet<number> = new Set([ProgramType.SCHED_CLS, ProgramType.SCHED_ACT]);

/** Types whose test runs take a context and no packet (as the kernel requires). */
export const CONTEXT_ONLY_TYPES: ReadonlySet<number> = new Set([
  ProgramType.SYSCALL,
  ProgramType.RAW_TRACEPOINT,
  ProgramType.RAW_TRACEPOINT_WRITABLE,
]);

/** Which context a program type runs on. */
export function contextKind(type: number): "xdp" | "skb" | "raw" {
  if (type === ProgramType.XDP) return "xdp";
  if (SKB_TYPES.has(type)) return "skb";
  return "raw";
}

/** Build the context of one run of a program of `type`. */
export function createContext(
  registry: PacketRegistry,
  type: number,
  input: ContextInput,
): RunContext {
  switch (contextKind(type)) {
    case "xdp":
      return xdpContext(registry, input);
    case "skb":
      return skbContext(registry, input, L2_TYPES.has(type));
    default:
      return rawContext(registry.mem, input);
  }
}

/** A region holding a copy of `bytes` (at least one byte so it has an address). */
function copyRegion(mem: VmMemory, name: string, bytes: Uint8Array, flags: number) {
  const size = Math.max(bytes.length, 1);
  const base = mem.alloc(size);
  mem.u8.set(bytes, base);
  const tag = mem.map({ name, base, len: bytes.length, flags });
  return { tag, base, size };
}

function rawContext(mem: VmMemory, input: ContextInput): RunContext {
  const bytes = input.ctx ?? input.data;
  const r = copyRegion(mem, "context", bytes, REGION_READ | REGION_WRITE);
  const len = bytes.length;
  return {
    address: len === 0 ? 0 : vmAddress(r.tag, 0),
    data: () => new Uint8Array(0),
    ctx: () => mem.u8.slice(r.base, r.base + len),
    release: () => {
      mem.unmap(r.tag);
      mem.free(r.base, r.size);
    },
  };
}

/** A context struct kept in the arena, answered field by field. */
interface StructRegion {
  tag: number;
  base: number;
}

function structRegion(mem: VmMemory, name: string, size: number, access: SpecialAccess) {
  const base = mem.alloc(size);
  const tag = mem.map({
    name,
    base,
    len: size,
    flags: REGION_READ | REGION_WRITE | REGION_SPECIAL,
    special: access,
  });
  return { tag, base } satisfies StructRegion;
}

/** Raw bytes of a context field, little-endian as the host stores them. */
function loadField(mem: VmMemory, at: number, size: number): number | bigint {
  const dv = mem.dv;
  switch (size) {
    case 1:
      return dv.getUint8(at);
    case 2:
      return dv.getUint16(at, true);
    case 4:
      return dv.getUint32(at, true);
    default:
      return dv.getBigUint64(at, true);
  }
}

function storeField(mem: VmMemory, at: number, size: number, lo: number, hi: number): void {
  const dv = mem.dv;
  switch (size) {
    case 1:
      dv.setUint8(at, lo & 0xff);
      return;
    case 2:
      dv.setUint16(at, lo & 0xffff, true);
      return;
    case 4:
      dv.setUint32(at, lo >>> 0, true);
      return;
    default:
      dv.setUint32(at, lo >>> 0, true);
      dv.setUint32(at + 4, hi >>> 0, true);
  }
}

// struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex.
const XDP_DATA = 0;
const XDP_DATA_END = 4;
const XDP_DATA_META = 8;
const XDP_INGRESS_IFINDEX = 12;

function xdpContext(registry: PacketRegistry, input: ContextInput): RunContext {
  const mem = registry.mem;
  if (input.data.length < ETH_HLEN) {
    throw new VmError(
      "VM_BAD_RUN",
      `XDP test runs need at least an Ethernet header (${ETH_HLEN} bytes), got ${input.data.length}`,
    );
  }
  if (input.ctx !== undefined && input.ctx.length !== XDP_MD_SIZE) {
    throw new VmError("VM_BAD_RUN", `ctx of ${input.ctx.length} bytes, want struct xdp_md (24)`);
  }
  const packet = copyRegion(mem, "packet", input.data, REGION_READ | REGION_WRITE);
  const data = vmAddress(packet.tag, 0);
  const end = vmAddress(packet.tag, input.data.length);
  const md = structRegion(mem, "xdp_md", XDP_MD_SIZE, {
    load(offset, size) {
      if (size === 4) {
        if (offset === XDP_DATA || offset === XDP_DATA_META) return data;
        if (offset === XDP_DATA_END) return end;
      }
      return loadField(mem, md.base + offset, size);
    },
    // The verifier refuses every store to struct xdp_md.
    store: () => false,
  });
  const init = new Uint8Array(XDP_MD_SIZE);
  if (input.ctx !== undefined) init.set(input.ctx);
  // Without a device in ctx_in the kernel runs the program on the loopback device.
  const dv = new DataView(init.buffer);
  if (dv.getUint32(XDP_INGRESS_IFINDEX, true) === 0) dv.setUint32(XDP_INGRESS_IFINDEX, 1, true);
  mem.u8.set(init, md.base);
  const address = vmAddress(md.tag, 0);
  registry.setPacket(md.tag, { data, end });
  return {
    address,
    data: () => mem.u8.slice(packet.base, packet.base + input.data.length),
    ctx: () => input.ctx === undefined ? undefined : mem.u8.slice(md.base, md.base + XDP_MD_SIZE),
    release: () => {
      registry.clearPacket(md.tag);
      mem.unmap(md.tag);
      mem.free(md.base, XDP_MD_SIZE);
      mem.unmap(packet.tag);
      mem.free(packet.base, packet.size);
    },
  };
}

// struct __sk_buff offsets (include/uapi/linux/bpf.h).
const SKB = {
  len: 0,
  pkt_type: 4,
  mark: 8,
  queue_mapping: 12,
  protocol: 16,
  priority: 32,
  ingress_ifindex: 36,
  ifindex: 40,
  tc_index: 44,
  cb: 48,
  tc_classid: 72,
  data: 76,
  data_end: 80,
  family: 88,
  remote_ip4: 92,
  local_ip4: 96,
  remote_ip6: 100,
  local_ip6: 116,
  data_meta: 140,
  tstamp: 152,
  wire_len: 160,
  gso_segs: 164,
  gso_size: 176,
  hwtstamp: 184,
} as const;

/** Byte ranges of `__sk_buff` a program may store to: mark, queue_mapping, priority, tc_index, cb, tc_classid, tstamp. */
const SKB_WRITABLE: readonly [number, number][] = [
  [SKB.mark, 4],
  [SKB.queue_mapping, 4],
  [SKB.priority, 4],
  [SKB.tc_index, 4],
  [SKB.cb, 20],
  [SKB.tc_classid, 4],
  [SKB.tstamp, 8],
];

/**
 * Fields a test run takes from `ctx_in` (bpf_ctx_finish / convert___skb_to_skb):
 * everything else must be zero in it, as the kernel checks.
 */
const SKB_CTX_IN: readonly [number, number][] = [
  [SKB.mark, 4],
  [SKB.priority, 4],
  [SKB.ingress_ifindex, 4],
  [SKB.ifindex, 4],
  [SKB.cb, 20],
  [SKB.tstamp, 8],
  [SKB.wire_len, 4],
  [SKB.gso_segs, 4],
  [SKB.gso_size, 4],
  [SKB.hwtstamp, 8],
];

const ETH_P_802_3 = 0x0001;
const ETH_P_802_2 = 0x0004;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const AF_INET = 2;
const AF_INET6 = 10;

function inRanges(ranges: readonly [number, number][], offset: number, size: number): boolean {
  return ranges.some(([at, len]) => offset >= at && offset + size <= at + len);
}

function skbContext(registry: PacketRegistry, input: ContextInput, l2: boolean): RunContext {
  const mem = registry.mem;
  const frame = input.data;
  if (frame.length < ETH_HLEN) {
    throw new VmError(
      "VM_BAD_RUN",
      `skb test runs need at least an Ethernet header (${ETH_HLEN} bytes), got ${frame.length}`,
    );
  }
  const init = new Uint8Array(SK_BUFF_SIZE);
  if (input.ctx !== undefined) {
    if (input.ctx.length > SK_BUFF_SIZE) {
      throw new VmError("VM_BAD_RUN", `ctx of ${input.ctx.length} bytes, want at most 192`);
    }
    for (let i = 0; i < input.ctx.length; i++) {
      if (input.ctx[i] !== 0 && !inRanges(SKB_CTX_IN, i, 1)) {
        throw new VmError(
          "VM_BAD_RUN",
          `ctx byte ${i} is set, but struct __sk_buff takes only mark, priority, ` +
            "ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size and hwtstamp",
        );
      }
    }
    init.set(input.ctx);
  }
  // The whole frame lives in the arena; non-L2 programs start at the network header.
  const packet = copyRegion(mem, "packet", frame, REGION_READ | REGION_WRITE);
  const start = l2 ? 0 : ETH_HLEN;
  mem.remap(packet.tag, packet.base + start, frame.length - start);
  const data = vmAddress(packet.tag, 0);
  const end = vmAddress(packet.tag, frame.length - start);

  const dv = new DataView(init.buffer);
  const proto = (frame[12] << 8) | frame[13];
  dv.setUint32(SKB.len, frame.length - start, true);
  dv.setUint32(SKB.pkt_type, packetType(frame), true);
  // skb->protocol is __be16 (its bytes as on the wire), from eth_type_trans:
  // below 0x600 the field is a length, and the protocol 802.3 or 802.2.
  const wire = proto >= 0x600
    ? proto
    : frame.length >= ETH_HLEN + 2 && frame[14] === 0xff && frame[15] === 0xff
    ? ETH_P_802_3
    : ETH_P_802_2;
  dv.setUint16(SKB.protocol, (wire >> 8) | ((wire & 0xff) << 8), true);
  if (dv.getUint32(SKB.ifindex, true) === 0) dv.setUint32(SKB.ifindex, 1, true);
  // The test run's socket takes its addresses from the packet's IP header.
  if (proto === ETH_P_IP && frame.length >= ETH_HLEN + 20) {
    dv.setUint32(SKB.family, AF_INET, true);
    init.set(frame.subarray(ETH_HLEN + 12, ETH_HLEN + 16), SKB.local_ip4);
    init.set(frame.subarray(ETH_HLEN + 16, ETH_HLEN + 20), SKB.remote_ip4);
  } else if (proto === ETH_P_IPV6 && frame.length >= ETH_HLEN + 40) {
    dv.setUint32(SKB.family, AF_INET6, true);
    init.set(frame.subarray(ETH_HLEN + 8, ETH_HLEN + 24), SKB.local_ip6);
    init.set(frame.subarray(ETH_HLEN + 24, ETH_HLEN + 40), SKB.remote_ip6);
  }

  const skb = structRegion(mem, "__sk_buff", SK_BUFF_SIZE, {
    load(offset, size) {
      if (size === 4) {
        if (offset === SKB.data || offset === SKB.data_meta) return data;
        if (offset === SKB.data_end) return end;
      }
      return loadField(mem, skb.base + offset, size);
    },
    store(offset, size, lo, hi) {
      if (!inRanges(SKB_WRITABLE, offset, size)) return false;
      storeField(mem, skb.base + offset, size, lo, hi);
      return true;
    },
  });
  mem.u8.set(init, skb.base);
  const address = vmAddress(skb.tag, 0);
  registry.setPacket(skb.tag, { data, end });
  return {
    address,
    data: () => {
      const out = mem.u8.slice(packet.base, packet.base + frame.length);
      // Non-L2 runs give the frame back with a zeroed Ethernet header, as
      // bpf_prog_test_run_skb memsets the header it pushes back.
      if (!l2) out.fill(0, 0, ETH_HLEN);
      return out;
    },
    ctx: () => {
      if (input.ctx === undefined) return undefined;
      // Only the fields a test run copies back; the rest reads as zero.
      const out = new Uint8Array(SK_BUFF_SIZE);
      const now = mem.u8.subarray(skb.base, skb.base + SK_BUFF_SIZE);
      for (const [at, len] of SKB_CTX_IN) out.set(now.subarray(at, at + len), at);
      return out.subarray(0, input.ctx.length).slice();
    },
    release: () => {
      registry.clearPacket(skb.tag);
      mem.unmap(skb.tag);
      mem.free(skb.base, SK_BUFF_SIZE);
      mem.unmap(packet.tag);
      mem.free(packet.base, packet.size);
    },
  };
}

// eth_type_trans on the loopback device (address 00:00:00:00:00:00).
const PACKET_HOST = 0;
const PACKET_BROADCAST = 1;
const PACKET_MULTICAST = 2;
const PACKET_OTHERHOST = 3;

function packetType(frame: Uint8Array): number {
  if ((frame[0] & 1) !== 0) {
    return frame.subarray(0, 6).every((b) => b === 0xff) ? PACKET_BROADCAST : PACKET_MULTICAST;
  }
  return frame.subarray(0, 6).every((b) => b === 0) ? PACKET_HOST : PACKET_OTHERHOST;
}
