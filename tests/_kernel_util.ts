/**
 * Shared helpers of the tests that need the real kernel.
 *
 * @module
 */

import process from "node:process";
import { existsSync, readFileSync } from "node:fs";
import { syscalls } from "../backends/kernel/syscalls.ts";

/**
 * Why tests that call bpf(2) can't run here (not Linux, no FFI, no bpffs),
 * or `undefined` when they can.
 */
export function kernelSkipReason(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  try {
    syscalls();
  } catch (err) {
    return `no FFI: ${(err as Error).message}`;
  }
  const mounts = existsSync("/proc/mounts") ? readFileSync("/proc/mounts", "utf8") : "";
  if (!/ \/sys\/fs\/bpf bpf /.test(mounts)) return "no bpffs mounted at /sys/fs/bpf";
  return undefined;
}
