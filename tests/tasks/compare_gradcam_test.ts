import assert from "node:assert/strict";
import { runTask, TINY_COMPARE as TINY } from "./_run.ts";
import { assertMatchesSchema, assertSummaryAgrees } from "./_schema.ts";
import { loadSharp } from "../../lib/deps.ts";
import { writeBusiFixture } from "./_busi.ts";
import { writeMask } from "../datasets/_loader_fixtures.ts";

const runCompare = (args: string[]) => runTask("tasks/compare_gradcam.ts", args, ["--allow-run"]);

/** The row of a markdown table whose first cell is `first`, split into cells. */
function tableRow(markdown: string, first: string): string[] {
  const line = markdown.split("\n").find((l) => l.startsWith(`| ${first} |`));
  assert.ok(line, `summary.md has a row "${first}"`);
  return line.split("|").slice(1, -1).map((c) => c.trim());
}

Deno.test("compare-gradcam trains both models and writes results, summary, report and grid that agree", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runCompare([...TINY, `--out=${dir}`]);
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    assertMatchesSchema(results, "compare-gradcam");
    assert.equal(results.run.task, "compare-gradcam");
    assert.equal(results.run.seed, 0);
    assert.equal(results.run.config.steps, 4);
    assert.equal(results.run.versions.tfjs, "4.22.0");
    assert.ok("gitCommit" in results.run);
    // One seed: both models evaluated on the same test images, with the explainers asked for.
    assert.equal(results.seeds.length, 1);
    const seed = results.seeds[0];
    assert.equal(seed.history.length, 4);
    // The maps, and the random map every map's faithfulness is tested against.
    assert.deepEqual(Object.keys(seed.a.explainers), ["grad-cam", "vanilla-gradient", "random"]);
    assert.deepEqual(Object.keys(seed.b.explainers), [
      "grad-cam",
      "vanilla-gradient",
      "branch",
      "random",
    ]);
    assert.deepEqual(
      seed.a.perImage.map((x: { index: number }) => x.index),
      seed.b.perImage.map((x: { index: number }) => x.index),
    );
    // The baseline trains on cross-entropy alone; (b) adds the default location terms.
    assert.deepEqual(Object.keys(seed.history[0].a), ["loss", "ce"]);
    assert.deepEqual(Object.keys(seed.history[0].b), ["loss", "ce", "bce", "backgroundSwap"]);
    // The paired accuracy test is the difference of the two accuracies, image by image.
    const acc = results.summary.tests.find((t: { metric: string }) => t.metric === "accuracy");
    const accA = seed.a.classification.accuracy.mean, accB = seed.b.classification.accuracy.mean;
    assert.ok(Math.abs(acc.difference.estimate - (accB - accA)) < 1e-9);
    assert.ok(acc.wilcoxonP >= 0 && acc.wilcoxonP <= 1);
    // Every pair of maps is tested on every metric.
    const energy = results.summary.tests.filter((t: { metric: string }) =>
      t.metric === "energyPointingGame"
    );
    assert.deepEqual(energy.map((t: { comparison: string }) => t.comparison), [
      "branch (b) vs Grad-CAM (a)",
      "branch (b) vs vanilla gradient (a)",
      "Grad-CAM (b) vs Grad-CAM (a)",
      "vanilla gradient (b) vs vanilla gradient (a)",
    ]);
    const e0 = energy[0];
    assert.ok(e0.difference.ci[0] <= e0.difference.estimate + 1e-12);
    assert.ok(Math.abs(e0.meanB - e0.meanA - e0.difference.estimate) < 1e-9);

    // summary.md shows the very numbers of results.json.
    const summary = await Deno.readTextFile(`${dir}/summary.md`);
    assertSummaryAgrees(summary, results, "compare-gradcam");
    const pct = (v: number) => (100 * v).toFixed(1);
    const rowA = tableRow(summary, "(a) baseline");
    const rowB = tableRow(summary, "(b) supervised");
    const ciA = results.summary.accuracy.a.ci;
    assert.equal(rowA[1], `${pct(accA)} [${pct(ciA[0])}, ${pct(ciA[1])}]`);
    assert.ok(rowB[1].startsWith(`${pct(accB)} [`));
    const branch = tableRow(summary, "(b) branch");
    const bEnergy = seed.b.explainers.branch.metrics.energyPointingGame.mean;
    assert.ok(branch[2].startsWith(bEnergy.toFixed(3)), `${branch[2]} vs ${bEnergy}`);
    assert.match(summary, /## Paired tests/);
    assert.match(r.stdout, /## Verdict/);
    // Every map is tested against the random map, and the verdict states each result.
    const faith: Record<
      string,
      { faithful: boolean; difference: { ci: number[] }; sentence: string }
    > = results.summary.faithfulness;
    assert.deepEqual(Object.keys(faith), [
      "(a) grad-cam",
      "(a) vanilla-gradient",
      "(b) grad-cam",
      "(b) vanilla-gradient",
      "(b) branch",
    ]);
    for (const f of Object.values(faith)) {
      assert.equal(f.faithful, f.difference.ci[1] < 0);
      assert.ok(summary.includes(f.sentence), f.sentence);
      assert.ok(results.findings.includes(f.sentence));
    }
    assert.match(summary, /## Is each map the model's reason\?/);

    // The report embeds results.json; the grid is a PNG with a column per map.
    const html = await Deno.readTextFile(`${dir}/report.html`);
    const embedded = html.match(
      /<script type="application\/json" id="report-data">([^<]*)<\/script>/,
    );
    assert.ok(embedded, "report.html embeds its data");
    assert.deepEqual(JSON.parse(embedded[1]), results);
    const meta = await (await loadSharp())(await Deno.readFile(`${dir}/saliency.png`)).metadata();
    assert.equal(meta.format, "png");
    // Columns image | ground truth | five maps, one row per distinct test image (4 here).
    assert.ok(meta.width! >= 7 * 160 && meta.height! >= 4 * 160, `${meta.width}×${meta.height}`);
    assert.ok(meta.height! < 5 * 300, `${meta.width}×${meta.height}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compare-gradcam --shortcut --seeds 2 reports cue energy and aggregates over seeds", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runCompare([...TINY, "--shortcut", "--seeds=2", "--seed=5", `--out=${dir}`]);
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    assertMatchesSchema(results, "compare-gradcam");
    assert.deepEqual(results.summary.seeds, [5, 6]);
    assert.equal(results.summary.over, "seeds");
    assert.match(results.dataset.name, /\+shortcut$/);
    const cue = results.summary.shortcut.cueEnergy;
    assert.deepEqual(Object.keys(cue), [
      "(a) grad-cam",
      "(a) vanilla-gradient",
      "(b) grad-cam",
      "(b) vanilla-gradient",
      "(b) branch",
    ]);
    // Across seeds: the mean of the two seeds' figures.
    const per = results.seeds.map((
      s: { shortcut: { cueEnergy: Record<string, { mean: number }> } },
    ) => s.shortcut.cueEnergy["(a) grad-cam"].mean);
    assert.ok(Math.abs(cue["(a) grad-cam"].mean - (per[0] + per[1]) / 2) < 1e-9);
    for (const f of Object.values(cue) as { mean: number }[]) {
      assert.ok(f.mean >= 0 && f.mean <= 1);
    }
    const accs = results.seeds.map((s: { a: { classification: { accuracy: { mean: number } } } }) =>
      s.a.classification.accuracy.mean
    );
    assert.ok(Math.abs(results.summary.accuracy.a.mean - (accs[0] + accs[1]) / 2) < 1e-9);
    const summary = await Deno.readTextFile(`${dir}/summary.md`);
    assertSummaryAgrees(summary, results, "compare-gradcam");
    assert.match(summary, /## Shortcut: saliency energy on the decoy patch/);
    assert.match(summary, /mean over 2 seeds/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compare-gradcam refuses an unknown dataset or a missing root, listing the choices", async () => {
  const choices = /synthetic, cub, cars, busi, folder, idx/;
  const unknown = await runCompare(["--dataset=mnist"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Flag --dataset must be one of .*got "mnist"/);
  assert.match(unknown.stderr, choices);
  const noRoot = await runCompare(["--dataset=cub"]);
  assert.equal(noRoot.code, 2);
  assert.match(noRoot.stderr, /--dataset cub needs --root PATH/);
  assert.match(noRoot.stderr, choices);
  const dir = await Deno.makeTempDir();
  try {
    const gone = await runCompare(["--dataset=busi", `--root=${dir}/missing`]);
    assert.equal(gone.code, 2);
    assert.match(
      gone.stderr,
      /Flag --root: the folder ".*missing" for --dataset busi does not exist/,
    );
    assert.match(gone.stderr, choices);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const loss = await runCompare(["--loss=mse"]);
  assert.equal(loss.code, 2);
  assert.match(
    loss.stderr,
    /Flag --loss: "mse" is not a location loss term \(both models have cross-entropy; choices: background-swap, bce, box, cam, dice, gain, kl, rrr, soft-iou\)/,
  );
  const help = await runCompare(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: deno task compare-gradcam \[flags\]/);
  for (const flag of ["--dataset", "--root", "--seeds", "--shortcut", "--backbone", "--loss"]) {
    assert.match(help.stdout, new RegExp(`${flag}\\b`));
  }
});

Deno.test("compare-gradcam on BUSI: the report's counts are the seed's scored and excluded images, gallery files have readable names, --resamples is recorded", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeBusiFixture(root, { perClass: 5 });
    // BUSI's normal images have an empty mask: localisation leaves them out.
    for (let i = 1; i <= 5; i++) {
      await writeMask(`${root}/normal/normal (${i})_mask.png`, 16, 16, []);
    }
    const out = `${root}/out`;
    const r = await runCompare([
      ...TINY,
      "--dataset=busi",
      `--root=${root}`,
      "--resamples=50",
      `--out=${out}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assertMatchesSchema(results, "compare-gradcam");
    assert.equal(results.config.resamples, 50);
    assert.equal(results.run.config.resamples, 50);
    const seed = results.seeds[0];
    type Summary = { scored: number; excluded: number };
    const own = (group: string, metric: string): Summary => {
      const side = group.startsWith("(a)") ? seed.a : seed.b;
      return metric === "accuracy"
        ? side.classification.accuracy
        : side.explainers[group.replace(/^\([ab]\) /, "")].metrics[metric];
    };
    let excluded = 0;
    for (const c of results.comparisons) {
      for (const g of c.groups) {
        for (const [metric, s] of Object.entries(g.metrics) as [string, Summary][]) {
          const o = own(g.name, metric);
          assert.deepEqual([s.scored, s.excluded], [o.scored, o.excluded], `${c.title}: ${g.name}`);
          excluded += s.excluded;
        }
      }
    }
    const mask = seed.b.explainers.branch.metrics.maskAuc;
    assert.ok(mask.excluded > 0 && mask.scored > 0, JSON.stringify(mask));
    assert.ok(excluded > 0, "some metric left the normal images out");
    // Gallery files: readable, file-safe, all different, and the ones the report names.
    const files = [];
    for await (const e of Deno.readDir(`${out}/gallery`)) files.push(e.name);
    assert.ok(files.length > 0);
    for (const f of files) assert.match(f, /^[a-z0-9]+(-[a-z0-9]+)*\.png$/, f);
    const named = results.gallery.flatMap((s: { items: { images: { image: string }[] }[] }) =>
      s.items.flatMap((i) => i.images.map((p) => `${p.image}.png`))
    );
    assert.deepEqual([...new Set(named)].sort(), [...files].sort());
    assert.ok(
      files.some((f) => /^(benign|malignant|normal)-\d+-b-branch\.png$/.test(f)),
      `${files}`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const FASHION = "/usr/share/datasets/fashion-mnist";
const noFashion = await Deno.stat(FASHION).then(() => null, () => `${FASHION} is missing`);
if (noFashion) console.log(`Skipping compare-gradcam on Fashion-MNIST: ${noFashion}`);

Deno.test({
  name:
    "compare-gradcam on real Fashion-MNIST (no masks) runs, and says (b) had nothing to learn from",
  ignore: noFashion !== null,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const r = await runCompare([
        ...TINY,
        "--dataset=idx",
        `--root=${FASHION}`,
        "--limit=12",
        `--out=${dir}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /note: no training image of idx has a mask or boxes/);
      const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
      assertMatchesSchema(results, "compare-gradcam");
      assert.equal(results.dataset.annotatedTrain, 0);
      assert.equal(results.dataset.test, 12, "--limit");
      assert.equal(results.dataset.classNames.length, 10);
      const summary = await Deno.readTextFile(`${dir}/summary.md`);
      assertSummaryAgrees(summary, results, "compare-gradcam");
      assert.match(summary, /\*\*No training image has a mask or boxes\*\*/);
      // Without masks the two losses are the same, so (a) and (b) learn the same weights.
      const seed = results.seeds[0];
      assert.deepEqual(
        seed.history.map((h: { a: { ce: number } }) => h.a.ce),
        seed.history.map((h: { b: { ce: number } }) => h.b.ce),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
