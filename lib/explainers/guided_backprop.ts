/**
 * Guided backpropagation (Springenberg et al., ICLR Workshops 2015).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type ExplainOptions, registerExplainer, runGradientExplainer } from "./core.ts";

/** Options of {@linkcode guidedBackprop}. */
export interface GuidedBackpropOptions extends ExplainOptions {}

/** The guided gradient of a rectifier: only positive signal through active units. */
const GUIDED: tf.GradConfig[] = [
  {
    kernelName: "Relu",
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => ({
      x: () => tf.mul(tf.relu(dy as tf.Tensor), tf.step(saved[0])),
    }),
  },
  {
    kernelName: "Relu6",
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => ({
      x: () =>
        tf.mul(
          tf.relu(dy as tf.Tensor),
          tf.mul(tf.step(saved[0]), tf.cast(tf.lessEqual(saved[0], 6), "float32")),
        ),
    }),
  },
  {
    // ReLU6 written as clipByValue(x, 0, 6), as MobileNetV2 does; a clip
    // whose floor is not 0 is no rectifier and keeps its gradient.
    kernelName: "ClipByValue",
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => ({
      x: () => {
        const { clipValueMin, clipValueMax } = attrs as {
          clipValueMin: number;
          clipValueMax: number;
        };
        const x = saved[0];
        const inside = tf.logicalAnd(
          tf.greaterEqual(x, clipValueMin),
          tf.lessEqual(x, clipValueMax),
        );
        const signal = clipValueMin === 0 ? tf.relu(dy as tf.Tensor) : (dy as tf.Tensor);
        return tf.where(inside, signal, tf.zerosLike(signal));
      },
    }),
  },
];

/**
 * Runs `fn` with the gradients of the `Relu`, `Relu6` and `ClipByValue`
 * kernels replaced by guided ones, and restores tfjs's own in every case. tfjs records a kernel's
 * gradient function when the kernel runs, so `fn` must run the forward pass.
 */
function withGuidedRelu<T>(fn: () => T): T {
  const saved = GUIDED.map((g) => tf.getGradient(g.kernelName));
  GUIDED.forEach((g) => tf.registerGradient(g));
  try {
    return fn();
  } finally {
    GUIDED.forEach((g, i) => {
      if (saved[i]) tf.registerGradient(saved[i]);
      else tf.unregisterGradient(g.kernelName);
    });
  }
}

/**
 * Guided backpropagation: the input gradient of the target score, where
 * every ReLU passes back only positive gradient, and only through units
 * that were active in the forward pass. The map is the largest absolute
 * value over colour channels.
 *
 * How: tfjs has no hooks, and the models call `tf.relu` inside their
 * layers, so for the duration of the call the gradients of the `Relu` and
 * `Relu6` kernels, and of `ClipByValue` with a floor of 0 (ReLU6 written as
 * a clip, as in MobileNetV2), are swapped in tfjs's gradient registry for
 * guided ones (and restored afterwards, also on error). Every rectifier of
 * the model is guided: this library's layers run their convolution, bias
 * and ReLU as separate ops under a gradient tape (`convBnAct`), and tfjs's
 * `tf.fused` ops unfuse their activation while a gradient is taken, so no
 * ReLU hides inside a convolution kernel. Other activations (GELU, SiLU)
 * keep their ordinary gradient, so on a model without ReLUs this is the
 * vanilla gradient. The swap is global while the call runs, so do not
 * call it from inside another gradient computation (a training loss): that
 * one's ReLUs would be guided too. Maps are divided by their maximum. Images
 * `[n, h, w, c]` → maps `[n, h, w]` in [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { guidedBackprop } from "./guided_backprop.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = guidedBackprop(model, images);
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function guidedBackprop(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: GuidedBackpropOptions = {},
): tf.Tensor3D {
  return runGradientExplainer(model, images, options, {
    reduce: (gradients) => tf.max(tf.abs(gradients), 3),
    around: withGuidedRelu,
  });
}

registerExplainer("guided-backprop", guidedBackprop);
