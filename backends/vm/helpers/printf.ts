/**
 * The kernel's BPF printf, shared by `bpf_trace_printk`,
 * `bpf_trace_vprintk` and `bpf_snprintf`: `bpf_bprintf_prepare`'s
 * validation (which formats are allowed, the 512-byte argument buffer and
 * its -ENOSPC) followed by `bstr_printf`'s rendering into a bounded
 * buffer.
 *
 * Allowed: `%%`, flags `0 + - space`, a width, then `d i u x X` with an
 * optional `l` or `ll`, `c`, `s`, and `p` with `K x s S B ks us I4 i4 I6
 * i6` (or nothing, before a space, punctuation or the end). Everything else
 * (precision, `#`, `h`, `*`, `%lc` …) is -EINVAL, as is an ASCII control
 * byte in the text or a spec without an argument left. Bytes ≥ 0x80 may
 * appear in plain text (UTF-8 literals, as in kernels since 2026) but not
 * inside a spec.
 *
 * Pointers print as the kernel does with `no_hash_pointers`: `%p`, `%pK`
 * and `%px` give 16 hex digits of the raw value; `%ps`, `%pS` and `%pB`
 * give `0x…` (there are no kernel symbols to resolve).
 *
 * @module
 */

import { EINVAL, ENOSPC } from "./common.ts";

/** Size of the kernel's output buffer for trace_printk (MAX_BPRINTF_BUF). */
export const MAX_BPRINTF_BUF = 1024;
/** Most u64 arguments `bpf_trace_vprintk` and `bpf_snprintf` take (MAX_BPRINTF_VARARGS). */
export const MAX_BPRINTF_VARARGS = 12;
/** Bytes of the argument buffer strings and values are staged in (MAX_BPRINTF_BIN_ARGS). */
export const MAX_BPRINTF_BIN_ARGS = 512;

/** Where `%s`, `%pks`, `%pus` and `%pI4`-style arguments are read from. */
export interface PrintfMemory {
  /**
   * The NUL-terminated string at `address` without its NUL, cut to
   * `max - 1` bytes; `undefined` on a fault. `space` is `s` (plain `%s`),
   * `k` (`%pks`) or `u` (`%pus`).
   */
  string(address: bigint, max: number, space: "s" | "k" | "u"): Uint8Array | undefined;
  /** `len` bytes at the kernel address `address`, or `undefined` on a fault. */
  bytes(address: bigint, len: number): Uint8Array | undefined;
}

/** What {@link bprintf} produced. */
export interface PrintfResult {
  /** The output, cut to `size - 1` bytes (no NUL). */
  text: Uint8Array;
  /** Bytes the whole output takes, without the NUL (bstr_printf's return). */
  length: number;
}

// vsprintf's flags.
const LEFT = 1;
const PLUS = 2;
const SPACE = 4;
const ZEROPAD = 8;
// printf_spec.field_width is a 24-bit signed field.
const FIELD_WIDTH_MAX = (1 << 23) - 1;
const U32 = 0xffffffffn;

const PERCENT = 0x25;

// The kernel's ctype (lib/ctype.c) is Latin-1: 0xa0 is a space, 0xa1–0xbf,
// 0xd7 and 0xf7 are punctuation, the other bytes from 0xc0 are letters.
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0;
}

function isPrint(c: number): boolean {
  return c >= 0x20 && c <= 0x7e;
}

function isPunct(c: number): boolean {
  return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
    (c >= 0x7b && c <= 0x7e) || (c >= 0xa1 && c <= 0xbf) || c === 0xd7 || c === 0xf7;
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
    (c >= 0xc0 && c !== 0xd7 && c !== 0xf7);
}

function ch(s: string): number {
  return s.charCodeAt(0);
}

/** Output bounded to `cap` bytes that still counts every byte it would have written. */
class Output {
  readonly bytes: Uint8Array;
  stored = 0;
  length = 0;

  constructor(cap: number) {
    this.bytes = new Uint8Array(Math.max(cap, 0));
  }

  byte(c: number): void {
    if (this.stored < this.bytes.length) this.bytes[this.stored++] = c;
    this.length++;
  }

  ascii(s: string): void {
    for (let i = 0; i < s.length; i++) this.byte(s.charCodeAt(i));
  }

  raw(b: Uint8Array): void {
    const n = Math.min(b.length, this.bytes.length - this.stored);
    this.bytes.set(b.subarray(0, n), this.stored);
    this.stored += n;
    this.length += b.length;
  }

  pad(c: number, count: number): void {
    if (count <= 0) return;
    const n = Math.min(count, this.bytes.length - this.stored);
    this.bytes.fill(c, this.stored, this.stored + n);
    this.stored += n;
    this.length += count;
  }
}

/** One conversion's flags and width (-1: none). */
interface Spec {
  flags: number;
  width: number;
}

// vsprintf's number(): sign, padding and digits (no precision in BPF formats).
function putNumber(
  out: Output,
  spec: Spec,
  magnitude: bigint,
  negative: boolean,
  signed: boolean,
  radix: 10 | 16,
  upper: boolean,
): void {
  let flags = spec.flags;
  if ((flags & LEFT) !== 0) flags &= ~ZEROPAD;
  let sign = "";
  if (signed) {
    if (negative) sign = "-";
    else if ((flags & PLUS) !== 0) sign = "+";
    else if ((flags & SPACE) !== 0) sign = " ";
  }
  let digits = magnitude.toString(radix);
  if (upper) digits = digits.toUpperCase();
  let fill = spec.width - sign.length - digits.length;
  if ((flags & (ZEROPAD | LEFT)) === 0) {
    out.pad(0x20, fill);
    fill = 0;
  }
  out.ascii(sign);
  if ((flags & LEFT) === 0) {
    out.pad((flags & ZEROPAD) !== 0 ? 0x30 : 0x20, fill);
    fill = 0;
  }
  out.ascii(digits);
  out.pad(0x20, fill);
}

// widen_string(): right-align in spaces unless LEFT.
function putString(out: Output, spec: Spec, s: Uint8Array): void {
  const fill = spec.width - s.length;
  if ((spec.flags & LEFT) === 0) out.pad(0x20, fill);
  out.raw(s);
  if ((spec.flags & LEFT) !== 0) out.pad(0x20, fill);
}

// pointer_string(): 16 zero-padded hex digits unless a width was given.
function putPointer(out: Output, spec: Spec, value: bigint): void {
  const s = spec.width === -1 ? { flags: spec.flags | ZEROPAD, width: 16 } : spec;
  putNumber(out, s, value, false, false, 16, false);
}

function asciiBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

// ip4_string / ip6_string, as `%pI4`, `%pi4`, `%pI6`, `%pi6` print them.
function formatIp(kind: number, version: number, b: Uint8Array): string {
  if (version === 4) {
    const parts = Array.from(b, (x) => kind === ch("i") ? String(x).padStart(3, "0") : String(x));
    return parts.join(".");
  }
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0"));
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(hex[i] + hex[i + 1]);
  return words.join(kind === ch("I") ? ":" : "");
}

/**
 * Format `fmt` (which must hold a NUL; bytes after it are ignored) with
 * u64 `args`. Returns the output cut to `size - 1` bytes and the full
 * length, or a negative errno: -EINVAL for a bad format, -ENOSPC when the
 * arguments overflow the 512-byte staging buffer.
 */
export function bprintf(
  fmt: Uint8Array,
  args: readonly bigint[],
  size: number,
  memory: PrintfMemory,
): PrintfResult | number {
  const end = fmt.indexOf(0);
  if (end < 0) return EINVAL;
  const at = (i: number): number => i < end ? fmt[i] : 0;
  const out = new Output(size - 1);
  // Bytes of the bin_args buffer used: where strings are copied and
  // values staged; overflowing it is -ENOSPC.
  let bin = 0;
  let used = 0;
  // bstr_printf skips every alphanumeric after a `%p` extension; those
  // bytes are still checked as text by the prepare pass.
  let skipTo = -1;

  const stage = (bytes: number): boolean => {
    bin = (bin + 3) & ~3;
    if (MAX_BPRINTF_BIN_ARGS - bin < bytes) return false;
    bin += bytes;
    return true;
  };
  const skipAlnum = (from: number): void => {
    let j = from;
    while (isAlnum(at(j))) j++;
    skipTo = j;
  };

  for (let i = 0; i < end; i++) {
    const c = fmt[i];
    if (c < 0x80 && !isPrint(c) && !isSpace(c)) return EINVAL;
    if (c !== PERCENT) {
      if (i >= skipTo) out.byte(c);
      continue;
    }
    if (at(i + 1) === PERCENT) {
      out.byte(PERCENT);
      i++;
      continue;
    }
    if (used >= args.length) return EINVAL;
    const arg = args[used];
    i++;
    if (at(i) >= 0x80) return EINVAL;
    const spec: Spec = { flags: 0, width: -1 };
    for (;;) {
      const f = at(i);
      if (f === ch("0")) spec.flags |= ZEROPAD;
      else if (f === ch("+")) spec.flags |= PLUS;
      else if (f === ch("-")) spec.flags |= LEFT;
      else if (f === ch(" ")) spec.flags |= SPACE;
      else break;
      i++;
    }
    if (at(i) >= ch("1") && at(i) <= ch("9")) {
      let width = 0;
      while (at(i) >= ch("0") && at(i) <= ch("9")) {
        width = Math.min(width * 10 + at(i) - ch("0"), FIELD_WIDTH_MAX);
        i++;
      }
      spec.width = width;
    }

    const conv = at(i);
    let stringSpace: "s" | "k" | "u" | undefined;
    if (conv === ch("p")) {
      const next = at(i + 1);
      if (next === 0 || isSpace(next) || isPunct(next)) {
        if (!stage(8)) return ENOSPC;
        putPointer(out, spec, arg);
        used++;
        continue;
      }
      if ((next === ch("k") || next === ch("u")) && at(i + 2) === ch("s")) {
        stringSpace = next === ch("k") ? "k" : "u";
        i += 2;
      } else if (next === ch("K") || next === ch("x") || next === ch("s") || next === ch("S")) {
        i++;
        if (!stage(8)) return ENOSPC;
        if (next === ch("K") || next === ch("x")) putPointer(out, spec, arg);
        else putString(out, spec, asciiBytes(`0x${arg.toString(16)}`));
        skipAlnum(i);
        used++;
        continue;
      } else if (next === ch("B")) {
        // Formatted into the buffer with no space check (as the kernel does).
        const text = asciiBytes(`0x${arg.toString(16)}`);
        const room = Math.max(MAX_BPRINTF_BIN_ARGS - bin - 1, 0);
        bin = Math.min(bin + text.length + 1, MAX_BPRINTF_BIN_ARGS);
        i++;
        putString(out, spec, text.subarray(0, room));
        skipAlnum(i);
        used++;
        continue;
      } else {
        const kind = next;
        const version = at(i + 2);
        if (
          (kind !== ch("i") && kind !== ch("I")) || (version !== ch("4") && version !== ch("6"))
        ) {
          return EINVAL;
        }
        i += 2;
        const ipSize = version === ch("4") ? 4 : 16;
        if (MAX_BPRINTF_BIN_ARGS - bin < ipSize) return ENOSPC;
        const ip = memory.bytes(arg, ipSize) ?? new Uint8Array(ipSize);
        const text = asciiBytes(formatIp(kind, version === ch("4") ? 4 : 6, ip));
        const room = MAX_BPRINTF_BIN_ARGS - bin - 1;
        bin = Math.min(bin + text.length + 1, MAX_BPRINTF_BIN_ARGS);
        putString(out, spec, text.subarray(0, room));
        skipAlnum(i + 1);
        used++;
        continue;
      }
    } else if (conv === ch("s")) {
      stringSpace = "s";
    }

    if (stringSpace !== undefined) {
      const next = at(i + 1);
      if (next !== 0 && !isSpace(next) && !isPunct(next)) return EINVAL;
      if (bin === MAX_BPRINTF_BIN_ARGS) return ENOSPC;
      const str = memory.string(arg, MAX_BPRINTF_BIN_ARGS - bin, stringSpace) ??
        new Uint8Array(0);
      bin += str.length + 1;
      putString(out, spec, str);
      used++;
      continue;
    }

    if (conv === ch("c")) {
      if (bin === MAX_BPRINTF_BIN_ARGS) return ENOSPC;
      bin++;
      const c1 = Number(arg & 0xffn);
      const fill = spec.width - 1;
      if ((spec.flags & LEFT) === 0) out.pad(0x20, fill);
      out.byte(c1);
      if ((spec.flags & LEFT) !== 0) out.pad(0x20, fill);
      used++;
      continue;
    }

    let wide = false;
    if (at(i) === ch("l")) {
      wide = true;
      i++;
      if (at(i) === ch("l")) i++;
    }
    const t = at(i);
    const signed = t === ch("d") || t === ch("i");
    if (!signed && t !== ch("u") && t !== ch("x") && t !== ch("X")) return EINVAL;
    if (!stage(wide ? 8 : 4)) return ENOSPC;
    let value = wide ? arg : arg & U32;
    let negative = false;
    if (signed) {
      const s = wide ? BigInt.asIntN(64, value) : BigInt.asIntN(32, value);
      negative = s < 0n;
      value = negative ? -s : s;
    }
    putNumber(
      out,
      spec,
      value,
      negative,
      signed,
      t === ch("d") || t === ch("i") || t === ch("u") ? 10 : 16,
      t === ch("X"),
    );
    used++;
  }
  return { text: out.bytes.subarray(0, out.stored), length: out.length };
}
