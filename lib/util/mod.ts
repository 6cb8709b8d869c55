/**
 * Small helpers with no tensor dependencies: seeded random numbers, atomic
 * file writes, progress bars and the error about options.
 *
 * @module
 */
export * from "./random.ts";
export * from "./atomic.ts";
export * from "./progress.ts";
export * from "./fs.ts";
export * from "./glob.ts";
export * from "./option_error.ts";
