/**
 * The data model: samples, datasets, and the errors for bad data.
 *
 * @module
 */
export * from "./types.ts";
export * from "./errors.ts";
