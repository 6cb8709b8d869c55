/**
 * MobileNetV2 (Sandler et al. 2018): inverted residual blocks with
 * depthwise 3×3 convolutions, linear bottlenecks and ReLU6.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { ApplyOptions } from "../layers/module.ts";
import { Random } from "../util/random.ts";
import { registerBackbone } from "./registry.ts";
import type { Backbone, BackboneOptions } from "./types.ts";
import { ConvBnAct, Layer, resolveOptions, Sequence, StagedBackbone } from "./_util.ts";

/** Rounds `v` to a multiple of 8, never below 90% of `v` (as the reference code does). */
function makeDivisible(v: number): number {
  const rounded = Math.max(8, Math.floor((v + 4) / 8) * 8);
  return rounded < 0.9 * v ? rounded + 8 : rounded;
}

/**
 * The inverted residual: a 1×1 expansion (skipped when the factor is 1),
 * a 3×3 depthwise conv with the block's stride, each with BN and ReLU6, and
 * a linear 1×1 projection with BN; the input is added when the shapes match.
 */
class InvertedResidual extends Layer {
  readonly #expand: ConvBnAct | null;
  readonly #depthwise: ConvBnAct;
  readonly #project: ConvBnAct;
  readonly #residual: boolean;

  constructor(
    name: string,
    inChannels: number,
    filters: number,
    strides: number,
    expansion: number,
    rng: Random,
  ) {
    super(name);
    const hidden = Math.round(inChannels * expansion);
    this.#expand = expansion === 1 ? null : this.addChild(
      new ConvBnAct("expand", {
        inChannels,
        filters: hidden,
        kernelSize: 1,
        activation: "relu6",
        seed: rng.seed(),
      }),
    );
    this.#depthwise = this.addChild(
      new ConvBnAct("depthwise", {
        inChannels: hidden,
        filters: hidden,
        strides,
        depthwise: true,
        activation: "relu6",
        padding: "symmetric",
        seed: rng.seed(),
      }),
    );
    this.#project = this.addChild(
      new ConvBnAct("project", {
        inChannels: hidden,
        filters,
        kernelSize: 1,
        activation: "none",
        seed: rng.seed(),
      }),
    );
    this.#residual = strides === 1 && inChannels === filters;
  }

  apply(x: tf.Tensor4D, options: ApplyOptions): tf.Tensor4D {
    return tf.tidy(() => {
      const expanded = this.#expand ? this.#expand.apply(x, options) : x;
      const y = this.#project.apply(this.#depthwise.apply(expanded, options), options);
      return this.#residual ? tf.add(x, y) : y;
    });
  }
}

/** The paper's blocks: expansion t, channels c, repeats n, stride s; and the stage each joins. */
const SETTINGS: readonly { t: number; c: number; n: number; s: number; stage: number }[] = [
  { t: 1, c: 16, n: 1, s: 1, stage: 0 },
  { t: 6, c: 24, n: 2, s: 2, stage: 1 },
  { t: 6, c: 32, n: 3, s: 2, stage: 2 },
  { t: 6, c: 64, n: 4, s: 2, stage: 3 },
  { t: 6, c: 96, n: 3, s: 1, stage: 3 },
  { t: 6, c: 160, n: 3, s: 2, stage: 4 },
  { t: 6, c: 320, n: 1, s: 1, stage: 4 },
];

/**
 * Creates MobileNetV2 (registered as `"mobilenet_v2"`). Stages, width 1:
 *
 * | stage | contents | channels | reduction (`"imagenet"`) | reduction (`"small"`) |
 * |---|---|---|---|---|
 * | `stage1` | 3×3 stride-2 conv (32), block t1-c16 | 16 | 2 | 1 |
 * | `stage2` | 2 blocks, c24 | 24 | 4 | 1 |
 * | `stage3` | 3 blocks, c32 | 32 | 8 | 2 |
 * | `stage4` | 4 blocks c64, 3 blocks c96 | 96 | 16 | 4 |
 * | `stage5` | 3 blocks c160, 1 block c320, 1×1 conv | 1280 | 32 | 8 |
 *
 * Input height and width must be multiples of 32 (`stem: "small"`: 8, where
 * the stem conv and the first c24 block have stride 1, as in common CIFAR
 * versions). `width` scales every layer's channels (rounded to multiples of
 * 8) except the final 1×1 conv, which keeps 1280 channels for widths up to
 * 1, as in the paper. ReLU6 is `clipByValue(x, 0, 6)`. Convolutions pad
 * symmetrically, as PyTorch does, so at width 1 with the `"imagenet"` stem
 * the stages compute what torchvision's `mobilenet_v2` computes on the same
 * weights (`stage1` is its `features[0..1]`, `stage2` `features[2..3]`,
 * `stage3` `features[4..6]`, `stage4` `features[7..13]`, `stage5`
 * `features[14..18]`). The caller disposes the backbone.
 *
 * @example Usage
 * ```ts
 * import { createMobileNetV2 } from "./mobilenet_v2.ts";
 * import assert from "node:assert";
 * const backbone = createMobileNetV2({ width: 0.25 });
 * assert.deepEqual(backbone.featureInfo.map((s) => s.channels), [8, 8, 8, 24, 1280]);
 * backbone.dispose();
 * ```
 */
export function createMobileNetV2(options: BackboneOptions = {}): Backbone {
  const resolved = resolveOptions("mobilenet_v2", options, { stem: true });
  const { width } = resolved;
  const small = resolved.stem === "small";
  const rng = new Random(resolved.seed);
  let inChannels = makeDivisible(32 * width);
  const layers: Layer[][] = [
    [
      new ConvBnAct("stem", {
        inChannels: resolved.inputChannels,
        filters: inChannels,
        strides: small ? 1 : 2,
        activation: "relu6",
        padding: "symmetric",
        seed: rng.seed(),
      }),
    ],
    [],
    [],
    [],
    [],
  ];
  const reductions = [small ? 1 : 2, 0, 0, 0, 0];
  const channels = [0, 0, 0, 0, 0];
  let reduction = reductions[0], index = 0;
  for (const { t, c, n, s, stage } of SETTINGS) {
    const filters = makeDivisible(c * width);
    for (let i = 0; i < n; i++) {
      const strides = i === 0 && !(small && stage === 1) ? s : 1;
      layers[stage].push(
        new InvertedResidual(`block${index++}`, inChannels, filters, strides, t, rng),
      );
      inChannels = filters;
      reduction *= strides;
    }
    reductions[stage] = reduction;
    channels[stage] = filters;
  }
  const last = width > 1 ? makeDivisible(1280 * width) : 1280;
  layers[4].push(
    new ConvBnAct("head", {
      inChannels,
      filters: last,
      kernelSize: 1,
      activation: "relu6",
      seed: rng.seed(),
    }),
  );
  channels[4] = last;
  const stages = layers.map((stageLayers, i) => ({
    layer: new Sequence(`stage${i + 1}`, stageLayers),
    channels: channels[i],
    reduction: reductions[i],
  }));
  return new StagedBackbone("mobilenet_v2", resolved, stages);
}

registerBackbone("mobilenet_v2", createMobileNetV2);
