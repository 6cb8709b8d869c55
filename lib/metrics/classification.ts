/**
 * Classification metrics on plain arrays: accuracy, top-k accuracy, balanced
 * accuracy, per-class and macro precision / recall / F1, the confusion
 * matrix, ROC-AUC (binary and one-vs-rest macro) and expected calibration
 * error.
 *
 * Conventions, shared by every function here:
 * - `labels` holds one true class index per image, integers in
 *   `[0, numClasses)`.
 * - `predictions` holds one predicted class index per image.
 * - `scores` holds one row of `numClasses` class scores (probabilities for
 *   calibration) per image: `scores[i][c]` is image `i`'s score for class `c`.
 * - The predicted class of a score row is its first largest entry (as
 *   `argmax` in NumPy), see {@linkcode argmax}.
 *
 * Every function checks its inputs and throws a `RangeError` naming the
 * argument and the image index that is wrong.
 *
 * @module
 */
import { mannWhitneyAuc } from "./_auc.ts";

/** A row of class scores for one image. */
export type ScoreRow = ArrayLike<number>;

/**
 * The index of the first largest value of `row` (ties go to the lowest index,
 * as NumPy's `argmax`).
 *
 * @example First of two equal maxima
 * ```ts
 * import assert from "node:assert";
 * import { argmax } from "./classification.ts";
 * assert.equal(argmax([0.2, 0.4, 0.4]), 1);
 * ```
 */
export function argmax(row: ScoreRow): number {
  if (row.length === 0) throw new RangeError("Cannot take argmax of an empty row");
  let best = 0;
  for (let c = 1; c < row.length; c++) if (row[c] > row[best]) best = c;
  return best;
}

/** Options naming the number of classes. */
export interface NumClassesOptions {
  /**
   * The number of classes. When omitted it is one more than the largest
   * class index seen in `labels` and `predictions`.
   * @default {undefined}
   */
  numClasses?: number;
}

function checkLabels(
  values: ArrayLike<number>,
  name: string,
  fn: string,
  numClasses?: number,
): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || (numClasses !== undefined && v >= numClasses)) {
      const range = numClasses !== undefined ? ` in [0, ${numClasses})` : "";
      throw new RangeError(
        `Cannot compute ${fn}(): ${name}[${i}] must be an integer class index${range}, got ${v}`,
      );
    }
  }
}

function checkSameLength(a: ArrayLike<unknown>, b: ArrayLike<unknown>, names: string, fn: string) {
  if (a.length !== b.length) {
    throw new RangeError(
      `Cannot compute ${fn}(): ${names} have different lengths (${a.length} and ${b.length})`,
    );
  }
  if (a.length === 0) throw new RangeError(`Cannot compute ${fn}(): no images were given`);
}

function resolveNumClasses(
  fn: string,
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  numClasses?: number,
): number {
  if (numClasses !== undefined && (!Number.isInteger(numClasses) || numClasses < 1)) {
    throw new RangeError(
      `Option "numClasses" of ${fn}() must be a positive integer, got ${numClasses}`,
    );
  }
  checkLabels(labels, "labels", fn, numClasses);
  checkLabels(predictions, "predictions", fn, numClasses);
  if (numClasses !== undefined) return numClasses;
  let max = 0;
  for (let i = 0; i < labels.length; i++) max = Math.max(max, labels[i], predictions[i]);
  return max + 1;
}

function checkScores(scores: readonly ScoreRow[], fn: string): number {
  const c = scores[0].length;
  if (c === 0) throw new RangeError(`Cannot compute ${fn}(): scores[0] is empty`);
  scores.forEach((row, i) => {
    if (row.length !== c) {
      throw new RangeError(
        `Cannot compute ${fn}(): scores[${i}] holds ${row.length} values, expected ${c} as scores[0]`,
      );
    }
    for (let k = 0; k < c; k++) {
      if (!Number.isFinite(row[k])) {
        throw new RangeError(
          `Cannot compute ${fn}(): scores[${i}][${k}] must be finite, got ${row[k]}`,
        );
      }
    }
  });
  return c;
}

/**
 * The share of images whose prediction equals the label.
 *
 * @param labels True class per image, `[N]`.
 * @param predictions Predicted class per image, `[N]`.
 * @returns A number in [0, 1].
 *
 * @example Three of four right
 * ```ts
 * import assert from "node:assert";
 * import { accuracy } from "./classification.ts";
 * assert.equal(accuracy([0, 1, 2, 1], [0, 1, 1, 1]), 0.75);
 * ```
 */
export function accuracy(labels: ArrayLike<number>, predictions: ArrayLike<number>): number {
  checkSameLength(labels, predictions, "labels and predictions", "accuracy");
  resolveNumClasses("accuracy", labels, predictions);
  let hits = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === predictions[i]) hits++;
  return hits / labels.length;
}

/** Options of {@linkcode topKAccuracy}. */
export interface TopKAccuracyOptions {
  /** How many of the highest-scoring classes may contain the label. @default {5} */
  k?: number;
}

/**
 * The share of images whose label is among the `k` highest scores. Ties at
 * the `k`-th score are counted in the label's favour only when they fit:
 * the label is a hit when fewer than `k` classes score strictly higher than it
 * and, counting classes tied with it that have a lower index, it still ranks
 * within `k` (so ties break towards the lower class index, as `argmax`).
 *
 * @param labels True class per image, `[N]`.
 * @param scores One row of `C` class scores per image, `[N][C]`.
 *
 * @example Top-2
 * ```ts
 * import assert from "node:assert";
 * import { topKAccuracy } from "./classification.ts";
 * const scores = [[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.1, 0.3]];
 * // Only the first image's label (1) is among its two highest scores.
 * assert.equal(topKAccuracy([1, 0, 1], scores, { k: 2 }), 1 / 3);
 * ```
 */
export function topKAccuracy(
  labels: ArrayLike<number>,
  scores: readonly ScoreRow[],
  options: TopKAccuracyOptions = {},
): number {
  const fn = "topKAccuracy";
  checkSameLength(labels, scores, "labels and scores", fn);
  const c = checkScores(scores, fn);
  checkLabels(labels, "labels", fn, c);
  const k = options.k ?? 5;
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`Option "k" of topKAccuracy() must be a positive integer, got ${k}`);
  }
  let hits = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = scores[i], y = labels[i], s = row[y];
    let rank = 0; // classes ranked before the label
    for (let j = 0; j < c; j++) if (row[j] > s || (row[j] === s && j < y)) rank++;
    if (rank < k) hits++;
  }
  return hits / labels.length;
}

/**
 * The confusion matrix: `matrix[t][p]` counts images of true class `t`
 * predicted as `p` (rows are true classes, columns predictions).
 *
 * @param labels True class per image, `[N]`.
 * @param predictions Predicted class per image, `[N]`.
 * @returns `[C][C]` counts.
 *
 * @example Two classes
 * ```ts
 * import assert from "node:assert";
 * import { confusionMatrix } from "./classification.ts";
 * assert.deepStrictEqual(confusionMatrix([0, 0, 1], [0, 1, 1]), [[1, 1], [0, 1]]);
 * ```
 */
export function confusionMatrix(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  options: NumClassesOptions = {},
): number[][] {
  checkSameLength(labels, predictions, "labels and predictions", "confusionMatrix");
  const c = resolveNumClasses("confusionMatrix", labels, predictions, options.numClasses);
  const m = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][predictions[i]]++;
  return m;
}

/** Precision, recall and F1 of one class, in {@linkcode PrecisionRecallF1}. */
export interface ClassScores {
  /** TP / (TP + FP); 0 when the class is never predicted. */
  precision: number;
  /** TP / (TP + FN); 0 when the class has no images. */
  recall: number;
  /** 2PR / (P + R); 0 when P + R = 0. */
  f1: number;
  /** Images whose true class this is. */
  support: number;
}

/** What {@linkcode precisionRecallF1} returns. */
export interface PrecisionRecallF1 {
  /** One entry per class index. */
  perClass: ClassScores[];
  /**
   * Unweighted means of the per-class precision, recall and F1 over the
   * classes that occur in `labels` or `predictions` (as scikit-learn's
   * `average="macro"`); `classes` says which.
   */
  macro: { precision: number; recall: number; f1: number; classes: number[] };
}

/**
 * Per-class and macro precision, recall and F1. A ratio with a zero
 * denominator is 0 (scikit-learn's `zero_division=0`). The macro F1 is the
 * mean of the per-class F1 values, not the F1 of the macro precision and
 * recall.
 *
 * @param labels True class per image, `[N]`.
 * @param predictions Predicted class per image, `[N]`.
 *
 * @example Three classes
 * ```ts
 * import assert from "node:assert";
 * import { precisionRecallF1 } from "./classification.ts";
 * const r = precisionRecallF1([0, 0, 1, 2], [0, 1, 1, 1]);
 * assert.equal(r.perClass[1].precision, 1 / 3); // three predicted 1, one of them right
 * assert.equal(r.perClass[1].recall, 1);
 * ```
 */
export function precisionRecallF1(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  options: NumClassesOptions = {},
): PrecisionRecallF1 {
  const m = confusionMatrix(labels, predictions, options);
  const c = m.length;
  const perClass: ClassScores[] = [];
  const classes: number[] = [];
  for (let k = 0; k < c; k++) {
    let predicted = 0, support = 0;
    for (let j = 0; j < c; j++) {
      predicted += m[j][k];
      support += m[k][j];
    }
    const tp = m[k][k];
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ precision, recall, f1, support });
    if (predicted > 0 || support > 0) classes.push(k);
  }
  const mean = (key: "precision" | "recall" | "f1") =>
    classes.reduce((s, k) => s + perClass[k][key], 0) / classes.length;
  return {
    perClass,
    macro: { precision: mean("precision"), recall: mean("recall"), f1: mean("f1"), classes },
  };
}

/**
 * Balanced accuracy: the mean recall over the classes that occur in
 * `labels` (classes with no images are left out, as in scikit-learn).
 *
 * @param labels True class per image, `[N]`.
 * @param predictions Predicted class per image, `[N]`.
 *
 * @example Imbalanced classes
 * ```ts
 * import assert from "node:assert";
 * import { balancedAccuracy } from "./classification.ts";
 * // Class 0: 3 of 4 right; class 1: 0 of 1 right.
 * assert.equal(balancedAccuracy([0, 0, 0, 0, 1], [0, 0, 0, 1, 0]), 0.375);
 * ```
 */
export function balancedAccuracy(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  options: NumClassesOptions = {},
): number {
  const { perClass } = precisionRecallF1(labels, predictions, options);
  const present = perClass.filter((s) => s.support > 0);
  return present.reduce((s, p) => s + p.recall, 0) / present.length;
}

/**
 * Binary ROC-AUC: the probability that a random positive scores higher than a
 * random negative, a tied pair counting one half (the Mann–Whitney U
 * statistic over `n⁺ n⁻`, computed with average ranks in O(N log N)).
 *
 * @param labels 1 for positive and 0 for negative, per image, `[N]`.
 * @param scores The score of the positive class per image, `[N]`.
 * @throws {RangeError} When only one class occurs (the AUC is undefined).
 *
 * @example One tied pair
 * ```ts
 * import assert from "node:assert";
 * import { rocAuc } from "./classification.ts";
 * // Pairs (pos, neg): (0.8, 0.1) win, (0.8, 0.4) win, (0.4, 0.1) win, (0.4, 0.4) tie.
 * assert.equal(rocAuc([1, 0, 1, 0], [0.8, 0.1, 0.4, 0.4]), 0.875);
 * ```
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  checkSameLength(labels, scores, "labels and scores", "rocAuc");
  checkLabels(labels, "labels", "rocAuc", 2);
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) {
      throw new RangeError(
        `Cannot compute rocAuc(): scores[${i}] must be finite, got ${scores[i]}`,
      );
    }
  }
  const auc = mannWhitneyAuc(scores, (i) => labels[i] === 1);
  if (auc === null) {
    throw new RangeError(
      "Cannot compute rocAuc(): labels hold only one class, so the AUC is undefined",
    );
  }
  return auc;
}

/** What {@linkcode rocAucOvr} returns. */
export interface OvrAuc {
  /** The mean of the per-class AUCs that are defined. */
  macro: number;
  /** Class `c` against the rest; `null` where class `c` has no images or every image is class `c`. */
  perClass: (number | null)[];
  /** Classes left out of the macro mean because their AUC is undefined. */
  skippedClasses: number[];
}

/**
 * One-vs-rest ROC-AUC: for each class `c`, the binary {@linkcode rocAuc} of
 * "label is `c`" scored by `scores[i][c]`, and their unweighted (macro) mean
 * over the classes where it is defined (the others are listed in
 * `skippedClasses`, never averaged in as 0 or NaN).
 *
 * @param labels True class per image, `[N]`.
 * @param scores One row of `C` class scores per image, `[N][C]`.
 * @throws {RangeError} When no class has both positives and negatives.
 *
 * @example Three classes, perfectly ranked
 * ```ts
 * import assert from "node:assert";
 * import { rocAucOvr } from "./classification.ts";
 * const r = rocAucOvr([0, 1, 2], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]]);
 * assert.equal(r.macro, 1);
 * assert.deepStrictEqual(r.skippedClasses, []);
 * ```
 */
export function rocAucOvr(labels: ArrayLike<number>, scores: readonly ScoreRow[]): OvrAuc {
  const fn = "rocAucOvr";
  checkSameLength(labels, scores, "labels and scores", fn);
  const c = checkScores(scores, fn);
  checkLabels(labels, "labels", fn, c);
  const perClass: (number | null)[] = [];
  const skippedClasses: number[] = [];
  const column = new Float64Array(labels.length);
  for (let k = 0; k < c; k++) {
    for (let i = 0; i < labels.length; i++) column[i] = scores[i][k];
    const auc = mannWhitneyAuc(column, (i) => labels[i] === k);
    perClass.push(auc);
    if (auc === null) skippedClasses.push(k);
  }
  const defined = perClass.filter((a): a is number => a !== null);
  if (defined.length === 0) {
    throw new RangeError(
      "Cannot compute rocAucOvr(): no class has both positive and negative images",
    );
  }
  return { macro: defined.reduce((s, a) => s + a, 0) / defined.length, perClass, skippedClasses };
}

/** Options of {@linkcode expectedCalibrationError}. */
export interface CalibrationOptions {
  /**
   * The number of equal-width confidence bins over [0, 1] (15, as Guo et al.
   * 2017). Bin `b` holds confidences in `(b/B, (b+1)/B]`, and the first bin
   * also holds 0.
   * @default {15}
   */
  bins?: number;
}

/** One bin of a reliability diagram, in {@linkcode CalibrationResult}. */
export interface CalibrationBin {
  /** The lower edge (exclusive, except 0 for the first bin). */
  lower: number;
  /** The upper edge (inclusive). */
  upper: number;
  /** Images whose confidence falls in the bin. */
  count: number;
  /** Their accuracy; `null` when the bin is empty. */
  accuracy: number | null;
  /** Their mean confidence; `null` when the bin is empty. */
  confidence: number | null;
}

/** What {@linkcode expectedCalibrationError} returns. */
export interface CalibrationResult {
  /** `Σ_b (n_b / N) · |accuracy_b − confidence_b|`, in [0, 1]. */
  ece: number;
  /** The bins, for a reliability diagram. */
  bins: CalibrationBin[];
}

/**
 * Expected calibration error (Guo et al. 2017): the confidence of an image is
 * its largest probability and it is correct when that class (the first
 * largest) is the label; images are grouped into equal-width confidence bins
 * and ECE is the image-weighted mean of `|accuracy − mean confidence|` over
 * the bins.
 *
 * @param labels True class per image, `[N]`.
 * @param probabilities One row of `C` class probabilities per image, `[N][C]`, each in [0, 1].
 *
 * @example Two bins
 * ```ts
 * import assert from "node:assert";
 * import { expectedCalibrationError } from "./classification.ts";
 * // Bin (0.5, 1]: confidences 0.9, 0.7 (one right) → |0.5 − 0.8| · 2/2.
 * const r = expectedCalibrationError([0, 0], [[0.9, 0.1], [0.3, 0.7]], { bins: 2 });
 * assert.ok(Math.abs(r.ece - 0.3) < 1e-12);
 * ```
 */
export function expectedCalibrationError(
  labels: ArrayLike<number>,
  probabilities: readonly ScoreRow[],
  options: CalibrationOptions = {},
): CalibrationResult {
  const fn = "expectedCalibrationError";
  checkSameLength(labels, probabilities, "labels and probabilities", fn);
  const c = checkScores(probabilities, fn);
  checkLabels(labels, "labels", fn, c);
  const nBins = options.bins ?? 15;
  if (!Number.isInteger(nBins) || nBins < 1) {
    throw new RangeError(`Option "bins" of ${fn}() must be a positive integer, got ${nBins}`);
  }
  const count = new Array<number>(nBins).fill(0);
  const correct = new Array<number>(nBins).fill(0);
  const confSum = new Array<number>(nBins).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const row = probabilities[i];
    const p = argmax(row);
    const conf = row[p];
    if (conf < 0 || conf > 1) {
      throw new RangeError(
        `Cannot compute ${fn}(): probabilities[${i}][${p}] must be in [0, 1], got ${conf}`,
      );
    }
    let b = Math.min(nBins - 1, Math.max(0, Math.ceil(conf * nBins) - 1));
    if (b > 0 && conf <= b / nBins) b--; // 0.7 · 10 rounds to 7.000000000000001
    count[b]++;
    confSum[b] += conf;
    if (p === labels[i]) correct[b]++;
  }
  let ece = 0;
  const bins: CalibrationBin[] = count.map((n, b) => {
    const acc = n > 0 ? correct[b] / n : null;
    const conf = n > 0 ? confSum[b] / n : null;
    if (n > 0) ece += (n / labels.length) * Math.abs(acc! - conf!);
    return { lower: b / nBins, upper: (b + 1) / nBins, count: n, accuracy: acc, confidence: conf };
  });
  return { ece, bins };
}
