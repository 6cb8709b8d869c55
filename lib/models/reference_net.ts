/**
 * The reference two-branch network: small, but with every kind of layer a
 * real backbone and saliency head use, so that it exercises every training
 * kernel. `deno task bench` times it, with a PyTorch twin beside it.
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

/**
 * The reference network. Stages (input 64×64, width 1):
 * - `stem`: 3×3 conv, batch norm, ReLU (32 channels, reduction 1);
 * - `block1`: a stride-2 residual block, two 3×3 conv + BN, with an
 *   average-pool + 1×1 conv + BN shortcut (64 channels, reduction 2);
 * - `block2`: 2×2 max pool, 3×3 depthwise conv + BN + ReLU, two 1×1 conv +
 *   BN + ReLU (128 channels, reduction 4).
 *
 * Classification head: global average pool, dense. Saliency head: 1×1 conv +
 * ReLU, stride-2 transposed conv + ReLU, bilinear upsampling to the input
 * size, 1×1 conv; the sigmoid of that is the map.
 */
class ReferenceNet extends Module implements TwoBranchModel {
  readonly config: ModelConfig;
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly featureInfo: readonly StageInfo[];
  readonly #stem: ConvBn;
  readonly #b1conv1: ConvBn;
  readonly #b1conv2: ConvBn;
  readonly #b1short: ConvBn;
  readonly #b2dw: DepthwiseConv2d;
  readonly #b2dwBn: BatchNorm;
  readonly #b2pw1: ConvBn;
  readonly #b2pw2: ConvBn;
  readonly #fc: Dense;
  readonly #salReduce: Conv2d;
  readonly #salUp: Conv2dTranspose;
  readonly #salOut: Conv2d;

  constructor(options: Required<ReferenceNetOptions>) {
    super("reference_net");
    this.config = { architecture: "reference", ...options };
    const { numClasses, inputSize, inputChannels, width } = options;
    const rng = new Random(options.seed);
    const c1 = Math.max(1, Math.round(32 * width));
    const c2 = 2 * c1, c3 = 4 * c1, cs = c1, cu = Math.max(1, c1 >> 1);
    this.inputShape = [inputSize, inputSize, inputChannels];
    this.numClasses = numClasses;
    this.featureInfo = [
      { name: "stem", channels: c1, reduction: 1 },
      { name: "block1", channels: c2, reduction: 2 },
      { name: "block2", channels: c3, reduction: 4 },
    ];
    this.#stem = this.addChild(new ConvBn("stem", inputChannels, c1, 3, 1, rng.seed()));
    this.#b1conv1 = this.addChild(new ConvBn("block1_conv1", c1, c2, 3, 2, rng.seed()));
    this.#b1conv2 = this.addChild(new ConvBn("block1_conv2", c2, c2, 3, 1, rng.seed()));
    this.#b1short = this.addChild(new ConvBn("block1_shortcut", c1, c2, 1, 1, rng.seed()));
    this.#b2dw = this.addChild(
      new DepthwiseConv2d("block2_dw", { channels: c2, seed: rng.seed() }),
    );
    this.#b2dwBn = this.addChild(new BatchNorm("block2_dw_bn", { channels: c2 }));
    this.#b2pw1 = this.addChild(new ConvBn("block2_pw1", c2, c3, 1, 1, rng.seed()));
    this.#b2pw2 = this.addChild(new ConvBn("block2_pw2", c3, c3, 1, 1, rng.seed()));
    this.#fc = this.addChild(
      new Dense("fc", { inFeatures: c3, units: numClasses, seed: rng.seed() }),
    );
    this.#salReduce = this.addChild(
      new Conv2d("sal_reduce", {
        inChannels: c3,
        filters: cs,
        kernelSize: 1,
        useBias: true,
        seed: rng.seed(),
      }),
    );
    this.#salUp = this.addChild(
      new Conv2dTranspose("sal_up", { inChannels: cs, filters: cu, seed: rng.seed() }),
    );
    this.#salOut = this.addChild(
      new Conv2d("sal_out", {
        inChannels: cu,
        filters: 1,
        kernelSize: 1,
        useBias: true,
        linear: true,
        seed: rng.seed(),
      }),
    );
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

  forwardStages(
    x: tf.Tensor4D,
    options: ApplyOptions & { from?: number; to?: number } = {},
  ): tf.Tensor4D[] {
    const from = options.from ?? 0, to = options.to ?? this.featureInfo.length - 1;
    if (!(0 <= from && from <= to && to < this.featureInfo.length)) {
      throw new RangeError(
        `Cannot run stages ${from} to ${to}: ${this.name} has stages 0 to ${
          this.featureInfo.length - 1
        }`,
      );
    }
    const outputs: tf.Tensor4D[] = [];
    let h = x;
    for (let i = from; i <= to; i++) {
      h = this.#stage(i, h, options);
      outputs.push(h);
    }
    return outputs;
  }

  forwardHead(features: tf.Tensor4D, _options: ApplyOptions = {}): tf.Tensor2D {
    return tf.tidy(() => this.#fc.apply(globalAvgPool(features)));
  }

  forwardSaliency(stages: tf.Tensor4D[], _options: ApplyOptions = {}): tf.Tensor3D {
    return tf.tidy(() => {
      const last = stages[stages.length - 1];
      const reduced = tf.relu(this.#salReduce.apply(last));
      const up = tf.relu(this.#salUp.apply(reduced));
      const [h, w] = this.inputShape;
      const full = tf.image.resizeBilinear(up, [h, w], false, true);
      return tf.squeeze(this.#salOut.apply(full), [3]) as tf.Tensor3D;
    });
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
  if (inputChannels !== 1 && inputChannels !== 3) {
    throw new RangeError(`Option "inputChannels" must be 1 or 3, got ${inputChannels}`);
  }
  if (!(width > 0)) throw new RangeError(`Option "width" must be positive, got ${width}`);
  return new ReferenceNet(resolved);
}

registerArchitecture("reference", (config) => createReferenceNet(config as ReferenceNetOptions));
