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
  initBackend,
  listExplainers,
  mixedLoss,
  pathExists,
  saveModel,
  tf,
  train,
  writeJsonAtomic,
} from "../mod.ts";
import {
  backendFlag,
  defaultFlags,
  makeRunFolder,
  mergeConfigObject,
  numberFlag,
  parseFlagsWithConfig,
  runMain,
  UsageError,
} from "./_cli.ts";
import { datasetFlags, holdOut, openDataset, type OpenedDataset } from "./_datasets.ts";
import {
  parseLossWeights,
  type TrainConfig,
  trainConfigRecord,
  trainOutcome,
  trainResults,
  type TrainResultsRecord,
} from "../lib/studies/train_run.ts";
import { TRAIN_FLAGS } from "./_flags.ts";
import {
  backboneFlag,
  buildModel,
  headFlags,
  parseFreeze,
  parseMicroBatch,
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

export { TRAIN_FLAGS };

/** Parses --loss (`ce=1,bce=0.5`) into loss weights, every unlisted term at 0. */
function parseLoss(spec: string): Record<string, number> {
  try {
    return parseLossWeights(spec);
  } catch (error) {
    throw new UsageError(`Flag --loss: ${(error as Error).message}`);
  }
}

export type { TrainConfig };

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
  const backbone = backboneFlag(flags);
  const { head, gate } = headFlags(flags);
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
    gate,
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

/** A train config from a config object (keys are flag names), every other flag at its default. */
export function trainConfigFrom(values: Record<string, unknown>, source: string): TrainConfig {
  return readConfig(mergeConfigObject(defaultFlags(TRAIN_FLAGS), values, TRAIN_FLAGS, { source }));
}

/** What makes two runs the same run: the config less where and how it runs. */
function runIdentity(c: TrainConfig): Record<string, unknown> {
  const { out: _out, backend: _backend, threads: _threads, ...rest } = trainConfigRecord(c);
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
    // Resumed below with the new settings, which run.json records.
    if (c.resume && c.overrideSettings) return null;
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
): Promise<TrainResultsRecord> {
  const engine = backendInfo()?.engine ?? tf.getBackend();
  if (c.resume) {
    const changes = await checkResumeSettings(c.out, trainConfigRecord(c), {
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
    const run = await collectRunInfo("train", trainConfigRecord(c), c.seed);
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
      settings: trainConfigRecord(c),
    });
    const trainSeconds = (performance.now() - started) / 1000;
    await saveModel(model, `${c.out}/model`, { classNames: dataset.classNames });
    await writeJsonAtomic(`${c.out}/config.json`, trainConfigRecord(c));
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
    const record = {
      config: c,
      run,
      engine,
      model: { name: model.name, parameters: model.countParams() },
      pretrained: pretrainedRecord(pretrained),
      dataset,
      split: { train: trainIdx, val: valIdx, test },
      batchSize,
      result,
      trainSeconds,
      evaluation,
      evaluationSeconds: (performance.now() - evalStarted) / 1000,
    };
    const results = trainResults(record);
    await writeJsonAtomic(`${c.out}/results.json`, results);
    if (options.report ?? true) {
      console.log(
        `${trainOutcome(record)}\nwrote ${c.out}/model, ${c.out}/config.json and ` +
          `${c.out}/results.json`,
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
