import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { camEvidenceLoss } from "../../lib/losses/cam.ts";
import { ClassificationHead } from "../../lib/heads/classification.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import { createTwoBranchModel } from "../../lib/models/two_branch.ts";
import { mixedLoss } from "../../lib/train/mixed_loss.ts";
import { createTrainStep } from "../../lib/train/train_step.ts";
import { createOptimizer } from "../../lib/train/optim.ts";
import { assertClose, randn, useEngines, warmUp } from "../_helpers.ts";
import { checkInputGradient } from "./_finite_diff.ts";

await useEngines();

/** The loss in plain JavaScript, for one sample whose grid equals the mask's. */
function byHand(evidence: number[][][], mask: number[][]): number {
  let out = 0, all = 0;
  evidence.forEach((row, i) =>
    row.forEach((cell, j) => {
      const mean = cell.reduce((a, b) => a + b, 0) / cell.length;
      const e = cell.reduce((a, v) => a + (v - mean) ** 2, 0);
      all += e;
      out += e * (1 - mask[i][j]);
    })
  );
  return out / all;
}

Deno.test("camEvidenceLoss: matches the formula by hand, 3 classes on a 2×3 grid", () => {
  const ev = [[[1, 2, 3], [0, 0, 4], [2, 2, 2]], [[-1, 5, 0], [3, 1, 1], [0, 0, 0.5]]];
  const mask = [[1, 0, 1], [0, 1, 1]];
  const got = tf.tidy(() => camEvidenceLoss(tf.tensor4d([ev]), tf.tensor3d([mask])).dataSync()[0]);
  assertClose([got], [byHand(ev, mask)], { rtol: 1e-5 });
});

Deno.test("camEvidenceLoss: the mask is averaged onto the evidence grid", () => {
  // A 1×2 grid; the mask 2×4 covers the left cell fully and 1 of 4 pixels of the right cell.
  const ev = [[[2, 0], [0, 2]]]; // energy 2 in each cell
  const mask = [[1, 1, 1, 0], [1, 1, 0, 0]];
  const got = tf.tidy(() => camEvidenceLoss(tf.tensor4d([ev]), tf.tensor3d([mask])).dataSync()[0]);
  // Right cell is 1/4 inside: outside share = 2·(3/4) / 4.
  assertClose([got], [0.375], { rtol: 1e-6 });
});

Deno.test("camEvidenceLoss: sample weights and empty masks leave samples out", () => {
  const ev = tf.tensor4d([[[[1, 0], [0, 1]]], [[[4, 0], [0, 0]]]]); // 2 samples, 1×2 grid
  const masks = tf.tensor3d([[[1, 0]], [[0, 0]]]);
  // Sample 2's mask is empty: only sample 1 counts (its right cell is outside: 1/2).
  assertClose([camEvidenceLoss(ev, masks).dataSync()[0]], [0.5], { rtol: 1e-6 });
  const weighted = camEvidenceLoss(ev, tf.tensor3d([[[1, 0]], [[1, 0]]]), {
    weights: tf.tensor1d([0, 1]),
  });
  // Only sample 2 counts, and all its energy is inside.
  assertClose([weighted.dataSync()[0]], [0], { atol: 1e-7 });
  assert.throws(
    () => camEvidenceLoss(ev, tf.zeros([3, 1, 2]) as tf.Tensor3D),
    /"masks" has 3 samples but "evidence" has 2/,
  );
  assert.throws(() => camEvidenceLoss(tf.zeros([2, 2]) as never, masks), /evidence/);
});

Deno.test("camEvidenceLoss: its gradient matches central differences", () => {
  const shape = [2, 2, 3, 4];
  const masks = tf.tensor3d([[[1, 1, 0], [0, 1, 0]], [[0, 0, 1], [1, 1, 1]]]);
  checkInputGradient(
    "camEvidenceLoss",
    (x) => camEvidenceLoss(x as tf.Tensor4D, masks),
    randn(shape, 3),
    shape,
    { h: 1e-3, rtol: 2e-2, atol: 1e-4 },
  );
});

Deno.test("class evidence: its spatial mean plus the bias is the logits, for both architectures", () => {
  const images = tf.tensor4d(randn([2, 16, 16, 3], 5), [2, 16, 16, 3]);
  const models = [
    createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25, seed: 2 }),
    createTwoBranchModel({
      backbone: "plain_cnn",
      backboneOptions: { width: 0.25 },
      saliencyHead: "attention",
      headOptions: { gate: "multiplicative" },
      numClasses: 3,
      inputSize: 16,
      seed: 2,
    }),
  ];
  for (const model of models) {
    const bias = [...model.variables().entries()].find(([k]) => /fc\/bias$/.test(k))![1];
    const out = model.forward(images, { classEvidence: true });
    assert.ok(out.evidence, `${model.name}: no evidence`);
    assert.equal(out.evidence.shape[3], 3);
    const fromEvidence = tf.tidy(() => tf.add(tf.mean(out.evidence!, [1, 2]), bias).dataSync());
    assertClose(fromEvidence, out.logits.dataSync(), { rtol: 1e-4, label: model.name });
    const plain = model.forward(images);
    assert.equal(plain.evidence, undefined);
    tf.dispose([out, plain] as never);
    model.dispose();
  }
  images.dispose();
});

Deno.test("cam loss: a classifier with hidden layers is refused in one line", () => {
  const head = new ClassificationHead({ inChannels: 4, numClasses: 2, hidden: [8] });
  assert.throws(
    () => head.evidence(tf.zeros([1, 2, 2, 4]) as tf.Tensor4D),
    /global average pooling and one linear layer; this one has hidden layers/,
  );
  head.dispose();
});

Deno.test("cam loss: a training step through mixedLoss lowers it and leaks no tensor", async () => {
  const model = createReferenceNet({ numClasses: 2, inputSize: 16, width: 0.25, seed: 1 });
  warmUp(model);
  const optimizer = createOptimizer({ name: "adam", lr: 1e-2 });
  const step = createTrainStep(model, optimizer, { loss: mixedLoss({ ce: 1, cam: 1 }) });
  const images = tf.tensor4d(randn([4, 16, 16, 3], 9), [4, 16, 16, 3]);
  const mask = new Float32Array(4 * 16 * 16).map((_, i) => (i % 16) < 8 ? 1 : 0);
  const batch = {
    images,
    labels: tf.tensor1d([0, 1, 0, 1], "int32"),
    masks: tf.tensor3d(mask, [4, 16, 16]),
    hasMask: tf.ones([4]) as tf.Tensor1D,
    ids: ["a", "b", "c", "d"],
  };
  const first = await step(batch);
  const before = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 15; i++) last = await step(batch);
  assert.equal(tf.memory().numTensors, before);
  assert.ok("cam" in first && Number.isFinite(first.cam));
  assert.ok(last.cam < first.cam, `cam term ${first.cam} → ${last.cam} did not fall`);
  tf.dispose([batch.images, batch.labels, batch.masks, batch.hasMask]);
  optimizer.dispose();
  model.dispose();
});
