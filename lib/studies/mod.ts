/**
 * Studies: designs of baseline-vs-treatment comparisons as data, running
 * them seed by seed through the trainer, pooling seeds, the verdict, and
 * their summaries.
 *
 * @module
 */
export * from "./design.ts";
export * from "./compare.ts";
export * from "./summary.ts";
export * from "./gallery.ts";
export * from "./pictures.ts";
export * from "./run_study.ts";
