// What the attention explainers share: finding the vision transformer, recording every block's
// attention (and its gradient), and reading a relevance matrix out as a token grid. Private to
// lib/explainers/.
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { VisionTransformer } from "../backbones/vit.ts";
import { type ResolvedTarget, targetScores } from "./core.ts";

/** Which tokens' rows of the relevance matrix make the map. */
export type Readout = "patches" | "class";

/** The model's vision transformer; a one-line TypeError for any other model. */
export function transformerOf(model: TwoBranchModel, method: string): VisionTransformer {
  const backbone = (model as { backbone?: unknown }).backbone;
  if (!(backbone instanceof VisionTransformer)) {
    const name = (backbone as { name?: string } | undefined)?.name;
    throw new TypeError(
      `Explainer "${method}" needs a vision transformer backbone (vit_*, deit_*), got model "${model.name}"${
        name ? ` with backbone ${name}` : ""
      }`,
    );
  }
  return backbone;
}

/** Checks the `readout` option. */
export function readoutOf(value: unknown): Readout {
  const readout = value ?? "patches";
  if (readout !== "patches" && readout !== "class") {
    throw new RangeError(
      `Option "readout" must be "patches" or "class", got ${JSON.stringify(value)}`,
    );
  }
  return readout;
}

/**
 * Every block's attention, `[n, heads, t, t]` (t = 1 + patches, the class token first), from
 * an inference pass of `images` through the model's own `forwardStages` and `forwardHead` (so
 * its input normalisation and gate apply); with `target`, also the gradient of the target
 * score with respect to each, from a second pass. The matrices outlive every `tf.tidy` (the
 * blocks' own scopes would free them): the caller disposes them; the gradients belong to the
 * caller's `tf.tidy`.
 */
export function recordAttention(
  model: TwoBranchModel,
  vit: VisionTransformer,
  images: tf.Tensor4D,
  target: ResolvedTarget | null,
): { attention: tf.Tensor4D[]; gradients: tf.Tensor4D[] | null } {
  const attention: tf.Tensor4D[] = [];
  vit.withAttentionProbe((_block, a) => {
    attention.push(tf.keep(a.clone()));
    return a;
  }, () => model.forwardStages(images));
  if (!target) return { attention, gradients: null };
  // Zeros added to each matrix: their gradient is the matrix's.
  const zeros = attention.map((a) => tf.zerosLike(a));
  const rows = Int32Array.from({ length: images.shape[0] }, (_, i) => i);
  const gradients = tf.grads((...z: tf.Tensor[]) =>
    vit.withAttentionProbe((block, a) => tf.add(a, z[block]) as tf.Tensor4D, () => {
      const stages = model.forwardStages(images);
      return tf.sum(targetScores(target, model.forwardHead(stages[stages.length - 1]), rows));
    }) as tf.Scalar
  )(zeros) as tf.Tensor4D[];
  return { attention, gradients };
}

/**
 * The relevance of each patch, `[n, h/16, w/16]`: the mean of `relevance`'s (`[n, t, t]`, rows
 * and columns the class token then the patches) rows `readout` over its patch columns.
 */
export function readOut(
  relevance: tf.Tensor3D,
  readout: Readout,
  grid: readonly [number, number],
): tf.Tensor3D {
  const [n, t] = relevance.shape;
  const rows = readout === "class"
    ? tf.slice(relevance, [0, 0, 1], [n, 1, t - 1])
    : tf.mean(tf.slice(relevance, [0, 1, 1], [n, t - 1, t - 1]), 1, true);
  return tf.reshape(rows, [n, grid[0], grid[1]]);
}
