/**
 * Explainers: gradients, the CAM family, perturbation methods and the
 * model's own saliency branch, under one contract: `(model, images,
 * options)` → maps `[n, h, w]` in [0, 1], one per image, at input
 * resolution. `explain(model, images, { method })` dispatches by name.
 *
 * @example Every method on one batch (the attention methods need a vision transformer)
 * ```ts
 * import assert from "node:assert";
 * import { explain, listExplainers } from "./mod.ts";
 * import type { ExplainRequest } from "./mod.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const attention = ["attention-rollout", "transformer-attribution"];
 * for (const method of listExplainers().filter((m) => !attention.includes(m))) {
 *   const maps = explain(model, images, { method, batchSize: 32 } as ExplainRequest);
 *   assert.deepStrictEqual(maps.shape, [2, 8, 8], method);
 *   assert.ok(maps.max().dataSync()[0] <= 1, method);
 *   maps.dispose();
 * }
 * images.dispose();
 * model.dispose();
 * ```
 *
 * @module
 */
export type {
  BatchOptions,
  CamOptions,
  ClassTarget,
  ExplainOptions,
  LayerOptions,
  LayerSpec,
  ProbabilityTarget,
  Target,
  TargetFunction,
} from "./core.ts";
export { registerExplainer, resolveLayers } from "./core.ts";
export * from "./vanilla_gradient.ts";
export * from "./gradient_x_input.ts";
export * from "./smooth_grad.ts";
export * from "./integrated_gradients.ts";
export * from "./guided_backprop.ts";
export * from "./grad_cam.ts";
export * from "./grad_cam_plus_plus.ts";
export * from "./xgrad_cam.ts";
export * from "./hires_cam.ts";
export * from "./layer_cam.ts";
export * from "./eigen_cam.ts";
export * from "./score_cam.ts";
export * from "./ablation_cam.ts";
export * from "./occlusion.ts";
export * from "./rise.ts";
export * from "./branch.ts";
export * from "./attention_rollout.ts";
export * from "./transformer_attribution.ts";
export * from "./random_map.ts";
export * from "./registry.ts";
