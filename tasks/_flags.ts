// Flag tables shared by the tasks: the network and synthetic-set flags that
// train and compare-gradcam (and the sweep's cells) spell alike, and the
// whole of `deno task train`'s table, which a sweep cell's config file uses
// too. Private to tasks/.
import { listLosses, lossFlagName } from "../mod.ts";
import type { FlagSpec } from "./_cli.ts";
import { DATASET_FLAGS } from "./_datasets.ts";
import { GATE_FLAG, PRETRAINED_FLAGS } from "./_model.ts";

/** --backbone and --width: which network, how wide. */
export const NETWORK_FLAGS: Record<string, FlagSpec> = {
  backbone: {
    type: "string",
    default: "reference",
    help: "reference (the reference network) or a registered backbone (e.g. resnet18)",
  },
  width: { type: "string", default: "0.5", help: "width multiplier of the backbone" },
};

/** --count and --classes: the built-in synthetic set's size. */
export const SYNTHETIC_FLAGS: Record<string, FlagSpec> = {
  count: { type: "string", default: "1200", help: "images in the synthetic set" },
  classes: { type: "string", default: "4", help: "classes in the synthetic set (2 to 6)" },
};

/** The flags of `deno task train`; a `--config` file's keys are these names. */
export const TRAIN_FLAGS: Record<string, FlagSpec> = {
  config: { type: "string", help: "JSON file of flag values (keys are flag names)" },
  ...DATASET_FLAGS,
  ...SYNTHETIC_FLAGS,
  size: { type: "string", default: "48", help: "image size in pixels" },
  backbone: NETWORK_FLAGS.backbone,
  head: {
    type: "string",
    default: "cam",
    help: "saliency head of a registered backbone (not for reference)",
  },
  gate: GATE_FLAG,
  width: NETWORK_FLAGS.width,
  ...PRETRAINED_FLAGS,
  dropout: { type: "string", default: "0", help: "dropout before the classifier (not reference)" },
  loss: {
    type: "string",
    default: "ce=1,bce=1",
    get help() {
      return `weighted loss terms, e.g. ce=1,bce=1,dice=0.5 (terms: ${
        listLosses().map((n) => lossFlagName(n)).join(", ")
      }; unlisted terms weigh 0)`;
    },
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
