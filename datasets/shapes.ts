/**
 * A generated shapes set for demos and tests: one coloured disk, square or
 * triangle per image on a noisy background, with its exact mask. The class
 * is the shape, never the colour, so a classifier must look at the object.
 * Everything is drawn with tensor ops from a seed.
 *
 * @module
 */
import { tf } from "../lib/deps.ts";
import { Random } from "../lib/util/random.ts";

/** The class names of {@linkcode generateShapes}, in label order. */
export const SHAPE_CLASSES: readonly string[] = ["disk", "square", "triangle"];

/** Options of {@linkcode generateShapes}. */
export interface ShapesOptions {
  /** Image height and width in pixels. @default {64} */
  size?: number;
  /** Seed of every random choice. @default {0} */
  seed?: number;
  /** Standard deviation of the background noise. @default {0.08} */
  noise?: number;
}

/** A generated set. The caller disposes its tensors. */
export interface ShapesSet {
  /** Images `[n, size, size, 3]` in [0, 1]. */
  images: tf.Tensor4D;
  /** Class indices `[n]` (int32), into {@linkcode SHAPE_CLASSES}. */
  labels: tf.Tensor1D;
  /** Object masks `[n, size, size]`, 1 inside the shape. */
  masks: tf.Tensor3D;
  /** The class names. */
  classNames: readonly string[];
}

/**
 * Generates `count` images with one shape each, balanced over the classes.
 *
 * @example Usage
 * ```ts
 * import { generateShapes } from "./shapes.ts";
 * import { tf } from "../lib/deps.ts";
 * const set = generateShapes(6, { size: 32, seed: 1 });
 * console.log(set.images.shape, set.masks.shape); // [6, 32, 32, 3] [6, 32, 32]
 * tf.dispose([set.images, set.labels, set.masks]);
 * ```
 */
export function generateShapes(count: number, options: ShapesOptions = {}): ShapesSet {
  const size = options.size ?? 64;
  const noise = options.noise ?? 0.08;
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`Cannot generate shapes: count must be a positive integer, got ${count}`);
  }
  if (!Number.isInteger(size) || size < 8) {
    throw new RangeError(`Option "size" must be an integer of at least 8, got ${size}`);
  }
  const rng = new Random(options.seed ?? 0);
  const k = SHAPE_CLASSES.length;
  const labels = rng.shuffle(Array.from({ length: count }, (_, i) => i % k));
  const cx = new Float32Array(count), cy = new Float32Array(count), r = new Float32Array(count);
  const fg = new Float32Array(count * 3), bg = new Float32Array(count * 3);
  for (let i = 0; i < count; i++) {
    r[i] = rng.uniform(0.14, 0.26) * size;
    cx[i] = rng.uniform(r[i] + 1, size - r[i] - 1);
    cy[i] = rng.uniform(r[i] + 1, size - r[i] - 1);
    for (let ch = 0; ch < 3; ch++) {
      fg[i * 3 + ch] = rng.uniform(0.45, 1);
      bg[i * 3 + ch] = rng.uniform(0, 0.35);
    }
  }
  const noiseValues = rng.normalArray(count * size * size * 3, 0, noise);
  const tensors = tf.tidy(() => {
    const coords = tf.add(tf.range(0, size, 1, "float32"), 0.5);
    const xs = tf.reshape(coords, [1, 1, size]);
    const ys = tf.reshape(coords, [1, size, 1]);
    const dx = tf.sub(xs, tf.tensor3d(cx, [count, 1, 1]));
    const dy = tf.sub(ys, tf.tensor3d(cy, [count, 1, 1]));
    const rad = tf.tensor3d(r, [count, 1, 1]);
    const disk = tf.lessEqual(tf.add(tf.square(dx), tf.square(dy)), tf.square(rad));
    const square = tf.lessEqual(tf.maximum(tf.abs(dx), tf.abs(dy)), tf.mul(rad, 0.85));
    // An isosceles triangle, apex up: within [cy − r, cy + r], half-width grows to r.
    const fromTop = tf.add(dy, rad);
    const triangle = tf.logicalAnd(
      tf.logicalAnd(tf.greaterEqual(fromTop, 0), tf.lessEqual(dy, rad)),
      tf.lessEqual(tf.abs(dx), tf.mul(fromTop, 0.5)),
    );
    const all = tf.stack([disk, square, triangle].map((m) => tf.cast(m, "float32")), 3);
    const pick = tf.reshape(
      tf.cast(tf.oneHot(tf.tensor1d(labels, "int32"), k), "float32"),
      [count, 1, 1, k],
    );
    const masks = tf.sum(tf.mul(all, pick), 3) as tf.Tensor3D;
    const m4 = tf.expandDims(masks, 3);
    const fgT = tf.reshape(tf.tensor2d(fg, [count, 3]), [count, 1, 1, 3]);
    const bgT = tf.reshape(tf.tensor2d(bg, [count, 3]), [count, 1, 1, 3]);
    const clean = tf.add(tf.mul(m4, fgT), tf.mul(tf.sub(1, m4), bgT));
    const images = tf.clipByValue(
      tf.add(clean, tf.tensor4d(noiseValues, [count, size, size, 3])),
      0,
      1,
    ) as tf.Tensor4D;
    return { images, labels: tf.tensor1d(labels, "int32"), masks };
  });
  return { ...tensors, classNames: SHAPE_CLASSES };
}
