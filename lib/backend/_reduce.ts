// Sum and Mean for wasm over leading or middle axes. The engine transposes
// the reduced axes to the end first, which costs 30–40 ms for a fresh
// [32768, 64] tensor reduced over axis 0. We reduce `x[outer, R, inner]`
// instead as the matrix product `xᵀ · ones` (a transposed product, which our
// BatchMatMul runs on XNNPACK after one transposing copy), or, from 2^20
// elements up and without moving the data, as an XNNPACK average pool of
// `x[outer, R, w, c]` (w·c = inner, c at most MAX_POOLED_CHANNELS) with an
// R × 1 window (about 0.15 ms; a sum is that average times R). The two sum
// in different orders, so their results differ in the last bits; keeping
// small tensors on the first route keeps small models' numbers close to
// what they were (a few training tests follow chaotic 15-step
// trajectories). Reductions over the last axes, of integer tensors, or over
// axes that are not one contiguous block go to the engine's own kernel.
// Private to lib/backend/.
import { tf } from "../deps.ts";
import { wrapInput } from "./_kernel_util.ts";

interface ReduceAttrs {
  axis: number | number[];
  keepDims: boolean;
}

/** Tensors from this many elements up are reduced by average pooling. */
export const POOLED_REDUCTION_SIZE = 1 << 20;

/**
 * The most channels one average pool is given. XNNPACK's average pool in
 * this engine overruns its stack on wide rows: `[1, 16, 1, c]` pooled over
 * 16 rows fails with "memory access out of bounds" at c = 32768 and works
 * at 20000 (and a ViT-S/16 step at micro-batch 16 reduces
 * `[16, 197·384]`). Wider rows are pooled as a `[w, c]` grid instead.
 */
export const MAX_POOLED_CHANNELS = 1 << 14;

/** `inner` as `[w, c]` with `c ≤ MAX_POOLED_CHANNELS`, `w·c = inner` and the fewest `w`. */
export function poolGrid(inner: number): [number, number] {
  for (let w = Math.ceil(inner / MAX_POOLED_CHANNELS); w < inner; w++) {
    if (inner % w === 0) return [w, inner / w];
  }
  return [inner, 1];
}

/**
 * Sums (or averages) `x` over `axes` without moving its data: as
 * `x[outer, R, inner]ᵀ · ones[R, 1]`, or, for large tensors, as an average
 * pool of `x[outer, R, 1, inner]` with an R × 1 window. Returns null where
 * neither applies.
 */
export function reduceInPlace(
  x: tf.Tensor,
  attrs: ReduceAttrs,
  mean: boolean,
): tf.Tensor | null {
  if (x.dtype !== "float32" || x.rank === 0) return null;
  const axes = [...new Set(tf.util.parseAxisParam(attrs.axis, x.shape))].sort((a, b) => a - b);
  if (axes.length === 0) return null;
  const first = axes[0], last = axes[axes.length - 1];
  if (last - first + 1 !== axes.length || last === x.rank - 1) return null;
  const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
  const outer = size(x.shape.slice(0, first));
  const reduced = size(x.shape.slice(first, last + 1));
  const inner = size(x.shape.slice(last + 1));
  if (outer === 0 || inner === 0) return null;
  const outShape = attrs.keepDims
    ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : x.shape.filter((_, i) => !axes.includes(i));
  return tf.tidy(() => {
    let out: tf.Tensor;
    const [w, c] = x.size >= POOLED_REDUCTION_SIZE && reduced > 1 ? poolGrid(inner) : [0, 0];
    if (c >= 64) {
      const view = tf.reshape(x, [outer, reduced, w, c]) as tf.Tensor4D;
      const averaged = tf.avgPool(view, [reduced, 1], 1, "valid");
      out = mean ? averaged : tf.mul(averaged, reduced);
    } else {
      const summed = outer === 1
        ? tf.matMul(tf.reshape(x, [reduced, inner]), tf.ones([reduced, 1]), true, false)
        : tf.matMul(
          tf.reshape(x, [outer, reduced, inner]),
          tf.ones([outer, reduced, 1]),
          true,
          false,
        );
      out = mean ? tf.mul(summed, 1 / reduced) : summed;
    }
    return tf.reshape(out, outShape);
  });
}

/** Wraps the engine's Sum or Mean kernel with {@linkcode reduceInPlace}. */
export function fastReduce(mean: boolean): (original: tf.KernelConfig) => tf.KernelConfig {
  return (original) => ({
    ...original,
    kernelFunc: (args) => {
      const backend = args.backend as tf.KernelBackend;
      const x = wrapInput(args.inputs.x!, backend);
      try {
        const out = reduceInPlace(x, args.attrs as unknown as ReduceAttrs, mean);
        return out ?? original.kernelFunc(args);
      } finally {
        x.dispose();
      }
    },
  });
}
