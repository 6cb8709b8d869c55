// The explainer contract: batches equal single images, targets in every
// form, layers by name or index with errors that list the choices, flip
// test-time smoothing, dispatch by name, and no leaked tensors.
import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import { explain, type ExplainRequest, listExplainers } from "../../lib/explainers/registry.ts";
import { gradCam } from "../../lib/explainers/grad_cam.ts";
import { vanillaGradient } from "../../lib/explainers/vanilla_gradient.ts";
import { guidedBackprop } from "../../lib/explainers/guided_backprop.ts";
import { scoreCam } from "../../lib/explainers/score_cam.ts";
import { occlusion } from "../../lib/explainers/occlusion.ts";
import { integratedGradients } from "../../lib/explainers/integrated_gradients.ts";
import { smoothGrad } from "../../lib/explainers/smooth_grad.ts";
import { rise } from "../../lib/explainers/rise.ts";
import { randomMap } from "../../lib/explainers/random_map.ts";
import { resolveLayers } from "../../lib/explainers/core.ts";
import { assertClose, useEngines, warmUp } from "../_helpers.ts";

await useEngines();

const ALL = [
  "ablation-cam",
  "branch",
  "eigen-cam",
  "grad-cam",
  "grad-cam++",
  "gradient-x-input",
  "guided-backprop",
  "hires-cam",
  "integrated-gradients",
  "layer-cam",
  "occlusion",
  "random",
  "rise",
  "score-cam",
  "smooth-grad",
  "vanilla-gradient",
  "xgrad-cam",
];

/** The methods that explain a vision transformer's attention (tests/explainers/attention_test.ts). */
const ATTENTION = ["attention-rollout", "transformer-attribution"];

/** Small but complete settings for every method, so that the tests stay fast. */
function request(method: string, extra: Record<string, unknown> = {}): ExplainRequest {
  const small: Record<string, Record<string, unknown>> = {
    "smooth-grad": { samples: 4, batchSize: 5 },
    "integrated-gradients": { steps: 4, batchSize: 5 },
    "score-cam": { batchSize: 7 },
    "ablation-cam": { batchSize: 7 },
    "occlusion": { window: 4, stride: 3, batchSize: 7 },
    "rise": { masks: 24, cells: 4, batchSize: 7 },
  };
  return { method, ...small[method], ...extra } as ExplainRequest;
}

function smallNet(seed = 2) {
  return createReferenceNet({ numClasses: 3, inputSize: 12, width: 0.125, seed });
}

function randomImages(n: number, seed: number): tf.Tensor4D {
  return tf.randomUniform([n, 12, 12, 3], 0, 1, "float32", seed) as tf.Tensor4D;
}

function values(t: tf.Tensor): Float32Array {
  const v = Float32Array.from(t.dataSync());
  t.dispose();
  return v;
}

Deno.test("listExplainers() names the eighteen methods and the random control, and a pattern filters them", () => {
  // ALL runs on the reference net below; the attention methods need a vision transformer.
  assert.deepEqual(listExplainers(), [...ALL, ...ATTENTION].sort());
  assert.deepEqual(listExplainers("*-cam"), [
    "ablation-cam",
    "eigen-cam",
    "grad-cam",
    "hires-cam",
    "layer-cam",
    "score-cam",
    "xgrad-cam",
  ]);
  assert.deepEqual(listExplainers("grad-cam++"), ["grad-cam++"]);
});

Deno.test("every explainer gives the same maps for a batch as for its images one by one", () => {
  const model = smallNet();
  const images = randomImages(3, 1);
  for (const method of ALL) {
    const batch = values(explain(model, images, request(method, { target: [0, 2, 1] })));
    for (let i = 0; i < 3; i++) {
      const one = tf.tidy(() => images.slice(i, 1));
      const single = values(explain(model, one, request(method, { target: [[0, 2, 1][i]] })));
      one.dispose();
      assertClose(batch.subarray(i * 144, (i + 1) * 144), single, {
        atol: 1e-4,
        rtol: 0,
        label: `${method}, image ${i}`,
      });
    }
  }
  images.dispose();
  model.dispose();
});

Deno.test("explain() in passes of imagesPerPass gives the whole batch's maps, with per-image, tensor, probability and function targets", () => {
  const model = smallNet(4);
  const images = randomImages(5, 9);
  const classes = [0, 2, 1, 1, 0];
  const tensor = tf.tensor1d(classes, "int32");
  // A score function that depends on where each row's image sits in the whole batch.
  const byPosition = (logits: tf.Tensor2D, rows: Int32Array) =>
    tf.tidy(() => {
      const picked = tf.tensor1d(Array.from(rows, (r) => classes[r]), "int32");
      return tf.sum(tf.mul(logits, tf.oneHot(picked, 3)), 1) as tf.Tensor1D;
    });
  warmUp(model);
  const before = tf.memory().numTensors;
  for (const method of ["grad-cam", "vanilla-gradient", "score-cam"]) {
    for (
      const [label, target] of [
        ["array", classes],
        ["tensor", tensor],
        ["probability", { probability: true as const, class: tensor }],
        ["function", byPosition],
      ] as const
    ) {
      const whole = values(explain(model, images, request(method, { target })));
      const passes = values(explain(model, images, request(method, { target, imagesPerPass: 2 })));
      assertClose(passes, whole, { atol: 1e-5, rtol: 0, label: `${method}, ${label} target` });
    }
  }
  assert.equal(tf.memory().numTensors, before, "no tensor is left behind");
  assert.throws(
    () => explain(model, images, request("grad-cam", { imagesPerPass: 0 })),
    /"imagesPerPass" must be a positive integer/,
  );
  tf.dispose([images, tensor]);
  model.dispose();
});

Deno.test("every explainer returns [n, h, w] maps in [0, 1] whose peak is 1", () => {
  const model = smallNet();
  const images = randomImages(2, 3);
  for (const method of ALL) {
    const maps = explain(model, images, request(method));
    assert.deepEqual(maps.shape, [2, 12, 12], method);
    const v = values(maps);
    for (let i = 0; i < 2; i++) {
      const m = v.subarray(i * 144, (i + 1) * 144);
      assert.ok(m.every((x) => x >= 0 && x <= 1), `${method}: values in [0, 1]`);
      const max = Math.max(...m);
      assert.ok(max === 1 || max === 0, `${method}: image ${i} peaks at ${max}`);
    }
  }
  images.dispose();
  model.dispose();
});

Deno.test("tf.memory().numTensors stays flat over 100 explanations, with and without flipTest", () => {
  const model = smallNet();
  const images = randomImages(2, 4);
  // One warm-up round: engines may cache tensors on first use.
  for (const method of ALL) explain(model, images, request(method)).dispose();
  const before = tf.memory().numTensors;
  for (let k = 0; k < 100; k++) {
    const method = ALL[k % ALL.length];
    const maps = explain(model, images, request(method, { flipTest: k % 2 === 1 }));
    maps.dispose();
  }
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  // Failing calls leak nothing either.
  assert.throws(() => gradCam(model, images, { layer: "nope" }));
  assert.throws(() => vanillaGradient(model, images, { target: [0, 7] }));
  assert.throws(() =>
    vanillaGradient(model, images, { target: () => tf.zeros([5]) as tf.Tensor1D })
  );
  assert.equal(tf.memory().numTensors, before, "no tensor leaks after errors");
  images.dispose();
  model.dispose();
});

Deno.test("an unknown layer fails with a message that lists the valid stage names, indices and sizes", () => {
  const model = smallNet();
  const images = randomImages(1, 5);
  assert.throws(
    () => gradCam(model, images, { layer: "layer4" }),
    (e: Error) => {
      assert.ok(e instanceof RangeError);
      assert.match(e.message, /Unknown layer "layer4" for model "reference_net"/);
      assert.match(e.message, /"stem" \(index 0, 4 channels, 12×12\)/);
      assert.match(e.message, /"block1" \(index 1, 8 channels, 6×6\)/);
      assert.match(e.message, /"block2" \(index 2, 16 channels, 3×3\)/);
      return true;
    },
  );
  for (const bad of [3, -4, 1.5, ""]) {
    assert.throws(
      () => gradCam(model, images, { layer: bad }),
      /Unknown layer .*valid choices are "stem"/,
      `layer ${JSON.stringify(bad)}`,
    );
  }
  assert.throws(() => gradCam(model, images, { layer: [] }), /Option "layer" is an empty list/);
  images.dispose();
  model.dispose();
});

Deno.test("a layer whose output is 1×1 is rejected as not spatial, listing the spatial ones", () => {
  const model = createReferenceNet({ numClasses: 2, inputSize: 4, width: 0.125 });
  const images = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
  assert.throws(
    () => gradCam(model, images, { layer: "block2" }),
    (e: Error) => {
      assert.match(e.message, /Layer "block2" of model "reference_net" is not spatial/);
      assert.match(e.message, /1×1 at input 4×4/);
      assert.match(e.message, /valid choices are "stem" .*"block1" \(index 1, 8 channels, 2×2\)$/);
      return true;
    },
  );
  // The default (last) stage is the one that fails here, so the default fails too.
  assert.throws(() => gradCam(model, images), /is not spatial/);
  assert.deepEqual(resolveLayers(model, ["block1", "stem", 1]), [0, 1]);
  images.dispose();
  model.dispose();
});

Deno.test("a layer given by index, negative index or name gives the same map", () => {
  const model = smallNet();
  const images = randomImages(2, 6);
  const byName = values(gradCam(model, images, { layer: "block1" }));
  assertClose(values(gradCam(model, images, { layer: 1 })), byName, { label: "index" });
  assertClose(values(gradCam(model, images, { layer: -2 })), byName, { label: "negative index" });
  images.dispose();
  model.dispose();
});

Deno.test("targets as one number, an array, an int32 tensor or a logit-picking function agree", () => {
  const model = smallNet();
  const images = randomImages(2, 7);
  const fromArray = values(gradCam(model, images, { target: [1, 1] }));
  const classes = tf.tensor1d([1, 1], "int32");
  assertClose(values(gradCam(model, images, { target: 1 })), fromArray, { label: "number" });
  assertClose(values(gradCam(model, images, { target: classes })), fromArray, { label: "tensor" });
  const pick = (logits: tf.Tensor2D) =>
    tf.squeeze(tf.slice(logits, [0, 1], [-1, 1]), [1]) as tf.Tensor1D;
  assertClose(values(gradCam(model, images, { target: pick })), fromArray, { label: "function" });
  assert.equal(classes.isDisposed, false, "the caller's target tensor is kept");
  classes.dispose();
  images.dispose();
  model.dispose();
});

Deno.test("a probability target equals a function that picks the softmax probability", () => {
  const model = smallNet();
  const images = randomImages(2, 8);
  const viaOption = values(
    vanillaGradient(model, images, { target: { probability: true, class: [0, 2] } }),
  );
  const viaFunction = values(vanillaGradient(model, images, {
    target: (logits, rows) =>
      tf.sum(
        tf.mul(
          tf.softmax(logits),
          tf.oneHot(tf.tensor1d(Array.from(rows, (r) => [0, 2][r]), "int32"), 3),
        ),
        1,
      ) as tf.Tensor1D,
  }));
  assertClose(viaOption, viaFunction, { atol: 1e-6, label: "probability" });
  const viaLogit = values(vanillaGradient(model, images, { target: [0, 2] }));
  assert.ok(
    viaOption.some((v, i) => Math.abs(v - viaLogit[i]) > 1e-3),
    "it differs from the logit",
  );
  images.dispose();
  model.dispose();
});

Deno.test("'predicted' explains the arg-max class, also for perturbation methods", () => {
  const model = smallNet();
  const images = randomImages(3, 9);
  const predicted = tf.tidy(() =>
    Array.from(tf.argMax(model.forward(images).logits, 1).dataSync())
  );
  for (const method of ["grad-cam", "occlusion", "integrated-gradients", "rise", "score-cam"]) {
    const byDefault = values(explain(model, images, request(method)));
    const explicit = values(explain(model, images, request(method, { target: predicted })));
    assertClose(byDefault, explicit, { atol: 1e-6, label: method });
  }
  images.dispose();
  model.dispose();
});

Deno.test("bad targets fail with messages that say what is wrong", () => {
  const model = smallNet();
  const images = randomImages(2, 10);
  assert.throws(() => gradCam(model, images, { target: [0] }), /gives 1 classes for 2 images/);
  assert.throws(
    () => gradCam(model, images, { target: [0, 3] }),
    /class 3 for image 1: expected an integer from 0 to 2/,
  );
  assert.throws(() => gradCam(model, images, { target: [0, 0.5] }), /class 0.5 for image 1/);
  const matrix = tf.zeros([2, 1], "int32") as unknown as tf.Tensor1D;
  assert.throws(() => gradCam(model, images, { target: matrix }), /shape \[2\], got \[2, 1\]/);
  matrix.dispose();
  assert.throws(
    () => gradCam(model, images, { target: { probability: false } as never }),
    /Option "target" must be/,
  );
  assert.throws(
    () => gradCam(model, images, { target: { probability: true, class: [5, 0] } }),
    /Option "target.class" has class 5/,
  );
  assert.throws(
    () => occlusion(model, images, { target: () => tf.zeros([3]) as tf.Tensor1D }),
    /The target function must return one score per row of logits, shape \[2\], got \[3\]/,
  );
  images.dispose();
  model.dispose();
});

Deno.test("bad images and options fail with messages that name them", () => {
  const model = smallNet();
  const wrong = tf.zeros([1, 12, 12, 1]) as tf.Tensor4D;
  assert.throws(
    () => gradCam(model, wrong),
    /Expected images of shape \[n, 12, 12, 3\] for model "reference_net", got \[1, 12, 12, 1\]/,
  );
  wrong.dispose();
  const images = randomImages(1, 11);
  assert.throws(
    () => scoreCam(model, images, { batchSize: 0 }),
    /Option "batchSize" must be a positive integer/,
  );
  assert.throws(
    () => occlusion(model, images, { window: 13 }),
    /Option "window" must be an integer from 1 to 12/,
  );
  assert.throws(() => occlusion(model, images, { stride: 0 }), /Option "stride"/);
  assert.throws(
    () => rise(model, images, { keepProbability: 0 }),
    /Option "keepProbability" must be in \(0, 1\]/,
  );
  assert.throws(() => rise(model, images, { cells: 0 }), /Option "cells"/);
  assert.throws(() => smoothGrad(model, images, { samples: 0 }), /Option "samples"/);
  assert.throws(() => integratedGradients(model, images, { steps: 0 }), /Option "steps"/);
  const baseline = tf.zeros([2, 12, 12, 3]);
  assert.throws(
    () => integratedGradients(model, images, { baseline }),
    /Option "baseline" must be a number or a tensor of shape \[12, 12, 3\] or \[1, 12, 12, 3\], got \[2, 12, 12, 3\]/,
  );
  baseline.dispose();
  assert.throws(
    () => gradCam(model, images, { flipTest: "yes" as never }),
    /Option "flipTest" must be a boolean/,
  );
  assert.throws(
    () => explain(model, images, { method: "gradcam" } as never),
    /Unknown explainer "gradcam": expected one of ablation-cam, attention-rollout, branch, /,
  );
  images.dispose();
  model.dispose();
});

Deno.test("explain() gives what the method's own function gives", () => {
  const model = smallNet();
  const images = randomImages(2, 12);
  assertClose(
    values(explain(model, images, { method: "grad-cam", layer: "block1", target: [2, 0] })),
    values(gradCam(model, images, { layer: "block1", target: [2, 0] })),
    { label: "grad-cam" },
  );
  images.dispose();
  model.dispose();
});

Deno.test("with flipTest, explaining mirrored images gives the mirrored maps", () => {
  const model = smallNet();
  const images = randomImages(2, 13);
  const mirrored = tf.reverse(images, 2) as tf.Tensor4D;
  for (const method of ["grad-cam", "vanilla-gradient", "occlusion", "branch"]) {
    const a = explain(model, images, request(method, { flipTest: true, target: [1, 2] }));
    const b = explain(model, mirrored, request(method, { flipTest: true, target: [1, 2] }));
    const plain = explain(model, images, request(method, { target: [1, 2] }));
    const aMirrored = tf.reverse(a, 2);
    const av = values(a);
    assertClose(values(aMirrored), values(b), {
      atol: 1e-5,
      label: `${method} is mirror-equivariant`,
    });
    assert.ok(
      values(plain).some((v, i) => Math.abs(v - av[i]) > 1e-3),
      `${method}: flipTest changes the map`,
    );
  }
  tf.dispose([images, mirrored]);
  model.dispose();
});

Deno.test("flipTest keeps the class of the original image for 'predicted'", () => {
  const model = smallNet();
  const images = randomImages(2, 14);
  const predicted = tf.tidy(() =>
    Array.from(tf.argMax(model.forward(images).logits, 1).dataSync())
  );
  assertClose(
    values(gradCam(model, images, { flipTest: true })),
    values(gradCam(model, images, { flipTest: true, target: predicted })),
    { label: "predicted under flipTest" },
  );
  images.dispose();
  model.dispose();
});

Deno.test("guidedBackprop() restores tfjs's ReLU gradient, also when it fails", () => {
  const before = tf.getGradient("Relu");
  const model = smallNet();
  const images = randomImages(1, 15);
  guidedBackprop(model, images).dispose();
  assert.equal(tf.getGradient("Relu"), before, "restored after a run");
  assert.throws(() =>
    guidedBackprop(model, images, { target: () => tf.zeros([4]) as tf.Tensor1D })
  );
  assert.equal(tf.getGradient("Relu"), before, "restored after an error");
  const g = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.relu(x)))(tf.tensor1d([-1, 2])));
  assert.deepEqual(Array.from(values(g)), [0, 1], "the ordinary ReLU gradient is back");
  images.dispose();
  model.dispose();
});

Deno.test("normalize: false leaves the raw scale; normalize: true divides by the peak", () => {
  const model = smallNet();
  const images = randomImages(2, 16);
  const raw = values(vanillaGradient(model, images, { normalize: false }));
  const norm = values(vanillaGradient(model, images));
  for (let i = 0; i < 2; i++) {
    const r = raw.subarray(i * 144, (i + 1) * 144);
    const max = Math.max(...r);
    assert.ok(max > 0 && max !== 1, "raw maps keep their scale");
    assertClose(norm.subarray(i * 144, (i + 1) * 144), r.map((v) => v / max), {
      label: `image ${i}`,
    });
  }
  images.dispose();
  model.dispose();
});

Deno.test("the random control's raw values spread over [0, 1) and leak no tensor", () => {
  const model = createReferenceNet({ inputSize: 32, width: 0.125 });
  const images = tf.randomUniform([8, 32, 32, 3], 0, 1, "float32", 11) as tf.Tensor4D;
  randomMap(model, images, { normalize: false }).dispose();
  const before = tf.memory().numTensors;
  const maps = randomMap(model, images, { normalize: false, cells: 8 });
  const v = Array.from(maps.dataSync());
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  assert.ok(mean > 0.4 && mean < 0.6, `mean ${mean}`);
  assert.ok(Math.min(...v) < 0.1 && Math.max(...v) > 0.9 && Math.max(...v) < 1);
  maps.dispose();
  assert.equal(tf.memory().numTensors, before);
  images.dispose();
  model.dispose();
});
