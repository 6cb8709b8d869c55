import assert from "node:assert/strict";
import {
  accuracy,
  createReferenceNet,
  evaluate,
  pointingGame,
  stripAnnotations,
  syntheticDataset,
  tf,
} from "../../mod.ts";
import { useEngines, warmUp } from "../_helpers.ts";

await useEngines();

Deno.test("evaluate() scores classification and each explainer, with intervals and per-image records", async () => {
  const dataset = syntheticDataset({ size: 16, count: 30, numClasses: 3, seed: 2 });
  const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25, seed: 2 });
  const dir = await Deno.makeTempDir();
  try {
    warmUp(model);
    const before = tf.memory().numTensors;
    const result = await evaluate(model, dataset, {
      explainers: ["grad-cam", "branch"],
      batchSize: 4,
      faithfulnessSteps: 4,
      resamples: 300,
      sanity: { images: 2 },
      outFile: `${dir}/results.json`,
      progress: false,
    });
    assert.equal(tf.memory().numTensors, before, "no tensors left behind");
    const test = dataset.officialSplit.test;
    assert.equal(result.samples, test.length);
    assert.deepEqual(result.perImage.map((r) => r.index), [...test]);
    // Accuracy agrees with the per-image records, and with a direct forward pass.
    const labels = result.perImage.map((r) => r.label),
      preds = result.perImage.map((r) => r.predicted);
    assert.equal(result.classification.accuracy.mean, accuracy(labels, preds));
    const { ci, mean } = result.classification.accuracy;
    assert.ok(ci[0] <= mean && mean <= ci[1]);
    for (const name of ["grad-cam", "branch"]) {
      const ex = result.explainers[name];
      for (const metric of ["pointingGame", "maskAuc", "deletionAuc", "insertionAuc"]) {
        const s = ex.metrics[metric];
        const values = result.perImage.map((r) => r.scores[name][metric]).filter((v) => v !== null);
        const m = (values as number[]).reduce((a, b) => a + b, 0) / values.length;
        assert.ok(Math.abs(s.mean - m) < 1e-9, `${name} ${metric} mean`);
        assert.equal(s.scored + s.excluded, test.length);
      }
      assert.ok(ex.maxBoxAccV2 !== null && ex.maxBoxAccV2 >= 0 && ex.maxBoxAccV2 <= 1);
      assert.equal(ex.sanity?.[0].meanSpearman, 1, "unrandomised maps correlate perfectly");
    }
    // One image's pointing game, recomputed from its own map.
    const first = result.perImage[0];
    const sample = await dataset.load(first.index);
    const maps = tf.tidy(() => {
      const x = tf.tensor4d(sample.image.data, [1, 16, 16, 3]);
      return model.forward(x).saliency;
    });
    const own = pointingGame({ width: 16, height: 16, data: maps.dataSync() }, {
      mask: sample.mask!,
    });
    maps.dispose();
    assert.equal(first.scores.branch.pointingGame, own);
    const written = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    assert.equal(written.samples, result.samples);
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("evaluate() excludes unannotated images from localisation and says how many", async () => {
  const base = syntheticDataset({ size: 16, count: 12, numClasses: 2, seed: 5 });
  const keep = new Set([0, 1, 2, 3, 4, 5]);
  const dataset = stripAnnotations(base, keep);
  const model = createReferenceNet({ numClasses: 2, inputSize: 16, width: 0.25 });
  try {
    const indices = base.records.map((_, i) => i);
    const result = await evaluate(model, dataset, {
      indices,
      explainers: ["grad-cam"],
      faithfulness: false,
      resamples: 200,
      progress: false,
    });
    const s = result.explainers["grad-cam"].metrics.energyPointingGame;
    assert.equal(s.scored, 6);
    assert.equal(s.excluded, 6);
    assert.ok(!("deletionAuc" in result.explainers["grad-cam"].metrics));
  } finally {
    model.dispose();
  }
});

Deno.test("evaluate() draws the faithfulness curves on a seeded subset and localisation on every image", async () => {
  const dataset = syntheticDataset({ size: 16, count: 30, numClasses: 3, seed: 4 });
  const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25, seed: 4 });
  try {
    const run = (seed: number) =>
      evaluate(model, dataset, {
        explainers: ["grad-cam"],
        batchSize: 4,
        faithfulnessSteps: 4,
        faithfulnessImages: 5,
        resamples: 100,
        seed,
        progress: false,
      });
    warmUp(model);
    const before = tf.memory().numTensors;
    const [a, again, other] = [await run(1), await run(1), await run(2)];
    assert.equal(tf.memory().numTensors, before, "no tensors left behind");
    const m = a.explainers["grad-cam"].metrics;
    assert.equal(m.deletionAuc.scored, 5);
    assert.equal(m.insertionAuc.scored, 5);
    assert.equal(m.pointingGame.scored + m.pointingGame.excluded, a.samples);
    assert.ok(m.pointingGame.scored > 5, "localisation covers every annotated image");
    const curved = (r: typeof a) =>
      r.perImage.filter((p) => p.scores["grad-cam"].deletionAuc !== null).map((p) => p.index);
    assert.deepEqual(curved(a), curved(again), "the subset follows the seed");
    assert.notDeepEqual(curved(a), curved(other));
    await assert.rejects(
      evaluate(model, dataset, { faithfulnessImages: -1, progress: false }),
      /"faithfulnessImages" must be/,
    );
  } finally {
    model.dispose();
  }
});

Deno.test("evaluate() refuses an empty selection", async () => {
  const dataset = syntheticDataset({ size: 16, count: 4, numClasses: 2 });
  const model = createReferenceNet({ numClasses: 2, inputSize: 16, width: 0.25 });
  await assert.rejects(() => evaluate(model, dataset, { indices: [] }), /no samples/);
  model.dispose();
});
