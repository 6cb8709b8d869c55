import assert from "node:assert/strict";
import { assertMatchesSchema, assertSummaryAgrees } from "./_schema.ts";
import { runTask } from "./_run.ts";
import { requirePython, runPython } from "../_python.ts";

/** The tiny preset: 40 synthetic images of 16 px, 2 classes, batches of 8. */
const TINY = ["--size=16", "--width=0.25", "--count=40", "--classes=2", "--batch=8", "--threads=1"];

async function readJson(path: string) {
  return JSON.parse(await Deno.readTextFile(path));
}

Deno.test("train: the reference net trains 2 epochs, writes its files, and --resume adds none", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/run`;
    const r = await runTask("tasks/train.ts", [...TINY, "--epochs=2", `--out=${out}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /epoch 2\/2/, "the trainer's progress shows");
    for (const f of ["model/model.json", "checkpoints/last/model.json", "train_log.jsonl"]) {
      assert.ok((await Deno.stat(`${out}/${f}`)).isFile, f);
    }
    const config = await readJson(`${out}/config.json`);
    assert.equal(config.backbone, "reference");
    assert.equal(config.epochs, 2);
    assert.equal(config.loss, "ce=1,bce=1");
    const results = await readJson(`${out}/results.json`);
    assertMatchesSchema(results, "train");
    // The task line allows running git, so the run record names the commit.
    assert.match(results.run.gitCommit, /^[0-9a-f]{40}/);
    assert.equal(results.training.epochs, 2);
    assert.equal(results.training.epochsThisCall, 2);
    assert.equal(results.training.history.length, 2);
    // 40 images: 32 train, of which 10% (4) validate; 28 train make 3 batches of 8 per epoch.
    assert.equal(results.dataset.train + results.dataset.val, 32);
    assert.equal(results.training.steps, 2 * Math.floor(results.dataset.train / 8));
    assert.deepEqual(
      Object.keys(results.training.history[0].metrics).filter((k) => k.startsWith("train_")).sort(),
      [
        "train_bce",
        "train_ce",
        "train_loss",
      ],
    );
    const acc = results.test.accuracy.mean;
    assert.ok(acc >= 0 && acc <= 1);
    assert.equal(results.run.versions.tfjs, "4.22.0");
    const log = (await Deno.readTextFile(`${out}/train_log.jsonl`)).trim().split("\n");
    assert.equal(log.length, 2);

    // A finished run resumed trains no further and keeps its epochs.
    const again = await runTask("tasks/train.ts", [
      ...TINY,
      "--epochs=2",
      `--out=${out}`,
      "--resume",
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /resuming after epoch 2/);
    const resumed = await readJson(`${out}/results.json`);
    assert.equal(resumed.training.epochsThisCall, 0);
    assert.equal(resumed.training.epochs, 2);
    assert.equal(resumed.training.resumedFrom, 2);
    assert.equal(
      (await Deno.readTextFile(`${out}/train_log.jsonl`)).trim().split("\n").length,
      2,
    );
    // Without --resume or --overwrite, the task refuses to clobber the run.
    const clash = await runTask("tasks/train.ts", [...TINY, "--epochs=2", `--out=${out}`]);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /already holds one/);
    // In the flags' words, on one line.
    assert.match(
      clash.stderr,
      /already holds one .*; pass --resume to continue it, --overwrite to replace it, or another --out\n/,
    );
    assert.doesNotMatch(clash.stderr, /resume: true|outDir|\n\s+at /);

    // evaluate on the trained model writes its three files; summary.md agrees with results.json.
    const evalOut = `${dir}/eval`;
    const e = await runTask("tasks/evaluate.ts", [
      `--model=${out}/model`,
      "--count=40",
      "--threads=1",
      "--explainers=grad-cam,branch",
      "--faithfulness-steps=4",
      "--resamples=100",
      "--gallery=2",
      `--out=${evalOut}`,
    ]);
    assert.equal(e.code, 0, e.stderr);
    const er = await readJson(`${evalOut}/results.json`);
    assertMatchesSchema(er, "evaluate");
    assert.deepEqual(Object.keys(er.evaluation.explainers), ["grad-cam", "branch"]);
    assert.equal(er.evaluation.samples, 8);
    const metrics = er.evaluation.explainers["grad-cam"].metrics;
    assert.ok("deletionAuc" in metrics && "insertionAuc" in metrics, "faithfulness is on");
    assert.ok("energyPointingGame" in metrics);
    // Same model, same synthetic test split: the same accuracy as train's results.json.
    assert.equal(er.classification.accuracy.mean, results.test.accuracy.mean);
    const md = await Deno.readTextFile(`${evalOut}/summary.md`);
    assertSummaryAgrees(md, er, "evaluate");
    const accRow = md.match(/^\| accuracy \| ([\d.]+) \[([\d.]+), ([\d.]+)\] \|$/m);
    assert.ok(accRow, md);
    assert.equal(accRow[1], er.classification.accuracy.mean.toFixed(4));
    assert.equal(accRow[2], er.classification.accuracy.ci[0].toFixed(4));
    const gcRow = md.split("\n").find((l) => l.startsWith("| grad-cam |"));
    assert.ok(gcRow, md);
    assert.ok(gcRow.includes(metrics.energyPointingGame.mean.toFixed(4)), gcRow);
    const html = await Deno.readTextFile(`${evalOut}/report.html`);
    const embedded = html.match(
      /<script type="application\/json" id="report-data">([^<]*)<\/script>/,
    );
    assert.ok(embedded, "report.html embeds its data");
    const data = JSON.parse(embedded[1]);
    assert.equal(data.gallery.length, 2);
    assert.equal(data.gallery[0].items.length, 2);
    // image, ground truth and one overlay per explainer
    assert.equal(data.gallery[0].items[0].images.length, 4);
    assert.ok(
      data.comparisons.some((c: { title: string }) => c.title.startsWith("energyPointingGame")),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: plain_cnn with the cam head trains from a --config file that flags override", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/run`;
    await Deno.writeTextFile(
      `${dir}/cfg.json`,
      JSON.stringify({
        backbone: "plain_cnn",
        head: "cam",
        epochs: 3,
        loss: "ce=1,dice=0.5",
        val: 0,
      }),
    );
    const r = await runTask("tasks/train.ts", [
      ...TINY,
      `--config=${dir}/cfg.json`,
      "--epochs=1",
      `--out=${out}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const config = await readJson(`${out}/config.json`);
    assert.equal(config.backbone, "plain_cnn");
    assert.equal(config.head, "cam");
    assert.equal(config.epochs, 1, "the flag overrides the file");
    assert.equal(config.loss, "ce=1,dice=0.5");
    const model = await readJson(`${out}/model/model.json`);
    assert.equal(model.config.backbone, "plain_cnn");
    assert.equal(model.config.saliencyHead, "cam");
    const results = await readJson(`${out}/results.json`);
    assert.equal(results.training.epochs, 1);
    assert.equal(results.dataset.val, 0);
    assert.deepEqual(results.lossWeights, { ce: 1, dice: 0.5 });
    // The written config.json is itself a valid --config file: resuming from it adds nothing.
    const again = await runTask("tasks/train.ts", [`--config=${out}/config.json`, "--resume"]);
    assert.equal(again.code, 0, again.stderr);
    const resumed = await readJson(`${out}/results.json`);
    assert.equal(resumed.training.epochsThisCall, 0);
    assert.equal(resumed.config.backbone, "plain_cnn");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: a --config file with an unknown key fails naming the key and the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/bad.json`;
    await Deno.writeTextFile(file, JSON.stringify({ epochs: 1, learning_rate: 0.1 }));
    const r = await runTask("tasks/train.ts", [`--config=${file}`, `--out=${dir}/run`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown key "learning_rate"/);
    assert.ok(r.stderr.includes(file), r.stderr);
    const loss = await runTask("tasks/train.ts", ["--loss=ce=1,foo=2", `--out=${dir}/run`]);
    assert.equal(loss.code, 2);
    assert.match(loss.stderr, /Flag --loss: unknown term "foo"/);
    const backbone = await runTask("tasks/train.ts", ["--backbone=nope", `--out=${dir}/run`]);
    assert.equal(backbone.code, 2);
    assert.match(backbone.stderr, /Flag --backbone must be one of .*resnet18/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("evaluate: a missing --model or a folder without a model fails with a clear message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const none = await runTask("tasks/evaluate.ts", [`--out=${dir}/e`]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Flag --model is required/);
    const bad = await runTask("tasks/evaluate.ts", [`--model=${dir}/nowhere`, `--out=${dir}/e`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Flag --model: ".*nowhere" holds no saved model/);
    const explainer = await runTask("tasks/evaluate.ts", [
      `--model=${dir}/nowhere`,
      "--explainers=grad-cam,magic",
    ]);
    assert.equal(explainer.code, 2);
    assert.match(
      explainer.stderr,
      /Flag --explainers: unknown explainer "magic" \(choices: .*grad-cam/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train and evaluate print --help listing their flags", async () => {
  for (
    const [script, flags] of [
      ["tasks/train.ts", ["--config", "--backbone", "--head", "--loss", "--resume", "--epochs"]],
      ["tasks/evaluate.ts", ["--model", "--explainers", "--sanity", "--dataset", "--root"]],
    ] as const
  ) {
    const r = await runTask(script, ["--help"]);
    assert.equal(r.code, 0, r.stderr);
    for (const f of flags) assert.ok(r.stdout.includes(f), `${script} --help lists ${f}`);
  }
});

Deno.test("train --pretrained starts ResNet-18 from a torch.save file, normalises as ImageNet, keeps frozen stages as loaded and records the source", async () => {
  if (!(await requirePython("torchvision", "train --pretrained"))) return;
  const dir = await Deno.makeTempDir();
  try {
    const pth = `${dir}/resnet18.pth`;
    await runPython(
      `import sys, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.resnet18()
torch.save(m.state_dict(), sys.argv[1])
print(float(m.conv1.weight[0, 0, 0, 0]))`,
      [pth],
    );
    const out = `${dir}/run`;
    const r = await runTask("tasks/train.ts", [
      "--backbone=resnet18",
      "--width=1",
      "--size=32",
      "--count=24",
      "--classes=2",
      "--batch=8",
      "--epochs=1",
      "--threads=1",
      "--explainers=",
      `--pretrained=${pth}`,
      "--freeze=stem,layer1",
      "--backbone-lr=0.1",
      `--out=${out}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /pretrained: \d+ tensors from/);
    const results = await readJson(`${out}/results.json`);
    assertMatchesSchema(results, "train");
    const p = results.pretrained;
    assert.equal(p.source, pth);
    assert.equal(p.naming, "torchvision");
    assert.match(p.sha256, /^[0-9a-f]{64}$/);
    // 1000 classes in the file, 2 here: the classifier stays fresh and says why.
    assert.ok(
      p.skipped.some((s: { key: string }) => s.key === "fc.weight"),
      JSON.stringify(p.skipped),
    );
    assert.ok(p.missing.some((m: string) => m.includes("/classifier/fc/")));
    assert.ok(
      p.missing.every((m: string) => !m.includes("/resnet18/")),
      "every backbone tensor loaded",
    );
    const model = await readJson(`${out}/model/model.json`);
    assert.equal(model.config.inputNorm, "imagenet");
    // The frozen stem still holds torch's weights: conv1.weight[0,0,0,0] is kernel[0,0,0,0].
    const torchValue = Number((await runPython(
      `import sys, torch
print(float(torch.load(sys.argv[1])["conv1.weight"][0, 0, 0, 0]))`,
      [pth],
    )).trim());
    const { initBackend, loadModel } = await import("../../mod.ts");
    await initBackend({ backend: "wasm", log: null });
    const saved = await loadModel(`${out}/model`);
    try {
      const kernel = saved.variables().get("two_branch/resnet18/stem/conv/kernel")!;
      assert.ok(
        Math.abs(kernel.dataSync()[0] - torchValue) < 1e-7,
        `${kernel.dataSync()[0]} vs ${torchValue}`,
      );
    } finally {
      saved.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
