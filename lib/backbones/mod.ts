/**
 * Backbones: feature extractors made of stages, each family in its own
 * file, all reached by name through {@linkcode createBackbone}.
 *
 * Importing this module registers every family: `plain_cnn`, `resnet18`,
 * `resnet34`, `resnet50`, `resnet101`, `mobilenet_v2`, `vgg11`,
 * `vgg11_bn`, and the vision transformers `vit_{tiny,small,base}_patch16_224`,
 * `deit_{tiny,small,base}_patch16_224` and `vit_b_16`.
 *
 * @example Usage
 * ```ts
 * import { createBackbone, listBackbones } from "./mod.ts";
 * import assert from "node:assert";
 * assert.deepEqual(listBackbones().filter((n) => !/^(vit|deit)_/.test(n)), [
 *   "mobilenet_v2", "plain_cnn", "resnet101", "resnet18", "resnet34", "resnet50", "vgg11", "vgg11_bn",
 * ]);
 * assert.deepEqual(listBackbones("deit_*"), [
 *   "deit_base_patch16_224", "deit_small_patch16_224", "deit_tiny_patch16_224",
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
export * from "./vit.ts";
