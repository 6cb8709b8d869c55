import assert from "node:assert/strict";
import { createReferenceNet, tf } from "../../mod.ts";
import { assertClose, randn, useEngines } from "../_helpers.ts";

await useEngines();

Deno.test("createReferenceNet() featureInfo matches the real stage outputs", () => {
  for (const [size, channels, width] of [[16, 3, 0.25], [32, 1, 0.5], [24, 3, 0.125]]) {
    const model = createReferenceNet({ inputSize: size, inputChannels: channels, width });
    tf.tidy(() => {
      const stages = model.forwardStages(tf.zeros([2, size, size, channels]) as tf.Tensor4D);
      assert.equal(stages.length, model.featureInfo.length);
      stages.forEach((s, i) => {
        const info = model.featureInfo[i];
        assert.deepEqual(
          s.shape,
          [2, size / info.reduction, size / info.reduction, info.channels],
          `stage ${info.name} at input ${size}`,
        );
      });
    });
    model.dispose();
  }
});

Deno.test("forwardStages() run in two parts equals one full run", () => {
  const model = createReferenceNet({ inputSize: 16, width: 0.25, seed: 3 });
  tf.tidy(() => {
    const x = tf.tensor(randn([2, 16, 16, 3], 1), [2, 16, 16, 3]) as tf.Tensor4D;
    const full = model.forwardStages(x);
    const first = model.forwardStages(x, { to: 0 });
    const rest = model.forwardStages(first[0], { from: 1 });
    assertClose(rest[1].dataSync(), full[2].dataSync(), { label: "split at stage 0" });
    const out = model.forward(x);
    assert.deepEqual(out.logits.shape, [2, 10]);
    assert.deepEqual(out.saliency.shape, [2, 16, 16]);
    const s = out.saliency.dataSync();
    assert.ok(s.every((v) => v >= 0 && v <= 1), "saliency lies in [0, 1]");
  });
  model.dispose();
});

Deno.test("createReferenceNet() names the bad option", () => {
  assert.throws(() => createReferenceNet({ inputSize: 30 }), /Option "inputSize".*got 30/);
  assert.throws(() => createReferenceNet({ inputChannels: 2 }), /Option "inputChannels".*got 2/);
  assert.throws(() => createReferenceNet({ numClasses: 1 }), /Option "numClasses".*got 1/);
  assert.throws(() => createReferenceNet({ width: 0 }), /Option "width".*got 0/);
});

Deno.test("forward() rejects images of the wrong shape, naming both shapes", () => {
  const model = createReferenceNet({ inputSize: 16, width: 0.25 });
  const x = tf.zeros([1, 16, 16, 1]) as tf.Tensor4D;
  assert.throws(
    () => model.forward(x),
    /reference_net: "images" must have shape \[n, 16, 16, 3\] for this model, got \[1, 16, 16, 1\]/,
  );
  assert.throws(() => model.forwardStages(x, { from: 2, to: 5 }), /stages 0 to 2/);
  x.dispose();
  model.dispose();
});

Deno.test("the model's variables have unique paths and dispose() frees them", () => {
  const before = tf.memory().numTensors;
  const model = createReferenceNet({ inputSize: 16, width: 0.25 });
  const paths = [...model.variables().keys()];
  assert.equal(new Set(paths).size, paths.length);
  assert.ok(paths.includes("reference_net/stem/bn/moving_mean"));
  assert.ok(model.trainableVariables().every((v) => v.trainable));
  assert.ok(model.countParams() > 0);
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("the full-size reference net has about 100k parameters", () => {
  const model = createReferenceNet();
  assert.ok(
    model.countParams() > 80_000 && model.countParams() < 120_000,
    `${model.countParams()}`,
  );
  model.dispose();
});
