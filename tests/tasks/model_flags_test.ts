import assert from "node:assert/strict";
import { buildModel, headFlags } from "../../tasks/_model.ts";
import { sweepCellConfig } from "../../lib/studies/sweep.ts";
import { tf } from "../../mod.ts";
import { useEngines } from "../_helpers.ts";

await useEngines();

Deno.test("--head and --gate: an attention head takes a gate, other heads refuse one in one line", () => {
  assert.deepEqual(headFlags({ head: "attention", gate: "multiplicative" }), {
    head: "attention",
    gate: "multiplicative",
  });
  assert.deepEqual(headFlags({ head: "cam", gate: "none" }), { head: "cam", gate: null });
  assert.throws(
    () => headFlags({ head: "cam", gate: "multiplicative" }),
    /^UsageError: Flag --gate multiplicative needs --head attention \(got --head cam\)$/,
  );
  assert.throws(
    () => headFlags({ head: "attention", gate: "max" }),
    /Flag --gate must be none, residual, multiplicative; got "max"/,
  );
});

Deno.test("--gate reaches the model: a multiplicative gate makes the classifier see features · map", async () => {
  const spec = {
    backbone: "plain_cnn",
    head: "attention",
    width: 0.25,
    size: 16,
    pretrained: "",
    freeze: [],
  };
  const { model: gated } = await buildModel({ ...spec, gate: "multiplicative" }, 2, 1);
  const { model: residual } = await buildModel({ ...spec, gate: "residual" }, 2, 1);
  assert.equal(
    (gated.config as { headOptions?: { gate?: string } }).headOptions?.gate,
    "multiplicative",
  );
  // Same weights; only the gate differs, so the logits do too.
  const x = tf.randomUniform([2, 16, 16, 3], 0, 1, "float32", 3) as tf.Tensor4D;
  const a = gated.forward(x), b = residual.forward(x);
  assert.ok(tf.max(tf.abs(tf.sub(a.logits, b.logits))).dataSync()[0] > 1e-4);
  tf.dispose([x, a, b] as never);
  gated.dispose();
  residual.dispose();
  await assert.rejects(
    buildModel({ ...spec, backbone: "reference", gate: "multiplicative" }, 2, 1),
    /builds the whole reference model, which takes no head options \(gate\): choose another backbone/,
  );
});

Deno.test("sweep --gate goes to the attention head's cells only", () => {
  const shared = {
    dataset: "synthetic",
    root: null,
    count: 40,
    classes: 2,
    size: 16,
    gate: "multiplicative",
    explainers: ["grad-cam"],
    faithfulness: false,
    width: 0.25,
    pretrained: "",
    freeze: "",
    backboneLr: 1,
    microBatch: "auto" as const,
    epochs: 1,
    batch: 4,
    lr: 0.003,
    resamples: 100,
    backend: "wasm" as const,
    threads: 1,
    seed: 0,
  };
  const cell = (head: string) => ({
    id: `plain_cnn-${head}-bce-w1-s0`,
    config: `plain_cnn-${head}-bce-w1`,
    backbone: "plain_cnn",
    head,
    loss: "bce",
    weight: 1,
    seed: 0,
  });
  const attention = sweepCellConfig(shared as never, cell("attention"), { out: "x" });
  const cam = sweepCellConfig(shared as never, cell("cam"), { out: "x" });
  assert.equal(attention.gate, "multiplicative");
  assert.equal("gate" in cam, false);
});
