/**
 * Two-branch models: the contract and the reference network.
 *
 * @module
 */
export * from "./types.ts";
export * from "./reference_net.ts";
