// A two-class "model" whose class-0 probability is a known function of the
// pixels, so that the faithfulness metrics can be derived by hand:
// with S = Σ x and T = Σ (5 - x) over the h·w one-channel pixels,
// logits = [ln(1 + S), ln(1 + T)], so p0 = (1 + S) / (2 + S + T)
// = (1 + S) / (2 + 5·h·w), linear in the kept pixels (values in [0, 5]).
import { tf } from "../../lib/deps.ts";
import type { TwoBranchModel, TwoBranchOutput } from "../../lib/models/types.ts";

export function toyModel(h = 2, w = 2): TwoBranchModel {
  const model: TwoBranchModel = {
    name: "toy",
    config: { architecture: "toy" },
    inputShape: [h, w, 1],
    numClasses: 2,
    featureInfo: [{ name: "pixels", channels: 1, reduction: 1 }],
    forwardStages: (x) => [tf.clone(x)],
    forwardHead: (last) =>
      tf.tidy(() => {
        const s = tf.sum(last, [1, 2, 3]);
        const t = tf.sub(5 * h * w, s);
        return tf.stack([tf.log(tf.add(s, 1)), tf.log(tf.add(t, 1))], 1) as tf.Tensor2D;
      }),
    forwardSaliency: (stages) => tf.tidy(() => tf.squeeze(stages[0], [3]) as tf.Tensor3D),
    forward(images): TwoBranchOutput {
      return tf.tidy(() => {
        const stages = model.forwardStages(images);
        const logits = model.forwardHead(stages[0]);
        const saliencyLogits = model.forwardSaliency(stages);
        return { logits, saliencyLogits, saliency: tf.sigmoid(saliencyLogits) };
      });
    },
    variables: () => new Map(),
    trainableVariables: () => [],
    countParams: () => 0,
    dispose: () => {},
  };
  return model;
}
