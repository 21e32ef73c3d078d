// Property tests of the BPF printf formatter (backends/vm/helpers/printf.ts):
// integer conversions against a reference formatter with C's printf rules,
// a table of outputs from glibc's printf, and robustness on arbitrary bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { bprintf, type PrintfMemory } from "../backends/vm/helpers/printf.ts";

const NO_MEMORY: PrintfMemory = { string: () => undefined, bytes: () => undefined };
const enc = new TextEncoder();
const dec = new TextDecoder();

/** `s` without `%` and without characters outside [lo, hi] (by char code). */
function keepOnly(s: string, lo: number, hi: number): string {
  return [...s].filter((c) => c !== "%" && c.charCodeAt(0) >= lo && c.charCodeAt(0) <= hi)
    .join("");
}

/** Format one spec with the VM's formatter; `undefined` on an errno. */
function vm(fmt: string, args: readonly bigint[], size = 4096): string | number {
  const r = bprintf(
    enc.encode(fmt + "\0"),
    args.map((a) => BigInt.asUintN(64, a)),
    size,
    NO_MEMORY,
  );
  return typeof r === "number" ? r : dec.decode(r.text);
}

/** C printf of one integer conversion (flags of "0+- ", a width, "", "l" or "ll"). */
function reference(flags: string, width: number, len: string, conv: string, v: bigint): string {
  let x = len === "" ? BigInt.asUintN(32, v) : BigInt.asUintN(64, v);
  const signed = conv === "d" || conv === "i";
  let negative = false;
  if (signed) {
    const s = len === "" ? BigInt.asIntN(32, x) : BigInt.asIntN(64, x);
    negative = s < 0n;
    x = negative ? -s : s;
  }
  const digits = conv === "x"
    ? x.toString(16)
    : conv === "X"
    ? x.toString(16).toUpperCase()
    : x.toString();
  const sign = !signed
    ? ""
    : negative
    ? "-"
    : flags.includes("+")
    ? "+"
    : flags.includes(" ")
    ? " "
    : "";
  if (flags.includes("-")) return (sign + digits).padEnd(width, " ");
  if (flags.includes("0")) return sign + digits.padStart(width - sign.length, "0");
  return (sign + digits).padStart(width, " ");
}

// From glibc's snprintf (int/unsigned for no length, long long for l/ll).
const GLIBC: [string, bigint, string][] = [
  ["%d", 0n, "0"],
  ["%llu", -9223372036854775808n, "9223372036854775808"],
  ["%llx", -42n, "ffffffffffffffd6"],
  ["%lX", 9223372036854775807n, "7FFFFFFFFFFFFFFF"],
  ["%1llu", -2147483648n, "18446744071562067968"],
  ["%1llx", 1n, "1"],
  ["%1lX", 4294967295n, "FFFFFFFF"],
  ["%5lli", 20015998343868n, "20015998343868"],
  ["%5llu", 42n, "   42"],
  ["%5lx", -9223372036854775808n, "8000000000000000"],
  ["%5lX", -42n, "FFFFFFFFFFFFFFD6"],
  ["%12lld", 9223372036854775807n, "9223372036854775807"],
  ["%12lli", 2147483647n, "  2147483647"],
  ["%12llu", 0n, "           0"],
  ["%12lx", -2147483648n, "ffffffff80000000"],
  ["%12lX", 1n, "           1"],
  ["%25lld", 4294967295n, "               4294967295"],
  ["%25lli", -1n, "                       -1"],
  ["%25lu", 20015998343868n, "           20015998343868"],
  ["%25lx", 42n, "                       2a"],
  ["%25X", -9223372036854775808n, "                        0"],
  ["%0lli", 4294967295n, "4294967295"],
  ["%0llu", -1n, "18446744073709551615"],
  ["%0lx", 20015998343868n, "123456789abc"],
  ["%0lX", 42n, "2A"],
  ["%01lld", -9223372036854775808n, "-9223372036854775808"],
  ["%01lli", -42n, "-42"],
  ["%01lu", 9223372036854775807n, "9223372036854775807"],
  ["%01lx", 2147483647n, "7fffffff"],
  ["%01lX", 0n, "0"],
  ["%05lld", -2147483648n, "-2147483648"],
  ["%05lli", 1n, "00001"],
  ["%05lu", 4294967295n, "4294967295"],
  ["%05lx", -1n, "ffffffffffffffff"],
  ["%05X", 20015998343868n, "56789ABC"],
  ["%012lld", 42n, "000000000042"],
  ["%012li", -9223372036854775808n, "-9223372036854775808"],
  ["%012lu", -42n, "18446744073709551574"],
  ["%012x", 9223372036854775807n, "0000ffffffff"],
  ["%012X", 2147483647n, "00007FFFFFFF"],
  ["%025lld", 0n, "0000000000000000000000000"],
  ["%025li", -2147483648n, "-000000000000002147483648"],
  ["%025lu", 1n, "0000000000000000000000001"],
  ["%025x", 4294967295n, "00000000000000000ffffffff"],
  ["%025X", -1n, "00000000000000000FFFFFFFF"],
  ["%-lld", 2147483647n, "2147483647"],
  ["%-lli", 0n, "0"],
  ["%-lu", -2147483648n, "18446744071562067968"],
  ["%-lx", 1n, "1"],
  ["%-X", 4294967295n, "FFFFFFFF"],
  ["%-1lld", -1n, "-1"],
  ["%-1li", 20015998343868n, "20015998343868"],
  ["%-1lu", 42n, "42"],
  ["%-1x", -9223372036854775808n, "0"],
  ["%-1X", -42n, "FFFFFFD6"],
  ["%-5ld", 9223372036854775807n, "9223372036854775807"],
  ["%-5li", 2147483647n, "2147483647"],
  ["%-5lu", 0n, "0    "],
  ["%-5x", -2147483648n, "80000000"],
  ["%-5X", 1n, "1    "],
  ["%-12ld", 4294967295n, "4294967295  "],
  ["%-12li", -1n, "-1          "],
  ["%-12u", 20015998343868n, "1450744508  "],
  ["%-12x", 42n, "2a          "],
  ["%-25ld", -42n, "-42                      "],
  ["%-25i", 9223372036854775807n, "-1                       "],
  ["%-25u", 2147483647n, "2147483647               "],
  ["%-25x", 0n, "0                        "],
  ["%+ld", -9223372036854775808n, "-9223372036854775808"],
  ["%+li", -42n, "-42"],
  ["%+u", 9223372036854775807n, "4294967295"],
  ["%+x", 2147483647n, "7fffffff"],
  ["%+X", 0n, "0"],
  ["%+1ld", -2147483648n, "-2147483648"],
  ["%+1li", 1n, "+1"],
  ["%+1u", 4294967295n, "4294967295"],
  ["%+1x", -1n, "ffffffff"],
  ["%+5ld", 42n, "  +42"],
  ["%+5i", -9223372036854775808n, "   +0"],
  ["%+5u", -42n, "4294967254"],
  ["%+12ld", 0n, "          +0"],
  ["%+12i", -2147483648n, " -2147483648"],
  ["%+12u", 1n, "           1"],
  ["%+12llX", 9223372036854775807n, "7FFFFFFFFFFFFFFF"],
  ["%+25d", 20015998343868n, "              +1450744508"],
  ["%+25i", 42n, "                      +42"],
  ["%+25llX", 4294967295n, "                 FFFFFFFF"],
  ["% ld", -1n, "-1"],
  ["% i", 20015998343868n, " 1450744508"],
  ["% u", 42n, "42"],
  ["% 1d", 9223372036854775807n, "-1"],
  ["% 1i", 2147483647n, " 2147483647"],
  ["% 1u", 0n, "0"],
  ["% 1llX", -9223372036854775808n, "8000000000000000"],
  ["% 5d", 4294967295n, "   -1"],
  ["% 5i", -1n, "   -1"],
  ["% 5llX", -2147483648n, "FFFFFFFF80000000"],
  ["% 12d", -42n, "         -42"],
  ["% 12llx", 20015998343868n, "123456789abc"],
  ["% 12llX", 42n, "          2A"],
  ["% 25d", 1n, "                        1"],
  ["% 25llu", 9223372036854775807n, "      9223372036854775807"],
  ["% 25llx", 2147483647n, "                 7fffffff"],
  ["% 25llX", 0n, "                        0"],
  ["%+0d", -2147483648n, "-2147483648"],
  ["%+0i", 1n, "+1"],
  ["%+0llx", 9223372036854775807n, "7fffffffffffffff"],
  ["%+0llX", 2147483647n, "7FFFFFFF"],
  ["%+01d", 42n, "+42"],
  ["%+01llx", 4294967295n, "ffffffff"],
  ["%+01llX", -1n, "FFFFFFFFFFFFFFFF"],
  ["%+05d", 0n, "+0000"],
  ["%+05llu", -9223372036854775808n, "9223372036854775808"],
  ["%+05llx", -42n, "ffffffffffffffd6"],
  ["%+05lX", 9223372036854775807n, "7FFFFFFFFFFFFFFF"],
  ["%+012llu", -2147483648n, "18446744071562067968"],
  ["%+012llx", 1n, "000000000001"],
  ["%+012lX", 4294967295n, "0000FFFFFFFF"],
  ["%+025lli", 20015998343868n, "+000000000020015998343868"],
  ["%+025llu", 42n, "0000000000000000000000042"],
  ["%+025lx", -9223372036854775808n, "0000000008000000000000000"],
  ["%+025lX", -42n, "000000000FFFFFFFFFFFFFFD6"],
  ["%- llu", 20015998343868n, "20015998343868"],
  ["%- llx", 42n, "2a"],
  ["%- lX", -9223372036854775808n, "8000000000000000"],
  ["%- 1lli", 9223372036854775807n, " 9223372036854775807"],
  ["%- 1llu", 2147483647n, "2147483647"],
  ["%- 1llx", 0n, "0"],
  ["%- 1lX", -2147483648n, "FFFFFFFF80000000"],
  ["%- 5lli", 4294967295n, " 4294967295"],
  ["%- 5llu", -1n, "18446744073709551615"],
  ["%- 5lx", 20015998343868n, "123456789abc"],
  ["%- 5lX", 42n, "2A   "],
  ["%- 12lld", -9223372036854775808n, "-9223372036854775808"],
  ["%- 12lli", -42n, "-42         "],
  ["%- 12lu", 9223372036854775807n, "9223372036854775807"],
  ["%- 12lx", 2147483647n, "7fffffff    "],
  ["%- 12lX", 0n, "0           "],
  ["%- 25lld", -2147483648n, "-2147483648              "],
  ["%- 25lli", 1n, " 1                       "],
  ["%- 25lu", 4294967295n, "4294967295               "],
  ["%- 25lx", -1n, "ffffffffffffffff         "],
  ["%- 25X", 20015998343868n, "56789ABC                 "],
  ["%0-lli", -2147483648n, "-2147483648"],
  ["%0-llu", 1n, "1"],
  ["%0-lx", 4294967295n, "ffffffff"],
  ["%0-lX", -1n, "FFFFFFFFFFFFFFFF"],
  ["%0-1lld", 20015998343868n, "20015998343868"],
  ["%0-1lli", 42n, "42"],
  ["%0-1lu", -9223372036854775808n, "9223372036854775808"],
  ["%0-1lx", -42n, "ffffffffffffffd6"],
  ["%0-1X", 9223372036854775807n, "FFFFFFFF"],
  ["%0-5lld", 2147483647n, "2147483647"],
  ["%0-5lli", 0n, "0    "],
  ["%0-5lu", -2147483648n, "18446744071562067968"],
  ["%0-5lx", 1n, "1    "],
  ["%0-5X", 4294967295n, "FFFFFFFF"],
  ["%0-12lld", -1n, "-1          "],
  ["%0-12li", 20015998343868n, "20015998343868"],
  ["%0-12lu", 42n, "42          "],
  ["%0-12x", -9223372036854775808n, "0           "],
  ["%0-12X", -42n, "FFFFFFD6    "],
  ["%0-25ld", 9223372036854775807n, "9223372036854775807      "],
  ["%0-25li", 2147483647n, "2147483647               "],
  ["%0-25lu", 0n, "0                        "],
  ["%0-25x", -2147483648n, "80000000                 "],
  ["%0-25X", 1n, "1                        "],
  ["% 0lld", -42n, "-42"],
  ["% 0li", 9223372036854775807n, " 9223372036854775807"],
  ["% 0lu", 2147483647n, "2147483647"],
  ["% 0lx", 0n, "0"],
  ["% 0X", -2147483648n, "80000000"],
  ["% 01lld", 1n, " 1"],
  ["% 01li", 4294967295n, " 4294967295"],
  ["% 01lu", -1n, "18446744073709551615"],
  ["% 01x", 20015998343868n, "56789abc"],
  ["% 01X", 42n, "2A"],
  ["% 05ld", -9223372036854775808n, "-9223372036854775808"],
  ["% 05li", -42n, "-0042"],
  ["% 05u", 9223372036854775807n, "4294967295"],
  ["% 05x", 2147483647n, "7fffffff"],
  ["% 05X", 0n, "00000"],
  ["% 012ld", -2147483648n, "-02147483648"],
  ["% 012li", 1n, " 00000000001"],
  ["% 012u", 4294967295n, "004294967295"],
  ["% 012x", -1n, "0000ffffffff"],
  ["% 025ld", 42n, " 000000000000000000000042"],
  ["% 025i", -9223372036854775808n, " 000000000000000000000000"],
  ["% 025u", -42n, "0000000000000004294967254"],
  ["%+ ld", 20015998343868n, "+20015998343868"],
  ["%+ li", 42n, "+42"],
  ["%+ u", -9223372036854775808n, "0"],
  ["%+ x", -42n, "ffffffd6"],
  ["%+ 1ld", 2147483647n, "+2147483647"],
  ["%+ 1li", 0n, "+0"],
  ["%+ 1u", -2147483648n, "2147483648"],
  ["%+ 1x", 1n, "1"],
  ["%+ 5ld", -1n, "   -1"],
  ["%+ 5i", 20015998343868n, "+1450744508"],
  ["%+ 5u", 42n, "   42"],
  ["%+ 12d", 9223372036854775807n, "          -1"],
  ["%+ 12i", 2147483647n, " +2147483647"],
  ["%+ 12u", 0n, "           0"],
  ["%+ 12llX", -9223372036854775808n, "8000000000000000"],
  ["%+ 25d", 4294967295n, "                       -1"],
  ["%+ 25i", -1n, "                       -1"],
  ["%+ 25llX", -2147483648n, "         FFFFFFFF80000000"],
  ["%-+0 ld", 1n, "+1"],
  ["%-+0 i", 4294967295n, "-1"],
  ["%-+0 u", -1n, "4294967295"],
  ["%-+0 1d", -9223372036854775808n, "+0"],
  ["%-+0 1i", -42n, "-42"],
  ["%-+0 1llX", 20015998343868n, "123456789ABC"],
  ["%-+0 5d", -2147483648n, "-2147483648"],
  ["%-+0 5i", 1n, "+1   "],
  ["%-+0 5llx", 9223372036854775807n, "7fffffffffffffff"],
  ["%-+0 5llX", 2147483647n, "7FFFFFFF"],
  ["%-+0 12d", 42n, "+42         "],
  ["%-+0 12llx", 4294967295n, "ffffffff    "],
  ["%-+0 12llX", -1n, "FFFFFFFFFFFFFFFF"],
  ["%-+0 25d", 0n, "+0                       "],
  ["%-+0 25llu", -9223372036854775808n, "9223372036854775808      "],
  ["%-+0 25llx", -42n, "ffffffffffffffd6         "],
  ["%-+0 25lX", 9223372036854775807n, "7FFFFFFFFFFFFFFF         "],
];

test("integer conversions match glibc's printf", () => {
  for (const [fmt, value, want] of GLIBC) assert.equal(vm(fmt, [value]), want, fmt);
});

const spec = fc.record({
  flags: fc.array(fc.constantFrom("0", "+", "-", " "), { maxLength: 4 }).map((a) => a.join("")),
  width: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
  len: fc.constantFrom("", "l", "ll"),
  conv: fc.constantFrom("d", "i", "u", "x", "X"),
  value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
});

test("property: integer conversions match the reference formatter", () => {
  fc.assert(
    fc.property(
      fc.array(spec, { minLength: 1, maxLength: 3 }),
      fc.string({ maxLength: 5 }),
      (specs, sep) => {
        const text = keepOnly(sep, 0x20, 0x7e);
        const fmt = specs.map((s) => `%${s.flags}${s.width ?? ""}${s.len}${s.conv}`).join(text);
        const want = specs.map((s) => reference(s.flags, s.width ?? 0, s.len, s.conv, s.value))
          .join(text);
        assert.equal(vm(fmt, specs.map((s) => s.value)), want, fmt);
      },
    ),
    { numRuns: 500 },
  );
});

test("property: output is cut to size - 1 while the length counts everything", () => {
  fc.assert(
    fc.property(spec, fc.integer({ min: 0, max: 30 }), (s, size) => {
      const fmt = `<%${s.flags}${s.width ?? ""}${s.len}${s.conv}>`;
      const full = vm(fmt, [s.value]) as string;
      const r = bprintf(enc.encode(fmt + "\0"), [BigInt.asUintN(64, s.value)], size, NO_MEMORY);
      assert.ok(typeof r !== "number");
      assert.equal(r.length, full.length);
      assert.equal(dec.decode(r.text), full.slice(0, Math.max(size - 1, 0)));
    }),
    { numRuns: 300 },
  );
});

test("property: arbitrary format bytes give an errno or bounded output, never a throw", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 40 }),
      fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { maxLength: 12 }),
      fc.integer({ min: 0, max: 64 }),
      (bytes, args, size) => {
        const r = bprintf(bytes, args, size, NO_MEMORY);
        if (typeof r === "number") {
          assert.ok(r === -22 || r === -28, `errno ${r}`);
          return;
        }
        assert.ok(bytes.includes(0), "a result needs a NUL in the format");
        assert.ok(r.text.length <= Math.max(size - 1, 0));
        assert.ok(r.length >= r.text.length);
      },
    ),
    { numRuns: 1000 },
  );
});

test("property: text without % passes through unchanged", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (s) => {
      const plain = keepOnly(s, 0x20, 0x7e);
      assert.equal(vm(plain, []), plain);
    }),
    { numRuns: 300 },
  );
});
