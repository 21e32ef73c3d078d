/**
 * A plugin factory that fails, as one would on options it cannot use.
 *
 * @module
 */

import type { Plugin } from "../../plugins/types.ts";

/** Always throws. */
export default function throwingFactory(options: Record<string, unknown>): Promise<Plugin> {
  return Promise.reject(new Error(`cannot use options ${JSON.stringify(options)}`));
}
