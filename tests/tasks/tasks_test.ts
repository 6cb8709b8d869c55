import assert from "node:assert/strict";
import { runTask } from "./_run.ts";
import { loadSharp } from "../../lib/deps.ts";

Deno.test("deno task demo trains, then writes a readable saliency grid and results.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runTask("tasks/demo.ts", [
      "--steps=4",
      "--size=16",
      "--width=0.25",
      "--count=20",
      "--classes=3",
      "--batch=4",
      `--out=${dir}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    // Tasks default to every core; the pool is shut down, so the process exits.
    const cores = navigator.hardwareConcurrency;
    assert.match(r.stderr, new RegExp(`engine: wasm \\(SIMD, ${cores} threads?\\)`));
    assert.match(r.stdout, /test accuracy/);
    const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    assert.equal(results.history.length, 4);
    assert.equal(results.run.seed, 0);
    assert.equal(results.run.versions.tfjs, "4.22.0");
    assert.equal(results.run.config.steps, 4);
    const evaluation = results.evaluation;
    assert.ok(evaluation.samples >= 3 && evaluation.samples <= 5, `${evaluation.samples}`);
    const accuracy = evaluation.classification.accuracy.mean;
    assert.ok(accuracy >= 0 && accuracy <= 1);
    assert.deepEqual(Object.keys(evaluation.explainers), [
      "grad-cam",
      "vanilla-gradient",
      "branch",
    ]);
    // The report embeds the very object results.json holds.
    const html = await Deno.readTextFile(`${dir}/report.html`);
    const embedded = html.match(
      /<script type="application\/json" id="report-data">([^<]*)<\/script>/,
    );
    assert.ok(embedded, "report.html embeds its data");
    assert.deepEqual(JSON.parse(embedded[1]), results);
    const sharp = await loadSharp();
    const meta = await sharp(await Deno.readFile(`${dir}/saliency.png`)).metadata();
    assert.equal(meta.format, "png");
    // Columns image | ground truth | three explainers, each cell at least 160 px.
    assert.ok(meta.width! >= 5 * 160 && meta.height! >= 160, `${meta.width}×${meta.height}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task bench reports four positive medians and writes results.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runTask("tasks/bench.ts", [
      "--batch=2",
      "--size=16",
      "--warmup=0",
      "--repeats=1",
      `--out=${dir}`,
    ], ["--allow-run"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\| training step\s+\|/);
    const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    for (const key of ["train_step_ms", "forward_ms", "gradcam_middle_ms", "gradcam_last_ms"]) {
      assert.ok(results.ours[key] > 0, key);
    }
    assert.ok(results.peakRssMiB > 0);
    assert.ok(Array.isArray(results.torch));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tasks print --help and name a bad flag with exit code 2", async () => {
  for (const script of ["tasks/demo.ts", "tasks/bench.ts"]) {
    const help = await runTask(script, ["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: deno task (demo|bench) \[flags\]/);
    assert.match(help.stdout, /--backend <value>/);
  }
  const bad = await runTask("tasks/demo.ts", ["--steps=many"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Flag --steps must be a number, got "many"/);
  const unknown = await runTask("tasks/demo.ts", ["--stepz=3"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /stepz/);
  const engine = await runTask("tasks/demo.ts", ["--backend=tpu"]);
  assert.equal(engine.code, 2);
  assert.match(
    engine.stderr,
    /Flag --backend must be one of auto, tensorflow, webgpu, wasm, cpu; got "tpu"/,
  );
});
