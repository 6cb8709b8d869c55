/**
 * Layers: seeded, NHWC, each a {@linkcode Module} of named variables.
 *
 * @module
 */
export * from "./module.ts";
export * from "./convolutional.ts";
export * from "./normalization.ts";
export * from "./core.ts";
export * from "./checkpoint.ts";
export * from "./transformer.ts";
