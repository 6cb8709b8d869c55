/**
 * Gradient-weighted attention rollout, "transformer attribution" (Chefer,
 * Gur and Wolf, ICCV 2021, "Generic Attention-model Explainability").
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type ExplainOptions, registerExplainer, runExplainer } from "./core.ts";
import { type Readout, readOut, readoutOf, recordAttention, transformerOf } from "./_attention.ts";

/** Options of {@linkcode transformerAttribution}. */
export interface TransformerAttributionOptions extends ExplainOptions {
  /**
   * Whose relevance the map shows: `"patches"`, the mean over the patch
   * tokens' rows (what the two-branch classifier reads), or `"class"`, the
   * class token's row (the paper's, for a class-token head).
   *
   * @default {"patches"}
   */
  readout?: Readout;
}

/**
 * Transformer attribution: each block's attention `A` weighted by the
 * gradient of the target score with respect to it and averaged over heads
 * after a ReLU, `Ā = E_h[(∇A ⊙ A)⁺]`, accumulated from `R = I` by
 * `R ← R + Ā · R` block after block; the map of a patch is its column of
 * `R − I` in the rows `readout` reads. Needs a model whose backbone is a
 * vision transformer (`vit_*`, `deit_*`); any other model is a TypeError.
 * Two forward passes and one backward pass. Departures: the paper reads the
 * class token's row of `R`, the default here is the mean of the patch rows
 * (option `readout`), without the identity `R` starts from (for patch rows
 * it would add the same amount to every patch). Maps (a patch grid,
 * upsampled bilinearly) are divided by their maximum. Images
 * `[n, h, w, c]` → maps `[n, h, w]` in [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { transformerAttribution } from "./transformer_attribution.ts";
 * import { createTwoBranchModel } from "../models/two_branch.ts";
 * import { tf } from "../deps.ts";
 * const model = createTwoBranchModel({
 *   backbone: "deit_tiny_patch16_224",
 *   backboneOptions: { width: 0.125 },
 *   numClasses: 3,
 *   inputSize: 32,
 * });
 * const images = tf.randomUniform([2, 32, 32, 3]) as tf.Tensor4D;
 * const maps = transformerAttribution(model, images, { target: 1 });
 * assert.deepStrictEqual(maps.shape, [2, 32, 32]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function transformerAttribution(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: TransformerAttributionOptions = {},
): tf.Tensor3D {
  const vit = transformerOf(model, "transformer-attribution");
  const readout = readoutOf(options.readout);
  return runExplainer(model, images, options, ({ images, target }) => {
    const { attention, gradients } = recordAttention(model, vit, images, target);
    try {
      const [n, , t] = attention[0].shape;
      const eye = tf.tile(tf.eye(t).expandDims(0), [n, 1, 1]) as tf.Tensor3D;
      const relevance = attention.reduce<tf.Tensor3D>((r, a, b) => {
        const weighted = tf.mean(tf.relu(tf.mul(gradients![b], a)), 1) as tf.Tensor3D;
        return tf.add(r, tf.matMul(weighted, r)) as tf.Tensor3D;
      }, eye);
      const [h, w] = model.inputShape;
      return readOut(tf.sub(relevance, eye) as tf.Tensor3D, readout, [h / 16, w / 16]);
    } finally {
      tf.dispose(attention);
    }
  });
}

registerExplainer("transformer-attribution", transformerAttribution);
