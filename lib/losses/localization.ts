/**
 * Losses that supervise the saliency branch with location annotations.
 *
 * @module
 */
import type { tf } from "../deps.ts";
import { bceSaliencyLoss } from "./mask.ts";

/**
 * Binary cross-entropy between a saliency map (as logits, `[n, h, w]`) and a
 * mask in [0, 1] (`[n, h, w]`, soft masks allowed), averaged over pixels and
 * then over the samples by `weights` (`[n]`, 1 for annotated, 0 for not).
 * A batch with no annotated sample gives 0. The same as
 * {@linkcode bceSaliencyLoss} with `{ weights }`, kept for the code that
 * already calls it. The caller owns the result.
 *
 * @example Usage
 * ```ts
 * import { maskBce } from "./localization.ts";
 * import { tf } from "../deps.ts";
 * const z = tf.zeros([1, 2, 2]) as tf.Tensor3D, y = tf.ones([1, 2, 2]) as tf.Tensor3D;
 * console.log(maskBce(z, y).dataSync()[0].toFixed(4)); // "0.6931"
 * ```
 */
export function maskBce(
  saliencyLogits: tf.Tensor3D,
  masks: tf.Tensor3D,
  weights?: tf.Tensor1D,
): tf.Scalar {
  if (saliencyLogits.shape.join() !== masks.shape.join()) {
    throw new RangeError(
      `maskBce needs maps and masks of one shape, got [${saliencyLogits.shape}] and [${masks.shape}]`,
    );
  }
  return bceSaliencyLoss(saliencyLogits, masks, { weights });
}
