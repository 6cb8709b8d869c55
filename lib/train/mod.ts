/**
 * Training: the optimisation step.
 *
 * @module
 */
export * from "./train_step.ts";
