// Reading an image file's size from its header bytes, and the cheap checks
// that find a truncated file without decoding it (PNG's IEND chunk, JPEG's
// end-of-image marker after the scan, WebP's RIFF length, GIF's trailer).
// Private to lib/io/: readImageHeader in image.ts is the public face.

/** The image formats sharp decodes for us, as {@linkcode parseHeader} names them. */
export type ImageFormat = "png" | "jpeg" | "gif" | "webp" | "tiff";

/** Reads `length` bytes at `offset` (fewer at the end of the file). */
export type ReadAt = (offset: number, length: number) => Promise<Uint8Array>;

/** A header's findings: the size as decoded (EXIF orientation applied), or what is wrong. */
export type HeaderResult =
  | { format: ImageFormat; width: number; height: number }
  | { problem: string };

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const IEND = [0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];

/** The first `head` bytes of the file were read into `start`; `size` is its length. */
export async function parseHeader(
  start: Uint8Array,
  size: number,
  at: ReadAt,
): Promise<HeaderResult> {
  if (size === 0) return { problem: "empty file (0 bytes)" };
  if (startsWith(start, PNG_SIGNATURE)) return await png(start, size, at);
  if (start[0] === 0xff && start[1] === 0xd8) return await jpeg(size, at);
  const magic = ascii(start, 0, 6);
  if (magic === "GIF87a" || magic === "GIF89a") return await gif(start, size, at);
  if (ascii(start, 0, 4) === "RIFF" && ascii(start, 8, 4) === "WEBP") return webp(start, size);
  if (magic.startsWith("II*\0") || magic.startsWith("MM\0*")) return await tiff(size, at);
  const hex = [...start.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return {
    problem: `unknown image format (expected PNG, JPEG, WebP, TIFF or GIF; the file starts ` +
      `with bytes ${hex})`,
  };
}

function startsWith(bytes: Uint8Array, prefix: readonly number[], offset = 0): boolean {
  return prefix.every((b, i) => bytes[offset + i] === b);
}

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}

function truncated(size: number, what: string): { problem: string } {
  return { problem: `truncated: ${what} (the file has ${size} bytes)` };
}

async function png(start: Uint8Array, size: number, at: ReadAt): Promise<HeaderResult> {
  if (size < 33 || ascii(start, 12, 4) !== "IHDR") {
    return size < 33 ? truncated(size, "ends inside the PNG header") : {
      problem: "not a valid PNG: its first chunk is not IHDR",
    };
  }
  const view = new DataView(start.buffer, start.byteOffset, start.byteLength);
  const width = view.getUint32(16), height = view.getUint32(20);
  if (width === 0 || height === 0) {
    return { problem: `PNG header gives a ${width}×${height} image` };
  }
  if (!startsWith(await at(size - 12, 12), IEND) && !(await pngChunksEnd(size, at))) {
    return truncated(size, "the PNG ends before its IEND chunk");
  }
  return { format: "png", width, height };
}

/** Walks the chunks from the signature: whether an IEND chunk lies wholly inside the file. */
async function pngChunksEnd(size: number, at: ReadAt): Promise<boolean> {
  for (let offset = 8; offset + 12 <= size;) {
    const head = await at(offset, 8);
    const length = new DataView(head.buffer, head.byteOffset, 8).getUint32(0);
    if (ascii(head, 4, 4) === "IEND") return true;
    offset += 12 + length;
  }
  return false;
}

/** Markers with no length field after them. */
function standalone(marker: number): boolean {
  return marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8);
}

/** Start-of-frame markers (baseline, progressive, lossless, arithmetic). */
function startOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 &&
    marker !== 0xcc;
}

async function jpeg(size: number, at: ReadAt): Promise<HeaderResult> {
  let offset = 2, width = 0, height = 0, orientation = 1;
  for (;;) {
    if (offset + 4 > size) return truncated(size, "the JPEG ends before its image data");
    const head = await at(offset, 4);
    if (head[0] !== 0xff) return { problem: `not a valid JPEG: no marker at byte ${offset}` };
    const marker = head[1];
    if (marker === 0xff) {
      offset += 1; // A fill byte.
      continue;
    }
    if (standalone(marker)) {
      offset += 2;
      continue;
    }
    const length = (head[2] << 8) | head[3];
    const end = offset + 2 + length;
    if (end > size) return truncated(size, "the JPEG ends inside its header");
    if (startOfFrame(marker)) {
      const frame = await at(offset + 5, 4);
      height = (frame[0] << 8) | frame[1];
      width = (frame[2] << 8) | frame[3];
    } else if (marker === 0xe1) {
      const body = await at(offset + 4, length - 2);
      if (ascii(body, 0, 6) === "Exif\0\0") {
        const tiffBytes = body.subarray(6);
        orientation = (await tiffTags(tiffBytes.length, bufferReader(tiffBytes)))?.orientation ??
          orientation;
      }
    } else if (marker === 0xda) {
      if (width === 0 || height === 0) {
        return { problem: `JPEG header gives a ${width}×${height} image` };
      }
      if (!(await jpegEnds(end, size, at))) {
        return truncated(size, "the JPEG's image data stops before its end-of-image marker");
      }
      return oriented("jpeg", width, height, orientation);
    }
    offset = end;
  }
}

/**
 * Whether an end-of-image marker (FF D9) follows the scan that starts at
 * `scan`. Inside entropy-coded data an FF is always followed by 00 or a
 * restart marker, so an FF D9 there is the real end. The last 4 KiB are
 * searched first; the rest only when they hold none (data after the end).
 */
async function jpegEnds(scan: number, size: number, at: ReadAt): Promise<boolean> {
  const tailStart = Math.max(scan, size - 4096);
  if (hasEoi(await at(tailStart, size - tailStart))) return true;
  return tailStart > scan && hasEoi(await at(scan, size - scan));
}

function hasEoi(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 2; i >= 0; i--) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) return true;
  }
  return false;
}

async function gif(start: Uint8Array, size: number, at: ReadAt): Promise<HeaderResult> {
  if (size < 13) return truncated(size, "ends inside the GIF header");
  const width = start[6] | (start[7] << 8), height = start[8] | (start[9] << 8);
  if ((await at(size - 1, 1))[0] !== 0x3b) return truncated(size, "the GIF has no trailer byte");
  return { format: "gif", width, height };
}

function webp(start: Uint8Array, size: number): HeaderResult {
  const view = new DataView(start.buffer, start.byteOffset, start.byteLength);
  const riff = view.getUint32(4, true) + 8;
  if (size < riff) return truncated(size, `its RIFF header promises ${riff}`);
  if (start.length < 30) return truncated(size, "ends inside the WebP header");
  const chunk = ascii(start, 12, 4);
  if (chunk === "VP8X") {
    const w = 1 + (start[24] | (start[25] << 8) | (start[26] << 16));
    const h = 1 + (start[27] | (start[28] << 8) | (start[29] << 16));
    return { format: "webp", width: w, height: h };
  }
  if (chunk === "VP8L") {
    const bits = view.getUint32(21, true);
    return { format: "webp", width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
  }
  if (chunk === "VP8 ") {
    return {
      format: "webp",
      width: view.getUint16(26, true) & 0x3fff,
      height: view.getUint16(28, true) & 0x3fff,
    };
  }
  return { problem: `not a valid WebP: unknown first chunk "${chunk}"` };
}

async function tiff(size: number, at: ReadAt): Promise<HeaderResult> {
  const tags = await tiffTags(size, at);
  if (tags === null) return truncated(size, "its TIFF directory lies past the end");
  if (!tags.width || !tags.height) return { problem: "TIFF directory gives no image size" };
  return oriented("tiff", tags.width, tags.height, tags.orientation);
}

function bufferReader(bytes: Uint8Array): ReadAt {
  return (offset, length) => Promise.resolve(bytes.subarray(offset, offset + length));
}

/** Width, height and orientation from a TIFF structure's first directory; null past the end. */
async function tiffTags(
  size: number,
  at: ReadAt,
): Promise<{ width: number; height: number; orientation: number } | null> {
  const head = await at(0, 8);
  if (head.length < 8) return null;
  const little = head[0] === 0x49;
  const hv = new DataView(head.buffer, head.byteOffset, 8);
  const ifd = hv.getUint32(4, little);
  if (ifd + 2 > size) return null;
  const countBytes = await at(ifd, 2);
  const count = new DataView(countBytes.buffer, countBytes.byteOffset, 2).getUint16(0, little);
  if (ifd + 2 + 12 * count > size) return null;
  const entries = await at(ifd + 2, 12 * count);
  const v = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
  const out = { width: 0, height: 0, orientation: 1 };
  for (let i = 0; i < count; i++) {
    const tag = v.getUint16(12 * i, little);
    const type = v.getUint16(12 * i + 2, little);
    const value = type === 3 ? v.getUint16(12 * i + 8, little) : v.getUint32(12 * i + 8, little);
    if (tag === 256) out.width = value;
    else if (tag === 257) out.height = value;
    else if (tag === 274) out.orientation = value;
  }
  return out;
}

/** Orientations 5 to 8 turn the image a quarter: sharp's autoOrient swaps width and height. */
function oriented(
  format: ImageFormat,
  width: number,
  height: number,
  orientation: number,
): HeaderResult {
  return orientation >= 5 && orientation <= 8
    ? { format, width: height, height: width }
    : { format, width, height };
}
