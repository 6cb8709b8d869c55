/**
 * The data model (samples, datasets, errors for bad data), annotation
 * helpers, splits, shortcut injection, and the pixel pipeline: transforms
 * that keep image, mask and boxes aligned, a disk cache, and batches.
 *
 * @module
 */
export * from "./types.ts";
export * from "./errors.ts";
export * from "./annotations.ts";
export * from "./splits.ts";
export * from "./shortcut.ts";
export * from "./transforms.ts";
export * from "./cache.ts";
export * from "./batches.ts";
export * from "./check_files.ts";
