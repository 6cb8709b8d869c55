/**
 * Eigen-CAM (Muhammad and Yeasin, IJCNN 2020).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { type CamOptions, registerExplainer, runCam } from "./core.ts";

/** Options of {@linkcode eigenCam}. Eigen-CAM takes no target. */
export interface EigenCamOptions extends Omit<CamOptions, "target"> {}

/** Repeated squarings of the Gram matrix: its 2^20th power, renormalised. */
const SQUARINGS = 20;

/**
 * The dominant eigenvector `[n, d, 1]` of symmetric positive semi-definite
 * matrices `[n, d, d]`: repeated squaring (each time divided by the largest
 * entry) leaves the outer product of the dominant eigenvector; its largest
 * column, normalised, is the vector. tfjs has no SVD or eigensolver, and
 * this needs only matrix products.
 */
function dominantEigenvector(gram: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    let m = gram;
    for (let i = 0; i < SQUARINGS; i++) {
      m = tf.divNoNan(m, tf.max(tf.abs(m), [1, 2], true)) as tf.Tensor3D;
      m = tf.matMul(m, m) as tf.Tensor3D;
    }
    const d = m.shape[2];
    const column = tf.cast(tf.oneHot(tf.argMax(tf.sum(tf.square(m), 1), 1), d), "float32");
    const v = tf.matMul(m, tf.expandDims(column, 2)) as tf.Tensor3D;
    return tf.divNoNan(v, tf.norm(v, "euclidean", 1, true)) as tf.Tensor3D;
  });
}

/**
 * `X v` for each image's centred activations `X` `[n, p, k]` (positions ×
 * channels) and their first right singular vector `v`: `[n, p]`, sign not
 * yet fixed. The eigenproblem is solved in the smaller of the two sizes:
 * `XᵀX` (`k × k`), or `XXᵀ` (`p × p`, then `v = Xᵀu / |Xᵀu|`), since late
 * stages have few positions and many channels.
 */
function principalProjection(x: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    const [, p, k] = x.shape;
    let v: tf.Tensor3D;
    if (p < k) {
      const u = dominantEigenvector(tf.matMul(x, x, false, true) as tf.Tensor3D);
      const xu = tf.matMul(x, u, true, false);
      v = tf.divNoNan(xu, tf.norm(xu, "euclidean", 1, true)) as tf.Tensor3D;
    } else {
      v = dominantEigenvector(tf.matMul(x, x, true, false) as tf.Tensor3D);
    }
    return tf.squeeze(tf.matMul(x, v), [2]) as tf.Tensor2D;
  });
}

/**
 * Eigen-CAM: the projection of the layer's activations onto their first
 * principal component, as pytorch-grad-cam computes it (activations
 * reshaped to positions × channels and centred over positions), then ReLU.
 * Class-agnostic: no target, no gradients, one forward pass to the layer.
 *
 * Departures: the component is found by repeated squaring of the smaller
 * Gram matrix (`XᵀX` or `XXᵀ`) instead of an SVD, and its sign, which an SVD
 * leaves arbitrary, is chosen so that the map correlates positively with the
 * channel sum of the activations. Maps are divided by their maximum.
 * Images `[n, h, w, c]` → maps `[n, h, w]` in [0, 1]; the caller disposes
 * them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { eigenCam } from "./eigen_cam.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = eigenCam(model, images);
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function eigenCam(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: EigenCamOptions = {},
): tf.Tensor3D {
  return runCam(model, images, options, {
    gradients: false,
    usesTarget: false,
    map: ({ activations }) => {
      const [n, h, w, k] = activations.shape;
      const flat = tf.reshape(activations, [n, h * w, k]) as tf.Tensor3D;
      const centred = tf.sub(flat, tf.mean(flat, 1, true)) as tf.Tensor3D;
      const projection = principalProjection(centred);
      const total = tf.sum(flat, 2);
      const sign = tf.sign(tf.sum(tf.mul(projection, total), 1, true));
      const signed = tf.mul(projection, tf.where(tf.equal(sign, 0), tf.onesLike(sign), sign));
      return tf.reshape(signed, [n, h, w]) as tf.Tensor3D;
    },
  });
}

registerExplainer("eigen-cam", eigenCam);
