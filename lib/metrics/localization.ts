/**
 * Localisation metrics: how well a saliency map agrees with a ground-truth
 * object mask or boxes.
 *
 * Conventions, shared by every function here:
 * - A map is a {@linkcode ScoreMap}: `height · width` values, row-major
 *   (one image of an explainer's `[N, H, W]` output). Thresholded metrics
 *   assume values in [0, 1], as every explainer returns.
 * - A target is a {@linkcode LocalizationTarget}: `{ mask }` (`height · width`
 *   values in [0, 1]; a pixel is in the object when its value is at least
 *   `0.5`) or `{ boxes }` ({@linkcode Box}es in pixel-edge coordinates,
 *   rasterised with {@linkcode boxesToMask}: a pixel is inside when its centre
 *   is). Several boxes are OR-ed.
 * - A target with no object pixel (an empty mask, as for BUSI's normal
 *   class, or no boxes) cannot be scored: per-image functions return `null`
 *   for it, never 0 or NaN, and {@linkcode summarizeLocalization},
 *   {@linkcode maxBoxAccV2} and {@linkcode pxap} report how many images they
 *   excluded.
 * - Ties are split in expectation: where a metric picks "the" maximal pixel
 *   or "the" top-k pixels and several pixels tie, the score is its expected
 *   value when the tie is broken uniformly at random.
 *
 * @module
 */
import { boxesToMask } from "../data/annotations.ts";
import type { Box } from "../data/types.ts";
import { mannWhitneyAuc } from "./_auc.ts";

/** One saliency map: `height · width` values, row-major. */
export interface ScoreMap {
  /** Width in pixels, a positive integer. */
  width: number;
  /** Height in pixels, a positive integer. */
  height: number;
  /** `height · width` finite values, row-major. */
  data: ArrayLike<number>;
}

/**
 * The ground truth of one image: a mask (`height · width` values in [0, 1],
 * object where ≥ 0.5) or a list of boxes (pixel-edge coordinates).
 */
export type LocalizationTarget = { mask: ArrayLike<number> } | { boxes: readonly Box[] };

/**
 * The default map thresholds: `0, 0.01, …, 0.99` (Choe et al.'s grid).
 *
 * @example 100 thresholds
 * ```ts
 * import assert from "node:assert";
 * import { defaultThresholds } from "./localization.ts";
 * const grid = defaultThresholds();
 * assert.equal(grid.length, 100);
 * assert.equal(grid[0], 0);
 * assert.equal(grid[1], 0.01);
 * assert.equal(grid[99], 0.99);
 * ```
 */
export function defaultThresholds(): number[] {
  return Array.from({ length: 100 }, (_, k) => k / 100);
}

function checkMap(map: ScoreMap, fn: string): number {
  const { width, height, data } = map;
  for (const [name, v] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(
        `Cannot compute ${fn}(): map "${name}" must be a positive integer, got ${v}`,
      );
    }
  }
  const n = width * height;
  if (data.length !== n) {
    throw new RangeError(
      `Cannot compute ${fn}(): map "data" holds ${data.length} values, expected ${width}·${height} = ${n}`,
    );
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(data[i])) {
      throw new RangeError(
        `Cannot compute ${fn}(): map "data"[${i}] must be finite, got ${data[i]}`,
      );
    }
  }
  return n;
}

/** The target as a 0/1 mask of the map's size, and its pixel count. */
function targetMask(
  map: ScoreMap,
  target: LocalizationTarget,
  fn: string,
): { inside: Uint8Array; area: number } {
  const n = checkMap(map, fn);
  const inside = new Uint8Array(n);
  if ("mask" in target) {
    const mask = target.mask;
    if (mask.length !== n) {
      throw new RangeError(
        `Cannot compute ${fn}(): target "mask" holds ${mask.length} values, expected ${map.width}·${map.height} = ${n}`,
      );
    }
    for (let i = 0; i < n; i++) {
      if (!(mask[i] >= 0 && mask[i] <= 1)) {
        throw new RangeError(
          `Cannot compute ${fn}(): target "mask"[${i}] must be in [0, 1], got ${mask[i]}`,
        );
      }
      inside[i] = mask[i] >= 0.5 ? 1 : 0;
    }
  } else if ("boxes" in target && Array.isArray(target.boxes)) {
    const m = boxesToMask(target.boxes, map);
    for (let i = 0; i < n; i++) inside[i] = m[i];
  } else {
    throw new TypeError(`Cannot compute ${fn}(): target must be { mask } or { boxes }`);
  }
  let area = 0;
  for (let i = 0; i < n; i++) area += inside[i];
  return { inside, area };
}

/** Options of {@linkcode pointingGame}. */
export interface PointingGameOptions {
  /**
   * A maximal pixel also counts as a hit when its centre is within this
   * Euclidean distance (in pixels) of an object pixel's centre. Zhang et al.
   * use 15 on full-size images.
   * @default {0}
   */
  tolerance?: number;
  /**
   * What to do when several pixels share the maximum: `"share"` scores the
   * share of them that hit (the expected hit rate under a random tie-break,
   * so an all-constant map scores the chance rate); `"any"` scores 1 when any
   * of them hits; `"first"` looks only at the first in row-major order.
   * @default {"share"}
   */
  ties?: "share" | "any" | "first";
}

/**
 * The pointing game (Zhang et al. 2016): 1 when the map's maximum lies on the
 * object (within `tolerance` pixels), else 0; in [0, 1] with ties split as
 * `ties` says. `null` when the target has no object pixel.
 *
 * @param map The saliency map.
 * @param target The object mask or boxes.
 *
 * @example Peak inside a box
 * ```ts
 * import assert from "node:assert";
 * import { pointingGame } from "./localization.ts";
 * const map = { width: 3, height: 2, data: [0, 0.2, 0.9, 0, 0.1, 0.3] };
 * assert.equal(pointingGame(map, { boxes: [[2, 0, 3, 1]] }), 1);
 * assert.equal(pointingGame(map, { boxes: [[0, 1, 1, 2]] }), 0);
 * ```
 */
export function pointingGame(
  map: ScoreMap,
  target: LocalizationTarget,
  options: PointingGameOptions = {},
): number | null {
  const fn = "pointingGame";
  const { inside, area } = targetMask(map, target, fn);
  const tol = options.tolerance ?? 0;
  const ties = options.ties ?? "share";
  if (!(tol >= 0) || !Number.isFinite(tol)) {
    throw new RangeError(`Option "tolerance" of ${fn}() must be a finite number ≥ 0, got ${tol}`);
  }
  if (ties !== "share" && ties !== "any" && ties !== "first") {
    throw new RangeError(
      `Option "ties" of ${fn}() must be "share", "any" or "first", got "${ties}"`,
    );
  }
  if (area === 0) return null;
  const { width, height, data } = map;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) if (data[i] > max) max = data[i];
  const r = Math.floor(tol);
  const hit = (p: number): boolean => {
    if (inside[p]) return true;
    const pi = Math.floor(p / width), pj = p % width;
    for (let i = Math.max(0, pi - r); i <= Math.min(height - 1, pi + r); i++) {
      for (let j = Math.max(0, pj - r); j <= Math.min(width - 1, pj + r); j++) {
        if (inside[i * width + j] && (i - pi) ** 2 + (j - pj) ** 2 <= tol * tol) return true;
      }
    }
    return false;
  };
  let maxima = 0, hits = 0;
  for (let p = 0; p < data.length; p++) {
    if (data[p] !== max) continue;
    const h = hit(p);
    if (ties === "first") return h ? 1 : 0;
    if (h && ties === "any") return 1;
    maxima++;
    if (h) hits++;
  }
  return ties === "any" ? 0 : hits / maxima;
}

/**
 * The energy-based pointing game (Wang et al. 2020, Score-CAM): the share of
 * the map's positive energy `Σ max(v, 0)` that lies on the object. A map with
 * no positive value puts no energy on the object and scores 0. `null` when
 * the target has no object pixel.
 *
 * @param map The saliency map.
 * @param target The object mask or boxes.
 *
 * @example Three quarters inside
 * ```ts
 * import assert from "node:assert";
 * import { energyPointingGame } from "./localization.ts";
 * const map = { width: 2, height: 2, data: [0.75, 0.25, -0.5, 0] };
 * assert.equal(energyPointingGame(map, { boxes: [[0, 0, 1, 1]] }), 0.75);
 * ```
 */
export function energyPointingGame(map: ScoreMap, target: LocalizationTarget): number | null {
  const { inside, area } = targetMask(map, target, "energyPointingGame");
  if (area === 0) return null;
  let total = 0, within = 0;
  for (let i = 0; i < inside.length; i++) {
    const v = Math.max(map.data[i], 0);
    total += v;
    if (inside[i]) within += v;
  }
  return total > 0 ? within / total : 0;
}

/** Options of {@linkcode relevanceMassAccuracy}. */
export interface RelevanceMassOptions {
  /**
   * Which relevance is summed: `"signed"` the values as they are (Quantus's
   * default, `abs=False`); `"absolute"` their magnitudes (Quantus's
   * `abs=True`); `"positive"` only the positive part (Arras et al.).
   * Quantus also normalises each map first by default; we do not, as
   * explainers already return maps in [0, 1], where all three agree.
   * @default {"signed"}
   */
  relevance?: "signed" | "absolute" | "positive";
}

/**
 * Relevance mass accuracy (Arras et al. 2022; Quantus): the relevance on the
 * object over the total relevance, `Σ_{in} r / Σ r`. A map with zero total
 * relevance scores 0. `null` when the target has no object pixel.
 *
 * @param map The saliency map.
 * @param target The object mask or boxes.
 *
 * @example Signed, absolute and positive relevance
 * ```ts
 * import assert from "node:assert";
 * import { relevanceMassAccuracy } from "./localization.ts";
 * const map = { width: 3, height: 1, data: [0.75, -0.25, 0.5] };
 * const target = { mask: [1, 0, 0] };
 * assert.equal(relevanceMassAccuracy(map, target), 0.75); // 0.75 / (0.75 - 0.25 + 0.5)
 * assert.equal(relevanceMassAccuracy(map, target, { relevance: "absolute" }), 0.5); // 0.75 / 1.5
 * assert.equal(relevanceMassAccuracy(map, target, { relevance: "positive" }), 0.6); // 0.75 / 1.25
 * ```
 */
export function relevanceMassAccuracy(
  map: ScoreMap,
  target: LocalizationTarget,
  options: RelevanceMassOptions = {},
): number | null {
  const fn = "relevanceMassAccuracy";
  const { inside, area } = targetMask(map, target, fn);
  const mode = options.relevance ?? "signed";
  if (mode !== "signed" && mode !== "absolute" && mode !== "positive") {
    throw new RangeError(
      `Option "relevance" of ${fn}() must be "signed", "absolute" or "positive", got "${mode}"`,
    );
  }
  if (area === 0) return null;
  let total = 0, within = 0;
  for (let i = 0; i < inside.length; i++) {
    const x = map.data[i];
    const v = mode === "absolute" ? Math.abs(x) : mode === "positive" ? Math.max(x, 0) : x;
    total += v;
    if (inside[i]) within += v;
  }
  return total !== 0 ? within / total : 0;
}

/**
 * How many of the `k` highest-valued pixels are object pixels, ties at the
 * cut split in expectation: pixels strictly above the `k`-th value all count,
 * and the remaining slots go to the pixels tied at it in proportion to how
 * many of those are object pixels.
 */
function topKHits(data: ArrayLike<number>, inside: Uint8Array, k: number): number {
  const sorted = Float64Array.from(data).sort();
  const cut = sorted[sorted.length - k];
  let above = 0, aboveHits = 0, tied = 0, tiedHits = 0;
  for (let i = 0; i < inside.length; i++) {
    if (data[i] > cut) {
      above++;
      aboveHits += inside[i];
    } else if (data[i] === cut) {
      tied++;
      tiedHits += inside[i];
    }
  }
  return aboveHits + ((k - above) * tiedHits) / tied;
}

/**
 * Relevance rank accuracy (Arras et al. 2022; Quantus): with `K` the number
 * of object pixels, the share of the object covered by the map's `K`
 * highest-valued pixels, `|top-K ∩ object| / K`. Ties at the cut are split in
 * expectation. `null` when the target has no object pixel.
 *
 * @param map The saliency map.
 * @param target The object mask or boxes.
 *
 * @example Half of the object
 * ```ts
 * import assert from "node:assert";
 * import { relevanceRankAccuracy } from "./localization.ts";
 * const map = { width: 4, height: 1, data: [0.9, 0.1, 0.8, 0.2] };
 * assert.equal(relevanceRankAccuracy(map, { mask: [1, 1, 0, 0] }), 0.5);
 * ```
 */
export function relevanceRankAccuracy(map: ScoreMap, target: LocalizationTarget): number | null {
  const { inside, area } = targetMask(map, target, "relevanceRankAccuracy");
  if (area === 0) return null;
  return topKHits(map.data, inside, area) / area;
}

/** Options of {@linkcode topKIntersection}. */
export interface TopKIntersectionOptions {
  /** How many of the highest-valued pixels to take (Quantus's default). @default {1000} */
  k?: number;
}

/**
 * Top-k intersection (Theiner et al. 2022; Quantus): the share of the map's
 * `k` highest-valued pixels that lie on the object, `|top-k ∩ object| / k`.
 * Ties at the cut are split in expectation. `null` when the target has no
 * object pixel.
 *
 * @param map The saliency map.
 * @param target The object mask or boxes.
 * @throws {RangeError} When `k` exceeds the number of pixels.
 *
 * @example k = 2
 * ```ts
 * import assert from "node:assert";
 * import { topKIntersection } from "./localization.ts";
 * const map = { width: 4, height: 1, data: [0.9, 0.1, 0.8, 0.2] };
 * assert.equal(topKIntersection(map, { mask: [1, 0, 0, 0] }, { k: 2 }), 0.5);
 * ```
 */
export function topKIntersection(
  map: ScoreMap,
  target: LocalizationTarget,
  options: TopKIntersectionOptions = {},
): number | null {
  const { inside, area } = targetMask(map, target, "topKIntersection");
  const k = options.k ?? 1000;
  if (!Number.isInteger(k) || k < 1 || k > inside.length) {
    throw new RangeError(
      `Option "k" of topKIntersection() must be an integer in [1, ${inside.length}] (the map's pixels), got ${k}`,
    );
  }
  if (area === 0) return null;
  return topKHits(map.data, inside, k) / k;
}

/**
 * The ROC-AUC of the map's values as scores for object pixels against
 * background pixels (a tied pair counts one half). `null` when the target has
 * no object pixel or no background pixel.
 *
 * @param map The saliency map.
 * @param target The object mask or boxes.
 *
 * @example Object pixels score higher except one tie
 * ```ts
 * import assert from "node:assert";
 * import { maskAuc } from "./localization.ts";
 * const map = { width: 4, height: 1, data: [0.9, 0.5, 0.5, 0.1] };
 * // Pairs (object, background): (0.9, 0.5) win, (0.9, 0.1) win, (0.5, 0.5) tie, (0.5, 0.1) win.
 * assert.equal(maskAuc(map, { mask: [1, 1, 0, 0] }), 0.875); // (3 + 1/2) / 4
 * ```
 */
export function maskAuc(map: ScoreMap, target: LocalizationTarget): number | null {
  const { inside } = targetMask(map, target, "maskAuc");
  return mannWhitneyAuc(map.data, (i) => inside[i] === 1);
}

/** Options of {@linkcode iouAtThreshold}. */
export interface IouOptions {
  /** Pixels with a map value at or above this are predicted object. @default {0.5} */
  threshold?: number;
}

/**
 * The intersection over union of the thresholded map (`v ≥ threshold`) with
 * the object, `|P ∩ G| / |P ∪ G|`. `null` when the target has no object pixel.
 *
 * @param map The saliency map.
 * @param target The object mask or boxes.
 *
 * @example One of three
 * ```ts
 * import assert from "node:assert";
 * import { iouAtThreshold } from "./localization.ts";
 * const map = { width: 3, height: 1, data: [0.9, 0.6, 0.1] };
 * // On: pixels 0 and 1; object: 0 and 2; one shared of three.
 * assert.equal(iouAtThreshold(map, { mask: [1, 0, 1] }, { threshold: 0.5 }), 1 / 3);
 * ```
 */
export function iouAtThreshold(
  map: ScoreMap,
  target: LocalizationTarget,
  options: IouOptions = {},
): number | null {
  const { inside, area } = targetMask(map, target, "iouAtThreshold");
  const t = options.threshold ?? 0.5;
  if (!Number.isFinite(t)) {
    throw new RangeError(`Option "threshold" of iouAtThreshold() must be finite, got ${t}`);
  }
  if (area === 0) return null;
  let inter = 0, predicted = 0;
  for (let i = 0; i < inside.length; i++) {
    if (map.data[i] >= t) {
      predicted++;
      inter += inside[i];
    }
  }
  return inter / (area + predicted - inter);
}

/** Options of the threshold-sweeping metrics. */
export interface ThresholdGridOptions {
  /**
   * The map thresholds to sweep, finite and strictly increasing.
   * @default {[0, 0.01, …, 0.99] (100 values, Choe et al.'s grid; see defaultThresholds())}
   */
  thresholds?: readonly number[];
}

/** What {@linkcode bestIou} returns. */
export interface BestIou {
  /** The largest IoU over the thresholds. */
  iou: number;
  /** The smallest threshold reaching it. */
  threshold: number;
}

function checkGrid(options: ThresholdGridOptions, fn: string): readonly number[] {
  const grid = options.thresholds ?? defaultThresholds();
  if (grid.length === 0) throw new RangeError(`Option "thresholds" of ${fn}() is empty`);
  grid.forEach((t, k) => {
    if (!Number.isFinite(t) || (k > 0 && !(t > grid[k - 1]))) {
      throw new RangeError(
        `Option "thresholds" of ${fn}() must be finite and strictly increasing, got ${t} at index ${k}`,
      );
    }
  });
  return grid;
}

/** The number of thresholds `≤ v` in the increasing `grid`: pixel v is predicted at grid[j] iff j < count. */
function countAtOrBelow(grid: readonly number[], v: number): number {
  let lo = 0, hi = grid.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (grid[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Per-threshold counts of predicted object and background pixels: tp[j] and
 * fp[j] count pixels with `v ≥ grid[j]` on the object and off it.
 */
function sweepCounts(
  data: ArrayLike<number>,
  inside: Uint8Array,
  grid: readonly number[],
): { tp: Float64Array; fp: Float64Array } {
  const t = grid.length;
  const posHist = new Float64Array(t + 1), negHist = new Float64Array(t + 1);
  for (let i = 0; i < inside.length; i++) {
    const c = countAtOrBelow(grid, data[i]);
    if (inside[i]) posHist[c]++;
    else negHist[c]++;
  }
  const tp = new Float64Array(t), fp = new Float64Array(t);
  let p = posHist[t], q = negHist[t];
  for (let j = t - 1; j >= 0; j--) {
    tp[j] = p;
    fp[j] = q;
    p += posHist[j];
    q += negHist[j];
  }
  return { tp, fp };
}

/**
 * The IoU of the thresholded map with the object at the best of the
 * thresholds (an oracle threshold per image, an upper bound). `null` when the
 * target has no object pixel.
 *
 * @param map The saliency map.
 * @param target The object mask or boxes.
 *
 * @example The best threshold
 * ```ts
 * import assert from "node:assert";
 * import { bestIou } from "./localization.ts";
 * const map = { width: 3, height: 1, data: [0.9, 0.6, 0.1] };
 * const best = bestIou(map, { mask: [1, 1, 0] }, { thresholds: [0.2, 0.5, 0.8] });
 * assert.deepStrictEqual(best, { iou: 1, threshold: 0.2 });
 * ```
 */
export function bestIou(
  map: ScoreMap,
  target: LocalizationTarget,
  options: ThresholdGridOptions = {},
): BestIou | null {
  const { inside, area } = targetMask(map, target, "bestIou");
  const grid = checkGrid(options, "bestIou");
  if (area === 0) return null;
  const { tp, fp } = sweepCounts(map.data, inside, grid);
  let best = { iou: -1, threshold: grid[0] };
  grid.forEach((t, j) => {
    const iou = tp[j] / (area + fp[j]);
    if (iou > best.iou) best = { iou, threshold: t };
  });
  return best;
}

/** What {@linkcode summarizeLocalization} returns. */
export interface LocalizationSummary {
  /** The mean over scored images; `null` when none was scored. */
  mean: number | null;
  /** Images scored. */
  scored: number;
  /** Images excluded because their target had no object pixel (`null` scores). */
  excluded: number;
  /** The per-image scores as given, `null` for excluded images. */
  perImage: (number | null)[];
}

/**
 * The mean of per-image localisation scores over the images that could be
 * scored, with the number excluded (the `null`s, such as empty masks).
 *
 * @param scores One score per image, `null` where the image was excluded.
 *
 * @example One empty mask
 * ```ts
 * import assert from "node:assert";
 * import { summarizeLocalization } from "./localization.ts";
 * const s = summarizeLocalization([1, null, 0.5]);
 * assert.equal(s.mean, 0.75);
 * assert.equal(s.scored, 2);
 * assert.equal(s.excluded, 1);
 * ```
 */
export function summarizeLocalization(scores: readonly (number | null)[]): LocalizationSummary {
  let sum = 0, scored = 0;
  scores.forEach((s, i) => {
    if (s === null) return;
    if (!Number.isFinite(s)) {
      throw new RangeError(
        `Cannot summarise scores: scores[${i}] must be finite or null, got ${s}`,
      );
    }
    sum += s;
    scored++;
  });
  return {
    mean: scored > 0 ? sum / scored : null,
    scored,
    excluded: scores.length - scored,
    perImage: [...scores],
  };
}

/** Options of {@linkcode maxBoxAccV2} and {@linkcode MaxBoxAccV2Accumulator}. */
export interface MaxBoxAccOptions extends ThresholdGridOptions {
  /** The box IoU thresholds δ to average over. @default {[0.3, 0.5, 0.7]} */
  iouThresholds?: readonly number[];
}

/** What {@linkcode maxBoxAccV2} returns. */
export interface MaxBoxAccResult {
  /** The mean over `iouThresholds` of `boxAccuracy`. */
  value: number;
  /** For each IoU threshold δ, the best over map thresholds of the share of images whose best box IoU reaches δ. */
  boxAccuracy: number[];
  /** For each IoU threshold δ, the map threshold giving `boxAccuracy` (the smallest, on ties). */
  bestThreshold: number[];
  /** Images scored. */
  scored: number;
  /** Images excluded because they had no ground-truth box or object pixel. */
  excluded: number;
  /** Per image (in order added), the best box IoU over all map thresholds; `null` for excluded images. */
  perImage: (number | null)[];
}

/** The IoU of two boxes in pixel-edge coordinates. */
function boxIou(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  const inter = w > 0 && h > 0 ? w * h : 0;
  const areaA = (a[2] - a[0]) * (a[3] - a[1]), areaB = (b[2] - b[0]) * (b[3] - b[1]);
  return inter / (areaA + areaB - inter);
}

/**
 * The bounding boxes (pixel-edge coordinates) of the 8-connected components
 * of the pixels with `on[p] = 1` in a `height · width` row-major grid, in
 * row-major order of each component's first pixel.
 *
 * @example Two components; diagonal neighbours join
 * ```ts
 * import assert from "node:assert";
 * import { componentBoxes } from "./localization.ts";
 * const on = Uint8Array.from([1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0]); // 4 × 3
 * assert.deepStrictEqual(componentBoxes(on, 4, 3), [[0, 0, 1, 1], [1, 1, 3, 3]]);
 * ```
 */
export function componentBoxes(on: Uint8Array, width: number, height: number): Box[] {
  const label = new Uint8Array(on.length);
  const stack = new Int32Array(on.length);
  const boxes: Box[] = [];
  for (let start = 0; start < on.length; start++) {
    if (!on[start] || label[start]) continue;
    let top = 0;
    stack[top++] = start;
    label[start] = 1;
    let x1 = width, y1 = height, x2 = -1, y2 = -1;
    while (top > 0) {
      const p = stack[--top];
      const i = Math.floor(p / width), j = p - i * width;
      if (j < x1) x1 = j;
      if (j > x2) x2 = j;
      if (i < y1) y1 = i;
      if (i > y2) y2 = i;
      for (let di = -1; di <= 1; di++) {
        const ni = i + di;
        if (ni < 0 || ni >= height) continue;
        for (let dj = -1; dj <= 1; dj++) {
          const nj = j + dj;
          if (nj < 0 || nj >= width) continue;
          const q = ni * width + nj;
          if (on[q] && !label[q]) {
            label[q] = 1;
            stack[top++] = q;
          }
        }
      }
    }
    boxes.push([x1, y1, x2 + 1, y2 + 1]);
  }
  return boxes;
}

/**
 * For each threshold of the increasing `grid`, the best IoU between the
 * bounding box of an 8-connected component of the pixels `≥ threshold` and
 * a box of `gt`: the boxes {@linkcode componentBoxes} gives at each
 * threshold, found in one pass. Pixels are added from the highest threshold
 * down, each joined to its active neighbours with union-find, and each
 * component keeps its box; so the whole grid costs one sweep over the
 * pixels instead of one flood fill per threshold (100 of them by default).
 */
export function bestBoxIouPerThreshold(
  map: ScoreMap,
  grid: readonly number[],
  gt: readonly Box[],
): number[] {
  const { width, height, data } = map;
  const n = width * height;
  // Pixels by the highest threshold they reach; those below every threshold never join.
  const level = new Int32Array(n);
  const counts = new Int32Array(grid.length + 1);
  for (let p = 0; p < n; p++) {
    const c = countAtOrBelow(grid, data[p]);
    level[p] = c;
    counts[c]++;
  }
  const starts = new Int32Array(grid.length + 2);
  for (let c = 0; c <= grid.length; c++) starts[c + 1] = starts[c] + counts[c];
  const order = new Int32Array(n);
  const fill = starts.slice(0, grid.length + 1);
  for (let p = 0; p < n; p++) order[fill[level[p]]++] = p;
  const parent = new Int32Array(n).fill(-1); // -1: not active yet
  const x1 = new Int32Array(n),
    y1 = new Int32Array(n),
    x2 = new Int32Array(n),
    y2 = new Int32Array(n);
  const find = (p: number): number => {
    let r = p;
    while (parent[r] !== r) r = parent[r];
    while (parent[p] !== r) {
      const next = parent[p];
      parent[p] = r;
      p = next;
    }
    return r;
  };
  const roots = new Set<number>();
  const best = new Array<number>(grid.length).fill(0);
  // A pixel with `c` thresholds at or below its value is on at grid[j] for every j < c.
  for (let j = grid.length - 1; j >= 0; j--) {
    // The pixels that turn on at grid[j]: exactly j + 1 thresholds at or below them.
    for (let k = starts[j + 1]; k < starts[j + 2]; k++) {
      const p = order[k];
      const i = Math.floor(p / width), col = p - i * width;
      parent[p] = p;
      x1[p] = col, x2[p] = col + 1, y1[p] = i, y2[p] = i + 1;
      roots.add(p);
      for (let di = -1; di <= 1; di++) {
        const ni = i + di;
        if (ni < 0 || ni >= height) continue;
        for (let dj = -1; dj <= 1; dj++) {
          const nj = col + dj;
          if ((di === 0 && dj === 0) || nj < 0 || nj >= width) continue;
          const q = ni * width + nj;
          if (parent[q] === -1) continue;
          const a = find(p), b = find(q);
          if (a === b) continue;
          parent[b] = a;
          roots.delete(b);
          x1[a] = Math.min(x1[a], x1[b]), y1[a] = Math.min(y1[a], y1[b]);
          x2[a] = Math.max(x2[a], x2[b]), y2[a] = Math.max(y2[a], y2[b]);
        }
      }
    }
    let b = 0;
    for (const r of roots) {
      const box: Box = [x1[r], y1[r], x2[r], y2[r]];
      for (const g of gt) b = Math.max(b, boxIou(box, g));
    }
    best[j] = b;
  }
  return best;
}

/**
 * Streams images into MaxBoxAccV2 (Choe et al., CVPR 2020) so the evaluator
 * keeps only per-threshold hit counts and one number per image. See
 * {@linkcode maxBoxAccV2} for the definition.
 *
 * @example Two images, one at a time
 * ```ts
 * import assert from "node:assert";
 * import { MaxBoxAccV2Accumulator } from "./localization.ts";
 * const acc = new MaxBoxAccV2Accumulator({ thresholds: [0.5] });
 * acc.add({ width: 2, height: 1, data: [1, 0] }, { boxes: [[0, 0, 1, 1]] }); // IoU 1
 * acc.add({ width: 2, height: 1, data: [1, 0] }, { mask: [0, 0] }); // excluded
 * assert.equal(acc.result().value, 1);
 * assert.equal(acc.result().excluded, 1);
 * ```
 */
export class MaxBoxAccV2Accumulator {
  #grid: readonly number[];
  #deltas: readonly number[];
  #hits: Float64Array[];
  #perImage: (number | null)[] = [];

  /** Starts with no images. */
  constructor(options: MaxBoxAccOptions = {}) {
    this.#grid = checkGrid(options, "maxBoxAccV2");
    this.#deltas = options.iouThresholds ?? [0.3, 0.5, 0.7];
    if (this.#deltas.length === 0 || !this.#deltas.every((d) => d >= 0 && d <= 1)) {
      throw new RangeError(
        `Option "iouThresholds" of maxBoxAccV2() must be a non-empty list of numbers in [0, 1], got [${
          this.#deltas.join(", ")
        }]`,
      );
    }
    this.#hits = this.#deltas.map(() => new Float64Array(this.#grid.length));
  }

  /**
   * Adds one image. A `{ mask }` target becomes one box, the tight box
   * around its object pixels; a target with no box or object pixel is
   * excluded and counted.
   */
  add(map: ScoreMap, target: LocalizationTarget): void {
    checkMap(map, "maxBoxAccV2");
    let gt: readonly Box[];
    if ("boxes" in target && Array.isArray(target.boxes)) {
      gt = target.boxes;
    } else {
      const { inside, area } = targetMask(map, target, "maxBoxAccV2");
      gt = area > 0 ? tightBoxOf(inside, map.width) : [];
    }
    if (gt.length === 0) {
      this.#perImage.push(null);
      return;
    }
    const best = bestBoxIouPerThreshold(map, this.#grid, gt);
    let bestOverall = 0;
    best.forEach((b, j) => {
      bestOverall = Math.max(bestOverall, b);
      this.#deltas.forEach((d, k) => {
        if (b >= d) this.#hits[k][j]++;
      });
    });
    this.#perImage.push(bestOverall);
  }

  /** The result over the images added so far. */
  result(): MaxBoxAccResult {
    const scored = this.#perImage.filter((v) => v !== null).length;
    const boxAccuracy: number[] = [], bestThreshold: number[] = [];
    this.#hits.forEach((row) => {
      let bj = 0;
      for (let j = 1; j < row.length; j++) if (row[j] > row[bj]) bj = j;
      boxAccuracy.push(scored > 0 ? row[bj] / scored : 0);
      bestThreshold.push(this.#grid[bj]);
    });
    if (scored === 0) {
      throw new RangeError(
        `Cannot compute maxBoxAccV2(): all ${this.#perImage.length} images were excluded (no box or object pixel)`,
      );
    }
    return {
      value: boxAccuracy.reduce((s, a) => s + a, 0) / boxAccuracy.length,
      boxAccuracy,
      bestThreshold,
      scored,
      excluded: this.#perImage.length - scored,
      perImage: [...this.#perImage],
    };
  }
}

/** The tight box around every object pixel of a mask, as a one-box list. */
function tightBoxOf(inside: Uint8Array, width: number): Box[] {
  let x1 = Infinity, y1 = Infinity, x2 = -1, y2 = -1;
  for (let p = 0; p < inside.length; p++) {
    if (!inside[p]) continue;
    const i = Math.floor(p / width), j = p % width;
    x1 = Math.min(x1, j);
    x2 = Math.max(x2, j);
    y1 = Math.min(y1, i);
    y2 = Math.max(y2, i);
  }
  return [[x1, y1, x2 + 1, y2 + 1]];
}

/**
 * MaxBoxAccV2 (Choe et al., "Evaluating weakly supervised object
 * localization methods right", CVPR 2020). For each map threshold τ, each
 * 8-connected component of `{v ≥ τ}` gives a box (its tight bounding box);
 * an image is correct at (τ, δ) when any of those boxes has IoU ≥ δ with any
 * ground-truth box. `BoxAcc(δ) = max_τ` (share of images correct at (τ, δ)),
 * and MaxBoxAccV2 is the mean of `BoxAcc(δ)` over δ ∈ {0.3, 0.5, 0.7}.
 * Images without a box (or object pixel, for masks) are excluded and
 * counted. A `{ mask }` target gives one box around all its object pixels.
 *
 * Departures from the reference code: components are 8-connected regions
 * (the outer contours of OpenCV's `findContours`); the boxes of hole
 * contours, which lie inside their region's box, are not added. No min-max
 * normalisation is applied: pass maps in [0, 1].
 *
 * @param maps One map per image.
 * @param targets One target per image.
 * @throws {RangeError} When every image is excluded.
 *
 * @example A perfect map and a blank one
 * ```ts
 * import assert from "node:assert";
 * import { maxBoxAccV2 } from "./localization.ts";
 * const target = { boxes: [[0, 0, 1, 1]] as [number, number, number, number][] };
 * const good = { width: 2, height: 2, data: [1, 0, 0, 0] };
 * const blank = { width: 2, height: 2, data: [0, 0, 0, 0] }; // its only box is the whole image: IoU 1/4
 * assert.equal(maxBoxAccV2([good, blank], [target, target]).value, 0.5);
 * ```
 */
export function maxBoxAccV2(
  maps: readonly ScoreMap[],
  targets: readonly LocalizationTarget[],
  options: MaxBoxAccOptions = {},
): MaxBoxAccResult {
  if (maps.length !== targets.length) {
    throw new RangeError(
      `Cannot compute maxBoxAccV2(): ${maps.length} maps but ${targets.length} targets`,
    );
  }
  const acc = new MaxBoxAccV2Accumulator(options);
  maps.forEach((m, i) => acc.add(m, targets[i]));
  return acc.result();
}

/** What {@linkcode pxap} returns. */
export interface PxapResult {
  /** The area under the pooled pixel precision–recall curve. */
  value: number;
  /** Pixel precision per threshold; `null` where no pixel reaches the threshold. */
  precision: (number | null)[];
  /** Pixel recall per threshold. */
  recall: number[];
  /** The thresholds. */
  thresholds: number[];
  /** Images scored. */
  scored: number;
  /** Images excluded because their mask has no object pixel. */
  excluded: number;
}

/**
 * Streams images into PxAP, keeping only per-threshold pixel counts. See
 * {@linkcode pxap} for the definition.
 *
 * @example Add images one at a time
 * ```ts
 * import assert from "node:assert";
 * import { PxapAccumulator } from "./localization.ts";
 * const acc = new PxapAccumulator({ thresholds: [0.5] });
 * acc.add({ width: 2, height: 1, data: [1, 0] }, { mask: [1, 0] });
 * assert.equal(acc.result().value, 1);
 * ```
 */
export class PxapAccumulator {
  #grid: readonly number[];
  #tp: Float64Array;
  #fp: Float64Array;
  #positives = 0;
  #scored = 0;
  #excluded = 0;

  /** Starts with no images. */
  constructor(options: ThresholdGridOptions = {}) {
    this.#grid = checkGrid(options, "pxap");
    this.#tp = new Float64Array(this.#grid.length);
    this.#fp = new Float64Array(this.#grid.length);
  }

  /** Adds one image; one whose target has no object pixel is excluded and counted. */
  add(map: ScoreMap, target: LocalizationTarget): void {
    const { inside, area } = targetMask(map, target, "pxap");
    if (area === 0) {
      this.#excluded++;
      return;
    }
    const { tp, fp } = sweepCounts(map.data, inside, this.#grid);
    for (let j = 0; j < tp.length; j++) {
      this.#tp[j] += tp[j];
      this.#fp[j] += fp[j];
    }
    this.#positives += area;
    this.#scored++;
  }

  /** The result over the images added so far. */
  result(): PxapResult {
    if (this.#scored === 0) {
      throw new RangeError(
        `Cannot compute pxap(): all ${this.#excluded} images were excluded (empty masks)`,
      );
    }
    const t = this.#grid.length;
    const precision: (number | null)[] = [], recall: number[] = [];
    for (let j = 0; j < t; j++) {
      const predicted = this.#tp[j] + this.#fp[j];
      precision.push(predicted > 0 ? this.#tp[j] / predicted : null);
      recall.push(this.#tp[j] / this.#positives);
    }
    // Σ over thresholds from the highest down of precision · (gain in recall).
    let value = 0, prevRecall = 0;
    for (let j = t - 1; j >= 0; j--) {
      if (precision[j] !== null) value += precision[j]! * (recall[j] - prevRecall);
      prevRecall = recall[j];
    }
    return {
      value,
      precision,
      recall,
      thresholds: [...this.#grid],
      scored: this.#scored,
      excluded: this.#excluded,
    };
  }
}

/**
 * PxAP (Choe et al., CVPR 2020): the area under the pixel precision–recall
 * curve, with true and false positives pooled over all images at each map
 * threshold τ (`PxPrec(τ) = TP/(TP+FP)`, `PxRec(τ) = TP/P`), computed as
 * the step sum `Σ_l PxPrec(τ_l) · (PxRec(τ_l) − PxRec(τ_{l+1}))` over the
 * thresholds in decreasing order, starting from recall 0 above the top
 * threshold. Images whose target has no object pixel are excluded and
 * counted.
 *
 * @param maps One map per image.
 * @param targets One target per image.
 * @throws {RangeError} When every image is excluded.
 *
 * @example One image, two thresholds
 * ```ts
 * import assert from "node:assert";
 * import { pxap } from "./localization.ts";
 * const map = { width: 4, height: 1, data: [0.9, 0.6, 0.6, 0.1] };
 * // τ = 0.8: P = 1, R = 1/2; τ = 0.5: P = 2/3, R = 1 → 1 · 1/2 + 2/3 · 1/2.
 * const r = pxap([map], [{ mask: [1, 1, 0, 0] }], { thresholds: [0.5, 0.8] });
 * assert.ok(Math.abs(r.value - 5 / 6) < 1e-12);
 * ```
 */
export function pxap(
  maps: readonly ScoreMap[],
  targets: readonly LocalizationTarget[],
  options: ThresholdGridOptions = {},
): PxapResult {
  if (maps.length !== targets.length) {
    throw new RangeError(
      `Cannot compute pxap(): ${maps.length} maps but ${targets.length} targets`,
    );
  }
  const acc = new PxapAccumulator(options);
  maps.forEach((m, i) => acc.add(m, targets[i]));
  return acc.result();
}
