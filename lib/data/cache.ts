/**
 * A disk cache of decoded, resized samples, so the second epoch reads a
 * small binary file instead of decoding a JPEG again.
 *
 * One file per sample, at
 * `<dir>/<dataset name>/<height>x<width>-<mode>/<sha-256 of the key>.sample`,
 * where the key is the dataset name, the sample id, the size and the mode.
 * Files are written atomically (temporary file and rename), so a crash never
 * leaves half of one, and several processes may share a cache folder.
 *
 * The format (version 1), all integers little-endian:
 *
 * | bytes            | content                                                   |
 * | ---------------- | --------------------------------------------------------- |
 * | 0–3              | magic `SLSC`                                              |
 * | 4–7              | format version (uint32)                                   |
 * | 8–11             | header length `L` in bytes (uint32)                       |
 * | 12–15            | CRC-32 of every byte from 16 to the end (uint32)          |
 * | 16 … 16 + L      | header: UTF-8 JSON (key, label, image shape, boxes, sections) |
 * | padded to 4      | payload: each section (image, mask, ignoreMask) at its `offset` |
 *
 * Images are stored as uint8 (`round(255 · v)`), so a loaded value is within
 * 1/510 of the resized one and a 224 × 224 image takes 147 KiB. Masks are
 * uint8 by default too, or float32 with `maskPrecision: "float32"`.
 *
 * A file that is truncated, fails its checksum, has a malformed header or a
 * key that is not the expected one is rebuilt transparently: the sample is
 * decoded and resized again, the file rewritten, `options.onRebuild` told
 * why, and `stats.rebuilt` counted.
 *
 * @module
 */
import { crc32 } from "node:zlib";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { parseSize, type ResizeMode, resizeSample, type SizeOption } from "./transforms.ts";
import type { Box, Dataset, Sample } from "./types.ts";

/** Options of {@linkcode cachedDataset}. */
export interface CacheOptions {
  /** The cache folder; created when missing. */
  dir: string;
  /** The size samples are resized to: a number for a square, or `[height, width]`. */
  size: SizeOption;
  /** How samples are fitted to `size` (see {@linkcode resizeSample}). @default {"squash"} */
  mode?: ResizeMode;
  /** How masks are stored: `"uint8"` (steps of 1/255) or `"float32"` (exact). @default {"uint8"} */
  maskPrecision?: "uint8" | "float32";
  /**
   * Told about each corrupt cache file before it is rebuilt.
   *
   * @default {a console.warn line naming the file and the reason}
   */
  onRebuild?: (path: string, reason: string) => void;
}

/** Counts of what a {@linkcode CachedDataset} did. */
export interface CacheStats {
  /** Loads served from the cache. */
  hits: number;
  /** Loads that decoded and resized the sample, then wrote the cache file. */
  misses: number;
  /** Of the misses, those where a corrupt cache file was replaced. */
  rebuilt: number;
}

/** A dataset served from a disk cache of resized samples. */
export interface CachedDataset extends Dataset {
  /** A snapshot of the hit, miss and rebuild counts so far. */
  readonly stats: CacheStats;
  /** The cache file of sample `index` (it may not exist yet). */
  cachePath(index: number): Promise<string>;
}

const MAGIC = [0x53, 0x4c, 0x53, 0x43]; // "SLSC"
const VERSION = 1;
const PREFIX = 16;

type Dtype = "uint8" | "float32";
type SectionName = "image" | "mask" | "ignoreMask";

interface Section {
  name: SectionName;
  dtype: Dtype;
  offset: number;
  length: number;
}

interface CacheKey {
  dataset: string;
  id: string;
  size: [number, number];
  mode: ResizeMode;
}

interface Header {
  key: CacheKey;
  label: number;
  width: number;
  height: number;
  channels: 1 | 3;
  boxes?: Box[];
  sections: Section[];
}

/**
 * Wraps `dataset` so that `load(i)` returns sample `i` resized to
 * `options.size`, decoding and resizing it only on its first load and
 * reading it back from `options.dir` afterwards. Everything else (name,
 * class names, records, splits, skipped) is the inner dataset's.
 *
 * Two concurrent first loads of one sample both decode it; the later
 * atomic write wins, and both files are identical.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { cachedDataset } from "./cache.ts";
 * import type { Dataset } from "./types.ts";
 * const inner: Dataset = {
 *   name: "tiny", classNames: ["a"], size: 1, skipped: [],
 *   records: [{ id: "s0", label: 0, hasMask: false, hasBoxes: false, source: "gen" }],
 *   load: () => Promise.resolve({
 *     id: "s0", label: 0,
 *     image: { width: 4, height: 4, channels: 1, data: new Float32Array(16).fill(0.5) },
 *   }),
 * };
 * const dir = await Deno.makeTempDir();
 * const cached = cachedDataset(inner, { dir, size: 2 });
 * await cached.load(0);
 * const again = await cached.load(0);
 * assert.equal(again.image.width, 2); // resized to `size`
 * assert.deepStrictEqual(cached.stats, { hits: 1, misses: 1, rebuilt: 0 });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function cachedDataset(dataset: Dataset, options: CacheOptions): CachedDataset {
  const size = parseSize(options.size, "size");
  const mode = options.mode ?? "squash";
  if (mode !== "squash" && mode !== "letterbox") {
    throw new RangeError(
      `Option "mode" must be "squash" or "letterbox", got ${JSON.stringify(mode)}`,
    );
  }
  const maskDtype = options.maskPrecision ?? "uint8";
  if (maskDtype !== "uint8" && maskDtype !== "float32") {
    throw new RangeError(
      `Option "maskPrecision" must be "uint8" or "float32", got ${JSON.stringify(maskDtype)}`,
    );
  }
  if (typeof options.dir !== "string" || options.dir === "") {
    throw new RangeError(`Option "dir" must be a folder path, got ${JSON.stringify(options.dir)}`);
  }
  const onRebuild = options.onRebuild ??
    ((path: string, reason: string) => console.warn(`Rebuilding cache file "${path}": ${reason}`));
  const folder = join(options.dir, safeName(dataset.name), `${size[0]}x${size[1]}-${mode}`);
  const stats: CacheStats = { hits: 0, misses: 0, rebuilt: 0 };
  let made: Promise<void> | undefined;

  const keyOf = (index: number): CacheKey => {
    if (!Number.isInteger(index) || index < 0 || index >= dataset.size) {
      throw new RangeError(
        `Cannot load sample ${index} of "${dataset.name}": expected an index in [0, ${dataset.size})`,
      );
    }
    return { dataset: dataset.name, id: dataset.records[index].id, size, mode };
  };
  const pathOf = async (key: CacheKey): Promise<string> =>
    join(folder, `${await sha256Hex(JSON.stringify(key))}.sample`);

  return {
    name: dataset.name,
    classNames: dataset.classNames,
    size: dataset.size,
    records: dataset.records,
    officialSplit: dataset.officialSplit,
    skipped: dataset.skipped,
    get stats(): CacheStats {
      return { ...stats };
    },
    cachePath: (index) => pathOf(keyOf(index)),
    async load(index: number): Promise<Sample> {
      const key = keyOf(index);
      const path = await pathOf(key);
      let bytes: Uint8Array | undefined;
      try {
        bytes = await Deno.readFile(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      if (bytes) {
        try {
          const sample = decodeSample(bytes, key);
          stats.hits++;
          return sample;
        } catch (error) {
          if (!(error instanceof CacheFormatError)) throw error;
          stats.rebuilt++;
          onRebuild(path, error.message);
        }
      }
      stats.misses++;
      const sample = resizeSample(await dataset.load(index), { size, mode });
      made ??= Deno.mkdir(folder, { recursive: true });
      await made;
      await writeFileAtomic(path, encodeSample(sample, key, maskDtype));
      return sample;
    },
  };
}

/** A cache file that cannot be used as it is. */
class CacheFormatError extends Error {
  override name = "CacheFormatError";
}

/** Serialises a resized sample in the cache format. */
function encodeSample(sample: Sample, key: CacheKey, maskDtype: Dtype): Uint8Array {
  const { width, height, channels } = sample.image;
  const parts: { name: SectionName; dtype: Dtype; values: Float32Array }[] = [
    { name: "image", dtype: "uint8", values: sample.image.data },
  ];
  if (sample.mask) parts.push({ name: "mask", dtype: maskDtype, values: sample.mask });
  if (sample.ignoreMask) {
    parts.push({ name: "ignoreMask", dtype: maskDtype, values: sample.ignoreMask });
  }
  const sections: Section[] = [];
  let offset = 0;
  for (const { name, dtype, values } of parts) {
    sections.push({ name, dtype, offset, length: values.length });
    offset = align4(offset + values.length * (dtype === "uint8" ? 1 : 4));
  }
  const header: Header = {
    key,
    label: sample.label,
    width,
    height,
    channels,
    ...(sample.boxes ? { boxes: sample.boxes } : {}),
    sections,
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const payloadStart = align4(PREFIX + headerBytes.length);
  const out = new Uint8Array(payloadStart + offset);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, PREFIX);
  for (let k = 0; k < parts.length; k++) {
    const { dtype, values } = parts[k];
    const at = payloadStart + sections[k].offset;
    if (dtype === "uint8") {
      // A clamped view rounds to the nearest integer and clips to [0, 255] on assignment.
      const dst = new Uint8ClampedArray(out.buffer, at, values.length);
      for (let i = 0; i < values.length; i++) dst[i] = values[i] * 255;
    } else {
      new Float32Array(out.buffer, at, values.length).set(values);
    }
  }
  view.setUint32(12, crc32(out.subarray(PREFIX)), true);
  return out;
}

/** Reads a cache file back, or throws a {@linkcode CacheFormatError} saying what is wrong. */
function decodeSample(bytes: Uint8Array, expected: CacheKey): Sample {
  if (bytes.length < PREFIX) throw new CacheFormatError(`truncated: ${bytes.length} bytes`);
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw new CacheFormatError("not a sample cache file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== VERSION) {
    throw new CacheFormatError(`format version ${version}, expected ${VERSION}`);
  }
  const headerLength = view.getUint32(8, true);
  if (PREFIX + headerLength > bytes.length) {
    throw new CacheFormatError(`truncated: the header needs ${headerLength} bytes`);
  }
  const checksum = crc32(bytes.subarray(PREFIX)) >>> 0;
  if (checksum !== view.getUint32(12, true)) throw new CacheFormatError("checksum mismatch");
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(PREFIX, PREFIX + headerLength)));
  } catch (error) {
    throw new CacheFormatError(`malformed header: ${(error as Error).message}`);
  }
  if (JSON.stringify(header.key) !== JSON.stringify(expected)) {
    throw new CacheFormatError(
      `holds ${JSON.stringify(header.key)}, expected ${JSON.stringify(expected)}`,
    );
  }
  const { width, height, channels } = header;
  const payloadStart = align4(PREFIX + headerLength);
  const expectedLength: Record<SectionName, number> = {
    image: width * height * channels,
    mask: width * height,
    ignoreMask: width * height,
  };
  const arrays: Partial<Record<SectionName, Float32Array>> = {};
  for (const s of header.sections ?? []) {
    if (!(s.name in expectedLength) || s.length !== expectedLength[s.name]) {
      throw new CacheFormatError(`section "${s.name}" has ${s.length} values`);
    }
    const at = payloadStart + s.offset;
    const end = at + s.length * (s.dtype === "uint8" ? 1 : 4);
    if (!(s.offset >= 0 && s.offset % 4 === 0 && end <= bytes.length)) {
      throw new CacheFormatError(`truncated: section "${s.name}" ends past the file`);
    }
    arrays[s.name] = s.dtype === "uint8"
      ? fromUint8(bytes.subarray(at, end))
      : new Float32Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + end));
  }
  if (!arrays.image) throw new CacheFormatError("no image section");
  const sample: Sample = {
    id: header.key.id,
    label: header.label,
    image: { width, height, channels, data: arrays.image },
  };
  if (arrays.mask) sample.mask = arrays.mask;
  if (arrays.ignoreMask) sample.ignoreMask = arrays.ignoreMask;
  if (header.boxes) sample.boxes = header.boxes;
  return sample;
}

function fromUint8(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** A folder name from a dataset name: letters, digits, `.`, `_` and `-` only. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_") || "_";
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
