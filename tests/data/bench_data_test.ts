import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { benchDataPipeline } from "../../tasks/bench_data.ts";
import { TASK_PERMISSIONS } from "../../tasks/_shared_flags.ts";
import { tf } from "../../lib/deps.ts";
import { useEngines } from "../_helpers.ts";

await useEngines();

Deno.test("benchDataPipeline() iterates every generated sample and reports its peak memory", async () => {
  const before = tf.memory().numTensors;
  const r = await benchDataPipeline({ count: 40, size: 32, batchSize: 16, sourceSize: 48 });
  assert.equal(r.samples, 40);
  assert.equal(r.batches, 3, "16 + 16 + 8");
  assert.ok(r.seconds > 0);
  assert.ok(r.peakRssMiB >= r.startRssMiB && r.startRssMiB > 0, JSON.stringify(r));
  assert.equal(tf.memory().numTensors, before, "every batch was disposed");
  await assert.rejects(
    benchDataPipeline({ count: 0 }),
    /Option "count" must be a positive integer, got 0/,
  );
});

Deno.test("tasks/bench_data.ts runs from the command line and names a bad flag", async () => {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...TASK_PERMISSIONS,
        "tasks/bench_data.ts",
        ...args,
      ],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
  const dec = new TextDecoder();
  const ok = await run(["--count=12", "--size=16", "--source=32", "--batch=5", "--backend=cpu"]);
  assert.equal(ok.code, 0, dec.decode(ok.stderr));
  const result = JSON.parse(dec.decode(ok.stdout).trim().split("\n").at(-1)!);
  assert.equal(result.samples, 12);
  assert.equal(result.batches, 3);
  const bad = await run(["--count=abc"]);
  assert.equal(bad.code, 2);
  assert.match(dec.decode(bad.stderr), /Flag --count must be a number, got "abc"/);
});
