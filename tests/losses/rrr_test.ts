import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { registerSecondOrderGradients } from "../../lib/backend/second_order.ts";
import { rrrLoss } from "../../lib/losses/rrr.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import type { TwoBranchModel } from "../../lib/models/types.ts";
import { assertClose, randn, useEngines } from "../_helpers.ts";
import { assertGradientStepsLeakNothing, checkWeightGradients } from "./_finite_diff.ts";
import { headModel } from "./_head_model.ts";

await useEngines();
registerSecondOrderGradients();

/**
 * A linear softmax classifier on 1×2×2 images, as a one-stage model:
 * logits = flatten(x) · W. Its input gradients are known in closed form.
 */
function linearModel(w: number[][]): TwoBranchModel {
  return headModel("linear", {
    head: (f, kernel) => tf.matMul(tf.reshape(f, [f.shape[0], 4]), kernel),
    inputShape: [1, 2, 2],
    weights: w,
  });
}

const W = [[0.5, -1, 0.2], [1.5, 0.3, -0.7], [-0.4, 0.9, 1.1], [0.2, -0.6, 0.4]];
const X = [[0.3, -0.2, 0.8, 0.5], [-1, 0.4, 0.1, 0.9]];

/** ∂/∂x of Σ_k log p_k (or log p_y) for the linear model, in float64. */
function inputGradient(x: number[], label: number | null): number[] {
  const z = [0, 1, 2].map((c) => x.reduce((s, xi, i) => s + xi * W[i][c], 0));
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const p = e.map((v) => v / e.reduce((a, b) => a + b));
  // Σ_k log p_k = Σ_k z_k − K·lse(z): d/dz_j = 1 − K·p_j. log p_y: d/dz_j = [j = y] − p_j.
  const dz = p.map((pj, j) => (label === null ? 1 - 3 * pj : (j === label ? 1 : 0) - pj));
  return W.map((row) => row.reduce((s, wij, j) => s + wij * dz[j], 0));
}

Deno.test("rrrLoss() is the squared input gradient of Σ log p inside the region, worked by hand", () => {
  const model = linearModel(W);
  tf.tidy(() => {
    const images = tf.tensor4d(X.flat(), [2, 1, 2, 2]);
    const labels = tf.tensor1d([2, 0], "int32");
    const regionValues = [[1, 0], [0.5, 1]]; // per pixel (h = 1, w = 2)
    const region = tf.tensor3d(regionValues.flat(), [2, 1, 2]);
    const penalty = (label: (i: number) => number | null, area: (v: number) => number) =>
      X.map((x, i) => {
        const g = inputGradient(x, label(i));
        // Pixel j holds channels 2j and 2j + 1.
        return g.reduce((s, gi, idx) => s + (area(regionValues[i][idx >> 1]) * gi) ** 2, 0);
      });
    const all = penalty(() => null, (a) => a);
    const got = rrrLoss(model, images, labels, { region, mode: "must-not-matter", weight: 3 });
    assertClose(got.dataSync(), [3 * (all[0] + all[1]) / 2], { rtol: 1e-5, label: "all classes" });
    const outside = penalty(() => null, (a) => 1 - a);
    const got2 = rrrLoss(model, images, labels, { region, mode: "outside-object" });
    assertClose(got2.dataSync(), [(outside[0] + outside[1]) / 2], { rtol: 1e-5, label: "outside" });
    const byLabel = penalty((i) => [2, 0][i], (a) => a);
    const got3 = rrrLoss(model, images, labels, {
      region,
      mode: "must-not-matter",
      classes: "label",
      weights: [0, 1],
    });
    assertClose(got3.dataSync(), [byLabel[1]], { rtol: 1e-5, label: "true class, sample 1 only" });
  });
  model.dispose();
});

Deno.test("rrrLoss() ignores the region of an unannotated sample", () => {
  const model = linearModel(W);
  tf.tidy(() => {
    const images = tf.tensor4d(X.flat(), [2, 1, 2, 2]);
    const labels = tf.tensor1d([2, 0], "int32");
    const weights = [1, 0];
    const a = rrrLoss(model, images, labels, {
      region: tf.tensor3d([1, 0, 0, 0], [2, 1, 2]),
      mode: "outside-object",
      weights,
    }).dataSync()[0];
    const b = rrrLoss(model, images, labels, {
      region: tf.tensor3d([1, 0, 1, 1], [2, 1, 2]),
      mode: "outside-object",
      weights,
    }).dataSync()[0];
    assert.equal(a, b);
    assert.ok(a > 0);
  });
  model.dispose();
});

function referenceSetup() {
  const model = createReferenceNet({ inputSize: 16, width: 0.25, numClasses: 3, seed: 1 });
  const images = tf.tensor4d(
    randn([2, 16, 16, 3], 5).map((v) => 0.5 + 0.25 * v),
    [2, 16, 16, 3],
  );
  const labels = tf.tensor1d([0, 2], "int32");
  // The left half of every image must not matter.
  const region = tf.tensor3d(
    Float32Array.from({ length: 2 * 16 * 16 }, (_, i) => (i % 16 < 8 ? 1 : 0)),
    [2, 16, 16],
  );
  return { model, images, labels, region };
}

// Weights from the head back to the stem: each gradient runs through the
// second-order gradients of max pool, average pool, depthwise and plain
// convolutions and batch norm.
const WEIGHTS = [
  "reference_net/fc/kernel",
  "reference_net/block2_pw2/conv/kernel",
  "reference_net/block2_dw/kernel",
  "reference_net/block2_dw_bn/beta",
  "reference_net/block1_shortcut/bn/gamma",
  "reference_net/block1_conv2/conv/kernel",
  "reference_net/stem/conv/kernel",
];

Deno.test("rrrLoss() gradients with respect to the reference net's weights match finite differences on wasm", () => {
  const { model, images, labels, region } = referenceSetup();
  const loss = (training: boolean) => () =>
    rrrLoss(model, images, labels, { region, mode: "must-not-matter", weight: 10, training });
  // Inference mode: every stage. The stem feeds every ReLU and max pool of
  // the net, so it takes a smaller step to stay clear of their switches.
  checkWeightGradients("rrrLoss inference mode", model, loss(false), WEIGHTS.slice(0, -1));
  checkWeightGradients("rrrLoss inference mode", model, loss(false), WEIGHTS.slice(-1), {
    h: 1e-4,
  });
  // Training mode: batch norm over a channel that is all zero on this batch
  // turns any upstream perturbation into a jump (slope 1/√ε), which float32
  // differences cannot resolve, so only the weights after it are compared.
  checkWeightGradients("rrrLoss training mode", model, loss(true), WEIGHTS.slice(0, 2));
  tf.dispose([images, labels, region]);
  model.dispose();
});

Deno.test("rrrLoss() with its gradient leaves tf.memory().numTensors flat", () => {
  const { model, images, labels, region } = referenceSetup();
  assertGradientStepsLeakNothing(
    model,
    () => rrrLoss(model, images, labels, { region, mode: "outside-object" }),
  );
  tf.dispose([images, labels, region]);
  model.dispose();
});

Deno.test("rrrLoss() names the option or input that is wrong", () => {
  const { model, images, labels, region } = referenceSetup();
  assert.throws(
    () =>
      rrrLoss(model, images, labels, {
        region: tf.zeros([2, 8, 8]) as tf.Tensor3D,
        mode: "outside-object",
      }),
    /rrrLoss: option "region" must have shape \[2, 16, 16\].*got \[2, 8, 8\]/,
  );
  assert.throws(
    () => rrrLoss(model, images, labels, { region, mode: "inside" as "outside-object" }),
    /rrrLoss: option "mode" must be "must-not-matter" or "outside-object", got "inside"/,
  );
  assert.throws(
    () => rrrLoss(model, images, labels, { region, mode: "outside-object", weight: -1 }),
    /rrrLoss: option "weight" must be a finite number of at least 0, got -1/,
  );
  assert.throws(
    () =>
      rrrLoss(model, tf.zeros([2, 16, 16, 1]) as tf.Tensor4D, labels, {
        region,
        mode: "outside-object",
      }),
    /rrrLoss: "images" must have shape \[n, 16, 16, 3\] for this model, got \[2, 16, 16, 1\]/,
  );
  assert.throws(
    () => rrrLoss(model, images, tf.tensor1d([0, 5], "int32"), { region, mode: "outside-object" }),
    /rrrLoss: "labels" must be class indices in \[0, 2\], got 5 at sample 1/,
  );
  tf.dispose([images, labels, region]);
  model.dispose();
});

Deno.test("rrrLoss() and gainLoss() say what to call when the second-order gradients are not registered", async () => {
  const { gainLoss } = await import("../../lib/losses/gain.ts");
  const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125 });
  const images = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
  const labels = tf.tensor1d([0, 1], "int32");
  const region = tf.zeros([2, 8, 8]) as tf.Tensor3D;
  const saved = tf.getGradient("MaxPoolGrad")!;
  tf.unregisterGradient("MaxPoolGrad");
  try {
    assert.throws(
      () => rrrLoss(model, images, labels, { region, mode: "outside-object" }),
      /rrrLoss differentiates a gradient.*call registerSecondOrderGradients\(\)/,
    );
    assert.throws(() => gainLoss(model, images, labels), /gainLoss differentiates a gradient/);
  } finally {
    tf.registerGradient(saved);
    tf.dispose([images, labels, region]);
    model.dispose();
  }
});
