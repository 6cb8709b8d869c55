/**
 * Batch normalisation.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { ApplyOptions } from "./module.ts";
import { Module } from "./module.ts";

/** Arguments of {@linkcode BatchNorm}. */
export interface BatchNormArgs {
  /** Channels (the last axis). */
  channels: number;
  /** Weight of the old running statistics in each update. @default {0.9} */
  momentum?: number;
  /** Added to the variance. @default {1e-5} */
  epsilon?: number;
}

/**
 * Batch normalisation over the last axis, written with plain ops (moments,
 * subtract, multiply), so its gradient needs no fused kernel and no `Tile`.
 * Running statistics use the unbiased batch variance, as in PyTorch.
 *
 * @example Usage
 * ```ts
 * import { BatchNorm } from "./normalization.ts";
 * import { tf } from "../deps.ts";
 * const bn = new BatchNorm("bn", { channels: 2 });
 * const y = bn.apply(tf.randomNormal([4, 3, 3, 2]), { training: true });
 * console.log(y.shape); // [4, 3, 3, 2]
 * tf.dispose(y);
 * bn.dispose();
 * ```
 */
export class BatchNorm extends Module {
  /** Scale, `[channels]`. */
  readonly gamma: tf.Variable;
  /** Shift, `[channels]`. */
  readonly beta: tf.Variable;
  /** Running mean (not trainable). */
  readonly movingMean: tf.Variable;
  /** Running variance (not trainable). */
  readonly movingVariance: tf.Variable;
  #momentum: number;
  #epsilon: number;

  /** Creates the layer with unit scale, zero shift and unit running variance. */
  constructor(name: string, args: BatchNormArgs) {
    super(name);
    this.gamma = this.addWeight("gamma", tf.ones([args.channels]));
    this.beta = this.addWeight("beta", tf.zeros([args.channels]));
    this.movingMean = this.addWeight("moving_mean", tf.zeros([args.channels]), false);
    this.movingVariance = this.addWeight("moving_variance", tf.ones([args.channels]), false);
    this.#momentum = args.momentum ?? 0.9;
    this.#epsilon = args.epsilon ?? 1e-5;
  }

  /** Normalises `x`. The caller owns the result. */
  apply<T extends tf.Tensor>(x: T, options: ApplyOptions = {}): T {
    return tf.tidy(() => {
      if (!options.training) {
        const scale = tf.mul(this.gamma, tf.rsqrt(tf.add(this.movingVariance, this.#epsilon)));
        const shift = tf.sub(this.beta, tf.mul(this.movingMean, scale));
        return tf.add(tf.mul(x, scale), shift) as T;
      }
      const axes = x.shape.slice(0, -1).map((_, i) => i);
      const { mean, variance } = tf.moments(x, axes);
      if (options.updateStats ?? true) this.#updateStats(mean, variance, x.size / x.shape.at(-1)!);
      const scale = tf.mul(this.gamma, tf.rsqrt(tf.add(variance, this.#epsilon)));
      return tf.add(tf.mul(tf.sub(x, mean), scale), this.beta) as T;
    });
  }

  #updateStats(mean: tf.Tensor, variance: tf.Tensor, count: number): void {
    const m = this.#momentum;
    const unbiased = count > 1 ? count / (count - 1) : 1;
    this.movingMean.assign(
      tf.add(tf.mul(this.movingMean, m), tf.mul(mean, 1 - m)),
    );
    this.movingVariance.assign(
      tf.add(tf.mul(this.movingVariance, m), tf.mul(variance, (1 - m) * unbiased)),
    );
  }
}
