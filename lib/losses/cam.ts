/**
 * CAM supervision: a loss on the classifier's own class activation map
 * (Zhou et al. 2016), so that location annotations reach the decision
 * itself rather than a side branch.
 *
 * For a classifier that is global average pooling and a linear layer, the
 * logit of class c is `z_c = mean_{h,w} E_c(h, w) + b_c` with the class
 * evidence `E_c(h, w) = Σ_k w_ck A_k(h, w)`: the map decomposes the logit
 * exactly, so a loss on it needs first-order gradients only.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { assertRank, type SampleWeights, sampleWeights, weightedMean } from "./_checks.ts";

/** Options of {@linkcode camEvidenceLoss}. */
export interface CamEvidenceLossOptions {
  /**
   * Per-sample weights `[n]`: 1 for a sample with a mask, 0 for one without
   * (it then contributes nothing).
   *
   * @default {undefined} (every sample weighs 1)
   */
  weights?: SampleWeights;
}

/**
 * The share of the classifier's class-discriminative evidence that lies
 * outside the object. With the evidence `E` (`[n, h, w, C]`, see
 * `TwoBranchOutput.evidence`), its part that tells classes apart
 * `Ê_c = E_c − mean_c' E_c'`, the energy per cell `e = Σ_c Ê_c²`, and the
 * mask averaged onto the evidence grid `m` (the share of each cell inside
 * the object), per sample:
 *
 * `Lᵢ = Σ e·(1 − m) / Σ e`
 *
 * then the weighted mean over samples; a sample with an empty mask is left
 * out. Why this form: softmax ignores what every class gets alike, so only
 * `Ê` can move a decision. Penalising only the true class's positive
 * evidence outside the object would leave a loophole (evidence *against*
 * the other classes on a decoy decides just as well). A ratio rather than a
 * sum keeps the term in [0, 1] whatever the logits' scale, so one weight
 * fits every network, and it asks nothing about how evidence spreads inside
 * the object.
 *
 * @param evidence Class evidence `[n, h, w, C]`, at the features' resolution.
 * @param masks Object masks `[n, H, W]` in [0, 1], at the input resolution
 *   (averaged onto the `h × w` grid, area-weighted).
 *
 * @example Worked by hand
 * ```ts
 * import assert from "node:assert";
 * import { camEvidenceLoss } from "./cam.ts";
 * import { tf } from "../deps.ts";
 * // 2 classes on a 1×2 grid: the left cell says (+1, −1), the right cell (+3, +1).
 * // Centred: left (1, −1) → energy 2; right (1, −1) → energy 2. The object is the left cell.
 * const evidence = tf.tensor4d([[[[1, -1], [3, 1]]]]);
 * const mask = tf.tensor3d([[[1, 1, 0, 0]]]); // 1×4 pixels, left half
 * assert.ok(Math.abs(camEvidenceLoss(evidence, mask).dataSync()[0] - 0.5) < 1e-6);
 * // Evidence that every class shares tells nothing apart and costs nothing.
 * const shared = tf.tensor4d([[[[1, -1], [5, 5]]]]);
 * assert.ok(Math.abs(camEvidenceLoss(shared, mask).dataSync()[0]) < 1e-6);
 * ```
 */
export function camEvidenceLoss(
  evidence: tf.Tensor4D,
  masks: tf.Tensor3D,
  options: CamEvidenceLossOptions = {},
): tf.Scalar {
  const name = "camEvidenceLoss";
  assertRank(name, "evidence", evidence, 4);
  assertRank(name, "masks", masks, 3);
  const [n, h, w] = evidence.shape;
  if (masks.shape[0] !== n) {
    throw new RangeError(
      `${name}: "masks" has ${masks.shape[0]} samples but "evidence" has ${n}`,
    );
  }
  return tf.tidy(() => {
    const given = sampleWeights(name, options.weights, n) ?? tf.ones([n]);
    const centred = tf.sub(evidence, tf.mean(evidence, 3, true));
    const energy = tf.sum(tf.square(centred), 3) as tf.Tensor3D;
    const inside = maskOnGrid(masks, h, w);
    const total = tf.sum(energy, [1, 2]);
    const outside = tf.sum(tf.mul(energy, tf.sub(1, inside)), [1, 2]);
    const perSample = tf.div(outside, tf.maximum(total, 1e-12)) as tf.Tensor1D;
    const hasMask = tf.cast(tf.greater(tf.sum(masks, [1, 2]), 0), "float32");
    return weightedMean(perSample, tf.mul(given, hasMask) as tf.Tensor1D);
  });
}

/** `masks` `[n, H, W]` averaged onto an `h × w` grid: each cell's share inside. */
function maskOnGrid(masks: tf.Tensor3D, h: number, w: number): tf.Tensor3D {
  const [n, H, W] = masks.shape;
  if (H === h && W === w) return masks;
  const m4 = tf.reshape(masks, [n, H, W, 1]) as tf.Tensor4D;
  if (H % h === 0 && W % w === 0) {
    const pooled = tf.avgPool(m4, [H / h, W / w], [H / h, W / w], "valid");
    return tf.reshape(pooled, [n, h, w]) as tf.Tensor3D;
  }
  // Not a whole number of pixels per cell: bilinear, clipped to [0, 1].
  const resized = tf.clipByValue(tf.image.resizeBilinear(m4, [h, w], false, true), 0, 1);
  return tf.reshape(resized, [n, h, w]) as tf.Tensor3D;
}
