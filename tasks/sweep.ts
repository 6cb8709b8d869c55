/**
 * `deno task sweep`: a grid over backbones × saliency heads × saliency
 * losses × loss weights × seeds, run one cell after another and resumable.
 * Each cell trains a two-branch model with `ce + weight · loss`, evaluates it
 * on the test split (accuracy, and localisation metrics of Grad-CAM and the
 * branch map) and writes `cells/<cellId>/result.json` atomically when done;
 * a rerun skips the cells already done. Seeds of one configuration are
 * aggregated (mean with a t interval over seeds; with one seed, the
 * bootstrap interval over images), ranked by `--rank-by`, and written to
 * `summary.md`, `results.json` and `report.html` under `--out`.
 *
 * The reference network has its own saliency branch, so it takes no
 * `--heads`: it makes one cell per loss, weight and seed (head "builtin").
 *
 * @module
 */
import { resolve } from "node:path";
import {
  aggregateSeeds,
  collectRunInfo,
  initBackend,
  listBackbones,
  listExplainers,
  listLosses,
  listSaliencyHeads,
  lossFlagName,
  pathExists,
  writeFileAtomic,
  writeJsonAtomic,
  writeReport,
} from "../mod.ts";
import type { MetricSummary } from "../mod.ts";
import {
  backendFlag,
  defaultFlags,
  type FlagSpec,
  mergeConfigObject,
  numberFlag,
  parseFlags,
  readConfigFile,
  runMain,
  UsageError,
} from "./_cli.ts";
import { DATASET_FLAGS, datasetFlags, openDataset } from "./_datasets.ts";
import {
  cellPaths,
  cellStatus,
  describeIncomplete,
  SLURM_FLAGS,
  submitArray,
  writeCells,
} from "./_slurm.ts";
import { completedRun, runTraining, trainConfigFrom } from "./train.ts";
import { parseMicroBatch, PRETRAINED_FLAGS } from "./_model.ts";

const SUMMARY =
  "Sweep a grid of backbones × saliency heads × saliency losses × loss weights × seeds: train\n" +
  "each cell with cross-entropy + weight · loss, evaluate it on the test split, and rank the\n" +
  "configurations (seeds aggregated, mean with a 95% interval). Resumable: each finished cell\n" +
  "writes cells/<cellId>/result.json under --out and a rerun skips it. Writes summary.md,\n" +
  "results.json and report.html to --out. --seed fixes the data; --seeds are training seeds.\n" +
  "Each cell is a `deno task train` config file, cells/<cellId>.json. With --slurm the cells run\n" +
  "as a Slurm array job instead (each `deno task train --config <cell>.json`); resubmitting runs\n" +
  "only the cells without results, and --collect <out> gathers them into the table and report\n" +
  "(exit status 3 while some cells have no results).";

/** The saliency losses a cell can add to cross-entropy, in their flag spelling. */
function locationLosses(): string[] {
  return listLosses({ kind: "location" }).map((n) => lossFlagName(n));
}

/** The localisation metrics `evaluate()` scores per explainer. */
const LOCALIZATION_METRICS = [
  "energyPointingGame",
  "pointingGame",
  "maskAuc",
  "relevanceMassAccuracy",
  "relevanceRankAccuracy",
  "iou50",
  "bestIou",
];
const FAITHFULNESS_METRICS = ["deletionAuc", "insertionAuc"];

const FLAGS: Record<string, FlagSpec> = {
  backbones: {
    type: "string",
    default: "reference,plain_cnn",
    help: "comma list: reference and/or registered backbones (see listBackbones())",
  },
  heads: {
    type: "string",
    default: "cam,decoder",
    help: "comma list of saliency heads (see listSaliencyHeads(); reference ignores them)",
  },
  losses: {
    type: "string",
    default: "bce,dice",
    help: `comma list of saliency losses added to cross-entropy (${locationLosses().join(", ")})`,
  },
  weights: { type: "string", default: "1", help: "comma list of saliency loss weights (> 0)" },
  seeds: { type: "string", default: "0,1", help: "comma list of training seeds (whole numbers)" },
  "rank-by": {
    type: "string",
    default: "branch.energyPointingGame",
    help: "metric to rank by: accuracy or <explainer>.<metric>, e.g. grad-cam.maskAuc",
  },
  explainers: {
    type: "string",
    default: "grad-cam,branch",
    help: "comma list of explainers scored on the test split",
  },
  faithfulness: {
    type: "boolean",
    default: false,
    help: "also score deletion/insertion AUC (slow)",
  },
  ...DATASET_FLAGS,
  count: { type: "string", default: "400", help: "images in the synthetic set" },
  classes: { type: "string", default: "4", help: "classes in the synthetic set (2 to 6)" },
  size: { type: "string", default: "32", help: "image size in pixels" },
  width: { type: "string", default: "0.25", help: "width multiplier of the backbones" },
  ...PRETRAINED_FLAGS,
  pretrained: {
    type: "string",
    default: "",
    help:
      "pretrained weights for every cell: a file, hf:<repo>, or torchvision (each cell from torchvision:<its backbone>); needs --width 1",
  },
  epochs: { type: "string", default: "8", help: "training epochs of each cell" },
  batch: { type: "string", default: "16", help: "batch size" },
  lr: { type: "string", default: "0.003", help: "Adam learning rate" },
  resamples: { type: "string", default: "500", help: "bootstrap resamples of each interval" },
  out: { type: "string", default: "runs/sweep", help: "output folder" },
  ...SLURM_FLAGS,
};

/** The flags that define the study (saved to sweep.json for --collect); not how it is run. */
const STUDY_FLAGS = [
  "backbones",
  "heads",
  "losses",
  "weights",
  "seeds",
  "rank-by",
  "explainers",
  "faithfulness",
  "dataset",
  "root",
  "count",
  "classes",
  "size",
  "width",
  "pretrained",
  "freeze",
  "backbone-lr",
  "micro-batch",
  "epochs",
  "batch",
  "lr",
  "resamples",
  "seed",
] as const;

/** One cell of the grid. */
interface Cell {
  id: string;
  config: string;
  backbone: string;
  head: string;
  loss: string;
  weight: number;
  seed: number;
}

/** A figure with its interval, and how many seeds it pools. */
interface Figure {
  mean: number;
  ci: [number, number];
  seeds: number;
}

/** What a finished cell writes to its result.json. */
interface CellResult {
  cell: Cell;
  settings: Record<string, unknown>;
  model: { name: string; parameters: number };
  training: { epochs: number; steps: number; seconds: number; finalLoss: number | null };
  evaluationSeconds: number;
  classification: { accuracy: MetricSummary; balancedAccuracy: number; macroF1: number };
  explainers: Record<string, { metrics: Record<string, MetricSummary> }>;
}

function list(flags: Record<string, string | boolean>, name: string): string[] {
  const items = String(flags[name] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (items.length === 0) throw new UsageError(`Flag --${name} needs at least one value`);
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item)) throw new UsageError(`Flag --${name} lists "${item}" twice`);
    seen.add(item);
  }
  return items;
}

function choose(name: string, items: string[], choices: readonly string[]): string[] {
  for (const item of items) {
    if (!choices.includes(item)) {
      throw new UsageError(
        `Flag --${name}: unknown value "${item}" (choices: ${choices.join(", ")})`,
      );
    }
  }
  return items;
}

function numbers(
  name: string,
  items: string[],
  check: (n: number) => boolean,
  what: string,
): number[] {
  return items.map((item) => {
    const n = Number(item);
    if (!Number.isFinite(n) || !check(n)) {
      throw new UsageError(`Flag --${name}: "${item}" is not ${what}`);
    }
    return n;
  });
}

function readConfig(flags: Record<string, string | boolean>) {
  const { dataset, root } = datasetFlags(flags);
  const backbones = choose("backbones", list(flags, "backbones"), [
    "reference",
    ...listBackbones(),
  ]);
  const heads = choose("heads", list(flags, "heads"), listSaliencyHeads());
  const losses = choose("losses", list(flags, "losses"), locationLosses());
  const weights = numbers("weights", list(flags, "weights"), (n) => n > 0, "a number above 0");
  const seeds = numbers("seeds", list(flags, "seeds"), Number.isInteger, "a whole number");
  const explainers = choose("explainers", list(flags, "explainers"), listExplainers());
  const faithfulness = flags.faithfulness === true;
  const rankBy = String(flags["rank-by"]);
  const metricChoices = [
    "accuracy",
    ...explainers.flatMap((e) =>
      [...LOCALIZATION_METRICS, ...(faithfulness ? FAITHFULNESS_METRICS : [])].map((m) =>
        `${e}.${m}`
      )
    ),
  ];
  if (!metricChoices.includes(rankBy)) {
    throw new UsageError(
      `Flag --rank-by: unknown metric "${rankBy}" (choices: ${metricChoices.join(", ")})`,
    );
  }
  return {
    dataset,
    root,
    backbones,
    heads,
    losses,
    weights,
    seeds,
    explainers,
    faithfulness,
    rankBy,
    count: numberFlag(flags, "count", { integer: true, min: 10 }),
    classes: numberFlag(flags, "classes", { integer: true, min: 2, max: 6 }),
    size: numberFlag(flags, "size", { integer: true, min: 8 }),
    width: numberFlag(flags, "width", { min: 0.01 }),
    pretrained: String(flags.pretrained ?? ""),
    freeze: String(flags.freeze ?? ""),
    backboneLr: numberFlag(flags, "backbone-lr", { min: 0 }),
    microBatch: parseMicroBatch(flags),
    epochs: numberFlag(flags, "epochs", { integer: true, min: 1 }),
    batch: numberFlag(flags, "batch", { integer: true, min: 2 }),
    lr: numberFlag(flags, "lr", { min: 0 }),
    resamples: numberFlag(flags, "resamples", { integer: true, min: 10 }),
    out: String(flags.out),
    backend: backendFlag(flags),
    threads: numberFlag(flags, "threads", { integer: true, min: 1 }),
    seed: numberFlag(flags, "seed", { integer: true }),
  };
}

type Config = ReturnType<typeof readConfig>;

/** The settings every cell shares; a finished cell run with other settings is not reused. */
function cellSettings(c: Config): Record<string, unknown> {
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

/** The grid in order: backbone, head, loss, weight, seed (the reference net has one head). */
function gridCells(c: Config): Cell[] {
  const cells: Cell[] = [];
  for (const backbone of c.backbones) {
    for (const head of backbone === "reference" ? ["builtin"] : c.heads) {
      for (const loss of c.losses) {
        for (const weight of c.weights) {
          const config = `${backbone}-${head}-${loss}-w${weight}`;
          for (const seed of c.seeds) {
            cells.push({ id: `${config}-s${seed}`, config, backbone, head, loss, weight, seed });
          }
        }
      }
    }
  }
  return cells;
}

/** The `deno task train` config file of a cell: its run folder is cells/<cellId>/. */
function cellConfig(c: Config, cell: Cell): Record<string, unknown> {
  return {
    dataset: c.dataset,
    root: c.root,
    count: c.count,
    classes: c.classes,
    size: c.size,
    backbone: cell.backbone,
    head: cell.backbone === "reference" ? "cam" : cell.head,
    width: c.width,
    pretrained: c.pretrained === "torchvision" ? `torchvision:${cell.backbone}` : c.pretrained,
    freeze: c.freeze,
    "backbone-lr": c.backboneLr,
    "micro-batch": c.microBatch,
    loss: `ce=1,${cell.loss}=${cell.weight}`,
    epochs: c.epochs,
    batch: c.batch,
    optimizer: "adam",
    lr: c.lr,
    flip: 0.5,
    val: 0,
    explainers: c.explainers.join(","),
    faithfulness: c.faithfulness,
    resamples: c.resamples,
    out: resolve(cellPaths(c.out, cell.id).dir),
    backend: c.backend,
    threads: c.threads,
    seed: cell.seed,
    "data-seed": c.seed,
  };
}

/** A finished cell as the ranking reads it, from the train run's results.json. */
// deno-lint-ignore no-explicit-any
function fromTrainResults(c: Config, cell: Cell, r: any): CellResult {
  const last = r.training.history.at(-1)?.metrics?.train_loss;
  return {
    cell,
    settings: cellSettings(c),
    model: r.model,
    training: {
      epochs: r.training.epochs,
      steps: r.training.steps,
      seconds: r.training.seconds,
      finalLoss: typeof last === "number" ? last : null,
    },
    evaluationSeconds: r.evaluationSeconds,
    classification: {
      accuracy: r.test.accuracy,
      balancedAccuracy: r.test.balancedAccuracy,
      macroF1: r.test.macroF1,
    },
    explainers: r.explainers,
  };
}

/** One metric of a finished cell, by `accuracy` or `<explainer>.<metric>`. */
function metricOf(r: CellResult, key: string): MetricSummary | undefined {
  if (key === "accuracy") return r.classification.accuracy;
  const dot = key.indexOf(".");
  return r.explainers[key.slice(0, dot)]?.metrics[key.slice(dot + 1)];
}

/** Pools seeds: the t interval over seed means, or the image bootstrap interval of one seed. */
function pool(runs: CellResult[], key: string): Figure {
  const summaries = runs.map((r) => metricOf(r, key)).filter((s) => s !== undefined);
  const values = summaries.map((s) => s.mean).filter(Number.isFinite);
  if (values.length === 0) return { mean: NaN, ci: [NaN, NaN], seeds: 0 };
  if (values.length === 1) {
    const one = summaries.find((s) => Number.isFinite(s.mean))!;
    return { mean: one.mean, ci: [one.ci[0], one.ci[1]], seeds: 1 };
  }
  const g = aggregateSeeds(values);
  return { mean: g.mean, ci: [g.low, g.high], seeds: values.length };
}

/** The metrics the table shows: accuracy, then each explainer's headline metrics. */
function tableMetrics(c: Config): string[] {
  const keys = ["accuracy"];
  for (const e of c.explainers) {
    keys.push(`${e}.energyPointingGame`, `${e}.pointingGame`, `${e}.maskAuc`);
    if (c.faithfulness) keys.push(`${e}.deletionAuc`, `${e}.insertionAuc`);
  }
  if (!keys.includes(c.rankBy)) keys.splice(1, 0, c.rankBy);
  return keys;
}

interface Ranked {
  rank: number;
  config: string;
  backbone: string;
  head: string;
  loss: string;
  weight: number;
  seeds: number[];
  metrics: Record<string, Figure>;
  trainSeconds: number;
}

function rank(c: Config, cells: Cell[], done: Map<string, CellResult>): Ranked[] {
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
      metrics: Object.fromEntries(keys.map((k) => [k, pool(runs, k)])),
      trainSeconds: runs.reduce((s, r) => s + r.training.seconds, 0),
    };
  });
  const score = (r: Ranked) => {
    const m = r.metrics[c.rankBy].mean;
    return Number.isFinite(m) ? (lowerIsBetter ? -m : m) : -Infinity;
  };
  // A stable sort: ties keep the grid's order.
  rows.sort((a, b) => score(b) - score(a));
  rows.forEach((r, i) => (r.rank = i + 1));
  return rows;
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : "n/a");
const fmtFigure = (f: Figure) =>
  Number.isFinite(f.mean) ? `${fmt(f.mean)} [${fmt(f.ci[0])}, ${fmt(f.ci[1])}]` : "n/a";

function summaryMarkdown(
  c: Config,
  ranked: Ranked[],
  info: { dataset: string; train: number; test: number; cells: number; steps: number },
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
        keys.map((k) => fmtFigure(r.metrics[k])).join(" | ")
      } |`
    ),
    "",
  ];
  return lines.join("\n");
}

/** Reads a cell's train results if complete; fails if they were run with other settings. */
async function finishedCell(c: Config, cell: Cell): Promise<CellResult | null> {
  const done = await completedRun(trainConfigFrom(cellConfig(c, cell), cell.id));
  return done === null ? null : fromTrainResults(c, cell, done);
}

/** The study's own flags, as saved to sweep.json. */
function studyFlags(flags: Record<string, string | boolean>): Record<string, unknown> {
  return Object.fromEntries(
    STUDY_FLAGS.filter((k) => flags[k] !== undefined).map((k) => [k, flags[k]]),
  );
}

async function main(): Promise<void> {
  const flags = parseFlags("sweep", SUMMARY, FLAGS, Deno.args);
  if (typeof flags.collect === "string") return await collect(flags.collect, flags);
  const c = readConfig(flags);
  const cells = gridCells(c);
  const files = cells.map((cell) => ({ id: cell.id, config: cellConfig(c, cell) }));
  await writeCells(c.out, files);
  await writeJsonAtomic(`${c.out}/sweep.json`, studyFlags(flags));
  if (flags.slurm === true) {
    return await submitArray({
      out: c.out,
      study: "sweep",
      cells: files,
      isComplete: async (file) =>
        await finishedCell(c, cells.find((cell) => cell.id === file.id)!) !== null,
      task: "train",
      taskArgs: ["--skip-complete", "--resume"],
      flags,
    });
  }
  if (flags["dry-run"] === true) throw new UsageError("Flag --dry-run goes with --slurm");

  const engine = await initBackend({ backend: c.backend, threads: c.threads });
  const opened = await openDataset({ ...c, seed: c.seed });
  const { dataset, train: trainIdx, test: testIdx } = opened;
  if (testIdx.length === 0) throw new UsageError(`The test split of ${dataset.name} is empty`);
  if (trainIdx.length < c.batch) {
    throw new UsageError(
      `Flag --batch: ${trainIdx.length} training images make no batch of ${c.batch} (lower --batch)`,
    );
  }
  const steps = c.epochs * Math.ceil(trainIdx.length / c.batch);
  console.error(
    `sweep: ${cells.length} cells (${new Set(cells.map((x) => x.config)).size} configurations × ` +
      `${c.seeds.length} seeds) on ${dataset.name}, ${trainIdx.length} training and ` +
      `${testIdx.length} test images of ${c.size}×${c.size}, ~${steps} steps each, on ${engine}`,
  );
  const started = performance.now();
  const done = new Map<string, CellResult>();
  let skipped = 0, ran = 0;
  for (const [i, cell] of cells.entries()) {
    const tag = `[${i + 1}/${cells.length}] ${cell.id}`;
    const previous = await finishedCell(c, cell);
    if (previous) {
      done.set(cell.id, previous);
      skipped++;
      console.log(`${tag}: skipped, already done (${cellPaths(c.out, cell.id).results})`);
      continue;
    }
    console.log(`${tag}: running`);
    const config = trainConfigFrom(cellConfig(c, cell), cellPaths(c.out, cell.id).config);
    const result = fromTrainResults(
      c,
      cell,
      await runTraining({ ...config, resume: true }, { opened, report: false }),
    );
    done.set(cell.id, result);
    ran++;
    const acc = result.classification.accuracy.mean;
    const rankBy = metricOf(result, c.rankBy)?.mean ?? NaN;
    console.log(
      `${tag}: done in ${(result.training.seconds + result.evaluationSeconds).toFixed(1)} s; ` +
        `accuracy ${fmt(acc)}, ${c.rankBy} ${fmt(rankBy)}`,
    );
  }
  console.log(`ran ${ran} cell(s), skipped ${skipped} already done`);
  await finish(c, cells, done, {
    mode: "local",
    engine,
    dataset: { name: dataset.name, classNames: dataset.classNames },
    train: trainIdx.length,
    test: testIdx.length,
    steps,
    ranThisCall: ran,
    skippedThisCall: skipped,
    wallSeconds: (performance.now() - started) / 1000,
    incomplete: [],
  });
}

/** --collect: gathers the finished cells of a Slurm run into the ranked table and report. */
async function collect(dir: string, flags: Record<string, string | boolean>): Promise<void> {
  const path = `${dir}/sweep.json`;
  if (!(await pathExists(path))) {
    throw new UsageError(
      `Flag --collect: ${path} does not exist; pass the --out folder of a sweep run with --slurm`,
    );
  }
  const saved = await readConfigFile(path);
  const c = readConfig({
    ...mergeConfigObject(defaultFlags(FLAGS), saved, FLAGS, { source: `"${path}"` }),
    out: dir,
    backend: flags.backend,
    threads: flags.threads,
  });
  const cells = gridCells(c);
  const statuses = await Promise.all(cells.map((cell) => cellStatus(c.out, cell.id)));
  const done = new Map<string, CellResult>();
  // deno-lint-ignore no-explicit-any
  let first: any = null;
  for (const cell of cells) {
    const r = await completedRun(trainConfigFrom(cellConfig(c, cell), cell.id));
    if (r === null) continue;
    first ??= r;
    done.set(cell.id, fromTrainResults(c, cell, r));
  }
  const report = describeIncomplete(c.out, statuses);
  if (first === null) {
    console.error(report);
    throw new Error(`None of the ${cells.length} cells of ${dir} has results yet`);
  }
  await finish(c, cells, done, {
    mode: "slurm",
    engine: String(first.engine),
    dataset: { name: first.dataset.name, classNames: first.dataset.classNames },
    train: first.dataset.train,
    test: first.dataset.test,
    steps: first.training.steps,
    ranThisCall: 0,
    skippedThisCall: done.size,
    wallSeconds: [...done.values()].reduce(
      (s, r) => s + r.training.seconds + r.evaluationSeconds,
      0,
    ),
    incomplete: statuses.filter((s) => s.state !== "complete"),
  });
  if (report) {
    console.error(`\n${report}`);
    Deno.exit(3);
  }
}

interface Outcome {
  mode: "local" | "slurm";
  engine: string;
  dataset: { name: string; classNames: readonly string[] };
  train: number;
  test: number;
  steps: number;
  ranThisCall: number;
  skippedThisCall: number;
  wallSeconds: number;
  incomplete: Awaited<ReturnType<typeof cellStatus>>[];
}

/** Ranks the finished cells and writes summary.md, results.json and report.html. */
async function finish(
  c: Config,
  cells: Cell[],
  done: Map<string, CellResult>,
  o: Outcome,
): Promise<void> {
  const ranked = rank(c, cells, done);
  const markdown = summaryMarkdown(c, ranked, {
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
  const settings = cellSettings(c);
  const config = {
    ...settings,
    backbones: c.backbones,
    heads: c.heads,
    losses: c.losses,
    weights: c.weights,
    seeds: c.seeds,
    rankBy: c.rankBy,
    backend: c.backend,
    threads: c.threads,
    seed: c.seed,
    out: c.out,
  };
  const run = await collectRunInfo("sweep", config, c.seed);
  const asSummary = (f: Figure): MetricSummary => ({
    mean: f.mean,
    ci: f.ci,
    scored: f.seeds,
    excluded: 0,
  });
  const keys = tableMetrics(c);
  const results = {
    title: `sweep: ${ranked.length} configurations ranked by ${c.rankBy}`,
    subtitle: `${o.dataset.name}, ${o.train} training and ${o.test} test images, ` +
      `${c.epochs} epochs per cell, seeds ${c.seeds.join(", ")}, on ${o.engine}` +
      (o.mode === "slurm" ? " (Slurm array job)" : ""),
    run,
    engine: o.engine,
    mode: o.mode,
    config,
    rankBy: c.rankBy,
    dataset: {
      name: o.dataset.name,
      classNames: o.dataset.classNames,
      train: o.train,
      test: o.test,
    },
    ranking: ranked,
    comparisons: keys.map((k) => ({
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
  await writeJsonAtomic(`${c.out}/results.json`, results);
  await writeFileAtomic(`${c.out}/summary.md`, markdown);
  await writeReport(`${c.out}/report.html`, results);
  console.log(`\n${markdown}`);
  console.log(`wrote ${c.out}/summary.md, ${c.out}/results.json and ${c.out}/report.html`);
}

if (import.meta.main) await runMain(main);
