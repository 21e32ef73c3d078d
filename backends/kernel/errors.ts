/**
 * Errors of the kernel backend: {@link KernelError} for everything that is
 * not one system call failing, {@link SyscallError} for a bpf(2) command
 * that returned an errno, and {@link VerifierError} for a program or BTF
 * blob the kernel rejected with a verifier log.
 *
 * @module
 */

import { TsbpfError, type TsbpfErrorOptions } from "../../errors/mod.ts";

/** A problem of the kernel backend; `code` starts with `KERNEL_`. */
export class KernelError extends TsbpfError {}

/** Linux errno numbers by name (the generic ones, same on x86_64 and aarch64). */
export const ERRNO: Readonly<Record<string, number>> = Object.freeze({
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  ENODATA: 61,
  ETIME: 62,
  ENOLINK: 67,
  EPROTO: 71,
  EOVERFLOW: 75,
  EBADFD: 77,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ETIMEDOUT: 110,
  EALREADY: 114,
  EINPROGRESS: 115,
  ECANCELED: 125,
  // Kernel-internal, but bpf(2) leaks it to userspace.
  ENOTSUPP: 524,
});

const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(ERRNO).map(([name, value]) => [value, name]),
);

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  EPERM: "operation not permitted",
  ENOENT: "no such file or directory",
  ESRCH: "no such process",
  EINTR: "interrupted system call",
  EIO: "input/output error",
  E2BIG: "argument list too long",
  EBADF: "bad file descriptor",
  EAGAIN: "resource temporarily unavailable",
  ENOMEM: "cannot allocate memory",
  EACCES: "permission denied",
  EFAULT: "bad address",
  EBUSY: "device or resource busy",
  EEXIST: "file exists",
  EXDEV: "invalid cross-device link",
  ENODEV: "no such device",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EINVAL: "invalid argument",
  ENFILE: "too many open files in system",
  EMFILE: "too many open files",
  ENOTTY: "inappropriate ioctl for device",
  EFBIG: "file too large",
  ENOSPC: "no space left on device",
  EROFS: "read-only file system",
  ERANGE: "numerical result out of range",
  ENAMETOOLONG: "file name too long",
  ENOSYS: "function not implemented",
  ELOOP: "too many levels of symbolic links",
  EOVERFLOW: "value too large for defined data type",
  EBADFD: "file descriptor in bad state",
  EOPNOTSUPP: "operation not supported",
  ENOTSUPP: "operation not supported by the kernel",
};

/** The symbolic name of an errno (`EPERM`), or `E<n>` for an unknown one. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}

/** A short description of an errno, as strerror(3) words it. */
export function errnoText(errno: number): string {
  return ERRNO_TEXT[errnoName(errno)] ?? `errno ${errno}`;
}

// Commands whose EPERM means "no write access to this map", not "no privileges".
const WRITE_COMMANDS: ReadonlySet<string> = new Set([
  "BPF_MAP_UPDATE_ELEM",
  "BPF_MAP_DELETE_ELEM",
  "BPF_MAP_UPDATE_BATCH",
  "BPF_MAP_DELETE_BATCH",
  "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
  "BPF_MAP_FREEZE",
]);

/** Whether this process runs as root (uid 0), where the runtime can tell. */
function isRoot(): boolean {
  const proc = (globalThis as { process?: { getuid?: () => number } }).process;
  try {
    return proc?.getuid?.() === 0;
  } catch {
    return false;
  }
}

/** A hint for a failed command, where one helps; `undefined` otherwise. */
export function errnoHint(command: string, errno: number): string | undefined {
  switch (errnoName(errno)) {
    case "EPERM":
      if (WRITE_COMMANDS.has(command)) return "the map is frozen or read-only for this fd";
      if (isRoot()) {
        // Privileges are not it: the kernel refuses this object here.
        return command === "BPF_PROG_LOAD"
          ? "already root: the kernel refuses this program here (e.g. lockdown, or no support for its attach type such as fentry/fexit/lsm trampolines)"
          : "already root: the kernel refuses this here (e.g. lockdown)";
      }
      return "need CAP_BPF (plus CAP_PERFMON or CAP_NET_ADMIN for some types) or " +
        "CAP_SYS_ADMIN, e.g. run as root; on kernels < 5.11 also raise RLIMIT_MEMLOCK";
    case "ENOTSUPP":
    case "EOPNOTSUPP":
      return "the running kernel does not support this";
    case "E2BIG":
      if (command === "BPF_PROG_LOAD" || command === "BPF_MAP_CREATE") {
        return "the kernel is older than the attr (unknown trailing fields set) or a size limit was hit";
      }
      return undefined;
    case "ENOMEM":
      return "on kernels < 5.11 raise RLIMIT_MEMLOCK (ulimit -l)";
    case "EBADF":
    case "EBADFD":
      return "the fd is closed or not a bpf object";
    default:
      return undefined;
  }
}

/** Options of {@link SyscallError}. */
export interface SyscallErrorOptions extends TsbpfErrorOptions {
  /** Replace the default hint; `null` for none. */
  hint?: string | null;
  /** Override the error code (default `KERNEL_SYSCALL`). */
  code?: string;
}

/**
 * A bpf(2) command that failed: `command` is the uapi name
 * (`BPF_MAP_CREATE`), `errno` the positive errno and `errnoName` its name.
 *
 * The message reads `BPF_MAP_CREATE: EPERM (operation not permitted): hint`.
 */
export class SyscallError extends KernelError {
  /** The bpf(2) command name, e.g. `BPF_PROG_LOAD`. */
  readonly command: string;
  /** The positive errno. */
  readonly errno: number;
  /** The errno's symbolic name, e.g. `EPERM`; `E<n>` when unknown. */
  readonly errnoName: string;
  /** The hint appended to the message, when there is one. */
  readonly hint?: string;

  constructor(command: string, errno: number, options: SyscallErrorOptions = {}) {
    const name = errnoName(errno);
    const hint = options.hint === null ? undefined : options.hint ?? errnoHint(command, errno);
    super(
      options.code ?? "KERNEL_SYSCALL",
      `${command}: ${name} (${errnoText(errno)})${hint ? `: ${hint}` : ""}`,
      options,
    );
    this.command = command;
    this.errno = errno;
    this.errnoName = name;
    this.hint = hint;
  }
}

/** Options of {@link VerifierError}. */
export interface VerifierErrorOptions extends SyscallErrorOptions {
  /** Whether the log hit the kernel's size cap and is incomplete. */
  truncated?: boolean;
}

/**
 * The kernel rejected a program (or BTF blob): `log` is the complete
 * verifier log, `truncated` is true only when it did not fit even the
 * largest buffer the kernel accepts.
 */
export class VerifierError extends SyscallError {
  /** The verifier log, NUL-trimmed; empty when the kernel wrote none. */
  readonly log: string;
  /** Whether `log` is incomplete because it hit the kernel's cap. */
  readonly truncated: boolean;
  /**
   * Which CO-RE relocation the rejected program tripped over, e.g.
   * `insn #1: relocation byte_off of struct task_struct___old.state (0:0)
   * failed: ...`; set by the loader when the verifier reached an instruction
   * that CO-RE poisoned, undefined otherwise.
   */
  coreExplanation?: string;

  constructor(command: string, errno: number, log: string, options: VerifierErrorOptions = {}) {
    const last = lastLogLine(log);
    super(command, errno, {
      code: "KERNEL_VERIFIER",
      ...options,
      hint: options.hint !== undefined ? options.hint : last || undefined,
    });
    this.log = log;
    this.truncated = options.truncated === true;
  }
}

function lastLogLine(log: string): string {
  const lines = log.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  // The verifier's summary ("processed N insns ...") follows the reason.
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i].startsWith("processed ") && !lines[i].startsWith("verification time")) {
      return lines[i];
    }
  }
  return "";
}
