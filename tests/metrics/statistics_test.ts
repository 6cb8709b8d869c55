import assert from "node:assert/strict";
import {
  aggregateSeeds,
  averageRanks,
  bootstrapCi,
  pairedBootstrap,
  spearman,
  wilcoxonSignedRank,
} from "../../lib/metrics/statistics.ts";
import { Random } from "../../lib/util/random.ts";

function close(actual: number, expected: number, tol = 1e-9, label = ""): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${label}: got ${actual}, expected ${expected} (tolerance ${tol})`,
  );
}

Deno.test("averageRanks() gives tied values the mean of the ranks they span", () => {
  // Sorted: 1 (rank 1), 2, 2, 2 (ranks 2..4 → 3), 7 (rank 5).
  assert.deepEqual(Array.from(averageRanks([2, 7, 2, 1, 2])), [3, 5, 3, 1, 3]);
});

Deno.test("spearman() with ties matches the hand-computed correlation of average ranks", () => {
  // ranks a = [1, 2.5, 2.5, 4], ranks b = [1, 4, 2.5, 2.5] (both mean 2.5);
  // deviations a = [-1.5, 0, 0, 1.5], b = [-1.5, 1.5, 0, 0];
  // Σ da·db = 2.25, Σ da² = Σ db² = 4.5 → ρ = 2.25 / 4.5 = 0.5.
  close(spearman([1, 2, 2, 3], [1, 3, 2, 2]), 0.5, 1e-12, "rho");
  // Monotone but non-linear: ρ = 1 (Pearson would not be).
  close(spearman([1, 2, 3, 4, 5], [1, 4, 9, 100, 1000]), 1, 1e-12, "monotone");
});

Deno.test("spearman() is NaN for a constant input and rejects bad input by name", () => {
  assert.ok(Number.isNaN(spearman([0, 0, 0], [1, 2, 3])));
  assert.throws(
    () => spearman([1, 2], [1, 2, 3]),
    /"a" and "b" must have the same length, got 2 and 3/,
  );
  assert.throws(
    () => spearman([1, NaN, 3], [1, 2, 3]),
    /"a" must hold finite numbers, got NaN at index 1/,
  );
  assert.throws(() => spearman([1], [1]), /"a" must hold at least 2 value/);
});

Deno.test("wilcoxonSignedRank() gives the exact table p-values for small n", () => {
  // n = 5, all positive: W+ = 15, the largest of 2^5 equally likely sums:
  // P(W ≥ 15) = 1/32, two-sided p = 2/32 = 0.0625.
  const all = wilcoxonSignedRank([1, 2, 3, 4, 5], [0, 0, 0, 0, 0]);
  assert.equal(all.statistic, 15);
  assert.equal(all.method, "exact");
  close(all.pValue, 0.0625, 1e-15, "n=5");
  // n = 8, positive ranks {1, 2}: W+ = 3. Subsets of 1..8 with sum ≤ 3:
  // {}, {1}, {2}, {3}, {1,2} → 5, so p = 2 · 5 / 256 = 0.0390625.
  const d = [0.1, 0.2, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8];
  const r = wilcoxonSignedRank(d, new Array(8).fill(0));
  assert.equal(r.statistic, 3);
  close(r.pValue, 0.0390625, 1e-15, "n=8");
  // n = 3, W+ = 3 = n(n+1)/4, the centre: both tails are 5/8, so p = 1.
  close(wilcoxonSignedRank([1, 2, -3], [0, 0, 0]).pValue, 1, 0, "centre");
  // Swapping a and b gives the same two-sided p.
  close(wilcoxonSignedRank(new Array(8).fill(0), d).pValue, 0.0390625, 1e-15, "swap");
});

Deno.test("wilcoxonSignedRank() uses the normal approximation with tie, zero and continuity corrections", () => {
  // d = [0, 1, -1, 2, 2, 3, 4, -5, 6, 7, 0]: the two zeros are dropped, n = 9.
  // |d| = 1,1,2,2,3,4,5,6,7 → ranks 1.5,1.5,3.5,3.5,5,6,7,8,9.
  // W+ = 1.5 + 3.5 + 3.5 + 5 + 6 + 8 + 9 = 36.5; mean 9·10/4 = 22.5;
  // variance 9·10·19/24 - ((2³-2) + (2³-2))/48 = 71.25 - 0.25 = 71;
  // z = (36.5 - 22.5 - 0.5) / √71 = 1.6021556; p = 2(1 - Φ(z)) = 0.1091213.
  const d = [0, 1, -1, 2, 2, 3, 4, -5, 6, 7, 0];
  const r = wilcoxonSignedRank(d, new Array(d.length).fill(0));
  assert.equal(r.method, "normal");
  assert.equal(r.n, 9);
  assert.equal(r.zeros, 2);
  assert.equal(r.statistic, 36.5);
  close(r.z!, 13.5 / Math.sqrt(71), 1e-12, "z");
  close(r.pValue, 0.1091213, 1e-6, "p");
  // Without continuity correction: z = 14 / √71, p = 2(1 - Φ(1.6614962)) = 0.0966142.
  close(
    wilcoxonSignedRank(d, new Array(d.length).fill(0), { continuity: false }).pValue,
    0.0966142,
    1e-6,
    "no cc",
  );
});

Deno.test("wilcoxonSignedRank() gives p = 1 when every difference is zero and rejects unpaired input", () => {
  const r = wilcoxonSignedRank([1, 2, 3], [1, 2, 3]);
  assert.equal(r.pValue, 1);
  assert.equal(r.n, 0);
  assert.throws(
    () => wilcoxonSignedRank([1, 2, 3], [1, 2]),
    /"a" and "b" must be paired \(same length\), got 3 and 2/,
  );
});

Deno.test("bootstrapCi() is seeded, brackets the mean and collapses on a constant sample", () => {
  const values = [0.2, 0.5, 0.9, 0.4, 0.7, 0.3];
  const a = bootstrapCi(values, { seed: 7, resamples: 500 });
  const b = bootstrapCi(values, { seed: 7, resamples: 500 });
  assert.deepEqual(a, b);
  close(a.estimate, 0.5, 1e-12, "estimate");
  assert.ok(a.low < 0.5 && 0.5 < a.high);
  // Means of resamples lie within [min, max] of the data.
  assert.ok(a.low >= 0.2 && a.high <= 0.9);
  const c = bootstrapCi([3, 3, 3], { seed: 1 });
  assert.deepEqual([c.estimate, c.low, c.high], [3, 3, 3]);
  // A custom statistic: the median.
  const m = bootstrapCi([1, 2, 3, 4, 100], {
    statistic: (xs) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)],
  });
  assert.equal(m.estimate, 3);
});

Deno.test("bootstrapCi() of a normal mean covers the truth at about the nominal 95% rate", () => {
  // 200 samples of 40 from N(0.5, 1); the percentile interval of the mean
  // should cover 0.5 in about 95% of them (binomial sd ≈ 1.5 points).
  const rng = new Random(2024);
  let covered = 0;
  const reps = 200;
  for (let r = 0; r < reps; r++) {
    const sample = Array.from({ length: 40 }, () => rng.normal(0.5, 1));
    const ci = bootstrapCi(sample, { resamples: 1000, seed: r });
    if (ci.low <= 0.5 && 0.5 <= ci.high) covered++;
  }
  const rate = covered / reps;
  assert.ok(Math.abs(rate - 0.95) <= 0.05, `coverage ${rate}`);
});

Deno.test("bootstrapCi() rejects empty samples, non-finite values and bad options by name", () => {
  assert.throws(() => bootstrapCi([]), /"values" must hold at least 1 value\(s\), got 0/);
  assert.throws(
    () => bootstrapCi([1, Infinity]),
    /"values" must hold finite numbers, got Infinity at index 1/,
  );
  assert.throws(
    () => bootstrapCi([1, 2], { level: 1 }),
    /Option "level" must lie in \(0, 1\), got 1/,
  );
  assert.throws(
    () => bootstrapCi([1, 2], { resamples: 0 }),
    /Option "resamples" must be a positive integer, got 0/,
  );
});

Deno.test("pairedBootstrap() is the interval of the mean paired difference", () => {
  // Every difference is 0.1: the estimate and both ends are 0.1.
  const r = pairedBootstrap([0.5, 0.6, 0.7], [0.4, 0.5, 0.6], { seed: 3 });
  close(r.estimate, 0.1, 1e-12, "estimate");
  close(r.low, 0.1, 1e-12, "low");
  close(r.high, 0.1, 1e-12, "high");
  // The same as bootstrapCi of the differences with the same seed.
  const a = [1, 4, 2, 8, 5], b = [0, 1, 3, 2, 2];
  assert.deepEqual(
    pairedBootstrap(a, b, { seed: 9, resamples: 300 }),
    bootstrapCi([1, 3, -1, 6, 3], { seed: 9, resamples: 300 }),
  );
  assert.throws(() => pairedBootstrap([1, 2], [1]), /paired \(same length\), got 2 and 1/);
});

Deno.test("aggregateSeeds() gives mean ± std and the t interval of the mean", () => {
  // [1..5]: mean 3, std √2.5 = 1.5811388; t(4, 0.975) = 2.7764451;
  // half-width = 2.7764451 · 1.5811388 / √5 = 1.9632432.
  const r = aggregateSeeds([1, 2, 3, 4, 5]);
  close(r.mean, 3, 1e-12, "mean");
  close(r.std, Math.sqrt(2.5), 1e-12, "std");
  close(r.high - r.mean, 1.9632432, 1e-6, "half-width");
  close(r.mean - r.low, 1.9632432, 1e-6, "symmetric");
  // Two seeds at the 90% level: t(1, 0.95) = 6.3137515; std of [0, 2] = √2.
  const two = aggregateSeeds([0, 2], { level: 0.9 });
  close(two.high - 1, 6.3137515 * Math.sqrt(2) / Math.sqrt(2), 1e-6, "t(1)");
  // One seed: std 0 and an unbounded interval, not a zero-width one.
  const one = aggregateSeeds([0.7]);
  assert.deepEqual([one.mean, one.std, one.low, one.high], [0.7, 0, -Infinity, Infinity]);
  assert.throws(() => aggregateSeeds([]), /"values" must hold at least 1/);
});
