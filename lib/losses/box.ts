/**
 * A saliency loss for bounding boxes, which are weaker than masks: the
 * object lies somewhere inside its box, but not every pixel of the box
 * belongs to it.
 *
 * The map is taken as logits `[n, h, w]`, as by every saliency loss here
 * (see `mask.ts`).
 *
 * @module
 */
import { tf } from "../deps.ts";
import {
  assertFraction,
  assertMapAndMask,
  type SampleWeights,
  sampleWeights,
  weightedMean,
} from "./_checks.ts";

/** Options of {@linkcode boxSaliencyLoss}. */
export interface BoxSaliencyLossOptions {
  /**
   * Per-sample weights `[n]`: 1 for a sample with boxes, 0 for one without
   * (it then contributes nothing).
   *
   * @default {undefined} (every sample weighs 1)
   */
  weights?: SampleWeights;
  /**
   * A weak floor on the mean of the map inside the boxes: the term
   * `max(0, minFill − mean_box σ(z))` is added. 0 turns it off. It stops
   * the map from fading out everywhere, without asking that the whole box
   * be salient (a small object in a large box meets a low floor).
   *
   * @default {0}
   */
  minFill?: number;
}

/**
 * Pushes the saliency energy into the boxes and penalises the energy
 * outside them, without demanding that every pixel of a box be salient.
 * With the map `s = σ(z)` and the boxes rasterised into `b` (1 inside any
 * box, 0 outside), per sample:
 *
 * `Lᵢ = Σ s·(1 − b) / Σ s  +  max(0, minFill − Σ s·b / Σ b)`
 *
 * The first term is the share of the map's energy that lies outside the
 * boxes (1 minus the share inside, the energy-based pointing game of Wang
 * et al. 2020, "Score-CAM", turned into a loss). It is 0 when all energy
 * lies inside, whatever its distribution there, and does not depend on the
 * map's scale. Then the weighted mean over samples. A sample whose box
 * mask is empty is left out of the mean.
 *
 * @param saliencyLogits The map before the sigmoid, `[n, h, w]`.
 * @param boxMasks The union of each sample's boxes, 1 inside and 0 outside,
 *   `[n, h, w]` (soft values allowed).
 *
 * @example All energy inside the box: 0
 * ```ts
 * import assert from "node:assert";
 * import { boxSaliencyLoss } from "./box.ts";
 * import { tf } from "../deps.ts";
 * const box = tf.tensor3d([[[1, 1, 0], [1, 1, 0], [0, 0, 0]]]);
 * // Only one pixel of the box is salient; the rest of the image is dark.
 * const z = tf.tensor3d([[[30, -30, -30], [-30, -30, -30], [-30, -30, -30]]]);
 * assert.ok(Math.abs(boxSaliencyLoss(z, box).dataSync()[0]) < 1e-6);
 * ```
 *
 * @example Worked by hand
 * ```ts
 * import assert from "node:assert";
 * import { boxSaliencyLoss } from "./box.ts";
 * import { tf } from "../deps.ts";
 * // A uniform map on 4 pixels with a box on 1: 3/4 of the energy is outside.
 * const z = tf.zeros([1, 2, 2]) as tf.Tensor3D, box = tf.tensor3d([[[1, 0], [0, 0]]]);
 * assert.ok(Math.abs(boxSaliencyLoss(z, box).dataSync()[0] - 0.75) < 1e-6);
 * ```
 */
export function boxSaliencyLoss(
  saliencyLogits: tf.Tensor3D,
  boxMasks: tf.Tensor3D,
  options: BoxSaliencyLossOptions = {},
): tf.Scalar {
  const name = "boxSaliencyLoss";
  const minFill = options.minFill ?? 0;
  assertFraction(name, "minFill", minFill);
  assertMapAndMask(name, "saliencyLogits", saliencyLogits, "boxMasks", boxMasks);
  return tf.tidy(() => {
    const n = saliencyLogits.shape[0];
    const given = sampleWeights(name, options.weights, n) ?? tf.ones([n]);
    const s = tf.sigmoid(saliencyLogits);
    const energy = tf.sum(s, [1, 2]);
    const outside = tf.sum(tf.mul(s, tf.sub(1, boxMasks)), [1, 2]);
    let perSample: tf.Tensor = tf.div(outside, tf.maximum(energy, 1e-12));
    const area = tf.sum(boxMasks, [1, 2]);
    if (minFill > 0) {
      const inside = tf.sum(tf.mul(s, boxMasks), [1, 2]);
      const fill = tf.div(inside, tf.maximum(area, 1e-12));
      perSample = tf.add(perSample, tf.relu(tf.sub(minFill, fill)));
    }
    const hasBox = tf.cast(tf.greater(area, 0), "float32");
    return weightedMean(perSample as tf.Tensor1D, tf.mul(given, hasBox) as tf.Tensor1D);
  });
}
