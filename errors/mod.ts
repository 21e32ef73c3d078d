/**
 * Errors of tsbpf: one base class with a stable `code` and a context chain
 * that reads from the outside in, and one subclass per layer.
 *
 * ```ts
 * import { ElfError, TsbpfError } from "./mod.ts";
 *
 * try {
 *   throw new ElfError("ELF_TRUNCATED", "section header table ends past the file", {
 *     offset: 4096,
 *   });
 * } catch (err) {
 *   if (err instanceof TsbpfError) console.log(err.code, err.message);
 * }
 * ```
 *
 * @module
 */

/** Where in the input an error happened; every field is optional. */
export interface ErrorLocation {
  /** Byte offset in the object file or in the section named by `section`. */
  offset?: number;
  /** Section name, when one is known. */
  section?: string;
  /** Section header index. */
  sectionIndex?: number;
}

/** Options for constructing an error. */
export interface TsbpfErrorOptions extends ErrorLocation {
  /** The error this one wraps. */
  cause?: unknown;
}

/**
 * The base of every error tsbpf throws on bad input or a failed operation.
 *
 * `code` is stable across releases and safe to match on; `message` is the
 * context chain joined with `: ` followed by the detail.
 */
export class TsbpfError extends Error {
  /** A stable, machine-readable code such as `ELF_TRUNCATED`. */
  readonly code: string;
  /** The innermost description of what went wrong. */
  readonly detail: string;
  /** Context from the outside in, e.g. `["load programs", "section xdp"]`. */
  readonly context: string[];
  /** Byte offset the error refers to, when known. */
  readonly offset?: number;
  /** Section name the error refers to, when known. */
  readonly section?: string;
  /** Section index the error refers to, when known. */
  readonly sectionIndex?: number;

  constructor(code: string, detail: string, options: TsbpfErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.detail = detail;
    this.context = [];
    this.offset = options.offset;
    this.section = options.section;
    this.sectionIndex = options.sectionIndex;
  }

  /** Prepend one layer of context and refresh the message; returns `this`. */
  addContext(context: string): this {
    this.context.unshift(context);
    this.message = [...this.context, this.detail].join(": ");
    return this;
  }
}

/** Malformed or unsupported ELF input. */
export class ElfError extends TsbpfError {}

/** Instruction encoding or decoding problems. */
export class IsaError extends TsbpfError {}

/** Malformed or unsupported BTF. */
export class BtfError extends TsbpfError {}

/** Section classification, relocation, map or linking problems in the pipeline. */
export class LinkError extends TsbpfError {}

/** Misuse of a spec: an unknown variable, a value that does not fit. */
export class SpecError extends TsbpfError {}

/** Pipeline wiring problems: unknown stages, stages run out of order, plugin conflicts. */
export class PipelineError extends TsbpfError {}

/** Invalid declarative configuration; `path` names the key, e.g. `backend.options.pinPath`. */
export class ConfigError extends TsbpfError {
  /** JSON-path-like location of the bad key. */
  readonly path: string;
  constructor(code: string, path: string, detail: string, options: TsbpfErrorOptions = {}) {
    super(code, path ? `${path}: ${detail}` : detail, options);
    this.path = path;
  }
}

/**
 * Run `fn`, prefixing `context` to any {@link TsbpfError} it throws.
 *
 * Errors of other types pass through untouched: they are bugs and must stay
 * visible as such.
 */
export function withContext<T>(context: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TsbpfError) err.addContext(context);
    throw err;
  }
}

/** Async variant of {@link withContext}. */
export async function withContextAsync<T>(context: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof TsbpfError) err.addContext(context);
    throw err;
  }
}
