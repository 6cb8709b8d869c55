/**
 * saliency-lab: explainable image classification on small datasets.
 *
 * Two-branch networks (a classifier and a saliency map on a shared
 * backbone), trained with location supervision where the data has it, on
 * the fastest tfjs engine the machine has.
 *
 * @example Train one step of the reference two-branch network
 * ```ts
 * import assert from "node:assert";
 * import { createReferenceNet, createTrainStep, initBackend, tf } from "./mod.ts";
 * await initBackend({ backend: "wasm", log: null });
 * const model = createReferenceNet({ numClasses: 2, inputSize: 16, width: 0.25 });
 * const step = createTrainStep(model, tf.train.adam(1e-3));
 * const images = tf.randomUniform([4, 16, 16, 3]) as tf.Tensor4D;
 * const labels = tf.tensor1d([0, 1, 0, 1], "int32");
 * const masks = tf.zeros([4, 16, 16]) as tf.Tensor3D;
 * const losses = await step({ images, labels, masks });
 * // The default loss: cross-entropy plus the mask term (weight 1)
 * assert.deepStrictEqual(Object.keys(losses), ["loss", "ce", "mask"]);
 * assert.ok(Math.abs(losses.loss - (losses.ce + losses.mask)) < 1e-5);
 * tf.dispose([images, labels, masks]);
 * model.dispose();
 * ```
 *
 * @module
 */
export { loadCpuBackend, loadWasmBackend, tf, TFJS_VERSION } from "./lib/deps.ts";
export * from "./lib/backend/mod.ts";
export * from "./lib/util/mod.ts";
export * from "./lib/layers/mod.ts";
export * from "./lib/backbones/mod.ts";
export * from "./lib/heads/mod.ts";
export * from "./lib/explainers/mod.ts";
export * from "./lib/metrics/mod.ts";
export * from "./lib/eval/mod.ts";
export * from "./lib/viz/mod.ts";
export * from "./lib/models/mod.ts";
export * from "./lib/losses/mod.ts";
export * from "./lib/train/mod.ts";
export * from "./lib/io/mod.ts";
export * from "./lib/data/mod.ts";
export * from "./lib/studies/mod.ts";
export { VERSION } from "./lib/version.ts";
export * from "./datasets/mod.ts";
