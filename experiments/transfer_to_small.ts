/**
 * Experiment: does saliency learned with masks survive transfer to a small
 * unannotated set? Pretrains on a large synthetic source (6 classes) with
 * and without mask supervision, fine-tunes each on a small target (3
 * classes, another seed, no annotations), and compares with training on the
 * target alone; the target's held-out annotated part scores the maps.
 *
 * Run: `deno run --allow-read --allow-write --allow-env --allow-ffi --allow-sys experiments/transfer_to_small.ts [--source-epochs 8] [--target-epochs 15] [--target-count 150]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as lab from "../mod.ts";

if (import.meta.main) {
  const { values: f } = parseArgs({
    options: {
      "source-epochs": { type: "string", default: "8" },
      "target-epochs": { type: "string", default: "15" },
      "target-count": { type: "string", default: "150" },
      out: { type: "string", default: "runs/transfer-to-small" },
    },
  });
  await lab.initBackend({ threads: navigator.hardwareConcurrency });
  const net = { backbone: "plain_cnn", backboneOptions: { width: 0.25 }, saliencyHead: "decoder" };
  const opt = { batchSize: 16, optimizer: { name: "adam" as const, lr: 3e-3 } };
  const source = lab.syntheticDataset({ size: 32, count: 900, numClasses: 6, seed: 1 });
  const count = Number(f["target-count"]);
  const target = lab.syntheticDataset({ size: 32, count, numClasses: 3, seed: 2 });
  const { train: trainIndices, test: indices } = target.officialSplit;
  const fit = { ...opt, dataset: lab.stripAnnotations(target, new Set()), trainIndices }; // no masks
  const pre = { ...opt, dataset: source, trainIndices: source.officialSplit.train };
  const explainers = ["branch", "grad-cam"];
  const evalOpts = { indices, explainers, faithfulness: false, progress: false };
  const results: Record<string, Record<string, number>> = {};
  for (const pretrain of ["masks", "labels-only", "none"]) {
    const model = lab.createTwoBranchModel({ ...net, numClasses: 3, inputSize: 32 });
    if (pretrain !== "none") {
      const src = lab.createTwoBranchModel({ ...net, numClasses: 6, inputSize: 32 });
      const loss = lab.mixedLoss({ ce: 1, bce: pretrain === "masks" ? 1 : 0 });
      await lab.train(src, { ...pre, loss, epochs: Number(f["source-epochs"]) });
      await lab.saveModel(src, `${f.out}/source-${pretrain}`);
      src.dispose();
      // Everything but the classifier's last layer (6 classes against 3) moves over.
      await lab.loadWeightsInto(model, `${f.out}/source-${pretrain}`, { strict: false });
    }
    await lab.train(model, { ...fit, epochs: Number(f["target-epochs"]) });
    const r = await lab.evaluate(model, target, evalOpts);
    const on = (m: string) => r.explainers[m].metrics.energyPointingGame.mean;
    const row = { accuracy: r.classification.accuracy.mean, branchOnObject: on("branch") };
    results[`pretrained: ${pretrain}`] = { ...row, gradCamOnObject: on("grad-cam") };
    model.dispose();
  }
  console.table(results);
  await lab.writeJsonAtomic(`${f.out}/results.json`, { flags: f, results });
  await lab.shutdownBackend();
}
