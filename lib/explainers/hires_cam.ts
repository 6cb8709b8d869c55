/**
 * HiResCAM (Draelos and Carin, 2020).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type CamOptions, registerExplainer, runCam } from "./core.ts";

/** Options of {@linkcode hiResCam}. */
export interface HiResCamOptions extends CamOptions {}

/**
 * HiResCAM: the element-wise product of the gradient and the activations,
 * summed over channels, `ReLU(Σ_k ∂y/∂A_k ⊙ A_k)`, with no spatial pooling
 * of the gradient, so the map follows the locations the score depends on.
 * The ReLU is pytorch-grad-cam's (the paper shows signed maps). Maps are
 * divided by their maximum. Images `[n, h, w, c]` → maps `[n, h, w]` in
 * [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { hiResCam } from "./hires_cam.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([1, 16, 16, 3]) as tf.Tensor4D;
 * const maps = hiResCam(model, images, { layer: ["block1", "block2"] });
 * assert.deepStrictEqual(maps.shape, [1, 16, 16]);
 * // Each layer's map is normalised, then the two are averaged.
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function hiResCam(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: HiResCamOptions = {},
): tf.Tensor3D {
  return runCam(model, images, options, {
    gradients: true,
    map: ({ activations, gradients }) => tf.sum(tf.mul(gradients!, activations), 3) as tf.Tensor3D,
  });
}

registerExplainer("hires-cam", hiResCam);
