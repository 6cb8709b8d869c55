import assert from "node:assert/strict";
import { join } from "node:path";
import {
  loadStanfordCars,
  type StanfordCarsAnnotation,
  type StanfordCarsOptions,
} from "../../datasets/stanford_cars.ts";
import type { Box, Sample } from "../../lib/data/types.ts";
import { loadSharp } from "../../lib/deps.ts";
import { rejectsData } from "../_helpers.ts";

// The .mat fixtures were written by SciPy (tests/fixtures/stanford_cars/make_fixture.py).
const FIXTURES = new URL("../fixtures/stanford_cars/", import.meta.url);
const CLASS_NAMES = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Audi R8 Coupe 2012"];

/** An annotation as the files state it, with the size of the image the test draws. */
interface Row extends StanfordCarsAnnotation {
  width: number;
  height: number;
}

// The rows of make_fixture.py, each with an image size that holds its box.
const TRAIN: Row[] = [
  { fname: "00001.jpg", x1: 3, y1: 4, x2: 20, y2: 15, cls: 1, width: 32, height: 24 },
  { fname: "00002.jpg", x1: 1, y1: 1, x2: 8, y2: 6, cls: 3, width: 8, height: 6 },
  { fname: "00003.jpg", x1: 10, y1: 2, x2: 31, y2: 23, cls: 2, width: 40, height: 30 },
  { fname: "00004.jpg", x1: 250, y1: 3, x2: 290, y2: 12, cls: 3, width: 300, height: 16 },
];
const TEST: Row[] = [
  { fname: "00001.jpg", x1: 5, y1: 5, x2: 12, y2: 9, cls: 2, width: 16, height: 12 },
  { fname: "00002.jpg", x1: 2, y1: 3, x2: 16, y2: 14, cls: 1, width: 20, height: 16 },
];

const sharp = await loadSharp();

/**
 * Writes a JPEG, black with a white rectangle over the 1-based inclusive pixel
 * columns x1..x2 and rows y1..y2 (clipped to the image).
 */
async function drawImage(path: string, row: Row, size?: { width: number; height: number }) {
  const { width, height } = size ?? row;
  const pixels = new Uint8Array(width * height * 3);
  for (let y = row.y1; y <= Math.min(row.y2, height); y++) {
    for (let x = row.x1; x <= Math.min(row.x2, width); x++) {
      pixels.fill(255, ((y - 1) * width + (x - 1)) * 3, ((y - 1) * width + x) * 3);
    }
  }
  const jpeg = await sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 95 }).toBuffer();
  await Deno.writeFile(path, jpeg);
}

async function drawImages(root: string, dir: string, rows: Row[]): Promise<void> {
  await Deno.mkdir(join(root, dir), { recursive: true });
  for (const row of rows) await drawImage(join(root, dir, row.fname), row);
}

/** The devkit as distributed: devkit/*.mat, the test labels in root, images in cars_*. */
async function makeDevkit(
  { flat = false, train = "cars_train_annos.mat" } = {},
): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "stanford_cars_" });
  const devkit = flat ? root : join(root, "devkit");
  await Deno.mkdir(devkit, { recursive: true });
  await Deno.copyFile(new URL("cars_meta.mat", FIXTURES), join(devkit, "cars_meta.mat"));
  await Deno.copyFile(new URL(train, FIXTURES), join(devkit, "cars_train_annos.mat"));
  await Deno.copyFile(
    new URL("cars_test_annos_withlabels.mat", FIXTURES),
    join(root, "cars_test_annos_withlabels.mat"),
  );
  await drawImages(root, "cars_train", TRAIN);
  await drawImages(root, "cars_test", TEST);
  return root;
}

function csvLine(r: Row): string {
  return `${r.fname},${r.x1},${r.y1},${r.x2},${r.y2},${r.cls}`;
}

/** The CSV redistribution: anno_*.csv, names.csv, images in cars_*. */
async function makeCsv(
  { train = TRAIN.map(csvLine), names = true } = {},
): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "stanford_cars_csv_" });
  await Deno.writeTextFile(join(root, "anno_train.csv"), train.join("\n") + "\n");
  await Deno.writeTextFile(join(root, "anno_test.csv"), TEST.map(csvLine).join("\r\n") + "\r\n");
  if (names) await Deno.writeTextFile(join(root, "names.csv"), CLASS_NAMES.join("\n") + "\n");
  await drawImages(root, "cars_train", TRAIN);
  await drawImages(root, "cars_test", TEST);
  return root;
}

/** The tight pixel-edge box around the pixels brighter than 0.5. */
function brightBox(sample: Sample): Box {
  const { width, height, channels, data } = sample.image;
  let x1 = width, y1 = height, x2 = 0, y2 = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * channels] > 0.5) {
        x1 = Math.min(x1, x);
        y1 = Math.min(y1, y);
        x2 = Math.max(x2, x + 1);
        y2 = Math.max(y2, y + 1);
      }
    }
  }
  return [x1, y1, x2, y2];
}

async function withRoot(root: string, fn: (root: string) => Promise<void>): Promise<void> {
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("loadStanfordCars() reads the devkit: counts, class names, 0-based labels, ids and the official split", async () => {
  await withRoot(await makeDevkit(), async (root) => {
    const cars = await loadStanfordCars(root);
    assert.equal(cars.format, "devkit");
    assert.equal(cars.size, 6);
    assert.deepEqual(cars.classNames, CLASS_NAMES);
    // Classes 1, 3, 2, 3 (train) and 2, 1 (test) in the files.
    assert.deepEqual(cars.records.map((r) => r.label), [0, 2, 1, 2, 1, 0]);
    assert.deepEqual(cars.records.map((r) => r.id), [
      "train/00001.jpg",
      "train/00002.jpg",
      "train/00003.jpg",
      "train/00004.jpg",
      "test/00001.jpg",
      "test/00002.jpg",
    ]);
    assert.equal(cars.records[4].source, join("cars_test", "00001.jpg"));
    assert.ok(cars.records.every((r) => r.hasBoxes && !r.hasMask));
    assert.deepEqual(cars.officialSplit, { train: [0, 1, 2, 3], test: [4, 5] });
    assert.deepEqual(cars.skipped, []);
    const sample = await cars.load(2);
    assert.equal(sample.id, "train/00003.jpg");
    assert.equal(sample.label, 1);
    assert.equal(cars.classNames[sample.label], "Acura RL Sedan 2012");
    assert.deepEqual([sample.image.width, sample.image.height, sample.image.channels], [40, 30, 3]);
  });
});

Deno.test("loadStanfordCars() turns 1-based inclusive boxes into pixel-edge boxes that sit on the drawn rectangle", async () => {
  await withRoot(await makeDevkit(), async (root) => {
    const cars = await loadStanfordCars(root);
    // Worked by hand: (3, 4, 20, 15) covers 0-based columns 2..19 and rows 3..14,
    // whose pixel edges are [2, 3, 20, 15]; (1, 1, 8, 6) fills its 8×6 image: [0, 0, 8, 6].
    const expected: Box[] = [
      [2, 3, 20, 15],
      [0, 0, 8, 6],
      [9, 1, 31, 23],
      [249, 2, 290, 12],
      [4, 4, 12, 9],
      [1, 2, 16, 14],
    ];
    for (let i = 0; i < cars.size; i++) {
      const sample = await cars.load(i);
      assert.deepEqual(sample.boxes, [expected[i]], `boxes of ${sample.id}`);
      assert.deepEqual(brightBox(sample), expected[i], `drawn rectangle of ${sample.id}`);
    }
    assert.deepEqual(cars.warnings, []);
  });
});

Deno.test("loadStanfordCars() finds the devkit files in root too, compressed or not", async () => {
  await withRoot(
    await makeDevkit({ flat: true, train: "cars_train_annos_uncompressed.mat" }),
    async (root) => {
      const cars = await loadStanfordCars(root, { splits: ["train"] });
      assert.equal(cars.format, "devkit");
      assert.deepEqual(cars.records.map((r) => r.label), [0, 2, 1, 2]);
      assert.deepEqual(cars.officialSplit, { train: [0, 1, 2, 3], test: [] });
      assert.deepEqual((await cars.load(3)).boxes, [[249, 2, 290, 12]]);
    },
  );
});

Deno.test("loadStanfordCars() reads the CSV layout to the same labels and boxes as the devkit", async () => {
  await withRoot(await makeCsv(), async (root) => {
    const cars = await loadStanfordCars(root);
    assert.equal(cars.format, "csv");
    assert.deepEqual(cars.classNames, CLASS_NAMES);
    assert.deepEqual(cars.records.map((r) => r.label), [0, 2, 1, 2, 1, 0]);
    assert.deepEqual(cars.officialSplit, { train: [0, 1, 2, 3], test: [4, 5] });
    const sample = await cars.load(5);
    assert.equal(sample.id, "test/00002.jpg");
    assert.deepEqual(sample.boxes, [[1, 2, 16, 14]]);
    assert.deepEqual(brightBox(sample), [1, 2, 16, 14]);
  });
});

Deno.test("loadStanfordCars() finds CSV images one class folder down, and names 196 classes without names.csv", async () => {
  await withRoot(await makeCsv({ names: false }), async (root) => {
    // The redistribution that sorts images into car_data/train/<class name>/.
    for (const row of TRAIN) {
      const dir = join(root, "car_data", "train", `Model ${row.cls}`);
      await Deno.mkdir(dir, { recursive: true });
      await Deno.rename(join(root, "cars_train", row.fname), join(dir, row.fname));
    }
    const cars = await loadStanfordCars(root, {
      splits: ["train"],
      imageDirs: { train: "car_data/train" },
    });
    assert.equal(cars.classNames.length, 196);
    assert.equal(cars.classNames[0], "class 1");
    assert.equal(cars.records[1].source, join("car_data", "train", "Model 3", "00002.jpg"));
    assert.deepEqual(brightBox(await cars.load(1)), [0, 0, 8, 6]);
  });
});

Deno.test("loadStanfordCars() names the file and line of a short or non-numeric CSV row, or skips it", async () => {
  const rows = [
    csvLine(TRAIN[0]),
    "00002.jpg,1,1,8,6",
    "00003.jpg,10,abc,31,23,2",
    csvLine(TRAIN[3]),
  ];
  await withRoot(await makeCsv({ train: rows }), async (root) => {
    await rejectsData(
      loadStanfordCars(root),
      /anno_train\.csv:2: expected 6 comma-separated fields "fname,x1,y1,x2,y2,class", got 5/,
    );
    await Deno.writeTextFile(join(root, "anno_train.csv"), [rows[0], rows[2]].join("\n"));
    const error = await rejectsData(
      loadStanfordCars(root),
      /anno_train\.csv:2 \(field "y1"\): expected an integer, got "abc"/,
    );
    assert.equal(error.line, 2);
    await Deno.writeTextFile(join(root, "anno_train.csv"), rows.join("\n"));
    const cars = await loadStanfordCars(root, { onError: "skip" });
    assert.equal(cars.size, 4);
    assert.deepEqual(cars.records.map((r) => r.id).slice(0, 2), [
      "train/00001.jpg",
      "train/00004.jpg",
    ]);
    assert.deepEqual(cars.skipped.map((s) => [s.line, s.file.endsWith("anno_train.csv")]), [
      [2, true],
      [3, true],
    ]);
    assert.equal(cars.skipped[1].reason, 'field "y1": expected an integer, got "abc"');
  });
});

Deno.test("loadStanfordCars() rejects image paths that escape the image folder", async () => {
  const rows = [csvLine(TRAIN[0]), "../../etc/passwd,1,1,2,2,1", "/etc/passwd,1,1,2,2,1"];
  await withRoot(await makeCsv({ train: rows }), async (root) => {
    const error = await rejectsData(
      loadStanfordCars(root),
      /anno_train\.csv:2 \(field "fname"\): image path "\.\.\/\.\.\/etc\/passwd" escapes the image folder/,
    );
    assert.equal(error.field, "fname");
    const cars = await loadStanfordCars(root, { onError: "skip" });
    assert.equal(cars.size, 3);
    assert.deepEqual(cars.skipped.map((s) => s.line), [2, 3]);
    assert.match(cars.skipped[1].reason, /"\/etc\/passwd" is absolute/);
  });
  // The same in the devkit: the first fname "00001.jpg" patched to "../passwd" (also 9 bytes).
  await withRoot(await makeDevkit(), async (root) => {
    const path = join(root, "devkit", "cars_train_annos.mat");
    await Deno.copyFile(new URL("cars_train_annos_uncompressed.mat", FIXTURES), path);
    await patchFirst(path, "00001.jpg", "../passwd");
    await rejectsData(
      loadStanfordCars(root),
      /cars_train_annos\.mat \(field "annotations\(1\)\.fname"\): image path "\.\.\/passwd" escapes/,
    );
  });
});

/** Replaces the first occurrence of `from` in a file with `to`, byte for byte. */
async function patchFirst(path: string, from: string | number[], to: string | number[]) {
  const bytes = await Deno.readFile(path);
  const a = typeof from === "string" ? new TextEncoder().encode(from) : Uint8Array.from(from);
  const b = typeof to === "string" ? new TextEncoder().encode(to) : Uint8Array.from(to);
  assert.equal(a.length, b.length);
  const at = bytes.findIndex((_, i) => a.every((v, k) => bytes[i + k] === v));
  assert.ok(at >= 0, "pattern found");
  bytes.set(b, at);
  await Deno.writeFile(path, bytes);
}

Deno.test("loadStanfordCars() names an unknown class beyond the class list", async () => {
  await withRoot(
    await makeCsv({ train: [csvLine(TRAIN[0]), "00002.jpg,1,1,8,6,4"] }),
    async (root) => {
      await rejectsData(
        loadStanfordCars(root),
        /anno_train\.csv:2 \(field "class"\): unknown class 4: classes are numbered 1 to 3/,
      );
      const cars = await loadStanfordCars(root, { onError: "skip" });
      assert.deepEqual(cars.skipped.map((s) => [s.line, s.id]), [[2, "train/00002.jpg"]]);
    },
  );
  await withRoot(await makeDevkit(), async (root) => {
    // annotations(1).class is the first one-byte miUINT8 small element holding 1
    // (tag 02 00 01 00, then the value): make it 9.
    const path = join(root, "devkit", "cars_train_annos.mat");
    await Deno.copyFile(new URL("cars_train_annos_uncompressed.mat", FIXTURES), path);
    await patchFirst(path, [2, 0, 1, 0, 1, 0, 0, 0], [2, 0, 1, 0, 9, 0, 0, 0]);
    await rejectsData(
      loadStanfordCars(root),
      /cars_train_annos\.mat \(field "annotations\(1\)\.class"\): unknown class 9: classes are numbered 1 to 3/,
    );
  });
});

Deno.test("loadStanfordCars() clips a box outside its image with a warning, or rejects it", async () => {
  await withRoot(await makeDevkit(), async (root) => {
    // Box (3, 4, 20, 15) on an 18×24 image: x2 = 20 reaches two columns past the edge.
    await drawImage(join(root, "cars_train", "00001.jpg"), TRAIN[0], { width: 18, height: 24 });
    const messages: string[] = [];
    const clipping = await loadStanfordCars(root, { onWarning: (m) => messages.push(m) });
    const sample = await clipping.load(0);
    assert.deepEqual(sample.boxes, [[2, 3, 18, 15]]);
    assert.deepEqual(brightBox(sample), [2, 3, 18, 15]);
    await clipping.load(0);
    assert.equal(clipping.warnings.length, 1, "one warning per sample");
    const warning = clipping.warnings[0];
    assert.equal(warning.id, "train/00001.jpg");
    assert.ok(warning.file.endsWith("cars_train_annos.mat"));
    assert.match(
      warning.reason,
      /^annotations\(1\): box \(3, 4, 20, 15\) \(1-based, inclusive\) reaches outside the 18×24 image .*; clipped to \[2, 3, 18, 15\]$/,
    );
    assert.equal(messages.length, 1);
    assert.match(messages[0], /cars_train_annos\.mat: annotations\(1\): box .*clipped to/);
    const rejecting = await loadStanfordCars(root, { boxPolicy: "reject" });
    const error = await rejectsData(
      rejecting.load(0),
      /cars_train_annos\.mat \(field "annotations\(1\)"\): box \(3, 4, 20, 15\) .*reaches outside the 18×24 image/,
    );
    assert.equal(error.field, "annotations(1)");
    assert.deepEqual((await rejecting.load(1)).boxes, [[0, 0, 8, 6]], "boxes inside still load");
    // A box wholly outside its image is rejected under both policies.
    await drawImage(join(root, "cars_train", "00001.jpg"), TRAIN[0], { width: 2, height: 2 });
    await rejectsData(clipping.load(0), /lies wholly outside the 2×2 image/);
  });
});

Deno.test("loadStanfordCars() reports a missing image, or skips it with the reason", async () => {
  await withRoot(await makeDevkit(), async (root) => {
    await Deno.remove(join(root, "cars_train", "00003.jpg"));
    await rejectsData(
      loadStanfordCars(root),
      /cars_train_annos\.mat \(field "annotations\(3\)"\): image "00003\.jpg" not found in ".*cars_train"/,
    );
    const cars = await loadStanfordCars(root, { onError: "skip" });
    assert.equal(cars.size, 5);
    assert.deepEqual(cars.officialSplit, { train: [0, 1, 2], test: [3, 4] });
    assert.equal(cars.skipped.length, 1);
    assert.equal(cars.skipped[0].id, "train/00003.jpg");
    assert.match(cars.skipped[0].reason, /^annotations\(3\): image "00003\.jpg" not found/);
    // A sample whose image disappears after loading fails in load(), naming the image.
    await Deno.remove(join(root, "cars_test", "00002.jpg"));
    await rejectsData(cars.load(4), /cars_test\/00002\.jpg: file not found/);
    await assert.rejects(cars.load(5), RangeError);
  });
});

Deno.test("loadStanfordCars() names a corrupt image, a duplicate id and a missing annotation file", async () => {
  await withRoot(await makeCsv({ train: [csvLine(TRAIN[0]), csvLine(TRAIN[0])] }), async (root) => {
    await rejectsData(
      loadStanfordCars(root),
      /anno_train\.csv:2: duplicate id "train\/00001\.jpg"/,
    );
    await Deno.writeTextFile(join(root, "anno_train.csv"), csvLine(TRAIN[0]));
    await Deno.writeFile(join(root, "cars_train", "00001.jpg"), new Uint8Array([0xff, 0xd8, 1, 2]));
    const cars = await loadStanfordCars(root);
    await rejectsData(cars.load(0), /cars_train\/00001\.jpg: cannot decode image/);
    await Deno.remove(join(root, "anno_test.csv"));
    await rejectsData(loadStanfordCars(root), /anno_test\.csv: annotation file not found/);
    assert.equal((await loadStanfordCars(root, { splits: ["train"] })).size, 1);
  });
  await withRoot(await makeDevkit(), async (root) => {
    await Deno.remove(join(root, "cars_test_annos_withlabels.mat"));
    await rejectsData(
      loadStanfordCars(root),
      /cars_test_annos_withlabels\.mat not found .*the test labels are distributed apart/,
    );
  });
});

Deno.test("loadStanfordCars() names the folder when it holds no annotations, and checks its options", async () => {
  const root = await Deno.makeTempDir({ prefix: "stanford_cars_empty_" });
  await withRoot(root, async () => {
    await rejectsData(loadStanfordCars(root), /found no Stanford Cars annotations/);
    const bad = { splits: ["val"] } as unknown as StanfordCarsOptions;
    await assert.rejects(
      loadStanfordCars(root, bad),
      /Option "splits" must hold "train" or "test", got "val"/,
    );
    const policy = { boxPolicy: "crop" } as unknown as StanfordCarsOptions;
    await assert.rejects(loadStanfordCars(root, policy), /Option "boxPolicy" must be/);
  });
});
