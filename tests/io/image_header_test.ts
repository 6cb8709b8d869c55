import assert from "node:assert/strict";
import { checkDatasetFiles, DataError, decodeImage, readImageHeader } from "../../mod.ts";
import type { Dataset, SampleRecord } from "../../mod.ts";
import { loadSharp } from "../../lib/deps.ts";

const sharp = await loadSharp();

/** A 7 × 5 image with some texture, so that compressed formats have data to cut. */
function noisy(width = 7, height = 5) {
  const data = new Uint8Array(width * height * 3).map((_, i) => (i * 37) % 251);
  return sharp(data, { raw: { width, height, channels: 3 } });
}

async function withFile(bytes: Uint8Array, fn: (file: string) => Promise<void>): Promise<void> {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeFile(file, bytes);
    await fn(file);
  } finally {
    await Deno.remove(file);
  }
}

/** What readImageHeader says of these bytes: the header, or the error's reason. */
async function header(bytes: Uint8Array): Promise<unknown> {
  let out: unknown;
  await withFile(bytes, async (file) => {
    try {
      out = await readImageHeader(file);
    } catch (error) {
      assert.ok(error instanceof DataError, String(error));
      assert.ok(error.message.startsWith(`${file}: `), error.message);
      out = error.message.slice(file.length + 2);
    }
  });
  return out;
}

Deno.test("readImageHeader() gives each format's size as sharp decodes it", async () => {
  const formats = {
    png: await noisy().png().toBuffer(),
    jpeg: await noisy().jpeg().toBuffer(),
    gif: await noisy().gif().toBuffer(),
    webp: await noisy().webp().toBuffer(),
    tiff: await noisy().tiff().toBuffer(),
  };
  for (const [format, bytes] of Object.entries(formats)) {
    assert.deepEqual(await header(bytes), { format, width: 7, height: 5 }, format);
    const decoded = await decodeImage(bytes);
    assert.deepEqual([decoded.width, decoded.height], [7, 5], format);
  }
  // Lossless WebP and one larger than 1 px per side in each direction.
  assert.deepEqual(await header(await noisy(300, 2).webp({ lossless: true }).toBuffer()), {
    format: "webp",
    width: 300,
    height: 2,
  });
});

Deno.test("readImageHeader() turns a JPEG whose EXIF orientation is a quarter turn, as decodeImage does", async () => {
  const bytes = await noisy().jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const decoded = await decodeImage(bytes);
  assert.deepEqual([decoded.width, decoded.height], [5, 7]);
  assert.deepEqual(await header(bytes), { format: "jpeg", width: 5, height: 7 });
});

Deno.test("readImageHeader() names an empty, unknown, truncated or missing file, and a JPEG with data after its end is whole", async () => {
  const png = await noisy(40, 40).png().toBuffer();
  const jpeg = await noisy(40, 40).jpeg().toBuffer();
  assert.equal(await header(new Uint8Array()), "empty file (0 bytes)");
  assert.match(
    String(await header(new TextEncoder().encode("<html>not found</html>"))),
    /^unknown image format \(expected PNG, JPEG, WebP, TIFF or GIF; the file starts with bytes 3c 68 74 6d\)$/,
  );
  assert.match(
    String(await header(png.subarray(0, png.length - 30))),
    /^truncated: the PNG ends before its IEND chunk \(the file has \d+ bytes\)$/,
  );
  assert.match(String(await header(png.subarray(0, 20))), /^truncated: ends inside the PNG header/);
  assert.match(
    String(await header(jpeg.subarray(0, jpeg.length - 100))),
    /^truncated: the JPEG's image data stops before its end-of-image marker/,
  );
  assert.match(String(await header(jpeg.subarray(0, 30))), /^truncated: the JPEG ends/);
  const webp = await noisy(40, 40).webp().toBuffer();
  assert.match(String(await header(webp.subarray(0, webp.length - 10))), /^truncated: its RIFF/);
  // Decoding agrees that the cut files are broken.
  await assert.rejects(decodeImage(png.subarray(0, png.length - 30)));
  await assert.rejects(decodeImage(jpeg.subarray(0, jpeg.length - 100)));

  // Bytes after the end marker (a phone's trailer) do not make a JPEG truncated, nor a PNG.
  const trailer = new Uint8Array(8000).fill(7);
  assert.deepEqual(await header(new Uint8Array([...jpeg, ...trailer])), {
    format: "jpeg",
    width: 40,
    height: 40,
  });
  assert.deepEqual(await header(new Uint8Array([...png, ...trailer.subarray(0, 10)])), {
    format: "png",
    width: 40,
    height: 40,
  });
  await assert.rejects(readImageHeader("/no/such/image.png"), {
    message: "/no/such/image.png: file not found",
  });
});

Deno.test("checkDatasetFiles() lists every bad file and each mask of another size, in record order", async () => {
  const root = await Deno.makeTempDir();
  try {
    const png = (w: number, h: number) => noisy(w, h).png().toBuffer();
    await Deno.writeFile(`${root}/a.png`, await png(8, 8));
    await Deno.writeFile(`${root}/a_mask.png`, await png(8, 6));
    await Deno.writeFile(`${root}/b.jpg`, (await noisy(30, 30).jpeg().toBuffer()).subarray(0, 200));
    await Deno.writeFile(`${root}/c.png`, await png(8, 8));
    await Deno.writeFile(`${root}/c_mask.png`, new Uint8Array());
    const records: SampleRecord[] = [
      ["a", ["a_mask.png"]],
      ["b.jpg", []],
      ["c", ["c_mask.png"]],
      ["d", []],
    ].map(([name, masks], i) => {
      const image = `${root}/${String(name).includes(".") ? name : `${name}.png`}`;
      return {
        id: String(i),
        label: 0,
        hasMask: masks.length > 0,
        hasBoxes: false,
        source: image,
        files: { image, masks: (masks as string[]).map((m) => `${root}/${m}`) },
      };
    });
    // A record without files (a generated sample) is passed over.
    records.push({ id: "gen", label: 0, hasMask: false, hasBoxes: false, source: "synthetic#0" });
    const dataset: Pick<Dataset, "records"> = { records };
    const problems = await checkDatasetFiles(dataset, { concurrency: 2 });
    assert.deepEqual(problems.map((p) => [p.file.slice(root.length + 1), p.reason]), [
      ["a_mask.png", 'mask is 8×6, its image "a.png" is 8×8'],
      ["b.jpg", "truncated: the JPEG ends inside its header (the file has 200 bytes)"],
      ["c_mask.png", "empty file (0 bytes)"],
      ["d.png", "file not found"],
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
