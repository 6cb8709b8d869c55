import assert from "node:assert/strict";
import { backendInfo, EngineUnavailableError, initBackend, tf, VERSION } from "../../mod.ts";

Deno.test("initBackend() picks wasm here, says why faster engines were passed over, and registers our kernels", async () => {
  const lines: string[] = [];
  const engine = await initBackend({ backend: "auto", log: (l) => lines.push(l) });
  assert.equal(engine, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  assert.match(lines[0], /^engine: wasm \(SIMD/);
  assert.match(lines[0], /passed over tensorflow: tfjs-node-gpu is not installed/);
  assert.match(lines[0], /webgpu: /);
  const info = backendInfo()!;
  assert.equal(info.engine, "wasm");
  assert.ok(info.passedOver.tensorflow);
  assert.ok(tf.getKernel("Conv2DBackpropFilter", "wasm"), "filter gradient is registered");
});

Deno.test("initBackend() with an engine that is missing fails with how to get it", async () => {
  await assert.rejects(
    () => initBackend({ backend: "tensorflow", log: null }),
    (error: unknown) => {
      assert.ok(error instanceof EngineUnavailableError);
      assert.match(error.message, /Cannot use engine "tensorflow"/);
      assert.match(error.message, /deno install --allow-scripts=npm:@tensorflow\/tfjs-node-gpu/);
      return true;
    },
  );
  assert.equal(tf.getBackend(), "wasm", "a failed request leaves the engine as it was");
});

Deno.test("initBackend() rejects an unknown engine name with the valid choices", async () => {
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => initBackend({ backend: "tpu" as any, log: null }),
    /Cannot use engine "tpu": expected one of auto, tensorflow, webgpu, wasm, cpu/,
  );
});

Deno.test("VERSION equals deno.json's version", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  );
  assert.equal(VERSION, config.version);
});

Deno.test("initBackend() rejects a thread count that is not a whole number of at least 1", async () => {
  await assert.rejects(() => initBackend({ threads: 0, log: null }), /Option "threads".*got 0/);
  await assert.rejects(() => initBackend({ threads: 1.5, log: null }), /Option "threads".*got 1.5/);
});
