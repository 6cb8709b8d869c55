import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { TransformerBlock } from "../../lib/layers/transformer.ts";
import { createBackbone } from "../../lib/backbones/mod.ts";
import { assertClose, randn, runOn, useEngines } from "../_helpers.ts";

await useEngines();

Deno.test("a transformer block's gradients (layer norm, GELU, attention) on wasm equal the cpu engine's", async () => {
  const x = randn([2, 5, 8], 1);
  const grads = (): tf.Tensor[] => {
    const block = new TransformerBlock("b", { channels: 8, heads: 2, seed: 3 });
    const vars = [...block.variables().values()];
    const input = tf.tensor3d(x, [2, 5, 8]);
    const weights = tf.tensor1d(randn([8], 2));
    const f = (t: tf.Tensor) => tf.sum(tf.mul(block.apply(t as tf.Tensor3D), weights)) as tf.Scalar;
    const { grads } = tf.variableGrads(() => f(input), vars);
    const dx = tf.grad(f)(input);
    const out = [dx, ...vars.map((v) => grads[v.name])];
    block.dispose();
    return out;
  };
  const onWasm = await runOn("wasm", grads);
  const onCpu = await runOn("cpu", grads);
  assert.equal(onWasm.length, 13);
  onWasm.forEach((g, i) => {
    assert.ok(g.some((v) => v !== 0), `gradient ${i} is not all zero`);
    assertClose(g, onCpu[i], { rtol: 1e-4, atol: 1e-6, label: `gradient ${i}` });
  });
});

Deno.test("a vision transformer's checkpointed training gradients equal the plain ones", () => {
  const vit = createBackbone("vit_tiny_patch16_224", { width: 0.125, seed: 2 });
  const x = tf.tensor4d(randn([2, 32, 32, 3], 4), [2, 32, 32, 3]);
  const vars = vit.trainableVariables();
  const run = (checkpoint: boolean) => {
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.square(vit.forwardStages(x, { training: true, checkpoint })[1])) as tf.Scalar,
      vars,
    );
    const out = vars.map((v) => grads[v.name].dataSync());
    tf.dispose([value, ...Object.values(grads)]);
    return out;
  };
  const before = tf.memory().numTensors;
  const plain = run(false), again = run(true);
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  plain.forEach((g, i) => assertClose(again[i], g, { rtol: 1e-4, label: vars[i].name }));
  x.dispose();
  vit.dispose();
});
