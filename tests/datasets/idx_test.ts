import assert from "node:assert/strict";
import * as path from "node:path";
import {
  FASHION_MNIST_CLASSES,
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  loadIdx,
} from "../../datasets/idx.ts";
import { idxFile, rejectsWith, withTempDir } from "./_loader_fixtures.ts";

const N = 5, ROWS = 3, COLS = 4;
const LABELS = [3, 0, 2, 2, 1];
/** Item i's pixel p, a pattern that tells items, rows and columns apart. */
const pixel = (i: number, p: number) => (i * 37 + p * 11 + 5) % 256;

const idx = idxFile;

async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const imageBytes = () =>
  idx(
    [IDX_IMAGES_MAGIC, N, ROWS, COLS],
    Array.from({ length: N * ROWS * COLS }, (_, k) => {
      return pixel(Math.floor(k / (ROWS * COLS)), k % (ROWS * COLS));
    }),
  );
const labelBytes = () => idx([IDX_LABELS_MAGIC, N], LABELS);

/** Writes the pair raw (`images`, `labels`) and gzipped (`images.gz`, `labels.gz`). */
async function writeIdx(dir: string): Promise<void> {
  await Deno.writeFile(path.join(dir, "images"), imageBytes());
  await Deno.writeFile(path.join(dir, "labels"), labelBytes());
  await Deno.writeFile(path.join(dir, "images.gz"), await gzip(imageBytes()));
  await Deno.writeFile(path.join(dir, "labels.gz"), await gzip(labelBytes()));
}

Deno.test("loadIdx() reads raw and gzipped IDX alike: rows, columns, labels and pixels", async () => {
  await withTempDir(async (dir) => {
    await writeIdx(dir);
    for (const ext of ["", ".gz"]) {
      const data = await loadIdx({
        images: path.join(dir, `images${ext}`),
        labels: path.join(dir, `labels${ext}`),
      });
      assert.equal(data.size, N);
      assert.deepEqual(data.classNames, ["0", "1", "2", "3"]);
      assert.deepEqual(data.records.map((r) => r.label), LABELS);
      assert.deepEqual(data.records.map((r) => r.id), ["0", "1", "2", "3", "4"]);
      assert.ok(data.records.every((r) => !r.hasMask && !r.hasBoxes));
      for (let i = 0; i < N; i++) {
        const s = await data.load(i);
        assert.equal(s.label, LABELS[i]);
        assert.equal(s.image.width, COLS);
        assert.equal(s.image.height, ROWS);
        assert.equal(s.image.channels, 1);
        // Row r, column c of item i is byte r·COLS + c of its block.
        for (let r = 0; r < ROWS; r++) {
          for (let c = 0; c < COLS; c++) {
            assert.ok(Math.abs(s.image.data[r * COLS + c] - pixel(i, r * COLS + c) / 255) < 1e-7);
          }
        }
      }
    }
  });
});

Deno.test("loadIdx() replicates grey into 3 channels and takes class names", async () => {
  await withTempDir(async (dir) => {
    await writeIdx(dir);
    const data = await loadIdx({
      images: path.join(dir, "images.gz"),
      labels: path.join(dir, "labels"),
      classNames: FASHION_MNIST_CLASSES,
      channels: 3,
      name: "fashion",
    });
    assert.equal(data.name, "fashion");
    assert.equal(data.classNames[data.records[0].label], "Dress");
    const s = await data.load(4);
    assert.equal(s.image.data.length, ROWS * COLS * 3);
    for (let p = 0; p < ROWS * COLS; p++) {
      for (let c = 0; c < 3; c++) assert.equal(s.image.data[p * 3 + c], s.image.data[p * 3]);
      assert.ok(Math.abs(s.image.data[p * 3] - pixel(4, p) / 255) < 1e-7);
    }
  });
});

Deno.test("loadIdx() checks magic numbers and names the file", async () => {
  await withTempDir(async (dir) => {
    await writeIdx(dir);
    const images = path.join(dir, "images"), labels = path.join(dir, "labels");
    await rejectsWith(
      () => loadIdx({ images: labels, labels }),
      /labels \(field "magic"\): not an IDX images file: expected magic number 0x00000803 \(unsigned bytes, 3 dimensions\), got 0x00000801/,
    );
    await rejectsWith(
      () => loadIdx({ images, labels: images }),
      /images \(field "magic"\): not an IDX labels file: expected magic number 0x00000801 .*got 0x00000803/,
    );
    await Deno.writeFile(path.join(dir, "tiny"), new Uint8Array([0, 0]));
    await rejectsWith(
      () => loadIdx({ images, labels: path.join(dir, "tiny") }),
      /tiny \(field "magic"\): truncated header: expected at least 8 bytes, found 2/,
    );
    await rejectsWith(
      () => loadIdx({ images, labels: path.join(dir, "absent") }),
      /absent: file not found/,
    );
  });
});

Deno.test("loadIdx() names a truncated file with the bytes expected and found", async () => {
  await withTempDir(async (dir) => {
    await writeIdx(dir);
    const images = path.join(dir, "images"), labels = path.join(dir, "labels");
    await Deno.writeFile(labels, labelBytes().subarray(0, 11));
    await rejectsWith(
      () => loadIdx({ images, labels }),
      /labels: truncated: expected 13 bytes \(a 8-byte header and 5 labels bytes, shape 5\), found 11/,
    );
    await Deno.writeFile(labels, labelBytes());
    // The images' body is read on the first load, so a short body is found then.
    await Deno.writeFile(images, imageBytes().subarray(0, 16 + 50));
    const data = await loadIdx({ images, labels });
    await rejectsWith(
      () => data.load(0),
      /images: truncated: expected 76 bytes \(a 16-byte header and 60 images bytes, shape 5×3×4\), found 66/,
    );
    // A truncated gzip stream is named too.
    const gz = await gzip(imageBytes());
    await Deno.writeFile(path.join(dir, "cut.gz"), gz.subarray(0, gz.length - 12));
    const cut = await loadIdx({ images: path.join(dir, "cut.gz"), labels });
    await rejectsWith(
      () => cut.load(0),
      /cut\.gz: cannot inflate gzip data \(truncated or corrupt\)/,
    );
  });
});

Deno.test("loadIdx() names a count mismatch between images and labels", async () => {
  await withTempDir(async (dir) => {
    await writeIdx(dir);
    await Deno.writeFile(path.join(dir, "labels4"), idx([IDX_LABELS_MAGIC, 4], LABELS.slice(0, 4)));
    await rejectsWith(
      () => loadIdx({ images: path.join(dir, "images"), labels: path.join(dir, "labels4") }),
      /images \(field "count"\): holds 5 images but ".*labels4" holds 4 labels/,
    );
  });
});

Deno.test("loadIdx() names a label with no class name, or skips it with the reason", async () => {
  await withTempDir(async (dir) => {
    await writeIdx(dir);
    const files = { images: path.join(dir, "images"), labels: path.join(dir, "labels") };
    await rejectsWith(
      () => loadIdx({ ...files, classNames: ["a", "b", "c"] }),
      /labels \(field "label\[0\]"\): unknown class: label 3 has no class name \(3 given\)/,
    );
    const data = await loadIdx({ ...files, classNames: ["a", "b", "c"], onError: "skip" });
    assert.equal(data.size, 4);
    assert.deepEqual(data.records.map((r) => r.id), ["1", "2", "3", "4"]);
    assert.deepEqual(data.skipped.map((s) => [s.id, s.reason]), [
      ["0", 'field "label[0]": unknown class: label 3 has no class name (3 given)'],
    ]);
    const s = await data.load(0);
    assert.equal(s.id, "1");
    assert.ok(Math.abs(s.image.data[0] - pixel(1, 0) / 255) < 1e-7);
  });
});

const FASHION = "/usr/share/datasets/fashion-mnist";
const fashionPresent = await Deno.stat(`${FASHION}/t10k-images-idx3-ubyte.gz`).then(
  () => true,
  () => false,
);
if (!fashionPresent) {
  console.log(
    `Skipping the real Fashion-MNIST test: ${FASHION} is absent (apt-get install dataset-fashion-mnist)`,
  );
}

Deno.test({
  name: "loadIdx() reads the real Fashion-MNIST from Debian's dataset-fashion-mnist",
  ignore: !fashionPresent,
  fn: async () => {
    const test = await loadIdx({
      images: `${FASHION}/t10k-images-idx3-ubyte.gz`,
      labels: `${FASHION}/t10k-labels-idx1-ubyte.gz`,
      classNames: FASHION_MNIST_CLASSES,
    });
    assert.equal(test.size, 10000);
    const counts = new Array(10).fill(0);
    for (const r of test.records) counts[r.label]++;
    assert.deepEqual(counts, new Array(10).fill(1000));
    // The first labels and the first image's byte sum, as read by Python's gzip module.
    assert.deepEqual(test.records.slice(0, 10).map((r) => r.label), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    const first = await test.load(0);
    assert.equal(first.image.width, 28);
    assert.equal(first.image.height, 28);
    assert.equal(test.classNames[first.label], "Ankle boot");
    const sum = first.image.data.reduce((a, v) => a + Math.round(v * 255), 0);
    assert.equal(sum, 33456);
    const train = await loadIdx({
      images: `${FASHION}/train-images-idx3-ubyte.gz`,
      labels: `${FASHION}/train-labels-idx1-ubyte.gz`,
    });
    assert.equal(train.size, 60000);
    assert.deepEqual(train.records.slice(0, 10).map((r) => r.label), [
      9,
      0,
      0,
      3,
      0,
      2,
      7,
      2,
      5,
      5,
    ]);
  },
});
