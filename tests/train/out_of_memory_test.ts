import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

// A training step whose activations cannot fit the wasm engine's 4 GiB: a
// ResNet-18 stem on 16 images of 1024×1024 needs about 1 GiB per activation.
const script = `
import { createTrainStep, createTwoBranchModel, initBackend, tf } from "${
  new URL("../../mod.ts", import.meta.url).href
}";
import { runMain } from "${new URL("../../tasks/_cli.ts", import.meta.url).href}";
await runMain(async () => {
  await initBackend({ backend: "wasm", threads: 2, log: null });
  const model = createTwoBranchModel({ backbone: "resnet18", numClasses: 2, inputSize: 1024 });
  const step = createTrainStep(model, tf.train.sgd(0.1), { microBatch: 16, checkpoint: false });
  const images = tf.zeros([16, 1024, 1024, 3]) as tf.Tensor4D;
  const labels = tf.zeros([16], "int32") as tf.Tensor1D;
  await step({ images, labels });
  console.log("no error");
});
`;

Deno.test("a training step that runs the wasm engine out of memory ends the process with one sentence naming the model, batch, size and flags", async () => {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, script);
    const started = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-lock", file],
      stdout: "piped",
      stderr: "piped",
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      signal: AbortSignal.timeout(180_000),
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 1, stderr);
    const lines = stderr.split("\n").filter((l) => l.trim() !== "" && !/XDG_RUNTIME_DIR/.test(l));
    assert.equal(lines.length, 1, `one line, no stack:\n${stderr}`);
    assert.match(
      lines[0],
      /^The wasm engine ran out of memory training two_branch \(resnet18\) on a batch of 16 at 1024×1024; pass a smaller --micro-batch \(8; now 16\) or --batch, or a smaller --size/,
    );
    assert.ok(performance.now() - started < 180_000, "the process exited by itself");
  } finally {
    await Deno.remove(file);
  }
});
