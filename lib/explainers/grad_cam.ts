/**
 * Grad-CAM (Selvaraju et al., ICCV 2017).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type CamOptions, registerExplainer, runCam } from "./core.ts";

/** Options of {@linkcode gradCam}. */
export interface GradCamOptions extends CamOptions {}

/**
 * Grad-CAM: each channel of the layer's activations `A` is weighted by the
 * spatial mean of the target score's gradient there, `w_k = mean_ij ∂y/∂A_ijk`,
 * and the map is `ReLU(Σ_k w_k A_k)`, upsampled bilinearly to the input.
 *
 * As in the paper the ReLU keeps positive evidence only; departures: the
 * target defaults to the predicted class's logit (the paper's `y^c` before
 * softmax), and each map is divided by its maximum (pytorch-grad-cam
 * subtracts the minimum first; after the ReLU the minimum is almost always
 * 0). Images `[n, h, w, c]` → maps `[n, h, w]` in [0, 1]; the caller
 * disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { gradCam } from "./grad_cam.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = gradCam(model, images, { layer: "block1", target: [0, 2] });
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function gradCam(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: GradCamOptions = {},
): tf.Tensor3D {
  return runCam(model, images, options, {
    gradients: true,
    weights: ({ gradients }) => tf.mean(gradients!, [1, 2]) as tf.Tensor2D,
  });
}

registerExplainer("grad-cam", gradCam);
