import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { crossEntropyLoss, focalLoss } from "../../lib/losses/classification.ts";
import { assertClose, useEngines } from "../_helpers.ts";
import { checkInputGradient } from "./_finite_diff.ts";

await useEngines();

const LOGITS = [[1, 2, 3], [0.5, -1, 0], [2, 0, -2]];
const LABELS = [2, 0, 1];

/** Softmax probabilities of one row, in float64. */
function softmax(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** PyTorch's cross_entropy(weight=w, label_smoothing=eps), written out in float64. */
function referenceCe(logits: number[][], labels: number[], eps: number, w?: number[]): number {
  const k = logits[0].length;
  const cw = w ?? new Array(k).fill(1);
  let total = 0, norm = 0;
  logits.forEach((row, i) => {
    const p = softmax(row);
    for (let c = 0; c < k; c++) {
      const q = (c === labels[i] ? 1 - eps : 0) + eps / k;
      total += -cw[c] * q * Math.log(p[c]);
    }
    norm += cw[labels[i]];
  });
  return total / norm;
}

function referenceFocal(
  logits: number[][],
  labels: number[],
  gamma: number,
  alpha?: number[],
  w?: number[],
): number {
  let total = 0, norm = 0;
  logits.forEach((row, i) => {
    const pt = softmax(row)[labels[i]];
    const a = alpha ? alpha[labels[i]] : 1;
    const cw = w ? w[labels[i]] : 1;
    total += cw * -a * Math.pow(1 - pt, gamma) * Math.log(pt);
    norm += cw;
  });
  return total / norm;
}

function value(t: tf.Scalar): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

Deno.test("crossEntropyLoss() equals −log softmax of the true class, worked by hand", () => {
  tf.tidy(() => {
    const logits = tf.tensor2d(LOGITS), labels = tf.tensor1d(LABELS, "int32");
    // Row 0: −log(e³ / (e + e² + e³)) = log(1 + e⁻¹ + e⁻²) = 0.40761
    const row0 = Math.log(1 + Math.exp(-1) + Math.exp(-2));
    assert.ok(Math.abs(row0 - 0.40761) < 1e-5);
    const want = referenceCe(LOGITS, LABELS, 0);
    assertClose([value(crossEntropyLoss(logits, labels))], [want], { rtol: 1e-6, label: "ce" });
  });
});

Deno.test("crossEntropyLoss() label smoothing matches the smoothed target, worked by hand", () => {
  tf.tidy(() => {
    // p = [1/4, 3/4], ε = 0.2: target [0.1, 0.9]; −0.1·ln ¼ − 0.9·ln ¾ = 0.397543
    const two = crossEntropyLoss(tf.tensor2d([[0, Math.log(3)]]), tf.tensor1d([1], "int32"), {
      labelSmoothing: 0.2,
    });
    assertClose([value(two)], [0.1 * Math.log(4) + 0.9 * Math.log(4 / 3)], { rtol: 1e-6 });
    const smoothed = crossEntropyLoss(tf.tensor2d(LOGITS), tf.tensor1d(LABELS, "int32"), {
      labelSmoothing: 0.1,
    });
    assertClose([value(smoothed)], [referenceCe(LOGITS, LABELS, 0.1)], { rtol: 1e-6 });
  });
});

Deno.test("crossEntropyLoss() class weights give PyTorch's weighted mean, also with smoothing", () => {
  tf.tidy(() => {
    const logits = tf.tensor2d(LOGITS), labels = tf.tensor1d(LABELS, "int32");
    const w = [0.5, 2, 1];
    assertClose(
      [value(crossEntropyLoss(logits, labels, { classWeights: w }))],
      [referenceCe(LOGITS, LABELS, 0, w)],
      { rtol: 1e-6, label: "weights" },
    );
    assertClose(
      [value(
        crossEntropyLoss(logits, labels, { classWeights: tf.tensor1d(w), labelSmoothing: 0.3 }),
      )],
      [referenceCe(LOGITS, LABELS, 0.3, w)],
      { rtol: 1e-6, label: "weights and smoothing" },
    );
    // Uniform weights change nothing.
    assertClose(
      [value(crossEntropyLoss(logits, labels, { classWeights: [3, 3, 3] }))],
      [referenceCe(LOGITS, LABELS, 0)],
      { rtol: 1e-6, label: "uniform weights" },
    );
  });
});

Deno.test("focalLoss() matches −α(1 − p_t)^γ log p_t, worked by hand, and equals CE at γ = 0", () => {
  tf.tidy(() => {
    const logits = tf.tensor2d(LOGITS), labels = tf.tensor1d(LABELS, "int32");
    // p_t = ¾, γ = 2: −(¼)²·ln ¾ = 0.0179801
    const one = focalLoss(tf.tensor2d([[0, Math.log(3)]]), tf.tensor1d([1], "int32"));
    assertClose([value(one)], [0.0625 * Math.log(4 / 3)], { rtol: 1e-5, label: "one sample" });
    assertClose([value(focalLoss(logits, labels))], [referenceFocal(LOGITS, LABELS, 2)], {
      rtol: 1e-5,
      label: "γ 2",
    });
    assertClose(
      [value(focalLoss(logits, labels, { gamma: 0 }))],
      [value(crossEntropyLoss(logits, labels))],
      { rtol: 1e-6, label: "γ 0 is CE" },
    );
    const alpha = [0.25, 0.5, 0.75], w = [1, 3, 2];
    assertClose(
      [value(focalLoss(logits, labels, { gamma: 1.5, alpha, classWeights: w }))],
      [referenceFocal(LOGITS, LABELS, 1.5, alpha, w)],
      { rtol: 1e-5, label: "α per class and class weights" },
    );
    assertClose(
      [value(focalLoss(logits, labels, { alpha: 0.25 }))],
      [0.25 * referenceFocal(LOGITS, LABELS, 2)],
      { rtol: 1e-5, label: "scalar α" },
    );
  });
});

Deno.test("focalLoss() keeps a finite gradient when p_t rounds to 1", () => {
  tf.tidy(() => {
    for (const gamma of [0.5, 2]) {
      const g = tf.grad((z: tf.Tensor) =>
        focalLoss(z as tf.Tensor2D, tf.tensor1d([1], "int32"), { gamma })
      )(
        tf.tensor2d([[0, 40]]),
      ).dataSync();
      assert.ok(g.every(Number.isFinite), `γ ${gamma}: ${g}`);
    }
  });
});

Deno.test("crossEntropyLoss() and focalLoss() gradients match finite differences", () => {
  const labels = tf.tensor1d(LABELS, "int32");
  const flat = LOGITS.flat();
  const cases: [string, (z: tf.Tensor2D) => tf.Scalar][] = [
    [
      "crossEntropyLoss smoothing + weights",
      (z) => crossEntropyLoss(z, labels, { labelSmoothing: 0.2, classWeights: [1, 2, 0.5] }),
    ],
    ["focalLoss γ 2", (z) => focalLoss(z, labels)],
    [
      "focalLoss γ 0.5, α, class weights",
      (z) => focalLoss(z, labels, { gamma: 0.5, alpha: [0.2, 0.3, 0.5], classWeights: [2, 1, 1] }),
    ],
  ];
  for (const [label, loss] of cases) {
    checkInputGradient(label, (z) => loss(z as tf.Tensor2D), flat, [3, 3]);
  }
  labels.dispose();
});

Deno.test("classification losses name the bad label, shape or option", () => {
  tf.tidy(() => {
    const logits = tf.tensor2d(LOGITS);
    assert.throws(
      () => crossEntropyLoss(logits, tf.tensor1d([0, 3, 1], "int32")),
      /crossEntropyLoss: "labels" must be class indices in \[0, 2\], got 3 at sample 1/,
    );
    assert.throws(
      () => focalLoss(logits, tf.tensor1d([0, 1], "int32")),
      /focalLoss: "labels" must have shape \[3\].*got \[2\]/,
    );
    assert.throws(
      () => crossEntropyLoss(logits, tf.tensor1d([0, 1, 2], "int32"), { labelSmoothing: 1 }),
      /option "labelSmoothing" must be in \[0, 1\), got 1/,
    );
    assert.throws(
      () => crossEntropyLoss(logits, tf.tensor1d([0, 1, 2], "int32"), { classWeights: [1, 2] }),
      /option "classWeights" must have one entry per class \(3\), got shape \[2\]/,
    );
    assert.throws(
      () => crossEntropyLoss(logits, tf.tensor1d([0, 1, 2], "int32"), { classWeights: [1, -2, 1] }),
      /option "classWeights" must hold finite values of at least 0, got -2 at index 1/,
    );
    assert.throws(
      () => focalLoss(logits, tf.tensor1d([0, 1, 2], "int32"), { gamma: -1 }),
      /focalLoss: option "gamma" must be a finite number of at least 0, got -1/,
    );
    assert.throws(
      () => focalLoss(logits, tf.tensor1d([0, 1, 2], "int32"), { alpha: [1, 1] }),
      /focalLoss: option "alpha" must have one entry per class \(3\)/,
    );
    assert.throws(
      () =>
        crossEntropyLoss(tf.tensor1d([1, 2]) as unknown as tf.Tensor2D, tf.tensor1d([0], "int32")),
      /crossEntropyLoss: "logits" must have rank 2, got shape \[2\]/,
    );
  });
});
