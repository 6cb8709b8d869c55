// The test Slurm cluster of tests/_slurm.ts: it starts, runs array jobs as sbatch promises,
// and stops without leaving a daemon or job behind. Skipped (with the reason printed) where
// slurm-wlm and munge are not installed or we are not root.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type SlurmCluster, slurmMissing, startSlurmCluster } from "./_slurm.ts";

const missing = await slurmMissing();
if (missing !== null) console.log(`Skipping the Slurm cluster test: ${missing}`);

/** One line a task wrote: its index, working folder, and start and end times in ns. */
interface TaskLine {
  id: number;
  cwd: string;
  start: bigint;
  end: bigint;
}

async function taskLines(path: string): Promise<TaskLine[]> {
  const text = await Deno.readTextFile(path);
  return text.trim().split("\n").map((line) => {
    const [word, id, cwd, start, end] = line.split(" ");
    assert.equal(word, "task", `${path}: unexpected line "${line}"`);
    return { id: Number(id), cwd, start: BigInt(start), end: BigInt(end) };
  });
}

/** Runs a shell one-liner; Deno keeps /proc from tests that lack --allow-all. */
async function sh(script: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
  const r = await new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", ...args],
    stdout: "piped",
  })
    .output();
  return { code: r.code, stdout: new TextDecoder().decode(r.stdout) };
}

/** Whether `kill -0` finds the pid. */
async function pidExists(pid: number): Promise<boolean> {
  return (await sh('kill -0 "$1" 2>/dev/null', String(pid))).code === 0;
}

/** Pids of processes whose environment holds SLURM_CONF=<conf>. */
async function processesWithConf(conf: string): Promise<number[]> {
  const r = await sh('grep -lszxF -- "SLURM_CONF=$1" /proc/[0-9]*/environ', conf);
  return r.stdout.split("\n").filter((l) => l).map((l) => Number(l.split("/")[2]))
    .filter((pid) => pid !== Deno.pid);
}

Deno.test({
  name: "startSlurmCluster() runs an array job two tasks at a time, reruns one index, " +
    "and stop() leaves no daemon or job behind",
  ignore: missing !== null,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "slurm_cluster_test_" });
    let cluster: SlurmCluster | null = null;
    try {
      cluster = await startSlurmCluster(join(dir, "cluster"), { cpus: 2 });
      const c = cluster;
      const work = join(dir, "work");
      await Deno.mkdir(work);
      const sbatch = async (...args: string[]) => {
        const r = await c.run("sbatch", ["--parsable", ...args], { cwd: work });
        assert.equal(r.code, 0, `sbatch ${args.join(" ")} failed: ${r.stderr}`);
        assert.match(r.stdout.trim(), /^\d+$/);
        return r.stdout.trim();
      };
      // Each task appends "task <index> <cwd> <start ns> <end ns>" to t_<index>.txt.
      const wrap = "s=$(date +%s%N); sleep 1; " +
        'echo "task $SLURM_ARRAY_TASK_ID $(pwd) $s $(date +%s%N)" ' +
        `>> ${work}/t_$SLURM_ARRAY_TASK_ID.txt`;
      const file = (i: number) => join(work, `t_${i}.txt`);

      await t.step("an array of three with %2 runs every index once, two at a time", async () => {
        const job = await sbatch("--array=0-2%2", `--output=${work}/o_%a.log`, "--wrap", wrap);
        await c.waitForJobs(job, 30_000);
        const lines: TaskLine[] = [];
        for (const i of [0, 1, 2]) {
          const got = await taskLines(file(i));
          assert.equal(got.length, 1, `${file(i)} should hold one line`);
          assert.equal(got[0].id, i);
          // Jobs start in the folder sbatch ran in: no --chdir needed.
          assert.equal(got[0].cwd, work);
          assert.ok((await Deno.stat(join(work, `o_${i}.log`))).isFile);
          lines.push(got[0]);
        }
        const overlap = (a: TaskLine, b: TaskLine) => a.start < b.end && b.start < a.end;
        const pairs = [[0, 1], [0, 2], [1, 2]].filter(([a, b]) => overlap(lines[a], lines[b]));
        assert.ok(pairs.length >= 1, "with 2 CPUs and CR_Core two 1-CPU tasks should overlap");
        const latestStart = lines.reduce((m, l) => l.start > m ? l.start : m, 0n);
        const earliestEnd = lines.reduce((m, l) => l.end < m ? l.end : m, lines[0].end);
        assert.ok(latestStart >= earliestEnd, "%2 should never let all three tasks run at once");

        const states = await c.jobStates(job);
        assert.deepEqual(
          states.map((s) => [s.arrayTaskId, s.state, s.exitCode]).sort(),
          [[0, "COMPLETED", "0:0"], [1, "COMPLETED", "0:0"], [2, "COMPLETED", "0:0"]],
        );
      });

      await t.step("resubmitting --array=1 runs index 1 again and no other", async () => {
        const job = await sbatch("--array=1", `--output=${work}/o_%a.log`, "--wrap", wrap);
        await c.waitForJobs(job, 30_000);
        assert.deepEqual((await taskLines(file(1))).map((l) => l.id), [1, 1]);
        assert.equal((await taskLines(file(0))).length, 1);
        assert.equal((await taskLines(file(2))).length, 1);
        assert.deepEqual((await c.jobStates(job)).map((s) => s.arrayTaskId), [1]);
      });

      await t.step(
        "jobStates() reports a job that exits 3 as FAILED with exit code 3:0",
        async () => {
          const job = await sbatch("--output=/dev/null", "--wrap", "exit 3");
          await c.waitForJobs(job, 30_000);
          const [s] = await c.jobStates(job);
          assert.deepEqual([s.jobId, s.arrayTaskId, s.state, s.exitCode], [
            job,
            null,
            "FAILED",
            "3:0",
          ]);
        },
      );

      await t.step(
        "waitForJobs() times out naming the job, its queue line and the log",
        async () => {
          // Left running on purpose: stop() must cancel it.
          const job = await sbatch("--output=/dev/null", "--wrap", "sleep 120");
          await assert.rejects(
            c.waitForJobs(job, 300),
            (e: Error) =>
              e.message.includes(`Slurm job ${job} still has tasks queued after 300 ms`) &&
              /PENDING|RUNNING|CONFIGURING/.test(e.message) && e.message.includes("slurmctld.log"),
          );
        },
      );

      await t.step("waitForJobs() and jobStates() reject a job id that is not digits", async () => {
        await assert.rejects(c.waitForJobs("12 && rm -rf /", 100), TypeError);
        await assert.rejects(c.jobStates(""), /jobStates\(\): job id must be digits/);
      });

      await t.step("stop() ends the daemons' pids and every process of the cluster", async () => {
        assert.ok(await pidExists(c.pids.slurmctld), "slurmctld is up before stop()");
        assert.ok((await processesWithConf(c.env.SLURM_CONF)).length > 0, "the sleep job runs");
        await c.stop();
        for (const [name, pid] of Object.entries(c.pids)) {
          assert.equal(await pidExists(pid), false, `${name} (pid ${pid}) still exists`);
        }
        assert.deepEqual(await processesWithConf(c.env.SLURM_CONF), []);
        await c.stop(); // A second stop() is harmless.
      });
    } finally {
      try {
        await cluster?.stop();
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  },
});

Deno.test({
  name: "startSlurmCluster() fails quoting the daemon's output when slurmd exits, " +
    "and leaves munged and slurmctld stopped",
  ignore: missing !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "slurm_cluster_test_" });
    const oldPath = Deno.env.get("PATH") ?? "";
    try {
      // A slurmd that dies at once, found first on PATH.
      await Deno.mkdir(join(dir, "bin"));
      await Deno.writeTextFile(
        join(dir, "bin", "slurmd"),
        '#!/bin/sh\necho "slurmd: fatal: this slurmd is a stand-in that always fails" >&2\nexit 1\n',
        { mode: 0o755 },
      );
      Deno.env.set("PATH", `${join(dir, "bin")}:${oldPath}`);
      const cluster = join(dir, "cluster");
      await assert.rejects(startSlurmCluster(cluster, { cpus: 1 }), (e: Error) => {
        assert.match(e.message, /did not start: slurmd \(pid \d+\) exited/);
        assert.match(e.message, /log\/slurmd\.stderr[^\n]*\n[^]*stand-in that always fails/);
        assert.match(e.message, /log\/slurmctld\.log/);
        return true;
      });
      // Neither munged (its key path is on its command line) nor slurmctld (SLURM_CONF in its
      // environment) is left.
      const left = await sh(
        'grep -lsF -- "$1/munge/" /proc/[0-9]*/cmdline; ' +
          'grep -lszxF -- "SLURM_CONF=$1/slurm.conf" /proc/[0-9]*/environ',
        cluster,
      );
      assert.equal(left.stdout.replaceAll(`/proc/${Deno.pid}/environ\n`, ""), "");
    } finally {
      Deno.env.set("PATH", oldPath);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("startSlurmCluster() rejects a CPU count below 1, naming the option", async () => {
  const dir = await Deno.makeTempDir({ prefix: "slurm_cluster_test_" });
  try {
    await assert.rejects(
      startSlurmCluster(dir, { cpus: 0 }),
      (e: Error) => e instanceof RangeError && /Option cpus .* integer >= 1, got 0/.test(e.message),
    );
    await assert.rejects(startSlurmCluster(dir, { readyTimeoutMs: -1 }), /readyTimeoutMs/);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing was started or written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
