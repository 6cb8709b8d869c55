/**
 * Input and output: images and masks through sharp, PNG writing, and a
 * reader for MATLAB v5 files.
 *
 * @module
 */
export * from "./png.ts";
export * from "./image.ts";
export * from "./mat5.ts";
