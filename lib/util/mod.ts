/**
 * Small helpers with no tensor dependencies: seeded random numbers.
 *
 * @module
 */
export * from "./random.ts";
