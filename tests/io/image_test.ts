import assert from "node:assert/strict";
import { DataError, decodeImage, decodeMask, readFileBytes } from "../../mod.ts";
import { loadSharp } from "../../lib/deps.ts";

const sharp = await loadSharp();

function raw(width: number, height: number, channels: 1 | 2 | 3 | 4, fill: (i: number) => number) {
  const data = new Uint8Array(width * height * channels).map((_, i) => fill(i));
  return sharp(data, { raw: { width, height, channels } });
}

Deno.test("decodeImage() reads 8-bit RGB PNG and JPEG, and grey as RGB or one channel", async () => {
  const png = await raw(3, 2, 3, (i) => [255, 128, 0][i % 3]).png().toBuffer();
  const img = await decodeImage(png);
  assert.deepEqual([img.width, img.height, img.channels], [3, 2, 3]);
  assert.deepEqual(Array.from(img.data.slice(0, 3)).map((v) => Math.round(v * 255)), [255, 128, 0]);
  const grey = await raw(2, 2, 1, () => 51).png().toBuffer();
  const g3 = await decodeImage(grey);
  assert.equal(g3.channels, 3);
  assert.ok(g3.data.every((v) => Math.abs(v - 0.2) < 1e-6));
  const g1 = await decodeImage(grey, { channels: 1 });
  assert.deepEqual([g1.channels, g1.data.length], [1, 4]);
  const jpg = await raw(8, 8, 3, () => 200).jpeg({ quality: 95 }).toBuffer();
  const j = await decodeImage(jpg);
  assert.ok(j.data.every((v) => Math.abs(v - 200 / 255) < 0.02), "JPEG decodes near its value");
});

Deno.test("decodeImage() keeps 16-bit RGB values that 8 bits cannot hold", async () => {
  const png16 = await sharp({
    create: { width: 2, height: 2, channels: 3, background: { r: 0, g: 128, b: 255 } },
  }).toColourspace("rgb16").png().toBuffer();
  const meta = await sharp(png16).metadata();
  assert.equal(meta.depth, "ushort");
  const img = await decodeImage(png16);
  assert.ok(Math.abs(img.data[1] - 0.5) < 0.01 && img.data[2] === 1, `${img.data.slice(0, 3)}`);
});

Deno.test("decodeImage() applies EXIF orientation", async () => {
  // 4 wide × 2 high, left half white; orientation 6 means "rotate 90° clockwise to view".
  const jpg = await raw(4, 2, 3, (i) => ((i / 3) % 4 < 2 ? 255 : 0)).jpeg({ quality: 100 })
    .withMetadata({ orientation: 6 }).toBuffer();
  const img = await decodeImage(jpg);
  assert.deepEqual([img.width, img.height], [2, 4]);
  // After rotating clockwise, the white left half becomes the top half.
  assert.ok(img.data[0] > 0.8 && img.data[(3 * 2 + 0) * 3] < 0.2, "top white, bottom black");
});

Deno.test("decodeImage() composites alpha on black", async () => {
  const png = await raw(1, 1, 4, (i) => [255, 255, 255, 128][i]).png().toBuffer();
  const img = await decodeImage(png);
  assert.ok(Math.abs(img.data[0] - 128 / 255) < 0.01, `${img.data[0]}`);
});

Deno.test("decodeMask() takes the maximum colour channel, times alpha", async () => {
  const rgb = await raw(2, 1, 3, (i) => [200, 0, 0, 0, 0, 0][i]).png().toBuffer();
  const m = await decodeMask(rgb);
  assert.deepEqual(Array.from(m.data).map((v) => Math.round(v * 255)), [200, 0]);
  const rgba = await raw(1, 1, 4, (i) => [255, 255, 255, 51][i]).png().toBuffer();
  assert.ok(Math.abs((await decodeMask(rgba)).data[0] - 0.2) < 1e-6);
  const greyAlpha = await raw(1, 1, 2, (i) => [255, 102][i]).png().toBuffer();
  assert.ok(Math.abs((await decodeMask(greyAlpha)).data[0] - 0.4) < 1e-6);
});

Deno.test("corrupt, truncated and missing images raise DataErrors naming the file", async () => {
  const jpg = await raw(16, 16, 3, (i) => i % 251).jpeg().toBuffer();
  await assert.rejects(
    () => decodeImage(jpg.subarray(0, 60), { name: "birds/cut.jpg" }),
    (e: unknown) =>
      e instanceof DataError && /^birds\/cut\.jpg: cannot decode image/.test(e.message),
  );
  await assert.rejects(
    () => decodeImage(new TextEncoder().encode("not an image"), { name: "x.png" }),
    (e: unknown) => e instanceof DataError && e.file === "x.png",
  );
  await assert.rejects(
    () => decodeMask(new Uint8Array([1, 2, 3]), { name: "m.png" }),
    /m\.png: cannot decode mask/,
  );
  await assert.rejects(
    () => readFileBytes("/no/such/dir/a.jpg"),
    /\/no\/such\/dir\/a\.jpg: file not found/,
  );
});
