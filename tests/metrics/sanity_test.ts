import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { layerGroups, parameterRandomizationTest } from "../../lib/metrics/sanity.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import type { TwoBranchModel } from "../../lib/models/types.ts";
import { Random } from "../../lib/util/random.ts";
import { useEngines, warmUp } from "../_helpers.ts";

await useEngines();

function snapshot(model: TwoBranchModel): Map<string, Float32Array> {
  return new Map(
    [...model.variables()].map(([k, v]) => [k, Float32Array.from(v.dataSync())]),
  );
}

Deno.test("layerGroups() puts every variable in one group, heads first, then stages top down", () => {
  const model = createReferenceNet({ inputSize: 16, width: 0.25 });
  try {
    const groups = layerGroups(model);
    assert.deepEqual(groups.map((g) => g.name), ["head", "block2", "block1", "stem"]);
    const all = groups.flatMap((g) => g.paths).sort();
    assert.deepEqual(all, [...model.variables().keys()].sort());
    const byName = Object.fromEntries(groups.map((g) => [g.name, g.paths]));
    assert.ok(byName.head.includes("reference_net/fc/kernel"));
    assert.ok(byName.head.includes("reference_net/sal_out/bias"));
    assert.ok(byName.block1.includes("reference_net/block1_shortcut/conv/kernel"));
    assert.ok(byName.block2.includes("reference_net/block2_dw/kernel"));
    assert.ok(byName.stem.includes("reference_net/stem/conv/kernel"));
  } finally {
    model.dispose();
  }
});

Deno.test("parameterRandomizationTest() starts at correlation 1, cascades top down and restores every weight", async () => {
  const model = createReferenceNet({ inputSize: 16, width: 0.25 });
  const images = tf.tensor4d(new Random(1).uniformArray(2 * 16 * 16 * 3), [2, 16, 16, 3]);
  try {
    const before = snapshot(model);
    warmUp(model);
    const tensors = tf.memory().numTensors;
    const r = await parameterRandomizationTest(model, images, {
      explainer: { method: "grad-cam", layer: "block1" },
      seed: 3,
    });
    assert.equal(tf.memory().numTensors, tensors);
    assert.deepEqual(r.steps.map((s) => s.name), ["original", "head", "block2", "block1", "stem"]);
    // Step 0: the unchanged model, a deterministic explainer → ρ = 1 per image.
    assert.deepEqual(r.steps[0].spearman, [1, 1]);
    assert.deepEqual(r.steps[0].randomized, []);
    // Cumulative: each step randomises a superset of the one before.
    for (let s = 1; s < r.steps.length; s++) {
      const prev = new Set(r.steps[s - 1].randomized);
      assert.ok(r.steps[s].randomized.length > prev.size);
      assert.ok([...prev].every((p) => r.steps[s].randomized.includes(p)));
    }
    assert.ok(r.steps[1].randomized.includes("reference_net/fc/kernel"));
    // Batch-norm running statistics are not randomised by default.
    assert.ok(!r.steps.at(-1)!.randomized.some((p) => p.includes("moving_")));
    // With the whole network random the maps no longer match the originals.
    const last = r.steps.at(-1)!;
    assert.ok(last.undefinedCount > 0 || last.mean < 0.9, `last step mean ρ ${last.mean}`);
    // Every weight is back, bit for bit.
    const after = snapshot(model);
    for (const [k, v] of before) assert.deepEqual(after.get(k), v, k);
    // Seeded: the same call gives the same correlations.
    const again = await parameterRandomizationTest(model, images, {
      explainer: { method: "grad-cam", layer: "block1" },
      seed: 3,
    });
    assert.deepEqual(again.steps.map((s) => s.spearman), r.steps.map((s) => s.spearman));
  } finally {
    images.dispose();
    model.dispose();
  }
});

Deno.test("parameterRandomizationTest() restores the weights when the explainer throws", async () => {
  const model = createReferenceNet({ inputSize: 16, width: 0.25 });
  const images = tf.tensor4d(new Random(2).uniformArray(16 * 16 * 3), [1, 16, 16, 3]);
  try {
    const before = snapshot(model);
    let calls = 0;
    await assert.rejects(
      () =>
        parameterRandomizationTest(model, images, {
          explainer: (m, x) => {
            if (++calls === 3) throw new Error("explainer failed");
            return tf.tidy(() => m.forward(x).saliency);
          },
        }),
      /explainer failed/,
    );
    const after = snapshot(model);
    for (const [k, v] of before) assert.deepEqual(after.get(k), v, k);
  } finally {
    images.dispose();
    model.dispose();
  }
});

Deno.test("parameterRandomizationTest() rejects an unknown variable path and a missing explainer", async () => {
  const model = createReferenceNet({ inputSize: 16, width: 0.25 });
  const images = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
  try {
    await assert.rejects(
      () =>
        parameterRandomizationTest(model, images, {
          explainer: { method: "grad-cam" },
          groups: [{ name: "head", paths: ["reference_net/nope"] }],
        }),
      /option "groups" names unknown variable "reference_net\/nope" in group "head"/,
    );
    await assert.rejects(
      () => parameterRandomizationTest(model, images, {} as never),
      /option "explainer" must be an explain\(\) request or a function/,
    );
  } finally {
    images.dispose();
    model.dispose();
  }
});
