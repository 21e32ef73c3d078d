/**
 * The record of externs the extern plugins left unresolved, with why, in
 * `CollectionSpec.metadata.externs.unresolved`: the backends quote it when
 * they refuse such an extern. Pure (no runtime APIs), so the VM backend can
 * import it.
 *
 * @module
 */

import type { JsonValue } from "../../collection/spec.ts";
import type { LoadContext } from "../../stages/context.ts";

/** Key of the extern record in `CollectionSpec.metadata`. */
export const EXTERNS_METADATA_KEY = "externs";

/**
 * Record why `name` stays unresolved, in `metadata.externs.unresolved`, so
 * a backend that refuses the extern can say why; and a warning.
 */
export function recordUnresolved(
  ctx: LoadContext,
  stage: string,
  name: string,
  reason: string,
): void {
  const record = externMetadata(ctx);
  const unresolved = record.unresolved as Record<string, JsonValue>;
  unresolved[name] = reason;
  ctx.diagnostics.push({ stage, level: "warning", message: `extern ${name}: ${reason}` });
}

function externMetadata(ctx: LoadContext): Record<string, JsonValue> {
  let record = ctx.metadata[EXTERNS_METADATA_KEY];
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    record = { unresolved: {} };
    ctx.metadata[EXTERNS_METADATA_KEY] = record;
  }
  const r = record as Record<string, JsonValue>;
  if (typeof r.unresolved !== "object" || r.unresolved === null || Array.isArray(r.unresolved)) {
    r.unresolved = {};
  }
  return r;
}

/**
 * Why the extern plugins left `name` unresolved, from a spec's metadata;
 * `undefined` when they recorded nothing (no plugin saw it).
 */
export function unresolvedReason(
  metadata: Readonly<Record<string, JsonValue>>,
  name: string,
): string | undefined {
  const record = metadata[EXTERNS_METADATA_KEY];
  if (typeof record !== "object" || record === null || Array.isArray(record)) return undefined;
  const unresolved = record.unresolved;
  if (typeof unresolved !== "object" || unresolved === null || Array.isArray(unresolved)) {
    return undefined;
  }
  const reason = unresolved[name];
  return typeof reason === "string" ? reason : undefined;
}
