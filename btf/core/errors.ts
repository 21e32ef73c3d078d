/**
 * The error CO-RE raises for relocations it cannot apply.
 *
 * @module
 */

import { TsbpfError } from "../../errors/mod.ts";

/**
 * A CO-RE relocation that is malformed or cannot be applied: a bad access
 * string (`CORE_BAD_ACCESS`), an unknown kind (`CORE_UNKNOWN_KIND`), an
 * instruction that does not hold the value the compiler should have left
 * (`CORE_BAD_INSTRUCTION`), candidates that disagree (`CORE_AMBIGUOUS`),
 * a value that does not fit the instruction (`CORE_VALUE_RANGE`), or an
 * anonymous root type (`CORE_ANONYMOUS`).
 */
export class CoreError extends TsbpfError {}
