/**
 * Studies: the logic behind the tasks that compare many trained models
 * (`sweep`, `transfer`, `bench`), so that each task only parses flags, runs
 * and writes.
 *
 * @module
 */
export * from "./sweep.ts";
export * from "./transfer.ts";
export * from "./bench.ts";
