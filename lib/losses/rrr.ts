/**
 * Right for the Right Reasons: an input-gradient penalty that keeps a
 * classifier from relying on a region of the image.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { requireSecondOrderGradients } from "../backend/second_order.ts";
import { assertImageShape } from "../models/image_shape.ts";
import type { TwoBranchModel } from "../models/types.ts";
import {
  assertNonNegative,
  assertRank,
  oneHotLabels,
  type SampleWeights,
  sampleWeights,
  weightedMean,
} from "./_checks.ts";

/** What the `region` of {@linkcode rrrLoss} marks. */
export type RrrMode = "must-not-matter" | "outside-object";

/** Options of {@linkcode rrrLoss}. */
export interface RrrLossOptions {
  /**
   * A mask `[n, h, w]` in [0, 1] at the images' size; its meaning depends on
   * `mode`. Soft values weight the penalty.
   */
  region: tf.Tensor3D;
  /**
   * `"must-not-matter"`: `region` is 1 where the input must not matter (a
   * known shortcut, say), and the penalty applies there. `"outside-object"`:
   * `region` is the object's mask, and the penalty applies to `1 − region`.
   * Required, because mixing the two up inverts the loss.
   */
  mode: RrrMode;
  /**
   * The multiplier λ of the penalty. In a pilot on a shortcut task it
   * needed a sweep: too large stalls learning, most of all in
   * `"outside-object"` mode, where the penalised region is most of the
   * image.
   *
   * @default {1}
   */
  weight?: number;
  /**
   * Per-sample weights `[n]`: 1 for a sample with a region, 0 for one
   * without (it then contributes nothing).
   *
   * @default {undefined} (every sample weighs 1)
   */
  weights?: SampleWeights;
  /**
   * Which log-probabilities to differentiate: `"all"` sums every class's,
   * as Ross et al. do; `"label"` takes only the true class's.
   *
   * @default {"all"}
   */
  classes?: "all" | "label";
  /**
   * Run the model in training mode (batch statistics, active dropout), as
   * the classification pass of a training step does. Batch-norm running
   * statistics are never updated by this loss either way.
   *
   * @default {true}
   */
  training?: boolean;
}

/**
 * The Right for the Right Reasons penalty (Ross, Hughes & Doshi-Velez 2017,
 * "Right for the Right Reasons: Training Differentiable Models by
 * Constraining their Explanations", eq. 1, second term). With `A` the
 * penalised region (`region`, or `1 − region` in `"outside-object"` mode)
 * broadcast over channels and `log p̂` the model's log-softmax:
 *
 * `Pᵢ = Σ_{h,w,c} (A_ihw · ∂/∂x_ihwc Σ_k log p̂_ik)²`, `L = weight · Σᵢ wᵢ·Pᵢ / Σᵢ wᵢ`
 *
 * The sum over pixels follows the paper; the mean over samples (rather
 * than the paper's sum) keeps the weight independent of the batch size.
 * The input gradient is taken with `tf.grad` inside the loss, so the
 * penalty is differentiable with respect to the weights (double
 * backpropagation): call it inside `tf.variableGrads`. That needs the
 * gradients of gradient kernels that `registerSecondOrderGradients()`
 * (`lib/backend/second_order.ts`) defines, and a model whose
 * classification path avoids `tf.logSoftmax` (its second derivative is
 * wrong in tfjs 4.22; this loss uses `z − logSumExp(z)`). Only the classification path
 * runs (the backbone and `forwardHead`), in its own forward pass. In
 * training mode batch norm couples the samples of a batch, so each
 * sample's input gradient also carries a small part from the others.
 * Returns the weighted penalty only (add the classification loss
 * yourself); the caller owns the scalar.
 *
 * @param model The model; its `forwardStages` and `forwardHead` are used.
 * @param images Images `[n, h, w, c]` at the model's input shape.
 * @param labels Class indices `[n]` (used with `classes: "label"`, checked always).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { rrrLoss } from "./rrr.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { registerSecondOrderGradients } from "../backend/second_order.ts";
 * import { tf } from "../deps.ts";
 * registerSecondOrderGradients();
 * const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3], 0, 1, "float32", 1) as tf.Tensor4D;
 * const labels = tf.tensor1d([0, 1], "int32");
 * const masks = tf.zeros([2, 8, 8]) as tf.Tensor3D; // no object: penalise everywhere
 * const { value, grads } = tf.variableGrads(() =>
 *   rrrLoss(model, images, labels, { region: masks, mode: "outside-object", weight: 10 })
 * );
 * assert.ok(value.dataSync()[0] > 0);
 * assert.ok(Object.keys(grads).length > 0); // it trains the model's weights
 * tf.dispose([value, images, labels, masks, ...Object.values(grads)]);
 * model.dispose();
 * ```
 */
export function rrrLoss(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  labels: tf.Tensor1D,
  options: RrrLossOptions,
): tf.Scalar {
  const name = "rrrLoss";
  const { region, mode } = options;
  const weight = options.weight ?? 1;
  const classes = options.classes ?? "all";
  assertNonNegative(name, "weight", weight);
  if (mode !== "must-not-matter" && mode !== "outside-object") {
    throw new TypeError(
      `${name}: option "mode" must be "must-not-matter" or "outside-object", got ${
        JSON.stringify(mode)
      }`,
    );
  }
  if (classes !== "all" && classes !== "label") {
    throw new TypeError(
      `${name}: option "classes" must be "all" or "label", got ${JSON.stringify(classes)}`,
    );
  }
  assertImageShape(name, model.inputShape, images);
  const [n, h, w] = images.shape;
  if (!(region instanceof tf.Tensor)) {
    throw new TypeError(`${name}: option "region" must be a tensor [${n}, ${h}, ${w}]`);
  }
  assertRank(name, "region", region, 3);
  if (region.shape.join() !== [n, h, w].join()) {
    throw new RangeError(
      `${name}: option "region" must have shape [${n}, ${h}, ${w}] (the images' batch and size), got [${
        region.shape.join(", ")
      }]`,
    );
  }
  requireSecondOrderGradients(name);
  return tf.tidy(() => {
    const onehot = oneHotLabels(name, labels, n, model.numClasses);
    const sw = sampleWeights(name, options.weights, n);
    const pass = { training: options.training ?? true, updateStats: false };
    const inputGrad = tf.grad((x: tf.Tensor) => {
      const stages = model.forwardStages(x as tf.Tensor4D, pass);
      const logits = model.forwardHead(stages[stages.length - 1], pass);
      // Not tf.logSoftmax: its gradient drops the second-order term.
      const logp = tf.sub(logits, tf.logSumExp(logits, 1, true));
      return classes === "all" ? tf.sum(logp) : tf.sum(tf.mul(logp, onehot));
    })(images);
    const area = mode === "must-not-matter" ? region : tf.sub(1, region);
    const masked = tf.mul(inputGrad, tf.expandDims(area, 3));
    const perSample = tf.sum(tf.square(masked), [1, 2, 3]) as tf.Tensor1D;
    return tf.mul(weightedMean(perSample, sw), weight) as tf.Scalar;
  });
}
