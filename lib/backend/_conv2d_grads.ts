// Conv2D gradient kernels for wasm, composed from ops that XNNPACK runs fast
// (convolutions and matrix multiplies). Private to lib/backend/.
import { tf } from "../deps.ts";
import { composedKernel, convWindows, padOrCrop } from "./_kernel_util.ts";
import type { ConvWindowAttrs, Windows } from "./_kernel_util.ts";

interface Conv2DBackpropFilterAttrs extends ConvWindowAttrs {
  dataFormat: "NHWC" | "NCHW";
  filterShape: [number, number, number, number];
}

interface Conv2DBackpropInputAttrs extends ConvWindowAttrs {
  dataFormat: "NHWC" | "NCHW";
  inputShape: [number, number, number, number];
}

/** The windows of the NHWC convolution; throws for NCHW, which `kernel` does not support. */
function nhwcWindows(
  kernel: string,
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: ConvWindowAttrs & { dataFormat: string },
): Windows {
  if (attrs.dataFormat !== "NHWC") {
    throw new TypeError(
      `${kernel} on wasm supports dataFormat "NHWC" only, got "${attrs.dataFormat}"`,
    );
  }
  return convWindows(xShape, filterShape, attrs);
}

/**
 * Filter gradient of conv2d. With batch and channels swapped, it is itself a
 * convolution: `conv2d(xᵀ, dyᵀ)` with `xᵀ = transpose(x, [3, 1, 2, 0])`
 * (`[ci, h, w, n]`), the output gradient as the filter
 * (`[oh, ow, n, co]`), and the forward stride as the dilation. XNNPACK runs
 * that far faster than im2col with strided slices and a transposed matrix
 * multiply (measured 121 ms against 1,164 ms for a 3×3 stride-2 layer at
 * batch 32). A 1×1, stride-1 convolution is a plain matrix multiply.
 */
export function conv2DBackpropFilter(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  attrs: Conv2DBackpropFilterAttrs,
): tf.Tensor4D {
  const windows = nhwcWindows("Conv2DBackpropFilter", x.shape, attrs.filterShape, attrs);
  const { top, left, oh, ow, sh, sw } = windows;
  const [kh, kw, ci, co] = attrs.filterShape;
  if (kh === 1 && kw === 1 && top === 0 && left === 0 && sh === 1 && sw === 1) {
    // XNNPACK packs the right operand afresh on every call; packing the one
    // with fewer columns is cheaper (32,768 × 32 against × 64: 8 against
    // 24 ms). The two orders sum the same products in the same order.
    const x2 = tf.reshape(x, [-1, ci]), dy2 = tf.reshape(dy, [-1, co]);
    const dw = co > ci
      ? tf.transpose(tf.matMul(tf.transpose(dy2), x2))
      : tf.matMul(tf.transpose(x2), dy2);
    return tf.reshape(dw, [1, 1, ci, co]);
  }
  const [n, h, w] = x.shape;
  const [extraH, extraW] = antiAliasPadding(oh, ow, n, co);
  const needH = (oh + extraH - 1) * sh + kh, needW = (ow + extraW - 1) * sw + kw;
  const xp = padOrCrop(x, top, needH - h - top, left, needW - w - left);
  const xt = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D;
  const dyt = tf.transpose(padOrCrop(dy, 0, extraH, 0, extraW), [1, 2, 0, 3]) as tf.Tensor4D;
  const r = tf.conv2d(xt, dyt, 1, "valid", "NHWC", [sh, sw]);
  return tf.transpose(r, [1, 2, 0, 3]);
}

/**
 * Zero rows and columns to append to the output gradient before it becomes
 * the filter of the swapped convolution in {@linkcode conv2DBackpropFilter}.
 *
 * The engine builds an XNNPACK operator for every new filter, and first
 * transposes the filter from `[K, co]` to `[co, K]` (`K = oh·ow·n`) one
 * element at a time, writing with a stride of K floats. When K is a multiple
 * of 256 (a batch of 32 at 32×32 is 32,768) those writes all fall in a few
 * cache sets and the transpose alone takes 25–30 ms; appending a zero row and
 * column (33×33: 6% more multiplies) makes it about 5 ms. Zero rows add
 * nothing to the gradient, so the result is unchanged. Small filters are
 * left alone.
 */
export function antiAliasPadding(oh: number, ow: number, n: number, co: number): [number, number] {
  const k = oh * ow * n;
  if (k % 256 !== 0 || k * co < 1 << 16) return [0, 0];
  let best: [number, number] = [0, 0], bestSize = Infinity;
  for (let a = 0; a < 4; a++) {
    for (let b = 0; b < 4; b++) {
      const size = (oh + a) * (ow + b);
      if ((size * n) % 256 !== 0 && size < bestSize) {
        best = [a, b];
        bestSize = size;
      }
    }
  }
  return best;
}

/**
 * Input gradient of conv2d (and the forward pass of conv2dTranspose). At
 * stride 1: pad the output gradient by `k - 1 - pad` and convolve it with the
 * filter rotated by 180° with its channel axes swapped. At larger strides:
 * one such convolution per output phase (sub-pixel), interleaved. A 1×1,
 * stride-1 convolution is a plain matrix multiply.
 */
export function conv2DBackpropInput(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  attrs: Conv2DBackpropInputAttrs,
): tf.Tensor4D {
  const inputShape = attrs.inputShape;
  const { top, left, sh, sw } = nhwcWindows("Conv2DBackpropInput", inputShape, filter.shape, attrs);
  const [kh, kw, ci, co] = filter.shape;
  const [, h, w] = inputShape;
  if (kh === 1 && kw === 1 && top === 0 && left === 0 && sh === 1 && sw === 1) {
    const dx = tf.matMul(tf.reshape(dy, [-1, co]), tf.transpose(tf.reshape(filter, [ci, co])));
    return tf.reshape(dx, inputShape);
  }
  if (sh === 1 && sw === 1) {
    const dyp = padOrCrop(
      dy,
      kh - 1 - top,
      h - dy.shape[1] + top,
      kw - 1 - left,
      w - dy.shape[2] + left,
    );
    return tf.conv2d(dyp, rotateFilter(filter), 1, "valid");
  }
  return subPixelBackpropInput(dy, filter, { h, w, top, left, sh, sw });
}

/** The filter rotated by 180° with its channel axes swapped: `[kh, kw, co, ci]`. */
function rotateFilter(filter: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
}

/**
 * Input gradient of a strided conv2d as `sh · sw` stride-1 convolutions, one
 * per output phase, each with the sub-filter of the taps that reach that
 * phase, then interleaved. With P = i + pad and phase r = P mod s, q = ⌊P/s⌋:
 * `dx[i] = Σₘ dy[q − m] · w[r + s·m]`. Unlike convolving the zero-dilated
 * gradient, this spends no multiplies on the inserted zeros (s² fewer).
 */
function subPixelBackpropInput(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  geo: { h: number; w: number; top: number; left: number; sh: number; sw: number },
): tf.Tensor4D {
  const { h, w, top, left, sh, sw } = geo;
  const [kh, kw, ci] = filter.shape;
  const [n, oh, ow] = dy.shape;
  const qh = Math.ceil((top + h) / sh), qw = Math.ceil((left + w) / sw);
  const rows: tf.Tensor4D[] = [];
  for (let rh = 0; rh < sh; rh++) {
    const phases: tf.Tensor4D[] = [];
    for (let rw = 0; rw < sw; rw++) {
      const lh = Math.max(0, Math.ceil((kh - rh) / sh)),
        lw = Math.max(0, Math.ceil((kw - rw) / sw));
      if (lh === 0 || lw === 0) {
        phases.push(tf.zeros([n, qh, qw, ci]));
        continue;
      }
      const sub = tf.stridedSlice(filter, [rh, rw, 0, 0], filter.shape, [sh, sw, 1, 1]);
      const dyp = padOrCrop(dy, lh - 1, qh - oh, lw - 1, qw - ow);
      phases.push(tf.conv2d(dyp, rotateFilter(sub as tf.Tensor4D), 1, "valid"));
    }
    rows.push(sw === 1 ? phases[0] : tf.stack(phases, 3) as tf.Tensor4D);
  }
  const grid = sh === 1 ? rows[0] : tf.stack(rows, 2);
  const full = tf.reshape(grid, [n, qh * sh, qw * sw, ci]) as tf.Tensor4D;
  if (top === 0 && left === 0 && qh * sh === h && qw * sw === w) return full;
  return tf.slice(full, [0, top, left, 0], [n, h, w, ci]);
}

/** Kernel configs for registration on the wasm backend. */
export const conv2dGradKernels: tf.KernelConfig[] = [
  composedKernel("Conv2DBackpropFilter", {
    inputs: ["x", "dy"],
    compute: (t, attrs: Conv2DBackpropFilterAttrs) => conv2DBackpropFilter(t.x, t.dy, attrs),
  }),
  composedKernel("Conv2DBackpropInput", {
    inputs: ["dy", "filter"],
    compute: (t, attrs: Conv2DBackpropInputAttrs) => conv2DBackpropInput(t.dy, t.filter, attrs),
  }),
];
