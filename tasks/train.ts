/**
 * `deno task train`: trains any backbone × saliency head × loss on any
 * dataset, from flags or a JSON config file (`--config`; flags given on the
 * command line override it). Writes under `--out` the trainer's checkpoints
 * and `train_log.jsonl`, the final model (`model/`, loadable with
 * `loadModel`), the resolved `config.json` (itself a valid `--config` file)
 * and `results.json` (run info, training history and test classification
 * metrics). `--resume` continues an interrupted run.
 *
 * @module
 */
import {
  augment,
  collectRunInfo,
  createReferenceNet,
  createTwoBranchModel,
  evaluate,
  initBackend,
  listBackbones,
  listSaliencyHeads,
  mixedLoss,
  saveModel,
  train,
  writeJsonAtomic,
} from "../mod.ts";
import type { LossWeights, TwoBranchModel } from "../mod.ts";
import {
  backendFlag,
  COMMON_FLAGS,
  type FlagSpec,
  numberFlag,
  parseFlags,
  runMain,
  UsageError,
} from "./_cli.ts";
import { datasetFlags, DATASETS, holdOut, openDataset } from "./_datasets.ts";

const SUMMARY =
  "Train a two-branch model (any backbone × saliency head × loss) on a dataset, from flags or a\n" +
  "JSON config file whose keys are the flag names (flags on the command line override it).\n" +
  "Writes checkpoints/, train_log.jsonl, model/, config.json and results.json to --out;\n" +
  "--resume continues a run from its last checkpoint.";

/** The loss terms `--loss` accepts, by their flag spelling. */
const LOSS_TERMS: Record<string, keyof LossWeights> = {
  ce: "ce",
  focal: "focal",
  bce: "bce",
  dice: "dice",
  "soft-iou": "softIou",
  softIou: "softIou",
  kl: "kl",
  box: "box",
  rrr: "rrr",
  gain: "gain",
};

const FLAGS: Record<string, FlagSpec> = {
  config: { type: "string", help: "JSON file of flag values (keys are flag names)" },
  dataset: {
    type: "string",
    default: "synthetic",
    help: `dataset: ${DATASETS.join(", ")} (all but synthetic need --root)`,
  },
  root: { type: "string", help: "folder of the dataset (not for synthetic)" },
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
  dropout: { type: "string", default: "0", help: "dropout before the classifier (not reference)" },
  loss: {
    type: "string",
    default: "ce=1,bce=1",
    help: `weighted loss terms, e.g. ce=1,bce=1,dice=0.5 (terms: ${
      Object.keys(LOSS_TERMS).filter((k) => k !== "softIou").join(", ")
    }; unlisted terms weigh 0)`,
  },
  epochs: { type: "string", default: "10", help: "epochs in total (counting resumed ones)" },
  batch: { type: "string", default: "16", help: "batch size" },
  optimizer: { type: "string", default: "adam", help: "optimiser: adam or sgd" },
  lr: { type: "string", default: "0.003", help: "peak learning rate" },
  "weight-decay": { type: "string", default: "0", help: "weight decay" },
  schedule: { type: "string", default: "constant", help: "schedule: constant, cosine or step" },
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
  resume: { type: "boolean", default: false, help: "continue the run in --out" },
  overwrite: { type: "boolean", default: false, help: "replace a run already in --out" },
  out: { type: "string", default: "runs/train", help: "output folder" },
};

/** The flag names that the command line itself sets (not their defaults). */
function givenOnCommandLine(args: string[]): Set<string> {
  const given = new Set<string>();
  for (const arg of args) {
    const m = arg.match(/^--([^=]+)/);
    if (m) given.add(m[1]);
  }
  return given;
}

/** Merges a config file under the command line's flags. */
async function mergeConfigFile(
  flags: Record<string, string | boolean>,
  args: string[],
): Promise<Record<string, string | boolean>> {
  const path = typeof flags.config === "string" && flags.config !== "" ? flags.config : null;
  if (path === null) return flags;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new UsageError(
      `Config file "${path}": cannot read it as JSON: ${(error as Error).message}`,
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new UsageError(`Config file "${path}": must hold a JSON object of flag values`);
  }
  const all: Record<string, FlagSpec> = { ...FLAGS, ...COMMON_FLAGS };
  const given = givenOnCommandLine(args);
  const merged = { ...flags };
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const spec = all[key];
    if (!spec || key === "config" || key === "help") {
      const known = Object.keys(all).filter((k) => k !== "config" && k !== "help");
      throw new UsageError(
        `Config file "${path}": unknown key "${key}" (known keys: ${known.join(", ")})`,
      );
    }
    if (given.has(key)) continue;
    if (spec.type === "boolean") {
      if (typeof value !== "boolean") {
        throw new UsageError(`Config file "${path}": key "${key}" must be true or false`);
      }
      merged[key] = value;
    } else if (value === null) {
      delete merged[key];
    } else {
      if (typeof value !== "string" && typeof value !== "number") {
        throw new UsageError(`Config file "${path}": key "${key}" must be a string or a number`);
      }
      merged[key] = String(value);
    }
  }
  return merged;
}

/** Parses `ce=1,bce=0.5` into loss weights, every unlisted term at 0. */
function parseLoss(spec: string): LossWeights {
  const weights: LossWeights = { ce: 0 };
  for (const part of spec.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const [name, raw, ...rest] = part.split("=");
    const term = LOSS_TERMS[name?.trim()];
    if (!term) {
      throw new UsageError(
        `Flag --loss: unknown term "${name}" in "${spec}" (terms: ${
          Object.keys(LOSS_TERMS).filter((k) => k !== "softIou").join(", ")
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

function readConfig(flags: Record<string, string | boolean>) {
  const { dataset, root } = datasetFlags(flags);
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
    dropout: numberFlag(flags, "dropout", { min: 0, max: 0.99 }),
    loss,
    lossWeights: parseLoss(loss),
    epochs: numberFlag(flags, "epochs", { integer: true, min: 1 }),
    batch: numberFlag(flags, "batch", { integer: true, min: 2 }),
    optimizer: optimizer as "adam" | "sgd",
    lr: numberFlag(flags, "lr", { min: 0 }),
    weightDecay: numberFlag(flags, "weight-decay", { min: 0 }),
    schedule: schedule as "constant" | "cosine" | "step",
    warmup: numberFlag(flags, "warmup", { integer: true, min: 0 }),
    flip: numberFlag(flags, "flip", { min: 0, max: 1 }),
    val: numberFlag(flags, "val", { min: 0, max: 0.9 }),
    metric: metric as "val_loss" | "val_accuracy",
    patience: numberFlag(flags, "patience", { integer: true, min: 0 }),
    resume: flags.resume === true,
    overwrite: flags.overwrite === true,
    out: String(flags.out),
    backend: backendFlag(flags),
    threads: numberFlag(flags, "threads", { integer: true, min: 1 }),
    seed: numberFlag(flags, "seed", { integer: true }),
  };
}

type Config = ReturnType<typeof readConfig>;

/** The resolved config in the flags' own spelling, so that it reads back as a `--config` file. */
function configFile(c: Config): Record<string, string | number | boolean | null> {
  return {
    dataset: c.dataset,
    root: c.root,
    count: c.count,
    classes: c.classes,
    size: c.size,
    backbone: c.backbone,
    head: c.head,
    width: c.width,
    dropout: c.dropout,
    loss: c.loss,
    epochs: c.epochs,
    batch: c.batch,
    optimizer: c.optimizer,
    lr: c.lr,
    "weight-decay": c.weightDecay,
    schedule: c.schedule,
    warmup: c.warmup,
    flip: c.flip,
    val: c.val,
    metric: c.metric,
    patience: c.patience,
    out: c.out,
    backend: c.backend,
    threads: c.threads,
    seed: c.seed,
  };
}

function createNet(c: Config, numClasses: number): TwoBranchModel {
  if (c.backbone === "reference") {
    return createReferenceNet({ numClasses, inputSize: c.size, width: c.width, seed: c.seed });
  }
  return createTwoBranchModel({
    backbone: c.backbone,
    backboneOptions: { width: c.width },
    saliencyHead: c.head,
    numClasses,
    inputSize: c.size,
    dropout: c.dropout,
    seed: c.seed,
  });
}

async function main(): Promise<void> {
  const args = Deno.args;
  const flags = await mergeConfigFile(parseFlags("train", SUMMARY, FLAGS, args), args);
  const config = readConfig(flags);
  const engine = await initBackend({ backend: config.backend, threads: config.threads });
  const opened = await openDataset(config);
  const { dataset, test } = opened;
  const { train: trainIdx, val: valIdx } = holdOut(dataset, opened.train, config.val, config.seed);
  const model = createNet(config, dataset.classNames.length);
  try {
    console.error(
      `model: ${model.name}, ${model.countParams().toLocaleString("en")} parameters; data: ` +
        `${dataset.name} (${dataset.classNames.length} classes), ${trainIdx.length} training, ` +
        `${valIdx.length} validation and ${test.length} test images of ${config.size}×${config.size}`,
    );
    await Deno.mkdir(config.out, { recursive: true });
    const run = await collectRunInfo("train", configFile(config), config.seed);
    const started = performance.now();
    const result = await train(model, {
      dataset,
      trainIndices: trainIdx,
      valIndices: valIdx,
      epochs: config.epochs,
      batchSize: config.batch,
      seed: config.seed,
      optimizer: { name: config.optimizer, lr: config.lr, weightDecay: config.weightDecay },
      schedule: { schedule: config.schedule, warmupSteps: config.warmup },
      loss: mixedLoss(config.lossWeights),
      transform: config.flip > 0
        ? (sample, rng) => augment(sample, rng, { flipProbability: config.flip })
        : undefined,
      metric: config.metric,
      patience: config.patience > 0 ? config.patience : Infinity,
      outDir: config.out,
      resume: config.resume,
      overwrite: config.overwrite,
    });
    const trainSeconds = (performance.now() - started) / 1000;
    await saveModel(model, `${config.out}/model`);
    await writeJsonAtomic(`${config.out}/config.json`, configFile(config));
    const evaluation = test.length > 0
      ? await evaluate(model, dataset, {
        indices: test,
        explainers: [],
        faithfulness: false,
        seed: config.seed,
        progress: false,
      })
      : null;
    const results = {
      title: `train: ${model.name} on ${dataset.name}`,
      run,
      engine,
      config: configFile(config),
      lossWeights: config.lossWeights,
      model: { name: model.name, parameters: model.countParams() },
      dataset: {
        name: dataset.name,
        classNames: dataset.classNames,
        train: trainIdx.length,
        val: valIdx.length,
        test: test.length,
      },
      training: {
        epochs: result.epochs,
        steps: result.steps,
        epochsThisCall: result.history.length,
        resumedFrom: result.resumedFrom,
        stoppedEarly: result.stoppedEarly,
        best: result.best,
        seconds: trainSeconds,
        history: result.history,
      },
      test: evaluation ? evaluation.classification : null,
    };
    await writeJsonAtomic(`${config.out}/results.json`, results);
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
        `\nwrote ${config.out}/model, ${config.out}/config.json and ${config.out}/results.json`,
    );
  } finally {
    model.dispose();
  }
}

if (import.meta.main) await runMain(main);
