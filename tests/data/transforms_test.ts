import assert from "node:assert/strict";
import {
  augment,
  colorJitter,
  cropSample,
  hflipSample,
  parseSize,
  randomResizedCrop,
  resizeSample,
  rotateSample,
} from "../../lib/data/transforms.ts";
import type { Box, Sample } from "../../lib/data/types.ts";
import { Random } from "../../lib/util/random.ts";
import { assertClose } from "../_helpers.ts";

const OBJECT: Box = [20, 10, 36, 30];
const BG = [0.1, 0.2, 0.05], FG = [0.9, 0.6, 0.3];

/**
 * A 48 × 64 RGB sample: a flat background with one bright rectangle at
 * OBJECT, its mask and box, and a "must not matter" patch in the top-left
 * 8 × 8 corner.
 */
function objectSample(width = 64, height = 48, object: Box = OBJECT): Sample {
  const data = new Float32Array(width * height * 3);
  const mask = new Float32Array(width * height);
  const ignoreMask = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const inside = x >= object[0] && x < object[2] && y >= object[1] && y < object[3];
      mask[p] = inside ? 1 : 0;
      ignoreMask[p] = x < 8 && y < 8 ? 1 : 0;
      for (let c = 0; c < 3; c++) data[p * 3 + c] = inside ? FG[c] : BG[c];
    }
  }
  return {
    id: "obj",
    label: 1,
    image: { width, height, channels: 3, data },
    mask,
    ignoreMask,
    boxes: [[...object] as Box],
  };
}

/** The tight box of `mask > 0.5`, in pixel-edge coordinates; null when empty. */
function tightBox(mask: Float32Array, width: number, height: number): Box | null {
  let x1 = width, y1 = height, x2 = -1, y2 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (mask[y * width + x] > 0.5) {
        x1 = Math.min(x1, x);
        y1 = Math.min(y1, y);
        x2 = Math.max(x2, x + 1);
        y2 = Math.max(y2, y + 1);
      }
    }
  }
  return x2 < 0 ? null : [x1, y1, x2, y2];
}

/** Asserts that the mask's tight box, the sample's box and the bright pixels agree. */
function assertAligned(s: Sample, label: string, tolerance = 1): void {
  const { width: w, height: h, data } = s.image;
  assert.equal(s.mask!.length, w * h, `${label}: mask size`);
  const tight = tightBox(s.mask!, w, h);
  assert.ok(tight, `${label}: the object is still in view`);
  assert.equal(s.boxes!.length, 1, `${label}: one box`);
  const box = s.boxes![0];
  for (let k = 0; k < 4; k++) {
    assert.ok(
      Math.abs(tight[k] - box[k]) <= tolerance,
      `${label}: mask's tight box [${tight}] vs transformed box [${box}]`,
    );
  }
  // The red channel is 0.9 on the object and 0.1 off it, so it is bright exactly where the mask is.
  let disagree = 0, inside = 0;
  for (let p = 0; p < w * h; p++) {
    const bright = data[p * 3] > 0.5, masked = s.mask![p] > 0.5;
    if (bright !== masked) disagree++;
    if (masked) inside++;
  }
  assert.ok(inside > 0, `${label}: some mask pixels`);
  assert.equal(disagree, 0, `${label}: ${disagree} pixels where image and mask disagree`);
}

function copyOf(s: Sample): Sample {
  return structuredClone(s);
}

Deno.test("hflipSample() mirrors image, mask, ignore mask and box exactly", () => {
  const s = objectSample();
  const before = copyOf(s);
  const out = hflipSample(s);
  assert.deepEqual(out.boxes, [[64 - 36, 10, 64 - 20, 30]]);
  assert.deepEqual(tightBox(out.mask!, 64, 48), [28, 10, 44, 30]);
  assert.deepEqual(tightBox(out.ignoreMask!, 64, 48), [56, 0, 64, 8]);
  // Worked example: output column x reads input column 63 - x, bit for bit.
  for (const [x, y] of [[0, 0], [28, 10], [43, 29], [63, 47], [5, 20]]) {
    for (let c = 0; c < 3; c++) {
      assert.equal(out.image.data[(y * 64 + x) * 3 + c], s.image.data[(y * 64 + 63 - x) * 3 + c]);
    }
  }
  assertAligned(out, "flip");
  assert.deepEqual(s, before, "the input is unchanged");
  assert.notEqual(out.image.data, s.image.data);
});

Deno.test("resizeSample() squashes image, mask and box together, with soft mask edges", () => {
  const s = objectSample();
  const out = resizeSample(s, { size: [24, 32] });
  assert.equal(out.image.width, 32);
  assert.equal(out.image.height, 24);
  assert.deepEqual(out.boxes, [[10, 5, 18, 15]]);
  assert.deepEqual(tightBox(out.mask!, 32, 24), [10, 5, 18, 15]);
  assertAligned(out, "squash");
  // Halving with the antialiasing triangle filter: output column 10 averages input columns
  // 19..22 with weights 1/8, 3/8, 3/8, 1/8; column 19 is off the object, so the edge is 7/8,
  // and the same holds for rows, so the corner is 7/8 · 7/8.
  assertClose([out.mask![10 * 32 + 10]], [7 / 8], { atol: 1e-6, label: "left edge" });
  assertClose([out.mask![5 * 32 + 10]], [(7 / 8) * (7 / 8)], { atol: 1e-6, label: "corner" });
  assertClose([out.mask![10 * 32 + 12]], [1], { atol: 1e-6, label: "interior" });
  assertClose([out.mask![10 * 32 + 9]], [1 / 8], { atol: 1e-6, label: "outside edge" });
  // Upscaling keeps the alignment too.
  assertAligned(resizeSample(s, { size: [96, 128] }), "upscale");
  assert.deepEqual(resizeSample(s, { size: [96, 128] }).boxes, [[40, 20, 72, 60]]);
});

Deno.test("resizeSample() keeps a constant soft mask at its value", () => {
  const s = { ...objectSample(), mask: new Float32Array(64 * 48).fill(0.4) };
  const out = resizeSample(s, { size: 37 });
  assertClose(out.mask!, new Float32Array(37 * 37).fill(0.4), { atol: 1e-6, label: "soft mask" });
});

Deno.test("resizeSample() letterboxes with zero bands and shifts the box by the band", () => {
  const s = objectSample();
  const out = resizeSample(s, { size: 32, mode: "letterbox" });
  // 64 × 48 fits 32 × 24 at scale 1/2, centred with 4 rows of padding above and below.
  assert.deepEqual(out.boxes, [[10, 9, 18, 19]]);
  assert.deepEqual(tightBox(out.mask!, 32, 32), [10, 9, 18, 19]);
  assertAligned(out, "letterbox");
  for (const row of [0, 3, 28, 31]) {
    const pixels = out.image.data.subarray(row * 32 * 3, (row + 1) * 32 * 3);
    assert.ok(pixels.every((v) => v === 0), `band row ${row} is 0`);
  }
  assertClose([out.image.data[(4 * 32) * 3]], [BG[0]], { atol: 1e-6, label: "first image row" });
  // A tall image is letterboxed left and right instead.
  const tall = resizeSample(objectSample(30, 60, [5, 20, 25, 40]), { size: 30, mode: "letterbox" });
  // 30 × 60 fits 15 × 30 at scale 1/2, with 7 columns of padding on the left.
  assert.deepEqual(tall.boxes, [[9.5, 10, 19.5, 20]]);
  assertAligned(tall, "tall letterbox");
});

Deno.test("cropSample() and randomResizedCrop() move the mask with the object", () => {
  const s = objectSample();
  const crop = cropSample(s, [16, 8, 48, 40], { size: 32 });
  assert.deepEqual(crop.boxes, [[4, 2, 20, 22]]);
  assertAligned(crop, "crop");
  let seen = 0;
  for (let seed = 0; seed < 12; seed++) {
    const out = randomResizedCrop(s, new Random(seed), { size: [40, 40], scale: [0.5, 1] });
    assert.equal(out.image.width, 40);
    if (out.boxes!.length === 0) {
      assert.equal(tightBox(out.mask!, 40, 40), null, `seed ${seed}: no box and no mask`);
      continue;
    }
    assertAligned(out, `random crop, seed ${seed}`);
    seen++;
  }
  assert.ok(seen >= 8, `the object stays in view in most crops (${seen} of 12)`);
  // The same seed gives the same crop.
  const a = randomResizedCrop(s, new Random(5), { size: 16 });
  const b = randomResizedCrop(s, new Random(5), { size: 16 });
  assert.deepEqual(a.boxes, b.boxes);
  assert.deepEqual(a.image.data, b.image.data);
});

Deno.test("cropSample() clips a box that sticks out of the crop and drops one left outside", () => {
  const s = objectSample();
  assert.deepEqual(cropSample(s, [30, 0, 64, 48]).boxes, [[0, 10, 6, 30]]);
  const away = cropSample(s, [40, 0, 64, 48]);
  assert.deepEqual(away.boxes, [], "annotated, none in view");
  assert.equal(tightBox(away.mask!, 24, 48), null);
});

Deno.test("rotateSample() by 90 degrees moves every pixel where the worked example says", () => {
  const s = objectSample(48, 48, [20, 10, 36, 30]);
  const out = rotateSample(s, 90);
  // Counter-clockwise on screen: (x, y) goes to (y, 48 - x).
  assert.deepEqual(out.boxes, [[10, 12, 30, 28]]);
  for (const [x, y] of [[0, 0], [10, 12], [29, 27], [47, 47], [3, 40]]) {
    // Output pixel (x, y) reads input pixel column 47 - y, row x.
    const src = (x * 48 + (47 - y)) * 3;
    assertClose(out.image.data.subarray((y * 48 + x) * 3, (y * 48 + x) * 3 + 3), [
      s.image.data[src],
      s.image.data[src + 1],
      s.image.data[src + 2],
    ], { atol: 1e-5, label: `pixel ${x},${y}` });
  }
  assertAligned(out, "rotate 90");
});

Deno.test("rotateSample() by small angles keeps the box on the rotated mask", () => {
  const s = objectSample();
  for (const angle of [-12, -5, 3, 10]) {
    const out = rotateSample(s, angle);
    assertAligned(out, `rotate ${angle}`);
    assert.ok(out.boxes![0][2] - out.boxes![0][0] > 16, "the box grows to hold the turned corners");
  }
  const soft = rotateSample({ ...s, mask: new Float32Array(64 * 48).fill(0.4) }, 7);
  assertClose([soft.mask![24 * 64 + 32]], [0.4], { atol: 1e-6, label: "soft mask stays soft" });
  assert.equal(soft.mask![0], 0, "a corner rotated in from outside is 0");
  assert.equal(rotateSample(s, 0).image.data.every((v, i) => v === s.image.data[i]), true);
});

Deno.test("colorJitter() matches the worked formula and leaves masks alone", () => {
  const s = objectSample();
  const out = colorJitter(s, new Random(4), { brightness: 0.5, contrast: 0.3, saturation: 0.6 });
  const r = new Random(4);
  const b = r.uniform(0.5, 1.5), c = r.uniform(0.7, 1.3), sat = r.uniform(0.4, 1.6);
  const grey = (p: number[]) => 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
  const object = 16 * 20, all = 64 * 48;
  const meanGrey =
    (grey(FG.map((v) => v * b)) * object + grey(BG.map((v) => v * b)) * (all - object)) /
    all;
  const expect = (p: number[]) => {
    const contrasted = p.map((v) => meanGrey + c * (v * b - meanGrey));
    const g = grey(contrasted);
    return contrasted.map((v) => Math.min(1, Math.max(0, g + sat * (v - g))));
  };
  const fgAt = (10 * 64 + 20) * 3;
  assertClose(out.image.data.subarray(fgAt, fgAt + 3), expect(FG), { atol: 1e-5, label: "fg" });
  assertClose(out.image.data.subarray(0, 3), expect(BG), { atol: 1e-5, label: "bg" });
  assert.equal(out.mask, s.mask);
  assert.deepEqual(out.boxes, s.boxes);
  assert.equal(s.image.data[0], Math.fround(BG[0]), "the input is unchanged");
});

Deno.test("augment() is reproducible from the seed and keeps the mask on the object", () => {
  const s = objectSample();
  const options = {
    crop: { size: 40, scale: [0.7, 1] as [number, number] },
    flipProbability: 0.5,
    rotation: 8,
  };
  for (let seed = 0; seed < 10; seed++) {
    const a = augment(s, new Random(seed), options);
    const b = augment(s, new Random(seed), options);
    assert.deepEqual(a.image.data, b.image.data, `seed ${seed} reproduces`);
    assert.deepEqual(a.boxes, b.boxes);
    if (a.boxes!.length) assertAligned(a, `augment seed ${seed}`);
  }
  // Without a crop, a flip moves the box's centre from x = 28 to x = 36; a rotation of at
  // most 8 degrees moves it by under a pixel.
  let flips = 0;
  for (let seed = 0; seed < 20; seed++) {
    const out = augment(s, new Random(seed), { rotation: 8 });
    const centre = (out.boxes![0][0] + out.boxes![0][2]) / 2;
    assert.ok(Math.abs(centre - 28) < 1 || Math.abs(centre - 36) < 1, `centre ${centre}`);
    if (centre > 32) flips++;
    assertAligned(out, `flip and rotate, seed ${seed}`);
  }
  assert.ok(flips > 2 && flips < 18, `about half are flipped (${flips} of 20)`);
  const jittered = augment(s, new Random(1), { jitter: { brightness: 0.3 }, flipProbability: 0 });
  assert.equal(jittered.mask, s.mask);
  assert.notDeepEqual(jittered.image.data, s.image.data);
  assert.notDeepEqual(
    augment(s, new Random(1), options).image.data,
    augment(s, new Random(2), options).image.data,
  );
});

Deno.test("transforms name the bad option or field", () => {
  const s = objectSample();
  assert.throws(
    () => resizeSample(s, { size: 0 }),
    /Option "size" must be a positive integer.*got 0/,
  );
  assert.throws(() => resizeSample(s, { size: [32, 2.5] }), /Option "size".*\[32,2\.5\]/);
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => resizeSample(s, { size: 8, mode: "stretch" as any }),
    /Option "mode" must be "squash" or "letterbox", got "stretch"/,
  );
  assert.throws(
    () => randomResizedCrop(s, new Random(0), { scale: [0, 1] }),
    /Option "scale" must be \[low, high\].*within \(0, 1\], got \[0,1\]/,
  );
  assert.throws(
    () => randomResizedCrop(s, new Random(0), { scale: [0.5, 1.5] }),
    /Option "scale".*got \[0.5,1.5\]/,
  );
  assert.throws(
    () => randomResizedCrop(s, new Random(0), { ratio: [2, 1] }),
    /Option "ratio" must be \[low, high\] with low <= high/,
  );
  assert.throws(() => randomResizedCrop(s, new Random(0), { size: -3 }), /Option "size".*got -3/);
  assert.throws(
    () => colorJitter(s, new Random(0), { brightness: -1 }),
    /Option "brightness" must be a non-negative number, got -1/,
  );
  assert.throws(
    () => augment(s, new Random(0), { flipProbability: 2 }),
    /Option "flipProbability" must be within \[0, 1\], got 2/,
  );
  assert.throws(() => augment(s, new Random(0), { rotation: -1 }), /Option "rotation".*got -1/);
  assert.throws(() => rotateSample(s, NaN), /angle must be a finite number of degrees, got NaN/);
  assert.throws(() => cropSample(s, [10, 10, 5, 20]), /x2 > x1 and y2 > y1, got \[10,10,5,20\]/);
  assert.throws(
    () => hflipSample({ ...s, mask: new Float32Array(10) }),
    /Sample "obj": mask holds 10 values, expected 48×64 = 3072/,
  );
  assert.throws(
    () => hflipSample({ ...s, ignoreMask: new Float32Array(10) }),
    /Sample "obj": ignoreMask holds 10 values/,
  );
  assert.throws(
    () => resizeSample({ ...s, image: { ...s.image, width: 63 } }, { size: 8 }),
    /Sample "obj": image holds 9216 values, expected 48×63×3 = 9072/,
  );
  assert.deepEqual(parseSize([3, 4]), [3, 4]);
});

Deno.test("resizeSample() handles a 224-pixel sample from a 500 × 375 image quickly enough to use", () => {
  // Not a timing assertion: a smoke run at the size the pipeline sees.
  const s = objectSample(500, 375, [100, 80, 300, 260]);
  const out = resizeSample(s, { size: 224 });
  assertAligned(out, "500 × 375 to 224");
});
