import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { initBackend } from "../../lib/backend/init_backend.ts";
import { Conv2d, convBnAct, DepthwiseConv2d } from "../../lib/layers/convolutional.ts";
import { BatchNorm } from "../../lib/layers/normalization.ts";
import { listBackbones } from "../../lib/backbones/mod.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import { createTwoBranchModel } from "../../lib/models/two_branch.ts";
import { Random } from "../../lib/util/random.ts";

await initBackend({ backend: "wasm", log: null });

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** A batch norm with running statistics and weights far from the identity. */
function randomBn(channels: number, seed: number): BatchNorm {
  const bn = new BatchNorm("bn", { channels });
  const rng = new Random(seed);
  const vec = (lo: number, hi: number) =>
    tf.tensor1d(Array.from({ length: channels }, () => lo + (hi - lo) * rng.next()));
  for (
    const [v, value] of [
      [bn.gamma, vec(-2, 2)],
      [bn.beta, vec(-1, 1)],
      [bn.movingMean, vec(-0.5, 0.5)],
      [bn.movingVariance, vec(0.1, 3)],
    ] as const
  ) {
    v.assign(value);
    value.dispose();
  }
  return bn;
}

/** The plain ops, written out: conv, (x − mean)/sqrt(var + eps)·gamma + beta, activation. */
function byDefinition(
  conv: Conv2d | DepthwiseConv2d,
  bn: BatchNorm,
  x: tf.Tensor4D,
  activation: "relu" | "relu6" | "none",
): tf.Tensor4D {
  return tf.tidy(() => {
    const y = conv.apply(x);
    const z = tf.add(
      tf.mul(tf.div(tf.sub(y, bn.movingMean), tf.sqrt(tf.add(bn.movingVariance, 1e-5))), bn.gamma),
      bn.beta,
    );
    return (activation === "relu"
      ? tf.relu(z)
      : activation === "relu6"
      ? tf.clipByValue(z, 0, 6)
      : z) as tf.Tensor4D;
  });
}

Deno.test("convBnAct() in inference mode folds batch norm into the convolution: same values and input gradients as the plain ops", () => {
  const cases = [
    { conv: new Conv2d("c", { inChannels: 3, filters: 5, seed: 1 }), c: 3, k: 5 },
    { conv: new Conv2d("c", { inChannels: 3, filters: 5, strides: 2, seed: 2 }), c: 3, k: 5 },
    {
      conv: new Conv2d("c", { inChannels: 4, filters: 6, kernelSize: 1, useBias: true, seed: 3 }),
      c: 4,
      k: 6,
    },
    { conv: new DepthwiseConv2d("d", { channels: 4, seed: 4 }), c: 4, k: 4 },
    { conv: new DepthwiseConv2d("d", { channels: 4, strides: 2, seed: 5 }), c: 4, k: 4 },
  ];
  for (const [i, { conv, c, k }] of cases.entries()) {
    const bn = randomBn(k, 10 + i);
    if (conv instanceof Conv2d && conv.bias) {
      const b = tf.randomNormal([k], 0, 1, "float32", 7);
      conv.bias.assign(b);
      b.dispose();
    }
    const x = tf.randomNormal([2, 7, 7, c], 0, 1, "float32", 20 + i) as tf.Tensor4D;
    for (const activation of ["relu", "relu6", "none"] as const) {
      const name = `case ${i}, ${activation}`;
      const fused = convBnAct(conv, bn, x, {}, activation);
      const plain = byDefinition(conv, bn, x, activation);
      assert.deepEqual(fused.shape, plain.shape, name);
      assert.ok(maxDiff(fused, plain) < 1e-4, `${name}: values differ by ${maxDiff(fused, plain)}`);
      // The input gradient of a weighted sum (what Grad-CAM and saliency differentiate).
      const w = tf.randomNormal(plain.shape, 0, 1, "float32", 30 + i);
      const gFused = tf.grad((v: tf.Tensor) =>
        tf.sum(tf.mul(convBnAct(conv, bn, v as tf.Tensor4D, {}, activation), w))
      )(x);
      const gPlain = tf.grad((v: tf.Tensor) =>
        tf.sum(tf.mul(byDefinition(conv, bn, v as tf.Tensor4D, activation), w))
      )(x);
      assert.ok(
        maxDiff(gFused, gPlain) < 1e-4,
        `${name}: gradients differ by ${maxDiff(gFused, gPlain)}`,
      );
      tf.dispose([fused, plain, w, gFused, gPlain]);
    }
    tf.dispose(x);
    conv.dispose();
    bn.dispose();
  }
});

Deno.test("convBnAct() keeps the folded kernel between inference passes and folds anew when any weight or statistic changes", () => {
  for (
    const conv of [
      new Conv2d("c", { inChannels: 3, filters: 4, seed: 8 }),
      new DepthwiseConv2d("d", { channels: 3, seed: 9 }),
    ]
  ) {
    const k = conv instanceof Conv2d ? 4 : 3;
    const bn = randomBn(k, 40);
    const x = tf.randomNormal([2, 6, 6, 3], 0, 1, "float32", 41) as tf.Tensor4D;
    const check = (label: string) => {
      const fused = convBnAct(conv, bn, x, {}, "relu");
      const plain = byDefinition(conv, bn, x, "relu");
      assert.ok(maxDiff(fused, plain) < 1e-4, `${conv.name}, ${label}: ${maxDiff(fused, plain)}`);
      tf.dispose([fused, plain]);
    };
    check("first pass");
    const kept = tf.memory().numTensors;
    check("second pass");
    assert.equal(tf.memory().numTensors, kept, "a second pass keeps nothing more");
    for (const v of [conv.kernel, bn.gamma, bn.beta, bn.movingMean, bn.movingVariance]) {
      const next = tf.tidy(() => tf.add(tf.mul(v, 0.5), 0.25));
      v.assign(next);
      next.dispose();
      check(`after ${v.name} changed`);
    }
    const before = tf.memory().numTensors;
    conv.dispose();
    assert.equal(
      tf.memory().numTensors,
      before - 3,
      "dispose() frees the kernel and the kept pair",
    );
    tf.dispose(x);
    bn.dispose();
  }
});

Deno.test("convBnAct() under a nested gradient takes the plain ops, and its second derivative matches them", () => {
  const conv = new Conv2d("c", { inChannels: 2, filters: 3, seed: 1 });
  const bn = randomBn(3, 2);
  const x = tf.randomNormal([1, 5, 5, 2], 0, 1, "float32", 3) as tf.Tensor4D;
  const w = tf.randomNormal([1, 5, 5, 3], 0, 1, "float32", 4);
  // d/dx Σ (d/dx Σ f(x)·w)², with f smooth ("none") so the second derivative is not zero.
  const second = (f: (v: tf.Tensor) => tf.Tensor4D) =>
    tf.grad((v: tf.Tensor) =>
      tf.sum(
        tf.square(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.square(f(u as tf.Tensor4D)), w)))(v)),
      )
    )(x);
  const a = second((v) => convBnAct(conv, bn, v as tf.Tensor4D, {}, "none"));
  const b = second((v) => byDefinition(conv, bn, v as tf.Tensor4D, "none"));
  assert.ok(tf.tidy(() => tf.max(tf.abs(b)).dataSync()[0]) > 0);
  assert.ok(maxDiff(a, b) < 1e-3 * (1 + tf.tidy(() => tf.max(tf.abs(b)).dataSync()[0])));
  tf.dispose([x, w, a, b]);
  conv.dispose();
  bn.dispose();
});

Deno.test("every model's inference forward and input gradient are the same with batch norm folded and not", async () => {
  for (const backbone of new Set(["reference", ...listBackbones()])) {
    const model = backbone === "reference"
      ? createReferenceNet({ numClasses: 3, inputSize: 32, width: 0.25, seed: 1 })
      : createTwoBranchModel({
        backbone,
        backboneOptions: { width: 0.125 },
        saliencyHead: "cam",
        numClasses: 3,
        inputSize: 32,
        seed: 1,
      });
    // The vision transformers have no batch norm to fold.
    if (![...model.variables().keys()].some((p) => p.endsWith("moving_mean"))) {
      model.dispose();
      continue;
    }
    // Running statistics and weights away from their initial identity.
    for (const [path, v] of model.variables()) {
      if (!/(gamma|beta|moving_mean|moving_variance)$/.test(path)) continue;
      const n = v.shape[0]!;
      const rng = new Random(path.length);
      const values = Array.from(
        { length: n },
        () => path.endsWith("moving_variance") ? 0.2 + 2 * rng.next() : 2 * rng.next() - 1,
      );
      const t = tf.tensor1d(values);
      v.assign(t);
      t.dispose();
    }
    const x = tf.randomUniform([3, 32, 32, 3], 0, 1, "float32", 5) as tf.Tensor4D;
    const run = (foldBatchNorm: boolean) => {
      const out = model.forward(x, { foldBatchNorm });
      const grad = tf.grad((v: tf.Tensor) =>
        tf.sum(tf.mul(model.forward(v as tf.Tensor4D, { foldBatchNorm }).logits, [1, -2, 3]))
      )(x);
      tf.dispose([out.saliencyLogits]);
      return [out.logits, out.saliency, grad];
    };
    // The setting reaches every convolution: fused kernels with it, none without.
    const kernels = async (foldBatchNorm: boolean) =>
      (await tf.profile(() => {
        const out = model.forward(x, { foldBatchNorm });
        tf.dispose([out.logits, out.saliency, out.saliencyLogits]);
      })).kernels.map((k) => k.name);
    const names = await kernels(true), plainNames = await kernels(false);
    assert.ok(names.some((k) => k.startsWith("Fused")), `${backbone}: ${[...new Set(names)]}`);
    assert.ok(!plainNames.some((k) => k.startsWith("Fused")), `${backbone}: fused without folding`);
    const norms = [...model.variables().keys()].filter((p) => p.endsWith("moving_mean")).length;
    const fused = names.filter((k) => k === "FusedConv2D" || k === "FusedDepthwiseConv2D");
    assert.equal(fused.length, norms, `${backbone}: one fused convolution per batch norm`);
    const folded = run(true), plain = run(false);
    for (const [i, name] of ["logits", "saliency", "input gradient"].entries()) {
      const scale = tf.tidy(() => tf.max(tf.abs(plain[i])).dataSync()[0]);
      const diff = maxDiff(folded[i], plain[i]);
      assert.ok(scale > 0, `${backbone}: ${name} is not all zero`);
      assert.ok(
        diff <= 1e-4 * (1 + scale),
        `${backbone}: ${name} differ by ${diff} (largest ${scale})`,
      );
    }
    tf.dispose([x, ...folded, ...plain]);
    model.dispose();
  }
});
