/**
 * A module whose default export is neither a plugin nor a factory.
 *
 * @module
 */

/** Not a plugin. */
export default 42;
