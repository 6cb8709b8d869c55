/**
 * Geometric and colour transforms of a {@linkcode Sample} that keep its
 * image, mask, "must not matter" mask and boxes aligned.
 *
 * Every geometric transform is one affine map in pixel-edge coordinates
 * (see {@linkcode Box}). The image and both masks are resampled through that
 * map by the same code (antialiased triangle filter for resizes and crops,
 * bilinear for rotations, so soft masks stay soft), and the boxes are mapped
 * exactly through it, so the three cannot drift apart. Pixels that come from
 * outside the input (letterbox bands, rotated-in corners) are 0.
 *
 * Transforms return a new sample and never change their input. Arrays a
 * transform leaves untouched (the masks under {@linkcode colorJitter}) are
 * shared with the input: treat samples as immutable.
 *
 * Boxes are clipped to the output; a box left with no area (cropped away) is
 * dropped, so `boxes: []` means "annotated, none in view", while an absent
 * `boxes` still means "not annotated".
 *
 * @module
 */
import type { Box, Sample } from "./types.ts";
import type { Random } from "../util/random.ts";
import { type Affine, applyAffine, resample } from "./_resample.ts";

/** How {@linkcode resizeSample} fits an image to a new shape. */
export type ResizeMode = "squash" | "letterbox";

/** An output size: one number for a square, or `[height, width]`. */
export type SizeOption = number | [number, number];

/** Options of {@linkcode resizeSample}. */
export interface ResizeOptions {
  /** Output size in pixels: a number for a square, or `[height, width]`. */
  size: SizeOption;
  /**
   * `"squash"` stretches the image to the size; `"letterbox"` keeps its
   * aspect ratio, centres it, and pads the bands on either side with 0.
   *
   * @default {"squash"}
   */
  mode?: ResizeMode;
}

/** Options of {@linkcode cropSample}. */
export interface CropOptions {
  /** Output size: a number for a square, or `[height, width]`. @default {the crop's size, rounded} */
  size?: SizeOption;
}

/** Options of {@linkcode randomResizedCrop}. */
export interface RandomResizedCropOptions {
  /** Output size: a number for a square, or `[height, width]`. @default {the input's size} */
  size?: SizeOption;
  /** Range of the crop's area as a fraction of the image's, within (0, 1]. @default {[0.5, 1]} */
  scale?: [number, number];
  /** Range of the crop's aspect ratio (width / height). @default {[3 / 4, 4 / 3]} */
  ratio?: [number, number];
}

/** Options of {@linkcode colorJitter}. Each factor is drawn from `[max(0, 1 − v), 1 + v]`. */
export interface ColorJitterOptions {
  /** Brightness spread: pixels are multiplied by the factor. @default {0} */
  brightness?: number;
  /** Contrast spread: pixels are blended with the image's mean grey. @default {0} */
  contrast?: number;
  /** Saturation spread: pixels are blended with their own grey (RGB only). @default {0} */
  saturation?: number;
}

/** Options of {@linkcode augment}. Each step is skipped when left out. */
export interface AugmentOptions {
  /** A random resized crop, applied first. @default {no crop} */
  crop?: RandomResizedCropOptions;
  /** Probability of a horizontal flip, in [0, 1]. @default {0.5} */
  flipProbability?: number;
  /** Largest rotation in degrees; the angle is uniform in `[−rotation, rotation]`. @default {0} */
  rotation?: number;
  /** Colour jitter, applied last. @default {no jitter} */
  jitter?: ColorJitterOptions;
}

/**
 * Resizes a sample's image, masks and boxes together.
 *
 * @example Squash and letterbox a 4 × 2 image to 4 × 4
 * ```ts
 * import assert from "node:assert";
 * import { resizeSample } from "./transforms.ts";
 * const sample = {
 *   id: "a", label: 0,
 *   image: { width: 2, height: 4, channels: 1 as const, data: new Float32Array(8).fill(1) },
 *   boxes: [[0, 0, 2, 4]] as [number, number, number, number][],
 * };
 * assert.deepStrictEqual(resizeSample(sample, { size: 4 }).boxes, [[0, 0, 4, 4]]);
 * const boxed = resizeSample(sample, { size: 4, mode: "letterbox" });
 * assert.deepStrictEqual(boxed.boxes, [[1, 0, 3, 4]]);
 * assert.equal(boxed.image.data[0], 0); // padding
 * ```
 */
export function resizeSample(sample: Sample, options: ResizeOptions): Sample {
  const [outH, outW] = parseSize(options.size, "size");
  const mode = options.mode ?? "squash";
  const { width: w, height: h } = sample.image;
  if (mode === "squash") {
    return warpSample(sample, scaleShift(outW / w, outH / h, 0, 0), [outH, outW]);
  }
  if (mode !== "letterbox") {
    throw new RangeError(
      `Option "mode" must be "squash" or "letterbox", got ${JSON.stringify(mode)}`,
    );
  }
  // Round the fitted content to whole pixels so its edges fall on pixel edges.
  const s = Math.min(outW / w, outH / h);
  const fitW = Math.min(outW, Math.max(1, Math.round(w * s)));
  const fitH = Math.min(outH, Math.max(1, Math.round(h * s)));
  const left = Math.floor((outW - fitW) / 2), top = Math.floor((outH - fitH) / 2);
  return warpSample(sample, scaleShift(fitW / w, fitH / h, left, top), [outH, outW]);
}

/**
 * Mirrors a sample left to right.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { hflipSample } from "./transforms.ts";
 * const sample = {
 *   id: "a", label: 0,
 *   image: { width: 3, height: 1, channels: 1 as const, data: new Float32Array([0.1, 0.2, 0.3]) },
 *   boxes: [[0, 0, 1, 1]] as [number, number, number, number][],
 * };
 * const flipped = hflipSample(sample);
 * assert.deepStrictEqual(flipped.image.data, new Float32Array([0.3, 0.2, 0.1]));
 * assert.deepStrictEqual(flipped.boxes, [[2, 0, 3, 1]]);
 * ```
 */
export function hflipSample(sample: Sample): Sample {
  const { width: w, height: h } = sample.image;
  return warpSample(sample, scaleShift(-1, 1, w, 0), [h, w]);
}

/**
 * Crops the region `box` (pixel-edge coordinates, within the image) and
 * resizes it to `options.size` (default: the crop's own size, rounded).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { cropSample } from "./transforms.ts";
 * const sample = {
 *   id: "a", label: 0,
 *   image: { width: 8, height: 8, channels: 1 as const, data: new Float32Array(64) },
 *   boxes: [[2, 2, 6, 6]] as [number, number, number, number][],
 * };
 * const crop = cropSample(sample, [2, 2, 6, 6], { size: 8 });
 * assert.deepStrictEqual(crop.boxes, [[0, 0, 8, 8]]); // the box fills the crop
 * assert.equal(crop.image.width, 8);
 * ```
 */
export function cropSample(sample: Sample, box: Box, options: CropOptions = {}): Sample {
  const [x1, y1, x2, y2] = box;
  if (!box.every(Number.isFinite) || !(x2 > x1 && y2 > y1)) {
    throw new RangeError(
      `Cannot crop: the box must be finite with x2 > x1 and y2 > y1, got [${box}]`,
    );
  }
  const [outH, outW] = options.size === undefined
    ? [Math.max(1, Math.round(y2 - y1)), Math.max(1, Math.round(x2 - x1))]
    : parseSize(options.size, "size");
  const sx = outW / (x2 - x1), sy = outH / (y2 - y1);
  return warpSample(sample, scaleShift(sx, sy, -x1 * sx, -y1 * sy), [outH, outW]);
}

/**
 * Crops a random region (area a fraction `scale` of the image, aspect ratio
 * within `ratio`, drawn as torchvision's `RandomResizedCrop` does, with a
 * centre crop as the fallback) and resizes it to `size`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { randomResizedCrop } from "./transforms.ts";
 * import { Random } from "../util/random.ts";
 * const sample = {
 *   id: "a", label: 0,
 *   image: { width: 16, height: 16, channels: 3 as const, data: new Float32Array(768) },
 * };
 * const out = randomResizedCrop(sample, new Random(1), { size: 8, scale: [0.5, 1] });
 * assert.equal(out.image.width, 8);
 * assert.equal(out.image.height, 8);
 * assert.equal(out.image.data.length, 8 * 8 * 3);
 * ```
 */
export function randomResizedCrop(
  sample: Sample,
  rng: Random,
  options: RandomResizedCropOptions = {},
): Sample {
  const { width: w, height: h } = sample.image;
  const size = options.size === undefined
    ? [h, w] as [number, number]
    : parseSize(options.size, "size");
  const [sLo, sHi] = parseRange(options.scale ?? [0.5, 1], "scale", { max: 1 });
  const [rLo, rHi] = parseRange(options.ratio ?? [3 / 4, 4 / 3], "ratio", {});
  const area = w * h;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(sLo, sHi);
    const aspect = Math.exp(rng.uniform(Math.log(rLo), Math.log(rHi)));
    const cw = Math.round(Math.sqrt(target * aspect));
    const ch = Math.round(Math.sqrt(target / aspect));
    if (cw > 0 && ch > 0 && cw <= w && ch <= h) {
      const x = rng.int(w - cw + 1), y = rng.int(h - ch + 1);
      return cropSample(sample, [x, y, x + cw, y + ch], { size });
    }
  }
  // Fallback: the largest centre crop whose ratio lies within the range.
  const imageRatio = w / h;
  let cw = w, ch = h;
  if (imageRatio < rLo) ch = Math.max(1, Math.round(w / rLo));
  else if (imageRatio > rHi) cw = Math.max(1, Math.round(h * rHi));
  const x = Math.floor((w - cw) / 2), y = Math.floor((h - ch) / 2);
  return cropSample(sample, [x, y, x + cw, y + ch], { size });
}

/**
 * Rotates a sample about its centre by `angleDegrees` (positive turns the
 * picture counter-clockwise as displayed, as torchvision's `rotate` does),
 * keeping its size. Corners that come from outside are 0. Each box becomes
 * the tight axis-aligned box of its rotated corners, clipped to the image.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { rotateSample } from "./transforms.ts";
 * const sample = {
 *   id: "a", label: 0,
 *   image: { width: 10, height: 10, channels: 1 as const, data: new Float32Array(100).fill(1) },
 *   boxes: [[3, 3, 7, 7]] as [number, number, number, number][],
 * };
 * const turned = rotateSample(sample, 45);
 * // The turned square's corners lie 4 / √2 = 2.83 from the centre (5, 5).
 * const r = 2 * Math.SQRT2;
 * const expected = [5 - r, 5 - r, 5 + r, 5 + r];
 * turned.boxes![0].forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6));
 * ```
 */
export function rotateSample(sample: Sample, angleDegrees: number): Sample {
  if (!Number.isFinite(angleDegrees)) {
    throw new RangeError(
      `Cannot rotate: the angle must be a finite number of degrees, got ${angleDegrees}`,
    );
  }
  const { width: w, height: h } = sample.image;
  const t = (angleDegrees * Math.PI) / 180;
  const cos = Math.cos(t), sin = Math.sin(t), cx = w / 2, cy = h / 2;
  // y points down, so a counter-clockwise turn on screen is x' = cos·x + sin·y, y' = −sin·x + cos·y.
  const m: Affine = {
    a: cos,
    b: sin,
    c: cx - cos * cx - sin * cy,
    d: -sin,
    e: cos,
    f: cy + sin * cx - cos * cy,
  };
  return warpSample(sample, m, [h, w]);
}

/**
 * Jitters brightness, contrast and saturation, in that order, each by a
 * factor drawn from `rng`; the result is clipped to [0, 1]. Masks and boxes
 * are unchanged (and shared with the input).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { colorJitter } from "./transforms.ts";
 * import { Random } from "../util/random.ts";
 * const sample = {
 *   id: "a", label: 0,
 *   image: { width: 1, height: 1, channels: 3 as const, data: new Float32Array([0.5, 0.5, 0.5]) },
 * };
 * const out = colorJitter(sample, new Random(3), { brightness: 0.4 });
 * assert.notEqual(out.image.data[0], 0.5);
 * assert.equal(sample.image.data[0], 0.5); // the input is left as it was
 * ```
 */
export function colorJitter(sample: Sample, rng: Random, options: ColorJitterOptions): Sample {
  checkSample(sample);
  const spreads = (["brightness", "contrast", "saturation"] as const).map((name) => {
    const v = options[name] ?? 0;
    if (!(Number.isFinite(v) && v >= 0)) {
      throw new RangeError(`Option "${name}" must be a non-negative number, got ${v}`);
    }
    return v;
  });
  const factors = spreads.map((v) => (v > 0 ? rng.uniform(Math.max(0, 1 - v), 1 + v) : 1));
  const { channels, data } = sample.image;
  const out = Float32Array.from(data);
  const [brightness, contrast, saturation] = factors;
  if (brightness !== 1) { for (let i = 0; i < out.length; i++) out[i] *= brightness; }
  if (contrast !== 1) {
    const mean = meanGrey(out, channels);
    for (let i = 0; i < out.length; i++) out[i] = mean + contrast * (out[i] - mean);
  }
  if (saturation !== 1 && channels === 3) {
    for (let i = 0; i < out.length; i += 3) {
      const g = grey(out[i], out[i + 1], out[i + 2]);
      for (let c = 0; c < 3; c++) out[i + c] = g + saturation * (out[i + c] - g);
    }
  }
  for (let i = 0; i < out.length; i++) out[i] = out[i] < 0 ? 0 : out[i] > 1 ? 1 : out[i];
  return { ...sample, image: { ...sample.image, data: out } };
}

/**
 * A training-time augmentation: random resized crop, horizontal flip,
 * rotation and colour jitter, in that order, each drawn from `rng`. The
 * same seed gives the same result.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { augment } from "./transforms.ts";
 * import { Random } from "../util/random.ts";
 * const sample = {
 *   id: "a", label: 0,
 *   image: { width: 16, height: 16, channels: 3 as const, data: new Float32Array(768).fill(0.5) },
 *   mask: new Float32Array(256).fill(1),
 * };
 * const options = { crop: { size: 8 }, rotation: 10, jitter: { brightness: 0.2 } };
 * const a = augment(sample, new Random(7), options);
 * const b = augment(sample, new Random(7), options);
 * assert.equal(a.image.width, 8);
 * assert.deepStrictEqual(a.image.data, b.image.data); // same seed, same sample
 * ```
 */
export function augment(sample: Sample, rng: Random, options: AugmentOptions = {}): Sample {
  const flipProbability = options.flipProbability ?? 0.5;
  if (!(flipProbability >= 0 && flipProbability <= 1)) {
    throw new RangeError(`Option "flipProbability" must be within [0, 1], got ${flipProbability}`);
  }
  const rotation = options.rotation ?? 0;
  if (!(Number.isFinite(rotation) && rotation >= 0 && rotation <= 180)) {
    throw new RangeError(
      `Option "rotation" must be a number of degrees within [0, 180], got ${rotation}`,
    );
  }
  let out = options.crop ? randomResizedCrop(sample, rng, options.crop) : sample;
  if (flipProbability > 0 && rng.next() < flipProbability) out = hflipSample(out);
  if (rotation > 0) out = rotateSample(out, rng.uniform(-rotation, rotation));
  if (options.jitter) out = colorJitter(out, rng, options.jitter);
  return out;
}

/**
 * Reads a size option as `[height, width]` of positive integers, with an
 * error naming `name` otherwise.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { parseSize } from "./transforms.ts";
 * assert.deepStrictEqual(parseSize(224), [224, 224]);
 * assert.deepStrictEqual(parseSize([32, 48]), [32, 48]);
 * ```
 */
export function parseSize(size: SizeOption, name = "size"): [number, number] {
  const hw = typeof size === "number" ? [size, size] : size;
  if (
    !Array.isArray(hw) || hw.length !== 2 || !hw.every((v) => Number.isInteger(v) && v > 0)
  ) {
    throw new RangeError(
      `Option "${name}" must be a positive integer or [height, width] of positive integers, got ${
        JSON.stringify(size)
      }`,
    );
  }
  return [hw[0], hw[1]];
}

function parseRange(
  range: [number, number],
  name: string,
  { max = Infinity }: { max?: number },
): [number, number] {
  const ok = Array.isArray(range) && range.length === 2 &&
    range.every((v) => Number.isFinite(v) && v > 0 && v <= max) && range[0] <= range[1];
  if (!ok) {
    const within = max === 1 ? "within (0, 1]" : "positive";
    throw new RangeError(
      `Option "${name}" must be [low, high] with low <= high, both ${within}, got ${
        JSON.stringify(range)
      }`,
    );
  }
  return [range[0], range[1]];
}

function scaleShift(sx: number, sy: number, tx: number, ty: number): Affine {
  return { a: sx, b: 0, c: tx, d: 0, e: sy, f: ty };
}

/** Applies the forward map `m` to the image, both masks and the boxes. */
function warpSample(sample: Sample, m: Affine, [outH, outW]: [number, number]): Sample {
  checkSample(sample);
  const { width: w, height: h, channels } = sample.image;
  const out: Sample = {
    ...sample,
    image: {
      width: outW,
      height: outH,
      channels,
      data: resample(sample.image.data, [h, w, channels], [outH, outW], m),
    },
  };
  if (sample.mask) out.mask = resample(sample.mask, [h, w, 1], [outH, outW], m);
  if (sample.ignoreMask) {
    out.ignoreMask = resample(sample.ignoreMask, [h, w, 1], [outH, outW], m);
  }
  if (sample.boxes) out.boxes = warpBoxes(sample.boxes, m, outW, outH);
  return out;
}

/** Each box's corners through `m`, their tight box clipped to the output; empty boxes dropped. */
function warpBoxes(boxes: readonly Box[], m: Affine, outW: number, outH: number): Box[] {
  const out: Box[] = [];
  for (const [x1, y1, x2, y2] of boxes) {
    const corners = [
      applyAffine(m, x1, y1),
      applyAffine(m, x2, y1),
      applyAffine(m, x1, y2),
      applyAffine(m, x2, y2),
    ];
    const xs = corners.map((p) => p[0]), ys = corners.map((p) => p[1]);
    const box: Box = [
      clip(Math.min(...xs), outW),
      clip(Math.min(...ys), outH),
      clip(Math.max(...xs), outW),
      clip(Math.max(...ys), outH),
    ];
    if (box[2] > box[0] && box[3] > box[1]) out.push(box);
  }
  return out;
}

function clip(v: number, hi: number): number {
  // Rounding noise of the affine maps (1e-13) is snapped away so exact boxes stay exact.
  const r = Math.round(v);
  const snapped = Math.abs(v - r) < 1e-9 ? r : v;
  return snapped < 0 ? 0 : snapped > hi ? hi : snapped;
}

/** Checks that the image and masks hold as many values as the image's shape says. */
function checkSample(sample: Sample): void {
  const { width: w, height: h, channels, data } = sample.image;
  const where = `Sample ${JSON.stringify(sample.id)}`;
  if (!(Number.isInteger(w) && w > 0 && Number.isInteger(h) && h > 0)) {
    throw new RangeError(`${where}: image size must be positive integers, got ${w}×${h}`);
  }
  if (data.length !== w * h * channels) {
    throw new RangeError(
      `${where}: image holds ${data.length} values, expected ${h}×${w}×${channels} = ${
        w * h * channels
      }`,
    );
  }
  for (const field of ["mask", "ignoreMask"] as const) {
    const m = sample[field];
    if (m && m.length !== w * h) {
      throw new RangeError(
        `${where}: ${field} holds ${m.length} values, expected ${h}×${w} = ${w * h}`,
      );
    }
  }
}

function grey(r: number, g: number, b: number): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

function meanGrey(data: Float32Array, channels: number): number {
  let sum = 0;
  if (channels === 1) { for (let i = 0; i < data.length; i++) sum += data[i]; }
  else for (let i = 0; i < data.length; i += 3) sum += grey(data[i], data[i + 1], data[i + 2]);
  return sum / (data.length / channels);
}
