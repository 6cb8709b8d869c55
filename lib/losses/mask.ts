/**
 * Losses that supervise a saliency map with a mask: binary cross-entropy,
 * soft Dice, soft IoU and the KL divergence between the two as
 * distributions over pixels.
 *
 * **Convention.** Every saliency loss in `lib/losses/` takes the map as
 * **logits** `[n, h, w]`, before the sigmoid: the `saliencyLogits` of a
 * model's forward pass. The map in [0, 1] is `s = sigmoid(z)`. Logits keep
 * BCE numerically stable and let every loss share one input. Masks are
 * `[n, h, w]` in [0, 1] (soft masks allowed). The optional per-sample
 * `weights` `[n]` are 1 for annotated samples and 0 for the rest: a sample
 * of weight 0 contributes nothing, neither to the value nor to the
 * gradient, and the batch's loss is the weighted mean of the per-sample
 * losses, `Σ wᵢ·Lᵢ / Σ wᵢ` (0 when every weight is 0). Each loss returns a
 * scalar that the caller owns.
 *
 * @module
 */
import { tf } from "../deps.ts";
import {
  assertMapAndMask,
  assertNonNegative,
  type SampleWeights,
  sampleWeights,
  weightedMean,
} from "./_checks.ts";

/** Options shared by the saliency losses. */
export interface SaliencyLossOptions {
  /**
   * Per-sample weights `[n]`: 1 for a sample with an annotation, 0 for one
   * without (it then contributes nothing).
   *
   * @default {undefined} (every sample weighs 1)
   */
  weights?: SampleWeights;
}

/** Options of {@linkcode diceLoss} and {@linkcode softIouLoss}. */
export interface OverlapLossOptions extends SaliencyLossOptions {
  /**
   * Added to the numerator and the denominator. It keeps an empty mask
   * with an empty map at a perfect score, and the ratio finite. The
   * overlap of identical binary maps is 1 whatever its value.
   *
   * @default {1}
   */
  smooth?: number;
}

function checkSmooth(loss: string, smooth: number): void {
  assertNonNegative(loss, "smooth", smooth);
}

/**
 * Binary cross-entropy between the map `sigmoid(z)` and a mask, averaged
 * over pixels, then over samples by `weights`:
 *
 * `Lᵢ = mean_pixels[−m·log σ(z) − (1 − m)·log(1 − σ(z))]`, computed as
 * `max(z, 0) − z·m + log(1 + e^−|z|)`.
 *
 * @param saliencyLogits The map before the sigmoid, `[n, h, w]`.
 * @param masks Masks in [0, 1], `[n, h, w]`.
 *
 * @example Worked by hand
 * ```ts
 * import assert from "node:assert";
 * import { bceSaliencyLoss } from "./mask.ts";
 * import { tf } from "../deps.ts";
 * // σ(0) = 0.5 against a mask of 1: −ln 0.5
 * const z = tf.zeros([1, 2, 2]) as tf.Tensor3D, m = tf.ones([1, 2, 2]) as tf.Tensor3D;
 * assert.ok(Math.abs(bceSaliencyLoss(z, m).dataSync()[0] - Math.LN2) < 1e-6);
 * ```
 *
 * @example An unannotated sample contributes nothing
 * ```ts
 * import assert from "node:assert";
 * import { bceSaliencyLoss } from "./mask.ts";
 * import { tf } from "../deps.ts";
 * const z = tf.tensor3d([[[0]], [[50]]]), m = tf.tensor3d([[[1]], [[0]]]);
 * const loss = bceSaliencyLoss(z, m, { weights: [1, 0] });
 * // Only the first sample counts: ln 2, though the second one is badly wrong.
 * assert.ok(Math.abs(loss.dataSync()[0] - Math.LN2) < 1e-6);
 * ```
 */
export function bceSaliencyLoss(
  saliencyLogits: tf.Tensor3D,
  masks: tf.Tensor3D,
  options: SaliencyLossOptions = {},
): tf.Scalar {
  const name = "bceSaliencyLoss";
  assertMapAndMask(name, "saliencyLogits", saliencyLogits, "masks", masks);
  return tf.tidy(() => {
    const w = sampleWeights(name, options.weights, saliencyLogits.shape[0]);
    const z = saliencyLogits;
    const perPixel = tf.add(
      tf.sub(tf.relu(z), tf.mul(z, masks)),
      tf.log1p(tf.exp(tf.neg(tf.abs(z)))),
    );
    return weightedMean(tf.mean(perPixel, [1, 2]) as tf.Tensor1D, w);
  });
}

/**
 * `1 − score` per sample, weighted mean over samples, where `score` is made
 * from Σs·m, Σs and Σm per sample (s = σ(z)) and `smooth`: the shared body of
 * the overlap losses, after their checks.
 */
function overlapLoss(
  name: string,
  z: tf.Tensor3D,
  m: tf.Tensor3D,
  options: OverlapLossOptions,
  score: (inter: tf.Tensor1D, sumS: tf.Tensor1D, sumM: tf.Tensor1D, smooth: number) => tf.Tensor,
): tf.Scalar {
  const smooth = options.smooth ?? 1;
  checkSmooth(name, smooth);
  assertMapAndMask(name, "saliencyLogits", z, "masks", m);
  return tf.tidy(() => {
    const w = sampleWeights(name, options.weights, z.shape[0]);
    const s = tf.sigmoid(z);
    const inter = tf.sum(tf.mul(s, m), [1, 2]) as tf.Tensor1D;
    const sumS = tf.sum(s, [1, 2]) as tf.Tensor1D, sumM = tf.sum(m, [1, 2]) as tf.Tensor1D;
    return weightedMean(tf.sub(1, score(inter, sumS, sumM, smooth)) as tf.Tensor1D, w);
  });
}

/**
 * Soft Dice loss (Milletari et al. 2016, "V-Net"), per sample:
 *
 * `Lᵢ = 1 − (2·Σ s·m + smooth) / (Σ s + Σ m + smooth)`, with `s = σ(z)`,
 *
 * then the weighted mean over samples. The Dice of identical binary maps
 * is 1, so the loss is 0; disjoint maps give nearly 1.
 *
 * @param saliencyLogits The map before the sigmoid, `[n, h, w]`.
 * @param masks Masks in [0, 1], `[n, h, w]`.
 *
 * @example Identical maps: loss 0
 * ```ts
 * import assert from "node:assert";
 * import { diceLoss } from "./mask.ts";
 * import { tf } from "../deps.ts";
 * const m = tf.tensor3d([[[1, 0], [1, 1]]]);
 * const z = tf.sub(tf.mul(m, 60), 30) as tf.Tensor3D; // σ(±30) rounds to 1 and ~0
 * assert.ok(Math.abs(diceLoss(z, m).dataSync()[0]) < 1e-6);
 * ```
 *
 * @example Worked by hand
 * ```ts
 * import assert from "node:assert";
 * import { diceLoss } from "./mask.ts";
 * import { tf } from "../deps.ts";
 * // s = 0.5 everywhere on 4 pixels, mask 1 on 2: 1 − (2·1 + 1)/(2 + 2 + 1) = 0.4
 * const z = tf.zeros([1, 2, 2]) as tf.Tensor3D, m = tf.tensor3d([[[1, 1], [0, 0]]]);
 * assert.ok(Math.abs(diceLoss(z, m).dataSync()[0] - 0.4) < 1e-6);
 * ```
 */
export function diceLoss(
  saliencyLogits: tf.Tensor3D,
  masks: tf.Tensor3D,
  options: OverlapLossOptions = {},
): tf.Scalar {
  return overlapLoss(
    "diceLoss",
    saliencyLogits,
    masks,
    options,
    (inter, sumS, sumM, smooth) =>
      tf.div(tf.add(tf.mul(inter, 2), smooth), tf.add(tf.add(sumS, sumM), smooth)),
  );
}

/**
 * Soft IoU (Jaccard) loss (Rahman & Wang 2016, "Optimizing Intersection-
 * over-Union in Deep Neural Networks for Image Segmentation"), per sample:
 *
 * `Lᵢ = 1 − (Σ s·m + smooth) / (Σ s + Σ m − Σ s·m + smooth)`, `s = σ(z)`,
 *
 * then the weighted mean over samples. Identical binary maps give 0.
 *
 * @param saliencyLogits The map before the sigmoid, `[n, h, w]`.
 * @param masks Masks in [0, 1], `[n, h, w]`.
 *
 * @example Worked by hand
 * ```ts
 * import assert from "node:assert";
 * import { softIouLoss } from "./mask.ts";
 * import { tf } from "../deps.ts";
 * // s = 0.5 on 4 pixels, mask 1 on 2: 1 − (1 + 1)/(2 + 2 − 1 + 1) = 0.5
 * const z = tf.zeros([1, 2, 2]) as tf.Tensor3D, m = tf.tensor3d([[[1, 1], [0, 0]]]);
 * assert.ok(Math.abs(softIouLoss(z, m).dataSync()[0] - 0.5) < 1e-6);
 * ```
 */
export function softIouLoss(
  saliencyLogits: tf.Tensor3D,
  masks: tf.Tensor3D,
  options: OverlapLossOptions = {},
): tf.Scalar {
  return overlapLoss(
    "softIouLoss",
    saliencyLogits,
    masks,
    options,
    (inter, sumS, sumM, smooth) =>
      tf.div(tf.add(inter, smooth), tf.add(tf.sub(tf.add(sumS, sumM), inter), smooth)),
  );
}

/**
 * KL divergence from the normalised map to the normalised mask, as
 * distributions over pixels (as in the MIT saliency benchmark's KL
 * metric, Bylinskii et al. 2019). With `q = m / Σm` and `p = σ(z) / Σσ(z)`:
 *
 * `Lᵢ = KL(q ‖ p) = Σ q·(log q − log p)`,
 *
 * then the weighted mean over samples. `log p` is computed as
 * `logσ(z) − logsumexp(logσ(z))`, stable for any logits. It is 0 when the
 * map is proportional to the mask, and does not care about the map's scale.
 * A sample whose mask is all zero has no distribution: it is left out of
 * the mean, as if unannotated.
 *
 * @param saliencyLogits The map before the sigmoid, `[n, h, w]`.
 * @param masks Masks in [0, 1], `[n, h, w]`.
 *
 * @example The map proportional to the mask: 0
 * ```ts
 * import assert from "node:assert";
 * import { klSaliencyLoss } from "./mask.ts";
 * import { tf } from "../deps.ts";
 * const m = tf.tensor3d([[[0.2, 0.4], [0.6, 0.8]]]);
 * const s = tf.mul(m, 0.5); // half the mask: the same distribution
 * const z = tf.log(tf.div(s, tf.sub(1, s))) as tf.Tensor3D; // logit(s)
 * assert.ok(Math.abs(klSaliencyLoss(z, m).dataSync()[0]) < 1e-6);
 * ```
 *
 * @example Worked by hand
 * ```ts
 * import assert from "node:assert";
 * import { klSaliencyLoss } from "./mask.ts";
 * import { tf } from "../deps.ts";
 * // A uniform map (p = 1/4) against a mask on 2 of 4 pixels (q = 1/2):
 * // KL = 2 · ½ · ln(½ / ¼) = ln 2
 * const z = tf.zeros([1, 2, 2]) as tf.Tensor3D, m = tf.tensor3d([[[1, 1], [0, 0]]]);
 * assert.ok(Math.abs(klSaliencyLoss(z, m).dataSync()[0] - Math.LN2) < 1e-5);
 * ```
 */
export function klSaliencyLoss(
  saliencyLogits: tf.Tensor3D,
  masks: tf.Tensor3D,
  options: SaliencyLossOptions = {},
): tf.Scalar {
  const name = "klSaliencyLoss";
  assertMapAndMask(name, "saliencyLogits", saliencyLogits, "masks", masks);
  return tf.tidy(() => {
    const n = saliencyLogits.shape[0];
    const given = sampleWeights(name, options.weights, n) ?? tf.ones([n]);
    const logS = tf.logSigmoid(saliencyLogits);
    const logP = tf.sub(logS, tf.logSumExp(logS, [1, 2], true));
    const mSum = tf.sum(masks, [1, 2], true);
    const q = tf.div(masks, tf.maximum(mSum, 1e-12));
    const qLogQ = tf.sum(tf.mul(q, tf.log(tf.maximum(q, 1e-30))), [1, 2]);
    const kl = tf.sub(qLogQ, tf.sum(tf.mul(q, logP), [1, 2])) as tf.Tensor1D;
    const hasMass = tf.cast(tf.greater(tf.reshape(mSum, [n]), 0), "float32");
    return weightedMean(kl, tf.mul(given, hasMass) as tf.Tensor1D);
  });
}
