/**
 * SmoothGrad (Smilkov et al., 2017).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { Random } from "../util/random.ts";
import {
  type BatchOptions,
  checkInteger,
  type ExplainOptions,
  inputGradients,
  registerExplainer,
  runExplainer,
  samplingOptions,
  sumByImage,
} from "./core.ts";

/** Options of {@linkcode smoothGrad}. */
export interface SmoothGradOptions extends ExplainOptions, BatchOptions {
  /** Noisy copies per image. @default {25} */
  samples?: number;
  /**
   * Standard deviation of the Gaussian noise, as a fraction of each image's
   * value range (max − min); the paper finds 0.1–0.2 best.
   *
   * @default {0.15}
   */
  noiseLevel?: number;
  /** Seed of the noise. @default {0} */
  seed?: number;
}

/**
 * SmoothGrad: the input gradient of the target score averaged over
 * `samples` noisy copies of each image, reduced like the vanilla gradient
 * (largest absolute value over colour channels). The class of a
 * `"predicted"` target is that of the clean image. Noisy copies run
 * `batchSize` at a time.
 *
 * Departure: noise draw `s` is the same pattern for every image (scaled by
 * each image's range), so that an image's map does not depend on the batch
 * it is explained in. Maps are divided by their maximum. Images
 * `[n, h, w, c]` → maps `[n, h, w]` in [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { smoothGrad } from "./smooth_grad.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = smoothGrad(model, images, { samples: 8 });
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function smoothGrad(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: SmoothGradOptions = {},
): tf.Tensor3D {
  const samples = options.samples ?? 25, noiseLevel = options.noiseLevel ?? 0.15;
  checkInteger("samples", samples, { positive: true });
  if (!(noiseLevel >= 0)) {
    throw new RangeError(`Option "noiseLevel" must be at least 0, got ${noiseLevel}`);
  }
  const { seed, batchSize } = samplingOptions(options);
  const [h, w, c] = model.inputShape;
  return runExplainer(model, images, options, ({ images, target }) => {
    const m = images.shape[0], total = samples * m;
    const noise = tf.tensor4d(new Random(seed).normalArray(samples * h * w * c), [
      samples,
      h,
      w,
      c,
    ]);
    const sigma = tf.mul(
      tf.sub(tf.max(images, [1, 2, 3], true), tf.min(images, [1, 2, 3], true)),
      noiseLevel,
    );
    let sum = tf.zerosLike(images) as tf.Tensor4D;
    for (let t0 = 0; t0 < total; t0 += batchSize) {
      const size = Math.min(batchSize, total - t0);
      const rows = Int32Array.from({ length: size }, (_, r) => (t0 + r) % m);
      const draws = Int32Array.from({ length: size }, (_, r) => Math.floor((t0 + r) / m));
      const next = tf.tidy(() => {
        const rowIdx = tf.tensor1d(rows, "int32");
        const x = tf.add(
          tf.gather(images, rowIdx),
          tf.mul(tf.gather(noise, tf.tensor1d(draws, "int32")), tf.gather(sigma, rowIdx)),
        ) as tf.Tensor4D;
        return tf.add(sum, sumByImage(inputGradients(model, x, target, rows), rows, m));
      });
      sum.dispose();
      sum = next as tf.Tensor4D;
    }
    return tf.max(tf.abs(tf.div(sum, samples)), 3) as tf.Tensor3D;
  }, { fixClasses: true });
}

registerExplainer("smooth-grad", smoothGrad);
