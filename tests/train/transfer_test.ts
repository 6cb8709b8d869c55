import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { DataError } from "../../lib/data/errors.ts";
import { syntheticDataset } from "../../datasets/synthetic.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import type { TwoBranchModel } from "../../lib/models/types.ts";
import { saveModel } from "../../lib/train/save_load.ts";
import { createTrainStep } from "../../lib/train/train_step.ts";
import { train } from "../../lib/train/trainer.ts";
import { loadWeightsInto, selectVariables, setTrainable } from "../../lib/train/transfer.ts";
import { assertClose, randn, useEngines } from "../_helpers.ts";

await useEngines();

function net(numClasses: number, seed: number) {
  return createReferenceNet({ numClasses, inputSize: 16, width: 0.25, seed });
}

function snapshot(model: TwoBranchModel): Map<string, Float32Array> {
  return new Map(
    [...model.variables()].map(([p, v]) => [p, Float32Array.from(v.dataSync())]),
  );
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  a.length === b.length && Array.from(a).every((v, i) => v === b[i]);

Deno.test("selectVariables() splits the model into backbone stages and heads", () => {
  const model = net(3, 1);
  const all = [...model.variables().keys()];
  const backbone = selectVariables(model, "backbone");
  const heads = selectVariables(model, "heads");
  assert.deepEqual([...backbone, ...heads].sort(), [...all].sort());
  assert.ok(heads.includes("reference_net/fc/kernel"));
  assert.ok(heads.includes("reference_net/sal_out/kernel"));
  assert.ok(!heads.some((p) => backbone.includes(p)));
  const block1 = selectVariables(model, ["block1"]);
  assert.ok(block1.includes("reference_net/block1_shortcut/bn/gamma"));
  assert.ok(block1.every((p) => p.startsWith("reference_net/block1_")));
  assert.deepEqual(
    selectVariables(model, (p) => p.endsWith("/bias")),
    all.filter((p) => p.endsWith("/bias")),
  );
  assert.throws(
    () => selectVariables(model, ["block9"]),
    /Stage "block9" is not a stage of "reference_net": its stages are stem, block1, block2/,
  );
  model.dispose();
});

Deno.test("loadWeightsInto() moves the backbone and saliency head to a model with another class count", async () => {
  const dir = await Deno.makeTempDir();
  const pretrained = net(4, 1);
  await saveModel(pretrained, dir);
  const model = net(3, 2);
  const fresh = snapshot(model);
  const report = await loadWeightsInto(model, dir, { strict: false });
  assert.deepEqual(report.skipped, [
    {
      path: "reference_net/fc/kernel",
      reason: "shape [32,4] in the file, [32,3] in the model",
    },
    { path: "reference_net/fc/bias", reason: "shape [4] in the file, [3] in the model" },
  ]);
  assert.deepEqual(report.unused, ["reference_net/fc/kernel", "reference_net/fc/bias"]);
  assert.equal(report.loaded.length, model.variables().size - 2);
  // The classifier head keeps its initialisation ...
  for (const p of ["reference_net/fc/kernel", "reference_net/fc/bias"]) {
    assert.ok(same(model.variables().get(p)!.dataSync(), fresh.get(p)!), p);
  }
  // ... and everything else now computes what the pretrained model computes.
  tf.tidy(() => {
    const x = tf.tensor4d(randn([2, 16, 16, 3], 4), [2, 16, 16, 3]);
    const a = pretrained.forward(x), b = model.forward(x);
    assertClose(b.saliency.dataSync(), a.saliency.dataSync(), { rtol: 0, atol: 0, label: "map" });
    const fa = pretrained.forwardStages(x), fb = model.forwardStages(x);
    assertClose(fb[2].dataSync(), fa[2].dataSync(), { rtol: 0, atol: 0, label: "block2" });
    assert.deepEqual(b.logits.shape, [2, 3]);
  });
  pretrained.dispose();
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadWeightsInto() with include: backbone leaves both heads at their initialisation", async () => {
  const dir = await Deno.makeTempDir();
  const pretrained = net(3, 1);
  await saveModel(pretrained, dir);
  const model = net(3, 2);
  const fresh = snapshot(model);
  const report = await loadWeightsInto(model, dir, { include: "backbone" });
  assert.deepEqual(report.loaded, selectVariables(model, "backbone"));
  for (const p of selectVariables(model, "heads")) {
    assert.ok(same(model.variables().get(p)!.dataSync(), fresh.get(p)!), `${p} kept`);
    assert.ok(report.skipped.some((s) => s.path === p && s.reason === "not selected"));
  }
  for (const p of report.loaded) {
    assert.ok(
      same(model.variables().get(p)!.dataSync(), pretrained.variables().get(p)!.dataSync()),
      `${p} loaded`,
    );
  }
  pretrained.dispose();
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadWeightsInto() in strict mode names the misfit and changes nothing", async () => {
  const dir = await Deno.makeTempDir();
  const pretrained = net(4, 1);
  await saveModel(pretrained, dir);
  const model = net(3, 2);
  const before = snapshot(model);
  await assert.rejects(
    loadWeightsInto(model, dir),
    (e: unknown) =>
      e instanceof DataError &&
      /variable "reference_net\/fc\/kernel" does not fit/.test(e.message) &&
      e.file === `${dir}/model.json`,
  );
  for (const [p, v] of model.variables()) assert.ok(same(v.dataSync(), before.get(p)!), p);
  pretrained.dispose();
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("frozen stages keep their weights through training; the rest still learn", async () => {
  const dataset = syntheticDataset({ size: 16, count: 16, numClasses: 3, seed: 2 });
  const model = net(3, 5);
  const trainable = setTrainable(model, { freeze: ["stem", "block1"] });
  assert.ok(!trainable.some((p) => /\/(stem|block1_)/.test(p)));
  const before = snapshot(model);
  await train(model, {
    dataset,
    trainIndices: dataset.records.map((_, i) => i),
    epochs: 1,
    batchSize: 8,
    optimizer: { lr: 0.01, weightDecay: 0.1 },
    progress: false,
  });
  for (const [p, v] of model.variables()) {
    const changed = !same(v.dataSync(), before.get(p)!);
    if (p.includes("moving_")) continue; // running statistics update in training mode, frozen or not
    const frozen = /\/(stem|block1_)/.test(p);
    assert.equal(changed, !frozen, `${p} ${frozen ? "is frozen" : "trains"}`);
  }
  model.dispose();
});

Deno.test("setTrainable() unfreezing restores the created flags, so running statistics stay frozen", () => {
  const model = net(3, 1);
  const original = model.trainableVariables().length;
  setTrainable(model, { freeze: "all" });
  assert.equal(model.trainableVariables().length, 0);
  const back = setTrainable(model, { unfreeze: "all" });
  assert.equal(back.length, original);
  assert.ok(!back.some((p) => p.includes("moving_")));
  // Freeze then unfreeze in one call: unfreeze wins for what both select.
  setTrainable(model, { freeze: "all", unfreeze: "heads" });
  assert.deepEqual(
    model.trainableVariables().map((v) => v.name),
    selectVariables(model, "heads").map((p) => model.variables().get(p)!)
      .filter((v) => v.trainable).map((v) => v.name),
  );
  model.dispose();
});

Deno.test("createTrainStep() honours freezing and unfreezing done after it is made, as train() does", async () => {
  const model = net(3, 1);
  const step = createTrainStep(model, tf.train.sgd(0.1), { maskWeight: 0 });
  const batch = tf.tidy(() => ({
    images: tf.tensor4d(randn([2, 16, 16, 3], 3), [2, 16, 16, 3]),
    labels: tf.tensor1d([0, 2], "int32"),
  }));
  const stem = "reference_net/stem/conv/kernel";
  setTrainable(model, { freeze: ["stem"] });
  let before = Float32Array.from(model.variables().get(stem)!.dataSync());
  await step(batch);
  assert.ok(same(model.variables().get(stem)!.dataSync(), before), "frozen after creation: kept");
  // Each step trains the variables that are trainable when it runs.
  const frozenStep = createTrainStep(model, tf.train.sgd(0.1), { maskWeight: 0 });
  setTrainable(model, { unfreeze: "all" });
  before = Float32Array.from(model.variables().get(stem)!.dataSync());
  await frozenStep(batch);
  assert.ok(
    !same(model.variables().get(stem)!.dataSync(), before),
    "unfrozen after creation: trained",
  );
  tf.dispose([batch.images, batch.labels]);
  model.dispose();
});
