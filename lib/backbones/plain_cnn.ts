/**
 * A small plain CNN: no skip connections, one convolution per stage.
 *
 * @module
 */
import { Random } from "../util/random.ts";
import { registerBackbone } from "./registry.ts";
import type { Backbone, BackboneOptions } from "./types.ts";
import { ConvBnAct, MaxPool, resolveOptions, scaled, Sequence, StagedBackbone } from "./_util.ts";

/**
 * Creates the plain CNN (registered as `"plain_cnn"`). Four stages, each a
 * 3×3 conv, batch norm and ReLU; stages 2 to 4 start with a 2×2 max pool:
 *
 * | stage | channels (width 1) | reduction |
 * |---|---|---|
 * | `stage1` | 32 | 1 |
 * | `stage2` | 64 | 2 |
 * | `stage3` | 128 | 4 |
 * | `stage4` | 256 | 8 |
 *
 * Input height and width must be multiples of 8. Takes `inputChannels`,
 * `width` and `seed`. The caller disposes the backbone.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createPlainCnn } from "./plain_cnn.ts";
 * const backbone = createPlainCnn({ width: 0.25 });
 * assert.deepStrictEqual(backbone.featureInfo.map((s) => s.channels), [8, 16, 32, 64]);
 * backbone.dispose();
 * ```
 */
export function createPlainCnn(options: BackboneOptions = {}): Backbone {
  const resolved = resolveOptions("plain_cnn", options);
  const rng = new Random(resolved.seed);
  const channels = [32, 64, 128, 256].map((c) => scaled(c, resolved.width));
  let inChannels: number = resolved.inputChannels;
  const stages = channels.map((filters, i) => {
    const conv = new ConvBnAct("conv", { inChannels, filters, seed: rng.seed() });
    inChannels = filters;
    const layers = i === 0 ? [conv] : [new MaxPool("pool", 2, 2), conv];
    return { layer: new Sequence(`stage${i + 1}`, layers), channels: filters, reduction: 2 ** i };
  });
  return new StagedBackbone("plain_cnn", resolved, stages);
}

registerBackbone("plain_cnn", createPlainCnn);
