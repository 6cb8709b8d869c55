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
import { parseArgs } from "node:util";
import * as lab from "../mod.ts";
import { trainArms } from "./_two_arms.ts";

if (import.meta.main) {
  const { values: f } = parseArgs({
    options: {
      root: { type: "string" },
      size: { type: "string", default: "96" },
      epochs: { type: "string", default: "10" },
      out: { type: "string", default: "runs/cars-box-supervised" },
    },
  });
  if (!f.root || !(await lab.pathExists(f.root))) {
    const why = f.root ? `"${f.root}" was not found` : "is missing";
    console.error(`Flag --root ${why}: pass the Stanford Cars folder (devkit/ or CSV annotations)`);
    Deno.exit(2);
  }
  await lab.initBackend({ threads: navigator.hardwareConcurrency });
  const size = Number(f.size);
  const dir = `${f.out}/cache`;
  const cached = lab.cachedDataset(await lab.loadStanfordCars(f.root), { dir, size });
  const boxMask = (s: lab.Sample) =>
    s.boxes?.length ? { ...s, mask: lab.boxesToMask(s.boxes, s.image) } : s;
  const data: lab.Dataset = { ...cached, load: (i) => cached.load(i).then(boxMask) };
  const { train: trainIndices, test: indices } = data.officialSplit!;
  const results = await trainArms(data, {
    trainIndices,
    indices,
    arms: { baseline: {}, boxes: { box: 1 } },
    size,
    epochs: Number(f.epochs),
    out: f.out!,
    object: "Box",
  });
  console.table(results);
  await lab.writeJsonAtomic(`${f.out}/results.json`, { flags: f, results });
  await lab.shutdownBackend();
}
