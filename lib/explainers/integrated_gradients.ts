/**
 * Integrated Gradients (Sundararajan, Taly and Yan, ICML 2017).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import {
  type BatchOptions,
  checkBatchSize,
  checkImages,
  checkInteger,
  type ExplainOptions,
  fixPredicted,
  inputGradients,
  registerExplainer,
  type ResolvedTarget,
  resolveTarget,
  runExplainer,
  sumByImage,
} from "./core.ts";

/** Options of {@linkcode integratedGradients}. */
export interface IntegratedGradientsOptions extends ExplainOptions, BatchOptions {
  /** Points on the path from the baseline to the image (midpoint rule). @default {32} */
  steps?: number;
  /**
   * The baseline: a value for every pixel, or a tensor `[h, w, c]`,
   * `[1, h, w, c]` or `[n, h, w, c]` (one per image), which the caller keeps.
   *
   * @default {0}
   */
  baseline?: number | tf.Tensor;
}

interface Settings {
  steps: number;
  batchSize: number;
}

function settingsOf(options: IntegratedGradientsOptions): Settings {
  const steps = options.steps ?? 32, batchSize = options.batchSize ?? 64;
  checkInteger("steps", steps, { positive: true });
  checkBatchSize(batchSize);
  return { steps, batchSize };
}

/** The baseline as `[n, h, w, c]`; the caller disposes it (run in tf.tidy). */
function baselineOf(
  model: TwoBranchModel,
  n: number,
  baseline: number | tf.Tensor = 0,
): tf.Tensor4D {
  const [h, w, c] = model.inputShape;
  if (typeof baseline === "number") {
    if (!Number.isFinite(baseline)) {
      throw new RangeError(`Option "baseline" must be finite, got ${baseline}`);
    }
    return tf.fill([n, h, w, c], baseline) as tf.Tensor4D;
  }
  const s = baseline instanceof tf.Tensor ? baseline.shape : null;
  const fits = s !== null && (
    (s.length === 3 && s[0] === h && s[1] === w && s[2] === c) ||
    (s.length === 4 && (s[0] === 1 || s[0] === n) && s[1] === h && s[2] === w && s[3] === c)
  );
  if (!fits) {
    const forms = [`[${h}, ${w}, ${c}]`, `[1, ${h}, ${w}, ${c}]`];
    if (n !== 1) forms.push(`[${n}, ${h}, ${w}, ${c}]`);
    throw new RangeError(
      `Option "baseline" must be a number or a tensor of shape ${forms.slice(0, -1).join(", ")} ` +
        `or ${forms.at(-1)}, got ${s ? `[${s.join(", ")}]` : typeof baseline}`,
    );
  }
  return tf.broadcastTo(tf.cast(baseline, "float32"), [n, h, w, c]) as tf.Tensor4D;
}

/** `(x − x') ⊙` the mean gradient at the midpoints of `steps` path segments. */
function attribute(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  baseline: tf.Tensor4D,
  target: ResolvedTarget,
  { steps, batchSize }: Settings,
): tf.Tensor4D {
  return tf.tidy(() => {
    const m = images.shape[0], total = steps * m;
    const delta = tf.sub(images, baseline);
    let sum = tf.zerosLike(images) as tf.Tensor4D;
    for (let t0 = 0; t0 < total; t0 += batchSize) {
      const size = Math.min(batchSize, total - t0);
      const rows = Int32Array.from({ length: size }, (_, r) => (t0 + r) % m);
      const alphas = Float32Array.from(
        { length: size },
        (_, r) => (Math.floor((t0 + r) / m) + 0.5) / steps,
      );
      const next = tf.tidy(() => {
        const idx = tf.tensor1d(rows, "int32");
        const alpha = tf.tensor4d(alphas, [size, 1, 1, 1]);
        const x = tf.add(tf.gather(baseline, idx), tf.mul(tf.gather(delta, idx), alpha));
        const g = inputGradients(model, x as tf.Tensor4D, target, rows);
        return tf.add(sum, sumByImage(g, rows, m));
      });
      sum.dispose();
      sum = next as tf.Tensor4D;
    }
    return tf.mul(delta, tf.div(sum, steps)) as tf.Tensor4D;
  });
}

/**
 * The raw Integrated Gradients attributions `[n, h, w, c]`, per pixel and
 * channel: `(x − x') ⊙ (1/m) Σ_k ∇f(x' + (k + ½)/m · (x − x'))`, whose sum
 * approaches `f(x) − f(x')` (completeness) as `steps` grows. For metrics
 * and checks that need the signed values; {@linkcode integratedGradients}
 * gives the map. The caller disposes the result.
 *
 * @example Completeness
 * ```ts
 * import assert from "node:assert";
 * import { integratedGradientsAttributions } from "./integrated_gradients.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([1, 8, 8, 3]) as tf.Tensor4D;
 * const attr = integratedGradientsAttributions(model, images, { target: [1], steps: 64 });
 * // The attributions sum to logit 1 at the image − logit 1 at black.
 * const logit1 = (x: tf.Tensor4D) => tf.tidy(() => model.forward(x).logits).arraySync()[0][1];
 * const black = tf.zerosLike(images);
 * assert.ok(Math.abs(attr.sum().dataSync()[0] - (logit1(images) - logit1(black))) < 1e-3);
 * tf.dispose([images, black, attr]);
 * model.dispose();
 * ```
 */
export function integratedGradientsAttributions(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: Omit<IntegratedGradientsOptions, "flipTest" | "normalize"> = {},
): tf.Tensor4D {
  checkImages(model, images);
  const settings = settingsOf(options);
  const n = images.shape[0];
  const target = fixPredicted(model, images, resolveTarget(model, n, options.target));
  try {
    return tf.tidy(() =>
      attribute(model, images, baselineOf(model, n, options.baseline), target, settings)
    );
  } finally {
    if (target.classes instanceof tf.Tensor) target.classes.dispose();
  }
}

/**
 * Integrated Gradients: the attributions of
 * {@linkcode integratedGradientsAttributions} summed over colour channels;
 * the map is the absolute value of that sum, since a map in [0, 1] cannot
 * keep the sign. The path integral uses the midpoint rule with `steps`
 * points (captum defaults to Gauss–Legendre); interpolated inputs run
 * `batchSize` at a time; a `"predicted"` target is the clean image's class.
 * Maps are divided by their maximum. Images `[n, h, w, c]` → maps
 * `[n, h, w]` in [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { integratedGradients } from "./integrated_gradients.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = integratedGradients(model, images, { steps: 16, baseline: 0.5 });
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function integratedGradients(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: IntegratedGradientsOptions = {},
): tf.Tensor3D {
  const settings = settingsOf(options);
  checkImages(model, images);
  const n = images.shape[0];
  tf.tidy(() => void baselineOf(model, n, options.baseline)); // fail before any work
  return runExplainer(model, images, options, ({ images, target, expand }) => {
    const baseline = expand(baselineOf(model, n, options.baseline));
    return tf.abs(tf.sum(attribute(model, images, baseline, target, settings), 3)) as tf.Tensor3D;
  }, { fixClasses: true });
}

registerExplainer("integrated-gradients", integratedGradients);
