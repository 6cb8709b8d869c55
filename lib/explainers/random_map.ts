/**
 * A random map: the control every faithfulness claim is measured against.
 * A map is the model's reason only if deleting what it calls salient hurts
 * the prediction clearly faster than deleting at random.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type ExplainOptions, registerExplainer, runExplainer } from "./core.ts";

/** Options of {@linkcode randomMap}. The map takes no target. */
export interface RandomMapOptions extends Omit<ExplainOptions, "target"> {
  /**
   * The side of the grid of independent uniform values, upsampled
   * bilinearly to the input size; by default the last stage's grid, so that
   * the control is as coarse as a CAM.
   *
   * @default {the input size over the last stage's reduction}
   */
  cells?: number;
  /** Seed, mixed with each image's content, so that a map depends on the image alone. @default {0} */
  seed?: number;
}

/**
 * Uniform random maps, as coarse as the model's CAMs, for each image:
 * reproducible (the stream is seeded by `seed` and a hash of the image's
 * pixels, so batching does not change it) and unrelated to the model. Its
 * deletion and insertion AUCs are what chance gives; compare-gradcam's
 * verdict calls a map "not the model's reason" unless its deletion AUC is
 * clearly below this one's. Images `[n, h, w, c]` → maps `[n, h, w]` in
 * [0, 1]; the caller disposes them.
 *
 * @example Reproducible, image by image, and unrelated across images
 * ```ts
 * import assert from "node:assert";
 * import { randomMap } from "./random_map.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3], 0, 1, "float32", 3) as tf.Tensor4D;
 * const both = randomMap(model, images);
 * const second = randomMap(model, images.slice([1], [1]) as tf.Tensor4D);
 * assert.deepStrictEqual(both.shape, [2, 16, 16]);
 * assert.deepStrictEqual(both.slice([1], [1]).dataSync(), second.dataSync());
 * assert.notDeepStrictEqual(both.slice([0], [1]).dataSync(), second.dataSync());
 * tf.dispose([images, both, second]);
 * model.dispose();
 * ```
 */
export function randomMap(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: RandomMapOptions = {},
): tf.Tensor3D {
  const [h, w] = model.inputShape;
  const last = model.featureInfo[model.featureInfo.length - 1];
  const cells = options.cells ?? Math.max(1, Math.round(Math.max(h, w) / last.reduction));
  if (!Number.isInteger(cells) || cells < 1) {
    throw new RangeError(`Option "cells" must be a positive integer, got ${options.cells}`);
  }
  const seed = options.seed ?? 0;
  return runExplainer(model, images, options, ({ images }) =>
    tf.tidy(() => {
      const n = images.shape[0];
      const size = images.shape[1] * images.shape[2] * images.shape[3];
      // A hash of each image's pixels (a fixed pseudo-random weighting of them), on the engine:
      // no value is read back, so it runs on engines that cannot read synchronously.
      const weights = tf.randomUniform([size], 0.5, 1.5, "float32", 7919);
      const hash = tf.sum(tf.mul(tf.reshape(images, [n, size]), weights), 1, true);
      const k = cells * cells;
      const scale = tf.randomUniform([1, k], 0.5, 1.5, "float32", 101 + seed);
      const shift = tf.randomUniform([1, k], 0, 2 * Math.PI, "float32", 202 + seed);
      // The shader hash fract(sin(x) · 43758.5453): uniform-looking values in [0, 1) per cell.
      const x = tf.mul(tf.sin(tf.add(tf.mul(hash, scale), shift)), 43758.5453);
      const grids = tf.reshape(tf.sub(x, tf.floor(x)), [n, cells, cells, 1]) as tf.Tensor4D;
      const up = tf.image.resizeBilinear(grids, [h, w], false, true);
      return tf.reshape(up, [n, h, w]) as tf.Tensor3D;
    }), { usesTarget: false });
}

registerExplainer("random", randomMap);
