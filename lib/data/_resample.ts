// Pixel resampling on plain typed arrays, private to lib/data/.
//
// Geometry is an affine map from input to output pixel-edge coordinates
// (the image spans [0, width] × [0, height]; pixel (i, j) covers
// [j, j + 1) × [i, i + 1), its centre is (j + 0.5, i + 0.5)). Output pixel
// centres are mapped back through the inverse; points that fall outside the
// input are 0 (the letterbox and rotation fill), points inside are sampled.
//
// Axis-aligned maps (resize, crop, flip, letterbox) use a separable triangle
// filter whose support widens with the downscaling factor, as PIL and
// torchvision's `antialias=True` do, so a 500 px image shrunk to 224 px does
// not alias and a soft mask stays a faithful average of the original. Maps
// with a rotation part use plain bilinear sampling: the transforms here only
// rotate, they never shrink while rotating.
//
// Written on typed arrays rather than tfjs ops: `tf.image.resizeBilinear`
// has no antialiasing, and keeping image, mask and boxes on one exact
// geometry is easiest when all three go through the same two functions.

/** `x' = a·x + b·y + c`, `y' = d·x + e·y + f`, in pixel-edge coordinates. */
export interface Affine {
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  f: number;
}

/** The inverse of `m`; throws when `m` is singular. */
export function invertAffine(m: Affine): Affine {
  const det = m.a * m.e - m.b * m.d;
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) {
    throw new RangeError(`Cannot invert a singular transform (determinant ${det})`);
  }
  const a = m.e / det, b = -m.b / det, d = -m.d / det, e = m.a / det;
  return { a, b, c: -(a * m.c + b * m.f), d, e, f: -(d * m.c + e * m.f) };
}

/** Maps the point `(x, y)` through `m`. */
export function applyAffine(m: Affine, x: number, y: number): [number, number] {
  return [m.a * x + m.b * y + m.c, m.d * x + m.e * y + m.f];
}

/**
 * Resamples an `h × w × channels` HWC array to `outH × outW × channels`
 * through the forward map `m`: separable and antialiased when `m` has no
 * rotation part, bilinear otherwise.
 */
export function resample(
  src: Float32Array,
  [h, w, channels]: [number, number, number],
  [outH, outW]: [number, number],
  m: Affine,
): Float32Array {
  const job: Resampling = { src, h, w, ch: channels, outH, outW };
  return m.b === 0 && m.d === 0
    ? resampleSeparable(job, m)
    : resampleBilinear(job, invertAffine(m));
}

/** An `h × w × ch` HWC array to resample to `outH × outW × ch`. */
interface Resampling {
  src: Float32Array;
  h: number;
  w: number;
  ch: number;
  outH: number;
  outW: number;
}

/** Filter taps along one axis: output index `u` reads `count[u]` inputs from `start[u]`. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  stride: number;
}

/**
 * Triangle-filter taps for `out = scale · in + offset` along one axis.
 * Output samples whose centre maps outside `[0, inSize]` get no taps (0).
 */
function axisTaps(inSize: number, outSize: number, scale: number, offset: number): Taps {
  const spread = Math.max(1, 1 / Math.abs(scale));
  const stride = Math.ceil(2 * spread) + 2;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * stride);
  for (let u = 0; u < outSize; u++) {
    const centre = (u + 0.5 - offset) / scale;
    if (!(centre >= 0 && centre <= inSize)) continue;
    const lo = Math.max(0, Math.floor(centre - spread - 0.5));
    const hi = Math.min(inSize - 1, Math.ceil(centre + spread - 0.5));
    let first = -1, n = 0, total = 0;
    for (let k = lo; k <= hi; k++) {
      const wk = 1 - Math.abs(k + 0.5 - centre) / spread;
      if (wk <= 0) {
        if (first >= 0) break;
        continue;
      }
      if (first < 0) first = k;
      weights[u * stride + n++] = wk;
      total += wk;
    }
    start[u] = first;
    count[u] = n;
    for (let t = 0; t < n; t++) weights[u * stride + t] /= total;
  }
  return { start, count, weights, stride };
}

/** {@linkcode resample} through the axis-aligned forward map `m`. */
function resampleSeparable(job: Resampling, m: Affine): Float32Array {
  const { src, h, w, ch, outH, outW } = job;
  const xt = axisTaps(w, outW, m.a, m.c);
  const yt = axisTaps(h, outH, m.e, m.f);
  // Only the input rows some output row reads are resampled horizontally.
  let rowLo = h, rowHi = -1;
  for (let v = 0; v < outH; v++) {
    if (yt.count[v] === 0) continue;
    rowLo = Math.min(rowLo, yt.start[v]);
    rowHi = Math.max(rowHi, yt.start[v] + yt.count[v] - 1);
  }
  const out = new Float32Array(outH * outW * ch);
  if (rowHi < rowLo) return out;
  const rowLen = outW * ch;
  const tmp = new Float32Array((rowHi - rowLo + 1) * rowLen);
  for (let y = rowLo; y <= rowHi; y++) {
    const inRow = y * w * ch, tmpRow = (y - rowLo) * rowLen;
    for (let u = 0; u < outW; u++) {
      const n = xt.count[u];
      if (n === 0) continue;
      const base = inRow + xt.start[u] * ch, wBase = u * xt.stride;
      for (let c = 0; c < ch; c++) {
        let acc = 0;
        for (let t = 0; t < n; t++) acc += xt.weights[wBase + t] * src[base + t * ch + c];
        tmp[tmpRow + u * ch + c] = acc;
      }
    }
  }
  for (let v = 0; v < outH; v++) {
    const n = yt.count[v], outRow = v * rowLen;
    for (let t = 0; t < n; t++) {
      const wt = yt.weights[v * yt.stride + t];
      const tmpRow = (yt.start[v] + t - rowLo) * rowLen;
      for (let i = 0; i < rowLen; i++) out[outRow + i] += wt * tmp[tmpRow + i];
    }
  }
  return out;
}

/** {@linkcode resample} by bilinear sampling through the inverse map `inv`. */
function resampleBilinear(job: Resampling, inv: Affine): Float32Array {
  const { src, h, w, ch, outH, outW } = job;
  const out = new Float32Array(outH * outW * ch);
  for (let v = 0; v < outH; v++) {
    const py = v + 0.5;
    for (let u = 0; u < outW; u++) {
      const px = u + 0.5;
      const sx = inv.a * px + inv.b * py + inv.c;
      const sy = inv.d * px + inv.e * py + inv.f;
      if (!(sx >= 0 && sx <= w && sy >= 0 && sy <= h)) continue;
      const fx = sx - 0.5, fy = sy - 0.5;
      const x0 = Math.floor(fx), y0 = Math.floor(fy);
      const wx = fx - x0, wy = fy - y0;
      const xa = x0 < 0 ? 0 : x0, xb = x0 + 1 > w - 1 ? w - 1 : x0 + 1;
      const ya = y0 < 0 ? 0 : y0, yb = y0 + 1 > h - 1 ? h - 1 : y0 + 1;
      const p00 = (ya * w + xa) * ch, p01 = (ya * w + xb) * ch;
      const p10 = (yb * w + xa) * ch, p11 = (yb * w + xb) * ch;
      const o = (v * outW + u) * ch;
      for (let c = 0; c < ch; c++) {
        const top = src[p00 + c] + wx * (src[p01 + c] - src[p00 + c]);
        const bottom = src[p10 + c] + wx * (src[p11 + c] - src[p10 + c]);
        out[o + c] = top + wy * (bottom - top);
      }
    }
  }
  return out;
}
