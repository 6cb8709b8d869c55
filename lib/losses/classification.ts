/**
 * Classification losses.
 *
 * @module
 */
import { tf } from "../deps.ts";

/**
 * Mean softmax cross-entropy of `logits: [n, k]` against integer `labels: [n]`.
 * Computed as `−Σ onehot · logSoftmax`, which avoids `gather` and so the
 * gradient kernel it needs. The caller owns the scalar result.
 *
 * @example Usage
 * ```ts
 * import { crossEntropy } from "./classification.ts";
 * import { tf } from "../deps.ts";
 * const loss = crossEntropy(tf.tensor2d([[0, 0]]), tf.tensor1d([1], "int32"));
 * console.log(loss.dataSync()[0].toFixed(4)); // "0.6931" (= ln 2)
 * ```
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const onehot = tf.cast(tf.oneHot(tf.cast(labels, "int32"), k), "float32");
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1)));
  });
}
