/**
 * The reference two-branch network: small, but with every kind of layer a
 * real backbone and saliency head use, so that it exercises every training
 * kernel. `deno task bench` times it, with a PyTorch twin beside it.
 *
 * Its parts are registered too: the backbone `"reference"`
 * (`createBackbone`) and its saliency branch as the saliency head
 * `"reference"` (`createSaliencyHead`), so they combine with the other
 * heads and backbones in `createTwoBranchModel`. The architecture
 * `"reference"` is the whole net, weights seeded as they always were; it is
 * registered as the model of the backbone `"reference"`, which
 * `createModelFromParts` builds when a task asks for that backbone.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { Conv2d, Conv2dTranspose, convBnAct, DepthwiseConv2d } from "../layers/convolutional.ts";
import { Dense, globalAvgPool } from "../layers/core.ts";
import type { ApplyOptions } from "../layers/module.ts";
import { Module } from "../layers/module.ts";
import { BatchNorm } from "../layers/normalization.ts";
import { Random } from "../util/random.ts";
import { registerBackbone } from "../backbones/registry.ts";
import type {
  Backbone,
  BackboneOptions,
  ResolvedBackboneOptions,
  StageOptions,
} from "../backbones/types.ts";
import { registerSaliencyHead } from "../heads/registry.ts";
import type { SaliencyHead, SaliencyHeadOptions, SaliencyHeadOutput } from "../heads/types.ts";
import { assertImageShape } from "./image_shape.ts";
import type {
  ForwardOptions,
  ModelConfig,
  StageInfo,
  TwoBranchModel,
  TwoBranchOutput,
} from "./types.ts";
import { classEvidence } from "../heads/classification.ts";
import { registerArchitecture } from "./registry.ts";

/**
 * The name of the reference net's backbone, saliency head and
 * architecture, and the default `--backbone` of the tasks.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { REFERENCE_BACKBONE } from "./reference_net.ts";
 * import { listBackbones } from "../backbones/mod.ts";
 * assert.ok(listBackbones().includes(REFERENCE_BACKBONE));
 * ```
 */
export const REFERENCE_BACKBONE = "reference";

/** Options of {@linkcode createReferenceNet}. */
export interface ReferenceNetOptions {
  /** Number of classes. @default {10} */
  numClasses?: number;
  /** Input height and width; a multiple of 4. @default {64} */
  inputSize?: number;
  /** Input channels (1 or 3). @default {3} */
  inputChannels?: number;
  /** Width multiplier on the base 32 channels. @default {1} */
  width?: number;
  /** Seed of the weight initialisation. @default {0} */
  seed?: number;
}

class ConvBn extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm;
  constructor(
    name: string,
    inChannels: number,
    filters: number,
    kernelSize: number,
    strides: number,
    seed: number,
  ) {
    super(name);
    this.conv = this.addChild(
      new Conv2d("conv", { inChannels, filters, kernelSize, strides, seed }),
    );
    this.bn = this.addChild(new BatchNorm("bn", { channels: filters }));
  }
  apply(x: tf.Tensor4D, options: ApplyOptions, relu = true): tf.Tensor4D {
    return convBnAct(this.conv, this.bn, x, options, relu ? "relu" : "none");
  }
}

/** The channels of the reference net's first stage at `width`. */
function baseChannels(width: number): number {
  return Math.max(1, Math.round(32 * width));
}

/**
 * The reference net's backbone, registered as `"reference"`. Stages (width 1):
 * - `stem`: 3×3 conv, batch norm, ReLU (32 channels, reduction 1);
 * - `block1`: a stride-2 residual block, two 3×3 conv + BN, with an
 *   average-pool + 1×1 conv + BN shortcut (64 channels, reduction 2);
 * - `block2`: 2×2 max pool, 3×3 depthwise conv + BN + ReLU, two 1×1 conv +
 *   BN + ReLU (128 channels, reduction 4).
 *
 * Its layers draw their seeds, in order, from `rng`; the reference net
 * passes its own stream so that its weights are those it always had.
 */
class ReferenceBackbone extends Module implements Backbone {
  readonly options: Readonly<ResolvedBackboneOptions>;
  readonly featureInfo: readonly StageInfo[];
  /** Every layer, in the order the reference net lists its variables. */
  readonly layers: readonly Module[];
  readonly #stem: ConvBn;
  readonly #b1conv1: ConvBn;
  readonly #b1conv2: ConvBn;
  readonly #b1short: ConvBn;
  readonly #b2dw: DepthwiseConv2d;
  readonly #b2dwBn: BatchNorm;
  readonly #b2pw1: ConvBn;
  readonly #b2pw2: ConvBn;

  constructor(options: ResolvedBackboneOptions, rng: Random) {
    super(REFERENCE_BACKBONE);
    this.options = Object.freeze({ ...options });
    const c1 = baseChannels(options.width), c2 = 2 * c1, c3 = 4 * c1;
    this.featureInfo = Object.freeze([
      { name: "stem", channels: c1, reduction: 1 },
      { name: "block1", channels: c2, reduction: 2 },
      { name: "block2", channels: c3, reduction: 4 },
    ].map((s) => Object.freeze(s)));
    this.#stem = this.addChild(new ConvBn("stem", options.inputChannels, c1, 3, 1, rng.seed()));
    this.#b1conv1 = this.addChild(new ConvBn("block1_conv1", c1, c2, 3, 2, rng.seed()));
    this.#b1conv2 = this.addChild(new ConvBn("block1_conv2", c2, c2, 3, 1, rng.seed()));
    this.#b1short = this.addChild(new ConvBn("block1_shortcut", c1, c2, 1, 1, rng.seed()));
    this.#b2dw = this.addChild(
      new DepthwiseConv2d("block2_dw", { channels: c2, seed: rng.seed() }),
    );
    this.#b2dwBn = this.addChild(new BatchNorm("block2_dw_bn", { channels: c2 }));
    this.#b2pw1 = this.addChild(new ConvBn("block2_pw1", c2, c3, 1, 1, rng.seed()));
    this.#b2pw2 = this.addChild(new ConvBn("block2_pw2", c3, c3, 1, 1, rng.seed()));
    this.layers = [
      this.#stem,
      this.#b1conv1,
      this.#b1conv2,
      this.#b1short,
      this.#b2dw,
      this.#b2dwBn,
      this.#b2pw1,
      this.#b2pw2,
    ];
  }

  /** The layers of each stage. */
  #stageLayers(index: number): Module[] {
    return [
      [this.#stem],
      [this.#b1conv1, this.#b1conv2, this.#b1short],
      [this.#b2dw, this.#b2dwBn, this.#b2pw1, this.#b2pw2],
    ][index];
  }

  #stage(index: number, x: tf.Tensor4D, options: ApplyOptions): tf.Tensor4D {
    return tf.tidy(() => {
      switch (index) {
        case 0:
          return this.#stem.apply(x, options);
        case 1: {
          const main = this.#b1conv2.apply(this.#b1conv1.apply(x, options), options, false);
          const short = this.#b1short.apply(tf.avgPool(x, 2, 2, "same"), options, false);
          return tf.relu(tf.add(main, short));
        }
        case 2: {
          const pooled = tf.maxPool(x, 2, 2, "same");
          const dw = convBnAct(this.#b2dw, this.#b2dwBn, pooled, options, "relu");
          return this.#b2pw2.apply(this.#b2pw1.apply(dw, options), options);
        }
        default:
          throw new RangeError(`Stage ${index} does not exist: ${this.name} has stages 0 to 2`);
      }
    });
  }

  forwardStages(x: tf.Tensor4D, options: StageOptions = {}): tf.Tensor4D[] {
    return runStages(
      this.name,
      this.featureInfo.length,
      x,
      options,
      (i, h) => this.#stage(i, h, options),
    );
  }

  stageVariables(index: number, prefix = ""): Map<string, tf.Variable> {
    if (!Number.isInteger(index) || index < 0 || index >= this.featureInfo.length) {
      throw new RangeError(
        `Backbone ${this.name} has no stage ${index}: it has stages 0 to ${
          this.featureInfo.length - 1
        }`,
      );
    }
    const path = prefix ? `${prefix}/${this.name}` : this.name;
    return new Map(this.#stageLayers(index).flatMap((layer) => [...layer.variables(path)]));
  }
}

/** Stages `from` to `to` of a model or backbone called `name` with `count` stages. */
function runStages(
  name: string,
  count: number,
  x: tf.Tensor4D,
  options: StageOptions,
  stage: (index: number, input: tf.Tensor4D) => tf.Tensor4D,
): tf.Tensor4D[] {
  const from = options.from ?? 0, to = options.to ?? count - 1;
  if (!(0 <= from && from <= to && to < count)) {
    throw new RangeError(
      `Cannot run stages ${from} to ${to}: ${name} has stages 0 to ${count - 1}`,
    );
  }
  const outputs: tf.Tensor4D[] = [];
  let h = x;
  for (let i = from; i <= to; i++) {
    h = stage(i, h);
    outputs.push(h);
  }
  return outputs;
}

/**
 * The reference net's saliency branch, registered as the saliency head
 * `"reference"`: a 1×1 conv (with bias) + ReLU from the last stage to
 * `channels`, a stride-2 transposed conv + ReLU to half as many, bilinear
 * upsampling to the input size, and a 1×1 conv to one channel. Its layers
 * draw their seeds, in order, from `rng`.
 */
class ReferenceHead extends Module implements SaliencyHead {
  readonly kind = REFERENCE_BACKBONE;
  readonly options: Readonly<Record<string, unknown>>;
  readonly gates = false;
  /** Every layer, in the order the reference net lists its variables. */
  readonly layers: readonly Module[];
  readonly #reduce: Conv2d;
  readonly #up: Conv2dTranspose;
  readonly #out: Conv2d;
  readonly #inChannels: number;

  constructor(inChannels: number, channels: number, rng: Random) {
    super("saliency");
    this.options = Object.freeze({ channels });
    this.#inChannels = inChannels;
    const half = Math.max(1, channels >> 1);
    this.#reduce = this.addChild(
      new Conv2d("sal_reduce", {
        inChannels,
        filters: channels,
        kernelSize: 1,
        useBias: true,
        seed: rng.seed(),
      }),
    );
    this.#up = this.addChild(
      new Conv2dTranspose("sal_up", { inChannels: channels, filters: half, seed: rng.seed() }),
    );
    this.#out = this.addChild(
      new Conv2d("sal_out", {
        inChannels: half,
        filters: 1,
        kernelSize: 1,
        useBias: true,
        linear: true,
        seed: rng.seed(),
      }),
    );
    this.layers = [this.#reduce, this.#up, this.#out];
  }

  apply(
    stages: readonly tf.Tensor4D[],
    inputSize: readonly [number, number],
    _options: ApplyOptions = {},
  ): tf.Tensor3D {
    const last = stages[stages.length - 1];
    if (last?.rank !== 4 || last.shape[3] !== this.#inChannels) {
      throw new RangeError(
        `Saliency head ${this.kind} needs the last stage as [n, h, w, ${this.#inChannels}], got ${
          last ? `[${last.shape.join(", ")}]` : "no stages"
        }`,
      );
    }
    return tf.tidy(() => {
      const reduced = tf.relu(this.#reduce.apply(last));
      const up = tf.relu(this.#up.apply(reduced));
      const full = tf.image.resizeBilinear(up, [inputSize[0], inputSize[1]], false, true);
      return tf.squeeze(this.#out.apply(full), [3]) as tf.Tensor3D;
    });
  }

  gate(_features: tf.Tensor4D, _options: ApplyOptions = {}): tf.Tensor4D | null {
    return null;
  }

  applyAndGate(
    stages: readonly tf.Tensor4D[],
    inputSize: readonly [number, number],
    options: ApplyOptions = {},
  ): SaliencyHeadOutput {
    return { saliencyLogits: this.apply(stages, inputSize, options), gated: null };
  }
}

/**
 * The reference network: the `"reference"` backbone, global average
 * pooling and a dense layer, and the `"reference"` saliency head, whose
 * sigmoid is the map. Every layer draws its seed from one stream of the
 * model's seed, in the order of its variables.
 */
class ReferenceNet extends Module implements TwoBranchModel {
  readonly config: ModelConfig;
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly featureInfo: readonly StageInfo[];
  readonly #backbone: ReferenceBackbone;
  readonly #fc: Dense;
  readonly #head: ReferenceHead;

  constructor(options: Required<ReferenceNetOptions>) {
    super("reference_net");
    this.config = { architecture: REFERENCE_BACKBONE, ...options };
    const { numClasses, inputSize, inputChannels, width, seed } = options;
    const rng = new Random(seed);
    this.inputShape = [inputSize, inputSize, inputChannels];
    this.numClasses = numClasses;
    // The parts' layers are this module's own children, so that paths stay reference_net/<layer>/….
    this.#backbone = new ReferenceBackbone(
      { inputChannels: inputChannels as 1 | 3, width, seed },
      rng,
    );
    this.featureInfo = this.#backbone.featureInfo;
    for (const layer of this.#backbone.layers) this.addChild(layer);
    const last = this.featureInfo[this.featureInfo.length - 1].channels;
    this.#fc = this.addChild(
      new Dense("fc", { inFeatures: last, units: numClasses, seed: rng.seed() }),
    );
    this.#head = new ReferenceHead(last, baseChannels(width), rng);
    for (const layer of this.#head.layers) this.addChild(layer);
  }

  forwardStages(x: tf.Tensor4D, options: StageOptions = {}): tf.Tensor4D[] {
    return runStages(
      this.name,
      this.featureInfo.length,
      x,
      options,
      (i, h) => this.#backbone.forwardStages(h, { ...options, from: i, to: i })[0],
    );
  }

  forwardHead(features: tf.Tensor4D, _options: ApplyOptions = {}): tf.Tensor2D {
    return tf.tidy(() => this.#fc.apply(globalAvgPool(features)));
  }

  forwardSaliency(stages: tf.Tensor4D[], options: ApplyOptions = {}): tf.Tensor3D {
    const [h, w] = this.inputShape;
    return this.#head.apply(stages, [h, w], options);
  }

  forward(images: tf.Tensor4D, options: ForwardOptions = {}): TwoBranchOutput {
    assertImageShape(this.name, this.inputShape, images);
    return tf.tidy(() => {
      const stages = this.forwardStages(images, options);
      const last = stages[stages.length - 1];
      const logits = this.forwardHead(last, options);
      const saliencyLogits = this.forwardSaliency(stages, options);
      const saliency = tf.sigmoid(saliencyLogits) as tf.Tensor3D;
      if (!options.classEvidence) return { logits, saliencyLogits, saliency };
      return { logits, saliencyLogits, saliency, evidence: classEvidence(last, this.#fc.kernel) };
    }) as TwoBranchOutput;
  }
}

/**
 * Creates the reference two-branch network with seeded weights. The caller
 * disposes it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createReferenceNet } from "./reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25 });
 * const { logits, saliency, saliencyLogits } = model.forward(tf.zeros([2, 16, 16, 3]));
 * assert.deepStrictEqual(logits.shape, [2, 3]);
 * assert.deepStrictEqual(saliency.shape, [2, 16, 16]);
 * assert.ok(saliency.min().dataSync()[0] >= 0 && saliency.max().dataSync()[0] <= 1); // sigmoid
 * tf.dispose([logits, saliency, saliencyLogits]);
 * model.dispose();
 * ```
 */
export function createReferenceNet(options: ReferenceNetOptions = {}): TwoBranchModel {
  const resolved: Required<ReferenceNetOptions> = {
    numClasses: options.numClasses ?? 10,
    inputSize: options.inputSize ?? 64,
    inputChannels: options.inputChannels ?? 3,
    width: options.width ?? 1,
    seed: options.seed ?? 0,
  };
  const { numClasses, inputSize, inputChannels, width } = resolved;
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new RangeError(`Option "numClasses" must be an integer of at least 2, got ${numClasses}`);
  }
  if (!Number.isInteger(inputSize) || inputSize < 4 || inputSize % 4 !== 0) {
    throw new RangeError(`Option "inputSize" must be a positive multiple of 4, got ${inputSize}`);
  }
  checkOptions({ inputChannels, width });
  return new ReferenceNet(resolved);
}

/**
 * Creates the reference net's backbone (registered as `"reference"`; see
 * the module docs), with seeded weights: the same as the backbone of
 * `createReferenceNet` with the same `seed`, width and input channels.
 * Takes `inputChannels`, `width` and `seed`. The caller disposes it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createReferenceBackbone } from "./reference_net.ts";
 * import { tf } from "../deps.ts";
 * const backbone = createReferenceBackbone({ width: 0.25, inputChannels: 1 });
 * assert.deepStrictEqual(backbone.featureInfo.map((s) => `${s.name}:${s.channels}/${s.reduction}`), [
 *   "stem:8/1", "block1:16/2", "block2:32/4",
 * ]);
 * const stages = backbone.forwardStages(tf.zeros([1, 16, 16, 1]) as tf.Tensor4D);
 * assert.deepStrictEqual(stages[2].shape, [1, 4, 4, 32]);
 * tf.dispose(stages);
 * backbone.dispose();
 * ```
 */
export function createReferenceBackbone(options: BackboneOptions = {}): Backbone {
  for (const key of Object.keys(options ?? {})) {
    if (!["inputChannels", "width", "seed"].includes(key)) {
      throw new TypeError(
        `Option "${key}" does not apply to backbone ${REFERENCE_BACKBONE}: it takes inputChannels, width, seed`,
      );
    }
  }
  const resolved: ResolvedBackboneOptions = {
    inputChannels: options.inputChannels ?? 3,
    width: options.width ?? 1,
    seed: options.seed ?? 0,
  };
  checkOptions(resolved);
  return new ReferenceBackbone(resolved, new Random(resolved.seed));
}

/**
 * Creates the reference net's saliency branch as a saliency head
 * (registered as `"reference"`) for any backbone: it reads the last stage.
 * Option `channels`: the width of its first conv (default: the first
 * stage's channels, as in the reference net). The caller disposes it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createReferenceHead } from "./reference_net.ts";
 * import { tf } from "../deps.ts";
 * const featureInfo = [{ name: "a", channels: 8, reduction: 1 }, { name: "b", channels: 32, reduction: 4 }];
 * const head = createReferenceHead({ featureInfo });
 * assert.deepStrictEqual(head.options, { channels: 8 });
 * const stages = [tf.zeros([2, 16, 16, 8]), tf.zeros([2, 4, 4, 32])] as tf.Tensor4D[];
 * const logits = head.apply(stages, [16, 16]);
 * assert.deepStrictEqual(logits.shape, [2, 16, 16]);
 * assert.equal(head.gate(stages[1]), null); // it does not gate the classifier's features
 * tf.dispose([...stages, logits]);
 * head.dispose();
 * ```
 */
export function createReferenceHead(options: SaliencyHeadOptions): SaliencyHead {
  for (const key of Object.keys(options ?? {})) {
    if (!["featureInfo", "numClasses", "seed", "channels"].includes(key)) {
      throw new TypeError(
        `Option "${key}" does not apply to saliency head ${REFERENCE_BACKBONE}: it takes channels`,
      );
    }
  }
  const info = options.featureInfo;
  if (!Array.isArray(info) || info.length === 0) {
    throw new TypeError(
      `Option "featureInfo" of saliency head ${REFERENCE_BACKBONE} must list at least one stage with its channels`,
    );
  }
  const channels = options.channels ?? info[0].channels;
  if (!Number.isInteger(channels) || channels < 1) {
    throw new RangeError(
      `Option "channels" of saliency head ${REFERENCE_BACKBONE} must be a positive integer, got ${channels}`,
    );
  }
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) {
    throw new RangeError(
      `Option "seed" of saliency head ${REFERENCE_BACKBONE} must be an integer, got ${seed}`,
    );
  }
  return new ReferenceHead(info[info.length - 1].channels, channels, new Random(seed));
}

function checkOptions(o: { inputChannels: number; width: number }): void {
  if (o.inputChannels !== 1 && o.inputChannels !== 3) {
    throw new RangeError(`Option "inputChannels" must be 1 or 3, got ${o.inputChannels}`);
  }
  if (!(o.width > 0)) throw new RangeError(`Option "width" must be positive, got ${o.width}`);
}

registerBackbone(REFERENCE_BACKBONE, createReferenceBackbone);
registerSaliencyHead(REFERENCE_BACKBONE, createReferenceHead);
registerArchitecture(
  REFERENCE_BACKBONE,
  (config) => createReferenceNet(config as ReferenceNetOptions),
  { backbone: REFERENCE_BACKBONE, saliencyHead: REFERENCE_BACKBONE },
);
