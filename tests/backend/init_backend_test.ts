import assert from "node:assert/strict";
import { backendInfo, EngineUnavailableError, initBackend, tf, VERSION } from "../../mod.ts";
import { TASK_PERMS } from "../tasks/_run.ts";

// This process never asks for the auto choice: the auto probe requests a WebGPU adapter, and a
// process that has loaded Mesa's lavapipe through wgpu sometimes aborts at exit with glibc's
// "double free or corruption" after every test passed. The auto choice runs in a child below.
Deno.test("initBackend() starts wasm by name, says what it chose, and registers our kernels", async () => {
  const lines: string[] = [];
  const engine = await initBackend({ backend: "wasm", log: (l) => lines.push(l) });
  assert.equal(engine, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  assert.match(lines[0], /^engine: wasm \(SIMD/);
  assert.equal(backendInfo()!.engine, "wasm");
  assert.ok(tf.getKernel("Conv2DBackpropFilter", "wasm"), "filter gradient is registered");
  // Auto reuses the engine already started, without probing.
  assert.equal(await initBackend({ backend: "auto", log: null }), "wasm");
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

/**
 * Runs a script with the tasks' permissions that starts `backend` with the
 * default log and XDG_RUNTIME_DIR unset, then prints whether the variable is
 * still unset; returns its stderr.
 */
async function startInChild(backend: string): Promise<{ code: number; stderr: string }> {
  const mod = new URL("../../mod.ts", import.meta.url).href;
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/child.ts`,
      `import { initBackend } from "${mod}";
       await initBackend({ backend: "${backend}" }).catch((e) => console.error(e.message));
       console.error("unset after: " + (Deno.env.get("XDG_RUNTIME_DIR") === undefined));`,
    );
    const env = Deno.env.toObject();
    delete env.XDG_RUNTIME_DIR;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...TASK_PERMS, `${dir}/child.ts`],
      env: { ...env, NO_COLOR: "1" },
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("initBackend() in auto mode picks wasm here, says why faster engines were passed over, and prints no XDG_RUNTIME_DIR error on a headless machine", async () => {
  const { code, stderr } = await startInChild("auto");
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /XDG_RUNTIME_DIR/);
  assert.match(stderr, /^engine: wasm \(SIMD.*webgpu: /m);
  assert.match(stderr, /passed over tensorflow: tfjs-node-gpu is not installed/);
  assert.match(stderr, /^unset after: true$/m);
});

Deno.test("initBackend() with webgpu by name prints no XDG_RUNTIME_DIR error and leaves the variable unset", async () => {
  const { code, stderr } = await startInChild("webgpu");
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /XDG_RUNTIME_DIR/);
  // With an adapter (lavapipe serves the tests) or without, the probe said what it found.
  assert.match(stderr, /^engine: webgpu|^Cannot use engine "webgpu"/m);
  assert.match(stderr, /^unset after: true$/m);
});
