// The table-driven test: every explainer on every model we can build (the
// reference network at several sizes, a two-branch model on every registered
// backbone, and one per registered saliency head), at every spatial stage
// for the CAM methods.
import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import { createTwoBranchModel, type TwoBranchOptions } from "../../lib/models/two_branch.ts";
import { listBackbones } from "../../lib/backbones/mod.ts";
import { listSaliencyHeads } from "../../lib/heads/mod.ts";
import type { TwoBranchModel } from "../../lib/models/types.ts";
import { explain, type ExplainRequest, listExplainers } from "../../lib/explainers/registry.ts";
import { VisionTransformer } from "../../lib/backbones/vit.ts";
import { useEngines, warmUp } from "../_helpers.ts";

await useEngines();

/** The methods that need a vision transformer; any other model gets a one-line TypeError. */
const ATTENTION = ["attention-rollout", "transformer-attribution"];

const CAMS = ["grad-cam", "grad-cam++", "xgrad-cam", "hires-cam", "layer-cam", "eigen-cam"];

/** Small settings, so that the table stays fast. */
const SMALL: Record<string, Record<string, unknown>> = {
  "smooth-grad": { samples: 3 },
  "integrated-gradients": { steps: 3 },
  "score-cam": { batchSize: 256 },
  "ablation-cam": { batchSize: 256 },
  "occlusion": { stride: 4, batchSize: 128 },
  "rise": { masks: 32, cells: 4, batchSize: 64 },
};

/** A two-branch model; the CIFAR stem where the backbone has one, so small inputs stay spatial. */
function twoBranch(options: Omit<TwoBranchOptions, "inputSize">): TwoBranchModel {
  for (const stem of ["small", undefined] as const) {
    try {
      const backboneOptions = { width: 0.125, ...(stem ? { stem } : {}) };
      const probe = createTwoBranchModel({ ...options, backboneOptions, inputSize: 256 });
      const reduction = probe.featureInfo[probe.featureInfo.length - 1].reduction;
      probe.dispose();
      // Twice the last reduction: the last stage is 2×2.
      return createTwoBranchModel({ ...options, backboneOptions, inputSize: 2 * reduction });
    } catch (e) {
      if (!(stem && /does not apply/.test((e as Error).message))) throw e;
    }
  }
  throw new Error("unreachable");
}

const MODELS: [string, () => TwoBranchModel][] = [
  ["reference 12×12×3", () => createReferenceNet({ numClasses: 3, inputSize: 12, width: 0.125 })],
  [
    "reference 16×16×1, 4 classes",
    () => createReferenceNet({ numClasses: 4, inputSize: 16, inputChannels: 1, width: 0.25 }),
  ],
  ...listBackbones().map((backbone): [string, () => TwoBranchModel] => [
    `two-branch ${backbone}`,
    () => twoBranch({ backbone, numClasses: 3, seed: 1 }),
  ]),
  ...listSaliencyHeads().map((head): [string, () => TwoBranchModel] => [
    `two-branch plain_cnn, ${head} head`,
    () => twoBranch({ backbone: "plain_cnn", saliencyHead: head, numClasses: 2, seed: 2 }),
  ]),
];

for (const [label, build] of MODELS) {
  Deno.test(`every explainer runs on ${label}: [n, h, w] maps in [0, 1], no leaks`, () => {
    const model = build();
    const [h, w, c] = model.inputShape;
    const images = tf.randomUniform([2, h, w, c], 0, 1, "float32", 5) as tf.Tensor4D;
    warmUp(model);
    const before = tf.memory().numTensors;
    const spatial = model.featureInfo
      .map((s, i) => (Math.ceil(h / s.reduction) * Math.ceil(w / s.reduction) > 1 ? i : -1))
      .filter((i) => i >= 0);
    const vit = (model as { backbone?: unknown }).backbone instanceof VisionTransformer;
    const methods = listExplainers().filter((m) => vit || !ATTENTION.includes(m));
    for (const method of vit ? [] : ATTENTION) {
      assert.throws(
        () => explain(model, images, { method } as ExplainRequest),
        (e: Error) =>
          e instanceof TypeError && /needs a vision transformer/.test(e.message) &&
          !e.message.includes("\n"),
        `${label}, ${method}: refuses a model without a vision transformer`,
      );
    }
    const runs: [string, ExplainRequest][] = methods.map((method) => [
      method,
      { method, ...SMALL[method] } as ExplainRequest,
    ]);
    for (const method of CAMS) {
      for (const layer of spatial) {
        runs.push([
          `${method} at ${model.featureInfo[layer].name}`,
          { method, layer } as ExplainRequest,
        ]);
      }
    }
    for (const [name, request] of runs) {
      const maps = explain(model, images, request);
      assert.deepEqual(maps.shape, [2, h, w], `${label}, ${name}: shape`);
      const v = maps.dataSync();
      maps.dispose();
      assert.ok(v.every((x) => x >= 0 && x <= 1), `${label}, ${name}: values in [0, 1]`);
      for (let i = 0; i < 2; i++) {
        const max = Math.max(...v.subarray(i * h * w, (i + 1) * h * w));
        assert.ok(max === 1 || max === 0, `${label}, ${name}: image ${i} peaks at ${max}`);
      }
    }
    assert.equal(tf.memory().numTensors, before, `${label}: no tensor leaks`);
    images.dispose();
    model.dispose();
  });
}
