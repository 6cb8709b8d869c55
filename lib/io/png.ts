/**
 * PNG encoding through sharp. Only tasks and `lib/viz/` use this; the core
 * never loads sharp.
 *
 * @module
 */
import { loadSharp, tf } from "../deps.ts";
import { writeFileAtomic } from "../util/atomic.ts";

/**
 * Encodes an image `[h, w, c]` (c = 1 or 3) with values in [0, 1] as PNG
 * bytes. Values outside [0, 1] are clipped. Does not dispose `image`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { encodePng } from "./png.ts";
 * import { tf } from "../deps.ts";
 * const bytes = await encodePng(tf.zeros([4, 4, 3]) as tf.Tensor3D);
 * // The PNG signature, "\x89PNG\r\n\x1a\n"
 * assert.deepStrictEqual(Array.from(bytes.slice(0, 8)), [0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10]);
 * ```
 */
export async function encodePng(image: tf.Tensor3D): Promise<Uint8Array> {
  const [h, w, c] = image.shape;
  if (image.rank !== 3 || (c !== 1 && c !== 3)) {
    throw new RangeError(`Cannot encode PNG: expected [h, w, 1 or 3], got [${image.shape}]`);
  }
  const bytes = tf.tidy(() => tf.cast(tf.round(tf.mul(tf.clipByValue(image, 0, 1), 255)), "int32"));
  const pixels = Uint8Array.from(await bytes.data());
  bytes.dispose();
  const sharp = await loadSharp();
  const buffer = await sharp(pixels, { raw: { width: w, height: h, channels: c } }).png()
    .toBuffer();
  return new Uint8Array(buffer);
}

/**
 * Writes an image `[h, w, c]` in [0, 1] as a PNG file, atomically.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { writePng } from "./png.ts";
 * import { decodeImage } from "./image.ts";
 * import { tf } from "../deps.ts";
 * const dir = await Deno.makeTempDir();
 * const img = tf.ones([2, 2, 1]) as tf.Tensor3D;
 * await writePng(`${dir}/white.png`, img);
 * img.dispose();
 * const back = await decodeImage(await Deno.readFile(`${dir}/white.png`));
 * assert.equal(back.width, 2);
 * assert.ok(back.data.every((v) => v === 1)); // white
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writePng(path: string, image: tf.Tensor3D): Promise<void> {
  await writeFileAtomic(path, await encodePng(image));
}
