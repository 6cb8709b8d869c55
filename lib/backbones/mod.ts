/**
 * Backbones: feature extractors made of stages, each family in its own
 * file, all reached by name through {@linkcode createBackbone}.
 *
 * Importing this module registers every family: `plain_cnn`, `resnet18`,
 * `resnet34`, `mobilenet_v2` and `vgg11`.
 *
 * @example Usage
 * ```ts
 * import { createBackbone, listBackbones } from "./mod.ts";
 * console.log(listBackbones()); // [ "mobilenet_v2", "plain_cnn", "resnet18", "resnet34", "vgg11" ]
 * const backbone = createBackbone("plain_cnn", { width: 0.25 });
 * console.log(backbone.featureInfo.at(-1)); // { name: "stage4", channels: 64, reduction: 8 }
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
