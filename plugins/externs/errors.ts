/**
 * The error the extern plugins throw.
 *
 * @module
 */

import { TsbpfError } from "../../errors/mod.ts";

/**
 * An extern (`__kconfig`, `__ksym`, kfunc) that can't be resolved or whose
 * value does not fit its type. Codes: `EXTERN_KCONFIG_PARSE` (a config line
 * or value that does not parse), `EXTERN_KCONFIG_VALUE` (a value of the
 * wrong kind or out of range), `EXTERN_UNSUPPORTED_TYPE`,
 * `EXTERN_UNRESOLVED` (a strong extern nothing defines, in strict mode),
 * `EXTERN_INCOMPATIBLE` (the kernel's type differs), `EXTERN_AMBIGUOUS`
 * (kallsyms gives two addresses), `EXTERN_NO_KERNEL_INFO` (a source the
 * plugin needs can't be read), `EXTERN_TOO_MANY_MODULES`.
 */
export class ExternError extends TsbpfError {}
