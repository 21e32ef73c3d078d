/**
 * Errors of the VM backend. {@link VmError} carries where a run went wrong:
 * the program counter, and for a bad memory access the address, size and
 * the nearest region, so a fault reads like a verifier complaint.
 *
 * @module
 */

import { TsbpfError, type TsbpfErrorOptions } from "../../errors/mod.ts";

/** Options of {@link VmError}. */
export interface VmErrorOptions extends TsbpfErrorOptions {
  /** Instruction index (slot) the error happened at. */
  pc?: number;
  /** The program's name. */
  program?: string;
  /** The virtual address of a bad access. */
  address?: number;
  /** Bytes the bad access touched. */
  size?: number;
  /** Name of the region nearest to {@link address}. */
  region?: string;
  /** The errno name a map or helper operation failed with (`ENOENT`, `E2BIG` …). */
  errnoName?: string;
}

/**
 * A problem of the VM backend; `code` starts with `VM_`:
 * - `VM_BAD_PROGRAM`: the program cannot be loaded (bad opcode, non-zero
 *   reserved field, jump out of range, unknown helper…), naming the pc;
 * - `VM_BAD_ACCESS`: a load or store outside every region, or a write to a
 *   read-only one;
 * - `VM_BUDGET`: the instruction budget ran out;
 * - `VM_CALL_DEPTH`, `VM_TAIL_CALLS`: call depth over 8, tail calls over 33;
 * - `VM_HELPER`: a helper refused its arguments in a way the kernel's
 *   verifier would have refused at load;
 * - `VM_MAP`: a host-side map operation failed (with {@link errnoName});
 * - `VM_BAD_RUN`, `VM_BAD_MAP`, `VM_CLOSED`: bad arguments to the API.
 */
export class VmError extends TsbpfError {
  /** Instruction index, when the error is tied to one. */
  readonly pc?: number;
  /** The program's name, when known. */
  readonly program?: string;
  /** Virtual address of a bad access. */
  readonly address?: number;
  /** Size of a bad access. */
  readonly size?: number;
  /** Region nearest the bad address. */
  readonly region?: string;
  /** Errno name of a failed map or helper operation. */
  readonly errnoName?: string;

  constructor(code: string, detail: string, options: VmErrorOptions = {}) {
    super(code, detail, options);
    this.pc = options.pc;
    this.program = options.program;
    this.address = options.address;
    this.size = options.size;
    this.region = options.region;
    this.errnoName = options.errnoName;
  }
}

/** `0x`-prefixed hex of a VM address (tag in the high 32 bits). */
export function formatAddress(address: number): string {
  return `0x${address.toString(16)}`;
}
