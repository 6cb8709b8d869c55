/**
 * Convolution layers (NHWC): plain, depthwise and transposed.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { glorotUniform, heNormal } from "./_init.ts";
import { Module } from "./module.ts";

/** Arguments of {@linkcode Conv2d}. */
export interface Conv2dArgs {
  /** Input channels. */
  inChannels: number;
  /** Output channels. */
  filters: number;
  /** Square kernel size. @default {3} */
  kernelSize?: number;
  /** Stride in both directions. @default {1} */
  strides?: number;
  /** Padding. @default {"same"} */
  padding?: "same" | "valid";
  /** Whether to add a bias (off when batch norm follows). @default {false} */
  useBias?: boolean;
  /** Seed of the He-normal initialisation. @default {0} */
  seed?: number;
  /** Initialise for a linear output (Glorot) rather than a ReLU (He). @default {false} */
  linear?: boolean;
}

/**
 * A 2-D convolution, `x: [n, h, w, inChannels]` to `[n, h', w', filters]`.
 *
 * @example Usage
 * ```ts
 * import { Conv2d } from "./convolutional.ts";
 * import { tf } from "../deps.ts";
 * const conv = new Conv2d("conv", { inChannels: 3, filters: 8, strides: 2 });
 * const y = conv.apply(tf.zeros([1, 16, 16, 3]));
 * console.log(y.shape); // [1, 8, 8, 8]
 * tf.dispose(y);
 * conv.dispose();
 * ```
 */
export class Conv2d extends Module {
  /** The kernel, `[k, k, inChannels, filters]`. */
  readonly kernel: tf.Variable;
  /** The bias, `[filters]`, when `useBias`. */
  readonly bias: tf.Variable | null;
  #strides: number;
  #padding: "same" | "valid";

  /** Creates the layer with seeded weights. */
  constructor(name: string, args: Conv2dArgs) {
    super(name);
    const k = args.kernelSize ?? 3;
    const shape = [k, k, args.inChannels, args.filters];
    const seed = args.seed ?? 0;
    this.kernel = this.addWeight(
      "kernel",
      args.linear
        ? glorotUniform(shape, k * k * args.inChannels, k * k * args.filters, seed)
        : heNormal(shape, k * k * args.inChannels, seed),
    );
    this.bias = args.useBias ? this.addWeight("bias", tf.zeros([args.filters])) : null;
    this.#strides = args.strides ?? 1;
    this.#padding = args.padding ?? "same";
  }

  /** Applies the convolution. The caller owns the result. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = tf.conv2d(x, this.kernel as tf.Tensor4D, this.#strides, this.#padding);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }
}

/** Arguments of {@linkcode DepthwiseConv2d}. */
export interface DepthwiseConv2dArgs {
  /** Input channels (and output channels, with multiplier 1). */
  channels: number;
  /** Square kernel size. @default {3} */
  kernelSize?: number;
  /** Stride in both directions. @default {1} */
  strides?: number;
  /** Padding. @default {"same"} */
  padding?: "same" | "valid";
  /** Seed of the He-normal initialisation. @default {0} */
  seed?: number;
}

/**
 * A depthwise 2-D convolution (one filter per channel, no bias).
 *
 * @example Usage
 * ```ts
 * import { DepthwiseConv2d } from "./convolutional.ts";
 * import { tf } from "../deps.ts";
 * const dw = new DepthwiseConv2d("dw", { channels: 4 });
 * const y = dw.apply(tf.zeros([1, 8, 8, 4]));
 * console.log(y.shape); // [1, 8, 8, 4]
 * tf.dispose(y);
 * dw.dispose();
 * ```
 */
export class DepthwiseConv2d extends Module {
  /** The kernel, `[k, k, channels, 1]`. */
  readonly kernel: tf.Variable;
  #strides: number;
  #padding: "same" | "valid";

  /** Creates the layer with seeded weights. */
  constructor(name: string, args: DepthwiseConv2dArgs) {
    super(name);
    const k = args.kernelSize ?? 3;
    this.kernel = this.addWeight(
      "kernel",
      heNormal([k, k, args.channels, 1], k * k, args.seed ?? 0),
    );
    this.#strides = args.strides ?? 1;
    this.#padding = args.padding ?? "same";
  }

  /** Applies the convolution. The caller owns the result. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.depthwiseConv2d(x, this.kernel as tf.Tensor4D, this.#strides, this.#padding);
  }
}

/** Arguments of {@linkcode Conv2dTranspose}. */
export interface Conv2dTransposeArgs {
  /** Input channels. */
  inChannels: number;
  /** Output channels. */
  filters: number;
  /** Square kernel size. @default {3} */
  kernelSize?: number;
  /** Upsampling stride. @default {2} */
  strides?: number;
  /** Whether to add a bias. @default {true} */
  useBias?: boolean;
  /** Seed of the He-normal initialisation. @default {0} */
  seed?: number;
}

/**
 * A transposed 2-D convolution with `same` padding: `[n, h, w, c]` to
 * `[n, h·s, w·s, filters]`.
 *
 * @example Usage
 * ```ts
 * import { Conv2dTranspose } from "./convolutional.ts";
 * import { tf } from "../deps.ts";
 * const up = new Conv2dTranspose("up", { inChannels: 4, filters: 2 });
 * const y = up.apply(tf.zeros([1, 8, 8, 4]));
 * console.log(y.shape); // [1, 16, 16, 2]
 * tf.dispose(y);
 * up.dispose();
 * ```
 */
export class Conv2dTranspose extends Module {
  /** The kernel, `[k, k, filters, inChannels]` (tfjs's transposed layout). */
  readonly kernel: tf.Variable;
  /** The bias, `[filters]`, when `useBias`. */
  readonly bias: tf.Variable | null;
  #strides: number;
  #filters: number;

  /** Creates the layer with seeded weights. */
  constructor(name: string, args: Conv2dTransposeArgs) {
    super(name);
    const k = args.kernelSize ?? 3;
    this.#strides = args.strides ?? 2;
    this.#filters = args.filters;
    this.kernel = this.addWeight(
      "kernel",
      heNormal([k, k, args.filters, args.inChannels], k * k * args.inChannels, args.seed ?? 0),
    );
    this.bias = (args.useBias ?? true) ? this.addWeight("bias", tf.zeros([args.filters])) : null;
  }

  /** Applies the transposed convolution. The caller owns the result. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, h, w] = x.shape;
      const s = this.#strides;
      const y = tf.conv2dTranspose(
        x,
        this.kernel as tf.Tensor4D,
        [n, h * s, w * s, this.#filters],
        s,
        "same",
      );
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }
}
