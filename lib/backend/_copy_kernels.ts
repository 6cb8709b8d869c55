// Copying kernels for wasm: Slice, StridedSlice, Reverse, Concat and Pack.
// The engine's Slice first copies its whole input out of the wasm heap
// (`readSync`) and then copies one innermost row at a time through a fresh
// subarray: cutting a [32, 16, 16, 64] window out of a [32, 18, 18, 64]
// tensor took about 1.3 ms. Its Concat (and Pack, which is a Concat) also
// makes a subarray per innermost row, which is slow when rows are short
// (stacking [32, 32, 32, 32] tensors on axis 3 copies a million 32-float
// rows). Its StridedSlice with strides above 1 and its Reverse walk element
// by element through generic index arithmetic: 0.7 ms and 1.3 ms for a
// [3, 3, 64, 64] filter. Here all of them read the heap in place and copy
// the longest contiguous runs, short runs with a plain loop. Private to
// lib/backend/.
import { tf } from "../deps.ts";
import type { HeapArray, HeapBackend } from "./_kernel_util.ts";

/** Runs shorter than this are copied element by element rather than with `set`. */
const SHORT_RUN = 64;

function copyRun(src: HeapArray, from: number, dst: HeapArray, to: number, length: number): void {
  if (length >= SHORT_RUN) {
    dst.set(src.subarray(from, from + length), to);
  } else {
    for (let k = 0; k < length; k++) dst[to + k] = src[from + k];
  }
}

/**
 * Copies a strided block of a row-major tensor of `shape` into `dst`
 * (row-major `size`): element `i` along axis `a` of the block is element
 * `begin[a] + i·step[a]` of the source (`step` may be negative). Trailing
 * axes that the block covers whole with step 1, and then one more axis with
 * step 1, are merged into contiguous runs.
 */
export function copyStrided(
  src: HeapArray,
  shape: readonly number[],
  begin: readonly number[],
  step: readonly number[],
  size: readonly number[],
  dst: HeapArray,
): void {
  const rank = shape.length;
  const total = size.reduce((p, d) => p * d, 1);
  if (total === 0) return;
  const stride = new Array<number>(rank);
  let s = 1;
  for (let a = rank - 1; a >= 0; a--) {
    stride[a] = s;
    s *= shape[a];
  }
  // Axes k..rank-1 form one contiguous run of the source.
  let k = rank, run = 1;
  while (k > 0 && step[k - 1] === 1 && begin[k - 1] === 0 && size[k - 1] === shape[k - 1]) {
    k--;
    run *= size[k];
  }
  if (k > 0 && step[k - 1] === 1) {
    k--;
    run *= size[k];
  }
  let from = 0;
  for (let a = 0; a < rank; a++) from += begin[a] * stride[a];
  const index = new Array<number>(k).fill(0);
  for (let to = 0; to < total; to += run) {
    copyRun(src, from, dst, to, run);
    // Next index of the outer axes 0..k-1 (the last fastest).
    for (let a = k - 1; a >= 0; a--) {
      index[a]++;
      from += step[a] * stride[a];
      if (index[a] < size[a]) break;
      from -= step[a] * stride[a] * size[a];
      index[a] = 0;
    }
  }
}

/** Wraps the engine's Slice with {@linkcode copyStrided} on the heap. */
export function fastSlice(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (!plainDtype(x.dtype)) return original.kernelFunc(args);
      const { begin, size } = args.attrs as unknown as {
        begin: number | number[];
        size?: number | number[];
      };
      const [b, s] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
      const backend = args.backend as HeapBackend;
      const out = backend.makeOutput(s, x.dtype);
      if (s.some((d) => d === 0)) return out;
      // Views after makeOutput, which may grow (and so detach) the heap.
      const src = backend.typedArrayFromHeap(x);
      copyStrided(src, x.shape, b, s.map(() => 1), s, backend.typedArrayFromHeap(out));
      return out;
    },
  };
}

interface StridedSliceAttrs {
  begin: number[];
  end: number[];
  strides: number[];
  beginMask: number;
  endMask: number;
  ellipsisMask: number;
  newAxisMask: number;
  shrinkAxisMask: number;
}

/** Wraps the engine's StridedSlice with {@linkcode copyStrided} for positive strides. */
export function fastStridedSlice(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const a = args.attrs as unknown as StridedSliceAttrs;
      if (!plainDtype(x.dtype)) return original.kernelFunc(args);
      const info = tf.slice_util.sliceInfo(
        x.shape,
        a.begin,
        a.end,
        a.strides,
        a.beginMask,
        a.endMask,
        a.ellipsisMask,
        a.newAxisMask,
        a.shrinkAxisMask,
      );
      const { begin, end, strides, finalShape } = info;
      if (
        info.isIdentity || begin.length !== x.shape.length || strides.some((v) => v <= 0)
      ) {
        return original.kernelFunc(args);
      }
      const size = begin.map((b, i) => Math.max(0, Math.ceil((end[i] - b) / strides[i])));
      if (tf.util.sizeFromShape(size) !== tf.util.sizeFromShape(finalShape)) {
        return original.kernelFunc(args);
      }
      const backend = args.backend as HeapBackend;
      const out = backend.makeOutput(finalShape, x.dtype);
      const src = backend.typedArrayFromHeap(x);
      copyStrided(src, x.shape, begin, strides, size, backend.typedArrayFromHeap(out));
      return out;
    },
  };
}

/** Wraps the engine's Reverse with {@linkcode copyStrided} (step −1 along the reversed axes). */
export function fastReverse(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (!plainDtype(x.dtype) || x.shape.length === 0) return original.kernelFunc(args);
      const dims = (args.attrs as { dims: number | number[] }).dims;
      const axes = new Set(tf.util.parseAxisParam(dims, x.shape));
      const backend = args.backend as HeapBackend;
      const out = backend.makeOutput([...x.shape], x.dtype);
      const begin = x.shape.map((d, i) => (axes.has(i) ? d - 1 : 0));
      const step = x.shape.map((_, i) => (axes.has(i) ? -1 : 1));
      const src = backend.typedArrayFromHeap(x);
      copyStrided(src, x.shape, begin, step, x.shape, backend.typedArrayFromHeap(out));
      return out;
    },
  };
}

/**
 * Concatenates `inputs` (all non-empty, same dtype) along `axis` into a new
 * output on the heap.
 */
function concatOnHeap(
  inputs: readonly tf.TensorInfo[],
  axis: number,
  backend: HeapBackend,
): tf.TensorInfo {
  const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
  const out = backend.makeOutput(outShape, inputs[0].dtype);
  const outer = tf.util.sizeFromShape(outShape.slice(0, axis));
  const inner = inputs.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
  const rowLength = inner.reduce((a, b) => a + b, 0);
  // Views after makeOutput, which may grow (and so detach) the heap.
  const sources = inputs.map((t) => backend.typedArrayFromHeap(t));
  const dst = backend.typedArrayFromHeap(out);
  let offset = 0;
  sources.forEach((src, i) => {
    const length = inner[i];
    for (let b = 0; b < outer; b++) copyRun(src, b * length, dst, b * rowLength + offset, length);
    offset += length;
  });
  return out;
}

function plainDtype(dtype: tf.DataType): boolean {
  return dtype === "float32" || dtype === "int32" || dtype === "bool";
}

/** Wraps the engine's Concat so that short rows are copied without subarrays. */
export function fastConcat(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const inputs = args.inputs as unknown as tf.TensorInfo[];
      if (!plainDtype(inputs[0].dtype)) return original.kernelFunc(args);
      const axis =
        tf.util.parseAxisParam((args.attrs as { axis: number }).axis, inputs[0].shape)[0];
      const nonEmpty = inputs.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
      if (nonEmpty.length < 2) return original.kernelFunc(args);
      return concatOnHeap(nonEmpty, axis, args.backend as HeapBackend);
    },
  };
}

/** Wraps the engine's Pack (stack) the same way, as a concatenation along a new axis. */
export function fastPack(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const inputs = args.inputs as unknown as tf.TensorInfo[];
      const shape = inputs[0].shape;
      const sameShapes = inputs.every((t) => tf.util.arraysEqual(t.shape, shape));
      const sameDtypes = inputs.every((t) => t.dtype === inputs[0].dtype);
      if (
        inputs.length < 2 || !plainDtype(inputs[0].dtype) || !sameShapes || !sameDtypes ||
        tf.util.sizeFromShape(shape) === 0
      ) {
        return original.kernelFunc(args);
      }
      const axis = (args.attrs as { axis: number }).axis;
      const at = axis < 0 ? axis + shape.length + 1 : axis;
      const expanded = [...shape.slice(0, at), 1, ...shape.slice(at)];
      return concatOnHeap(
        inputs.map((t) => ({ ...t, shape: expanded })),
        at,
        args.backend as HeapBackend,
      );
    },
  };
}
