import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import type { Image } from "../../lib/data/types.ts";
import { colorMap } from "../../lib/viz/colormap.ts";
import { overlay } from "../../lib/viz/overlay.ts";

function rampImage(w: number, h: number): Image {
  const data = new Float32Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i % 17) / 16;
  return { width: w, height: h, channels: 3, data };
}

function pixel(img: Image, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return Array.from(img.data.subarray(i, i + 3));
}

Deno.test("overlay() with alpha 0 returns the image and with alpha 1 the colour-mapped map", () => {
  const img = rampImage(5, 4);
  const map = new Float32Array(20).map((_, i) => i / 19);
  assert.deepEqual(Array.from(overlay(img, map, { alpha: 0 }).data), Array.from(img.data));
  const full = overlay(img, map, { alpha: 1, colormap: "viridis" });
  assert.deepEqual(Array.from(full.data), Array.from(colorMap(map, { name: "viridis" })));
  // alpha 0.25 is the worked blend 0.75 · image + 0.25 · colour at one pixel.
  const quarter = overlay(img, map, { alpha: 0.25, colormap: "grey" });
  const expected = pixel(img, 2, 1).map((v) => 0.75 * v + 0.25 * map[7]);
  pixel(quarter, 2, 1).forEach((v, k) => assert.ok(Math.abs(v - expected[k]) < 2e-3));
  // The input is not modified.
  assert.equal(img.data[1], 1 / 16);
});

Deno.test("overlay() draws the mask contour exactly on the mask's boundary pixels", () => {
  const w = 7, h = 6;
  const img: Image = { width: w, height: h, channels: 3, data: new Float32Array(w * h * 3) };
  // A 3 × 4 block (rows 1..3, columns 2..5) plus one isolated pixel at (0, 5).
  const mask = new Float32Array(w * h);
  for (let y = 1; y <= 3; y++) for (let x = 2; x <= 5; x++) mask[y * w + x] = 1;
  mask[5 * w + 0] = 0.9;
  const out = overlay(img, new Float32Array(w * h), {
    alpha: 0,
    mask,
    contourColor: [0, 1, 0],
  });
  const drawn: string[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) if (pixel(out, x, y)[1] === 1) drawn.push(`${x},${y}`);
  }
  // Boundary by hand: the block's ring (its only interior pixels are (3,2) and (4,2)),
  // and the lone pixel, which touches the image's edge.
  const expected = [];
  for (let y = 1; y <= 3; y++) {
    for (let x = 2; x <= 5; x++) if (!(y === 2 && (x === 3 || x === 4))) expected.push(`${x},${y}`);
  }
  expected.push("0,5");
  assert.deepEqual(drawn.sort(), expected.sort());
});

Deno.test("overlay() draws a box's outline on its edge pixels, lineWidth wide, inside the box", () => {
  const w = 10, h = 8;
  const img: Image = { width: w, height: h, channels: 1, data: new Float32Array(w * h) };
  // Box covering pixel columns 2..6 and rows 1..5.
  const out = overlay(img, new Float32Array(w * h), {
    alpha: 0,
    boxes: [[2, 1, 7, 6]],
    lineWidth: 1,
  });
  const magenta = (x: number, y: number) => pixel(out, x, y).join() === "1,0,1";
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inBox = x >= 2 && x <= 6 && y >= 1 && y <= 5;
      const onEdge = inBox && (x === 2 || x === 6 || y === 1 || y === 5);
      assert.equal(magenta(x, y), onEdge, `pixel (${x}, ${y})`);
    }
  }
  // Two pixels wide by default: column 3 is drawn, column 4 (the middle) is not.
  const thick = overlay(img, new Float32Array(w * h), { alpha: 0, boxes: [[2, 1, 7, 6]] });
  assert.deepEqual(pixel(thick, 3, 3), [1, 0, 1]);
  assert.deepEqual(pixel(thick, 4, 3), [0, 0, 0]);
});

Deno.test("overlay() appends a colour bar with 1 at the top and 0 at the bottom", () => {
  const w = 64, h = 20;
  const img: Image = { width: w, height: h, channels: 3, data: new Float32Array(w * h * 3) };
  const out = overlay(img, new Float32Array(w * h), { colorBar: true, colormap: "jet" });
  // Gap max(2, 64 / 32) = 2, bar max(6, round(64 / 12)) = 6.
  assert.equal(out.width, 64 + 2 + 6);
  assert.equal(out.height, h);
  assert.deepEqual(pixel(out, 64, 0), [1, 1, 1]); // the white gap
  const top = Array.from(colorMap(new Float32Array([1]), { name: "jet" }));
  const bottom = Array.from(colorMap(new Float32Array([0]), { name: "jet" }));
  assert.deepEqual(pixel(out, 70, 0), top);
  assert.deepEqual(pixel(out, 70, h - 1), bottom);
});

Deno.test("overlay() takes tensors ([h, w, 3] image, [1, h, w] map) and does not dispose them", () => {
  const image = tf.fill([3, 4, 3], 0.5) as tf.Tensor3D;
  const map = tf.ones([1, 3, 4]);
  const out = overlay(image, map, { alpha: 1, colormap: "grey" });
  assert.equal(out.width, 4);
  assert.equal(out.height, 3);
  assert.ok(out.data.every((v) => v === 1));
  assert.ok(!image.isDisposed && !map.isDisposed);
  tf.dispose([image, map]);
});

Deno.test("overlay() rejects a map, mask, alpha or box that does not fit, naming it", () => {
  const img: Image = { width: 4, height: 3, channels: 3, data: new Float32Array(36) };
  assert.throws(
    () => overlay(img, new Float32Array(10)),
    /Argument "map" has 10 values, expected 3 × 4 = 12/,
  );
  assert.throws(
    () => overlay(img, new Float32Array(12), { mask: new Float32Array(5) }),
    /Argument "options.mask" has 5 values, expected 3 × 4 = 12/,
  );
  assert.throws(() => overlay(img, new Float32Array(12), { alpha: 1.5 }), /"alpha" must be in/);
  assert.throws(
    () =>
      overlay(img, new Float32Array(12), {
        boxes: [[0, 0, NaN, 1]] as unknown as [number, number, number, number][],
      }),
    /Option "boxes\[0\]" must be \[x1, y1, x2, y2\]/,
  );
  assert.throws(
    () => overlay({ ...img, data: new Float32Array(7) }, new Float32Array(12)),
    /Argument "image" has 7 values, expected 4 × 3 × 3/,
  );
});
