/**
 * The shared core of every explainer, after pytorch-grad-cam's base class
 * and captum's common arguments: target and layer resolution, gradients at
 * the input or at a stage (by splitting the model there, since tfjs has no
 * hooks), batched scoring of perturbed inputs, and the post-processing every
 * map gets once (ReLU, bilinear upsampling to the input size, per-image
 * normalisation, averaging over layers, flip test-time smoothing).
 *
 * A method supplies only what is its own: a CAM method its channel weights
 * or its map ({@linkcode runCam}), any other method its raw map
 * ({@linkcode runExplainer}).
 *
 * Shapes: images `[n, h, w, c]` (the model's `inputShape`), maps `[n, h, w]`.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import type { ApplyOptions } from "../layers/module.ts";

/** Input gradients recompute each backbone block in the backward pass (and keep the images' gradient). */
const CHECKPOINT: ApplyOptions = { checkpoint: "input", frozenWeights: true };

/**
 * Which class to explain, per image: `"predicted"` (the arg-max of the
 * logits of the unperturbed image), one class for every image, or one class
 * per image (an array or an int32 `[n]` tensor, which the caller keeps).
 */
export type ClassTarget = "predicted" | number | readonly number[] | Int32Array | tf.Tensor1D;

/** Explain a softmax probability instead of a logit. */
export interface ProbabilityTarget {
  /** Score the softmax probability of the class. */
  probability: true;
  /** The class. @default {"predicted"} */
  class?: ClassTarget;
}

/**
 * A custom score: gets logits `[m, numClasses]` and, per row, the index of
 * the caller's image it came from (`images`, length `m`), and returns one
 * differentiable score per row, `[m]`. Perturbation methods call it on
 * batches of perturbed copies, so rows of one image can repeat and the order
 * is theirs; use `images` to find each row's image.
 */
export type TargetFunction = (logits: tf.Tensor2D, images: Int32Array) => tf.Tensor1D;

/** What to explain: a class target, a probability target or a score function. */
export type Target = ClassTarget | ProbabilityTarget | TargetFunction;

/** A backbone stage, by `featureInfo` name or index (negative counts from the end). */
export type LayerSpec = string | number;

/** Options every explainer takes. */
export interface ExplainOptions {
  /** What to explain. @default {"predicted"} */
  target?: Target;
  /**
   * Flip test-time smoothing: also explain the horizontally mirrored images
   * (with the class of the original image), mirror those maps back and
   * average them with the originals before normalisation. Doubles the work.
   *
   * @default {false}
   */
  flipTest?: boolean;
  /**
   * Divide each image's map by its maximum, so it lies in [0, 1] with its
   * peak at 1 (an all-zero map stays zero). With `false` the map is the
   * method's raw value after ReLU and upsampling; several layers are still
   * normalised one by one before they are averaged.
   *
   * @default {true}
   */
  normalize?: boolean;
}

/** The layer option of the CAM methods. */
export interface LayerOptions {
  /**
   * The stage(s) whose activations are explained, by name or `featureInfo`
   * index. With several, each stage's map is normalised and the maps are
   * averaged. The default is the last stage.
   *
   * @default {-1}
   */
  layer?: LayerSpec | readonly LayerSpec[];
}

/** Options of the CAM methods. */
export interface CamOptions extends ExplainOptions, LayerOptions {}

/** The batch option of methods that run many perturbed or interpolated inputs. */
export interface BatchOptions {
  /** How many inputs one forward (and backward) pass runs. @default {64} */
  batchSize?: number;
}

/**
 * A target resolved against a batch. Row `i` of the processed batch (which
 * holds mirrored copies under `flipTest`) came from the caller's image
 * `origin[i]`.
 */
export interface ResolvedTarget {
  /**
   * The class of each processed image, or `null`: each row's own arg-max. A
   * fixed `"predicted"` target keeps its classes on the engine, as an int32
   * tensor (see {@linkcode fixPredicted}), so that no explainer reads back;
   * so does a tensor `target` on `webgpu`, where its range goes unchecked.
   * Such a tensor belongs to the explainer, which disposes it.
   */
  readonly classes: Int32Array | tf.Tensor1D | null;
  /** Whether the score is a softmax probability. */
  readonly probability: boolean;
  /** A custom score function, or `null`. */
  readonly fn: TargetFunction | null;
  /** For each processed image, the caller's image it came from. */
  readonly origin: Int32Array;
}

/** An explainer: `(model, images, options)` → maps `[n, h, w]` the caller disposes. */
export type Explainer<O = ExplainOptions> = (
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options?: O,
) => tf.Tensor3D;

function iota(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

function shapeText(t: { shape: readonly number[] }): string {
  return `[${t.shape.join(", ")}]`;
}

/**
 * Checks that `images` is a float `[n, h, w, c]` batch of the model's input
 * shape, with `n >= 1`, and throws a `RangeError` that says what is wrong.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { checkImages } from "./core.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 8, width: 0.125 });
 * const bad = tf.zeros([1, 9, 9, 3]) as tf.Tensor4D;
 * assert.throws(() => checkImages(model, bad), {
 *   name: "RangeError",
 *   message: 'Expected images of shape [n, 8, 8, 3] for model "reference_net", got [1, 9, 9, 3]',
 * });
 * bad.dispose();
 * model.dispose();
 * ```
 */
export function checkImages(model: TwoBranchModel, images: tf.Tensor4D): void {
  const [h, w, c] = model.inputShape;
  const ok = images instanceof tf.Tensor && images.rank === 4 && images.shape[0] >= 1 &&
    images.shape[1] === h && images.shape[2] === w && images.shape[3] === c;
  if (!ok) {
    const got = images instanceof tf.Tensor ? shapeText(images) : typeof images;
    throw new RangeError(
      `Expected images of shape [n, ${h}, ${w}, ${c}] for model "${model.name}", got ${got}`,
    );
  }
  if (images.dtype !== "float32") {
    throw new TypeError(`Expected float32 images for model "${model.name}", got ${images.dtype}`);
  }
}

function classList(
  model: TwoBranchModel,
  n: number,
  spec: ClassTarget,
  field: string,
): Int32Array | tf.Tensor1D | null {
  if (spec === "predicted") return null;
  let values: ArrayLike<number>;
  if (typeof spec === "number") {
    values = new Array<number>(n).fill(spec);
  } else if (spec instanceof tf.Tensor) {
    if (spec.rank !== 1) {
      throw new RangeError(
        `Option "${field}" must be a class index per image, shape [${n}], got ${shapeText(spec)}`,
      );
    }
    if (tf.getBackend() === "webgpu") {
      // No synchronous read on WebGPU under Deno: the classes stay on the
      // engine (a copy the explainer disposes), checked for shape only.
      if (spec.shape[0] !== n) {
        throw new RangeError(
          `Option "${field}" gives ${spec.shape[0]} classes for ${n} images: give one per image`,
        );
      }
      return tf.cast(spec, "int32") as tf.Tensor1D;
    }
    values = spec.dataSync();
  } else if (Array.isArray(spec) || spec instanceof Int32Array) {
    values = spec as ArrayLike<number>;
  } else {
    throw new TypeError(
      `Option "${field}" must be "predicted", a class index, an array or tensor of class ` +
        `indices, { probability: true } or a function, got ${JSON.stringify(spec)}`,
    );
  }
  if (values.length !== n) {
    throw new RangeError(
      `Option "${field}" gives ${values.length} classes for ${n} images: give one per image`,
    );
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v >= model.numClasses) {
      throw new RangeError(
        `Option "${field}" has class ${v} for image ${i}: expected an integer from 0 to ${
          model.numClasses - 1
        }`,
      );
    }
    out[i] = v;
  }
  return out;
}

/**
 * Resolves the `target` option for a batch of `n` images. Class indices are
 * checked against `model.numClasses`; `"predicted"` stays unresolved
 * (`classes: null`) until {@linkcode fixPredicted} or the scored logits
 * decide it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { resolveTarget } from "./core.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * assert.deepStrictEqual(resolveTarget(model, 2, [2, 0]).classes, Int32Array.from([2, 0]));
 * assert.equal(resolveTarget(model, 2, { probability: true }).probability, true);
 * assert.equal(resolveTarget(model, 2).classes, null); // "predicted": decided later
 * assert.throws(() => resolveTarget(model, 2, [0, 3]), RangeError); // no class 3
 * model.dispose();
 * ```
 */
export function resolveTarget(
  model: TwoBranchModel,
  n: number,
  target: Target = "predicted",
): ResolvedTarget {
  const origin = iota(n);
  if (typeof target === "function") {
    return { classes: null, probability: false, fn: target, origin };
  }
  if (
    typeof target === "object" && target !== null && !(target instanceof tf.Tensor) &&
    !Array.isArray(target) && !(target instanceof Int32Array)
  ) {
    const t = target as ProbabilityTarget;
    if (t.probability !== true) {
      throw new TypeError(
        `Option "target" must be "predicted", a class index, an array or tensor of class ` +
          `indices, { probability: true } or a function, got ${JSON.stringify(target)}`,
      );
    }
    const classes = classList(model, n, t.class ?? "predicted", "target.class");
    return { classes, probability: true, fn: null, origin };
  }
  return { classes: classList(model, n, target, "target"), probability: false, fn: null, origin };
}

/**
 * Fixes a `"predicted"` target to the arg-max of `images`' logits (one
 * forward pass), so that perturbed or mirrored copies keep the class of the
 * image they came from. The classes stay on the engine as a new int32 tensor
 * that the caller disposes (nothing is read back, so it runs on WebGPU under
 * Deno, which has no synchronous read). Other targets are returned as they
 * are.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { fixPredicted, resolveTarget } from "./core.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const target = fixPredicted(model, images, resolveTarget(model, 2));
 * const classes = target.classes as tf.Tensor1D;
 * assert.deepStrictEqual(classes.shape, [2]);
 * assert.equal(classes.dtype, "int32");
 * // The arg-max of the logits
 * const predicted = tf.tidy(() => tf.argMax(model.forward(images).logits, 1));
 * assert.deepStrictEqual(classes.arraySync(), predicted.arraySync());
 * tf.dispose([images, classes, predicted]);
 * model.dispose();
 * ```
 */
export function fixPredicted(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  target: ResolvedTarget,
): ResolvedTarget {
  if (target.classes !== null || target.fn !== null) return target;
  const classes = tf.tidy(() => tf.cast(tf.argMax(logitsFrom(model, images, 0), 1), "int32"));
  return { ...target, classes: classes as tf.Tensor1D };
}

/**
 * The target's score for each row of `logits` `[m, numClasses]`; `images`
 * (length `m`) says which processed image each row came from. Returns `[m]`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { resolveTarget, targetScores } from "./core.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const logits = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
 * const s = targetScores(resolveTarget(model, 2, [0, 2]), logits, Int32Array.from([0, 1]));
 * assert.deepStrictEqual(Array.from(s.dataSync()), [1, 6]);
 * tf.dispose([logits, s]);
 * model.dispose();
 * ```
 */
export function targetScores(
  target: ResolvedTarget,
  logits: tf.Tensor2D,
  images: Int32Array,
): tf.Tensor1D {
  const m = logits.shape[0];
  if (images.length !== m) {
    throw new RangeError(`Expected one image index per row of logits (${m}), got ${images.length}`);
  }
  if (target.fn) {
    const fn = target.fn;
    const out = tf.tidy(() => fn(logits, Int32Array.from(images, (i) => target.origin[i])));
    if (!(out instanceof tf.Tensor) || out.rank !== 1 || out.shape[0] !== m) {
      const got = out instanceof tf.Tensor ? shapeText(out) : typeof out;
      throw new TypeError(
        `The target function must return one score per row of logits, shape [${m}], got ${got}`,
      );
    }
    return out;
  }
  return tf.tidy(() => {
    const scores = target.probability ? tf.softmax(logits) : logits;
    const fixed = target.classes;
    const classes = fixed === null
      ? tf.argMax(logits, 1)
      : fixed instanceof tf.Tensor
      ? tf.gather(fixed, tf.tensor1d(images, "int32"))
      : tf.tensor1d(Int32Array.from(images, (i) => fixed[i]), "int32");
    const pick = tf.cast(tf.oneHot(classes, logits.shape[1]), "float32");
    return tf.sum(tf.mul(scores, pick), 1) as tf.Tensor1D;
  });
}

/** The spatial size of stage `info` at the model's input size. */
function stageSize(model: TwoBranchModel, index: number): [number, number] {
  const r = model.featureInfo[index].reduction;
  const [h, w] = model.inputShape;
  return [Math.ceil(h / r), Math.ceil(w / r)];
}

function describeStage(model: TwoBranchModel, index: number): string {
  const info = model.featureInfo[index];
  const [h, w] = stageSize(model, index);
  return `"${info.name}" (index ${index}, ${info.channels} channels, ${h}×${w})`;
}

function spatialChoices(model: TwoBranchModel): string {
  const choices = model.featureInfo.map((_, i) => i).filter((i) => {
    const [h, w] = stageSize(model, i);
    return h * w > 1;
  });
  return choices.length === 0
    ? `model "${model.name}" has no spatial stage at input ${
      model.inputShape.slice(0, 2).join("×")
    }`
    : `valid choices are ${choices.map((i) => describeStage(model, i)).join(", ")}`;
}

/**
 * Resolves the `layer` option to stage indices, sorted and unique. A stage
 * is named by its `featureInfo` name or index (negative counts from the
 * end); the default is the last stage. An unknown layer, or one whose output
 * is 1×1 at the model's input size, throws a `RangeError` that lists the
 * valid choices with their channels and sizes.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { resolveLayers } from "./core.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * assert.deepStrictEqual(resolveLayers(model), [2]);
 * assert.deepStrictEqual(resolveLayers(model, ["block1", 0]), [0, 1]);
 * assert.throws(() => resolveLayers(model, "layer4"), {
 *   name: "RangeError",
 *   message: /^Unknown layer "layer4" .* valid choices are "stem" \(index 0, 4 channels, 16×16\)/,
 * });
 * model.dispose();
 * ```
 */
export function resolveLayers(
  model: TwoBranchModel,
  layer?: LayerSpec | readonly LayerSpec[],
): number[] {
  const count = model.featureInfo.length;
  const specs: readonly LayerSpec[] = layer === undefined
    ? [count - 1]
    : Array.isArray(layer)
    ? layer
    : [layer as LayerSpec];
  if (specs.length === 0) {
    throw new RangeError(`Option "layer" is an empty list: ${spatialChoices(model)}`);
  }
  const out = new Set<number>();
  for (const spec of specs) {
    let index = -1;
    if (typeof spec === "string") {
      index = model.featureInfo.findIndex((s) => s.name === spec);
    } else if (Number.isInteger(spec) && spec >= -count && spec < count) {
      index = spec < 0 ? count + spec : spec;
    }
    if (index < 0) {
      throw new RangeError(
        `Unknown layer ${JSON.stringify(spec)} for model "${model.name}" (a stage name or ` +
          `featureInfo index from ${-count} to ${count - 1}): ${spatialChoices(model)}`,
      );
    }
    const [h, w] = stageSize(model, index);
    if (h * w <= 1) {
      throw new RangeError(
        `Layer ${JSON.stringify(spec)} of model "${model.name}" is not spatial: stage "${
          model.featureInfo[index].name
        }" is 1×1 at input ${model.inputShape.slice(0, 2).join("×")}, so it cannot localise; ${
          spatialChoices(model)
        }`,
      );
    }
    out.add(index);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Runs the model from the input of stage `from` to the logits: `x` is the
 * images when `from` is 0, stage `from - 1`'s output otherwise, and the last
 * stage's output when `from` is the number of stages (head only). Inference
 * mode. The caller disposes the result.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { logitsFrom } from "./core.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const x = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
 * const logits = logitsFrom(model, x, 0);
 * assert.deepStrictEqual(logits.shape, [2, 3]);
 * // From stage 0: the whole model's logits
 * const direct = tf.tidy(() => model.forward(x).logits);
 * assert.ok(tf.sub(logits, direct).abs().max().dataSync()[0] < 1e-5);
 * tf.dispose([x, logits, direct]);
 * model.dispose();
 * ```
 */
export function logitsFrom(
  model: TwoBranchModel,
  x: tf.Tensor4D,
  from: number,
  options: ApplyOptions = {},
): tf.Tensor2D {
  return tf.tidy(() => {
    const count = model.featureInfo.length;
    const top = from < count ? model.forwardStages(x, { ...options, from }).at(-1)! : x;
    return model.forwardHead(top);
  });
}

/**
 * The gradient of the target score with respect to the input: one forward
 * and one backward pass. `images` gives each row's processed image (default:
 * row `i` is image `i`). Returns `[m, h, w, c]`; the caller disposes it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { inputGradients, resolveTarget } from "./core.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const x = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const g = inputGradients(model, x, resolveTarget(model, 2, [1, 2]));
 * assert.deepStrictEqual(g.shape, [2, 8, 8, 3]);
 * tf.dispose([x, g]);
 * model.dispose();
 * ```
 */
export function inputGradients(
  model: TwoBranchModel,
  x: tf.Tensor4D,
  target: ResolvedTarget,
  images: Int32Array = iota(x.shape[0]),
): tf.Tensor4D {
  return tf.tidy(() =>
    safeGrads(
      (input) =>
        tf.sum(
          // Each block recomputed in the backward pass: about one activation per block kept.
          targetScores(target, logitsFrom(model, input as tf.Tensor4D, 0, CHECKPOINT), images),
        ),
      [x],
    )[0] as tf.Tensor4D
  );
}

/**
 * `tf.grads(score)(xs)`, but an error in `score` (a model that rejects its
 * input, a target function that returns the wrong shape) is thrown only
 * after tfjs has finished the backward pass: tfjs keeps the tensors it
 * saved for the backward pass of a failed forward pass alive forever.
 */
function safeGrads(score: (...xs: tf.Tensor[]) => tf.Scalar, xs: tf.Tensor[]): tf.Tensor[] {
  let failure: { error: unknown } | null = null;
  const guarded = (...inputs: tf.Tensor[]): tf.Scalar => {
    try {
      return score(...inputs);
    } catch (error) {
      failure ??= { error };
      return tf.mul(tf.sum(inputs[0]), 0);
    }
  };
  const grads = tf.grads(guarded)(xs);
  if (failure !== null) {
    tf.dispose(grads.filter((g) => g instanceof tf.Tensor));
    throw (failure as { error: unknown }).error;
  }
  return grads;
}

/**
 * The activations of stages `layers` (sorted, unique) and the gradients of
 * the target score with respect to them, in one forward pass to the first
 * layer, one forward pass on from there and one backward pass. The caller
 * disposes every tensor (or runs this in `tf.tidy`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { layerGradients, resolveTarget } from "./core.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * tf.tidy(() => {
 *   const x = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 *   const { activations, gradients } = layerGradients(model, x, [1, 2], resolveTarget(model, 2));
 *   assert.deepStrictEqual(activations[0].shape, [2, 4, 4, 8]);
 *   assert.deepStrictEqual(gradients[1].shape, [2, 2, 2, 16]);
 * });
 * model.dispose();
 * ```
 */
export function layerGradients(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  layers: readonly number[],
  target: ResolvedTarget,
): { activations: tf.Tensor4D[]; gradients: tf.Tensor4D[] } {
  const first = layers[0], lastLayer = layers[layers.length - 1];
  const count = model.featureInfo.length;
  const stages = model.forwardStages(images, { to: lastLayer });
  const activations = layers.map((l) => stages[l]);
  const rows = iota(images.shape[0]);
  // Stages after the first layer run again under the gradient; a zero
  // tensor added at each later layer makes its gradient one of the outputs.
  const score = (...xs: tf.Tensor[]) => {
    let h = xs[0] as tf.Tensor4D;
    let k = 1;
    for (let s = first + 1; s < count; s++) {
      h = model.forwardStages(h, { from: s, to: s })[0];
      if (k < layers.length && layers[k] === s) h = tf.add(h, xs[k++]);
    }
    return tf.sum(targetScores(target, model.forwardHead(h), rows)) as tf.Scalar;
  };
  const inputs = [activations[0], ...activations.slice(1).map((a) => tf.zerosLike(a))];
  const gradients = safeGrads(score, inputs) as tf.Tensor4D[];
  return { activations, gradients };
}

/** What {@linkcode perturbationScores} perturbs and how. */
export interface PerturbationSpec {
  /** The input of stage `from`, one row per processed image: images when `from` is 0. */
  base: tf.Tensor4D;
  /** The stage whose input `base` is; the number of stages means the head. */
  from: number;
  /** Perturbations per image. */
  count: number;
  /** Perturbed inputs per forward pass. */
  batchSize: number;
  /**
   * Perturbs `rows` (copies of `base`): row `r` is image `images[r]` under
   * perturbation `indices[r]`. Runs inside `tf.tidy`.
   */
  perturb(rows: tf.Tensor4D, images: Int32Array, indices: Int32Array): tf.Tensor4D;
}

/**
 * Scores `count` perturbations of every image under `target` (which should
 * have fixed classes, {@linkcode fixPredicted}), `batchSize` perturbed inputs
 * per forward pass. Returns `[count, n]`; the caller disposes it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { perturbationScores, resolveTarget } from "./core.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const x = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const s = perturbationScores(model, resolveTarget(model, 2, [0, 1]), {
 *   base: x,
 *   from: 0,
 *   count: 3,
 *   batchSize: 4,
 *   perturb: (rows, _images, indices) =>
 *     tf.mul(rows, tf.tensor1d(Float32Array.from(indices, (j) => j / 2)).reshape([-1, 1, 1, 1])),
 * });
 * assert.deepStrictEqual(s.shape, [3, 2]); // [count, n]
 * // Perturbation 2 scales by 1: row 2 holds the clean scores of classes 0 and 1
 * const logits = tf.tidy(() => model.forward(x).logits).arraySync();
 * const clean = [logits[0][0], logits[1][1]];
 * s.arraySync()[2].forEach((v, i) => assert.ok(Math.abs(v - clean[i]) < 1e-5));
 * tf.dispose([x, s]);
 * model.dispose();
 * ```
 */
export function perturbationScores(
  model: TwoBranchModel,
  target: ResolvedTarget,
  spec: PerturbationSpec,
): tf.Tensor2D {
  const n = spec.base.shape[0], total = spec.count * n;
  checkBatchSize(spec.batchSize);
  const parts: tf.Tensor1D[] = [];
  try {
    for (let t0 = 0; t0 < total; t0 += spec.batchSize) {
      const m = Math.min(spec.batchSize, total - t0);
      const images = Int32Array.from({ length: m }, (_, r) => (t0 + r) % n);
      const indices = Int32Array.from({ length: m }, (_, r) => Math.floor((t0 + r) / n));
      parts.push(tf.tidy(() => {
        const rows = m === n && t0 % n === 0
          ? spec.base
          : tf.gather(spec.base, tf.tensor1d(images, "int32"));
        const x = spec.perturb(rows, images, indices);
        return targetScores(target, logitsFrom(model, x, spec.from), images);
      }));
    }
    return tf.tidy(() => tf.reshape(tf.concat(parts), [spec.count, n]) as tf.Tensor2D);
  } finally {
    tf.dispose(parts);
  }
}

/**
 * Throws a `RangeError` unless `batchSize` is a positive integer.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { checkBatchSize } from "./core.ts";
 * checkBatchSize(32);
 * assert.throws(() => checkBatchSize(0), RangeError);
 * assert.throws(() => checkBatchSize(2.5), RangeError);
 * ```
 */
export function checkBatchSize(batchSize: number): void {
  checkInteger("batchSize", batchSize, { positive: true });
}

/**
 * Throws a `RangeError` naming option `name` unless `value` is an integer,
 * and, with `positive`, at least 1.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { checkInteger } from "./core.ts";
 * checkInteger("seed", -3);
 * assert.throws(() => checkInteger("seed", 0.5), /Option "seed" must be an integer, got 0.5/);
 * assert.throws(
 *   () => checkInteger("steps", 0, { positive: true }),
 *   /Option "steps" must be a positive integer, got 0/,
 * );
 * ```
 */
export function checkInteger(
  name: string,
  value: number,
  options: {
    /** Whether the value must be at least 1. @default {false} */
    positive?: boolean;
  } = {},
): void {
  const positive = options.positive ?? false;
  if (!Number.isInteger(value) || (positive && value < 1)) {
    throw new RangeError(
      `Option "${name}" must be ${positive ? "a positive" : "an"} integer, got ${value}`,
    );
  }
}

/**
 * The `seed` (default 0) and `batchSize` (default 64) of a method that
 * samples its inputs, checked: the seed an integer, the batch size positive.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { samplingOptions } from "./core.ts";
 * assert.deepStrictEqual(samplingOptions({ seed: 3 }), { seed: 3, batchSize: 64 });
 * assert.throws(() => samplingOptions({ seed: 0.5 }), RangeError);
 * ```
 */
export function samplingOptions(
  options: { seed?: number; batchSize?: number },
): { seed: number; batchSize: number } {
  const seed = options.seed ?? 0, batchSize = options.batchSize ?? 64;
  checkInteger("seed", seed);
  checkBatchSize(batchSize);
  return { seed, batchSize };
}

/**
 * Sums `rows` `[m, …]` into `n` groups by `images` (length `m`): `[n, …]`.
 * A one-hot matrix product, so it runs as one matrix multiply.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { sumByImage } from "./core.ts";
 * import { tf } from "../deps.ts";
 * const rows = tf.tensor2d([[1, 1], [2, 2], [3, 3]]);
 * const s = sumByImage(rows, Int32Array.from([0, 1, 0]), 2);
 * assert.deepStrictEqual(s.arraySync(), [[4, 4], [2, 2]]);
 * tf.dispose([rows, s]);
 * ```
 */
export function sumByImage<T extends tf.Tensor>(rows: T, images: Int32Array, n: number): T {
  return tf.tidy(() => {
    const m = rows.shape[0];
    const assign = new Float32Array(n * m);
    images.forEach((i, r) => assign[i * m + r] = 1);
    const flat = tf.reshape(rows, [m, -1]) as tf.Tensor2D;
    const summed = tf.matMul(tf.tensor2d(assign, [n, m]), flat);
    return tf.reshape(summed, [n, ...rows.shape.slice(1)]) as T;
  });
}

/**
 * Resizes maps `[n, h', w']` to `size` bilinearly (half-pixel centres, as
 * OpenCV's `resize` in pytorch-grad-cam). Same-size maps are returned
 * unchanged (not copied).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { upsampleMaps } from "./core.ts";
 * import { tf } from "../deps.ts";
 * const m = tf.ones([2, 4, 4]) as tf.Tensor3D;
 * const up = upsampleMaps(m, [16, 16]);
 * assert.deepStrictEqual(up.shape, [2, 16, 16]);
 * assert.equal(up.min().dataSync()[0], 1); // a constant map stays constant
 * assert.equal(upsampleMaps(m, [4, 4]), m); // same size: the same tensor
 * tf.dispose([m, up]);
 * ```
 */
export function upsampleMaps(maps: tf.Tensor3D, size: readonly [number, number]): tf.Tensor3D {
  if (maps.shape[1] === size[0] && maps.shape[2] === size[1]) return maps;
  return tf.tidy(() =>
    tf.squeeze(
      tf.image.resizeBilinear(
        tf.expandDims(maps, 3) as tf.Tensor4D,
        [size[0], size[1]],
        false,
        true,
      ),
      [3],
    ) as tf.Tensor3D
  );
}

/**
 * Divides each map of `[n, h, w]` by its maximum, so that non-negative maps
 * lie in [0, 1] with the peak at 1; an all-zero map stays zero.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { normalizeMaps } from "./core.ts";
 * import { tf } from "../deps.ts";
 * const m = tf.tensor3d([[[0, 2], [1, 4]], [[0, 0], [0, 0]]]);
 * const n = normalizeMaps(m);
 * assert.deepStrictEqual(n.arraySync(), [[[0, 0.5], [0.25, 1]], [[0, 0], [0, 0]]]);
 * tf.dispose([m, n]);
 * ```
 */
export function normalizeMaps(maps: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => tf.divNoNan(maps, tf.max(maps, [1, 2], true)) as tf.Tensor3D);
}

/** What a method's compute function gets from {@linkcode runExplainer}. */
export interface ExplainerRun {
  /** The processed batch: the images, then their mirrored copies under `flipTest`. */
  images: tf.Tensor4D;
  /** The target, resolved for the processed batch. */
  target: ResolvedTarget;
  /**
   * Turns a tensor with one row per caller image (`[n, h, w, …]`) into one
   * row per processed image (mirrored along the width under `flipTest`).
   */
  expand<T extends tf.Tensor>(t: T): T;
}

/** How {@linkcode runExplainer} treats a method. */
export interface RunSettings {
  /** Fix a `"predicted"` target from the unperturbed images first. @default {false} */
  fixClasses?: boolean;
  /** The method ignores the target (Eigen-CAM, the saliency branch). @default {true} */
  usesTarget?: boolean;
}

function checkFlag(options: Record<string, unknown>, name: string): boolean {
  const v = options[name];
  if (v === undefined) return false;
  if (typeof v !== "boolean") throw new TypeError(`Option "${name}" must be a boolean, got ${v}`);
  return v;
}

/**
 * {@linkcode runExplainer} for a method whose raw map reduces the input
 * gradients of the target score: `reduce(gradients, images)`, with
 * `gradients` `[n, h, w, c]` from {@linkcode inputGradients} (taken inside
 * `method.around`, when given, to swap in other gradient kernels). The
 * caller disposes the result, `[n, h, w]`.
 *
 * @example The magnitude of the gradient, largest over channels
 * ```ts
 * import assert from "node:assert";
 * import { runGradientExplainer } from "./core.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const maps = runGradientExplainer(model, images, {}, {
 *   reduce: (g) => tf.max(tf.abs(g), 3),
 * });
 * assert.deepStrictEqual(maps.shape, [2, 8, 8]);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function runGradientExplainer(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: ExplainOptions,
  method: {
    /** The raw maps from the gradients and the images they were taken at. */
    reduce: (gradients: tf.Tensor4D, images: tf.Tensor4D) => tf.Tensor3D;
    /** Runs the gradient computation `fn` (for example with other gradient kernels). */
    around?: (fn: () => tf.Tensor4D) => tf.Tensor4D;
  },
): tf.Tensor3D {
  const around = method.around ?? ((fn) => fn());
  return runExplainer(
    model,
    images,
    options,
    ({ images, target }) =>
      method.reduce(around(() => inputGradients(model, images, target)), images),
  );
}

/**
 * Runs a method's `compute` on a batch and post-processes its raw maps once:
 * checks the images, resolves the target, adds mirrored copies under
 * `flipTest`, then for each map (several for several layers) applies ReLU,
 * upsamples to the input size and, for more than one, normalises each and
 * averages them; mirrored maps are flipped back and averaged; finally each
 * image's map is divided by its maximum (`normalize`). Everything runs in
 * `tf.tidy`; the caller disposes the result, `[n, h, w]`.
 *
 * @example A raw map: the image's mean over channels
 * ```ts
 * import assert from "node:assert";
 * import { runExplainer } from "./core.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const maps = runExplainer(model, images, {}, ({ images }) => tf.mean(images, 3) as tf.Tensor3D);
 * assert.deepStrictEqual(maps.shape, [2, 8, 8]);
 * assert.deepStrictEqual(Array.from(maps.max([1, 2]).dataSync()), [1, 1]); // each peak at 1
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function runExplainer(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: ExplainOptions,
  compute: (run: ExplainerRun) => tf.Tensor3D | tf.Tensor3D[],
  settings: RunSettings = {},
): tf.Tensor3D {
  checkImages(model, images);
  const opts = options as Record<string, unknown>;
  const flip = checkFlag(opts, "flipTest");
  const normalize = opts.normalize === undefined ? true : checkFlag(opts, "normalize");
  const usesTarget = settings.usesTarget ?? true;
  const n = images.shape[0];
  let target = resolveTarget(model, n, usesTarget ? options.target : "predicted");
  if (usesTarget && (settings.fixClasses || flip)) target = fixPredicted(model, images, target);
  // Classes that fixPredicted put on the engine, disposed at the end.
  let owned = target.classes instanceof tf.Tensor ? target.classes : null;
  if (flip) {
    const twice = (a: Int32Array) => Int32Array.from([...a, ...a]);
    let classes = target.classes;
    if (owned) {
      classes = owned = tf.tidy(() => tf.concat([owned!, owned!])) as tf.Tensor1D;
      (target.classes as tf.Tensor).dispose();
    } else if (classes) {
      classes = twice(classes as Int32Array);
    }
    target = { ...target, classes, origin: twice(target.origin) };
  }
  try {
    return mapsOf(model, images, target, compute, { flip, normalize });
  } finally {
    owned?.dispose();
  }
}

function mapsOf(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  target: ResolvedTarget,
  compute: (run: ExplainerRun) => tf.Tensor3D | tf.Tensor3D[],
  { flip, normalize }: { flip: boolean; normalize: boolean },
): tf.Tensor3D {
  const n = images.shape[0];
  const [h, w] = model.inputShape;
  return tf.tidy(() => {
    const expand = <T extends tf.Tensor>(t: T): T =>
      flip ? tf.concat([t, tf.reverse(t, 2)]) as T : t;
    const batch = expand(images);
    const raw = compute({ images: batch, target, expand });
    const list = Array.isArray(raw) ? raw : [raw];
    for (const m of list) {
      if (m.rank !== 3 || m.shape[0] !== batch.shape[0]) {
        throw new RangeError(
          `An explainer returned maps of shape ${shapeText(m)} for ${batch.shape[0]} images`,
        );
      }
    }
    const maps = list.map((m) => upsampleMaps(tf.relu(m), [h, w]));
    let map = maps.length === 1 ? maps[0] : tf.mean(tf.stack(maps.map(normalizeMaps)), 0);
    if (flip) {
      const mirrored = tf.reverse(tf.slice(map, [n, 0, 0], [n, h, w]), 2);
      map = tf.div(tf.add(tf.slice(map, [0, 0, 0], [n, h, w]), mirrored), 2);
    }
    return (normalize ? normalizeMaps(map as tf.Tensor3D) : map) as tf.Tensor3D;
  });
}

/** What a CAM method gets for one layer. */
export interface CamContext {
  /** The model. */
  model: TwoBranchModel;
  /** The processed batch `[n, h, w, c]`. */
  images: tf.Tensor4D;
  /** The stage index. */
  layer: number;
  /** The stage's activations `[n, h', w', k]`. */
  activations: tf.Tensor4D;
  /** The target score's gradient at the stage, or `null` when the method needs none. */
  gradients: tf.Tensor4D | null;
  /** The target, resolved for the processed batch. */
  target: ResolvedTarget;
}

/**
 * A CAM method: how to weight the channels of a stage's activations
 * (`weights`, `[n, k]`; the core forms `Σ_k w_k A_k`) or, for methods that
 * do not weight channels, the whole map (`map`, `[n, h', w']`).
 */
export interface CamMethod {
  /** Whether the method needs the gradients at the layer. */
  gradients: boolean;
  /** Whether "predicted" must be fixed from the clean images first. @default {false} */
  fixClasses?: boolean;
  /** Whether the method uses the target. @default {true} */
  usesTarget?: boolean;
  /** Channel weights `[n, k]`. */
  weights?(ctx: CamContext): tf.Tensor2D;
  /** The method's own map `[n, h', w']`. */
  map?(ctx: CamContext): tf.Tensor3D;
}

/**
 * Runs a CAM method: resolves the layers (failing with the valid choices),
 * takes the activations (and gradients, in one backward pass for every
 * layer), asks the method for channel weights or a map per layer, and lets
 * {@linkcode runExplainer} do the rest.
 *
 * @example Grad-CAM in four lines
 * ```ts
 * import assert from "node:assert";
 * import { runCam } from "./core.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const maps = runCam(model, images, { layer: "block1" }, {
 *   gradients: true,
 *   weights: ({ gradients }) => tf.mean(gradients!, [1, 2]) as tf.Tensor2D,
 * });
 * assert.deepStrictEqual(maps.shape, [2, 8, 8]); // "block1" is 4 × 4, upsampled to the input
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function runCam(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: CamOptions,
  method: CamMethod,
): tf.Tensor3D {
  const layers = resolveLayers(model, options.layer);
  return runExplainer(model, images, options, ({ images, target }) => {
    let activations: tf.Tensor4D[], gradients: (tf.Tensor4D | null)[];
    if (method.gradients) {
      ({ activations, gradients } = layerGradients(model, images, layers, target));
    } else {
      const stages = model.forwardStages(images, { to: layers[layers.length - 1] });
      activations = layers.map((l) => stages[l]);
      gradients = layers.map(() => null);
    }
    return layers.map((layer, k) => {
      const a = activations[k];
      if (a.rank !== 4 || a.shape[1] * a.shape[2] <= 1) {
        throw new RangeError(
          `Layer "${model.featureInfo[layer].name}" of model "${model.name}" is not spatial: ` +
            `its output is ${shapeText(a)}; ${spatialChoices(model)}`,
        );
      }
      const ctx: CamContext = {
        model,
        images,
        layer,
        activations: a,
        gradients: gradients[k],
        target,
      };
      if (method.map) return method.map(ctx);
      const w = method.weights!(ctx);
      return tf.sum(tf.mul(a, tf.reshape(w, [a.shape[0], 1, 1, a.shape[3]])), 3) as tf.Tensor3D;
    });
  }, { fixClasses: method.fixClasses, usesTarget: method.usesTarget });
}

const explainers = new Map<string, Explainer<never>>();

/**
 * Registers `fn` under `name` for {@linkcode explain} and `listExplainers`.
 * Each method file calls it at its bottom. Registering a taken name
 * throws.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { getExplainer, registerExplainer, runExplainer } from "./core.ts";
 * import type { Explainer, ExplainOptions } from "./core.ts";
 * import { tf } from "../deps.ts";
 * const brightness: Explainer = (model, images, options: ExplainOptions = {}) =>
 *   runExplainer(model, images, options, ({ images }) => tf.mean(images, 3) as tf.Tensor3D);
 * registerExplainer("brightness", brightness);
 * assert.equal(getExplainer("brightness"), brightness);
 * assert.throws(() => registerExplainer("brightness", brightness), TypeError); // the name is taken
 * ```
 */
export function registerExplainer<O>(name: string, fn: Explainer<O>): void {
  if (explainers.has(name)) {
    throw new TypeError(`Cannot register explainer "${name}": the name is taken; choose another`);
  }
  explainers.set(name, fn as Explainer<never>);
}

/**
 * The explainer registered under `name`, or `undefined`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { getExplainer } from "./core.ts";
 * assert.equal(getExplainer("no-such-method"), undefined);
 * ```
 */
export function getExplainer(name: string): Explainer<Record<string, unknown>> | undefined {
  return explainers.get(name) as Explainer<Record<string, unknown>> | undefined;
}

/**
 * The registered explainer names, sorted.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { registeredExplainers } from "./core.ts";
 * import "./grad_cam.ts"; // each method file registers itself
 * const names = registeredExplainers();
 * assert.ok(names.includes("grad-cam"));
 * assert.deepStrictEqual(names, [...names].sort());
 * ```
 */
export function registeredExplainers(): string[] {
  return [...explainers.keys()].sort();
}
