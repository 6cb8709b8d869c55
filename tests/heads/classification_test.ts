import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { ClassificationHead } from "../../lib/heads/classification.ts";
import { adaptiveAvgPool, Dense } from "../../lib/layers/core.ts";
import { Random } from "../../lib/util/random.ts";
import { assertClose, randn, runOn, useEngines } from "../_helpers.ts";

await useEngines();

/** PyTorch's adaptive average pool written out, one bin at a time: NHWC in, NHWC out. */
function adaptiveByDefinition(
  x: Float32Array,
  [n, h, w, c]: number[],
  gh: number,
  gw: number,
): Float32Array {
  const out = new Float32Array(n * gh * gw * c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < gh; i++) {
      const r0 = Math.floor((i * h) / gh), r1 = Math.ceil(((i + 1) * h) / gh);
      for (let j = 0; j < gw; j++) {
        const c0 = Math.floor((j * w) / gw), c1 = Math.ceil(((j + 1) * w) / gw);
        for (let k = 0; k < c; k++) {
          let sum = 0;
          for (let r = r0; r < r1; r++) {
            for (let q = c0; q < c1; q++) sum += x[((b * h + r) * w + q) * c + k];
          }
          out[((b * gh + i) * gw + j) * c + k] = sum / ((r1 - r0) * (c1 - c0));
        }
      }
    }
  }
  return out;
}

Deno.test("adaptiveAvgPool() averages PyTorch's bins: overlapping, repeated, tiled and identity, on wasm and cpu", async () => {
  const cases: [number[], number, number][] = [
    [[2, 5, 6, 3], 3, 4],
    [[1, 2, 2, 4], 7, 7],
    [[2, 6, 9, 2], 3, 3],
    [[1, 7, 7, 2], 7, 7],
    [[1, 3, 1, 2], 2, 5],
  ];
  for (const [shape, gh, gw] of cases) {
    const xv = randn(shape, shape[1] * 10 + gh);
    const want = adaptiveByDefinition(xv, shape, gh, gw);
    for (const backend of ["wasm", "cpu"] as const) {
      const [got] = await runOn(
        backend,
        () => adaptiveAvgPool(tf.tensor4d(xv, shape as [number, number, number, number]), [gh, gw]),
      );
      assertClose(got, want, { rtol: 1e-6, label: `[${shape}] to ${gh}×${gw} on ${backend}` });
    }
  }
  tf.tidy(() => {
    const x = tf.tensor4d(randn([1, 3, 3, 2], 1), [1, 3, 3, 2]);
    // The gradient of a sum of an adaptive pool: each pixel counts once per bin, over its size.
    const g = tf.grad((t: tf.Tensor) => tf.sum(adaptiveAvgPool(t as tf.Tensor4D, 2)))(x);
    // 3 → 2: bins {0, 1} and {1, 2}; the middle row (and column) sits in both.
    const w1 = [0.5, 1, 0.5];
    const want = w1.flatMap((a) => w1.flatMap((b) => [a * b, a * b]));
    assertClose(g.dataSync(), want, { rtol: 1e-6, label: "gradient" });
  });
  assert.throws(
    () => adaptiveAvgPool(tf.zeros([1, 2, 2, 1]) as tf.Tensor4D, 0),
    /adaptiveAvgPool needs a positive integer size or \[height, width\], got 0/,
  );
});

Deno.test("the default head is global average pooling and one dense layer, seeded as before hidden layers existed", () => {
  const head = new ClassificationHead({ inChannels: 4, numClasses: 3, seed: 5 });
  assert.deepEqual([...head.variables().keys()], ["classifier/fc/kernel", "classifier/fc/bias"]);
  assert.equal(head.pooledSize, 1);
  assert.equal(head.hiddenLayers.length, 0);
  const fc = new Dense("fc", { inFeatures: 4, units: 3, seed: new Random(5).seed() });
  assert.deepEqual(head.fc.kernel.dataSync(), fc.kernel.dataSync());
  tf.tidy(() => {
    const f = tf.tensor4d(randn([2, 3, 3, 4], 2), [2, 3, 3, 4]);
    const want = fc.apply(tf.mean(f, [1, 2]));
    assertClose(head.apply(f).dataSync(), want.dataSync(), { rtol: 1e-6, label: "logits" });
  });
  fc.dispose();
  head.dispose();
});

Deno.test("hidden layers and a pooled grid compute torchvision VGG's classifier: pool, flatten (h, w, c), dense + ReLU, dense + ReLU, dense", () => {
  const head = new ClassificationHead({
    inChannels: 3,
    numClasses: 2,
    hidden: [5, 4],
    pooledSize: 2,
    seed: 1,
  });
  assert.deepEqual(head.hiddenLayers.map((l) => l.kernel.shape), [[12, 5], [5, 4]]);
  assert.deepEqual(head.fc.kernel.shape, [4, 2]);
  tf.tidy(() => {
    const f = tf.tensor4d(randn([2, 3, 5, 3], 3), [2, 3, 5, 3]);
    const pooled = tf.reshape(adaptiveAvgPool(f, 2), [2, 12]) as tf.Tensor2D;
    const [h1, h2] = head.hiddenLayers;
    const want = head.fc.apply(tf.relu(h2.apply(tf.relu(h1.apply(pooled)))));
    assertClose(head.apply(f).dataSync(), want.dataSync(), { rtol: 1e-6, label: "logits" });
  });
  head.dispose();
});

Deno.test("dropout acts before every dense layer but the first, one seeded stream per training pass", () => {
  const make = () =>
    new ClassificationHead({ inChannels: 3, numClasses: 2, hidden: [1], dropout: 0.5, seed: 3 });
  const a = make(), b = make();
  tf.tidy(() => {
    const f = tf.tensor4d(randn([8, 2, 2, 3], 4), [8, 2, 2, 3]);
    // One hidden unit: if only its output is dropped, each sample's training logits are the
    // output layer on 0 or on twice the inference activation, never anything in between.
    const pooled = tf.mean(f, [1, 2]) as tf.Tensor2D;
    const active = tf.relu(a.hiddenLayers[0].apply(pooled));
    const dropped = a.fc.apply(tf.zerosLike(active)).arraySync();
    const kept = a.fc.apply(tf.mul(active, 2)).arraySync();
    const train = a.apply(f, { training: true }).arraySync();
    const close = (u: number[], v: number[]) => u.every((e, i) => Math.abs(e - v[i]) < 1e-5);
    const outcomes = train.map((row, i) =>
      close(row, dropped[i]) ? "dropped" : close(row, kept[i]) ? "kept" : "other"
    );
    assert.ok(!outcomes.includes("other"), outcomes.join(" "));
    assert.ok(outcomes.includes("kept") && outcomes.includes("dropped"), outcomes.join(" "));
    assert.equal(a.dropoutStep, 1);
    assert.deepEqual(b.apply(f, { training: true }).arraySync(), train, "same seed, same masks");
    assert.notDeepEqual(a.apply(f, { training: true }).arraySync(), train, "a new mask each pass");
  });
  a.dispose();
  b.dispose();
});

Deno.test("the head names a bad hidden width or pooled size", () => {
  assert.throws(
    () => new ClassificationHead({ inChannels: 2, numClasses: 2, hidden: [4, 0] }),
    /Option "hidden" of the classification head must be an array of positive integers, got \[4,0\]/,
  );
  assert.throws(
    () => new ClassificationHead({ inChannels: 2, numClasses: 2, pooledSize: 1.5 }),
    /Option "pooledSize" of the classification head must be a positive integer, got 1.5/,
  );
});
