/**
 * BUSI (Breast Ultrasound Images, Al-Dhabyani et al. 2020): benign,
 * malignant and normal scans with hand-drawn lesion masks, and tools to find
 * its duplicated images so a split can keep copies on one side.
 *
 * @module
 */
import * as path from "node:path";
import { DataError } from "../lib/data/errors.ts";
import type { Dataset, Sample, SampleRecord } from "../lib/data/types.ts";
import { decodeImage, decodeMask, readFileBytes } from "../lib/io/image.ts";
import {
  checkChannels,
  checkMaskSize,
  checkOnError,
  listDir,
  makeDataset,
  Problems,
  statKind,
} from "./_common.ts";
import { registerDataset } from "./registry.ts";

/** BUSI's class names, in label order (the folder names, sorted). */
export const BUSI_CLASSES: readonly string[] = Object.freeze(["benign", "malignant", "normal"]);

/** Options of {@linkcode loadBusi}. */
export interface LoadBusiOptions {
  /** Image channels: 3 (RGB; grey replicated) or 1. @default {3} */
  channels?: 1 | 3;
  /**
   * What to do with a bad sample (a lesion image without a mask, a mask
   * without an image, an empty class folder): throw a `DataError`, or skip
   * it and record why in `dataset.skipped`.
   * @default {"throw"}
   */
  onError?: "throw" | "skip";
}

interface BusiEntry {
  id: string;
  label: number;
  image: string;
  masks: string[];
}

const MASK_NAME = /^(.*)_mask(?:_(\d+))?\.png$/i;

/**
 * Loads BUSI from `root` (the `Dataset_BUSI_with_GT/` folder), which holds
 * `benign/`, `malignant/` and `normal/`, each with `name.png` beside
 * `name_mask.png` and, for some images, `name_mask_1.png`,
 * `name_mask_2.png`….
 *
 * - Labels follow {@linkcode BUSI_CLASSES}: benign 0, malignant 1, normal 2.
 * - A sample's mask is the pixelwise maximum (the OR) of all its mask files,
 *   each decoded to [0, 1] (grey, RGB or with alpha); every mask must have
 *   its image's size.
 * - Every sample has `hasMask: true`; a normal image's mask is all zeros
 *   (from its blank mask file, or made up when there is none).
 * - A benign or malignant image without a mask, or a mask without an
 *   image, is a fault (thrown or skipped by `onError`); any other file is
 *   passed over and listed in `dataset.skipped`.
 * - Sample ids are `<class>/<name>`, in natural order ("benign (2)" before
 *   "benign (10)"). BUSI has no official split and no boxes.
 *
 * BUSI holds duplicated images: see {@linkcode findDuplicates} and
 * {@linkcode duplicateGroups}.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { loadBusi } from "./busi.ts";
 * import { loadSharp } from "../lib/deps.ts";
 * const root = await Deno.makeTempDir();
 * const sharp = await loadSharp();
 * const png = (v: number) =>
 *   sharp({ create: { width: 4, height: 4, channels: 3, background: { r: v, g: v, b: v } } }).png();
 * for (const c of ["benign", "malignant", "normal"]) {
 *   await Deno.mkdir(`${root}/${c}`);
 *   await png(90).toFile(`${root}/${c}/${c} (1).png`);
 *   await png(c === "normal" ? 0 : 255).toFile(`${root}/${c}/${c} (1)_mask.png`);
 * }
 * const busi = await loadBusi(root);
 * const normal = await busi.load(2);
 * assert.equal(busi.size, 3);
 * assert.deepStrictEqual(busi.classNames, ["benign", "malignant", "normal"]);
 * assert.equal(normal.label, 2);
 * assert.ok(normal.mask?.every((v) => v === 0)); // a normal scan has an empty mask
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function loadBusi(root: string, options: LoadBusiOptions = {}): Promise<Dataset> {
  const channels = checkChannels(options.channels);
  const problems = new Problems(checkOnError(options.onError));
  if ((await statKind(root)) !== "dir") {
    throw new DataError("dataset folder not found", { file: root });
  }
  const entries: BusiEntry[] = [];
  for (let label = 0; label < BUSI_CLASSES.length; label++) {
    const className = BUSI_CLASSES[label];
    const dir = path.join(root, className);
    if ((await statKind(dir)) !== "dir") {
      throw new DataError(
        `class folder "${className}" not found; BUSI needs ${BUSI_CLASSES.join(", ")}`,
        { file: dir },
      );
    }
    const { files, dirs } = await listDir(dir);
    for (const d of dirs) {
      problems.note("folder inside a class folder: not read", { file: path.join(dir, d) });
    }
    const images = new Map<string, string[]>();
    const masks = new Map<string, string[]>();
    for (const name of files) {
      const m = MASK_NAME.exec(name);
      if (m) {
        const list = masks.get(m[1]) ?? [];
        list.push(name);
        masks.set(m[1], list);
      } else if (/\.png$/i.test(name)) {
        images.set(name.slice(0, -4), []);
      } else {
        problems.note("not a PNG image or mask: not read", { file: path.join(dir, name) });
      }
    }
    const before = entries.length;
    for (const stem of images.keys()) {
      const id = `${className}/${stem}`;
      const image = path.join(dir, `${stem}.png`);
      const maskFiles = (masks.get(stem) ?? []).sort(compareMaskNames).map((n) =>
        path.join(dir, n)
      );
      if (maskFiles.length === 0 && className !== "normal") {
        problems.fail(`${className} image has no mask: expected "${stem}_mask.png" beside it`, {
          file: image,
          id,
        });
        continue;
      }
      entries.push({ id, label, image, masks: maskFiles });
    }
    for (const [stem, names] of masks) {
      if (images.has(stem)) continue;
      for (const name of names) {
        problems.fail(`mask has no image: expected "${stem}.png" beside it`, {
          file: path.join(dir, name),
          id: `${className}/${stem}`,
        });
      }
    }
    if (entries.length === before) {
      problems.fail(`class folder "${className}" has no images`, { file: dir });
    }
  }

  const records: SampleRecord[] = entries.map((e) => ({
    id: e.id,
    label: e.label,
    hasMask: true,
    hasBoxes: false,
    source: path.relative(root, e.image).replaceAll("\\", "/"),
    files: { image: e.image, masks: e.masks },
  }));

  async function load(index: number): Promise<Sample> {
    const e = entries[index];
    const image = await decodeImage(await readFileBytes(e.image), { channels, name: e.image });
    const mask = new Float32Array(image.width * image.height);
    for (const file of e.masks) {
      const m = await decodeMask(await readFileBytes(file), { name: file });
      checkMaskSize(m, image, file, e.image);
      for (let p = 0; p < mask.length; p++) if (m.data[p] > mask[p]) mask[p] = m.data[p];
    }
    return { id: e.id, image, label: e.label, mask };
  }

  return makeDataset({
    name: "busi",
    classNames: BUSI_CLASSES,
    records,
    skipped: problems.skipped,
    load,
  });
}

/** `x_mask.png` first, then `x_mask_1.png`, `x_mask_2.png`, … by number. */
function compareMaskNames(a: string, b: string): number {
  const n = (s: string) => Number(MASK_NAME.exec(s)?.[2] ?? -1);
  return n(a) - n(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Options of {@linkcode findDuplicates} and {@linkcode duplicateGroups}. */
export interface FindDuplicatesOptions {
  /** How many samples are decoded at once. @default {4} */
  concurrency?: number;
}

/**
 * Finds samples whose decoded images are identical, pixel for pixel (the
 * same size, channels and values), whatever their file names or encodings.
 * Each image's decoded pixels are hashed with SHA-256; only the hashes are
 * kept, so memory stays flat. Works on any dataset.
 *
 * @returns Groups of two or more sample indices, each sorted, ordered by
 * their first index. Indices in no group have no duplicate.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { findDuplicates } from "./busi.ts";
 * import type { Dataset } from "../lib/data/types.ts";
 * const pixels = [0.1, 0.5, 0.1, 0.9];
 * const dataset: Dataset = {
 *   name: "toy", classNames: ["a"], size: 4, skipped: [],
 *   records: pixels.map((_, i) => ({ id: `${i}`, label: 0, hasMask: false, hasBoxes: false, source: `${i}` })),
 *   load: (i) => Promise.resolve({
 *     id: `${i}`, label: 0,
 *     image: { width: 1, height: 1, channels: 1, data: Float32Array.of(pixels[i]) },
 *   }),
 * };
 * assert.deepStrictEqual(await findDuplicates(dataset), [[0, 2]]);
 * ```
 */
export async function findDuplicates(
  dataset: Dataset,
  options: FindDuplicatesOptions = {},
): Promise<number[][]> {
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `Option "concurrency" must be a positive integer, got ${concurrency}`,
    );
  }
  const hashes = new Array<string>(dataset.size);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < dataset.size) {
      const i = next++;
      const { image } = await dataset.load(i);
      const header = new Uint32Array([image.width, image.height, image.channels]);
      const bytes = new Uint8Array(12 + image.data.byteLength);
      bytes.set(new Uint8Array(header.buffer), 0);
      bytes.set(
        new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength),
        12,
      );
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      hashes[i] = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, dataset.size) }, worker));
  const byHash = new Map<string, number[]>();
  for (let i = 0; i < hashes.length; i++) {
    const list = byHash.get(hashes[i]);
    if (list) list.push(i);
    else byHash.set(hashes[i], [i]);
  }
  return [...byHash.values()].filter((g) => g.length > 1).sort((a, b) => a[0] - b[0]);
}

/**
 * A group id per sample index, for the `groups` option of a split, so that
 * identical images land on the same side: a sample's group is the smallest
 * index among its duplicates (its own index when it has none). Decodes
 * every sample once, through {@linkcode findDuplicates}.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { duplicateGroups } from "./busi.ts";
 * import type { Dataset } from "../lib/data/types.ts";
 * const pixels = [0.1, 0.5, 0.1, 0.5, 0.7];
 * const dataset: Dataset = {
 *   name: "toy", classNames: ["a"], size: 5, skipped: [],
 *   records: pixels.map((_, i) => ({ id: `${i}`, label: 0, hasMask: false, hasBoxes: false, source: `${i}` })),
 *   load: (i) => Promise.resolve({
 *     id: `${i}`, label: 0,
 *     image: { width: 1, height: 1, channels: 1, data: Float32Array.of(pixels[i]) },
 *   }),
 * };
 * // Each image's group is the index of the first image equal to it.
 * assert.deepStrictEqual(await duplicateGroups(dataset), [0, 1, 0, 1, 4]);
 * ```
 */
export async function duplicateGroups(
  dataset: Dataset,
  options: FindDuplicatesOptions = {},
): Promise<number[]> {
  const groups = Array.from({ length: dataset.size }, (_, i) => i);
  for (const group of await findDuplicates(dataset, options)) {
    for (const i of group) groups[i] = group[0];
  }
  return groups;
}

registerDataset("busi", ({ root }) => loadBusi(root!, { channels: 3 }), {
  needsRoot: true,
  description: "BUSI breast ultrasound: benign, malignant, normal, masks",
  // Copies of one scan, even filed under two classes, stay on one side of a split.
  groups: (dataset) => duplicateGroups(dataset),
});
