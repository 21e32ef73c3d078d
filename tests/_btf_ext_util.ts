/**
 * Test helpers for `.BTF.ext`: a string table for hand-built blobs, and
 * libbpf's own verdict on blobs (a small C harness around btf_ext__new).
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BtfError } from "../errors/mod.ts";
import { haveCommand } from "./_util.ts";

/** A `.BTF`-like string table for hand-built blobs: `add` dedups, `resolve` refuses bad offsets. */
export function stringTable(): { add(s: string): number; resolve(offset: number): string } {
  const offsets = new Map<string, number>([["", 0]]);
  const strings = new Map<number, string>([[0, ""]]);
  let size = 1;
  return {
    add(s: string): number {
      let off = offsets.get(s);
      if (off === undefined) {
        off = size;
        offsets.set(s, off);
        strings.set(off, s);
        size += new TextEncoder().encode(s).length + 1;
      }
      return off;
    },
    resolve(offset: number): string {
      const s = strings.get(offset);
      if (s === undefined) {
        throw new BtfError("BTF_BAD_STRING", `no string starts at offset ${offset}`, { offset });
      }
      return s;
    },
  };
}

const HARNESS = `
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
static int quiet(enum libbpf_print_level level, const char *fmt, va_list args) { return 0; }
int main(int argc, char **argv) {
  libbpf_set_print(quiet);
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 2;
  unsigned int n;
  while (fread(&n, 4, 1, f) == 1) {
    unsigned char *buf = malloc(n ? n : 1);
    if (fread(buf, 1, n, f) != n) return 3;
    struct btf_ext *ext = btf_ext__new(buf, n);
    long err = libbpf_get_error(ext);
    printf("%ld\\n", err);
    if (!err) btf_ext__free(ext);
    free(buf);
  }
  return 0;
}
`;

/** libbpf's btf_ext__new verdict (0 or -errno) per blob, or a reason the harness can't run. */
export function libbpfVerdicts(blobs: Uint8Array[]): number[] | string {
  if (!haveCommand("cc")) return "cc is not on PATH";
  if (!existsSync("/usr/include/bpf/btf.h")) return "libbpf-dev is not installed";
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) return "the host is big-endian";
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-btfext-"));
  try {
    writeFileSync(join(dir, "h.c"), HARNESS);
    const cc = spawnSync("cc", ["-O1", "-o", join(dir, "h"), join(dir, "h.c"), "-lbpf"], {
      encoding: "utf8",
    });
    if (cc.status !== 0) return `the libbpf harness does not build: ${cc.stderr}`;
    const total = blobs.reduce((n, b) => n + 4 + b.length, 0);
    const all = new Uint8Array(total);
    const view = new DataView(all.buffer);
    let at = 0;
    for (const blob of blobs) {
      view.setUint32(at, blob.length, true);
      all.set(blob, at + 4);
      at += 4 + blob.length;
    }
    writeFileSync(join(dir, "blobs"), all);
    const run = spawnSync(join(dir, "h"), [join(dir, "blobs")], {
      encoding: "utf8",
      maxBuffer: 1 << 26,
    });
    if (run.status !== 0) return `the libbpf harness failed: ${run.status} ${run.stderr}`;
    return run.stdout.trim().split("\n").map(Number);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
