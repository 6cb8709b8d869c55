/**
 * Two-branch models: the contract, the architecture registry, the
 * reference network, and the names of pretrained weights.
 *
 * @module
 */
export * from "./types.ts";
export * from "./registry.ts";
export * from "./image_shape.ts";
export * from "./reference_net.ts";
export * from "./two_branch.ts";
export * from "./pretrained_keys.ts";
