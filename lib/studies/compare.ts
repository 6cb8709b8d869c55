/**
 * A baseline-vs-treatment study, seed by seed: both arms trained through
 * {@linkcode train} on the same batches in the same order, evaluated on the
 * same test images, every difference tested per image with
 * {@linkcode pairedTest}; the seeds pooled, and the verdict in sentences.
 * What is compared is data: a {@linkcode StudyDesign}.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { batches } from "../data/batches.ts";
import { augment } from "../data/transforms.ts";
import type { Dataset } from "../data/types.ts";
import { evaluate, type EvaluationResult, type MetricSummary } from "../eval/evaluate.ts";
import { explain } from "../explainers/mod.ts";
import { energyPointingGame } from "../metrics/localization.ts";
import { aggregateSeeds, pairedTest, summarizeScores } from "../metrics/statistics.ts";
import { faithfulnessCheck } from "../metrics/verdict.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { mixedLoss } from "../train/mixed_loss.ts";
import { train } from "../train/trainer.ts";
import { Random } from "../util/random.ts";
import type { StudyArm, StudyDesign } from "./design.ts";
import { num, pct, pValue } from "./_format.ts";

/** A paired test of the treatment's scores against the baseline's, labelled. */
export interface ComparisonTest {
  /** The comparison's name: a pair's, or the design's `classifier`. */
  comparison: string;
  /** The metric. */
  metric: string;
  /** Pairs tested: images where both scores exist (pooled over seeds when several). */
  n: number;
  /** The baseline's mean over those pairs (over seeds: the mean of the seeds' means). */
  meanA: number;
  /** The treatment's mean, as `meanA`. */
  meanB: number;
  /** The mean of treatment − baseline with its interval (bootstrap over images, or t over seeds). */
  difference: { estimate: number; ci: [number, number] };
  /** The two-sided Wilcoxon signed-rank p-value (over seeds: of every (seed, image) pair). */
  wilcoxonP: number;
}

/** Each training step's loss terms of both arms, keyed by the arms' keys. */
export interface ArmStepLosses {
  /** The step, counting from 1. */
  step: number;
  /** Each arm's terms, under its key. */
  [arm: string]: number | Record<string, number>;
}

/** One seed's comparison. */
export interface SeedComparison {
  seed: number;
  /** Seconds both arms trained. */
  trainSeconds: number;
  /** Each step's loss terms of both arms. */
  history: ArmStepLosses[];
  /** The baseline's evaluation (under the baseline's key in JSON, `a`). */
  a: EvaluationResult;
  /** The treatment's evaluation. */
  b: EvaluationResult;
  /** Accuracy, then every pair on every metric. */
  pairedTests: ComparisonTest[];
  /** Per test image, whether each arm was right (1) or not (0). */
  correct: { a: number[]; b: number[] };
  /** The pretrained start of both models, or null. */
  pretrained: Record<string, unknown> | null;
  /** With a shortcut: the share of each map's energy on the decoy patch. */
  shortcut: null | {
    cueEnergy: Record<string, MetricSummary>;
    pairedTests: ComparisonTest[];
    perImage: Record<string, number[]>;
  };
  /** Per map name, `(a) grad-cam` …: whether it is the model's reason (with a control). */
  faithfulness?: Record<string, MapFaithfulness>;
}

/** Whether a map is the model's reason: its deletion AUC against its arm's random control's. */
export interface MapFaithfulness {
  /** The map's mean deletion AUC over the paired images (lower: deleting it hurts more). */
  deletionAuc: number;
  /** The control's mean deletion AUC over the same images. */
  controlDeletionAuc: number;
  /** Images (over seeds: (seed, image) pairs) with both values. */
  n: number;
  /** Map − control deletion AUC: mean and paired bootstrap 95% interval. */
  difference: { estimate: number; ci: [number, number] };
  /** Two-sided Wilcoxon signed-rank p-value of the same differences. */
  wilcoxonP: number;
  /** Map − control insertion AUC (higher: inserting it restores the prediction faster). */
  insertionDifference: { estimate: number; ci: [number, number] } | null;
  /** Whether the interval of the deletion difference lies entirely below 0. */
  faithful: boolean;
  /** The verdict in one sentence. */
  sentence: string;
}

/**
 * Each map of both arms against its arm's control (`design.control`), image
 * by image over every run given (one seed, or all seeds' images pooled),
 * through {@linkcode faithfulnessCheck}; `{}` when the design has no control.
 *
 * @example A map that deletes the evidence first is the reason; one no better than random is not
 * ```ts
 * import assert from "node:assert";
 * import { compareGradcamDesign, mapFaithfulness, type SeedComparison } from "../../mod.ts";
 * const rec = (d: Record<string, number>) => ({
 *   scores: Object.fromEntries(Object.entries(d).map(([k, v]) => [k, { deletionAuc: v, insertionAuc: 1 - v }])),
 * });
 * const images = [0.5, 0.55, 0.6, 0.45, 0.5, 0.52];
 * const side = (cam: number, branch: number) => ({
 *   perImage: images.map((r, i) => rec({ "grad-cam": r - cam, "vanilla-gradient": r - cam, branch: r + (i % 2 ? branch : -branch), random: r })),
 * });
 * const run = { seed: 0, a: side(0.3, 0), b: side(0.3, 0.01) } as unknown as SeedComparison;
 * const f = mapFaithfulness([run], compareGradcamDesign(), { seed: 0, resamples: 200 });
 * assert.equal(f["(a) grad-cam"].faithful, true);
 * assert.equal(f["(b) branch"].faithful, false);
 * assert.match(f["(b) branch"].sentence, /is not the model's reason/);
 * ```
 */
export function mapFaithfulness(
  runs: readonly SeedComparison[],
  design: StudyDesign,
  options: { seed: number; resamples: number },
): Record<string, MapFaithfulness> {
  const control = design.control ?? null;
  if (control === null) return {};
  const out: Record<string, MapFaithfulness> = {};
  for (const [side, arm] of [["a", design.baseline], ["b", design.treatment]] as const) {
    const values = (map: string, metric: string) =>
      runs.flatMap((r) => r[side].perImage.map((p) => p.scores[map]?.[metric] ?? null));
    const controlDeletion = values(control, "deletionAuc");
    const controlInsertion = values(control, "insertionAuc");
    for (const map of arm.maps) {
      const name = `(${arm.key}) ${map}`;
      const check = faithfulnessCheck(values(map, "deletionAuc"), controlDeletion, {
        ...options,
        name,
        mapInsertion: values(map, "insertionAuc"),
        randomInsertion: controlInsertion,
      });
      out[name] = {
        deletionAuc: check.deletion.meanTreatment,
        controlDeletionAuc: check.deletion.meanBaseline,
        n: check.deletion.n,
        difference: check.deletion.difference,
        wilcoxonP: check.deletion.wilcoxonP,
        insertionDifference: check.insertion?.difference ?? null,
        faithful: check.faithful,
        sentence: check.sentence,
      };
    }
  }
  return out;
}

/** Options of {@linkcode runSeedComparison}. */
export interface SeedComparisonOptions {
  /** What is compared. */
  design: StudyDesign;
  /** The samples. */
  dataset: Dataset;
  /** Indices of the training samples. */
  trainIndices: readonly number[];
  /** Indices of the test samples. */
  testIndices: readonly number[];
  /** The seed of the batch order, the augmentation and the bootstraps. */
  seed: number;
  /** Training steps of each arm. */
  steps: number;
  /** Samples per step. */
  batchSize: number;
  /** Adam's learning rate. */
  lr: number;
  /** Multiplier of the backbone's learning rate. @default {1} */
  backboneLr?: number;
  /** Samples per micro-batch of a step. @default {"auto"} */
  microBatch?: number | "auto";
  /** Bootstrap resamples of each interval; the paired tests' take twice as many. @default {1000} */
  resamples?: number;
  /** Also score each map's energy on the decoy patch (the samples' ignore masks). @default {false} */
  shortcut?: boolean;
  /** The pretrained start, recorded as it is. @default {null} */
  pretrained?: Record<string, unknown> | null;
  /** Progress bars and lines on standard error. @default {true} */
  progress?: boolean;
}

/**
 * Trains both arms through {@linkcode train} on the same batches in the same
 * order (the order of epoch `e`, counting from 0, is drawn from
 * `seed · 1009 + e`), each for `steps` steps with Adam, with random
 * horizontal flips. Returns each step's loss terms and sample ids per arm.
 * The models must start from the same weights for the arms to differ only in
 * their losses.
 *
 * @example Both arms step on the same samples
 * ```ts
 * import assert from "node:assert";
 * import { compareGradcamDesign, createReferenceNet, syntheticDataset, trainArms } from "../../mod.ts";
 * const dataset = syntheticDataset({ size: 16, count: 8, numClasses: 2, seed: 1 });
 * const net = () => createReferenceNet({ numClasses: 2, inputSize: 16, width: 0.125, seed: 3 });
 * const models = { baseline: net(), treatment: net() };
 * const r = await trainArms(models, {
 *   design: compareGradcamDesign(), dataset, trainIndices: [0, 1, 2, 3, 4, 5, 6, 7],
 *   seed: 0, steps: 3, batchSize: 4, lr: 1e-3, progress: false,
 * });
 * assert.equal(r.ids[0].length, 3);
 * assert.deepStrictEqual(r.ids[1], r.ids[0]);
 * models.baseline.dispose();
 * models.treatment.dispose();
 * ```
 */
export async function trainArms(
  models: { baseline: TwoBranchModel; treatment: TwoBranchModel },
  options: Omit<SeedComparisonOptions, "testIndices">,
): Promise<{ losses: Record<string, number>[][]; ids: string[][][]; seconds: number }> {
  const started = performance.now();
  const losses: Record<string, number>[][] = [], ids: string[][][] = [];
  const arms: [TwoBranchModel, StudyArm][] = [
    [models.baseline, options.design.baseline],
    [models.treatment, options.design.treatment],
  ];
  for (const [model, arm] of arms) {
    if (options.progress !== false) {
      console.error(`training (${arm.key}) ${arm.name}, seed ${options.seed}`);
    }
    const armLosses: Record<string, number>[] = [], armIds: string[][] = [];
    await train(model, {
      dataset: options.dataset,
      trainIndices: options.trainIndices,
      steps: options.steps,
      batchSize: options.batchSize,
      seed: options.seed,
      epochRandom: (epoch) => new Random(options.seed * 1009 + epoch - 1),
      optimizer: { name: "adam", lr: options.lr },
      backboneLr: options.backboneLr ?? 1,
      microBatch: options.microBatch ?? "auto",
      loss: mixedLoss(arm.loss),
      transform: (sample, rng) => augment(sample, rng, { flipProbability: 0.5 }),
      progress: options.progress !== false,
      onStep: (r) => {
        armLosses.push(r.losses);
        armIds.push(r.ids);
      },
    });
    losses.push(armLosses);
    ids.push(armIds);
  }
  return { losses, ids, seconds: (performance.now() - started) / 1000 };
}

/**
 * One seed of a study: trains both arms ({@linkcode trainArms}), evaluates
 * them on the test split with the design's maps (deletion and insertion with
 * 8 steps), and tests accuracy and every pair of maps on every metric.
 */
export async function runSeedComparison(
  models: { baseline: TwoBranchModel; treatment: TwoBranchModel },
  options: SeedComparisonOptions,
): Promise<SeedComparison> {
  const { design, dataset, seed } = options;
  const resamples = options.resamples ?? 1000;
  const say = options.progress === false ? () => {} : (s: string) => console.error(s);
  const trained = await trainArms(models, options);
  const [la, lb] = trained.losses;
  const history = la.map((a, i) => ({ step: i + 1, a, b: lb[i] }));

  const common = { indices: options.testIndices, batchSize: 32, faithfulnessSteps: 8, seed };
  const withControl = (maps: readonly string[]) =>
    design.control ? [...maps, design.control] : maps;
  say(`evaluating (a) baseline, seed ${seed}`);
  const a = await evaluate(models.baseline, dataset, {
    ...common,
    resamples,
    explainers: withControl(design.baseline.maps),
  });
  say(`evaluating (b) supervised, seed ${seed}`);
  const b = await evaluate(models.treatment, dataset, {
    ...common,
    resamples,
    explainers: withControl(design.treatment.maps),
  });
  const correct = {
    a: a.perImage.map((r) => (r.label === r.predicted ? 1 : 0)),
    b: b.perImage.map((r) => (r.label === r.predicted ? 1 : 0)),
  };
  const run: SeedComparison = {
    seed,
    trainSeconds: trained.seconds,
    history,
    a,
    b,
    pairedTests: [],
    correct,
    shortcut: null,
    pretrained: options.pretrained ?? null,
  };
  const test = (comparison: string, metric: string) => {
    const v = pairValues(run, design, comparison, metric);
    return comparisonTest(comparison, metric, v.a, v.b, { seed, resamples: 2 * resamples });
  };
  run.pairedTests.push(test(design.classifier, "accuracy"));
  for (const pair of design.pairs) {
    for (const m of design.metrics) run.pairedTests.push(test(pair.name, m.key));
  }
  if (options.shortcut) {
    const perImage: Record<string, number[]> = {};
    for (
      const [model, arm] of [[models.baseline, design.baseline], [
        models.treatment,
        design.treatment,
      ]] as const
    ) {
      const energy = await cueEnergy(model, dataset, options.testIndices, arm.maps);
      for (const m of arm.maps) perImage[`(${arm.key}) ${m}`] = energy[m];
    }
    run.shortcut = {
      cueEnergy: Object.fromEntries(
        Object.entries(perImage).map(([k, v]) => [k, summarizeScores(v, { seed, resamples })]),
      ),
      pairedTests: [],
      perImage,
    };
    run.shortcut.pairedTests = design.pairs.map((p) => test(p.name, "cueEnergy"));
  }
  if (design.control) {
    run.faithfulness = mapFaithfulness([run], design, { seed, resamples: 2 * resamples });
  }
  return run;
}

/**
 * The two sides of comparison `comparison` on `metric` in one seed's run,
 * image by image (null where a metric does not apply): the classifiers'
 * correctness for `accuracy`, the shortcut's cue energy for `cueEnergy`, else
 * the pair's maps' scores. Throws naming a comparison the design lacks.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { compareGradcamDesign, pairValues, type SeedComparison } from "../../mod.ts";
 * const record = (cam: number | null, branch: number) =>
 *   ({ scores: { "grad-cam": { maskAuc: cam }, branch: { maskAuc: branch } } });
 * const run = {
 *   a: { perImage: [record(0.5, 0), record(null, 0)] },
 *   b: { perImage: [record(0, 0.75), record(0, 0.25)] },
 *   correct: { a: [1, 0], b: [1, 1] },
 * } as unknown as SeedComparison;
 * const design = compareGradcamDesign();
 * assert.deepStrictEqual(pairValues(run, design, "branch (b) vs Grad-CAM (a)", "maskAuc"), {
 *   a: [0.5, null],
 *   b: [0.75, 0.25],
 * });
 * assert.deepStrictEqual(pairValues(run, design, "classifier (b) vs (a)", "accuracy").b, [1, 1]);
 * ```
 */
export function pairValues(
  run: SeedComparison,
  design: StudyDesign,
  comparison: string,
  metric: string,
): { a: (number | null)[]; b: (number | null)[] } {
  if (comparison === design.classifier) {
    if (metric !== "accuracy") {
      throw new RangeError(
        `Comparison "${comparison}" has only the metric accuracy, not ${metric}`,
      );
    }
    return run.correct;
  }
  const pair = design.pairs.find((p) => p.name === comparison);
  if (!pair) {
    throw new RangeError(
      `No comparison "${comparison}" in the design; it has ${
        [design.classifier, ...design.pairs.map((p) => p.name)].join(", ")
      }`,
    );
  }
  if (metric === "cueEnergy") {
    const cue = run.shortcut?.perImage;
    if (!cue) throw new RangeError(`Seed ${run.seed} has no cue energy: it ran without a shortcut`);
    return {
      a: cue[`(${design.baseline.key}) ${pair.baseline}`],
      b: cue[`(${design.treatment.key}) ${pair.treatment}`],
    };
  }
  return {
    a: run.a.perImage.map((r) => r.scores[pair.baseline][metric] ?? null),
    b: run.b.perImage.map((r) => r.scores[pair.treatment][metric] ?? null),
  };
}

/**
 * {@linkcode pairedTest} of `b` (the treatment) against `a` (the baseline),
 * labelled: a positive difference means `b` scored higher.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { comparisonTest } from "./compare.ts";
 * const t = comparisonTest("x", "maskAuc", [0.2, 0.4, null], [0.5, 0.6, 0.9], { seed: 0, resamples: 100 });
 * assert.deepStrictEqual([t.comparison, t.metric, t.n], ["x", "maskAuc", 2]);
 * assert.ok(Math.abs(t.difference.estimate - 0.25) < 1e-12 && t.meanB > t.meanA);
 * ```
 */
export function comparisonTest(
  comparison: string,
  metric: string,
  a: readonly (number | null)[],
  b: readonly (number | null)[],
  options: { seed: number; resamples: number },
): ComparisonTest {
  const r = pairedTest(a, b, options);
  return {
    comparison,
    metric,
    n: r.n,
    meanA: r.meanBaseline,
    meanB: r.meanTreatment,
    difference: r.difference,
    wilcoxonP: r.wilcoxonP,
  };
}

/**
 * Per image, the share of each map's energy on the image's "must not
 * matter" mask (the decoy patch), NaN where it has none. Disposes every
 * tensor it makes.
 */
export async function cueEnergy(
  model: TwoBranchModel,
  dataset: Dataset,
  indices: readonly number[],
  methods: readonly string[],
): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = Object.fromEntries(methods.map((m) => [m, []]));
  for await (const batch of batches(dataset, indices, { batchSize: 32 })) {
    try {
      const [n, h, w] = batch.images.shape;
      const ignore = (await batch.ignoreMasks?.data()) ?? new Float32Array(n * h * w);
      for (const method of methods) {
        const maps = explain(model, batch.images, { method } as Parameters<typeof explain>[2]);
        let data: Float32Array;
        try {
          data = await maps.data() as Float32Array;
        } finally {
          maps.dispose();
        }
        for (let k = 0; k < n; k++) {
          const v = energyPointingGame(
            { width: w, height: h, data: data.subarray(k * h * w, (k + 1) * h * w) },
            { mask: ignore.subarray(k * h * w, (k + 1) * h * w) },
          );
          out[method].push(v ?? NaN);
        }
      }
    } finally {
      tf.dispose([batch.images, batch.labels, batch.masks, batch.hasMask]);
      batch.ignoreMasks?.dispose();
    }
  }
  return out;
}

/** A headline figure: a mean with its interval, over images (one seed) or across seeds. */
export interface Figure {
  mean: number;
  ci: [number, number];
}

/** A study's headline figures, across seeds when there are several. */
export interface StudySummary {
  seeds: number[];
  /** `images`: one seed, bootstrap intervals over test images; `seeds`: t intervals across seeds. */
  over: "images" | "seeds";
  /** Test accuracy of each arm. */
  accuracy: { a: Figure; b: Figure };
  /** Per map name, `(a) grad-cam` …: each metric. */
  maps: Record<string, Record<string, Figure>>;
  /** Accuracy, then every pair on every metric. */
  tests: ComparisonTest[];
  /** With a shortcut: each map's cue energy and the pairs' tests of it. */
  shortcut: null | { cueEnergy: Record<string, Figure>; pairedTests: ComparisonTest[] };
  /**
   * Per map name: whether it is the model's reason, from every (seed, image)
   * pair pooled; absent without a control.
   */
  faithfulness?: Record<string, MapFaithfulness>;
}

/**
 * Pools seeds' runs. One seed keeps its own figures and tests (bootstrap
 * over images). Several give each figure as the mean of the seeds' with a t
 * interval across seeds, and each test as the seeds' mean difference with a
 * t interval, the seeds' mean means, and the Wilcoxon test of every
 * (seed, image) pair pooled. Tests are matched across seeds by comparison
 * and metric.
 *
 * @example Two seeds' figures average
 * ```ts
 * import assert from "node:assert";
 * import { compareGradcamDesign, poolSeeds, type SeedComparison } from "../../mod.ts";
 * const design = compareGradcamDesign();
 * const acc = (mean: number) => ({ mean, ci: [mean, mean] as [number, number], scored: 2, excluded: 0 });
 * const evaluation = (mean: number) => ({
 *   samples: 2, classNames: ["x", "y"], perImage: [], explainers: {},
 *   classification: { accuracy: acc(mean) },
 * });
 * const run = (seed: number, a: number, b: number) => ({
 *   seed, trainSeconds: 0, history: [], a: evaluation(a), b: evaluation(b),
 *   pairedTests: [], correct: { a: [], b: [] }, pretrained: null, shortcut: null,
 * }) as unknown as SeedComparison;
 * const pooled = poolSeeds([run(0, 0.5, 0.75), run(1, 0.7, 0.85)], { ...design, pairs: [], verdict: [] });
 * assert.equal(pooled.over, "seeds");
 * assert.ok(Math.abs(pooled.accuracy.a.mean - 0.6) < 1e-12);
 * assert.ok(Math.abs(pooled.accuracy.b.mean - 0.8) < 1e-12);
 * ```
 */
export function poolSeeds(runs: readonly SeedComparison[], design: StudyDesign): StudySummary {
  if (runs.length === 0) throw new RangeError("Cannot pool seeds: no seed has results");
  const one = runs.length === 1;
  const fig = (get: (r: SeedComparison) => MetricSummary | undefined): Figure => {
    if (one) {
      const s = get(runs[0]);
      return s ? { mean: s.mean, ci: s.ci } : { mean: NaN, ci: [NaN, NaN] };
    }
    return acrossSeeds(runs.map((r) => get(r)?.mean ?? NaN));
  };
  const maps: StudySummary["maps"] = {};
  for (const [key, arm] of [["a", design.baseline], ["b", design.treatment]] as const) {
    for (const e of design.control ? [...arm.maps, design.control] : arm.maps) {
      maps[`(${arm.key}) ${e}`] = Object.fromEntries(
        design.metrics.map((m) => [m.key, fig((r) => r[key].explainers[e]?.metrics[m.key])]),
      );
    }
  }
  const pool = (of: (r: SeedComparison) => ComparisonTest[]) =>
    of(runs[0]).map((t) => one ? t : pooledTest(runs, design, t.comparison, t.metric, of));
  const shortcut = runs[0].shortcut;
  return {
    seeds: runs.map((r) => r.seed),
    over: one ? "images" : "seeds",
    accuracy: {
      a: fig((r) => r.a.classification.accuracy),
      b: fig((r) => r.b.classification.accuracy),
    },
    maps,
    tests: pool((r) => r.pairedTests),
    shortcut: shortcut
      ? {
        cueEnergy: Object.fromEntries(
          Object.keys(shortcut.cueEnergy).map((k) => [k, fig((r) => r.shortcut?.cueEnergy[k])]),
        ),
        pairedTests: pool((r) => r.shortcut?.pairedTests ?? []),
      }
      : null,
    ...(design.control
      ? {
        faithfulness: one && runs[0].faithfulness
          ? runs[0].faithfulness
          : mapFaithfulness(runs, design, { seed: runs[0].seed, resamples: 2000 }),
      }
      : {}),
  };
}

/** The mean of the finite values with a t interval across them. */
function acrossSeeds(values: number[]): Figure {
  const ok = values.filter(Number.isFinite);
  if (ok.length === 0) return { mean: NaN, ci: [NaN, NaN] };
  const g = aggregateSeeds(ok);
  return { mean: g.mean, ci: [g.low, g.high] };
}

/** One test pooled over seeds: see {@linkcode poolSeeds}. */
function pooledTest(
  runs: readonly SeedComparison[],
  design: StudyDesign,
  comparison: string,
  metric: string,
  of: (r: SeedComparison) => ComparisonTest[],
): ComparisonTest {
  const each = runs.map((r) => findTest(of(r), comparison, metric));
  const f = acrossSeeds(each.map((t) => t.difference.estimate));
  const a: (number | null)[] = [], b: (number | null)[] = [];
  for (const r of runs) {
    const v = pairValues(r, design, comparison, metric);
    a.push(...v.a);
    b.push(...v.b);
  }
  // Only the pooled pairs' count and Wilcoxon p are kept: one resample is enough.
  const pooled = pairedTest(a, b, { seed: 0, resamples: 1 });
  return {
    comparison,
    metric,
    n: pooled.n,
    meanA: meanOf(each.map((t) => t.meanA)),
    meanB: meanOf(each.map((t) => t.meanB)),
    difference: { estimate: f.mean, ci: f.ci },
    wilcoxonP: pooled.wilcoxonP,
  };
}

function meanOf(v: number[]): number {
  const ok = v.filter(Number.isFinite);
  return ok.length ? ok.reduce((s, x) => s + x, 0) / ok.length : NaN;
}

/**
 * The test of `comparison` on `metric` among `tests`, found by that key;
 * throws naming it where it is missing.
 *
 * @example Found by comparison and metric, wherever it stands
 * ```ts
 * import assert from "node:assert";
 * import { findTest, type ComparisonTest } from "./compare.ts";
 * const t = (comparison: string, metric: string) =>
 *   ({ comparison, metric, n: 1, meanA: 0, meanB: 0, difference: { estimate: 0, ci: [0, 0] }, wilcoxonP: 1 }) as ComparisonTest;
 * const tests = [t("x", "accuracy"), t("y", "maskAuc"), t("y", "bestIou")];
 * assert.equal(findTest(tests, "y", "bestIou"), tests[2]);
 * assert.throws(() => findTest(tests, "z", "bestIou"), /No paired test of "z" on bestIou/);
 * ```
 */
export function findTest(
  tests: readonly ComparisonTest[],
  comparison: string,
  metric: string,
): ComparisonTest {
  const t = tests.find((x) => x.comparison === comparison && x.metric === metric);
  if (!t) throw new RangeError(`No paired test of "${comparison}" on ${metric}`);
  return t;
}

/**
 * The verdict: one plain sentence per test the design names (by comparison
 * and metric), saying whether its interval excludes 0, including when it
 * does not. The `cueEnergy` items speak only with a shortcut.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { compareGradcamDesign, verdict, type StudySummary } from "../../mod.ts";
 * const design = compareGradcamDesign();
 * const t = (comparison: string, metric: string, estimate: number, ci: [number, number]) =>
 *   ({ comparison, metric, n: 8, meanA: 0, meanB: 0, difference: { estimate, ci }, wilcoxonP: 0.01 });
 * const summary = {
 *   shortcut: null,
 *   tests: [
 *     t("Grad-CAM (b) vs Grad-CAM (a)", "energyPointingGame", 0.01, [-0.02, 0.04]),
 *     t("branch (b) vs Grad-CAM (a)", "energyPointingGame", 0.2, [0.1, 0.3]),
 *     t("classifier (b) vs (a)", "accuracy", -0.05, [-0.1, -0.01]),
 *   ],
 * } as unknown as StudySummary;
 * assert.deepStrictEqual(verdict(summary, design).split("\n"), [
 *   "Test accuracy: (b) lower than (a) by 5.0 points (interval excludes 0; Wilcoxon p 0.0100).",
 *   "Energy on the object, branch (b) vs Grad-CAM (a): (b) higher than (a) by 0.200 (interval excludes 0; Wilcoxon p 0.0100).",
 *   "Energy on the object, Grad-CAM (b) vs Grad-CAM (a): no clear difference (interval [-0.020, 0.040] includes 0; Wilcoxon p 0.0100).",
 * ]);
 * ```
 */
export function verdict(summary: StudySummary, design: StudyDesign): string {
  const say: string[] = [];
  const reason = (name: string) => {
    const f = summary.faithfulness?.[name];
    return f
      ? `${name} ${f.faithful ? "is" : "is not"} the model's reason (deletion AUC ${
        num(f.deletionAuc)
      } vs ${num(f.controlDeletionAuc)} for a random map)`
      : null;
  };
  for (const item of design.verdict) {
    const cue = item.metric === "cueEnergy";
    if (cue && !summary.shortcut) continue;
    const pair = design.pairs.find((p) => p.name === item.comparison);
    const reasons = pair && LOCALISATION.has(item.metric)
      ? [
        reason(`(${design.treatment.key}) ${pair.treatment}`),
        reason(`(${design.baseline.key}) ${pair.baseline}`),
      ].filter((r) => r !== null)
      : [];
    const also = reasons.length ? ` Faithfulness: ${reasons.join("; ")}.` : "";
    const what = item.metric === "accuracy" && summary.shortcut
      ? `${item.what} on the decoy test images (their patches random)`
      : item.what;
    const t = findTest(
      cue ? summary.shortcut!.pairedTests : summary.tests,
      item.comparison,
      item.metric,
    );
    const scale = item.metric === "accuracy" ? (v: number) => `${pct(v)} points` : num;
    const d = t.difference;
    const p = `Wilcoxon p ${pValue(t.wilcoxonP)}`;
    if (!Number.isFinite(d.estimate)) say.push(`${what}: no pairs to compare.`);
    else if (d.ci[0] > 0 || d.ci[1] < 0) {
      say.push(
        `${what}: (b) ${d.estimate > 0 ? "higher" : "lower"} than (a) by ` +
          `${scale(Math.abs(d.estimate))} (interval excludes 0; ${p}).${also}`,
      );
    } else {
      say.push(
        `${what}: no clear difference (interval [${scale(d.ci[0])}, ${scale(d.ci[1])}] ` +
          `includes 0; ${p}).${also}`,
      );
    }
  }
  for (const f of Object.values(summary.faithfulness ?? {})) say.push(f.sentence);
  return say.join("\n");
}

/** The metrics that say where a map lands, whose verdict sentences also name faithfulness. */
const LOCALISATION = new Set(["pointingGame", "energyPointingGame", "maskAuc", "bestIou"]);

/** A group of the report's comparisons: metric summaries set side by side. */
export interface ComparisonGroup {
  name: string;
  metrics: Record<string, MetricSummary>;
}

/**
 * The report's comparisons: accuracy, each map of both arms, the branch-type
 * maps of the treatment beside the baseline's, and with a shortcut the cue
 * energy. Each figure keeps the counts of what it pools: over images (one
 * seed), the images the seed's metric scored and left out (BUSI's normal
 * images have no mask, so its localisation metrics leave them out); over
 * seeds, the seeds whose figure exists and those whose metric scored no image.
 */
export function reportComparisons(
  summary: StudySummary,
  runs: readonly SeedComparison[],
  design: StudyDesign,
): { title: string; groups: ComparisonGroup[] }[] {
  const { baseline, treatment } = design;
  const counts = (get: (r: SeedComparison) => MetricSummary | undefined) => {
    if (summary.over === "images") {
      const s = get(runs[0]);
      return { scored: s?.scored ?? 0, excluded: s?.excluded ?? 0 };
    }
    const scored = runs.filter((r) => Number.isFinite(get(r)?.mean ?? NaN)).length;
    return { scored, excluded: runs.length - scored };
  };
  const entry = (f: Figure, get: (r: SeedComparison) => MetricSummary | undefined) => ({
    mean: f.mean,
    ci: f.ci,
    ...counts(get),
  });
  const mapGroup = (arm: StudyArm, side: "a" | "b", map: string): ComparisonGroup => {
    const name = `(${arm.key}) ${map}`;
    return {
      name,
      metrics: Object.fromEntries(design.metrics.map((m) => [
        m.key,
        entry(summary.maps[name][m.key], (r) => r[side].explainers[map]?.metrics[m.key]),
      ])),
    };
  };
  const shared = baseline.maps.filter((m) => treatment.maps.includes(m));
  const own = treatment.maps.filter((m) => !baseline.maps.includes(m));
  return [
    {
      title: `${
        summary.shortcut
          ? "Decoy-test accuracy (the test images' patches are random)"
          : "Test accuracy"
      }: (${baseline.key}) ${baseline.name} vs (${treatment.key}) ${treatment.name}`,
      groups: ([["a", baseline], ["b", treatment]] as const).map(([side, arm]) => ({
        name: `(${arm.key}) ${arm.name}`,
        metrics: {
          accuracy: entry(summary.accuracy[side], (r) => r[side].classification.accuracy),
        },
      })),
    },
    ...shared.map((e) => ({
      title: `${e}: (${baseline.key}) ${baseline.name} vs (${treatment.key}) ${treatment.name}`,
      groups: [mapGroup(baseline, "a", e), mapGroup(treatment, "b", e)],
    })),
    ...own.map((e) => ({
      title: `${own.length === 1 && e === "branch" ? "Branch map" : e} of (${treatment.key}) vs ` +
        `${baseline.maps.map(titleOf).join(" and ")} of (${baseline.key})`,
      groups: [
        ...baseline.maps.map((m) => mapGroup(baseline, "a", m)),
        mapGroup(treatment, "b", e),
      ],
    })),
    ...(design.control
      ? [{
        title:
          `Faithfulness: deletion AUC of each map and of a ${design.control} map (lower: deleting what the map shows hurts the prediction sooner)`,
        groups: ([["a", baseline], ["b", treatment]] as const).flatMap(([side, arm]) =>
          [...arm.maps, design.control!].map((map) => ({
            name: `(${arm.key}) ${map}`,
            metrics: {
              deletionAuc: entry(
                summary.maps[`(${arm.key}) ${map}`].deletionAuc,
                (r) => r[side].explainers[map]?.metrics.deletionAuc,
              ),
            },
          }))
        ),
      }]
      : []),
    ...(summary.shortcut
      ? [{
        title: "Shortcut: share of saliency energy on the decoy patch",
        groups: Object.entries(summary.shortcut.cueEnergy).map(([name, f]) => ({
          name,
          metrics: { cueEnergy: entry(f, (r) => r.shortcut?.cueEnergy[name]) },
        })),
      }]
      : []),
  ];
}

/** How the report's titles spell the explainers. */
function titleOf(map: string): string {
  return map === "grad-cam" ? "Grad-CAM" : map === "vanilla-gradient" ? "vanilla gradients" : map;
}

/**
 * Epoch means of each arm's loss terms (`a_loss`, `a_ce`, `b_loss`, …), for
 * the report's training curves, with `perEpoch` steps to an epoch.
 *
 * @example Three steps, two to an epoch
 * ```ts
 * import assert from "node:assert";
 * import { epochLog, type SeedComparison } from "./compare.ts";
 * const history = [1, 2, 3].map((step) => ({ step, a: { ce: step }, b: { ce: 2 * step } }));
 * const log = epochLog({ history } as unknown as SeedComparison, 2);
 * assert.deepStrictEqual(log, [
 *   { epoch: 1, metrics: { a_ce: 1.5, b_ce: 3 } },
 *   { epoch: 2, metrics: { a_ce: 3, b_ce: 6 } },
 * ]);
 * ```
 */
export function epochLog(
  run: SeedComparison,
  perEpoch: number,
): { epoch: number; metrics: Record<string, number> }[] {
  const epochs = new Map<number, Map<string, number[]>>();
  for (const h of run.history) {
    const e = Math.floor((h.step - 1) / Math.max(1, perEpoch)) + 1;
    const acc = epochs.get(e) ?? new Map<string, number[]>();
    for (const side of ["a", "b"] as const) {
      for (const [k, v] of Object.entries(h[side] as Record<string, number>)) {
        const key = `${side}_${k}`;
        acc.set(key, [...(acc.get(key) ?? []), v]);
      }
    }
    epochs.set(e, acc);
  }
  return [...epochs].map(([epoch, acc]) => ({
    epoch,
    metrics: Object.fromEntries([...acc].map(([k, v]) => [k, meanOf(v)])),
  }));
}
