import assert from "node:assert/strict";
import type { Box } from "../../lib/data/types.ts";
import {
  bestBoxIouPerThreshold,
  bestIou,
  componentBoxes,
  energyPointingGame,
  iouAtThreshold,
  type LocalizationTarget,
  maskAuc,
  maxBoxAccV2,
  MaxBoxAccV2Accumulator,
  pointingGame,
  pxap,
  PxapAccumulator,
  relevanceMassAccuracy,
  relevanceRankAccuracy,
  type ScoreMap,
  summarizeLocalization,
  topKIntersection,
} from "../../lib/metrics/localization.ts";
import { Random } from "../../lib/util/random.ts";

const close = (a: number | null, b: number, tol = 1e-12) =>
  assert.ok(a !== null && Math.abs(a - b) <= tol, `expected ${b}, got ${a}`);

/** A map from rows of numbers. */
function grid(rows: number[][]): ScoreMap {
  return { width: rows[0].length, height: rows.length, data: rows.flat() };
}

/** A mask target from rows of "1" and ".". */
function mask(rows: string[]): LocalizationTarget {
  return { mask: rows.join("").split("").map((c) => (c === "1" ? 1 : 0)) };
}

const EMPTY4 = mask(["....", "....", "....", "...."]);

// A 4 × 4 object mask used below: a 2 × 2 block at rows 1..2, columns 1..2.
const BLOCK = mask([
  "....",
  ".11.",
  ".11.",
  "....",
]);

/** A 4 × 4 map that is 0 except `value` at (row, col). */
function peak(row: number, col: number, value = 1): ScoreMap {
  const data = new Array(16).fill(0);
  data[row * 4 + col] = value;
  return { width: 4, height: 4, data };
}

Deno.test("pointingGame() scores a peak on the mask's edge pixel a hit and one just outside a miss", () => {
  // (row 1, col 2) is on the block's boundary, inside it; (row 1, col 3) is just outside.
  assert.equal(pointingGame(peak(1, 2), BLOCK), 1);
  assert.equal(pointingGame(peak(1, 3), BLOCK), 0);
  // Tolerance 1: (1, 3) is 1 pixel from (1, 2) → a hit. (0, 3) is √2 from (1, 2): a miss at 1, a hit at 1.5.
  assert.equal(pointingGame(peak(1, 3), BLOCK, { tolerance: 1 }), 1);
  assert.equal(pointingGame(peak(0, 3), BLOCK, { tolerance: 1 }), 0);
  assert.equal(pointingGame(peak(0, 3), BLOCK, { tolerance: 1.5 }), 1);
});

Deno.test("pointingGame() uses the pixel-centre rule for boxes and ORs several boxes", () => {
  // Box [1, 1, 3, 3] covers columns 1..2 (centres 1.5, 2.5); column 3 (centre 3.5) is outside
  // although its left edge x = 3 touches the box's right edge.
  const box: LocalizationTarget = { boxes: [[1, 1, 3, 3]] };
  assert.equal(pointingGame(peak(2, 2), box), 1);
  assert.equal(pointingGame(peak(2, 3), box), 0);
  // Several boxes: a peak in the second box is a hit.
  const two: LocalizationTarget = { boxes: [[0, 0, 1, 1], [3, 3, 4, 4]] };
  assert.equal(pointingGame(peak(3, 3), two), 1);
  assert.equal(pointingGame(peak(0, 3), two), 0);
});

Deno.test("pointingGame() splits tied maxima as the ties option says", () => {
  // Maxima at (0, 0) (outside the block) and (1, 1) (inside): share 1/2, any 1, first (0, 0) → 0.
  const map = peak(0, 0);
  (map.data as number[])[5] = 1;
  assert.equal(pointingGame(map, BLOCK), 0.5);
  assert.equal(pointingGame(map, BLOCK, { ties: "any" }), 1);
  assert.equal(pointingGame(map, BLOCK, { ties: "first" }), 0);
  // An all-zero map: every pixel is maximal; share = 4 object pixels / 16 = chance.
  const zero = grid([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]);
  assert.equal(pointingGame(zero, BLOCK), 0.25);
  assert.equal(pointingGame(zero, BLOCK, { ties: "first" }), 0);
});

Deno.test("pointingGame() returns null for an empty mask and names bad inputs", () => {
  assert.equal(pointingGame(peak(1, 1), EMPTY4), null);
  assert.equal(pointingGame(peak(1, 1), { boxes: [] }), null);
  assert.throws(() => pointingGame(peak(1, 1), BLOCK, { tolerance: -1 }), /Option "tolerance"/);
  assert.throws(
    () => pointingGame({ width: 4, height: 4, data: [1, 2] }, BLOCK),
    /map "data" holds 2 values, expected 4·4 = 16/,
  );
  assert.throws(
    () => pointingGame(peak(0, 0), { mask: [1, 0] }),
    /target "mask" holds 2 values, expected 4·4 = 16/,
  );
  const bad = { mask: new Array(16).fill(0) };
  bad.mask[7] = 2;
  assert.throws(
    () => pointingGame(peak(0, 0), bad),
    /target "mask"\[7\] must be in \[0, 1\], got 2/,
  );
  const nan = peak(0, 0);
  (nan.data as number[])[3] = NaN;
  assert.throws(() => pointingGame(nan, BLOCK), /map "data"\[3\] must be finite/);
  assert.throws(
    () => pointingGame({ width: 0, height: 4, data: [] }, BLOCK),
    /map "width" must be a positive integer, got 0/,
  );
});

Deno.test("energyPointingGame() is the share of positive energy on the object, as worked by hand", () => {
  // Positive parts: inside the block 0.5 + 0.25 = 0.75; outside 0.25 (the −1 counts 0) → 0.75.
  const map = grid([
    [0, 0, 0, -1],
    [0, 0.5, 0.25, 0],
    [0, 0, 0, 0],
    [0, 0.25, 0, 0],
  ]);
  close(energyPointingGame(map, BLOCK), 0.75);
  // Two overlapping boxes count the overlap once: boxes cover (1,1),(1,2),(2,1),(2,2) → 0.75 again.
  close(energyPointingGame(map, { boxes: [[1, 1, 3, 3], [1, 1, 2, 2]] }), 0.75);
  // All-zero or all-negative map: no energy anywhere → 0.
  assert.equal(energyPointingGame(grid([[0, 0], [0, 0]]), { mask: [1, 0, 0, 0] }), 0);
  assert.equal(energyPointingGame(grid([[-1, -2], [0, 0]]), { mask: [1, 0, 0, 0] }), 0);
  assert.equal(energyPointingGame(map, EMPTY4), null);
});

Deno.test("relevanceMassAccuracy() sums signed values by default, as Quantus, or |v| or max(v, 0)", () => {
  const map = grid([
    [0, 0, 0, -1],
    [0, 0.5, 0.25, 0],
    [0, 0, 0, 0],
    [0, 0.5, 0, 0],
  ]);
  // Signed: inside 0.5 + 0.25 = 0.75, total 0.75 − 1 + 0.5 = 0.25 → 3.
  close(relevanceMassAccuracy(map, BLOCK), 3);
  // Absolute: 0.75 / (0.75 + 1 + 0.5) = 1/3.
  close(relevanceMassAccuracy(map, BLOCK, { relevance: "absolute" }), 1 / 3);
  // Positive: 0.75 / (0.75 + 0.5) = 0.6.
  close(relevanceMassAccuracy(map, BLOCK, { relevance: "positive" }), 0.6);
  // A map in [0, 1] gives the same under all three: 0.75 / 1.25.
  const pos = grid([[0.75, 0.5], [0, 0]]);
  for (const relevance of ["signed", "absolute", "positive"] as const) {
    close(relevanceMassAccuracy(pos, { mask: [1, 0, 0, 0] }, { relevance }), 0.6);
  }
  // All-zero map: zero total relevance → 0, not NaN.
  assert.equal(relevanceMassAccuracy(grid([[0, 0], [0, 0]]), { mask: [0, 0, 0, 1] }), 0);
  assert.equal(relevanceMassAccuracy(map, EMPTY4), null);
  assert.throws(
    // @ts-expect-error: a bad mode on purpose
    () => relevanceMassAccuracy(map, BLOCK, { relevance: "abs" }),
    /Option "relevance" of relevanceMassAccuracy\(\) must be "signed", "absolute" or "positive", got "abs"/,
  );
});

/** The expected number of object pixels among the top-k under a uniformly random tie-break, by enumeration. */
function bruteTopK(data: number[], inside: number[], k: number): number {
  // Average over all permutations of tied positions is the same as over all orderings of the
  // indices sorted by (value desc, random key); enumerate every permutation of a small array.
  const n = data.length;
  const idx = data.map((_, i) => i);
  let total = 0, count = 0;
  const permute = (arr: number[], l: number) => {
    if (l === arr.length) {
      const order = [...arr].sort((a, b) => data[b] - data[a] || arr.indexOf(a) - arr.indexOf(b));
      total += order.slice(0, k).reduce((s, i) => s + inside[i], 0);
      count++;
      return;
    }
    for (let i = l; i < arr.length; i++) {
      [arr[l], arr[i]] = [arr[i], arr[l]];
      permute(arr, l + 1);
      [arr[l], arr[i]] = [arr[i], arr[l]];
    }
  };
  permute(idx, 0);
  assert.equal(count > 0 && n > 0, true);
  return total / count;
}

Deno.test("relevanceRankAccuracy() counts the top-K pixels on the object, ties split in expectation", () => {
  // Object = pixels 0, 1 (K = 2). Values [1, 0.5, 0.5, 0.5, 0]: pixel 0 is in the top 2;
  // the 2nd slot goes to one of pixels 1, 2, 3 (tied), on the object with probability 1/3.
  // Expected hits 1 + 1/3 → accuracy (4/3) / 2 = 2/3.
  const map = grid([[1, 0.5, 0.5, 0.5, 0]]);
  const target = { mask: [1, 1, 0, 0, 0] };
  close(relevanceRankAccuracy(map, target), 2 / 3);
  close(relevanceRankAccuracy(map, target), bruteTopK([1, 0.5, 0.5, 0.5, 0], target.mask, 2) / 2);
  // All-zero map: every pixel tied, expected hits 2 · 2/5 → 0.4, the object's share of the image.
  close(relevanceRankAccuracy(grid([[0, 0, 0, 0, 0]]), target), 0.4);
  // Perfect ranking.
  assert.equal(relevanceRankAccuracy(grid([[0.9, 0.8, 0.1, 0, 0]]), target), 1);
  assert.equal(relevanceRankAccuracy(map, { mask: [0, 0, 0, 0, 0] }), null);
});

Deno.test("topKIntersection() is |top-k ∩ object| / k, ties split in expectation", () => {
  // Values [0.9, 0.7, 0.7, 0.1, 0.3, 0.7], object pixels 0, 2, 4; k = 3:
  // 0.9 (on) is in; two slots for three tied 0.7s (pixels 1, 2, 5), one on → 2 · 1/3.
  // Expected hits 1 + 2/3 = 5/3 → 5/9.
  const data = [0.9, 0.7, 0.7, 0.1, 0.3, 0.7];
  const target = { mask: [1, 0, 1, 0, 1, 0] };
  close(topKIntersection(grid([data]), target, { k: 3 }), 5 / 9);
  close(topKIntersection(grid([data]), target, { k: 3 }), bruteTopK(data, target.mask, 3) / 3);
  // k = 1 picks 0.9 → 1; k = 6 takes everything → 3/6.
  assert.equal(topKIntersection(grid([data]), target, { k: 1 }), 1);
  assert.equal(topKIntersection(grid([data]), target, { k: 6 }), 0.5);
  assert.throws(
    () => topKIntersection(grid([data]), target),
    /Option "k" of topKIntersection\(\) must be an integer in \[1, 6\] \(the map's pixels\), got 1000/,
  );
  assert.equal(topKIntersection(grid([data]), { boxes: [] }, { k: 2 }), null);
});

Deno.test("maskAuc() equals a brute-force pixel pair count and excludes one-class masks", () => {
  const r = new Random(5);
  for (let trial = 0; trial < 10; trial++) {
    const data = Array.from({ length: 30 }, () => Math.round(r.uniform() * 5) / 5);
    const m = Array.from({ length: 30 }, (_, i) => (i < 2 ? i : r.int(2)));
    let sum = 0, pairs = 0;
    for (let i = 0; i < 30; i++) {
      for (let j = 0; j < 30; j++) {
        if (m[i] !== 1 || m[j] !== 0) continue;
        pairs++;
        sum += data[i] > data[j] ? 1 : data[i] === data[j] ? 0.5 : 0;
      }
    }
    close(maskAuc({ width: 6, height: 5, data }, { mask: m }), sum / pairs);
  }
  // All-zero map: every pair tied → 0.5.
  assert.equal(maskAuc(grid([[0, 0], [0, 0]]), { mask: [1, 0, 0, 1] }), 0.5);
  // Empty mask and full mask: undefined → null.
  assert.equal(maskAuc(grid([[1, 0], [0, 0]]), { mask: [0, 0, 0, 0] }), null);
  assert.equal(maskAuc(grid([[1, 0], [0, 0]]), { mask: [1, 1, 1, 1] }), null);
});

Deno.test("iouAtThreshold() and bestIou() match hand-worked IoUs, with v = threshold counted in", () => {
  // Object: pixels 0, 1, 2. Map [0.9, 0.5, 0.2, 0.5, 0]:
  //   τ = 0.5: predicted {0, 1, 3} (0.5 counts), ∩ = 2, ∪ = 4 → 0.5.
  //   τ = 0.2: predicted {0, 1, 2, 3}, ∩ = 3, ∪ = 4 → 0.75.
  //   τ = 0.9: predicted {0}, ∩ = 1, ∪ = 3 → 1/3.
  //   τ = 1:   nothing predicted → 0.
  const map = grid([[0.9, 0.5, 0.2, 0.5, 0]]);
  const target = { mask: [1, 1, 1, 0, 0] };
  assert.equal(iouAtThreshold(map, target), 0.5);
  assert.equal(iouAtThreshold(map, target, { threshold: 0.2 }), 0.75);
  close(iouAtThreshold(map, target, { threshold: 0.9 }), 1 / 3);
  assert.equal(iouAtThreshold(map, target, { threshold: 1 }), 0);
  assert.deepEqual(bestIou(map, target, { thresholds: [0.2, 0.5, 0.9, 1] }), {
    iou: 0.75,
    threshold: 0.2,
  });
  // bestIou() over the default grid equals the max of iouAtThreshold() over the same grid.
  const r = new Random(9);
  const rand = { width: 8, height: 8, data: Array.from(r.uniformArray(64)) };
  const m = { mask: Array.from({ length: 64 }, () => r.int(2)) };
  let best = -1;
  for (let k = 0; k < 100; k++) {
    best = Math.max(best, iouAtThreshold(rand, m, { threshold: k / 100 })!);
  }
  close(bestIou(rand, m)!.iou, best);
  assert.equal(iouAtThreshold(map, { mask: [0, 0, 0, 0, 0] }), null);
  assert.equal(bestIou(map, { mask: [0, 0, 0, 0, 0] }), null);
  assert.throws(
    () => bestIou(map, target, { thresholds: [0.5, 0.2] }),
    /strictly increasing, got 0.2 at index 1/,
  );
});

Deno.test("summarizeLocalization() averages scored images and counts the excluded ones", () => {
  const scores = [pointingGame(peak(1, 1), BLOCK), pointingGame(peak(1, 1), EMPTY4), 0];
  assert.deepEqual(summarizeLocalization(scores), {
    mean: 0.5,
    scored: 2,
    excluded: 1,
    perImage: [1, null, 0],
  });
  assert.deepEqual(summarizeLocalization([null]), {
    mean: null,
    scored: 0,
    excluded: 1,
    perImage: [null],
  });
  assert.throws(() => summarizeLocalization([1, NaN]), /scores\[1\] must be finite or null/);
});

Deno.test("componentBoxes() boxes 8-connected components separately", () => {
  // 1 1 . .
  // . . . 1      (0,0)-(0,1) one component; (1,3) and (2,2) touch diagonally; (3,0) alone.
  // . . 1 .
  // 1 . . .
  const on = Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0]);
  const boxes: Box[] = [[0, 0, 2, 1], [2, 1, 4, 3], [0, 3, 1, 4]];
  assert.deepEqual(componentBoxes(on, 4, 4), boxes);
  assert.deepEqual(componentBoxes(new Uint8Array(4), 2, 2), []);
});

// The MaxBoxAccV2 worked case: 4 × 4 images, map thresholds τ ∈ {0.25, 0.5, 0.75}.
//
// Image A, ground truth [0, 0, 2, 2]. Map: 0.8 on the top-left 2 × 2, 0.6 at (3, 3), else 0.
//   Every τ ≤ 0.75 keeps the top-left block as its own component, box [0, 0, 2, 2] → IoU 1.
//   (One box around all pixels ≥ τ would be [0, 0, 4, 4], IoU 4/16: contours matter.)
// Image B, two ground-truth boxes [0, 0, 1, 1] and [2, 2, 4, 4]. Map: 0.6 on the bottom-right
//   2 × 2, 0.3 at (row 2, col 1), else 0.
//   τ = 0.25: one component, box [1, 2, 4, 4] (area 6) vs [2, 2, 4, 4] (area 4): IoU 4/6.
//   τ = 0.5: box [2, 2, 4, 4] → IoU 1.   τ = 0.75: nothing → 0.
// Image C, ground truth [0, 0, 4, 2] (top half, area 8). Map: 0.9 on the top-left 2 × 2,
//   0.4 on the top-right 2 × 2.
//   τ = 0.25: box [0, 0, 4, 2] → IoU 1.   τ = 0.5 and 0.75: box [0, 0, 2, 2] → 4/8 = 0.5.
// Image D: an empty mask → excluded.
//
// Images correct (IoU ≥ δ), out of 3 scored:
//            τ=0.25      τ=0.5       τ=0.75
//   δ=0.3   A B C = 3   A B C = 3   A C = 2     → BoxAcc 1
//   δ=0.5   A B C = 3   A B C = 3   A C = 2     → BoxAcc 1     (C's 0.5 counts: IoU ≥ δ)
//   δ=0.7   A C = 2     A B = 2     A = 1       → BoxAcc 2/3
// MaxBoxAccV2 = (1 + 1 + 2/3) / 3 = 8/9.
const MBA_MAPS: ScoreMap[] = [
  grid([[0.8, 0.8, 0, 0], [0.8, 0.8, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0.6]]),
  grid([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0.3, 0.6, 0.6], [0, 0, 0.6, 0.6]]),
  grid([[0.9, 0.9, 0.4, 0.4], [0.9, 0.9, 0.4, 0.4], [0, 0, 0, 0], [0, 0, 0, 0]]),
  grid([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]),
];
const MBA_TARGETS: LocalizationTarget[] = [
  { boxes: [[0, 0, 2, 2]] },
  { boxes: [[0, 0, 1, 1], [2, 2, 4, 4]] },
  mask(["1111", "1111", "....", "...."]),
  EMPTY4,
];

Deno.test("maxBoxAccV2() gives 8/9 on the worked case of three images and one empty mask", () => {
  const r = maxBoxAccV2(MBA_MAPS, MBA_TARGETS, { thresholds: [0.25, 0.5, 0.75] });
  close(r.value, 8 / 9);
  assert.deepEqual(r.boxAccuracy.map((a) => a * 3), [3, 3, 2]);
  assert.deepEqual(r.bestThreshold, [0.25, 0.25, 0.25]);
  assert.equal(r.scored, 3);
  assert.equal(r.excluded, 1);
  assert.deepEqual(r.perImage, [1, 1, 1, null]);
  // Only δ = 0.7: 2/3.
  close(
    maxBoxAccV2(MBA_MAPS, MBA_TARGETS, { thresholds: [0.25, 0.5, 0.75], iouThresholds: [0.7] })
      .value,
    2 / 3,
  );
  // Only τ = 0.75: δ 0.3 → 2/3, 0.5 → 2/3, 0.7 → 1/3 → mean 5/9.
  close(maxBoxAccV2(MBA_MAPS, MBA_TARGETS, { thresholds: [0.75] }).value, 5 / 9);
});

Deno.test("MaxBoxAccV2Accumulator streams to the same result as maxBoxAccV2()", () => {
  const acc = new MaxBoxAccV2Accumulator({ thresholds: [0.25, 0.5, 0.75] });
  MBA_MAPS.forEach((m, i) => acc.add(m, MBA_TARGETS[i]));
  assert.deepEqual(
    acc.result(),
    maxBoxAccV2(MBA_MAPS, MBA_TARGETS, { thresholds: [0.25, 0.5, 0.75] }),
  );
});

Deno.test("maxBoxAccV2() scores an all-zero map by its one whole-image box at τ = 0", () => {
  // Default grid: at τ = 0 every pixel is on → box [0, 0, 4, 4] vs [0, 0, 2, 4]: IoU 8/16 = 0.5;
  // above 0 nothing is on → IoU 0. So BoxAcc is 1 at δ 0.3 and 0.5, 0 at δ 0.7 → 2/3.
  const zero = grid([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]);
  close(maxBoxAccV2([zero], [{ boxes: [[0, 0, 2, 4]] }]).value, 2 / 3);
});

Deno.test("maxBoxAccV2() names mismatched inputs and refuses when every image is excluded", () => {
  assert.throws(() => maxBoxAccV2(MBA_MAPS, []), /4 maps but 0 targets/);
  assert.throws(
    () => maxBoxAccV2([MBA_MAPS[0]], [EMPTY4]),
    /all 1 images were excluded/,
  );
  assert.throws(() => maxBoxAccV2([], [], { iouThresholds: [1.5] }), /Option "iouThresholds"/);
});

// The PxAP worked case: two 2 × 2 images plus one with an empty mask, thresholds {0.3, 0.6}.
//   Image 1: map [0.9, 0.5, 0.5, 0.1], mask [1, 0, 1, 0].
//   Image 2: map [0.7, 0.2, 0.4, 0.4], mask [1, 1, 0, 0].
//   Object pixels P = 2 + 2 = 4.
//   τ = 0.6: image 1 keeps 0.9 (on): TP 1; image 2 keeps 0.7 (on): TP 1 → TP 2, FP 0:
//            precision 1, recall 1/2.
//   τ = 0.3: image 1 keeps 0.9 (on), 0.5 (off), 0.5 (on): TP 2, FP 1;
//            image 2 keeps 0.7 (on), 0.4 (off), 0.4 (off): TP 1, FP 2 → TP 3, FP 3:
//            precision 1/2, recall 3/4.
//   PxAP = 1 · (1/2 − 0) + 1/2 · (3/4 − 1/2) = 5/8.
// Pooling matters: per-image APs are 1·1/2 + 2/3·1/2 = 5/6 and 1·1/2 + 1/3·0 = 1/2, mean 2/3.
const PX_MAPS = [
  grid([[0.9, 0.5], [0.5, 0.1]]),
  grid([[0.7, 0.2], [0.4, 0.4]]),
  grid([[1, 1], [1, 1]]),
];
const PX_TARGETS = [{ mask: [1, 0, 1, 0] }, { mask: [1, 1, 0, 0] }, { mask: [0, 0, 0, 0] }];

Deno.test("pxap() pools pixels over images: 5/8 on the worked case, with one empty mask excluded", () => {
  const r = pxap(PX_MAPS, PX_TARGETS, { thresholds: [0.3, 0.6] });
  close(r.value, 5 / 8);
  assert.deepEqual(r.precision, [0.5, 1]);
  assert.deepEqual(r.recall, [0.75, 0.5]);
  assert.equal(r.scored, 2);
  assert.equal(r.excluded, 1);
  const acc = new PxapAccumulator({ thresholds: [0.3, 0.6] });
  PX_MAPS.forEach((m, i) => acc.add(m, PX_TARGETS[i]));
  assert.deepEqual(acc.result(), r);
});

Deno.test("pxap() gives an all-zero map the object's pixel share and skips thresholds nothing reaches", () => {
  // Thresholds {0, 0.5}: at 0.5 no pixel → precision null, recall 0 (adds nothing);
  // at 0 all pixels → precision 1/4, recall 1 → PxAP 1/4.
  const r = pxap([grid([[0, 0], [0, 0]])], [{ mask: [0, 1, 0, 0] }], { thresholds: [0, 0.5] });
  assert.equal(r.value, 0.25);
  assert.deepEqual(r.precision, [0.25, null]);
  // A perfect map reaches 1 on the default grid.
  assert.equal(pxap([grid([[0, 1], [0, 0]])], [{ mask: [0, 1, 0, 0] }]).value, 1);
});

Deno.test("pxap() names mismatched inputs and refuses when every mask is empty", () => {
  assert.throws(() => pxap(PX_MAPS, []), /3 maps but 0 targets/);
  assert.throws(
    () => pxap([PX_MAPS[2]], [PX_TARGETS[2]]),
    /all 1 images were excluded \(empty masks\)/,
  );
  assert.throws(() => pxap([], [], { thresholds: [] }), /Option "thresholds" of pxap\(\) is empty/);
});

Deno.test("bestBoxIouPerThreshold() finds the same best box IoU at every threshold as a flood fill per threshold", () => {
  const rng = new Random(31);
  const grid = Array.from({ length: 25 }, (_, k) => k / 25);
  const iou = (a: Box, b: Box) => {
    const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
    const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
    const inter = w > 0 && h > 0 ? w * h : 0;
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
  };
  const byFloodFill = (data: Float32Array, width: number, height: number, gt: Box[]) =>
    grid.map((t) => {
      const on = Uint8Array.from(data, (v) => (v >= t ? 1 : 0));
      let best = 0;
      for (const box of componentBoxes(on, width, height)) {
        for (const g of gt) best = Math.max(best, iou(box, g));
      }
      return best;
    });
  for (let trial = 0; trial < 12; trial++) {
    const width = 5 + rng.int(30), height = 5 + rng.int(30);
    const data = new Float32Array(width * height);
    // Noise, smooth blobs, and values exactly on the grid (ties at a threshold).
    const blobs = Array.from({ length: 3 }, () => [rng.next() * width, rng.next() * height]);
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        const blob = Math.max(
          ...blobs.map(([x, y]) => Math.exp(-((j - x) ** 2 + (i - y) ** 2) / 20)),
        );
        const v = trial % 3 === 0
          ? rng.next()
          : trial % 3 === 1
          ? blob
          : grid[rng.int(grid.length)];
        data[i * width + j] = v;
      }
    }
    const gt: Box[] = [[1, 1, Math.ceil(width / 2), Math.ceil(height / 2)], [
      2,
      3,
      width - 1,
      height,
    ]];
    const map = { width, height, data };
    assert.deepEqual(
      bestBoxIouPerThreshold(map, grid, gt),
      byFloodFill(data, width, height, gt),
      `trial ${trial}`,
    );
  }
});

Deno.test("maskAuc() on a float32 map equals the same map as plain numbers, with ties, negatives and ±0", () => {
  const rng = new Random(77);
  for (let trial = 0; trial < 6; trial++) {
    const n = 200 + rng.int(300);
    const values = Array.from({ length: n }, () => {
      const r = rng.next();
      return r < 0.2
        ? Math.round(rng.next() * 4) / 4
        : r < 0.3
        ? (rng.next() < 0.5 ? -0 : 0)
        : rng.normal() * 3;
    });
    const f32 = Float32Array.from(values);
    const mask = Array.from({ length: n }, () => (rng.next() < 0.4 ? 1 : 0));
    const plain = maskAuc({ width: n, height: 1, data: Array.from(f32) }, { mask });
    const packed = maskAuc({ width: n, height: 1, data: f32 }, { mask });
    assert.equal(packed, plain, `trial ${trial}`);
  }
});
