import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import {
  confidenceDrop,
  deletionAuc,
  insertionAuc,
  noisyLinearImpute,
  randomMapControl,
  road,
} from "../../lib/metrics/faithfulness.ts";
import { Random } from "../../lib/util/random.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import { explain } from "../../lib/explainers/registry.ts";
import { assertClose, useEngines } from "../_helpers.ts";
import { toyModel } from "./_toy_model.ts";

await useEngines();

// The toy model (see _toy_model.ts) on a 2×2 one-channel image: with
// S = Σ pixels, p0 = (1 + S) / 22. The image is [4, 3, 2, 1] (S = 10,
// p0 = 11/22, the predicted class is 0) and the map [0.1, 0.9, 0.5, 0.3]
// ranks the pixels 1, 2, 3, 0 (values 3, 2, 1, 4).
const IMAGE = [4, 3, 2, 1];
const MAP = [0.1, 0.9, 0.5, 0.3];

async function withInput<T>(
  image: number[],
  map: number[],
  fn: (input: { images: tf.Tensor4D; maps: tf.Tensor3D }) => Promise<T>,
): Promise<T> {
  const images = tf.tensor4d(image, [image.length / 4, 2, 2, 1]);
  const maps = tf.tensor3d(map, [map.length / 4, 2, 2]);
  try {
    return await fn({ images, maps });
  } finally {
    tf.dispose([images, maps]);
  }
}

Deno.test("deletionAuc() matches the hand-derived curve and trapezoid area", async () => {
  const model = toyModel();
  const r = await withInput(IMAGE, MAP, (input) => deletionAuc(model, input, { steps: 4 }));
  // Zeros baseline; deleting pixels 1, 2, 3, 0 leaves S = 10, 7, 5, 4, 0,
  // so p0 = 11, 8, 6, 5, 1 (/22) at fractions 0, ¼, ½, ¾, 1.
  // AUC = ¼ · ((11 + 1)/2 + 8 + 6 + 5) / 22 = 6.25 / 22.
  assert.deepEqual(r.fractions, [0, 0.25, 0.5, 0.75, 1]);
  assertClose(r.curves[0], [11, 8, 6, 5, 1].map((v) => v / 22), { label: "curve" });
  assertClose(r.auc, [6.25 / 22], { label: "auc" });
  assert.deepEqual(r.classes, [0]);
});

Deno.test("insertionAuc() matches the hand-derived area from a zero baseline", async () => {
  const model = toyModel();
  const r = await withInput(
    IMAGE,
    MAP,
    (input) => insertionAuc(model, input, { steps: 4, baseline: "zeros" }),
  );
  // Inserting pixels 1, 2, 3, 0: S = 0, 3, 5, 6, 10 → p0 = 1, 4, 6, 7, 11 (/22).
  // AUC = ¼ · ((1 + 11)/2 + 4 + 6 + 7) / 22 = 5.75 / 22.
  assertClose(r.curves[0], [1, 4, 6, 7, 11].map((v) => v / 22), { label: "curve" });
  assertClose(r.auc, [5.75 / 22], { label: "auc" });
});

Deno.test("deletionAuc() with the mean baseline replaces pixels by the image mean", async () => {
  const model = toyModel();
  const r = await withInput(
    IMAGE,
    MAP,
    (input) => deletionAuc(model, input, { steps: 4, baseline: "mean" }),
  );
  // Mean 2.5: S = 10, 10-3+2.5 = 9.5, 9.5-2+2.5 = 10, 10-1+2.5 = 11.5, 10.
  // p0 = 11, 10.5, 11, 12.5, 11 (/22); AUC = ¼ (11 + 10.5 + 11 + 12.5) / 22.
  assertClose(r.curves[0], [11, 10.5, 11, 12.5, 11].map((v) => v / 22), { label: "curve" });
  assertClose(r.auc, [0.25 * 45 / 22], { label: "auc" });
});

Deno.test("deletionAuc() with the blur baseline leaves a constant image unchanged", async () => {
  // The blur of a constant image is itself: S = 8 at every step, p0 = 9/22
  // (class 0 asked for: the model predicts class 1 here).
  const model = toyModel();
  const r = await withInput(
    [2, 2, 2, 2],
    MAP,
    (input) => deletionAuc(model, input, { steps: 4, baseline: "blur", blurSigma: 1, target: 0 }),
  );
  assertClose(r.curves[0], new Array(5).fill(9 / 22), { label: "curve" });
  assertClose(r.auc, [9 / 22], { label: "auc" });
});

Deno.test("insertionAuc() with the blur baseline starts from the Gaussian blur with reflected borders", async () => {
  // σ = 1 on a 2×2 image: the kernel is cut to radius 1 (reflection pads by
  // size - 1), weights e^{-1/2}, 1, e^{-1/2} normalised: centre c, side s.
  // Reflected, a row [a, b] reads [b, a, b, a], so a → c·a + 2s·b.
  // Rows [4, 3], [2, 1] → [4c + 6s, 3c + 8s], [2c + 2s, c + 4s]; the top
  // right after the column pass is c(3c + 8s) + 2s(c + 4s). Step 1 of 4
  // inserts pixel 1 (value 3) into the blur, whose sum stays 10.
  const e = Math.exp(-0.5), c = 1 / (1 + 2 * e), s = e / (1 + 2 * e);
  const topRight = c * (3 * c + 8 * s) + 2 * s * (c + 4 * s);
  const model = toyModel();
  const r = await withInput(
    IMAGE,
    MAP,
    (input) => insertionAuc(model, input, { steps: 4, blurSigma: 1, target: 0 }),
  );
  assertClose(r.curves[0].slice(0, 2), [11 / 22, (1 + 10 - topRight + 3) / 22], {
    label: "blur",
  });
});

Deno.test("deletionAuc() breaks ties (an all-zero map) in raster order", async () => {
  // Order 0, 1, 2, 3 (values 4, 3, 2, 1): S = 10, 6, 3, 1, 0 → 11, 7, 4, 2, 1.
  // AUC = ¼ · (6 + 7 + 4 + 2) / 22 = 4.75 / 22.
  const model = toyModel();
  const r = await withInput(
    IMAGE,
    [0, 0, 0, 0],
    (input) => deletionAuc(model, input, { steps: 4 }),
  );
  assertClose(r.auc, [4.75 / 22], { label: "auc" });
});

Deno.test("deletionAuc() integrates over the actual pixel fractions when steps do not divide the pixels", async () => {
  // steps 3 on 4 pixels: round(0, 4/3, 8/3, 4) = 0, 1, 3, 4 pixels, fractions
  // 0, ¼, ¾, 1; S = 10, 7, 4, 0 → p0 = 11, 8, 5, 1 (/22).
  // AUC = [¼ (11+8)/2 + ½ (8+5)/2 + ¼ (5+1)/2] / 22 = 6.375 / 22.
  const model = toyModel();
  const r = await withInput(IMAGE, MAP, (input) => deletionAuc(model, input, { steps: 3 }));
  assert.deepEqual(r.fractions, [0, 0.25, 0.75, 1]);
  assertClose(r.auc, [6.375 / 22], { label: "auc" });
});

Deno.test("deletionAuc() gives the same values whatever the batch size and for an explicit target", async () => {
  const model = toyModel();
  const images = [...IMAGE, 1, 5, 0, 2];
  const maps = [...MAP, 0.2, 0.1, 0.7, 0.4];
  const a = await withInput(
    images,
    maps,
    (input) => deletionAuc(model, input, { steps: 4, batchSize: 3, target: 0 }),
  );
  const b = await withInput(
    images,
    maps,
    (input) => deletionAuc(model, input, { steps: 4, batchSize: 64, target: 0 }),
  );
  assertClose(a.curves.flat(), b.curves.flat(), { label: "batched" });
  assert.equal(a.auc.length, 2);
  // "predicted" picks each image's own class: 0 for the first (S = 10),
  // 1 for the second (S = 8, p0 = 9/22).
  const p = await withInput(images, maps, (input) => deletionAuc(model, input, { steps: 4 }));
  assert.deepEqual(p.classes, [0, 1]);
  // Class 1 has p1 = 1 - p0 at every step, so its area is 1 - area(p0).
  const c = await withInput(
    images,
    maps,
    (input) => deletionAuc(model, input, { steps: 4, target: 1 }),
  );
  assertClose(c.auc, a.auc.map((v) => 1 - v), { label: "class 1" });
});

Deno.test("deletionAuc() and insertionAuc() reject bad inputs and options by name", async () => {
  const model = toyModel();
  const images = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
  const bad = tf.zeros([1, 3, 3]) as tf.Tensor3D;
  const maps = tf.zeros([1, 2, 2]) as tf.Tensor3D;
  try {
    await assert.rejects(
      () => deletionAuc(model, { images, maps: bad }),
      /deletionAuc\(\): expected "maps" of shape \[1, 2, 2\], got \[1, 3, 3\]/,
    );
    await assert.rejects(
      () => insertionAuc(model, { images: maps as unknown as tf.Tensor4D, maps }),
      /insertionAuc\(\): expected "images" of shape \[n, 2, 2, 1\], got \[1, 2, 2\]/,
    );
    await assert.rejects(
      () => deletionAuc(model, { images, maps }, { steps: 0 }),
      /option "steps" must be a positive integer, got 0/,
    );
    await assert.rejects(
      () => deletionAuc(model, { images, maps }, { batchSize: 0 }),
      /option "batchSize" must be a positive integer/,
    );
    await assert.rejects(
      () => deletionAuc(model, { images, maps }, { target: 2 }),
      /option "target" holds class 2, expected 0 to 1/,
    );
    await assert.rejects(
      () => deletionAuc(model, { images, maps }, { target: [0, 1] }),
      /one class per image \(1\), got 2/,
    );
    const nan = tf.tensor3d([0, NaN, 0, 0], [1, 2, 2]);
    await assert.rejects(
      () => road(model, { images, maps: nan }),
      /road\(\): map 0 of "maps" holds NaN at pixel 1/,
    );
    nan.dispose();
    await assert.rejects(
      () => deletionAuc(model, { images, maps }, { baseline: "noise" as "zeros" }),
      /option "baseline" must be "blur", "zeros" or "mean", got "noise"/,
    );
  } finally {
    tf.dispose([images, bad, maps]);
  }
});

Deno.test("noisyLinearImpute() reproduces a linear ramp exactly without noise", () => {
  // 6×5 image, two channels: f0 = 2r + 3c + 1, f1 = 10 - r + 0.5c. The
  // weighted mean of the 8 neighbours (symmetric weights) of a linear
  // function is its value, so interior holes are filled exactly.
  const h = 6, w = 5, c = 2;
  const data = new Float32Array(h * w * c);
  const removed = new Uint8Array(h * w);
  for (let r = 0; r < h; r++) {
    for (let col = 0; col < w; col++) {
      data[(r * w + col) * c] = 2 * r + 3 * col + 1;
      data[(r * w + col) * c + 1] = 10 - r + 0.5 * col;
      if (r > 0 && r < h - 1 && col > 0 && col < w - 1) removed[r * w + col] = 1;
    }
  }
  const holed = Float32Array.from(data, (v, i) => (removed[Math.floor(i / c)] ? -99 : v));
  for (const relaxation of [1, 1.8]) {
    const out = noisyLinearImpute(holed, removed, {
      height: h,
      width: w,
      channels: c,
      noise: 0,
      relaxation,
    });
    assertClose(out, data, { atol: 1e-4, rtol: 0, label: `relaxation ${relaxation}` });
  }
});

Deno.test("noisyLinearImpute() uses 1/6 and 1/12 weights, renormalised at borders, plus seeded noise", () => {
  // Centre of a 3×3 image: direct neighbours 1, 2, 3, 4 (weight 1/6 each)
  // and diagonal ones 5, 6, 7, 8 (1/12 each): 10/6 + 26/12 = 3.8333.
  const img = Float32Array.from([5, 1, 6, 2, 0, 3, 7, 4, 8]);
  const centre = new Uint8Array(9);
  centre[4] = 1;
  const out = noisyLinearImpute(img, centre, { height: 3, width: 3, channels: 1, noise: 0 });
  assertClose([out[4]], [10 / 6 + 26 / 12], { label: "centre" });
  // Corner (0, 0): right 1 and down 2 (1/6 each), diagonal 0 (1/12); renormalised
  // by 5/12 the weights are 0.4, 0.4, 0.2: 0.4 + 0.8 + 0 = 1.2. Kept pixels stay.
  const corner = new Uint8Array(9);
  corner[0] = 1;
  const c2 = noisyLinearImpute(img, corner, { height: 3, width: 3, channels: 1, noise: 0 });
  assertClose(c2, [1.2, 1, 6, 2, 0, 3, 7, 4, 8], { label: "corner" });
  // Noise: on a 20×20 ramp with every interior pixel removed, the imputed
  // minus exact values have a std near `noise`, and the seed fixes them.
  const n = 20, data = new Float32Array(n * n), holes = new Uint8Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let col = 0; col < n; col++) {
      data[r * n + col] = 0.01 * (r + col);
      if (r > 0 && r < n - 1 && col > 0 && col < n - 1) holes[r * n + col] = 1;
    }
  }
  const opts = { height: n, width: n, channels: 1, noise: 0.05, seed: 4 };
  const noisy = noisyLinearImpute(data, holes, opts);
  assert.deepEqual(noisy, noisyLinearImpute(data, holes, opts));
  let ss = 0, count = 0;
  for (let j = 0; j < n * n; j++) {
    if (holes[j]) {
      ss += (noisy[j] - data[j]) ** 2;
      count++;
    } else assert.equal(noisy[j], data[j]);
  }
  const std = Math.sqrt(ss / count);
  assert.ok(std > 0.04 && std < 0.06, `noise std ${std}`);
  assert.throws(
    () => noisyLinearImpute(img, centre, { height: 3, width: 3, channels: 1, relaxation: 2 }),
    /option "relaxation" must lie in \(0, 2\), got 2/,
  );
  assert.throws(
    () => noisyLinearImpute(img, centre, { height: 3, width: 4, channels: 1 }),
    /expected 12 values and 12 flags, got 9 and 9/,
  );
});

Deno.test("road() removes most and least relevant pixels and imputes them as derived by hand", async () => {
  const model = toyModel();
  const r = await withInput(
    IMAGE,
    MAP,
    (input) => road(model, input, { percentages: [0, 0.25], noise: 0 }),
  );
  // MoRF 25%: pixel 1 (3) at (0, 1) is imputed from left 4, down 1 (weights
  // 0.4 each after renormalising 1/6, 1/6, 1/12) and diagonal 2 (0.2):
  // 1.6 + 0.4 + 0.4 = 2.4, so S = 10 - 3 + 2.4 = 9.4, p0 = 10.4 / 22.
  // LeRF 25%: pixel 0 (4) at (0, 0) from right 3, down 2 (0.4 each) and
  // diagonal 1 (0.2): 2.2, so S = 8.2, p0 = 9.2 / 22. At 0% both are 11/22.
  assertClose(r.morf[0], [11 / 22, 10.4 / 22], { label: "morf" });
  assertClose(r.lerf[0], [11 / 22, 9.2 / 22], { label: "lerf" });
  assertClose(r.morfMean, [(11 + 10.4) / 44], { label: "morfMean" });
  assertClose(r.gap, [(9.2 - 10.4) / 44], { label: "gap" });
  assert.deepEqual(r.percentages, [0, 0.25]);
  await assert.rejects(
    () => withInput(IMAGE, MAP, (input) => road(model, input, { percentages: [1.5] })),
    /road\(\): option "percentages" must hold shares in \[0, 1\], got 1.5/,
  );
});

Deno.test("road() is seeded and independent of the batch size", async () => {
  const model = toyModel(4, 4);
  const rng = new Random(5);
  const images = tf.tensor4d(rng.uniformArray(2 * 16, 0, 5), [2, 4, 4, 1]);
  const maps = tf.tensor3d(rng.uniformArray(2 * 16), [2, 4, 4]);
  try {
    const a = await road(model, { images, maps }, {
      percentages: [0.2, 0.5, 0.8],
      batchSize: 4,
      seed: 3,
    });
    const b = await road(model, { images, maps }, {
      percentages: [0.2, 0.5, 0.8],
      batchSize: 64,
      seed: 3,
    });
    assertClose(a.morf.flat(), b.morf.flat(), { label: "morf" });
    assertClose(a.lerf.flat(), b.lerf.flat(), { label: "lerf" });
  } finally {
    tf.dispose([images, maps]);
  }
});

Deno.test("confidenceDrop() matches the probability of the image times its map", async () => {
  const model = toyModel();
  // Image × map = [0.4, 2.7, 1.0, 0.3], S = 4.4, p0 = 5.4/22; originally 11/22.
  const r = await withInput(IMAGE, MAP, (input) => confidenceDrop(model, input));
  assertClose(r.original, [0.5], { label: "original" });
  assertClose(r.masked, [5.4 / 22], { label: "masked" });
  assertClose(r.drop, [0.5 - 5.4 / 22], { label: "drop" });
  assertClose(r.relativeDrop, [(0.5 - 5.4 / 22) / 0.5], { label: "relative" });
  assert.deepEqual(r.increase, [false]);
  // Class 1 gains: p1 goes from 0.5 to 16.6/22, an increase with no drop.
  const c = await withInput(IMAGE, MAP, (input) => confidenceDrop(model, input, { target: [1] }));
  assertClose(c.relativeDrop, [0], { label: "class 1" });
  assert.deepEqual(c.increase, [true]);
});

Deno.test("randomMapControl() runs the chosen metrics on seeded uniform maps", async () => {
  const model = toyModel(4, 4);
  const images = tf.tensor4d(new Random(1).uniformArray(2 * 16, 0, 5), [2, 4, 4, 1]);
  try {
    const a = await randomMapControl(model, images, {
      metrics: ["deletion", "road"],
      seed: 2,
      curve: { steps: 4 },
      road: { percentages: [0.5] },
    });
    const b = await randomMapControl(model, images, {
      metrics: ["deletion", "road"],
      seed: 2,
      curve: { steps: 4 },
      road: { percentages: [0.5] },
    });
    assert.deepEqual(a, b);
    assert.equal(a.insertion, undefined);
    assert.equal(a.deletion!.auc.length, 2);
    // The same as deletionAuc() on the maps Random(2) draws.
    const maps = tf.tensor3d(new Random(2).uniformArray(2 * 16), [2, 4, 4]);
    const d = await deletionAuc(model, { images, maps }, { steps: 4 });
    maps.dispose();
    assertClose(a.deletion!.auc, d.auc, { label: "deletion" });
    const c = await randomMapControl(model, images, {
      metrics: ["deletion"],
      seed: 3,
      curve: { steps: 4 },
    });
    assert.notDeepEqual(c.deletion!.auc, a.deletion!.auc);
    await assert.rejects(
      () => randomMapControl(model, images, { metrics: ["pointing" as "road"] }),
      /option "metrics" holds unknown metric "pointing"/,
    );
  } finally {
    images.dispose();
  }
});

Deno.test("faithfulness metrics leave no tensors behind", async () => {
  const model = toyModel(4, 4);
  const images = tf.tensor4d(new Random(1).uniformArray(16, 0, 5), [1, 4, 4, 1]);
  const maps = tf.tensor3d(new Random(2).uniformArray(16), [1, 4, 4]);
  const before = tf.memory().numTensors;
  try {
    await deletionAuc(model, { images, maps }, { steps: 4, batchSize: 2 });
    await insertionAuc(model, { images, maps }, { steps: 4 });
    await insertionAuc(model, { images, maps }, { steps: 4, baseline: "mean" });
    await road(model, { images, maps }, { percentages: [0.5] });
    await confidenceDrop(model, { images, maps });
    await randomMapControl(model, images, { curve: { steps: 2 }, road: { percentages: [0.5] } });
    await assert.rejects(
      () => deletionAuc(model, { images, maps }, { blurSigma: 0, baseline: "blur" }),
      /"blurSigma" must be positive/,
    );
    assert.equal(tf.memory().numTensors, before);
  } finally {
    tf.dispose([images, maps]);
  }
});

Deno.test("faithfulness metrics run on the reference net with Grad-CAM maps", async () => {
  const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25 });
  const images = tf.tensor4d(new Random(7).uniformArray(2 * 16 * 16 * 3), [2, 16, 16, 3]);
  const maps = explain(model, images, { method: "grad-cam" });
  const before = tf.memory().numTensors;
  try {
    const del = await deletionAuc(model, { images, maps }, { steps: 8, batchSize: 5 });
    const ins = await insertionAuc(model, { images, maps }, { steps: 8 });
    const r = await road(model, { images, maps }, { percentages: [0.2, 0.6] });
    const d = await confidenceDrop(model, { images, maps });
    for (const v of [...del.auc, ...ins.auc, ...r.morf.flat(), ...r.lerf.flat(), ...d.masked]) {
      assert.ok(v >= 0 && v <= 1, `value ${v}`);
    }
    // Both curves end at the other one's start: all deleted = the baseline
    // (zeros) for deletion; nothing inserted = the blur for insertion; and
    // deletion starts, insertion ends, at the unperturbed probability.
    assertClose(del.curves.map((c) => c[0]), ins.curves.map((c) => c[8]), { atol: 1e-5 });
    assert.equal(tf.memory().numTensors, before);
  } finally {
    tf.dispose([images, maps]);
    model.dispose();
  }
});
