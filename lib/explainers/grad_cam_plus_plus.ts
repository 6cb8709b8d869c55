/**
 * Grad-CAM++ (Chattopadhay et al., WACV 2018).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type CamOptions, registerExplainer, runCam } from "./core.ts";

/** Options of {@linkcode gradCamPlusPlus}. */
export interface GradCamPlusPlusOptions extends CamOptions {}

/**
 * Grad-CAM++: channel weights `w_k = Σ_ij α_ijk ReLU(g_ijk)` with
 * `α_ijk = g²/(2g² + Σ_ab A_abk · g³)` (0 where `g = 0`), `g` the gradient
 * of the target score at the layer, then `ReLU(Σ_k w_k A_k)`.
 *
 * Departure from the paper, shared with pytorch-grad-cam and the authors'
 * code: the higher derivatives are those of `exp(score)` written with first
 * derivatives only (exact for a piecewise-linear network), whatever the
 * target. Maps are divided by their maximum. Images `[n, h, w, c]` → maps
 * `[n, h, w]` in [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { gradCamPlusPlus } from "./grad_cam_plus_plus.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([1, 16, 16, 3]) as tf.Tensor4D;
 * const maps = gradCamPlusPlus(model, images);
 * assert.deepStrictEqual(maps.shape, [1, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function gradCamPlusPlus(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: GradCamPlusPlusOptions = {},
): tf.Tensor3D {
  return runCam(model, images, options, {
    gradients: true,
    weights: ({ activations, gradients }) => {
      const g = gradients!;
      const g2 = tf.square(g), g3 = tf.mul(g2, g);
      const sumA = tf.sum(activations, [1, 2], true);
      const denom = tf.add(tf.mul(g2, 2), tf.mul(sumA, g3));
      const alpha = tf.where(tf.notEqual(g, 0), tf.divNoNan(g2, denom), tf.zerosLike(g));
      return tf.sum(tf.mul(alpha, tf.relu(g)), [1, 2]) as tf.Tensor2D;
    },
  });
}

registerExplainer("grad-cam++", gradCamPlusPlus);
