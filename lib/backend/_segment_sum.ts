// UnsortedSegmentSum for wasm (the gradient of gather needs it). Private to lib/backend/.
import { tf } from "../deps.ts";
import { composedKernel } from "./_kernel_util.ts";

/**
 * `out[s] = Σ x[i]` over the `i` with `segmentIds[i] = s`, as
 * `oneHot(segmentIds)ᵀ · x`. Ids outside `[0, numSegments)` are dropped, as
 * in TensorFlow.
 */
export function unsortedSegmentSum(
  x: tf.Tensor,
  segmentIds: tf.Tensor,
  numSegments: number,
): tf.Tensor {
  const idRank = segmentIds.rank;
  const rest = x.shape.slice(idRank);
  const ids = tf.reshape(tf.cast(segmentIds, "int32"), [-1]) as tf.Tensor1D;
  const x2 = tf.reshape(tf.cast(x, "float32"), [ids.shape[0], -1]);
  const summed = tf.matMul(tf.transpose(tf.cast(tf.oneHot(ids, numSegments), "float32")), x2);
  return tf.cast(tf.reshape(summed, [numSegments, ...rest]), x.dtype);
}

/** Kernel configs for registration on the wasm backend. */
export const segmentSumKernels: tf.KernelConfig[] = [
  composedKernel<"x" | "segmentIds", { numSegments: number }, tf.Tensor>("UnsortedSegmentSum", {
    inputs: ["x", "segmentIds"],
    compute: (t, attrs) => unsortedSegmentSum(t.x, t.segmentIds, attrs.numSegments),
  }),
];
