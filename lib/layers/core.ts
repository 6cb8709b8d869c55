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
 * import assert from "node:assert";
 * import { Dense } from "./core.ts";
 * import { tf } from "../deps.ts";
 * const fc = new Dense("fc", { inFeatures: 4, units: 2 });
 * const y = fc.apply(tf.zeros([3, 4]));
 * assert.deepStrictEqual(y.shape, [3, 2]);
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
 * import assert from "node:assert";
 * import { globalAvgPool } from "./core.ts";
 * import { tf } from "../deps.ts";
 * const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
 * const pooled = globalAvgPool(x);
 * assert.deepStrictEqual(pooled.shape, [1, 1]);
 * assert.equal(pooled.dataSync()[0], 2.5); // the mean of 1, 2, 3 and 4
 * ```
 */
export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(x, [1, 2]);
}

/**
 * Adaptive average pooling, as PyTorch's `AdaptiveAvgPool2d`: `[n, h, w, c]`
 * to `[n, size, size, c]` (or `[n, size[0], size[1], c]`), where output row
 * `i` averages input rows `floor(i · h / size)` to `ceil((i + 1) · h /
 * size) − 1`, and likewise for columns. Bins overlap, or repeat a row, when
 * `h` is not a multiple of `size`. The caller owns the result.
 *
 * @example Usage
 * ```ts
 * import { adaptiveAvgPool } from "./core.ts";
 * import { tf } from "../deps.ts";
 * import assert from "node:assert";
 * // One row [1, 2, 3] pooled to 2 columns: bins {1, 2} and {2, 3}.
 * const x = tf.tensor4d([1, 2, 3], [1, 1, 3, 1]);
 * const y = adaptiveAvgPool(x, [1, 2]);
 * assert.deepEqual([...y.dataSync()], [1.5, 2.5]);
 * tf.dispose([x, y]);
 * ```
 */
export function adaptiveAvgPool(
  x: tf.Tensor4D,
  size: number | readonly [number, number],
): tf.Tensor4D {
  const [gh, gw] = typeof size === "number" ? [size, size] : size;
  if (![gh, gw].every((g) => Number.isInteger(g) && g > 0)) {
    throw new RangeError(
      `adaptiveAvgPool needs a positive integer size or [height, width], got ${
        JSON.stringify(size)
      }`,
    );
  }
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    if (h === gh && w === gw) return tf.clone(x) as tf.Tensor4D;
    if (h % gh === 0 && w % gw === 0) {
      return tf.avgPool(x, [h / gh, w / gw], [h / gh, w / gw], "valid");
    }
    // One averaging matrix per axis: rows first, then columns.
    const rows = tf.matMul(binMatrix(h, gh), tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, -1]));
    const byCol = tf.reshape(
      tf.transpose(tf.reshape(rows, [gh, n, w, c]), [2, 1, 0, 3]),
      [w, -1],
    );
    const cols = tf.reshape(tf.matMul(binMatrix(w, gw), byCol), [gw, n, gh, c]);
    return tf.transpose(cols, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/** The `[bins, size]` matrix that averages PyTorch's adaptive pooling bins. */
function binMatrix(size: number, bins: number): tf.Tensor2D {
  const m = new Float32Array(bins * size);
  for (let i = 0; i < bins; i++) {
    const start = Math.floor((i * size) / bins), end = Math.ceil(((i + 1) * size) / bins);
    for (let j = start; j < end; j++) m[i * size + j] = 1 / (end - start);
  }
  return tf.tensor2d(m, [bins, size]);
}
