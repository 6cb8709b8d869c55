/**
 * Vanilla gradient saliency (Simonyan, Vedaldi and Zisserman, ICLR
 * Workshops 2014).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type ExplainOptions, registerExplainer, runGradientExplainer } from "./core.ts";

/** Options of {@linkcode vanillaGradient}. */
export interface VanillaGradientOptions extends ExplainOptions {}

/**
 * Vanilla gradient saliency: the largest absolute value over colour
 * channels of the gradient of the target score with respect to the input
 * pixels, as in the paper; one forward and one backward pass for the whole
 * batch. Maps are divided by their maximum. Images `[n, h, w, c]` → maps
 * `[n, h, w]` in [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { vanillaGradient } from "./vanilla_gradient.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = vanillaGradient(model, images, { target: { probability: true } });
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function vanillaGradient(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: VanillaGradientOptions = {},
): tf.Tensor3D {
  return runGradientExplainer(model, images, options, {
    reduce: (gradients) => tf.max(tf.abs(gradients), 3),
  });
}

registerExplainer("vanilla-gradient", vanillaGradient);
