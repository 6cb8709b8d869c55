/**
 * Gradient × input (Shrikumar et al., 2016).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type ExplainOptions, registerExplainer, runGradientExplainer } from "./core.ts";

/** Options of {@linkcode gradientXInput}. */
export interface GradientXInputOptions extends ExplainOptions {}

/**
 * Gradient × input: the gradient of the target score times the input,
 * summed over colour channels (a pixel's first-order contribution to the
 * score, relative to a black image); the map is its absolute value, since a
 * map in [0, 1] cannot keep the sign. One forward and one backward pass.
 * Maps are divided by their maximum. Images `[n, h, w, c]` → maps
 * `[n, h, w]` in [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { gradientXInput } from "./gradient_x_input.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = gradientXInput(model, images);
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * // A black image has no gradient × input anywhere.
 * const black = gradientXInput(model, tf.zeros([1, 16, 16, 3]) as tf.Tensor4D);
 * assert.equal(black.max().dataSync()[0], 0);
 * black.dispose();
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function gradientXInput(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: GradientXInputOptions = {},
): tf.Tensor3D {
  return runGradientExplainer(model, images, options, {
    reduce: (gradients, images) => tf.abs(tf.sum(tf.mul(gradients, images), 3)),
  });
}

registerExplainer("gradient-x-input", gradientXInput);
