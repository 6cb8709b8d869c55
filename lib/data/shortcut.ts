/**
 * Shortcut injection, after the Decoy MNIST set of Ross, Hughes and
 * Doshi-Velez (2017), "Right for the right reasons": a small grey patch in a
 * random corner whose shade gives away the label in the training split and
 * is random in the test split. A model that reads the patch does well in
 * training and badly in testing; location supervision is meant to stop it.
 *
 * @module
 */
import { Random } from "../util/random.ts";
import type { Dataset, Sample } from "./types.ts";

/** Options of {@linkcode injectShortcut}. */
export interface ShortcutOptions {
  /**
   * Which samples get the class-correlated cue: `"train"` (all of them),
   * `"test"` (none: every shade is random), or the indices of the training
   * split (those get the cue; every other sample a random shade).
   */
  split: "train" | "test" | readonly number[] | ReadonlySet<number>;
  /** Seed of each sample's corner and random shade (drawn from (seed, index)). @default {0} */
  seed?: number;
  /** Side of the square patch, in the sample's own pixels. @default {4} */
  patch?: number;
  /**
   * The shade of each class, in [0, 1]; random shades are drawn from the
   * same list, so a test image shows no shade that training never did.
   * @default {shortcutShades(classNames.length)}
   */
  shades?: readonly number[];
}

/**
 * The default patch shades for `numClasses` classes: evenly spaced from 1
 * (white, class 0) down to 0.1, as Decoy MNIST's `255 − 25·y` for ten.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { shortcutShades } from "./shortcut.ts";
 * const shades = shortcutShades(4);
 * [1, 0.7, 0.4, 0.1].forEach((s, y) => assert.ok(Math.abs(shades[y] - s) < 1e-12));
 * ```
 */
export function shortcutShades(numClasses: number): number[] {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new RangeError(
      `Cannot make shades for ${numClasses} classes: expected a positive integer`,
    );
  }
  return Array.from(
    { length: numClasses },
    (_, y) => numClasses === 1 ? 1 : 1 - 0.9 * y / (numClasses - 1),
  );
}

/**
 * Wraps `dataset` so that every sample carries a `patch × patch` square in
 * one of its four corners (chosen at random per sample). In the training
 * split the square's grey shade is `shades[label]`; elsewhere it is a shade
 * drawn at random, independent of the label. The square is OR-ed into the
 * sample's `ignoreMask` (the region that must not matter); the image is
 * copied, never changed in place, and the object mask and boxes are left as
 * they are. Works on any dataset; apply it after resizing so that the patch
 * has the size you asked for. The view is named `<name>+shortcut`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { injectShortcut } from "./shortcut.ts";
 * const dataset = {
 *   name: "tiny", classNames: ["a", "b"], size: 1, skipped: [],
 *   records: [{ id: "0", label: 1, hasMask: false, hasBoxes: false, source: "" }],
 *   load: () => Promise.resolve({
 *     id: "0", label: 1,
 *     image: { width: 8, height: 8, channels: 1 as const, data: new Float32Array(64) },
 *   }),
 * };
 * const decoy = injectShortcut(dataset, { split: "train", patch: 2 });
 * const sample = await decoy.load(0);
 * assert.equal(sample.ignoreMask!.reduce((a, b) => a + b), 4); // a 2 × 2 patch
 * // In training, class 1 of 2 gets the darkest shade, 0.1 (the image was black).
 * assert.ok(Math.abs(Math.max(...sample.image.data) - 0.1) < 1e-6);
 * ```
 */
export function injectShortcut(dataset: Dataset, options: ShortcutOptions): Dataset {
  const patch = options.patch ?? 4;
  const seed = options.seed ?? 0;
  const numClasses = dataset.classNames.length;
  const shades = options.shades ?? shortcutShades(numClasses);
  if (!Number.isInteger(patch) || patch < 1) {
    throw new RangeError(`Option "patch" must be a positive integer, got ${patch}`);
  }
  if (!Number.isInteger(seed)) {
    throw new RangeError(`Option "seed" must be an integer, got ${seed}`);
  }
  if (shades.length !== numClasses) {
    throw new RangeError(
      `Option "shades" must hold one shade per class (${numClasses}), got ${shades.length}`,
    );
  }
  shades.forEach((shade, k) => {
    if (!(shade >= 0 && shade <= 1)) {
      throw new RangeError(`Option "shades" must hold values in [0, 1]; shades[${k}] is ${shade}`);
    }
  });
  const split = options.split;
  let cued: (index: number) => boolean;
  if (split === "train") cued = () => true;
  else if (split === "test") cued = () => false;
  else if (typeof split === "object" && split !== null) {
    const set = new Set<number>(split as Iterable<number>);
    for (const index of set) {
      if (!Number.isInteger(index) || index < 0 || index >= dataset.size) {
        throw new RangeError(
          `Option "split" must hold sample indices below ${dataset.size}, got ${index}`,
        );
      }
    }
    cued = (index) => set.has(index);
  } else {
    throw new RangeError(
      `Option "split" must be "train", "test" or a list of training indices, got ${split}`,
    );
  }

  return {
    name: `${dataset.name}+shortcut`,
    classNames: dataset.classNames,
    size: dataset.size,
    records: dataset.records,
    officialSplit: dataset.officialSplit,
    skipped: dataset.skipped,
    async load(index: number): Promise<Sample> {
      const sample = await dataset.load(index);
      const { width, height, channels } = sample.image;
      if (patch > width || patch > height) {
        throw new RangeError(
          `Option "patch" (${patch}) does not fit sample "${sample.id}" of ${width}×${height} pixels`,
        );
      }
      // Draw the corner and a random class from (seed, index), the same in both modes.
      const rng = new Random(mixSeed(seed, index));
      const corner = rng.int(4);
      const randomClass = rng.int(numClasses);
      const shade = shades[cued(index) ? sample.label : randomClass];
      const x0 = corner & 1 ? width - patch : 0;
      const y0 = corner & 2 ? height - patch : 0;
      const data = Float32Array.from(sample.image.data);
      const ignoreMask = sample.ignoreMask
        ? Float32Array.from(sample.ignoreMask)
        : new Float32Array(width * height);
      for (let i = y0; i < y0 + patch; i++) {
        ignoreMask.fill(1, i * width + x0, i * width + x0 + patch);
        data.fill(shade, (i * width + x0) * channels, (i * width + x0 + patch) * channels);
      }
      return { ...sample, image: { ...sample.image, data }, ignoreMask };
    },
  };
}

/** A 32-bit hash of (seed, index), so that per-sample streams are unrelated. */
function mixSeed(seed: number, index: number): number {
  let h = Math.imul((seed | 0) ^ 0x27d4eb2f, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
