/**
 * `deno task train`: trains any backbone × saliency head × loss on any
 * dataset, from flags or a JSON config file (`--config`; flags given on the
 * command line override it). Writes under `--out` the trainer's checkpoints
 * and `train_log.jsonl`, the final model (`model/`, loadable with
 * `loadModel`), the resolved `config.json` (itself a valid `--config` file)
 * and `results.json` (run info, training history, test classification
 * metrics and, with `--explainers`, their localisation metrics). `--resume`
 * continues an interrupted run (and starts one where there is none);
 * `--skip-complete` exits at once when `--out` already holds this very run's
 * `results.json`: the contract of a sweep's Slurm array task.
 *
 * The sweep runs its cells through {@linkcode runTraining} in-process, with
 * the same config files a Slurm array task passes to `--config`.
 *
 * @module
 */
import {
  augment,
  backendInfo,
  checkResumeSettings,
  collectRunInfo,
  describeChange,
  evaluate,
  getLoss,
  initBackend,
  listBackbones,
  listExplainers,
  listLosses,
  listSaliencyHeads,
  lossFlagName,
  mixedLoss,
  pathExists,
  saveModel,
  tf,
  train,
  writeJsonAtomic,
} from "../mod.ts";
import type { EngineName } from "../mod.ts";
import {
  backendFlag,
  defaultFlags,
  type FlagSpec,
  makeRunFolder,
  mergeConfigObject,
  numberFlag,
  parseFlagsWithConfig,
  runMain,
  UsageError,
} from "./_cli.ts";
import {
  DATASET_FLAGS,
  datasetFlags,
  holdOut,
  openDataset,
  type OpenedDataset,
} from "./_datasets.ts";
import {
  buildModel,
  parseFreeze,
  parseMicroBatch,
  PRETRAINED_FLAGS,
  pretrainedRecord,
  sayPretrained,
} from "./_model.ts";

const SUMMARY =
  "Train a two-branch model (any backbone × saliency head × loss) on a dataset, from flags or a\n" +
  "JSON config file whose keys are the flag names (flags on the command line override it).\n" +
  "Writes checkpoints/, train_log.jsonl, model/, config.json and results.json to --out;\n" +
  "--resume continues a run from its last checkpoint (or starts one); --skip-complete exits at\n" +
  "once when --out already holds this run's results.json. --explainers also scores their maps\n" +
  "on the test split (localisation; deletion/insertion with --faithfulness).";

/** The loss terms `--loss` accepts, by their flag spelling. */

/** The flags of `deno task train`; a `--config` file's keys are these names. */
export const TRAIN_FLAGS: Record<string, FlagSpec> = {
  config: { type: "string", help: "JSON file of flag values (keys are flag names)" },
  ...DATASET_FLAGS,
  count: { type: "string", default: "1200", help: "images in the synthetic set" },
  classes: { type: "string", default: "4", help: "classes in the synthetic set (2 to 6)" },
  size: { type: "string", default: "48", help: "image size in pixels" },
  backbone: {
    type: "string",
    default: "reference",
    help: "reference (the reference network) or a registered backbone (e.g. resnet18)",
  },
  head: {
    type: "string",
    default: "cam",
    help: "saliency head of a registered backbone (not for reference)",
  },
  width: { type: "string", default: "0.5", help: "width multiplier of the backbone" },
  ...PRETRAINED_FLAGS,
  dropout: { type: "string", default: "0", help: "dropout before the classifier (not reference)" },
  loss: {
    type: "string",
    default: "ce=1,bce=1",
    help: `weighted loss terms, e.g. ce=1,bce=1,dice=0.5 (terms: ${
      listLosses().map((n) => lossFlagName(n)).join(", ")
    }; unlisted terms weigh 0)`,
  },
  epochs: { type: "string", default: "10", help: "epochs in total (counting resumed ones)" },
  batch: { type: "string", default: "16", help: "batch size" },
  optimizer: { type: "string", default: "adam", help: "optimiser: adam or sgd" },
  lr: { type: "string", default: "0.003", help: "peak learning rate" },
  "weight-decay": { type: "string", default: "0", help: "weight decay" },
  schedule: {
    type: "string",
    default: "constant",
    help: "schedule: constant, cosine or step (a tenth of the rate after each third of the steps)",
  },
  warmup: { type: "string", default: "0", help: "warm-up steps" },
  flip: { type: "string", default: "0.5", help: "probability of a horizontal flip in training" },
  val: {
    type: "string",
    default: "0.1",
    help: "share of the training split held out for validation (0: none)",
  },
  metric: {
    type: "string",
    default: "val_loss",
    help: "metric of the best checkpoint and early stopping: val_loss or val_accuracy",
  },
  patience: {
    type: "string",
    default: "0",
    help: "stop after this many validations without improvement (0: never)",
  },
  explainers: {
    type: "string",
    default: "",
    help: "comma list of explainers to score on the test split, e.g. grad-cam,branch (none)",
  },
  faithfulness: {
    type: "boolean",
    default: false,
    help: "with --explainers, also score deletion/insertion AUC (slow)",
  },
  resamples: { type: "string", default: "1000", help: "bootstrap resamples of each interval" },
  "data-seed": {
    type: "string",
    default: "",
    help: "seed of the synthetic set and the splits (default: --seed)",
  },
  resume: {
    type: "boolean",
    default: false,
    help: "continue the run in --out (start one if there is none); refuses changed settings",
  },
  "override-settings": {
    type: "boolean",
    default: false,
    help: "with --resume, continue with changed settings (recorded in run.json)",
  },
  "skip-complete": {
    type: "boolean",
    default: false,
    help: "exit at once if --out already holds this run's results.json",
  },
  overwrite: { type: "boolean", default: false, help: "replace a run already in --out" },
  out: { type: "string", default: "runs/train", help: "output folder" },
};

/** Parses `ce=1,bce=0.5` into loss weights, every unlisted term at 0. */
function parseLoss(spec: string): Record<string, number> {
  const weights: Record<string, number> = { ce: 0 };
  for (const part of spec.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const [name, raw, ...rest] = part.split("=");
    const term = lossFlagName(name?.trim() ?? "", { toFlag: false });
    if (!getLoss(term)) {
      throw new UsageError(
        `Flag --loss: unknown term "${name}" in "${spec}" (terms: ${
          listLosses().map((n) => lossFlagName(n)).join(", ")
        })`,
      );
    }
    const w = Number(raw);
    if (rest.length > 0 || raw === undefined || raw.trim() === "" || !(w >= 0) || !isFinite(w)) {
      throw new UsageError(
        `Flag --loss: term "${name}" needs a weight ≥ 0 as ${name}=NUMBER, got "${part}"`,
      );
    }
    weights[term] = w;
  }
  if (Object.values(weights).every((v) => v === 0)) {
    throw new UsageError(`Flag --loss: "${spec}" gives no term a weight above 0`);
  }
  return weights;
}

/** A checked train config: the flags, typed. */
export interface TrainConfig {
  dataset: string;
  root: string | null;
  count: number;
  classes: number;
  size: number;
  backbone: string;
  head: string;
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

/** Reads and checks the flags (after any config file is merged in). */
export function readConfig(flags: Record<string, string | boolean>): TrainConfig {
  const { dataset, root } = datasetFlags(flags);
  const explainers = String(flags.explainers ?? "").split(",").map((s) => s.trim())
    .filter((s) => s !== "");
  for (const e of explainers) {
    if (!listExplainers().includes(e)) {
      throw new UsageError(
        `Flag --explainers: unknown explainer "${e}" (choices: ${listExplainers().join(", ")})`,
      );
    }
  }
  const seed = numberFlag(flags, "seed", { integer: true });
  const dataSeed = flags["data-seed"] === undefined || flags["data-seed"] === ""
    ? seed
    : numberFlag(flags, "data-seed", { integer: true });
  const backbone = String(flags.backbone);
  if (backbone !== "reference" && !listBackbones().includes(backbone)) {
    throw new UsageError(
      `Flag --backbone must be reference or one of ${
        listBackbones().join(", ")
      }; got "${backbone}"`,
    );
  }
  const head = String(flags.head);
  if (!listSaliencyHeads().includes(head)) {
    throw new UsageError(
      `Flag --head must be one of ${listSaliencyHeads().join(", ")}; got "${head}"`,
    );
  }
  const optimizer = String(flags.optimizer);
  if (optimizer !== "adam" && optimizer !== "sgd") {
    throw new UsageError(`Flag --optimizer must be adam or sgd; got "${optimizer}"`);
  }
  const schedule = String(flags.schedule);
  if (!["constant", "cosine", "step"].includes(schedule)) {
    throw new UsageError(`Flag --schedule must be constant, cosine or step; got "${schedule}"`);
  }
  const metric = String(flags.metric);
  if (metric !== "val_loss" && metric !== "val_accuracy") {
    throw new UsageError(`Flag --metric must be val_loss or val_accuracy; got "${metric}"`);
  }
  const loss = String(flags.loss);
  return {
    dataset,
    root,
    count: numberFlag(flags, "count", { integer: true, min: 10 }),
    classes: numberFlag(flags, "classes", { integer: true, min: 2, max: 6 }),
    size: numberFlag(flags, "size", { integer: true, min: 8 }),
    backbone,
    head,
    width: numberFlag(flags, "width", { min: 0.01 }),
    pretrained: String(flags.pretrained ?? ""),
    freeze: parseFreeze(flags.freeze),
    backboneLr: numberFlag(flags, "backbone-lr", { min: 0 }),
    dropout: numberFlag(flags, "dropout", { min: 0, max: 0.99 }),
    loss,
    lossWeights: parseLoss(loss),
    epochs: numberFlag(flags, "epochs", { integer: true, min: 1 }),
    batch: numberFlag(flags, "batch", { integer: true, min: 2 }),
    microBatch: parseMicroBatch(flags),
    optimizer: optimizer as "adam" | "sgd",
    lr: numberFlag(flags, "lr", { min: 0 }),
    weightDecay: numberFlag(flags, "weight-decay", { min: 0 }),
    schedule: schedule as "constant" | "cosine" | "step",
    warmup: numberFlag(flags, "warmup", { integer: true, min: 0 }),
    flip: numberFlag(flags, "flip", { min: 0, max: 1 }),
    val: numberFlag(flags, "val", { min: 0, max: 0.9 }),
    metric: metric as "val_loss" | "val_accuracy",
    patience: numberFlag(flags, "patience", { integer: true, min: 0 }),
    explainers,
    faithfulness: flags.faithfulness === true,
    resamples: numberFlag(flags, "resamples", { integer: true, min: 10 }),
    resume: flags.resume === true,
    overrideSettings: flags["override-settings"] === true,
    overwrite: flags.overwrite === true,
    skipComplete: flags["skip-complete"] === true,
    out: String(flags.out),
    backend: backendFlag(flags),
    threads: numberFlag(flags, "threads", { integer: true, min: 1 }),
    seed,
    dataSeed,
  };
}

type Config = TrainConfig;

/** A train config from a config object (keys are flag names), every other flag at its default. */
export function trainConfigFrom(values: Record<string, unknown>, source: string): TrainConfig {
  return readConfig(mergeConfigObject(defaultFlags(TRAIN_FLAGS), values, TRAIN_FLAGS, { source }));
}

/** The resolved config in the flags' own spelling, so that it reads back as a `--config` file. */
export function configFile(c: Config): Record<string, string | number | boolean | null> {
  return {
    dataset: c.dataset,
    root: c.root,
    count: c.count,
    classes: c.classes,
    size: c.size,
    backbone: c.backbone,
    head: c.head,
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

/** What makes two runs the same run: the config less where and how it runs. */
function runIdentity(c: Config): Record<string, unknown> {
  const { out: _out, backend: _backend, threads: _threads, ...rest } = configFile(c);
  return rest;
}

/**
 * The results.json already in `c.out` if it is this very run's (same
 * {@linkcode runIdentity}); null if there is none. Fails if it belongs to
 * another run, so that a resubmitted cell never mixes two configurations.
 */
export async function completedRun(c: TrainConfig): Promise<Record<string, unknown> | null> {
  const path = `${c.out}/results.json`;
  if (!(await pathExists(path))) return null;
  let done: { config?: Record<string, unknown> };
  try {
    done = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    console.error(`${path}: cannot read it as JSON (${(error as Error).message}); rerunning`);
    return null;
  }
  const { out: _o, backend: _b, threads: _t, ...had } = done.config ?? {};
  const want = runIdentity(c);
  if (JSON.stringify(had) !== JSON.stringify(want)) {
    throw new UsageError(
      `${path} holds another run (${JSON.stringify(had)}, now ${JSON.stringify(want)}); ` +
        `pass another --out or delete that folder`,
    );
  }
  return done as Record<string, unknown>;
}

/** Options of {@linkcode runTraining}. */
export interface RunTrainingOptions {
  /** The dataset already opened with this config's dataset flags (the sweep shares one). */
  opened?: OpenedDataset;
  /** Print the one-line outcome. @default {true} */
  report?: boolean;
}

/**
 * Trains, saves and evaluates one run as `deno task train` does, writing
 * its files under `c.out`; returns the object written to `results.json`.
 * The engine must be initialised.
 */
export async function runTraining(
  c: TrainConfig,
  options: RunTrainingOptions = {},
): Promise<Record<string, unknown>> {
  const engine = backendInfo()?.engine ?? tf.getBackend();
  if (c.resume) {
    const changes = await checkResumeSettings(c.out, configFile(c), {
      overrideSettings: c.overrideSettings,
    });
    if (changes.length > 0) {
      console.error(
        `note: resuming with changed settings (${changes.map(describeChange).join("; ")}), ` +
          `recorded in ${c.out}/run.json`,
      );
    }
  }
  const opened = options.opened ?? await openDataset({ ...c, seed: c.dataSeed });
  const { dataset, test } = opened;
  const { train: trainIdx, val: valIdx } = holdOut(opened, opened.train, c.val, c.dataSeed);
  if (trainIdx.length < 2) {
    throw new Error(
      `${dataset.name} leaves ${trainIdx.length} training image(s), too few to train on (2 at ` +
        `least); lower --val${opened.test.length > 0 ? " or use more images" : ""}`,
    );
  }
  // A small set trains in whole batches of itself rather than not at all.
  const batchSize = Math.min(c.batch, trainIdx.length);
  if (batchSize < c.batch) {
    console.error(
      `note: --batch ${c.batch} is more than the ${trainIdx.length} training images; ` +
        `training in batches of ${batchSize}`,
    );
  }
  if (c.patience > 0 && valIdx.length === 0) {
    throw new UsageError(
      `Flag --patience ${c.patience} needs validation images, and --val ${c.val} holds out none ` +
        `of the ${opened.train.length} training images; raise --val or pass --patience 0`,
    );
  }
  const steps = c.epochs * Math.floor(trainIdx.length / batchSize);
  const { model, pretrained } = await buildModel(c, dataset.classNames.length, c.seed);
  let cleanUp: (() => Promise<void>) | null = null;
  try {
    sayPretrained(pretrained);
    console.error(
      `model: ${model.name}, ${model.countParams().toLocaleString("en")} parameters; data: ` +
        `${dataset.name} (${dataset.classNames.length} classes), ${trainIdx.length} training, ` +
        `${valIdx.length} validation and ${test.length} test images of ${c.size}×${c.size}`,
    );
    // A run that fails before its first checkpoint leaves no folder behind.
    cleanUp = await makeRunFolder(c.out, { keep: ["checkpoints/last"] });
    const run = await collectRunInfo("train", configFile(c), c.seed);
    const started = performance.now();
    const result = await train(model, {
      dataset,
      trainIndices: trainIdx,
      valIndices: valIdx,
      epochs: c.epochs,
      batchSize,
      microBatch: c.microBatch,
      backboneLr: c.backboneLr,
      seed: c.seed,
      optimizer: { name: c.optimizer, lr: c.lr, weightDecay: c.weightDecay },
      schedule: {
        schedule: c.schedule,
        warmupSteps: c.warmup,
        ...(c.schedule === "step"
          ? { stepSize: Math.max(1, Math.ceil((steps - c.warmup) / 3)) }
          : {}),
      },
      loss: mixedLoss(c.lossWeights),
      transform: c.flip > 0
        ? (sample, rng) => augment(sample, rng, { flipProbability: c.flip })
        : undefined,
      metric: c.metric,
      patience: c.patience > 0 ? c.patience : Infinity,
      outDir: c.out,
      resume: c.resume,
      overwrite: c.overwrite,
      settings: configFile(c),
    });
    const trainSeconds = (performance.now() - started) / 1000;
    await saveModel(model, `${c.out}/model`, { classNames: dataset.classNames });
    await writeJsonAtomic(`${c.out}/config.json`, configFile(c));
    const evalStarted = performance.now();
    const evaluation = test.length > 0
      ? await evaluate(model, dataset, {
        indices: test,
        batchSize: 32,
        explainers: c.explainers,
        faithfulness: c.faithfulness,
        faithfulnessSteps: 8,
        resamples: c.resamples,
        seed: c.seed,
        progress: false,
      })
      : null;
    const results = {
      title: `train: ${model.name} on ${dataset.name}`,
      run,
      engine,
      config: configFile(c),
      lossWeights: c.lossWeights,
      model: { name: model.name, parameters: model.countParams() },
      pretrained: pretrainedRecord(pretrained),
      dataset: {
        name: dataset.name,
        classNames: dataset.classNames,
        train: trainIdx.length,
        val: valIdx.length,
        test: test.length,
        trainIds: trainIdx.map((i) => dataset.records[i].id),
        valIds: valIdx.map((i) => dataset.records[i].id),
        testIds: test.map((i) => dataset.records[i].id),
      },
      training: {
        batchSize,
        epochs: result.epochs,
        steps: result.steps,
        epochsThisCall: result.history.length,
        resumedFrom: result.resumedFrom,
        stoppedEarly: result.stoppedEarly,
        best: result.best,
        seconds: trainSeconds,
        history: result.history,
      },
      evaluationSeconds: (performance.now() - evalStarted) / 1000,
      test: evaluation ? evaluation.classification : null,
      explainers: evaluation
        ? Object.fromEntries(
          Object.entries(evaluation.explainers).map(([name, e]) => [name, { metrics: e.metrics }]),
        )
        : {},
    };
    await writeJsonAtomic(`${c.out}/results.json`, results);
    if (options.report ?? true) {
      const acc = evaluation?.classification.accuracy;
      console.log(
        `trained ${result.history.length} epoch(s) this call, ${result.epochs} in all ` +
          `(${result.steps} steps${result.stoppedEarly ? ", stopped early" : ""}) in ` +
          `${trainSeconds.toFixed(1)} s on ${engine}` +
          (acc
            ? `; test accuracy ${(100 * acc.mean).toFixed(1)}% [${(100 * acc.ci[0]).toFixed(1)}, ${
              (100 * acc.ci[1]).toFixed(1)
            }]`
            : "") +
          `\nwrote ${c.out}/model, ${c.out}/config.json and ${c.out}/results.json`,
      );
    }
    return results;
  } catch (error) {
    await cleanUp?.();
    throw error;
  } finally {
    model.dispose();
  }
}

/**
 * `deno task train` with `args` as its flags: a script that registers its
 * own loss or dataset (`registerLoss`, `registerDataset`) and then calls
 * this trains with them by name.
 */
export async function trainMain(args: readonly string[] = Deno.args): Promise<void> {
  const flags = await parseFlagsWithConfig("train", SUMMARY, TRAIN_FLAGS, [...args]);
  const config = readConfig(flags);
  if (config.skipComplete && await completedRun(config) !== null) {
    console.log(`${config.out}/results.json: this run is already complete; nothing to do`);
    return;
  }
  // Bad data fails before the engine starts.
  const opened = await openDataset({ ...config, seed: config.dataSeed });
  await initBackend({ backend: config.backend, threads: config.threads });
  await runTraining(config, { opened });
}

if (import.meta.main) await runMain(() => trainMain());
