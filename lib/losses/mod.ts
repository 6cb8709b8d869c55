/**
 * Losses for the classification and saliency branches: cross-entropy and
 * focal loss; BCE, Dice, soft IoU and KL against masks; a box loss; Right
 * for the Right Reasons and GAIN, which take gradients of gradients.
 *
 * @module
 */
export * from "./classification.ts";
export * from "./mask.ts";
export * from "./box.ts";
export * from "./rrr.ts";
export * from "./gain.ts";
export * from "./cam.ts";
export * from "./background_swap.ts";
