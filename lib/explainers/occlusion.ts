/**
 * Occlusion (Zeiler and Fergus, ECCV 2014).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import {
  type BatchOptions,
  checkBatchSize,
  checkInteger,
  type ExplainOptions,
  logitsFrom,
  perturbationScores,
  registerExplainer,
  runExplainer,
  targetScores,
} from "./core.ts";

/** Options of {@linkcode occlusion}. */
export interface OcclusionOptions extends ExplainOptions, BatchOptions {
  /** Side of the square occluding window in pixels. @default {an eighth of the smaller side, at least 1} */
  window?: number;
  /** Step between windows in pixels. @default {half the window, at least 1} */
  stride?: number;
  /** The value the window fills the image with. @default {0} */
  fill?: number;
}

/** Window starts along a side: every `stride`, plus one flush with the far edge. */
function starts(size: number, window: number, stride: number): number[] {
  const out: number[] = [];
  for (let s = 0; s + window <= size; s += stride) out.push(s);
  if (out[out.length - 1] + window < size) out.push(size - window);
  return out;
}

/** One row per window: 1 on the rows (or columns) it covers. */
function coverage(positions: number[], window: number, size: number): Float32Array {
  const out = new Float32Array(positions.length * size);
  positions.forEach((p, j) => out.fill(1, j * size + p, j * size + p + window));
  return out;
}

/**
 * Occlusion: a `window`×`window` square of `fill` slides over each image by
 * `stride`; each position's value is the drop of the target score it causes,
 * and a pixel's value is the mean over the windows that cover it, as in
 * captum. The map is the ReLU of that (occluding evidence lowers the
 * score). Window positions include one flush with the far edge, so every
 * pixel is covered. Occluded copies run `batchSize` at a time; a
 * `"predicted"` target is the clean image's class. Maps are divided by
 * their maximum. Images `[n, h, w, c]` → maps `[n, h, w]` in [0, 1]; the
 * caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { occlusion } from "./occlusion.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = occlusion(model, images, { window: 4, stride: 2 });
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function occlusion(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: OcclusionOptions = {},
): tf.Tensor3D {
  const [h, w] = model.inputShape;
  const window = options.window ?? Math.max(1, Math.round(Math.min(h, w) / 8));
  const stride = options.stride ?? Math.max(1, Math.floor(window / 2));
  const fill = options.fill ?? 0, batchSize = options.batchSize ?? 64;
  if (!Number.isInteger(window) || window < 1 || window > Math.min(h, w)) {
    throw new RangeError(
      `Option "window" must be an integer from 1 to ${Math.min(h, w)}, got ${window}`,
    );
  }
  checkInteger("stride", stride, { positive: true });
  if (!Number.isFinite(fill)) throw new RangeError(`Option "fill" must be finite, got ${fill}`);
  checkBatchSize(batchSize);
  const ys = starts(h, window, stride), xs = starts(w, window, stride);
  const count = ys.length * xs.length;
  const rowsCover = coverage(ys, window, h), colsCover = coverage(xs, window, w);
  return runExplainer(model, images, options, ({ images, target }) => {
    const m = images.shape[0];
    // Window j covers rows ry[j] × columns rx[j]: [count, h] and [count, w].
    const ry = tf.tensor2d(rowsCover, [ys.length, h]);
    const ryAll = tf.reshape(tf.tile(tf.expandDims(ry, 1), [1, xs.length, 1]), [count, h]);
    const rxAll = tf.tile(tf.tensor2d(colsCover, [xs.length, w]), [ys.length, 1]) as tf.Tensor2D;
    const all = Int32Array.from({ length: m }, (_, i) => i);
    const clean = targetScores(target, logitsFrom(model, images, 0), all);
    const scores = perturbationScores(model, target, {
      base: images,
      from: 0,
      count,
      batchSize,
      perturb: (rows, _images, index) => {
        const idx = tf.tensor1d(index, "int32");
        const hole = tf.mul(
          tf.reshape(tf.gather(ryAll, idx), [index.length, h, 1, 1]),
          tf.reshape(tf.gather(rxAll, idx), [index.length, 1, w, 1]),
        );
        return tf.add(tf.mul(rows, tf.sub(1, hole)), tf.mul(hole, fill)) as tf.Tensor4D;
      },
    });
    const drop = tf.sub(clean, scores); // [count, m]
    // Σ_j drop_ij · ry_j ⊗ rx_j, per image, divided by the number of windows per pixel.
    const ryT = tf.transpose(ryAll); // [h, count]
    const weighted = tf.mul(tf.expandDims(tf.transpose(drop), 2), tf.expandDims(rxAll, 0));
    const total = tf.matMul(tf.broadcastTo(ryT, [m, h, count]), weighted as tf.Tensor3D);
    const covered = tf.matMul(ryT, rxAll);
    return tf.div(total, covered) as tf.Tensor3D;
  }, { fixClasses: true });
}

registerExplainer("occlusion", occlusion);
