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
 * Batch normalisation over the last axis, without tfjs's fused kernel (whose
 * gradient tiles). Training mode is one op with the closed-form backward pass
 * (two reductions); inference multiplies by a scale and adds a shift. Nested
 * gradients (double backpropagation) take plain ops, so every derivative
 * stays on the tape.
 * Running statistics use the unbiased batch variance, as in PyTorch.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { BatchNorm } from "./normalization.ts";
 * import { tf } from "../deps.ts";
 * const bn = new BatchNorm("bn", { channels: 2 });
 * const y = bn.apply(tf.randomNormal([4, 3, 3, 2], 5, 2), { training: true });
 * assert.deepStrictEqual(y.shape, [4, 3, 3, 2]);
 * // Training mode normalises with the batch's statistics: mean 0 per channel.
 * tf.mean(y, [0, 1, 2]).dataSync().forEach((m) => assert.ok(Math.abs(m) < 1e-4));
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

  /**
   * The inference-mode transform as `x · scale + shift`, per channel:
   * `scale = gamma / sqrt(movingVariance + epsilon)`,
   * `shift = beta − movingMean · scale`. A convolution before the batch norm
   * can fold them into its weights ({@linkcode convBnAct}). The caller owns
   * both.
   *
   * @example Usage
   * ```ts
   * import assert from "node:assert";
   * import { BatchNorm } from "./normalization.ts";
   * import { tf } from "../deps.ts";
   * const bn = new BatchNorm("bn", { channels: 2 });
   * const { scale, shift } = bn.scaleShift();
   * assert.deepStrictEqual(scale.shape, [2]);
   * // A fresh batch norm (gamma 1, beta 0, mean 0, variance 1) is about the identity.
   * scale.dataSync().forEach((s) => assert.ok(Math.abs(s - 1) < 1e-2));
   * assert.deepStrictEqual(Array.from(shift.dataSync()), [0, 0]);
   * tf.dispose([scale, shift]);
   * bn.dispose();
   * ```
   */
  scaleShift(): { scale: tf.Tensor1D; shift: tf.Tensor1D } {
    return tf.tidy(() => {
      const scale = tf.mul(this.gamma, tf.rsqrt(tf.add(this.movingVariance, this.#epsilon)));
      const shift = tf.sub(this.beta, tf.mul(this.movingMean, scale));
      return { scale: scale as tf.Tensor1D, shift: shift as tf.Tensor1D };
    });
  }

  /** The four tensors the inference transform is made from: gamma, beta and the running statistics. */
  weights(): tf.Variable[] {
    return [this.gamma, this.beta, this.movingMean, this.movingVariance];
  }

  /** Normalises `x`. The caller owns the result. */
  apply<T extends tf.Tensor>(x: T, options: ApplyOptions = {}): T {
    if (!options.training) {
      return tf.tidy(() => {
        const { scale, shift } = this.scaleShift();
        return tf.add(tf.mul(x, scale), shift) as T;
      });
    }
    const update = options.updateStats ?? true;
    const engine = tf.engine();
    if (engine.isTapeOn() && engine.state.gradientDepth > 1) {
      // Nested gradients differentiate the backward pass too: plain ops only.
      return tf.tidy(() => {
        const axes = x.shape.slice(0, -1).map((_, i) => i);
        const { mean, variance } = tf.moments(x, axes);
        if (update) this.#updateStats(mean, variance, x.size / x.shape.at(-1)!);
        const scale = tf.mul(this.gamma, tf.rsqrt(tf.add(variance, this.#epsilon)));
        return tf.add(tf.mul(tf.sub(x, mean), scale), this.beta) as T;
      });
    }
    return this.#trainingOp(update)(x, this.gamma, this.beta) as T;
  }

  /**
   * Training-mode batch norm as one `customGrad` op whose backward pass is
   * the closed form, with `xc = x - mean`, `s = gamma * invStd` and `N` the
   * positions per channel: `dbeta = Σdy`, `dgamma = invStd Σ(dy xc)`,
   * `dx = s dy - s Σdy / N - xc s invStd² Σ(dy xc) / N`: two reductions.
   */
  #trainingOp(update: boolean) {
    const f = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
      const axes = x.shape.slice(0, -1).map((_, i) => i);
      const { mean, variance } = tf.moments(x, axes);
      if (update) this.#updateStats(mean, variance, x.size / x.shape.at(-1)!);
      const invStd = tf.rsqrt(tf.add(variance, this.#epsilon));
      const scale = tf.mul(gamma, invStd);
      const xc = tf.sub(x, mean);
      save([xc, invStd, scale]);
      return {
        value: tf.add(tf.mul(xc, scale), beta),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const d = dy as tf.Tensor;
          const [xc, invStd, scale] = saved;
          const n = xc.size / xc.shape.at(-1)!;
          const sumDy = tf.sum(d, axes);
          const sumDyXc = tf.sum(tf.mul(d, xc), axes);
          const a = tf.mul(scale, -1 / n);
          const dx = tf.add(
            tf.add(tf.mul(d, scale), tf.mul(xc, tf.mul(tf.mul(a, tf.square(invStd)), sumDyXc))),
            tf.mul(a, sumDy),
          );
          return [dx, tf.mul(sumDyXc, invStd), sumDy];
        },
      };
    };
    return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as (
      x: tf.Tensor,
      gamma: tf.Tensor,
      beta: tf.Tensor,
    ) => tf.Tensor;
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
