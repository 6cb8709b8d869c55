import assert from "node:assert/strict";
import { DEBIAN_FASHION_MNIST, fashionCanvas } from "../../datasets/fashion_canvas.ts";
import { getDataset } from "../../datasets/registry.ts";
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from "../../datasets/idx.ts";
import { injectShortcut } from "../../lib/data/shortcut.ts";
import { pathExists } from "../../lib/util/fs.ts";
import { idxFile, rejectsWith, withTempDir } from "./_loader_fixtures.ts";

const idx = idxFile;

/** 30 items (3 per class), each a filled 10×10 square of grey 200 in the middle of 28×28. */
async function writeFixture(dir: string): Promise<void> {
  const n = 30;
  const pixels = new Uint8Array(n * 28 * 28);
  for (let i = 0; i < n; i++) {
    for (let y = 9; y < 19; y++) pixels.fill(200, i * 784 + y * 28 + 9, i * 784 + y * 28 + 19);
  }
  await Deno.writeFile(
    `${dir}/train-images-idx3-ubyte`,
    idx([IDX_IMAGES_MAGIC, n, 28, 28], pixels),
  );
  const labels = Array.from({ length: n }, (_, i) => i % 10);
  await Deno.writeFile(`${dir}/train-labels-idx1-ubyte`, idx([IDX_LABELS_MAGIC, n], labels));
}

Deno.test("fashionCanvas: garments placed inside the margin, masks by threshold, balanced", async () => {
  await withTempDir(async (dir) => {
    await writeFixture(dir);
    const set = await fashionCanvas({ root: dir, count: 20, size: 64, seed: 3 });
    assert.equal(set.size, 20);
    assert.deepEqual(
      Array.from({ length: 10 }, (_, y) => set.records.filter((r) => r.label === y).length),
      new Array(10).fill(2),
    );
    for (let i = 0; i < set.size; i++) {
      const s = await set.load(i);
      assert.equal(s.image.width, 64);
      assert.equal(s.image.channels, 3);
      // The 10-pixel square scaled by 40/28 covers about 14×14 pixels above the threshold.
      const area = s.mask!.reduce((a, b) => a + b, 0);
      assert.ok(area >= 13 * 13 && area <= 16 * 16, `mask area ${area}`);
      const [x0, y0, x1, y1] = s.boxes![0];
      // A filled square: its box is its mask, up to the soft corners of the resized edge.
      const boxArea = (x1 - x0) * (y1 - y0);
      assert.ok(boxArea >= area && boxArea <= area + 4, `box ${boxArea} vs mask ${area}`);
      // Nothing within 8 pixels (size / 8) of a border.
      for (let p = 0; p < 64 * 64; p++) {
        const x = p % 64, y = Math.floor(p / 64);
        if (x < 8 || y < 8 || x >= 56 || y >= 56) {
          assert.equal(s.image.data[3 * p], 0, `pixel (${x}, ${y}) of sample ${i}`);
        }
      }
    }
    // Positions come from the seed.
    const again = await fashionCanvas({ root: dir, count: 20, size: 64, seed: 3 });
    const other = await fashionCanvas({ root: dir, count: 20, size: 64, seed: 4 });
    const boxes = async (d: typeof set) =>
      JSON.stringify(await Promise.all([0, 1, 2, 3].map(async (i) => (await d.load(i)).boxes)));
    assert.equal(await boxes(again), await boxes(set));
    assert.notEqual(await boxes(other), await boxes(set));
    // The decoy patch at size / 8 in a corner never covers the garment.
    const decoy = injectShortcut(set, { split: "train", patch: 8 });
    for (let i = 0; i < set.size; i++) {
      const s = await decoy.load(i);
      const overlap = s.mask!.reduce((a, m, p) => a + m * s.ignoreMask![p], 0);
      assert.equal(overlap, 0);
    }
  });
});

Deno.test("fashionCanvas: bad options and a missing folder fail in one line", async () => {
  await rejectsWith(
    () => fashionCanvas({ root: "/nonexistent-fashion", count: 20 }),
    /dataset-fashion-mnist or pass --root/,
  );
  await assert.rejects(fashionCanvas({ count: 5 }), /"count" must be an integer ≥ 10/);
  await assert.rejects(fashionCanvas({ size: 8 }), /"size" must be an integer ≥ 16/);
  await assert.rejects(fashionCanvas({ scale: 0.95 }), /"scale"/);
});

Deno.test({
  name: "fashion-canvas: opens Debian's Fashion-MNIST through the registry",
  ignore: !(await pathExists(`${DEBIAN_FASHION_MNIST}/train-images-idx3-ubyte.gz`)),
  async fn() {
    const set = await getDataset("fashion-canvas")!.open({
      root: null,
      count: 50,
      classes: 4,
      size: 48,
      seed: 0,
    });
    // --classes 4: the four upper-body garments, hard to tell apart.
    assert.deepEqual(set.classNames, ["T-shirt/top", "Pullover", "Coat", "Shirt"]);
    const labels = set.records.map((r) => r.label);
    const counts = [0, 1, 2, 3].map((y) => labels.filter((l) => l === y).length);
    assert.ok(counts.every((c) => c === 12 || c === 13) && labels.length === 50, `${counts}`);
    const s = await set.load(0);
    const area = s.mask!.reduce((a, b) => a + b, 0) / (48 * 48);
    assert.ok(area > 0.05 && area < 0.5, `mask covers ${area}`);
  },
});
