/**
 * The logic of `deno task sweep`: the grid of cells (backbones × saliency
 * heads × saliency losses × loss weights × seeds), each cell's `deno task
 * train` config, the figures a finished cell contributes, seeds pooled per
 * configuration, the ranking, and the Markdown and JSON the study writes.
 *
 * @module
 */
import { aggregateSeeds } from "../metrics/statistics.ts";
import type { MetricSummary } from "../eval/evaluate.ts";
import { ownSaliencyHead } from "../models/registry.ts";
import { REFERENCE_BACKBONE } from "../models/reference_net.ts";
import { listLosses, lossFlagName } from "../train/mixed_loss.ts";
import type { EngineName } from "../backend/init_backend.ts";
import type { ReportData } from "../viz/report.ts";

/** The localisation metrics `evaluate()` scores per explainer. */
export const LOCALIZATION_METRICS: readonly string[] = [
  "energyPointingGame",
  "pointingGame",
  "maskAuc",
  "relevanceMassAccuracy",
  "relevanceRankAccuracy",
  "iou50",
  "bestIou",
];

/** The faithfulness metrics `evaluate()` scores per explainer when asked. */
export const FAITHFULNESS_METRICS: readonly string[] = ["deletionAuc", "insertionAuc"];

/** A sweep's settings: the grid, the data, the training and the run. */
export interface SweepConfig {
  /** The registered dataset. */
  dataset: string;
  /** Its folder, or null for a generated one. */
  root: string | null;
  /** Images of a synthetic set. */
  count: number;
  /** Classes of a synthetic set. */
  classes: number;
  /** Image side in pixels. */
  size: number;
  /** Backbones, in grid order. */
  backbones: string[];
  /** Saliency heads, in grid order (a backbone with its own model has one: its own). */
  heads: string[];
  /** The gate of the cells with the attention head (`--gate`), or null for its default. @default {null} */
  gate?: string | null;
  /** Saliency losses in their flag spelling, in grid order. */
  losses: string[];
  /** Weights of the saliency loss, in grid order. */
  weights: number[];
  /** Training seeds. */
  seeds: number[];
  /**
   * Configurations run beside the grid, each over every seed and with its
   * own pretrained source: the default grid's vision transformer
   * ({@linkcode defaultSweepGrid}).
   *
   * @default {[]}
   */
  extra?: SweepExtraConfig[];
  /** Explainers scored on the test split. */
  explainers: string[];
  /** Whether deletion and insertion AUC are scored too. */
  faithfulness: boolean;
  /** The metric to rank by: `accuracy` or `<explainer>.<metric>`. */
  rankBy: string;
  /** The backbone width multiplier. */
  width: number;
  /** A pretrained source for every cell, "torchvision" (each its own backbone), or "". */
  pretrained: string;
  /** The --freeze flag as given. */
  freeze: string;
  /** Learning-rate multiplier of the backbone. */
  backboneLr: number;
  /** Samples per micro-batch, or "auto". */
  microBatch: number | "auto";
  /** Epochs of each cell. */
  epochs: number;
  /** Batch size. */
  batch: number;
  /** Adam's learning rate. */
  lr: number;
  /** Bootstrap resamples of each interval. */
  resamples: number;
  /** The output folder. */
  out: string;
  /** The engine flag. */
  backend: EngineName | "auto";
  /** Threads of the engine. */
  threads: number;
  /** Seed of the data and splits. */
  seed: number;
}

/** One cell of the grid. */
export interface SweepCell {
  /** `<config>-s<seed>`. */
  id: string;
  /** `<backbone>-<head>-<loss>-w<weight>`: the cells that differ only in seed. */
  config: string;
  backbone: string;
  head: string;
  loss: string;
  weight: number;
  seed: number;
  /** The cell's own pretrained source, where it has one (an extra configuration's). */
  pretrained?: string;
}

/** A configuration run beside the grid, over every seed, from its own pretrained source. */
export interface SweepExtraConfig {
  backbone: string;
  head: string;
  loss: string;
  weight: number;
  /** Its pretrained source, a file, `hf:<repo>` or `torchvision:<arch>`. */
  pretrained: string;
}

/** The vision transformer the default grid gains when a pretrained source is given. */
export const SWEEP_VIT = "vit_small_patch16_224";

/**
 * The weights of {@linkcode SWEEP_VIT} for `--pretrained torchvision`:
 * torchvision has no ViT-S/16, so timm's default ones (ImageNet-21k,
 * fine-tuned on ImageNet-1k) stand in.
 */
export const SWEEP_VIT_WEIGHTS = "hf:timm/vit_small_patch16_224.augreg_in21k_ft_in1k";

/**
 * The default grid's backbones, the pretrained source of its cells and
 * its extra configurations. Without a pretrained source: the reference
 * net and `plain_cnn`, nothing extra. With one: the same two from scratch
 * (they have no pretrained weights), plus one {@linkcode SWEEP_VIT}
 * configuration (the first head, loss and weight, over every seed) from
 * `pretrained` ({@linkcode SWEEP_VIT_WEIGHTS} for `"torchvision"`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { defaultSweepGrid } from "./sweep.ts";
 * const grid = { heads: ["cam", "decoder"], losses: ["bce", "dice"], weights: [1, 2] };
 * assert.deepStrictEqual(defaultSweepGrid({ ...grid, pretrained: "" }), {
 *   backbones: ["reference", "plain_cnn"], pretrained: "", extra: [],
 * });
 * assert.deepStrictEqual(defaultSweepGrid({ ...grid, pretrained: "vit_s.safetensors" }).extra, [
 *   { backbone: "vit_small_patch16_224", head: "cam", loss: "bce", weight: 1, pretrained: "vit_s.safetensors" },
 * ]);
 * ```
 */
export function defaultSweepGrid(
  options: Pick<SweepConfig, "heads" | "losses" | "weights" | "pretrained">,
): Pick<SweepConfig, "backbones" | "pretrained"> & { extra: SweepExtraConfig[] } {
  const backbones = [REFERENCE_BACKBONE, "plain_cnn"];
  if (!options.pretrained) return { backbones, pretrained: "", extra: [] };
  const pretrained = options.pretrained === "torchvision" ? SWEEP_VIT_WEIGHTS : options.pretrained;
  const [head, loss, weight] = [options.heads[0], options.losses[0], options.weights[0]];
  return {
    backbones,
    pretrained: "",
    extra: [{ backbone: SWEEP_VIT, head, loss, weight, pretrained }],
  };
}

/** A figure pooled over seeds, with its 95% interval and how many seeds it pools. */
export interface SeedFigure {
  mean: number;
  ci: [number, number];
  seeds: number;
}

/** What a finished cell contributes, from its train run's results.json. */
export interface SweepCellResult {
  cell: SweepCell;
  settings: Record<string, unknown>;
  model: { name: string; parameters: number };
  training: { epochs: number; steps: number; seconds: number; finalLoss: number | null };
  evaluationSeconds: number;
  classification: { accuracy: MetricSummary; balancedAccuracy: number; macroF1: number };
  explainers: Record<string, { metrics: Record<string, MetricSummary> }>;
}

/** One configuration of the ranking. */
export interface RankedConfig {
  rank: number;
  config: string;
  backbone: string;
  head: string;
  loss: string;
  weight: number;
  seeds: number[];
  metrics: Record<string, SeedFigure>;
  trainSeconds: number;
}

/**
 * The saliency losses a cell can add to cross-entropy: the registered
 * location losses, in their flag spelling.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { sweepLossChoices } from "./sweep.ts";
 * import "../train/mod.ts";
 * assert.ok(sweepLossChoices().includes("bce"));
 * assert.ok(!sweepLossChoices().includes("ce")); // cross-entropy is always there
 * ```
 */
export function sweepLossChoices(): string[] {
  return listLosses({ kind: "location" }).map((n) => lossFlagName(n));
}

/**
 * The metrics `--rank-by` may name: `accuracy`, then every explainer's
 * localisation metrics (and faithfulness metrics when scored).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { rankChoices } from "./sweep.ts";
 * const choices = rankChoices(["branch"], { faithfulness: true });
 * assert.equal(choices[0], "accuracy");
 * assert.ok(choices.includes("branch.maskAuc") && choices.includes("branch.deletionAuc"));
 * assert.ok(!rankChoices(["branch"], { faithfulness: false }).includes("branch.deletionAuc"));
 * ```
 */
export function rankChoices(
  explainers: readonly string[],
  options: { faithfulness: boolean },
): string[] {
  const metrics = [...LOCALIZATION_METRICS, ...(options.faithfulness ? FAITHFULNESS_METRICS : [])];
  return ["accuracy", ...explainers.flatMap((e) => metrics.map((m) => `${e}.${m}`))];
}

/**
 * The grid in order: backbone, head, loss, weight, seed, then the `extra`
 * configurations over every seed (their cells carry their own
 * `pretrained`). A backbone registered with a whole model of its own (the
 * reference net) takes only its own head, whatever `heads` says.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { sweepCells } from "./sweep.ts";
 * import "../models/mod.ts";
 * const cells = sweepCells({
 *   backbones: ["reference", "plain_cnn"],
 *   heads: ["cam", "decoder"],
 *   losses: ["bce"],
 *   weights: [1],
 *   seeds: [0, 1],
 * });
 * assert.deepStrictEqual(cells.map((c) => c.id), [
 *   "reference-reference-bce-w1-s0", "reference-reference-bce-w1-s1",
 *   "plain_cnn-cam-bce-w1-s0", "plain_cnn-cam-bce-w1-s1",
 *   "plain_cnn-decoder-bce-w1-s0", "plain_cnn-decoder-bce-w1-s1",
 * ]);
 * ```
 */
export function sweepCells(
  grid: Pick<SweepConfig, "backbones" | "heads" | "losses" | "weights" | "seeds" | "extra">,
): SweepCell[] {
  const cells: SweepCell[] = [];
  const add = (backbone: string, head: string, loss: string, weight: number, from?: string) => {
    const config = `${backbone}-${head}-${loss}-w${weight}`;
    for (const seed of grid.seeds) {
      const cell: SweepCell = {
        id: `${config}-s${seed}`,
        config,
        backbone,
        head,
        loss,
        weight,
        seed,
      };
      cells.push(from === undefined ? cell : { ...cell, pretrained: from });
    }
  };
  for (const backbone of grid.backbones) {
    const own = ownSaliencyHead(backbone);
    for (const head of own === undefined ? grid.heads : [own]) {
      for (const loss of grid.losses) {
        for (const weight of grid.weights) add(backbone, head, loss, weight);
      }
    }
  }
  for (const e of grid.extra ?? []) add(e.backbone, e.head, e.loss, e.weight, e.pretrained);
  return cells;
}

/**
 * The settings every cell shares; a finished cell run with other settings
 * is not reused.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { sweepCellSettings } from "./sweep.ts";
 * const settings = sweepCellSettings({
 *   dataset: "synthetic", root: null, count: 40, classes: 2, size: 16, width: 0.25, epochs: 1,
 *   batch: 8, lr: 0.003, resamples: 50, explainers: ["branch"], faithfulness: false, seed: 3,
 * });
 * assert.equal(settings.dataSeed, 3);
 * ```
 */
export function sweepCellSettings(
  c: Pick<
    SweepConfig,
    | "dataset"
    | "root"
    | "count"
    | "classes"
    | "size"
    | "width"
    | "epochs"
    | "batch"
    | "lr"
    | "resamples"
    | "explainers"
    | "faithfulness"
    | "seed"
  >,
): Record<string, unknown> {
  return {
    dataset: c.dataset,
    root: c.root,
    count: c.count,
    classes: c.classes,
    size: c.size,
    width: c.width,
    epochs: c.epochs,
    batch: c.batch,
    lr: c.lr,
    resamples: c.resamples,
    explainers: c.explainers,
    faithfulness: c.faithfulness,
    dataSeed: c.seed,
  };
}

/**
 * The `deno task train` config of a cell (flag names as keys), whose run
 * folder is `out`: the shared settings, the cell's backbone, head, loss
 * (`ce=1,<loss>=<weight>`) and training seed; `--pretrained torchvision`
 * becomes `torchvision:<the cell's backbone>`, and a cell with its own
 * `pretrained` (an extra configuration's) keeps it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { sweepCellConfig } from "./sweep.ts";
 * const c = {
 *   dataset: "synthetic", root: null, count: 40, classes: 2, size: 16, width: 1, epochs: 1,
 *   batch: 8, lr: 0.003, resamples: 50, explainers: ["branch", "grad-cam"], faithfulness: false,
 *   pretrained: "torchvision", freeze: "", backboneLr: 1, microBatch: "auto" as const,
 *   backend: "auto" as const, threads: 1, seed: 0,
 * };
 * const cell = { id: "resnet18-cam-dice-w2-s1", config: "resnet18-cam-dice-w2", backbone: "resnet18", head: "cam", loss: "dice", weight: 2, seed: 1 };
 * const config = sweepCellConfig(c, cell, { out: "/runs/x/cells/resnet18-cam-dice-w2-s1" });
 * assert.equal(config.loss, "ce=1,dice=2");
 * assert.equal(config.pretrained, "torchvision:resnet18");
 * assert.equal(config.explainers, "branch,grad-cam");
 * assert.equal(config.seed, 1);
 * assert.equal(config["data-seed"], 0);
 * ```
 */
export function sweepCellConfig(
  c: Omit<SweepConfig, "backbones" | "heads" | "losses" | "weights" | "seeds" | "rankBy" | "out">,
  cell: SweepCell,
  options: { out: string },
): Record<string, unknown> {
  const { dataSeed: _d, explainers: _e, ...shared } = sweepCellSettings(c);
  return {
    ...shared,
    backbone: cell.backbone,
    head: cell.head,
    ...(c.gate && cell.head === "attention" ? { gate: c.gate } : {}),
    pretrained: cell.pretrained ??
      (c.pretrained === "torchvision" ? `torchvision:${cell.backbone}` : c.pretrained),
    freeze: c.freeze,
    "backbone-lr": c.backboneLr,
    "micro-batch": c.microBatch,
    loss: `ce=1,${cell.loss}=${cell.weight}`,
    optimizer: "adam",
    flip: 0.5,
    val: 0,
    explainers: c.explainers.join(","),
    out: options.out,
    backend: c.backend,
    threads: c.threads,
    seed: cell.seed,
    "data-seed": c.seed,
  };
}

/** The parts of a `deno task train` run's results.json that a sweep reads. */
export interface TrainRunResults {
  model: { name: string; parameters: number };
  training: {
    epochs: number;
    steps: number;
    seconds: number;
    history: { metrics?: Record<string, unknown> }[];
  };
  evaluationSeconds: number;
  test: { accuracy: MetricSummary; balancedAccuracy: number; macroF1: number };
  explainers: Record<string, { metrics: Record<string, MetricSummary> }>;
}

/**
 * A finished cell as the ranking reads it, from its train run's
 * results.json (`train`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { sweepCellResult } from "./sweep.ts";
 * const accuracy = { mean: 0.5, ci: [0.4, 0.6] as [number, number], scored: 10, excluded: 0 };
 * const r = sweepCellResult(
 *   { id: "a-cam-bce-w1-s0", config: "a-cam-bce-w1", backbone: "a", head: "cam", loss: "bce", weight: 1, seed: 0 },
 *   { dataSeed: 0 },
 *   {
 *     model: { name: "m", parameters: 10 },
 *     training: { epochs: 1, steps: 4, seconds: 2, history: [{ metrics: { train_loss: 0.7 } }] },
 *     evaluationSeconds: 1,
 *     test: { accuracy, balancedAccuracy: 0.5, macroF1: 0.4 },
 *     explainers: {},
 *   },
 * );
 * assert.equal(r.training.finalLoss, 0.7);
 * assert.equal(r.classification.accuracy.mean, 0.5);
 * ```
 */
export function sweepCellResult(
  cell: SweepCell,
  settings: Record<string, unknown>,
  train: TrainRunResults,
): SweepCellResult {
  const last = train.training.history.at(-1)?.metrics?.train_loss;
  return {
    cell,
    settings,
    model: train.model,
    training: {
      epochs: train.training.epochs,
      steps: train.training.steps,
      seconds: train.training.seconds,
      finalLoss: typeof last === "number" ? last : null,
    },
    evaluationSeconds: train.evaluationSeconds,
    classification: {
      accuracy: train.test.accuracy,
      balancedAccuracy: train.test.balancedAccuracy,
      macroF1: train.test.macroF1,
    },
    explainers: train.explainers,
  };
}

/**
 * One metric of a finished cell, by `accuracy` or `<explainer>.<metric>`;
 * undefined where the cell has no such figure.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { cellMetric, type SweepCellResult } from "./sweep.ts";
 * const fig = (mean: number) => ({ mean, ci: [mean, mean] as [number, number], scored: 1, excluded: 0 });
 * const r = {
 *   classification: { accuracy: fig(0.9) },
 *   explainers: { "grad-cam": { metrics: { maskAuc: fig(0.7) } } },
 * } as unknown as SweepCellResult;
 * assert.equal(cellMetric(r, "accuracy")?.mean, 0.9);
 * assert.equal(cellMetric(r, "grad-cam.maskAuc")?.mean, 0.7);
 * assert.equal(cellMetric(r, "branch.maskAuc"), undefined);
 * ```
 */
export function cellMetric(r: SweepCellResult, key: string): MetricSummary | undefined {
  if (key === "accuracy") return r.classification.accuracy;
  const dot = key.indexOf(".");
  return r.explainers[key.slice(0, dot)]?.metrics[key.slice(dot + 1)];
}

/**
 * Pools the seeds of one configuration: the mean over seed means with its
 * t interval over seeds; with one seed (the others without a figure), that
 * seed's image bootstrap interval; with none, NaN.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { poolCellSeeds, type SweepCellResult } from "./sweep.ts";
 * const run = (mean: number) => ({
 *   classification: { accuracy: { mean, ci: [mean - 0.1, mean + 0.1], scored: 9, excluded: 0 } },
 *   explainers: {},
 * }) as unknown as SweepCellResult;
 * const two = poolCellSeeds([run(0.6), run(0.8)], "accuracy");
 * assert.ok(Math.abs(two.mean - 0.7) < 1e-12);
 * assert.equal(two.seeds, 2);
 * assert.deepStrictEqual(poolCellSeeds([run(0.6)], "accuracy"), { mean: 0.6, ci: [0.5, 0.7], seeds: 1 });
 * assert.equal(poolCellSeeds([run(0.6)], "branch.maskAuc").seeds, 0);
 * ```
 */
export function poolCellSeeds(runs: readonly SweepCellResult[], key: string): SeedFigure {
  const summaries = runs.map((r) => cellMetric(r, key)).filter((s) => s !== undefined);
  const values = summaries.map((s) => s.mean).filter(Number.isFinite);
  if (values.length === 0) return { mean: NaN, ci: [NaN, NaN], seeds: 0 };
  if (values.length === 1) {
    const one = summaries.find((s) => Number.isFinite(s.mean))!;
    return { mean: one.mean, ci: [one.ci[0], one.ci[1]], seeds: 1 };
  }
  const g = aggregateSeeds(values);
  return { mean: g.mean, ci: [g.low, g.high], seeds: values.length };
}

/**
 * The metrics the table shows: accuracy, then each explainer's headline
 * metrics; the ranked metric second when it is none of them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { tableMetrics } from "./sweep.ts";
 * assert.deepStrictEqual(
 *   tableMetrics({ explainers: ["branch"], faithfulness: false, rankBy: "branch.iou50" }),
 *   ["accuracy", "branch.iou50", "branch.energyPointingGame", "branch.pointingGame", "branch.maskAuc"],
 * );
 * ```
 */
export function tableMetrics(
  c: Pick<SweepConfig, "explainers" | "faithfulness" | "rankBy">,
): string[] {
  const keys = ["accuracy"];
  for (const e of c.explainers) {
    keys.push(`${e}.energyPointingGame`, `${e}.pointingGame`, `${e}.maskAuc`);
    if (c.faithfulness) keys.push(`${e}.deletionAuc`, `${e}.insertionAuc`);
  }
  if (!keys.includes(c.rankBy)) keys.splice(1, 0, c.rankBy);
  return keys;
}

/**
 * Ranks the configurations that have finished cells by `c.rankBy` pooled
 * over seeds, best first (lowest first for deletion AUC); configurations
 * without a figure come last, and ties keep the grid's order. Looks cells
 * up in `done` by id.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { rankConfigs, sweepCells, type SweepCellResult } from "./sweep.ts";
 * import "../models/mod.ts";
 * const cells = sweepCells({ backbones: ["a", "b"], heads: ["cam"], losses: ["bce"], weights: [1], seeds: [0] });
 * const run = (mean: number) => ({
 *   classification: { accuracy: { mean, ci: [mean, mean], scored: 9, excluded: 0 } },
 *   explainers: {},
 *   training: { seconds: 1 },
 * }) as unknown as SweepCellResult;
 * const done = new Map([["a-cam-bce-w1-s0", run(0.5)], ["b-cam-bce-w1-s0", run(0.9)]]);
 * const ranked = rankConfigs({ explainers: [], faithfulness: false, rankBy: "accuracy" }, cells, done);
 * assert.deepStrictEqual(ranked.map((r) => [r.rank, r.config]), [[1, "b-cam-bce-w1"], [2, "a-cam-bce-w1"]]);
 * ```
 */
export function rankConfigs(
  c: Pick<SweepConfig, "explainers" | "faithfulness" | "rankBy">,
  cells: readonly SweepCell[],
  done: ReadonlyMap<string, SweepCellResult>,
): RankedConfig[] {
  const keys = tableMetrics(c);
  const configs = [
    ...new Set(cells.filter((cell) => done.has(cell.id)).map((cell) => cell.config)),
  ];
  const lowerIsBetter = c.rankBy.endsWith(".deletionAuc");
  const rows = configs.map((config) => {
    const group = cells.filter((cell) => cell.config === config && done.has(cell.id));
    const runs = group.map((cell) => done.get(cell.id)!);
    const first = group[0];
    return {
      rank: 0,
      config,
      backbone: first.backbone,
      head: first.head,
      loss: first.loss,
      weight: first.weight,
      seeds: group.map((cell) => cell.seed),
      metrics: Object.fromEntries(keys.map((k) => [k, poolCellSeeds(runs, k)])),
      trainSeconds: runs.reduce((s, r) => s + r.training.seconds, 0),
    };
  });
  const score = (r: RankedConfig) => {
    const m = r.metrics[c.rankBy].mean;
    return Number.isFinite(m) ? (lowerIsBetter ? -m : m) : -Infinity;
  };
  // A stable sort: ties keep the grid's order.
  rows.sort((a, b) => score(b) - score(a));
  rows.forEach((r, i) => (r.rank = i + 1));
  return rows;
}

/** A figure to 3 decimals, "n/a" when not finite. */
export function formatFigure(f: { mean: number; ci: readonly number[] }): string {
  const fmt = (v: number) => v.toFixed(3);
  return Number.isFinite(f.mean) ? `${fmt(f.mean)} [${fmt(f.ci[0])}, ${fmt(f.ci[1])}]` : "n/a";
}

/** What the summary says of the data and the runs. */
export interface SweepSummaryInfo {
  /** The dataset's name. */
  dataset: string;
  /** Training images. */
  train: number;
  /** Test images. */
  test: number;
  /** Cells in the grid. */
  cells: number;
  /** Training steps of each cell. */
  steps: number;
}

/**
 * summary.md: the heading, the setting, and the ranked table with each
 * metric's pooled figure and interval.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { sweepSummaryMarkdown } from "./sweep.ts";
 * const c = { size: 16, epochs: 1, batch: 8, lr: 0.003, seeds: [0], explainers: [], faithfulness: false, rankBy: "accuracy" };
 * const ranked = [{
 *   rank: 1, config: "a-cam-bce-w1", backbone: "a", head: "cam", loss: "bce", weight: 1, seeds: [0],
 *   metrics: { accuracy: { mean: 0.75, ci: [0.5, 1] as [number, number], seeds: 1 } }, trainSeconds: 1,
 * }];
 * const md = sweepSummaryMarkdown(c, ranked, { dataset: "synthetic", train: 32, test: 8, cells: 1, steps: 4 });
 * assert.match(md, /^# sweep: 1 configurations, 1 cells, ranked by accuracy/);
 * assert.match(md, /\| 1 \| a-cam-bce-w1 \| a \| cam \| bce \| 1 \| 0\.750 \[0\.500, 1\.000\] \|/);
 * ```
 */
export function sweepSummaryMarkdown(
  c: Pick<
    SweepConfig,
    "size" | "epochs" | "batch" | "lr" | "seeds" | "explainers" | "faithfulness" | "rankBy"
  >,
  ranked: readonly RankedConfig[],
  info: SweepSummaryInfo,
): string {
  const keys = tableMetrics(c);
  const lines = [
    `# sweep: ${ranked.length} configurations, ${info.cells} cells, ranked by ${c.rankBy}`,
    "",
    `${info.dataset}: ${info.train} training and ${info.test} test images of ${c.size}×${c.size}; ` +
    `${c.epochs} epochs (${info.steps} steps) of batch ${c.batch} per cell, Adam at ${c.lr}, ` +
    `loss = ce + weight · saliency loss. Seeds ${c.seeds.join(", ")}.`,
    "",
    c.seeds.length > 1
      ? "Figures: mean over seeds with its 95% t interval over seeds."
      : "Figures: one seed, mean over test images with its 95% bootstrap interval.",
    "",
    `| rank | config | backbone | head | loss | weight | ${keys.join(" | ")} |`,
    `|---|---|---|---|---|---|${keys.map(() => "---").join("|")}|`,
    ...ranked.map((r) =>
      `| ${r.rank} | ${r.config} | ${r.backbone} | ${r.head} | ${r.loss} | ${r.weight} | ${
        keys.map((k) => formatFigure(r.metrics[k])).join(" | ")
      } |`
    ),
    "",
  ];
  return lines.join("\n");
}

/** A cell without results, as the study reports it. */
export interface IncompleteCell {
  id: string;
  /** `failed`, `unfinished` or `missing`. */
  state: string;
  /** Why, in words. */
  reason: string;
}

/** How the finished cells came about, for {@linkcode sweepResults}. */
export interface SweepOutcome {
  /** One cell after another here, or a Slurm array job collected. */
  mode: "local" | "slurm";
  /** The engine the cells ran on. */
  engine: string;
  /** The dataset's name and class names. */
  dataset: { name: string; classNames: readonly string[] };
  /** Training images. */
  train: number;
  /** Test images. */
  test: number;
  /** Training steps of each cell. */
  steps: number;
  /** Cells run by this call. */
  ranThisCall: number;
  /** Cells found done by this call. */
  skippedThisCall: number;
  /** Seconds this call took (Slurm: the cells' training and evaluation). */
  wallSeconds: number;
  /** The cells without results. */
  incomplete: readonly IncompleteCell[];
}

/**
 * The study's results.json (without its run record, given as `run`) and
 * summary.md from the finished cells.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { sweepResults } from "./sweep.ts";
 * const c = {
 *   dataset: "synthetic", root: null, count: 40, classes: 2, size: 16, backbones: ["a"], heads: ["cam"],
 *   losses: ["bce"], weights: [1], seeds: [0], explainers: [], faithfulness: false, rankBy: "accuracy",
 *   width: 1, pretrained: "", freeze: "", backboneLr: 1, microBatch: "auto" as const, epochs: 1, batch: 8,
 *   lr: 0.003, resamples: 50, out: "runs/x", backend: "auto" as const, threads: 1, seed: 0,
 * };
 * const { results, markdown } = sweepResults(c, [], new Map(), {
 *   mode: "slurm", engine: "cpu", dataset: { name: "synthetic", classNames: ["a", "b"] }, train: 32,
 *   test: 8, steps: 4, ranThisCall: 0, skippedThisCall: 0, wallSeconds: 0,
 *   incomplete: [{ id: "a-cam-bce-w1-s0", state: "missing", reason: "never started" }],
 * }, {});
 * assert.equal(results.mode, "slurm");
 * assert.match(markdown, /1 of 0 cells have no results yet: a-cam-bce-w1-s0 \(missing\)/);
 * ```
 */
export function sweepResults(
  c: SweepConfig,
  cells: readonly SweepCell[],
  done: ReadonlyMap<string, SweepCellResult>,
  o: SweepOutcome,
  run: ReportData["run"],
): { results: ReportData; markdown: string } {
  const ranked = rankConfigs(c, cells, done);
  const markdown = sweepSummaryMarkdown(c, ranked, {
    dataset: o.dataset.name,
    train: o.train,
    test: o.test,
    cells: cells.length,
    steps: o.steps,
  }) + (o.incomplete.length > 0
    ? `\n${o.incomplete.length} of ${cells.length} cells have no results yet: ${
      o.incomplete.map((s) =>
        `${s.id} (${s.state})`
      ).join(", ")
    }.\n`
    : "");
  const asSummary = (f: SeedFigure): MetricSummary => ({
    mean: f.mean,
    ci: f.ci,
    scored: f.seeds,
    excluded: 0,
  });
  const results: ReportData = {
    title: `sweep: ${ranked.length} configurations ranked by ${c.rankBy}`,
    subtitle: `${o.dataset.name}, ${o.train} training and ${o.test} test images, ` +
      `${c.epochs} epochs per cell, seeds ${c.seeds.join(", ")}, on ${o.engine}` +
      (o.mode === "slurm" ? " (Slurm array job)" : ""),
    run,
    engine: o.engine,
    mode: o.mode,
    config: sweepRecordConfig(c),
    rankBy: c.rankBy,
    dataset: {
      name: o.dataset.name,
      classNames: o.dataset.classNames,
      train: o.train,
      test: o.test,
    },
    ranking: ranked,
    comparisons: tableMetrics(c).map((k) => ({
      title: `${k}: configurations side by side (best first)`,
      xLabel: "configuration",
      groups: ranked.map((r) => ({ name: r.config, metrics: { [k]: asSummary(r.metrics[k]) } })),
    })),
    cells: cells.filter((cell) => done.has(cell.id)).map((cell) => done.get(cell.id)!),
    incomplete: o.incomplete.map((s) => ({ id: s.id, state: s.state, reason: s.reason })),
    ranThisCall: o.ranThisCall,
    skippedThisCall: o.skippedThisCall,
    wallSeconds: o.wallSeconds,
  };
  return { results, markdown };
}

/**
 * The config a sweep records in results.json (and its run record): the
 * cells' shared settings, the grid and how it ran.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { sweepRecordConfig } from "./sweep.ts";
 * const c = {
 *   dataset: "synthetic", root: null, count: 40, classes: 2, size: 16, backbones: ["a"], heads: ["cam"],
 *   losses: ["bce"], weights: [1], seeds: [0], explainers: [], faithfulness: false, rankBy: "accuracy",
 *   width: 1, pretrained: "", freeze: "", backboneLr: 1, microBatch: "auto" as const, epochs: 1, batch: 8,
 *   lr: 0.003, resamples: 50, out: "runs/x", backend: "auto" as const, threads: 1, seed: 0,
 * };
 * assert.deepStrictEqual(sweepRecordConfig(c).backbones, ["a"]);
 * ```
 */
export function sweepRecordConfig(c: SweepConfig): Record<string, unknown> {
  return {
    ...sweepCellSettings(c),
    backbones: c.backbones,
    heads: c.heads,
    losses: c.losses,
    weights: c.weights,
    seeds: c.seeds,
    ...(c.extra?.length ? { extra: c.extra } : {}),
    rankBy: c.rankBy,
    backend: c.backend,
    threads: c.threads,
    seed: c.seed,
    out: c.out,
  };
}
