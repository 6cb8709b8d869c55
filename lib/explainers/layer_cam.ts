/**
 * LayerCAM (Jiang et al., IEEE TIP 2021).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type CamOptions, registerExplainer, runCam } from "./core.ts";

/** Options of {@linkcode layerCam}. */
export interface LayerCamOptions extends CamOptions {}

/**
 * LayerCAM: each activation weighted by its own positive gradient,
 * `ReLU(Σ_k ReLU(∂y/∂A_k) ⊙ A_k)`. The paper's extra scaling of shallow
 * layers (tanh of a scaled map) is not applied: with several layers each
 * map is normalised by its maximum before they are averaged. Images
 * `[n, h, w, c]` → maps `[n, h, w]` in [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { layerCam } from "./layer_cam.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([1, 16, 16, 3]) as tf.Tensor4D;
 * const maps = layerCam(model, images, { layer: "stem" });
 * assert.deepStrictEqual(maps.shape, [1, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function layerCam(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: LayerCamOptions = {},
): tf.Tensor3D {
  return runCam(model, images, options, {
    gradients: true,
    map: ({ activations, gradients }) =>
      tf.sum(tf.mul(tf.relu(gradients!), activations), 3) as tf.Tensor3D,
  });
}

registerExplainer("layer-cam", layerCam);
