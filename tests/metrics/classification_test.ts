import assert from "node:assert/strict";
import {
  accuracy,
  argmax,
  balancedAccuracy,
  confusionMatrix,
  expectedCalibrationError,
  precisionRecallF1,
  rocAuc,
  rocAucOvr,
  topKAccuracy,
} from "../../lib/metrics/classification.ts";
import { Random } from "../../lib/util/random.ts";

const close = (a: number, b: number, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol, `expected ${b}, got ${a}`);

// A 3-class worked example used by several tests.
//   labels      0 0 1 1 2 2
//   predictions 0 1 1 1 0 2
// Confusion matrix (rows true, columns predicted):
//   t0: [1 1 0]   t1: [0 2 0]   t2: [1 0 1]
// Class 0: TP 1, predicted 2, support 2 → P 1/2, R 1/2, F1 1/2.
// Class 1: TP 2, predicted 3, support 2 → P 2/3, R 1,   F1 2·(2/3)/(5/3) = 4/5.
// Class 2: TP 1, predicted 1, support 2 → P 1,   R 1/2, F1 2·(1/2)/(3/2) = 2/3.
const LABELS = [0, 0, 1, 1, 2, 2];
const PREDS = [0, 1, 1, 1, 0, 2];

Deno.test("accuracy() counts exact matches, 4 of 6 in the worked example", () => {
  close(accuracy(LABELS, PREDS), 4 / 6);
  assert.equal(accuracy([1], [1]), 1);
});

Deno.test("accuracy() names the bad argument and index", () => {
  assert.throws(
    () => accuracy([0, 1], [0]),
    /labels and predictions have different lengths \(2 and 1\)/,
  );
  assert.throws(() => accuracy([], []), /no images were given/);
  assert.throws(
    () => accuracy([0, 1.5], [0, 1]),
    /labels\[1\] must be an integer class index, got 1.5/,
  );
  assert.throws(() => accuracy([0, 1], [0, -1]), /predictions\[1\] must be an integer/);
});

Deno.test("argmax() and topKAccuracy() break ties towards the lower class index", () => {
  assert.equal(argmax([0.4, 0.4, 0.2]), 0);
  // Row [0.4, 0.4, 0.2]: for label 1, class 0 ties and has a lower index, so label 1 ranks 2nd.
  const rows = [[0.4, 0.4, 0.2], [0.4, 0.4, 0.2]];
  assert.equal(topKAccuracy([0, 1], rows, { k: 1 }), 0.5);
  assert.equal(topKAccuracy([0, 1], rows, { k: 2 }), 1);
  // Label 2 (score 0.2) ranks 3rd: a miss at k = 2, a hit at k = 3 and at k = 5 > C.
  assert.equal(topKAccuracy([2], [[0.4, 0.4, 0.2]], { k: 2 }), 0);
  assert.equal(topKAccuracy([2], [[0.4, 0.4, 0.2]], { k: 3 }), 1);
  assert.equal(topKAccuracy([2], [[0.4, 0.4, 0.2]]), 1);
  // Top-1 equals accuracy of argmax.
  const r = new Random(3);
  const scores = Array.from({ length: 50 }, () => Array.from(r.uniformArray(4)));
  const labels = Array.from({ length: 50 }, () => r.int(4));
  close(topKAccuracy(labels, scores, { k: 1 }), accuracy(labels, scores.map(argmax)));
});

Deno.test("topKAccuracy() rejects a bad k and ragged or non-finite scores", () => {
  assert.throws(() => topKAccuracy([0], [[1, 0]], { k: 0 }), /Option "k" of topKAccuracy\(\)/);
  assert.throws(
    () => topKAccuracy([0, 1], [[1, 0], [1]]),
    /scores\[1\] holds 1 values, expected 2/,
  );
  assert.throws(() => topKAccuracy([0], [[NaN, 0]]), /scores\[0\]\[0\] must be finite/);
  assert.throws(
    () => topKAccuracy([2], [[1, 0]]),
    /labels\[0\] must be an integer class index in \[0, 2\)/,
  );
});

Deno.test("confusionMatrix() puts true classes on rows, as worked by hand", () => {
  assert.deepEqual(confusionMatrix(LABELS, PREDS), [[1, 1, 0], [0, 2, 0], [1, 0, 1]]);
  // numClasses pads absent classes with zeros and bounds the indices.
  assert.deepEqual(confusionMatrix([0], [1], { numClasses: 3 }), [[0, 1, 0], [0, 0, 0], [0, 0, 0]]);
  assert.throws(
    () => confusionMatrix([0], [3], { numClasses: 3 }),
    /predictions\[0\] must be an integer class index in \[0, 3\), got 3/,
  );
  assert.throws(() => confusionMatrix([0], [0], { numClasses: 0 }), /Option "numClasses"/);
});

Deno.test("precisionRecallF1() matches the hand-worked per-class and macro values", () => {
  const r = precisionRecallF1(LABELS, PREDS);
  const expected = [[1 / 2, 1 / 2, 1 / 2], [2 / 3, 1, 4 / 5], [1, 1 / 2, 2 / 3]];
  r.perClass.forEach((s, k) => {
    close(s.precision, expected[k][0]);
    close(s.recall, expected[k][1]);
    close(s.f1, expected[k][2]);
    assert.equal(s.support, 2);
  });
  // Macro: P (1/2 + 2/3 + 1)/3 = 13/18; R (1/2 + 1 + 1/2)/3 = 2/3; F1 (1/2 + 4/5 + 2/3)/3 = 59/90.
  close(r.macro.precision, 13 / 18);
  close(r.macro.recall, 2 / 3);
  close(r.macro.f1, 59 / 90);
  assert.deepEqual(r.macro.classes, [0, 1, 2]);
});

Deno.test("precisionRecallF1() scores 0 on zero division and leaves unseen classes out of the macro mean", () => {
  // Class 1 has an image but is never predicted: P = 0 (0/0), R = 0, F1 = 0.
  // Class 2 exists only through numClasses: no images, never predicted → not in the macro mean.
  const r = precisionRecallF1([0, 1], [0, 0], { numClasses: 3 });
  assert.deepEqual(r.perClass[1], { precision: 0, recall: 0, f1: 0, support: 1 });
  assert.deepEqual(r.macro.classes, [0, 1]);
  // Class 0: P 1/2, R 1, F1 2/3; class 1: 0 → macro F1 1/3.
  close(r.macro.f1, 1 / 3);
});

Deno.test("balancedAccuracy() is the mean recall over classes with images", () => {
  close(balancedAccuracy(LABELS, PREDS), 2 / 3); // (1/2 + 1 + 1/2) / 3
  // An extra class with no images does not count as recall 0.
  close(balancedAccuracy(LABELS, PREDS, { numClasses: 5 }), 2 / 3);
  // Always predicting the majority class of 9:1 data: recalls 1 and 0 → 0.5 (accuracy 0.9).
  const labels = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  assert.equal(balancedAccuracy(labels, new Array(10).fill(0)), 0.5);
});

/** AUC by counting every positive–negative pair, ties as one half. */
function bruteAuc(labels: number[], scores: number[]): number {
  let sum = 0, pairs = 0;
  labels.forEach((a, i) =>
    labels.forEach((b, j) => {
      if (a !== 1 || b !== 0) return;
      pairs++;
      sum += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    })
  );
  return sum / pairs;
}

Deno.test("rocAuc() equals a brute-force pair count, ties counting one half", () => {
  // Hand example: positives {0.8, 0.4}, negatives {0.1, 0.4}: 3 wins and 1 tie of 4 pairs → 0.875.
  assert.equal(rocAuc([1, 0, 1, 0], [0.8, 0.1, 0.4, 0.4]), 0.875);
  // All scores tied → 0.5; perfectly reversed → 0.
  assert.equal(rocAuc([1, 0, 1, 0], [0, 0, 0, 0]), 0.5);
  assert.equal(rocAuc([1, 1, 0], [0.1, 0.2, 0.3]), 0);
  const r = new Random(11);
  for (let trial = 0; trial < 20; trial++) {
    const n = 5 + r.int(60);
    // Scores rounded to one decimal, so there are many ties.
    const scores = Array.from({ length: n }, () => Math.round(r.uniform() * 10) / 10);
    const labels = Array.from({ length: n }, (_, i) => (i < 2 ? i : r.int(2)));
    close(rocAuc(labels, scores), bruteAuc(labels, scores), 1e-12);
  }
});

Deno.test("rocAuc() refuses a single class and names bad labels", () => {
  assert.throws(() => rocAuc([1, 1], [0.2, 0.3]), /labels hold only one class/);
  assert.throws(
    () => rocAuc([1, 2], [0.2, 0.3]),
    /labels\[1\] must be an integer class index in \[0, 2\)/,
  );
  assert.throws(() => rocAuc([1, 0], [0.2, Infinity]), /scores\[1\] must be finite/);
});

Deno.test("rocAucOvr() averages the defined one-vs-rest AUCs and lists the skipped classes", () => {
  // 3 classes, class 2 never occurs as a label → skipped, not averaged as 0 or NaN.
  const labels = [0, 0, 1, 1];
  const scores = [[0.6, 0.3, 0.1], [0.3, 0.5, 0.2], [0.4, 0.5, 0.1], [0.1, 0.2, 0.7]];
  // Class 0: positives {0.6, 0.3}, negatives {0.4, 0.1}: 0.6 beats both, 0.3 beats 0.1 → 3/4.
  // Class 1: positives {0.5, 0.2}, negatives {0.3, 0.5}: 0.5>0.3 win, 0.5=0.5 tie, 0.2 loses twice → 1.5/4.
  const r = rocAucOvr(labels, scores);
  assert.deepEqual(r.perClass, [0.75, 0.375, null]);
  assert.deepEqual(r.skippedClasses, [2]);
  close(r.macro, (0.75 + 0.375) / 2);
  assert.throws(
    () => rocAucOvr([0, 0], [[1, 0], [1, 0]]),
    /no class has both positive and negative/,
  );
});

Deno.test("expectedCalibrationError() bins confidences into equal-width bins, as worked by hand", () => {
  // 3 bins: [0, 1/3], (1/3, 2/3], (2/3, 1].
  // Image  probs          conf  pred  label  bin
  //   0   [0.9, 0.1]      0.9    0     0     2 (right)
  //   1   [0.2, 0.8]      0.8    1     0     2 (wrong)
  //   2   [0.6, 0.4]      0.6    0     0     1 (right)
  //   3   [0.5, 0.5]      0.5    0     1     1 (wrong; tie → class 0)
  // Bin 1: acc 1/2, conf 0.55 → |0.5 − 0.55| = 0.05; bin 2: acc 1/2, conf 0.85 → 0.35.
  // ECE = 2/4 · 0.05 + 2/4 · 0.35 = 0.2.
  const r = expectedCalibrationError([0, 0, 0, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [
    0.5,
    0.5,
  ]], { bins: 3 });
  close(r.ece, 0.2, 1e-12);
  assert.deepEqual(r.bins.map((b) => b.count), [0, 2, 2]);
  assert.equal(r.bins[0].accuracy, null);
  close(r.bins[2].confidence!, 0.85);
  // Default: 15 bins.
  assert.equal(expectedCalibrationError([0], [[1, 0]]).bins.length, 15);
  // Perfectly confident and right → 0.
  assert.equal(expectedCalibrationError([0, 1], [[1, 0], [0, 1]]).ece, 0);
});

Deno.test("expectedCalibrationError() puts a confidence on a bin edge in the lower bin", () => {
  // 0.7 with 10 bins belongs to (0.6, 0.7], bin 6, although 0.7 · 10 = 7.000000000000001.
  const r = expectedCalibrationError([0], [[0.7, 0.3]], { bins: 10 });
  assert.equal(r.bins[6].count, 1);
  // 0.5 with 2 bins belongs to [0, 0.5].
  assert.equal(expectedCalibrationError([0], [[0.5, 0.5]], { bins: 2 }).bins[0].count, 1);
});

Deno.test("expectedCalibrationError() names probabilities outside [0, 1] and a bad bin count", () => {
  assert.throws(
    () => expectedCalibrationError([0], [[1.5, 0]]),
    /probabilities\[0\]\[0\] must be in \[0, 1\], got 1.5/,
  );
  assert.throws(() => expectedCalibrationError([0], [[1, 0]], { bins: 0 }), /Option "bins"/);
});
