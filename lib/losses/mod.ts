/**
 * Losses for the classification and saliency branches.
 *
 * @module
 */
export * from "./classification.ts";
export * from "./localization.ts";
