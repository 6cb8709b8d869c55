/**
 * The trainer: epochs over a dataset with a schedule, validation, early
 * stopping, checkpoints that resume exactly, a NaN guard, a progress bar
 * and a JSON-lines log.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { batches, type DataBatch, type SampleTransform } from "../data/batches.ts";
import type { Dataset } from "../data/types.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { ProgressBar, type ProgressOptions } from "../util/progress.ts";
import { Random } from "../util/random.ts";
import { OptionError } from "../util/option_error.ts";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.ts";
import { resolveDir, sha256, writeDirAtomic } from "./_files.ts";
import {
  checkpointFiles,
  restoreCheckpoint,
  type RunIdentity,
  type TrainerState,
} from "./_checkpoint.ts";
import {
  createOptimizer,
  learningRateAt,
  type OptimizerOptions,
  resolveOptimizerOptions,
  type ScheduleOptions,
  setLearningRate,
} from "./optim.ts";
import { collectRunInfo } from "./run_info.ts";
import { selectVariables } from "./transfer.ts";
import { checkTermNames } from "./_terms.ts";
import {
  defaultLoss,
  type LossContext,
  type LossFn,
  NonFiniteLossError,
  planStep,
  type StepMemoryOptions,
  type StepPlan,
  trainOnBatch,
} from "./train_step.ts";

/** The metrics early stopping and the best checkpoint can follow. */
export type MonitorMetric = "val_accuracy" | "val_loss";

/** Options of {@linkcode train}. */
export interface TrainOptions extends StepMemoryOptions {
  /** The samples. Every image must have the model's input size (resize first). */
  dataset: Dataset;
  /** Indices of the training samples. */
  trainIndices: readonly number[];
  /** Indices of the validation samples; none means no validation, best checkpoint or early stopping. @default {[]} */
  valIndices?: readonly number[];
  /**
   * Epochs to train (in total, counting those before a resume).
   * @default {10, or as many as `steps` needs where it is given}
   */
  epochs?: number;
  /**
   * Stop after this many steps in total, in the middle of an epoch if need
   * be (that epoch is then logged and checkpointed with the steps it ran; a
   * resume goes on with the next epoch).
   *
   * @default {Infinity: every step of `epochs` epochs}
   */
  steps?: number;
  /** Samples per training step. @default {32} */
  batchSize?: number;
  /** Samples per validation batch. @default {batchSize} */
  valBatchSize?: number;
  /**
   * Seed of the data order and of the augmentation: epoch `e` visits the
   * samples in an order drawn from `(seed, e)` alone, so a resumed run sees
   * the same batches as an uninterrupted one. Pass the same seed to the
   * model's factory so that the initial weights follow it too.
   *
   * @default {0}
   */
  seed?: number;
  /**
   * The stream of epoch `epoch`'s order and augmentation (epochs count from
   * 1), instead of the one drawn from `(seed, epoch)`. For a resumed run to
   * see the same batches as an uninterrupted one it must depend on `epoch`
   * alone.
   *
   * @default {a stream drawn from (seed, epoch)}
   */
  epochRandom?: (epoch: number) => Random;
  /** The optimiser; its `lr` is the schedule's peak rate. @default {{ name: "adam", lr: 0.001 }} */
  optimizer?: OptimizerOptions;
  /**
   * The learning-rate schedule, by step (see {@linkcode learningRateAt});
   * `totalSteps` defaults to `epochs ×` steps per epoch.
   *
   * @default {{ schedule: "constant" }}
   */
  schedule?: Omit<ScheduleOptions, "baseLr">;
  /**
   * Multiplier of the learning rate for the backbone's variables (and of
   * nothing else), for fine-tuning a pretrained backbone more gently than
   * its fresh heads.
   *
   * @default {1}
   */
  backboneLr?: number;
  /** Weight of the mask term of the default loss; ignored with `loss`. @default {1} */
  maskWeight?: number;
  /** The loss. @default {defaultLoss({ maskWeight })} */
  loss?: LossFn;
  /** Augmentation: applied to each training sample with its own seeded stream. @default {none} */
  transform?: SampleTransform;
  /** Leave out a last training batch smaller than `batchSize` (a batch of 1 upsets batch norm). @default {true} */
  dropLast?: boolean;
  /** Batches loaded ahead of the one being trained on. @default {2} */
  prefetch?: number;
  /** Validate every this many epochs (and after the last). @default {1} */
  evalEvery?: number;
  /** The metric that picks the best checkpoint and drives early stopping. @default {"val_loss"} */
  metric?: MonitorMetric;
  /** Stop after this many validations in a row without improvement. @default {Infinity} */
  patience?: number;
  /** The smallest change of the metric that counts as an improvement. @default {0} */
  minDelta?: number;
  /**
   * Where the run writes `run.json` (the run record), `train_log.jsonl` (a
   * line per epoch) and `checkpoints/last/` and `checkpoints/best/` (each a
   * saved model, loadable with {@linkcode loadModel}, plus optimiser and
   * trainer state; `model.json` keeps the dataset's `classNames` where there
   * is one per class). Without it nothing is written and `resume` is not possible.
   *
   * @default {none}
   */
  outDir?: string;
  /** Continue from `outDir/checkpoints/last/` if it exists (else start afresh). @default {false} */
  resume?: boolean;
  /**
   * Without `resume`, replace a run already in `outDir` instead of refusing
   * to (with an {@linkcode OptionError} that names these options).
   * @default {false}
   */
  overwrite?: boolean;
  /**
   * The caller's own settings (a task's flags), stored in `run.json` as
   * `settings` when a run starts, so that a later resume can compare them
   * with its own ({@linkcode checkResumeSettings}). @default {none}
   */
  settings?: Record<string, unknown>;
  /** Called after each epoch, once its checkpoint is written. Throwing ends training. @default {none} */
  onEpoch?: (record: EpochRecord) => void | Promise<void>;
  /** Called after each step with its loss terms and sample ids. Throwing ends training. @default {none} */
  onStep?: (record: StepRecord) => void | Promise<void>;
  /** Show a progress bar per epoch and a summary line after it (on standard error), or not. @default {true} */
  progress?: boolean | ProgressOptions;
}

/** One epoch's results: a line of `train_log.jsonl`. */
export interface EpochRecord {
  /** The epoch, counting from 1. */
  epoch: number;
  /** Steps completed so far. */
  step: number;
  /** The learning rate of the epoch's last step. */
  lr: number;
  /**
   * `train_loss` and `train_<term>`: means over the epoch's steps;
   * `val_loss`, `val_<term>` and `val_accuracy` when validated.
   */
  metrics: Record<string, number>;
  /** Whether the monitored metric improved on its best (so `best` was written). */
  improved: boolean;
  /** Wall time of the epoch, validation and checkpoint included. */
  seconds: number;
}

/** One training step, as {@linkcode TrainOptions.onStep} sees it. */
export interface StepRecord {
  /** The epoch, counting from 1. */
  epoch: number;
  /** The step, counting from 1 (and across epochs). */
  step: number;
  /** The learning rate of the step. */
  lr: number;
  /** The loss terms: `loss` (the total) and each named term. */
  losses: Record<string, number>;
  /** The ids of the batch's samples, in batch order. */
  ids: string[];
}

/** What {@linkcode train} returns. */
export interface TrainResult {
  /** Epochs completed, counting those before a resume. */
  epochs: number;
  /** Steps completed, counting those before a resume. */
  steps: number;
  /** The records of the epochs this call ran. */
  history: EpochRecord[];
  /** The best value of the monitored metric and its epoch, or null without validation. */
  best: { metric: MonitorMetric; epoch: number; value: number } | null;
  /** Whether early stopping ended the run. */
  stoppedEarly: boolean;
  /** The epoch the run resumed after, or null. */
  resumedFrom: number | null;
}

/** Options of {@linkcode validationMetrics}. */
export interface ValidationOptions {
  /** The samples. */
  dataset: Dataset;
  /** Indices of the samples to evaluate. */
  indices: readonly number[];
  /** Samples per batch. @default {32} */
  batchSize?: number;
  /** The loss. @default {defaultLoss()} */
  loss?: LossFn;
  /** Batches loaded ahead. @default {2} */
  prefetch?: number;
}

/**
 * Evaluates `model` in inference mode: `val_accuracy`, `val_loss` and
 * `val_<term>` for each loss term, averaged over samples.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { validationMetrics } from "./trainer.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { syntheticDataset } from "../../datasets/synthetic.ts";
 * const dataset = syntheticDataset({ size: 16, count: 6, numClasses: 2 });
 * const model = createReferenceNet({ numClasses: 2, inputSize: 16, width: 0.125 });
 * const metrics = await validationMetrics(model, { dataset, indices: [0, 1, 2, 3, 4, 5], batchSize: 4 });
 * assert.deepStrictEqual(Object.keys(metrics), ["val_loss", "val_ce", "val_mask", "val_accuracy"]);
 * assert.ok(metrics.val_accuracy >= 0 && metrics.val_accuracy <= 1);
 * model.dispose();
 * ```
 */
export async function validationMetrics(
  model: TwoBranchModel,
  options: ValidationOptions,
): Promise<Record<string, number>> {
  return await validate(model, options, { training: false, epoch: 0, step: 0 });
}

async function validate(
  model: TwoBranchModel,
  options: ValidationOptions,
  context: LossContext,
): Promise<Record<string, number>> {
  const loss = options.loss ?? defaultLoss();
  const sums = new Map<string, number>();
  let count = 0, correct = 0;
  const stream = batches(options.dataset, options.indices, {
    batchSize: options.batchSize ?? 32,
    prefetch: options.prefetch ?? 2,
  });
  for await (const batch of stream) {
    try {
      const n = batch.labels.shape[0];
      let names: string[] = [];
      const packed = tf.tidy(() => {
        const r = loss(model, batch, context);
        names = ["loss", ...checkTermNames(Object.keys(r.terms))];
        const logits = r.logits ?? model.forward(batch.images, { training: false }).logits;
        const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), batch.labels), "float32"));
        return tf.stack([r.total, ...names.slice(1).map((k) => r.terms[k]), hits]);
      });
      let values: Float32Array | Int32Array | Uint8Array;
      try {
        values = await packed.data();
      } finally {
        packed.dispose();
      }
      names.forEach((name, i) => sums.set(name, (sums.get(name) ?? 0) + values[i] * n));
      correct += values[names.length];
      count += n;
    } finally {
      disposeBatch(batch);
    }
  }
  if (count === 0) throw new RangeError("Cannot evaluate: no samples");
  const out: Record<string, number> = {};
  for (const [name, sum] of sums) out[`val_${name}`] = sum / count;
  out.val_accuracy = correct / count;
  return out;
}

/**
 * Trains `model` on `options.dataset`: for each epoch, shuffled batches
 * (order and augmentation drawn from `seed` and the epoch), one optimiser
 * step each with the learning rate the schedule gives, then validation in
 * inference mode, early stopping, the checkpoints and a log line.
 *
 * - **Checkpoints.** After every epoch, `outDir/checkpoints/last/` (and
 *   `best/` when the metric improved) is written atomically: model weights,
 *   optimiser state (Adam's moments) and trainer state (epoch, step, best
 *   metric, patience counter, and the position of the two-branch
 *   classifier's dropout stream). With `resume: true`, a new call with a
 *   fresh model made from the same config continues from `last/` and
 *   reaches the weights an uninterrupted run reaches; another config, seed
 *   or training set is refused.
 * - **NaN guard.** A NaN or infinite loss term, total or gradient throws a
 *   {@linkcode NonFiniteLossError} that names the step and the term, before
 *   the update; so does a non-finite validation metric, before the epoch's
 *   checkpoint. Checkpoints keep the last good epoch.
 * - **Freezing.** The trainable variables are re-read every step, so
 *   {@linkcode setTrainable} in `onEpoch` takes effect at the next epoch.
 *   Trainable flags are not in checkpoints: set them again before resuming.
 *
 * The model keeps the last epoch's weights; load `checkpoints/best/` for the
 * best ones.
 *
 * @example Train for one epoch
 * ```ts
 * import assert from "node:assert";
 * import { train } from "./trainer.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { syntheticDataset } from "../../datasets/synthetic.ts";
 * const dataset = syntheticDataset({ size: 16, count: 8, numClasses: 2 });
 * const model = createReferenceNet({ numClasses: 2, inputSize: 16, width: 0.125 });
 * const result = await train(model, {
 *   dataset, trainIndices: [0, 1, 2, 3], valIndices: [4, 5, 6, 7],
 *   epochs: 1, batchSize: 4, progress: false,
 * });
 * assert.equal(result.steps, 1); // 4 training samples, batches of 4
 * assert.equal(result.history.length, 1); // one entry per epoch
 * assert.ok("val_accuracy" in result.history[0].metrics);
 * model.dispose();
 * ```
 */
export async function train(model: TwoBranchModel, options: TrainOptions): Promise<TrainResult> {
  const o = resolveOptions(options);
  const perEpoch = o.dropLast
    ? Math.floor(o.trainIndices.length / o.batchSize)
    : Math.ceil(o.trainIndices.length / o.batchSize);
  if (options.epochs === undefined && Number.isFinite(o.steps) && perEpoch > 0) {
    o.epochs = Math.ceil(o.steps / perEpoch);
  }
  if (perEpoch === 0) {
    throw new OptionError(
      `Cannot train: ${o.trainIndices.length} training samples make no full batch of ${o.batchSize}`,
      [{ option: "dropLast", value: false }, { option: "batchSize", change: "lower" }],
    );
  }
  const schedule: ScheduleOptions = {
    ...o.schedule,
    baseLr: o.optimizerOptions.lr ?? 1e-3,
    totalSteps: o.schedule.totalSteps ?? Math.min(o.epochs * perEpoch, o.steps),
  };
  learningRateAt(0, schedule); // Check the schedule's options before any work.
  const identity: RunIdentity = {
    seed: o.seed,
    batchSize: o.batchSize,
    dropLast: o.dropLast,
    trainSize: o.trainIndices.length,
    trainHash: (await sha256(new Uint8Array(Int32Array.from(o.trainIndices).buffer))).slice(0, 16),
    metric: o.metric,
  };
  const higherIsBetter = o.metric === "val_accuracy";
  // Checkpoints keep the dataset's class names where they fit the model.
  const names = o.dataset.classNames;
  const classNames = names.length === model.numClasses && names.every((n) => n !== "")
    ? names
    : undefined;
  const say = progressWriter(o.progress);

  const optimizer = createOptimizer(o.optimizerOptions);
  if (o.backboneLr !== 1) {
    const variables = model.variables();
    optimizer.setLrScale(
      selectVariables(model, "backbone").map((p) => variables.get(p)!),
      o.backboneLr,
    );
  }
  try {
    let state: TrainerState = { epoch: 0, step: 0, best: null, badEvaluations: 0, stopped: false };
    let resumedFrom: number | null = null;
    const dirs = o.outDir === null ? null : {
      last: `${o.outDir}/checkpoints/last`,
      best: `${o.outDir}/checkpoints/best`,
      log: `${o.outDir}/train_log.jsonl`,
    };
    if (dirs) {
      const last = await resolveDir(dirs.last);
      if (o.resume && last) {
        state = await restoreCheckpoint(last, model, optimizer, identity);
        resumedFrom = state.epoch;
        await truncateLog(dirs.log, state.epoch);
        say?.(`resuming after epoch ${state.epoch} (step ${state.step}) from ${last}\n`);
      } else {
        const leftovers = last !== null || (await resolveDir(dirs.log)) !== null;
        if (leftovers && !o.overwrite && !o.resume) {
          throw new OptionError(
            `Cannot start a run in "${o.outDir}": it already holds one (${last ?? dirs.log})`,
            [
              { option: "resume", value: true, effect: "to continue it" },
              { option: "overwrite", value: true, effect: "to replace it" },
              { option: "outDir", change: "another" },
            ],
          );
        }
        await Deno.remove(`${o.outDir}/checkpoints`, { recursive: true }).catch(() => {});
        await Deno.mkdir(o.outDir!, { recursive: true });
        await writeFileAtomic(dirs.log, "");
        const record = await collectRunInfo("train", runConfig(model, o, schedule), o.seed);
        await writeJsonAtomic(
          `${o.outDir}/run.json`,
          o.settings ? { ...record, settings: o.settings } : record,
        );
      }
    }
    // Said by the NaN guard.
    let lastGood = !dirs
      ? "No checkpoints are kept (no output folder was given)."
      : state.epoch > 0
      ? `The last good checkpoint, after epoch ${state.epoch}, is kept in ${dirs.last}.`
      : "No checkpoint was written yet.";

    const history: EpochRecord[] = [];
    const plans = new Map<string, StepPlan>();
    while (state.epoch < o.epochs && !state.stopped && state.step < o.steps) {
      const epoch = state.epoch + 1;
      const started = performance.now();
      const sums = new Map<string, number>();
      let steps = 0, lr = 0;
      const bar = o.progress === null
        ? null
        : new ProgressBar(Math.min(perEpoch, o.steps - state.step), {
          ...o.progress,
          label: `epoch ${epoch}/${o.epochs}`,
        });
      const stream = batches(o.dataset, o.trainIndices, {
        batchSize: o.batchSize,
        shuffle: true,
        rng: o.epochRandom?.(epoch) ?? epochRandom(o.seed, epoch),
        transform: o.transform,
        prefetch: o.prefetch,
        dropLast: o.dropLast,
      });
      for await (const batch of stream) {
        let values: Record<string, number> = {};
        try {
          lr = learningRateAt(state.step, schedule);
          setLearningRate(optimizer, lr);
          const context = { training: true, epoch, step: state.step + 1 };
          const key = batch.images.shape.join("x");
          let plan = plans.get(key);
          if (plan === undefined) {
            plan = await planStep(model, batch, { ...o.memory, loss: o.loss });
            plans.set(key, plan);
          }
          values = await trainOnBatch(model, batch, {
            optimizer,
            loss: o.loss,
            context,
            plan,
            lastGood,
          });
          for (const [name, v] of Object.entries(values)) sums.set(name, (sums.get(name) ?? 0) + v);
        } finally {
          disposeBatch(batch);
        }
        state.step += 1;
        steps += 1;
        bar?.tick(1, `${formatTerms(sums, steps)}  lr ${lr.toExponential(2)}`);
        await o.onStep?.({ epoch, step: state.step, lr, losses: values, ids: batch.ids });
        if (state.step >= o.steps) break;
      }
      bar?.done();

      const metrics: Record<string, number> = {};
      for (const [name, sum] of sums) metrics[`train_${name}`] = sum / steps;
      let improved = false;
      const validating = o.valIndices.length > 0 &&
        (epoch % o.evalEvery === 0 || epoch === o.epochs || state.step >= o.steps);
      if (validating) {
        Object.assign(
          metrics,
          await validate(model, {
            dataset: o.dataset,
            indices: o.valIndices,
            batchSize: o.valBatchSize,
            loss: o.loss,
            prefetch: o.prefetch,
          }, { training: false, epoch, step: state.step }),
        );
        for (const [name, v] of Object.entries(metrics)) {
          if (!Number.isFinite(v)) {
            throw new NonFiniteLossError(state.step, epoch, name, v, lastGood);
          }
        }
        const value = metrics[o.metric];
        const best = state.best?.value;
        improved = best === undefined ||
          (higherIsBetter ? value > best + o.minDelta : value < best - o.minDelta);
        if (improved) {
          state.best = { epoch, value };
          state.badEvaluations = 0;
        } else {
          state.badEvaluations += 1;
          if (state.badEvaluations >= o.patience) state.stopped = true;
        }
      }
      state.epoch = epoch;
      const record: EpochRecord = {
        epoch,
        step: state.step,
        lr,
        metrics,
        improved,
        seconds: 0,
      };

      if (dirs) {
        const files = await checkpointFiles(model, optimizer, state, identity, { classNames });
        record.seconds = (performance.now() - started) / 1000;
        // The log line first: a resume drops lines past its checkpoint.
        await Deno.writeTextFile(dirs.log, logLine(record) + "\n", { append: true });
        await writeDirAtomic(dirs.last, files);
        if (improved) await writeDirAtomic(dirs.best, files);
        lastGood = `The last good checkpoint, after epoch ${epoch}, is kept in ${dirs.last}.`;
      } else {
        record.seconds = (performance.now() - started) / 1000;
      }
      history.push(record);
      say?.(summary(record, o.epochs, o.metric, state.stopped));
      await o.onEpoch?.(record);
    }
    return {
      epochs: state.epoch,
      steps: state.step,
      history,
      best: state.best ? { metric: o.metric, ...state.best } : null,
      stoppedEarly: state.stopped,
      resumedFrom,
    };
  } finally {
    optimizer.dispose();
  }
}

/** The stream of epoch `epoch`'s order and augmentation: a function of (seed, epoch) only. */
function epochRandom(seed: number, epoch: number): Random {
  return new Random((Math.imul(seed | 0, 0x85ebca6b) ^ Math.imul(epoch, 0x9e3779b1)) | 0);
}

function disposeBatch(batch: DataBatch): void {
  tf.dispose([batch.images, batch.labels, batch.masks, batch.hasMask]);
  if (batch.ignoreMasks) batch.ignoreMasks.dispose();
}

function formatTerms(sums: Map<string, number>, steps: number): string {
  return [...sums].map(([k, v]) => `${k} ${(v / steps).toFixed(3)}`).join("  ");
}

function logLine(record: EpochRecord): string {
  const { epoch, step, lr, metrics, improved, seconds } = record;
  return JSON.stringify({ epoch, step, lr, ...metrics, improved, seconds: round(seconds, 3) });
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function summary(record: EpochRecord, epochs: number, metric: string, stopped: boolean): string {
  const parts = Object.entries(record.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`);
  const best = record.improved ? ` (best ${metric})` : "";
  const stop = stopped ? "; early stop" : "";
  return `epoch ${record.epoch}/${epochs}: ${parts.join(", ")}${best}, ${
    record.seconds.toFixed(1)
  } s${stop}\n`;
}

async function truncateLog(file: string, epochs: number): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    return;
  }
  const kept = text.split("\n").filter((line) => {
    if (!line.trim()) return false;
    try {
      return JSON.parse(line).epoch <= epochs;
    } catch {
      return false;
    }
  });
  await writeFileAtomic(file, kept.map((l) => l + "\n").join(""));
}

function progressWriter(progress: ProgressOptions | null): ((text: string) => void) | null {
  if (progress === null) return null;
  if (progress.write) return progress.write;
  const encoder = new TextEncoder();
  return (text) => Deno.stderr.writeSync(encoder.encode(text));
}

interface Resolved {
  dataset: Dataset;
  trainIndices: readonly number[];
  valIndices: readonly number[];
  epochs: number;
  steps: number;
  batchSize: number;
  valBatchSize: number;
  seed: number;
  epochRandom?: (epoch: number) => Random;
  optimizerOptions: OptimizerOptions;
  schedule: Omit<ScheduleOptions, "baseLr">;
  maskWeight: number;
  loss: LossFn;
  backboneLr: number;
  memory: StepMemoryOptions;
  lossName: string;
  transform?: SampleTransform;
  dropLast: boolean;
  prefetch: number;
  evalEvery: number;
  metric: MonitorMetric;
  patience: number;
  minDelta: number;
  outDir: string | null;
  resume: boolean;
  overwrite: boolean;
  settings?: Record<string, unknown>;
  onEpoch?: (record: EpochRecord) => void | Promise<void>;
  onStep?: (record: StepRecord) => void | Promise<void>;
  progress: ProgressOptions | null;
}

function resolveOptions(options: TrainOptions): Resolved {
  const integer = (field: string, value: number, min: number) => {
    if (!Number.isInteger(value) || value < min) {
      throw new RangeError(`Option "${field}" must be an integer of at least ${min}, got ${value}`);
    }
    return value;
  };
  if (!options.dataset) throw new TypeError(`Option "dataset" is required`);
  if (!Array.isArray(options.trainIndices) || options.trainIndices.length === 0) {
    throw new RangeError(`Option "trainIndices" must be a non-empty array of sample indices`);
  }
  const batchSize = integer("batchSize", options.batchSize ?? 32, 1);
  const maskWeight = options.maskWeight ?? 1;
  const metric = options.metric ?? "val_loss";
  if (metric !== "val_loss" && metric !== "val_accuracy") {
    throw new RangeError(
      `Option "metric" must be "val_loss" or "val_accuracy", got ${JSON.stringify(metric)}`,
    );
  }
  const patience = options.patience ?? Infinity;
  if (!(patience >= 1)) {
    throw new RangeError(`Option "patience" must be at least 1, got ${patience}`);
  }
  const valIndices = options.valIndices ?? [];
  if (patience !== Infinity && valIndices.length === 0) {
    throw new RangeError(`Option "patience" needs validation samples: "valIndices" is empty`);
  }
  const minDelta = options.minDelta ?? 0;
  if (!(minDelta >= 0)) {
    throw new RangeError(`Option "minDelta" must be at least 0, got ${minDelta}`);
  }
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) {
    throw new RangeError(`Option "seed" must be an integer, got ${seed}`);
  }
  if (options.resume && !options.outDir) {
    throw new RangeError(`Option "resume" needs "outDir", where the checkpoints are`);
  }
  return {
    dataset: options.dataset,
    trainIndices: options.trainIndices,
    valIndices,
    epochs: integer("epochs", options.epochs ?? 10, 1),
    steps: options.steps === undefined ? Infinity : integer("steps", options.steps, 1),
    batchSize,
    valBatchSize: integer("valBatchSize", options.valBatchSize ?? batchSize, 1),
    seed,
    epochRandom: options.epochRandom,
    optimizerOptions: options.optimizer ?? {},
    schedule: options.schedule ?? {},
    maskWeight,
    loss: options.loss ?? defaultLoss({ maskWeight }),
    backboneLr: (() => {
      const v = options.backboneLr ?? 1;
      if (!(Number.isFinite(v) && v >= 0)) {
        throw new RangeError(`Option "backboneLr" must be a finite number ≥ 0, got ${v}`);
      }
      return v;
    })(),
    memory: {
      microBatch: options.microBatch ?? "auto",
      checkpoint: options.checkpoint ?? "auto",
      memoryBudget: options.memoryBudget,
    },
    lossName: options.loss ? options.loss.name || "custom" : "default",
    transform: options.transform,
    dropLast: options.dropLast ?? true,
    prefetch: integer("prefetch", options.prefetch ?? 2, 0),
    evalEvery: integer("evalEvery", options.evalEvery ?? 1, 1),
    metric,
    patience,
    minDelta,
    outDir: options.outDir ? options.outDir.replace(/\/+$/, "") || "/" : null,
    resume: options.resume ?? false,
    overwrite: options.overwrite ?? false,
    settings: options.settings,
    onEpoch: options.onEpoch,
    onStep: options.onStep,
    progress: options.progress === false
      ? null
      : options.progress === true || options.progress === undefined
      ? {}
      : options.progress,
  };
}

/** The run's settings as JSON, for `run.json`. */
function runConfig(
  model: TwoBranchModel,
  o: Resolved,
  schedule: ScheduleOptions,
): Record<string, unknown> {
  return {
    model: model.config,
    parameters: model.countParams(),
    dataset: { name: o.dataset.name, size: o.dataset.size, classes: o.dataset.classNames },
    trainSize: o.trainIndices.length,
    valSize: o.valIndices.length,
    epochs: o.epochs,
    steps: Number.isFinite(o.steps) ? o.steps : null,
    batchSize: o.batchSize,
    valBatchSize: o.valBatchSize,
    seed: o.seed,
    optimizer: { ...resolveOptimizerOptions(o.optimizerOptions) },
    schedule,
    loss: o.lossName,
    maskWeight: o.lossName === "default" ? o.maskWeight : null,
    augmentation: o.transform ? o.transform.name || "custom" : null,
    dropLast: o.dropLast,
    backboneLr: o.backboneLr,
    microBatch: o.memory.microBatch,
    checkpoint: o.memory.checkpoint,
    evalEvery: o.evalEvery,
    metric: o.metric,
    patience: Number.isFinite(o.patience) ? o.patience : null,
    minDelta: o.minDelta,
  };
}
