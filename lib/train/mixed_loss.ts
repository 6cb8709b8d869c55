/**
 * A weighted sum of the classification and saliency losses, as a loss for
 * {@linkcode train}, logging every term separately.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { crossEntropyLoss, focalLoss } from "../losses/classification.ts";
import { bceSaliencyLoss, diceLoss, klSaliencyLoss, softIouLoss } from "../losses/mask.ts";
import { boxSaliencyLoss } from "../losses/box.ts";
import { rrrLoss } from "../losses/rrr.ts";
import type { RrrMode } from "../losses/rrr.ts";
import { gainLoss } from "../losses/gain.ts";
import type { LossFn } from "./train_step.ts";

/** Weight of each loss term; a term with weight 0 (the default, but for `ce`) is not computed. */
export interface LossWeights {
  /** Cross-entropy of the classifier. @default {1} */
  ce?: number;
  /** Focal loss of the classifier (Lin et al. 2017). @default {0} */
  focal?: number;
  /** BCE of the saliency map against the masks. @default {0} */
  bce?: number;
  /** Soft Dice loss against the masks. @default {0} */
  dice?: number;
  /** Soft IoU loss against the masks. @default {0} */
  softIou?: number;
  /** KL divergence from the normalised mask to the normalised map. @default {0} */
  kl?: number;
  /** Share of saliency energy outside the boxes; the batch's masks must be rasterised boxes. @default {0} */
  box?: number;
  /** Right for the Right Reasons input-gradient penalty (Ross et al. 2017). @default {0} */
  rrr?: number;
  /** GAIN attention mining (Li et al. 2018). @default {0} */
  gain?: number;
}

/** Options of {@linkcode mixedLoss} besides the weights. */
export interface MixedLossOptions {
  /** Label smoothing of the cross-entropy. @default {0} */
  labelSmoothing?: number;
  /** Per-class weights of the classification losses. @default {none} */
  classWeights?: readonly number[];
  /** Focusing parameter of the focal loss. @default {2} */
  focalGamma?: number;
  /**
   * What RRR penalises: the input gradient inside the samples'
   * must-not-matter masks (`batch.ignoreMasks`, as `injectShortcut` makes),
   * or outside the object masks.
   *
   * @default {"outside-object"}
   */
  rrrMode?: RrrMode;
  /** The stage GAIN takes its Grad-CAM at (name or index). @default {the last stage} */
  gainLayer?: string | number;
}

/**
 * Builds a loss for {@linkcode train}: `Σ weightₜ · termₜ` over the terms
 * with a positive weight, each logged under its own name. The saliency
 * terms (bce, dice, softIou, kl, box, and RRR outside the object) count only
 * the samples that have a mask (`batch.hasMask`), so unannotated samples
 * train the classifier alone.
 *
 * @example Cross-entropy plus Dice and BCE on the masks
 * ```ts
 * import { mixedLoss } from "./mixed_loss.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125 });
 * const loss = mixedLoss({ ce: 1, bce: 0.5, dice: 0.5 });
 * tf.tidy(() => {
 *   const batch = {
 *     images: tf.zeros([2, 8, 8, 3]) as tf.Tensor4D, labels: tf.tensor1d([0, 1], "int32"),
 *     masks: tf.ones([2, 8, 8]) as tf.Tensor3D, hasMask: tf.tensor1d([1, 0]), ids: ["a", "b"],
 *   };
 *   const r = loss(model, batch, { training: false, epoch: 1, step: 0 });
 *   console.log(Object.keys(r.terms)); // [ "ce", "bce", "dice" ]
 * });
 * model.dispose();
 * ```
 */
export function mixedLoss(weights: LossWeights, options: MixedLossOptions = {}): LossFn {
  const w: Required<LossWeights> = {
    ce: 1,
    focal: 0,
    bce: 0,
    dice: 0,
    softIou: 0,
    kl: 0,
    box: 0,
    rrr: 0,
    gain: 0,
    ...weights,
  };
  for (const [name, value] of Object.entries(w)) {
    if (!(Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`Loss weight "${name}" must be a finite number ≥ 0, got ${value}`);
    }
  }
  if (Object.values(w).every((v) => v === 0)) {
    throw new RangeError("mixedLoss() needs at least one loss weight above 0");
  }
  const rrrMode = options.rrrMode ?? "outside-object";
  const classOptions = { classWeights: options.classWeights };
  return (model, batch, context) => {
    const out = model.forward(batch.images, {
      training: context.training,
      checkpoint: context.checkpoint,
    });
    const z = out.saliencyLogits, masks = batch.masks, annotated = { weights: batch.hasMask };
    const terms: Record<string, tf.Scalar> = {};
    if (w.ce > 0) {
      terms.ce = crossEntropyLoss(out.logits, batch.labels, {
        ...classOptions,
        labelSmoothing: options.labelSmoothing,
      });
    }
    if (w.focal > 0) {
      terms.focal = focalLoss(out.logits, batch.labels, {
        ...classOptions,
        gamma: options.focalGamma,
      });
    }
    if (w.bce > 0) terms.bce = bceSaliencyLoss(z, masks, annotated);
    if (w.dice > 0) terms.dice = diceLoss(z, masks, annotated);
    if (w.softIou > 0) terms.softIou = softIouLoss(z, masks, annotated);
    if (w.kl > 0) terms.kl = klSaliencyLoss(z, masks, annotated);
    if (w.box > 0) terms.box = boxSaliencyLoss(z, masks, annotated);
    if (w.rrr > 0) {
      if (rrrMode === "must-not-matter" && !batch.ignoreMasks) {
        throw new TypeError(
          `RRR in "must-not-matter" mode needs the batch's ignoreMasks (from injectShortcut); batch ${
            batch.ids.slice(0, 3).join(", ")
          }… has none`,
        );
      }
      const region = rrrMode === "must-not-matter" ? batch.ignoreMasks! : masks;
      terms.rrr = rrrLoss(model, batch.images, batch.labels, {
        region,
        mode: rrrMode,
        weights: rrrMode === "outside-object" ? batch.hasMask : undefined,
        training: context.training,
      });
    }
    if (w.gain > 0) {
      terms.gain = gainLoss(model, batch.images, batch.labels, {
        layer: options.gainLayer,
        training: context.training,
      });
    }
    const weighted = Object.entries(terms).map(([name, t]) =>
      tf.mul(t, w[name as keyof LossWeights])
    );
    const total = (weighted.length === 1 ? weighted[0] : tf.addN(weighted)) as tf.Scalar;
    return { total, terms, logits: out.logits };
  };
}
