/**
 * Experiment: the two-branch network (ResNet-18 at half width, decoder
 * saliency head) on CUB-200-2011, trained with cross-entropy alone and with
 * BCE + Dice on the birds' segmentation masks (same seed, data order and
 * budget). Prints test accuracy and the share of Grad-CAM and branch-map
 * energy on the bird; writes checkpoints, evaluations and `results.json`.
 *
 * Run: `deno run --allow-read --allow-write --allow-env --allow-ffi --allow-sys experiments/cub_two_branch.ts --root PATH/CUB_200_2011 [--size 96] [--epochs 10]`
 *
 * @module
 */
import * as lab from "../mod.ts";
import { runArmsExperiment } from "./_two_arms.ts";

if (import.meta.main) {
  await runArmsExperiment({
    out: "runs/cub-two-branch",
    root: "the CUB_200_2011 folder (images.txt, images/)",
    arms: { baseline: {}, masks: { bce: 1, dice: 1 } },
    object: "Bird",
    load: async (root, cache) => {
      const data = lab.cachedDataset(await lab.loadCub(root), cache);
      const { train: trainIndices, test: indices } = data.officialSplit!;
      return { data, trainIndices, indices };
    },
  });
}
