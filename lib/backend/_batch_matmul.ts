// A faster BatchMatMul for the wasm engine. Private to lib/backend/.
//
// The engine sends a product to XNNPACK only when neither operand is
// transposed and the batch is one; everything else (a transposed operand, or
// a batch of products) goes to a scalar triple loop. Every dense layer's
// backward pass is transposed (dX = dY·Wᵀ, dW = Xᵀ·dY) and attention is a
// batch of products, so a ViT-S/16 training step at 224 px spent 22 of its
// 23 s in that loop. Measured on 2 threads (docs/benchmarks.md): a
// [197, 384]·[384, 1152] product takes 10 ms untransposed and 150–200 ms with
// either operand transposed; a batch of six [197, 64]·[64, 197] products 30 ms.
//
// Here a transposed operand is first transposed on the heap (a copy, linear in
// its size, against the product's cubic cost), a batch over a shared right
// operand is folded into the rows of one product, and any other batch runs
// as one untransposed product per item, each on XNNPACK, written straight
// into the output.
import { tf } from "../deps.ts";
import type { HeapBackend } from "./_kernel_util.ts";

interface BatchMatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/**
 * Below this many multiply-adds per item, a batch of products stays on the
 * engine's loop: per item, the calls and the XNNPACK operator cost more than
 * the loop does. Measured on 2 threads, 64 square products of side s: the
 * loop takes 0.31 ms at s = 16 (4096) against 0.68 ms per item, and 0.98 ms
 * at s = 24 (13824) against 0.75 ms; the floor sits between the two.
 */
const MIN_ITEM_WORK = 8192;

/** Wraps the engine's BatchMatMul so that every product runs untransposed on XNNPACK. */
export function fastBatchMatMul(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
      const backend = args.backend as HeapBackend;
      const ra = a.shape.length;
      const rb = b.shape.length;
      if (a.dtype !== "float32" || b.dtype !== "float32" || ra < 2 || rb < 2) {
        return original.kernelFunc(args);
      }
      const batchA = a.shape.slice(0, -2);
      const batchB = b.shape.slice(0, -2);
      const na = tf.util.sizeFromShape(batchA);
      const nb = tf.util.sizeFromShape(batchB);
      const [m, k] = transposeA
        ? [a.shape[ra - 1], a.shape[ra - 2]]
        : [a.shape[ra - 2], a.shape[ra - 1]];
      const [kb, n] = transposeB
        ? [b.shape[rb - 1], b.shape[rb - 2]]
        : [b.shape[rb - 2], b.shape[rb - 1]];
      // Mismatched inner sizes and batches that broadcast along several axes:
      // the engine's kernel says what is wrong, or handles them.
      if (k !== kb || (na !== nb && na !== 1 && nb !== 1)) return original.kernelFunc(args);
      const batch = Math.max(na, nb);
      if (batch > 1 && nb > 1 && m * k * n < MIN_ITEM_WORK) return original.kernelFunc(args);
      if (!transposeA && !transposeB && batch === 1) return original.kernelFunc(args);
      const outShape = [
        ...tf.backend_util.assertAndGetBroadcastShape(batchA, batchB),
        m,
        n,
      ];
      const temps: tf.TensorInfo[] = [];
      const untransposed = (
        x: tf.TensorInfo,
        items: number,
        rows: number,
        cols: number,
        t: boolean,
      ) => {
        // x as [items, rows, cols], its data in that order.
        const view = { ...x, shape: t ? [items, cols, rows] : [items, rows, cols] };
        if (!t) return view;
        const transpose = tf.getKernel("Transpose", "wasm")!.kernelFunc;
        const y = transpose({
          inputs: { x: view },
          backend,
          attrs: { perm: [0, 2, 1] },
        }) as tf.TensorInfo;
        temps.push(y);
        return y;
      };
      const plain = (left: tf.TensorInfo, right: tf.TensorInfo) =>
        original.kernelFunc({
          inputs: { a: left, b: right },
          backend,
          attrs: { transposeA: false, transposeB: false },
        }) as tf.TensorInfo;
      try {
        const left = untransposed(a, na, m, k, transposeA);
        const right = untransposed(b, nb, k, n, transposeB);
        if (nb === 1) {
          // One right operand for every item: the items are rows of one product.
          const out = plain({ ...left, shape: [1, na * m, k] }, right);
          return { ...out, shape: outShape };
        }
        const out = backend.makeOutput(outShape, "float32");
        for (let i = 0; i < batch; i++) {
          const ai = backend.makeOutput([1, m, k], "float32");
          const bi = backend.makeOutput([1, k, n], "float32");
          temps.push(ai, bi);
          // Views after makeOutput, which may grow (and so detach) the heap.
          const ia = na === 1 ? 0 : i;
          backend.typedArrayFromHeap(ai).set(
            backend.typedArrayFromHeap(left).subarray(ia * m * k, (ia + 1) * m * k),
          );
          backend.typedArrayFromHeap(bi).set(
            backend.typedArrayFromHeap(right).subarray(i * k * n, (i + 1) * k * n),
          );
          const oi = plain(ai, bi);
          temps.push(oi);
          backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(oi), i * m * n);
          for (const t of temps.splice(temps.length - 3)) backend.disposeData(t.dataId);
        }
        return out;
      } finally {
        for (const t of temps) backend.disposeData(t.dataId);
      }
    },
  };
}
