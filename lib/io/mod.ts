/**
 * Image input and output (sharp).
 *
 * @module
 */
export * from "./png.ts";
export * from "./image.ts";
