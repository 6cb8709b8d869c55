import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { registerSecondOrderGradients } from "../../lib/backend/second_order.ts";
import { gainLoss } from "../../lib/losses/gain.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import type { TwoBranchModel } from "../../lib/models/types.ts";
import { assertClose, randn, useEngines } from "../_helpers.ts";
import { assertGradientStepsLeakNothing, checkWeightGradients } from "./_finite_diff.ts";
import { headModel } from "./_head_model.ts";

await useEngines();
registerSecondOrderGradients();

/**
 * One stage that passes the image through, and a head of global average
 * pooling and a 2×2 dense layer: Grad-CAM is then known in closed form.
 */
function gapModel(w: number[][]): TwoBranchModel {
  return headModel("gap", {
    head: (f, kernel) => tf.matMul(tf.mean(f, [1, 2]) as tf.Tensor2D, kernel),
    inputShape: [2, 2, 2],
    weights: w,
  });
}

const W = [[1.5, -0.5], [-1, 2]];
// Two 2×2 images with 2 channels, pixel-major: [p0c0, p0c1, p1c0, p1c1, …].
const X = [
  [0.9, 0.1, 0.2, 0.8, 0.7, 0.3, 0.4, 0.4],
  [0.1, 0.9, 0.6, 0.2, 0.3, 0.7, 0.5, 0.5],
];

/** GAIN's attention-mining score for one image, written out in float64. */
function gainScore(x: number[], c: number, sigma: number, omega: number): number {
  // y_c = Σ_k mean(A_k)·W[k][c], so ∂y_c/∂A_pk = W[k][c] / 4 and α_k = W[k][c] / 4.
  const cam = [0, 1, 2, 3].map((p) =>
    Math.max(0, (x[2 * p] * W[0][c]) / 4 + (x[2 * p + 1] * W[1][c]) / 4)
  );
  const top = Math.max(...cam);
  const t = cam.map((v) => 1 / (1 + Math.exp(-omega * (v / (top + 1e-8) - sigma))));
  const erased = x.map((v, i) => v * (1 - t[i >> 1]));
  const gap = [0, 1].map((k) => (erased[k] + erased[2 + k] + erased[4 + k] + erased[6 + k]) / 4);
  const z = [0, 1].map((j) => gap[0] * W[0][j] + gap[1] * W[1][j]);
  const e = z.map(Math.exp);
  return e[c] / (e[0] + e[1]);
}

Deno.test("gainLoss() is the class probability left after erasing the Grad-CAM region, worked by hand", () => {
  const model = gapModel(W);
  tf.tidy(() => {
    const images = tf.tensor4d(X.flat(), [2, 2, 2, 2]);
    const labels = tf.tensor1d([0, 1], "int32");
    const want = (gainScore(X[0], 0, 0.5, 10) + gainScore(X[1], 1, 0.5, 10)) / 2;
    assertClose(gainLoss(model, images, labels).dataSync(), [want], {
      rtol: 1e-5,
      label: "default",
    });
    const sharp = 2 * gainScore(X[1], 1, 0.3, 25);
    const got = gainLoss(model, images, labels, {
      sigma: 0.3,
      omega: 25,
      weight: 2,
      weights: [0, 1],
    });
    assertClose(got.dataSync(), [sharp], { rtol: 1e-5, label: "σ 0.3, ω 25, sample 1 only" });
    // Erasing the evidence lowers the score below that of the intact image.
    const intact = tf.softmax(model.forwardHead(images)).dataSync();
    assert.ok(gainScore(X[0], 0, 0.5, 10) < intact[0]);
  });
  model.dispose();
});

function referenceSetup() {
  // With this seed the Grad-CAM maps of both samples are partly positive in
  // both modes, so that the loss depends on them (with seed 1 they are all
  // zero in inference mode and the second-order path goes untested).
  const model = createReferenceNet({ inputSize: 16, width: 0.25, numClasses: 3, seed: 2 });
  const images = tf.tensor4d(
    randn([2, 16, 16, 3], 5).map((v) => Math.min(1, Math.max(0, 0.5 + 0.25 * v))),
    [2, 16, 16, 3],
  );
  const labels = tf.tensor1d([0, 2], "int32");
  return { model, images, labels };
}

function runningStats(model: TwoBranchModel): Float32Array[] {
  return [...model.variables()].filter(([name]) => name.includes("/moving_")).map(([, v]) =>
    Float32Array.from(v.dataSync())
  );
}

Deno.test("gainLoss() in training mode leaves every batch-norm running statistic unchanged", () => {
  const { model, images, labels } = referenceSetup();
  const before = runningStats(model);
  assert.equal(before.length, 14, "the reference net has 7 batch norms");
  const { value, grads } = tf.variableGrads(
    () => gainLoss(model, images, labels, { layer: "block1", training: true }),
    model.trainableVariables(),
  );
  tf.dispose([value, ...Object.values(grads)]);
  runningStats(model).forEach((after, i) => assert.deepEqual(after, before[i], `statistic ${i}`));
  // The check can fail: an ordinary training pass does move them.
  tf.dispose(Object.values(model.forward(images, { training: true })));
  assert.ok(
    runningStats(model).some((after, i) => after.some((v, j) => v !== before[i][j])),
    "a training forward pass updates running statistics",
  );
  tf.dispose([images, labels]);
  model.dispose();
});

const WEIGHTS = [
  "reference_net/fc/kernel",
  "reference_net/block2_pw2/conv/kernel",
  "reference_net/block2_dw/kernel",
  "reference_net/block1_conv2/conv/kernel",
  "reference_net/block1_shortcut/bn/gamma",
  "reference_net/stem/bn/gamma",
  "reference_net/stem/conv/kernel",
];

Deno.test("gainLoss() gradients with respect to the reference net's weights match finite differences on wasm", () => {
  const { model, images, labels } = referenceSetup();
  // Grad-CAM at block1: its gradient runs back through block2's max pool,
  // depthwise conv and batch norms, so the loss's weight gradient takes the
  // second-order gradients of all of them.
  for (const training of [false, true]) {
    checkWeightGradients(
      `gainLoss block1 training ${training}`,
      model,
      () => gainLoss(model, images, labels, { layer: "block1", training, weight: 10 }),
      WEIGHTS,
      { h: 3e-4 },
    );
  }
  // At the last stage the map depends on ReLU switches right after it, so
  // only a small step and the head's weights stay clear of them.
  checkWeightGradients(
    "gainLoss last stage",
    model,
    () => gainLoss(model, images, labels, { weight: 10 }),
    WEIGHTS.slice(0, 3),
    { h: 1e-4 },
  );
  tf.dispose([images, labels]);
  model.dispose();
});

Deno.test("gainLoss() ignores a sample of weight 0, in inference mode", () => {
  const { model, images, labels } = referenceSetup();
  tf.tidy(() => {
    const a = gainLoss(model, images, labels, { training: false, weights: [1, 0] }).dataSync()[0];
    const other = tf.concat([tf.slice(images, [0], [1]), tf.onesLike(tf.slice(images, [1], [1]))]);
    const b = gainLoss(model, other as tf.Tensor4D, tf.tensor1d([0, 1], "int32"), {
      training: false,
      weights: [1, 0],
    }).dataSync()[0];
    assert.equal(a, b);
  });
  tf.dispose([images, labels]);
  model.dispose();
});

Deno.test("gainLoss() with its gradient leaves tf.memory().numTensors flat", () => {
  const { model, images, labels } = referenceSetup();
  assertGradientStepsLeakNothing(model, () => gainLoss(model, images, labels, { layer: "block1" }));
  tf.dispose([images, labels]);
  model.dispose();
});

Deno.test("gainLoss() names the option or input that is wrong", () => {
  const { model, images, labels } = referenceSetup();
  assert.throws(
    () => gainLoss(model, images, labels, { layer: "block9" }),
    /gainLoss: option "layer" must name a stage of reference_net \(0 "stem", 1 "block1", 2 "block2"\), got "block9"/,
  );
  assert.throws(() => gainLoss(model, images, labels, { layer: 3 }), /got 3/);
  assert.throws(
    () => gainLoss(model, images, labels, { sigma: NaN }),
    /gainLoss: option "sigma" must be a finite number, got NaN/,
  );
  assert.throws(
    () => gainLoss(model, images, labels, { omega: -1 }),
    /gainLoss: option "omega" must be a finite number of at least 0, got -1/,
  );
  assert.throws(
    () => gainLoss(model, tf.zeros([2, 8, 8, 3]) as tf.Tensor4D, labels),
    /gainLoss: "images" must have shape \[n, 16, 16, 3\] for this model, got \[2, 8, 8, 3\]/,
  );
  assert.throws(
    () => gainLoss(model, images, tf.tensor1d([0], "int32")),
    /gainLoss: "labels" must have shape \[2\]/,
  );
  tf.dispose([images, labels]);
  model.dispose();
});
