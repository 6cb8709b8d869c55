import assert from "node:assert/strict";
import { runTask, TINY_TRANSFER } from "./_run.ts";
import { assertMatchesSchema, assertSummaryAgrees } from "./_schema.ts";

const runTransfer = (args: string[]) => runTask("tasks/transfer.ts", args);

Deno.test("transfer: the tiny preset runs three pipelines, writes its files, and summary.md matches results.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/run`;
    const r = await runTransfer([...TINY_TRANSFER, "--target-annotated=2", `--out=${out}`]);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ["results.json", "summary.md", "report.html"]) {
      assert.ok((await Deno.stat(`${out}/${f}`)).isFile, f);
    }
    const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assertMatchesSchema(results, "transfer");
    assert.deepEqual(results.pipelines.map((p: { key: string }) => p.key), [
      "masks",
      "labels-only",
      "none",
    ]);
    // 30 target images, 30% held out stratified: 9 to evaluate, 21 to fine-tune on, of which
    // 2 per class (2 classes) keep their masks.
    const target = results.data.target;
    assert.equal(target.fineTune + target.test, 30);
    assert.equal(target.test, 9);
    assert.equal(target.annotated, 4);
    assert.equal(results.data.source.classNames.length, 3);
    // The saved source models name their classes, as train's do.
    for (const arm of ["masks", "labels-only"]) {
      const saved = JSON.parse(await Deno.readTextFile(`${out}/source-${arm}/model.json`));
      assert.deepEqual(saved.classNames, results.data.source.classNames, arm);
    }
    // The source has 3 classes, the target 2: the classifier's last layer stays behind.
    assert.ok(results.pipelines[0].transferredVariables > 0);
    assert.equal(
      results.pipelines[0].transferredVariables,
      results.pipelines[1].transferredVariables,
    );
    assert.equal(results.pipelines[2].transferredVariables, 0);
    for (const p of results.pipelines) {
      assert.equal(p.evaluation.samples, target.test);
      assert.deepEqual(Object.keys(p.explainers).sort(), ["branch", "grad-cam"]);
    }
    // Paired tests: (1) vs (2) and (1) vs (3), per explainer, on every held-out image.
    assert.deepEqual(
      results.pairedTests.map((t: { comparison: string; explainer: string }) =>
        `${t.comparison} ${t.explainer}`
      ),
      ["(1) vs (2) branch", "(1) vs (3) branch", "(1) vs (2) grad-cam", "(1) vs (3) grad-cam"],
    );
    // The paired difference is the difference of the pipelines' mean energies (same images).
    const t12 = results.pairedTests[0];
    assert.equal(t12.n, target.test);
    const e = (i: number) => results.pipelines[i].explainers.branch.energyPointingGame.mean;
    assert.ok(Math.abs(t12.difference.estimate - (e(0) - e(1))) < 1e-9);
    assert.ok(t12.difference.ci[0] <= t12.difference.estimate);
    assert.ok(t12.difference.estimate <= t12.difference.ci[1]);

    const md = await Deno.readTextFile(`${out}/summary.md`);
    assertSummaryAgrees(md, results, "transfer");
    const f = (s: { mean: number; ci: [number, number] }) =>
      `${s.mean.toFixed(4)} [${s.ci[0].toFixed(4)}, ${s.ci[1].toFixed(4)}]`;
    for (const p of results.pipelines) {
      const row = md.split("\n").find((l) => l.startsWith(`| ${p.name} |`));
      assert.ok(row, md);
      const cells = row.split("|").slice(2, -1).map((s) => s.trim());
      assert.equal(cells[0], f(p.accuracy));
      assert.equal(cells[1], f(p.explainers.branch.energyPointingGame));
      assert.equal(cells[2], f(p.explainers.branch.pointingGame));
      assert.equal(cells[3], f(p.explainers["grad-cam"].energyPointingGame));
      assert.equal(cells[4], f(p.explainers["grad-cam"].pointingGame));
    }
    for (const t of results.pairedTests) {
      const row = md.split("\n").find((l) => l.startsWith(`| ${t.comparison} | ${t.explainer} |`));
      assert.ok(row, md);
      assert.ok(
        row.includes(`| ${t.n} | ${f({ mean: t.difference.estimate, ci: t.difference.ci })} |`),
        row,
      );
    }
    assert.match(r.stdout, /\| \(3\) target alone \|/, "the summary is printed");

    const html = await Deno.readTextFile(`${out}/report.html`);
    const embedded = html.match(
      /<script type="application\/json" id="report-data">([^<]*)<\/script>/,
    );
    assert.ok(embedded, "report.html embeds its data");
    const data = JSON.parse(embedded[1]);
    assert.equal(data.comparisons.length, 3);
    assert.equal(data.comparisons[0].groups.length, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("transfer: a real source without --source-root exits 2 and lists the choices", async () => {
  const r = await runTransfer(["--source=cub", "--threads=1"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /Flag --source cub needs --source-root PATH/);
  assert.match(r.stderr, /synthetic, cub, cars, busi, folder, idx, fashion-canvas/);
  const t = await runTransfer(["--target=nope", "--threads=1"]);
  assert.equal(t.code, 2, t.stderr);
  assert.match(
    t.stderr,
    /Flag --target must be one of synthetic, cub, cars, busi, folder, idx, fashion-canvas; got "nope"/,
  );
});

Deno.test("transfer: --help lists the flags and exits 0", async () => {
  const r = await runTransfer(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  for (
    const flag of ["--source <value>", "--target-root", "--target-annotated", "--held-out", "--out"]
  ) {
    assert.ok(r.stdout.includes(flag), flag);
  }
  assert.match(r.stdout, /Usage: deno task transfer/);
});
