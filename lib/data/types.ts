/**
 * The data model shared by every loader, transform and split.
 *
 * Pixels live in plain typed arrays, not tensors, until a batch is
 * assembled, so the data pipeline owns no tensors and leaks none.
 *
 * @module
 */

/** An image in memory: height × width × channels, row-major, values in [0, 1]. */
export interface Image {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 1 (grey) or 3 (RGB). */
  channels: 1 | 3;
  /** `height · width · channels` values in [0, 1], HWC order. */
  data: Float32Array;
}

/**
 * A box `[x1, y1, x2, y2]` in pixel coordinates: the image spans
 * `[0, width] × [0, height]`, pixel (row i, column j) covers
 * `[j, j + 1) × [i, i + 1)`, so a box covering exactly pixel columns 2..4 is
 * `[2, y1, 5, y2]`.
 */
export type Box = [number, number, number, number];

/** One sample with its pixels and annotations. */
export interface Sample {
  /** Unique id within its dataset. */
  id: string;
  /** The image. */
  image: Image;
  /** Class index into the dataset's `classNames`. */
  label: number;
  /** Object mask, `height · width` values in [0, 1] (soft allowed), aligned with `image`. */
  mask?: Float32Array;
  /** Object boxes in pixel coordinates; absent means none annotated. */
  boxes?: Box[];
  /** Regions that must not matter (a shortcut cue, say), `height · width` in [0, 1]. */
  ignoreMask?: Float32Array;
}

/** What a dataset knows about a sample without decoding its pixels. */
export interface SampleRecord {
  /** Unique id within its dataset. */
  id: string;
  /** Class index. */
  label: number;
  /** Whether a mask is annotated (it may still be empty, as for BUSI's normal class). */
  hasMask: boolean;
  /** Whether boxes are annotated. */
  hasBoxes: boolean;
  /** Where the pixels come from (a path relative to the dataset root, or a generator id). */
  source: string;
  /**
   * The image files the sample is decoded from, the paths as the loader
   * opens them, for checks that read every file's header before work
   * starts; absent for generated or packed samples.
   */
  files?: SampleFiles;
}

/** The files one sample is decoded from. */
export interface SampleFiles {
  /** The image file. */
  image: string;
  /** Its mask files (each the image's size), none where it has no mask file. */
  masks: readonly string[];
}

/** A sample a loader passed over, and why. Loaders never drop samples silently. */
export interface SkippedSample {
  /** The file that was at fault. */
  file: string;
  /** The 1-based line in `file`, where the fault is in an annotation line. */
  line?: number;
  /** The sample id, where known. */
  id?: string;
  /** What was wrong. */
  reason: string;
}

/** A dataset: class names, records, and lazily loaded samples. */
export interface Dataset {
  /** A short name (`"cub"`, `"busi"`, `"synthetic"`). */
  readonly name: string;
  /** Class names, by class index. */
  readonly classNames: readonly string[];
  /** Number of samples. */
  readonly size: number;
  /** One record per sample, in index order. */
  readonly records: readonly SampleRecord[];
  /** The official split, as sample indices, where the dataset has one. */
  readonly officialSplit?: { train: number[]; test: number[] };
  /** Samples passed over while loading, with the reason for each. */
  readonly skipped: readonly SkippedSample[];
  /** Reads and decodes sample `index`. */
  load(index: number): Promise<Sample>;
}
