/**
 * A `pipeline.replace` module: a factory for a stage that links as `link`
 * does and then tags the spec's metadata.
 *
 * @module
 */

import { linkStage } from "../../stages/link.ts";
import type { Stage } from "../../stages/pipeline.ts";

/** `my-link`: the built-in link, then `metadata.linkedBy = options.tag`. */
export default function myLink(options: Record<string, unknown>): Stage {
  const inner = linkStage();
  return {
    name: "my-link",
    async run(ctx) {
      await inner.run(ctx);
      ctx.metadata.linkedBy = String(options.tag ?? "my-link");
    },
  };
}
