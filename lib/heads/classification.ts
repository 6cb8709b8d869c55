/**
 * The classification head: global average pooling, optional dropout, dense.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { Dense, globalAvgPool } from "../layers/core.ts";
import type { ApplyOptions } from "../layers/module.ts";
import { Module } from "../layers/module.ts";
import { Random } from "../util/random.ts";

/** Arguments of {@linkcode ClassificationHead}. */
export interface ClassificationHeadArgs {
  /** Channels of the features it pools. */
  inChannels: number;
  /** Number of classes. */
  numClasses: number;
  /** Dropout rate on the pooled features in training mode, in [0, 1). @default {0} */
  dropout?: number;
  /** Seed of the dense layer's initialisation and of the dropout masks. @default {0} */
  seed?: number;
}

/**
 * Logits `[n, numClasses]` from features `[n, h, w, c]`: global average
 * pooling, dropout (training mode only), then a dense layer. Dropout is
 * inverted (kept values are scaled by `1 / (1 − rate)`), and its masks come
 * from a seeded stream: the mask of the k-th training pass depends only on
 * the seed and k ({@linkcode ClassificationHead.dropoutStep}), so runs
 * repeat. The module is called `classifier`; its variables are
 * `classifier/fc/kernel` and `classifier/fc/bias`.
 *
 * @example Usage
 * ```ts
 * import { ClassificationHead } from "./classification.ts";
 * import { tf } from "../deps.ts";
 * const head = new ClassificationHead({ inChannels: 8, numClasses: 3, dropout: 0.5 });
 * const features = tf.ones([2, 4, 4, 8]) as tf.Tensor4D;
 * const logits = head.apply(features, { training: true });
 * console.log(logits.shape, head.dropoutStep); // [ 2, 3 ] 1
 * tf.dispose([features, logits]);
 * head.dispose();
 * ```
 */
export class ClassificationHead extends Module {
  /** The dense layer. */
  readonly fc: Dense;
  /** The dropout rate. */
  readonly dropout: number;
  /**
   * How many training passes have drawn a dropout mask. Set it when resuming
   * a run, to continue the same stream of masks.
   */
  dropoutStep = 0;
  readonly #seed: number;

  /** Creates the head with seeded weights. */
  constructor(args: ClassificationHeadArgs) {
    super("classifier");
    const dropout = args.dropout ?? 0, seed = args.seed ?? 0;
    for (const field of ["inChannels", "numClasses"] as const) {
      if (!Number.isInteger(args[field]) || args[field] < 1) {
        throw new RangeError(
          `Argument "${field}" of the classification head must be a positive integer, got ${
            args[field]
          }`,
        );
      }
    }
    if (!(dropout >= 0 && dropout < 1)) {
      throw new RangeError(`Option "dropout" must be in [0, 1), got ${dropout}`);
    }
    const rng = new Random(seed);
    this.fc = this.addChild(
      new Dense("fc", { inFeatures: args.inChannels, units: args.numClasses, seed: rng.seed() }),
    );
    this.dropout = dropout;
    this.#seed = rng.seed();
  }

  /** Logits `[n, numClasses]`. The caller owns the result. */
  apply(features: tf.Tensor4D, options: ApplyOptions = {}): tf.Tensor2D {
    return tf.tidy(() => {
      let pooled = globalAvgPool(features);
      if (options.training && this.dropout > 0) {
        const rate = this.dropout;
        const rng = new Random((this.#seed + Math.imul(this.dropoutStep++, 0x9e3779b9)) | 0);
        const keep = rng.uniformArray(pooled.size).map((u) => (u >= rate ? 1 / (1 - rate) : 0));
        pooled = tf.mul(pooled, tf.tensor2d(keep, pooled.shape));
      }
      return this.fc.apply(pooled);
    });
  }
}
