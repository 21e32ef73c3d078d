/**
 * The `core` plugin: the five built-in stages, provided through the same
 * contract every other plugin uses.
 *
 * @module
 */

import { jsonBackendFactory } from "../backends/json/backend.ts";
import { kernelBackendFactory } from "../backends/kernel/backend.ts";
import { vmBackendFactory } from "../backends/vm/backend.ts";
import { btfStage } from "../stages/btf.ts";
import { classifyStage } from "../stages/classify.ts";
import { coreStage } from "../stages/core.ts";
import { linkStage } from "../stages/link.ts";
import { mapsStage } from "../stages/maps.ts";
import { readStage } from "../stages/read.ts";
import { relocateStage } from "../stages/relocate.ts";
import type { Plugin } from "./types.ts";

/**
 * The built-in plugin: `read` → `classify` → `btf` → `relocate` → `maps` → `link`
 * → `core`, and the `json`, `kernel` and `vm` backends.
 */
export function corePlugin(): Plugin {
  return {
    name: "core",
    stages: [
      { append: readStage() },
      { append: classifyStage() },
      { append: btfStage() },
      { append: relocateStage() },
      { append: mapsStage() },
      { append: linkStage() },
      // CO-RE is part of linking: stages other plugins place after link see its results.
      { after: "link", stage: coreStage() },
    ],
    backends: { json: jsonBackendFactory, kernel: kernelBackendFactory, vm: vmBackendFactory },
  };
}
