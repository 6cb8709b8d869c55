// Shared helpers for the dataset loader tests: write small images and masks
// with known rectangles through sharp, and compare decoded pixels with them.
import * as path from "node:path";
import assert from "node:assert/strict";
import { loadSharp } from "../../lib/deps.ts";
import { DataError } from "../../lib/data/errors.ts";

/** A rectangle of pixel columns x..x+w-1 and rows y..y+h-1. */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Whether pixel (row, col) lies in `rect`. */
export function inRect(rect: Rect, row: number, col: number): boolean {
  return col >= rect.x && col < rect.x + rect.w && row >= rect.y && row < rect.y + rect.h;
}

/**
 * Raw 8-bit pixels `height × width × channels`: `background` everywhere,
 * `value` in each rect. Values are per channel (one number fills all).
 */
export function pixels(
  width: number,
  height: number,
  options: {
    channels?: number;
    background?: number | number[];
    rects?: Rect[];
    value?: number | number[];
  } = {},
): Uint8Array {
  const c = options.channels ?? 3;
  const bg = options.background ?? 20;
  const fg = options.value ?? 255;
  const at = (v: number | number[], k: number) => (typeof v === "number" ? v : v[k]);
  const out = new Uint8Array(width * height * c);
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const inside = (options.rects ?? []).some((r) => inRect(r, row, col));
      for (let k = 0; k < c; k++) {
        out[(row * width + col) * c + k] = at(inside ? fg : bg, k);
      }
    }
  }
  return out;
}

/** Encodes raw pixels as PNG (or JPEG by extension) at `file`, making its folder. */
export async function writeImage(
  file: string,
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
): Promise<void> {
  const sharp = await loadSharp();
  await Deno.mkdir(path.dirname(file), { recursive: true });
  const img = sharp(data, { raw: { width, height, channels: channels as 1 | 2 | 3 | 4 } });
  const bytes = /\.jpe?g$/i.test(file)
    ? await img.jpeg({ quality: 95 }).toBuffer()
    : await img.png().toBuffer();
  await Deno.writeFile(file, bytes);
}

/** Writes a `width × height` image with a bright rect on a dark background (RGB PNG). */
export async function writeRectImage(
  file: string,
  width: number,
  height: number,
  rect: Rect,
): Promise<void> {
  await writeImage(file, pixels(width, height, { rects: [rect] }), width, height, 3);
}

/** Writes a greyscale mask PNG: `value` in the rects, 0 elsewhere. */
export async function writeMask(
  file: string,
  width: number,
  height: number,
  rects: Rect[],
  value = 255,
): Promise<void> {
  await writeImage(
    file,
    pixels(width, height, { channels: 1, background: 0, rects, value }),
    width,
    height,
    1,
  );
}

/** The tight box `[x1, y1, x2, y2]` of mask values above `threshold`, or undefined when none. */
export function tightBox(
  mask: Float32Array,
  width: number,
  threshold = 0.5,
): [number, number, number, number] | undefined {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] <= threshold) continue;
    const row = Math.floor(p / width), col = p % width;
    x1 = Math.min(x1, col);
    y1 = Math.min(y1, row);
    x2 = Math.max(x2, col + 1);
    y2 = Math.max(y2, row + 1);
  }
  return Number.isFinite(x1) ? [x1, y1, x2, y2] : undefined;
}

/** Runs `fn` with a fresh temporary folder, removed afterwards. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saliency_lab_loader_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Cuts a file to its first `keep` bytes (a truncated download). */
export async function truncateFile(file: string, keep: number): Promise<void> {
  const bytes = await Deno.readFile(file);
  await Deno.writeFile(file, bytes.subarray(0, keep));
}

/** Awaits `fn`, asserts it threw a DataError whose message matches `pattern`, and returns it. */
export async function rejectsWith(
  fn: () => Promise<unknown>,
  pattern: RegExp,
): Promise<DataError> {
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof DataError, `expected a DataError, got ${caught}`);
  assert.match(caught.message, pattern);
  return caught;
}

/** An IDX file: big-endian 32-bit header words, then the bytes. */
export function idxFile(header: number[], bytes: ArrayLike<number>): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(4 * header.length + bytes.length);
  const view = new DataView(out.buffer);
  header.forEach((v, k) => view.setUint32(4 * k, v));
  out.set(bytes, 4 * header.length);
  return out;
}
