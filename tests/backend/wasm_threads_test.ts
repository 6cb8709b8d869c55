import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../../lib/backend/init_backend.ts";
import { prepareWasmThreads } from "../../lib/backend/wasm_threads.ts";

const lib = (path: string) => new URL(`../../lib/${path}`, import.meta.url).href;

/**
 * Starts the wasm engine (with our training kernels) on `Deno.args[0]`
 * threads, then prints one JSON line: the thread count and flag the engine
 * reports, and the values of a conv2d, a matMul, the gradients of a
 * reference net's training loss and the losses of two Adam steps.
 */
const CHILD = `
import { tf } from "${lib("deps.ts")}";
import { initBackend } from "${lib("backend/init_backend.ts")}";
import { prepareWasmThreads, shutdownWasmThreads } from "${lib("backend/wasm_threads.ts")}";
import { createReferenceNet } from "${lib("models/reference_net.ts")}";
import { crossEntropyLoss } from "${lib("losses/classification.ts")}";
import { createTrainStep } from "${lib("train/train_step.ts")}";

const threads = Number(Deno.args[0]);
if (threads > 1) await prepareWasmThreads({ threads });
await initBackend({ backend: "wasm", log: null });
const wasm = await import("npm:@tensorflow/tfjs-backend-wasm@4.22.0");

const outputs = {};
const record = (name, t) => {
  outputs[name] = Array.from(t.dataSync());
  t.dispose();
};
const x = tf.randomNormal([4, 32, 32, 8], 0, 1, "float32", 1);
const w = tf.randomNormal([3, 3, 8, 16], 0, 0.3, "float32", 2);
record("conv2d", tf.conv2d(x, w, 1, "same"));
record("conv2dStrided", tf.conv2d(x, w, 2, "valid"));
const a = tf.randomNormal([96, 128], 0, 1, "float32", 3);
const b = tf.randomNormal([128, 80], 0, 1, "float32", 4);
record("matMul", tf.matMul(a, b));

const model = createReferenceNet({ numClasses: 3, inputSize: 32, width: 0.5, seed: 5 });
const images = tf.randomUniform([8, 32, 32, 3], 0, 1, "float32", 6);
const labels = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], "int32");
const masks = tf.cast(tf.greater(tf.randomUniform([8, 32, 32], 0, 1, "float32", 7), 0.5), "float32");
const { value, grads } = tf.variableGrads(() =>
  crossEntropyLoss(model.forward(images, { training: true }).logits, labels)
);
record("loss", value);
for (const [name, grad] of Object.entries(grads)) record("grad " + name, grad);
const step = createTrainStep(model, tf.train.adam(1e-3));
outputs["adam losses"] = [
  (await step({ images, labels, masks })).loss,
  (await step({ images, labels, masks })).loss,
];

console.log(JSON.stringify({
  threads: wasm.getThreadsCount(),
  multithread: tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT"),
  outputs,
}));
await shutdownWasmThreads();
`;

interface ChildResult {
  threads: number;
  multithread: boolean;
  outputs: Record<string, number[]>;
}

/** Runs CHILD on `threads` threads; it must exit by itself within the time limit. */
async function runChild(dir: string, threads: number): Promise<ChildResult> {
  const script = join(dir, "child.js");
  await Deno.writeTextFile(script, CHILD);
  const { code, signal, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    // Only what the single-threaded engine needs: threads need no more.
    args: ["run", "--no-prompt", "--allow-read", script, `${threads}`],
    cwd: dir,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(180_000),
  }).output();
  const err = new TextDecoder().decode(stderr);
  assert.equal(signal, null, `the ${threads}-thread script did not exit by itself:\n${err}`);
  assert.equal(code, 0, `the ${threads}-thread script failed:\n${err}`);
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  return JSON.parse(lines.at(-1)!);
}

Deno.test("prepareWasmThreads() runs the wasm engine on 2 threads bit for bit like 1 thread, and the process exits by itself", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saliency_lab_wasm_threads_" });
  try {
    const single = await runChild(dir, 1);
    const threaded = await runChild(dir, 2);
    assert.equal(single.threads, 1);
    assert.equal(single.multithread, false);
    assert.equal(threaded.threads, 2);
    assert.equal(threaded.multithread, true);
    assert.deepEqual(Object.keys(threaded.outputs), Object.keys(single.outputs));
    assert.ok(Object.keys(single.outputs).some((name) => name.startsWith("grad ")));
    for (const [name, want] of Object.entries(single.outputs)) {
      const got = Float32Array.from(threaded.outputs[name]);
      const expected = Float32Array.from(want);
      assert.equal(got.length, expected.length, `${name}: length`);
      const worst = got.reduce(
        (m, v, i) => Object.is(v, expected[i]) ? m : Math.max(m, Math.abs(v - expected[i])),
        0,
      );
      assert.ok(
        got.every((v, i) => Object.is(v, expected[i])),
        `${name}: 2 threads differ from 1 thread by up to ${worst}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prepareWasmThreads() rejects a thread count that is not a positive integer", async () => {
  for (const threads of [0, -1, 1.5, Number.NaN]) {
    await assert.rejects(prepareWasmThreads({ threads }), RangeError);
  }
});

Deno.test("prepareWasmThreads() refuses once the wasm engine has started", async () => {
  await initBackend({ backend: "wasm", log: null });
  await assert.rejects(prepareWasmThreads({ threads: 2 }), /before tf\.setBackend\("wasm"\)/);
});
