// Input checks and reductions shared by the losses. Private to lib/losses/.
import { tf } from "../deps.ts";

/** Per-sample weights as given by a caller: a tensor or a plain array, `[n]`. */
export type SampleWeights = tf.Tensor1D | readonly number[];

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Throws unless `t` has rank `rank`, naming the loss and the argument. */
export function assertRank(loss: string, arg: string, t: tf.Tensor, rank: number): void {
  if (t.rank !== rank) {
    throw new RangeError(
      `${loss}: "${arg}" must have rank ${rank}, got shape ${shapeText(t.shape)}`,
    );
  }
}

/** Throws unless a map `[n, h, w]` and a mask have one shape. */
export function assertMapAndMask(
  loss: string,
  mapArg: string,
  map: tf.Tensor,
  maskArg: string,
  mask: tf.Tensor,
): void {
  assertRank(loss, mapArg, map, 3);
  if (map.shape.join() !== mask.shape.join()) {
    throw new RangeError(
      `${loss}: "${maskArg}" must have the shape of "${mapArg}" ${shapeText(map.shape)}, got ${
        shapeText(mask.shape)
      }`,
    );
  }
}

/**
 * Checks that `labels` is `[n]` and holds whole numbers in `[0, k)`, and
 * returns them as a float32 one-hot `[n, k]`. Reads the labels back (they
 * are small), so that a bad label fails loudly instead of silently giving a
 * zero row. On `webgpu`, which under Deno cannot read a tensor back
 * synchronously, only the shape is checked here; `batches()` checks each
 * label's range as it makes a batch.
 */
export function oneHotLabels(loss: string, labels: tf.Tensor, n: number, k: number): tf.Tensor2D {
  if (labels.rank !== 1 || labels.shape[0] !== n) {
    throw new RangeError(
      `${loss}: "labels" must have shape [${n}] (one per sample), got ${shapeText(labels.shape)}`,
    );
  }
  const values = tf.getBackend() === "webgpu" ? [] : labels.dataSync();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v >= k) {
      throw new RangeError(
        `${loss}: "labels" must be class indices in [0, ${k - 1}], got ${v} at sample ${i}`,
      );
    }
  }
  return tf.tidy(() =>
    tf.cast(tf.oneHot(tf.cast(labels, "int32") as tf.Tensor1D, k), "float32") as tf.Tensor2D
  );
}

/**
 * A vector option of length `length` (class weights, alpha) as a float32
 * tensor, checked: finite, at least 0.
 */
export function vectorOption(
  loss: string,
  option: string,
  value: SampleWeights,
  length: number,
  what: string,
): tf.Tensor1D {
  const shape = Array.isArray(value) ? [value.length] : (value as tf.Tensor).shape;
  if (shape.length !== 1 || shape[0] !== length) {
    throw new RangeError(
      `${loss}: option "${option}" must have one entry per ${what} (${length}), got shape ${
        shapeText(shape)
      }`,
    );
  }
  if (Array.isArray(value)) {
    const bad = value.findIndex((v) => !(Number.isFinite(v) && v >= 0));
    if (bad >= 0) {
      throw new RangeError(
        `${loss}: option "${option}" must hold finite values of at least 0, got ${
          value[bad]
        } at index ${bad}`,
      );
    }
    return tf.tensor1d(value as number[], "float32");
  }
  return tf.cast(value as tf.Tensor1D, "float32");
}

/**
 * `Σ wᵢ·lossᵢ / Σ wᵢ` over the samples, or the plain mean without weights.
 * A batch whose weights are all 0 gives 0 (with a zero gradient).
 */
export function weightedMean(perSample: tf.Tensor1D, weights?: tf.Tensor1D): tf.Scalar {
  if (!weights) return tf.mean(perSample);
  const total = tf.sum(weights);
  const safe = tf.where(tf.greater(total, 0), total, tf.onesLike(total));
  // Zero-weight samples are masked out, so a NaN or Inf in one cannot leak in.
  const terms = tf.where(tf.greater(weights, 0), tf.mul(perSample, weights), tf.zerosLike(weights));
  return tf.div(tf.sum(terms), safe);
}

/** The `weights` option as a float32 `[n]` tensor, or undefined when absent. */
export function sampleWeights(
  loss: string,
  weights: SampleWeights | undefined,
  n: number,
): tf.Tensor1D | undefined {
  return weights === undefined ? undefined : vectorOption(loss, "weights", weights, n, "sample");
}

/** Throws unless `value` is a finite number of at least 0. */
export function assertNonNegative(loss: string, option: string, value: number): void {
  if (!(value >= 0 && Number.isFinite(value))) {
    throw new RangeError(
      `${loss}: option "${option}" must be a finite number of at least 0, got ${value}`,
    );
  }
}

/** Throws unless `value` is in [0, 1], or, with `below1`, in [0, 1). */
export function assertFraction(
  loss: string,
  option: string,
  value: number,
  options: { below1?: boolean } = {},
): void {
  const below1 = options.below1 ?? false;
  if (!(value >= 0 && (below1 ? value < 1 : value <= 1))) {
    throw new RangeError(
      `${loss}: option "${option}" must be in [0, 1${below1 ? ")" : "]"}, got ${value}`,
    );
  }
}
