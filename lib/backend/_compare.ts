// Comparisons (Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual) for
// wasm. The engine runs them through a generic element loop, not XNNPACK:
// about 3 ns per element for equal shapes and over 100 ns per element when
// one side broadcasts along a middle axis (`divNoNan(maps [8, 64, 64],
// max [8, 1, 1])` compares `[8, 1, 1]` with `[8, 64, 64]`: 3.6 ms, a sixth
// of a Grad-CAM batch). Here a loop over the heap walks the output row by
// row with each input's own strides. Private to lib/backend/.
import { tf } from "../deps.ts";
import type { HeapBackend } from "./_kernel_util.ts";

/** The comparison kernels this module replaces, by kernel name, with their operator codes. */
export const COMPARISONS: Record<string, number> = {
  Equal: 0,
  NotEqual: 1,
  Less: 2,
  LessEqual: 3,
  Greater: 4,
  GreaterEqual: 5,
};

/**
 * `dst[o + k] = a[ia + k·sa] op b[ib + k·sb]` (1 or 0) for `k < n`, one loop
 * per operator so that each stays monomorphic, and branch-free (`+(x < y)`:
 * a `? 1 : 0` on random data mispredicts half the time, 10× slower).
 */
function compareRow(
  op: number,
  a: ArrayLike<number>,
  ia: number,
  sa: number,
  b: ArrayLike<number>,
  ib: number,
  sb: number,
  dst: { [i: number]: number },
  o: number,
  n: number,
): void {
  const end = o + n;
  switch (op) {
    case 0:
      for (; o < end; o++, ia += sa, ib += sb) dst[o] = +(a[ia] === b[ib]);
      break;
    case 1:
      for (; o < end; o++, ia += sa, ib += sb) dst[o] = +(a[ia] !== b[ib]);
      break;
    case 2:
      for (; o < end; o++, ia += sa, ib += sb) dst[o] = +(a[ia] < b[ib]);
      break;
    case 3:
      for (; o < end; o++, ia += sa, ib += sb) dst[o] = +(a[ia] <= b[ib]);
      break;
    case 4:
      for (; o < end; o++, ia += sa, ib += sb) dst[o] = +(a[ia] > b[ib]);
      break;
    default:
      for (; o < end; o++, ia += sa, ib += sb) dst[o] = +(a[ia] >= b[ib]);
  }
}

/** Strides of `shape` (right-aligned) for walking `outShape`: 0 along broadcast axes. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const out = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let k = 1; k <= shape.length; k++) {
    const d = shape[shape.length - k];
    if (d !== 1) out[outShape.length - k] = stride;
    stride *= d;
  }
  return out;
}

/**
 * `dst[i] = a[·] op b[·]` (1 or 0) over the broadcast shape `outShape`, for
 * the operator code `op` of {@linkcode COMPARISONS}.
 */
export function compareBroadcast(
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
  outShape: readonly number[],
  dst: { [i: number]: number },
  op: number,
): void {
  const total = outShape.reduce((p, d) => p * d, 1);
  if (total === 0) return;
  const rank = outShape.length;
  if (rank === 0 || aShape.join() === bShape.join()) {
    compareRow(op, a, 0, 1, b, 0, 1, dst, 0, total);
    return;
  }
  const sa = broadcastStrides(aShape, outShape), sb = broadcastStrides(bShape, outShape);
  const last = outShape[rank - 1], la = sa[rank - 1], lb = sb[rank - 1];
  const index = new Array<number>(rank - 1).fill(0);
  let ia = 0, ib = 0;
  for (let o = 0; o < total; o += last) {
    compareRow(op, a, ia, la, b, ib, lb, dst, o, last);
    for (let axis = rank - 2; axis >= 0; axis--) {
      index[axis]++;
      ia += sa[axis];
      ib += sb[axis];
      if (index[axis] < outShape[axis]) break;
      ia -= sa[axis] * outShape[axis];
      ib -= sb[axis] * outShape[axis];
      index[axis] = 0;
    }
  }
}

/** Wraps the engine's comparison kernel `original` with {@linkcode compareBroadcast}. */
export function fastCompare(original: tf.KernelConfig): tf.KernelConfig {
  const op = COMPARISONS[original.kernelName];
  return {
    ...original,
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const plain = (d: tf.DataType) => d === "float32" || d === "int32" || d === "bool";
      if (op === undefined || !plain(a.dtype) || !plain(b.dtype)) return original.kernelFunc(args);
      const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const backend = args.backend as HeapBackend;
      const out = backend.makeOutput(outShape, "bool");
      // Views after makeOutput, which may grow (and so detach) the heap.
      compareBroadcast(
        backend.typedArrayFromHeap(a),
        a.shape,
        backend.typedArrayFromHeap(b),
        b.shape,
        outShape,
        backend.typedArrayFromHeap(out),
        op,
      );
      return out;
    },
  };
}
