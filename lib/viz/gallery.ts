/**
 * A report gallery item's pictures: the image, its ground truth and one
 * overlay per saliency map, encoded as PNGs.
 *
 * @module
 */
import type { Sample } from "../data/types.ts";
import { imagePng } from "./image_png.ts";
import { overlay } from "./overlay.ts";
import type { ReportImage } from "./report.ts";

/** Options of {@linkcode galleryPictures}. */
export interface GalleryPicturesOptions {
  /**
   * The key of a picture in `images`, from its label (`"image"`, `"ground
   * truth"`, a map's name); called once per picture.
   *
   * @default {(label) => `${sample.id}/${label === "ground truth" ? "mask" : label}`}
   */
  key?: (label: string) => string;
}

/**
 * Encodes a sample's pictures as PNGs into `images` (under `options.key`):
 * the image, its mask's contour ("ground truth", where it has a mask), and
 * one overlay per map, in the maps' order. Returns the report's pictures.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { galleryPictures } from "./gallery.ts";
 * const image = { width: 2, height: 2, channels: 3 as const, data: new Float32Array(12).fill(0.5) };
 * const images: Record<string, Uint8Array> = {};
 * const pics = await galleryPictures(
 *   { id: "s1", label: 0, image, mask: new Float32Array([1, 0, 0, 0]) },
 *   { "grad-cam": new Float32Array([0, 0.5, 1, 0.5]) },
 *   images,
 *   { key: (label) => `s1-${label.replace(" ", "-")}` },
 * );
 * assert.deepStrictEqual(pics.map((p) => p.image), ["s1-image", "s1-ground-truth", "s1-grad-cam"]);
 * assert.deepStrictEqual(Object.keys(images), ["s1-image", "s1-ground-truth", "s1-grad-cam"]);
 * ```
 */
export async function galleryPictures(
  sample: Sample,
  maps: Record<string, Float32Array>,
  images: Record<string, Uint8Array>,
  options: GalleryPicturesOptions = {},
): Promise<ReportImage[]> {
  const pictures = [{ label: "image", img: sample.image }];
  if (sample.mask) {
    pictures.push({
      label: "ground truth",
      img: overlay(sample.image, sample.mask, { alpha: 0, mask: sample.mask }),
    });
  }
  for (const [label, map] of Object.entries(maps)) {
    pictures.push({ label, img: overlay(sample.image, map, { mask: sample.mask }) });
  }
  const keyOf = options.key ??
    ((label: string) => `${sample.id}/${label === "ground truth" ? "mask" : label}`);
  const out = pictures.map((p) => ({ label: p.label, image: keyOf(p.label) }));
  for (const [i, p] of pictures.entries()) images[out[i].image] = await imagePng(p.img);
  return out;
}
