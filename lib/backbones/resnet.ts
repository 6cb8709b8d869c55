/**
 * ResNet (He et al. 2016) as torchvision builds it: ResNet-18 and ResNet-34
 * with basic blocks, ResNet-50 and ResNet-101 with bottleneck blocks, with a
 * width multiplier.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { ApplyOptions } from "../layers/module.ts";
import { Random } from "../util/random.ts";
import { registerBackbone } from "./registry.ts";
import type { Backbone, BackboneOptions } from "./types.ts";
import {
  ConvBnAct,
  Layer,
  MaxPool,
  resolveOptions,
  scaled,
  Sequence,
  StagedBackbone,
} from "./_util.ts";

/** Every convolution and pool pads as PyTorch's do, so that torchvision's weights fit. */
const padding = "symmetric";

/**
 * The basic residual block: two 3×3 conv + BN with a ReLU between, added to
 * the input (through a 1×1 stride-s conv + BN when the shape changes), then
 * a ReLU.
 */
class BasicBlock extends Layer {
  static readonly expansion = 1;
  readonly #conv1: ConvBnAct;
  readonly #conv2: ConvBnAct;
  readonly #shortcut: ConvBnAct | null;

  constructor(name: string, inChannels: number, filters: number, strides: number, rng: Random) {
    super(name);
    this.#conv1 = this.addChild(
      new ConvBnAct("conv1", { inChannels, filters, strides, padding, seed: rng.seed() }),
    );
    this.#conv2 = this.addChild(
      new ConvBnAct("conv2", {
        inChannels: filters,
        filters,
        activation: "none",
        padding,
        seed: rng.seed(),
      }),
    );
    this.#shortcut = shortcut(inChannels, filters, strides, rng);
    if (this.#shortcut) this.addChild(this.#shortcut);
  }

  apply(x: tf.Tensor4D, options: ApplyOptions): tf.Tensor4D {
    return tf.tidy(() => {
      const main = this.#conv2.apply(this.#conv1.apply(x, options), options);
      const short = this.#shortcut ? this.#shortcut.apply(x, options) : x;
      return tf.relu(tf.add(main, short));
    });
  }
}

/**
 * The bottleneck block of torchvision's ResNet-50 and deeper ("v1.5"): a 1×1
 * conv to `width` channels, a 3×3 conv with the block's stride, a 1×1 conv
 * to `4 · width` channels, each with BN (ReLU after the first two), added
 * to the input (through a 1×1 stride-s conv + BN when the shape changes),
 * then a ReLU. The original paper strides the first 1×1 conv instead. The
 * last BN's scale starts at zero (timm's `zero_init_last`), so each block
 * starts as the identity, which keeps deep, narrow variants trainable.
 */
class Bottleneck extends Layer {
  static readonly expansion = 4;
  readonly #conv1: ConvBnAct;
  readonly #conv2: ConvBnAct;
  readonly #conv3: ConvBnAct;
  readonly #shortcut: ConvBnAct | null;

  constructor(name: string, inChannels: number, width: number, strides: number, rng: Random) {
    super(name);
    const filters = width * Bottleneck.expansion;
    this.#conv1 = this.addChild(
      new ConvBnAct("conv1", { inChannels, filters: width, kernelSize: 1, seed: rng.seed() }),
    );
    this.#conv2 = this.addChild(
      new ConvBnAct("conv2", {
        inChannels: width,
        filters: width,
        strides,
        padding,
        seed: rng.seed(),
      }),
    );
    this.#conv3 = this.addChild(
      new ConvBnAct("conv3", {
        inChannels: width,
        filters,
        kernelSize: 1,
        activation: "none",
        seed: rng.seed(),
      }),
    );
    this.#shortcut = shortcut(inChannels, filters, strides, rng);
    if (this.#shortcut) this.addChild(this.#shortcut);
    // timm's zero_init_last: each block starts as the identity on its input.
    tf.tidy(() => this.#conv3.bn.gamma.assign(tf.zerosLike(this.#conv3.bn.gamma)));
  }

  apply(x: tf.Tensor4D, options: ApplyOptions): tf.Tensor4D {
    return tf.tidy(() => {
      const h = this.#conv2.apply(this.#conv1.apply(x, options), options);
      const main = this.#conv3.apply(h, options);
      const short = this.#shortcut ? this.#shortcut.apply(x, options) : x;
      return tf.relu(tf.add(main, short));
    });
  }
}

/** The 1×1 stride-s conv + BN shortcut (the paper's option B), or null when the shape is kept. */
function shortcut(
  inChannels: number,
  filters: number,
  strides: number,
  rng: Random,
): ConvBnAct | null {
  return strides !== 1 || inChannels !== filters
    ? new ConvBnAct("shortcut", {
      inChannels,
      filters,
      kernelSize: 1,
      strides,
      activation: "none",
      seed: rng.seed(),
    })
    : null;
}

/** Blocks per stage of each depth, and the block. */
const DEPTHS = {
  18: { blocks: [2, 2, 2, 2], block: BasicBlock },
  34: { blocks: [3, 4, 6, 3], block: BasicBlock },
  50: { blocks: [3, 4, 6, 3], block: Bottleneck },
  101: { blocks: [3, 4, 23, 3], block: Bottleneck },
} as const;

function createResNet(depth: keyof typeof DEPTHS, options: BackboneOptions): Backbone {
  const family = `resnet${depth}`;
  const resolved = resolveOptions(family, options, { stem: true });
  const rng = new Random(resolved.seed);
  const { blocks, block: Block } = DEPTHS[depth];
  const small = resolved.stem === "small";
  const widths = [64, 128, 256, 512].map((c) => scaled(c, resolved.width));
  const stem = new ConvBnAct("stem", {
    inChannels: resolved.inputChannels,
    filters: widths[0],
    kernelSize: small ? 3 : 7,
    strides: small ? 1 : 2,
    padding,
    seed: rng.seed(),
  });
  let reduction = small ? 1 : 2;
  const stages = [{ layer: stem as Layer, channels: widths[0], reduction }];
  let inChannels = widths[0];
  widths.forEach((width, i) => {
    const layers: Layer[] = [];
    if (i === 0 && !small) {
      layers.push(new MaxPool("pool", 3, 2, padding));
      reduction *= 2;
    }
    for (let b = 0; b < blocks[i]; b++) {
      const strides = i > 0 && b === 0 ? 2 : 1;
      layers.push(new Block(`block${b}`, inChannels, width, strides, rng));
      inChannels = width * Block.expansion;
    }
    if (i > 0) reduction *= 2;
    stages.push({
      layer: new Sequence(`layer${i + 1}`, layers),
      channels: inChannels,
      reduction,
    });
  });
  return new StagedBackbone(family, resolved, stages);
}

/**
 * Creates ResNet-18 (registered as `"resnet18"`): a stem, then four stages
 * of two basic blocks each. Stages, width 1:
 *
 * | stage | channels | reduction (`stem: "imagenet"`) | reduction (`stem: "small"`) |
 * |---|---|---|---|
 * | `stem` | 64 | 2 | 1 |
 * | `layer1` | 64 | 4 | 1 |
 * | `layer2` | 128 | 8 | 2 |
 * | `layer3` | 256 | 16 | 4 |
 * | `layer4` | 512 | 32 | 8 |
 *
 * Input height and width must be multiples of 32 (`"small"`: 8). The
 * `"imagenet"` stem is the paper's 7×7 stride-2 conv; `layer1` starts with
 * its 3×3 stride-2 max pool. Downsampling blocks use a 1×1 stride-2 conv +
 * BN shortcut (the paper's option B). Convolutions and the max pool pad
 * symmetrically, as PyTorch does (`"symmetric"` padding), so at
 * width 1 with the `"imagenet"` stem the stages compute what torchvision's
 * `resnet18` computes on the same weights (`conv1`–`bn1`–ReLU is `stem`;
 * `maxpool` and `layer1` are `layer1`). The caller disposes the backbone.
 *
 * @example Usage
 * ```ts
 * import { createResNet18 } from "./resnet.ts";
 * import assert from "node:assert";
 * const backbone = createResNet18({ width: 0.125, stem: "small" });
 * assert.deepEqual(backbone.featureInfo.map((s) => s.reduction), [1, 1, 2, 4, 8]);
 * backbone.dispose();
 * ```
 */
export function createResNet18(options: BackboneOptions = {}): Backbone {
  return createResNet(18, options);
}

/**
 * Creates ResNet-34 (registered as `"resnet34"`): as
 * {@linkcode createResNet18}, with 3, 4, 6 and 3 basic blocks in its four
 * stages. The caller disposes the backbone.
 *
 * @example Usage
 * ```ts
 * import { createResNet34 } from "./resnet.ts";
 * import assert from "node:assert";
 * const backbone = createResNet34({ width: 0.125 });
 * assert.deepEqual(backbone.featureInfo.at(-1), { name: "layer4", channels: 64, reduction: 32 });
 * backbone.dispose();
 * ```
 */
export function createResNet34(options: BackboneOptions = {}): Backbone {
  return createResNet(34, options);
}

/**
 * Creates ResNet-50 (registered as `"resnet50"`): the stem of
 * {@linkcode createResNet18}, then 3, 4, 6 and 3 bottleneck blocks, as in
 * torchvision (v1.5: the 3×3 conv of a block carries its stride). A block
 * maps to `4 · w` channels through a 1×1, a 3×3 and a 1×1 conv of `w`, `w`
 * and `4 · w` channels (`w` = 64, 128, 256, 512 times `width`). Stages,
 * width 1:
 *
 * | stage | channels | reduction (`stem: "imagenet"`) | reduction (`stem: "small"`) |
 * |---|---|---|---|
 * | `stem` | 64 | 2 | 1 |
 * | `layer1` | 256 | 4 | 1 |
 * | `layer2` | 512 | 8 | 2 |
 * | `layer3` | 1024 | 16 | 4 |
 * | `layer4` | 2048 | 32 | 8 |
 *
 * Block `b` of `layerK` has variables `layerK/block<b>/conv1|conv2|conv3|shortcut/
 * conv|bn/…`. Each block's last batch-norm scale starts at zero, as in
 * timm (torchvision's `zero_init_residual`), so a new network starts as a
 * chain of identities after its stem; ResNet-18 and -34 keep unit scales.
 * The caller disposes the backbone.
 *
 * @example Usage
 * ```ts
 * import { createResNet50 } from "./resnet.ts";
 * import assert from "node:assert";
 * const backbone = createResNet50({ width: 0.125 });
 * assert.deepEqual(backbone.featureInfo.map((s) => s.channels), [8, 32, 64, 128, 256]);
 * backbone.dispose();
 * ```
 */
export function createResNet50(options: BackboneOptions = {}): Backbone {
  return createResNet(50, options);
}

/**
 * Creates ResNet-101 (registered as `"resnet101"`): as
 * {@linkcode createResNet50}, with 3, 4, 23 and 3 bottleneck blocks. The
 * caller disposes the backbone.
 *
 * @example Usage
 * ```ts
 * import { createResNet101 } from "./resnet.ts";
 * import assert from "node:assert";
 * const backbone = createResNet101({ width: 0.125, stem: "small" });
 * assert.deepEqual(backbone.featureInfo.at(-1), { name: "layer4", channels: 256, reduction: 8 });
 * backbone.dispose();
 * ```
 */
export function createResNet101(options: BackboneOptions = {}): Backbone {
  return createResNet(101, options);
}

registerBackbone("resnet18", createResNet18);
registerBackbone("resnet34", createResNet34);
registerBackbone("resnet50", createResNet50);
registerBackbone("resnet101", createResNet101);
