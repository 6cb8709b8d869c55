import assert from "node:assert/strict";
import { runTask, TINY_SWEEP as TINY, TINY_SWEEP_CELLS as CELLS } from "./_run.ts";
import { assertMatchesSchema, assertSummaryAgrees } from "./_schema.ts";

const runSweep = (args: string[]) => runTask("tasks/sweep.ts", args);

async function mtimes(out: string): Promise<number[]> {
  return await Promise.all(
    CELLS.map(async (id) => (await Deno.stat(`${out}/cells/${id}/results.json`)).mtime!.getTime()),
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

Deno.test("sweep: runs a 4-cell grid, a rerun skips every cell, a deleted cell alone reruns, and another --lr is refused unless --override-settings", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/sweep`;
    const first = await runSweep([...TINY, `--out=${out}`]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /ran 4 cell\(s\), skipped 0 already done/);
    for (const id of CELLS) {
      // Each cell is a `deno task train` run, from the config file cells/<id>.json.
      const cell = JSON.parse(await Deno.readTextFile(`${out}/cells/${id}/results.json`));
      const config = JSON.parse(await Deno.readTextFile(`${out}/cells/${id}.json`));
      assertMatchesSchema(cell, "train");
      assert.equal(cell.run.task, "train");
      assert.equal(cell.config.seed, Number(id.at(-1)), "the cell's training seed");
      assert.equal(cell.config["data-seed"], 0, "every cell shares the data of --seed");
      assert.equal(config.loss, "ce=1,bce=1");
      assert.equal(config.val, 0);
      assert.equal(cell.training.steps, 4, "32 training images in batches of 8, one epoch");
      const acc = cell.test.accuracy;
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
    assertSummaryAgrees(markdown, results, "sweep");
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
        JSON.parse(await Deno.readTextFile(`${out}/cells/${top.config}-s${s}/results.json`))
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
    await Deno.remove(`${out}/cells/plain_cnn-cam-bce-w1-s1/results.json`);
    const third = await runSweep([...TINY, `--out=${out}`]);
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stdout, /ran 1 cell\(s\), skipped 3 already done/);
    assert.match(third.stdout, /plain_cnn-cam-bce-w1-s1: running/);
    assert.doesNotMatch(third.stdout, /reference-reference-bce-w1-s0: running/);
    const after = await mtimes(out);
    assert.deepEqual(after.slice(0, 3), before.slice(0, 3));

    // A rerun with another --lr is refused before anything is written, listing the change
    // and naming the flag that takes it.
    const cellJson = await Deno.readTextFile(`${out}/cells/${CELLS[0]}.json`);
    const other = await runSweep([...TINY, "--lr=0.01", `--out=${out}`]);
    assert.equal(other.code, 1, other.stderr);
    assert.equal(
      other.stderr.trim(),
      `Cannot resume 4 runs with other settings than they started with (--lr: 0.003 → 0.01 in ` +
        `${out}/cells/${CELLS[0]}, ${out}/cells/${CELLS[1]} and 2 more); pass ` +
        `--override-settings to resume them with the new ones`,
    );
    assert.equal(await Deno.readTextFile(`${out}/cells/${CELLS[0]}.json`), cellJson);
    assert.deepEqual(await mtimes(out), after);

    // With --override-settings the Slurm cells get it too, and no changed cell counts as done.
    const slurm = await runSweep([
      ...TINY,
      "--lr=0.01",
      "--override-settings",
      `--out=${out}`,
      "--slurm",
      "--dry-run",
    ]);
    assert.equal(slurm.code, 0, slurm.stderr);
    assert.match(
      await Deno.readTextFile(`${out}/slurm/array.sbatch`),
      /task train --config .*--skip-complete --resume --override-settings/,
    );
    assert.match(slurm.stdout, /4 cell\(s\) to run, 0 complete/);
    assert.ok(!("override-settings" in JSON.parse(await Deno.readTextFile(`${out}/sweep.json`))));

    // And run here, each cell resumes with the new --lr, recorded in its run.json.
    const taken = await runSweep([...TINY, "--lr=0.01", "--override-settings", `--out=${out}`]);
    assert.equal(taken.code, 0, taken.stderr);
    assert.match(taken.stdout, /ran 4 cell\(s\), skipped 0 already done/);
    for (const id of CELLS) {
      const run = JSON.parse(await Deno.readTextFile(`${out}/cells/${id}/run.json`));
      assert.equal(run.settings.lr, 0.01, id);
      assert.deepEqual(run.overrides.at(-1).changes, [{ setting: "lr", old: 0.003, new: 0.01 }]);
      const results = JSON.parse(await Deno.readTextFile(`${out}/cells/${id}/results.json`));
      assert.equal(results.config.lr, 0.01, id);
    }
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
    /Flag --backbones: unknown value "resnet99" \(choices: .*plain_cnn, reference, /,
  );
  const loss = await runSweep(["--losses=bce,mse"]);
  assert.equal(loss.code, 2);
  assert.match(
    loss.stderr,
    /Flag --losses: unknown value "mse" \(choices: background-swap, bce, box, cam, dice, /,
  );
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

Deno.test("sweep --slurm --dry-run writes one train config per cell and prints an array script", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/grid`;
    const r = await runSweep([
      ...TINY,
      `--out=${out}`,
      "--slurm",
      "--dry-run",
      "--partition=gpu",
      "--time=00:30:00",
      "--mem=6G",
      "--cpus-per-task=4",
      "--gpus=1",
      "--max-parallel=2",
      "--sbatch-arg=--account=lab;--qos=short",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const script = await Deno.readTextFile(`${out}/slurm/array.sbatch`);
    assert.ok(r.stdout.startsWith(script.trimEnd()), "prints the script it wrote");
    for (
      const line of [
        "#SBATCH --array=0-3%2",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=00:30:00",
        "#SBATCH --mem=6G",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --account=lab",
        "#SBATCH --qos=short",
        `#SBATCH --output=${out}/slurm/%A_%a.out`,
      ]
    ) assert.ok(script.includes(`${line}\n`), line);
    assert.match(script, /task train --config "\$CELLS\/\$id\.json" .*--skip-complete --resume/);
    // Line i + 1 of cells.txt is array index i; each names a config file train can read.
    const ids = (await Deno.readTextFile(`${out}/cells/cells.txt`)).trim().split("\n");
    assert.deepEqual(ids, CELLS);
    for (const id of ids) {
      const config = JSON.parse(await Deno.readTextFile(`${out}/cells/${id}.json`));
      assert.equal(config.out, `${out}/cells/${id}`);
    }
    assert.match(r.stdout, /dry run: .* 4 cell\(s\) to run, 0 complete/);
    // Nothing ran.
    assert.equal(await Deno.stat(`${out}/cells/${CELLS[0]}`).catch(() => null), null);

    // The shell script is valid bash, and a cell's config is a valid `deno task train` config.
    const bash = await new Deno.Command("bash", { args: ["-n", `${out}/slurm/array.sbatch`] })
      .output();
    assert.equal(bash.code, 0, new TextDecoder().decode(bash.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sweep --slurm without sbatch on PATH exits 2 and says how to go on", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tasks/sweep.ts", ...TINY, `--out=${dir}/grid`, "--slurm"],
      cwd: new URL("../../", import.meta.url),
      env: { PATH: dir, NO_COLOR: "1" },
      stderr: "piped",
      stdout: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /Flag --slurm: sbatch is not on PATH\. .*--dry-run/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sweep --collect ranks the finished cells and names the missing and failed ones with their logs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/grid`;
    const ran = await runSweep([...TINY, `--out=${out}`]);
    assert.equal(ran.code, 0, ran.stderr);
    const full = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    // Gathering a complete run gives the same ranking as running it.
    const all = await runSweep([`--collect=${out}`]);
    assert.equal(all.code, 0, all.stderr);
    const collected = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assert.equal(collected.mode, "slurm");
    assert.deepEqual(collected.ranking, full.ranking);

    // One cell never ran, one failed (its log ends with a non-zero exit).
    await Deno.remove(`${out}/cells/${CELLS[1]}`, { recursive: true });
    await Deno.remove(`${out}/cells/${CELLS[3]}/results.json`);
    await Deno.writeTextFile(
      `${out}/cells/${CELLS[3]}/cell.log`,
      "saliency-lab: start cell x\nError: out of memory in conv2d\nsaliency-lab: exit status 1\n",
    );
    const some = await runSweep([`--collect=${out}`]);
    assert.equal(some.code, 3, some.stderr);
    assert.match(some.stderr, /2 of 4 cell\(s\) have no results/);
    assert.match(some.stderr, new RegExp(`- ${CELLS[1]}: missing, never started`));
    assert.match(some.stderr, new RegExp(`- ${CELLS[3]}: failed, exited with status 1`));
    assert.match(some.stderr, /Error: out of memory in conv2d/);
    const partial = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assertSummaryAgrees(await Deno.readTextFile(`${out}/summary.md`), partial, "sweep");
    assert.equal(partial.cells.length, 2);
    assert.deepEqual(partial.incomplete.map((s: { id: string }) => s.id), [CELLS[1], CELLS[3]]);
    // Each configuration now pools its one finished seed.
    for (const row of partial.ranking) assert.equal(row.seeds.length, 1);
    assert.match(await Deno.readTextFile(`${out}/summary.md`), /2 of 4 cells have no results yet/);

    const none = await runSweep([`--collect=${dir}/nowhere`]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /nowhere\/sweep\.json does not exist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sweep --slurm refuses a malformed --time, --mem, --partition or --sbatch-arg, naming the flag", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string, RegExp][] = [
      [
        "--time=soon",
        /Flag --time must be a Slurm time such as 30, 01:30:00 or 2-00:00:00; got "soon"/,
      ],
      ["--mem=lots", /Flag --mem must be a Slurm size such as 4000 or 8G; got "lots"/],
      ["--partition=gpu;rm", /Flag --partition: "gpu;rm" is not a partition name/],
      ["--sbatch-arg=--account lab", /Flag --sbatch-arg: "--account lab" is not one sbatch option/],
      ["--max-parallel=0", /Flag --max-parallel must be between 1 and Infinity, got 0/],
    ];
    for (const [flag, message] of cases) {
      const r = await runSweep([...TINY, `--out=${dir}/grid`, "--slurm", "--dry-run", flag]);
      assert.equal(r.code, 2, flag);
      assert.match(r.stderr, message);
    }
    const dry = await runSweep([...TINY, `--out=${dir}/grid`, "--dry-run"]);
    assert.equal(dry.code, 2);
    assert.match(dry.stderr, /Flag --dry-run goes with --slurm/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
