import assert from "node:assert/strict";
import {
  bceSaliencyLoss,
  createReferenceNet,
  crossEntropyLoss,
  diceLoss,
  mixedLoss,
  rrrLoss,
  syntheticDataset,
  tf,
  train,
} from "../../mod.ts";
import type { DataBatch } from "../../mod.ts";
import { assertClose, randn, useEngines } from "../_helpers.ts";

await useEngines();

function batch(masksSeed = 2): DataBatch {
  return {
    images: tf.tensor4d(randn([3, 16, 16, 3], 1), [3, 16, 16, 3]),
    labels: tf.tensor1d([0, 2, 1], "int32"),
    masks: tf.tensor3d(randn([3, 16, 16], masksSeed).map((v) => (v > 0 ? 1 : 0)), [3, 16, 16]),
    hasMask: tf.tensor1d([1, 0, 1]),
    ids: ["a", "b", "c"],
  };
}

Deno.test("mixedLoss() sums the weighted terms, each equal to its own loss function", () => {
  const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25, seed: 1 });
  tf.tidy(() => {
    const b = batch();
    const r = mixedLoss({ ce: 1, bce: 0.5, dice: 2, rrr: 0.25 })(model, b, {
      training: false,
      epoch: 1,
      step: 0,
    });
    assert.deepEqual(Object.keys(r.terms), ["ce", "bce", "dice", "rrr"]);
    const out = model.forward(b.images);
    const annotated = { weights: b.hasMask };
    const expected = {
      ce: crossEntropyLoss(out.logits, b.labels).dataSync()[0],
      bce: bceSaliencyLoss(out.saliencyLogits, b.masks, annotated).dataSync()[0],
      dice: diceLoss(out.saliencyLogits, b.masks, annotated).dataSync()[0],
      rrr: rrrLoss(model, b.images, b.labels, {
        region: b.masks,
        mode: "outside-object",
        weights: b.hasMask,
        training: false,
      }).dataSync()[0],
    };
    for (const [name, value] of Object.entries(expected)) {
      assertClose(r.terms[name].dataSync(), [value], { rtol: 1e-5, label: name });
    }
    const total = expected.ce + 0.5 * expected.bce + 2 * expected.dice + 0.25 * expected.rrr;
    assertClose(r.total.dataSync(), [total], { rtol: 1e-5, label: "total" });
  });
  model.dispose();
});

Deno.test("mixedLoss() saliency terms ignore the masks of unannotated samples", () => {
  const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25, seed: 1 });
  tf.tidy(() => {
    const loss = mixedLoss({ ce: 1, bce: 1, dice: 1, kl: 1 });
    const a = loss(model, batch(2), { training: false, epoch: 1, step: 0 });
    const b2 = batch(2);
    // Replace sample 1's mask (hasMask 0) with ones: nothing may change.
    const masks = tf.concat([b2.masks.slice(0, 1), tf.ones([1, 16, 16]), b2.masks.slice(2, 1)]);
    const b = loss(model, { ...b2, masks: masks as tf.Tensor3D }, {
      training: false,
      epoch: 1,
      step: 0,
    });
    for (const name of ["bce", "dice", "kl"]) {
      assert.equal(b.terms[name].dataSync()[0], a.terms[name].dataSync()[0], name);
    }
  });
  model.dispose();
});

Deno.test("mixedLoss() names a bad weight and a missing must-not-matter mask", () => {
  assert.throws(
    () => mixedLoss({ dice: -1 }),
    /Loss weight "dice" must be a finite number ≥ 0, got -1/,
  );
  assert.throws(() => mixedLoss({ ce: 0 }), /at least one loss weight above 0/);
  const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25 });
  tf.tidy(() => {
    const loss = mixedLoss({ rrr: 1 }, { rrrMode: "must-not-matter" });
    assert.throws(
      () => loss(model, batch(), { training: false, epoch: 1, step: 0 }),
      /needs the batch's ignoreMasks.*a, b, c/,
    );
  });
  model.dispose();
});

Deno.test("train() with mixedLoss() logs every term and lowers the loss", async () => {
  const data = syntheticDataset({ size: 16, count: 48, numClasses: 3, seed: 3 });
  const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25, seed: 3 });
  const dir = await Deno.makeTempDir();
  try {
    const result = await train(model, {
      dataset: data,
      trainIndices: data.officialSplit.train,
      valIndices: data.officialSplit.test,
      epochs: 3,
      batchSize: 8,
      seed: 3,
      loss: mixedLoss({ ce: 1, bce: 1, dice: 0.5 }),
      outDir: dir,
      progress: false,
    });
    const lines = (await Deno.readTextFile(`${dir}/train_log.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    const first = result.history[0].metrics, last = result.history[2].metrics;
    for (const name of ["ce", "bce", "dice"]) {
      assert.ok(`train_${name}` in first && `val_${name}` in first, `${name} logged`);
      assert.ok(`train_${name}` in lines[0], `${name} in train_log.jsonl`);
    }
    assert.ok(
      last.train_loss < first.train_loss,
      `loss ${first.train_loss} → ${last.train_loss}`,
    );
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
