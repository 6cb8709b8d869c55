import assert from "node:assert/strict";
import {
  createBackbone,
  createModel,
  createModelFromParts,
  createReferenceNet,
  createSaliencyHead,
  createTwoBranchModel,
  listBackbones,
  listSaliencyHeads,
  ownSaliencyHead,
  REFERENCE_BACKBONE,
  tf,
  type TwoBranchModel,
} from "../../mod.ts";
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

/** SHA-256 of every variable's path and float32 bytes, in the model's order. */
async function weightsHash(variables: Map<string, tf.Variable>): Promise<string> {
  const parts: Uint8Array[] = [];
  for (const [path, v] of variables) {
    parts.push(new TextEncoder().encode(path), new Uint8Array(v.dataSync().slice().buffer));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const SIN_IMAGES = () =>
  tf.tensor4d(
    Array.from({ length: 2 * 16 * 16 * 3 }, (_, i) => Math.sin(i) * 0.5 + 0.5),
    [2, 16, 16, 3],
  );

Deno.test("the reference net keeps, on seed 7, the weights and logits it had before it became a registered backbone and head", async () => {
  // Recorded at commit eecf187, when ReferenceNet built its layers itself.
  const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25, seed: 7 });
  assert.equal(
    await weightsHash(model.variables()),
    "48c7ef3051d85acc1c3fea4310004ee84ce5e20bea1ffcc98ffa6ed7f6312bdc",
  );
  const x = SIN_IMAGES();
  const out = model.forward(x);
  assertClose(out.logits.dataSync(), [
    1.446400761604309,
    0.32693544030189514,
    0.3814280033111572,
    1.470916748046875,
    0.27745404839515686,
    0.3341386318206787,
  ], { label: "logits at eecf187" });
  tf.dispose([x, out.logits, out.saliency, out.saliencyLogits]);
  model.dispose();
});

Deno.test("built through the registries, the reference net is bit for bit the old construction on the same seed", async () => {
  const options = { numClasses: 3, inputSize: 16, width: 0.25, seed: 11 };
  const old = createReferenceNet(options);
  const viaConfig = createModel(old.config);
  const viaParts = createModelFromParts({ backbone: REFERENCE_BACKBONE, ...options });
  // The backbone on its own, from the backbone registry, has the same weights as the net's.
  const backbone = createBackbone(REFERENCE_BACKBONE, { width: 0.25, seed: 11 });
  const x = SIN_IMAGES();
  const run = (m: TwoBranchModel) => {
    const out = m.forward(x);
    const values = [out.logits.dataSync(), out.saliencyLogits.dataSync()].map((a) => Array.from(a));
    tf.dispose([out.logits, out.saliency, out.saliencyLogits]);
    return values;
  };
  const expected = await weightsHash(old.variables());
  for (const m of [viaConfig, viaParts]) {
    assert.equal(await weightsHash(m.variables()), expected);
    assert.deepEqual(run(m), run(old), "identical outputs, not merely close");
  }
  const oldBackbone = new Map(
    [...old.variables()].filter(([path]) => /^reference_net\/(stem|block)/.test(path))
      .map(([path, v]) => [path.replace("reference_net/", "reference/"), v]),
  );
  assert.equal(await weightsHash(backbone.variables()), await weightsHash(oldBackbone));
  const stages = backbone.forwardStages(x);
  const oldStages = old.forwardStages(x);
  stages.forEach((s, i) => assert.deepEqual(s.dataSync(), oldStages[i].dataSync()));
  tf.dispose([x, ...stages, ...oldStages]);
  for (const m of [old, viaConfig, viaParts, backbone]) m.dispose();
});

Deno.test("the reference backbone and head are registered, meet their contracts, and combine with other parts", () => {
  assert.ok(listBackbones().includes(REFERENCE_BACKBONE));
  assert.ok(listSaliencyHeads().includes(REFERENCE_BACKBONE));
  assert.equal(ownSaliencyHead(REFERENCE_BACKBONE), REFERENCE_BACKBONE);
  const backbone = createBackbone(REFERENCE_BACKBONE, { width: 0.25, inputChannels: 1 });
  // Every variable belongs to exactly one stage.
  const byStage = backbone.featureInfo.map((_, i) => [...backbone.stageVariables(i).keys()]);
  assert.deepEqual(byStage.flat().sort(), [...backbone.variables().keys()].sort());
  assert.ok(byStage[1].includes("reference/block1_shortcut/conv/kernel"));
  assert.throws(() => backbone.stageVariables(3), /no stage 3: it has stages 0 to 2/);
  assert.throws(() => createBackbone(REFERENCE_BACKBONE, { stem: "small" }), /takes inputChannels/);
  backbone.dispose();
  assert.throws(
    () => createSaliencyHead(REFERENCE_BACKBONE, { featureInfo: [], gate: "residual" }),
    /Option "gate" does not apply to saliency head reference/,
  );
  for (
    const [b, h] of [[REFERENCE_BACKBONE, "decoder"], ["plain_cnn", REFERENCE_BACKBONE]] as const
  ) {
    const model = createTwoBranchModel({
      backbone: b,
      backboneOptions: { width: 0.25 },
      saliencyHead: h,
      numClasses: 2,
      inputSize: 16,
    });
    const x = tf.zeros([2, 16, 16, 3]) as tf.Tensor4D;
    const out = model.forward(x);
    assert.deepEqual(out.logits.shape, [2, 2], `${b} + ${h}`);
    assert.deepEqual(out.saliency.shape, [2, 16, 16], `${b} + ${h}`);
    tf.dispose([x, out.logits, out.saliency, out.saliencyLogits]);
    model.dispose();
  }
});

Deno.test("createModelFromParts() refuses what the whole reference net cannot take", () => {
  const base = { backbone: REFERENCE_BACKBONE, numClasses: 2, inputSize: 16 };
  assert.throws(() => createModelFromParts({ ...base, dropout: 0.5 }), /takes no dropout/);
  assert.throws(
    () => createModelFromParts({ ...base, inputNorm: "imagenet" }),
    /takes no input normalisation/,
  );
});
