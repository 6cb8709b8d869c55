/**
 * Memory and speed of the data pipeline: a generated dataset the size of
 * CUB-200-2011 (12,000 images), each decoded from JPEG bytes by sharp,
 * resized with its mask and box, and packed into batches of tensors with
 * prefetching, while the process's peak resident memory is sampled.
 *
 * The dataset holds 16 generated 256 × 256 JPEGs (a few KiB each) and decodes
 * one on every load, so what stays in memory is the pipeline's own working
 * set, not the dataset. The goal: peak RSS under 2 GiB at 224 × 224.
 *
 * Run with `deno run --allow-read --allow-write --allow-env --allow-ffi --allow-sys tasks/bench_data.ts`.
 *
 * @module
 */
import {
  batches,
  decodeImage,
  initBackend,
  ProgressBar,
  Random,
  resizeSample,
  tf,
} from "../mod.ts";
import type { Dataset, Sample } from "../mod.ts";
// sharp encodes the generated JPEGs; lib/deps.ts is the one place that reaches npm.
import { loadSharp } from "../lib/deps.ts";
// Until lib/data/mod.ts exports them, the pipeline's parts come from their own files.

import { numberFlag, parseFlags, runMain } from "./_cli.ts";
import { engineFlags } from "./_shared_flags.ts";

/** Options of {@linkcode benchDataPipeline}. */
export interface BenchDataOptions {
  /** Samples to iterate. @default {12000} */
  count?: number;
  /** Side of the square the samples are resized to. @default {224} */
  size?: number;
  /** Samples per batch. @default {32} */
  batchSize?: number;
  /** Side of the generated source JPEGs. @default {256} */
  sourceSize?: number;
  /** Seed of the generated images and the shuffle. @default {0} */
  seed?: number;
  /** Told after each batch how many samples are done. @default {nothing} */
  onProgress?: (done: number, total: number) => void;
}

/** What {@linkcode benchDataPipeline} measured. */
export interface BenchDataResult {
  /** Samples iterated. */
  samples: number;
  /** Batches iterated. */
  batches: number;
  /** Wall-clock seconds from the first load to the last batch's disposal. */
  seconds: number;
  /** Resident memory just before iterating, in MiB. */
  startRssMiB: number;
  /** Highest resident memory seen while iterating (sampled every 20 ms and after every batch), in MiB. */
  peakRssMiB: number;
}

const SOURCES = 16;
const MIB = 1024 * 1024;

/**
 * Iterates a generated dataset of `count` JPEG-decoded samples through
 * resize and {@linkcode batches} (shuffled, prefetch 2), reading each batch
 * on the active tfjs engine and disposing it, and reports time and peak RSS.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { benchDataPipeline } from "./bench_data.ts";
 * const r = await benchDataPipeline({ count: 8, size: 16, batchSize: 4, sourceSize: 32 });
 * assert.equal(r.samples, 8);
 * assert.equal(r.batches, 2);
 * assert.ok(r.peakRssMiB > 0);
 * ```
 */
export async function benchDataPipeline(options: BenchDataOptions = {}): Promise<BenchDataResult> {
  const count = options.count ?? 12000;
  const size = options.size ?? 224;
  const batchSize = options.batchSize ?? 32;
  const sourceSize = options.sourceSize ?? 256;
  const seed = options.seed ?? 0;
  for (const [name, v] of Object.entries({ count, size, batchSize, sourceSize })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Option "${name}" must be a positive integer, got ${v}`);
    }
  }
  const dataset = await jpegDataset(count, sourceSize, seed);
  const indices = Array.from({ length: count }, (_, i) => i);
  const startRss = Deno.memoryUsage().rss;
  let peak = startRss;
  const sample = () => {
    peak = Math.max(peak, Deno.memoryUsage().rss);
  };
  const timer = setInterval(sample, 20);
  const start = performance.now();
  let samples = 0, batchCount = 0;
  try {
    const it = batches(dataset, indices, {
      batchSize,
      shuffle: true,
      seed,
      transform: (s) => resizeSample(s, { size }),
    });
    for await (const b of it) {
      // Stand-in for a training step: the engine reads every pixel and mask.
      const total = tf.tidy(() => tf.add(tf.sum(b.images), tf.sum(b.masks)));
      try {
        await total.data();
      } finally {
        tf.dispose([total, b.images, b.labels, b.masks, b.hasMask]);
      }
      samples += b.ids.length;
      batchCount++;
      sample();
      options.onProgress?.(samples, count);
    }
  } finally {
    clearInterval(timer);
  }
  return {
    samples,
    batches: batchCount,
    seconds: (performance.now() - start) / 1000,
    startRssMiB: startRss / MIB,
    peakRssMiB: peak / MIB,
  };
}

/**
 * A dataset of `count` samples backed by 16 generated JPEGs: a noisy
 * background with one bright rectangle, whose mask and box come with it.
 * Each load decodes its JPEG afresh, as a loader reading files would.
 */
async function jpegDataset(count: number, side: number, seed: number): Promise<Dataset> {
  const sharp = await loadSharp();
  const rng = new Random(seed);
  const sources: { jpeg: Uint8Array; box: [number, number, number, number] }[] = [];
  for (let k = 0; k < SOURCES; k++) {
    const w = Math.max(1, Math.round(side * rng.uniform(0.25, 0.6)));
    const h = Math.max(1, Math.round(side * rng.uniform(0.25, 0.6)));
    const x = rng.int(side - w + 1), y = rng.int(side - h + 1);
    const pixels = new Uint8Array(side * side * 3);
    for (let p = 0; p < side * side; p++) {
      const px = p % side, py = Math.floor(p / side);
      const inside = px >= x && px < x + w && py >= y && py < y + h;
      for (let c = 0; c < 3; c++) {
        pixels[p * 3 + c] = inside ? 160 + rng.int(96) : rng.int(120);
      }
    }
    const jpeg = await sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
      .jpeg({ quality: 85 }).toBuffer();
    sources.push({ jpeg: new Uint8Array(jpeg), box: [x, y, x + w, y + h] });
  }
  const labelOf = (i: number) => i % 4;
  return {
    name: "bench-jpeg",
    classNames: ["a", "b", "c", "d"],
    size: count,
    skipped: [],
    records: Array.from({ length: count }, (_, i) => ({
      id: `gen/${i}`,
      label: labelOf(i),
      hasMask: true,
      hasBoxes: true,
      source: `generated:${i % SOURCES}`,
    })),
    async load(i: number): Promise<Sample> {
      const { jpeg, box } = sources[i % SOURCES];
      const image = await decodeImage(jpeg, { name: `gen/${i}.jpg` });
      const mask = new Float32Array(image.width * image.height);
      for (let y = box[1]; y < box[3]; y++) {
        mask.fill(1, y * image.width + box[0], y * image.width + box[2]);
      }
      return { id: `gen/${i}`, label: labelOf(i), image, mask, boxes: [[...box]] };
    },
  };
}

const SUMMARY =
  "Iterate a generated CUB-sized dataset (JPEG decode, resize with mask and box, batches with\n" +
  "prefetch) and report samples, seconds and peak resident memory (RSS).";

const FLAGS = {
  count: { type: "string", default: "12000", help: "samples to iterate" },
  size: { type: "string", default: "224", help: "side the samples are resized to" },
  batch: { type: "string", default: "32", help: "batch size" },
  source: { type: "string", default: "256", help: "side of the generated source JPEGs" },
} as const;

async function main(): Promise<void> {
  const flags = parseFlags("bench:data", SUMMARY, FLAGS, Deno.args);
  const config = {
    ...engineFlags(flags),
    count: numberFlag(flags, "count", { integer: true, min: 1 }),
    size: numberFlag(flags, "size", { integer: true, min: 1 }),
    batchSize: numberFlag(flags, "batch", { integer: true, min: 1 }),
    sourceSize: numberFlag(flags, "source", { integer: true, min: 1 }),
  };
  await initBackend({ backend: config.backend, threads: config.threads });
  const bar = new ProgressBar(config.count, { label: "data" });
  let shown = 0;
  const result = await benchDataPipeline({
    ...config,
    onProgress: (done) => {
      bar.tick(done - shown, `${(Deno.memoryUsage().rss / MIB).toFixed(0)} MiB`);
      shown = done;
    },
  });
  bar.done();
  console.log(
    `${result.samples} samples in ${result.batches} batches of ${config.batchSize} at ` +
      `${config.size}×${config.size}: ${result.seconds.toFixed(1)} s ` +
      `(${(result.samples / result.seconds).toFixed(0)} samples/s), ` +
      `RSS ${result.startRssMiB.toFixed(0)} MiB before, peak ${result.peakRssMiB.toFixed(0)} MiB`,
  );
  console.log(JSON.stringify(result));
}

if (import.meta.main) await runMain(main);
