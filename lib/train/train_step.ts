/**
 * One optimisation step of a two-branch model.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { crossEntropy } from "../losses/classification.ts";
import { maskBce } from "../losses/localization.ts";
import type { TwoBranchModel } from "../models/types.ts";

/** A training batch. The trainer never disposes it. */
export interface Batch {
  /** Images `[n, h, w, c]` in [0, 1]. */
  images: tf.Tensor4D;
  /** Class indices `[n]`. */
  labels: tf.Tensor1D;
  /** Masks `[n, h, w]` in [0, 1]; absent when no sample is annotated. */
  masks?: tf.Tensor3D;
  /** 1 where a sample has a mask, 0 where not, `[n]`; absent means all annotated. */
  hasMask?: tf.Tensor1D;
}

/** The loss terms of one step, read back from the engine. */
export interface StepLosses {
  /** The total that was minimised. */
  loss: number;
  /** Cross-entropy of the classification branch. */
  ce: number;
  /** Mask BCE of the saliency branch (0 without masks). */
  mask: number;
}

/** Options of {@linkcode createTrainStep}. */
export interface TrainStepOptions {
  /** Weight of the mask BCE term; 0 trains the classifier alone. @default {1} */
  maskWeight?: number;
}

/**
 * Makes a function that runs one step of `optimizer` on a batch: forward in
 * training mode, `cross-entropy + maskWeight · maskBce`, gradients through
 * `tf.variableGrads`, then `optimizer.applyGradients`. It resolves to the loss
 * terms, read back asynchronously (so it runs on every engine, WebGPU
 * included), and every tensor it makes is disposed by then.
 *
 * @example Usage
 * ```ts
 * import { createTrainStep } from "./train_step.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125 });
 * const step = createTrainStep(model, tf.train.adam(1e-3));
 * const images = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
 * const labels = tf.tensor1d([0, 1], "int32");
 * const masks = tf.zeros([2, 8, 8]) as tf.Tensor3D;
 * console.log((await step({ images, labels, masks })).loss > 0); // true
 * tf.dispose([images, labels, masks]);
 * model.dispose();
 * ```
 */
export function createTrainStep(
  model: TwoBranchModel,
  optimizer: tf.Optimizer,
  options: TrainStepOptions = {},
): (batch: Batch) => Promise<StepLosses> {
  const maskWeight = options.maskWeight ?? 1;
  if (!(maskWeight >= 0)) {
    throw new RangeError(`Option "maskWeight" must be at least 0, got ${maskWeight}`);
  }
  const variables = model.trainableVariables();
  return async (batch: Batch): Promise<StepLosses> => {
    let terms: tf.Tensor1D | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const out = model.forward(batch.images, { training: true });
      const ce = crossEntropy(out.logits, batch.labels);
      const useMask = maskWeight > 0 && batch.masks !== undefined;
      const mask = useMask
        ? maskBce(out.saliencyLogits, batch.masks!, batch.hasMask)
        : tf.scalar(0);
      const total = useMask ? tf.add(ce, tf.mul(mask, maskWeight)) : ce;
      terms = tf.keep(tf.stack([total, ce, mask]) as tf.Tensor1D);
      return total as tf.Scalar;
    }, variables);
    optimizer.applyGradients(grads);
    tf.dispose([value, ...Object.values(grads)]);
    try {
      // An asynchronous read: WebGPU under Deno has no synchronous one.
      const [loss, ce, mask] = await terms!.data();
      return { loss, ce, mask };
    } finally {
      terms!.dispose();
    }
  };
}
