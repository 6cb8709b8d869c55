/**
 * Dense layers and stateless helpers (activations, pooling).
 *
 * @module
 */
import { tf } from "../deps.ts";
import { glorotUniform } from "./_init.ts";
import { Module } from "./module.ts";

/** Arguments of {@linkcode Dense}. */
export interface DenseArgs {
  /** Input features. */
  inFeatures: number;
  /** Output features. */
  units: number;
  /** Seed of the Glorot-uniform initialisation. @default {0} */
  seed?: number;
}

/**
 * A fully connected layer, `[n, inFeatures]` to `[n, units]`, with bias.
 *
 * @example Usage
 * ```ts
 * import { Dense } from "./core.ts";
 * import { tf } from "../deps.ts";
 * const fc = new Dense("fc", { inFeatures: 4, units: 2 });
 * const y = fc.apply(tf.zeros([3, 4]));
 * console.log(y.shape); // [3, 2]
 * tf.dispose(y);
 * fc.dispose();
 * ```
 */
export class Dense extends Module {
  /** The kernel, `[inFeatures, units]`. */
  readonly kernel: tf.Variable;
  /** The bias, `[units]`. */
  readonly bias: tf.Variable;

  /** Creates the layer with seeded weights and zero bias. */
  constructor(name: string, args: DenseArgs) {
    super(name);
    this.kernel = this.addWeight(
      "kernel",
      glorotUniform([args.inFeatures, args.units], args.inFeatures, args.units, args.seed ?? 0),
    );
    this.bias = this.addWeight("bias", tf.zeros([args.units]));
  }

  /** Applies the layer. The caller owns the result. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(x, this.kernel as tf.Tensor2D), this.bias));
  }
}

/**
 * Global average pooling, `[n, h, w, c]` to `[n, c]`.
 *
 * @example Usage
 * ```ts
 * import { globalAvgPool } from "./core.ts";
 * import { tf } from "../deps.ts";
 * console.log(globalAvgPool(tf.ones([2, 4, 4, 3])).shape); // [2, 3]
 * ```
 */
export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(x, [1, 2]);
}
