// Max-pool gradient kernel for wasm. The built-in one routes the gradient to
// the wrong position when every value in a window is negative. Private to
// lib/backend/.
import { tf } from "../deps.ts";
import { composeKernel, dilate, padOrCrop, poolWindows, tap, wrapInput } from "./_kernel_util.ts";
import type { HeapBackend, PoolAttrs, Windows } from "./_kernel_util.ts";

/** The attributes of the pooling gradient kernels. */
export type MaxPoolGradAttrs = PoolAttrs;

/**
 * The windows of a 2-D pool: padding, output size, strides and window size,
 * with `bottom` and `right` the padding that the last window really reads.
 */
export type PoolGeometry = Windows;

/** The window geometry of a pool over an NHWC input of shape `xShape`. */
export function poolGeometry(
  xShape: [number, number, number, number],
  attrs: MaxPoolGradAttrs,
): PoolGeometry {
  const { top, left, oh, ow, sh, sw, kh, kw } = poolWindows(xShape, attrs);
  const [, h, w] = xShape;
  const bottom = Math.max(0, (oh - 1) * sh + kh - h - top);
  const right = Math.max(0, (ow - 1) * sw + kw - w - left);
  return { top, left, bottom, right, oh, ow, sh, sw, kh, kw };
}

/**
 * For each window tap (row-major), 1 where that tap is the window's first
 * maximum (the `cpu` engine's tie rule), `[n, oh, ow, c]` each. `y` is the
 * pool's output.
 */
export function firstMaxHits(x: tf.Tensor4D, y: tf.Tensor4D, geo: PoolGeometry): tf.Tensor4D[] {
  const { top, left, bottom, right, oh, ow, sh, sw, kh, kw } = geo;
  const xp = padOrCrop(x, top, bottom, left, right, -Infinity);
  let free: tf.Tensor4D = tf.onesLike(y);
  const hits: tf.Tensor4D[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const hit = tf.mul(tf.cast(tf.equal(tap(xp, i, j, oh, ow, sh, sw), y), "float32"), free);
      free = tf.sub(free, hit);
      hits.push(hit as tf.Tensor4D);
    }
  }
  return hits;
}

/**
 * Gradient of max pooling. Each output gradient goes to the first position
 * (row-major within its window) that equals the window's maximum, as on the
 * `cpu` backend. A 2×2, stride-2 pool without padding interleaves the four
 * tap gradients; other pools scatter each tap back by dilation and padding.
 */
export function maxPoolGrad(
  dy: tf.Tensor4D,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  attrs: MaxPoolGradAttrs,
): tf.Tensor4D {
  const geo = poolGeometry(x.shape, attrs);
  const { top, left, bottom, right, oh, ow, sh, sw, kh, kw } = geo;
  const [n, h, w, c] = x.shape;
  const grads = firstMaxHits(x, y, geo).map((hit) => tf.mul(hit, dy) as tf.Tensor4D);
  const disjoint2x2 = kh === 2 && kw === 2 && sh === 2 && sw === 2 && top === 0 &&
    left === 0 && h === 2 * oh && w === 2 * ow;
  if (disjoint2x2) {
    const row0 = tf.stack([grads[0], grads[1]], 3);
    const row1 = tf.stack([grads[2], grads[3]], 3);
    return tf.reshape(tf.stack([row0, row1], 2), [n, h, w, c]);
  }
  const hp = top + h + bottom, wp = left + w + right;
  let dxp: tf.Tensor4D | null = null;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const g = dilate(grads[i * kw + j], sh, sw);
      const placed = padOrCrop(g, i, hp - i - g.shape[1], j, wp - j - g.shape[2]);
      dxp = dxp === null ? placed : tf.add(dxp, placed);
    }
  }
  return tf.slice(dxp!, [0, top, left, 0], [n, h, w, c]);
}

/**
 * `dx` of a max pool whose windows tile the input exactly (window = stride,
 * no padding), in one pass over the heap: each output gradient goes to the
 * first position of its window (row-major) that equals the window's output,
 * the rest of the window gets 0. The composed {@linkcode maxPoolGrad} gives
 * the same values through about 45 kernels (about 20 ms for the reference
 * network's [32, 32, 32, 64] pool in a training step, against 4–10 ms).
 */
export function disjointMaxPoolGrad(
  dy: Float32Array,
  x: Float32Array,
  y: Float32Array,
  dx: Float32Array,
  shape: { n: number; oh: number; ow: number; kh: number; kw: number; c: number },
): void {
  const { n, oh, ow, kh, kw, c } = shape;
  const rowStride = ow * kw * c;
  // Offsets of the window's taps from its first element, row-major.
  const taps = new Int32Array(kh * kw);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) taps[i * kw + j] = i * rowStride + j * c;
  }
  const k = taps.length;
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < oh; p++) {
      for (let q = 0; q < ow; q++) {
        const yBase = ((b * oh + p) * ow + q) * c;
        const xBase = (b * oh * kh + p * kh) * rowStride + q * kw * c;
        for (let ch = 0; ch < c; ch++) {
          const target = y[yBase + ch], g = dy[yBase + ch];
          // Branch-free (taps match at random): `free` is 1 until the first match.
          let free = 1;
          for (let t = 0; t < k; t++) {
            const at = xBase + taps[t] + ch;
            const hit = +(x[at] === target) & free;
            dx[at] = hit * g;
            free &= hit ^ 1;
          }
        }
      }
    }
  }
}

/**
 * `dx` of any max pool, in one pass over the heap: each output gradient goes
 * to the first position of its window (row-major, padding skipped) that
 * equals the window's output, as on the `cpu` engine; overlapping windows
 * add up. `dx` must be zero on entry. The composed {@linkcode maxPoolGrad}
 * gives the same values, but holds about 45 temporaries of the padded
 * input's size at once: 150 MB per image for ResNet's 3×3 stride-2 pool at
 * 224 px, against none here.
 */
export function windowedMaxPoolGrad(
  dy: Float32Array,
  x: Float32Array,
  y: Float32Array,
  dx: Float32Array,
  shape: { n: number; h: number; w: number; c: number },
  geo: PoolGeometry,
): void {
  const { n, h, w, c } = shape;
  const { top, left, oh, ow, sh, sw, kh, kw } = geo;
  const free = new Uint8Array(c);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < oh; p++) {
      for (let q = 0; q < ow; q++) {
        const yBase = ((b * oh + p) * ow + q) * c;
        free.fill(1);
        let left_ = c;
        for (let i = 0; i < kh && left_ > 0; i++) {
          const r = p * sh - top + i;
          if (r < 0 || r >= h) continue;
          for (let j = 0; j < kw && left_ > 0; j++) {
            const col = q * sw - left + j;
            if (col < 0 || col >= w) continue;
            const xBase = ((b * h + r) * w + col) * c;
            for (let ch = 0; ch < c; ch++) {
              if (free[ch] === 1 && x[xBase + ch] === y[yBase + ch]) {
                dx[xBase + ch] += dy[yBase + ch];
                free[ch] = 0;
                left_--;
              }
            }
          }
        }
      }
    }
  }
}

/** Kernel configs for registration on the wasm backend. */
export const poolGradKernels: tf.KernelConfig[] = [
  {
    kernelName: "MaxPoolGrad",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const x = inputs.input as tf.TensorInfo;
      const geo = poolGeometry(
        x.shape as [number, number, number, number],
        attrs as unknown as MaxPoolGradAttrs,
      );
      const [n, h, w, c] = x.shape;
      const disjoint = geo.kh === geo.sh && geo.kw === geo.sw && geo.top === 0 &&
        geo.left === 0 && h === geo.oh * geo.kh && w === geo.ow * geo.kw;
      if (disjoint && x.dtype === "float32" && (inputs.dy as tf.TensorInfo).dtype === "float32") {
        const heap = backend as HeapBackend;
        const out = heap.makeOutput([...x.shape], "float32");
        // Views after makeOutput, which may grow (and so detach) the heap.
        disjointMaxPoolGrad(
          heap.typedArrayFromHeap(inputs.dy as tf.TensorInfo) as Float32Array,
          heap.typedArrayFromHeap(x) as Float32Array,
          heap.typedArrayFromHeap(inputs.output as tf.TensorInfo) as Float32Array,
          heap.typedArrayFromHeap(out) as Float32Array,
          { n, oh: geo.oh, ow: geo.ow, kh: geo.kh, kw: geo.kw, c },
        );
        return out;
      }
      if (x.dtype === "float32" && (inputs.dy as tf.TensorInfo).dtype === "float32") {
        const heap = backend as HeapBackend;
        const out = heap.makeOutput([...x.shape], "float32");
        const dx = heap.typedArrayFromHeap(out) as Float32Array;
        dx.fill(0);
        windowedMaxPoolGrad(
          heap.typedArrayFromHeap(inputs.dy as tf.TensorInfo) as Float32Array,
          heap.typedArrayFromHeap(x) as Float32Array,
          heap.typedArrayFromHeap(inputs.output as tf.TensorInfo) as Float32Array,
          dx,
          { n, h, w, c },
          geo,
        );
        return out;
      }
      return composeKernel(
        "MaxPoolGrad",
        { dy: inputs.dy, input: inputs.input, output: inputs.output },
        backend as tf.KernelBackend,
        (t) =>
          maxPoolGrad(
            t.dy as tf.Tensor4D,
            t.input as tf.Tensor4D,
            t.output as tf.Tensor4D,
            attrs as unknown as MaxPoolGradAttrs,
          ),
      );
    },
  },
];

/**
 * The gradient of an average pool whose windows tile the input exactly
 * (window = stride, no padding): each input pixel gets its window's output
 * gradient divided by the window size, by broadcasting. Returns null for
 * other pools, which go to the engine's own kernel (about 30 ms for a
 * [32, 64, 64, 32] input there, against about 3 ms here).
 */
export function tiledAvgPoolGrad(
  dy: tf.Tensor4D,
  x: tf.Tensor4D,
  attrs: PoolAttrs,
): tf.Tensor4D | null {
  const { top, left, oh, ow, sh, sw, kh, kw } = poolWindows(x.shape, attrs);
  const [n, h, w, c] = x.shape;
  if (kh !== sh || kw !== sw || top !== 0 || left !== 0) return null;
  if (oh * kh !== h || ow * kw !== w) return null;
  return tf.tidy(() => {
    const spread = tf.mul(
      tf.reshape(dy, [n, oh, 1, ow, 1, c]),
      tf.fill([1, 1, kh, 1, kw, 1], 1 / (kh * kw)),
    );
    return tf.reshape(spread, [n, h, w, c]);
  });
}

/** Wraps the engine's AvgPoolGrad with {@linkcode tiledAvgPoolGrad}. */
export function fastAvgPoolGrad(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const backend = args.backend as tf.KernelBackend;
      const dy = wrapInput(args.inputs.dy!, backend);
      const x = wrapInput(args.inputs.input!, backend);
      try {
        const out = tiledAvgPoolGrad(
          dy as tf.Tensor4D,
          x as tf.Tensor4D,
          args.attrs as unknown as PoolAttrs,
        );
        return out ?? original.kernelFunc(args);
      } finally {
        tf.dispose([dy, x]);
      }
    },
  };
}
