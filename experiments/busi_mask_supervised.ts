/**
 * Experiment: mask supervision on BUSI (breast ultrasound: benign,
 * malignant, normal). The two-branch network (ResNet-18 at half width,
 * decoder saliency head) trained with cross-entropy alone and with BCE +
 * Dice on the lesion masks, same seed, data order and budget, on a seeded
 * stratified 80/20 split. Prints test accuracy and the share of Grad-CAM
 * and branch-map energy on the lesion (normal images, with empty masks,
 * are left out of it); writes checkpoints, evaluations and `results.json`.
 * Duplicated scans (found by `duplicateGroups`) stay on one side of the split.
 *
 * Run: `deno run --allow-read --allow-write --allow-env --allow-ffi --allow-sys experiments/busi_mask_supervised.ts --root PATH/Dataset_BUSI_with_GT [--size 96] [--epochs 10]`
 *
 * @module
 */
import * as lab from "../mod.ts";
import { runArmsExperiment } from "./_two_arms.ts";

if (import.meta.main) {
  await runArmsExperiment({
    out: "runs/busi-mask-supervised",
    root: "the Dataset_BUSI_with_GT folder (benign/, malignant/, normal/)",
    arms: { baseline: {}, masks: { bce: 1, dice: 1 } },
    object: "Lesion",
    load: async (root, cache) => {
      const busi = await lab.loadBusi(root);
      // BUSI files some scans twice, even under two classes: copies stay on one side of the split.
      const groups = await lab.duplicateGroups(busi);
      const data = lab.cachedDataset(busi, cache);
      const labels = data.records.map((r) => r.label);
      const split = lab.stratifiedSplit(labels, { train: 0.8, val: 0, test: 0.2, seed: 0, groups });
      return { data, trainIndices: split.train, indices: split.test };
    },
  });
}
