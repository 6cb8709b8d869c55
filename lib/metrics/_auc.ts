// Private to lib/metrics: the rank-based (Mann–Whitney) ROC-AUC.

/**
 * Ranks of `values` from 1, with tied values sharing the average of the
 * ranks they span.
 */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]] === values[order[i]]) j++;
    const r = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) ranks[order[t]] = r;
    i = j + 1;
  }
  return ranks;
}

/**
 * The Mann–Whitney form of the ROC-AUC for positives flagged by
 * `isPositive`: `(R⁺ − n⁺(n⁺+1)/2) / (n⁺ n⁻)` with average ranks, which
 * counts a tied positive–negative pair as one half. `null` when either class
 * is empty. Used by `rocAuc` and the localisation metrics.
 */
export function mannWhitneyAuc(
  scores: ArrayLike<number>,
  isPositive: (i: number) => boolean,
): number | null {
  const ranks = averageRanks(scores);
  let pos = 0, rankSum = 0;
  for (let i = 0; i < scores.length; i++) {
    if (isPositive(i)) {
      pos++;
      rankSum += ranks[i];
    }
  }
  const neg = scores.length - pos;
  if (pos === 0 || neg === 0) return null;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}
