/**
 * Training: the optimisation step and the run record.
 *
 * @module
 */
export * from "./train_step.ts";
export * from "./run_info.ts";
