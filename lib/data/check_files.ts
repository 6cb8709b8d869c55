/**
 * Checks before work starts: every image and mask file of a dataset read by
 * its header (in parallel, a few small reads each), every problem listed.
 *
 * @module
 */
import * as path from "node:path";
import { DataError } from "./errors.ts";
import { type ImageHeader, readImageHeader } from "../io/image.ts";
import type { Dataset, SampleFiles } from "./types.ts";

/** One file that will not load, and why. */
export interface FileProblem {
  /** The file, as the record names it. */
  file: string;
  /** What is wrong, e.g. `truncated: …`, `empty file (0 bytes)`, `mask is 8×8, …`. */
  reason: string;
}

/** Options of {@linkcode checkDatasetFiles}. */
export interface CheckDatasetFilesOptions {
  /** Files read at once. @default {16} */
  concurrency?: number;
}

/**
 * Reads the header of every image and mask file the dataset's records name
 * (`record.files`; records without are passed over) and returns every
 * problem found, in record order: a missing, empty, truncated or unknown
 * file, and a mask whose size differs from its image's. An empty list means
 * every file's header reads and every mask fits its image; pixels are not
 * decoded, so a file corrupt inside its data can still fail later.
 *
 * @example A truncated mask and a zero-byte image, both found at once
 * ```ts
 * import assert from "node:assert";
 * import { checkDatasetFiles } from "./check_files.ts";
 * import type { Dataset, SampleFiles } from "./types.ts";
 * import { loadSharp } from "../deps.ts";
 * const sharp = await loadSharp();
 * const root = await Deno.makeTempDir();
 * const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#000" } }).png().toBuffer();
 * await Deno.writeFile(`${root}/a.png`, png);
 * await Deno.writeFile(`${root}/a_mask.png`, png.subarray(0, 40));
 * await Deno.writeFile(`${root}/b.png`, new Uint8Array());
 * const record = (id: string) => ({
 *   id, label: 0, hasMask: true, hasBoxes: false, source: `${id}.png`,
 *   files: { image: `${root}/${id}.png`, masks: id === "a" ? [`${root}/a_mask.png`] : [] },
 * });
 * const dataset: Dataset = {
 *   name: "doc", classNames: ["x"], size: 2, records: [record("a"), record("b")], skipped: [],
 *   load: () => Promise.reject(new Error("not loaded")),
 * };
 * const problems = await checkDatasetFiles(dataset);
 * assert.deepStrictEqual(problems.map((p) => [p.file.slice(root.length + 1), p.reason.split(":")[0]]), [
 *   ["a_mask.png", "truncated"],
 *   ["b.png", "empty file (0 bytes)"],
 * ]);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function checkDatasetFiles(
  dataset: Pick<Dataset, "records">,
  options: CheckDatasetFilesOptions = {},
): Promise<FileProblem[]> {
  const records = dataset.records.filter((r) => r.files !== undefined);
  return await inParallel(records.map((r) => r.files!), options);
}

/**
 * Reads the header of each image file in `files`, as
 * {@linkcode checkDatasetFiles} does for a dataset's files, and returns every
 * problem found, in the order of `files`: for a task that takes image files
 * rather than a dataset.
 *
 * @example A whole PNG, a truncated one and an empty file
 * ```ts
 * import assert from "node:assert";
 * import { checkImageFiles } from "./check_files.ts";
 * import { loadSharp } from "../deps.ts";
 * const sharp = await loadSharp();
 * const root = await Deno.makeTempDir();
 * const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#000" } }).png().toBuffer();
 * await Deno.writeFile(`${root}/a.png`, png);
 * await Deno.writeFile(`${root}/b.png`, png.subarray(0, 40));
 * await Deno.writeFile(`${root}/c.png`, new Uint8Array());
 * const problems = await checkImageFiles(["a", "b", "c"].map((f) => `${root}/${f}.png`));
 * assert.deepStrictEqual(problems.map((p) => [p.file.slice(root.length + 1), p.reason.split(":")[0]]), [
 *   ["b.png", "truncated"],
 *   ["c.png", "empty file (0 bytes)"],
 * ]);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function checkImageFiles(
  files: readonly string[],
  options: CheckDatasetFilesOptions = {},
): Promise<FileProblem[]> {
  return await inParallel(files.map((image) => ({ image, masks: [] })), options);
}

/** Checks each sample's files, `options.concurrency` at once; problems in order. */
async function inParallel(
  samples: readonly SampleFiles[],
  options: CheckDatasetFilesOptions,
): Promise<FileProblem[]> {
  const concurrency = options.concurrency ?? 16;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`Option "concurrency" must be an integer ≥ 1, got ${concurrency}`);
  }
  const found: FileProblem[][] = new Array(samples.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < samples.length) {
      const k = next++;
      found[k] = await checkRecord(samples[k]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, samples.length) }, worker));
  return found.flat();
}

async function checkRecord(files: SampleFiles): Promise<FileProblem[]> {
  const problems: FileProblem[] = [];
  const read = async (file: string): Promise<ImageHeader | null> => {
    try {
      return await readImageHeader(file);
    } catch (error) {
      if (!(error instanceof DataError)) throw error;
      problems.push({ file, reason: reasonOf(error) });
      return null;
    }
  };
  const image = await read(files.image);
  for (const mask of files.masks) {
    const m = await read(mask);
    if (image && m && (m.width !== image.width || m.height !== image.height)) {
      problems.push({
        file: mask,
        reason: `mask is ${m.width}×${m.height}, its image "${
          path.basename(files.image)
        }" is ${image.width}×${image.height}`,
      });
    }
  }
  return problems;
}

/** A DataError's message without its "file: " prefix. */
function reasonOf(error: DataError): string {
  const prefix = `${error.file}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}
