/**
 * RISE: randomized input sampling for explanation (Petsiuk, Das and
 * Saenko, BMVC 2018).
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
  perturbationScores,
  registerExplainer,
  runExplainer,
  samplingOptions,
} from "./core.ts";

/** Options of {@linkcode rise}. */
export interface RiseOptions extends ExplainOptions, BatchOptions {
  /** Number of random masks. @default {1000} */
  masks?: number;
  /** Cells per side of the coarse random grid. @default {8} */
  cells?: number;
  /** Probability that a grid cell keeps the image. @default {0.5} */
  keepProbability?: number;
  /** Seed of the masks. @default {0} */
  seed?: number;
}

/**
 * RISE: `masks` random smooth masks (a `cells`×`cells` grid of cells kept
 * with probability `p`, upsampled bilinearly to `(cells + 1)` cell sizes and
 * cropped at a random shift) multiply the image; the map is the
 * score-weighted sum of the masks, `Σ_j (s_j − s̄) M_j / (N p)`, then ReLU.
 * Masked copies run `batchSize` at a time; a `"predicted"` target is the
 * clean image's class.
 *
 * Departures: the mean score `s̄` over the masks is subtracted (the paper
 * sums `s_j M_j`), which removes the near-constant offset `s̄ · Σ_j M_j`
 * and lets logit targets, which may be negative, work (the paper scores
 * softmax probabilities: pass `target: { probability: true }` for that);
 * the masks are the same for every image, so an image's map does not
 * depend on its batch. Maps are divided by their maximum. Images
 * `[n, h, w, c]` → maps `[n, h, w]` in [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { rise } from "./rise.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = rise(model, images, { masks: 64, cells: 4 });
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function rise(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: RiseOptions = {},
): tf.Tensor3D {
  const count = options.masks ?? 1000, cells = options.cells ?? 8;
  const p = options.keepProbability ?? 0.5;
  checkInteger("masks", count, { positive: true });
  const [h, w] = model.inputShape;
  if (!Number.isInteger(cells) || cells < 1 || cells > Math.min(h, w)) {
    throw new RangeError(
      `Option "cells" must be an integer from 1 to ${Math.min(h, w)}, got ${cells}`,
    );
  }
  if (!(p > 0 && p <= 1)) {
    throw new RangeError(`Option "keepProbability" must be in (0, 1], got ${p}`);
  }
  const { seed, batchSize } = samplingOptions(options);
  // The random grids and shifts, drawn once in JavaScript (count · cells² values).
  const rng = new Random(seed);
  const grid = Float32Array.from({ length: count * cells * cells }, () => rng.next() < p ? 1 : 0);
  const ch = Math.ceil(h / cells), cw = Math.ceil(w / cells);
  const uh = (cells + 1) * ch, uw = (cells + 1) * cw;
  const boxes = new Float32Array(count * 4);
  for (let j = 0; j < count; j++) {
    const dy = rng.int(ch), dx = rng.int(cw);
    boxes.set(
      [dy / (uh - 1), dx / (uw - 1), (dy + h - 1) / (uh - 1), (dx + w - 1) / (uw - 1)],
      4 * j,
    );
  }
  return runExplainer(model, images, options, ({ images, target }) => {
    const m = images.shape[0];
    const grids = tf.tensor4d(grid, [count, cells, cells, 1]);
    const boxTensor = tf.tensor2d(boxes, [count, 4]);
    /** The masks `[k, h, w, 1]` of mask indices `index`. */
    const masksOf = (index: Int32Array) =>
      tf.tidy(() => {
        const idx = tf.tensor1d(index, "int32");
        const up = tf.image.resizeBilinear(
          tf.gather(grids, idx) as tf.Tensor4D,
          [uh, uw],
          false,
          true,
        );
        const own = tf.tensor1d(Int32Array.from(index, (_, r) => r), "int32");
        return tf.image.cropAndResize(up, tf.gather(boxTensor, idx) as tf.Tensor2D, own, [h, w]);
      });
    const scores = perturbationScores(model, target, {
      base: images,
      from: 0,
      count,
      batchSize,
      perturb: (rows, _images, index) => tf.mul(rows, masksOf(index)) as tf.Tensor4D,
    });
    const centred = tf.sub(scores, tf.mean(scores, 0, true)); // [count, m]
    let sum = tf.zeros([m, h * w]) as tf.Tensor2D;
    const chunk = Math.max(1, batchSize);
    for (let j0 = 0; j0 < count; j0 += chunk) {
      const k = Math.min(chunk, count - j0);
      const next = tf.tidy(() => {
        const masks = tf.reshape(masksOf(Int32Array.from({ length: k }, (_, r) => j0 + r)), [
          k,
          h * w,
        ]);
        const weights = tf.transpose(tf.slice(centred, [j0, 0], [k, m])); // [m, k]
        return tf.add(sum, tf.matMul(weights, masks as tf.Tensor2D));
      });
      sum.dispose();
      sum = next as tf.Tensor2D;
    }
    return tf.reshape(tf.div(sum, count * p), [m, h, w]) as tf.Tensor3D;
  }, { fixClasses: true });
}

registerExplainer("rise", rise);
