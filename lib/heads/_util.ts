// Helpers shared by the heads. Private to lib/heads/.
import { tf } from "../deps.ts";
import { Conv2d } from "../layers/convolutional.ts";
import type { ApplyOptions } from "../layers/module.ts";
import { Module } from "../layers/module.ts";
import { BatchNorm } from "../layers/normalization.ts";

/** Conv (no bias), batch norm, then ReLU unless `relu` is false. */
export class ConvBn extends Module {
  readonly #conv: Conv2d;
  readonly #bn: BatchNorm;
  readonly #relu: boolean;

  constructor(
    name: string,
    args: { inChannels: number; filters: number; kernelSize: number; seed: number; relu?: boolean },
  ) {
    super(name);
    this.#relu = args.relu ?? true;
    this.#conv = this.addChild(
      new Conv2d("conv", {
        inChannels: args.inChannels,
        filters: args.filters,
        kernelSize: args.kernelSize,
        seed: args.seed,
        linear: !this.#relu,
      }),
    );
    this.#bn = this.addChild(new BatchNorm("bn", { channels: args.filters }));
  }

  apply(x: tf.Tensor4D, options: ApplyOptions): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.#bn.apply(this.#conv.apply(x), options);
      return this.#relu ? tf.relu(y) : y;
    });
  }
}

/** `[n, h, w, 1]` logits resized (bilinear, half-pixel centres) to `size`, as `[n, H, W]`. */
export function upsampleMap(map: tf.Tensor4D, size: readonly [number, number]): tf.Tensor3D {
  return tf.tidy(() => {
    const [, h, w] = map.shape;
    const full = h === size[0] && w === size[1]
      ? map
      : tf.image.resizeBilinear(map, [size[0], size[1]], false, true);
    return tf.squeeze(full, [3]) as tf.Tensor3D;
  });
}
