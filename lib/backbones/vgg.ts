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
 * The five blocks of VGG-11 with batch norm. `torchvision` gives the convs a
 * bias and adds the fifth max pool at the end of the last block.
 */
function createVgg(family: string, options: BackboneOptions, torchvision: boolean): Backbone {
  const resolved = resolveOptions(family, options);
  const rng = new Random(resolved.seed);
  let inChannels: number = resolved.inputChannels;
  const last = VGG11.length - 1;
  const stages = VGG11.map((convs, i) => {
    const pool = torchvision ? "valid" : "same";
    const layers: Layer[] = i === 0 ? [] : [new MaxPool("pool", 2, 2, pool)];
    convs.forEach((base, j) => {
      const filters = scaled(base, resolved.width);
      layers.push(
        new ConvBnAct(`conv${j + 1}`, {
          inChannels,
          filters,
          useBias: torchvision,
          padding: torchvision ? "symmetric" : "same",
          seed: rng.seed(),
        }),
      );
      inChannels = filters;
    });
    if (torchvision && i === last) layers.push(new MaxPool("final_pool", 2, 2, pool));
    return {
      layer: new Sequence(`block${i + 1}`, layers),
      channels: inChannels,
      reduction: torchvision && i === last ? 2 ** (i + 1) : 2 ** i,
    };
  });
  return new StagedBackbone(family, resolved, stages);
}

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
 * and each conv has batch norm and no bias. So it is not torchvision's
 * `vgg11` (which has no batch norm), nor quite its `vgg11_bn`, which
 * {@linkcode createVgg11Bn} is. Takes `inputChannels`, `width` and `seed`.
 * The caller disposes the backbone.
 *
 * @example Usage
 * ```ts
 * import { createVgg11 } from "./vgg.ts";
 * import assert from "node:assert";
 * const backbone = createVgg11({ width: 0.125, inputChannels: 1 });
 * assert.deepEqual(backbone.featureInfo.map((s) => s.channels), [8, 16, 32, 64, 64]);
 * backbone.dispose();
 * ```
 */
export function createVgg11(options: BackboneOptions = {}): Backbone {
  return createVgg("vgg11", options, false);
}

/**
 * Creates torchvision's `vgg11_bn` feature extractor (registered as
 * `"vgg11_bn"`): as {@linkcode createVgg11}, but each conv has a bias
 * before its batch norm, as torchvision's has, and the fifth 2×2 max pool
 * ends `block5`, so that at width 1 the last stage computes torchvision's
 * `features(x)` on the same weights. Stages, width 1:
 *
 * | stage | contents (torchvision's `features` indices) | channels | reduction |
 * |---|---|---|---|
 * | `block1` | conv (0–2) | 64 | 1 |
 * | `block2` | max pool, conv (3–6) | 128 | 2 |
 * | `block3` | max pool, 2 convs (7–13) | 256 | 4 |
 * | `block4` | max pool, 2 convs (14–20) | 512 | 8 |
 * | `block5` | max pool, 2 convs, max pool (21–28) | 512 | 32 |
 *
 * Input height and width must be multiples of 32. torchvision's classifier
 * (7×7 adaptive average pool, then dense layers of 4096, 4096 and the
 * classes, with dropout 0.5) is the two-branch model's classification head
 * with `classifierOptions: { hidden: [4096, 4096], pooledSize: 7 }` and
 * `dropout: 0.5`. The caller disposes the backbone.
 *
 * @example Usage
 * ```ts
 * import { createVgg11Bn } from "./vgg.ts";
 * import assert from "node:assert";
 * const backbone = createVgg11Bn({ width: 0.125 });
 * assert.deepEqual(backbone.featureInfo.map((s) => s.reduction), [1, 2, 4, 8, 32]);
 * assert.ok(backbone.variables().has("vgg11_bn/block1/conv1/conv/bias"));
 * backbone.dispose();
 * ```
 */
export function createVgg11Bn(options: BackboneOptions = {}): Backbone {
  return createVgg("vgg11_bn", options, true);
}

registerBackbone("vgg11", createVgg11);
registerBackbone("vgg11_bn", createVgg11Bn);
