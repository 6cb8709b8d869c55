/**
 * PNG encoding of plain {@linkcode Image}s (no tensors), for overlays and
 * grids.
 *
 * @module
 */
import { loadSharp } from "../deps.ts";
import type { Image } from "../data/types.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { toRgb } from "./_raster.ts";

/** Options of {@linkcode imagePng}. */
export interface ImagePngOptions {
  /** Also write the PNG to this file, atomically. @default {not written} */
  path?: string;
}

/**
 * Encodes an {@linkcode Image} (grey or RGB, values in [0, 1]; values
 * outside are clipped) as 8-bit PNG bytes, and writes them to
 * `options.path` when given.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { imagePng } from "./image_png.ts";
 * import { decodeImage } from "../io/image.ts";
 * const red = { width: 2, height: 1, channels: 3 as const, data: new Float32Array([1, 0, 0, 1, 0, 0]) };
 * const png = await imagePng(red);
 * assert.deepStrictEqual(Array.from(png.slice(1, 4)), [0x50, 0x4e, 0x47]); // "PNG"
 * assert.deepStrictEqual(await decodeImage(png), red); // lossless
 * ```
 */
export async function imagePng(image: Image, options: ImagePngOptions = {}): Promise<Uint8Array> {
  const { width, height, channels } = image;
  toRgb(image); // validates the size
  const pixels = new Uint8ClampedArray(image.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = image.data[i] * 255;
  const sharp = await loadSharp();
  const png = new Uint8Array(
    await sharp(new Uint8Array(pixels.buffer), { raw: { width, height, channels } }).png()
      .toBuffer(),
  );
  if (options.path !== undefined) await writeFileAtomic(options.path, png);
  return png;
}
