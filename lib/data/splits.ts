/**
 * Splits: stratified train/validation/test, k-fold, "few annotated"
 * subsets, and dataset views over a subset of samples.
 *
 * Every split is reproduced from its seed. With `groups` (duplicate-group
 * ids, patient ids), all members of a group land on the same side.
 *
 * @module
 */
import { Random } from "../util/random.ts";
import type { Dataset, Sample, SampleRecord } from "./types.ts";

/** Options of {@linkcode stratifiedSplit}. */
export interface StratifiedSplitOptions {
  /**
   * Fraction of each class for training. When some fractions are given and
   * others omitted, the omitted ones share what is left equally.
   * @default {0.7}
   */
  train?: number;
  /** Fraction of each class for validation. @default {0.15} */
  val?: number;
  /** Fraction of each class for testing. @default {0.15} */
  test?: number;
  /** Seed of the shuffle. @default {0} */
  seed?: number;
  /**
   * A group id per sample (same length as `labels`); samples with equal ids
   * always land in the same part. @default {undefined}
   */
  groups?: readonly (number | string)[];
}

/** Sample indices of a train/validation/test split, each ascending. */
export interface TrainValTest {
  /** Training indices. */
  train: number[];
  /** Validation indices. */
  val: number[];
  /** Test indices. */
  test: number[];
}

/**
 * Splits sample indices into train, validation and test parts with each
 * class in the given proportions. Without `groups`, every part holds within
 * one sample of its fraction of every class. With `groups`, whole groups are
 * placed (largest first, each where it best fills what its classes still
 * lack), so proportions are approximate and no group straddles two parts.
 *
 * @param labels The class index of each sample (`dataset.records.map((r) => r.label)`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { stratifiedSplit } from "./splits.ts";
 * const labels = Array.from({ length: 40 }, (_, i) => i % 2);
 * const { train, val, test } = stratifiedSplit(labels, { train: 0.5, val: 0.25, test: 0.25, seed: 1 });
 * assert.deepStrictEqual([train.length, val.length, test.length], [20, 10, 10]);
 * assert.equal(test.filter((i) => labels[i] === 1).length, 5); // each class split alike
 * assert.equal(new Set([...train, ...val, ...test]).size, 40); // disjoint, and covers all
 * ```
 */
export function stratifiedSplit(
  labels: readonly number[],
  options: StratifiedSplitOptions = {},
): TrainValTest {
  const fractions = splitFractions(options);
  checkLabels(labels);
  const assignment = assignGroups(labels, fractions, {
    seed: options.seed ?? 0,
    groups: options.groups,
    stratified: true,
  });
  const parts: TrainValTest = { train: [], val: [], test: [] };
  const names = ["train", "val", "test"] as const;
  assignment.forEach((part, i) => parts[names[part]].push(i));
  return parts;
}

/** Options of {@linkcode kFold}. */
export interface KFoldOptions {
  /** Number of folds, from 2 to the number of samples (or groups). @default {5} */
  k?: number;
  /** Seed of the shuffle. @default {0} */
  seed?: number;
  /** Keep each class's proportion the same in every fold. @default {true} */
  stratified?: boolean;
  /**
   * A group id per sample; samples with equal ids always share a fold.
   * @default {undefined}
   */
  groups?: readonly (number | string)[];
}

/** One fold of a k-fold split: ascending sample indices. */
export interface Fold {
  /** Indices to train on (every index not in `test`). */
  train: number[];
  /** Indices held out in this fold. */
  test: number[];
}

/**
 * Splits sample indices into `k` folds. Each index is in exactly one fold's
 * `test`, and in the `train` of every other fold. Stratified without
 * groups, every fold holds within one sample of `1/k` of every class.
 *
 * @param labels The class index of each sample.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { kFold } from "./splits.ts";
 * const folds = kFold([0, 0, 0, 1, 1, 1], { k: 3, seed: 2 });
 * assert.deepStrictEqual(folds.map((f) => f.test.length), [2, 2, 2]);
 * assert.deepStrictEqual(folds.flatMap((f) => f.test).sort(), [0, 1, 2, 3, 4, 5]); // each once
 * ```
 */
export function kFold(labels: readonly number[], options: KFoldOptions = {}): Fold[] {
  const k = options.k ?? 5;
  checkLabels(labels);
  const units = options.groups ? new Set(options.groups).size : labels.length;
  if (!Number.isInteger(k) || k < 2 || k > units) {
    const of = options.groups ? "groups" : "samples";
    throw new RangeError(
      `Option "k" must be an integer from 2 to the number of ${of} (${units}), got ${k}`,
    );
  }
  const assignment = assignGroups(labels, new Array(k).fill(1 / k), {
    seed: options.seed ?? 0,
    groups: options.groups,
    stratified: options.stratified ?? true,
  });
  return Array.from({ length: k }, (_, f) => {
    const fold: Fold = { train: [], test: [] };
    assignment.forEach((part, i) => (part === f ? fold.test : fold.train).push(i));
    return fold;
  });
}

/** Options of {@linkcode fewAnnotated}. */
export interface FewAnnotatedOptions {
  /** Annotated samples to keep per class (a class with fewer keeps all it has). */
  perClass: number;
  /** Seed of the choice. @default {0} */
  seed?: number;
}

/**
 * Chooses which samples keep their annotations: `perClass` of each class,
 * at random among `indices` whose records have a mask or boxes. For one
 * seed, the choice for `perClass = n` contains the choice for every smaller
 * `n`, so a study over `n` adds annotations rather than redrawing them.
 * Pass the result to {@linkcode stripAnnotations}.
 *
 * @param records The dataset's records.
 * @param indices The candidates (the training split, say).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { fewAnnotated } from "./splits.ts";
 * const records = [0, 0, 0, 1, 1, 1].map((label, i) => ({
 *   id: `${i}`, label, hasMask: true, hasBoxes: false, source: "",
 * }));
 * const keep = fewAnnotated(records, [0, 1, 2, 3, 4, 5], { perClass: 2, seed: 0 });
 * assert.equal(keep.size, 4);
 * assert.equal([...keep].filter((i) => records[i].label === 0).length, 2); // two per class
 * ```
 */
export function fewAnnotated(
  records: readonly SampleRecord[],
  indices: readonly number[],
  options: FewAnnotatedOptions,
): Set<number> {
  const perClass = options.perClass;
  if (!Number.isInteger(perClass) || perClass < 0) {
    throw new RangeError(`Option "perClass" must be a non-negative integer, got ${perClass}`);
  }
  checkIndices(indices, records.length);
  const byClass = new Map<number, number[]>();
  for (const i of [...indices].sort((a, b) => a - b)) {
    const record = records[i];
    if (!record.hasMask && !record.hasBoxes) continue;
    const list = byClass.get(record.label) ?? [];
    list.push(i);
    byClass.set(record.label, list);
  }
  const keep = new Set<number>();
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    // One stream per class, so that a class's choice does not depend on the others.
    const rng = new Random(mixSeed(options.seed ?? 0, label));
    for (const i of rng.shuffle(byClass.get(label)!).slice(0, perClass)) keep.add(i);
  }
  return keep;
}

/**
 * A view of `dataset` in which only the samples in `keep` have annotations:
 * the others load without `mask` and `boxes`, and their records say
 * `hasMask: false, hasBoxes: false`. The `ignoreMask` is kept. The view is
 * named `<name>+stripped`, so caches keyed by name do not mix it up with the
 * original.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { stripAnnotations } from "./splits.ts";
 * const image = { width: 1, height: 1, channels: 1 as const, data: new Float32Array(1) };
 * const dataset = {
 *   name: "tiny", classNames: ["a"], size: 2, skipped: [],
 *   records: [0, 1].map((i) => ({ id: `${i}`, label: 0, hasMask: true, hasBoxes: false, source: "" })),
 *   load: (i: number) => Promise.resolve({ id: `${i}`, image, label: 0, mask: new Float32Array([1]) }),
 * };
 * const few = stripAnnotations(dataset, new Set([1]));
 * assert.equal(few.records[0].hasMask, false);
 * assert.equal((await few.load(0)).mask, undefined);
 * assert.deepStrictEqual((await few.load(1)).mask, new Float32Array([1])); // kept
 * ```
 */
export function stripAnnotations(dataset: Dataset, keep: ReadonlySet<number>): Dataset {
  const records = dataset.records.map((record, i) =>
    keep.has(i) ? record : { ...record, hasMask: false, hasBoxes: false }
  );
  return {
    name: `${dataset.name}+stripped`,
    classNames: dataset.classNames,
    size: dataset.size,
    records,
    officialSplit: dataset.officialSplit,
    skipped: dataset.skipped,
    async load(index: number): Promise<Sample> {
      const sample = await dataset.load(index);
      if (keep.has(index)) return sample;
      const { mask: _mask, boxes: _boxes, ...rest } = sample;
      return rest;
    },
  };
}

/**
 * A view of the samples of `dataset` at `indices`, in that order: sample `j`
 * of the view is sample `indices[j]` of `dataset`. The class names are kept;
 * the official split is dropped, since its indices no longer apply.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { subsetDataset } from "./splits.ts";
 * const image = { width: 1, height: 1, channels: 1 as const, data: new Float32Array(1) };
 * const dataset = {
 *   name: "tiny", classNames: ["a", "b"], size: 3, skipped: [],
 *   records: [0, 1, 1].map((label, i) => ({ id: `${i}`, label, hasMask: false, hasBoxes: false, source: "" })),
 *   load: (i: number) => Promise.resolve({ id: `${i}`, image, label: i === 0 ? 0 : 1 }),
 * };
 * const view = subsetDataset(dataset, [2, 0]);
 * assert.equal(view.size, 2);
 * assert.equal((await view.load(0)).id, "2"); // the view's first sample is the dataset's third
 * assert.deepStrictEqual(view.records.map((r) => r.label), [1, 0]);
 * ```
 */
export function subsetDataset(dataset: Dataset, indices: readonly number[]): Dataset {
  checkIndices(indices, dataset.size);
  const seen = new Set<number>();
  indices.forEach((index, j) => {
    if (seen.has(index)) {
      throw new RangeError(`indices[${j}] repeats sample ${index}: a view holds each sample once`);
    }
    seen.add(index);
  });
  const chosen = [...indices];
  return {
    name: dataset.name,
    classNames: dataset.classNames,
    size: chosen.length,
    records: chosen.map((i) => dataset.records[i]),
    skipped: dataset.skipped,
    load(index: number): Promise<Sample> {
      if (!Number.isInteger(index) || index < 0 || index >= chosen.length) {
        return Promise.reject(
          new RangeError(
            `Cannot load sample ${index} of a ${chosen.length}-sample view of "${dataset.name}"`,
          ),
        );
      }
      return dataset.load(chosen[index]);
    },
  };
}

// ---- shared machinery ----

interface AssignOptions {
  seed: number;
  groups?: readonly (number | string)[];
  stratified: boolean;
}

/**
 * Places every sample in one of `fractions.length` parts, group by group:
 * groups are shuffled, then taken largest first, and each goes to the part
 * that most lacks its classes (the sum, over its members, of the part's
 * target minus its count for the member's class); ties go to the part that
 * most lacks samples overall, then to the lower part. For single-sample
 * groups this leaves every part within one sample of its target per class.
 */
function assignGroups(
  labels: readonly number[],
  fractions: readonly number[],
  options: AssignOptions,
): number[] {
  const n = labels.length;
  const classOf = options.stratified ? labels : new Array<number>(n).fill(0);
  const groups = options.groups;
  if (groups !== undefined && groups.length !== n) {
    throw new RangeError(
      `Option "groups" must hold one id per label (${n}), got ${groups.length}`,
    );
  }
  const members = new Map<number | string, number[]>();
  for (let i = 0; i < n; i++) {
    const key = groups ? groups[i] : i;
    const list = members.get(key);
    if (list) list.push(i);
    else members.set(key, [i]);
  }
  const rng = new Random(options.seed);
  const units = rng.shuffle([...members.values()]);
  units.sort((a, b) => b.length - a.length); // stable: ties keep the shuffled order

  let numClasses = 1;
  for (const c of classOf) numClasses = Math.max(numClasses, c + 1);
  const classTotal = new Array<number>(numClasses).fill(0);
  for (const c of classOf) classTotal[c]++;
  const parts = fractions.map((f) => ({
    fraction: f,
    count: 0,
    classCount: new Array<number>(numClasses).fill(0),
  }));
  const assignment = new Array<number>(n).fill(-1);
  const eps = 1e-9;
  for (const unit of units) {
    let best = -1, bestClass = -Infinity, bestTotal = -Infinity;
    parts.forEach((part, p) => {
      if (part.fraction <= 0) return;
      let lack = 0;
      for (const i of unit) {
        lack += part.fraction * classTotal[classOf[i]] - part.classCount[classOf[i]];
      }
      const totalLack = part.fraction * n - part.count;
      if (lack > bestClass + eps || (lack > bestClass - eps && totalLack > bestTotal + eps)) {
        best = p;
        bestClass = lack;
        bestTotal = totalLack;
      }
    });
    for (const i of unit) {
      assignment[i] = best;
      parts[best].count++;
      parts[best].classCount[classOf[i]]++;
    }
  }
  return assignment;
}

function splitFractions(options: StratifiedSplitOptions): number[] {
  const names = ["train", "val", "test"] as const;
  const given = names.filter((name) => options[name] !== undefined);
  if (given.length === 0) return [0.7, 0.15, 0.15];
  for (const name of given) {
    const value = options[name]!;
    if (!Number.isFinite(value) || value < 0 || value > 1) {
      throw new RangeError(`Option "${name}" must be a fraction in [0, 1], got ${value}`);
    }
  }
  const sum = given.reduce((s, name) => s + options[name]!, 0);
  const missing = names.length - given.length;
  if (missing === 0 ? Math.abs(sum - 1) > 1e-6 : sum > 1 + 1e-6) {
    const list = given.map((name) => `"${name}"`).join(" + ");
    throw new RangeError(
      `Options ${list} must sum to ${missing === 0 ? "1" : "at most 1"}, got ${
        Number(sum.toFixed(6))
      }`,
    );
  }
  const rest = Math.max(0, 1 - sum) / Math.max(1, missing);
  return names.map((name) => options[name] ?? rest);
}

function checkLabels(labels: readonly number[]): void {
  labels.forEach((label, i) => {
    if (!Number.isInteger(label) || label < 0) {
      throw new RangeError(`labels[${i}] must be a non-negative integer, got ${label}`);
    }
  });
}

function checkIndices(indices: readonly number[], size: number): void {
  indices.forEach((index, j) => {
    if (!Number.isInteger(index) || index < 0 || index >= size) {
      throw new RangeError(
        `indices[${j}] must be an integer index below the dataset size ${size}, got ${index}`,
      );
    }
  });
}

/** A 32-bit hash of (seed, key), so that child streams are unrelated. */
function mixSeed(seed: number, key: number): number {
  let h = Math.imul((seed | 0) ^ 0x85ebca6b, 0x9e3779b1) ^ Math.imul(key + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
