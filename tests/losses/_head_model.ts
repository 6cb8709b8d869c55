// A model made of a head alone, for loss tests that need gradients in closed form.
import { tf } from "../../lib/deps.ts";
import type { TwoBranchModel } from "../../lib/models/types.ts";

/**
 * A one-stage model whose stage passes the image (`[n, ...inputShape]`)
 * through unchanged and whose head maps it to logits with `head` and the
 * dense weights `weights` (`[inputs, classes]`, kept as a tensor that the
 * model disposes). Everything a loss does not use throws.
 */
export function headModel(
  name: string,
  o: {
    head: (features: tf.Tensor4D, kernel: tf.Tensor2D) => tf.Tensor2D;
    inputShape: [number, number, number];
    weights: number[][];
  },
): TwoBranchModel {
  const kernel = tf.tensor2d(o.weights);
  const notUsed = () => {
    throw new Error("not used by the loss");
  };
  return {
    name,
    config: { architecture: name },
    inputShape: o.inputShape,
    numClasses: o.weights[0].length,
    featureInfo: [{ name: "input", channels: o.inputShape[2], reduction: 1 }],
    forwardStages: (x) => [tf.clone(x)],
    forwardHead: (f) => o.head(f, kernel),
    forwardSaliency: notUsed,
    forward: notUsed,
    variables: () => new Map(),
    trainableVariables: () => [],
    countParams: () => 0,
    dispose: () => kernel.dispose(),
  };
}
