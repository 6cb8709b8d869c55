/**
 * Classification losses: cross-entropy (with label smoothing and class
 * weights) and focal loss.
 *
 * Both take logits `[n, k]` and integer labels `[n]`, and return a scalar
 * that the caller owns.
 *
 * @module
 */
import { tf } from "../deps.ts";
import {
  assertFraction,
  assertNonNegative,
  assertRank,
  oneHotLabels,
  type SampleWeights,
  vectorOption,
} from "./_checks.ts";

/** Options of {@linkcode crossEntropyLoss}. */
export interface CrossEntropyLossOptions {
  /**
   * Label smoothing ε in [0, 1): the target puts `1 − ε` on the true class
   * and spreads ε evenly over all `k` classes (Szegedy et al. 2016).
   *
   * @default {0}
   */
  labelSmoothing?: number;
  /**
   * A weight per class, `[k]`, each at least 0. Each sample's loss is
   * weighted by its class's weight, and the mean divides by the sum of the
   * weights of the batch's labels, as PyTorch's `cross_entropy` does.
   *
   * @default {undefined} (every class weighs 1)
   */
  classWeights?: SampleWeights;
}

/**
 * Softmax cross-entropy of `logits: [n, k]` against class indices
 * `labels: [n]`, with optional label smoothing and class weights. With
 * `p = softmax(logits)`, `ε = labelSmoothing`, `q = (1 − ε)·onehot(y) + ε/k`
 * and class weights `w` (all 1 by default):
 *
 * `L = Σᵢ Σₖ w_k·q_ik·(−log p_ik) / Σᵢ w_{yᵢ}`
 *
 * which is PyTorch's `cross_entropy(weight=w, label_smoothing=ε)`. Labels
 * must be whole numbers in `[0, k)`; anything else throws a `RangeError`
 * naming the sample. The caller owns the scalar result.
 *
 * @example Two classes, equal logits: ln 2
 * ```ts
 * import assert from "node:assert";
 * import { crossEntropyLoss } from "./classification.ts";
 * import { tf } from "../deps.ts";
 * const loss = crossEntropyLoss(tf.tensor2d([[0, 0]]), tf.tensor1d([1], "int32"));
 * assert.ok(Math.abs(loss.dataSync()[0] - Math.LN2) < 1e-6);
 * ```
 *
 * @example Label smoothing, worked by hand
 * ```ts
 * import assert from "node:assert";
 * import { crossEntropyLoss } from "./classification.ts";
 * import { tf } from "../deps.ts";
 * // p = [1/4, 3/4]; with ε = 0.2 the target is [0.1, 0.9]:
 * // −0.1·ln(1/4) − 0.9·ln(3/4) = 0.1386 + 0.2589 = 0.3975
 * const logits = tf.tensor2d([[0, Math.log(3)]]);
 * const loss = crossEntropyLoss(logits, tf.tensor1d([1], "int32"), { labelSmoothing: 0.2 });
 * const expected = -0.1 * Math.log(1 / 4) - 0.9 * Math.log(3 / 4);
 * assert.ok(Math.abs(loss.dataSync()[0] - expected) < 1e-6);
 * ```
 *
 * @example Class weights: a weighted mean over the batch
 * ```ts
 * import assert from "node:assert";
 * import { crossEntropyLoss } from "./classification.ts";
 * import { tf } from "../deps.ts";
 * // Sample 0 (class 0) loses ln 2, sample 1 (class 1) loses ln(4/3);
 * // weights [3, 1] give (3·0.6931 + 1·0.2877) / 4 = 0.5918.
 * const logits = tf.tensor2d([[0, 0], [0, Math.log(3)]]);
 * const labels = tf.tensor1d([0, 1], "int32");
 * const loss = crossEntropyLoss(logits, labels, { classWeights: [3, 1] });
 * assert.ok(Math.abs(loss.dataSync()[0] - (3 * Math.LN2 + Math.log(4 / 3)) / 4) < 1e-6);
 * ```
 */
export function crossEntropyLoss(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  options: CrossEntropyLossOptions = {},
): tf.Scalar {
  const name = "crossEntropyLoss";
  const eps = options.labelSmoothing ?? 0;
  assertFraction(name, "labelSmoothing", eps, { below1: true });
  assertRank(name, "logits", logits, 2);
  const [n, k] = logits.shape;
  return tf.tidy(() => {
    const onehot = oneHotLabels(name, labels, n, k);
    const target = eps === 0 ? onehot : tf.add(tf.mul(onehot, 1 - eps), eps / k);
    const nll = tf.neg(tf.logSoftmax(logits));
    if (options.classWeights === undefined) return tf.mean(tf.sum(tf.mul(target, nll), 1));
    const w = vectorOption(name, "classWeights", options.classWeights, k, "class");
    const total = tf.sum(tf.mul(tf.mul(target, nll), w));
    const norm = tf.sum(tf.mul(onehot, w));
    return tf.div(total, tf.maximum(norm, 1e-12));
  });
}

/** Options of {@linkcode focalLoss}. */
export interface FocalLossOptions {
  /**
   * The focusing parameter γ ≥ 0: the factor `(1 − p_t)^γ` down-weights
   * well-classified samples. γ = 0 gives cross-entropy.
   *
   * @default {2}
   */
  gamma?: number;
  /**
   * The balancing factor α of Lin et al.: a number scales every sample, an
   * array `[k]` gives α_t per true class (the multi-class form of the
   * paper's α for the foreground class). Unlike `classWeights` it does not
   * renormalise the mean.
   *
   * @default {undefined} (α = 1)
   */
  alpha?: number | readonly number[];
  /**
   * A weight per class, `[k]`: the mean over the batch becomes a weighted
   * mean, `Σ w_{yᵢ}·FLᵢ / Σ w_{yᵢ}`, as in {@linkcode crossEntropyLoss}.
   *
   * @default {undefined} (every class weighs 1)
   */
  classWeights?: SampleWeights;
}

/**
 * Focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection",
 * eq. 5), in its softmax multi-class form. With `p_t` the softmax
 * probability of the true class:
 *
 * `FLᵢ = −α_t·(1 − p_t)^γ·log p_t`, `L = Σᵢ w_{yᵢ}·FLᵢ / Σᵢ w_{yᵢ}`
 *
 * (plain mean without `classWeights`). With γ = 0 and no α it equals
 * {@linkcode crossEntropyLoss}. `1 − p_t` is floored at 1e-12 so that the
 * gradient stays finite when `p_t` rounds to 1. The caller owns the result.
 *
 * @example Worked by hand
 * ```ts
 * import assert from "node:assert";
 * import { focalLoss } from "./classification.ts";
 * import { tf } from "../deps.ts";
 * // p_t = 3/4: −(1/4)²·ln(3/4) = 0.0625 · 0.2877 = 0.0180
 * const logits = tf.tensor2d([[0, Math.log(3)]]);
 * const loss = focalLoss(logits, tf.tensor1d([1], "int32"), { gamma: 2 });
 * assert.ok(Math.abs(loss.dataSync()[0] - -((1 / 4) ** 2) * Math.log(3 / 4)) < 1e-6);
 * ```
 *
 * @example α per class
 * ```ts
 * import assert from "node:assert";
 * import { focalLoss } from "./classification.ts";
 * import { tf } from "../deps.ts";
 * const logits = tf.tensor2d([[0, Math.log(3)]]);
 * const loss = focalLoss(logits, tf.tensor1d([1], "int32"), { alpha: [0.75, 0.25] });
 * // α of the true class (1) times the γ = 2 loss above: 0.25 · 0.0180 = 0.0045
 * assert.ok(Math.abs(loss.dataSync()[0] - 0.25 * -((1 / 4) ** 2) * Math.log(3 / 4)) < 1e-6);
 * ```
 */
export function focalLoss(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  options: FocalLossOptions = {},
): tf.Scalar {
  const name = "focalLoss";
  const gamma = options.gamma ?? 2;
  assertNonNegative(name, "gamma", gamma);
  const alpha = options.alpha;
  if (typeof alpha === "number") assertNonNegative(name, "alpha", alpha);
  assertRank(name, "logits", logits, 2);
  const [n, k] = logits.shape;
  return tf.tidy(() => {
    const onehot = oneHotLabels(name, labels, n, k);
    const logPt = tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1);
    let perSample: tf.Tensor = tf.neg(logPt);
    if (gamma > 0) {
      const rest = tf.maximum(tf.sub(1, tf.exp(logPt)), 1e-12);
      perSample = tf.mul(gamma === 1 ? rest : tf.pow(rest, gamma), perSample);
    }
    if (typeof alpha === "number") {
      perSample = tf.mul(perSample, alpha);
    } else if (alpha !== undefined) {
      const a = vectorOption(name, "alpha", alpha, k, "class");
      perSample = tf.mul(perSample, tf.sum(tf.mul(onehot, a), 1));
    }
    if (options.classWeights === undefined) return tf.mean(perSample);
    const w = tf.sum(
      tf.mul(onehot, vectorOption(name, "classWeights", options.classWeights, k, "class")),
      1,
    );
    return tf.div(tf.sum(tf.mul(perSample, w)), tf.maximum(tf.sum(w), 1e-12));
  });
}
