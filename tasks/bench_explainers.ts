/**
 * Speed of the explainers: images per second for Grad-CAM, vanilla
 * gradients, Score-CAM and RISE (or any explainer requests) on a model and
 * a batch, for `deno task bench`. Medians of timed runs after warm-up; each
 * run ends when the maps' values have been read back, so asynchronous
 * engines are timed to completion.
 *
 * @module
 */
import { explain, type ExplainRequest, tf, type TwoBranchModel } from "../mod.ts";

/** The requests {@linkcode benchExplainers} times by default, with each method's default options. */
export const DEFAULT_EXPLAINER_BENCH: readonly ExplainRequest[] = [
  { method: "grad-cam" },
  { method: "vanilla-gradient" },
  { method: "score-cam" },
  { method: "rise" },
];

/** Options of {@linkcode benchExplainers}. */
export interface BenchExplainersOptions {
  /** What to time. @default {DEFAULT_EXPLAINER_BENCH} */
  requests?: readonly ExplainRequest[];
  /** Untimed runs of each request first. @default {1} */
  warmup?: number;
  /** Timed runs of each request (the median is reported). @default {3} */
  repeats?: number;
  /** Told after each run. @default {nothing} */
  onProgress?: (method: string, run: number, runs: number) => void;
}

/** One request's figures. */
export interface ExplainerTiming {
  /** The method's name. */
  method: string;
  /** The request, options included. */
  request: ExplainRequest;
  /** Images in the batch. */
  images: number;
  /** Median milliseconds for the whole batch. */
  msPerBatch: number;
  /** Images per second at that median. */
  imagesPerSecond: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Times each request of `options.requests` on `model` and `images`
 * (`[n, h, w, c]`, which the caller keeps): `warmup` untimed runs, then the
 * median of `repeats` timed runs, as milliseconds per batch and images per
 * second.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { benchExplainers } from "./bench_explainers.ts";
 * import { createReferenceNet, tf } from "../mod.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const timings = await benchExplainers(model, images, {
 *   requests: [{ method: "grad-cam" }, { method: "rise", masks: 32 }],
 *   warmup: 0,
 *   repeats: 1,
 * });
 * assert.deepStrictEqual(timings.map((t) => t.method), ["grad-cam", "rise"]);
 * for (const t of timings) {
 *   assert.ok(Math.abs(t.imagesPerSecond * t.msPerBatch / 1000 - 2) < 1e-9); // 2 images a batch
 * }
 * images.dispose();
 * model.dispose();
 * ```
 */
export async function benchExplainers(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: BenchExplainersOptions = {},
): Promise<ExplainerTiming[]> {
  const requests = options.requests ?? DEFAULT_EXPLAINER_BENCH;
  const warmup = options.warmup ?? 1, repeats = options.repeats ?? 3;
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new RangeError(`Option "warmup" must be an integer of at least 0, got ${warmup}`);
  }
  if (!Number.isInteger(repeats) || repeats < 1) {
    throw new RangeError(`Option "repeats" must be a positive integer, got ${repeats}`);
  }
  const n = images.shape[0];
  const out: ExplainerTiming[] = [];
  for (const request of requests) {
    const times: number[] = [];
    for (let run = 0; run < warmup + repeats; run++) {
      const start = performance.now();
      const maps = explain(model, images, request);
      await maps.data();
      const ms = performance.now() - start;
      maps.dispose();
      if (run >= warmup) times.push(ms);
      options.onProgress?.(request.method, run + 1, warmup + repeats);
    }
    const msPerBatch = median(times);
    out.push({
      method: request.method,
      request,
      images: n,
      msPerBatch,
      imagesPerSecond: (1000 * n) / msPerBatch,
    });
  }
  return out;
}
