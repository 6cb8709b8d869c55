// Trainer checkpoints: a saved model (model.json + weights.bin) plus the
// optimiser's state (optimizer.json + optimizer.bin) and the trainer's
// (trainer.json), in one folder written atomically. Private to lib/train/.
import { tf } from "../deps.ts";
import { DataError } from "../data/errors.ts";
import type { TwoBranchModel } from "../models/types.ts";
import {
  checkManifest,
  encodeTensors,
  entryValues,
  Fields,
  isRecord,
  readJson,
  readTensorFile,
} from "./_files.ts";
import { assignWeights, modelFiles, planWeights, readSavedModel } from "./_model_format.ts";
import type { NamedTensor, TrainOptimizer } from "./optim.ts";

const OPTIMIZER_FORMAT = "saliency-lab-optimizer";
const TRAINER_FORMAT = "saliency-lab-trainer";
const FORMAT_VERSION = 1;

/** What the trainer needs to carry on exactly where it stopped. */
export interface TrainerState {
  /** Epochs completed. */
  epoch: number;
  /** Steps completed. */
  step: number;
  /** The monitored metric's best value and the epoch it was reached, or null. */
  best: { epoch: number; value: number } | null;
  /** Evaluations since the best one (the patience counter). */
  badEvaluations: number;
  /** Whether early stopping ended the run. */
  stopped: boolean;
}

/**
 * Settings a resumed run must share with the checkpoint, or the data order
 * (and so the weights) would differ from an uninterrupted run.
 */
export interface RunIdentity {
  seed: number;
  batchSize: number;
  dropLast: boolean;
  trainSize: number;
  trainHash: string;
  metric: string;
}

/**
 * Model state that is not a variable but must survive a resume: the
 * position of the dropout mask stream of the two-branch model's classifier.
 * Paths of numeric fields on the model object.
 */
const MODEL_COUNTERS = ["classifier.dropoutStep"];

function counterHolder(model: TwoBranchModel, path: string): Record<string, unknown> | null {
  const parts = path.split(".");
  let at: unknown = model;
  for (const part of parts.slice(0, -1)) {
    at = typeof at === "object" && at !== null ? (at as Record<string, unknown>)[part] : undefined;
  }
  const holder = typeof at === "object" && at !== null ? at as Record<string, unknown> : null;
  return holder && typeof holder[parts.at(-1)!] === "number" ? holder : null;
}

function readCounters(model: TwoBranchModel): Record<string, number> {
  const out: Record<string, number> = {};
  for (const path of MODEL_COUNTERS) {
    const holder = counterHolder(model, path);
    if (holder) out[path] = holder[path.split(".").at(-1)!] as number;
  }
  return out;
}

/** The files of a checkpoint; its `model.json` keeps `classNames` when given. */
export async function checkpointFiles(
  model: TwoBranchModel,
  optimizer: TrainOptimizer,
  state: TrainerState,
  identity: RunIdentity,
  { classNames }: { classNames?: readonly string[] } = {},
): Promise<Record<string, Uint8Array | string>> {
  const pathOf = new Map([...model.variables()].map(([path, v]) => [v.name, path]));
  const weights = await optimizer.getWeights();
  try {
    let iterations = 0;
    const steps: Record<string, number> = {};
    const slots: { path: string; tensor: tf.Tensor }[] = [];
    for (const { name, tensor } of weights) {
      if (name === "iter") {
        iterations = (await tensor.data())[0];
        continue;
      }
      const cut = name.lastIndexOf("/");
      const path = pathOf.get(name.slice(0, cut));
      // State of a variable outside the model (another model trained by the same optimiser).
      if (path === undefined) continue;
      const slot = name.slice(cut + 1);
      if (slot === "step") steps[path] = (await tensor.data())[0];
      else slots.push({ path: `${path}#${slot}`, tensor });
    }
    const { manifest, bytes } = await encodeTensors(slots, "optimizer.bin");
    const optimizerJson = {
      format: OPTIMIZER_FORMAT,
      formatVersion: FORMAT_VERSION,
      options: optimizer.options,
      iterations,
      steps,
      state: manifest,
    };
    const trainerJson = {
      format: TRAINER_FORMAT,
      formatVersion: FORMAT_VERSION,
      ...identity,
      ...state,
      modelCounters: readCounters(model),
    };
    return {
      ...(await modelFiles(model, { classNames })),
      "optimizer.json": JSON.stringify(optimizerJson, null, 2) + "\n",
      "optimizer.bin": bytes,
      "trainer.json": JSON.stringify(trainerJson, null, 2) + "\n",
    };
  } finally {
    tf.dispose(weights.map((w) => w.tensor));
  }
}

/**
 * Reads the checkpoint in `dir`, checks all of it against the model, the
 * optimiser and the run's identity, and only then loads the weights and the
 * optimiser state. Returns the trainer's state.
 */
export async function restoreCheckpoint(
  dir: string,
  model: TwoBranchModel,
  optimizer: TrainOptimizer,
  identity: RunIdentity,
): Promise<TrainerState> {
  // The model.
  const saved = await readSavedModel(dir);
  if (saved.config.architecture !== model.config.architecture) {
    throw new DataError(
      `the checkpoint is of architecture "${saved.config.architecture}", the model to resume is "${model.config.architecture}"`,
      { file: saved.jsonFile, field: "config.architecture" },
    );
  }
  // Same architecture, same options: a different seed, say, would draw other dropout masks.
  const keys = new Set([...Object.keys(saved.config), ...Object.keys(model.config)]);
  for (const key of keys) {
    const stored = JSON.stringify(saved.config[key]), wanted = JSON.stringify(model.config[key]);
    if (stored !== wanted) {
      throw new DataError(
        `the checkpoint's model has ${key} ${stored ?? "unset"}, the model to resume has ${
          wanted ?? "unset"
        }; resume with a model made from the same config`,
        { file: saved.jsonFile, field: `config.${key}` },
      );
    }
  }
  const plan = planWeights(model, saved.manifest, saved.jsonFile, {
    include: () => true,
    strict: true,
    noExtras: true,
  });

  // The trainer.
  const trainerFile = `${dir}/trainer.json`;
  const t = await readJson(trainerFile);
  const tj: Fields = new Fields(trainerFile);
  tj.format(t, TRAINER_FORMAT, FORMAT_VERSION);
  for (const [field, want] of Object.entries(identity)) {
    if (t[field] !== want) {
      tj.fail(
        field,
        `the checkpoint was made with ${field} ${JSON.stringify(t[field])}, this run has ${
          JSON.stringify(want)
        }; resuming would not reproduce the run (start a new one in another folder)`,
      );
    }
  }
  let best: TrainerState["best"] = null;
  if (t.best !== null) {
    const b = tj.record(t.best, "best");
    best = { epoch: tj.integer(b.epoch, "best.epoch", 1), value: tj.number(b.value, "best.value") };
  }
  if (typeof t.stopped !== "boolean") tj.fail("stopped", "expected true or false");
  const counters = t.modelCounters === undefined ? {} : tj.record(t.modelCounters, "modelCounters");
  const holders = Object.entries(counters).map(([path, value]) => {
    const holder = counterHolder(model, path);
    if (!holder) tj.fail(`modelCounters.${path}`, `the model has no numeric field "${path}"`);
    return {
      holder,
      key: path.split(".").at(-1)!,
      value: tj.integer(value, `modelCounters.${path}`),
    };
  });
  const state: TrainerState = {
    epoch: tj.integer(t.epoch, "epoch"),
    step: tj.integer(t.step, "step"),
    best,
    badEvaluations: tj.integer(t.badEvaluations, "badEvaluations"),
    stopped: t.stopped,
  };

  // The optimiser.
  const optimizerFile = `${dir}/optimizer.json`;
  const o = await readJson(optimizerFile);
  const of: Fields = new Fields(optimizerFile);
  of.format(o, OPTIMIZER_FORMAT, FORMAT_VERSION);
  const options = of.record(o.options, "options");
  for (const key of ["name", "momentum", "nesterov", "beta1", "beta2"] as const) {
    if (options[key] !== optimizer.options[key]) {
      of.fail(
        `options.${key}`,
        `the checkpoint's optimizer has ${key} ${JSON.stringify(options[key])}, this run's has ${
          JSON.stringify(optimizer.options[key])
        }`,
      );
    }
  }
  const iterations = of.integer(o.iterations, "iterations");
  const steps = isRecord(o.steps) ? o.steps : of.fail("steps", "expected an object");
  const manifest = checkManifest(o.state, optimizerFile, "state");
  const bytes = await readTensorFile(dir, manifest, optimizerFile);
  const variables = model.variables();
  const named: NamedTensor[] = [];
  try {
    named.push({ name: "iter", tensor: tf.scalar(iterations, "int32") });
    for (const [path, step] of Object.entries(steps)) {
      const v = variables.get(path);
      if (!v) of.fail(`steps`, `"${path}" is not a variable of the model`);
      named.push({
        name: `${v.name}/step`,
        tensor: tf.scalar(of.integer(step, `steps.${path}`), "int32"),
      });
    }
    manifest.entries.forEach((entry, i) => {
      const cut = entry.path.lastIndexOf("#");
      const v = cut > 0 ? variables.get(entry.path.slice(0, cut)) : undefined;
      if (!v) {
        of.fail(
          `state.entries[${i}].path`,
          `"${entry.path}" is not "<variable path>#<slot>" of a variable of the model`,
        );
      }
      if (entry.shape.join() !== v.shape.join()) {
        of.fail(
          `state.entries[${i}].shape`,
          `"${entry.path}" has shape [${entry.shape}], its variable [${v.shape}]`,
        );
      }
      named.push({
        name: `${v.name}/${entry.path.slice(cut + 1)}`,
        tensor: tf.tensor(entryValues(bytes, entry), entry.shape, entry.dtype),
      });
    });
    await optimizer.setWeights(named);
  } catch (error) {
    if (error instanceof DataError) throw error;
    throw new DataError((error as Error).message, { file: optimizerFile, field: "state" }, {
      cause: error,
    });
  } finally {
    tf.dispose(named.map((n) => n.tensor));
  }
  assignWeights(plan.assignments, saved.bytes);
  for (const { holder, key, value } of holders) holder[key] = value;
  return state;
}
