import assert from "node:assert/strict";
import { runTask } from "./_run.ts";

const runSweep = (args: string[]) => runTask("tasks/sweep.ts", args);

/** A 2 × 1 × 1 × 1 × 2 grid: 4 cells of 40 synthetic 16 px images, 1 epoch of 4 steps each. */
const TINY = [
  "--size=16",
  "--width=0.25",
  "--count=40",
  "--classes=2",
  "--batch=8",
  "--epochs=1",
  "--threads=1",
  "--resamples=50",
  "--backbones=reference,plain_cnn",
  "--heads=cam",
  "--losses=bce",
  "--weights=1",
  "--seeds=0,1",
];
const CELLS = [
  "reference-builtin-bce-w1-s0",
  "reference-builtin-bce-w1-s1",
  "plain_cnn-cam-bce-w1-s0",
  "plain_cnn-cam-bce-w1-s1",
];

async function mtimes(out: string): Promise<number[]> {
  return await Promise.all(
    CELLS.map(async (id) => (await Deno.stat(`${out}/cells/${id}/result.json`)).mtime!.getTime()),
  );
}

/** The config column of summary.md's ranked table, top to bottom, with the rank column. */
function summaryRanks(markdown: string): [number, string][] {
  return markdown.split("\n")
    .filter((l) => /^\| \d+ \|/.test(l))
    .map((l) => {
      const cols = l.split("|").map((s) => s.trim());
      return [Number(cols[1]), cols[2]];
    });
}

Deno.test("sweep: runs a 4-cell grid, a rerun skips every cell, and a deleted cell alone reruns", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/sweep`;
    const first = await runSweep([...TINY, `--out=${out}`]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /ran 4 cell\(s\), skipped 0 already done/);
    for (const id of CELLS) {
      const cell = JSON.parse(await Deno.readTextFile(`${out}/cells/${id}/result.json`));
      assert.equal(cell.cell.id, id);
      assert.equal(cell.training.steps, 4, "32 training images in batches of 8, one epoch");
      const acc = cell.classification.accuracy;
      assert.ok(acc.mean >= 0 && acc.mean <= 1 && acc.ci[0] <= acc.mean && acc.mean <= acc.ci[1]);
      for (const e of ["grad-cam", "branch"]) {
        for (const m of ["energyPointingGame", "pointingGame", "maskAuc"]) {
          assert.ok(Number.isFinite(cell.explainers[e].metrics[m].mean), `${id} ${e} ${m}`);
        }
      }
      assert.equal(cell.explainers.branch.metrics.deletionAuc, undefined, "faithfulness is off");
    }
    for (const f of ["summary.md", "results.json", "report.html"]) {
      assert.ok((await Deno.stat(`${out}/${f}`)).size > 0, f);
    }

    // summary.md ranks the configurations in results.json's order, best first by the rank-by metric.
    const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assert.equal(results.rankBy, "branch.energyPointingGame");
    assert.equal(results.ranking.length, 2);
    const markdown = await Deno.readTextFile(`${out}/summary.md`);
    assert.deepEqual(
      summaryRanks(markdown),
      results.ranking.map((r: { rank: number; config: string }) => [r.rank, r.config]),
    );
    const scores = results.ranking.map((r: { metrics: Record<string, { mean: number }> }) =>
      r.metrics["branch.energyPointingGame"].mean
    );
    assert.ok(scores[0] >= scores[1], `ranked best first: ${scores}`);
    // Two seeds pool into their mean, recomputed here from the cells.
    const top = results.ranking[0];
    const seedMeans = await Promise.all(
      top.seeds.map(async (s: number) =>
        JSON.parse(await Deno.readTextFile(`${out}/cells/${top.config}-s${s}/result.json`))
          .explainers.branch.metrics.energyPointingGame.mean
      ),
    );
    assert.ok(
      Math.abs(top.metrics["branch.energyPointingGame"].mean - (seedMeans[0] + seedMeans[1]) / 2) <
        1e-12,
    );
    assert.equal(top.metrics["branch.energyPointingGame"].seeds, 2);
    assert.equal(results.comparisons[0].groups.length, 2, "the report sets configs side by side");

    // A rerun skips all four cells and leaves their files untouched.
    const before = await mtimes(out);
    const second = await runSweep([...TINY, `--out=${out}`]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /ran 0 cell\(s\), skipped 4 already done/);
    assert.equal(second.stdout.match(/skipped, already done/g)?.length, 4);
    assert.deepEqual(await mtimes(out), before);

    // Deleting one cell's result reruns that cell only.
    await Deno.remove(`${out}/cells/plain_cnn-cam-bce-w1-s1/result.json`);
    const third = await runSweep([...TINY, `--out=${out}`]);
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stdout, /ran 1 cell\(s\), skipped 3 already done/);
    assert.match(third.stdout, /plain_cnn-cam-bce-w1-s1: running/);
    assert.doesNotMatch(third.stdout, /reference-builtin-bce-w1-s0: running/);
    const after = await mtimes(out);
    assert.deepEqual(after.slice(0, 3), before.slice(0, 3));

    // A rerun with other settings refuses to mix in the old cells.
    const other = await runSweep([...TINY, "--epochs=2", `--out=${out}`]);
    assert.equal(other.code, 2);
    assert.match(
      other.stderr,
      /result\.json: cell reference-builtin-bce-w1-s0 was run with other settings/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sweep: --help lists the grid flags and exits 0", async () => {
  const r = await runSweep(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  for (const flag of ["--backbones", "--heads", "--losses", "--weights", "--seeds", "--rank-by"]) {
    assert.ok(r.stdout.includes(flag), flag);
  }
});

Deno.test("sweep: a bad backbone, loss, weight or rank-by metric exits 2 naming the flag and the choices", async () => {
  const bad = await runSweep(["--backbones=reference,resnet99"]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /Flag --backbones: unknown value "resnet99" \(choices: reference, .*plain_cnn/,
  );
  const loss = await runSweep(["--losses=bce,mse"]);
  assert.equal(loss.code, 2);
  assert.match(loss.stderr, /Flag --losses: unknown value "mse" \(choices: bce, dice/);
  const weight = await runSweep(["--weights=1,0"]);
  assert.equal(weight.code, 2);
  assert.match(weight.stderr, /Flag --weights: "0" is not a number above 0/);
  const twice = await runSweep(["--seeds=0,0"]);
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /Flag --seeds lists "0" twice/);
  const rankBy = await runSweep(["--rank-by=branch.deletionAuc"]);
  assert.equal(rankBy.code, 2);
  assert.match(
    rankBy.stderr,
    /Flag --rank-by: unknown metric "branch.deletionAuc" \(choices: accuracy, /,
  );
});
