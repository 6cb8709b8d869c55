// Every explainer against its definition, computed by hand in plain
// JavaScript on models small enough to write out: a linear classifier and a
// two-stage conv net with fixed weights (tests/explainers/_models.ts).
import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { Random } from "../../lib/util/random.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import { vanillaGradient } from "../../lib/explainers/vanilla_gradient.ts";
import { gradientXInput } from "../../lib/explainers/gradient_x_input.ts";
import { smoothGrad } from "../../lib/explainers/smooth_grad.ts";
import {
  integratedGradients,
  integratedGradientsAttributions,
} from "../../lib/explainers/integrated_gradients.ts";
import { guidedBackprop } from "../../lib/explainers/guided_backprop.ts";
import { gradCam } from "../../lib/explainers/grad_cam.ts";
import { gradCamPlusPlus } from "../../lib/explainers/grad_cam_plus_plus.ts";
import { xGradCam } from "../../lib/explainers/xgrad_cam.ts";
import { hiResCam } from "../../lib/explainers/hires_cam.ts";
import { layerCam } from "../../lib/explainers/layer_cam.ts";
import { eigenCam } from "../../lib/explainers/eigen_cam.ts";
import { scoreCam } from "../../lib/explainers/score_cam.ts";
import { ablationCam } from "../../lib/explainers/ablation_cam.ts";
import { occlusion } from "../../lib/explainers/occlusion.ts";
import { branchSaliency } from "../../lib/explainers/branch.ts";
import { assertClose, useEngines } from "../_helpers.ts";
import { Conv2d, convBnAct } from "../../lib/layers/convolutional.ts";
import { BatchNorm } from "../../lib/layers/normalization.ts";
import type { TwoBranchModel } from "../../lib/models/types.ts";
import {
  linearModel,
  reluNormalize,
  resizeByHand,
  tinyConvModel,
  tinyLogitsFromA,
  type TinyTrace,
  type TinyWeights,
  traceTiny,
} from "./_models.ts";

await useEngines();

/** Runs `fn`, returns its maps as one plain array per image, and disposes them. */
function mapsOf(fn: () => tf.Tensor3D): number[][] {
  const maps = fn();
  const [n, h, w] = maps.shape;
  const data = maps.dataSync();
  maps.dispose();
  return Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * h * w, (i + 1) * h * w)));
}

function checkMaps(actual: number[][], expected: number[][], label: string, atol = 2e-4): void {
  assert.equal(actual.length, expected.length, `${label}: number of maps`);
  expected.forEach((e, i) => {
    assert.ok(Math.max(...e) > 0, `${label}: the expected map of image ${i} is not all zero`);
    assertClose(actual[i], e, { atol, rtol: 0, label: `${label}, image ${i}` });
  });
}

// ---------------------------------------------------------------------------
// A linear classifier: gradients are the weights.

const LIN_SHAPE: [number, number, number] = [4, 5, 2];
const LIN_D = 4 * 5 * 2, LIN_K = 3;
const linRng = new Random(11);
const LIN_W = linRng.normalArray(LIN_D * LIN_K);
const LIN_B = linRng.normalArray(LIN_K);
const LIN_X = linRng.uniformArray(2 * LIN_D);
const LIN_CLASSES = [2, 0];

/** `f(p, ch, cls)` of every pixel `p` of an image, reduced over channels by `reduce`. */
function perPixel(reduce: (values: number[]) => number, f: (i: number, ch: number) => number) {
  return Array.from({ length: 20 }, (_, p) => reduce([0, 1].map((ch) => f(p * 2 + ch, ch))));
}

Deno.test("vanillaGradient() on a linear model is |W| of the target class, largest over channels", () => {
  const model = linearModel(LIN_SHAPE, LIN_W, LIN_B);
  const images = tf.tensor4d(LIN_X, [2, ...LIN_SHAPE]);
  const actual = mapsOf(() => vanillaGradient(model, images, { target: LIN_CLASSES }));
  const expected = LIN_CLASSES.map((c) =>
    reluNormalize(perPixel((v) => Math.max(...v), (i) => Math.abs(LIN_W[i * LIN_K + c])))
  );
  checkMaps(actual, expected, "vanilla gradient");
  images.dispose();
  model.dispose();
});

Deno.test("gradientXInput() on a linear model is |Σ_c W·x| per pixel", () => {
  const model = linearModel(LIN_SHAPE, LIN_W, LIN_B);
  const images = tf.tensor4d(LIN_X, [2, ...LIN_SHAPE]);
  const actual = mapsOf(() => gradientXInput(model, images, { target: LIN_CLASSES }));
  const expected = LIN_CLASSES.map((c, n) =>
    reluNormalize(
      perPixel((v) => Math.abs(v[0] + v[1]), (i) => LIN_W[i * LIN_K + c] * LIN_X[n * LIN_D + i]),
    )
  );
  checkMaps(actual, expected, "gradient × input");
  images.dispose();
  model.dispose();
});

Deno.test("smoothGrad() on a linear model equals the vanilla gradient, whose gradient is constant", () => {
  const model = linearModel(LIN_SHAPE, LIN_W, LIN_B);
  const images = tf.tensor4d(LIN_X, [2, ...LIN_SHAPE]);
  const smooth = mapsOf(() =>
    smoothGrad(model, images, { target: LIN_CLASSES, samples: 5, noiseLevel: 0.3, batchSize: 3 })
  );
  const plain = mapsOf(() => vanillaGradient(model, images, { target: LIN_CLASSES }));
  checkMaps(smooth, plain, "smoothGrad vs vanilla", 1e-5);
  images.dispose();
  model.dispose();
});

Deno.test("integratedGradientsAttributions() on a linear model is exactly (x − x')·W", () => {
  const model = linearModel(LIN_SHAPE, LIN_W, LIN_B);
  const images = tf.tensor4d(LIN_X, [2, ...LIN_SHAPE]);
  const attr = integratedGradientsAttributions(model, images, {
    target: LIN_CLASSES,
    baseline: 0.25,
    steps: 3,
    batchSize: 4,
  });
  const expected = Float32Array.from(
    { length: 2 * LIN_D },
    (_, j) => (LIN_X[j] - 0.25) * LIN_W[(j % LIN_D) * LIN_K + LIN_CLASSES[Math.floor(j / LIN_D)]],
  );
  assertClose(attr.dataSync(), expected, { atol: 1e-5, label: "IG attributions" });
  tf.dispose([attr, images]);
  model.dispose();
});

Deno.test("occlusion() on a linear model is the mean score drop of the windows covering each pixel", () => {
  const model = linearModel(LIN_SHAPE, LIN_W, LIN_B);
  const images = tf.tensor4d(LIN_X, [2, ...LIN_SHAPE]);
  const window = 2, stride = 2, fill = 0.5;
  const actual = mapsOf(() =>
    occlusion(model, images, { target: LIN_CLASSES, window, stride, fill, batchSize: 5 })
  );
  // Window starts: rows 0, 2 (4 rows); columns 0, 2 and 3 (flush with the edge of 5).
  const windows = [0, 2].flatMap((y) => [0, 2, 3].map((x) => [y, x]));
  const expected = LIN_CLASSES.map((c, n) => {
    const sum = new Array<number>(20).fill(0), count = new Array<number>(20).fill(0);
    for (const [y0, x0] of windows) {
      let drop = 0;
      const cover: number[] = [];
      for (let y = y0; y < y0 + window; y++) {
        for (let x = x0; x < x0 + window; x++) {
          const p = y * 5 + x;
          cover.push(p);
          for (let ch = 0; ch < 2; ch++) {
            drop += (LIN_X[n * LIN_D + p * 2 + ch] - fill) * LIN_W[(p * 2 + ch) * LIN_K + c];
          }
        }
      }
      for (const p of cover) {
        sum[p] += drop;
        count[p] += 1;
      }
    }
    return reluNormalize(sum.map((s, p) => s / count[p]));
  });
  checkMaps(actual, expected, "occlusion");
  images.dispose();
  model.dispose();
});

// ---------------------------------------------------------------------------
// A two-stage conv net with fixed weights: every CAM from its definition.

function tinyWeights(seed: number): TinyWeights {
  const rng = new Random(seed);
  const k1 = 2, k2 = 3, classes = 2;
  return {
    kernel: rng.normalArray(9 * k1),
    bias1: rng.uniformArray(k1, 0, 0.3),
    mix: rng.normalArray(k1 * k2),
    bias2: rng.normalArray(k2, 0, 0.5),
    dense: rng.normalArray(k2 * classes),
    bias3: rng.normalArray(classes),
    k1,
    k2,
    classes,
    size: 6,
  };
}

const TINY = tinyWeights(2165);
const TINY_X = new Random(3165).uniformArray(2 * 36);
const TINY_CLASSES = [1, 0];
const TRACES = TINY_CLASSES.map((c, n) =>
  traceTiny(TINY, TINY_X.subarray(n * 36, (n + 1) * 36), c)
);

function withTiny(fn: (model: ReturnType<typeof tinyConvModel>, images: tf.Tensor4D) => void) {
  const model = tinyConvModel(TINY);
  const images = tf.tensor4d(TINY_X, [2, 6, 6, 1]);
  try {
    fn(model, images);
  } finally {
    images.dispose();
    model.dispose();
  }
}

/** `Σ_k w_k A_k` at every position. */
function weighted(a: number[][], w: number[]): number[] {
  return a.map((row) => row.reduce((s, v, k) => s + v * w[k], 0));
}

function channelMean(g: number[][]): number[] {
  return g[0].map((_, k) => g.reduce((s, r) => s + r[k], 0) / g.length);
}

Deno.test("the hand-written tiny model agrees with its tfjs twin on logits", () => {
  withTiny((model, images) => {
    const logits = tf.tidy(() => model.forward(images).logits);
    assertClose(logits.dataSync(), TRACES.flatMap((t) => t.logits), { label: "logits" });
    logits.dispose();
  });
});

Deno.test("gradCam() equals the definition: weights are the spatial mean of the gradient, then ReLU of the weighted sum", () => {
  withTiny((model, images) => {
    const actual = mapsOf(() => gradCam(model, images, { layer: "conv", target: TINY_CLASSES }));
    const expected = TRACES.map((t) => reluNormalize(weighted(t.a, channelMean(t.gradA))));
    checkMaps(actual, expected, "Grad-CAM at conv");
  });
});

Deno.test("gradCam() at a reduction-2 stage is the low-resolution map upsampled bilinearly", () => {
  withTiny((model, images) => {
    const actual = mapsOf(() => gradCam(model, images, { layer: "mix", target: TINY_CLASSES }));
    const expected = TRACES.map((t) => {
      const low = weighted(t.b, channelMean(t.gradB)).map((v) => Math.max(0, v));
      return reluNormalize(resizeByHand(low, 3, 6));
    });
    checkMaps(actual, expected, "Grad-CAM at mix");
    // The default layer is the last stage, and its index names it too.
    checkMaps(mapsOf(() => gradCam(model, images, { target: TINY_CLASSES })), expected, "default");
    checkMaps(
      mapsOf(() => gradCam(model, images, { layer: -1, target: TINY_CLASSES })),
      expected,
      "-1",
    );
  });
});

Deno.test("gradCam() with two layers averages the per-layer maps, each normalised", () => {
  withTiny((model, images) => {
    const actual = mapsOf(() =>
      gradCam(model, images, { layer: ["mix", "conv"], target: TINY_CLASSES })
    );
    const expected = TRACES.map((t) => {
      const conv = reluNormalize(weighted(t.a, channelMean(t.gradA)));
      const low = weighted(t.b, channelMean(t.gradB)).map((v) => Math.max(0, v));
      const mix = reluNormalize(resizeByHand(low, 3, 6));
      return reluNormalize(conv.map((v, i) => (v + mix[i]) / 2));
    });
    checkMaps(actual, expected, "Grad-CAM at conv and mix");
  });
});

Deno.test("gradCam() with the default target explains the predicted class", () => {
  withTiny((model, images) => {
    const predicted = TRACES.map((_, n) => {
      const l = traceTiny(TINY, TINY_X.subarray(n * 36, (n + 1) * 36), 0).logits;
      return l.indexOf(Math.max(...l));
    });
    const actual = mapsOf(() => gradCam(model, images, { layer: "conv" }));
    const expected = predicted.map((c, n) => {
      const t = traceTiny(TINY, TINY_X.subarray(n * 36, (n + 1) * 36), c);
      return reluNormalize(weighted(t.a, channelMean(t.gradA)));
    });
    checkMaps(actual, expected, "Grad-CAM, predicted class");
  });
});

Deno.test("gradCamPlusPlus() equals its definition: α = g²/(2g² + ΣA·g³), w = Σ α·ReLU(g)", () => {
  withTiny((model, images) => {
    const actual = mapsOf(() =>
      gradCamPlusPlus(model, images, { layer: "conv", target: TINY_CLASSES })
    );
    const expected = TRACES.map((t: TinyTrace) => {
      const w = [0, 1].map((k) => {
        const sumA = t.a.reduce((s, r) => s + r[k], 0);
        return t.gradA.reduce((s, r) => {
          const g = r[k], den = 2 * g * g + sumA * g ** 3;
          return s + (g !== 0 && den !== 0 ? (g * g) / den : 0) * Math.max(0, g);
        }, 0);
      });
      return reluNormalize(weighted(t.a, w));
    });
    checkMaps(actual, expected, "Grad-CAM++");
  });
});

Deno.test("xGradCam() equals its definition: w = Σ (A/ΣA)·g", () => {
  withTiny((model, images) => {
    const actual = mapsOf(() => xGradCam(model, images, { layer: "conv", target: TINY_CLASSES }));
    const expected = TRACES.map((t) => {
      const w = [0, 1].map((k) => {
        const sumA = t.a.reduce((s, r) => s + r[k], 0);
        return sumA === 0 ? 0 : t.a.reduce((s, r, p) => s + (r[k] / sumA) * t.gradA[p][k], 0);
      });
      return reluNormalize(weighted(t.a, w));
    });
    checkMaps(actual, expected, "XGrad-CAM");
  });
});

Deno.test("hiResCam() and layerCam() equal Σ_k g⊙A and Σ_k ReLU(g)⊙A", () => {
  withTiny((model, images) => {
    const hires = mapsOf(() => hiResCam(model, images, { layer: "conv", target: TINY_CLASSES }));
    const layer = mapsOf(() => layerCam(model, images, { layer: "conv", target: TINY_CLASSES }));
    checkMaps(
      hires,
      TRACES.map((t) =>
        reluNormalize(t.a.map((r, p) => r.reduce((s, v, k) => s + v * t.gradA[p][k], 0)))
      ),
      "HiResCAM",
    );
    checkMaps(
      layer,
      TRACES.map((t) =>
        reluNormalize(
          t.a.map((r, p) => r.reduce((s, v, k) => s + v * Math.max(0, t.gradA[p][k]), 0)),
        )
      ),
      "LayerCAM",
    );
  });
});

Deno.test("eigenCam() is the projection on the first principal component of the centred activations", () => {
  withTiny((model, images) => {
    const actual = mapsOf(() => eigenCam(model, images, { layer: "conv" }));
    const expected = TRACES.map((t) => {
      const mean = channelMean(t.a);
      const x = t.a.map((r) => r.map((v, k) => v - mean[k]));
      const a = x.reduce((s, r) => s + r[0] * r[0], 0), d = x.reduce((s, r) => s + r[1] * r[1], 0);
      const b = x.reduce((s, r) => s + r[0] * r[1], 0);
      const lambda = (a + d) / 2 + Math.sqrt(((a - d) / 2) ** 2 + b * b);
      const u = [b, lambda - a], v = [lambda - d, b];
      const e = Math.hypot(u[0], u[1]) > Math.hypot(v[0], v[1]) ? u : v;
      let proj = x.map((r) => r[0] * e[0] + r[1] * e[1]);
      const corr = proj.reduce((s, p, i) => s + p * (t.a[i][0] + t.a[i][1]), 0);
      if (corr < 0) proj = proj.map((p) => -p);
      return reluNormalize(proj);
    });
    checkMaps(actual, expected, "Eigen-CAM");
  });
});

Deno.test("eigenCam() on a stage with more channels than positions matches power iteration by hand", () => {
  // block2 of this net is 2×2 with 64 channels: the p × p Gram path.
  const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.5, seed: 8 });
  const images = tf.tidy(() => tf.randomUniform([2, 8, 8, 3], 0, 1, "float32", 3) as tf.Tensor4D);
  const acts = tf.tidy(() => model.forwardStages(images).at(-1)!.arraySync() as number[][][][]);
  const actual = mapsOf(() => eigenCam(model, images, { layer: "block2" }));
  const expected = acts.map((a) => {
    const rows = a.flat(); // [4][64]
    const k = rows[0].length;
    const mean = Array.from(
      { length: k },
      (_, j) => rows.reduce((s, r) => s + r[j], 0) / rows.length,
    );
    const x = rows.map((r) => r.map((v, j) => v - mean[j]));
    let v = Array.from({ length: k }, (_, j) => 1 + j / k);
    for (let it = 0; it < 2000; it++) {
      const xv = x.map((r) => r.reduce((s, e, j) => s + e * v[j], 0));
      const next = v.map((_, j) => x.reduce((s, r, p) => s + r[j] * xv[p], 0));
      const norm = Math.hypot(...next);
      v = next.map((e) => e / norm);
    }
    let proj = x.map((r) => r.reduce((s, e, j) => s + e * v[j], 0));
    const corr = proj.reduce((s, p, i) => s + p * rows[i].reduce((t, e) => t + e, 0), 0);
    if (corr < 0) proj = proj.map((p) => -p);
    return reluNormalize(resizeByHand(proj.map((p) => Math.max(0, p)), 2, 8));
  });
  checkMaps(actual, expected, "Eigen-CAM, Gram path", 1e-3);
  images.dispose();
  model.dispose();
});

Deno.test("scoreCam() weights channels by the softmax of the scores of the images they mask", () => {
  withTiny((model, images) => {
    const actual = mapsOf(() =>
      scoreCam(model, images, { layer: "conv", target: TINY_CLASSES, batchSize: 3 })
    );
    const expected = TRACES.map((t, n) => {
      const x = TINY_X.subarray(n * 36, (n + 1) * 36);
      const scores = [0, 1].map((k) => {
        const ch = t.a.map((r) => r[k]);
        const lo = Math.min(...ch), hi = Math.max(...ch);
        const masked = Array.from(x, (v, p) => v * (hi > lo ? (ch[p] - lo) / (hi - lo) : 0));
        return traceTiny(TINY, masked, TINY_CLASSES[n]).logits[TINY_CLASSES[n]];
      });
      const z = scores.map((s) => Math.exp(s - Math.max(...scores)));
      const w = z.map((v) => v / (z[0] + z[1]));
      return reluNormalize(weighted(t.a, w));
    });
    checkMaps(actual, expected, "Score-CAM");
  });
});

Deno.test("ablationCam() weights channel k by the relative score drop when it is zeroed", () => {
  withTiny((model, images) => {
    const actual = mapsOf(() =>
      ablationCam(model, images, { layer: "conv", target: TINY_CLASSES, batchSize: 1 })
    );
    const expected = TRACES.map((t, n) => {
      const c = TINY_CLASSES[n], y = t.logits[c];
      const w = [0, 1].map((k) => {
        const ablated = t.a.map((r) => r.map((v, j) => (j === k ? 0 : v)));
        return (y - tinyLogitsFromA(TINY, ablated)[c]) / Math.abs(y);
      });
      return reluNormalize(weighted(t.a, w));
    });
    checkMaps(actual, expected, "Ablation-CAM");
  });
});

Deno.test("vanillaGradient() and guidedBackprop() on the conv net equal the gradients by hand", () => {
  withTiny((model, images) => {
    const vanilla = mapsOf(() => vanillaGradient(model, images, { target: TINY_CLASSES }));
    const guided = mapsOf(() => guidedBackprop(model, images, { target: TINY_CLASSES }));
    checkMaps(vanilla, TRACES.map((t) => reluNormalize(t.gradX.map(Math.abs))), "vanilla");
    checkMaps(guided, TRACES.map((t) => reluNormalize(t.guidedX.map(Math.abs))), "guided");
    assert.ok(
      TRACES.some((t) =>
        t.gradX.some((g, i) => Math.abs(Math.abs(g) - Math.abs(t.guidedX[i])) > 1e-3)
      ),
      "guiding changes the gradient somewhere, so the two checks differ",
    );
  });
});

Deno.test("guidedBackprop() guides ReLU6 written as clipByValue(x, 0, 6), as MobileNetV2 does", () => {
  // Below 6 the clip is the ReLU, so the hand-computed guided gradient holds.
  assert.ok(TRACES.every((t) => t.pre1.flat().every((v) => v < 6)), "no activation reaches 6");
  const model = tinyConvModel({ ...TINY, activation: "clip" });
  const images = tf.tensor4d(TINY_X, [2, 6, 6, 1]);
  const guided = mapsOf(() => guidedBackprop(model, images, { target: TINY_CLASSES }));
  checkMaps(guided, TRACES.map((t) => reluNormalize(t.guidedX.map(Math.abs))), "guided, clip");
  images.dispose();
  model.dispose();
});

Deno.test("branchSaliency() with normalize: false is the sigmoid of the saliency branch", () => {
  withTiny((model, images) => {
    const actual = mapsOf(() => branchSaliency(model, images, { normalize: false }));
    const expected = tf.tidy(() => model.forward(images).saliency);
    assertClose(actual.flat(), expected.dataSync(), { label: "branch" });
    expected.dispose();
  });
});

// ---------------------------------------------------------------------------
// Integrated Gradients: completeness on a real network.

Deno.test("integratedGradientsAttributions() satisfies completeness: Σ attributions = f(x) − f(x')", () => {
  const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25, seed: 4 });
  const images = tf.tidy(() => tf.randomUniform([3, 16, 16, 3], 0, 1, "float32", 9) as tf.Tensor4D);
  const baseline = 0.2, target = [0, 1, 2];
  const attr = integratedGradientsAttributions(model, images, { target, baseline, steps: 128 });
  const sums = tf.tidy(() => tf.sum(attr, [1, 2, 3]).dataSync());
  const diffs = tf.tidy(() => {
    const pick = tf.oneHot(tf.tensor1d(target, "int32"), 3).toFloat();
    const f = (x: tf.Tensor4D) => tf.sum(tf.mul(model.forward(x).logits, pick), 1);
    return tf.sub(f(images), f(tf.fill(images.shape, baseline) as tf.Tensor4D)).dataSync();
  });
  for (let i = 0; i < 3; i++) {
    const tol = 0.02 * Math.abs(diffs[i]) + 1e-3;
    assert.ok(
      Math.abs(sums[i] - diffs[i]) <= tol,
      `image ${i}: attributions sum to ${sums[i]}, f(x) − f(x') is ${diffs[i]}`,
    );
  }
  assert.ok(diffs.some((d) => Math.abs(d) > 0.05), "the check is not vacuous");
  // The map is |Σ_c attribution|, normalised.
  const map = mapsOf(() => integratedGradients(model, images, { target, baseline, steps: 128 }));
  const perPixel = tf.tidy(() => tf.abs(tf.sum(attr, 3)).arraySync() as number[][][]);
  map.forEach((m, i) => {
    assertClose(m, reluNormalize(perPixel[i].flat()), { atol: 1e-4, label: `IG map ${i}` });
  });
  tf.dispose([attr, images]);
  model.dispose();
});

/**
 * A one-stage model over a real `convBnAct` block (1×1 conv from 1 to 2
 * channels, batch norm, ReLU) and a head that sets the two channels against
 * each other: class 0's score is mean f_0 − mean f_1 and class 1's the
 * reverse, with f_k = relu(s_k·w_k·x + t_k). Class c's score sends +1/4 to
 * channel c and −1/4 to the other at every pixel; the guided gradient keeps
 * only the positive one, so at pixel p it is [pre_c(p) > 0]·s_c·w_c / 4,
 * where the vanilla gradient would subtract the other channel's share.
 */
function convBnActModel(fused: boolean): { model: TwoBranchModel; dispose(): void } {
  const conv = new Conv2d("conv", { inChannels: 1, filters: 2, kernelSize: 1 });
  const bn = new BatchNorm("bn", { channels: 2 });
  const set = (v: tf.Variable, values: number[]) => {
    const t = tf.tensor(values, v.shape);
    v.assign(t);
    t.dispose();
  };
  set(conv.kernel, [2, -1]);
  set(bn.gamma, [0.5, 1.5]);
  set(bn.beta, [-0.5, 0.25]);
  set(bn.movingMean, [0.2, -0.1]);
  set(bn.movingVariance, [1, 4]);
  const stage = (x: tf.Tensor4D) =>
    fused
      ? tf.tidy(() => {
        const { scale, shift } = bn.scaleShift();
        return tf.fused.conv2d({
          x,
          filter: tf.mul(conv.kernel, scale) as tf.Tensor4D,
          bias: shift,
          strides: 1,
          pad: "valid",
          activation: "relu",
        });
      })
      : convBnAct(conv, bn, x, {}, "relu");
  const head = (f: tf.Tensor4D) =>
    tf.tidy(() => {
      const m = tf.mean(f, [1, 2]);
      return tf.matMul(m, tf.tensor2d([[1, -1], [-1, 1]])) as tf.Tensor2D;
    });
  const model = {
    name: "conv_bn_act",
    config: { architecture: "conv_bn_act" },
    inputShape: [2, 2, 1] as const,
    numClasses: 2,
    featureInfo: [{ name: "block", channels: 2, reduction: 1 }],
    forwardStages: (x: tf.Tensor4D) => [stage(x)],
    forwardHead: (f: tf.Tensor4D) => head(f),
    forwardSaliency: () => {
      throw new Error("not used");
    },
    forward: (x: tf.Tensor4D) => {
      const logits = head(stage(x));
      const saliency = tf.zeros([x.shape[0], 2, 2]) as tf.Tensor3D;
      return { logits, saliency, saliencyLogits: tf.clone(saliency) };
    },
    variables: () => new Map([...conv.variables(), ...bn.variables()]),
    trainableVariables: () => [...conv.trainableVariables(), ...bn.trainableVariables()],
    countParams: () => 0,
    dispose: () => {},
  } as unknown as TwoBranchModel;
  return { model, dispose: () => (conv.dispose(), bn.dispose()) };
}

Deno.test("guidedBackprop() on a convBnAct block: the positive gradient through the active units only, by hand", () => {
  const { model, dispose } = convBnActModel(false);
  const pixels = [0.9, -0.3, 0.1, 0.6];
  const images = tf.tensor4d(pixels, [1, 2, 2, 1]);
  try {
    // Folded: s_k = gamma_k / sqrt(var_k + eps), t_k = beta_k − mean_k·s_k; w = [2, −1].
    const s = [0.5 / Math.sqrt(1 + 1e-5), 1.5 / Math.sqrt(4 + 1e-5)];
    const t = [-0.5 - 0.2 * s[0], 0.25 + 0.1 * s[1]];
    const w = [2, -1];
    const active = (k: number, x: number) => s[k] * w[k] * x + t[k] > 0;
    let differs = false;
    for (const k of [0, 1]) {
      const guided = pixels.map((x) => (active(k, x) ? Math.abs(s[k] * w[k] / 4) : 0));
      const other = 1 - k;
      const vanilla = pixels.map((x) =>
        Math.abs(
          (active(k, x) ? s[k] * w[k] / 4 : 0) - (active(other, x) ? s[other] * w[other] / 4 : 0),
        )
      );
      const norm = (a: number[]) => a.map((v) => v / Math.max(...a));
      checkMaps(
        mapsOf(() => guidedBackprop(model, images, { target: k })),
        [norm(guided)],
        `class ${k}`,
      );
      differs ||= norm(guided).some((v, i) => Math.abs(v - norm(vanilla)[i]) > 1e-3);
    }
    assert.ok(differs, "the example tells the guided gradient from the vanilla one");
  } finally {
    images.dispose();
    dispose();
  }
});

Deno.test("guidedBackprop() guides a ReLU written into tf.fused too: tfjs unfuses it under a gradient", () => {
  const plain = convBnActModel(false), fused = convBnActModel(true);
  const images = tf.tensor4d([0.9, -0.3, 0.1, 0.6], [1, 2, 2, 1]);
  try {
    for (const target of [0, 1]) {
      checkMaps(
        mapsOf(() => guidedBackprop(fused.model, images, { target })),
        mapsOf(() => guidedBackprop(plain.model, images, { target })),
        `class ${target}`,
        1e-6,
      );
    }
  } finally {
    images.dispose();
    plain.dispose();
    fused.dispose();
  }
});
