import assert from "node:assert/strict";
import { runTask } from "./_run.ts";
import { assertMatchesSchema, assertSummaryAgrees } from "./_schema.ts";
import { loadSharp } from "../../lib/deps.ts";

/** The script and arguments of a deno.json task line (after its permission flags). */
async function taskLine(name: string): Promise<{ script: string; args: string[] }> {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const words = config.tasks[name].command.split(/\s+/);
  const rest = words.slice(words.indexOf("run") + 1).filter((w: string) =>
    !w.startsWith("--allow")
  );
  return { script: rest[0], args: rest.slice(1) };
}

Deno.test("deno task demo is compare-gradcam with the quick preset, and writes its grid, report and results", async () => {
  const { script, args } = await taskLine("demo");
  assert.equal(script, "tasks/compare_gradcam.ts");
  assert.deepEqual(args, ["--preset", "quick", "--out", "runs/demo"]);
  const dir = await Deno.makeTempDir();
  try {
    // The demo's own line, shrunk: flags after the preset override it.
    const r = await runTask(script, [
      ...args,
      "--steps=4",
      "--size=16",
      "--width=0.25",
      "--count=20",
      "--classes=3",
      "--batch=4",
      `--out=${dir}`,
    ], ["--allow-run"]);
    assert.equal(r.code, 0, r.stderr);
    // Tasks default to every core; the pool is shut down, so the process exits.
    const cores = navigator.hardwareConcurrency;
    assert.match(r.stderr, new RegExp(`engine: wasm \\(SIMD, ${cores} threads?\\)`));
    assert.match(r.stdout, /## Verdict/);
    const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    assertMatchesSchema(results, "compare-gradcam");
    assertSummaryAgrees(await Deno.readTextFile(`${dir}/summary.md`), results, "compare-gradcam");
    assert.equal(results.run.task, "compare-gradcam");
    assert.equal(results.config.preset, undefined, "the config holds the resolved flags");
    assert.equal(results.config.steps, 4);
    assert.equal(results.seeds[0].history.length, 4);
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
    // Columns image | ground truth | five maps, each cell at least 160 px.
    assert.ok(meta.width! >= 7 * 160 && meta.height! >= 160, `${meta.width}×${meta.height}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task bench reports four positive medians, the seven convolutions with --convs, and writes results.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runTask("tasks/bench.ts", [
      "--batch=2",
      "--size=16",
      "--warmup=0",
      "--repeats=1",
      "--convs=on",
      `--out=${dir}`,
    ], ["--allow-run"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\| training step\s+\|/);
    assert.match(r.stdout, /\| all seven\s+\|/);
    const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    for (const key of ["train_step_ms", "forward_ms", "gradcam_middle_ms", "gradcam_last_ms"]) {
      assert.ok(results.ours[key] > 0, key);
    }
    assert.ok(results.peakRssMiB > 0);
    const convs = Object.entries(results.convs as Record<string, number>);
    assert.equal(convs.length, 7);
    assert.ok(convs.every(([, ms]) => ms > 0), JSON.stringify(convs));
    for (const t of results.torch) assert.deepEqual(Object.keys(t.convs), convs.map(([k]) => k));
    assert.ok(Array.isArray(results.torch));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tasks print --help and name a bad flag with exit code 2", async () => {
  for (const script of ["tasks/compare_gradcam.ts", "tasks/bench.ts"]) {
    const help = await runTask(script, ["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: deno task (compare-gradcam|bench) \[flags\]/);
    assert.match(help.stdout, /--backend <value>/);
  }
  const convs = await runTask("tasks/bench.ts", ["--convs=maybe"]);
  assert.equal(convs.code, 2);
  assert.match(convs.stderr, /Flag --convs must be on or off; got "maybe"/);
  const odd = await runTask("tasks/bench.ts", ["--convs=on", "--size=30"]);
  assert.equal(odd.code, 2);
  assert.match(odd.stderr, /--convs needs a --size that is a multiple of 4; got 30/);
  const bad = await runTask("tasks/compare_gradcam.ts", ["--steps=many"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Flag --steps must be a number, got "many"/);
  const unknown = await runTask("tasks/compare_gradcam.ts", ["--stepz=3"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /stepz/);
  const engine = await runTask("tasks/compare_gradcam.ts", ["--backend=tpu"]);
  assert.equal(engine.code, 2);
  assert.match(
    engine.stderr,
    /Flag --backend must be one of auto, tensorflow, webgpu, wasm, cpu; got "tpu"/,
  );
});
