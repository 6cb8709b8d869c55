// Private pixel helpers of lib/viz: RGB conversion, map reading, contours,
// box outlines and nearest-neighbour scaling, on plain typed arrays.
import { tf } from "../deps.ts";
import type { Box, Image } from "../data/types.ts";

/** An RGB image as in lib/data/types.ts, always 3 channels. */
export interface RgbImage extends Image {
  channels: 3;
}

/** A copy of `image` as 3-channel RGB (grey is replicated); tensors are read, not disposed. */
export function toRgb(image: Image | tf.Tensor3D, what = "image"): RgbImage {
  if (image instanceof tf.Tensor) {
    const [h, w, c] = image.shape;
    if (image.rank !== 3 || (c !== 1 && c !== 3)) {
      throw new RangeError(
        `Argument "${what}" must have shape [h, w, 1 or 3], got [${image.shape}]`,
      );
    }
    return toRgb({ width: w, height: h, channels: c, data: Float32Array.from(image.dataSync()) });
  }
  const { width: w, height: h, channels: c, data } = image;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) {
    throw new RangeError(`Argument "${what}" must have a positive whole size, got ${w} × ${h}`);
  }
  if ((c !== 1 && c !== 3) || data.length !== w * h * c) {
    throw new RangeError(
      `Argument "${what}" has ${data.length} values, expected ${w} × ${h} × ${c} with 1 or 3 channels`,
    );
  }
  if (c === 3) return { width: w, height: h, channels: 3, data: Float32Array.from(data) };
  const out = new Float32Array(w * h * 3);
  for (let i = 0; i < w * h; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = data[i];
  return { width: w, height: h, channels: 3, data: out };
}

/** The values of a map of `h · w` values (a Float32Array or a tensor of that size). */
export function readMap(
  map: Float32Array | tf.Tensor,
  h: number,
  w: number,
  what: string,
): Float32Array {
  if (map instanceof tf.Tensor) {
    if (map.size !== h * w) {
      throw new RangeError(
        `Argument "${what}" has shape [${map.shape}], expected ${h} × ${w} values to match the image`,
      );
    }
    return Float32Array.from(map.dataSync());
  }
  if (!(map instanceof Float32Array) || map.length !== h * w) {
    throw new RangeError(
      `Argument "${what}" has ${
        (map as { length?: number })?.length
      } values, expected ${h} × ${w} = ${h * w} to match the image`,
    );
  }
  return map;
}

/**
 * Marks the contour of `mask > threshold`: inside pixels with a 4-neighbour
 * outside (pixels beyond the image's edge count as outside).
 */
export function contourOf(
  mask: Float32Array,
  w: number,
  h: number,
  threshold: number,
): Uint8Array {
  const out = new Uint8Array(w * h);
  const inside = (y: number, x: number) =>
    y >= 0 && y < h && x >= 0 && x < w && mask[y * w + x] > threshold;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!inside(y, x)) continue;
      if (!inside(y - 1, x) || !inside(y + 1, x) || !inside(y, x - 1) || !inside(y, x + 1)) {
        out[y * w + x] = 1;
      }
    }
  }
  return out;
}

/** Paints `color` into `rgb` wherever `where` is 1. */
export function paint(
  rgb: Float32Array,
  where: Uint8Array,
  color: readonly [number, number, number],
): void {
  for (let i = 0; i < where.length; i++) {
    if (where[i]) rgb.set(color, i * 3);
  }
}

/**
 * Paints the outline of `box` (pixel coordinates, rounded to whole pixels)
 * `lineWidth` pixels wide, inside the box, clipped to the image.
 */
export function drawBox(
  img: RgbImage,
  box: Box,
  lineWidth: number,
  color: readonly [number, number, number],
): void {
  const { width: w, height: h, data } = img;
  const x1 = Math.max(0, Math.round(box[0])), x2 = Math.min(w, Math.round(box[2]));
  const y1 = Math.max(0, Math.round(box[1])), y2 = Math.min(h, Math.round(box[3]));
  if (x2 <= x1 || y2 <= y1) return;
  const l = Math.round(box[0]), r = Math.round(box[2]);
  const t = Math.round(box[1]), b = Math.round(box[3]);
  for (let y = y1; y < y2; y++) {
    for (let x = x1; x < x2; x++) {
      if (x < l + lineWidth || x >= r - lineWidth || y < t + lineWidth || y >= b - lineWidth) {
        data.set(color, (y * w + x) * 3);
      }
    }
  }
}

/** Nearest-neighbour scaling of `c`-channel HWC pixels to `outW × outH`. */
export function scaleNearest(
  data: Float32Array,
  w: number,
  h: number,
  c: number,
  outW: number,
  outH: number,
): Float32Array {
  const out = new Float32Array(outW * outH * c);
  const cols = new Int32Array(outW);
  for (let x = 0; x < outW; x++) cols[x] = Math.min(w - 1, Math.floor((x + 0.5) * w / outW));
  for (let y = 0; y < outH; y++) {
    const sy = Math.min(h - 1, Math.floor((y + 0.5) * h / outH));
    for (let x = 0; x < outW; x++) {
      const src = (sy * w + cols[x]) * c, dst = (y * outW + x) * c;
      for (let k = 0; k < c; k++) out[dst + k] = data[src + k];
    }
  }
  return out;
}

/** Checks an RGB colour option. */
export function checkColor(color: readonly number[], what: string): [number, number, number] {
  if (
    !Array.isArray(color) || color.length !== 3 ||
    color.some((v) => typeof v !== "number" || !(v >= 0 && v <= 1))
  ) {
    throw new RangeError(
      `Option "${what}" must be [r, g, b] with values in [0, 1], got ${JSON.stringify(color)}`,
    );
  }
  return [color[0], color[1], color[2]];
}
