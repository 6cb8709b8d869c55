// The metrics must run on WebGPU, whose tensors have no synchronous
// read-back (`dataSync()` and `arraySync()` throw there). These tests make
// that claim on every machine: on the cpu backend, they make the tensor
// prototype's synchronous reads throw while the metrics run.
import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import {
  confidenceDrop,
  deletionAuc,
  insertionAuc,
  randomMapControl,
  road,
} from "../../lib/metrics/faithfulness.ts";
import { parameterRandomizationTest } from "../../lib/metrics/sanity.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import { Random } from "../../lib/util/random.ts";
import { useEngines, warmUp } from "../_helpers.ts";
import { toyModel } from "./_toy_model.ts";

await useEngines();

/** Runs `fn` on the cpu backend, then goes back to the backend before. */
async function onCpu<T>(fn: () => Promise<T>): Promise<T> {
  const previous = tf.getBackend();
  if (!(await tf.setBackend("cpu"))) throw new Error("Cannot start backend cpu");
  try {
    return await fn();
  } finally {
    await tf.setBackend(previous);
  }
}

/**
 * Runs `fn` with `tf.Tensor.prototype.dataSync` and `arraySync` replaced by
 * functions that record the call and throw; restores them afterwards.
 * Returns `fn`'s result and the names of the synchronous reads attempted.
 */
async function withoutSyncReads<T>(fn: () => Promise<T>): Promise<{ result: T; calls: string[] }> {
  const proto = tf.Tensor.prototype;
  const { dataSync, arraySync } = proto;
  const calls: string[] = [];
  const forbid = (name: string) =>
    function (this: tf.Tensor): never {
      calls.push(name);
      throw new Error(`Synchronous read: ${name}() of a tensor of shape [${this.shape}]`);
    };
  proto.dataSync = forbid("dataSync") as typeof dataSync;
  proto.arraySync = forbid("arraySync") as typeof arraySync;
  try {
    // The spy is armed: a synchronous read throws, an asynchronous one works.
    const probe = tf.tensor1d([1, 2]);
    try {
      assert.throws(() => probe.dataSync(), /Synchronous read: dataSync\(\)/);
      assert.throws(() => probe.arraySync(), /Synchronous read: arraySync\(\)/);
      assert.deepEqual(await probe.array(), [1, 2]);
    } finally {
      probe.dispose();
    }
    calls.length = 0;
    const result = await fn();
    return { result, calls };
  } finally {
    proto.dataSync = dataSync;
    proto.arraySync = arraySync;
  }
}

Deno.test("deletionAuc() and the other faithfulness metrics make no synchronous read on cpu", async () => {
  await onCpu(async () => {
    const model = toyModel(4, 4);
    const images = tf.tensor4d(new Random(1).uniformArray(2 * 16, 0, 5), [2, 4, 4, 1]);
    const maps = tf.tensor3d(new Random(2).uniformArray(2 * 16), [2, 4, 4]);
    const input = { images, maps };
    const before = tf.memory().numTensors;
    try {
      const { result, calls } = await withoutSyncReads(async () => ({
        deletion: await deletionAuc(model, input, { steps: 4, batchSize: 3 }),
        insertion: await insertionAuc(model, input, { steps: 4, blurSigma: 1 }),
        road: await road(model, input, { percentages: [0.25, 0.5], batchSize: 3 }),
        drop: await confidenceDrop(model, input),
        control: await randomMapControl(model, images, {
          curve: { steps: 2 },
          road: { percentages: [0.5] },
        }),
      }));
      assert.deepEqual(calls, []);
      assert.equal(tf.memory().numTensors, before);
      // The spy changes nothing: the same numbers as a run without it.
      assert.deepEqual(
        result.deletion,
        await deletionAuc(model, input, { steps: 4, batchSize: 3 }),
      );
      assert.equal(result.insertion.auc.length, 2);
      assert.equal(result.road.morf.length, 2);
      assert.equal(result.drop.drop.length, 2);
      assert.equal(result.control.deletion!.auc.length, 2);
    } finally {
      tf.dispose([images, maps]);
    }
  });
});

Deno.test("parameterRandomizationTest() makes no synchronous read on cpu", async () => {
  await onCpu(async () => {
    const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125, seed: 2 });
    const images = tf.tensor4d(new Random(3).uniformArray(2 * 8 * 8 * 3), [2, 8, 8, 3]);
    warmUp(model);
    const before = tf.memory().numTensors;
    try {
      const { result, calls } = await withoutSyncReads(() =>
        parameterRandomizationTest(model, images, {
          explainer: (m, x) => tf.tidy(() => m.forward(x).saliency),
          seed: 1,
        })
      );
      assert.deepEqual(calls, []);
      assert.equal(tf.memory().numTensors, before);
      assert.deepEqual(result.steps.map((s) => s.name), [
        "original",
        "head",
        "block2",
        "block1",
        "stem",
      ]);
      assert.deepEqual(result.steps[0].spearman, [1, 1]);
    } finally {
      images.dispose();
      model.dispose();
    }
  });
});

Deno.test("deletionAuc(), road() and parameterRandomizationTest() dispose every tensor when a read fails", async () => {
  const proto = tf.Tensor.prototype;
  const { data } = proto;
  const model = toyModel(4, 4);
  const net = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125, seed: 2 });
  const images = tf.tensor4d(new Random(1).uniformArray(2 * 16, 0, 5), [2, 4, 4, 1]);
  const maps = tf.tensor3d(new Random(2).uniformArray(2 * 16), [2, 4, 4]);
  const netImages = tf.tensor4d(new Random(3).uniformArray(8 * 8 * 3), [1, 8, 8, 3]);
  const weights = [...net.variables().values()].map((v) => Float32Array.from(v.dataSync()));
  warmUp(net);
  const before = tf.memory().numTensors;
  // Every run reads more than `failAt` times, so the read numbered `failAt`
  // (the first, one mid-way, one late) rejects.
  const runs: [string, () => Promise<unknown>][] = [
    ["deletionAuc()", () => deletionAuc(model, { images, maps }, { steps: 4, batchSize: 3 })],
    ["road()", () => road(model, { images, maps }, { percentages: [0.5], batchSize: 1 })],
    ["parameterRandomizationTest()", () =>
      parameterRandomizationTest(net, netImages, {
        explainer: (m, x) => tf.tidy(() => m.forward(x).saliency),
      })],
  ];
  try {
    for (const [name, run] of runs) {
      for (const failAt of [1, 3, 6]) {
        let reads = 0;
        proto.data = function (this: tf.Tensor) {
          if (++reads === failAt) return Promise.reject(new Error("read failed"));
          return data.call(this);
        } as typeof data;
        try {
          await assert.rejects(run, /read failed/, `${name}, read ${failAt}`);
        } finally {
          proto.data = data;
        }
        assert.equal(tf.memory().numTensors, before, `${name}, read ${failAt}: tensors left`);
      }
    }
    // The randomisation test put every weight back.
    [...net.variables().values()].forEach((v, i) => assert.deepEqual(v.dataSync(), weights[i]));
  } finally {
    proto.data = data;
    tf.dispose([images, maps, netImages]);
    net.dispose();
  }
});
