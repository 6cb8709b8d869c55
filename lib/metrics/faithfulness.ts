/**
 * Faithfulness metrics: does the map point at the pixels the model uses?
 *
 * - {@linkcode deletionAuc} and {@linkcode insertionAuc} (RISE; Petsiuk et
 *   al., BMVC 2018): the class probability as the most salient pixels are
 *   removed from, or added to, the image, and the area under that curve.
 * - {@linkcode road} (Rong et al., ICML 2022): the class probability after
 *   removing a share of the most (MoRF) or least (LeRF) relevant pixels and
 *   filling them in by noisy linear imputation.
 * - {@linkcode confidenceDrop}: the class probability of the image
 *   multiplied by the map (Grad-CAM++'s "average drop" and "increase in
 *   confidence").
 * - {@linkcode randomMapControl}: the same metrics for uniform random maps.
 *
 * Every metric takes the model and `{ images, maps }` (images `[n, h, w, c]`
 * in the model's input shape, maps `[n, h, w]`; the caller keeps both) and
 * resolves to plain per-image numbers. Pixels are ranked by the map, ties in
 * raster order, so results are deterministic. The metrics read tensors back
 * only asynchronously (`await tensor.data()`, one read per batch), so they
 * run on WebGPU too, which has no synchronous read-back.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { Random } from "../util/random.ts";

/** The images and the maps that explain them; the caller keeps both tensors. */
export interface MapInput {
  /** Images `[n, h, w, c]` in the model's input shape. */
  images: tf.Tensor4D;
  /** One map per image, `[n, h, w]`; higher is more relevant. */
  maps: tf.Tensor3D;
}

/**
 * The class whose probability is measured, per image: `"predicted"` (the
 * arg-max on the unperturbed image), one class for all, or one per image.
 */
export type MetricTarget = "predicted" | number | readonly number[] | Int32Array;

/** Options every faithfulness metric takes. */
export interface FaithfulnessOptions {
  /** The class whose softmax probability is measured. @default {"predicted"} */
  target?: MetricTarget;
  /** How many perturbed images one forward pass runs. @default {64} */
  batchSize?: number;
}

/**
 * What replaces removed pixels: a Gaussian blur of the image (`"blur"`),
 * black (`"zeros"`), or the image's per-channel mean (`"mean"`).
 */
export type Baseline = "blur" | "zeros" | "mean";

/** Options of {@linkcode deletionAuc} and {@linkcode insertionAuc}. */
export interface PerturbationCurveOptions extends FaithfulnessOptions {
  /**
   * What removed (deletion) or not-yet-inserted (insertion) pixels hold.
   *
   * @default {"zeros" for deletion, "blur" for insertion, as in RISE}
   */
  baseline?: Baseline;
  /**
   * The number of steps: step `k` of `steps` perturbs the
   * `round(k · h · w / steps)` most salient pixels, so the curve has
   * `steps + 1` points from 0 to all pixels.
   *
   * @default {32}
   */
  steps?: number;
  /** The standard deviation of the `"blur"` baseline's Gaussian, in pixels. @default {5} */
  blurSigma?: number;
}

/** Per-image curves and their areas. */
export interface PerturbationCurveResult {
  /** The area under each image's curve (trapezoid rule over the pixel fraction). */
  auc: number[];
  /** The fraction of pixels perturbed at each step, from 0 to 1. */
  fractions: number[];
  /** Each image's class probability at each step, `[n][steps + 1]`. */
  curves: number[][];
  /** The class measured for each image. */
  classes: number[];
}

function checkInput(model: TwoBranchModel, input: MapInput, fn: string): [number, number, number] {
  const { images, maps } = input ?? ({} as MapInput);
  const [h, w, c] = model.inputShape;
  if (
    !(images instanceof tf.Tensor) || images.rank !== 4 || images.shape[0] < 1 ||
    images.shape[1] !== h || images.shape[2] !== w || images.shape[3] !== c
  ) {
    const got = images instanceof tf.Tensor ? `[${images.shape.join(", ")}]` : typeof images;
    throw new RangeError(`${fn}: expected "images" of shape [n, ${h}, ${w}, ${c}], got ${got}`);
  }
  const n = images.shape[0];
  if (
    !(maps instanceof tf.Tensor) || maps.rank !== 3 || maps.shape[0] !== n ||
    maps.shape[1] !== h || maps.shape[2] !== w
  ) {
    const got = maps instanceof tf.Tensor ? `[${maps.shape.join(", ")}]` : typeof maps;
    throw new RangeError(`${fn}: expected "maps" of shape [${n}, ${h}, ${w}], got ${got}`);
  }
  return [n, h, w];
}

function checkBatchSize(batchSize: number, fn: string): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`${fn}: option "batchSize" must be a positive integer, got ${batchSize}`);
  }
}

/**
 * Softmax probabilities `[m, numClasses]` of the batch that `makeBatch`
 * builds (inside `tf.tidy`), as a plain array.
 */
async function batchProbabilities(
  model: TwoBranchModel,
  makeBatch: () => tf.Tensor4D,
): Promise<Float32Array> {
  const probs = tf.tidy(() => {
    const { logits, saliency, saliencyLogits } = model.forward(makeBatch());
    tf.dispose([saliency, saliencyLogits]);
    return tf.softmax(logits);
  });
  try {
    return await probs.data() as Float32Array;
  } finally {
    probs.dispose();
  }
}

/** Softmax probabilities `[n, numClasses]` of `images`, batched, as a plain array. */
async function probabilities(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  batchSize: number,
): Promise<Float32Array> {
  const n = images.shape[0], k = model.numClasses;
  const out = new Float32Array(n * k);
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const p = await batchProbabilities(
      model,
      () => images.slice([start, 0, 0, 0], [size, -1, -1, -1]),
    );
    out.set(p, start * k);
  }
  return out;
}

/** The class of each image, checked against the model's classes. */
async function resolveClasses(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  target: MetricTarget,
  batchSize: number,
  fn: string,
): Promise<number[]> {
  const n = images.shape[0], k = model.numClasses;
  let classes: number[];
  if (target === "predicted") {
    const p = await probabilities(model, images, batchSize);
    classes = [];
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (p[i * k + j] > p[i * k + best]) best = j;
      classes.push(best);
    }
    return classes;
  }
  if (typeof target === "number") classes = new Array(n).fill(target);
  else if (target !== null && typeof target === "object" && "length" in target) {
    if (target.length !== n) {
      throw new RangeError(
        `${fn}: option "target" must hold one class per image (${n}), got ${target.length}`,
      );
    }
    classes = Array.from(target);
  } else {
    throw new TypeError(
      `${fn}: option "target" must be "predicted", a class or one class per image, got ${
        JSON.stringify(target)
      }`,
    );
  }
  for (const c of classes) {
    if (!Number.isInteger(c) || c < 0 || c >= k) {
      throw new RangeError(`${fn}: option "target" holds class ${c}, expected 0 to ${k - 1}`);
    }
  }
  return classes;
}

/**
 * For each image, the rank of every pixel when sorted by the map in
 * descending order (0 = most salient), ties in raster order. `[n][h·w]`.
 */
async function pixelRanks(maps: tf.Tensor3D, fn: string): Promise<Int32Array[]> {
  const [n, h, w] = maps.shape;
  const p = h * w;
  const values = await maps.data();
  const out: Int32Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = values.subarray(i * p, (i + 1) * p);
    for (let j = 0; j < p; j++) {
      if (Number.isNaN(v[j])) {
        throw new RangeError(`${fn}: map ${i} of "maps" holds NaN at pixel ${j}`);
      }
    }
    const order = Array.from({ length: p }, (_, j) => j).sort((a, b) => v[b] - v[a] || a - b);
    const rank = new Int32Array(p);
    for (let r = 0; r < p; r++) rank[order[r]] = r;
    out.push(rank);
  }
  return out;
}

/** A 1-D Gaussian kernel of standard deviation `sigma`, radius `ceil(3 sigma)`. */
function gaussianKernel(sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * radius + 1);
  let s = 0;
  for (let i = -radius; i <= radius; i++) {
    s += k[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  }
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/**
 * The baseline images `[n, h, w, c]` (the caller disposes): a separable
 * Gaussian blur with reflected borders, zeros, or each image's channel mean.
 */
function makeBaseline(
  images: tf.Tensor4D,
  baseline: Baseline,
  sigma: number,
  fn: string,
): tf.Tensor4D {
  return tf.tidy(() => {
    if (baseline === "zeros") return tf.zerosLike(images);
    if (baseline === "mean") {
      return tf.mul(tf.mean(images, [1, 2], true), tf.onesLike(images)) as tf.Tensor4D;
    }
    if (baseline === "blur") {
      if (!(sigma > 0)) {
        throw new RangeError(`${fn}: option "blurSigma" must be positive, got ${sigma}`);
      }
      const k = gaussianKernel(sigma);
      const radius = (k.length - 1) / 2;
      const [, h, w, c] = images.shape;
      // Reflect-pad (tfjs allows reflection only up to size - 1; clamp to that
      // and pad the rest symmetrically, which matters only for tiny images).
      const padH = Math.min(radius, h - 1), padW = Math.min(radius, w - 1);
      const padded = tf.mirrorPad(images, [[0, 0], [padH, padH], [padW, padW], [0, 0]], "reflect");
      const kx = tf.tile(tf.tensor4d(k, [1, k.length, 1, 1]), [1, 1, c, 1]) as tf.Tensor4D;
      const ky = tf.tile(tf.tensor4d(k, [k.length, 1, 1, 1]), [1, 1, c, 1]) as tf.Tensor4D;
      const kxs = kx.slice([0, radius - padW, 0, 0], [1, 2 * padW + 1, c, 1]);
      const kys = ky.slice([radius - padH, 0, 0, 0], [2 * padH + 1, 1, c, 1]);
      // Renormalise the truncated kernels.
      const x = tf.depthwiseConv2d(
        padded,
        tf.div(kxs, tf.sum(kxs, [0, 1], true)) as tf.Tensor4D,
        1,
        "valid",
      );
      return tf.depthwiseConv2d(
        x,
        tf.div(kys, tf.sum(kys, [0, 1], true)) as tf.Tensor4D,
        1,
        "valid",
      );
    }
    throw new TypeError(
      `${fn}: option "baseline" must be "blur", "zeros" or "mean", got ${JSON.stringify(baseline)}`,
    );
  });
}

/** Trapezoid rule of `ys` over `xs`. */
function trapezoid(xs: readonly number[], ys: readonly number[]): number {
  let s = 0;
  for (let i = 1; i < xs.length; i++) s += (xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1]) / 2;
  return s;
}

async function perturbationCurve(
  model: TwoBranchModel,
  input: MapInput,
  options: PerturbationCurveOptions,
  mode: "deletion" | "insertion",
): Promise<PerturbationCurveResult> {
  const fn = mode === "deletion" ? "deletionAuc()" : "insertionAuc()";
  const {
    target = "predicted",
    batchSize = 64,
    baseline = mode === "deletion" ? "zeros" : "blur",
    steps = 32,
    blurSigma = 5,
  } = options;
  const [n, h, w] = checkInput(model, input, fn);
  checkBatchSize(batchSize, fn);
  if (!Number.isInteger(steps) || steps < 1) {
    throw new RangeError(`${fn}: option "steps" must be a positive integer, got ${steps}`);
  }
  const { images, maps } = input;
  const p = h * w;
  const classes = await resolveClasses(model, images, target, batchSize, fn);
  const counts = Array.from({ length: steps + 1 }, (_, k) => Math.round(k * p / steps));
  const fractions = counts.map((m) => m / p);
  const ranks = await pixelRanks(maps, fn);
  const base = makeBaseline(images, baseline, blurSigma, fn);
  const rankTensor = tf.tensor3d(
    (() => {
      const all = new Int32Array(n * p);
      ranks.forEach((r, i) => all.set(r, i * p));
      return all;
    })(),
    [n, h, w],
    "int32",
  );
  const curves = Array.from({ length: n }, () => new Array<number>(steps + 1).fill(0));
  const total = n * (steps + 1);
  const k = model.numClasses;
  try {
    for (let start = 0; start < total; start += batchSize) {
      const size = Math.min(batchSize, total - start);
      const imageIndex = new Int32Array(size), count = new Int32Array(size);
      for (let j = 0; j < size; j++) {
        imageIndex[j] = Math.floor((start + j) / (steps + 1));
        count[j] = counts[(start + j) % (steps + 1)];
      }
      const values = await batchProbabilities(model, () => {
        const idx = tf.tensor1d(imageIndex, "int32");
        const x = tf.gather(images, idx);
        const b = tf.gather(base, idx);
        // Pixels among the `count` most salient: [size, h, w, 1].
        const top = tf.less(
          tf.gather(rankTensor, idx),
          tf.tensor1d(count, "int32").reshape([size, 1, 1]),
        ).expandDims(3);
        return (mode === "deletion" ? tf.where(top, b, x) : tf.where(top, x, b)) as tf.Tensor4D;
      });
      for (let j = 0; j < size; j++) {
        const i = imageIndex[j];
        curves[i][(start + j) % (steps + 1)] = values[j * k + classes[i]];
      }
    }
  } finally {
    tf.dispose([base, rankTensor]);
  }
  return { auc: curves.map((c) => trapezoid(fractions, c)), fractions, curves, classes };
}

/**
 * The deletion metric of RISE (Petsiuk et al., BMVC 2018): the pixels are
 * removed most salient first (replaced by the baseline, all channels of a
 * pixel together) in `steps` equal steps, the class probability is
 * measured at each step, and the metric is the area under that curve over
 * the fraction of pixels removed (trapezoid rule). Lower is better: a
 * faithful map removes the evidence first.
 *
 * The perturbed images of all images and steps are run in batches of
 * `batchSize`. The default baseline is `"zeros"`, as in the paper's
 * deletion; `"blur"` and `"mean"` are the alternatives. Resolves to
 * per-image areas and curves; it reads the probabilities back
 * asynchronously, one read per batch, so it runs on WebGPU too.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { deletionAuc } from "./faithfulness.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const maps = tf.randomUniform([2, 8, 8]) as tf.Tensor3D;
 * const r = await deletionAuc(model, { images, maps }, { steps: 8 });
 * assert.equal(r.auc.length, 2); // one area per image
 * assert.deepStrictEqual(r.fractions, [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1]);
 * assert.ok(r.auc.every((a) => a >= 0 && a <= 1)); // an area under probabilities
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function deletionAuc(
  model: TwoBranchModel,
  input: MapInput,
  options: PerturbationCurveOptions = {},
): Promise<PerturbationCurveResult> {
  return perturbationCurve(model, input, options, "deletion");
}

/**
 * The insertion metric of RISE (Petsiuk et al., BMVC 2018): starting from
 * the baseline, the image's pixels are put back most salient first in
 * `steps` equal steps, and the metric is the area under the class
 * probability over the fraction of pixels inserted (trapezoid rule).
 * Higher is better.
 *
 * The default baseline is `"blur"` (a Gaussian blur of the image,
 * `blurSigma` 5 pixels with reflected borders), as in the paper's
 * insertion; `"zeros"` and `"mean"` are the alternatives. Batched as
 * {@linkcode deletionAuc}. Resolves to per-image areas and curves; reads
 * back asynchronously, so it runs on WebGPU too.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { insertionAuc } from "./faithfulness.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const maps = tf.randomUniform([2, 8, 8]) as tf.Tensor3D;
 * const r = await insertionAuc(model, { images, maps }, { steps: 8, baseline: "mean" });
 * assert.equal(r.curves[0].length, 9); // steps + 1 points, from the baseline to the image
 * assert.ok(r.curves.flat().every((p) => p >= 0 && p <= 1));
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function insertionAuc(
  model: TwoBranchModel,
  input: MapInput,
  options: PerturbationCurveOptions = {},
): Promise<PerturbationCurveResult> {
  return perturbationCurve(model, input, options, "insertion");
}

/** Options of {@linkcode noisyLinearImpute}. */
export interface ImputeOptions {
  /** The standard deviation of the Gaussian noise added to imputed pixels. @default {0.01} */
  noise?: number;
  /** Seed of the noise. @default {0} */
  seed?: number;
  /** The over-relaxation factor ω in (0, 2); 1 is plain Gauss–Seidel. @default {1.8} */
  relaxation?: number;
  /** Stop when no imputed value changes by more than this in a sweep. @default {1e-6} */
  tolerance?: number;
  /** The most sweeps. @default {20000} */
  maxIterations?: number;
}

const NEIGHBOURS: readonly [number, number, number][] = [
  [-1, 0, 1 / 6],
  [1, 0, 1 / 6],
  [0, -1, 1 / 6],
  [0, 1, 1 / 6],
  [-1, -1, 1 / 12],
  [-1, 1, 1 / 12],
  [1, -1, 1 / 12],
  [1, 1, 1 / 12],
];

/**
 * ROAD's noisy linear imputation (Rong et al., ICML 2022) of one image: each
 * removed pixel becomes the weighted mean of its 8 neighbours (weight 1/6
 * for the 4 direct and 1/12 for the 4 diagonal ones, renormalised over the
 * neighbours inside the image), removed neighbours included, so the removed
 * pixels solve one sparse linear system per channel. It is solved by
 * successive over-relaxation (Gauss–Seidel with factor `relaxation`, which
 * converges because the system is symmetric positive definite wherever a
 * removed region touches a kept pixel) until no value moves by more than
 * `tolerance`, starting from the kept pixels' channel mean. A removed
 * region that touches no kept pixel (all pixels removed) keeps that mean.
 * Then Gaussian noise of std `noise` is added to the imputed pixels.
 *
 * `data` is HWC `Float32Array`, `removed` is `h·w` flags; returns a new array.
 *
 * @example A linear ramp is reproduced exactly
 * ```ts
 * import assert from "node:assert";
 * import { noisyLinearImpute } from "./faithfulness.ts";
 * const data = Float32Array.from({ length: 16 }, (_, i) => i); // 4×4, value = 4 r + c
 * const removed = new Uint8Array(16);
 * removed[5] = removed[6] = removed[10] = 1;
 * const out = noisyLinearImpute(data, removed, { height: 4, width: 4, channels: 1, noise: 0 });
 * for (const i of [5, 6, 10]) assert.ok(Math.abs(out[i] - i) < 1e-4);
 * ```
 */
export function noisyLinearImpute(
  data: Float32Array,
  removed: Uint8Array,
  options: ImputeOptions & { height: number; width: number; channels: number },
): Float32Array {
  const {
    height: h,
    width: w,
    channels: c,
    noise = 0.01,
    seed = 0,
    relaxation = 1.8,
    tolerance = 1e-6,
    maxIterations = 20000,
  } = options;
  if (data.length !== h * w * c || removed.length !== h * w) {
    throw new RangeError(
      `noisyLinearImpute(): expected ${h * w * c} values and ${
        h * w
      } flags, got ${data.length} and ${removed.length}`,
    );
  }
  if (!(relaxation > 0 && relaxation < 2)) {
    throw new RangeError(
      `noisyLinearImpute(): option "relaxation" must lie in (0, 2), got ${relaxation}`,
    );
  }
  const out = Float32Array.from(data);
  const holes: number[] = [];
  for (let j = 0; j < h * w; j++) if (removed[j]) holes.push(j);
  if (holes.length === 0) return out;
  // Neighbour lists with normalised weights, per removed pixel.
  const nbIndex: Int32Array[] = [], nbWeight: Float64Array[] = [];
  for (const j of holes) {
    const r = Math.floor(j / w), col = j % w;
    const idx: number[] = [], wt: number[] = [];
    for (const [dr, dc, weight] of NEIGHBOURS) {
      const rr = r + dr, cc = col + dc;
      if (rr < 0 || rr >= h || cc < 0 || cc >= w) continue;
      idx.push(rr * w + cc);
      wt.push(weight);
    }
    const s = wt.reduce((a, b) => a + b, 0);
    nbIndex.push(Int32Array.from(idx));
    nbWeight.push(Float64Array.from(wt, (x) => x / s));
  }
  const values = new Float64Array(h * w);
  for (let ch = 0; ch < c; ch++) {
    let keptSum = 0, kept = 0;
    for (let j = 0; j < h * w; j++) {
      values[j] = data[j * c + ch];
      if (!removed[j]) {
        keptSum += values[j];
        kept++;
      }
    }
    const start = kept > 0 ? keptSum / kept : 0;
    for (const j of holes) values[j] = start;
    for (let it = 0; it < maxIterations; it++) {
      let change = 0;
      for (let q = 0; q < holes.length; q++) {
        const idx = nbIndex[q], wt = nbWeight[q];
        let s = 0;
        for (let t = 0; t < idx.length; t++) s += wt[t] * values[idx[t]];
        const j = holes[q];
        const next = values[j] + relaxation * (s - values[j]);
        change = Math.max(change, Math.abs(next - values[j]));
        values[j] = next;
      }
      if (change <= tolerance) break;
    }
    for (const j of holes) out[j * c + ch] = values[j];
  }
  if (noise > 0) {
    const rng = new Random(seed);
    for (const j of holes) for (let ch = 0; ch < c; ch++) out[j * c + ch] += rng.normal(0, noise);
  }
  return out;
}

/** Options of {@linkcode road}. */
export interface RoadOptions extends FaithfulnessOptions, Omit<ImputeOptions, "seed"> {
  /** The shares of pixels removed, each in [0, 1]. @default {[0.1, 0.2, …, 0.9]} */
  percentages?: readonly number[];
  /** Seed of the imputation noise. @default {0} */
  seed?: number;
}

/** The result of {@linkcode road}. */
export interface RoadResult {
  /** The shares of pixels removed. */
  percentages: number[];
  /** Most relevant first: each image's class probability per share, `[n][shares]`. */
  morf: number[][];
  /** Least relevant first: each image's class probability per share, `[n][shares]`. */
  lerf: number[][];
  /** Each image's MoRF probability averaged over the shares (lower is better). */
  morfMean: number[];
  /** Each image's LeRF probability averaged over the shares (higher is better). */
  lerfMean: number[];
  /** Each image's `lerfMean - morfMean` (higher is more faithful). */
  gap: number[];
  /** The class measured for each image. */
  classes: number[];
}

/**
 * ROAD, RemOve And Debias (Rong et al., ICML 2022): for each share `p` the
 * `round(p · h · w)` most relevant (MoRF) or least relevant (LeRF) pixels
 * are removed and filled in by noisy linear imputation
 * ({@linkcode noisyLinearImpute}), which leaks little of the removed
 * pixels' shape, and the class probability of the imputed image is
 * measured. The paper reports accuracy over a data set; this returns each
 * image's probability curve (average those, or threshold them, as needed)
 * and per-image means. The imputation runs in JavaScript, one image and
 * share at a time; the model runs in batches of `batchSize`. The images and
 * the probabilities are read back asynchronously (one read per batch), so
 * it runs on WebGPU too.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { road } from "./faithfulness.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const maps = tf.randomUniform([2, 8, 8]) as tf.Tensor3D;
 * const r = await road(model, { images, maps }, { percentages: [0.25, 0.5, 0.75] });
 * assert.equal(r.morf.length, 2); // [n][shares]
 * assert.equal(r.morf[0].length, 3);
 * assert.ok(Math.abs(r.gap[0] - (r.lerfMean[0] - r.morfMean[0])) < 1e-12);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export async function road(
  model: TwoBranchModel,
  input: MapInput,
  options: RoadOptions = {},
): Promise<RoadResult> {
  const fn = "road()";
  const {
    target = "predicted",
    batchSize = 64,
    percentages = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    seed = 0,
    ...impute
  } = options;
  const [n, h, w] = checkInput(model, input, fn);
  checkBatchSize(batchSize, fn);
  for (const q of percentages) {
    if (!(q >= 0 && q <= 1)) {
      throw new RangeError(`${fn}: option "percentages" must hold shares in [0, 1], got ${q}`);
    }
  }
  const c = model.inputShape[2];
  const p = h * w;
  const { images, maps } = input;
  const classes = await resolveClasses(model, images, target, batchSize, fn);
  const ranks = await pixelRanks(maps, fn);
  const pixels = await images.data();
  const rng = new Random(seed);
  // Every (image, order, share) imputed image, generated lazily per batch.
  const jobs: { i: number; order: 0 | 1; s: number }[] = [];
  for (let i = 0; i < n; i++) {
    for (const order of [0, 1] as const) {
      for (let s = 0; s < percentages.length; s++) jobs.push({ i, order, s });
    }
  }
  const seeds = jobs.map(() => rng.seed());
  const morf = Array.from({ length: n }, () => new Array<number>(percentages.length).fill(0));
  const lerf = Array.from({ length: n }, () => new Array<number>(percentages.length).fill(0));
  const k = model.numClasses;
  for (let start = 0; start < jobs.length; start += batchSize) {
    const batchJobs = jobs.slice(start, start + batchSize);
    const buffer = new Float32Array(batchJobs.length * p * c);
    batchJobs.forEach(({ i, order, s }, b) => {
      const m = Math.round(percentages[s] * p);
      const removed = new Uint8Array(p);
      for (let j = 0; j < p; j++) {
        removed[j] = order === 0 ? (ranks[i][j] < m ? 1 : 0) : (ranks[i][j] >= p - m ? 1 : 0);
      }
      const imputed = noisyLinearImpute(
        pixels.slice(i * p * c, (i + 1) * p * c) as Float32Array,
        removed,
        {
          ...impute,
          seed: seeds[start + b],
          height: h,
          width: w,
          channels: c,
        },
      );
      buffer.set(imputed, b * p * c);
    });
    const values = await batchProbabilities(
      model,
      () => tf.tensor4d(buffer, [batchJobs.length, h, w, c]),
    );
    batchJobs.forEach(({ i, order, s }, b) => {
      (order === 0 ? morf : lerf)[i][s] = values[b * k + classes[i]];
    });
  }
  const avg = (xs: number[]) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
  const morfMean = morf.map(avg), lerfMean = lerf.map(avg);
  return {
    percentages: [...percentages],
    morf,
    lerf,
    morfMean,
    lerfMean,
    gap: lerfMean.map((l, i) => l - morfMean[i]),
    classes,
  };
}

/** The result of {@linkcode confidenceDrop}. */
export interface ConfidenceDropResult {
  /** Each image's class probability on the original image, `Y`. */
  original: number[];
  /** Each image's class probability on the image times its map, `O`. */
  masked: number[];
  /** `Y - O` (negative when the masked image is more confident). */
  drop: number[];
  /** Grad-CAM++'s per-image "average drop" term, `max(0, Y - O) / Y`. */
  relativeDrop: number[];
  /** Grad-CAM++'s "increase in confidence": whether `O > Y`. */
  increase: boolean[];
  /** The class measured for each image. */
  classes: number[];
}

/**
 * The drop in the class probability when the image is multiplied by its map
 * (the map broadcast over channels), as in Grad-CAM++ (Chattopadhay et al.,
 * WACV 2018): per image `drop = Y - O`, `relativeDrop = max(0, Y - O) / Y` (0 when `Y = 0`)
 * (whose mean over images, in percent, is the paper's "average drop";
 * lower is better) and `increase = O > Y` (whose rate is its "increase in
 * confidence"; higher is better). Maps should lie in [0, 1], as every
 * explainer's do. The probabilities are read back asynchronously (one read
 * per batch), so it runs on WebGPU too.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { confidenceDrop } from "./faithfulness.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const maps = tf.ones([2, 8, 8]) as tf.Tensor3D; // keeps the whole image
 * const r = await confidenceDrop(model, { images, maps });
 * assert.ok(Math.abs(r.drop[0]) < 1e-6);
 * assert.deepStrictEqual(r.increase, [false, false]);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export async function confidenceDrop(
  model: TwoBranchModel,
  input: MapInput,
  options: FaithfulnessOptions = {},
): Promise<ConfidenceDropResult> {
  const fn = "confidenceDrop()";
  const { target = "predicted", batchSize = 64 } = options;
  const [n] = checkInput(model, input, fn);
  checkBatchSize(batchSize, fn);
  const { images, maps } = input;
  const classes = await resolveClasses(model, images, target, batchSize, fn);
  const masked = tf.tidy(() => tf.mul(images, maps.expandDims(3)) as tf.Tensor4D);
  const k = model.numClasses;
  let py: Float32Array, po: Float32Array;
  try {
    py = await probabilities(model, images, batchSize);
    po = await probabilities(model, masked, batchSize);
  } finally {
    masked.dispose();
  }
  const original = classes.map((c, i) => py[i * k + c]);
  const kept = classes.map((c, i) => po[i * k + c]);
  return {
    original,
    masked: kept,
    drop: original.map((y, i) => y - kept[i]),
    relativeDrop: original.map((y, i) => y > 0 ? Math.max(0, y - kept[i]) / y : 0),
    increase: original.map((y, i) => kept[i] > y),
    classes: classes.slice(0, n),
  };
}

/** The metrics {@linkcode randomMapControl} can run. */
export type ControlMetric = "deletion" | "insertion" | "road" | "confidenceDrop";

/** Options of {@linkcode randomMapControl}. */
export interface RandomMapControlOptions extends FaithfulnessOptions {
  /** Which metrics to run. @default {["deletion", "insertion", "road", "confidenceDrop"]} */
  metrics?: readonly ControlMetric[];
  /** Seed of the random maps (and of ROAD's noise). @default {0} */
  seed?: number;
  /** Options of deletion and insertion (their `baseline` defaults stay per metric). */
  curve?: Omit<PerturbationCurveOptions, keyof FaithfulnessOptions>;
  /** Options of ROAD. */
  road?: Omit<RoadOptions, keyof FaithfulnessOptions | "seed">;
}

/** The result of {@linkcode randomMapControl}: the metrics that were asked for. */
export interface RandomMapControlResult {
  /** Deletion on random maps. */
  deletion?: PerturbationCurveResult;
  /** Insertion on random maps. */
  insertion?: PerturbationCurveResult;
  /** ROAD on random maps. */
  road?: RoadResult;
  /** Confidence drop on random maps. */
  confidenceDrop?: ConfidenceDropResult;
}

/**
 * A random-map control: the faithfulness metrics for maps of independent
 * uniform noise in [0, 1) (seeded), the chance level an explainer must beat.
 * Images `[n, h, w, c]`; the caller keeps them. The metrics run one after
 * the other and read back asynchronously, so it runs on WebGPU too.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { randomMapControl } from "./faithfulness.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const r = await randomMapControl(model, images, { metrics: ["deletion"], curve: { steps: 4 } });
 * assert.equal(r.deletion!.auc.length, 2);
 * assert.equal(r.insertion, undefined); // only the metrics asked for
 * images.dispose();
 * model.dispose();
 * ```
 */
export async function randomMapControl(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: RandomMapControlOptions = {},
): Promise<RandomMapControlResult> {
  const {
    metrics = ["deletion", "insertion", "road", "confidenceDrop"],
    seed = 0,
    curve = {},
    road: roadOptions = {},
    ...common
  } = options;
  const [h, w] = model.inputShape;
  const n = images instanceof tf.Tensor && images.rank === 4 ? images.shape[0] : 0;
  for (const m of metrics) {
    if (!["deletion", "insertion", "road", "confidenceDrop"].includes(m)) {
      throw new TypeError(
        `randomMapControl(): option "metrics" holds unknown metric ${JSON.stringify(m)}`,
      );
    }
  }
  const maps = tf.tensor3d(new Random(seed).uniformArray(n * h * w), [n, h, w]);
  const input = { images, maps };
  try {
    const out: RandomMapControlResult = {};
    if (metrics.includes("deletion")) {
      out.deletion = await deletionAuc(model, input, { ...curve, ...common });
    }
    if (metrics.includes("insertion")) {
      out.insertion = await insertionAuc(model, input, { ...curve, ...common });
    }
    if (metrics.includes("road")) {
      out.road = await road(model, input, { ...roadOptions, ...common, seed });
    }
    if (metrics.includes("confidenceDrop")) {
      out.confidenceDrop = await confidenceDrop(model, input, common);
    }
    return out;
  } finally {
    maps.dispose();
  }
}
