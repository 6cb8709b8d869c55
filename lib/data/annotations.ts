/**
 * Annotation helpers: boxes to masks and back, checking boxes against their
 * image, and a report of which samples carry which annotations.
 *
 * Boxes follow the convention documented on {@linkcode Box}: pixel (row i,
 * column j) covers `[j, j + 1) × [i, i + 1)`, so a pixel belongs to a box
 * when its centre `(j + 0.5, i + 0.5)` lies in `[x1, x2) × [y1, y2)`.
 *
 * @module
 */
import { DataError } from "./errors.ts";
import type { Box, Dataset, Sample } from "./types.ts";

/** The size of the image a mask or box belongs to. */
export interface ImageSize {
  /** Width in pixels, a positive integer. */
  width: number;
  /** Height in pixels, a positive integer. */
  height: number;
}

/**
 * Rasterises boxes to a `height · width` mask, 1 inside any box and 0
 * elsewhere (several boxes are OR-ed). A pixel is inside a box when its
 * centre is: `x1 ≤ j + 0.5 < x2` and `y1 ≤ i + 0.5 < y2`. Parts of a box
 * outside the image are ignored; an empty box (`x2 ≤ x1` or `y2 ≤ y1`)
 * covers nothing.
 *
 * @example Two boxes on a 4 × 3 image
 * ```ts
 * import assert from "node:assert";
 * import { boxesToMask } from "./annotations.ts";
 * const mask = boxesToMask([[0, 0, 2, 1], [3, 2, 4, 3]], { width: 4, height: 3 });
 * assert.equal(Array.from(mask).join(""), "110000000001");
 * ```
 */
export function boxesToMask(boxes: readonly Box[], size: ImageSize): Float32Array {
  const { width, height } = checkSize(size, "boxesToMask");
  const mask = new Float32Array(width * height);
  boxes.forEach((box, b) => {
    checkBoxNumbers(box, `Cannot rasterise boxes[${b}]`);
    // Pixel j is inside when x1 ≤ j + 0.5 < x2, that is ceil(x1 − 0.5) ≤ j < ceil(x2 − 0.5).
    const j0 = Math.max(0, Math.ceil(box[0] - 0.5));
    const j1 = Math.min(width, Math.ceil(box[2] - 0.5));
    const i0 = Math.max(0, Math.ceil(box[1] - 0.5));
    const i1 = Math.min(height, Math.ceil(box[3] - 0.5));
    for (let i = i0; i < i1; i++) mask.fill(1, i * width + j0, i * width + Math.max(j0, j1));
  });
  return mask;
}

/** Options of {@linkcode maskToBox}. */
export interface MaskToBoxOptions extends ImageSize {
  /** Pixels with a value at or above this belong to the object. @default {0.5} */
  threshold?: number;
}

/**
 * The tight box around the pixels of `mask` at or above `threshold`, in the
 * pixel-edge convention of {@linkcode Box} (a mask covering only pixel
 * (row 1, column 2) gives `[2, 1, 3, 2]`); `null` when no pixel is.
 *
 * @example Round trip with boxesToMask
 * ```ts
 * import assert from "node:assert";
 * import { boxesToMask, maskToBox } from "./annotations.ts";
 * const mask = boxesToMask([[1, 0, 3, 2]], { width: 4, height: 3 });
 * assert.deepStrictEqual(maskToBox(mask, { width: 4, height: 3 }), [1, 0, 3, 2]);
 * assert.equal(maskToBox(new Float32Array(12), { width: 4, height: 3 }), null);
 * ```
 */
export function maskToBox(mask: ArrayLike<number>, options: MaskToBoxOptions): Box | null {
  const { width, height } = checkSize(options, "maskToBox");
  const threshold = options.threshold ?? 0.5;
  if (!Number.isFinite(threshold)) {
    throw new RangeError(`Option "threshold" must be a finite number, got ${threshold}`);
  }
  if (mask.length !== width * height) {
    throw new RangeError(
      `Cannot find the box of a mask of ${mask.length} values: expected ${width}·${height} = ${
        width * height
      }`,
    );
  }
  let x1 = width, y1 = height, x2 = -1, y2 = -1;
  for (let i = 0; i < height; i++) {
    const row = i * width;
    for (let j = 0; j < width; j++) {
      if (mask[row + j] >= threshold) {
        if (j < x1) x1 = j;
        if (j > x2) x2 = j;
        if (i < y1) y1 = i;
        y2 = i;
      }
    }
  }
  return x2 < 0 ? null : [x1, y1, x2 + 1, y2 + 1];
}

/** Options of {@linkcode clipBoxes}. */
export interface ClipBoxesOptions extends ImageSize {
  /**
   * What to do with a box that extends outside the image: `"clip"` clips it
   * to the image and returns a warning (a box wholly outside is dropped, with
   * a warning); `"reject"` throws a {@linkcode DataError}.
   * @default {"clip"}
   */
  policy?: "clip" | "reject";
  /** The annotation file, for warnings and errors. @default {"<boxes>"} */
  file?: string;
  /** The 1-based line in `file`, for warnings and errors. @default {undefined} */
  line?: number;
}

/** What {@linkcode clipBoxes} returns. */
export interface ClippedBoxes {
  /** The boxes, each inside `[0, width] × [0, height]`. */
  boxes: Box[];
  /** One message per box that was clipped or dropped, naming the file, line and box. */
  warnings: string[];
}

/**
 * Checks boxes against an image of the given size. A box with a
 * non-finite coordinate, or with `x2 ≤ x1` or `y2 ≤ y1`, is always an error;
 * a box that extends outside the image is clipped with a warning or
 * rejected, as `policy` says. Loaders call this on every annotated box.
 *
 * @example Clip, or reject
 * ```ts
 * import assert from "node:assert";
 * import { clipBoxes } from "./annotations.ts";
 * const where = { width: 4, height: 4, file: "boxes.txt", line: 7 };
 * const { boxes, warnings } = clipBoxes([[-2, 1, 5, 3]], where);
 * assert.deepStrictEqual(boxes, [[0, 1, 4, 3]]);
 * assert.equal(warnings.length, 1);
 * assert.throws(() => clipBoxes([[-2, 1, 5, 3]], { ...where, policy: "reject" }), {
 *   message: /^boxes\.txt:7/,
 * });
 * ```
 */
export function clipBoxes(boxes: readonly Box[], options: ClipBoxesOptions): ClippedBoxes {
  const { width, height } = checkSize(options, "clipBoxes");
  const policy = options.policy ?? "clip";
  if (policy !== "clip" && policy !== "reject") {
    throw new RangeError(`Option "policy" must be "clip" or "reject", got "${policy}"`);
  }
  const where = { file: options.file ?? "<boxes>", line: options.line };
  const place = where.line !== undefined ? `${where.file}:${where.line}` : where.file;
  const out: Box[] = [];
  const warnings: string[] = [];
  boxes.forEach((box, b) => {
    const text = `box ${b} [${box.join(", ")}]`;
    if (box.length !== 4 || !box.every(Number.isFinite)) {
      throw new DataError(`${text} must hold 4 finite numbers`, where);
    }
    const [x1, y1, x2, y2] = box;
    if (!(x2 > x1) || !(y2 > y1)) {
      throw new DataError(`${text} is empty or inverted: expected x1 < x2 and y1 < y2`, where);
    }
    if (x1 >= 0 && y1 >= 0 && x2 <= width && y2 <= height) {
      out.push([x1, y1, x2, y2]);
      return;
    }
    const outside = `${text} extends outside the ${width}×${height} image`;
    if (policy === "reject") throw new DataError(outside, where);
    const clipped: Box = [
      Math.max(0, x1),
      Math.max(0, y1),
      Math.min(width, x2),
      Math.min(height, y2),
    ];
    if (clipped[2] > clipped[0] && clipped[3] > clipped[1]) {
      out.push(clipped);
      warnings.push(`${place}: ${outside}; clipped to [${clipped.join(", ")}]`);
    } else {
      warnings.push(`${place}: ${text} lies wholly outside the ${width}×${height} image; dropped`);
    }
  });
  return { boxes: out, warnings };
}

/** Annotation counts of one class, in an {@linkcode AnnotationReport}. */
export interface ClassAnnotationCounts {
  /** The class index. */
  label: number;
  /** The class name. */
  name: string;
  /** Samples of this class. */
  total: number;
  /** Samples with a mask (with or without boxes). */
  withMask: number;
  /** Samples with boxes (with or without a mask). */
  withBoxes: number;
  /** Samples with both a mask and boxes. */
  withBoth: number;
  /** Samples with neither. */
  withNothing: number;
}

/** How many samples of a dataset carry which annotations. */
export interface AnnotationReport {
  /** Samples in the dataset. */
  total: number;
  /** Samples with a mask (with or without boxes). */
  withMask: number;
  /** Samples with boxes (with or without a mask). */
  withBoxes: number;
  /** Samples with both. */
  withBoth: number;
  /** Samples with neither. */
  withNothing: number;
  /**
   * Samples whose annotated mask is empty (all zero), where counted by
   * {@linkcode countEmptyMasks}; absent when not counted, since it needs the
   * masks decoded.
   */
  emptyMasks?: number;
  /** The same counts for each class, by class index. */
  perClass: ClassAnnotationCounts[];
}

/**
 * Counts which samples carry masks, boxes, both or nothing, overall and per
 * class, from the dataset's records alone (nothing is decoded).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { annotationReport } from "./annotations.ts";
 * const report = annotationReport({
 *   classNames: ["a", "b"],
 *   records: [
 *     { id: "1", label: 0, hasMask: true, hasBoxes: true, source: "1.png" },
 *     { id: "2", label: 1, hasMask: false, hasBoxes: false, source: "2.png" },
 *   ],
 * });
 * assert.equal(report.withBoth, 1);
 * assert.equal(report.withNothing, 1);
 * assert.equal(report.perClass[1].withNothing, 1);
 * ```
 */
export function annotationReport(
  dataset: Pick<Dataset, "records" | "classNames">,
): AnnotationReport {
  const blank = (label: number, name: string): ClassAnnotationCounts => ({
    label,
    name,
    total: 0,
    withMask: 0,
    withBoxes: 0,
    withBoth: 0,
    withNothing: 0,
  });
  const perClass = dataset.classNames.map((name, k) => blank(k, name));
  const all = blank(-1, "all");
  dataset.records.forEach((record, i) => {
    const row = perClass[record.label];
    if (row === undefined) {
      throw new RangeError(
        `Cannot report on records[${i}] ("${record.id}"): label ${record.label} is not a class index below ${perClass.length}`,
      );
    }
    for (const counts of [row, all]) {
      counts.total++;
      if (record.hasMask) counts.withMask++;
      if (record.hasBoxes) counts.withBoxes++;
      if (record.hasMask && record.hasBoxes) counts.withBoth++;
      if (!record.hasMask && !record.hasBoxes) counts.withNothing++;
    }
  });
  const { total, withMask, withBoxes, withBoth, withNothing } = all;
  return { total, withMask, withBoxes, withBoth, withNothing, perClass };
}

/** Options of {@linkcode countEmptyMasks}. */
export interface CountEmptyMasksOptions {
  /** Only these sample indices. @default {every sample} */
  indices?: readonly number[];
  /** A mask is empty when no value exceeds this. @default {0} */
  threshold?: number;
}

/**
 * Loads the samples whose records say they have a mask and counts those
 * whose mask is empty (BUSI's normal class, say). This decodes images; put
 * the result in `report.emptyMasks` to have it printed.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { countEmptyMasks } from "./annotations.ts";
 * const image = { width: 1, height: 1, channels: 1 as const, data: new Float32Array(1) };
 * const dataset = {
 *   name: "tiny", classNames: ["a"], size: 2, skipped: [],
 *   records: [0, 1].map((i) => ({ id: `${i}`, label: 0, hasMask: true, hasBoxes: false, source: "" })),
 *   load: (i: number) => Promise.resolve({ id: `${i}`, image, label: 0, mask: new Float32Array([i]) }),
 * };
 * assert.equal(await countEmptyMasks(dataset), 1); // sample 0's mask is all zero
 * ```
 */
export async function countEmptyMasks(
  dataset: Dataset,
  options: CountEmptyMasksOptions = {},
): Promise<number> {
  const threshold = options.threshold ?? 0;
  const indices = options.indices ?? dataset.records.map((_, i) => i);
  let empty = 0;
  for (const i of indices) {
    if (!dataset.records[i]?.hasMask) continue;
    const sample: Sample = await dataset.load(i);
    if (sample.mask === undefined || sample.mask.every((v) => v <= threshold)) empty++;
  }
  return empty;
}

/**
 * Formats an {@linkcode AnnotationReport} as a plain-text table: one row
 * per class and a total row, with the empty-mask count when present.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { annotationReport, formatAnnotationReport } from "./annotations.ts";
 * const report = annotationReport({
 *   classNames: ["cat"],
 *   records: [{ id: "1", label: 0, hasMask: true, hasBoxes: false, source: "1.png" }],
 * });
 * assert.equal(
 *   formatAnnotationReport(report),
 *   [
 *     "class  samples  mask  boxes  both  nothing",
 *     "-----  -------  ----  -----  ----  -------",
 *     "cat          1     1      0     0        0",
 *     "-----  -------  ----  -----  ----  -------",
 *     "total        1     1      0     0        0",
 *   ].join("\n"),
 * );
 * ```
 */
export function formatAnnotationReport(report: AnnotationReport): string {
  const header = ["class", "samples", "mask", "boxes", "both", "nothing"];
  const row = (name: string, c: Omit<ClassAnnotationCounts, "label" | "name">) => [
    name,
    ...[c.total, c.withMask, c.withBoxes, c.withBoth, c.withNothing].map(String),
  ];
  const rows = [header, ...report.perClass.map((c) => row(c.name, c)), row("total", report)];
  const widths = header.map((_, col) => Math.max(...rows.map((r) => r[col].length)));
  const lines = rows.map((r) =>
    r.map((cell, col) => col === 0 ? cell.padEnd(widths[col]) : cell.padStart(widths[col]))
      .join("  ")
  );
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  lines.splice(lines.length - 1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  if (report.emptyMasks !== undefined) {
    lines.push(`${report.emptyMasks} of ${report.withMask} masks are empty`);
  }
  return lines.join("\n");
}

function checkSize(size: ImageSize, what: string): ImageSize {
  for (const field of ["width", "height"] as const) {
    const value = size[field];
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(
        `Option "${field}" of ${what}() must be a positive integer, got ${value}`,
      );
    }
  }
  return size;
}

function checkBoxNumbers(box: Box, what: string): void {
  if (box.length !== 4 || !box.every(Number.isFinite)) {
    throw new RangeError(`${what}: expected 4 finite numbers, got [${box.join(", ")}]`);
  }
}
