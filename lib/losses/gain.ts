/**
 * GAIN attention mining: erase what the differentiable Grad-CAM attends
 * to, and penalise the class score that survives the erasure.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { requireSecondOrderGradients } from "../backend/second_order.ts";
import { assertImageShape } from "../models/image_shape.ts";
import type { TwoBranchModel } from "../models/types.ts";
import {
  assertNonNegative,
  oneHotLabels,
  type SampleWeights,
  sampleWeights,
  weightedMean,
} from "./_checks.ts";

/** Options of {@linkcode gainLoss}. */
export interface GainLossOptions {
  /**
   * The stage whose activations Grad-CAM weighs: its name in
   * `model.featureInfo` (`"block1"`) or its index.
   *
   * @default {the last stage}
   */
  layer?: string | number;
  /** The threshold σ of the soft mask `T(A) = sigmoid(ω·(A − σ))`. @default {0.5} */
  sigma?: number;
  /** The sharpness ω of the soft mask. @default {10} */
  omega?: number;
  /** The multiplier α of the attention-mining term. @default {1} */
  weight?: number;
  /**
   * Per-sample weights `[n]`. Attention mining needs no annotation, so by
   * default every sample takes part; 0 leaves a sample out.
   *
   * @default {undefined} (every sample weighs 1)
   */
  weights?: SampleWeights;
  /**
   * Run both passes in training mode (batch statistics, active dropout).
   * Neither pass updates batch-norm running statistics: the pass over the
   * erased image would otherwise overwrite them with statistics of
   * images the model never sees at test time.
   *
   * @default {true}
   */
  training?: boolean;
}

function stageIndex(model: TwoBranchModel, layer: string | number | undefined): number {
  const stages = model.featureInfo;
  if (layer === undefined) return stages.length - 1;
  const index = typeof layer === "number" ? layer : stages.findIndex((s) => s.name === layer);
  if (!Number.isInteger(index) || index < 0 || index >= stages.length) {
    throw new RangeError(
      `gainLoss: option "layer" must name a stage of ${model.name} (${
        stages.map((s, i) => `${i} "${s.name}"`).join(", ")
      }), got ${JSON.stringify(layer)}`,
    );
  }
  return index;
}

/**
 * The attention-mining loss of GAIN (Li, Wu, Peng, Ernst & Fu 2018, "Tell
 * Me Where to Look: Guided Attention Inference Network", eqs. 1–4). For
 * each sample, with `c` its label and `A` the activations `[h', w', C]` of
 * stage `layer`:
 *
 * 1. Grad-CAM, differentiably: `w_k = mean_{h',w'} ∂y_c/∂A_k` (`y_c` the
 *    class logit), `cam = ReLU(Σ_k w_k·A_k)`, divided by its maximum over
 *    pixels (so that the threshold σ means something; the paper leaves the
 *    scaling implicit), and resized bilinearly to the image.
 * 2. The soft mask `T = sigmoid(ω·(cam − σ))` and the erased image
 *    `I* = I − T ⊙ I`.
 * 3. The penalty is the softmax probability of class `c` left on `I*`:
 *    `L = weight · Σᵢ wᵢ·p_c(I*ᵢ) / Σᵢ wᵢ`.
 *
 * The gradient `∂y_c/∂A` is taken with `tf.grad` inside the loss, so it
 * stays on the tape and the loss is differentiable with respect to the
 * weights through the map as well as through the erased pass. Call it
 * inside `tf.variableGrads`, after `registerSecondOrderGradients()`
 * (`lib/backend/second_order.ts`); the model's layers after `layer` must
 * avoid `tf.logSoftmax`, whose second derivative tfjs 4.22 gets wrong.
 * Both passes run with
 * `updateStats: false`, so batch-norm running statistics are left as they
 * were; the caller's own classification pass updates them. In training
 * mode batch norm couples the samples of a batch, so each sample's
 * Grad-CAM weights carry a small part from the others. Returns the
 * weighted term only; the caller owns the scalar.
 *
 * @param model The model; its `forwardStages` and `forwardHead` are used.
 * @param images Images `[n, h, w, c]` in [0, 1] at the model's input shape.
 * @param labels Class indices `[n]`: the class whose evidence is erased.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { gainLoss } from "./gain.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { registerSecondOrderGradients } from "../backend/second_order.ts";
 * import { tf } from "../deps.ts";
 * registerSecondOrderGradients();
 * const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3], 0, 1, "float32", 1) as tf.Tensor4D;
 * const labels = tf.tensor1d([0, 1], "int32");
 * const { value, grads } = tf.variableGrads(() =>
 *   gainLoss(model, images, labels, { layer: "block1" })
 * );
 * const p = value.dataSync()[0];
 * assert.ok(p > 0 && p < 1); // the probability of the label left on the erased images
 * assert.ok(Object.keys(grads).length > 0);
 * tf.dispose([value, images, labels, ...Object.values(grads)]);
 * model.dispose();
 * ```
 */
export function gainLoss(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  labels: tf.Tensor1D,
  options: GainLossOptions = {},
): tf.Scalar {
  const name = "gainLoss";
  requireSecondOrderGradients(name);
  const sigma = options.sigma ?? 0.5;
  const omega = options.omega ?? 10;
  const weight = options.weight ?? 1;
  if (!Number.isFinite(sigma)) {
    throw new RangeError(`${name}: option "sigma" must be a finite number, got ${sigma}`);
  }
  assertNonNegative(name, "omega", omega);
  assertNonNegative(name, "weight", weight);
  const k = stageIndex(model, options.layer);
  assertImageShape(name, model.inputShape, images);
  const [n, h, w] = images.shape;
  const last = model.featureInfo.length - 1;
  return tf.tidy(() => {
    const onehot = oneHotLabels(name, labels, n, model.numClasses);
    const sw = sampleWeights(name, options.weights, n);
    const pass = { training: options.training ?? true, updateStats: false };
    const logitsFrom = (features: tf.Tensor4D): tf.Tensor2D => {
      const top = k < last
        ? model.forwardStages(features, { ...pass, from: k + 1 })[last - k - 1]
        : features;
      return model.forwardHead(top, pass);
    };
    const acts = model.forwardStages(images, { ...pass, to: k })[k];
    const dActs = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(logitsFrom(a as tf.Tensor4D), onehot)))(
      acts,
    );
    const channelWeights = tf.mean(dActs, [1, 2], true);
    const cam = tf.relu(tf.sum(tf.mul(channelWeights, acts), 3, true)) as tf.Tensor4D;
    const scaled = tf.div(cam, tf.add(tf.max(cam, [1, 2], true), 1e-8)) as tf.Tensor4D;
    const upsampled = tf.image.resizeBilinear(scaled, [h, w], false, true);
    const mask = tf.sigmoid(tf.mul(tf.sub(upsampled, sigma), omega));
    const erased = tf.sub(images, tf.mul(mask, images)) as tf.Tensor4D;
    const erasedStages = model.forwardStages(erased, pass);
    const probs = tf.softmax(model.forwardHead(erasedStages[last], pass));
    const score = tf.sum(tf.mul(probs, onehot), 1) as tf.Tensor1D;
    return tf.mul(weightedMean(score, sw), weight) as tf.Scalar;
  });
}
