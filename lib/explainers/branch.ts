/**
 * The two-branch model's own saliency map, as one more explainer.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type ExplainOptions, registerExplainer, runExplainer } from "./core.ts";

/** Options of {@linkcode branchSaliency}. The branch takes no target. */
export interface BranchSaliencyOptions extends Omit<ExplainOptions, "target"> {}

/**
 * The saliency branch's map: the sigmoid of `forwardSaliency` on the
 * backbone's stages (inference mode), already at input resolution. It is
 * class-agnostic, so there is no target. Like every explainer's, each map
 * is divided by its maximum; pass `normalize: false` for the branch's own
 * probabilities, e.g. to threshold them at 0.5. Images `[n, h, w, c]` →
 * maps `[n, h, w]` in [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { branchSaliency } from "./branch.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = branchSaliency(model, images, { normalize: false });
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * // Unnormalised, the maps are the branch's own probabilities.
 * const { logits, saliency, saliencyLogits } = model.forward(images);
 * assert.ok(tf.sub(maps, saliency).abs().max().dataSync()[0] < 1e-6);
 * tf.dispose([logits, saliency, saliencyLogits]);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function branchSaliency(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: BranchSaliencyOptions = {},
): tf.Tensor3D {
  return runExplainer(
    model,
    images,
    options,
    ({ images }) => tf.sigmoid(model.forwardSaliency(model.forwardStages(images))),
    { usesTarget: false },
  );
}

registerExplainer("branch", branchSaliency);
