import assert from "node:assert/strict";
import { maskToBox } from "../../lib/data/annotations.ts";
import { injectShortcut, shortcutShades } from "../../lib/data/shortcut.ts";
import type { Dataset, Sample } from "../../lib/data/types.ts";
import { Random } from "../../lib/util/random.ts";

const SIZE = 12;

/**
 * 200 samples of 4 classes: 12×12 images of random pixels, an object mask
 * in the middle, and (for odd indices) an existing ignore mask on row 5.
 */
function baseDataset(channels: 1 | 3 = 3): Dataset {
  const labels = Array.from({ length: 200 }, (_, i) => (i * 7) % 4);
  return {
    name: "base",
    classNames: ["a", "b", "c", "d"],
    size: labels.length,
    skipped: [],
    records: labels.map((label, i) => ({
      id: `s${i}`,
      label,
      hasMask: true,
      hasBoxes: true,
      source: "",
    })),
    load(i) {
      const rng = new Random(i);
      const mask = new Float32Array(SIZE * SIZE);
      for (let r = 4; r < 8; r++) mask.fill(1, r * SIZE + 4, r * SIZE + 8);
      let ignoreMask: Float32Array | undefined;
      if (i % 2 === 1) {
        ignoreMask = new Float32Array(SIZE * SIZE);
        ignoreMask.fill(0.5, 5 * SIZE, 6 * SIZE);
      }
      const sample: Sample = {
        id: `s${i}`,
        label: labels[i],
        image: {
          width: SIZE,
          height: SIZE,
          channels,
          data: rng.uniformArray(SIZE * SIZE * channels, 0.2, 0.8),
        },
        mask,
        boxes: [[4, 4, 8, 8]],
        ignoreMask,
      };
      return Promise.resolve(sample);
    },
  };
}

/** The patch of a shortcut sample: its box (from the ignore mask's full pixels) and its shades. */
function patchOf(sample: Sample): { box: [number, number, number, number]; shades: Set<number> } {
  const full = sample.ignoreMask!.map((v) => (v === 1 ? 1 : 0));
  const box = maskToBox(full, { width: SIZE, height: SIZE })!;
  const shades = new Set<number>();
  const { channels, data } = sample.image;
  for (let p = 0; p < SIZE * SIZE; p++) {
    if (full[p]) { for (let c = 0; c < channels; c++) shades.add(data[p * channels + c]); }
  }
  return { box, shades };
}

Deno.test("injectShortcut() in train mode paints the shade of the label in a corner patch", async () => {
  const base = baseDataset();
  const decoy = injectShortcut(base, { split: "train", seed: 3 });
  const shades = shortcutShades(4).map(Math.fround);
  const corners = new Set<string>();
  for (let i = 0; i < base.size; i++) {
    const sample = await decoy.load(i);
    const { box, shades: seen } = patchOf(sample);
    assert.deepEqual([...seen], [shades[sample.label]], `sample ${i}: one shade, its label's`);
    assert.equal(box[2] - box[0], 4);
    assert.equal(box[3] - box[1], 4);
    assert.ok([0, SIZE - 4].includes(box[0]) && [0, SIZE - 4].includes(box[1]), "in a corner");
    corners.add(`${box[0]},${box[1]}`);
  }
  assert.equal(corners.size, 4, "every corner is used");
  assert.equal(new Set(shades).size, 4, "the four classes have four different shades");
});

Deno.test("injectShortcut() in test mode draws shades independent of the label", async () => {
  const base = baseDataset();
  const decoy = injectShortcut(base, { split: "test", seed: 3 });
  const shades = shortcutShades(4).map(Math.fround);
  const table = Array.from({ length: 4 }, () => new Array<number>(4).fill(0));
  let matches = 0;
  for (let i = 0; i < base.size; i++) {
    const sample = await decoy.load(i);
    const [shade, ...more] = patchOf(sample).shades;
    assert.equal(more.length, 0);
    const s = shades.indexOf(shade);
    assert.ok(s >= 0, `sample ${i}: shade ${shade} is one of the class shades`);
    table[sample.label][s]++;
    if (s === sample.label) matches++;
  }
  // Every label meets every shade, the label's own shade about a quarter of the time,
  // and a chi-square test of independence (9 degrees of freedom) stays below its
  // 0.1% critical value, 27.88.
  assert.ok(table.every((row) => row.every((n) => n > 0)), JSON.stringify(table));
  assert.ok(matches > 25 && matches < 80, `${matches} of 200 shades match their label`);
  const rows = table.map((row) => row.reduce((a, b) => a + b));
  const cols = table[0].map((_, s) => table.reduce((a, row) => a + row[s], 0));
  let chi2 = 0;
  table.forEach((row, y) =>
    row.forEach((n, s) => {
      const expected = (rows[y] * cols[s]) / base.size;
      chi2 += (n - expected) ** 2 / expected;
    })
  );
  assert.ok(chi2 < 27.88, `chi-square ${chi2.toFixed(1)}`);
});

Deno.test("injectShortcut() with training indices cues those samples and randomises the rest", async () => {
  const base = baseDataset();
  const train = Array.from({ length: 100 }, (_, i) => 2 * i); // even indices
  const decoy = injectShortcut(base, { split: train, seed: 1 });
  const shades = shortcutShades(4).map(Math.fround);
  let oddMismatches = 0;
  for (let i = 0; i < base.size; i++) {
    const sample = await decoy.load(i);
    const [shade] = patchOf(sample).shades;
    if (i % 2 === 0) assert.equal(shade, shades[sample.label], `training sample ${i}`);
    else if (shade !== shades[sample.label]) oddMismatches++;
  }
  assert.ok(oddMismatches > 50, `${oddMismatches} of 100 held-out shades differ from the label's`);
  // A Set works as well as an array.
  const again = injectShortcut(base, { split: new Set(train), seed: 1 });
  assert.deepEqual((await again.load(7)).image.data, (await decoy.load(7)).image.data);
});

Deno.test("injectShortcut() records exactly the patch in the ignore mask and changes nothing else", async () => {
  const base = baseDataset();
  const decoy = injectShortcut(base, { split: "train", seed: 5, patch: 3 });
  for (const i of [0, 1, 2, 3, 10, 11]) {
    const before = await base.load(i);
    const after = await decoy.load(i);
    const { box } = patchOf(after);
    for (let p = 0; p < SIZE * SIZE; p++) {
      const r = Math.floor(p / SIZE), c = p % SIZE;
      const inPatch = c >= box[0] && c < box[2] && r >= box[1] && r < box[3];
      const old = before.ignoreMask?.[p] ?? 0;
      assert.equal(after.ignoreMask![p], inPatch ? 1 : old, `sample ${i}, pixel ${p}`);
      if (!inPatch) {
        for (let ch = 0; ch < 3; ch++) {
          assert.equal(after.image.data[p * 3 + ch], before.image.data[p * 3 + ch]);
        }
      }
    }
    assert.equal(box[2] - box[0], 3);
    assert.equal(after.ignoreMask!.filter((v) => v === 1).length, 9);
    assert.deepEqual(after.mask, before.mask, "the object mask is unchanged");
    assert.deepEqual(after.boxes, before.boxes);
    assert.equal(after.label, before.label);
  }
  assert.equal(decoy.name, "base+shortcut");
  assert.deepEqual(decoy.records, base.records);
});

Deno.test("injectShortcut() copies the image rather than painting the wrapped sample", async () => {
  const sample = await baseDataset().load(0);
  const original = Float32Array.from(sample.image.data);
  const cached: Dataset = { ...baseDataset(), load: () => Promise.resolve(sample) };
  const decoy = injectShortcut(cached, { split: "train" });
  const painted = await decoy.load(0);
  assert.deepEqual(sample.image.data, original);
  assert.notDeepEqual(painted.image.data, original);
  assert.deepEqual(
    (await decoy.load(0)).image.data,
    painted.image.data,
    "the same patch each time",
  );
});

Deno.test("injectShortcut() works on grey images and with custom shades", async () => {
  const decoy = injectShortcut(baseDataset(1), { split: "train", shades: [0, 0.25, 0.5, 0.75] });
  const sample = await decoy.load(3);
  assert.deepEqual([...patchOf(sample).shades], [0.25 * sample.label]);
});

Deno.test("injectShortcut() names the bad option", async () => {
  const base = baseDataset();
  assert.throws(
    () => injectShortcut(base, { split: "train", patch: 0 }),
    /Option "patch" must be a positive integer, got 0/,
  );
  assert.throws(
    () => injectShortcut(base, { split: "train", shades: [1, 0] }),
    /Option "shades" must hold one shade per class \(4\), got 2/,
  );
  assert.throws(
    () => injectShortcut(base, { split: "train", shades: [1, 0, 2, 0.5] }),
    /Option "shades" must hold values in \[0, 1\]; shades\[2\] is 2/,
  );
  assert.throws(
    () => injectShortcut(base, { split: [0, 200] }),
    /Option "split" must hold sample indices below 200, got 200/,
  );
  assert.throws(
    () => injectShortcut(base, { split: "val" as "train" }),
    /Option "split" must be "train", "test" or a list of training indices, got val/,
  );
  await assert.rejects(
    injectShortcut(base, { split: "test", patch: 13 }).load(4),
    /Option "patch" \(13\) does not fit sample "s4" of 12×12 pixels/,
  );
});
