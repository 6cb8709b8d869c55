/**
 * The built-in synthetic set: the embedded default, so that every task runs
 * offline.
 *
 * Each image holds one object whose class is its shape (disk, square,
 * triangle, ring, cross, star), at a random position, scale, rotation and
 * colour, over a cluttered background: a darker colour gradient, faint
 * large blotches, smaller distractor blobs and strokes of any colour, and
 * pixel noise. Colour carries no class information, so a classifier has to
 * look at the object's outline. The mask is exact (the pixels the object was
 * painted on; it is drawn last, so nothing covers it) and the box is the
 * mask's tight box.
 *
 * Difficulty, measured on 2 CPU cores with the reference network (width
 * 0.5, 48 × 48 inputs, batch 16, Adam 3e-3, the default 600 samples, 4
 * classes): about 50% test accuracy after 30 steps, 70–80% after 200 and
 * about 85% after 400 (single runs), at about 0.12 s a step.
 *
 * Samples are generated on demand from (seed, index), so the set costs no
 * memory beyond its labels, and sample `i` is the same on every machine.
 *
 * @module
 */
import { tf } from "../lib/deps.ts";
import { maskToBox } from "../lib/data/annotations.ts";
import { stratifiedSplit } from "../lib/data/splits.ts";
import type { Dataset, Image, Sample, SampleRecord } from "../lib/data/types.ts";
import { Random } from "../lib/util/random.ts";
import { registerDataset } from "./registry.ts";

/** Every class the synthetic set can draw, in label order. */
export const SYNTHETIC_CLASSES: readonly string[] = [
  "disk",
  "square",
  "triangle",
  "ring",
  "cross",
  "star",
];

/** Options of {@linkcode syntheticDataset}. */
export interface SyntheticOptions {
  /** Image height and width in pixels, at least 16. @default {64} */
  size?: number;
  /** Number of classes, from 2 to 6: the first of {@linkcode SYNTHETIC_CLASSES}. @default {4} */
  numClasses?: number;
  /** Number of samples, balanced over the classes. @default {600} */
  count?: number;
  /** Seed of every random choice. @default {0} */
  seed?: number;
  /**
   * Draw a cluttered background (gradient, blotches, distractors); `false`
   * gives one flat colour, for easy sanity checks. @default {true}
   */
  clutter?: boolean;
  /** Standard deviation of the pixel noise added everywhere. @default {0.04} */
  noise?: number;
  /** The official split: the fraction of each class in `train`; the rest is `test`. @default {{ train: 0.8 }} */
  split?: { train: number };
}

/** The synthetic set: a {@linkcode Dataset} that can also generate a sample synchronously. */
export interface SyntheticDataset extends Dataset {
  /** The options it was made with, defaults filled in. */
  readonly options: Readonly<Required<SyntheticOptions>>;
  /** Generates sample `index` (what `load(index)` resolves to). */
  sample(index: number): Sample;
  /** The stratified train/test split; the synthetic set always has one. */
  readonly officialSplit: { train: number[]; test: number[] };
}

/**
 * Makes the synthetic dataset (named `"synthetic"`). Every sample has a
 * mask and one box; `officialSplit` is a stratified split with `split.train`
 * of each class in `train`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { syntheticDataset } from "./synthetic.ts";
 * const dataset = syntheticDataset({ size: 32, count: 8, seed: 3 });
 * const sample = await dataset.load(0);
 * assert.equal(dataset.classNames.length, 4);
 * assert.equal(sample.image.width, 32);
 * assert.equal(sample.mask!.length, 32 * 32);
 * assert.equal(sample.label, dataset.records[0].label);
 * assert.deepStrictEqual(sample, dataset.sample(0)); // the same seed, the same sample
 * ```
 */
export function syntheticDataset(options: SyntheticOptions = {}): SyntheticDataset {
  const config = {
    size: options.size ?? 64,
    numClasses: options.numClasses ?? 4,
    count: options.count ?? 600,
    seed: options.seed ?? 0,
    clutter: options.clutter ?? true,
    noise: options.noise ?? 0.04,
    split: { train: options.split?.train ?? 0.8 },
  };
  const integer = (field: string, value: number, min: number, max = Infinity) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      const range = max === Infinity ? `at least ${min}` : `from ${min} to ${max}`;
      throw new RangeError(`Option "${field}" must be an integer ${range}, got ${value}`);
    }
  };
  integer("size", config.size, 16);
  integer("numClasses", config.numClasses, 2, SYNTHETIC_CLASSES.length);
  integer("count", config.count, config.numClasses);
  integer("seed", config.seed, -(2 ** 31), 2 ** 31 - 1);
  if (!(config.noise >= 0 && config.noise <= 1)) {
    throw new RangeError(`Option "noise" must be in [0, 1], got ${config.noise}`);
  }
  if (!(config.split.train > 0 && config.split.train <= 1)) {
    throw new RangeError(`Option "split.train" must be in (0, 1], got ${config.split.train}`);
  }

  const { count, numClasses, seed } = config;
  const labels = new Random(seed).shuffle(Array.from({ length: count }, (_, i) => i % numClasses));
  // Ids carry a hash of the options, so that caches keyed by (name, id) never
  // mix up samples of two differently configured sets.
  const description = JSON.stringify(config);
  const tag = fnv1a(description).toString(16).padStart(8, "0");
  const records: SampleRecord[] = labels.map((label, i) => ({
    id: `synthetic-${tag}-${i}`,
    label,
    hasMask: true,
    hasBoxes: true,
    source: `synthetic:${description}#${i}`,
  }));
  const parts = stratifiedSplit(labels, {
    train: config.split.train,
    val: 0,
    test: 1 - config.split.train,
    seed,
  });

  function sample(index: number): Sample {
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      throw new RangeError(`Cannot load sample ${index} of the ${count}-sample synthetic set`);
    }
    const { image, mask } = drawSample(labels[index], new Random(mixSeed(seed, index)), config);
    const box = maskToBox(mask, { width: config.size, height: config.size });
    if (box === null) throw new Error(`Synthetic sample ${index} drew an empty object (a bug)`);
    return { id: records[index].id, image, label: labels[index], mask, boxes: [box] };
  }

  return {
    name: "synthetic",
    classNames: SYNTHETIC_CLASSES.slice(0, numClasses),
    size: count,
    records,
    officialSplit: { train: parts.train, test: parts.test },
    skipped: [],
    options: config,
    sample,
    load(index: number): Promise<Sample> {
      try {
        return Promise.resolve(sample(index));
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
}

/** Tensors of a few synthetic samples. The caller disposes them. */
export interface SyntheticTensors {
  /** Images `[n, size, size, 3]` in [0, 1]. */
  images: tf.Tensor4D;
  /** Class indices `[n]` (int32). */
  labels: tf.Tensor1D;
  /** Object masks `[n, size, size]`, 1 on the object. */
  masks: tf.Tensor3D;
}

/**
 * Generates the samples at `indices` (default: all) and stacks them into
 * tensors, for tests and demos. The caller disposes the returned tensors.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { syntheticDataset, syntheticTensors } from "./synthetic.ts";
 * import { tf } from "../lib/deps.ts";
 * const dataset = syntheticDataset({ size: 16, count: 12 });
 * const batch = syntheticTensors(dataset, dataset.officialSplit.test);
 * // 12 samples of 4 classes: 3 per class, one of each in the test split.
 * assert.deepStrictEqual(batch.images.shape, [4, 16, 16, 3]);
 * assert.deepStrictEqual(batch.masks.shape, [4, 16, 16]);
 * assert.deepStrictEqual(batch.labels.arraySync().sort(), [0, 1, 2, 3]);
 * tf.dispose([batch.images, batch.labels, batch.masks]);
 * ```
 */
export function syntheticTensors(
  dataset: SyntheticDataset,
  indices?: readonly number[],
): SyntheticTensors {
  const chosen = indices ?? dataset.records.map((_, i) => i);
  const size = dataset.options.size;
  const n = chosen.length;
  const pixels = size * size;
  const images = new Float32Array(n * pixels * 3);
  const masks = new Float32Array(n * pixels);
  const labels = new Int32Array(n);
  chosen.forEach((index, k) => {
    const s = dataset.sample(index);
    images.set(s.image.data, k * pixels * 3);
    masks.set(s.mask!, k * pixels);
    labels[k] = s.label;
  });
  return {
    images: tf.tensor4d(images, [n, size, size, 3]),
    labels: tf.tensor1d(labels, "int32"),
    masks: tf.tensor3d(masks, [n, size, size]),
  };
}

// ---- drawing ----

/**
 * Background colours are drawn in [0, BG_MAX] and object colours in
 * [OBJ_MIN, 1] per channel, so the object usually stands out by brightness
 * (distractors take any colour). With random polarity as well, the reference
 * network needed several times more steps to learn the set.
 */
const BG_MAX = 0.5;
const OBJ_MIN = 0.4;

type Rgb = [number, number, number];
type Inside = (x: number, y: number) => boolean;

interface Canvas {
  size: number;
  data: Float32Array;
}

/** Draws one sample: background, clutter, then the object on top, then noise. */
function drawSample(
  label: number,
  rng: Random,
  config: { size: number; clutter: boolean; noise: number },
): { image: Image; mask: Float32Array } {
  const size = config.size;
  const canvas: Canvas = { size, data: new Float32Array(size * size * 3) };
  const c0 = randomColour(rng, 0, BG_MAX);
  if (config.clutter) {
    // A linear gradient between two colours, in a random direction.
    const c1 = randomColour(rng, 0, BG_MAX);
    const angle = rng.uniform(0, 2 * Math.PI);
    const ca = Math.cos(angle) / size, sa = Math.sin(angle) / size;
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        const t = 0.5 + (j + 0.5 - size / 2) * ca + (i + 0.5 - size / 2) * sa;
        const p = (i * size + j) * 3;
        for (let c = 0; c < 3; c++) canvas.data[p + c] = c0[c] + (c1[c] - c0[c]) * t;
      }
    }
    // Faint large blotches.
    for (let b = rng.int(3) + 1; b > 0; b--) {
      const ellipse = randomEllipse(rng, size, 0.15, 0.35);
      blend(
        canvas,
        ellipse.inside,
        ellipse.bounds,
        randomColour(rng, 0, BG_MAX),
        rng.uniform(0.2, 0.5),
      );
    }
    // Smaller distractors: blobs and strokes.
    for (let d = rng.int(5) + 3; d > 0; d--) {
      if (rng.next() < 0.5) {
        const ellipse = randomEllipse(rng, size, 0.03, 0.08);
        blend(canvas, ellipse.inside, ellipse.bounds, randomColour(rng), 1);
      } else {
        const stroke = randomStroke(rng, size);
        blend(canvas, stroke.inside, stroke.bounds, randomColour(rng), 1);
      }
    }
  } else {
    for (let p = 0; p < canvas.data.length; p += 3) canvas.data.set(c0, p);
  }

  // The object: its shape is the class; position, scale, rotation and colour are random.
  const radius = rng.uniform(0.18, 0.32) * size;
  const cx = rng.uniform(radius + 1, size - radius - 1);
  const cy = rng.uniform(radius + 1, size - radius - 1);
  const rotation = rng.uniform(0, 2 * Math.PI);
  const behind = pixelAt(canvas, Math.floor(cx), Math.floor(cy));
  let colour = randomColour(rng, OBJ_MIN, 1);
  for (let tries = 0; tries < 20 && distance(colour, behind) < 0.35; tries++) {
    colour = randomColour(rng, OBJ_MIN, 1);
  }
  const inside = shapeTest(label, cx, cy, radius, rotation);
  const bounds = clampBounds(
    size,
    cx - radius - 1,
    cy - radius - 1,
    cx + radius + 1,
    cy + radius + 1,
  );
  const mask = new Float32Array(size * size);
  forEachPixel(bounds, size, inside, (p) => {
    canvas.data.set(colour, p * 3);
    mask[p] = 1;
  });

  if (config.noise > 0) {
    const data = canvas.data;
    for (let p = 0; p < data.length; p++) data[p] += rng.normal(0, config.noise);
  }
  for (let p = 0; p < canvas.data.length; p++) {
    canvas.data[p] = Math.min(1, Math.max(0, canvas.data[p]));
  }
  return { image: { width: size, height: size, channels: 3, data: canvas.data }, mask };
}

/** Whether the point (x, y) is inside shape `label` centred at (cx, cy). */
function shapeTest(
  label: number,
  cx: number,
  cy: number,
  radius: number,
  rotation: number,
): Inside {
  const cos = Math.cos(rotation), sin = Math.sin(rotation);
  // Local coordinates, in units of the radius: every shape lies within the unit disk.
  const local = (x: number, y: number): [number, number] => {
    const dx = (x - cx) / radius, dy = (y - cy) / radius;
    return [dx * cos + dy * sin, -dx * sin + dy * cos];
  };
  const polygon = (points: readonly [number, number][]): Inside => (x, y) => {
    const [u, v] = local(x, y);
    return insidePolygon(points, u, v);
  };
  switch (SYNTHETIC_CLASSES[label]) {
    case "disk":
      return (x, y) => {
        const [u, v] = local(x, y);
        return u * u + v * v <= 1;
      };
    case "square":
      return polygon([[-0.7, -0.7], [0.7, -0.7], [0.7, 0.7], [-0.7, 0.7]]);
    case "triangle":
      return polygon(regularStar(3, 1, 0.5));
    case "ring":
      return (x, y) => {
        const [u, v] = local(x, y);
        const r2 = u * u + v * v;
        return r2 <= 1 && r2 >= 0.55 * 0.55;
      };
    case "cross": {
      const a = 0.95, w = 0.3;
      return polygon([
        [-w, -a],
        [w, -a],
        [w, -w],
        [a, -w],
        [a, w],
        [w, w],
        [w, a],
        [-w, a],
        [-w, w],
        [-a, w],
        [-a, -w],
        [-w, -w],
      ]);
    }
    case "star":
      return polygon(regularStar(5, 1, 0.42));
    default:
      throw new RangeError(`Synthetic class ${label} does not exist`);
  }
}

/**
 * The vertices of a star with `points` tips at radius `outer` and notches
 * at radius `inner`; with `inner = outer · cos(π / points)` it is a regular polygon.
 */
function regularStar(points: number, outer: number, inner: number): [number, number][] {
  const out: [number, number][] = [];
  for (let k = 0; k < 2 * points; k++) {
    const angle = -Math.PI / 2 + (k * Math.PI) / points;
    const r = k % 2 === 0 ? outer : inner;
    out.push([r * Math.cos(angle), r * Math.sin(angle)]);
  }
  return out;
}

/** Even-odd rule point-in-polygon test. */
function insidePolygon(points: readonly [number, number][], x: number, y: number): boolean {
  let inside = false;
  for (let a = 0, b = points.length - 1; a < points.length; b = a++) {
    const [xa, ya] = points[a], [xb, yb] = points[b];
    if ((ya > y) !== (yb > y) && x < ((xb - xa) * (y - ya)) / (yb - ya) + xa) inside = !inside;
  }
  return inside;
}

type Bounds = [number, number, number, number];

function randomEllipse(
  rng: Random,
  size: number,
  minRadius: number,
  maxRadius: number,
): { inside: Inside; bounds: Bounds } {
  const a = rng.uniform(minRadius, maxRadius) * size;
  const b = a * rng.uniform(0.4, 1);
  const cx = rng.uniform(0, size), cy = rng.uniform(0, size);
  const angle = rng.uniform(0, Math.PI);
  const cos = Math.cos(angle), sin = Math.sin(angle);
  return {
    inside: (x, y) => {
      const dx = x - cx, dy = y - cy;
      const u = (dx * cos + dy * sin) / a, v = (-dx * sin + dy * cos) / b;
      return u * u + v * v <= 1;
    },
    bounds: clampBounds(size, cx - a, cy - a, cx + a, cy + a),
  };
}

function randomStroke(rng: Random, size: number): { inside: Inside; bounds: Bounds } {
  const length = rng.uniform(0.15, 0.45) * size;
  const half = rng.uniform(0.5, 1.4);
  const x0 = rng.uniform(0, size), y0 = rng.uniform(0, size);
  const angle = rng.uniform(0, 2 * Math.PI);
  const x1 = x0 + length * Math.cos(angle), y1 = y0 + length * Math.sin(angle);
  const ex = x1 - x0, ey = y1 - y0, len2 = ex * ex + ey * ey;
  return {
    inside: (x, y) => {
      const t = Math.min(1, Math.max(0, ((x - x0) * ex + (y - y0) * ey) / len2));
      const dx = x - x0 - t * ex, dy = y - y0 - t * ey;
      return dx * dx + dy * dy <= half * half;
    },
    bounds: clampBounds(
      size,
      Math.min(x0, x1) - half,
      Math.min(y0, y1) - half,
      Math.max(x0, x1) + half,
      Math.max(y0, y1) + half,
    ),
  };
}

function clampBounds(size: number, x0: number, y0: number, x1: number, y1: number): Bounds {
  return [
    Math.max(0, Math.floor(x0)),
    Math.max(0, Math.floor(y0)),
    Math.min(size, Math.ceil(x1) + 1),
    Math.min(size, Math.ceil(y1) + 1),
  ];
}

/** Calls `paint(pixelIndex)` for each pixel in `bounds` whose centre is inside. */
function forEachPixel(bounds: Bounds, size: number, inside: Inside, paint: (p: number) => void) {
  const [j0, i0, j1, i1] = bounds;
  for (let i = i0; i < i1; i++) {
    for (let j = j0; j < j1; j++) if (inside(j + 0.5, i + 0.5)) paint(i * size + j);
  }
}

function blend(canvas: Canvas, inside: Inside, bounds: Bounds, colour: Rgb, alpha: number): void {
  forEachPixel(bounds, canvas.size, inside, (p) => {
    for (let c = 0; c < 3; c++) {
      canvas.data[p * 3 + c] += alpha * (colour[c] - canvas.data[p * 3 + c]);
    }
  });
}

function pixelAt(canvas: Canvas, x: number, y: number): Rgb {
  const p = (Math.min(canvas.size - 1, y) * canvas.size + Math.min(canvas.size - 1, x)) * 3;
  return [canvas.data[p], canvas.data[p + 1], canvas.data[p + 2]];
}

function randomColour(rng: Random, low = 0, high = 1): Rgb {
  return [rng.uniform(low, high), rng.uniform(low, high), rng.uniform(low, high)];
}

function distance(a: Rgb, b: Rgb): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** The 32-bit FNV-1a hash of a string's UTF-16 code units. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A 32-bit hash of (seed, index), so that per-sample streams are unrelated. */
function mixSeed(seed: number, index: number): number {
  let h = Math.imul((seed | 0) ^ 0x165667b1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

registerDataset(
  "synthetic",
  async ({ size, count, classes, seed }) =>
    await Promise.resolve(syntheticDataset({ size, count, numClasses: classes, seed })),
  {
    needsRoot: false,
    description: "built in: shapes on cluttered backgrounds, exact masks and boxes (no --root)",
  },
);
