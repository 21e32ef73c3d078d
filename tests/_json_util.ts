/**
 * Test helpers for `backends/json`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { JsonSpecError } from "../backends/json/mod.ts";

/** Assert `fn` throws a JsonSpecError with `code` at `path`, its message starting with the path. */
export function assertJsonError(fn: () => unknown, code: string, path: string): JsonSpecError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof JsonSpecError, `want a JsonSpecError, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.path, path, caught.message);
  if (path !== "") assert.ok(caught.message.startsWith(`${path}: `), caught.message);
  return caught;
}
