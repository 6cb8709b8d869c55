import assert from "node:assert/strict";
import {
  batches,
  checkDesign,
  compareGradcamDesign,
  compareMarkdown,
  comparisonTest,
  createReferenceNet,
  findTest,
  mapFaithfulness,
  pairedTest,
  poolSeeds,
  reportComparisons,
  type SeedComparison,
  syntheticDataset,
  tf,
  trainArms,
  verdict,
} from "../../mod.ts";
import type { ComparisonTest, EvaluationResult, MetricSummary } from "../../mod.ts";
import { useEngines } from "../_helpers.ts";

await useEngines();

const design = compareGradcamDesign();

Deno.test("trainArms() gives both arms the very same batches in the same order, across epochs", async () => {
  const dataset = syntheticDataset({ size: 16, count: 20, numClasses: 2, seed: 3 });
  const trainIndices = Array.from({ length: 14 }, (_, i) => i); // 3 batches of 4 per epoch
  const net = () => createReferenceNet({ numClasses: 2, inputSize: 16, width: 0.125, seed: 7 });
  const models = { baseline: net(), treatment: net() };
  const tensors = tf.memory().numTensors;
  try {
    const r = await trainArms(models, {
      design,
      dataset,
      trainIndices,
      seed: 2,
      steps: 7, // Two epochs and one step of a third.
      batchSize: 4,
      lr: 1e-3,
      progress: false,
    });
    assert.equal(tf.memory().numTensors, tensors, "no tensor leaks");
    const [a, b] = r.ids;
    assert.equal(a.length, 7);
    assert.deepEqual(b, a);
    // (a) trains on cross-entropy alone, (b) adds the location term, on the same batches.
    assert.deepEqual(Object.keys(r.losses[0][0]), ["loss", "ce"]);
    assert.deepEqual(Object.keys(r.losses[1][0]), ["loss", "ce", "bce", "backgroundSwap"]);
    // The order of epoch e (from 0) is drawn from seed · 1009 + e, as before train() ran the arms.
    const expected: string[][] = [];
    for (const e of [0, 1, 2]) {
      for await (
        const batch of batches(dataset, trainIndices, {
          batchSize: 4,
          shuffle: true,
          seed: 2 * 1009 + e,
          dropLast: true,
        })
      ) {
        expected.push(batch.ids);
        tf.dispose([batch.images, batch.labels, batch.masks, batch.hasMask]);
      }
    }
    assert.deepEqual(a, expected.slice(0, 7));
    assert.notDeepEqual(a[0], a[3], "each epoch has its own order");
  } finally {
    models.baseline.dispose();
    models.treatment.dispose();
  }
});

/** A metric summary of `values` (null: not scored), with a dummy interval. */
function summaryOf(values: (number | null)[]): MetricSummary {
  const ok = values.filter((v): v is number => v !== null);
  const mean = ok.length ? ok.reduce((s, v) => s + v, 0) / ok.length : NaN;
  return {
    mean,
    ci: [mean - 0.1, mean + 0.1],
    scored: ok.length,
    excluded: values.length - ok.length,
  };
}

/** An evaluation whose maps score `scores[map]` per image on every metric. */
function evaluation(
  scores: Record<string, (number | null)[]>,
  correct: number[],
): EvaluationResult {
  const metrics = design.metrics.map((m) => m.key);
  return {
    samples: correct.length,
    classNames: ["x", "y"],
    classification: { accuracy: summaryOf(correct) },
    explainers: Object.fromEntries(
      Object.entries(scores).map(([map, v]) => [
        map,
        { metrics: Object.fromEntries(metrics.map((m) => [m, summaryOf(v)])) },
      ]),
    ),
    perImage: correct.map((c, i) => ({
      index: i,
      id: `s${i}`,
      label: 0,
      predicted: c ? 0 : 1,
      confidence: 1,
      scores: Object.fromEntries(
        Object.entries(scores).map(([map, v]) => [
          map,
          Object.fromEntries(metrics.map((m) => [m, v[i]])),
        ]),
      ),
    })),
  } as unknown as EvaluationResult;
}

/**
 * A seed's run whose (b) maps score `shift` more than (a)'s on every image;
 * image 0 has no score (like BUSI's normal images); its tests are listed in
 * `order` (reversed: last first).
 */
function fakeRun(seed: number, shift: number, order: "design" | "reversed"): SeedComparison {
  const base = [null, 0.2, 0.4, 0.3, 0.6, 0.5];
  const a = evaluation(
    { "grad-cam": base, "vanilla-gradient": base, random: base },
    [1, 0, 1, 1, 0, 1],
  );
  const up = base.map((v, i) => (v === null ? null : v + shift + 0.01 * i));
  const b = evaluation({ "grad-cam": up, "vanilla-gradient": up, branch: up, random: base }, [
    1,
    1,
    1,
    1,
    0,
    1,
  ]);
  const run = {
    seed,
    trainSeconds: 1,
    history: [],
    a,
    b,
    pairedTests: [] as ComparisonTest[],
    correct: {
      a: a.perImage.map((r) => Number(r.predicted === r.label)),
      b: b.perImage.map((r) => Number(r.predicted === r.label)),
    },
    pretrained: null,
    shortcut: null,
  };
  const test = (c: string, metric: string, xa: (number | null)[], xb: (number | null)[]) =>
    comparisonTest(c, metric, xa, xb, { seed, resamples: 200 });
  run.pairedTests.push(test(design.classifier, "accuracy", run.correct.a, run.correct.b));
  for (const p of design.pairs) {
    for (const m of design.metrics) run.pairedTests.push(test(p.name, m.key, base, up));
  }
  if (order === "reversed") run.pairedTests.reverse();
  return run;
}

Deno.test("poolSeeds() matches tests across seeds by key, not position, with treatment − baseline positive", () => {
  const runs = [fakeRun(0, 0.1, "design"), fakeRun(1, 0.3, "reversed")];
  const pooled = poolSeeds(runs, design);
  assert.equal(pooled.over, "seeds");
  const key = ["Grad-CAM (b) vs Grad-CAM (a)", "maskAuc"] as const;
  const t = findTest(pooled.tests, ...key);
  const each = runs.map((r) => findTest(r.pairedTests, ...key).difference.estimate);
  // (b) scored higher, so the difference is positive: the mean of the seeds' differences.
  assert.ok(each.every((d) => d > 0));
  assert.ok(Math.abs(t.difference.estimate - (each[0] + each[1]) / 2) < 1e-12);
  assert.ok(Math.abs(t.meanB - t.meanA - t.difference.estimate) < 1e-12);
  // Every (seed, image) pair with both scores, pooled: 5 images of 6 per seed.
  assert.equal(t.n, 10);
  const a = runs.flatMap((r) => r.a.perImage.map((x) => x.scores["grad-cam"].maskAuc));
  const b = runs.flatMap((r) => r.b.perImage.map((x) => x.scores["grad-cam"].maskAuc));
  assert.equal(t.wilcoxonP, pairedTest(a, b, { resamples: 1 }).wilcoxonP);
  // The pooled tests keep the first seed's order.
  assert.deepEqual(
    pooled.tests.map((x) => [x.comparison, x.metric]),
    runs[0].pairedTests.map((x) => [x.comparison, x.metric]),
  );
  const acc = findTest(pooled.tests, design.classifier, "accuracy");
  assert.ok(acc.difference.estimate > 0, "(b) was right on one more image");
});

Deno.test("poolSeeds() of one seed keeps its own tests and figures (intervals over images)", () => {
  const run = fakeRun(4, 0.2, "design");
  const pooled = poolSeeds([run], design);
  assert.equal(pooled.over, "images");
  assert.deepEqual(pooled.tests, run.pairedTests);
  assert.deepEqual(pooled.maps["(b) branch"].maskAuc, {
    mean: run.b.explainers.branch.metrics.maskAuc.mean,
    ci: run.b.explainers.branch.metrics.maskAuc.ci,
  });
});

Deno.test("verdict() finds its tests by key: reordering the tests changes no sentence", () => {
  const one = poolSeeds([fakeRun(0, 0.1, "design")], design);
  const reversed = { ...one, tests: [...one.tests].reverse() };
  const text = verdict(one, design);
  assert.equal(verdict(reversed, design), text);
  assert.match(text, /^Test accuracy: /);
  assert.match(text, /Energy on the object, branch \(b\) vs Grad-CAM \(a\): \(b\) higher/);
  assert.throws(
    () =>
      verdict(
        { ...one, tests: one.tests.filter((t) => t.metric !== "energyPointingGame") },
        design,
      ),
    /No paired test of "branch \(b\) vs Grad-CAM \(a\)" on energyPointingGame/,
  );
});

Deno.test("reportComparisons() counts what each figure pools: the seed's scored and excluded images, or the seeds", () => {
  const run = fakeRun(0, 0.1, "design");
  const one = reportComparisons(poolSeeds([run], design), [run], design);
  const camGroup = one.find((c) => c.title.startsWith("grad-cam:"))!.groups[1];
  assert.equal(camGroup.name, "(b) grad-cam");
  assert.deepEqual(
    { scored: camGroup.metrics.maskAuc.scored, excluded: camGroup.metrics.maskAuc.excluded },
    { scored: 5, excluded: 1 },
  );
  for (const c of one) {
    for (const g of c.groups) {
      for (const [metric, s] of Object.entries(g.metrics)) {
        const side = g.name.startsWith("(a)") ? run.a : run.b;
        const own = metric === "accuracy"
          ? side.classification.accuracy
          : side.explainers[g.name.slice(4)].metrics[metric];
        assert.deepEqual([s.scored, s.excluded], [own.scored, own.excluded], `${g.name} ${metric}`);
      }
    }
  }
  const runs = [run, fakeRun(1, 0.2, "design")];
  const two = reportComparisons(poolSeeds(runs, design), runs, design);
  assert.deepEqual(
    two.flatMap((c) => c.groups.flatMap((g) => Object.values(g.metrics).map((s) => s.scored))),
    two.flatMap((c) => c.groups.flatMap((g) => Object.values(g.metrics).map(() => 2))),
  );
  assert.deepEqual(two.map((c) => c.title), one.map((c) => c.title));
});

Deno.test("checkDesign() refuses a verdict on a comparison the design does not test", () => {
  assert.throws(
    () =>
      checkDesign({
        ...design,
        verdict: [{ comparison: "RISE (b) vs RISE (a)", metric: "maskAuc", what: "x" }],
      }),
    /names "RISE \(b\) vs RISE \(a\)" on "maskAuc", which the design does not test/,
  );
  assert.throws(
    () => checkDesign({ ...design, pairs: [...design.pairs, design.pairs[0]] }),
    /two comparisons are "branch \(b\) vs Grad-CAM \(a\)"/,
  );
  // A design is data: a new map for (b) and a pair of it is a change of fields.
  const withRise = checkDesign({
    ...design,
    treatment: { ...design.treatment, maps: [...design.treatment.maps, "rise"] },
    pairs: [...design.pairs, {
      name: "RISE (b) vs Grad-CAM (a)",
      baseline: "grad-cam",
      treatment: "rise",
    }],
  });
  assert.equal(withRise.pairs.length, 5);
});

Deno.test("the verdict names localisation and faithfulness together, and summary.md tables it", () => {
  const run = fakeRun(0, 0.2, "design");
  // (b)'s Grad-CAM deletes the evidence first: its deletion AUC is well below the random map's.
  run.b.perImage.forEach((r, i) => {
    const base = r.scores.random.deletionAuc;
    r.scores["grad-cam"].deletionAuc = base === null ? null : base - 0.3 - 0.01 * i;
  });
  run.faithfulness = mapFaithfulness([run], design, { seed: 0, resamples: 200 });
  const summary = poolSeeds([run], design);
  assert.equal(summary.faithfulness!["(b) grad-cam"].faithful, true);
  assert.equal(summary.faithfulness!["(b) branch"].faithful, false);
  // (a)'s maps equal the random map: not clearly below it.
  assert.equal(summary.faithfulness!["(a) grad-cam"].faithful, false);
  const said = verdict(summary, design).split("\n");
  const branch = said.find((s) =>
    s.startsWith("Energy on the object, branch (b) vs Grad-CAM (a)")
  )!;
  assert.match(branch, /\(b\) higher than \(a\)/);
  assert.match(branch, /Faithfulness: \(b\) branch is not the model's reason/);
  assert.ok(said.some((s) => /^\(b\) grad-cam is the model's reason/.test(s)));
  const md = compareMarkdown(summary, design, {
    dataset: "synthetic",
    classes: 2,
    train: 8,
    annotatedTrain: 8,
    test: 6,
    size: 16,
    backbone: "reference",
    width: 0.25,
    steps: 2,
    batch: 4,
    loss: "bce",
    lossWeight: 1,
    shortcut: false,
  });
  assert.match(md, /## Is each map the model's reason\?/);
  assert.match(md, /\| \(b\) branch \| [^\n]* \| \*\*no\*\* \|/);
  assert.match(md, /\| \(b\) grad-cam \| [^\n]* \| yes \|/);
  // The random control's own figures are tabled beside the maps.
  assert.ok("(a) random" in summary.maps && "(b) random" in summary.maps);
});
