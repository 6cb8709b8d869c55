// Number formats of the studies' Markdown and verdicts. Private to lib/studies/.

/** A share as a percentage to 1 decimal, or "n/a". */
export const pct = (v: number): string => Number.isFinite(v) ? (100 * v).toFixed(1) : "n/a";

/** A figure to 3 decimals, or "n/a". */
export const num = (v: number): string => Number.isFinite(v) ? v.toFixed(3) : "n/a";

/** A p-value to 4 decimals, "<0.0001" below that, or "n/a". */
export const pValue = (p: number): string =>
  !Number.isFinite(p) ? "n/a" : p < 1e-4 ? "<0.0001" : p.toFixed(4);

/** `mean [low, high]` in `scale`. */
export function formatFigure(
  f: { mean: number; ci: [number, number] },
  scale: (v: number) => string,
): string {
  return `${scale(f.mean)} [${scale(f.ci[0])}, ${scale(f.ci[1])}]`;
}
