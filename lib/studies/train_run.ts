/**
 * One training run as `deno task train` records it: its settings (typed,
 * and in the flags' own spelling for `config.json`), the loss spelling
 * `ce=1,bce=1`, and the `results.json` record with its one-line outcome.
 *
 * @module
 */
import type { EngineName } from "../backend/init_backend.ts";
import type { Dataset } from "../data/types.ts";
import type { EvaluationResult, ExplainerResult } from "../eval/evaluate.ts";
import { getLoss, listLosses, lossFlagName } from "../train/mixed_loss.ts";
import type { RunInfo } from "../train/run_info.ts";
import type { TrainResult } from "../train/trainer.ts";

/** A checked train config: `deno task train`'s flags, typed. */
export interface TrainConfig {
  dataset: string;
  root: string | null;
  count: number;
  classes: number;
  size: number;
  backbone: string;
  head: string;
  /** The attention head's gate (`--gate`), or null for none. */
  gate: string | null;
  width: number;
  /** The --pretrained source, or "". */
  pretrained: string;
  /** Stages to freeze, or ["backbone"]. */
  freeze: string[];
  backboneLr: number;
  dropout: number;
  /** The --loss spelling, e.g. "ce=1,bce=1". */
  loss: string;
  lossWeights: Record<string, number>;
  epochs: number;
  batch: number;
  /** Samples per micro-batch, or "auto". */
  microBatch: number | "auto";
  optimizer: "adam" | "sgd";
  lr: number;
  weightDecay: number;
  schedule: "constant" | "cosine" | "step";
  warmup: number;
  flip: number;
  val: number;
  metric: "val_loss" | "val_accuracy";
  patience: number;
  explainers: string[];
  faithfulness: boolean;
  resamples: number;
  resume: boolean;
  overrideSettings: boolean;
  overwrite: boolean;
  skipComplete: boolean;
  out: string;
  backend: EngineName | "auto";
  threads: number;
  seed: number;
  dataSeed: number;
}

/**
 * The config in the flags' own spelling, so that it reads back as a
 * `--config` file: what `config.json` holds and `run.json` stores as the
 * run's settings. The switches of one call (`resume`, `overwrite`, …) are
 * left out.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { trainConfigRecord, type TrainConfig } from "./train_run.ts";
 * const c = { freeze: ["stem", "block1"], explainers: ["grad-cam"], weightDecay: 0.1, resume: true };
 * const record = trainConfigRecord(c as unknown as TrainConfig);
 * assert.equal(record.freeze, "stem,block1");
 * assert.equal(record.explainers, "grad-cam");
 * assert.equal(record["weight-decay"], 0.1);
 * assert.ok(!("resume" in record));
 * ```
 */
export function trainConfigRecord(
  c: TrainConfig,
): Record<string, string | number | boolean | null> {
  return {
    dataset: c.dataset,
    root: c.root,
    count: c.count,
    classes: c.classes,
    size: c.size,
    backbone: c.backbone,
    head: c.head,
    ...(c.gate ? { gate: c.gate } : {}),
    width: c.width,
    pretrained: c.pretrained,
    freeze: c.freeze.join(","),
    "backbone-lr": c.backboneLr,
    dropout: c.dropout,
    loss: c.loss,
    epochs: c.epochs,
    batch: c.batch,
    "micro-batch": c.microBatch,
    optimizer: c.optimizer,
    lr: c.lr,
    "weight-decay": c.weightDecay,
    schedule: c.schedule,
    warmup: c.warmup,
    flip: c.flip,
    val: c.val,
    metric: c.metric,
    patience: c.patience,
    explainers: c.explainers.join(","),
    faithfulness: c.faithfulness,
    resamples: c.resamples,
    out: c.out,
    backend: c.backend,
    threads: c.threads,
    seed: c.seed,
    "data-seed": c.dataSeed,
  };
}

/**
 * Parses weighted loss terms spelled `ce=1,bce=0.5` (terms by their flag
 * names, {@linkcode lossFlagName}) into weights by registered loss name,
 * `ce` at 0 unless given. Throws a `RangeError` naming the part at fault
 * (an unknown term, a missing or negative weight, no weight above 0).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { parseLossWeights } from "./train_run.ts";
 * assert.deepStrictEqual(parseLossWeights("bce=1, dice=0.5"), { ce: 0, bce: 1, dice: 0.5 });
 * assert.throws(() => parseLossWeights("ce=-1"), /term "ce" needs a weight ≥ 0 as ce=NUMBER/);
 * assert.throws(() => parseLossWeights("ce=0"), /"ce=0" gives no term a weight above 0/);
 * ```
 */
export function parseLossWeights(spec: string): Record<string, number> {
  const weights: Record<string, number> = { ce: 0 };
  for (const part of spec.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const [name, raw, ...rest] = part.split("=");
    const term = lossFlagName(name?.trim() ?? "", { toFlag: false });
    if (!getLoss(term)) {
      throw new RangeError(
        `unknown term "${name}" in "${spec}" (terms: ${
          listLosses().map((n) => lossFlagName(n)).join(", ")
        })`,
      );
    }
    const w = Number(raw);
    if (rest.length > 0 || raw === undefined || raw.trim() === "" || !(w >= 0) || !isFinite(w)) {
      throw new RangeError(`term "${name}" needs a weight ≥ 0 as ${name}=NUMBER, got "${part}"`);
    }
    weights[term] = w;
  }
  if (Object.values(weights).every((v) => v === 0)) {
    throw new RangeError(`"${spec}" gives no term a weight above 0`);
  }
  return weights;
}

/** What {@linkcode trainResults} assembles. */
export interface TrainResultsInput {
  /** The run's config. */
  config: TrainConfig;
  /** The run record of this call. */
  run: RunInfo;
  /** The engine it ran on. */
  engine: string;
  /** The trained model's name and parameter count. */
  model: { name: string; parameters: number };
  /** Where its pretrained weights came from, or null. */
  pretrained: Record<string, unknown> | null;
  /** The dataset and the sample indices of each part. */
  dataset: Dataset;
  /** Indices of the training, validation and test samples. */
  split: { train: readonly number[]; val: readonly number[]; test: readonly number[] };
  /** The batch size trained with (the config's, or the training set where smaller). */
  batchSize: number;
  /** What `train()` returned. */
  result: TrainResult;
  /** Seconds spent training, this call. */
  trainSeconds: number;
  /** The test split's evaluation, or null without test images. */
  evaluation: EvaluationResult | null;
  /** Seconds spent evaluating. */
  evaluationSeconds: number;
}

/** The `results.json` of a train run ({@linkcode trainResults}). */
export interface TrainResultsRecord {
  /** `train: <model> on <dataset>`. */
  title: string;
  /** The run record of this call. */
  run: RunInfo;
  /** The engine it ran on. */
  engine: string;
  /** The config in the flags' spelling ({@linkcode trainConfigRecord}). */
  config: Record<string, string | number | boolean | null>;
  /** Loss weights by registered loss name. */
  lossWeights: Record<string, number>;
  /** The model's name and parameter count. */
  model: { name: string; parameters: number };
  /** Where its pretrained weights came from, or null. */
  pretrained: Record<string, unknown> | null;
  /** The dataset: name, class names, the size and sample ids of each part. */
  dataset: {
    name: string;
    classNames: readonly string[];
    train: number;
    val: number;
    test: number;
    trainIds: string[];
    valIds: string[];
    testIds: string[];
  };
  /** How training went, over the whole run and this call. */
  training: {
    batchSize: number;
    epochs: number;
    steps: number;
    epochsThisCall: number;
    resumedFrom: number | null;
    stoppedEarly: boolean;
    best: TrainResult["best"];
    seconds: number;
    history: TrainResult["history"];
  };
  /** Seconds spent evaluating. */
  evaluationSeconds: number;
  /** The test split's classification metrics, or null without test images. */
  test: EvaluationResult["classification"] | null;
  /** Per explainer, its metrics on the test split. */
  explainers: Record<string, { metrics: ExplainerResult["metrics"] }>;
}

/**
 * The record `deno task train` writes as `results.json`: run info, config,
 * model, dataset with the ids of each part, training history, and the
 * test split's classification and explainer metrics.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { trainResults, type TrainResultsInput } from "./train_run.ts";
 * const records = ["a", "b", "c"].map((id) => ({ id, label: 0, hasMask: false, hasBoxes: false, source: id }));
 * const input = {
 *   config: { freeze: [], explainers: [], lossWeights: { ce: 1 } },
 *   dataset: { name: "toy", classNames: ["x", "y"], records },
 *   split: { train: [0, 2], val: [], test: [1] },
 *   model: { name: "m", parameters: 10 },
 *   result: { epochs: 1, steps: 2, history: [], best: null, stoppedEarly: false, resumedFrom: null },
 *   evaluation: null,
 * } as unknown as TrainResultsInput;
 * const results = trainResults(input);
 * assert.deepStrictEqual(results.dataset.trainIds, ["a", "c"]);
 * assert.deepStrictEqual(results.dataset.testIds, ["b"]);
 * assert.equal(results.test, null);
 * ```
 */
export function trainResults(input: TrainResultsInput): TrainResultsRecord {
  const { config: c, dataset, split, result, evaluation } = input;
  const ids = (indices: readonly number[]) => indices.map((i) => dataset.records[i].id);
  return {
    title: `train: ${input.model.name} on ${dataset.name}`,
    run: input.run,
    engine: input.engine,
    config: trainConfigRecord(c),
    lossWeights: c.lossWeights,
    model: input.model,
    pretrained: input.pretrained,
    dataset: {
      name: dataset.name,
      classNames: dataset.classNames,
      train: split.train.length,
      val: split.val.length,
      test: split.test.length,
      trainIds: ids(split.train),
      valIds: ids(split.val),
      testIds: ids(split.test),
    },
    training: {
      batchSize: input.batchSize,
      epochs: result.epochs,
      steps: result.steps,
      epochsThisCall: result.history.length,
      resumedFrom: result.resumedFrom,
      stoppedEarly: result.stoppedEarly,
      best: result.best,
      seconds: input.trainSeconds,
      history: result.history,
    },
    evaluationSeconds: input.evaluationSeconds,
    test: evaluation ? evaluation.classification : null,
    explainers: evaluation
      ? Object.fromEntries(
        Object.entries(evaluation.explainers).map(([name, e]) => [name, { metrics: e.metrics }]),
      )
      : {},
  };
}

/** The outcome of a run in a line: epochs, steps, time, engine and test accuracy with its CI. */
export function trainOutcome(input: TrainResultsInput): string {
  const { result } = input;
  const acc = input.evaluation?.classification.accuracy;
  const pct = (v: number) => (100 * v).toFixed(1);
  return `trained ${result.history.length} epoch(s) this call, ${result.epochs} in all ` +
    `(${result.steps} steps${result.stoppedEarly ? ", stopped early" : ""}) in ` +
    `${input.trainSeconds.toFixed(1)} s on ${input.engine}` +
    (acc ? `; test accuracy ${pct(acc.mean)}% [${pct(acc.ci[0])}, ${pct(acc.ci[1])}]` : "");
}
