/**
 * Attention rollout (Abnar and Zuidema, ACL 2020).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type ExplainOptions, registerExplainer, runExplainer } from "./core.ts";
import { type Readout, readOut, readoutOf, recordAttention, transformerOf } from "./_attention.ts";

/** Options of {@linkcode attentionRollout}. */
export interface AttentionRolloutOptions extends ExplainOptions {
  /**
   * Whose attention the map follows: `"patches"`, the mean over the patch
   * tokens' rows (what the two-branch classifier reads: the mean of the
   * patch tokens), or `"class"`, the class token's row (the paper's, for a
   * class-token head).
   *
   * @default {"patches"}
   */
  readout?: Readout;
}

/**
 * Attention rollout: each block's attention averaged over heads, with the
 * residual connection as an identity, `Â = (A + I) / 2`, multiplied
 * through the blocks, `R = Â_L ⋯ Â_1`; the map of a patch is its column of
 * `R` in the rows `readout` reads. It ignores the target (the attention is
 * the same for every class). Needs a model whose backbone is a vision
 * transformer (`vit_*`, `deit_*`); any other model is a TypeError. One
 * inference pass. Departures: the paper reads the class token's row, the
 * default here is the mean of the patch rows (option `readout`); no heads
 * are fused by max or min and no attention is discarded. Maps (a patch
 * grid, upsampled bilinearly) are divided by their maximum. Images
 * `[n, h, w, c]` → maps `[n, h, w]` in [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { attentionRollout } from "./attention_rollout.ts";
 * import { createTwoBranchModel } from "../models/two_branch.ts";
 * import { tf } from "../deps.ts";
 * const model = createTwoBranchModel({
 *   backbone: "vit_tiny_patch16_224",
 *   backboneOptions: { width: 0.125 },
 *   numClasses: 3,
 *   inputSize: 32,
 * });
 * const images = tf.randomUniform([2, 32, 32, 3]) as tf.Tensor4D;
 * const maps = attentionRollout(model, images);
 * assert.deepStrictEqual(maps.shape, [2, 32, 32]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] === 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function attentionRollout(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: AttentionRolloutOptions = {},
): tf.Tensor3D {
  const vit = transformerOf(model, "attention-rollout");
  const readout = readoutOf(options.readout);
  return runExplainer(model, images, options, ({ images }) => {
    const { attention } = recordAttention(model, vit, images, null);
    try {
      const [n, , t] = attention[0].shape;
      const eye = tf.eye(t).expandDims(0);
      const rollout = attention.reduce<tf.Tensor3D>(
        (r, a) => tf.matMul(tf.div(tf.add(tf.mean(a, 1), eye), 2), r) as tf.Tensor3D,
        tf.tile(eye, [n, 1, 1]) as tf.Tensor3D,
      );
      const [h, w] = model.inputShape;
      return readOut(rollout, readout, [h / 16, w / 16]);
    } finally {
      tf.dispose(attention);
    }
  }, { usesTarget: false });
}

registerExplainer("attention-rollout", attentionRollout);
