import assert from "node:assert/strict";
import { cachedDataset } from "../../lib/data/cache.ts";
import { resizeSample } from "../../lib/data/transforms.ts";
import type { Dataset, Sample } from "../../lib/data/types.ts";
import { Random } from "../../lib/util/random.ts";
import { assertClose } from "../_helpers.ts";

/** A generated 40 × 30 dataset of `n` samples that counts its loads. */
function countingDataset(n: number, name = "gen"): Dataset & { loads: number } {
  const ds = {
    name,
    classNames: ["a", "b"],
    size: n,
    skipped: [],
    records: Array.from({ length: n }, (_, i) => ({
      id: `img/${i}.jpg`,
      label: i % 2,
      hasMask: i !== 1,
      hasBoxes: i !== 1,
      source: `gen:${i}`,
    })),
    loads: 0,
    load(i: number): Promise<Sample> {
      ds.loads++;
      const rng = new Random(i);
      const w = 40, h = 30;
      const mask = new Float32Array(w * h);
      for (let y = 5; y < 20; y++) {
        for (let x = 10; x < 30; x++) mask[y * w + x] = 0.25 + 0.75 * rng.next();
      }
      const sample: Sample = {
        id: `img/${i}.jpg`,
        label: i % 2,
        image: { width: w, height: h, channels: 3, data: rng.uniformArray(w * h * 3) },
      };
      if (i !== 1) {
        sample.mask = mask;
        sample.boxes = [[10, 5, 30, 20]];
        sample.ignoreMask = new Float32Array(w * h).fill(0.5);
      }
      return Promise.resolve(sample);
    },
  };
  return ds;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cache_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const quiet = { onRebuild: () => {} };

Deno.test("cachedDataset() decodes once and serves later loads from disk within 1/255", async () => {
  await withDir(async (dir) => {
    const inner = countingDataset(3);
    const cached = cachedDataset(inner, { dir, size: [16, 24] });
    assert.equal(cached.size, 3);
    assert.deepEqual(cached.classNames, ["a", "b"]);
    const first = await Promise.all([0, 1, 2].map((i) => cached.load(i)));
    assert.equal(inner.loads, 3);
    const second = await Promise.all([0, 1, 2].map((i) => cached.load(i)));
    assert.equal(inner.loads, 3, "the second load does not call the inner dataset");
    assert.deepEqual(cached.stats, { hits: 3, misses: 3, rebuilt: 0 });
    // A fresh wrapper over the same folder (a new process, a new epoch) also hits.
    const again = cachedDataset(countingDataset(3), { dir, size: [16, 24] });
    const third = await again.load(2);
    assert.equal(again.stats.hits, 1);
    for (let i = 0; i < 3; i++) {
      const expected = resizeSample(await countingDataset(3).load(i), { size: [16, 24] });
      for (const got of [first[i], second[i]]) {
        assert.equal(got.id, `img/${i}.jpg`);
        assert.equal(got.label, i % 2);
        assert.equal(got.image.width, 24);
        assert.equal(got.image.height, 16);
        assertClose(got.image.data, expected.image.data, { atol: 1 / 255, label: `image ${i}` });
        assert.deepEqual(got.boxes, expected.boxes);
        if (i === 1) {
          assert.equal(got.mask, undefined, "no mask stays no mask");
          assert.equal(got.ignoreMask, undefined);
        } else {
          assertClose(got.mask!, expected.mask!, { atol: 1 / 255, label: `mask ${i}` });
          assertClose(got.ignoreMask!, expected.ignoreMask!, { atol: 1 / 255, label: "ignore" });
        }
      }
    }
    assertClose(third.image.data, second[2].image.data, { atol: 0, label: "same file" });
    // The image is stored as uint8: the file is far smaller than float32 pixels would be.
    const { size } = await Deno.stat(await cached.cachePath(0));
    assert.ok(size < 16 * 24 * 3 + 2 * 16 * 24 + 1024, `file of ${size} bytes`);
  });
});

Deno.test("cachedDataset() keys files by dataset, id, size and mode", async () => {
  await withDir(async (dir) => {
    const inner = countingDataset(2);
    const paths = await Promise.all([
      cachedDataset(inner, { dir, size: 16 }).cachePath(0),
      cachedDataset(inner, { dir, size: 16 }).cachePath(1),
      cachedDataset(inner, { dir, size: 17 }).cachePath(0),
      cachedDataset(inner, { dir, size: 16, mode: "letterbox" }).cachePath(0),
      cachedDataset(countingDataset(2, "other/set"), { dir, size: 16 }).cachePath(0),
    ]);
    assert.equal(new Set(paths).size, 5, paths.join("\n"));
    assert.ok(paths.every((p) => p.startsWith(dir) && p.endsWith(".sample")));
    assert.ok(paths[4].includes("other_set"), "the dataset name is a safe folder name");
    const letterbox = cachedDataset(inner, { dir, size: 16, mode: "letterbox" });
    await letterbox.load(0);
    const hit = await letterbox.load(0);
    assert.deepEqual(hit.boxes, [[4, 4, 12, 10]], "the letterboxed box, read back");
  });
});

Deno.test("cachedDataset() transparently rebuilds a truncated, corrupt or foreign file", async () => {
  await withDir(async (dir) => {
    const inner = countingDataset(2);
    const reasons: string[] = [];
    const cached = cachedDataset(inner, {
      dir,
      size: 16,
      onRebuild: (path, reason) => reasons.push(`${path}: ${reason}`),
    });
    const good = await cached.load(0);
    const path = await cached.cachePath(0);
    const bytes = await Deno.readFile(path);

    const cases: [string, Uint8Array, RegExp][] = [
      ["truncated payload", bytes.subarray(0, bytes.length - 100), /checksum mismatch/],
      ["truncated prefix", bytes.subarray(0, 10), /truncated: 10 bytes/],
      ["flipped payload byte", flip(bytes, bytes.length - 5), /checksum mismatch/],
      ["not ours", new TextEncoder().encode("hello, this is not a cache file"), /not a sample/],
      ["another sample's file", await fileOf(cachedDataset(inner, { dir, size: 16 }), 1), /holds/],
    ];
    for (const [label, broken, reason] of cases) {
      await Deno.writeFile(path, broken);
      const loadsBefore = inner.loads;
      const rebuilt = await cached.load(0);
      assert.equal(inner.loads, loadsBefore + 1, `${label}: decoded again`);
      assert.match(reasons.at(-1)!, reason, label);
      assert.ok(reasons.at(-1)!.startsWith(path), `${label}: the reason names the file`);
      assertClose(rebuilt.image.data, good.image.data, { atol: 1 / 255, label });
      assert.deepEqual(await Deno.readFile(path), bytes, `${label}: the file is rewritten whole`);
    }
    assert.equal(cached.stats.rebuilt, cases.length);
  });
});

Deno.test("cachedDataset() stores float32 masks exactly when asked", async () => {
  await withDir(async (dir) => {
    const inner = countingDataset(1);
    const cached = cachedDataset(inner, { dir, size: 16, maskPrecision: "float32", ...quiet });
    const fresh = await cached.load(0);
    const hit = await cached.load(0);
    assert.equal(cached.stats.hits, 1);
    assert.deepEqual(hit.mask, fresh.mask);
    assert.ok(hit.mask!.some((v) => Math.abs(v * 255 - Math.round(v * 255)) > 1e-3), "soft");
  });
});

Deno.test("cachedDataset() names the bad option or index", async () => {
  const inner = countingDataset(2);
  assert.throws(() => cachedDataset(inner, { dir: "/tmp", size: 0 }), /Option "size".*got 0/);
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => cachedDataset(inner, { dir: "/tmp", size: 8, mode: "crop" as any }),
    /Option "mode" must be "squash" or "letterbox", got "crop"/,
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => cachedDataset(inner, { dir: "/tmp", size: 8, maskPrecision: "f16" as any }),
    /Option "maskPrecision" must be "uint8" or "float32", got "f16"/,
  );
  assert.throws(() => cachedDataset(inner, { dir: "", size: 8 }), /Option "dir" must be a folder/);
  await assert.rejects(
    cachedDataset(inner, { dir: "/tmp", size: 8 }).load(2),
    /Cannot load sample 2 of "gen": expected an index in \[0, 2\)/,
  );
});

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at] ^= 0xff;
  return out;
}

async function fileOf(
  ds: { load(i: number): Promise<Sample>; cachePath(i: number): Promise<string> },
  i: number,
): Promise<Uint8Array> {
  await ds.load(i);
  return await Deno.readFile(await ds.cachePath(i));
}
