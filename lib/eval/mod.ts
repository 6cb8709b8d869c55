/**
 * The evaluator: every metric for a model and its explainers over a dataset.
 *
 * @module
 */
export * from "./evaluate.ts";
