import assert from "node:assert/strict";
import {
  BENCH_FIGURE_LABELS,
  convTable,
  explainerRecord,
  explainerTable,
  figureTable,
  median,
  runTorchTwin,
  textTable,
} from "../../mod.ts";

const OURS = { train_step_ms: 30, forward_ms: 8, gradcam_middle_ms: 4, gradcam_last_ms: 3 };
const TORCH = {
  ...OURS,
  train_step_ms: 15,
  threads: 2,
  device: "cpu",
  torch_version: "1.13.1",
  params: 100,
  peak_rss_mib: 200,
  explainers: { "grad-cam": 50 },
  convs: { stem: 1, block1: 1 },
};

Deno.test("figureTable() has one row per figure in label order, a column pair per PyTorch run, and ratio = ours / PyTorch", () => {
  const rows = figureTable("wasm, 2 thread(s)", OURS, [TORCH, { ...TORCH, device: "NVIDIA H100" }])
    .split("\n");
  assert.match(
    rows[0],
    /\| figure \(median\) +\| wasm, 2 thread\(s\) +\| PyTorch 1\.13\.1, 2 thread\(s\) +\| ratio +\| PyTorch 1\.13\.1, NVIDIA H100 +\| ratio +\|/,
  );
  assert.deepEqual(
    rows.slice(2, 6).map((r) => r.split("|")[1].trim()),
    Object.values(BENCH_FIGURE_LABELS),
  );
  assert.match(rows[2], /30\.0 ms +\| 15\.0 ms +\| 2\.00×/);
  assert.match(rows.at(-1)!, /below 1 means we are faster/);
  // Without PyTorch: our column alone, no note.
  assert.equal(figureTable("cpu", OURS, []).split("\n").length, 6);
  // Every row is as wide as the header.
  const widths = new Set(
    figureTable("cpu", OURS, [TORCH]).split("\n").slice(0, 6).map((r) => r.length),
  );
  assert.equal(widths.size, 1);
});

Deno.test("explainerTable() and explainerRecord() give the time ratio per image: PyTorch's images/s over ours", () => {
  const ours = [{ method: "grad-cam", imagesPerSecond: 25 }, {
    method: "rise",
    imagesPerSecond: 0.2,
  }];
  const table = explainerTable("wasm", ours, [TORCH]);
  assert.match(table, /\| grad-cam +\| 25\.0 +\| 50\.0 +\| 2\.00× \|/);
  assert.match(table, /\| rise +\| 0\.20 +\| – +\| – +\|/, "a method PyTorch did not time");
  const record = explainerRecord({ images: 8, size: 64, warmup: 1, repeats: 5 }, ours, [TORCH]);
  assert.deepEqual(record.torch[0].ratio, { "grad-cam": 2 });
  assert.equal(record.images, 8);
});

Deno.test("convTable() adds the sum of every convolution, and median() takes the middle", () => {
  const table = convTable("wasm", { stem: 2, block1: 4 }, [TORCH]);
  assert.match(table, /\| all seven +\| 6\.00 ms +\| 2\.00 ms +\| 3\.00× \|/);
  assert.equal(median([9, 1, 5, 3]), 4);
  assert.equal(median([7]), 7);
  assert.equal(textTable(["x"], []), "| x |\n|---|");
});

Deno.test("runTorchTwin() skips without torch unless it is required, naming the Python", async () => {
  const said: string[] = [];
  const options = {
    python: "/nonexistent/python3",
    device: "cpu",
    threads: [1],
    flags: {},
    onStatus: (line: string) => said.push(line),
  };
  assert.deepEqual(await runTorchTwin("twin.py", { ...options, torch: "auto" }), []);
  assert.match(said[0], /skipped: \/nonexistent\/python3 cannot import torch/);
  await assert.rejects(
    () => runTorchTwin("twin.py", { ...options, torch: "on" }),
    /cannot import torch/,
  );
});
