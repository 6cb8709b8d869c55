/**
 * XGrad-CAM (Fu et al., BMVC 2020).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type CamOptions, registerExplainer, runCam } from "./core.ts";

/** Options of {@linkcode xGradCam}. */
export interface XGradCamOptions extends CamOptions {}

/**
 * XGrad-CAM: channel weights `w_k = Σ_ij (A_ijk / Σ_ab A_abk) ∂y/∂A_ijk`
 * (the gradient averaged with the activation as weight; 0 for an all-zero
 * channel), then `ReLU(Σ_k w_k A_k)`. Maps are divided by their maximum.
 * Images `[n, h, w, c]` → maps `[n, h, w]` in [0, 1]; the caller disposes
 * them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { xGradCam } from "./xgrad_cam.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([1, 16, 16, 3]) as tf.Tensor4D;
 * const maps = xGradCam(model, images);
 * assert.deepStrictEqual(maps.shape, [1, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function xGradCam(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: XGradCamOptions = {},
): tf.Tensor3D {
  return runCam(model, images, options, {
    gradients: true,
    weights: ({ activations, gradients }) => {
      const share = tf.divNoNan(activations, tf.sum(activations, [1, 2], true));
      return tf.sum(tf.mul(share, gradients!), [1, 2]) as tf.Tensor2D;
    },
  });
}

registerExplainer("xgrad-cam", xGradCam);
