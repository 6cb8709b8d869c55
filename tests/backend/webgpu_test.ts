import assert from "node:assert/strict";
import { join } from "node:path";
import { runTask, TINY_COMPARE } from "../tasks/_run.ts";
import { assertMatchesSchema } from "../tasks/_schema.ts";

const lib = (path: string) => new URL(`../../lib/${path}`, import.meta.url).href;

/**
 * Starts the engine named by `Deno.args[0]` (`webgpu` or `cpu`), then prints
 * one JSON line: the engine's description, an addN of 20 tensors and, for the same seeded model and
 * batch, the forward pass, the training loss's gradients, the losses of three
 * Adam steps through createTrainStep and the trainer, Grad-CAM, the vanilla
 * gradient and Score-CAM maps, Grad-CAM's deletion AUC, and the tensor counts after repeated steps
 * and explanations. Every read is asynchronous: WebGPU under Deno has no
 * synchronous one, and the library must not need it on these paths.
 */
const CHILD = `
import { tf } from "${lib("deps.ts")}";
import { backendInfo, initBackend } from "${lib("backend/init_backend.ts")}";
import { createReferenceNet } from "${lib("models/reference_net.ts")}";
import { crossEntropyLoss } from "${lib("losses/classification.ts")}";
import { createTrainStep } from "${lib("train/train_step.ts")}";
import { train } from "${lib("train/trainer.ts")}";
import { explain } from "${lib("explainers/mod.ts")}";
import { deletionAuc } from "${lib("metrics/faithfulness.ts")}";
import { syntheticDataset } from "${lib("../datasets/synthetic.ts")}";

await initBackend({ backend: Deno.args[0], log: null });
const outputs = {};
const record = async (name, t) => {
  outputs[name] = Array.from(await t.data());
  t.dispose();
};
// More inputs than a shader may bind (tfjs's webgpu AddN wrote nothing past 7).
await record("addN of 20", tf.addN(Array.from({ length: 20 }, (_, i) => tf.fill([5], i + 1))));
const model = createReferenceNet({ numClasses: 3, inputSize: 32, width: 0.5, seed: 5 });
const images = tf.randomUniform([4, 32, 32, 3], 0, 1, "float32", 6);
const labels = tf.tensor1d([0, 1, 2, 0], "int32");
const masks = tf.cast(tf.greater(tf.randomUniform([4, 32, 32], 0, 1, "float32", 7), 0.5), "float32");
const out = model.forward(images);
await record("logits", out.logits);
await record("saliency", out.saliency);
out.saliencyLogits.dispose();
const { value, grads } = tf.variableGrads(() =>
  crossEntropyLoss(model.forward(images, { training: true }).logits, labels)
);
await record("loss", value);
for (const [name, grad] of Object.entries(grads)) await record("grad " + name, grad);
for (const method of ["grad-cam", "vanilla-gradient", "score-cam"]) {
  await record(method, explain(model, images, { method }));
}
const maps = explain(model, images, { method: "grad-cam" });
outputs["deletion AUC"] = (await deletionAuc(model, { images, maps }, { steps: 4 })).auc;
maps.dispose();
const step = createTrainStep(model, tf.train.adam(1e-3));
outputs["adam losses"] = [];
for (let i = 0; i < 3; i++) outputs["adam losses"].push((await step({ images, labels, masks })).loss);

// Tensors stay flat across steps and explanations.
let before = tf.memory().numTensors;
for (let i = 0; i < 3; i++) await step({ images, labels, masks });
const afterSteps = tf.memory().numTensors - before;
before = tf.memory().numTensors;
for (let i = 0; i < 3; i++) {
  for (const method of ["grad-cam", "score-cam"]) (await explain(model, images, { method })).dispose();
}
const afterExplain = tf.memory().numTensors - before;

// The trainer: one epoch of a tiny synthetic set, validation included.
const data = syntheticDataset({ count: 24, size: 32, numClasses: 3, seed: 2 });
const trained = createReferenceNet({ numClasses: 3, inputSize: 32, width: 0.25, seed: 1 });
const result = await train(trained, {
  dataset: data,
  trainIndices: data.officialSplit.train,
  valIndices: data.officialSplit.test,
  epochs: 1,
  batchSize: 8,
  seed: 3,
  progress: false,
});
const m = result.history[0].metrics;
outputs["trainer"] = [m.train_loss, m.val_loss, m.val_accuracy];
// A synchronous read of data on the GPU fails with a message that says what to do.
let syncError = "";
const product = tf.matMul(images.reshape([4, -1]), images.reshape([-1, 4]));
try {
  product.dataSync();
} catch (error) {
  syncError = error.message;
}
product.dispose();
console.log(JSON.stringify({ info: backendInfo(), afterSteps, afterExplain, syncError, outputs }));
`;

interface ChildResult {
  info: { engine: string; detail: string };
  afterSteps: number;
  afterExplain: number;
  syncError: string;
  outputs: Record<string, number[]>;
}

async function runChild(dir: string, engine: string): Promise<ChildResult> {
  const script = join(dir, "child.js");
  await Deno.writeTextFile(script, CHILD);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-read", "--allow-env", script, engine],
    cwd: dir,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(300_000),
  }).output();
  const err = new TextDecoder().decode(stderr);
  assert.equal(
    code,
    0,
    `the ${engine} script failed (on Linux without a GPU, WebGPU needs Mesa's lavapipe: ` +
      `apt-get install mesa-vulkan-drivers):\n${err}`,
  );
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  return JSON.parse(lines.at(-1)!);
}

Deno.test("the webgpu engine trains and explains without synchronous reads, and matches cpu", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saliency_lab_webgpu_" });
  try {
    const gpu = await runChild(dir, "webgpu");
    const cpu = await runChild(dir, "cpu");
    assert.equal(gpu.info.engine, "webgpu");
    assert.equal(cpu.info.engine, "cpu");
    assert.equal(gpu.afterSteps, 0, "tensors after 3 more training steps on webgpu");
    assert.equal(gpu.afterExplain, 0, "tensors after 6 more explanations on webgpu");
    assert.match(
      gpu.syncError,
      /not possible on the webgpu engine under Deno: read it with `await/,
    );
    assert.equal(cpu.syncError, "");
    assert.deepEqual(Object.keys(gpu.outputs), Object.keys(cpu.outputs));
    assert.ok(Object.keys(cpu.outputs).filter((k) => k.startsWith("grad ")).length > 10);
    assert.deepEqual(gpu.outputs["addN of 20"], [210, 210, 210, 210, 210]);
    for (const [name, want] of Object.entries(cpu.outputs)) {
      const got = gpu.outputs[name];
      assert.ok(want.length > 0 && [...want, ...got].every(Number.isFinite), `${name}: finite`);
      assert.equal(got.length, want.length, `${name}: length`);
      const scale = Math.max(1e-3, ...want.map(Math.abs));
      const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
      assert.ok(
        worst <= 2e-3 * scale,
        `${name}: webgpu differs from cpu by up to ${worst} (largest value ${scale})`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task compare-gradcam runs end to end on the webgpu engine", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saliency_lab_webgpu_task_" });
  try {
    const r = await runTask("tasks/compare_gradcam.ts", [
      ...TINY_COMPARE,
      "--backend=webgpu",
      `--out=${dir}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    assert.equal(results.run.backend.engine, "webgpu");
    assertMatchesSchema(results, "compare-gradcam");
    for (const name of ["summary.md", "report.html", "saliency.png"]) {
      assert.ok((await Deno.stat(`${dir}/${name}`)).size > 0, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
