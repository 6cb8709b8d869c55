// A model trained on a task where only a planted patch decides the class
// (red patch: class 0, blue patch: class 1, anywhere on a noisy grey
// background): the explainers' maps must peak on the patch.
import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { Random } from "../../lib/util/random.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import { createTrainStep } from "../../lib/train/train_step.ts";
import { explain, type ExplainRequest } from "../../lib/explainers/registry.ts";
import { useEngines } from "../_helpers.ts";

await useEngines();

const SIZE = 24, PATCH = 6, TOLERANCE = 2;

interface PatchSet {
  images: tf.Tensor4D;
  labels: tf.Tensor1D;
  classes: number[];
  /** Top-left corner [row, column] of each image's patch. */
  corners: [number, number][];
}

function patchSet(count: number, seed: number): PatchSet {
  const rng = new Random(seed);
  const px = SIZE * SIZE * 3;
  const data = new Float32Array(count * px);
  const classes: number[] = [], corners: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    const label = i % 2;
    for (let p = 0; p < px; p++) data[i * px + p] = 0.5 + rng.uniform(-0.15, 0.15);
    const y0 = rng.int(SIZE - PATCH + 1), x0 = rng.int(SIZE - PATCH + 1);
    const colour = label === 0 ? [1, 0, 0] : [0, 0, 1];
    for (let y = y0; y < y0 + PATCH; y++) {
      for (let x = x0; x < x0 + PATCH; x++) data.set(colour, i * px + (y * SIZE + x) * 3);
    }
    classes.push(label);
    corners.push([y0, x0]);
  }
  return {
    images: tf.tensor4d(data, [count, SIZE, SIZE, 3]),
    labels: tf.tensor1d(classes, "int32"),
    classes,
    corners,
  };
}

Deno.test("maps of a model trained on a planted-patch task peak on the patch (Grad-CAM, HiResCAM, gradients, occlusion, Score-CAM)", async () => {
  const train = patchSet(128, 1), test = patchSet(24, 2);
  const model = createReferenceNet({ numClasses: 2, inputSize: SIZE, width: 0.25, seed: 3 });
  const step = createTrainStep(model, tf.train.adam(3e-3), { maskWeight: 0 });
  for (let i = 0; i < 60; i++) {
    const start = (i * 32) % 128;
    const batch = tf.tidy(() => ({
      images: train.images.slice(start, 32),
      labels: train.labels.slice(start, 32),
    }));
    await step(batch);
    tf.dispose(Object.values(batch));
  }
  const predicted = tf.tidy(() =>
    Array.from(tf.argMax(model.forward(test.images).logits, 1).dataSync())
  );
  const accuracy = predicted.filter((p, i) => p === test.classes[i]).length / test.classes.length;
  assert.ok(accuracy >= 0.9, `the model learnt the task (test accuracy ${accuracy})`);

  // The patch grown by TOLERANCE pixels covers 100 of 576 pixels, so a map
  // that ignored the patch would hit it for about 4 of 24 images.
  const requests: ExplainRequest[] = [
    { method: "grad-cam" },
    { method: "hires-cam" },
    { method: "vanilla-gradient" },
    { method: "gradient-x-input" },
    { method: "integrated-gradients", steps: 16 },
    { method: "occlusion", window: PATCH, stride: 3 },
    { method: "score-cam" },
  ];
  const hits: Record<string, number> = {};
  for (const request of requests) {
    const maps = explain(
      model,
      test.images,
      { ...request, target: test.classes } as ExplainRequest,
    );
    const values = maps.dataSync();
    maps.dispose();
    hits[request.method] = test.corners.filter(([y0, x0], i) => {
      const m = values.subarray(i * SIZE * SIZE, (i + 1) * SIZE * SIZE);
      let peak = 0;
      for (let p = 1; p < m.length; p++) if (m[p] > m[peak]) peak = p;
      const y = Math.floor(peak / SIZE), x = peak % SIZE;
      return y >= y0 - TOLERANCE && y < y0 + PATCH + TOLERANCE && x >= x0 - TOLERANCE &&
        x < x0 + PATCH + TOLERANCE;
    }).length;
  }
  for (const [method, count] of Object.entries(hits)) {
    assert.ok(
      count >= 16,
      `${method}: the peak is on the patch for ${count} of 24 images (${JSON.stringify(hits)})`,
    );
  }
  tf.dispose([train.images, train.labels, test.images, test.labels]);
  model.dispose();
});
