/**
 * The running kernel's BTF: `/sys/kernel/btf/vmlinux`, read once per
 * process and parsed lazily ({@link Btf.parse} indexes the blob and
 * decodes types on demand), and the split BTF of kernel modules
 * (`/sys/kernel/btf/<module>`) on top of it.
 *
 * ```ts
 * import { kernelBtf, kernelModuleBtf } from "./kernel_btf.ts";
 *
 * const vmlinux = kernelBtf();
 * console.log(vmlinux.typeByName("task_struct").id);
 * const nf = kernelModuleBtf("nf_conntrack"); // IDs continue vmlinux's
 * ```
 *
 * This file is runtime-facing: it reads with `node:fs`, which Deno and
 * Bun both provide.
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { Btf } from "../../btf/btf.ts";
import { TsbpfError } from "../../errors/mod.ts";
import { KernelError } from "./errors.ts";

/** Where the kernel exposes its BTF. */
export const KERNEL_BTF_DIR = "/sys/kernel/btf";

/** Reads a whole file; throws a Node-style error with `code` `ENOENT` when it is missing. */
export type FileReader = (path: string) => Uint8Array;

/** Options of {@link KernelBtfCache}. */
export interface KernelBtfCacheOptions {
  /** How files are read (tests count calls); `readFileSync` by default. */
  readFile?: FileReader;
  /** Directory holding `vmlinux` and module blobs; {@link KERNEL_BTF_DIR} by default. */
  dir?: string;
}

/**
 * A whole file as bytes (`readFileSync` without Node's `Buffer` type): the
 * one reader kernel BTF, kconfig, kallsyms and CO-RE target files use.
 */
export function readFileBytes(path: string): Uint8Array {
  const buf = readFileSync(path);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A module name as `/sys/kernel/btf` lists them: no path separators, not `.`/`..`. */
const MODULE_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * Kernel BTF read and parsed once: {@link vmlinux} and each
 * {@link module} return the same {@link Btf} on every call.
 * {@link kernelBtf} and {@link kernelModuleBtf} use one process-wide
 * instance; make your own to read from elsewhere or to count reads.
 */
export class KernelBtfCache {
  /** How many files this cache has read (each blob at most once). */
  reads = 0;
  readonly #readFile: FileReader;
  readonly #dir: string;
  #vmlinux?: Btf;
  readonly #modules = new Map<string, Btf>();

  /**
   * Names of the modules with BTF (`/sys/kernel/btf/*` but vmlinux),
   * sorted; empty when the directory is missing. Read on every call: modules
   * come and go.
   */
  moduleNames(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.#dir);
    } catch {
      return [];
    }
    return names.filter((n) => n !== "vmlinux" && MODULE_NAME.test(n)).sort();
  }

  /** A cache reading with `options.readFile` from `options.dir`. */
  constructor(options: KernelBtfCacheOptions = {}) {
    this.#readFile = options.readFile ?? readFileBytes;
    this.#dir = options.dir ?? KERNEL_BTF_DIR;
  }

  /**
   * `vmlinux` BTF.
   *
   * @throws {KernelError} `KERNEL_NO_BTF` when the kernel exposes none.
   * @throws {BtfError} when the blob does not parse.
   */
  vmlinux(): Btf {
    if (this.#vmlinux === undefined) {
      this.#vmlinux = this.#parse(`${this.#dir}/vmlinux`, "vmlinux");
    }
    return this.#vmlinux;
  }

  /**
   * A module's split BTF, with `vmlinux` as its base.
   *
   * @throws {KernelError} `KERNEL_BAD_MODULE_NAME` for a name that is not a
   *   plain file name; `KERNEL_NO_BTF` when the module (or vmlinux) has no BTF.
   */
  module(name: string): Btf {
    if (!MODULE_NAME.test(name) || name === "." || name === ".." || name === "vmlinux") {
      throw new KernelError(
        "KERNEL_BAD_MODULE_NAME",
        `${JSON.stringify(name)} is not a kernel module name`,
      );
    }
    let btf = this.#modules.get(name);
    if (btf === undefined) {
      const base = this.vmlinux();
      btf = this.#parse(`${this.#dir}/${name}`, `module ${name}`, base);
      this.#modules.set(name, btf);
    }
    return btf;
  }

  #parse(path: string, what: string, base?: Btf): Btf {
    let bytes: Uint8Array;
    try {
      this.reads++;
      bytes = this.#readFile(path);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === "ENOENT" || code === "ENOTDIR") {
        const why = base === undefined
          ? "the kernel was built without CONFIG_DEBUG_INFO_BTF"
          : "the module is not loaded or was built without BTF (CONFIG_DEBUG_INFO_BTF_MODULES)";
        throw new KernelError(
          "KERNEL_NO_BTF",
          `no kernel BTF for ${what}: ${path} is missing: ${why}`,
          {
            cause: err,
          },
        );
      }
      throw new KernelError(
        "KERNEL_BTF_READ",
        `reading kernel BTF ${path}: ${(err as Error).message ?? String(err)}`,
        { cause: err },
      );
    }
    try {
      return Btf.parse(bytes, { base });
    } catch (err) {
      if (err instanceof TsbpfError) err.addContext(`kernel BTF ${path}`);
      throw err;
    }
  }
}

let shared: KernelBtfCache | undefined;

function sharedCache(): KernelBtfCache {
  shared ??= new KernelBtfCache();
  return shared;
}

/**
 * The running kernel's `vmlinux` BTF, read and indexed on the first call
 * and the same object afterwards.
 *
 * @throws {KernelError} `KERNEL_NO_BTF` when `/sys/kernel/btf/vmlinux` is missing.
 */
export function kernelBtf(): Btf {
  return sharedCache().vmlinux();
}

/**
 * A kernel module's BTF (`/sys/kernel/btf/<name>`) as split BTF on top of
 * {@link kernelBtf}, cached per module.
 *
 * @throws {KernelError} `KERNEL_NO_BTF`, `KERNEL_BAD_MODULE_NAME`.
 */
export function kernelModuleBtf(name: string): Btf {
  return sharedCache().module(name);
}

/** Names of the loaded kernel modules that have BTF, sorted (see {@link KernelBtfCache.moduleNames}). */
export function kernelModuleNames(): string[] {
  return sharedCache().moduleNames();
}
