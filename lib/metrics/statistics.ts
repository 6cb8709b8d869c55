/**
 * Statistics for reporting metrics with their uncertainty: percentile
 * bootstrap confidence intervals over images, paired comparisons of two
 * models or explainers on the same images (paired bootstrap and the Wilcoxon
 * signed-rank test), aggregation over training seeds (mean ± std with a
 * t-based interval), and Spearman's rank correlation.
 *
 * Everything here works on plain number arrays; nothing makes tensors.
 *
 * @module
 */
import { Random } from "../util/random.ts";

/** A confidence interval around an estimate. */
export interface ConfidenceInterval {
  /** The statistic on the original sample (for paired tests: of the differences). */
  estimate: number;
  /** The lower end of the interval. */
  low: number;
  /** The upper end of the interval. */
  high: number;
  /** The nominal coverage, in (0, 1). */
  level: number;
}

/** Options of {@linkcode bootstrapCi} and {@linkcode pairedBootstrap}. */
export interface BootstrapOptions {
  /** The nominal coverage of the interval, in (0, 1). @default {0.95} */
  level?: number;
  /** How many bootstrap resamples to draw. @default {2000} */
  resamples?: number;
  /** Seed of the resampling. @default {0} */
  seed?: number;
  /**
   * The statistic, computed on the sample and on every resample (the
   * resample is a new array that the function may reorder).
   *
   * @default {the mean}
   */
  statistic?: (values: number[]) => number;
}

/** A bootstrap interval: a {@linkcode ConfidenceInterval} and its sample size. */
export interface BootstrapResult extends ConfidenceInterval {
  /** The number of values resampled. */
  n: number;
  /** The number of resamples drawn. */
  resamples: number;
}

function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s / values.length;
}

function checkValues(values: ArrayLike<number>, name: string, min = 1): void {
  if (values === null || values === undefined || typeof values.length !== "number") {
    throw new TypeError(`Argument "${name}" must be an array of numbers, got ${typeof values}`);
  }
  if (values.length < min) {
    throw new RangeError(
      `Argument "${name}" must hold at least ${min} value(s), got ${values.length}`,
    );
  }
  for (let i = 0; i < values.length; i++) {
    if (typeof values[i] !== "number" || !Number.isFinite(values[i])) {
      throw new RangeError(
        `Argument "${name}" must hold finite numbers, got ${values[i]} at index ${i}`,
      );
    }
  }
}

function checkLevel(level: number): void {
  if (!(level > 0 && level < 1)) {
    throw new RangeError(`Option "level" must lie in (0, 1), got ${level}`);
  }
}

/** The `q` quantile of sorted `xs` with linear interpolation (R's type 7). */
function quantileSorted(xs: ArrayLike<number>, q: number): number {
  const pos = (xs.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo);
}

/** What {@linkcode summarizeScores} says of per-image scores. */
export interface ScoreSummary {
  /** The mean over the scored values (NaN when none was). */
  mean: number;
  /** Its percentile bootstrap interval, `[low, high]`. */
  ci: [number, number];
  /** Values scored: finite numbers. */
  scored: number;
  /** Values left out: `null` or not finite (a metric that does not apply to the image). */
  excluded: number;
}

/**
 * Per-image scores summarised: the mean of the finite ones with its
 * {@linkcode bootstrapCi}, and how many were scored and left out (`null`
 * or non-finite); with none scored, the mean and interval are NaN.
 *
 * @example Two images left out
 * ```ts
 * import assert from "node:assert";
 * import { summarizeScores } from "./statistics.ts";
 * const s = summarizeScores([0.2, null, 0.4, NaN, 0.6], { seed: 1, resamples: 200 });
 * assert.deepStrictEqual([s.scored, s.excluded], [3, 2]);
 * assert.ok(Math.abs(s.mean - 0.4) < 1e-12 && s.ci[0] <= s.mean && s.mean <= s.ci[1]);
 * assert.ok(Number.isNaN(summarizeScores([null]).mean));
 * ```
 */
export function summarizeScores(
  values: readonly (number | null)[],
  options: BootstrapOptions = {},
): ScoreSummary {
  const scored = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (scored.length === 0) return { mean: NaN, ci: [NaN, NaN], scored: 0, excluded: values.length };
  const b = bootstrapCi(scored, options);
  return {
    mean: b.estimate,
    ci: [b.low, b.high],
    scored: scored.length,
    excluded: values.length - scored.length,
  };
}

/**
 * The percentile bootstrap confidence interval of a statistic (by default
 * the mean) over `values`, e.g. one metric's per-image values: `resamples`
 * samples of the same size are drawn with replacement, the statistic is
 * computed on each, and the interval runs between the `(1 - level) / 2`
 * and `(1 + level) / 2` quantiles of those (linear interpolation between
 * order statistics). Seeded, so the same call gives the same interval.
 *
 * Throws a `RangeError` for an empty sample or a non-finite value.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { bootstrapCi } from "./statistics.ts";
 * const ci = bootstrapCi([0.61, 0.72, 0.55, 0.68, 0.70, 0.59], { seed: 1 });
 * assert.ok(Math.abs(ci.estimate - 3.85 / 6) < 1e-12); // the mean
 * assert.ok(ci.low < ci.estimate && ci.estimate < ci.high);
 * ```
 */
export function bootstrapCi(
  values: ArrayLike<number>,
  options: BootstrapOptions = {},
): BootstrapResult {
  const { level = 0.95, resamples = 2000, seed = 0, statistic } = options;
  checkValues(values, "values");
  checkLevel(level);
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new RangeError(`Option "resamples" must be a positive integer, got ${resamples}`);
  }
  const n = values.length;
  const stat = statistic ?? mean;
  const estimate = stat(Array.from(values));
  const rng = new Random(seed);
  const stats = new Float64Array(resamples);
  const sample: number[] = new Array(n);
  for (let r = 0; r < resamples; r++) {
    if (statistic) {
      for (let i = 0; i < n; i++) sample[i] = values[rng.int(n)];
      stats[r] = stat(sample.slice());
    } else {
      let s = 0;
      for (let i = 0; i < n; i++) s += values[rng.int(n)];
      stats[r] = s / n;
    }
  }
  if (stats.some((v) => Number.isNaN(v))) {
    throw new RangeError(`Option "statistic" returned NaN on a resample`);
  }
  stats.sort();
  return {
    estimate,
    low: quantileSorted(stats, (1 - level) / 2),
    high: quantileSorted(stats, (1 + level) / 2),
    level,
    n,
    resamples,
  };
}

/**
 * The paired bootstrap of two models or explainers scored on the same
 * images: the percentile bootstrap interval (as {@linkcode bootstrapCi}) of
 * the statistic (by default the mean) of the differences `a[i] - b[i]`,
 * resampling images, so the pairing is kept. `estimate` is the observed
 * mean difference; an interval that excludes 0 says `a` and `b` differ.
 *
 * Throws a `RangeError` when the lengths differ.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { pairedBootstrap } from "./statistics.ts";
 * const a = [0.8, 0.7, 0.9, 0.6, 0.75];
 * const b = [0.6, 0.65, 0.7, 0.5, 0.7];
 * const d = pairedBootstrap(a, b, { seed: 3 });
 * assert.ok(Math.abs(d.estimate - 0.12) < 1e-12); // the mean difference
 * assert.ok(d.low > 0); // a beats b
 * ```
 */
export function pairedBootstrap(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  options: BootstrapOptions = {},
): BootstrapResult {
  const diffs = pairedDifferences(a, b);
  return bootstrapCi(diffs, options);
}

function pairedDifferences(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  checkValues(a, "a");
  checkValues(b, "b");
  if (a.length !== b.length) {
    throw new RangeError(
      `Arguments "a" and "b" must be paired (same length), got ${a.length} and ${b.length}`,
    );
  }
  return Array.from({ length: a.length }, (_, i) => a[i] - b[i]);
}

/**
 * Ranks of `values` from 1, ties getting the average of the ranks they
 * span (`[10, 20, 20, 30]` → `[1, 2.5, 2.5, 4]`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { averageRanks } from "./statistics.ts";
 * assert.deepStrictEqual(Array.from(averageRanks([10, 20, 20, 30])), [1, 2.5, 2.5, 4]);
 * ```
 */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => values[i] - values[j]);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]] === values[order[i]]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]] = r;
    i = j + 1;
  }
  return ranks;
}

/**
 * Spearman's rank correlation: the Pearson correlation of the average ranks
 * (ties share the mean of their ranks), so it is exact with ties. Returns
 * `NaN` when either input is constant (an all-zero map), where the
 * correlation is undefined; callers count those rather than score them.
 * Throws a `RangeError` for fewer than two values, different lengths or a
 * non-finite value.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { spearman } from "./statistics.ts";
 * assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
 * assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
 * ```
 */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkValues(a, "a", 2);
  checkValues(b, "b", 2);
  if (a.length !== b.length) {
    throw new RangeError(
      `Arguments "a" and "b" must have the same length, got ${a.length} and ${b.length}`,
    );
  }
  const ra = averageRanks(a), rb = averageRanks(b);
  const ma = mean(ra), mb = mean(rb);
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < ra.length; i++) {
    const da = ra[i] - ma, db = rb[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa === 0 || sbb === 0) return NaN;
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

/** Options of {@linkcode wilcoxonSignedRank}. */
export interface WilcoxonOptions {
  /**
   * Use the exact null distribution when there are at most this many
   * non-zero differences and no ties among their absolute values.
   *
   * @default {50}
   */
  exactMaxN?: number;
  /** Apply the continuity correction (±0.5) in the normal approximation. @default {true} */
  continuity?: boolean;
}

/** The result of {@linkcode wilcoxonSignedRank}. */
export interface WilcoxonResult {
  /** `W+`: the sum of the ranks of the positive differences `a - b`. */
  statistic: number;
  /** The two-sided p-value. */
  pValue: number;
  /** The number of non-zero differences (zeros are dropped). */
  n: number;
  /** The number of zero differences dropped. */
  zeros: number;
  /** Whether the exact distribution or the normal approximation gave `pValue`. */
  method: "exact" | "normal";
  /** The standardised statistic of the normal approximation (`null` when exact). */
  z: number | null;
}

/**
 * The Wilcoxon signed-rank test of paired samples (two-sided), e.g. one
 * metric of two explainers on the same images.
 *
 * Zero differences are dropped (Wilcoxon's original rule, R's default).
 * The absolute values of the others are ranked with average ranks for ties,
 * and `W+` sums the ranks of the positive ones. With at most `exactMaxN`
 * non-zero differences and no ties the p-value comes from the exact null
 * distribution of `W+` (counting the subsets of `1..n` with each rank sum):
 * `p = min(1, 2 min(P(W ≤ w), P(W ≥ w)))`. Otherwise it uses the normal
 * approximation with mean `n(n+1)/4`, variance
 * `n(n+1)(2n+1)/24 - Σ(t³ - t)/48` over groups of `t` tied ranks, and a
 * continuity correction of 0.5 towards the mean (as R's `wilcox.test`).
 * With no non-zero difference at all the p-value is 1.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { wilcoxonSignedRank } from "./statistics.ts";
 * // Five positive differences of distinct size: W+ = 15, p = 2 / 2^5.
 * const r = wilcoxonSignedRank([3, 5, 7, 9, 11], [2, 3, 4, 5, 6]);
 * assert.equal(r.statistic, 15);
 * assert.equal(r.pValue, 2 / 2 ** 5);
 * assert.equal(r.method, "exact");
 * ```
 */
export function wilcoxonSignedRank(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  options: WilcoxonOptions = {},
): WilcoxonResult {
  const { exactMaxN = 50, continuity = true } = options;
  const diffs = pairedDifferences(a, b);
  const nonZero = diffs.filter((d) => d !== 0);
  const n = nonZero.length;
  const zeros = diffs.length - n;
  if (n === 0) return { statistic: 0, pValue: 1, n, zeros, method: "exact", z: null };
  const ranks = averageRanks(nonZero.map(Math.abs));
  let w = 0;
  for (let i = 0; i < n; i++) if (nonZero[i] > 0) w += ranks[i];
  // Tie groups among the absolute values.
  const counts = new Map<number, number>();
  for (const r of ranks) counts.set(r, (counts.get(r) ?? 0) + 1);
  let tieTerm = 0;
  for (const t of counts.values()) tieTerm += t * t * t - t;
  if (n <= exactMaxN && tieTerm === 0) {
    const dist = signedRankCounts(n);
    const total = 2 ** n;
    let lower = 0, upper = 0;
    for (let s = 0; s < dist.length; s++) {
      if (s <= w) lower += dist[s];
      if (s >= w) upper += dist[s];
    }
    const pValue = Math.min(1, 2 * Math.min(lower, upper) / total);
    return { statistic: w, pValue, n, zeros, method: "exact", z: null };
  }
  const mu = n * (n + 1) / 4;
  const variance = n * (n + 1) * (2 * n + 1) / 24 - tieTerm / 48;
  const diff = w - mu;
  const correction = continuity ? Math.sign(diff) * 0.5 : 0;
  const z = variance > 0 ? (diff - correction) / Math.sqrt(variance) : 0;
  const pValue = Math.min(1, 2 * normalCdf(-Math.abs(z)));
  return { statistic: w, pValue, n, zeros, method: "normal", z };
}

/** How many subsets of {1..n} have each rank sum 0..n(n+1)/2. */
function signedRankCounts(n: number): Float64Array {
  const max = n * (n + 1) / 2;
  const counts = new Float64Array(max + 1);
  counts[0] = 1;
  for (let k = 1; k <= n; k++) {
    for (let s = max; s >= k; s--) counts[s] += counts[s - k];
  }
  return counts;
}

/** Options of {@linkcode aggregateSeeds}. */
export interface AggregateOptions {
  /** The nominal coverage of the t interval, in (0, 1). @default {0.95} */
  level?: number;
}

/** The result of {@linkcode aggregateSeeds}. */
export interface SeedAggregate extends ConfidenceInterval {
  /** The mean over seeds (also `estimate`). */
  mean: number;
  /** The sample standard deviation over seeds (denominator `n - 1`; 0 for one seed). */
  std: number;
  /** The number of seeds. */
  n: number;
}

/**
 * Aggregates one metric over training seeds: the mean, the sample standard
 * deviation, and the t-based confidence interval of the mean,
 * `mean ± t(n-1, (1+level)/2) · std / √n`. With a single seed the std is 0
 * and the interval is `[-Infinity, Infinity]` (undefined, not zero-width).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { aggregateSeeds } from "./statistics.ts";
 * const r = aggregateSeeds([0.80, 0.82, 0.78]);
 * // std = 0.02, t(2, 0.975) = 4.3027, half-width = 4.3027 · 0.02 / √3 ≈ 0.0497
 * assert.ok(Math.abs(r.mean - 0.8) < 1e-12);
 * assert.ok(Math.abs(r.std - 0.02) < 1e-12);
 * assert.ok(Math.abs(r.high - r.mean - 4.3027 * 0.02 / Math.sqrt(3)) < 1e-5);
 * ```
 */
export function aggregateSeeds(
  values: ArrayLike<number>,
  options: AggregateOptions = {},
): SeedAggregate {
  const { level = 0.95 } = options;
  checkValues(values, "values");
  checkLevel(level);
  const n = values.length;
  const m = mean(values);
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - m) ** 2;
  const std = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
  const half = n > 1 ? studentTQuantile((1 + level) / 2, n - 1) * std / Math.sqrt(n) : Infinity;
  return { estimate: m, mean: m, std, n, low: m - half, high: m + half, level };
}

// ---------------------------------------------------------------------------
// Special functions (written from their textbook definitions).

/** ln Γ(x) for x > 0: shift up to x ≥ 10, then Stirling's series. */
function lnGamma(x: number): number {
  let shift = 0;
  while (x < 10) {
    shift += Math.log(x);
    x += 1;
  }
  const x2 = x * x;
  const series = 1 / (12 * x) - 1 / (360 * x * x2) + 1 / (1260 * x * x2 * x2) -
    1 / (1680 * x * x2 * x2 * x2);
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + series - shift;
}

/** The continued fraction of the incomplete beta (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1, d = 1 - (a + b) * x / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) +
    b * Math.log(1 - x);
  if (x < (a + 1) / (a + b + 2)) {
    return Math.exp(lnFront) * betaContinuedFraction(a, b, x) / a;
  }
  return 1 - Math.exp(lnFront) * betaContinuedFraction(b, a, 1 - x) / b;
}

/** The regularised lower incomplete gamma P(a, x). */
function incompleteGammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  const lnFront = a * Math.log(x) - x - lnGamma(a);
  if (x < a + 1) {
    // Series: P = e^{-x} x^a / Γ(a+1) Σ x^k / ((a+1)…(a+k)).
    let term = 1 / a, sum = term;
    for (let k = 1; k < 10000; k++) {
      term *= x / (a + k);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return sum * Math.exp(lnFront);
  }
  // Continued fraction for Q = 1 - P (modified Lentz).
  const tiny = 1e-300;
  let b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return 1 - Math.exp(lnFront) * h;
}

/** The standard normal CDF, Φ(z) = (1 + sign(z) P(1/2, z²/2)) / 2. */
function normalCdf(z: number): number {
  const p = incompleteGammaP(0.5, z * z / 2);
  return z >= 0 ? 0.5 + 0.5 * p : 0.5 - 0.5 * p;
}

/** Student's t CDF with `nu` degrees of freedom. */
function studentTCdf(t: number, nu: number): number {
  const tail = 0.5 * incompleteBeta(nu / (nu + t * t), nu / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The `p` quantile of Student's t with `nu` degrees of freedom (p > 0.5), by bisection. */
function studentTQuantile(p: number, nu: number): number {
  let lo = 0, hi = 1;
  while (studentTCdf(hi, nu) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-13 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, nu) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** What {@linkcode pairedTest} says of two paired samples. */
export interface PairedTestResult {
  /** Pairs where both values are finite numbers (the rest are left out). */
  n: number;
  /** The mean of `baseline` over those pairs. */
  meanBaseline: number;
  /** The mean of `treatment` over those pairs. */
  meanTreatment: number;
  /** `treatment − baseline`: the mean paired difference and its bootstrap interval. */
  difference: { estimate: number; ci: [number, number] };
  /** The two-sided Wilcoxon signed-rank p-value of the same differences. */
  wilcoxonP: number;
}

/**
 * Compares paired values, one pair per image (or seed): the mean of
 * `treatment − baseline` with a paired bootstrap interval, and the Wilcoxon
 * signed-rank p-value. The sign convention is fixed: a positive difference
 * means the treatment scored higher. Pairs with a `null` or non-finite
 * value on either side are left out; with none left every figure is NaN.
 *
 * @example A treatment that adds 0.1 to every image
 * ```ts
 * import assert from "node:assert";
 * import { pairedTest } from "./statistics.ts";
 * const baseline = [0.2, 0.5, null, 0.4, 0.3, 0.6, 0.1, 0.7];
 * const treatment = baseline.map((v) => (v === null ? 0.9 : v + 0.1));
 * const r = pairedTest(baseline, treatment, { seed: 1, resamples: 500 });
 * assert.equal(r.n, 7);
 * assert.ok(Math.abs(r.difference.estimate - 0.1) < 1e-12);
 * assert.ok(r.difference.ci[0] > 0.09 && r.wilcoxonP < 0.05);
 * ```
 */
export function pairedTest(
  baseline: readonly (number | null)[],
  treatment: readonly (number | null)[],
  options: BootstrapOptions = {},
): PairedTestResult {
  if (baseline.length !== treatment.length) {
    throw new RangeError(
      `pairedTest needs one treatment value per baseline value, got ${baseline.length} and ${treatment.length}`,
    );
  }
  const xb: number[] = [], xt: number[] = [];
  baseline.forEach((v, i) => {
    const u = treatment[i];
    if (v !== null && u !== null && Number.isFinite(v) && Number.isFinite(u)) {
      xb.push(v);
      xt.push(u);
    }
  });
  if (xb.length === 0) {
    return {
      n: 0,
      meanBaseline: NaN,
      meanTreatment: NaN,
      difference: { estimate: NaN, ci: [NaN, NaN] },
      wilcoxonP: NaN,
    };
  }
  const d = pairedBootstrap(xt, xb, options);
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  return {
    n: xb.length,
    meanBaseline: mean(xb),
    meanTreatment: mean(xt),
    difference: { estimate: d.estimate, ci: [d.low, d.high] },
    wilcoxonP: wilcoxonSignedRank(xt, xb).pValue,
  };
}
