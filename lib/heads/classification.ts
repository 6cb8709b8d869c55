/**
 * The classification head: average pooling (global, or to a grid), optional
 * hidden dense layers, dropout, dense.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { adaptiveAvgPool, Dense, globalAvgPool } from "../layers/core.ts";
import type { ApplyOptions } from "../layers/module.ts";
import { Module } from "../layers/module.ts";
import { Random } from "../util/random.ts";

/** Arguments of {@linkcode ClassificationHead}. */
export interface ClassificationHeadArgs {
  /** Channels of the features it pools. */
  inChannels: number;
  /** Number of classes. */
  numClasses: number;
  /** Dropout rate in training mode, in [0, 1); where it acts: see the class. @default {0} */
  dropout?: number;
  /** Seed of the dense layers' initialisation and of the dropout masks. @default {0} */
  seed?: number;
  /**
   * Widths of hidden dense layers between the pooled features and the output
   * layer, each followed by a ReLU. torchvision's VGG classifier has
   * `[4096, 4096]`.
   *
   * @default {[]}
   */
  hidden?: readonly number[];
  /**
   * The height and width the features are average-pooled to, adaptively as
   * PyTorch's `AdaptiveAvgPool2d`, and then flattened in (row, column,
   * channel) order; 1 is global average pooling. torchvision's VGG pools to
   * 7.
   *
   * @default {1}
   */
  pooledSize?: number;
}

/**
 * Logits `[n, numClasses]` from features `[n, h, w, c]`: average pooling to
 * `pooledSize × pooledSize` (global by default), flattened; then each
 * hidden dense layer with a ReLU; then the output dense layer. Dropout
 * (training mode only) acts on the input of the output layer and of every
 * hidden layer after the first, as in torchvision's VGG and MobileNetV2
 * classifiers; so with no hidden layers, on the pooled features. Dropout is
 * inverted (kept values are scaled by `1 / (1 − rate)`), and its masks come
 * from a seeded stream: the masks of the k-th training pass depend only on
 * the seed and k ({@linkcode ClassificationHead.dropoutStep}), so runs
 * repeat. The module is called `classifier`; its variables are
 * `classifier/hidden<i>/kernel|bias` (i from 1) and
 * `classifier/fc/kernel|bias`, kernels `[in, out]`.
 *
 * @example Usage
 * ```ts
 * import { ClassificationHead } from "./classification.ts";
 * import { tf } from "../deps.ts";
 * import assert from "node:assert";
 * const head = new ClassificationHead({ inChannels: 8, numClasses: 3, dropout: 0.5 });
 * const features = tf.ones([2, 4, 4, 8]) as tf.Tensor4D;
 * const logits = head.apply(features, { training: true });
 * assert.deepEqual(logits.shape, [2, 3]);
 * assert.equal(head.dropoutStep, 1);
 * tf.dispose([features, logits]);
 * head.dispose();
 * ```
 *
 * @example torchvision's VGG classifier, narrower
 * ```ts
 * import { ClassificationHead } from "./classification.ts";
 * import { tf } from "../deps.ts";
 * import assert from "node:assert";
 * const head = new ClassificationHead({ inChannels: 8, numClasses: 3, hidden: [16, 16], pooledSize: 7 });
 * assert.deepEqual([...head.variables().keys()], [
 *   "classifier/hidden1/kernel", "classifier/hidden1/bias",
 *   "classifier/hidden2/kernel", "classifier/hidden2/bias",
 *   "classifier/fc/kernel", "classifier/fc/bias",
 * ]);
 * assert.deepEqual(head.variables().get("classifier/hidden1/kernel")!.shape, [7 * 7 * 8, 16]);
 * const logits = head.apply(tf.ones([2, 2, 2, 8]) as tf.Tensor4D);
 * assert.deepEqual(logits.shape, [2, 3]);
 * tf.dispose(logits);
 * head.dispose();
 * ```
 */
export class ClassificationHead extends Module {
  /** The output dense layer. */
  readonly fc: Dense;
  /** The hidden dense layers, in order. */
  readonly hiddenLayers: readonly Dense[];
  /** The dropout rate. */
  readonly dropout: number;
  /** The side of the grid the features are pooled to. */
  readonly pooledSize: number;
  /**
   * How many training passes have drawn dropout masks. Set it when resuming
   * a run, to continue the same stream of masks.
   */
  dropoutStep = 0;
  readonly #seed: number;

  /** Creates the head with seeded weights. */
  constructor(args: ClassificationHeadArgs) {
    super("classifier");
    const dropout = args.dropout ?? 0, seed = args.seed ?? 0;
    const hidden = args.hidden ?? [], pooledSize = args.pooledSize ?? 1;
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
    if (!Array.isArray(hidden) || !hidden.every((u) => Number.isInteger(u) && u > 0)) {
      throw new RangeError(
        `Option "hidden" of the classification head must be an array of positive integers, got ${
          JSON.stringify(hidden)
        }`,
      );
    }
    if (!Number.isInteger(pooledSize) || pooledSize < 1) {
      throw new RangeError(
        `Option "pooledSize" of the classification head must be a positive integer, got ${
          JSON.stringify(pooledSize)
        }`,
      );
    }
    const rng = new Random(seed);
    // The output layer's and the dropout's seeds come first, as before hidden layers existed.
    const fcSeed = rng.seed();
    this.#seed = rng.seed();
    let inFeatures = args.inChannels * pooledSize * pooledSize;
    this.hiddenLayers = hidden.map((units, i) => {
      const layer = this.addChild(
        new Dense(`hidden${i + 1}`, { inFeatures, units, seed: rng.seed() }),
      );
      inFeatures = units;
      return layer;
    });
    this.fc = this.addChild(
      new Dense("fc", { inFeatures, units: args.numClasses, seed: fcSeed }),
    );
    this.dropout = dropout;
    this.pooledSize = pooledSize;
  }

  /** Logits `[n, numClasses]`. The caller owns the result. */
  apply(features: tf.Tensor4D, options: ApplyOptions = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const n = features.shape[0];
      let h: tf.Tensor2D = this.pooledSize === 1
        ? globalAvgPool(features)
        : tf.reshape(adaptiveAvgPool(features, this.pooledSize), [n, -1]);
      let drop = (x: tf.Tensor2D) => x;
      if (options.training && this.dropout > 0) {
        const rate = this.dropout;
        const rng = new Random((this.#seed + Math.imul(this.dropoutStep++, 0x9e3779b9)) | 0);
        drop = (x) => {
          const keep = rng.uniformArray(x.size).map((u) => (u >= rate ? 1 / (1 - rate) : 0));
          return tf.mul(x, tf.tensor2d(keep, x.shape));
        };
      }
      this.hiddenLayers.forEach((layer, i) => {
        h = tf.relu(layer.apply(i === 0 ? h : drop(h)));
      });
      return this.fc.apply(drop(h));
    });
  }

  /**
   * Class evidence per location, `[n, h, w, numClasses]`: the output
   * layer applied at every position of `features` without its bias, so that
   * its spatial mean plus the bias is the logits of {@linkcode apply} in
   * inference mode (the class activation maps of Zhou et al. 2016). Only a
   * head with global pooling and no hidden layers has it; others throw. The
   * caller owns the result.
   *
   * @example The mean of the evidence plus the bias is the logits
   * ```ts
   * import assert from "node:assert";
   * import { ClassificationHead } from "./classification.ts";
   * import { tf } from "../deps.ts";
   * const head = new ClassificationHead({ inChannels: 4, numClasses: 3, seed: 1 });
   * const features = tf.randomNormal([2, 3, 3, 4], 0, 1, "float32", 7) as tf.Tensor4D;
   * const evidence = head.evidence(features);
   * const fromEvidence = tf.add(tf.mean(evidence, [1, 2]), head.fc.bias);
   * const logits = head.apply(features);
   * assert.ok(tf.max(tf.abs(tf.sub(fromEvidence, logits))).dataSync()[0] < 1e-5);
   * tf.dispose([features, evidence, fromEvidence, logits]);
   * head.dispose();
   * ```
   */
  evidence(features: tf.Tensor4D): tf.Tensor4D {
    if (this.hiddenLayers.length > 0 || this.pooledSize !== 1) {
      throw new TypeError(
        "Class evidence (CAM) needs a classifier that is global average pooling and one linear layer; this one has " +
          (this.hiddenLayers.length > 0 ? "hidden layers" : `pooledSize ${this.pooledSize}`),
      );
    }
    return classEvidence(features, this.fc.kernel);
  }
}

/**
 * `features` `[n, h, w, c]` times `kernel` `[c, k]` at every position:
 * `[n, h, w, k]`. The caller owns the result.
 */
export function classEvidence(features: tf.Tensor4D, kernel: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = features.shape;
    const flat = tf.matMul(tf.reshape(features, [n * h * w, c]), kernel as tf.Tensor2D);
    return tf.reshape(flat, [n, h, w, kernel.shape[1]!]) as tf.Tensor4D;
  });
}
