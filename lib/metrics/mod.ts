/**
 * Metrics: faithfulness of maps to the model (deletion and insertion, ROAD,
 * confidence drop, a random-map control), sanity checks (model-parameter
 * randomisation) and the statistics to report them with their uncertainty
 * (bootstrap intervals, paired tests, aggregation over seeds).
 *
 * @example Deletion with a bootstrap interval over images
 * ```ts
 * import assert from "node:assert";
 * import { bootstrapCi, deletionAuc } from "./mod.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([4, 8, 8, 3]) as tf.Tensor4D;
 * const maps = tf.randomUniform([4, 8, 8]) as tf.Tensor3D;
 * const { auc } = await deletionAuc(model, { images, maps }, { steps: 4 });
 * const ci = bootstrapCi(auc, { resamples: 500, seed: 1 });
 * assert.ok(Math.abs(ci.estimate - auc.reduce((a, b) => a + b) / 4) < 1e-12); // the mean area
 * assert.ok(ci.low <= ci.estimate && ci.estimate <= ci.high);
 * tf.dispose([images, maps]);
 * model.dispose();
 * ```
 *
 * @module
 */
export * from "./faithfulness.ts";
export * from "./sanity.ts";
export * from "./statistics.ts";
export * from "./classification.ts";
export * from "./localization.ts";
export * from "./verdict.ts";
