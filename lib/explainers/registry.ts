/**
 * Every explainer by name: `explain(model, images, { method, … })` and
 * `listExplainers()`.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { globToRegExp } from "../util/glob.ts";
import { getExplainer, registeredExplainers, type Target } from "./core.ts";
import type { AblationCamOptions } from "./ablation_cam.ts";
import type { AttentionRolloutOptions } from "./attention_rollout.ts";
import type { BranchSaliencyOptions } from "./branch.ts";
import type { RandomMapOptions } from "./random_map.ts";
import type { EigenCamOptions } from "./eigen_cam.ts";
import type { GradCamOptions } from "./grad_cam.ts";
import type { GradCamPlusPlusOptions } from "./grad_cam_plus_plus.ts";
import type { GradientXInputOptions } from "./gradient_x_input.ts";
import type { GuidedBackpropOptions } from "./guided_backprop.ts";
import type { HiResCamOptions } from "./hires_cam.ts";
import type { IntegratedGradientsOptions } from "./integrated_gradients.ts";
import type { LayerCamOptions } from "./layer_cam.ts";
import type { OcclusionOptions } from "./occlusion.ts";
import type { RiseOptions } from "./rise.ts";
import type { ScoreCamOptions } from "./score_cam.ts";
import type { SmoothGradOptions } from "./smooth_grad.ts";
import type { TransformerAttributionOptions } from "./transformer_attribution.ts";
import type { VanillaGradientOptions } from "./vanilla_gradient.ts";
import type { XGradCamOptions } from "./xgrad_cam.ts";
// Each method registers itself at the bottom of its file.
import "./vanilla_gradient.ts";
import "./gradient_x_input.ts";
import "./smooth_grad.ts";
import "./integrated_gradients.ts";
import "./guided_backprop.ts";
import "./grad_cam.ts";
import "./grad_cam_plus_plus.ts";
import "./xgrad_cam.ts";
import "./hires_cam.ts";
import "./layer_cam.ts";
import "./eigen_cam.ts";
import "./score_cam.ts";
import "./ablation_cam.ts";
import "./occlusion.ts";
import "./rise.ts";
import "./branch.ts";
import "./attention_rollout.ts";
import "./transformer_attribution.ts";
import "./random_map.ts";

/** The built-in methods' options, by name. */
export interface ExplainerOptionsByName {
  /** {@linkcode vanillaGradient} */
  "vanilla-gradient": VanillaGradientOptions;
  /** {@linkcode gradientXInput} */
  "gradient-x-input": GradientXInputOptions;
  /** {@linkcode smoothGrad} */
  "smooth-grad": SmoothGradOptions;
  /** {@linkcode integratedGradients} */
  "integrated-gradients": IntegratedGradientsOptions;
  /** {@linkcode guidedBackprop} */
  "guided-backprop": GuidedBackpropOptions;
  /** {@linkcode gradCam} */
  "grad-cam": GradCamOptions;
  /** {@linkcode gradCamPlusPlus} */
  "grad-cam++": GradCamPlusPlusOptions;
  /** {@linkcode xGradCam} */
  "xgrad-cam": XGradCamOptions;
  /** {@linkcode hiResCam} */
  "hires-cam": HiResCamOptions;
  /** {@linkcode layerCam} */
  "layer-cam": LayerCamOptions;
  /** {@linkcode eigenCam} */
  "eigen-cam": EigenCamOptions;
  /** {@linkcode scoreCam} */
  "score-cam": ScoreCamOptions;
  /** {@linkcode ablationCam} */
  "ablation-cam": AblationCamOptions;
  /** {@linkcode occlusion} */
  "occlusion": OcclusionOptions;
  /** {@linkcode rise} */
  "rise": RiseOptions;
  /** {@linkcode branchSaliency} */
  "branch": BranchSaliencyOptions;
  /** {@linkcode attentionRollout} */
  "attention-rollout": AttentionRolloutOptions;
  /** {@linkcode transformerAttribution} */
  "transformer-attribution": TransformerAttributionOptions;
  /** {@linkcode randomMap}, the control */
  "random": RandomMapOptions;
}

/** A built-in method's name. */
export type ExplainerName = keyof ExplainerOptionsByName;

/** Options {@linkcode explain} takes for every method. */
export interface ExplainPassOptions {
  /**
   * Images explained in one pass: a larger batch is explained in slices of
   * this many (each slice's maps are the same as alone), so memory is
   * bounded whatever the batch. Per-image targets are sliced with it, and a
   * target function still sees each row's index in the whole batch.
   *
   * @default {16}
   */
  imagesPerPass?: number;
}

/** The options of {@linkcode explain}: `method` and that method's options. */
export type ExplainRequest =
  & {
    [K in ExplainerName]: { method: K } & ExplainerOptionsByName[K];
  }[ExplainerName]
  & ExplainPassOptions;

/**
 * Runs the explainer registered as `options.method` with the rest of
 * `options`. Images `[n, h, w, c]` → maps `[n, h, w]` in [0, 1]; the caller
 * disposes them. An unknown method throws a `TypeError` listing the names.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { explain } from "./registry.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.125 });
 * const images = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
 * const maps = explain(model, images, { method: "grad-cam", layer: "block1", target: 2 });
 * assert.deepStrictEqual(maps.shape, [2, 16, 16]);
 * assert.ok(maps.max().dataSync()[0] <= 1); // normalised per image
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 */
export function explain(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: ExplainRequest,
): tf.Tensor3D {
  const { method, ...rest } = options ?? {};
  const fn = typeof method === "string" ? getExplainer(method) : undefined;
  if (!fn) {
    throw new TypeError(
      `Unknown explainer ${JSON.stringify(method)}: expected one of ${
        registeredExplainers().join(", ")
      }`,
    );
  }
  const { imagesPerPass = 16, ...methodOptions } = rest as
    & Record<string, unknown>
    & ExplainPassOptions;
  if (!(Number.isInteger(imagesPerPass) && imagesPerPass >= 1)) {
    throw new RangeError(
      `Option "imagesPerPass" must be a positive integer, got ${JSON.stringify(imagesPerPass)}`,
    );
  }
  const n = images.shape[0];
  if (n <= imagesPerPass) return fn(model, images, methodOptions);
  const parts: tf.Tensor3D[] = [];
  try {
    for (let start = 0; start < n; start += imagesPerPass) {
      const size = Math.min(imagesPerPass, n - start);
      const slice = tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1]) as tf.Tensor4D;
      const target = sliceTarget(methodOptions.target as Target | undefined, start, size);
      try {
        parts.push(fn(model, slice, { ...methodOptions, target }));
      } finally {
        slice.dispose();
        // A tensor target sliced here (directly or inside a probability target).
        const sliced = target instanceof tf.Tensor
          ? target
          : (target as { class?: unknown } | undefined)?.class;
        if (sliced instanceof tf.Tensor && sliced !== methodOptions.target) sliced.dispose();
      }
    }
    return tf.concat(parts) as tf.Tensor3D;
  } finally {
    tf.dispose(parts);
  }
}

/** The part of a target that applies to images `start` to `start + size`. */
function sliceTarget(target: Target | undefined, start: number, size: number): Target | undefined {
  if (target === undefined || target === "predicted" || typeof target === "number") return target;
  if (typeof target === "function") {
    return (logits, rows) => target(logits, rows.map((r) => r + start));
  }
  if (target instanceof tf.Tensor) {
    return tf.tidy(() => tf.slice(target, [start], [size])) as tf.Tensor1D;
  }
  if (Array.isArray(target) || target instanceof Int32Array) {
    return (target as readonly number[]).slice(start, start + size);
  }
  const probability = target as { probability: true; class?: Target };
  return { ...probability, class: sliceTarget(probability.class, start, size) as never };
}

/**
 * The registered explainer names, sorted; `pattern` keeps those it matches,
 * where `*` stands for any run of characters (`"*cam*"`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { listExplainers } from "./registry.ts";
 * const cams = listExplainers("*cam*"); // ["ablation-cam", "eigen-cam", "grad-cam", "grad-cam++", …]
 * assert.deepStrictEqual(cams.slice(0, 4), ["ablation-cam", "eigen-cam", "grad-cam", "grad-cam++"]);
 * assert.ok(cams.every((name) => name.includes("cam")));
 * assert.ok(!cams.includes("rise"));
 * ```
 */
export function listExplainers(pattern?: string): string[] {
  const names = registeredExplainers();
  if (pattern === undefined) return names;
  const re = globToRegExp(pattern);
  return names.filter((n) => re.test(n));
}
