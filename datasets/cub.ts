/**
 * CUB-200-2011 (Caltech-UCSD Birds): 11,788 images of 200 bird species,
 * each with one bounding box, an official train/test split and, in the
 * separately distributed `segmentations.tgz`, a soft foreground mask.
 *
 * @module
 */
import * as path from "node:path";
import { clipBoxes } from "../lib/data/annotations.ts";
import { DataError } from "../lib/data/errors.ts";
import type { Box, Dataset, Sample, SampleRecord } from "../lib/data/types.ts";
import {
  addUnique,
  type BoxOutside,
  checkBoxOutside,
  checkChannels,
  checkOnError,
  defaultWarn,
  DirectoryCache,
  intField,
  loadImageAndMask,
  makeDataset,
  numberField,
  Problems,
  readTable,
  resolveInside,
  statKind,
} from "./_common.ts";
import { registerDataset } from "./registry.ts";

/** Options of {@linkcode loadCub}. */
export interface LoadCubOptions {
  /**
   * Load the segmentation masks. `true` with no segmentations folder is an
   * error.
   * @default {true when a segmentations folder is found}
   */
  masks?: boolean;
  /**
   * The segmentations folder (holding `<class_dir>/<stem>.png`).
   * @default {`<root>/segmentations`, else `<root>/../segmentations` (where `segmentations.tgz` unpacks beside `CUB_200_2011/`)}
   */
  segmentationsDir?: string;
  /** Image channels: 3 (RGB; grey images replicated) or 1. @default {3} */
  channels?: 1 | 3;
  /**
   * What to do with a bad sample or annotation line: throw a `DataError`, or
   * skip it and record why in `dataset.skipped`.
   * @default {"throw"}
   */
  onError?: "throw" | "skip";
  /**
   * What to do with a box that reaches outside its image: clip it (and warn
   * through `onWarning`; a box wholly outside is dropped, with a warning) or
   * reject it with a `DataError` naming the line of `bounding_boxes.txt`.
   * Under "reject", negative coordinates are found while loading the
   * annotations; the right and bottom edges when the sample is loaded.
   * @default {"clip"}
   */
  boxOutside?: "clip" | "reject";
  /** Receives warnings, such as a clipped box. @default {console.warn} */
  onWarning?: (message: string) => void;
}

interface CubEntry {
  id: string;
  image: string;
  imageLine: number;
  label: number;
  box?: Box;
  boxLine?: number;
  mask?: string;
}

/**
 * Loads CUB-200-2011 from its official layout under `root`
 * (`CUB_200_2011/`): `images.txt` (`<id> <path>`, paths under `images/`),
 * `image_class_labels.txt` (`<id> <class id>`, 1-based), `classes.txt`
 * (`<class id> <name>`), `train_test_split.txt` (`<id> <is_train>`) and
 * `bounding_boxes.txt` (`<id> <x> <y> <width> <height>` in pixels; optional).
 *
 * - Labels are 0-based: class id `k` of `classes.txt` (1-based, sorted) is
 *   label `k - 1` and `classNames[k - 1]` (the names as written, such as
 *   `"001.Black_footed_Albatross"`).
 * - A box `x y w h` becomes `[x, y, x + w, y + h]`.
 * - Masks come from `segmentations/<class_dir>/<stem>.png`, decoded to
 *   [0, 1] (soft greyscale, alpha multiplied in); a mask whose size differs
 *   from its image's is a `DataError` naming both.
 * - `officialSplit` comes from `train_test_split.txt`.
 * - Sample ids are the image ids of `images.txt`.
 *
 * Every annotation file is checked while loading (malformed or duplicate
 * lines, unknown ids and classes, paths escaping `images/`, missing image
 * and mask files); pixels are decoded only by `load(i)`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { loadCub } from "./cub.ts";
 * import { loadSharp } from "../lib/deps.ts";
 * const root = await Deno.makeTempDir();
 * const sharp = await loadSharp();
 * await Deno.mkdir(`${root}/images/001.Gull`, { recursive: true });
 * await sharp({ create: { width: 8, height: 6, channels: 3, background: "#808080" } })
 *   .png().toFile(`${root}/images/001.Gull/gull_1.png`);
 * await Deno.writeTextFile(`${root}/images.txt`, "1 001.Gull/gull_1.png\n");
 * await Deno.writeTextFile(`${root}/classes.txt`, "1 001.Gull\n");
 * await Deno.writeTextFile(`${root}/image_class_labels.txt`, "1 1\n");
 * await Deno.writeTextFile(`${root}/train_test_split.txt`, "1 1\n");
 * await Deno.writeTextFile(`${root}/bounding_boxes.txt`, "1 2 1 4 3\n");
 * const cub = await loadCub(root);
 * const sample = await cub.load(0);
 * assert.equal(sample.label, 0); // class ids count from 1 in the files
 * assert.deepStrictEqual(sample.boxes, [[2, 1, 6, 4]]); // x, y, width, height → corners
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function loadCub(root: string, options: LoadCubOptions = {}): Promise<Dataset> {
  const channels = checkChannels(options.channels);
  const problems = new Problems(checkOnError(options.onError));
  const boxOutside: BoxOutside = checkBoxOutside(options.boxOutside);
  const warn = options.onWarning ?? defaultWarn;
  if ((await statKind(root)) !== "dir") {
    throw new DataError("dataset folder not found", { file: root });
  }
  const file = (name: string) => path.join(root, name);
  const imagesDir = file("images");

  // classes.txt: class id → label (sorted ids, so 1..N → 0..N-1).
  const classesFile = file("classes.txt");
  const classIds = new Map<number, number>();
  const classNameOf = new Map<number, string>();
  for (const row of await readTable(classesFile, ["class_id", "name"], problems, { rest: true })) {
    problems.attempt(() => {
      const id = intField(classesFile, row, 0, "class_id");
      addUnique(classIds, id, { file: classesFile, line: row.line, field: "class_id" });
      classNameOf.set(id, row.fields[1]);
    });
  }
  const sortedClassIds = [...classIds.keys()].sort((a, b) => a - b);
  const labelOf = new Map(sortedClassIds.map((id, k) => [id, k]));
  const classNames = sortedClassIds.map((id) => classNameOf.get(id)!);
  if (classNames.length === 0) throw new DataError("no classes defined", { file: classesFile });

  // images.txt: id → relative path, in file order.
  const imagesFile = file("images.txt");
  const imageLines = new Map<string, number>();
  const images: { id: string; rel: string; line: number }[] = [];
  for (const row of await readTable(imagesFile, ["image_id", "path"], problems, { rest: true })) {
    problems.attempt(() => {
      const id = String(intField(imagesFile, row, 0, "image_id"));
      addUnique(imageLines, id, { file: imagesFile, line: row.line, field: "image_id" });
      resolveInside(imagesDir, row.fields[1], { file: imagesFile, line: row.line, field: "path" });
      images.push({ id, rel: row.fields[1].replaceAll("\\", "/"), line: row.line });
    }, row.fields[0]);
  }

  // A per-image annotation file: `<image id> <values…>`, one line per image.
  async function perImage<T>(
    name: string,
    columns: string[],
    parse: (fileName: string, row: Parameters<typeof intField>[1]) => T,
  ): Promise<Map<string, { value: T; line: number }>> {
    const f = file(name);
    const out = new Map<string, { value: T; line: number }>();
    const lines = new Map<string, number>();
    for (const row of await readTable(f, ["image_id", ...columns], problems)) {
      problems.attempt(() => {
        const id = String(intField(f, row, 0, "image_id"));
        if (!imageLines.has(id) && !problems.hasSkipped(id)) {
          throw new DataError(`unknown image id ${id}: not in images.txt`, {
            file: f,
            line: row.line,
            field: "image_id",
          });
        }
        addUnique(lines, id, { file: f, line: row.line, field: "image_id" });
        out.set(id, { value: parse(f, row), line: row.line });
      }, row.fields[0]);
    }
    return out;
  }

  const labels = await perImage("image_class_labels.txt", ["class_id"], (f, row) => {
    const classId = intField(f, row, 1, "class_id");
    const label = labelOf.get(classId);
    if (label === undefined) {
      throw new DataError(
        `unknown class ${classId}: not in classes.txt (which defines ${
          describeIds(sortedClassIds)
        })`,
        { file: f, line: row.line, field: "class_id" },
      );
    }
    return label;
  });
  const split = await perImage("train_test_split.txt", ["is_training_image"], (f, row) => {
    const v = intField(f, row, 1, "is_training_image");
    if (v !== 0 && v !== 1) {
      throw new DataError(`expected 0 or 1, got ${v}`, {
        file: f,
        line: row.line,
        field: "is_training_image",
      });
    }
    return v === 1;
  });
  const boxesFile = file("bounding_boxes.txt");
  const haveBoxes = (await statKind(boxesFile)) === "file";
  const boxes = haveBoxes
    ? await perImage("bounding_boxes.txt", ["x", "y", "width", "height"], (f, row) => {
      const [x, y, w, h] = ["x", "y", "width", "height"].map((n, k) =>
        numberField(f, row, k + 1, n)
      );
      if (w <= 0 || h <= 0) {
        throw new DataError(`box has no area: width ${w}, height ${h}`, {
          file: f,
          line: row.line,
          field: w <= 0 ? "width" : "height",
        });
      }
      if (boxOutside === "reject" && (x < 0 || y < 0)) {
        throw new DataError(`box [${x}, ${y}, ${x + w}, ${y + h}] extends outside the image`, {
          file: f,
          line: row.line,
          field: x < 0 ? "x" : "y",
        });
      }
      return [x, y, x + w, y + h] as Box;
    })
    : undefined;

  // Segmentations.
  const segDir = await findSegmentations(root, options);
  const cache = new DirectoryCache();

  // The per-image files (boxes where there are any) must each have a line for every image.
  const perImageFiles: [Map<string, unknown> | undefined, string][] = [
    [labels, "image_class_labels.txt"],
    [split, "train_test_split.txt"],
    [boxes, "bounding_boxes.txt"],
  ];
  const entries: CubEntry[] = [];
  const train: number[] = [], test: number[] = [];
  for (const image of images) {
    const { id } = image;
    if (problems.hasSkipped(id)) continue;
    const fail = (reason: string, where: { file: string; line?: number; field?: string }) =>
      problems.fail(reason, { ...where, id });
    const missing = perImageFiles.find(([lines]) => lines?.has(id) === false);
    if (missing) {
      fail(`image id ${id} has no line in ${missing[1]}`, { file: imagesFile, line: image.line });
      continue;
    }
    const label = labels.get(id)!, inTrain = split.get(id)!, box = boxes?.get(id);
    const imagePath = path.join(imagesDir, image.rel);
    if (!(await cache.hasFile(imagePath))) {
      fail(`image file not found (listed on line ${image.line} of ${imagesFile})`, {
        file: imagePath,
      });
      continue;
    }
    let mask: string | undefined;
    if (segDir) {
      mask = path.join(segDir, image.rel.replace(/\.[^./]*$/, "") + ".png");
      if (!(await cache.hasFile(mask))) {
        fail(`segmentation mask not found for image id ${id} ("${imagePath}")`, { file: mask });
        continue;
      }
    }
    (inTrain.value ? train : test).push(entries.length);
    entries.push({
      id,
      image: imagePath,
      imageLine: image.line,
      label: label.value,
      box: box?.value,
      boxLine: box?.line,
      mask,
    });
  }

  const records: SampleRecord[] = entries.map((e) => ({
    id: e.id,
    label: e.label,
    hasMask: e.mask !== undefined,
    hasBoxes: e.box !== undefined,
    source: path.relative(root, e.image).replaceAll("\\", "/"),
    files: { image: e.image, masks: e.mask ? [e.mask] : [] },
  }));

  async function load(index: number): Promise<Sample> {
    const e = entries[index];
    const sample = await loadImageAndMask(e, channels);
    if (e.box) {
      const fitted = clipBoxes([e.box], {
        width: sample.image.width,
        height: sample.image.height,
        policy: boxOutside,
        file: boxesFile,
        line: e.boxLine,
      });
      for (const w of fitted.warnings) warn(w);
      sample.boxes = fitted.boxes;
    }
    return sample;
  }

  return makeDataset({
    name: "cub",
    classNames,
    records,
    officialSplit: { train, test },
    skipped: problems.skipped,
    load,
  });
}

async function findSegmentations(
  root: string,
  options: LoadCubOptions,
): Promise<string | undefined> {
  if (options.masks === false) return undefined;
  if (options.segmentationsDir !== undefined) {
    if ((await statKind(options.segmentationsDir)) !== "dir") {
      throw new DataError("segmentations folder not found", {
        file: options.segmentationsDir,
        field: "segmentationsDir",
      });
    }
    return options.segmentationsDir;
  }
  const candidates = [path.join(root, "segmentations"), path.join(root, "..", "segmentations")];
  for (const dir of candidates) {
    if ((await statKind(dir)) === "dir") return dir;
  }
  if (options.masks === true) {
    throw new DataError(
      `masks were asked for but no segmentations folder was found (looked for ${
        candidates.map((c) => `"${c}"`).join(" and ")
      })`,
      { file: root, field: "masks" },
    );
  }
  return undefined;
}

function describeIds(ids: number[]): string {
  if (ids.length === 0) return "none";
  const contiguous = ids.every((v, i) => i === 0 || v === ids[i - 1] + 1);
  return contiguous ? `${ids[0]}..${ids.at(-1)}` : `${ids.length} ids`;
}

registerDataset("cub", ({ root }) => loadCub(root!, { channels: 3 }), {
  needsRoot: true,
  description: "CUB-200-2011: 200 bird species, boxes and masks",
});
