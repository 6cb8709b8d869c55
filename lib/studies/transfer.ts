/**
 * The logic of `deno task transfer`: does saliency learned with location
 * supervision survive transfer to a small unannotated target? Three arms
 * with the same seed, network and target data: (1) pretrain on the source
 * with masks, then fine-tune on the target; (2) the same pretrained on
 * labels only; (3) the target alone. Each arm is trained and scored here
 * ({@linkcode runTransferArm}); the paired tests, comparisons, records and
 * summary are built from the arms' evaluations.
 *
 * @module
 */
import type { Dataset } from "../data/types.ts";
import { evaluate, type EvaluationResult, type MetricSummary } from "../eval/evaluate.ts";
import { mixedLoss } from "../train/mixed_loss.ts";
import { pairedTest } from "../metrics/statistics.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { saveModel } from "../train/save_load.ts";
import { train } from "../train/trainer.ts";
import { loadWeightsInto } from "../train/transfer.ts";
import type { ReportComparison } from "../viz/report.ts";

/** One arm of the study. */
export interface TransferArm {
  /** `masks`, `labels-only` or `none`. */
  key: "masks" | "labels-only" | "none";
  /** How the table names it. */
  name: string;
}

/** The three arms, in order: masks, labels only, the target alone. */
export const TRANSFER_ARMS: readonly TransferArm[] = [
  { key: "masks", name: "(1) source with masks → target" },
  { key: "labels-only", name: "(2) source labels only → target" },
  { key: "none", name: "(3) target alone" },
];

/** The explainers every arm is scored with. */
export const TRANSFER_EXPLAINERS: readonly string[] = ["branch", "grad-cam"];

/** The localisation metrics the study reports, with their labels. */
export const TRANSFER_METRICS: readonly { key: string; label: string }[] = [
  { key: "energyPointingGame", label: "energy on object" },
  { key: "pointingGame", label: "pointing game" },
];

/** One trained and scored arm. */
export interface TransferArmResult {
  key: string;
  name: string;
  /** Weights loaded from the source model (0 for the target alone). */
  transferred: number;
  /** Seconds of training, source and target. */
  trainSeconds: number;
  /** The evaluation on the held-out target. */
  evaluation: EvaluationResult;
}

/** A paired bootstrap of arm (1) against another arm on per-image energy on the object. */
export interface TransferPairedTest {
  /** `(1) vs (2)` or `(1) vs (3)`. */
  comparison: string;
  explainer: string;
  metric: string;
  /** Images where both arms have a score. */
  n: number;
  /** Mean of (1) − other, with its paired bootstrap 95% interval. */
  difference: { estimate: number; ci: [number, number] };
}

/** The data of one study, as {@linkcode runTransferArm} uses it. */
export interface TransferData {
  /** The source dataset and its training indices. */
  source: { dataset: Dataset; train: readonly number[] };
  /** The target as fine-tuned on (masks stripped but for the kept ones). */
  fineTune: Dataset;
  /** The target's indices to fine-tune on. */
  fineTuneIndices: readonly number[];
  /** Whether some fine-tuning images keep their masks (then the BCE mask loss weighs 1). */
  annotated: boolean;
  /** The annotated target to evaluate on, and its held-out indices. */
  test: { dataset: Dataset; indices: readonly number[] };
}

/** Options of {@linkcode runTransferArm}. */
export interface TransferArmOptions {
  /**
   * Builds a fresh model with `numClasses` classes, the same weights for
   * every call with the same count. The arm disposes it.
   */
  build: (numClasses: number) => Promise<TwoBranchModel>;
  /** Where arm `(1)`/`(2)` saves its source model (`<dir>/source-<key>`). */
  dir: string;
  /** Seed of the batches and the bootstrap. */
  seed: number;
  /** Epochs of source pretraining. */
  sourceEpochs: number;
  /** Epochs on the target. */
  targetEpochs: number;
  /** Weight of the mask (BCE) loss in arm (1)'s pretraining. */
  maskWeight: number;
  /** Batch size. */
  batch: number;
  /** Samples per micro-batch, or "auto". */
  microBatch: number | "auto";
  /** Learning-rate multiplier of the backbone. */
  backboneLr: number;
  /** Adam's learning rate. */
  lr: number;
  /** Bootstrap resamples of each interval. */
  resamples: number;
}

/**
 * Trains and scores one arm: for `masks` and `labels-only`, pretrains a
 * model on the source (cross-entropy, plus the mask loss for `masks`),
 * saves it with the source's class names to `<dir>/source-<key>`, and
 * loads every weight that fits into the target model; then fine-tunes on
 * the target and evaluates on its held-out part. Disposes what it builds.
 */
export async function runTransferArm(
  arm: TransferArm,
  data: TransferData,
  o: TransferArmOptions,
): Promise<TransferArmResult> {
  const t0 = performance.now();
  const optimizer = { name: "adam" as const, lr: o.lr };
  const schedule = { batchSize: o.batch, microBatch: o.microBatch, backboneLr: o.backboneLr };
  // Every arm starts from the same weights: the seed, and any pretrained source.
  const model = await o.build(data.test.dataset.classNames.length);
  try {
    let transferred = 0;
    if (arm.key !== "none") {
      const src = await o.build(data.source.dataset.classNames.length);
      const dir = `${o.dir}/source-${arm.key}`;
      try {
        await train(src, {
          dataset: data.source.dataset,
          trainIndices: data.source.train,
          epochs: o.sourceEpochs,
          ...schedule,
          seed: o.seed,
          optimizer,
          loss: mixedLoss({ ce: 1, bce: arm.key === "masks" ? o.maskWeight : 0 }),
        });
        await saveModel(src, dir, { classNames: data.source.dataset.classNames });
      } finally {
        src.dispose();
      }
      // Everything but the classifier's last layer (when the class counts differ) moves over.
      transferred = (await loadWeightsInto(model, dir, { strict: false })).loaded.length;
    }
    await train(model, {
      dataset: data.fineTune,
      trainIndices: data.fineTuneIndices,
      epochs: o.targetEpochs,
      ...schedule,
      seed: o.seed,
      optimizer,
      loss: mixedLoss({ ce: 1, bce: data.annotated ? 1 : 0 }),
    });
    const trainSeconds = (performance.now() - t0) / 1000;
    const evaluation = await evaluate(model, data.test.dataset, {
      indices: data.test.indices,
      batchSize: o.batch,
      explainers: [...TRANSFER_EXPLAINERS],
      faithfulness: false,
      resamples: o.resamples,
      seed: o.seed,
      progress: false,
    });
    return { key: arm.key, name: arm.name, transferred, trainSeconds, evaluation };
  } finally {
    model.dispose();
  }
}

/**
 * Arm `one` against arm `two` on per-image energy on the object of
 * `explainer`: the library's {@linkcode pairedTest} with `two` as the
 * baseline, so the difference is `one − two`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { pairedEnergyTest } from "./transfer.ts";
 * import type { EvaluationResult } from "../eval/evaluate.ts";
 * const arm = (energies: number[]) => ({
 *   perImage: energies.map((e) => ({ scores: { branch: { energyPointingGame: e } } })),
 * }) as unknown as EvaluationResult;
 * const t = pairedEnergyTest("(1) vs (2)", "branch", arm([0.9, 0.8, 0.7, 0.9]), arm([0.5, 0.4, 0.3, 0.5]), {
 *   seed: 0, resamples: 200,
 * });
 * assert.ok(Math.abs(t.difference.estimate - 0.4) < 1e-12); // (1) − (2): positive when (1) is better
 * assert.equal(t.n, 4);
 * ```
 */
export function pairedEnergyTest(
  comparison: string,
  explainer: string,
  one: EvaluationResult,
  two: EvaluationResult,
  options: { seed: number; resamples: number },
): TransferPairedTest {
  const energy = (e: EvaluationResult) =>
    e.perImage.map((r) => r.scores[explainer]?.energyPointingGame ?? null);
  const r = pairedTest(energy(two), energy(one), options);
  return {
    comparison,
    explainer,
    metric: "energyPointingGame",
    n: r.n,
    difference: r.difference,
  };
}

/**
 * The study's paired tests: for each explainer, arm (1) against (2) and
 * (1) against (3), looked up by key.
 */
export function transferPairedTests(
  arms: readonly TransferArmResult[],
  options: { seed: number; resamples: number },
): TransferPairedTest[] {
  const byKey = (key: string) => {
    const arm = arms.find((a) => a.key === key);
    if (!arm) throw new RangeError(`The transfer study has no arm "${key}" to compare`);
    return arm.evaluation;
  };
  return TRANSFER_EXPLAINERS.flatMap((e) => [
    pairedEnergyTest("(1) vs (2)", e, byKey("masks"), byKey("labels-only"), options),
    pairedEnergyTest("(1) vs (3)", e, byKey("masks"), byKey("none"), options),
  ]);
}

/** The report's bar charts: held-out accuracy, then each explainer's metrics, arm by arm. */
export function transferComparisons(arms: readonly TransferArmResult[]): ReportComparison[] {
  return [
    {
      title: "Held-out target accuracy",
      groups: arms.map((p) => ({
        name: p.name,
        metrics: { accuracy: p.evaluation.classification.accuracy },
      })),
    },
    ...TRANSFER_EXPLAINERS.map((e) => ({
      title: `${e}: energy on the object and pointing game on the held-out target`,
      groups: arms.map((p) => ({
        name: p.name,
        metrics: Object.fromEntries(
          TRANSFER_METRICS.filter((m) => p.evaluation.explainers[e]?.metrics[m.key])
            .map((m) => [m.key, p.evaluation.explainers[e].metrics[m.key]]),
        ),
      })),
    })),
  ];
}

/** Each arm as results.json records it. */
export function transferArmRecords(
  arms: readonly TransferArmResult[],
): Record<string, unknown>[] {
  return arms.map((p) => ({
    key: p.key,
    name: p.name,
    transferredVariables: p.transferred,
    trainSeconds: p.trainSeconds,
    accuracy: p.evaluation.classification.accuracy,
    explainers: Object.fromEntries(
      TRANSFER_EXPLAINERS.map((e) => [e, p.evaluation.explainers[e]?.metrics ?? {}]),
    ),
    evaluation: p.evaluation,
  }));
}

/** What the summary says of the data. */
export interface TransferSummaryInfo {
  source: string;
  target: string;
  /** Target images fine-tuned on. */
  fineTune: number;
  /** Of them, with masks. */
  annotated: number;
  /** Held-out target images scored. */
  test: number;
}

function fixed(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(4);
}

function figure(s: MetricSummary | undefined): string {
  return s && Number.isFinite(s.mean)
    ? `${fixed(s.mean)} [${fixed(s.ci[0])}, ${fixed(s.ci[1])}]`
    : "n/a";
}

/**
 * summary.md: the arms' accuracy and localisation figures with their
 * intervals, and the paired tests.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { transferSummaryMarkdown } from "./transfer.ts";
 * const md = transferSummaryMarkdown(
 *   { seed: 0, sourceEpochs: 1, targetEpochs: 2 },
 *   { source: "synthetic", target: "synthetic", fineTune: 21, annotated: 4, test: 9 },
 *   [],
 *   [{ comparison: "(1) vs (2)", explainer: "branch", metric: "energyPointingGame", n: 9, difference: { estimate: 0.1, ci: [0.05, 0.15] } }],
 * );
 * assert.match(md, /^# transfer: synthetic → synthetic/);
 * assert.match(md, /\| \(1\) vs \(2\) \| branch \| 9 \| 0\.1000 \[0\.0500, 0\.1500\] \|/);
 * ```
 */
export function transferSummaryMarkdown(
  c: { seed: number; sourceEpochs: number; targetEpochs: number },
  info: TransferSummaryInfo,
  arms: readonly TransferArmResult[],
  tests: readonly TransferPairedTest[],
): string {
  const cols = TRANSFER_EXPLAINERS.flatMap((e) => TRANSFER_METRICS.map((m) => `${e} ${m.label}`));
  const lines = [
    `# transfer: ${info.source} → ${info.target}`,
    "",
    `Fine-tuned on ${info.fineTune} target images (${info.annotated} with masks), scored on ` +
    `${info.test} held-out annotated target images. Seed ${c.seed}; ${c.sourceEpochs} source ` +
    `and ${c.targetEpochs} target epochs. Figures: mean with its 95% percentile bootstrap ` +
    `interval over images.`,
    "",
    `| pipeline | accuracy | ${cols.join(" | ")} |`,
    `|---|---|${cols.map(() => "---").join("|")}|`,
  ];
  for (const p of arms) {
    const cells = TRANSFER_EXPLAINERS.flatMap((e) =>
      TRANSFER_METRICS.map((m) => figure(p.evaluation.explainers[e]?.metrics[m.key]))
    );
    lines.push(
      `| ${p.name} | ${figure(p.evaluation.classification.accuracy)} | ${cells.join(" | ")} |`,
    );
  }
  lines.push(
    "",
    "## Paired bootstrap on per-image energy on the object",
    "",
    "Mean difference (1) − other over the same held-out images, with its 95% interval; an " +
      "interval that excludes 0 says the pipelines differ.",
    "",
    "| comparison | explainer | images | difference |",
    "|---|---|---|---|",
    ...tests.map((t) =>
      `| ${t.comparison} | ${t.explainer} | ${t.n} | ${fixed(t.difference.estimate)} [${
        fixed(t.difference.ci[0])
      }, ${fixed(t.difference.ci[1])}] |`
    ),
    "",
  );
  return lines.join("\n");
}
