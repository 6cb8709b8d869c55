/**
 * Saliency overlays: a colour-mapped map blended over an image, with a
 * ground-truth mask's contour, boxes and a colour bar drawn on top.
 *
 * @module
 */
import type { tf } from "../deps.ts";
import type { Box, Image } from "../data/types.ts";
import { colorMap, type ColorMapName } from "./colormap.ts";
import { checkColor, contourOf, drawBox, paint, readMap, toRgb } from "./_raster.ts";

/** Options of {@linkcode overlay}. */
export interface OverlayOptions {
  /** Weight of the colour-mapped map: 0 shows the image, 1 the map alone. @default {0.5} */
  alpha?: number;
  /** The colour map of the saliency map. @default {"turbo"} */
  colormap?: ColorMapName;
  /** A ground-truth mask, `h · w` values; its contour is drawn. @default {no contour} */
  mask?: Float32Array;
  /** Mask values above this are inside the object. @default {0.5} */
  maskThreshold?: number;
  /** Colour of the mask's contour, RGB in [0, 1]. @default {[1, 1, 1]} (white) */
  contourColor?: [number, number, number];
  /** Boxes `[x1, y1, x2, y2]` in pixel coordinates; their outlines are drawn. @default {none} */
  boxes?: readonly Box[];
  /** Colour of the box outlines, RGB in [0, 1]. @default {[1, 0, 1]} (magenta) */
  boxColor?: [number, number, number];
  /** Width of the box outlines in pixels, drawn inside each box. @default {2} */
  lineWidth?: number;
  /**
   * Append a vertical colour bar on the right (value 1 at the top, 0 at
   * the bottom), separated from the image by a white gap. The bar is
   * `max(6, round(w / 12))` pixels wide and the gap `max(2, round(w / 32))`.
   *
   * @default {false}
   */
  colorBar?: boolean;
}

/**
 * Blends the colour-mapped saliency `map` over `image`:
 * `(1 − alpha) · image + alpha · colorMap(map)`, then draws the contour of
 * `options.mask` (its inside pixels with a 4-neighbour outside; the image
 * border counts as outside) and the outlines of `options.boxes`, and
 * appends a colour bar when asked.
 *
 * `image` is an {@linkcode Image} (grey is shown as RGB) or a tensor
 * `[h, w, 1 or 3]` in [0, 1]; `map` holds `h · w` values in [0, 1] (a
 * `Float32Array`, or a tensor `[h, w]` or `[1, h, w]`, as one image of
 * `explain`'s output). Tensors are read, not disposed. Returns a new RGB
 * {@linkcode Image}, `h × (w + bar)`.
 *
 * @example Explain one image and write the overlay as PNG
 * ```ts
 * import assert from "node:assert";
 * import { overlay } from "./overlay.ts";
 * import { imagePng } from "./image_png.ts";
 * import { explain } from "../explainers/registry.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 2, inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([1, 16, 16, 3]) as tf.Tensor4D;
 * const maps = explain(model, images, { method: "grad-cam" });
 * const image = tf.squeeze(images, [0]) as tf.Tensor3D;
 * const shown = overlay(image, maps, { alpha: 0.6, boxes: [[2, 2, 10, 10]], colorBar: true });
 * const png = await imagePng(shown);
 * assert.equal(shown.width, 24); // the image, then the colour bar
 * assert.equal(shown.height, 16);
 * assert.deepStrictEqual(Array.from(png.slice(1, 4)), [0x50, 0x4e, 0x47]); // "PNG"
 * tf.dispose([images, maps, image]);
 * model.dispose();
 * ```
 */
export function overlay(
  image: Image | tf.Tensor3D,
  map: Float32Array | tf.Tensor,
  options: OverlayOptions = {},
): Image {
  const alpha = options.alpha ?? 0.5;
  if (typeof alpha !== "number" || !(alpha >= 0 && alpha <= 1)) {
    throw new RangeError(`Option "alpha" must be in [0, 1], got ${alpha}`);
  }
  const threshold = options.maskThreshold ?? 0.5;
  const contourColor = checkColor(options.contourColor ?? [1, 1, 1], "contourColor");
  const boxColor = checkColor(options.boxColor ?? [1, 0, 1], "boxColor");
  const lineWidth = options.lineWidth ?? 2;
  if (!Number.isInteger(lineWidth) || lineWidth < 1) {
    throw new RangeError(`Option "lineWidth" must be a whole number ≥ 1, got ${lineWidth}`);
  }
  const img = toRgb(image);
  const { width: w, height: h } = img;
  const values = readMap(map, h, w, "map");
  const colors = colorMap(values, { name: options.colormap ?? "turbo" });
  const data = img.data;
  for (let i = 0; i < data.length; i++) data[i] = (1 - alpha) * data[i] + alpha * colors[i];
  if (options.mask !== undefined) {
    const mask = readMap(options.mask, h, w, "options.mask");
    paint(data, contourOf(mask, w, h, threshold), contourColor);
  }
  for (const [i, box] of (options.boxes ?? []).entries()) {
    if (!Array.isArray(box) || box.length !== 4 || box.some((v) => !Number.isFinite(v))) {
      throw new RangeError(
        `Option "boxes[${i}]" must be [x1, y1, x2, y2] of finite numbers, got ${
          JSON.stringify(box)
        }`,
      );
    }
    drawBox(img, box, lineWidth, boxColor);
  }
  return options.colorBar ? appendColorBar(img, options.colormap ?? "turbo") : img;
}

function appendColorBar(img: Image, name: ColorMapName): Image {
  const { width: w, height: h, data } = img;
  const gap = Math.max(2, Math.round(w / 32)), bar = Math.max(6, Math.round(w / 12));
  const outW = w + gap + bar;
  const out = new Float32Array(outW * h * 3).fill(1);
  const ramp = new Float32Array(h);
  for (let y = 0; y < h; y++) ramp[y] = h === 1 ? 1 : 1 - y / (h - 1);
  const rampColors = colorMap(ramp, { name });
  for (let y = 0; y < h; y++) {
    out.set(data.subarray(y * w * 3, (y + 1) * w * 3), y * outW * 3);
    for (let x = w + gap; x < outW; x++) {
      out.set(rampColors.subarray(y * 3, y * 3 + 3), (y * outW + x) * 3);
    }
  }
  return { width: outW, height: h, channels: 3, data: out };
}
