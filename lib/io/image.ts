/**
 * Image and mask decoding through sharp: JPEG, PNG, grey, alpha, 16-bit,
 * with EXIF orientation honoured.
 *
 * @module
 */
import { loadSharp } from "../deps.ts";
import { DataError } from "../data/errors.ts";
import type { Image } from "../data/types.ts";
import { type ImageFormat, parseHeader } from "./_image_header.ts";

export type { ImageFormat };

/** Options of {@linkcode decodeImage}. */
export interface DecodeImageOptions {
  /** Output channels: 3 (RGB; grey is replicated) or 1 (luminance). @default {3} */
  channels?: 1 | 3;
  /** A name for error messages (the file path). @default {"<bytes>"} */
  name?: string;
}

/**
 * Decodes image bytes (JPEG, PNG, WebP, TIFF, GIF) to an {@linkcode Image}
 * in [0, 1]. EXIF orientation is applied, alpha is dropped (composited on
 * black), and 16-bit images keep their precision. Corrupt or truncated
 * bytes raise a {@linkcode DataError} naming `options.name`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { decodeImage } from "./image.ts";
 * import { loadSharp } from "../deps.ts";
 * const sharp = await loadSharp();
 * const png = await sharp({ create: { width: 3, height: 2, channels: 3, background: "#ff0000" } }).png().toBuffer();
 * const img = await decodeImage(png);
 * assert.equal(img.width, 3);
 * assert.equal(img.height, 2);
 * assert.deepStrictEqual(Array.from(img.data.slice(0, 3)), [1, 0, 0]); // red, scaled to [0, 1]
 * ```
 */
export async function decodeImage(
  bytes: Uint8Array,
  options: DecodeImageOptions = {},
): Promise<Image> {
  const channels = options.channels ?? 3;
  const name = options.name ?? "<bytes>";
  const sharp = await loadSharp();
  try {
    const sixteen = (await sharp(bytes).metadata()).depth === "ushort";
    const space = channels === 1 ? (sixteen ? "grey16" : "b-w") : (sixteen ? "rgb16" : "srgb");
    const { data, info } = await sharp(bytes, { failOn: "truncated" })
      .autoOrient()
      .flatten({ background: "#000000" })
      .toColourspace(space)
      .raw({ depth: sixteen ? "ushort" : "uchar" })
      .toBuffer({ resolveWithObject: true });
    const values = sixteen
      ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const scale = sixteen ? 1 / 65535 : 1 / 255;
    const out = new Float32Array(info.width * info.height * channels);
    const got = info.channels;
    for (let p = 0, q = 0; p < out.length; p += channels, q += got) {
      for (let c = 0; c < channels; c++) out[p + c] = values[q + Math.min(c, got - 1)] * scale;
    }
    return { width: info.width, height: info.height, channels, data: out };
  } catch (error) {
    throw new DataError(`cannot decode image: ${firstLine(error)}`, { file: name }, {
      cause: error,
    });
  }
}

/**
 * Decodes a mask image to values in [0, 1], `height · width`: the maximum
 * over its colour channels, times its alpha where it has one. Handles grey,
 * RGB and RGBA masks, 8 or 16 bits.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { decodeMask } from "./image.ts";
 * import { loadSharp } from "../deps.ts";
 * const sharp = await loadSharp();
 * const png = await sharp({ create: { width: 2, height: 2, channels: 4, background: { r: 255, g: 255, b: 255, alpha: 0.5 } } }).png().toBuffer();
 * const m = await decodeMask(png);
 * assert.equal(m.width, 2);
 * assert.ok(Math.abs(m.data[0] - 0.5) < 0.01); // white (1) times alpha 0.5
 * ```
 */
export async function decodeMask(
  bytes: Uint8Array,
  options: { name?: string } = {},
): Promise<{ width: number; height: number; data: Float32Array }> {
  const name = options.name ?? "<bytes>";
  const sharp = await loadSharp();
  try {
    const sixteen = (await sharp(bytes).metadata()).depth === "ushort";
    const { data, info } = await sharp(bytes, { failOn: "truncated" }).autoOrient()
      .raw({ depth: sixteen ? "ushort" : "uchar" }).toBuffer({ resolveWithObject: true });
    const values = sixteen
      ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const scale = sixteen ? 1 / 65535 : 1 / 255;
    const c = info.channels;
    const hasAlpha = c === 2 || c === 4;
    const colour = hasAlpha ? c - 1 : c;
    const out = new Float32Array(info.width * info.height);
    for (let p = 0, q = 0; p < out.length; p++, q += c) {
      let v = 0;
      for (let k = 0; k < colour; k++) v = Math.max(v, values[q + k]);
      out[p] = hasAlpha ? v * scale * (values[q + c - 1] * scale) : v * scale;
    }
    return { width: info.width, height: info.height, data: out };
  } catch (error) {
    throw new DataError(`cannot decode mask: ${firstLine(error)}`, { file: name }, {
      cause: error,
    });
  }
}

/**
 * Reads a file's bytes, with a {@linkcode DataError} naming it when it is
 * missing or unreadable.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { readFileBytes } from "./image.ts";
 * await assert.rejects(readFileBytes("/no/such/image.jpg"), {
 *   message: "/no/such/image.jpg: file not found",
 * });
 * ```
 */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "file not found"
      : `cannot read file: ${(error as Error).message}`;
    throw new DataError(reason, { file: path }, { cause: error });
  }
}

/** What {@linkcode readImageHeader} finds in a file's header. */
export interface ImageHeader {
  /** The format, from the file's first bytes. */
  format: ImageFormat;
  /** Width in pixels as decoded (a JPEG's EXIF orientation applied). */
  width: number;
  /** Height in pixels as decoded. */
  height: number;
}

/** Bytes read from a file's start: enough for every format's size fields. */
const HEAD_BYTES = 64;

/**
 * Reads an image file's format and size from its header bytes, without
 * decoding pixels, and checks cheaply that it is whole: a PNG ends with its
 * IEND chunk, a JPEG's data reaches its end-of-image marker, a WebP is as
 * long as its RIFF header says, a GIF ends with its trailer. Reads a few
 * small pieces of the file, not all of it (a JPEG with data after its end
 * marker is the exception). A missing, empty, unknown or truncated file
 * raises a {@linkcode DataError} naming `path` and what is wrong. A PNG's
 * own EXIF orientation (rare) is not applied.
 *
 * @example A whole PNG, then the same PNG cut short
 * ```ts
 * import assert from "node:assert";
 * import { readImageHeader } from "./image.ts";
 * import { loadSharp } from "../deps.ts";
 * const sharp = await loadSharp();
 * const file = await Deno.makeTempFile({ suffix: ".png" });
 * const png = await sharp({ create: { width: 5, height: 3, channels: 3, background: "#000" } }).png().toBuffer();
 * await Deno.writeFile(file, png);
 * assert.deepStrictEqual(await readImageHeader(file), { format: "png", width: 5, height: 3 });
 * await Deno.writeFile(file, png.subarray(0, png.length - 20));
 * await assert.rejects(readImageHeader(file), /: truncated: the PNG ends before its IEND chunk/);
 * await Deno.remove(file);
 * ```
 */
export async function readImageHeader(path: string): Promise<ImageHeader> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    await readFileBytes(path); // Throws the DataError that names the reason.
    throw error;
  }
  try {
    const size = (await file.stat()).size;
    const at = async (offset: number, length: number): Promise<Uint8Array> => {
      const buffer = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      await file.seek(offset, Deno.SeekMode.Start);
      let filled = 0;
      while (filled < buffer.length) {
        const n = await file.read(buffer.subarray(filled));
        if (n === null) break;
        filled += n;
      }
      return buffer.subarray(0, filled);
    };
    const found = await parseHeader(await at(0, HEAD_BYTES), size, at);
    if ("problem" in found) throw new DataError(found.problem, { file: path });
    return found;
  } finally {
    file.close();
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}
