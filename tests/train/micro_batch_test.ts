import assert from "node:assert/strict";
import {
  createOptimizer,
  createTwoBranchModel,
  defaultLoss,
  planStep,
  type StepPlan,
  tf,
  trainOnBatch,
  type TwoBranchNet,
} from "../../mod.ts";
import { assertClose, randn, useEngines } from "../_helpers.ts";

await useEngines();

function resnet(seed = 3): TwoBranchNet {
  return createTwoBranchModel({
    backbone: "resnet18",
    backboneOptions: { width: 0.125, stem: "imagenet" },
    numClasses: 3,
    inputSize: 32,
    seed,
  });
}

function batchOf(n: number, seed: number) {
  return {
    images: tf.tensor4d(randn([n, 32, 32, 3], seed).map((v) => 0.5 + 0.2 * v), [n, 32, 32, 3]),
    labels: tf.tensor1d(Array.from({ length: n }, (_, i) => i % 3), "int32"),
    masks: tf.tensor3d(randn([n, 32, 32], seed + 1).map((v) => (v > 0 ? 1 : 0)), [n, 32, 32]),
    hasMask: tf.tensor1d(Array.from({ length: n }, () => 1)),
    ids: Array.from({ length: n }, (_, i) => `s${i}`),
  };
}

function weights(model: TwoBranchNet): Map<string, Float32Array> {
  return new Map([...model.variables()].map(([p, v]) => [p, Float32Array.from(v.dataSync())]));
}

const plan = (microBatch: number, checkpoint = false): StepPlan => ({
  microBatch,
  checkpoint,
  bytesPerSample: {},
});

async function stepWith(
  model: TwoBranchNet,
  batch: ReturnType<typeof batchOf>,
  p: StepPlan,
  training: boolean,
) {
  const optimizer = createOptimizer({ name: "sgd", lr: 0.5 });
  try {
    return await trainOnBatch(model, batch, {
      optimizer,
      loss: defaultLoss(),
      context: { training, epoch: 1, step: 1 },
      plan: p,
    });
  } finally {
    optimizer.dispose();
  }
}

Deno.test("a batch of 8 in micro-batches of 4 gives the same loss and update as the whole batch (batch norm in inference mode)", async () => {
  const batch = batchOf(8, 40);
  const [a, b] = [resnet(), resnet()];
  const before = tf.memory().numTensors;
  const whole = await stepWith(a, batch, plan(8), false);
  const split = await stepWith(b, batch, plan(4), false);
  assert.equal(tf.memory().numTensors, before, "no tensor is left behind");
  assert.ok(Math.abs(whole.loss - split.loss) < 1e-5, `${whole.loss} vs ${split.loss}`);
  assert.ok(Math.abs(whole.ce - split.ce) < 1e-5);
  const fresh = resnet();
  const w0 = weights(fresh), wa = weights(a), wb = weights(b);
  fresh.dispose();
  let moved = 0;
  for (const [path, v] of wa) {
    assertClose(wb.get(path)!, v, { rtol: 1e-4, atol: 1e-6, label: path });
    moved += Number(v.some((x, i) => x !== w0.get(path)![i]));
  }
  assert.ok(moved > 10, "the step moved the weights");
  tf.dispose(Object.values(batch).filter((t) => t instanceof tf.Tensor) as tf.Tensor[]);
  a.dispose();
  b.dispose();
});

Deno.test("gradient checkpointing gives the plain step's update and batch-norm statistics (training mode)", async () => {
  const batch = batchOf(4, 50);
  const [a, b] = [resnet(7), resnet(7)];
  const before = tf.memory().numTensors;
  const plain = await stepWith(a, batch, plan(4, false), true);
  const recomputed = await stepWith(b, batch, plan(4, true), true);
  assert.equal(tf.memory().numTensors, before, "no tensor is left behind");
  assert.ok(Math.abs(plain.loss - recomputed.loss) < 1e-5);
  const wa = weights(a), wb = weights(b);
  for (const [path, v] of wa) {
    // Running statistics too: the recomputation must not update them a second time.
    assertClose(wb.get(path)!, v, { rtol: 1e-4, atol: 1e-6, label: path });
  }
  tf.dispose(Object.values(batch).filter((t) => t instanceof tf.Tensor) as tf.Tensor[]);
  a.dispose();
  b.dispose();
});

Deno.test("gradient checkpointing cuts a training step's peak tensor memory", async () => {
  const batch = batchOf(4, 60);
  const model = resnet(9);
  const peak = async (checkpoint: boolean) => {
    const info = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(
        () => defaultLoss()(model, batch, { training: true, epoch: 1, step: 1, checkpoint }).total,
      );
      tf.dispose([value, ...Object.values(grads)]);
    });
    return info.peakBytes;
  };
  const base = tf.memory().numBytes;
  const plain = (await peak(false)) - base, recomputed = (await peak(true)) - base;
  assert.ok(recomputed < 0.75 * plain, `peak ${recomputed} bytes with, ${plain} without`);
  tf.dispose(Object.values(batch).filter((t) => t instanceof tf.Tensor) as tf.Tensor[]);
  model.dispose();
});

Deno.test("planStep() keeps a batch that fits, checkpoints one that fits only so, and splits one that does not", async () => {
  const batch = batchOf(8, 70);
  const model = resnet(11);
  const loss = defaultLoss();
  const stats = [...model.variables().values()].filter((v) => !v.trainable);
  const snapshot = stats.map((v) => Float32Array.from(v.dataSync()));
  const free = await planStep(model, batch, { loss, memoryBudget: 2 ** 40 });
  assert.deepEqual([free.microBatch, free.checkpoint], [8, false]);
  const probed = await planStep(model, batch, { loss, memoryBudget: 1 });
  const { plain, checkpoint } = probed.bytesPerSample;
  const fixed = probed.fixedBytes!;
  assert.ok(plain! > checkpoint!, `${plain} vs ${checkpoint} bytes per sample`);
  const between = await planStep(model, batch, {
    loss,
    memoryBudget: Math.max(fixed.plain!, fixed.checkpoint!) + 8 * (plain! + checkpoint!) / 2,
  });
  assert.deepEqual([between.microBatch, between.checkpoint], [8, true]);
  // Three samples fit beside the fixed part and the accumulated gradients.
  const tight = await planStep(model, batch, {
    loss,
    memoryBudget: fixed.checkpoint! + 4 * model.countParams() + 3.5 * checkpoint!,
  });
  assert.deepEqual([tight.microBatch, tight.checkpoint], [3, true]);
  const given = await planStep(model, batch, { loss, microBatch: 2, checkpoint: false });
  assert.deepEqual([given.microBatch, given.checkpoint], [2, false]);
  // The probes changed no running statistic.
  stats.forEach((v, i) => assert.deepEqual(Float32Array.from(v.dataSync()), snapshot[i]));
  await assert.rejects(
    planStep(model, batch, { loss, microBatch: 0 }),
    /"microBatch" must be a positive integer/,
  );
  tf.dispose(Object.values(batch).filter((t) => t instanceof tf.Tensor) as tf.Tensor[]);
  model.dispose();
});

Deno.test("input gradients through checkpointed blocks (explainers) equal the plain input gradient", async () => {
  const { inputGradients, resolveTarget } = await import("../../lib/explainers/core.ts");
  const model = resnet(13);
  const batch = batchOf(3, 80);
  const images = batch.images;
  try {
    const target = resolveTarget(model, 3, [0, 2, 1]);
    const checkpointed = tf.tidy(() =>
      Float32Array.from(inputGradients(model, images, target).dataSync())
    );
    const plain = tf.tidy(() => {
      const onehot = tf.oneHot(tf.tensor1d([0, 2, 1], "int32"), 3);
      return Float32Array.from(
        tf.grad((x: tf.Tensor) =>
          tf.sum(tf.mul(model.forward(x as tf.Tensor4D, { foldBatchNorm: false }).logits, onehot))
        )(images).dataSync(),
      );
    });
    assertClose(checkpointed, plain, { rtol: 1e-4, atol: 1e-6, label: "d score / d image" });
    assert.ok(plain.some((v) => v !== 0));
  } finally {
    tf.dispose([batch.images, batch.labels, batch.masks, batch.hasMask]);
    model.dispose();
  }
});
