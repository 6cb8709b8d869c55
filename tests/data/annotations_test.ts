import assert from "node:assert/strict";
import {
  annotationReport,
  boxesToMask,
  clipBoxes,
  countEmptyMasks,
  formatAnnotationReport,
  maskToBox,
} from "../../lib/data/annotations.ts";
import { DataError } from "../../lib/data/errors.ts";
import type { Box, Dataset, SampleRecord } from "../../lib/data/types.ts";
import { Random } from "../../lib/util/random.ts";

/** Renders a mask as one string per row, "1" where set and "." elsewhere. */
function rows(mask: Float32Array, width: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < mask.length; i += width) {
    out.push(Array.from(mask.subarray(i, i + width), (v) => (v ? "1" : ".")).join(""));
  }
  return out;
}

Deno.test("boxesToMask() ORs two overlapping boxes on a 5×4 grid, as worked by hand", () => {
  // [0, 0, 3, 2] covers columns 0..2 of rows 0..1; [2, 1, 5, 3] covers columns 2..4 of rows 1..2.
  const mask = boxesToMask([[0, 0, 3, 2], [2, 1, 5, 3]], { width: 5, height: 4 });
  assert.deepEqual(rows(mask, 5), [
    "111..",
    "11111",
    "..111",
    ".....",
  ]);
  assert.ok(mask.every((v) => v === 0 || v === 1), "the union is 1, not 2, where boxes overlap");
});

Deno.test("boxesToMask() takes a pixel when its centre is in [x1, x2) × [y1, y2)", () => {
  // Centres 0.5 and 1.5 are in [0.4, 1.6); of rows, only centre 1.5 is in [0.6, 1.6).
  assert.deepEqual(rows(boxesToMask([[0.4, 0.6, 1.6, 1.6]], { width: 3, height: 3 }), 3), [
    "...",
    "11.",
    "...",
  ]);
  // A box whose right edge is exactly on a centre leaves that pixel out.
  assert.deepEqual(rows(boxesToMask([[1, 0, 1.5, 1]], { width: 3, height: 1 }), 3), ["..."]);
  // Parts outside the image are ignored; an empty list gives an empty mask.
  assert.deepEqual(rows(boxesToMask([[-3, -3, 1, 1]], { width: 3, height: 2 }), 3), [
    "1..",
    "...",
  ]);
  assert.ok(boxesToMask([], { width: 2, height: 2 }).every((v) => v === 0));
});

Deno.test("boxesToMask() names the bad size option and the bad box", () => {
  assert.throws(
    () => boxesToMask([], { width: 0, height: 2 }),
    /Option "width" of boxesToMask\(\) must be a positive integer, got 0/,
  );
  assert.throws(
    () => boxesToMask([[0, 0, 1, 1], [0, NaN, 1, 1]], { width: 2, height: 2.5 }),
    /Option "height".*got 2.5/,
  );
  assert.throws(
    () => boxesToMask([[0, 0, 1, 1], [0, NaN, 1, 1]], { width: 2, height: 2 }),
    /boxes\[1\].*\[0, NaN, 1, 1\]/,
  );
});

Deno.test("maskToBox() gives the tight pixel-edge box of the pixels at or above the threshold", () => {
  const mask = new Float32Array(4 * 5); // width 4, height 5
  mask[1 * 4 + 2] = 1; // row 1, column 2
  mask[3 * 4 + 0] = 0.6; // row 3, column 0
  mask[4 * 4 + 3] = 0.4; // below the default threshold
  assert.deepEqual(maskToBox(mask, { width: 4, height: 5 }), [0, 1, 3, 4]);
  assert.deepEqual(maskToBox(mask, { width: 4, height: 5, threshold: 0.3 }), [0, 1, 4, 5]);
  assert.deepEqual(maskToBox(mask, { width: 4, height: 5, threshold: 0.9 }), [2, 1, 3, 2]);
  assert.equal(maskToBox(new Float32Array(20), { width: 4, height: 5 }), null);
});

Deno.test("maskToBox() inverts boxesToMask() for every integer box", () => {
  const rng = new Random(5);
  const width = 9, height = 7;
  for (let t = 0; t < 200; t++) {
    const x1 = rng.int(width), y1 = rng.int(height);
    const box: Box = [x1, y1, x1 + 1 + rng.int(width - x1), y1 + 1 + rng.int(height - y1)];
    assert.deepEqual(maskToBox(boxesToMask([box], { width, height }), { width, height }), box);
  }
});

Deno.test("maskToBox() rejects a mask of the wrong length and a bad threshold", () => {
  assert.throws(
    () => maskToBox(new Float32Array(11), { width: 4, height: 3 }),
    /mask of 11 values: expected 4·3 = 12/,
  );
  assert.throws(
    () => maskToBox(new Float32Array(12), { width: 4, height: 3, threshold: NaN }),
    /Option "threshold" must be a finite number, got NaN/,
  );
});

Deno.test("clipBoxes() clips a box that leaves the image and says so, naming file, line and box", () => {
  const { boxes, warnings } = clipBoxes(
    [[1, 1, 3, 3], [-2, 1, 12, 9], [20, 20, 30, 30]],
    { width: 10, height: 8, file: "bounding_boxes.txt", line: 4 },
  );
  assert.deepEqual(boxes, [[1, 1, 3, 3], [0, 1, 10, 8]]);
  assert.equal(warnings.length, 2);
  assert.match(
    warnings[0],
    /^bounding_boxes\.txt:4: box 1 \[-2, 1, 12, 9\] extends outside the 10×8 image; clipped to \[0, 1, 10, 8\]$/,
  );
  assert.match(warnings[1], /^bounding_boxes\.txt:4: box 2 .*wholly outside.*dropped$/);
  // Boxes inside the image, including ones touching the far edges, pass untouched.
  assert.deepEqual(clipBoxes([[0, 0, 10, 8]], { width: 10, height: 8 }), {
    boxes: [[0, 0, 10, 8]],
    warnings: [],
  });
});

Deno.test("clipBoxes() with policy reject throws a DataError naming file, line and box", () => {
  assert.throws(
    () =>
      clipBoxes([[0, 0, 2, 2], [5, 5, 11, 6]], {
        width: 10,
        height: 8,
        policy: "reject",
        file: "anno_train.csv",
        line: 17,
      }),
    (e: unknown) => e instanceof DataError && e.file === "anno_train.csv" && e.line === 17,
  );
  assert.throws(
    () =>
      clipBoxes([[5, 5, 11, 6]], {
        width: 10,
        height: 8,
        policy: "reject",
        file: "a.csv",
        line: 2,
      }),
    /^DataError: a\.csv:2: box 0 \[5, 5, 11, 6\] extends outside the 10×8 image$/,
  );
});

Deno.test("clipBoxes() rejects inverted, empty and non-finite boxes under either policy", () => {
  for (const policy of ["clip", "reject"] as const) {
    const where = { width: 10, height: 8, policy, file: "boxes.txt", line: 3 };
    assert.throws(
      () => clipBoxes([[4, 1, 2, 3]], where),
      /boxes\.txt:3: box 0 \[4, 1, 2, 3\] is empty or inverted/,
    );
    assert.throws(() => clipBoxes([[1, 1, 1, 3]], where), /box 0 .* is empty or inverted/);
    assert.throws(
      () => clipBoxes([[1, 1, Infinity, 3]], where),
      /boxes\.txt:3: box 0 .* must hold 4 finite numbers/,
    );
  }
  assert.throws(
    () => clipBoxes([], { width: 10, height: 8, policy: "drop" as "clip" }),
    /Option "policy" must be "clip" or "reject", got "drop"/,
  );
});

function record(label: number, hasMask: boolean, hasBoxes: boolean, i: number): SampleRecord {
  return { id: `${i}`, label, hasMask, hasBoxes, source: `${i}.png` };
}

Deno.test("annotationReport() counts masks, boxes, both and nothing, overall and per class", () => {
  const records = [
    record(0, true, true, 0),
    record(0, true, false, 1),
    record(0, false, false, 2),
    record(1, false, true, 3),
    record(1, false, true, 4),
    record(2, false, false, 5),
  ];
  const report = annotationReport({ classNames: ["a", "b", "c"], records });
  assert.deepEqual(
    { ...report, perClass: undefined },
    {
      total: 6,
      withMask: 2,
      withBoxes: 3,
      withBoth: 1,
      withNothing: 2,
      perClass: undefined,
    },
  );
  assert.deepEqual(report.perClass, [
    { label: 0, name: "a", total: 3, withMask: 2, withBoxes: 1, withBoth: 1, withNothing: 1 },
    { label: 1, name: "b", total: 2, withMask: 0, withBoxes: 2, withBoth: 0, withNothing: 0 },
    { label: 2, name: "c", total: 1, withMask: 0, withBoxes: 0, withBoth: 0, withNothing: 1 },
  ]);
  const table = formatAnnotationReport({ ...report, emptyMasks: 1 }).split("\n");
  assert.deepEqual(table[0].split(/ +/), ["class", "samples", "mask", "boxes", "both", "nothing"]);
  assert.deepEqual(table[2].split(/ +/), ["a", "3", "2", "1", "1", "1"]);
  assert.deepEqual(table.at(-2)!.split(/ +/), ["total", "6", "2", "3", "1", "2"]);
  assert.equal(table.at(-1), "1 of 2 masks are empty");
});

Deno.test("annotationReport() names a record whose label is not a class", () => {
  assert.throws(
    () =>
      annotationReport({
        classNames: ["a"],
        records: [record(0, true, true, 0), record(3, true, true, 1)],
      }),
    /records\[1\] \("1"\): label 3 is not a class index below 1/,
  );
});

Deno.test("countEmptyMasks() counts annotated masks with no pixel set, and skips unannotated ones", async () => {
  const image = { width: 2, height: 1, channels: 1 as const, data: new Float32Array(2) };
  const masks = [[0, 0], [0, 0.3], [0, 0], [1, 0]];
  const dataset: Dataset = {
    name: "tiny",
    classNames: ["a"],
    size: 4,
    skipped: [],
    records: [
      record(0, true, false, 0),
      record(0, true, false, 1),
      record(0, false, false, 2),
      record(0, true, true, 3),
    ],
    load: (i) => Promise.resolve({ id: `${i}`, image, label: 0, mask: new Float32Array(masks[i]) }),
  };
  assert.equal(await countEmptyMasks(dataset), 1);
  assert.equal(await countEmptyMasks(dataset, { threshold: 0.5 }), 2);
  assert.equal(await countEmptyMasks(dataset, { indices: [1, 3] }), 0);
});
