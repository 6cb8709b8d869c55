// Sum and Mean for wasm over leading or middle axes. The engine transposes
// the reduced axes to the end first, which costs 30–40 ms for a fresh
// [32768, 64] tensor reduced over axis 0; `xᵀ · ones` as a matrix multiply
// with transposeA takes about 2.5 ms and runs on XNNPACK's threads. (With
// the data as the right operand instead, XNNPACK repacks it as weights on
// every call, which costs as much as the transpose.) Reductions over the last axes, of
// integer tensors, or over axes that are not one contiguous block go to the
// engine's own kernel. Private to lib/backend/.
import { tf } from "../deps.ts";
import { wrapInput } from "./_kernel_util.ts";

interface ReduceAttrs {
  axis: number | number[];
  keepDims: boolean;
}

/**
 * Sums (or averages) `x` over `axes` as `x[outer, R, inner]ᵀ · ones[R, 1]`,
 * or returns null where that does not apply.
 */
export function reduceByMatMul(
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
  const outShape = attrs.keepDims
    ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : x.shape.filter((_, i) => !axes.includes(i));
  return tf.tidy(() => {
    const summed = outer === 1
      ? tf.matMul(tf.reshape(x, [reduced, inner]), tf.ones([reduced, 1]), true, false)
      : tf.matMul(
        tf.reshape(x, [outer, reduced, inner]),
        tf.ones([outer, reduced, 1]),
        true,
        false,
      );
    const out = mean ? tf.mul(summed, 1 / reduced) : summed;
    return tf.reshape(out, outShape);
  });
}

/** Wraps the engine's Sum or Mean kernel with {@linkcode reduceByMatMul}. */
export function fastReduce(mean: boolean): (original: tf.KernelConfig) => tf.KernelConfig {
  return (original) => ({
    ...original,
    kernelFunc: (args) => {
      const backend = args.backend as tf.KernelBackend;
      const x = wrapInput(args.inputs.x!, backend);
      try {
        const out = reduceByMatMul(x, args.attrs as unknown as ReduceAttrs, mean);
        return out ?? original.kernelFunc(args);
      } finally {
        x.dispose();
      }
    },
  });
}
