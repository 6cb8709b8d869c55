import assert from "node:assert/strict";
import {
  aggregateSeeds,
  defaultSweepGrid,
  type MetricSummary,
  poolCellSeeds,
  rankConfigs,
  REFERENCE_BACKBONE,
  SWEEP_VIT,
  SWEEP_VIT_WEIGHTS,
  sweepCellConfig,
  type SweepCellResult,
  sweepCells,
  type SweepConfig,
  sweepResults,
} from "../../mod.ts";

const fig = (mean: number, half = 0.1): MetricSummary => ({
  mean,
  ci: [mean - half, mean + half],
  scored: 10,
  excluded: 0,
});

/** A finished cell with these figures (accuracy and branch.deletionAuc). */
function result(accuracy: number, deletion: number): SweepCellResult {
  return {
    classification: { accuracy: fig(accuracy), balancedAccuracy: accuracy, macroF1: accuracy },
    explainers: { branch: { metrics: { deletionAuc: fig(deletion) } } },
    training: { epochs: 1, steps: 4, seconds: 2, finalLoss: 0.5 },
  } as unknown as SweepCellResult;
}

const CONFIG: SweepConfig = {
  dataset: "synthetic",
  root: null,
  count: 40,
  classes: 2,
  size: 16,
  backbones: [REFERENCE_BACKBONE, "plain_cnn"],
  heads: ["cam", "decoder"],
  losses: ["bce"],
  weights: [1, 2],
  seeds: [0, 1, 2],
  explainers: ["branch"],
  faithfulness: true,
  rankBy: "branch.deletionAuc",
  width: 0.25,
  pretrained: "",
  freeze: "",
  backboneLr: 1,
  microBatch: "auto",
  epochs: 1,
  batch: 8,
  lr: 0.003,
  resamples: 50,
  out: "runs/sweep",
  backend: "auto",
  threads: 1,
  seed: 0,
};

Deno.test("sweepCells() gives the reference backbone only its own head, and the train config passes the head the cell is named after", () => {
  const cells = sweepCells(CONFIG);
  // reference: 1 head; plain_cnn: 2 heads; × 2 weights × 3 seeds.
  assert.equal(cells.length, (1 + 2) * 2 * 3);
  const reference = cells.filter((c) => c.backbone === REFERENCE_BACKBONE);
  assert.deepEqual([...new Set(reference.map((c) => c.head))], [REFERENCE_BACKBONE]);
  assert.deepEqual(new Set(cells.map((c) => c.id)).size, cells.length, "ids are unique");
  for (const cell of cells) {
    const config = sweepCellConfig(CONFIG, cell, { out: `/x/${cell.id}` });
    assert.equal(config.head, cell.head, cell.id);
    assert.equal(config.backbone, cell.backbone, cell.id);
    assert.equal(config.loss, `ce=1,bce=${cell.weight}`);
    assert.equal(config.seed, cell.seed);
  }
});

Deno.test("rankConfigs() pools seeds by their t interval, ranks deletion AUC lowest first and configurations without a figure last", () => {
  const cells = sweepCells({ ...CONFIG, backbones: ["plain_cnn"], weights: [1] });
  // plain_cnn-cam: deletion 0.3, 0.4, 0.5; plain_cnn-decoder: only seed 0 done, no figure.
  const done = new Map<string, SweepCellResult>([
    ["plain_cnn-cam-bce-w1-s0", result(0.6, 0.3)],
    ["plain_cnn-cam-bce-w1-s1", result(0.7, 0.4)],
    ["plain_cnn-cam-bce-w1-s2", result(0.8, 0.5)],
    ["plain_cnn-decoder-bce-w1-s0", result(0.9, NaN)],
  ]);
  const ranked = rankConfigs(CONFIG, cells, done);
  assert.deepEqual(ranked.map((r) => r.config), [
    "plain_cnn-cam-bce-w1",
    "plain_cnn-decoder-bce-w1",
  ]);
  const pooled = ranked[0].metrics["branch.deletionAuc"];
  const t = aggregateSeeds([0.3, 0.4, 0.5]);
  assert.ok(Math.abs(pooled.mean - 0.4) < 1e-12);
  assert.deepEqual(pooled.ci, [t.low, t.high]);
  assert.equal(pooled.seeds, 3);
  assert.deepEqual(ranked[1].seeds, [0]);
  assert.equal(ranked[1].metrics["branch.deletionAuc"].seeds, 0);
  // With one seed, the image bootstrap interval of that seed.
  assert.deepEqual(poolCellSeeds([result(0.6, 0.3)], "accuracy"), {
    mean: 0.6,
    ci: [0.5, 0.7],
    seeds: 1,
  });

  // A better (lower) deletion AUC moves the decoder to the top.
  done.set("plain_cnn-decoder-bce-w1-s0", result(0.9, 0.1));
  assert.equal(rankConfigs(CONFIG, cells, done)[0].config, "plain_cnn-decoder-bce-w1");
});

Deno.test("sweepResults() lists only finished cells, and its table and comparisons follow the ranking", () => {
  const cells = sweepCells({ ...CONFIG, backbones: ["plain_cnn"], heads: ["cam"], weights: [1] });
  const done = new Map([["plain_cnn-cam-bce-w1-s1", result(0.5, 0.2)]]);
  const { results, markdown } = sweepResults(CONFIG, cells, done, {
    mode: "local",
    engine: "wasm",
    dataset: { name: "synthetic", classNames: ["a", "b"] },
    train: 32,
    test: 8,
    steps: 4,
    ranThisCall: 1,
    skippedThisCall: 0,
    wallSeconds: 3,
    incomplete: [],
  }, {});
  assert.equal((results.cells as unknown[]).length, 1);
  assert.match(markdown, /\| 1 \| plain_cnn-cam-bce-w1 \| plain_cnn \| cam \| bce \| 1 \|/);
  assert.doesNotMatch(markdown, /have no results yet/);
  const deletion = results.comparisons!.find((c) => c.title.startsWith("branch.deletionAuc"))!;
  assert.deepEqual(deletion.groups.map((g) => g.metrics["branch.deletionAuc"].mean), [0.2]);
});

Deno.test("sweepCells() runs an extra configuration over every seed, and its cells keep their own pretrained source", () => {
  const extra = defaultSweepGrid({
    heads: ["decoder", "cam"],
    losses: ["dice", "bce"],
    weights: [2, 1],
    pretrained: "torchvision",
  });
  assert.deepEqual(extra.backbones, [REFERENCE_BACKBONE, "plain_cnn"]);
  assert.equal(extra.pretrained, "", "the CNNs of the default grid train from scratch");
  const c: SweepConfig = { ...CONFIG, ...extra, pretrained: "torchvision" };
  const cells = sweepCells(c);
  const vit = cells.filter((cell) => cell.backbone === SWEEP_VIT);
  assert.deepEqual(
    vit.map((cell) => cell.id),
    [0, 1, 2].map((s) => `${SWEEP_VIT}-decoder-dice-w2-s${s}`),
  );
  assert.equal(cells.length, 2 * 3 * 3 + 3, "the grid's 18 cells, then 3 of the ViT");
  // torchvision has no ViT-S/16: timm's weights stand in; the grid's cells follow --pretrained.
  assert.equal(sweepCellConfig(c, vit[0], { out: "x" }).pretrained, SWEEP_VIT_WEIGHTS);
  assert.equal(sweepCellConfig(c, cells[6], { out: "x" }).pretrained, "torchvision:plain_cnn");
});
