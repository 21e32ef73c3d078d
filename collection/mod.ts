/**
 * The model: {@link CollectionSpec}, {@link MapSpec}, {@link ProgramSpec},
 * and the kernel's enumerations for map and program types.
 *
 * @module
 */

export * from "./spec.ts";
export * from "./types.ts";
export * from "./variables.ts";
