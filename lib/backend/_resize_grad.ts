// ResizeBilinearGrad for wasm. tfjs's own gradient kernels ignore
// halfPixelCenters (so the gradient is wrong there), and the cpu one returns
// a transposed shape for non-square images. Bilinear resizing is linear and
// separable, y = Ry · x · Rxᵀ per channel, so dx = Ryᵀ · dy · Rx: two matrix
// multiplies. Private to lib/backend/.
import { tf } from "../deps.ts";
import { composedKernel } from "./_kernel_util.ts";

interface ResizeAttrs {
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

/**
 * The `[outSize, inSize]` matrix of one axis of tfjs's bilinear resize: row
 * `o` holds the weights with which output `o` mixes the input positions.
 */
export function bilinearMatrix(
  inSize: number,
  outSize: number,
  { alignCorners, halfPixelCenters }: ResizeAttrs,
): Float32Array {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const src = halfPixelCenters ? ratio * (o + 0.5) - 0.5 : ratio * o;
    const lo = Math.max(0, Math.floor(src));
    const hi = Math.min(inSize - 1, Math.ceil(src));
    const frac = src - lo;
    m[o * inSize + lo] += 1 - frac;
    m[o * inSize + hi] += frac;
  }
  return m;
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
  }
  return out;
}

/** Gradient of `resizeBilinear` with respect to its images. */
export function resizeBilinearGrad(
  images: tf.Tensor4D,
  dy: tf.Tensor4D,
  attrs: ResizeAttrs,
): tf.Tensor4D {
  const [n, h, w, c] = images.shape;
  const [, oh, ow] = dy.shape;
  // Transposed in JS: wasm's matMul with transposeA is several times slower.
  const ryT = tf.tensor2d(transpose(bilinearMatrix(h, oh, attrs), oh, h), [h, oh]);
  const rxT = tf.tensor2d(transpose(bilinearMatrix(w, ow, attrs), ow, w), [w, ow]);
  // Rows: [oh, n·ow·c] → [h, n·ow·c].
  const rows = tf.matMul(ryT, tf.reshape(tf.transpose(dy, [1, 0, 2, 3]), [oh, -1]));
  // Columns: [ow, n·h·c] → [w, n·h·c].
  const byCol = tf.reshape(tf.transpose(tf.reshape(rows, [h, n, ow, c]), [2, 1, 0, 3]), [ow, -1]);
  const cols = tf.matMul(rxT, byCol);
  return tf.transpose(tf.reshape(cols, [w, n, h, c]), [1, 2, 0, 3]);
}

/** The kernel config for registration on `backendName`. */
export function resizeGradKernel(backendName: string): tf.KernelConfig {
  return composedKernel("ResizeBilinearGrad", {
    inputs: ["images", "dy"],
    compute: (t, attrs: ResizeAttrs) => resizeBilinearGrad(t.images, t.dy, attrs),
    backendName,
  });
}
