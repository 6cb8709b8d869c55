import assert from "node:assert/strict";
import { BatchNorm } from "../../lib/layers/normalization.ts";
import { Module } from "../../lib/layers/module.ts";
import { tf } from "../../lib/deps.ts";
import { assertClose, randn, runOn, useEngines } from "../_helpers.ts";

await useEngines();

const C = 3;
const SHAPE = [2, 4, 4, C];
const EPS = 1e-5;

/** A layer whose four variables hold distinct, non-trivial values. */
function makeBn(name = "bn"): BatchNorm {
  const bn = new BatchNorm(name, { channels: C });
  tf.tidy(() => {
    bn.gamma.assign(tf.tensor1d([1.5, -0.5, 2]));
    bn.beta.assign(tf.tensor1d([0.1, -0.3, 0.7]));
    bn.movingMean.assign(tf.tensor1d([0.2, -1, 0.5]));
    bn.movingVariance.assign(tf.tensor1d([0.5, 2, 0.25]));
  });
  return bn;
}

/** The inference formula, written independently of the layer. */
function reference(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
): tf.Tensor {
  return tf.tidy(() =>
    tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, EPS))), gamma), beta)
  );
}

/** A fixed, non-uniform weighting so gradients differ per element. */
function weights(): tf.Tensor {
  return tf.tensor(randn(SHAPE, 7), SHAPE);
}

Deno.test("BatchNorm inference matches (x - mean) / sqrt(var + eps) * gamma + beta", () => {
  const bn = makeBn();
  const x = tf.tensor(randn(SHAPE, 1), SHAPE);
  // Worked example for one element: channel 1, x = 3 → (3 + 1) / sqrt(2 + 1e-5) * -0.5 - 0.3.
  const one = tf.tensor4d([0, 3, 0], [1, 1, 1, 3]);
  const y1 = bn.apply(one);
  assertClose([y1.dataSync()[1]], [4 / Math.sqrt(2 + EPS) * -0.5 - 0.3], { label: "worked" });
  const y = bn.apply(x);
  const want = reference(x, bn.gamma, bn.beta, bn.movingMean, bn.movingVariance);
  assertClose(y.dataSync(), want.dataSync(), { label: "inference" });
  tf.dispose([x, one, y1, y, want]);
  bn.dispose();
});

Deno.test("BatchNorm inference keeps tf.memory().numTensors flat across 50 calls, on and off the tape", () => {
  const bn = makeBn();
  const x = tf.tensor(randn(SHAPE, 2), SHAPE);
  tf.dispose(bn.apply(x));
  const before = tf.memory().numTensors;
  for (let i = 0; i < 50; i++) tf.dispose(bn.apply(x));
  assert.equal(tf.memory().numTensors, before, "off the tape");
  for (let i = 0; i < 50; i++) tf.dispose(tf.grad((v: tf.Tensor) => tf.sum(bn.apply(v)))(x));
  assert.equal(tf.memory().numTensors, before, "under tf.grad");
  x.dispose();
  bn.dispose();
});

Deno.test("BatchNorm inference gradients w.r.t. x, gamma, beta and the running statistics match the plain formula", () => {
  const bn = makeBn();
  const x = tf.tensor(randn(SHAPE, 3), SHAPE);
  const w = weights();
  tf.dispose(bn.apply(x));
  const vars = [bn.gamma, bn.beta, bn.movingMean, bn.movingVariance];
  const got = tf.grads((xx, g, b, m, v) => {
    void g, b, m, v;
    return tf.sum(tf.mul(bn.apply(xx), w));
  })([x, ...vars]);
  const want = tf.grads((xx, g, b, m, v) => tf.sum(tf.mul(reference(xx, g, b, m, v), w)))([
    x,
    ...vars,
  ]);
  const names = ["x", "gamma", "beta", "moving mean", "moving variance"];
  got.forEach((g, i) => assertClose(g.dataSync(), want[i].dataSync(), { label: names[i] }));
  // tf.variableGrads over the trainable variables (gamma, beta) agrees too.
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(bn.apply(x), w)) as tf.Scalar, [
    bn.gamma,
    bn.beta,
  ]);
  assertClose(grads[bn.gamma.name].dataSync(), want[1].dataSync(), {
    label: "variableGrads gamma",
  });
  assertClose(grads[bn.beta.name].dataSync(), want[2].dataSync(), { label: "variableGrads beta" });
  tf.dispose([x, w, ...got, ...want, ...Object.values(grads)]);
  bn.dispose();
});

Deno.test("BatchNorm inference gives exact second-order gradients w.r.t. gamma (double backpropagation)", () => {
  const bn = makeBn();
  const x = tf.tensor(randn(SHAPE, 4), SHAPE);
  const w = weights();
  // loss = sum((d/dx sum(w * tanh(bn(x))))^2), differentiated w.r.t. gamma.
  const inner = (f: (v: tf.Tensor) => tf.Tensor) => (g: tf.Tensor) => {
    void g;
    const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.tanh(f(v)), w)))(x);
    return tf.sum(tf.square(dx));
  };
  const got = tf.grad(inner((v) => bn.apply(v)))(bn.gamma);
  const want = tf.grad((g: tf.Tensor) =>
    inner((v) => reference(v, g, bn.beta, bn.movingMean, bn.movingVariance))(g)
  )(bn.gamma);
  assertClose(got.dataSync(), want.dataSync(), { label: "d loss / d gamma" });
  tf.dispose([x, w, got, want]);
  bn.dispose();
});

Deno.test("BatchNorm inference follows an optimizer step that changes gamma and beta", () => {
  const bn = makeBn();
  const x = tf.tensor(randn(SHAPE, 5), SHAPE);
  const w = weights();
  const opt = tf.train.sgd(0.5);
  tf.dispose(bn.apply(x));
  const before = tf.memory().numTensors;
  const oldGamma = Float32Array.from(bn.gamma.dataSync());
  opt.minimize(() => tf.sum(tf.mul(bn.apply(x), w)) as tf.Scalar, false, [bn.gamma, bn.beta]);
  assert.notDeepEqual(Float32Array.from(bn.gamma.dataSync()), oldGamma, "the step moved gamma");
  const y = bn.apply(x);
  const want = reference(x, bn.gamma, bn.beta, bn.movingMean, bn.movingVariance);
  assertClose(y.dataSync(), want.dataSync(), { label: "after the step" });
  tf.dispose([y, want]);
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
  // A training pass updates the running statistics; inference then uses them.
  tf.dispose(bn.apply(x, { training: true }));
  const y2 = bn.apply(x);
  const want2 = reference(x, bn.gamma, bn.beta, bn.movingMean, bn.movingVariance);
  assertClose(y2.dataSync(), want2.dataSync(), { label: "after running-stat update" });
  tf.dispose([x, w, y2, want2]);
  opt.dispose();
  bn.dispose();
});

Deno.test("BatchNorm inference stays correct when its variables change between forward passes on one tape", () => {
  const bn = makeBn();
  const x = tf.tensor(randn(SHAPE, 6), SHAPE);
  tf.dispose(bn.apply(x));
  const run = () =>
    tf.grad((g: tf.Tensor) => {
      void g;
      const a = tf.sum(bn.apply(x));
      tf.dispose(bn.apply(x, { training: true })); // assigns new running statistics
      return tf.add(a, tf.sum(bn.apply(x)));
    })(bn.gamma);
  const m0 = tf.clone(bn.movingMean), v0 = tf.clone(bn.movingVariance);
  const got = run();
  // Independent: d/dgamma of sum(xhat_old) + sum(xhat_new) is the per-channel sum of both.
  const want = tf.tidy(() => {
    const sumHat = (m: tf.Tensor, v: tf.Tensor) =>
      tf.sum(tf.div(tf.sub(x, m), tf.sqrt(tf.add(v, EPS))), [0, 1, 2]);
    return tf.add(sumHat(m0, v0), sumHat(bn.movingMean, bn.movingVariance));
  });
  assertClose(got.dataSync(), want.dataSync(), { label: "d/dgamma across a statistics update" });
  tf.dispose([got, want, m0, v0]);
  tf.dispose(bn.apply(x));
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    run().dispose();
    tf.dispose(bn.apply(x));
  }
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  bn.dispose();
});

Deno.test("BatchNorm.dispose() and a parent's dispose() free every tensor", () => {
  const start = tf.memory().numTensors;
  const bn = makeBn();
  const x = tf.tensor(randn(SHAPE, 8), SHAPE);
  tf.dispose(bn.apply(x));
  bn.dispose();
  x.dispose();
  assert.equal(tf.memory().numTensors, start, "BatchNorm.dispose()");
  class Parent extends Module {
    readonly bn = this.addChild(makeBn("inner"));
  }
  const parent = new Parent("parent");
  const x2 = tf.tensor(randn(SHAPE, 9), SHAPE);
  tf.dispose(parent.bn.apply(x2));
  parent.dispose();
  x2.dispose();
  assert.equal(tf.memory().numTensors, start, "parent dispose()");
});

/** Training-mode batch norm written with plain ops, independently of the layer. */
function plainTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const mean = tf.mean(x, axes);
  const variance = tf.mean(tf.square(tf.sub(x, mean)), axes);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, EPS))), gamma), beta);
}

/** Gradients of `sum(w * bn(x))` w.r.t. x, gamma, beta: the layer's, then the plain formula's. */
function trainingGrads(): tf.Tensor[] {
  const bn = makeBn();
  const x = tf.tensor(randn(SHAPE, 11, 2), SHAPE);
  const w = weights();
  const loss = (f: (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor) =>
    tf.grads((a, g, b) => tf.sum(tf.mul(f(a, g, b), w)))([x, bn.gamma, bn.beta]);
  const got = loss((a, g, b) => {
    void g, b;
    return bn.apply(a, { training: true, updateStats: false });
  });
  const want = loss(plainTraining);
  const value = bn.apply(x, { training: true, updateStats: false });
  const plain = plainTraining(x, bn.gamma, bn.beta);
  bn.dispose();
  return [...got, value, ...want, plain];
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`BatchNorm training gradients (closed form) match autodiff of the plain formula on ${backend}`, async () => {
    const out = await runOn(backend, trainingGrads);
    const names = ["dx", "dgamma", "dbeta", "output"];
    for (let i = 0; i < 4; i++) {
      assertClose(out[i], out[i + 4], { rtol: 1e-5, atol: 1e-6, label: `${backend} ${names[i]}` });
    }
  });
}

Deno.test("BatchNorm training gradients match central finite differences on a tiny case", async () => {
  await tf.setBackend("cpu");
  try {
    const shape = [3, 1, 1, 2];
    const xs = Float32Array.from([0.3, -1.2, 1.1, 0.4, -0.5, 2.0]);
    const wv = Float32Array.from([0.7, -0.2, 1.3, 0.5, -0.9, 0.1]);
    const bn2 = new BatchNorm("tiny2", { channels: 2 });
    tf.tidy(() => {
      bn2.gamma.assign(tf.tensor1d([1.5, -0.5]));
      bn2.beta.assign(tf.tensor1d([0.1, -0.3]));
    });
    const w = tf.tensor(wv, shape);
    const f = (x: Float32Array) =>
      tf.tidy(() =>
        tf.sum(tf.mul(bn2.apply(tf.tensor(x, shape), { training: true, updateStats: false }), w))
          .dataSync()[0]
      );
    const dx = tf.grad((x: tf.Tensor) =>
      tf.sum(tf.mul(bn2.apply(x, { training: true, updateStats: false }), w))
    )(tf.tensor(xs, shape));
    const h = 1e-2;
    const fd = Array.from(xs, (_, i) => {
      const up = Float32Array.from(xs), down = Float32Array.from(xs);
      up[i] += h;
      down[i] -= h;
      return (f(up) - f(down)) / (2 * h);
    });
    assertClose(dx.dataSync(), fd, { rtol: 2e-2, atol: 2e-3, label: "dx vs finite differences" });
    tf.dispose([dx, w]);
    bn2.dispose();
  } finally {
    await tf.setBackend("wasm");
  }
});

Deno.test("BatchNorm training updates the running statistics with momentum and the unbiased variance", () => {
  const bn = makeBn();
  const x = tf.tensor(randn(SHAPE, 12), SHAPE);
  const n = SHAPE[0] * SHAPE[1] * SHAPE[2];
  const [mean, variance] = tf.tidy(() => {
    const m = tf.mean(x, [0, 1, 2]);
    return [m, tf.mul(tf.mean(tf.square(tf.sub(x, m)), [0, 1, 2]), n / (n - 1))];
  });
  const want = tf.tidy(() => [
    tf.add(tf.mul(bn.movingMean, 0.9), tf.mul(mean, 0.1)),
    tf.add(tf.mul(bn.movingVariance, 0.9), tf.mul(variance, 0.1)),
  ]);
  tf.dispose(tf.grad((a: tf.Tensor) => tf.sum(bn.apply(a, { training: true })))(x));
  assertClose(bn.movingMean.dataSync(), want[0].dataSync(), { label: "moving mean" });
  assertClose(bn.movingVariance.dataSync(), want[1].dataSync(), { label: "moving variance" });
  tf.dispose([x, mean, variance, ...want]);
  bn.dispose();
});

Deno.test("BatchNorm training gives exact second-order gradients (input-gradient penalty w.r.t. gamma)", () => {
  const bn = makeBn();
  const x = tf.tensor(randn(SHAPE, 13), SHAPE);
  const w = weights();
  const penalty = (f: (v: tf.Tensor, g: tf.Tensor) => tf.Tensor) => (g: tf.Tensor) => {
    const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.tanh(f(v, g)), w)))(x);
    return tf.sum(tf.square(dx));
  };
  const got = tf.grad(penalty((v) => bn.apply(v, { training: true, updateStats: false })))(
    bn.gamma,
  );
  const want = tf.grad(penalty((v, g) => plainTraining(v, g, bn.beta)))(bn.gamma);
  assertClose(got.dataSync(), want.dataSync(), { rtol: 1e-4, label: "d penalty / d gamma" });
  tf.dispose([x, w, got, want]);
  bn.dispose();
});

Deno.test("BatchNorm training keeps tf.memory().numTensors flat across optimizer steps", () => {
  const bn = makeBn();
  const x = tf.tensor(randn(SHAPE, 14), SHAPE);
  const w = weights();
  const opt = tf.train.adam(0.01);
  const step = () =>
    opt.minimize(() => tf.sum(tf.mul(bn.apply(x, { training: true }), w)) as tf.Scalar, false, [
      bn.gamma,
      bn.beta,
    ]);
  step();
  tf.dispose(bn.apply(x));
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    step();
    tf.dispose(bn.apply(x));
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, w]);
  opt.dispose();
  bn.dispose();
});
