/**
 * Fashion-MNIST garments on a larger black canvas, with masks from
 * thresholding the garment: real images with exact object masks and free
 * background, so that a decoy (`injectShortcut`, `--shortcut`) can sit
 * outside the object. With `--shortcut` it is the decoy benchmark of the
 * `decoy-benchmark` study.
 *
 * @module
 */
import type { Box, Dataset, Sample, SampleRecord } from "../lib/data/types.ts";
import { resample } from "../lib/data/_resample.ts";
import { Random } from "../lib/util/random.ts";
import { FASHION_MNIST_CLASSES, findIdxTrainPair, loadIdx } from "./idx.ts";
import { registerDataset } from "./registry.ts";

/** Where Debian's `dataset-fashion-mnist` package puts the files. */
export const DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist";

/**
 * Fashion-MNIST labels in the order {@linkcode fashionCanvas} takes them:
 * T-shirt/top, Pullover, Coat, Shirt (the confusable upper-body garments),
 * then Dress, Bag, Trouser, Sandal, Sneaker, Ankle boot.
 */
export const FASHION_CANVAS_ORDER: readonly number[] = Object.freeze([
  0,
  2,
  4,
  6,
  3,
  8,
  1,
  5,
  7,
  9,
]);

/** Options of {@linkcode fashionCanvas}. */
export interface FashionCanvasOptions {
  /**
   * The folder of Fashion-MNIST's `train-images-idx3-ubyte[.gz]` and
   * `train-labels-idx1-ubyte[.gz]`.
   * @default {DEBIAN_FASHION_MNIST}
   */
  root?: string;
  /** Number of samples, balanced over the classes (the first of each class in file order). @default {1200} */
  count?: number;
  /**
   * Number of classes, 2 to 10, taken in {@linkcode FASHION_CANVAS_ORDER}:
   * the upper-body garments first, which are hard to tell apart, so that
   * with few classes the task is fine-grained (as CUB is) and a decoy is
   * easier to learn than the object.
   * @default {10}
   */
  classes?: number;
  /** Canvas height and width in pixels, at least 16. @default {64} */
  size?: number;
  /** Seed of each garment's position. @default {0} */
  seed?: number;
  /** The garment's side as a share of the canvas. @default {0.625} */
  scale?: number;
  /** Grey level (in [0, 1]) above which a garment pixel belongs to the mask. @default {0.1} */
  threshold?: number;
}

/**
 * Builds the set: each garment (28 × 28, grey) is resized to
 * `round(scale · size)` pixels and placed at a seeded random position on a
 * black `size × size` canvas, at least `size / 8` pixels from every border
 * (so that corner patches of that size never touch it). The mask is the
 * resized garment above `threshold`, the box its bounding box. Images have
 * 3 channels (grey replicated).
 *
 * @example Usage
 * ```ts ignore
 * import assert from "node:assert";
 * import { fashionCanvas } from "./fashion_canvas.ts";
 * const set = await fashionCanvas({ count: 20, size: 32 });
 * const s = await set.load(0);
 * assert.equal(set.classNames.length, 10);
 * assert.equal(s.image.width, 32);
 * assert.ok(s.mask!.some((v) => v === 1) && s.mask!.some((v) => v === 0));
 * ```
 */
export async function fashionCanvas(options: FashionCanvasOptions = {}): Promise<Dataset> {
  const root = options.root ?? DEBIAN_FASHION_MNIST;
  const count = options.count ?? 1200;
  const size = options.size ?? 64;
  const seed = options.seed ?? 0;
  const scale = options.scale ?? 0.625;
  const threshold = options.threshold ?? 0.1;
  const classes = options.classes ?? 10;
  if (!Number.isInteger(classes) || classes < 2 || classes > 10) {
    throw new RangeError(`Option "classes" must be an integer from 2 to 10, got ${classes}`);
  }
  if (!Number.isInteger(count) || count < classes) {
    throw new RangeError(
      `Option "count" must be an integer ≥ ${classes} (one per class), got ${count}`,
    );
  }
  if (!Number.isInteger(size) || size < 16) {
    throw new RangeError(`Option "size" must be an integer ≥ 16, got ${size}`);
  }
  const margin = Math.ceil(size / 8);
  const side = Math.round(scale * size);
  if (!(side >= 8 && side <= size - 2 * margin)) {
    throw new RangeError(
      `Option "scale" (${scale}) must leave the garment at least 8 pixels and a ${margin}-pixel margin on a ${size}-pixel canvas`,
    );
  }
  if (!(threshold >= 0 && threshold < 1)) {
    throw new RangeError(`Option "threshold" must be in [0, 1), got ${threshold}`);
  }
  const source = await loadIdx({
    ...(await findIdxTrainPair(
      root,
      ": install Debian's dataset-fashion-mnist or pass --root",
    )),
    classNames: FASHION_MNIST_CLASSES,
    name: "fashion-mnist",
  });
  const order = FASHION_CANVAS_ORDER.slice(0, classes);
  const labelOf = new Map(order.map((original, y) => [original, y]));
  const perClass = Math.ceil(count / classes);
  const picked: number[] = [];
  const taken = new Array(classes).fill(0);
  for (let i = 0; i < source.size && picked.length < count; i++) {
    const y = labelOf.get(source.records[i].label);
    if (y !== undefined && taken[y] < perClass) {
      taken[y]++;
      picked.push(i);
    }
  }
  const records: SampleRecord[] = picked.map((i) => ({
    id: source.records[i].id,
    label: labelOf.get(source.records[i].label)!,
    hasMask: true,
    hasBoxes: true,
    source: `train-images-idx3-ubyte#${source.records[i].id}`,
  }));
  const rng = new Random(seed);
  const offsets = picked.map(() => [
    margin + rng.int(size - 2 * margin - side + 1),
    margin + rng.int(size - 2 * margin - side + 1),
  ]);
  return {
    name: "fashion-canvas",
    classNames: order.map((original) => FASHION_MNIST_CLASSES[original]),
    size: picked.length,
    records,
    skipped: [],
    async load(index: number): Promise<Sample> {
      const item = await source.load(picked[index]);
      const [x0, y0] = offsets[index];
      const k = side / 28;
      const grey = resample(item.image.data, [28, 28, 1], [size, size], {
        a: k,
        b: 0,
        c: x0,
        d: 0,
        e: k,
        f: y0,
      });
      const data = new Float32Array(size * size * 3);
      const mask = new Float32Array(size * size);
      let [left, top, right, bottom] = [size, size, -1, -1];
      for (let p = 0; p < size * size; p++) {
        const v = Math.min(1, Math.max(0, grey[p]));
        data[3 * p] = data[3 * p + 1] = data[3 * p + 2] = v;
        if (v > threshold) {
          mask[p] = 1;
          const x = p % size, y = (p - x) / size;
          left = Math.min(left, x), right = Math.max(right, x);
          top = Math.min(top, y), bottom = Math.max(bottom, y);
        }
      }
      const boxes: Box[] = right < 0 ? [] : [[left, top, right + 1, bottom + 1]];
      return {
        id: item.id,
        label: records[index].label,
        image: { width: size, height: size, channels: 3, data },
        mask,
        boxes,
      };
    },
  };
}

registerDataset(
  "fashion-canvas",
  async ({ root, count, classes, size, seed }) =>
    await fashionCanvas({
      root: root ?? undefined,
      count,
      classes: Math.min(10, Math.max(2, classes)),
      size: Math.max(16, size),
      seed,
    }),
  {
    needsRoot: false,
    description:
      `Fashion-MNIST garments on a black canvas with threshold masks, --classes of them upper-body garments first (--root defaults to ${DEBIAN_FASHION_MNIST}); with --shortcut, the decoy benchmark`,
  },
);
