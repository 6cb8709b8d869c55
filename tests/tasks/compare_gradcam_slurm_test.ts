import assert from "node:assert/strict";
import { runTask, TINY_COMPARE } from "./_run.ts";

const TINY = [...TINY_COMPARE, "--threads=1"];
import { assertMatchesSchema, assertSummaryAgrees } from "./_schema.ts";

const runCompare = (args: string[]) => runTask("tasks/compare_gradcam.ts", args, ["--allow-run"]);

Deno.test("compare-gradcam --seeds 2 --slurm: the array's cells, collected, equal one local --seeds 2 run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const local = await runCompare([...TINY, "--seeds=2", `--out=${dir}/local`]);
    assert.equal(local.code, 0, local.stderr);

    const out = `${dir}/array`;
    const dry = await runCompare([
      ...TINY,
      "--seeds=2",
      `--out=${out}`,
      "--slurm",
      "--dry-run",
      "--gpus=1",
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    const script = await Deno.readTextFile(`${out}/slurm/array.sbatch`);
    assert.match(script, /#SBATCH --array=0-1%16\n/);
    assert.match(script, /#SBATCH --gres=gpu:1\n/);
    assert.match(script, /task compare-gradcam --config "\$CELLS\/\$id\.json"/);
    assert.deepEqual(
      (await Deno.readTextFile(`${out}/cells/cells.txt`)).trim().split("\n"),
      ["seed-0", "seed-1"],
    );

    // Before any cell ran, --collect has nothing to gather.
    const early = await runCompare([`--collect=${out}`]);
    assert.equal(early.code, 1);
    assert.match(early.stderr, /None of the 2 seeds of .* has results yet/);

    // Run each cell as its array task would, then gather them.
    for (const k of [0, 1]) {
      const cell = await runCompare([`--config=${out}/cells/seed-${k}.json`, "--threads=1"]);
      assert.equal(cell.code, 0, cell.stderr);
      const r = JSON.parse(await Deno.readTextFile(`${out}/cells/seed-${k}/results.json`));
      assertMatchesSchema(r, "compare-gradcam");
      assert.deepEqual(r.seeds.map((s: { seed: number }) => s.seed), [k]);
    }
    const collected = await runCompare([`--collect=${out}`]);
    assert.equal(collected.code, 0, collected.stderr);
    const a = JSON.parse(await Deno.readTextFile(`${dir}/local/results.json`));
    const b = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assertSummaryAgrees(await Deno.readTextFile(`${out}/summary.md`), b, "compare-gradcam");
    assert.deepEqual(b.summary.seeds, [0, 1]);
    assert.equal(b.summary.over, "seeds");
    // The same training, seed by seed, so the same pooled figures and tests.
    assert.deepEqual(b.summary, a.summary);
    assert.deepEqual(b.comparisons, a.comparisons);
    const summaryOf = (md: string) => md.split("\n").filter((l) => l.startsWith("|"));
    assert.deepEqual(
      summaryOf(await Deno.readTextFile(`${out}/summary.md`)),
      summaryOf(await Deno.readTextFile(`${dir}/local/summary.md`)),
    );
    // The report and the grid come from the last seed's cell.
    const html = await Deno.readTextFile(`${out}/report.html`);
    assert.match(html, /data:image\/png;base64,/);
    assert.ok((await Deno.stat(`${out}/saliency.png`)).size > 0);

    // A seed whose results are gone is named, and the rest still pooled.
    await Deno.remove(`${out}/cells/seed-1/results.json`);
    const partial = await runCompare([`--collect=${out}`]);
    assert.equal(partial.code, 3);
    assert.match(partial.stderr, /1 of 2 cell\(s\) have no results:\n- seed-1: missing/);
    const p = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assert.deepEqual(p.summary.seeds, [0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compare-gradcam --preset quick sets its flags, and the command line overrides them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runCompare([
      "--preset=quick",
      "--slurm",
      "--dry-run",
      "--steps=7",
      `--out=${dir}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const cell = JSON.parse(await Deno.readTextFile(`${dir}/cells/seed-0.json`));
    assert.equal(cell.steps, "7", "given on the command line");
    assert.equal(cell.count, "800", "from the preset");
    assert.equal(cell.size, "40", "from the preset");
    const bad = await runCompare(["--preset=huge"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Flag --preset must be one of full, quick; got "huge"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
