// `deno task sweep --slurm` against a real one-node Slurm cluster (tests/_slurm.ts): a 4-cell
// sweep through sbatch, collected; then one cell's results deleted and the same command
// resubmitted, which must run that cell alone. Skipped, with the reason printed, where
// slurm-wlm and munge are not installed (.ci/run installs them) or we are not root.
import assert from "node:assert/strict";
import { slurmMissing, startSlurmCluster } from "../_slurm.ts";
import { ROOT, TASK_PERMS, TINY_COMPARE, TINY_SWEEP, TINY_SWEEP_CELLS as CELLS } from "./_run.ts";
import { assertMatchesSchema, assertSummaryAgrees } from "./_schema.ts";

// The sweep's own --threads is 2; each array task must run with SLURM_CPUS_PER_TASK (1) instead.
const TINY = [...TINY_SWEEP, "--threads=2"];

const missing = await slurmMissing();
if (missing !== null) console.log(`Skipping the Slurm sweep test: ${missing}`);

/** Runs the sweep task with the cluster's environment, so that its sbatch finds the cluster. */
async function sweep(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...TASK_PERMS, "tasks/sweep.ts", ...args],
    cwd: ROOT,
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const jobIdOf = (stdout: string) => {
  const m = stdout.match(/submitted job (\d+): /);
  assert.ok(m, `no job id in: ${stdout}`);
  return m[1];
};

/** How many times each cell's log says it started. */
async function starts(out: string): Promise<number[]> {
  return await Promise.all(CELLS.map(async (id) => {
    const log = await Deno.readTextFile(`${out}/cells/${id}/cell.log`);
    return log.split("\n").filter((l) => l.startsWith("saliency-lab: start cell")).length;
  }));
}

Deno.test({
  name:
    "sweep --slurm runs a 4-cell grid as a real Slurm array; a resubmission runs only the cell without results",
  ignore: missing !== null,
  async fn() {
    const dir = await Deno.makeTempDir();
    const cluster = await startSlurmCluster(`${dir}/cluster`, { cpus: 2 });
    try {
      const out = `${dir}/grid`;
      const slurmArgs = ["--slurm", "--cpus-per-task=1", "--mem=50M", "--max-parallel=2"];
      const first = await sweep([...TINY, `--out=${out}`, ...slurmArgs], cluster.env);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /submitted job \d+: 4 cell\(s\) of 4 \(0 already complete\)/);
      const job = jobIdOf(first.stdout);
      await cluster.waitForJobs(job, 240_000);
      const states = await cluster.jobStates(job);
      assert.deepEqual(
        states.map((s) => [s.arrayTaskId, s.state, s.exitCode]).sort(),
        [[0, "COMPLETED", "0:0"], [1, "COMPLETED", "0:0"], [2, "COMPLETED", "0:0"], [
          3,
          "COMPLETED",
          "0:0",
        ]],
      );
      assert.deepEqual(await starts(out), [1, 1, 1, 1]);
      for (const id of CELLS) {
        const cell = JSON.parse(await Deno.readTextFile(`${out}/cells/${id}/results.json`));
        assertMatchesSchema(cell, "train");
        // --threads came from SLURM_CPUS_PER_TASK.
        assert.equal(cell.config.threads, 1);
      }

      const collected = await sweep([`--collect=${out}`], cluster.env);
      assert.equal(collected.code, 0, collected.stderr);
      const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
      assertMatchesSchema(results, "sweep");
      assertSummaryAgrees(await Deno.readTextFile(`${out}/summary.md`), results, "sweep");
      assert.equal(results.cells.length, 4);
      assert.deepEqual(
        results.ranking.map((r: { config: string }) => r.config).sort(),
        ["plain_cnn-cam-bce-w1", "reference-reference-bce-w1"],
      );
      for (const row of results.ranking) assert.deepEqual(row.seeds, [0, 1]);

      // Second pass: one cell's results deleted; the same command submits that cell alone.
      const keep = await Promise.all(
        [0, 1, 2].map(async (i) =>
          (await Deno.stat(`${out}/cells/${CELLS[i]}/results.json`)).mtime!.getTime()
        ),
      );
      await Deno.remove(`${out}/cells/${CELLS[3]}/results.json`);
      const again = await sweep([...TINY, `--out=${out}`, ...slurmArgs], cluster.env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /submitted job \d+: 1 cell\(s\) of 4 \(3 already complete\)/);
      assert.match(await Deno.readTextFile(`${out}/slurm/array.sbatch`), /--array=3%2\n/);
      const second = jobIdOf(again.stdout);
      await cluster.waitForJobs(second, 120_000);
      const secondStates = await cluster.jobStates(second);
      assert.deepEqual(secondStates.map((s) => [s.arrayTaskId, s.state]), [[3, "COMPLETED"]]);
      assert.deepEqual(await starts(out), [1, 1, 1, 2]);
      assert.deepEqual(
        await Promise.all(
          [0, 1, 2].map(async (i) =>
            (await Deno.stat(`${out}/cells/${CELLS[i]}/results.json`)).mtime!.getTime()
          ),
        ),
        keep,
      );
      const done = await sweep([`--collect=${out}`], cluster.env);
      assert.equal(done.code, 0, done.stderr);

      // Everything complete: a third submission has nothing to do.
      const third = await sweep([...TINY, `--out=${out}`, ...slurmArgs], cluster.env);
      assert.equal(third.code, 0, third.stderr);
      assert.match(third.stdout, /all 4 cells of .* are complete; nothing to submit/);
    } finally {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "compare-gradcam --seeds 2 --slurm runs one array task per seed on a real Slurm, and --collect pools them",
  ignore: missing !== null,
  async fn() {
    const dir = await Deno.makeTempDir();
    const cluster = await startSlurmCluster(`${dir}/cluster`, { cpus: 2 });
    try {
      const out = `${dir}/compare`;
      const run = (args: string[]) =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", ...TASK_PERMS, "tasks/compare_gradcam.ts", ...args],
          cwd: ROOT,
          env: { ...cluster.env, NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).output();
      const dec = new TextDecoder();
      const submitted = await run([
        ...TINY_COMPARE,
        "--seeds=2",
        `--out=${out}`,
        "--slurm",
        "--cpus-per-task=1",
        "--mem=50M",
      ]);
      const stdout = dec.decode(submitted.stdout);
      assert.equal(submitted.code, 0, dec.decode(submitted.stderr));
      const job = jobIdOf(stdout);
      await cluster.waitForJobs(job, 180_000);
      const states = await cluster.jobStates(job);
      assert.deepEqual(states.map((s) => s.state), ["COMPLETED", "COMPLETED"]);
      const collected = await run([`--collect=${out}`]);
      assert.equal(collected.code, 0, dec.decode(collected.stderr));
      const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
      assertMatchesSchema(results, "compare-gradcam");
      assert.deepEqual(results.summary.seeds, [0, 1]);
      assert.equal(results.summary.over, "seeds");
      assertSummaryAgrees(await Deno.readTextFile(`${out}/summary.md`), results, "compare-gradcam");
    } finally {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
