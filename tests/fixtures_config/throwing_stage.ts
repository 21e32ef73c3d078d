/**
 * A plugin (a plain object, no factory) whose stage rejects every object
 * with programs.
 *
 * @module
 */

import { PipelineError } from "../../errors/mod.ts";
import type { Plugin } from "../../plugins/types.ts";

/** Adds `no-programs` after `link`. */
const plugin: Plugin = {
  name: "no-programs",
  stages: [{
    after: "link",
    stage: {
      name: "no-programs",
      run(ctx) {
        if (ctx.programs.size > 0) {
          throw new PipelineError("CHECK_FAILED", `${ctx.programs.size} programs, none allowed`);
        }
      },
    },
  }],
};
export default plugin;
