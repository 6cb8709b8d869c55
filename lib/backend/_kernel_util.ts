// Helpers shared by the replacement kernels in this folder. Private to lib/backend/.
import { tf } from "../deps.ts";

/** A typed-array view of a tensor's data on the wasm heap. */
export type HeapArray = Float32Array | Int32Array | Uint8Array;

/**
 * What the wasm backend offers kernels that work on its heap directly:
 * views of a tensor's data and new outputs. Make the output first, then the
 * views: allocating may grow the heap, which detaches older views.
 */
export interface HeapBackend extends tf.KernelBackend {
  typedArrayFromHeap(info: tf.TensorInfo): HeapArray;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/**
 * Wraps a kernel input as a tensor that the kernel may dispose.
 *
 * `engine.makeTensorFromTensorInfo` does not raise the data's reference
 * count, so disposing the bare wrapper would free an input that another
 * gradient may still need. We raise the count first.
 */
export function wrapInput(info: tf.TensorInfo, backend: tf.KernelBackend): tf.Tensor {
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info, backend);
}

/**
 * Runs `compute` on wrapped inputs inside `tf.tidy`, disposes the wrappers,
 * and returns the result tensor as the kernel's output.
 */
export function composeKernel<K extends string>(
  kernelName: string,
  inputs: Record<K, tf.TensorInfo | undefined>,
  backend: tf.KernelBackend,
  compute: (tensors: Record<K, tf.Tensor>) => tf.Tensor,
): tf.TensorInfo {
  const wrapped = {} as Record<K, tf.Tensor>;
  for (const key of Object.keys(inputs) as K[]) {
    const info = inputs[key];
    if (!info) throw new TypeError(`${kernelName} needs input "${key}", which is missing`);
    wrapped[key] = wrapInput(info, backend);
  }
  try {
    return tf.tidy(() => compute(wrapped));
  } finally {
    for (const t of Object.values<tf.Tensor>(wrapped)) t.dispose();
  }
}

/**
 * A kernel config whose kernel runs `compute` through {@linkcode composeKernel}
 * on the inputs named in `options.inputs`, with the kernel's attributes.
 */
export function composedKernel<K extends string, A, T extends tf.Tensor = tf.Tensor4D>(
  kernelName: string,
  options: {
    /** The kernel's input names, in the order `compute` takes them. */
    inputs: readonly K[];
    /** The kernel's body, on wrapped inputs, inside `tf.tidy`. */
    compute: (tensors: Record<K, T>, attrs: A) => tf.Tensor;
    /** The engine to register on. Defaults to "wasm". */
    backendName?: string;
  },
): tf.KernelConfig {
  const { inputs: names, compute, backendName = "wasm" } = options;
  return {
    kernelName,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) =>
      composeKernel(
        kernelName,
        Object.fromEntries(names.map((k) => [k, inputs[k]])) as Record<K, tf.TensorInfo>,
        backend as tf.KernelBackend,
        (t) => compute(t as Record<K, T>, attrs as unknown as A),
      ),
  };
}

/** The padding attribute of the convolution and pooling kernels. */
export type PadAttr = "same" | "valid" | number | tf.backend_util.ExplicitPadding;

/** The attributes that place the windows of a convolution. */
export interface ConvWindowAttrs {
  strides: [number, number] | number;
  pad: PadAttr;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

/** The attributes of the 2-D pooling kernels and their gradients. */
export interface PoolAttrs extends ConvWindowAttrs {
  filterSize: [number, number] | number;
}

/**
 * The windows of a 2-D convolution or pool: padding (before and after, as
 * the engine computes it), output size, strides and window size.
 */
export interface Windows {
  top: number;
  left: number;
  bottom: number;
  right: number;
  oh: number;
  ow: number;
  sh: number;
  sw: number;
  kh: number;
  kw: number;
}

function windowsOf(info: tf.backend_util.Conv2DInfo): Windows {
  const { top, left, bottom, right } = info.padInfo;
  return {
    top,
    left,
    bottom,
    right,
    oh: info.outHeight,
    ow: info.outWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    kh: info.filterHeight,
    kw: info.filterWidth,
  };
}

/**
 * The windows of a convolution (no dilation) of an NHWC input of shape
 * `xShape` with a filter of shape `filterShape`.
 */
export function convWindows(
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: ConvWindowAttrs & { depthwise?: boolean },
): Windows {
  return windowsOf(
    tf.backend_util.computeConv2DInfo(
      xShape,
      filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      attrs.depthwise ?? false,
    ),
  );
}

/** The windows of a 2-D pool over an NHWC input of shape `xShape`. */
export function poolWindows(xShape: [number, number, number, number], attrs: PoolAttrs): Windows {
  return windowsOf(
    tf.backend_util.computePool2DInfo(
      xShape,
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    ),
  );
}

/** Pads (positive amounts) or crops (negative amounts) the two spatial axes of an NHWC tensor. */
export function padOrCrop(
  x: tf.Tensor4D,
  top: number,
  bottom: number,
  left: number,
  right: number,
  value = 0,
): tf.Tensor4D {
  let y = x;
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    y = tf.pad(
      y,
      [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [
        0,
        0,
      ]],
      value,
    );
  }
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w, c] = y.shape;
    const t = Math.max(0, -top), l = Math.max(0, -left);
    y = tf.slice(y, [0, t, l, 0], [
      n,
      h - t - Math.max(0, -bottom),
      w - l - Math.max(0, -right),
      c,
    ]);
  }
  return y;
}

/**
 * Inserts `sh - 1` zero rows and `sw - 1` zero columns between the pixels of
 * an NHWC tensor: `[n, h, w, c]` becomes `[n, (h-1)·sh+1, (w-1)·sw+1, c]`.
 */
export function dilate(x: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return x;
  const [n, h, w, c] = x.shape;
  const spread = tf.pad(
    tf.reshape(x, [n * h, 1, w, 1, c]),
    [[0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
  );
  const full = tf.reshape(spread, [n, h * sh, w * sw, c]);
  return tf.slice(full as tf.Tensor4D, [0, 0, 0, 0], [n, (h - 1) * sh + 1, (w - 1) * sw + 1, c]);
}

/**
 * The strided slice of a padded NHWC tensor that filter tap (i, j) reads:
 * rows `i, i + sh, …` (outH of them) and columns `j, j + sw, …` (outW).
 *
 * wasm's `StridedSlice` with strides above 1 runs in JavaScript (about 10×
 * slower than `Slice`), so strides are taken with reshapes and two rank-4
 * slices instead: rows `r + s·q` are the `r`-th row of each block of `s`.
 */
export function tap(
  xp: tf.Tensor4D,
  i: number,
  j: number,
  outH: number,
  outW: number,
  sh: number,
  sw: number,
): tf.Tensor4D {
  const [n, hp, wp, c] = xp.shape;
  if (sh === 1 && sw === 1) return tf.slice(xp, [0, i, j, 0], [n, outH, outW, c]);
  // Grow (with zeros that are never read) or crop to whole blocks of the stride.
  const bi = Math.floor(i / sh), bj = Math.floor(j / sw);
  const hq = bi + outH, wq = bj + outW;
  const fitted = padOrCrop(xp, 0, hq * sh - hp, 0, wq * sw - wp);
  const rows = tf.slice(
    tf.reshape(fitted, [n, hq, sh, wq * sw * c]),
    [0, bi, i % sh, 0],
    [n, outH, 1, wq * sw * c],
  );
  const cols = tf.slice(
    tf.reshape(rows, [n * outH, wq, sw, c]),
    [0, bj, j % sw, 0],
    [n * outH, outW, 1, c],
  );
  return tf.reshape(cols, [n, outH, outW, c]);
}
