/**
 * VGG (Simonyan and Zisserman 2015) with batch norm: stacks of 3×3 conv, BN
 * and ReLU between max pools.
 *
 * @module
 */
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

/** VGG-11 (configuration A): the convs' channels in each of the five blocks. */
const VGG11: readonly (readonly number[])[] = [[64], [128], [256, 256], [512, 512], [512, 512]];

/**
 * Creates VGG-11 with batch norm (registered as `"vgg11"`). Stages, width 1:
 *
 * | stage | contents | channels | reduction |
 * |---|---|---|---|
 * | `block1` | conv | 64 | 1 |
 * | `block2` | max pool, conv | 128 | 2 |
 * | `block3` | max pool, 2 convs | 256 | 4 |
 * | `block4` | max pool, 2 convs | 512 | 8 |
 * | `block5` | max pool, 2 convs | 512 | 16 |
 *
 * Each conv is 3×3 + BN + ReLU. Input height and width must be multiples of
 * 16. Departures from the paper: the fifth max pool and the three fully
 * connected layers are left out (the classification head pools globally),
 * and each conv has batch norm (the `vgg11_bn` of torchvision) and no bias. Takes
 * `inputChannels`, `width` and `seed`. The caller disposes the backbone.
 *
 * @example Usage
 * ```ts
 * import { createVgg11 } from "./vgg.ts";
 * const backbone = createVgg11({ width: 0.125, inputChannels: 1 });
 * console.log(backbone.featureInfo.map((s) => s.channels)); // [ 8, 16, 32, 64, 64 ]
 * backbone.dispose();
 * ```
 */
export function createVgg11(options: BackboneOptions = {}): Backbone {
  const resolved = resolveOptions("vgg11", options);
  const rng = new Random(resolved.seed);
  let inChannels: number = resolved.inputChannels;
  const stages = VGG11.map((convs, i) => {
    const layers: Layer[] = i === 0 ? [] : [new MaxPool("pool", 2, 2)];
    convs.forEach((base, j) => {
      const filters = scaled(base, resolved.width);
      layers.push(new ConvBnAct(`conv${j + 1}`, { inChannels, filters, seed: rng.seed() }));
      inChannels = filters;
    });
    return {
      layer: new Sequence(`block${i + 1}`, layers),
      channels: inChannels,
      reduction: 2 ** i,
    };
  });
  return new StagedBackbone("vgg11", resolved, stages);
}

registerBackbone("vgg11", createVgg11);
