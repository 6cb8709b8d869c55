/**
 * Saliency grids: one row per image, one column per view (image | ground
 * truth | explainer A | explainer B …), with column titles, as PNG.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { loadSharp, type tf } from "../deps.ts";
import type { Box, Image } from "../data/types.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import type { ColorMapName } from "./colormap.ts";
import { overlay } from "./overlay.ts";
import { readMap, type RgbImage, scaleNearest, toRgb } from "./_raster.ts";

/** One row of a {@linkcode saliencyGrid}. */
export interface GridRow {
  /** The image: an {@linkcode Image} or a tensor `[h, w, 1 or 3]` in [0, 1] (not disposed). */
  image: Image | tf.Tensor3D;
  /** Ground-truth mask, `h · w` values in [0, 1]. */
  mask?: Float32Array;
  /** Ground-truth boxes in the image's pixel coordinates. */
  boxes?: readonly Box[];
  /** Saliency maps by method name, `h · w` values in [0, 1] each (typed arrays or tensors). */
  maps: Record<string, Float32Array | tf.Tensor>;
}

/** Options of {@linkcode saliencyGrid}. */
export interface SaliencyGridOptions {
  /** The method columns, in order (keys of each row's `maps`). @default {the first row's map names} */
  columns?: readonly string[];
  /** Side of each square cell in pixels; images are enlarged (nearest neighbour) to fit it. @default {160} */
  cellSize?: number;
  /** Draw a title above each column. @default {true} */
  titles?: boolean;
  /** Titles to show instead of column keys (`"image"`, `"ground truth"` or a method name). @default {the keys} */
  labels?: Record<string, string>;
  /** Show the ground-truth column (the image dimmed outside its mask, with contour and boxes). @default {true when any row has a mask or boxes} */
  groundTruth?: boolean;
  /** Draw each row's mask contour and boxes on its explainer cells too. @default {true} */
  annotate?: boolean;
  /** Weight of the colour-mapped map in each explainer cell. @default {0.5} */
  alpha?: number;
  /** The colour map. @default {"turbo"} */
  colormap?: ColorMapName;
  /** White space between cells and around the grid, in pixels. @default {4} */
  padding?: number;
  /** Also write the PNG to this file, atomically. @default {not written} */
  path?: string;
}

let titlesFailed = false;

/**
 * Draws a grid of saliency maps and returns it as PNG bytes (and writes it
 * to `options.path` atomically when given). Columns are `image`, then
 * `ground truth` (when shown), then each method in `options.columns`.
 * Every image is enlarged with nearest-neighbour sampling to fit a
 * `cellSize` square (centred on white, aspect ratio kept), so its pixels
 * stay sharp, and overlays, contours and boxes are drawn at that size so
 * their lines stay thin.
 *
 * The grid is `n · cellSize + (n + 1) · padding` pixels wide for `n`
 * columns and `titleBand + rows · cellSize + (rows + 1) · padding` high,
 * where the title band is `round(clamp(0.09 · cellSize, 11, 18)) + 10`
 * pixels (0 without titles). Titles are SVG text rendered by sharp; if
 * rendering fails (no fonts), the band is left blank and a warning is
 * printed once.
 *
 * @example A one-row grid with one method
 * ```ts
 * import assert from "node:assert";
 * import { saliencyGrid } from "./grid.ts";
 * import { decodeImage } from "../io/image.ts";
 * const image = { width: 8, height: 8, channels: 3 as const, data: new Float32Array(192).fill(0.5) };
 * const mask = new Float32Array(64).fill(0, 0, 32).fill(1, 32);
 * const map = mask.slice();
 * const png = await saliencyGrid([{ image, mask, maps: { "grad-cam": map } }], { cellSize: 32 });
 * // Columns image, ground truth, grad-cam: 3 · 32 + 4 · 4 = 112 wide; a title band of
 * // round(clamp(0.09 · 32, 11, 18)) + 10 = 21 over one row: 21 + 32 + 2 · 4 = 61 high.
 * const { width, height } = await decodeImage(png);
 * assert.deepStrictEqual([width, height], [112, 61]);
 * ```
 */
export async function saliencyGrid(
  rows: readonly GridRow[],
  options: SaliencyGridOptions = {},
): Promise<Uint8Array> {
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new RangeError('Argument "rows" must hold at least one row');
  }
  const cell = options.cellSize ?? 160;
  const pad = options.padding ?? 4;
  if (!Number.isInteger(cell) || cell < 8) {
    throw new RangeError(`Option "cellSize" must be a whole number ≥ 8, got ${cell}`);
  }
  if (!Number.isInteger(pad) || pad < 0) {
    throw new RangeError(`Option "padding" must be a whole number ≥ 0, got ${pad}`);
  }
  const methods = options.columns ?? Object.keys(rows[0].maps ?? {});
  const showTruth = options.groundTruth ??
    rows.some((r) => r.mask !== undefined || (r.boxes?.length ?? 0) > 0);
  const keys = ["image", ...(showTruth ? ["ground truth"] : []), ...methods];
  const titles = options.titles ?? true;
  const fontSize = Math.round(Math.min(18, Math.max(11, 0.09 * cell)));
  const band = titles ? fontSize + 10 : 0;
  const width = keys.length * cell + (keys.length + 1) * pad;
  const height = band + rows.length * cell + (rows.length + 1) * pad;
  const canvas = new Uint8ClampedArray(width * height * 3).fill(255);

  rows.forEach((row, r) => {
    const cells = rowCells(row, r, methods, showTruth, cell, options);
    cells.forEach((img, c) => {
      const left = pad + c * (cell + pad) + Math.floor((cell - img.width) / 2);
      const top = band + pad + r * (cell + pad) + Math.floor((cell - img.height) / 2);
      for (let y = 0; y < img.height; y++) {
        const dst = ((top + y) * width + left) * 3;
        const src = img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3);
        for (let k = 0; k < src.length; k++) canvas[dst + k] = src[k] * 255;
      }
    });
  });

  const sharp = await loadSharp();
  const raw = { raw: { width, height, channels: 3 as const } };
  const plain = () => sharp(new Uint8Array(canvas.buffer), raw).png().toBuffer();
  let png: Uint8Array;
  if (titles && !titlesFailed) {
    const svg = titleSvg(keys.map((k) => options.labels?.[k] ?? k), {
      width,
      band,
      cell,
      pad,
      fontSize,
    });
    try {
      png = new Uint8Array(
        await sharp(new Uint8Array(canvas.buffer), raw)
          .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
          .png()
          .toBuffer(),
      );
    } catch (error) {
      titlesFailed = true;
      console.warn(`saliencyGrid: cannot render titles, drawing none: ${(error as Error).message}`);
      png = new Uint8Array(await plain());
    }
  } else {
    png = new Uint8Array(await plain());
  }
  if (options.path !== undefined) await writeFileAtomic(options.path, png);
  return png;
}

function rowCells(
  row: GridRow,
  r: number,
  methods: readonly string[],
  showTruth: boolean,
  cell: number,
  options: SaliencyGridOptions,
): RgbImage[] {
  const img = toRgb(row.image, `rows[${r}].image`);
  const { width: w, height: h } = img;
  const s = Math.min(cell / w, cell / h);
  const outW = Math.max(1, Math.min(cell, Math.round(w * s)));
  const outH = Math.max(1, Math.min(cell, Math.round(h * s)));
  const big: RgbImage = {
    width: outW,
    height: outH,
    channels: 3,
    data: scaleNearest(img.data, w, h, 3, outW, outH),
  };
  const mask = row.mask === undefined
    ? undefined
    : scaleNearest(readMap(row.mask, h, w, `rows[${r}].mask`), w, h, 1, outW, outH);
  const boxes = row.boxes?.map((b) =>
    [b[0] * outW / w, b[1] * outH / h, b[2] * outW / w, b[3] * outH / h] as Box
  );
  const blank = new Float32Array(outW * outH);
  const cells: RgbImage[] = [big];
  if (showTruth) {
    const dim: RgbImage = { ...big, data: big.data.slice() };
    if (mask) {
      for (let i = 0; i < mask.length; i++) {
        const f = 0.3 + 0.7 * Math.min(1, Math.max(0, mask[i]));
        for (let k = 0; k < 3; k++) dim.data[i * 3 + k] *= f;
      }
    }
    cells.push(overlay(dim, blank, { alpha: 0, mask, boxes }) as RgbImage);
  }
  const annotate = options.annotate ?? true;
  for (const method of methods) {
    const map = row.maps?.[method];
    if (map === undefined) {
      throw new RangeError(
        `Argument "rows[${r}].maps" has no map ${JSON.stringify(method)}; it has ${
          Object.keys(row.maps ?? {}).join(", ") || "none"
        }`,
      );
    }
    const values = scaleNearest(
      readMap(map, h, w, `rows[${r}].maps[${JSON.stringify(method)}]`),
      w,
      h,
      1,
      outW,
      outH,
    );
    cells.push(
      overlay(big, values, {
        alpha: options.alpha ?? 0.5,
        colormap: options.colormap ?? "turbo",
        mask: annotate ? mask : undefined,
        boxes: annotate ? boxes : undefined,
      }) as RgbImage,
    );
  }
  return cells;
}

// Escapes text for SVG/XML content and attributes.
function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function titleSvg(
  labels: string[],
  g: { width: number; band: number; cell: number; pad: number; fontSize: number },
): string {
  // A long title is set smaller (down to 9 px) to fit its cell, then shortened with "…".
  // DejaVu Sans averages about 0.58 em per character.
  const texts = labels.map((label, c) => {
    const size = Math.max(9, Math.min(g.fontSize, (g.cell - 4) / (0.58 * label.length)));
    const maxChars = Math.max(3, Math.floor((g.cell - 4) / (0.58 * size)));
    const shown = label.length > maxChars ? `${label.slice(0, maxChars - 1)}…` : label;
    const x = g.pad + c * (g.cell + g.pad) + g.cell / 2;
    return `<text x="${x}" y="${g.band - 7}" font-size="${size.toFixed(1)}" ` +
      `text-anchor="middle">${escapeXml(shown)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${g.width}" height="${g.band}">` +
    `<g font-family="DejaVu Sans, sans-serif" font-size="${g.fontSize}" fill="#222222">` +
    `${texts.join("")}</g></svg>`;
}
