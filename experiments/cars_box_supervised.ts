/**
 * Experiment: box supervision on Stanford Cars. The two-branch network
 * (ResNet-18 at half width, decoder saliency head) trained with
 * cross-entropy alone and with the box loss (saliency energy outside the
 * car's box, the boxes drawn as masks), same seed, data order and budget.
 * Prints test accuracy and the share of Grad-CAM and branch-map energy in
 * the box; writes checkpoints, evaluations and `results.json`.
 *
 * Run: `deno run --allow-read --allow-write --allow-env --allow-ffi --allow-sys experiments/cars_box_supervised.ts --root PATH/stanford_cars [--size 96] [--epochs 10]`
 *
 * @module
 */
import * as lab from "../mod.ts";
import { runArmsExperiment } from "./_two_arms.ts";

if (import.meta.main) {
  await runArmsExperiment({
    out: "runs/cars-box-supervised",
    root: "the Stanford Cars folder (devkit/ or CSV annotations)",
    arms: { baseline: {}, boxes: { box: 1 } },
    object: "Box",
    load: async (root, cache) => {
      const cached = lab.cachedDataset(await lab.loadStanfordCars(root), cache);
      const boxMask = (s: lab.Sample) =>
        s.boxes?.length ? { ...s, mask: lab.boxesToMask(s.boxes, s.image) } : s;
      const data: lab.Dataset = { ...cached, load: (i) => cached.load(i).then(boxMask) };
      const { train: trainIndices, test: indices } = data.officialSplit!;
      return { data, trainIndices, indices };
    },
  });
}
