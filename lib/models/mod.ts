/**
 * Two-branch models: the contract, the architecture registry, the
 * reference network, the names of pretrained weights, and loading them into
 * a model.
 *
 * @module
 */
export * from "./types.ts";
export * from "./registry.ts";
export * from "./image_shape.ts";
export * from "./reference_net.ts";
export * from "./two_branch.ts";
export * from "./pretrained_keys.ts";
export * from "./pretrained.ts";
