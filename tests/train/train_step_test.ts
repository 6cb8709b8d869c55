import assert from "node:assert/strict";
import {
  createReferenceNet,
  createTrainStep,
  syntheticDataset,
  syntheticTensors,
  tf,
} from "../../mod.ts";
import { assertClose, randn, useEngines } from "../_helpers.ts";

await useEngines();

function shapes(count: number, size: number, seed: number) {
  return syntheticTensors(syntheticDataset({ count, size, numClasses: 3, seed }));
}

Deno.test("createTrainStep() makes the loss fall on the learnable synthetic task (wasm, Adam)", async () => {
  const data = shapes(96, 32, 11);
  const model = createReferenceNet({ numClasses: 3, inputSize: 32, width: 0.25, seed: 1 });
  const step = createTrainStep(model, tf.train.adam(3e-3), { maskWeight: 1 });
  const losses: number[] = [];
  const ces: number[] = [];
  for (let i = 0; i < 60; i++) {
    const start = (i * 16) % 96;
    const batch = tf.tidy(() => ({
      images: data.images.slice(start, 16),
      labels: data.labels.slice(start, 16),
      masks: data.masks.slice(start, 16),
    }));
    const out = await step(batch);
    losses.push(out.loss);
    ces.push(out.ce);
    tf.dispose(Object.values(batch));
  }
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const first = mean(losses.slice(0, 6)), last = mean(losses.slice(-6));
  assert.ok(last < 0.7 * first, `loss fell from ${first.toFixed(3)} to ${last.toFixed(3)}`);
  assert.ok(mean(ces.slice(-6)) < Math.log(3), "cross-entropy beats chance");
  tf.dispose([data.images, data.labels, data.masks]);
  model.dispose();
});

Deno.test("the weights' gradients on wasm match cpu", async () => {
  const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25, seed: 5 });
  const xv = randn([2, 16, 16, 3], 21), mv = randn([2, 16, 16], 22).map((v) => (v > 0 ? 1 : 0));
  const grads = async (backend: "cpu" | "wasm") => {
    await tf.setBackend(backend);
    const result = tf.tidy(() => {
      const images = tf.tensor4d(xv, [2, 16, 16, 3]);
      const masks = tf.tensor3d(mv, [2, 16, 16]);
      const labels = tf.tensor1d([0, 2], "int32");
      const { grads } = tf.variableGrads(() => {
        const out = model.forward(images, { training: true, updateStats: false });
        const logp = tf.logSoftmax(out.logits);
        const ce = tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(labels, 3).toFloat(), logp), 1)));
        const bce = tf.mean(tf.add(
          tf.sub(tf.relu(out.saliencyLogits), tf.mul(out.saliencyLogits, masks)),
          tf.log1p(tf.exp(tf.neg(tf.abs(out.saliencyLogits)))),
        ));
        return tf.add(ce, bce) as tf.Scalar;
      }, model.trainableVariables());
      return grads;
    });
    const values = Object.fromEntries(
      Object.entries(result).map(([k, g]) => [k, Float32Array.from(g.dataSync())]),
    );
    tf.dispose(Object.values(result));
    await tf.setBackend("wasm");
    return values;
  };
  const want = await grads("cpu");
  const got = await grads("wasm");
  const names = new Map([...model.variables()].map(([path, v]) => [v.name, path]));
  assert.equal(Object.keys(got).length, model.trainableVariables().length);
  for (const key of Object.keys(want)) {
    assertClose(got[key], want[key], { rtol: 2e-3, atol: 1e-6, label: names.get(key) ?? key });
  }
  model.dispose();
});

Deno.test("tf.memory().numTensors is the same after step 10 as after step 100", async () => {
  const data = shapes(8, 16, 2);
  const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25 });
  const step = createTrainStep(model, tf.train.adam(1e-3));
  const batch = { images: data.images, labels: data.labels, masks: data.masks };
  let after10 = -1;
  for (let i = 1; i <= 100; i++) {
    await step(batch);
    if (i === 10) after10 = tf.memory().numTensors;
  }
  assert.equal(tf.memory().numTensors, after10);
  tf.dispose([data.images, data.labels, data.masks]);
  model.dispose();
});

Deno.test("createTrainStep() with maskWeight 0 ignores masks, and rejects a negative weight", async () => {
  const data = shapes(4, 16, 4);
  const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25 });
  const step = createTrainStep(model, tf.train.sgd(0), { maskWeight: 0 });
  const out = await step({ images: data.images, labels: data.labels, masks: data.masks });
  assert.equal(out.mask, 0);
  assert.equal(out.loss, out.ce);
  assert.throws(() => createTrainStep(model, tf.train.sgd(0), { maskWeight: -1 }), /maskWeight/);
  tf.dispose([data.images, data.labels, data.masks]);
  model.dispose();
});
