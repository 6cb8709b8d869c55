/**
 * Training: the optimisation step, optimisers and schedules, the trainer
 * with checkpoints and resume, saving and loading models, transfer, and
 * the run record.
 *
 * @module
 */
export * from "./train_step.ts";
export * from "./run_info.ts";
export * from "./optim.ts";
export * from "./trainer.ts";
export * from "./save_load.ts";
export * from "./transfer.ts";
export * from "./mixed_loss.ts";
