/**
 * Small helpers with no tensor dependencies: seeded random numbers, atomic
 * file writes and progress bars.
 *
 * @module
 */
export * from "./random.ts";
export * from "./atomic.ts";
export * from "./progress.ts";
export * from "./fs.ts";
export * from "./glob.ts";
