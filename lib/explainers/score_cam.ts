/**
 * Score-CAM (Wang et al., CVPR Workshops 2020).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import {
  type BatchOptions,
  type CamOptions,
  checkBatchSize,
  perturbationScores,
  registerExplainer,
  runCam,
} from "./core.ts";

/** Options of {@linkcode scoreCam}. */
export interface ScoreCamOptions extends CamOptions, BatchOptions {}

/**
 * Score-CAM: each channel of the layer's activations, upsampled to the
 * input and scaled to [0, 1], masks the image; the masked image's target
 * score is the channel's evidence, and the weights are the softmax of those
 * scores over the channels; the map is `ReLU(Σ_k w_k A_k)`. One forward
 * pass per channel and image, batched `batchSize` at a time; no gradients.
 *
 * Departures: as pytorch-grad-cam, the weights are the softmax over channels
 * of the target's score (a logit by default) where the paper uses each
 * masked input's softmax class probability; a constant channel masks the
 * image to zero. Each channel is upsampled to the input with half-pixel
 * centres (tfjs's `resizeBilinear(…, alignCorners: false, halfPixelCenters:
 * true)`, as OpenCV and the shared CAM upsampling do), where pytorch-grad-cam
 * uses `nn.UpsamplingBilinear2d`, which aligns corners (`align_corners=True`):
 * the masks, and so the weights, differ slightly from pytorch-grad-cam's
 * for the same activations. Maps are divided by their maximum. Images `[n, h, w, c]` →
 * maps `[n, h, w]` in [0, 1]; the caller disposes them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { scoreCam } from "./score_cam.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = scoreCam(model, images, { batchSize: 16 });
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * assert.ok(maps.min().dataSync()[0] >= 0 && maps.max().dataSync()[0] <= 1);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function scoreCam(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: ScoreCamOptions = {},
): tf.Tensor3D {
  const batchSize = options.batchSize ?? 64;
  checkBatchSize(batchSize);
  const [h, w] = model.inputShape;
  return runCam(model, images, options, {
    gradients: false,
    fixClasses: true,
    weights: ({ activations, images, target }) => {
      const [n, ah, aw, k] = activations.shape;
      // One single-channel map per (image, channel), image-major.
      const maps = tf.reshape(tf.transpose(activations, [0, 3, 1, 2]), [n * k, ah, aw, 1]);
      const scores = perturbationScores(model, target, {
        base: images,
        from: 0,
        count: k,
        batchSize,
        perturb: (rows, imageIdx, channel) => {
          const pick = Int32Array.from(imageIdx, (i, r) => i * k + channel[r]);
          const up = tf.image.resizeBilinear(
            tf.gather(maps, tf.tensor1d(pick, "int32")) as tf.Tensor4D,
            [h, w],
            false,
            true,
          );
          const lo = tf.min(up, [1, 2, 3], true), hi = tf.max(up, [1, 2, 3], true);
          const mask = tf.divNoNan(tf.sub(up, lo), tf.sub(hi, lo));
          return tf.mul(rows, mask) as tf.Tensor4D;
        },
      });
      return tf.softmax(tf.transpose(scores)) as tf.Tensor2D;
    },
  });
}

registerExplainer("score-cam", scoreCam);
