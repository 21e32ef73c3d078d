/**
 * A plugin given as the named export `plugin`, with no default export.
 *
 * @module
 */

import type { Plugin } from "../../plugins/types.ts";

/** Records that it ran in the spec's metadata. */
export const plugin: Plugin = {
  name: "named",
  stages: [{ append: { name: "named-mark", run: (ctx) => void (ctx.metadata.named = true) } }],
};
