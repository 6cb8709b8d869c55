// The weights' gradients of one supervised loss on cpu and on wasm, for tests
// that compare the engines' kernels on a whole model.
import { tf } from "../mod.ts";
import type { TwoBranchModel } from "../mod.ts";
import { randn, runOn } from "./_helpers.ts";

/**
 * The gradients, with respect to `model`'s trainable variables (in their
 * order, each labelled by its path), of cross-entropy plus the saliency
 * branch's BCE with logits, in training mode without updating statistics,
 * on a seeded batch of two `size`×`size` RGB images with labels 0 and 2 and
 * binary masks, computed on the `cpu` engine and on `wasm`.
 */
export async function cpuAndWasmGradients(
  model: TwoBranchModel,
  size: number,
): Promise<{ cpu: Float32Array[]; wasm: Float32Array[]; paths: string[] }> {
  const xv = randn([2, size, size, 3], 21);
  const mv = randn([2, size, size], 22).map((v) => (v > 0 ? 1 : 0));
  const vars = model.trainableVariables();
  const names = new Map([...model.variables()].map(([path, v]) => [v.name, path]));
  const gradients = () => {
    const images = tf.tensor4d(xv, [2, size, size, 3]);
    const masks = tf.tensor3d(mv, [2, size, size]);
    const labels = tf.oneHot(tf.tensor1d([0, 2], "int32"), model.numClasses).toFloat();
    const { grads } = tf.variableGrads(() => {
      const out = model.forward(images, { training: true, updateStats: false });
      const ce = tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(out.logits)), 1)));
      const z = out.saliencyLogits;
      const bce = tf.mean(tf.add(
        tf.sub(tf.relu(z), tf.mul(z, masks)),
        tf.log1p(tf.exp(tf.neg(tf.abs(z)))),
      ));
      return tf.add(ce, bce) as tf.Scalar;
    }, vars);
    return vars.map((v) => {
      if (!grads[v.name]) throw new Error(`No gradient reached ${names.get(v.name)}`);
      return grads[v.name];
    });
  };
  return {
    cpu: await runOn("cpu", gradients),
    wasm: await runOn("wasm", gradients),
    paths: vars.map((v) => names.get(v.name) ?? v.name),
  };
}
