/**
 * The evaluator: classification metrics, and for each explainer its
 * localisation, faithfulness and (optionally) sanity metrics, streamed over
 * a dataset in batches, each with a bootstrap interval over images.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { Box, Dataset } from "../data/types.ts";
import { batches, type DataBatch } from "../data/batches.ts";
import { explain } from "../explainers/registry.ts";
import type { ExplainRequest } from "../explainers/registry.ts";
import {
  balancedAccuracy,
  confusionMatrix,
  expectedCalibrationError,
  precisionRecallF1,
  rocAucOvr,
} from "../metrics/classification.ts";
import type { OvrAuc, PrecisionRecallF1 } from "../metrics/classification.ts";
import {
  bestIou,
  energyPointingGame,
  iouAtThreshold,
  maskAuc,
  MaxBoxAccV2Accumulator,
  pointingGame,
  PxapAccumulator,
  relevanceMassAccuracy,
  relevanceRankAccuracy,
} from "../metrics/localization.ts";
import type { LocalizationTarget, ScoreMap } from "../metrics/localization.ts";
import { deletionAuc, insertionAuc } from "../metrics/faithfulness.ts";
import { parameterRandomizationTest } from "../metrics/sanity.ts";
import { summarizeScores } from "../metrics/statistics.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { ProgressBar } from "../util/progress.ts";
import { withMemoryHint } from "../backend/memory.ts";
import { Random } from "../util/random.ts";

/** Options of {@linkcode evaluate}. */
export interface EvaluateOptions {
  /** The samples to evaluate. @default {the official test split, else every sample} */
  indices?: readonly number[];
  /** Images per batch. @default {16} */
  batchSize?: number;
  /** Explainers to score, by name or as `explain()` requests. @default {["grad-cam", "vanilla-gradient", "branch"]} */
  explainers?: readonly (string | ExplainRequest)[];
  /** Deletion and insertion AUC for each explainer (costly: `steps + 1` forward passes per image each). @default {true} */
  faithfulness?: boolean;
  /** Steps of the deletion and insertion curves. @default {16} */
  faithfulnessSteps?: number;
  /**
   * How many of the evaluated images get the deletion and insertion curves:
   * a random subset drawn with `seed` (each curve costs `steps + 1` forward
   * passes per image); `Infinity` scores all. Localisation and
   * classification metrics always cover every image, and each summary's
   * `scored` says how many images it covers.
   *
   * @default {256}
   */
  faithfulnessImages?: number;
  /** Run the parameter-randomisation sanity check on the first `images` evaluated images. @default {false} */
  sanity?: false | { images?: number; seed?: number };
  /** Bootstrap resamples for every interval. @default {1000} */
  resamples?: number;
  /** Confidence level of the intervals. @default {0.95} */
  level?: number;
  /** Seed of the bootstrap. @default {0} */
  seed?: number;
  /** Also write the result as JSON here (atomically). @default {none} */
  outFile?: string;
  /** Show a progress bar. @default {true} */
  progress?: boolean;
}

/** A metric's mean over the images it applies to, with a bootstrap interval. */
export interface MetricSummary {
  /** The mean over scored images (NaN when none was scored). */
  mean: number;
  /** The percentile bootstrap interval of the mean, `[low, high]`. */
  ci: [number, number];
  /** Images scored. */
  scored: number;
  /** Images left out: no mask and no boxes, or an empty mask (BUSI's normal class). */
  excluded: number;
}

/** One evaluated image. */
export interface ImageRecord {
  /** The dataset index. */
  index: number;
  /** The sample id. */
  id: string;
  /** The true class. */
  label: number;
  /** The predicted class. */
  predicted: number;
  /** The predicted class's probability. */
  confidence: number;
  /** Per explainer, per metric: the image's score, or null where the metric does not apply. */
  scores: Record<string, Record<string, number | null>>;
}

/** One explainer's results. */
export interface ExplainerResult {
  /** Localisation and faithfulness metrics, each summarised over images. */
  metrics: Record<string, MetricSummary>;
  /** MaxBoxAccV2 (Choe et al. 2020) over the images with a mask or boxes; null if none. */
  maxBoxAccV2: number | null;
  /** PxAP (Choe et al. 2020) over the images with a mask; null if none. */
  pxap: number | null;
  /** Mean Spearman correlation with the original maps after each cascading randomisation step. */
  sanity?: { step: string; meanSpearman: number }[];
}

/** What {@linkcode evaluate} returns (and writes as JSON). */
export interface EvaluationResult {
  /** Images evaluated. */
  samples: number;
  /** The dataset's class names. */
  classNames: readonly string[];
  /** Classification metrics. */
  classification: {
    accuracy: MetricSummary;
    balancedAccuracy: number;
    macroF1: number;
    perClass: PrecisionRecallF1;
    confusionMatrix: number[][];
    rocAuc: OvrAuc | null;
    expectedCalibrationError: number;
  };
  /** Per explainer name. */
  explainers: Record<string, ExplainerResult>;
  /** Every image's record, for best and worst cases. */
  perImage: ImageRecord[];
}

const LOCALIZATION: Record<string, (map: ScoreMap, target: LocalizationTarget) => number | null> = {
  pointingGame: (m, t) => pointingGame(m, t),
  energyPointingGame,
  relevanceMassAccuracy: (m, t) => relevanceMassAccuracy(m, t),
  relevanceRankAccuracy,
  maskAuc,
  iou50: (m, t) => iouAtThreshold(m, t, { threshold: 0.5 }),
  bestIou: (m, t) => bestIou(m, t)?.iou ?? null,
};

/**
 * Evaluates a model on a dataset: classification metrics, and for each
 * explainer the localisation metrics against the masks (or boxes), deletion
 * and insertion AUC, and optionally the parameter-randomisation sanity
 * check. It streams over the dataset in batches; memory grows only with the
 * small per-image records. Every summary carries a percentile bootstrap
 * interval over images, and says how many images it excluded (no
 * annotation, or an empty mask). The model runs in inference mode.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { evaluate } from "./evaluate.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { syntheticDataset } from "../../datasets/synthetic.ts";
 * const dataset = syntheticDataset({ size: 16, count: 12, numClasses: 2 });
 * const model = createReferenceNet({ numClasses: 2, inputSize: 16, width: 0.125 });
 * const result = await evaluate(model, dataset, {
 *   explainers: ["grad-cam"], faithfulnessSteps: 4, progress: false, resamples: 200,
 * });
 * // By default the official test split: here 2 of the 12 samples, one per class.
 * assert.equal(result.samples, dataset.officialSplit.test.length);
 * assert.equal(result.samples, 2);
 * assert.deepStrictEqual(Object.keys(result.explainers), ["grad-cam"]);
 * model.dispose();
 * ```
 */
export async function evaluate(
  model: TwoBranchModel,
  dataset: Dataset,
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const indices = options.indices ?? dataset.officialSplit?.test ??
    dataset.records.map((_, i) => i);
  if (indices.length === 0) throw new RangeError("Cannot evaluate: no samples were given");
  const batchSize = options.batchSize ?? 16;
  const steps = options.faithfulnessSteps ?? 16;
  const faithfulness = options.faithfulness ?? true;
  const faithfulnessImages = options.faithfulnessImages ?? 256;
  if (!(faithfulnessImages >= 0)) {
    throw new RangeError(
      `Option "faithfulnessImages" must be a number of images (Infinity for all), got ${faithfulnessImages}`,
    );
  }
  // Positions (in `indices`) whose images get the faithfulness curves.
  const curved = new Set(
    faithfulnessImages >= indices.length
      ? indices.map((_, i) => i)
      : new Random(options.seed ?? 0).shuffle(indices.map((_, i) => i)).slice(
        0,
        faithfulnessImages,
      ),
  );
  const requests: ExplainRequest[] =
    (options.explainers ?? ["grad-cam", "vanilla-gradient", "branch"])
      .map((e) => (typeof e === "string" ? { method: e } as ExplainRequest : e));
  const names = requests.map((r) => String(r.method));
  const numClasses = dataset.classNames.length;

  const boxesById = new Map<string, Box[] | undefined>();
  const perImage: ImageRecord[] = [];
  const probabilities: number[][] = [];
  const boxAcc = names.map(() => new MaxBoxAccV2Accumulator());
  const pxapAcc = names.map(() => new PxapAccumulator());
  const bar = options.progress === false
    ? null
    : new ProgressBar(indices.length, { label: "evaluate" });
  let sanityImages = null as tf.Tensor4D | null;
  const sanityCount = options.sanity ? options.sanity.images ?? 4 : 0;

  let offset = 0;
  const stream = batches(dataset, indices, {
    batchSize,
    transform: (sample) => {
      boxesById.set(sample.id, sample.boxes);
      return sample;
    },
  });
  for await (const batch of stream) {
    try {
      await withMemoryHint(
        `evaluating ${model.name} on a batch of ${batch.ids.length} at ${batch.images.shape[1]}×${
          batch.images.shape[2]
        }`,
        `pass a smaller --batch (now ${batchSize}) and restart: the engine cannot continue after this`,
        () => evaluateBatch(batch),
      );
    } finally {
      tf.dispose([batch.images, batch.labels, batch.masks, batch.hasMask]);
      if (batch.ignoreMasks) batch.ignoreMasks.dispose();
    }
  }
  async function evaluateBatch(batch: DataBatch): Promise<void> {
    const n = batch.ids.length;
    const [h, w] = [batch.images.shape[1], batch.images.shape[2]];
    const probs = tf.tidy(() => tf.softmax(model.forward(batch.images).logits));
    // Asynchronous reads throughout: WebGPU under Deno has no synchronous one.
    let rows: number[][];
    try {
      rows = await probs.array() as number[][];
    } finally {
      probs.dispose();
    }
    const [labels, masks, hasMask] = await Promise.all([
      batch.labels.data(),
      batch.masks.data(),
      batch.hasMask.data(),
    ]);
    const targets: (LocalizationTarget | null)[] = batch.ids.map((id, k) => {
      if (hasMask[k] > 0) return { mask: masks.subarray(k * h * w, (k + 1) * h * w) };
      const boxes = boxesById.get(id);
      return boxes && boxes.length > 0 ? { boxes } : null;
    });
    const records: ImageRecord[] = batch.ids.map((id, k) => {
      const row = rows[k];
      const predicted = row.indexOf(Math.max(...row));
      return {
        index: indices[offset + k],
        id,
        label: labels[k],
        predicted,
        confidence: row[predicted],
        scores: {},
      };
    });
    for (let e = 0; e < requests.length; e++) {
      const maps = explain(model, batch.images, requests[e]);
      try {
        const data = await maps.data() as Float32Array;
        const rowsCurved = faithfulness
          ? batch.ids.map((_, k) => k).filter((k) => curved.has(offset + k))
          : [];
        const curves = rowsCurved.length > 0
          ? await faithfulnessCurves(model, batch.images, maps, rowsCurved, steps)
          : null;
        for (let k = 0; k < n; k++) {
          const map: ScoreMap = {
            width: w,
            height: h,
            data: data.subarray(k * h * w, (k + 1) * h * w),
          };
          const target = targets[k];
          const scores: Record<string, number | null> = {};
          for (const [metric, fn] of Object.entries(LOCALIZATION)) {
            scores[metric] = target ? fn(map, target) : null;
          }
          if (target) {
            boxAcc[e].add(map, target);
            if ("mask" in target && target.mask) pxapAcc[e].add(map, target);
          }
          if (faithfulness) {
            // null outside the subset: counted as excluded in the summary.
            scores.deletionAuc = curves?.get(k)?.deletion ?? null;
            scores.insertionAuc = curves?.get(k)?.insertion ?? null;
          }
          records[k].scores[names[e]] = scores;
        }
      } finally {
        maps.dispose();
      }
    }
    if (sanityCount > 0) {
      const take = Math.min(n, sanityCount - (sanityImages?.shape[0] ?? 0));
      if (take > 0) {
        const part = tf.tidy(() => batch.images.slice(0, take));
        const joined = sanityImages ? tf.concat([sanityImages, part]) : part;
        if (sanityImages) tf.dispose([sanityImages, part]);
        sanityImages = joined as tf.Tensor4D;
      }
    }
    perImage.push(...records);
    probabilities.push(...rows);
    offset += n;
    bar?.tick(n);
  }
  bar?.done();

  const ci = {
    resamples: options.resamples ?? 1000,
    level: options.level ?? 0.95,
    seed: options.seed ?? 0,
  };
  const summarize = (values: (number | null)[]): MetricSummary => summarizeScores(values, ci);

  const labels = perImage.map((r) => r.label);
  const predicted = perImage.map((r) => r.predicted);
  const prf = precisionRecallF1(labels, predicted, { numClasses });
  let rocAuc: OvrAuc | null = null;
  try {
    rocAuc = rocAucOvr(labels, probabilities);
  } catch {
    rocAuc = null; // Undefined, e.g. when the evaluated set holds one class only.
  }
  const explainers: Record<string, ExplainerResult> = {};
  for (const [e, name] of names.entries()) {
    const metricNames = Object.keys(perImage[0].scores[name]);
    const result: ExplainerResult = {
      metrics: Object.fromEntries(
        metricNames.map((m) => [m, summarize(perImage.map((r) => r.scores[name][m]))]),
      ),
      maxBoxAccV2: safeValue(() => boxAcc[e].result().value),
      pxap: safeValue(() => pxapAcc[e].result().value),
    };
    if (sanityImages) {
      const test = await parameterRandomizationTest(model, sanityImages, {
        explainer: requests[e],
        seed: options.sanity ? options.sanity.seed ?? 0 : 0,
      });
      result.sanity = test.steps.map((s) => ({ step: s.name, meanSpearman: s.mean }));
    }
    explainers[name] = result;
  }
  sanityImages?.dispose();

  const result: EvaluationResult = {
    samples: perImage.length,
    classNames: dataset.classNames,
    classification: {
      accuracy: summarize(perImage.map((r) => (r.label === r.predicted ? 1 : 0))),
      balancedAccuracy: balancedAccuracy(labels, predicted, { numClasses }),
      macroF1: prf.macro.f1,
      perClass: prf,
      confusionMatrix: confusionMatrix(labels, predicted, { numClasses }),
      rocAuc,
      expectedCalibrationError: expectedCalibrationError(labels, probabilities).ece,
    },
    explainers,
    perImage,
  };
  if (options.outFile) await writeJsonAtomic(options.outFile, result);
  return result;
}

function safeValue(fn: () => number): number | null {
  try {
    return fn();
  } catch {
    return null; // Every image was excluded: no mask and no boxes.
  }
}

/** Deletion and insertion AUC of rows `rows` of a batch, by row. */
async function faithfulnessCurves(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  maps: tf.Tensor3D,
  rows: number[],
  steps: number,
): Promise<Map<number, { deletion: number; insertion: number }>> {
  const all = rows.length === images.shape[0];
  const picked = all ? null : tf.tensor1d(rows, "int32");
  const sub = picked
    ? {
      images: tf.gather(images, picked) as tf.Tensor4D,
      maps: tf.gather(maps, picked) as tf.Tensor3D,
    }
    : { images, maps };
  try {
    const deletion = (await deletionAuc(model, sub, { steps })).auc;
    const insertion = (await insertionAuc(model, sub, { steps })).auc;
    return new Map(rows.map((k, i) => [k, { deletion: deletion[i], insertion: insertion[i] }]));
  } finally {
    if (picked) tf.dispose([picked, sub.images, sub.maps]);
  }
}
