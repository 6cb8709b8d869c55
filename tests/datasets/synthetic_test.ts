import assert from "node:assert/strict";
import { SYNTHETIC_CLASSES, syntheticDataset, syntheticTensors } from "../../datasets/synthetic.ts";
import { maskToBox } from "../../lib/data/annotations.ts";
import { tf } from "../../lib/deps.ts";

Deno.test("syntheticDataset() draws the same pixels from the same seed and others from another", async () => {
  const a = syntheticDataset({ size: 32, count: 40, seed: 7 });
  const b = syntheticDataset({ size: 32, count: 40, seed: 7 });
  const c = syntheticDataset({ size: 32, count: 40, seed: 8 });
  for (const i of [0, 13, 39]) {
    const sa = await a.load(i), sb = await b.load(i), sc = await c.load(i);
    assert.deepEqual(sb.image.data, sa.image.data, `sample ${i} repeats`);
    assert.deepEqual(sb.mask, sa.mask);
    assert.notDeepEqual(sc.image.data, sa.image.data, `sample ${i} changes with the seed`);
  }
  assert.notDeepEqual((await a.load(1)).image.data, (await a.load(2)).image.data);
  assert.deepEqual(a.records, b.records);
  assert.deepEqual(a.officialSplit, b.officialSplit);
});

Deno.test("syntheticDataset() masks are exactly the pixels painted in the object's colour", () => {
  const dataset = syntheticDataset({ size: 40, count: 60, seed: 2, noise: 0 });
  for (let i = 0; i < dataset.size; i++) {
    const { image, mask } = dataset.sample(i);
    const first = mask!.indexOf(1);
    assert.ok(first >= 0, `sample ${i} has an object`);
    const colour = image.data.slice(first * 3, first * 3 + 3);
    for (let p = 0; p < mask!.length; p++) {
      const px = image.data.subarray(p * 3, p * 3 + 3);
      const same = px[0] === colour[0] && px[1] === colour[1] && px[2] === colour[2];
      assert.equal(mask![p] === 1, same, `sample ${i}, pixel ${p}: mask ${mask![p]}, same ${same}`);
      assert.ok(mask![p] === 0 || mask![p] === 1);
    }
  }
});

Deno.test("syntheticDataset() gives each sample one box, the tight box of its mask", () => {
  for (const size of [16, 64]) {
    const dataset = syntheticDataset({ size, count: 80, seed: 4, numClasses: 6 });
    for (let i = 0; i < dataset.size; i++) {
      const sample = dataset.sample(i);
      assert.equal(sample.boxes!.length, 1);
      const box = maskToBox(sample.mask!, { width: size, height: size });
      assert.notEqual(box, null, `size ${size}, sample ${i}: the object has pixels`);
      assert.deepEqual(sample.boxes![0], box);
    }
  }
});

Deno.test("syntheticDataset() draws the class's shape: disks fill π/4 of their box, rings leave their centre empty", () => {
  const size = 64;
  const dataset = syntheticDataset({ size, count: 120, numClasses: 4, seed: 6, noise: 0 });
  const fill = new Map<string, number[]>();
  for (let i = 0; i < dataset.size; i++) {
    const { mask, boxes, label } = dataset.sample(i);
    const [x1, y1, x2, y2] = boxes![0];
    const area = mask!.reduce((a, b) => a + b, 0);
    const name = dataset.classNames[label];
    fill.set(name, [...(fill.get(name) ?? []), area / ((x2 - x1) * (y2 - y1))]);
    const centre = mask![Math.floor((y1 + y2) / 2) * size + Math.floor((x1 + x2) / 2)];
    if (name === "ring") assert.equal(centre, 0, `ring ${i} has a hole`);
    if (name === "disk") {
      assert.equal(centre, 1);
      assert.ok(Math.abs(x2 - x1 - (y2 - y1)) <= 1, `disk ${i} has a square box`);
    }
  }
  const mean = (name: string) => fill.get(name)!.reduce((a, b) => a + b) / fill.get(name)!.length;
  assert.ok(Math.abs(mean("disk") - Math.PI / 4) < 0.05, `disk fill ${mean("disk")}`);
  assert.ok(mean("triangle") < 0.6, `triangle fill ${mean("triangle")}`);
  assert.ok(mean("ring") < mean("disk") - 0.15, `ring fill ${mean("ring")}`);
});

Deno.test("syntheticDataset() colour says nothing of the class: a nearest-colour classifier is at chance", () => {
  const dataset = syntheticDataset({ size: 32, count: 400, numClasses: 4, seed: 1 });
  const features = Array.from({ length: dataset.size }, (_, i) => {
    const { image, mask } = dataset.sample(i);
    const sum = [0, 0, 0, 0, 0, 0];
    for (let p = 0; p < mask!.length; p++) {
      for (let c = 0; c < 3; c++) sum[(mask![p] ? 0 : 3) + c] += image.data[p * 3 + c];
    }
    const inside = mask!.reduce((a, b) => a + b, 0), outside = mask!.length - inside;
    return sum.map((v, k) => v / (k < 3 ? inside : outside)); // object and background colour
  });
  const labels = dataset.records.map((r) => r.label);
  const centroids = Array.from({ length: 4 }, () => new Array<number>(6).fill(0));
  const counts = new Array<number>(4).fill(0);
  for (let i = 0; i < 200; i++) {
    counts[labels[i]]++;
    features[i].forEach((v, k) => (centroids[labels[i]][k] += v));
  }
  centroids.forEach((c, y) => c.forEach((_, k) => (c[k] /= counts[y])));
  let correct = 0;
  for (let i = 200; i < 400; i++) {
    const d = centroids.map((c) => c.reduce((a, v, k) => a + (v - features[i][k]) ** 2, 0));
    if (d.indexOf(Math.min(...d)) === labels[i]) correct++;
  }
  assert.ok(correct / 200 < 0.4, `colour alone classifies ${correct} of 200 (chance is 50)`);
});

Deno.test("syntheticDataset() balances its classes and its records agree with load()", async () => {
  const dataset = syntheticDataset({ size: 16, count: 30, numClasses: 3, seed: 5 });
  assert.equal(dataset.name, "synthetic");
  assert.deepEqual(dataset.classNames, SYNTHETIC_CLASSES.slice(0, 3));
  assert.equal(dataset.size, 30);
  assert.deepEqual(
    [0, 1, 2].map((k) => dataset.records.filter((r) => r.label === k).length),
    [10, 10, 10],
  );
  assert.equal(new Set(dataset.records.map((r) => r.id)).size, 30, "ids are unique");
  // Ids differ between differently configured sets, so caches keyed by (name, id) keep them apart.
  const other = syntheticDataset({ size: 16, count: 30, numClasses: 3, seed: 6 });
  assert.notEqual(other.records[0].id, dataset.records[0].id);
  assert.equal(
    syntheticDataset({ size: 16, count: 30, numClasses: 3, seed: 5 }).records[0].id,
    dataset.records[0].id,
  );
  for (let i = 0; i < dataset.size; i++) {
    const record = dataset.records[i];
    const sample = await dataset.load(i);
    assert.equal(sample.id, record.id);
    assert.equal(sample.label, record.label);
    assert.equal(record.hasMask && record.hasBoxes, true);
    assert.equal(sample.image.channels, 3);
    assert.ok(sample.image.data.every((v) => v >= 0 && v <= 1), "pixels in [0, 1]");
  }
  const seven = syntheticDataset({ count: 7, numClasses: 3 });
  const sizes = [0, 1, 2].map((k) => seven.records.filter((r) => r.label === k).length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `7 over 3 classes: ${sizes}`);
});

Deno.test("syntheticDataset() official split is a stratified 80/20 partition", () => {
  const dataset = syntheticDataset({ count: 100, numClasses: 4, seed: 3 });
  const { train, test } = dataset.officialSplit!;
  assert.deepEqual(
    [...train, ...test].sort((a, b) => a - b),
    Array.from({ length: 100 }, (_, i) => i),
  );
  for (let k = 0; k < 4; k++) {
    assert.equal(train.filter((i) => dataset.records[i].label === k).length, 20);
  }
  const mostly = syntheticDataset({ count: 100, split: { train: 0.9 } });
  assert.equal(mostly.officialSplit!.test.length, 10);
});

Deno.test("syntheticDataset() load() returns fresh arrays each time", async () => {
  const dataset = syntheticDataset({ size: 16, count: 4 });
  const first = await dataset.load(2);
  first.image.data.fill(0);
  first.mask!.fill(0);
  const again = await dataset.load(2);
  assert.ok(again.image.data.some((v) => v > 0));
  assert.ok(again.mask!.some((v) => v > 0));
});

Deno.test("syntheticTensors() stacks the chosen samples and leaves the disposing to the caller", () => {
  const dataset = syntheticDataset({ size: 16, count: 12, seed: 9 });
  const before = tf.memory().numTensors;
  const batch = syntheticTensors(dataset, [3, 1, 4]);
  assert.deepEqual(batch.images.shape, [3, 16, 16, 3]);
  assert.deepEqual(batch.masks.shape, [3, 16, 16]);
  assert.equal(batch.labels.dtype, "int32");
  assert.deepEqual(
    Array.from(batch.labels.dataSync()),
    [3, 1, 4].map((i) => dataset.records[i].label),
  );
  assert.deepEqual(batch.masks.dataSync().slice(256, 512), dataset.sample(1).mask);
  assert.deepEqual(batch.images.dataSync().slice(0, 768), dataset.sample(3).image.data);
  tf.dispose([batch.images, batch.labels, batch.masks]);
  assert.equal(tf.memory().numTensors, before);
  const all = syntheticTensors(dataset);
  assert.equal(all.images.shape[0], 12);
  tf.dispose([all.images, all.labels, all.masks]);
});

Deno.test("syntheticDataset() names the bad option and the bad index", async () => {
  assert.throws(
    () => syntheticDataset({ numClasses: 7 }),
    /Option "numClasses" must be an integer from 2 to 6, got 7/,
  );
  assert.throws(
    () => syntheticDataset({ size: 8 }),
    /Option "size" must be an integer at least 16, got 8/,
  );
  assert.throws(
    () => syntheticDataset({ count: 3, numClasses: 4 }),
    /Option "count" must be an integer at least 4, got 3/,
  );
  assert.throws(
    () => syntheticDataset({ noise: -1 }),
    /Option "noise" must be in \[0, 1\], got -1/,
  );
  assert.throws(
    () => syntheticDataset({ split: { train: 0 } }),
    /Option "split.train" must be in \(0, 1\], got 0/,
  );
  assert.throws(() => syntheticDataset({ seed: 0.5 }), /Option "seed".*got 0.5/);
  const dataset = syntheticDataset({ count: 8, size: 16 });
  await assert.rejects(dataset.load(8), /Cannot load sample 8 of the 8-sample synthetic set/);
  await assert.rejects(dataset.load(-1), RangeError);
});
