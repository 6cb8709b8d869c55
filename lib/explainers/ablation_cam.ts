/**
 * Ablation-CAM (Desai and Ramaswamy, WACV 2020).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import {
  type BatchOptions,
  type CamOptions,
  checkBatchSize,
  logitsFrom,
  perturbationScores,
  registerExplainer,
  runCam,
  targetScores,
} from "./core.ts";

/** Options of {@linkcode ablationCam}. */
export interface AblationCamOptions extends CamOptions, BatchOptions {}

/**
 * Ablation-CAM: channel `k`'s weight is the relative drop of the target
 * score when that channel of the layer's activations is set to zero,
 * `w_k = (y − y_k) / |y|`, and the map is `ReLU(Σ_k w_k A_k)`. Only the
 * stages after the layer run on the ablated activations, `batchSize` at a
 * time; no gradients.
 *
 * Departure: the paper divides by `y`; dividing by `|y|` (a zero score
 * gives zero weights) keeps a negative score from flipping the map and
 * otherwise only rescales it, which normalisation removes. Maps are divided
 * by their maximum. Images `[n, h, w, c]` → maps `[n, h, w]` in [0, 1]; the
 * caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { ablationCam } from "./ablation_cam.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = ablationCam(model, images, { layer: "block1" });
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function ablationCam(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: AblationCamOptions = {},
): tf.Tensor3D {
  const batchSize = options.batchSize ?? 64;
  checkBatchSize(batchSize);
  return runCam(model, images, options, {
    gradients: false,
    fixClasses: true,
    weights: ({ activations, layer, target }) => {
      const [n, , , k] = activations.shape;
      const rows = Int32Array.from({ length: n }, (_, i) => i);
      const y = targetScores(target, logitsFrom(model, activations, layer + 1), rows);
      const ablated = perturbationScores(model, target, {
        base: activations,
        from: layer + 1,
        count: k,
        batchSize,
        perturb: (a, _images, channel) => {
          const keep = tf.sub(1, tf.oneHot(tf.tensor1d(channel, "int32"), k).toFloat());
          return tf.mul(a, tf.reshape(keep, [channel.length, 1, 1, k])) as tf.Tensor4D;
        },
      });
      const yCol = tf.expandDims(y, 1);
      return tf.divNoNan(tf.sub(yCol, tf.transpose(ablated)), tf.abs(yCol)) as tf.Tensor2D;
    },
  });
}

registerExplainer("ablation-cam", ablationCam);
