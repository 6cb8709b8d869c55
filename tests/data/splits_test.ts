import assert from "node:assert/strict";
import {
  fewAnnotated,
  kFold,
  stratifiedSplit,
  stripAnnotations,
  subsetDataset,
} from "../../lib/data/splits.ts";
import type { Dataset, SampleRecord } from "../../lib/data/types.ts";
import { Random } from "../../lib/util/random.ts";

/** Labels with classes of 37, 20, 7, 1 and 50 samples, interleaved at random. */
function unevenLabels(seed = 3): number[] {
  const sizes = [37, 20, 7, 1, 50];
  const labels = sizes.flatMap((n, k) => new Array<number>(n).fill(k));
  return new Random(seed).shuffle(labels);
}

function countOf(labels: readonly number[], indices: readonly number[], k: number): number {
  return indices.filter((i) => labels[i] === k).length;
}

function assertPartition(parts: number[][], n: number): void {
  const all = parts.flat().sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: n }, (_, i) => i), "every index once, in one part");
  for (const part of parts) {
    assert.deepEqual(part, [...part].sort((a, b) => a - b), "each part is ascending");
  }
}

Deno.test("stratifiedSplit() puts each class in every part within one sample of its fraction", () => {
  const labels = unevenLabels();
  const fractions = { train: 0.7, val: 0.15, test: 0.15 };
  const split = stratifiedSplit(labels, { ...fractions, seed: 11 });
  assertPartition([split.train, split.val, split.test], labels.length);
  for (let k = 0; k < 5; k++) {
    const n = countOf(labels, labels.map((_, i) => i), k);
    for (const part of ["train", "val", "test"] as const) {
      const got = countOf(labels, split[part], k);
      assert.ok(
        Math.abs(got - fractions[part] * n) <= 1,
        `class ${k} (${n} samples): ${part} holds ${got}, expected ${fractions[part] * n} ± 1`,
      );
    }
  }
  // 50 × 0.7 = 35 exactly.
  assert.equal(countOf(labels, split.train, 4), 35);
});

Deno.test("stratifiedSplit() is reproduced from its seed and changes with it", () => {
  const labels = unevenLabels();
  assert.deepEqual(stratifiedSplit(labels, { seed: 4 }), stratifiedSplit(labels, { seed: 4 }));
  assert.notDeepEqual(
    stratifiedSplit(labels, { seed: 4 }).test,
    stratifiedSplit(labels, { seed: 5 }).test,
  );
});

Deno.test("stratifiedSplit() defaults to 70/15/15 and shares what is left among omitted fractions", () => {
  const labels = new Array<number>(100).fill(0);
  const sizes = (s: { train: number[]; val: number[]; test: number[] }) => [
    s.train.length,
    s.val.length,
    s.test.length,
  ];
  assert.deepEqual(sizes(stratifiedSplit(labels)), [70, 15, 15]);
  assert.deepEqual(sizes(stratifiedSplit(labels, { train: 0.8 })), [80, 10, 10]);
  assert.deepEqual(sizes(stratifiedSplit(labels, { train: 0.8, test: 0.2 })), [80, 0, 20]);
  assert.deepEqual(sizes(stratifiedSplit(labels, { train: 1, val: 0, test: 0 })), [100, 0, 0]);
});

Deno.test("stratifiedSplit() with groups never splits a group and keeps rough proportions", () => {
  const rng = new Random(8);
  const labels: number[] = [];
  const groups: string[] = [];
  // 120 groups of 1 to 4 samples; a group shares its label, as duplicates do.
  for (let g = 0; g < 120; g++) {
    const label = rng.int(3);
    for (let m = 1 + rng.int(4); m > 0; m--) {
      labels.push(label);
      groups.push(`g${g}`);
    }
  }
  const split = stratifiedSplit(labels, { seed: 2, groups });
  assertPartition([split.train, split.val, split.test], labels.length);
  const partOf = new Map<string, string>();
  for (const part of ["train", "val", "test"] as const) {
    for (const i of split[part]) {
      const seen = partOf.get(groups[i]);
      assert.ok(
        seen === undefined || seen === part,
        `group ${groups[i]} is in ${seen} and ${part}`,
      );
      partOf.set(groups[i], part);
    }
  }
  const n = labels.length;
  assert.ok(
    Math.abs(split.train.length / n - 0.7) < 0.03,
    `train holds ${split.train.length} of ${n}`,
  );
  assert.ok(
    Math.abs(split.test.length / n - 0.15) < 0.03,
    `test holds ${split.test.length} of ${n}`,
  );
});

Deno.test("stratifiedSplit() names the bad option or label", () => {
  const labels = [0, 1, 0, 1];
  assert.throws(
    () => stratifiedSplit(labels, { train: 0.7, val: 0.2, test: 0.2 }),
    /Options "train" \+ "val" \+ "test" must sum to 1, got 1\.1/,
  );
  assert.throws(
    () => stratifiedSplit(labels, { train: 0.9, val: 0.3 }),
    /Options "train" \+ "val" must sum to at most 1, got 1\.2/,
  );
  assert.throws(
    () => stratifiedSplit(labels, { val: -0.1 }),
    /Option "val" must be a fraction in \[0, 1\], got -0\.1/,
  );
  assert.throws(() => stratifiedSplit(labels, { test: NaN }), /Option "test".*got NaN/);
  assert.throws(
    () => stratifiedSplit([0, 1, -1], {}),
    /labels\[2\] must be a non-negative integer, got -1/,
  );
  assert.throws(() => stratifiedSplit([0, 1.5], {}), /labels\[1\].*got 1\.5/);
  assert.throws(
    () => stratifiedSplit(labels, { groups: [1, 2, 3] }),
    /Option "groups" must hold one id per label \(4\), got 3/,
  );
});

Deno.test("kFold() puts every index in exactly one test fold, stratified within one per class", () => {
  const labels = unevenLabels();
  const k = 4;
  const folds = kFold(labels, { k, seed: 3 });
  assert.equal(folds.length, k);
  assertPartition(folds.map((f) => f.test), labels.length);
  for (const fold of folds) {
    assertPartition([fold.train, fold.test], labels.length);
    for (let c = 0; c < 5; c++) {
      const n = countOf(labels, labels.map((_, i) => i), c);
      const got = countOf(labels, fold.test, c);
      assert.ok(
        Math.abs(got - n / k) <= 1,
        `class ${c}: a fold holds ${got}, expected ${n / k} ± 1`,
      );
    }
    assert.ok(Math.abs(fold.test.length - labels.length / k) <= 1, `fold of ${fold.test.length}`);
  }
  assert.deepEqual(kFold(labels, { k, seed: 3 }), folds);
});

Deno.test("kFold() fills every fold even when each class has fewer samples than folds", () => {
  const folds = kFold([0, 1, 2, 3, 4, 5], { k: 6 });
  assert.deepEqual(folds.map((f) => f.test.length), [1, 1, 1, 1, 1, 1]);
  const plain = kFold(unevenLabels(), { k: 7, stratified: false, seed: 1 });
  for (const fold of plain) assert.ok(Math.abs(fold.test.length - 115 / 7) <= 1);
});

Deno.test("kFold() with groups keeps each group in one fold", () => {
  const labels = Array.from({ length: 60 }, (_, i) => i % 3);
  const groups = labels.map((_, i) => Math.floor(i / 4)); // 15 groups of 4
  const folds = kFold(labels, { k: 5, seed: 9, groups });
  assertPartition(folds.map((f) => f.test), 60);
  for (const fold of folds) {
    const inFold = new Set(fold.test.map((i) => groups[i]));
    for (const i of fold.train) assert.ok(!inFold.has(groups[i]), `group ${groups[i]} straddles`);
    assert.equal(fold.test.length, 12, "15 equal groups over 5 folds: 3 groups each");
  }
});

Deno.test("kFold() names option k when it is below 2 or above the number of samples or groups", () => {
  const labels = [0, 1, 0, 1, 0];
  assert.throws(
    () => kFold(labels, { k: 1 }),
    /Option "k" must be an integer from 2 to the number of samples \(5\), got 1/,
  );
  assert.throws(() => kFold(labels, { k: 6 }), /Option "k".*got 6/);
  assert.throws(() => kFold(labels, { k: 2.5 }), /Option "k".*got 2\.5/);
  assert.throws(
    () => kFold(labels, { k: 3, groups: ["a", "a", "b", "b", "b"] }),
    /Option "k" must be an integer from 2 to the number of groups \(2\), got 3/,
  );
});

function records(labels: number[], annotated: (i: number) => boolean): SampleRecord[] {
  return labels.map((label, i) => ({
    id: `s${i}`,
    label,
    hasMask: annotated(i),
    hasBoxes: false,
    source: `${i}.png`,
  }));
}

Deno.test("fewAnnotated() keeps N annotated samples per class among the candidates, nested in N", () => {
  const labels = Array.from({ length: 90 }, (_, i) => i % 3);
  const recs = records(labels, (i) => i % 5 !== 0); // every fifth sample has no annotation
  const candidates = Array.from({ length: 60 }, (_, i) => i); // the rest are test samples
  const keep4 = fewAnnotated(recs, candidates, { perClass: 4, seed: 1 });
  for (let k = 0; k < 3; k++) {
    assert.equal([...keep4].filter((i) => labels[i] === k).length, 4);
  }
  for (const i of keep4) {
    assert.ok(i < 60, "only candidates are chosen");
    assert.ok(recs[i].hasMask, "only annotated samples are chosen");
  }
  const keep2 = fewAnnotated(recs, candidates, { perClass: 2, seed: 1 });
  assert.ok([...keep2].every((i) => keep4.has(i)), "the choice for 2 is inside the choice for 4");
  assert.deepEqual(fewAnnotated(recs, candidates, { perClass: 4, seed: 1 }), keep4);
  assert.notDeepEqual(fewAnnotated(recs, candidates, { perClass: 4, seed: 2 }), keep4);
  // 60 candidates hold 16 annotated samples per class: asking for more keeps them all.
  assert.equal(fewAnnotated(recs, candidates, { perClass: 100 }).size, 48);
  assert.equal(fewAnnotated(recs, candidates, { perClass: 0 }).size, 0);
});

Deno.test("fewAnnotated() names a bad perClass or index", () => {
  const recs = records([0, 1], () => true);
  assert.throws(
    () => fewAnnotated(recs, [0, 1], { perClass: -1 }),
    /Option "perClass" must be a non-negative integer, got -1/,
  );
  assert.throws(
    () => fewAnnotated(recs, [0, 2], { perClass: 1 }),
    /indices\[1\] must be an integer index below the dataset size 2, got 2/,
  );
});

function tinyDataset(labels: number[]): Dataset {
  const image = { width: 2, height: 1, channels: 1 as const, data: new Float32Array(2) };
  return {
    name: "tiny",
    classNames: ["a", "b"],
    size: labels.length,
    skipped: [{ file: "x.png", reason: "missing" }],
    officialSplit: { train: [0], test: [1] },
    records: labels.map((label, i) => ({
      id: `s${i}`,
      label,
      hasMask: true,
      hasBoxes: true,
      source: `${i}.png`,
    })),
    load: (i) =>
      Promise.resolve({
        id: `s${i}`,
        image,
        label: labels[i],
        mask: new Float32Array([1, 0]),
        boxes: [[0, 0, 1, 1]],
        ignoreMask: new Float32Array([0, 1]),
      }),
  };
}

Deno.test("stripAnnotations() removes mask and boxes from samples outside keep, in records and loads", async () => {
  const few = stripAnnotations(tinyDataset([0, 1, 0, 1]), new Set([2]));
  assert.equal(few.name, "tiny+stripped");
  assert.deepEqual(few.records.map((r) => [r.hasMask, r.hasBoxes]), [
    [false, false],
    [false, false],
    [true, true],
    [false, false],
  ]);
  const stripped = await few.load(1);
  assert.equal(stripped.mask, undefined);
  assert.equal(stripped.boxes, undefined);
  assert.deepEqual(
    stripped.ignoreMask,
    new Float32Array([0, 1]),
    "the ignore mask is not an annotation",
  );
  assert.equal(stripped.label, 1);
  const kept = await few.load(2);
  assert.deepEqual(kept.mask, new Float32Array([1, 0]));
  assert.deepEqual(kept.boxes, [[0, 0, 1, 1]]);
  assert.deepEqual(few.officialSplit, { train: [0], test: [1] });
});

Deno.test("subsetDataset() views the chosen samples in order and drops the official split", async () => {
  const base = tinyDataset([0, 1, 0, 1, 1]);
  const view = subsetDataset(base, [4, 0, 2]);
  assert.equal(view.size, 3);
  assert.deepEqual(view.records.map((r) => r.id), ["s4", "s0", "s2"]);
  assert.deepEqual(view.classNames, ["a", "b"]);
  assert.equal(view.officialSplit, undefined);
  assert.equal((await view.load(0)).id, "s4");
  assert.equal((await view.load(2)).label, 0);
  await assert.rejects(view.load(3), /Cannot load sample 3 of a 3-sample view of "tiny"/);
  assert.throws(
    () => subsetDataset(base, [0, 5]),
    /indices\[1\] must be an integer index below the dataset size 5, got 5/,
  );
  assert.throws(() => subsetDataset(base, [1, 2, 1]), /indices\[2\] repeats sample 1/);
});

Deno.test("stratifiedSplit() and kFold() stay within one sample per class over 300 random cases", () => {
  const rng = new Random(21);
  for (let t = 0; t < 300; t++) {
    const numClasses = 1 + rng.int(6);
    const labels: number[] = [];
    for (let c = 0; c < numClasses; c++) for (let m = rng.int(30); m > 0; m--) labels.push(c);
    if (labels.length < 2) continue;
    const train = rng.next(), val = rng.next() * (1 - train);
    const fractions = { train, val, test: 1 - train - val };
    const split = stratifiedSplit(labels, { ...fractions, seed: t });
    const k = 2 + rng.int(Math.min(7, labels.length - 1));
    const folds = kFold(labels, { k, seed: t });
    for (let c = 0; c < numClasses; c++) {
      const n = labels.filter((l) => l === c).length;
      for (const part of ["train", "val", "test"] as const) {
        const got = countOf(labels, split[part], c);
        assert.ok(Math.abs(got - fractions[part] * n) <= 1, `case ${t}, class ${c}, ${part}`);
      }
      for (const fold of folds) {
        assert.ok(Math.abs(countOf(labels, fold.test, c) - n / k) <= 1, `case ${t}, k ${k}`);
        assert.ok(fold.test.length > 0, `case ${t}: an empty fold`);
      }
    }
  }
});
