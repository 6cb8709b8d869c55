/**
 * ResNet with basic blocks (He et al. 2016): ResNet-18 and ResNet-34, with a
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

/**
 * The basic residual block: two 3×3 conv + BN with a ReLU between, added to
 * the input (through a 1×1 stride-s conv + BN when the shape changes), then
 * a ReLU.
 */
class BasicBlock extends Layer {
  readonly #conv1: ConvBnAct;
  readonly #conv2: ConvBnAct;
  readonly #shortcut: ConvBnAct | null;

  constructor(name: string, inChannels: number, filters: number, strides: number, rng: Random) {
    super(name);
    this.#conv1 = this.addChild(
      new ConvBnAct("conv1", { inChannels, filters, strides, seed: rng.seed() }),
    );
    this.#conv2 = this.addChild(
      new ConvBnAct("conv2", {
        inChannels: filters,
        filters,
        activation: "none",
        seed: rng.seed(),
      }),
    );
    this.#shortcut = strides !== 1 || inChannels !== filters
      ? this.addChild(
        new ConvBnAct("shortcut", {
          inChannels,
          filters,
          kernelSize: 1,
          strides,
          activation: "none",
          seed: rng.seed(),
        }),
      )
      : null;
  }

  apply(x: tf.Tensor4D, options: ApplyOptions): tf.Tensor4D {
    return tf.tidy(() => {
      const main = this.#conv2.apply(this.#conv1.apply(x, options), options);
      const short = this.#shortcut ? this.#shortcut.apply(x, options) : x;
      return tf.relu(tf.add(main, short));
    });
  }
}

function createResNet(depth: 18 | 34, options: BackboneOptions): Backbone {
  const family = `resnet${depth}`;
  const resolved = resolveOptions(family, options, { stem: true });
  const rng = new Random(resolved.seed);
  const blocks = depth === 18 ? [2, 2, 2, 2] : [3, 4, 6, 3];
  const small = resolved.stem === "small";
  const widths = [64, 128, 256, 512].map((c) => scaled(c, resolved.width));
  const stem = new ConvBnAct("stem", {
    inChannels: resolved.inputChannels,
    filters: widths[0],
    kernelSize: small ? 3 : 7,
    strides: small ? 1 : 2,
    seed: rng.seed(),
  });
  let reduction = small ? 1 : 2;
  const stages = [{ layer: stem as Layer, channels: widths[0], reduction }];
  let inChannels = widths[0];
  widths.forEach((filters, i) => {
    const layers: Layer[] = [];
    if (i === 0 && !small) {
      layers.push(new MaxPool("pool", 3, 2));
      reduction *= 2;
    }
    for (let b = 0; b < blocks[i]; b++) {
      const strides = i > 0 && b === 0 ? 2 : 1;
      layers.push(new BasicBlock(`block${b}`, inChannels, filters, strides, rng));
      inChannels = filters;
    }
    if (i > 0) reduction *= 2;
    stages.push({ layer: new Sequence(`layer${i + 1}`, layers), channels: filters, reduction });
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
 * BN shortcut (the paper's option B). Padding is tfjs's `same`, which pads
 * an even input one pixel more at the bottom and right, where PyTorch pads
 * both sides. The caller disposes the backbone.
 *
 * @example Usage
 * ```ts
 * import { createResNet18 } from "./resnet.ts";
 * const backbone = createResNet18({ width: 0.125, stem: "small" });
 * console.log(backbone.featureInfo.map((s) => s.reduction)); // [ 1, 1, 2, 4, 8 ]
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
 * const backbone = createResNet34({ width: 0.125 });
 * console.log(backbone.featureInfo.at(-1)); // { name: "layer4", channels: 64, reduction: 32 }
 * backbone.dispose();
 * ```
 */
export function createResNet34(options: BackboneOptions = {}): Backbone {
  return createResNet(34, options);
}

registerBackbone("resnet18", createResNet18);
registerBackbone("resnet34", createResNet34);
