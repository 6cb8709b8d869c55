import assert from "node:assert/strict";
import {
  createReferenceNet,
  createTrainStep,
  syntheticDataset,
  syntheticTensors,
  tf,
} from "../../mod.ts";
import { assertClose, useEngines } from "../_helpers.ts";
import { cpuAndWasmGradients } from "../_engine_gradients.ts";

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
  const { cpu: want, wasm: got, paths } = await cpuAndWasmGradients(model, 16);
  want.forEach((w, i) => {
    assertClose(got[i], w, { rtol: 2e-3, atol: 1e-6, label: paths[i] });
  });
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
