/**
 * Batch assembly: samples from a {@linkcode Dataset} packed into tensors,
 * with the next batches loading while the consumer works on the current one.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { Random } from "../util/random.ts";
import type { Dataset, Sample } from "./types.ts";

/** A batch of samples as tensors. The consumer disposes every tensor in it. */
export interface DataBatch {
  /** Images `[n, h, w, c]` in [0, 1] (float32). */
  images: tf.Tensor4D;
  /** Class indices `[n]` (int32). */
  labels: tf.Tensor1D;
  /** Masks `[n, h, w]` in [0, 1]; all 0 for a sample without a mask (float32). */
  masks: tf.Tensor3D;
  /** 1 where the sample has a mask, 0 where not, `[n]` (float32). */
  hasMask: tf.Tensor1D;
  /**
   * "Must not matter" masks `[n, h, w]`, 0 for samples without one; present
   * only when some sample in the batch has one.
   */
  ignoreMasks?: tf.Tensor3D;
  /** The sample ids, in batch order. */
  ids: string[];
}

/** A per-sample transform (an augmentation), given its own seeded stream. */
export type SampleTransform = (sample: Sample, rng: Random) => Sample | Promise<Sample>;

/** Options of {@linkcode batches}. */
export interface BatchesOptions {
  /** Samples per batch. @default {32} */
  batchSize?: number;
  /** Visit `indices` in a random order drawn from the stream. @default {false} */
  shuffle?: boolean;
  /** Seed of the shuffle and the transforms' streams, when `rng` is not given. @default {0} */
  seed?: number;
  /**
   * The stream to draw the order and the transforms' seeds from, instead of
   * `seed`. Passing one stream to every epoch gives each epoch a new order.
   *
   * @default {new Random(seed)}
   */
  rng?: Random;
  /**
   * Applied to each sample after loading. Each sample gets its own stream,
   * seeded from `rng` before any loading starts, so results do not depend on
   * the order loads finish in or on `prefetch`.
   *
   * @default {none}
   */
  transform?: SampleTransform;
  /** Batches loaded ahead while the consumer works on the current one. @default {2} */
  prefetch?: number;
  /** Leave out a last batch smaller than `batchSize`. @default {false} */
  dropLast?: boolean;
}

/** A batch packed into typed arrays, before it becomes tensors. */
interface HostBatch {
  n: number;
  h: number;
  w: number;
  c: number;
  images: Float32Array;
  labels: Int32Array;
  masks: Float32Array;
  hasMask: Float32Array;
  ignoreMasks?: Float32Array;
  ids: string[];
}

/**
 * Yields the samples at `indices` in batches of tensors. Samples within a
 * batch load concurrently; while the consumer holds a batch, the next
 * `prefetch` batches load (file reads and sharp decoding run off the main
 * thread) and are packed into typed arrays, so only the copy into tensors is
 * left for the moment a batch is handed over. Prefetched batches hold no
 * tensors, so a consumer that stops early leaks none.
 *
 * Every image in a batch must have one size; resize first (with
 * {@linkcode resizeSample}, {@linkcode cachedDataset} or the transform).
 *
 * The caller disposes each batch's tensors.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { batches } from "./batches.ts";
 * import { tf } from "../deps.ts";
 * import type { Dataset } from "./types.ts";
 * const ds: Dataset = {
 *   name: "tiny", classNames: ["a", "b"], size: 5, skipped: [],
 *   records: [],
 *   load: (i) => Promise.resolve({
 *     id: `s${i}`, label: i % 2,
 *     image: { width: 2, height: 2, channels: 3, data: new Float32Array(12).fill(i / 5) },
 *     ...(i % 2 ? { mask: new Float32Array(4).fill(1) } : {}),
 *   }),
 * };
 * const seen = [];
 * for await (const b of batches(ds, [0, 1, 2, 3, 4], { batchSize: 2, shuffle: true, seed: 3 })) {
 *   seen.push([b.ids, b.images.shape, Array.from(b.hasMask.dataSync())]);
 *   tf.dispose([b.images, b.labels, b.masks, b.hasMask]);
 * }
 * assert.deepStrictEqual(seen, [
 *   [["s0", "s4"], [2, 2, 2, 3], [0, 0]],
 *   [["s1", "s2"], [2, 2, 2, 3], [1, 0]],
 *   [["s3"], [1, 2, 2, 3], [1]], // the last batch is short
 * ]);
 * ```
 */
export async function* batches(
  dataset: Dataset,
  indices: readonly number[],
  options: BatchesOptions = {},
): AsyncGenerator<DataBatch, void, undefined> {
  const batchSize = options.batchSize ?? 32;
  const prefetch = options.prefetch ?? 2;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`Option "batchSize" must be a positive integer, got ${batchSize}`);
  }
  if (!Number.isInteger(prefetch) || prefetch < 0) {
    throw new RangeError(`Option "prefetch" must be a non-negative integer, got ${prefetch}`);
  }
  indices.forEach((index, k) => {
    if (!Number.isInteger(index) || index < 0 || index >= dataset.size) {
      throw new RangeError(
        `Index ${index} at position ${k} is not a sample of "${dataset.name}" (size ${dataset.size})`,
      );
    }
  });
  const rng = options.rng ?? new Random(options.seed ?? 0);
  const order = options.shuffle ? rng.shuffle([...indices]) : [...indices];
  const seeds = options.transform ? order.map(() => rng.seed()) : [];
  const count = options.dropLast
    ? Math.floor(order.length / batchSize)
    : Math.ceil(order.length / batchSize);

  const pending: Promise<HostBatch>[] = [];
  let launched = 0;
  const launch = () => {
    const start = launched++ * batchSize;
    const positions = Array.from(
      { length: Math.min(batchSize, order.length - start) },
      (_, k) => start + k,
    );
    const host = Promise.all(positions.map(async (p) => {
      const sample = await dataset.load(order[p]);
      return options.transform ? await options.transform(sample, new Random(seeds[p])) : sample;
    })).then((samples) => packBatch(samples, dataset.classNames.length));
    // A prefetched batch may fail before anyone awaits it; its error is raised when it is.
    host.catch(() => {});
    pending.push(host);
  };

  while (true) {
    // The batch about to be handed over, plus `prefetch` more loading behind it.
    while (pending.length < prefetch + 1 && launched < count) launch();
    const next = pending.shift();
    if (!next) return;
    yield toTensors(await next);
  }
}

/** Packs samples into contiguous typed arrays, checking that they fit together. */
function packBatch(samples: Sample[], numClasses: number): HostBatch {
  const first = samples[0].image;
  const { width: w, height: h, channels: c } = first;
  const n = samples.length, pixels = h * w;
  const images = new Float32Array(n * pixels * c);
  const labels = new Int32Array(n);
  const masks = new Float32Array(n * pixels);
  const hasMask = new Float32Array(n);
  const anyIgnore = samples.some((s) => s.ignoreMask);
  const ignoreMasks = anyIgnore ? new Float32Array(n * pixels) : undefined;
  samples.forEach((s, k) => {
    const where = `Sample ${JSON.stringify(s.id)}`;
    const { width, height, channels, data } = s.image;
    if (width !== w || height !== h || channels !== c) {
      throw new RangeError(
        `${where} is ${height}×${width}×${channels}, but sample ${
          JSON.stringify(samples[0].id)
        } in its batch is ${h}×${w}×${c}; resize samples to one size first`,
      );
    }
    if (data.length !== pixels * c) {
      throw new RangeError(`${where}: image holds ${data.length} values, expected ${pixels * c}`);
    }
    if (!Number.isInteger(s.label) || s.label < 0 || s.label >= numClasses) {
      throw new RangeError(
        `${where}: label ${s.label} is not a class index in [0, ${numClasses})`,
      );
    }
    images.set(data, k * pixels * c);
    labels[k] = s.label;
    for (const [field, target] of [["mask", masks], ["ignoreMask", ignoreMasks]] as const) {
      const m = s[field];
      if (!m || !target) continue;
      if (m.length !== pixels) {
        throw new RangeError(`${where}: ${field} holds ${m.length} values, expected ${h}×${w}`);
      }
      target.set(m, k * pixels);
    }
    hasMask[k] = s.mask ? 1 : 0;
  });
  return { n, h, w, c, images, labels, masks, hasMask, ignoreMasks, ids: samples.map((s) => s.id) };
}

/** Copies a packed batch into new tensors, which the caller owns. */
function toTensors(b: HostBatch): DataBatch {
  const made: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    made.push(t);
    return t;
  };
  try {
    const batch: DataBatch = {
      images: keep(tf.tensor4d(b.images, [b.n, b.h, b.w, b.c])),
      labels: keep(tf.tensor1d(b.labels, "int32")),
      masks: keep(tf.tensor3d(b.masks, [b.n, b.h, b.w])),
      hasMask: keep(tf.tensor1d(b.hasMask)),
      ids: b.ids,
    };
    if (b.ignoreMasks) batch.ignoreMasks = keep(tf.tensor3d(b.ignoreMasks, [b.n, b.h, b.w]));
    return batch;
  } catch (error) {
    tf.dispose(made);
    throw error;
  }
}
