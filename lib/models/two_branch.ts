/**
 * Two-branch models built from parts chosen by name: any registered
 * backbone, the classification head, and any registered saliency head.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { createBackbone } from "../backbones/mod.ts";
import type { Backbone, BackboneOptions, StageOptions } from "../backbones/mod.ts";
import { ClassificationHead, createSaliencyHead } from "../heads/mod.ts";
import type { SaliencyHead, SaliencyHeadOptions } from "../heads/mod.ts";
import type { ApplyOptions } from "../layers/module.ts";
import { Module } from "../layers/module.ts";
import { Random } from "../util/random.ts";
import { registerArchitecture } from "./registry.ts";
import { assertImageShape } from "./image_shape.ts";
import type {
  ForwardOptions,
  ModelConfig,
  StageInfo,
  TwoBranchModel,
  TwoBranchOutput,
} from "./types.ts";

/** The backbone options a two-branch model passes on (it sets `inputChannels` and `seed` itself). */
export type TwoBranchBackboneOptions = Omit<BackboneOptions, "inputChannels" | "seed">;

/** The saliency head options a two-branch model passes on (it sets the rest itself). */
export type TwoBranchHeadOptions = Omit<SaliencyHeadOptions, "featureInfo" | "numClasses" | "seed">;

/** The classification head options a two-branch model passes on ({@linkcode ClassificationHeadArgs}). */
export interface TwoBranchClassifierOptions {
  /** Widths of hidden dense layers, each followed by a ReLU. @default {[]} */
  hidden?: readonly number[];
  /** The grid side the features are average-pooled to before the dense layers. @default {1} */
  pooledSize?: number;
}

/**
 * Per-channel normalisation of the images inside a model: `(x − mean) /
 * std`. `"imagenet"` is mean `[0.485, 0.456, 0.406]` and std `[0.229,
 * 0.224, 0.225]`, what torchvision's and timm's ImageNet weights expect.
 */
export type InputNorm = "imagenet" | { mean: readonly number[]; std: readonly number[] };

/** Options of {@linkcode createTwoBranchModel}. */
export interface TwoBranchOptions {
  /** A registered backbone (`listBackbones()`), e.g. `"resnet18"`. */
  backbone: string;
  /** The backbone's own options (`width`, `stem`). @default {{}} */
  backboneOptions?: TwoBranchBackboneOptions;
  /** A registered saliency head (`listSaliencyHeads()`). @default {"cam"} */
  saliencyHead?: string;
  /** The saliency head's own options (`channels`, `skips`, `gate`). @default {{}} */
  headOptions?: TwoBranchHeadOptions;
  /** Number of classes, at least 2. */
  numClasses: number;
  /**
   * Input height and width (one number for square inputs, or
   * `[height, width]`); multiples of the backbone's last reduction.
   */
  inputSize: number | readonly [number, number];
  /** Input channels: 1 or 3. @default {3} */
  inputChannels?: 1 | 3;
  /**
   * Dropout rate in the classifier, in [0, 1): on the input of its output
   * layer (and of its hidden layers after the first, with
   * `classifierOptions.hidden`).
   *
   * @default {0}
   */
  dropout?: number;
  /** Seed of every weight initialisation and of the dropout masks. @default {0} */
  seed?: number;
  /**
   * The classification head's hidden dense layers and pooled grid. The
   * default is global average pooling and one dense layer (torchvision's
   * ResNet and, with `dropout: 0.2`, MobileNetV2); torchvision's VGG is
   * `{ hidden: [4096, 4096], pooledSize: 7 }` with `dropout: 0.5`.
   *
   * @default {{}}
   */
  classifierOptions?: TwoBranchClassifierOptions;
  /**
   * Normalisation of the images inside the model, at the start of
   * {@linkcode TwoBranchModel.forward} and of
   * {@linkcode TwoBranchModel.forwardStages} from stage 0, so that images
   * stay in [0, 1] for datasets, explainers and metrics while the network
   * sees what pretrained weights expect. Its mean and std have one entry
   * per input channel.
   *
   * @default {none (the identity)}
   */
  inputNorm?: InputNorm;
}

/** The config of a two-branch model: its options with every default filled in. */
export interface TwoBranchConfig extends ModelConfig {
  /** Always `"two-branch"`. */
  architecture: "two-branch";
  /** The backbone's name. */
  backbone: string;
  /** The backbone's options, defaults filled in. */
  backboneOptions: TwoBranchBackboneOptions;
  /** The saliency head's name. */
  saliencyHead: string;
  /** The saliency head's options, defaults filled in. */
  headOptions: TwoBranchHeadOptions;
  /** Number of classes. */
  numClasses: number;
  /** Input size, as given. */
  inputSize: number | readonly [number, number];
  /** Input channels. */
  inputChannels: 1 | 3;
  /** Dropout rate. */
  dropout: number;
  /** Seed. */
  seed: number;
  /** The classifier's options, defaults filled in; absent when both are defaults. */
  classifierOptions?: Required<TwoBranchClassifierOptions>;
  /** The input normalisation as given; absent when there is none. */
  inputNorm?: InputNorm;
}

/**
 * A two-branch model whose parts can be reached, for freezing stages
 * (`backbone.stageVariables(k)`) or moving a backbone's weights to a new
 * model. Variable paths are `two_branch/<backbone>/<stage>/…`,
 * `two_branch/classifier/…` and `two_branch/saliency/…`.
 */
export interface TwoBranchNet extends TwoBranchModel {
  /** The resolved options. */
  readonly config: TwoBranchConfig;
  /** The backbone. */
  readonly backbone: Backbone;
  /** The classification head. */
  readonly classifier: ClassificationHead;
  /** The saliency head. */
  readonly saliencyHead: SaliencyHead;
}

const OPTION_KEYS = [
  "backbone",
  "backboneOptions",
  "saliencyHead",
  "headOptions",
  "numClasses",
  "inputSize",
  "inputChannels",
  "dropout",
  "seed",
  "classifierOptions",
  "inputNorm",
];

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;

class TwoBranch extends Module implements TwoBranchNet {
  readonly config: TwoBranchConfig;
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly featureInfo: readonly StageInfo[];
  readonly backbone: Backbone;
  readonly classifier: ClassificationHead;
  readonly saliencyHead: SaliencyHead;
  readonly #norm: { mean: readonly number[]; std: readonly number[] } | null;

  constructor(
    config: TwoBranchConfig,
    size: readonly [number, number],
    parts: { backbone: Backbone; classifier: ClassificationHead; saliencyHead: SaliencyHead },
  ) {
    super("two_branch");
    this.config = config;
    this.#norm = config.inputNorm === "imagenet" ? IMAGENET : config.inputNorm ?? null;
    this.inputShape = Object.freeze([size[0], size[1], config.inputChannels] as const);
    this.numClasses = config.numClasses;
    this.backbone = this.addChild(parts.backbone);
    this.classifier = this.addChild(parts.classifier);
    this.saliencyHead = this.addChild(parts.saliencyHead);
    this.featureInfo = this.backbone.featureInfo;
  }

  forwardStages(x: tf.Tensor4D, options: StageOptions = {}): tf.Tensor4D[] {
    if ((options.from ?? 0) !== 0 || !this.#norm) return this.backbone.forwardStages(x, options);
    return tf.tidy(() => this.backbone.forwardStages(this.#normalize(x), options));
  }

  /** `(x − mean) / std` per channel; `x` itself when there is no normalisation or it does not fit. */
  #normalize(x: tf.Tensor4D): tf.Tensor4D {
    const norm = this.#norm;
    if (!norm || x.rank !== 4 || x.shape[3] !== norm.mean.length) return x;
    return tf.tidy(() =>
      tf.div(tf.sub(x, tf.tensor1d([...norm.mean])), tf.tensor1d([...norm.std])) as tf.Tensor4D
    );
  }

  forwardHead(features: tf.Tensor4D, options: ApplyOptions = {}): tf.Tensor2D {
    const channels = this.featureInfo[this.featureInfo.length - 1].channels;
    if (features.rank !== 4 || features.shape[3] !== channels) {
      throw new RangeError(
        `${this.name} expects the last stage's output as [n, h, w, ${channels}], got [${
          features.shape.join(", ")
        }]`,
      );
    }
    return tf.tidy(() => {
      const gated = this.saliencyHead.gate(features, options);
      return this.classifier.apply(gated ?? features, options);
    });
  }

  forwardSaliency(stages: tf.Tensor4D[], options: ApplyOptions = {}): tf.Tensor3D {
    return this.saliencyHead.apply(stages, [this.inputShape[0], this.inputShape[1]], options);
  }

  forward(images: tf.Tensor4D, options: ForwardOptions = {}): TwoBranchOutput {
    assertImageShape(this.name, this.inputShape, images);
    const [h, w] = this.inputShape;
    return tf.tidy(() => {
      const stages = this.backbone.forwardStages(this.#normalize(images), options);
      const { saliencyLogits, gated } = this.saliencyHead.applyAndGate(stages, [h, w], options);
      const features = gated ?? stages[stages.length - 1];
      const logits = this.classifier.apply(features, options);
      const saliency = tf.sigmoid(saliencyLogits) as tf.Tensor3D;
      if (!options.classEvidence) return { logits, saliencyLogits, saliency };
      return { logits, saliencyLogits, saliency, evidence: this.classifier.evidence(features) };
    }) as TwoBranchOutput;
  }
}

/**
 * Builds a two-branch model: the backbone `options.backbone`, a
 * classification head (global average pooling, dropout, dense; or
 * torchvision VGG's pooled grid and hidden layers, `classifierOptions`) on
 * its last stage, and the saliency head `options.saliencyHead` on all its
 * stages. With `inputNorm` the model normalises the images itself.
 * With the `attention` head the classifier sees the gated features, in
 * {@linkcode TwoBranchModel.forwardHead} as in `forward`, so a split run
 * (`forwardStages(x, { to: k })`, `forwardStages(a, { from: k + 1 })`,
 * `forwardHead(last)`) gives `forward`'s logits.
 *
 * `config` holds every option resolved (JSON), and `createModel(config)`
 * builds the same architecture with the same initial weights;
 * `classifierOptions` and `inputNorm` appear in it only when they change
 * something, so configs saved before they existed read the same. Bad names
 * fail with the registered choices. The caller disposes the model.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createTwoBranchModel } from "./two_branch.ts";
 * import { tf } from "../deps.ts";
 * const model = createTwoBranchModel({
 *   backbone: "resnet18",
 *   backboneOptions: { width: 0.125 },
 *   saliencyHead: "attention",
 *   headOptions: { gate: "multiplicative" },
 *   numClasses: 3,
 *   inputSize: 32,
 * });
 * const { logits, saliency, saliencyLogits } = model.forward(tf.zeros([2, 32, 32, 3]));
 * assert.deepStrictEqual(logits.shape, [2, 3]);
 * assert.deepStrictEqual(saliency.shape, [2, 32, 32]);
 * // The config holds every option, defaults filled in.
 * assert.deepStrictEqual(model.config.backboneOptions, { width: 0.125, stem: "imagenet" });
 * assert.deepStrictEqual(model.config.headOptions, { channels: 3, gate: "multiplicative" });
 * tf.dispose([logits, saliency, saliencyLogits]);
 * model.dispose();
 * ```
 *
 * @example torchvision's VGG-11 with batch norm, images in [0, 1]
 * ```ts
 * import { createTwoBranchModel } from "./two_branch.ts";
 * import assert from "node:assert";
 * const model = createTwoBranchModel({
 *   backbone: "vgg11_bn",
 *   backboneOptions: { width: 0.125 },
 *   classifierOptions: { hidden: [64, 64], pooledSize: 7 },
 *   dropout: 0.5,
 *   inputNorm: "imagenet",
 *   numClasses: 10,
 *   inputSize: 32,
 * });
 * assert.deepEqual(model.config.classifierOptions, { hidden: [64, 64], pooledSize: 7 });
 * assert.equal(model.config.inputNorm, "imagenet");
 * assert.deepEqual(model.variables().get("two_branch/classifier/hidden1/kernel")!.shape, [7 * 7 * 64, 64]);
 * model.dispose();
 * ```
 */
export function createTwoBranchModel(options: TwoBranchOptions): TwoBranchNet {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`createTwoBranchModel needs an options object, got ${options}`);
  }
  for (const key of Object.keys(options)) {
    const ok = OPTION_KEYS.includes(key) ||
      (key === "architecture" &&
        (options as unknown as Record<string, unknown>)[key] === "two-branch");
    if (!ok) {
      throw new TypeError(
        `Option "${key}" is not an option of a two-branch model: expected ${
          OPTION_KEYS.join(", ")
        }`,
      );
    }
  }
  const numClasses = options.numClasses;
  const inputChannels = options.inputChannels ?? 3;
  const dropout = options.dropout ?? 0;
  const seed = options.seed ?? 0;
  const saliencyHead = options.saliencyHead ?? "cam";
  if (typeof options.backbone !== "string") {
    throw new TypeError(`Option "backbone" must name a backbone, got ${options.backbone}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new RangeError(`Option "numClasses" must be an integer of at least 2, got ${numClasses}`);
  }
  if (inputChannels !== 1 && inputChannels !== 3) {
    throw new RangeError(`Option "inputChannels" must be 1 or 3, got ${inputChannels}`);
  }
  if (!(typeof dropout === "number" && dropout >= 0 && dropout < 1)) {
    throw new RangeError(`Option "dropout" must be in [0, 1), got ${dropout}`);
  }
  if (!Number.isInteger(seed)) {
    throw new RangeError(`Option "seed" must be an integer, got ${seed}`);
  }
  const size = inputSizeOf(options.inputSize);
  const classifierOptions = classifierOptionsOf(options.classifierOptions);
  const inputNorm = inputNormOf(options.inputNorm, inputChannels);
  for (const field of ["backboneOptions", "headOptions"] as const) {
    const value = options[field];
    if (
      value !== undefined && (value === null || typeof value !== "object" || Array.isArray(value))
    ) {
      throw new TypeError(`Option "${field}" must be an object, got ${JSON.stringify(value)}`);
    }
  }
  const backboneOptions = { ...options.backboneOptions } as BackboneOptions;
  for (const key of ["inputChannels", "seed"] as const) {
    if (key in backboneOptions) {
      throw new TypeError(
        `Option "backboneOptions.${key}" is set by the model: use the model's "${key}" option`,
      );
    }
  }
  const headOptions = { ...options.headOptions } as SaliencyHeadOptions;
  for (const key of ["featureInfo", "numClasses", "seed"] as const) {
    if (key in headOptions) {
      throw new TypeError(
        `Option "headOptions.${key}" is set by the model, not by the head's options`,
      );
    }
  }

  const rng = new Random(seed);
  const seeds = { backbone: rng.seed(), classifier: rng.seed(), head: rng.seed() };
  const backbone = createBackbone(options.backbone, {
    ...backboneOptions,
    inputChannels,
    seed: seeds.backbone,
  });
  let classifier: ClassificationHead | null = null;
  try {
    const info = backbone.featureInfo;
    const multiple = info[info.length - 1].reduction;
    if (size[0] % multiple !== 0 || size[1] % multiple !== 0) {
      throw new RangeError(
        `Option "inputSize" must be a multiple of ${multiple} for backbone ${options.backbone} (its last stage reduces the input ${multiple}×), got ${
          JSON.stringify(options.inputSize)
        }`,
      );
    }
    classifier = new ClassificationHead({
      inChannels: info[info.length - 1].channels,
      numClasses,
      dropout,
      seed: seeds.classifier,
      ...classifierOptions,
    });
    const head = createSaliencyHead(saliencyHead, {
      ...headOptions,
      featureInfo: info,
      numClasses,
      seed: seeds.head,
    });
    const { inputChannels: _c, seed: _s, ...resolvedBackbone } = backbone.options;
    const config: TwoBranchConfig = {
      architecture: "two-branch",
      backbone: options.backbone,
      backboneOptions: resolvedBackbone,
      saliencyHead,
      headOptions: { ...head.options } as TwoBranchHeadOptions,
      numClasses,
      inputSize: typeof options.inputSize === "number" ? options.inputSize : [size[0], size[1]],
      inputChannels,
      dropout,
      seed,
      ...(classifierOptions ? { classifierOptions } : {}),
      ...(inputNorm ? { inputNorm } : {}),
    };
    return new TwoBranch(deepFreeze(config), size, { backbone, classifier, saliencyHead: head });
  } catch (error) {
    backbone.dispose();
    classifier?.dispose();
    throw error;
  }
}

/** The classifier options with defaults filled in, or null when they are the defaults. */
function classifierOptionsOf(value: unknown): Required<TwoBranchClassifierOptions> | null {
  if (value === undefined) return null;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      `Option "classifierOptions" must be an object, got ${JSON.stringify(value)}`,
    );
  }
  for (const key of Object.keys(value)) {
    if (key !== "hidden" && key !== "pooledSize") {
      throw new TypeError(
        `Option "classifierOptions.${key}" is not a classifier option: expected hidden, pooledSize`,
      );
    }
  }
  const given = value as TwoBranchClassifierOptions;
  const hidden = given.hidden ?? [], pooledSize = given.pooledSize ?? 1;
  if (!Array.isArray(hidden) || !hidden.every((u) => Number.isInteger(u) && u > 0)) {
    throw new RangeError(
      `Option "classifierOptions.hidden" must be an array of positive integers, got ${
        JSON.stringify(hidden)
      }`,
    );
  }
  if (!Number.isInteger(pooledSize) || pooledSize < 1) {
    throw new RangeError(
      `Option "classifierOptions.pooledSize" must be a positive integer, got ${
        JSON.stringify(pooledSize)
      }`,
    );
  }
  return hidden.length === 0 && pooledSize === 1 ? null : { hidden: [...hidden], pooledSize };
}

/** The input normalisation, checked (a copy), or null for none. */
function inputNormOf(value: unknown, channels: number): InputNorm | null {
  if (value === undefined) return null;
  if (value === "imagenet") {
    if (channels !== 3) {
      throw new RangeError(
        `Option "inputNorm" "imagenet" is for 3 input channels, the model has ${channels}: give { mean: [m], std: [s] }`,
      );
    }
    return value;
  }
  const norm = value as { mean?: unknown; std?: unknown };
  if (
    norm === null || typeof norm !== "object" || Array.isArray(norm) ||
    Object.keys(norm).some((k) => k !== "mean" && k !== "std")
  ) {
    throw new TypeError(
      `Option "inputNorm" must be "imagenet" or { mean, std }, got ${JSON.stringify(value)}`,
    );
  }
  const ok = (v: unknown, positive: boolean): v is number[] =>
    Array.isArray(v) && v.length === channels &&
    v.every((e) => typeof e === "number" && Number.isFinite(e) && (!positive || e > 0));
  if (!ok(norm.mean, false) || !ok(norm.std, true)) {
    throw new RangeError(
      `Option "inputNorm" needs ${channels} finite means and ${channels} positive stds (one per input channel), got ${
        JSON.stringify(value)
      }`,
    );
  }
  return { mean: [...norm.mean], std: [...norm.std] };
}

function inputSizeOf(value: unknown): [number, number] {
  const pair = typeof value === "number" ? [value, value] : value;
  if (
    !Array.isArray(pair) || pair.length !== 2 ||
    !pair.every((v) => Number.isInteger(v) && v > 0)
  ) {
    throw new RangeError(
      `Option "inputSize" must be a positive integer or [height, width], got ${
        JSON.stringify(value)
      }`,
    );
  }
  return [pair[0], pair[1]];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

registerArchitecture(
  "two-branch",
  (config) => createTwoBranchModel(config as unknown as TwoBranchOptions),
);
