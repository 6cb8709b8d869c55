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
import { parseArgs } from "node:util";
import * as lab from "../mod.ts";
import { trainArms } from "./_two_arms.ts";

if (import.meta.main) {
  const { values: f } = parseArgs({
    options: {
      root: { type: "string" },
      size: { type: "string", default: "96" },
      epochs: { type: "string", default: "10" },
      out: { type: "string", default: "runs/busi-mask-supervised" },
    },
  });
  if (!f.root || !(await lab.pathExists(f.root))) {
    const why = f.root ? `"${f.root}" was not found` : "is missing";
    console.error(
      `Flag --root ${why}: pass the Dataset_BUSI_with_GT folder (benign/, malignant/, normal/)`,
    );
    Deno.exit(2);
  }
  await lab.initBackend({ threads: navigator.hardwareConcurrency });
  const size = Number(f.size);
  const dir = `${f.out}/cache`;
  const busi = await lab.loadBusi(f.root);
  // BUSI files some scans twice, even under two classes: copies stay on one side of the split.
  const groups = await lab.duplicateGroups(busi);
  const data = lab.cachedDataset(busi, { dir, size });
  const labels = data.records.map((r) => r.label);
  const split = lab.stratifiedSplit(labels, { train: 0.8, val: 0, test: 0.2, seed: 0, groups });
  const [trainIndices, indices] = [split.train, split.test];
  const results = await trainArms(data, {
    trainIndices,
    indices,
    arms: { baseline: {}, masks: { bce: 1, dice: 1 } },
    size,
    epochs: Number(f.epochs),
    out: f.out!,
    object: "Lesion",
  });
  console.table(results);
  await lab.writeJsonAtomic(`${f.out}/results.json`, { flags: f, results });
  await lab.shutdownBackend();
}
