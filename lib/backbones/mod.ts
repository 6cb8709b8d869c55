/**
 * Backbones: feature extractors made of stages, each family in its own
 * file, all reached by name through {@linkcode createBackbone}.
 *
 * Importing this module registers every family: `plain_cnn`, `resnet18`,
 * `resnet34`, `resnet50`, `resnet101`, `mobilenet_v2`, `vgg11` and
 * `vgg11_bn`.
 *
 * @example Usage
 * ```ts
 * import { createBackbone, listBackbones } from "./mod.ts";
 * import assert from "node:assert";
 * assert.deepEqual(listBackbones(), [
 *   "mobilenet_v2", "plain_cnn", "resnet101", "resnet18", "resnet34", "resnet50", "vgg11", "vgg11_bn",
 * ]);
 * const backbone = createBackbone("plain_cnn", { width: 0.25 });
 * assert.deepEqual(backbone.featureInfo.at(-1), { name: "stage4", channels: 64, reduction: 8 });
 * backbone.dispose();
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./registry.ts";
export * from "./plain_cnn.ts";
export * from "./resnet.ts";
export * from "./mobilenet_v2.ts";
export * from "./vgg.ts";
