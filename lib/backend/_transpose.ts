// Transpose for wasm. The engine's kernel copies one element at a time; when
// the permutation moves the last axis, one side of that copy is strided, and
// with power-of-two strides every access lands in the same cache set: a
// [8192, 128] transpose takes 12–17 ms and [32, 65, 65, 32] with perm
// [3, 1, 2, 0] about 30 ms, against about 1 ms and 6–10 ms for the tiled
// copy here. Permutations that keep the last axis in place (contiguous rows),
// and 2-D transposes whose row count is not a multiple of 256, stay with the
// engine (after merging axes that move together), which is faster there.
// Private to lib/backend/.
import { tf } from "../deps.ts";
import type { HeapBackend } from "./_kernel_util.ts";

interface TransposeAttrs {
  perm: number[];
}

/**
 * The permutation with unit axes dropped and input axes that stay adjacent
 * (and in order) in the output merged into one: `[n, h, w, c]` with perm
 * `[1, 2, 0, 3]` becomes `[n, h·w, c]` with perm `[1, 0, 2]`.
 */
export function simplifyPermutation(
  shape: readonly number[],
  perm: readonly number[],
): { shape: number[]; perm: number[] } {
  // The non-unit axes, renumbered in input order.
  const keptAxes = [...shape.keys()].filter((a) => shape[a] !== 1);
  const sizes = keptAxes.map((a) => shape[a]);
  const kept = perm.filter((a) => shape[a] !== 1).map((a) => keptAxes.indexOf(a));
  // Runs of consecutive input axes in output order.
  const runs: number[][] = [];
  for (const a of kept) {
    const last = runs.at(-1);
    if (last && last[last.length - 1] + 1 === a) last.push(a);
    else runs.push([a]);
  }
  // Number the runs by their position in the input.
  const byInput = [...runs].sort((r, s) => r[0] - s[0]);
  const merged = byInput.map((r) => r.reduce((size, a) => size * sizes[a], 1));
  const newPerm = runs.map((r) => byInput.indexOf(r));
  return { shape: merged, perm: newPerm };
}

/**
 * Copies `src` (row-major `shape`) into `dst` permuted by `perm`, where
 * `perm` moves the last axis: the last input axis and the axis that becomes
 * the last output axis are copied in 32 × 32 tiles, so that both reads and
 * writes run along cache lines; the other axes are walked one by one.
 */
export function tiledTranspose(
  src: ArrayLike<number>,
  dst: { [i: number]: number },
  shape: readonly number[],
  perm: readonly number[],
): void {
  const rank = shape.length;
  const inStride = new Array<number>(rank);
  inStride[rank - 1] = 1;
  for (let a = rank - 2; a >= 0; a--) inStride[a] = inStride[a + 1] * shape[a + 1];
  // outStride[a]: the output stride of input axis a.
  const outStride = new Array<number>(rank);
  let s = 1;
  for (let k = rank - 1; k >= 0; k--) {
    outStride[perm[k]] = s;
    s *= shape[perm[k]];
  }
  const rowAxis = rank - 1; // contiguous in the input
  const colAxis = perm[rank - 1]; // contiguous in the output
  const rows = shape[rowAxis], cols = shape[colAxis];
  const rowOut = outStride[rowAxis], colIn = inStride[colAxis];
  const others = [...Array(rank).keys()].filter((a) => a !== rowAxis && a !== colAxis);
  const index = others.map(() => 0);
  const T = 32;
  let inBase = 0, outBase = 0;
  for (;;) {
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let r0 = 0; r0 < rows; r0 += T) {
        const r1 = Math.min(rows, r0 + T);
        for (let r = r0; r < r1; r++) {
          let i = inBase + r + c0 * colIn;
          let o = outBase + r * rowOut + c0;
          for (let c = c0; c < c1; c++) {
            dst[o++] = src[i];
            i += colIn;
          }
        }
      }
    }
    // Next index of the other axes (the last one fastest).
    let k = others.length - 1;
    for (; k >= 0; k--) {
      const a = others[k];
      index[k]++;
      inBase += inStride[a];
      outBase += outStride[a];
      if (index[k] < shape[a]) break;
      inBase -= inStride[a] * shape[a];
      outBase -= outStride[a] * shape[a];
      index[k] = 0;
    }
    if (k < 0) return;
  }
}

/**
 * Wraps the engine's Transpose: permutations that only reshape share the
 * data, those that move the last axis run {@linkcode tiledTranspose} on the
 * heap, and the rest go to the engine's kernel with merged axes.
 */
export function fastTranspose(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const { perm } = args.attrs as unknown as TransposeAttrs;
      const backend = args.backend as HeapBackend;
      if (x.dtype === "string" || x.dtype === "complex64") return original.kernelFunc(args);
      const outShape = perm.map((a) => x.shape[a]);
      const simple = simplifyPermutation(x.shape, perm);
      const rank = simple.shape.length;
      if (simple.perm.every((a, i) => a === i)) {
        // The data's order does not change: share it, as Reshape does.
        backend.incRef(x.dataId);
        return { dataId: x.dataId, shape: outShape, dtype: x.dtype };
      }
      // The engine's own kernel is fast where its inner loop runs along
      // contiguous rows (the last axis stays), and for a 2-D transpose whose
      // write stride (the number of rows) is not a multiple of 256 floats.
      if (simple.perm[rank - 1] === rank - 1 || (rank === 2 && simple.shape[0] % 256 !== 0)) {
        const merged = { ...x, shape: simple.shape };
        const out = original.kernelFunc({
          ...args,
          inputs: { x: merged },
          attrs: { perm: simple.perm },
        }) as tf.TensorInfo;
        return { ...out, shape: outShape };
      }
      const out = backend.makeOutput(outShape, x.dtype);
      // Views after makeOutput, which may grow (and so detach) the heap.
      const src = backend.typedArrayFromHeap({ ...x, shape: simple.shape });
      const dst = backend.typedArrayFromHeap(out);
      tiledTranspose(src, dst, simple.shape, simple.perm);
      return out;
    },
  };
}
