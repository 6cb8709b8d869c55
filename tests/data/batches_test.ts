import assert from "node:assert/strict";
import { batches, type DataBatch } from "../../lib/data/batches.ts";
import { augment } from "../../lib/data/transforms.ts";
import type { Dataset, Sample } from "../../lib/data/types.ts";
import { Random } from "../../lib/util/random.ts";
import { tf } from "../../lib/deps.ts";
import { useEngines } from "../_helpers.ts";

await useEngines();

const W = 6, H = 4;

/**
 * `n` samples of 4 × 6 RGB: sample i's pixels are all i / 100, its label is
 * i % 3, and every third sample (i % 3 === 2) has no mask; the others have a
 * mask of value (i + 1) / 100. Sample 7 has a "must not matter" mask of 0.5.
 */
function generated(n: number, opts: { fail?: number; size?: (i: number) => number } = {}) {
  const started: number[] = [];
  const ds: Dataset = {
    name: "gen",
    classNames: ["a", "b", "c"],
    size: n,
    skipped: [],
    records: Array.from({ length: n }, (_, i) => ({
      id: `s${i}`,
      label: i % 3,
      hasMask: i % 3 !== 2,
      hasBoxes: false,
      source: `gen:${i}`,
    })),
    async load(i: number): Promise<Sample> {
      started.push(i);
      await new Promise((resolve) => setTimeout(resolve, (i * 7) % 3));
      if (i === opts.fail) throw new Error(`cannot decode s${i}`);
      const w = opts.size?.(i) ?? W;
      const sample: Sample = {
        id: `s${i}`,
        label: i % 3,
        image: {
          width: w,
          height: H,
          channels: 3,
          data: new Float32Array(w * H * 3).fill(i / 100),
        },
      };
      if (i % 3 !== 2) sample.mask = new Float32Array(w * H).fill((i + 1) / 100);
      if (i === 7) sample.ignoreMask = new Float32Array(w * H).fill(0.5);
      return sample;
    },
  };
  return { ds, started };
}

function disposeBatch(b: DataBatch): void {
  tf.dispose([b.images, b.labels, b.masks, b.hasMask]);
  if (b.ignoreMasks) b.ignoreMasks.dispose();
}

async function collectIds(it: AsyncGenerator<DataBatch>): Promise<string[][]> {
  const out: string[][] = [];
  for await (const b of it) {
    out.push(b.ids);
    disposeBatch(b);
  }
  return out;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

Deno.test("batches() shuffles reproducibly from the seed and visits every index once", async () => {
  const { ds } = generated(23);
  const a = await collectIds(batches(ds, range(23), { batchSize: 5, shuffle: true, seed: 11 }));
  const b = await collectIds(batches(ds, range(23), { batchSize: 5, shuffle: true, seed: 11 }));
  const c = await collectIds(batches(ds, range(23), { batchSize: 5, shuffle: true, seed: 12 }));
  assert.deepEqual(a, b, "the same seed gives the same order");
  assert.notDeepEqual(a.flat(), c.flat(), "another seed gives another order");
  assert.deepEqual(a.map((ids) => ids.length), [5, 5, 5, 5, 3]);
  assert.deepEqual(a.flat().sort(), range(23).map((i) => `s${i}`).sort(), "each index once");
  assert.notDeepEqual(a.flat(), range(23).map((i) => `s${i}`), "the order is shuffled");
  // The order is the seeded Fisher–Yates shuffle of the indices.
  const expected = new Random(11).shuffle(range(23)).map((i) => `s${i}`);
  assert.deepEqual(a.flat(), expected);
  // One stream passed to two epochs gives each epoch its own order.
  const rng = new Random(5);
  const e1 = await collectIds(batches(ds, range(23), { batchSize: 5, shuffle: true, rng }));
  const e2 = await collectIds(batches(ds, range(23), { batchSize: 5, shuffle: true, rng }));
  assert.notDeepEqual(e1.flat(), e2.flat());
  // Without shuffle, the given order; dropLast leaves out the short tail.
  const plain = await collectIds(batches(ds, [4, 2, 9, 0, 1], { batchSize: 2, dropLast: true }));
  assert.deepEqual(plain, [["s4", "s2"], ["s9", "s0"]]);
  assert.deepEqual(await collectIds(batches(ds, [], { batchSize: 2 })), []);
});

Deno.test("batches() packs pixels, labels, masks and hasMask flags per sample", async () => {
  const { ds } = generated(9);
  const indices = [2, 3, 7, 8];
  for await (const b of batches(ds, indices, { batchSize: 4 })) {
    assert.deepEqual(b.ids, ["s2", "s3", "s7", "s8"]);
    assert.deepEqual(b.images.shape, [4, H, W, 3]);
    assert.deepEqual(b.masks.shape, [4, H, W]);
    assert.equal(b.labels.dtype, "int32");
    assert.deepEqual(Array.from(b.labels.dataSync()), [2, 0, 1, 2]);
    assert.deepEqual(Array.from(b.hasMask.dataSync()), [0, 1, 1, 0]);
    const images = b.images.dataSync(), masks = b.masks.dataSync();
    const per = H * W;
    indices.forEach((i, k) => {
      assert.equal(images[k * per * 3], Math.fround(i / 100), `image of s${i}`);
      assert.equal(images[(k + 1) * per * 3 - 1], Math.fround(i / 100));
      const m = i % 3 === 2 ? 0 : Math.fround((i + 1) / 100);
      assert.equal(masks[k * per], m, `mask of s${i}`);
      assert.equal(masks[(k + 1) * per - 1], m);
    });
    assert.ok(b.ignoreMasks, "present because s7 has one");
    assert.deepEqual(
      Array.from(b.ignoreMasks.dataSync().filter((_, p) => p % per === 0)),
      [0, 0, 0.5, 0],
    );
    disposeBatch(b);
  }
  for await (const b of batches(ds, [0, 1], { batchSize: 2 })) {
    assert.equal(b.ignoreMasks, undefined, "absent when no sample has one");
    disposeBatch(b);
  }
});

Deno.test("batches() leaves no tensors behind, also when the consumer stops early", async () => {
  const { ds } = generated(20);
  const before = tf.memory().numTensors;
  let seen = 0;
  for await (const b of batches(ds, range(20), { batchSize: 3, shuffle: true })) {
    seen += b.ids.length;
    disposeBatch(b);
  }
  assert.equal(seen, 20);
  assert.equal(tf.memory().numTensors, before, "all consumed and disposed");
  for await (const b of batches(ds, range(20), { batchSize: 3, prefetch: 3 })) {
    disposeBatch(b);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 20)); // let the prefetched loads settle
  assert.equal(tf.memory().numTensors, before, "prefetched batches hold no tensors");
});

Deno.test("batches() loads the next `prefetch` batches while the consumer holds one", async () => {
  for (const prefetch of [0, 1, 2]) {
    const { ds, started } = generated(30);
    const it = batches(ds, range(30), { batchSize: 4, prefetch });
    const first = await it.next();
    assert.equal(started.length, 4 * (1 + prefetch), `prefetch ${prefetch}: loads begun`);
    disposeBatch(first.value as DataBatch);
    await it.return();
  }
});

Deno.test("batches() gives each sample's transform a stream independent of prefetch", async () => {
  const { ds } = generated(10);
  const transform = (s: Sample, rng: Random) =>
    augment(s, rng, { jitter: { brightness: 0.5 }, flipProbability: 0.5 });
  const run = async (prefetch: number) => {
    const out: number[] = [];
    for await (
      const b of batches(ds, range(10), {
        batchSize: 4,
        shuffle: true,
        seed: 2,
        transform,
        prefetch,
      })
    ) {
      out.push(...b.images.dataSync());
      disposeBatch(b);
    }
    return out;
  };
  const a = await run(0), b = await run(3);
  assert.deepEqual(a, b);
  const plain: number[] = [];
  for await (const b of batches(ds, range(10), { batchSize: 4, shuffle: true, seed: 2 })) {
    plain.push(...b.images.dataSync());
    disposeBatch(b);
  }
  assert.notDeepEqual(a, plain, "the transform changed the pixels");
});

Deno.test("batches() names the sample whose size differs from its batch", async () => {
  const { ds } = generated(6, { size: (i) => (i === 4 ? 8 : W) });
  const before = tf.memory().numTensors;
  await assert.rejects(
    collectIds(batches(ds, range(6), { batchSize: 3 })),
    /Sample "s4" is 4×8×3, but sample "s3" in its batch is 4×6×3; resize samples to one size first/,
  );
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("batches() raises a sample's load error, and ignores one prefetched but not reached", async () => {
  const { ds } = generated(12, { fail: 9 });
  await assert.rejects(collectIds(batches(ds, range(12), { batchSize: 4 })), /cannot decode s9/);
  // Batch 2 (with s9) is prefetched while batch 0 is held; stopping there raises nothing.
  for await (const b of batches(ds, range(12), { batchSize: 4, prefetch: 2 })) {
    disposeBatch(b);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
});

Deno.test("batches() names the bad option, index or label", async () => {
  const { ds } = generated(4);
  await assert.rejects(
    collectIds(batches(ds, [0], { batchSize: 0 })),
    /Option "batchSize" must be a positive integer, got 0/,
  );
  await assert.rejects(
    collectIds(batches(ds, [0], { prefetch: -1 })),
    /Option "prefetch" must be a non-negative integer, got -1/,
  );
  await assert.rejects(
    collectIds(batches(ds, [0, 1, 4])),
    /Index 4 at position 2 is not a sample of "gen" \(size 4\)/,
  );
  const badLabel: Dataset = {
    ...ds,
    load: async (i) => ({ ...(await ds.load(i)), label: 3 }),
  };
  await assert.rejects(
    collectIds(batches(badLabel, [1])),
    /Sample "s1": label 3 is not a class index in \[0, 3\)/,
  );
  const badMask: Dataset = {
    ...ds,
    load: async (i) => ({ ...(await ds.load(i)), mask: new Float32Array(5) }),
  };
  await assert.rejects(
    collectIds(batches(badMask, [1])),
    /Sample "s1": mask holds 5 values, expected 4×6/,
  );
});
