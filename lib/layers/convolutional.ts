/**
 * Convolution layers (NHWC): plain, depthwise and transposed.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { glorotUniform, heNormal } from "./_init.ts";
import { type ApplyOptions, Module } from "./module.ts";
import type { BatchNorm } from "./normalization.ts";

/**
 * How a convolution or pool pads its input. Both `"same"` and `"symmetric"`
 * give `ceil(size / stride)` output pixels for an odd kernel size `k`; they
 * differ in where the zeros go:
 * - `"same"` is tfjs's (and TensorFlow's): `k - 1 - ((size - 1) % stride)`
 *   zeros in all, the odd one at the bottom and right, so an even input at
 *   stride 2 gets one pixel more padding at the bottom and right than at
 *   the top and left;
 * - `"symmetric"` is PyTorch's `padding = (k - 1) / 2`: that many zeros on
 *   every side (a max pool ignores them, as PyTorch's pads with −∞);
 * - `"valid"` pads nothing.
 *
 * At stride 1, and at stride 2 on odd sizes, `"same"` and `"symmetric"` are
 * the same.
 */
export type Padding = "same" | "valid" | "symmetric";

/**
 * The `pad` argument of tfjs's convolution and pooling ops for `padding` with
 * a square window of `kernelSize`: `"symmetric"` becomes the number of zeros
 * on each side. Throws a RangeError for `"symmetric"` with an even size.
 *
 * @example Usage
 * ```ts
 * import { tfjsPad } from "./convolutional.ts";
 * import assert from "node:assert";
 * assert.equal(tfjsPad("symmetric", 7), 3);
 * assert.equal(tfjsPad("same", 3), "same");
 * assert.throws(() => tfjsPad("symmetric", 2), /odd kernel size/);
 * ```
 */
export function tfjsPad(padding: Padding, kernelSize: number): "same" | "valid" | number {
  if (padding !== "symmetric") return padding;
  if (kernelSize % 2 !== 1) {
    throw new RangeError(
      `Padding "symmetric" needs an odd kernel size, got ${kernelSize}: use "same" or "valid"`,
    );
  }
  return (kernelSize - 1) / 2;
}

/** A kernel and bias with a batch norm folded in. */
export type FoldedKernel = {
  /** The kernel times the per-channel scale. */
  filter: tf.Tensor4D;
  /** The bias, `[channels]`. */
  bias: tf.Tensor1D;
};

/**
 * What {@linkcode Conv2d} and {@linkcode DepthwiseConv2d} share: the
 * convolution's stride and padding, and folding a batch norm into the kernel
 * and bias ({@linkcode FoldableConv.applyFolded}), kept between calls
 * ({@linkcode FoldableConv.applyFoldedBatchNorm}). A subclass adds the
 * weights and says how to fold.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { Conv2d, DepthwiseConv2d, FoldableConv } from "./convolutional.ts";
 * assert.ok(new Conv2d("conv", { inChannels: 3, filters: 2 }) instanceof FoldableConv);
 * assert.ok(new DepthwiseConv2d("dw", { channels: 2 }) instanceof FoldableConv);
 * ```
 */
export abstract class FoldableConv extends Module {
  /** The kernel. */
  abstract readonly kernel: tf.Variable;
  #depthwise: boolean;
  #strides: number;
  #padding: "same" | "valid" | number;
  #cache = new FoldedCache();

  /**
   * Sets the convolution's geometry (kernel size 3, stride 1 and padding
   * `"same"` unless given); the subclass adds the weights.
   */
  protected constructor(
    name: string,
    geometry: { depthwise: boolean; kernelSize?: number; strides?: number; padding?: Padding },
  ) {
    super(name);
    this.#depthwise = geometry.depthwise;
    this.#strides = geometry.strides ?? 1;
    this.#padding = tfjsPad(geometry.padding ?? "same", geometry.kernelSize ?? 3);
  }

  /** The convolution with `filter`, without a bias. The caller owns the result. */
  protected convolve(x: tf.Tensor4D, filter: tf.Tensor4D): tf.Tensor4D {
    const conv = this.#depthwise ? tf.depthwiseConv2d : tf.conv2d;
    return conv(x, filter, this.#strides, this.#padding);
  }

  /** The kernel and bias with the per-channel `scale` and `shift` folded in. */
  protected abstract fold(scale: tf.Tensor1D, shift: tf.Tensor1D): FoldedKernel;

  /**
   * `activation(conv(x) · scale + shift)` with the per-channel `scale` and
   * `shift` folded into the kernel and bias, as one fused convolution (on
   * wasm, one XNNPACK operator with its bias and ReLU). Under a gradient tape
   * it runs the convolution, the bias and the ReLU as separate ops, whose
   * gradients tfjs computes only where needed. The caller owns the result.
   *
   * @example Usage
   * ```ts
   * import assert from "node:assert";
   * import { Conv2d, DepthwiseConv2d } from "./convolutional.ts";
   * import { tf } from "../deps.ts";
   * const conv = new Conv2d("conv", { inChannels: 3, filters: 2 });
   * const x = tf.randomNormal([1, 4, 4, 3]) as tf.Tensor4D;
   * const scale = tf.tensor1d([2, 3]), shift = tf.tensor1d([1, -1]);
   * const y = conv.applyFolded(x, scale, shift, "linear");
   * const z = tf.add(tf.mul(conv.apply(x), scale), shift);
   * assert.ok(tf.max(tf.abs(tf.sub(y, z))).dataSync()[0] < 1e-5);
   *
   * const dw = new DepthwiseConv2d("dw", { channels: 2 });
   * const x2 = tf.randomNormal([1, 4, 4, 2]) as tf.Tensor4D;
   * const y2 = dw.applyFolded(x2, scale, shift, "relu");
   * const z2 = tf.relu(tf.add(tf.mul(dw.apply(x2), scale), shift));
   * assert.ok(tf.max(tf.abs(tf.sub(y2, z2))).dataSync()[0] < 1e-5);
   * tf.dispose([x, scale, shift, y, z, x2, y2, z2]);
   * conv.dispose();
   * dw.dispose();
   * ```
   */
  applyFolded(
    x: tf.Tensor4D,
    scale: tf.Tensor1D,
    shift: tf.Tensor1D,
    activation: "linear" | "relu",
  ): tf.Tensor4D {
    return tf.tidy(() => this.#run(x, this.fold(scale, shift), activation));
  }

  /**
   * {@linkcode FoldableConv.applyFolded} with `bn`'s inference transform, the
   * folded kernel and bias kept between calls while no weight changes (a
   * weight's data changes identity on every `assign`). Without a gradient
   * tape it runs one fused convolution on the kept kernel, which the wasm
   * engine's XNNPACK packs once instead of on every call: at batch 1 the
   * packing cost more than the convolution. Under a tape the kernel is
   * folded afresh, so gradients reach the weights, unless `frozenWeights`
   * says none is wanted (an explainer's input gradient). The caller owns
   * the result.
   */
  applyFoldedBatchNorm(
    x: tf.Tensor4D,
    bn: BatchNorm,
    activation: "linear" | "relu",
    options: { frozenWeights?: boolean } = {},
  ): tf.Tensor4D {
    const folded = () => {
      const { scale, shift } = bn.scaleShift();
      return this.fold(scale, shift);
    };
    if (tf.engine().isTapeOn() && !(options.frozenWeights ?? false)) {
      return tf.tidy(() => this.#run(x, folded(), activation));
    }
    const from = [...this.variables().values(), ...bn.weights()];
    return this.#run(x, this.#cache.get(from, folded), activation);
  }

  /**
   * The convolution with a bias and an activation: one fused kernel, or,
   * under a gradient tape, separate ops, because tfjs's fused op computes
   * the filter and bias gradients too even when only the input's is wanted.
   */
  #run(x: tf.Tensor4D, folded: FoldedKernel, activation: "linear" | "relu"): tf.Tensor4D {
    if (tf.engine().isTapeOn()) {
      const y = tf.add(this.convolve(x, folded.filter), folded.bias);
      return (activation === "relu" ? tf.relu(y) : y) as tf.Tensor4D;
    }
    const o = { x, ...folded, strides: this.#strides, pad: this.#padding, activation };
    return this.#depthwise ? tf.fused.depthwiseConv2d(o) : tf.fused.conv2d(o);
  }

  /** Frees the variables and the kept folded kernel. */
  override dispose(): void {
    this.#cache.clear();
    super.dispose();
  }
}

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
  /** Padding ({@linkcode Padding}). @default {"same"} */
  padding?: Padding;
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
 * import assert from "node:assert";
 * import { Conv2d } from "./convolutional.ts";
 * import { tf } from "../deps.ts";
 * const conv = new Conv2d("conv", { inChannels: 3, filters: 8, strides: 2 });
 * const y = conv.apply(tf.zeros([1, 16, 16, 3]));
 * assert.deepStrictEqual(y.shape, [1, 8, 8, 8]);
 * tf.dispose(y);
 * conv.dispose();
 * ```
 */
export class Conv2d extends FoldableConv {
  /** The kernel, `[k, k, inChannels, filters]`. */
  readonly kernel: tf.Variable;
  /** The bias, `[filters]`, when `useBias`. */
  readonly bias: tf.Variable | null;

  /** Creates the layer with seeded weights. */
  constructor(name: string, args: Conv2dArgs) {
    super(name, { ...args, depthwise: false });
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
  }

  /** Applies the convolution. The caller owns the result. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.convolve(x, this.kernel as tf.Tensor4D);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }

  /** The kernel times `scale` and the bias times `scale` plus `shift`. */
  protected override fold(scale: tf.Tensor1D, shift: tf.Tensor1D): FoldedKernel {
    return {
      filter: tf.mul(this.kernel, scale) as tf.Tensor4D,
      bias: this.bias ? tf.add(tf.mul(this.bias, scale), shift) as tf.Tensor1D : shift,
    };
  }
}

/**
 * A folded kernel and bias kept while the tensors they were made from keep
 * their data (`assign` gives a variable new data).
 */
class FoldedCache {
  #from: unknown[] = [];
  #value: FoldedKernel | null = null;

  get(from: (tf.Tensor | null)[], make: () => FoldedKernel): FoldedKernel {
    const ids = from.map((t) => t?.dataId ?? null);
    const fresh = this.#value !== null && !this.#value.filter.isDisposed &&
      ids.length === this.#from.length && ids.every((id, i) => id === this.#from[i]);
    if (!fresh) {
      this.clear();
      const value = tf.tidy(make);
      this.#value = { filter: tf.keep(value.filter), bias: tf.keep(value.bias) };
      this.#from = ids;
    }
    return this.#value!;
  }

  clear(): void {
    if (this.#value) tf.dispose([this.#value.filter, this.#value.bias]);
    this.#value = null;
    this.#from = [];
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
  /** Padding ({@linkcode Padding}). @default {"same"} */
  padding?: Padding;
  /** Seed of the He-normal initialisation. @default {0} */
  seed?: number;
}

/**
 * A depthwise 2-D convolution (one filter per channel, no bias).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { DepthwiseConv2d } from "./convolutional.ts";
 * import { tf } from "../deps.ts";
 * const dw = new DepthwiseConv2d("dw", { channels: 4 });
 * const y = dw.apply(tf.zeros([1, 8, 8, 4]));
 * assert.deepStrictEqual(y.shape, [1, 8, 8, 4]);
 * tf.dispose(y);
 * dw.dispose();
 * ```
 */
export class DepthwiseConv2d extends FoldableConv {
  /** The kernel, `[k, k, channels, 1]`. */
  readonly kernel: tf.Variable;

  /** Creates the layer with seeded weights. */
  constructor(name: string, args: DepthwiseConv2dArgs) {
    super(name, { ...args, depthwise: true });
    const k = args.kernelSize ?? 3;
    this.kernel = this.addWeight(
      "kernel",
      heNormal([k, k, args.channels, 1], k * k, args.seed ?? 0),
    );
  }

  /** Applies the convolution. The caller owns the result. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return this.convolve(x, this.kernel as tf.Tensor4D);
  }

  /** The kernel times `scale` (per channel), with `shift` as the bias. */
  protected override fold(scale: tf.Tensor1D, shift: tf.Tensor1D): FoldedKernel {
    return {
      filter: tf.mul(this.kernel, tf.reshape(scale, [1, 1, -1, 1])) as tf.Tensor4D,
      bias: shift,
    };
  }
}

/**
 * A convolution, then batch norm, then `activation`. In inference mode, and
 * not under a nested gradient, the batch norm is folded into the
 * convolution's weights ({@linkcode Conv2d.applyFolded}): one fused kernel
 * instead of a convolution and three element-wise passes, with the same
 * values up to rounding and the same first-order gradients. Training mode,
 * gradients of gradients and `foldBatchNorm: false` take the plain ops. The
 * caller owns the result.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { Conv2d, convBnAct } from "./convolutional.ts";
 * import { BatchNorm } from "./normalization.ts";
 * import { tf } from "../deps.ts";
 * const conv = new Conv2d("conv", { inChannels: 3, filters: 4 });
 * const bn = new BatchNorm("bn", { channels: 4 });
 * const x = tf.randomNormal([2, 8, 8, 3]) as tf.Tensor4D;
 * const y = convBnAct(conv, bn, x, {}, "relu");
 * assert.deepStrictEqual(y.shape, [2, 8, 8, 4]);
 * assert.ok(y.min().dataSync()[0] >= 0); // after the ReLU
 * tf.dispose([x, y]);
 * conv.dispose();
 * bn.dispose();
 * ```
 */
export function convBnAct(
  conv: Conv2d | DepthwiseConv2d,
  bn: BatchNorm,
  x: tf.Tensor4D,
  options: ApplyOptions,
  activation: "relu" | "relu6" | "none",
): tf.Tensor4D {
  return tf.tidy(() => {
    const engine = tf.engine();
    if (
      options.training || options.foldBatchNorm === false ||
      (engine.isTapeOn() && engine.state.gradientDepth > 1)
    ) {
      const y = bn.apply(conv.apply(x), options);
      return activation === "relu"
        ? tf.relu(y)
        : activation === "relu6"
        ? tf.clipByValue(y, 0, 6)
        : y;
    }
    // tfjs differentiates a fused ReLU but not a fused ReLU6: clip after.
    const y = conv.applyFoldedBatchNorm(x, bn, activation === "relu" ? "relu" : "linear", {
      frozenWeights: options.frozenWeights,
    });
    return activation === "relu6" ? tf.clipByValue(y, 0, 6) : y;
  });
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
 * import assert from "node:assert";
 * import { Conv2dTranspose } from "./convolutional.ts";
 * import { tf } from "../deps.ts";
 * const up = new Conv2dTranspose("up", { inChannels: 4, filters: 2 });
 * const y = up.apply(tf.zeros([1, 8, 8, 4]));
 * assert.deepStrictEqual(y.shape, [1, 16, 16, 2]);
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
