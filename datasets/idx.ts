/**
 * The IDX format of MNIST and Fashion-MNIST: a big-endian header (magic
 * number, then one 32-bit size per dimension) followed by unsigned bytes,
 * gzipped or not.
 *
 * @module
 */
import { DataError } from "../lib/data/errors.ts";
import type { Dataset, Image, Sample, SampleRecord } from "../lib/data/types.ts";
import { readFileBytes } from "../lib/io/image.ts";
import { checkChannels, checkOnError, makeDataset, Problems } from "./_common.ts";
import { registerDataset } from "./registry.ts";
import { pathExists } from "../lib/util/fs.ts";

/** Fashion-MNIST's class names, in label order (Xiao et al. 2017). */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);

/** MNIST's class names: the digits. */
export const MNIST_CLASSES: readonly string[] = Object.freeze(
  Array.from({ length: 10 }, (_, k) => String(k)),
);

/** The magic number of an IDX file of unsigned bytes with 3 dimensions (images). */
export const IDX_IMAGES_MAGIC = 0x00000803;
/** The magic number of an IDX file of unsigned bytes with 1 dimension (labels). */
export const IDX_LABELS_MAGIC = 0x00000801;

/** Files and options of {@linkcode loadIdx}. */
export interface LoadIdxOptions {
  /** The images file (`*-images-idx3-ubyte`, optionally `.gz`). */
  images: string;
  /** The labels file (`*-labels-idx1-ubyte`, optionally `.gz`). */
  labels: string;
  /**
   * Class names by label, such as {@linkcode FASHION_MNIST_CLASSES}. A label
   * with no name is an unknown class.
   * @default {"0", "1", … up to the largest label}
   */
  classNames?: readonly string[];
  /** Image channels: 1, or 3 (the grey value replicated). @default {1} */
  channels?: 1 | 3;
  /** The dataset's name. @default {"idx"} */
  name?: string;
  /**
   * What to do with a label that has no class name: throw a `DataError`,
   * or skip the sample and record why in `dataset.skipped`.
   * @default {"throw"}
   */
  onError?: "throw" | "skip";
}

/**
 * Loads an IDX images/labels pair (MNIST, Fashion-MNIST, KMNIST…), gzipped
 * or not (found by the gzip magic bytes `1f 8b`).
 *
 * - Both headers are checked at once: the magic numbers (`0x00000803` for
 *   images, `0x00000801` for labels), the image size, and that the files
 *   hold the same number of items. The labels are read now; the images
 *   file is read into memory (as bytes, about 47 MB for MNIST's training
 *   set) on the first `load(i)`, and its length checked then: a truncated
 *   file is a `DataError` saying how many bytes were expected and found.
 * - Samples are 1-channel images in [0, 1] (`channels: 3` replicates the
 *   grey value), converted one at a time; ids are the item indices.
 * - There is no official split inside one pair: the training and test files
 *   are separate pairs.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { loadIdx } from "./idx.ts";
 * const dir = await Deno.makeTempDir();
 * // Big-endian 32-bit header words, then the bytes.
 * const idx = (header: number[], bytes: number[]) => {
 *   const out = new Uint8Array(4 * header.length + bytes.length);
 *   header.forEach((v, k) => new DataView(out.buffer).setUint32(4 * k, v));
 *   out.set(bytes, 4 * header.length);
 *   return out;
 * };
 * await Deno.writeFile(`${dir}/images`, idx([0x803, 2, 2, 2], [0, 255, 51, 0, 0, 0, 0, 0]));
 * await Deno.writeFile(`${dir}/labels`, idx([0x801, 2], [7, 1]));
 * const mnist = await loadIdx({ images: `${dir}/images`, labels: `${dir}/labels` });
 * const first = await mnist.load(0);
 * assert.equal(mnist.size, 2);
 * assert.equal(first.label, 7);
 * assert.deepStrictEqual(Array.from(first.image.data, (v) => Math.round(v * 255)), [0, 255, 51, 0]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadIdx(options: LoadIdxOptions): Promise<Dataset> {
  if (typeof options?.images !== "string" || typeof options.labels !== "string") {
    throw new TypeError(`Cannot load IDX: options "images" and "labels" must be file paths`);
  }
  const channels = options.channels === undefined ? 1 : checkChannels(options.channels);
  const problems = new Problems(checkOnError(options.onError));
  const imagesFile = options.images, labelsFile = options.labels;

  const labelBytes = await readIdx(labelsFile);
  const labelHeader = parseHeader(labelBytes, labelsFile, IDX_LABELS_MAGIC, "labels");
  const count = labelHeader.dims[0];
  checkLength(labelBytes, labelHeader, labelsFile, "labels");
  const imageHeader = parseHeader(
    await readIdxHead(imagesFile),
    imagesFile,
    IDX_IMAGES_MAGIC,
    "images",
  );
  const [imageCount, rows, cols] = imageHeader.dims;
  if (imageCount !== count) {
    throw new DataError(
      `holds ${imageCount} images but "${labelsFile}" holds ${count} labels`,
      { file: imagesFile, field: "count" },
    );
  }
  if (rows === 0 || cols === 0) {
    throw new DataError(`images are ${rows}×${cols}: expected a positive size`, {
      file: imagesFile,
      field: rows === 0 ? "rows" : "columns",
    });
  }

  const labels = labelBytes.subarray(8, 8 + count);
  let maxLabel = 0;
  for (const l of labels) maxLabel = Math.max(maxLabel, l);
  const classNames = options.classNames
    ? [...options.classNames]
    : Array.from({ length: maxLabel + 1 }, (_, k) => String(k));
  const items: number[] = [];
  for (let i = 0; i < count; i++) {
    if (labels[i] >= classNames.length) {
      problems.fail(
        `unknown class: label ${labels[i]} has no class name (${classNames.length} given)`,
        { file: labelsFile, field: `label[${i}]`, id: String(i) },
      );
      continue;
    }
    items.push(i);
  }
  const records: SampleRecord[] = items.map((i) => ({
    id: String(i),
    label: labels[i],
    hasMask: false,
    hasBoxes: false,
    source: `${imagesFile}#${i}`,
  }));

  let pixels: Promise<Uint8Array> | undefined;
  const readPixels = async (): Promise<Uint8Array> => {
    const bytes = await readIdx(imagesFile);
    const header = parseHeader(bytes, imagesFile, IDX_IMAGES_MAGIC, "images");
    checkLength(bytes, header, imagesFile, "images");
    return bytes.subarray(header.size);
  };
  const area = rows * cols;

  async function load(index: number): Promise<Sample> {
    if (!pixels) {
      pixels = readPixels();
      pixels.catch(() => (pixels = undefined));
    }
    const all = await pixels;
    const item = items[index];
    const grey = all.subarray(item * area, (item + 1) * area);
    const data = new Float32Array(area * channels);
    for (let p = 0; p < area; p++) {
      const v = grey[p] / 255;
      for (let c = 0; c < channels; c++) data[p * channels + c] = v;
    }
    const image: Image = { width: cols, height: rows, channels, data };
    return { id: String(item), image, label: labels[item] };
  }

  return makeDataset({
    name: options.name ?? "idx",
    classNames,
    records,
    skipped: problems.skipped,
    load,
  });
}

interface IdxHeader {
  /** Header length in bytes. */
  size: number;
  dims: number[];
}

function hex(v: number): string {
  return `0x${v.toString(16).padStart(8, "0")}`;
}

function parseHeader(bytes: Uint8Array, file: string, magic: number, what: string): IdxHeader {
  const ndims = magic & 0xff;
  const size = 4 + 4 * ndims;
  if (bytes.length < 4) {
    throw new DataError(
      `truncated header: expected at least ${size} bytes, found ${bytes.length}`,
      { file, field: "magic" },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const got = view.getUint32(0);
  if (got !== magic) {
    throw new DataError(
      `not an IDX ${what} file: expected magic number ${hex(magic)} (unsigned bytes, ${ndims} ${
        ndims === 1 ? "dimension" : "dimensions"
      }), got ${hex(got)}`,
      { file, field: "magic" },
    );
  }
  if (bytes.length < size) {
    throw new DataError(
      `truncated header: expected ${size} bytes, found ${bytes.length}`,
      { file, field: "dimensions" },
    );
  }
  const dims = Array.from({ length: ndims }, (_, k) => view.getUint32(4 + 4 * k));
  return { size, dims };
}

function checkLength(bytes: Uint8Array, header: IdxHeader, file: string, what: string): void {
  const items = header.dims.reduce((a, b) => a * b, 1);
  const expected = header.size + items;
  if (bytes.length !== expected) {
    const shape = header.dims.join("×");
    throw new DataError(
      `${
        bytes.length < expected ? "truncated" : "too long"
      }: expected ${expected} bytes (a ${header.size}-byte header and ${items} ${what} bytes, shape ${shape}), found ${bytes.length}`,
      { file },
    );
  }
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** The whole file, inflated when gzipped. */
async function readIdx(file: string): Promise<Uint8Array> {
  const raw = await readFileBytes(file);
  if (!isGzip(raw)) return raw;
  try {
    const stream = new Blob([raw as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new DecompressionStream("gzip"),
    );
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (error) {
    throw new DataError(
      `cannot inflate gzip data (truncated or corrupt): ${(error as Error).message}`,
      { file },
      { cause: error },
    );
  }
}

/** The first 16 bytes (or fewer, if the file is shorter) of the file, inflated when gzipped. */
async function readIdxHead(file: string): Promise<Uint8Array> {
  const want = 16;
  let handle: Deno.FsFile;
  try {
    handle = await Deno.open(file);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "file not found"
      : `cannot read file: ${(error as Error).message}`;
    throw new DataError(reason, { file }, { cause: error });
  }
  try {
    const magic = new Uint8Array(2);
    const n = await handle.read(magic);
    await handle.seek(0, Deno.SeekMode.Start);
    return await readPrefix(handle, n === 2 && isGzip(magic), want, file);
  } finally {
    handle.close();
  }
}

async function readPrefix(
  handle: Deno.FsFile,
  gzip: boolean,
  want: number,
  file: string,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let have = 0;
  const source = new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      const buf = new Uint8Array(64 * 1024);
      const n = await handle.read(buf);
      if (n === null) controller.close();
      else controller.enqueue(buf.subarray(0, n));
    },
  });
  const stream = gzip ? source.pipeThrough(new DecompressionStream("gzip")) : source;
  const reader = stream.getReader();
  try {
    while (have < want) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      have += value.length;
    }
  } catch (error) {
    throw new DataError(
      `cannot inflate gzip data (truncated or corrupt): ${(error as Error).message}`,
      { file },
      { cause: error },
    );
  } finally {
    await reader.cancel().catch(() => {});
  }
  const out = new Uint8Array(Math.min(have, want));
  let offset = 0;
  for (const c of chunks) {
    if (offset >= out.length) break;
    const part = c.subarray(0, out.length - offset);
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * The training pair `train-images-idx3-ubyte[.gz]` and
 * `train-labels-idx1-ubyte[.gz]` in `root`; a `DataError` naming the missing
 * file, with `hint` after it, when one is absent.
 */
export async function findIdxTrainPair(
  root: string,
  hint = "",
): Promise<{ images: string; labels: string }> {
  const find = async (part: string) => {
    for (const ext of ["", ".gz"]) {
      const file = `${root}/train-${part}${ext}`;
      if (await pathExists(file)) return file;
    }
    throw new DataError(`"${root}" holds no train-${part} (or train-${part}.gz)${hint}`, {
      file: `${root}/train-${part}`,
    });
  };
  return { images: await find("images-idx3-ubyte"), labels: await find("labels-idx1-ubyte") };
}

registerDataset("idx", async ({ root }) => {
  return await loadIdx({
    ...(await findIdxTrainPair(root!)),
    channels: 3,
  });
}, {
  needsRoot: true,
  description: "MNIST / Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], …)",
});
