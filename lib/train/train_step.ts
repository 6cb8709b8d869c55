/**
 * The one optimisation step, which {@linkcode createTrainStep}, the trainer
 * and every study run: losses as functions of a model and a batch,
 * gradient checkpointing and micro-batches planned from a memory budget, a
 * guard against non-finite values, one asynchronous read per step.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { defaultMemoryBudget, withMemoryHint } from "../backend/memory.ts";
import { crossEntropyLoss } from "../losses/classification.ts";
import { bceSaliencyLoss } from "../losses/mask.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { checkTermNames } from "./_terms.ts";
import type { DataBatch } from "../data/batches.ts";

/** A training batch. The step never disposes it. */
export interface Batch {
  /** Images `[n, h, w, c]` in [0, 1]. */
  images: tf.Tensor4D;
  /** Class indices `[n]`. */
  labels: tf.Tensor1D;
  /** Masks `[n, h, w]` in [0, 1]; absent when no sample is annotated. */
  masks?: tf.Tensor3D;
  /** 1 where a sample has a mask, 0 where not, `[n]`; absent means all annotated. */
  hasMask?: tf.Tensor1D;
  /** "Must not matter" masks `[n, h, w]`, where the data has them. */
  ignoreMasks?: tf.Tensor3D;
  /** The sample ids, in batch order. @default {none} */
  ids?: string[];
}

/**
 * The loss terms of one step, read back from the engine: `loss`, the total
 * that was minimised, and each named term (the default loss's are `ce`, the
 * classifier's cross-entropy, and `mask`, the saliency branch's BCE).
 */
export interface StepLosses {
  /** The total that was minimised. */
  loss: number;
  /** Each term by name. */
  [term: string]: number;
}

/** Where a loss is being computed. */
export interface LossContext {
  /** Training (true: batch statistics, dropout) or validation (false: inference mode). */
  training: boolean;
  /** The epoch, counting from 1. */
  epoch: number;
  /** In training, the number of this step, counting from 1; in validation, the steps done. */
  step: number;
  /**
   * Gradient checkpointing for the model's forward pass: pass it on as the
   * model's `checkpoint` option. @default {false}
   */
  checkpoint?: boolean;
}

/** The loss of one batch. Tensors are made inside the step's scopes; it disposes them. */
export interface LossResult {
  /** The scalar that is minimised: a mean over the batch's samples. */
  total: tf.Scalar;
  /** Named parts, logged separately (`ce`, `mask`); `loss` and `accuracy` are reserved. */
  terms: Record<string, tf.Scalar>;
  /** Logits `[n, numClasses]`, if computed: validation uses them for accuracy instead of another forward pass. */
  logits?: tf.Tensor2D;
}

/**
 * A loss: runs the model on a batch and scores it. The batch always has
 * `masks` and `hasMask` (zeros where a {@linkcode Batch} had no masks). Called inside
 * `tf.variableGrads` in training, so gradients flow through everything it
 * computes; pass `{ training: context.training, checkpoint:
 * context.checkpoint }` to the model.
 */
export type LossFn = (model: TwoBranchModel, batch: DataBatch, context: LossContext) => LossResult;

/** Options of {@linkcode defaultLoss}. */
export interface DefaultLossOptions {
  /** Weight of the mask BCE term; 0 trains the classifier alone. @default {1} */
  maskWeight?: number;
}

/**
 * The default loss: `ce + maskWeight · mask`, where `ce` is the
 * cross-entropy of the classifier and `mask` the BCE of the saliency map
 * against the masks, averaged over the samples that have one (0 for a batch
 * without masks).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { defaultLoss } from "./train_step.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125 });
 * const loss = defaultLoss({ maskWeight: 0.5 });
 * tf.tidy(() => {
 *   const batch = {
 *     images: tf.zeros([2, 8, 8, 3]) as tf.Tensor4D, labels: tf.tensor1d([0, 1], "int32"),
 *     masks: tf.zeros([2, 8, 8]) as tf.Tensor3D, hasMask: tf.tensor1d([1, 0]), ids: ["a", "b"],
 *   };
 *   const r = loss(model, batch, { training: false, epoch: 1, step: 0 });
 *   assert.deepStrictEqual(Object.keys(r.terms), ["ce", "mask"]);
 *   const expected = tf.add(r.terms.ce, tf.mul(r.terms.mask, 0.5));
 *   assert.ok(Math.abs(r.total.dataSync()[0] - expected.dataSync()[0]) < 1e-6);
 * });
 * model.dispose();
 * ```
 */
export function defaultLoss(options: DefaultLossOptions = {}): LossFn {
  const maskWeight = options.maskWeight ?? 1;
  if (!(maskWeight >= 0)) {
    throw new RangeError(`Option "maskWeight" must be at least 0, got ${maskWeight}`);
  }
  return (model, batch, context) => {
    const out = model.forward(batch.images, {
      training: context.training,
      checkpoint: context.checkpoint,
    });
    const ce = crossEntropyLoss(out.logits, batch.labels);
    const useMask = maskWeight > 0 && batch.masks !== undefined;
    const mask = useMask
      ? bceSaliencyLoss(out.saliencyLogits, batch.masks!, { weights: batch.hasMask })
      : tf.scalar(0);
    const total = useMask ? tf.add(ce, tf.mul(mask, maskWeight)) as tf.Scalar : ce;
    return { total, terms: { ce, mask }, logits: out.logits };
  };
}

/**
 * Thrown when a loss term, the total or a gradient is NaN or infinite. No
 * update is applied and no checkpoint written, so the last checkpoint is the
 * last good state.
 */
export class NonFiniteLossError extends Error {
  /** The step, counting from 1. */
  readonly step: number;
  /** The epoch, counting from 1. */
  readonly epoch: number;
  /**
   * The loss term (`loss` for the total), `gradient of "<variable path>"`,
   * or a validation metric (`val_loss`) after the epoch, before its checkpoint.
   */
  readonly term: string;
  /** The value (NaN, Infinity or -Infinity). */
  readonly value: number;

  /** Creates the error; `checkpoint` describes the last good checkpoint, if any. */
  constructor(step: number, epoch: number, term: string, value: number, checkpoint: string) {
    super(
      `Training stopped at step ${step} (epoch ${epoch}): ${
        term.startsWith("gradient")
          ? term
          : term.startsWith("val_")
          ? `validation metric "${term}"`
          : `loss term "${term}"`
      } is ${value}; ${
        term.startsWith("val_") ? "the epoch's checkpoint was not written" : "no update was applied"
      }. ${checkpoint}`.trimEnd(),
    );
    this.name = "NonFiniteLossError";
    this.step = step;
    this.epoch = epoch;
    this.term = term;
    this.value = value;
  }
}

/** How a step spends memory: options of {@linkcode createTrainStep} and `train()`. */
export interface StepMemoryOptions {
  /**
   * Samples per micro-batch: a batch is split into micro-batches whose
   * gradients are accumulated (each weighted by its share of the samples)
   * before one update, so the loss and gradients equal the whole batch's,
   * except that batch norm normalises each micro-batch by its own statistics
   * and updates its running statistics once per micro-batch, and a term
   * averaged over a subset (the mask term over annotated samples) is
   * weighted by the micro-batch's share of all samples. `"auto"` keeps the
   * whole batch when it fits `memoryBudget`, and otherwise measures the
   * first step's memory per sample (a side-effect-free probe on two
   * samples) and takes the largest micro-batch that fits.
   *
   * @default {"auto"}
   */
  microBatch?: number | "auto";
  /**
   * Gradient checkpointing (the model's `checkpoint` option): each
   * backbone block keeps only its input and is run again in the backward
   * pass, which cuts a step's activation memory several times for about one
   * more forward pass. `"auto"` turns it on when the batch would not fit
   * `memoryBudget` without it.
   *
   * @default {"auto"}
   */
  checkpoint?: boolean | "auto";
  /**
   * Tensor bytes a step may hold at its peak, for the `"auto"` choices.
   *
   * @default {defaultMemoryBudget(): 2.5 GiB on wasm and cpu, unlimited elsewhere}
   */
  memoryBudget?: number;
}

/** Options of {@linkcode createTrainStep}. */
export interface TrainStepOptions extends StepMemoryOptions {
  /** Weight of the mask BCE term of the default loss; ignored with `loss`. @default {1} */
  maskWeight?: number;
  /** The loss. @default {defaultLoss({ maskWeight })} */
  loss?: LossFn;
}

/** How a step runs a batch: chosen once per batch shape by {@linkcode planStep}. */
export interface StepPlan {
  /** Samples per micro-batch (the batch size when it is not split). */
  microBatch: number;
  /** Whether blocks are recomputed in the backward pass. */
  checkpoint: boolean;
  /**
   * Peak tensor bytes of a step per sample, measured by the probe where one
   * ran (the difference between a micro-batch of two samples and one).
   */
  bytesPerSample: Partial<Record<"plain" | "checkpoint", number>>;
  /** Peak tensor bytes of a step that do not grow with the samples (weight gradients, say). */
  fixedBytes?: Partial<Record<"plain" | "checkpoint", number>>;
}

/** Options of {@linkcode trainOnBatch}. */
export interface TrainOnBatchOptions {
  /** The optimiser that applies the gradients. */
  optimizer: tf.Optimizer;
  /** The loss. */
  loss: LossFn;
  /** The epoch and step, for the loss and for error messages. */
  context: LossContext;
  /** Micro-batches and checkpointing ({@linkcode planStep}). */
  plan: StepPlan;
  /** Said by a {@linkcode NonFiniteLossError}: where the last good checkpoint is. @default {""} */
  lastGood?: string;
}

/**
 * A training step: runs `loss` on each micro-batch of `batch` inside
 * `tf.variableGrads`, accumulates the gradients weighted by each
 * micro-batch's share of the samples, checks every term and gradient for
 * NaN and infinity (throwing {@linkcode NonFiniteLossError} before any
 * update), and applies them with `optimizer`. It reads back once,
 * asynchronously (WebGPU under Deno has no synchronous read), and resolves
 * to `loss` and every term, averaged over the samples. Every tensor it made
 * is disposed by then. Running out of memory becomes an
 * `EngineOutOfMemoryError` that names the model, batch and flags to change.
 *
 * @example Two micro-batches give the whole batch's update (no batch norm)
 * ```ts
 * import assert from "node:assert";
 * import { defaultLoss, trainOnBatch } from "./train_step.ts";
 * import { createTwoBranchModel } from "../models/two_branch.ts";
 * import { tf } from "../deps.ts";
 * const make = () =>
 *   createTwoBranchModel({ backbone: "plain_cnn", backboneOptions: { width: 0.125 }, numClasses: 2, inputSize: 8 });
 * const [a, b] = [make(), make()];
 * const batch = {
 *   images: tf.randomUniform([4, 8, 8, 3], 0, 1, "float32", 1) as tf.Tensor4D,
 *   labels: tf.tensor1d([0, 1, 1, 0], "int32"),
 *   ids: ["0", "1", "2", "3"],
 * };
 * const context = { training: false, epoch: 1, step: 1 };
 * const plan = (microBatch: number) => ({ microBatch, checkpoint: false, bytesPerSample: {} });
 * const loss = defaultLoss();
 * const whole = await trainOnBatch(a, batch, { optimizer: tf.train.sgd(0.1), loss, context, plan: plan(4) });
 * const split = await trainOnBatch(b, batch, { optimizer: tf.train.sgd(0.1), loss, context, plan: plan(2) });
 * assert.ok(Math.abs(whole.loss - split.loss) < 1e-5);
 * const wa = [...a.variables().values()], wb = [...b.variables().values()];
 * wa.forEach((v, i) => assert.ok(tf.max(tf.abs(tf.sub(v, wb[i]))).dataSync()[0] < 1e-5));
 * tf.dispose([batch.images, batch.labels]);
 * a.dispose();
 * b.dispose();
 * ```
 */
export async function trainOnBatch(
  model: TwoBranchModel,
  batch: Batch,
  options: TrainOnBatchOptions,
): Promise<StepLosses> {
  const { optimizer } = options;
  const variables = model.trainableVariables();
  if (variables.length === 0) {
    throw new RangeError(`Cannot train "${model.name}": every variable is frozen`);
  }
  const n = batch.labels.shape[0];
  const { plan, context } = options;
  const m = Math.max(1, Math.min(n, plan.microBatch));
  const hint = memoryHint(n, plan);
  let names: string[] = [];
  let sums: tf.Tensor | null = null;
  let grads: Map<string, tf.Tensor> = new Map();
  try {
    await withMemoryHint(`training ${describe(model, n)}`, hint, () => {
      for (let start = 0; start < n; start += m) {
        const size = Math.min(m, n - start);
        const part = sliceBatch(batch, start, size);
        try {
          const share = size / n;
          let terms: tf.Tensor | null = null;
          const r = tf.variableGrads(() => {
            const res = options.loss(model, part, { ...context, checkpoint: plan.checkpoint });
            const keys = checkTermNames(Object.keys(res.terms));
            if (start === 0) names = keys;
            else if (keys.join() !== names.join()) {
              throw new TypeError(
                `The loss gave terms ${keys.join(", ")} on one micro-batch and ${
                  names.join(", ")
                } on another: it must give the same terms for every batch`,
              );
            }
            terms = tf.keep(tf.mul(tf.stack([res.total, ...keys.map((k) => res.terms[k])]), share));
            return share === 1 ? res.total : tf.mul(res.total, share) as tf.Scalar;
          }, variables);
          r.value.dispose();
          const next = sums === null ? terms! : tf.add(sums, terms!);
          if (sums !== null) tf.dispose([sums, terms!]);
          sums = next;
          for (const [name, g] of Object.entries(r.grads)) {
            if (g === null || g === undefined) continue;
            const prev = grads.get(name);
            if (prev === undefined) grads.set(name, g);
            else {
              grads.set(name, tf.add(prev, g));
              tf.dispose([prev, g]);
            }
          }
        } finally {
          disposeSlice(part, batch);
        }
      }
    });
    // Σ 0·g is 0 unless some element of some gradient is NaN or infinite.
    const list = [...grads.values()];
    const packed = tf.tidy(() =>
      tf.concat([
        sums!.reshape([-1]),
        tf.addN([tf.scalar(0), ...list.map((g) => tf.sum(tf.mul(g, 0)))]).reshape([1]),
      ])
    );
    let values: Float32Array | Int32Array | Uint8Array;
    try {
      values = await packed.data();
    } finally {
      packed.dispose();
    }
    const out: StepLosses = { loss: values[0] };
    names.forEach((name, i) => (out[name] = values[i + 1]));
    const lastGood = options.lastGood ?? "";
    // Terms first, so the message names the term that went bad rather than the total.
    for (const name of [...names, "loss"]) {
      if (!Number.isFinite(out[name])) {
        throw new NonFiniteLossError(context.step, context.epoch, name, out[name], lastGood);
      }
    }
    if (!Number.isFinite(values[names.length + 1])) {
      const pathOf = new Map([...model.variables()].map(([p, v]) => [v.name, p]));
      for (const [name, g] of grads) {
        const bad = tf.tidy(() => tf.sum(tf.mul(g, 0)));
        const v = (await bad.data())[0];
        bad.dispose();
        if (!Number.isFinite(v)) {
          throw new NonFiniteLossError(
            context.step,
            context.epoch,
            `gradient of "${pathOf.get(name) ?? name}"`,
            v,
            lastGood,
          );
        }
      }
    }
    optimizer.applyGradients(Object.fromEntries(grads));
    return out;
  } finally {
    tf.dispose([...grads.values()]);
    grads = new Map();
    if (sums) (sums as tf.Tensor).dispose();
  }
}

/**
 * Chooses how a step runs `batch` within `options.memoryBudget`: the whole
 * batch when it fits, else with gradient checkpointing, else in
 * micro-batches. Explicit `microBatch` and `checkpoint` values are kept as
 * given. Where an `"auto"` choice needs it, a probe runs `loss` on one and
 * on two samples under `tf.profile` and measures the peak tensor bytes per
 * sample and the fixed part;
 * it restores every non-trainable variable (batch norm's running
 * statistics) and the dropout counter, so the run that follows is the same
 * as without the probe.
 *
 * @example A small batch fits without a probe
 * ```ts
 * import assert from "node:assert";
 * import { defaultLoss, planStep } from "./train_step.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125 });
 * const batch = { images: tf.zeros([4, 8, 8, 3]) as tf.Tensor4D, labels: tf.tensor1d([0, 1, 0, 1], "int32") };
 * const plan = await planStep(model, batch, { loss: defaultLoss(), memoryBudget: 2 ** 30 });
 * assert.deepStrictEqual([plan.microBatch, plan.checkpoint], [4, false]);
 * assert.ok(plan.bytesPerSample.plain! > 0);
 * tf.dispose([batch.images, batch.labels]);
 * model.dispose();
 * ```
 */
export async function planStep(
  model: TwoBranchModel,
  batch: Batch,
  options: StepMemoryOptions & { loss: LossFn },
): Promise<StepPlan> {
  const n = batch.labels.shape[0];
  const microBatch = options.microBatch ?? "auto";
  const checkpoint = options.checkpoint ?? "auto";
  const budget = options.memoryBudget ?? defaultMemoryBudget();
  if (microBatch !== "auto" && !(Number.isInteger(microBatch) && microBatch >= 1)) {
    throw new RangeError(
      `Option "microBatch" must be a positive integer or "auto", got ${JSON.stringify(microBatch)}`,
    );
  }
  if (checkpoint !== "auto" && typeof checkpoint !== "boolean") {
    throw new RangeError(
      `Option "checkpoint" must be true, false or "auto", got ${JSON.stringify(checkpoint)}`,
    );
  }
  if (!(budget > 0)) {
    throw new RangeError(`Option "memoryBudget" must be a positive number of bytes, got ${budget}`);
  }
  const bytesPerSample: StepPlan["bytesPerSample"] = {};
  if (microBatch !== "auto" && checkpoint !== "auto") {
    return { microBatch, checkpoint, bytesPerSample };
  }
  if (budget === Infinity) {
    return {
      microBatch: microBatch === "auto" ? n : microBatch,
      checkpoint: checkpoint === true,
      bytesPerSample,
    };
  }
  const fixedBytes: NonNullable<StepPlan["fixedBytes"]> = {};
  const measure = async (ck: boolean) => {
    const key = ck ? "checkpoint" : "plain";
    if (bytesPerSample[key] === undefined) {
      const probe = await probeStepBytes(model, batch, options.loss, ck);
      bytesPerSample[key] = probe.perSample;
      fixedBytes[key] = probe.fixed;
    }
    return { per: bytesPerSample[key]!, fixed: fixedBytes[key]! };
  };
  // Accumulating micro-batches holds one more copy of the weight gradients.
  const gradientBytes = 4 * model.countParams();
  const fits = async (ck: boolean, m: number) => {
    const { per, fixed } = await measure(ck);
    return fixed + per * m + (m < n ? gradientBytes : 0) <= budget;
  };
  const done = (m: number, ck: boolean): StepPlan => ({
    microBatch: m,
    checkpoint: ck,
    bytesPerSample,
    fixedBytes,
  });
  if (microBatch !== "auto") {
    // checkpoint is "auto": on when a micro-batch would not fit without it.
    return done(microBatch, !(await fits(false, Math.min(n, microBatch))));
  }
  const candidates = checkpoint === "auto" ? [false, true] : [checkpoint];
  for (const ck of candidates) {
    if (await fits(ck, n)) return done(n, ck);
  }
  const ck = candidates[candidates.length - 1];
  const { per, fixed } = await measure(ck);
  const m = Math.floor((budget - fixed - gradientBytes) / per);
  return done(Math.max(1, Math.min(n - 1, m)), ck);
}

/**
 * Makes a function that runs one step of `optimizer` on a batch
 * ({@linkcode trainOnBatch}) with `options.loss` (by default
 * `cross-entropy + maskWeight · bceSaliencyLoss`), planning micro-batches and
 * checkpointing once per batch shape ({@linkcode planStep}). It resolves to
 * the loss terms; every tensor it makes is disposed by then.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createTrainStep } from "./train_step.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125 });
 * const step = createTrainStep(model, tf.train.adam(1e-3));
 * const images = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
 * const labels = tf.tensor1d([0, 1], "int32");
 * const masks = tf.zeros([2, 8, 8]) as tf.Tensor3D;
 * const losses = await step({ images, labels, masks });
 * assert.ok(losses.loss > 0 && Math.abs(losses.loss - losses.ce - losses.mask) < 1e-5);
 * tf.dispose([images, labels, masks]);
 * model.dispose();
 * ```
 */
export function createTrainStep(
  model: TwoBranchModel,
  optimizer: tf.Optimizer,
  options: TrainStepOptions = {},
): (batch: Batch) => Promise<StepLosses> {
  const loss = options.loss ?? defaultLoss({ maskWeight: options.maskWeight });
  const plans = new Map<string, StepPlan>();
  let steps = 0;
  return async (batch: Batch): Promise<StepLosses> => {
    const key = batch.images.shape.join("x");
    let plan = plans.get(key);
    if (plan === undefined) {
      plan = await planStep(model, batch, { ...options, loss });
      plans.set(key, plan);
    }
    steps += 1;
    return await trainOnBatch(model, batch, {
      optimizer,
      loss,
      plan,
      context: { training: true, epoch: 1, step: steps },
    });
  };
}

/**
 * Peak tensor bytes of one step's gradient computation, split into a part
 * per sample and a fixed part from micro-batches of one and two samples
 * (two of one where the batch has a single sample).
 */
async function probeStepBytes(
  model: TwoBranchModel,
  batch: Batch,
  loss: LossFn,
  checkpoint: boolean,
): Promise<{ perSample: number; fixed: number }> {
  const peak = async (k: number) => {
    const part = sliceBatch(batch, 0, k);
    try {
      const base = tf.memory().numBytes;
      const info = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(
          () => loss(model, part, { training: true, epoch: 1, step: 1, checkpoint }).total,
          model.trainableVariables(),
        );
        tf.dispose([value, ...Object.values(grads)]);
      });
      return info.peakBytes - base;
    } finally {
      disposeSlice(part, batch);
    }
  };
  const state = [...model.variables().values()].filter((v) => !v.trainable)
    .map((v) => [v, tf.clone(v)] as const);
  const counter = dropoutCounter(model);
  const saved = counter?.dropoutStep;
  try {
    const one = await peak(1);
    if (batch.labels.shape[0] < 2) return { perSample: Math.max(1, one), fixed: 0 };
    const two = await peak(2);
    const perSample = Math.max(1, two - one);
    return { perSample, fixed: Math.max(0, one - perSample) };
  } finally {
    for (const [v, copy] of state) v.assign(copy);
    tf.dispose(state.map(([, copy]) => copy));
    if (counter && saved !== undefined) counter.dropoutStep = saved;
  }
}

/** The classifier's dropout counter, where the model has one. */
function dropoutCounter(model: TwoBranchModel): { dropoutStep: number } | null {
  const head = (model as unknown as { classifier?: { dropoutStep?: unknown } }).classifier;
  return head && typeof head.dropoutStep === "number" ? head as { dropoutStep: number } : null;
}

function describe(model: TwoBranchModel, n: number): string {
  const [h, w] = model.inputShape;
  return `${model.name} (${modelLabel(model)}) on a batch of ${n} at ${h}×${w}`;
}

function modelLabel(model: TwoBranchModel): string {
  const c = model.config as Record<string, unknown>;
  return typeof c.backbone === "string" ? c.backbone : String(c.architecture);
}

function memoryHint(n: number, plan: StepPlan): string {
  const smaller = Math.max(1, Math.floor(Math.min(n, plan.microBatch) / 2));
  return `pass a smaller --micro-batch (${smaller}; now ${
    Math.min(n, plan.microBatch)
  }) or --batch, or a smaller --size, and restart: the engine cannot continue after this`;
}

/**
 * Rows `start` to `start + size` of `batch` as a {@linkcode DataBatch}:
 * the batch's own tensors where that is all of it, slices otherwise, and
 * zero masks for a batch without (release with {@linkcode disposeSlice}).
 */
function sliceBatch(batch: Batch, start: number, size: number): DataBatch {
  const n = batch.labels.shape[0];
  const rows = <T extends tf.Tensor>(t: T): T => {
    if (start === 0 && size === n) return t;
    const begin = t.shape.map((_, i) => (i === 0 ? start : 0));
    const shape = t.shape.map((d, i) => (i === 0 ? size : d));
    return tf.slice(t, begin, shape) as T;
  };
  const [, h, w] = batch.images.shape;
  const out: DataBatch = {
    images: rows(batch.images),
    labels: rows(batch.labels),
    masks: batch.masks ? rows(batch.masks) : tf.zeros([size, h, w]) as tf.Tensor3D,
    hasMask: batch.hasMask
      ? rows(batch.hasMask)
      : batch.masks
      ? tf.ones([size]) as tf.Tensor1D
      : tf.zeros([size]) as tf.Tensor1D,
    ids: batch.ids?.slice(start, start + size) ?? [],
  };
  if (batch.ignoreMasks) out.ignoreMasks = rows(batch.ignoreMasks);
  return out;
}

function disposeSlice(part: DataBatch, whole: Batch): void {
  for (const key of ["images", "labels", "masks", "hasMask", "ignoreMasks"] as const) {
    const t = part[key];
    if (t && t !== whole[key]) t.dispose();
  }
}
