/**
 * A plugin factory claiming the `license` section under a kind of its own;
 * two instances with different names conflict.
 *
 * @module
 */

import type { Plugin } from "../../plugins/types.ts";

/** A plugin named `options.name` (default `claim-a`) claiming `license`. */
export default function claimLicense(options: Record<string, unknown>): Plugin {
  const name = typeof options.name === "string" ? options.name : "claim-a";
  return { name, sectionKinds: [{ kind: `${name}.license`, prefix: "license" }] };
}
