/**
 * The backend contract: something that turns a {@link CollectionSpec} into
 * a result (live kernel objects, a VM collection, a JSON document).
 *
 * @module
 */

import type { CollectionSpec } from "../collection/spec.ts";

/** Turns a spec into something: kernel objects, a VM collection, a document. */
export interface Backend<R = unknown> {
  /** The name configs select it by (`json`, `kernel`, `vm`, or a plugin's). */
  readonly name: string;
  /** Build the result for `spec`. */
  load(spec: CollectionSpec, options?: Record<string, unknown>): Promise<R>;
}

/** What a backend factory gets from the loader besides its options. */
export interface BackendContext {
  /** VM helpers the plugins registered, by helper ID. */
  readonly helpers: ReadonlyMap<number, unknown>;
}

/** Makes a backend from its options (the config's `backend.options`). */
export interface BackendFactory {
  (options: Record<string, unknown>, context?: BackendContext): Backend;
  /**
   * JSON Schema of the options (the subset `config/` validates: type,
   * properties, additionalProperties, required, items, enum, minimum,
   * maximum, pattern, anyOf/oneOf, local `$ref`). When present, a config's
   * `backend.options` is checked against it before the factory runs.
   */
  readonly optionsSchema?: Readonly<Record<string, unknown>>;
}
