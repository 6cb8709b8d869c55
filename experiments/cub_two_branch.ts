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
import { parseArgs } from "node:util";
import * as lab from "../mod.ts";
import { trainArms } from "./_two_arms.ts";

if (import.meta.main) {
  const { values: f } = parseArgs({
    options: {
      root: { type: "string" },
      size: { type: "string", default: "96" },
      epochs: { type: "string", default: "10" },
      out: { type: "string", default: "runs/cub-two-branch" },
    },
  });
  if (!f.root || !(await lab.pathExists(f.root))) {
    const why = f.root ? `"${f.root}" was not found` : "is missing";
    console.error(`Flag --root ${why}: pass the CUB_200_2011 folder (images.txt, images/)`);
    Deno.exit(2);
  }
  await lab.initBackend({ threads: navigator.hardwareConcurrency });
  const size = Number(f.size);
  const dir = `${f.out}/cache`;
  const data = lab.cachedDataset(await lab.loadCub(f.root), { dir, size });
  const { train: trainIndices, test: indices } = data.officialSplit!;
  const results = await trainArms(data, {
    trainIndices,
    indices,
    arms: { baseline: {}, masks: { bce: 1, dice: 1 } },
    size,
    epochs: Number(f.epochs),
    out: f.out!,
    object: "Bird",
  });
  console.table(results);
  await lab.writeJsonAtomic(`${f.out}/results.json`, { flags: f, results });
  await lab.shutdownBackend();
}
