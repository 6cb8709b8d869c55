/**
 * Dataset loaders and generators, one file per format.
 *
 * @module
 */
export * from "./shapes.ts";
