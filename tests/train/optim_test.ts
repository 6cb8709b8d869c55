import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import {
  createOptimizer,
  learningRateAt,
  type OptimizerOptions,
  setLearningRate,
} from "../../lib/train/optim.ts";
import { assertClose, randn, useEngines } from "../_helpers.ts";

await useEngines();

/** Runs steps of `options` on one scalar weight starting at `w0`, with the given gradients. */
function run(options: OptimizerOptions, w0: number, gradients: number[]): number[] {
  const w = tf.variable(tf.scalar(w0));
  const opt = createOptimizer(options);
  const values = gradients.map((g) => {
    const grad = tf.scalar(g);
    opt.applyGradients({ [w.name]: grad });
    grad.dispose();
    return w.dataSync()[0];
  });
  opt.dispose();
  w.dispose();
  return values;
}

Deno.test("learningRateAt() warms up linearly, then holds a constant rate", () => {
  const options = { schedule: "constant" as const, baseLr: 0.1, warmupSteps: 4 };
  const got = [0, 1, 2, 3, 4, 100].map((s) => learningRateAt(s, options));
  assertClose(got, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1], { label: "warm-up" });
});

Deno.test("learningRateAt() follows the cosine from baseLr to minLr and stays there", () => {
  const options = { schedule: "cosine" as const, baseLr: 1, minLr: 0.1, totalSteps: 4 };
  const got = [0, 1, 2, 3, 4, 10].map((s) => learningRateAt(s, options));
  // 0.1 + 0.9·(1 + cos(π·s/4))/2 by hand: cos(π/4) = 0.707107.
  assertClose(got, [1, 0.868198, 0.55, 0.231802, 0.1, 0.1], { atol: 1e-6, label: "cosine" });
  const warm = { ...options, minLr: 0, warmupSteps: 2, totalSteps: 6 };
  assertClose([0, 1, 2, 4, 6].map((s) => learningRateAt(s, warm)), [0.5, 1, 1, 0.5, 0], {
    label: "cosine after warm-up",
  });
});

Deno.test("learningRateAt() multiplies by gamma every stepSize steps after warm-up", () => {
  const options = {
    schedule: "step" as const,
    baseLr: 0.1,
    stepSize: 3,
    gamma: 0.5,
    warmupSteps: 2,
  };
  const got = [0, 1, 2, 4, 5, 7, 8].map((s) => learningRateAt(s, options));
  assertClose(got, [0.05, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025], { label: "step" });
});

Deno.test("learningRateAt() names the missing or bad schedule option", () => {
  assert.throws(() => learningRateAt(0, { schedule: "cosine" }), /Option "totalSteps"/);
  assert.throws(() => learningRateAt(0, { schedule: "step" }), /Option "stepSize"/);
  assert.throws(
    () => learningRateAt(0, { schedule: "step", stepSize: 2, gamma: 2 }),
    /Option "gamma"/,
  );
  assert.throws(
    // @ts-expect-error: an unknown schedule, as from an untyped config file
    () => learningRateAt(0, { schedule: "linear" }),
    /Option "schedule".*"linear"/,
  );
  assert.throws(() => learningRateAt(-1), /step -1/);
  assert.throws(() => learningRateAt(0, { warmupSteps: 1.5 }), /Option "warmupSteps"/);
});

Deno.test("Adam's first two steps match the update worked out by hand", () => {
  // g = 1, then 3; lr 0.1. Step 1: m̂ = 1, v̂ = 1, w = −0.1. Step 2: m = 0.39,
  // v = 0.009999, m̂ = 0.39/0.19 = 2.052632, v̂ = 0.009999/0.001999 = 5.002001,
  // update = 2.052632/2.236515 = 0.917781, w = −0.191778.
  const got = run({ name: "adam", lr: 0.1 }, 0, [1, 3]);
  assertClose(got, [-0.1, -0.191778], { atol: 2e-6, label: "adam" });
});

Deno.test("Adam matches tf.train.adam over many steps on a tensor", () => {
  const shape = [3, 4];
  const a = tf.variable(tf.tensor(randn(shape, 1), shape));
  const b = tf.variable(tf.tensor(randn(shape, 1), shape));
  const ours = createOptimizer({ name: "adam", lr: 0.01, epsilon: 1e-7 });
  const theirs = tf.train.adam(0.01, 0.9, 0.999, 1e-7);
  for (let i = 0; i < 20; i++) {
    const g = tf.tensor(randn(shape, 100 + i), shape);
    ours.applyGradients({ [a.name]: g });
    theirs.applyGradients([{ name: b.name, tensor: g }]);
    g.dispose();
  }
  assertClose(a.dataSync(), b.dataSync(), { atol: 1e-6, label: "after 20 steps" });
  ours.dispose();
  theirs.dispose();
  tf.dispose([a, b]);
});

Deno.test("decoupled weight decay (AdamW) shrinks w by lr·λ·w outside Adam's normalisation", () => {
  // Loss 3w from w = 2, lr 0.1, λ = 0.5: Adam's step is 1·lr, decay lr·λ·w = 0.1.
  assertClose(run({ name: "adam", lr: 0.1, weightDecay: 0.5 }, 2, [3]), [1.8], {
    atol: 1e-6,
    label: "decoupled",
  });
  // As L2, λ·w = 1 joins the gradient (3 + 1 = 4) and Adam normalises it away: one step of lr.
  const l2 = { name: "adam" as const, lr: 0.1, weightDecay: 0.5, weightDecayMode: "l2" as const };
  assertClose(run(l2, 2, [3]), [1.9], { atol: 1e-6, label: "l2" });
  // With no loss gradient, decoupled decay alone: 2·(1 − 0.1·0.25) = 1.95, while L2 under Adam
  // turns the gradient λ·w = 0.5 into a full step of lr: 1.9.
  assertClose(run({ name: "adam", lr: 0.1, weightDecay: 0.25 }, 2, [0]), [1.95], {
    atol: 1e-6,
    label: "decay alone, decoupled",
  });
  assertClose(run({ ...l2, weightDecay: 0.25 }, 2, [0]), [1.9], {
    atol: 1e-6,
    label: "decay alone, l2",
  });
});

Deno.test("SGD with momentum and L2 weight decay follows the PyTorch update by hand", () => {
  // w = 2, g = 3, λ = 0.5, μ = 0.9, lr 0.1.
  // Step 1: g' = 3 + 1 = 4, b = 4, w = 1.6. Step 2: g' = 3.8, b = 7.4, w = 0.86.
  const sgd = { name: "sgd" as const, lr: 0.1, momentum: 0.9, weightDecay: 0.5 };
  assertClose(run(sgd, 2, [3, 3]), [1.6, 0.86], { atol: 1e-6, label: "momentum" });
  // Nesterov: w = 2 − 0.1·(4 + 0.9·4) = 1.24.
  assertClose(run({ ...sgd, nesterov: true }, 2, [3]), [1.24], { atol: 1e-6, label: "nesterov" });
  // Plain SGD: w = 2 − 0.1·3 = 1.7, then 1.4.
  assertClose(run({ name: "sgd", lr: 0.1, momentum: 0 }, 2, [3, 3]), [1.7, 1.4], {
    atol: 1e-6,
    label: "plain",
  });
});

Deno.test("setLearningRate() changes the next step of ours and of tfjs's Adam, SGD and momentum", () => {
  const firstStep = (opt: tf.Optimizer) => {
    const w = tf.variable(tf.scalar(0));
    setLearningRate(opt, 0.01);
    const g = tf.scalar(1);
    opt.applyGradients({ [w.name]: g });
    const value = w.dataSync()[0];
    tf.dispose([w, g]);
    opt.dispose();
    return value;
  };
  // Adam's first step, and a first SGD or momentum step with g = 1, both move by exactly lr.
  assertClose([firstStep(createOptimizer({ lr: 1 }))], [-0.01], { label: "ours" });
  assertClose([firstStep(tf.train.adam(1))], [-0.01], { label: "tf.train.adam" });
  assertClose([firstStep(tf.train.sgd(1))], [-0.01], { label: "tf.train.sgd" });
  assertClose([firstStep(tf.train.momentum(1, 0.9))], [-0.01], { label: "tf.train.momentum" });
  assert.throws(() => setLearningRate(tf.train.adam(1), -1), /learning rate to -1/);
});

Deno.test("optimizer state stays with its variable when the set of trained variables changes", () => {
  // One optimiser trains a and b, then only b; b must move as if b had its own optimiser.
  const a = tf.variable(tf.zeros([2])), b = tf.variable(tf.zeros([3]));
  const alone = tf.variable(tf.zeros([3]));
  const shared = createOptimizer({ lr: 0.1 }), own = createOptimizer({ lr: 0.1 });
  const g1 = tf.tensor1d([1, 2, 3]), g2 = tf.tensor1d([-1, 5, 0.5]), ga = tf.ones([2]);
  shared.applyGradients({ [a.name]: ga, [b.name]: g1 });
  own.applyGradients({ [alone.name]: g1 });
  shared.applyGradients({ [b.name]: g2 });
  own.applyGradients({ [alone.name]: g2 });
  assertClose(b.dataSync(), alone.dataSync(), { label: "b" });
  tf.dispose([a, b, alone, g1, g2, ga]);
  shared.dispose();
  own.dispose();
});

Deno.test("getWeights() and setWeights() carry Adam's moments to a new optimizer", async () => {
  const shape = [2, 3];
  const w1 = tf.variable(tf.tensor(randn(shape, 5), shape));
  const w2 = tf.variable(w1.clone());
  const first = createOptimizer({ lr: 0.05 });
  for (let i = 0; i < 3; i++) {
    const g = tf.tensor(randn(shape, 10 + i), shape);
    first.applyGradients({ [w1.name]: g });
    w2.assign(w1);
    g.dispose();
  }
  const before = tf.memory().numTensors;
  const saved = await first.getWeights();
  assert.deepEqual(saved.map((s) => s.name), [
    "iter",
    `${w1.name}/step`,
    `${w1.name}/m`,
    `${w1.name}/v`,
  ]);
  const second = createOptimizer({ lr: 0.05 });
  await second.setWeights(
    saved.map(({ name, tensor }) => ({ name: name.replace(w1.name, w2.name), tensor })),
  );
  tf.dispose(saved.map((s) => s.tensor));
  assert.equal(second.iterations, 3);
  const g = tf.tensor(randn(shape, 20), shape);
  first.applyGradients({ [w1.name]: g });
  second.applyGradients({ [w2.name]: g });
  g.dispose();
  assertClose(w2.dataSync(), w1.dataSync(), { atol: 0, rtol: 0, label: "step 4" });
  // The copies were disposed and the new state holds exactly as many tensors as the old.
  assert.equal(tf.memory().numTensors, before + 2);
  first.dispose();
  second.dispose();
  tf.dispose([w1, w2]);
});

Deno.test("setWeights() rejects state for a missing variable, a wrong shape or a foreign slot", async () => {
  const w = tf.variable(tf.zeros([2]));
  const adam = createOptimizer({ name: "adam" });
  const sgd = createOptimizer({ name: "sgd", momentum: 0.9 });
  const z2 = tf.zeros([2]), z3 = tf.zeros([3]);
  await assert.rejects(
    adam.setWeights([{ name: "no-such-variable/m", tensor: z2 }]),
    /no variable named "no-such-variable"/,
  );
  await assert.rejects(
    adam.setWeights([{ name: `${w.name}/m`, tensor: z3 }, { name: `${w.name}/v`, tensor: z3 }]),
    /shape \[3\] does not match its variable's \[2\]/,
  );
  await assert.rejects(
    adam.setWeights([{ name: `${w.name}/momentum`, tensor: z2 }]),
    /slots "m", "v", not "momentum"/,
  );
  await assert.rejects(
    sgd.setWeights([{ name: `${w.name}/m`, tensor: z2 }]),
    /SGD optimizer has slots "momentum", not "m"/,
  );
  await assert.rejects(
    adam.setWeights([{ name: `${w.name}/m`, tensor: z2 }]),
    /slot "v" is missing/,
  );
  tf.dispose([w, z2, z3]);
  adam.dispose();
  sgd.dispose();
});

Deno.test("createOptimizer() names the bad option", () => {
  // @ts-expect-error: an unknown optimiser, as from an untyped config file
  assert.throws(() => createOptimizer({ name: "rmsprop" }), /Option "name".*"rmsprop"/);
  assert.throws(() => createOptimizer({ lr: -1 }), /Option "lr".*got -1/);
  assert.throws(() => createOptimizer({ name: "sgd", momentum: 1 }), /Option "momentum".*got 1/);
  assert.throws(() => createOptimizer({ beta2: 1 }), /Option "beta2"/);
  assert.throws(() => createOptimizer({ weightDecay: NaN }), /Option "weightDecay"/);
  assert.throws(
    // @ts-expect-error: an unknown mode
    () => createOptimizer({ weightDecayMode: "l1" }),
    /Option "weightDecayMode".*"l1"/,
  );
});
