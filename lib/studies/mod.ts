/**
 * Studies: the logic behind the tasks that train and compare many models
 * (`compare-gradcam`, `sweep`, `transfer`, `bench`) so that each task only
 * parses flags, runs and writes. compare-gradcam's design is data: its
 * arms, the maps it scores and the verdict's tests.
 *
 * @module
 */
export * from "./design.ts";
export * from "./compare.ts";
export * from "./summary.ts";
export * from "./gallery.ts";
export * from "./pictures.ts";
export * from "./run_study.ts";
export * from "./sweep.ts";
export * from "./transfer.ts";
export * from "./bench.ts";
export * from "./train_run.ts";
