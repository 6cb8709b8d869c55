/**
 * The loop the real-data experiments share: train the two-branch network
 * (ResNet-18 at half width, decoder saliency head) once per arm, each arm a
 * weighting of `mixedLoss` with the same seed, data order and budget, then
 * evaluate it on the test split and report accuracy and the share of
 * Grad-CAM and branch-map energy on the object.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as lab from "../mod.ts";

/** What {@linkcode trainArms} needs. */
export interface ArmsOptions {
  /** Training and test indices into `data`. */
  trainIndices: readonly number[];
  /** Test indices into `data`. */
  indices: readonly number[];
  /** Arm name → `mixedLoss` weights (`{}`: cross-entropy alone). */
  arms: Record<string, Parameters<typeof lab.mixedLoss>[0]>;
  /** Input size of the images in `data`. */
  size: number;
  /** Epochs per arm. */
  epochs: number;
  /** Batch size. @default {32} */
  batchSize?: number;
  /** Output folder: one subfolder per arm. */
  out: string;
  /** The object, as the result columns name it ("Bird" → `gradCamOnBird`). */
  object: string;
}

/**
 * Trains and evaluates each arm on `data`; resolves to one row per arm:
 * accuracy and the mean energy pointing game of Grad-CAM and of the branch
 * map, as `gradCamOn<object>` and `branchOn<object>`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { trainArms } from "./_two_arms.ts";
 * import { initBackend, syntheticDataset } from "../mod.ts";
 * await initBackend({ backend: "wasm", log: null });
 * const data = syntheticDataset({ count: 8, size: 64, numClasses: 2, seed: 0 });
 * const out = await Deno.makeTempDir();
 * const rows = await trainArms(data, {
 *   trainIndices: [0, 1, 2, 3], indices: [4, 5, 6, 7], arms: { baseline: {} },
 *   size: 64, epochs: 1, batchSize: 4, out, object: "Shape",
 * });
 * assert.deepStrictEqual(Object.keys(rows.baseline), ["accuracy", "gradCamOnShape", "branchOnShape"]);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function trainArms(
  data: lab.Dataset,
  o: ArmsOptions,
): Promise<Record<string, Record<string, number>>> {
  const net = { backbone: "resnet18", backboneOptions: { width: 0.5 }, saliencyHead: "decoder" };
  const explainers = ["grad-cam", "vanilla-gradient", "branch"];
  const numClasses = data.classNames.length;
  const results: Record<string, Record<string, number>> = {};
  for (const [name, weights] of Object.entries(o.arms)) {
    const model = lab.createTwoBranchModel({ ...net, numClasses, inputSize: o.size });
    const outDir = `${o.out}/${name}`;
    await lab.train(model, {
      dataset: data,
      trainIndices: o.trainIndices,
      epochs: o.epochs,
      batchSize: o.batchSize ?? 32,
      loss: lab.mixedLoss(weights),
      outDir,
      overwrite: true,
    });
    const r = await lab.evaluate(model, data, {
      indices: o.indices,
      explainers,
      faithfulness: false,
      outFile: `${outDir}/eval.json`,
    });
    const on = (m: string) => r.explainers[m].metrics.energyPointingGame.mean;
    results[name] = {
      accuracy: r.classification.accuracy.mean,
      [`gradCamOn${o.object}`]: on("grad-cam"),
      [`branchOn${o.object}`]: on("branch"),
    };
    model.dispose();
  }
  return results;
}

/** What {@linkcode runArmsExperiment} needs. */
export interface ArmsExperiment {
  /** The default output folder. */
  out: string;
  /** What `--root` must name, for the error when it is missing. */
  root: string;
  /** Arm name → `mixedLoss` weights, as in {@linkcode ArmsOptions.arms}. */
  arms: ArmsOptions["arms"];
  /** The object, as in {@linkcode ArmsOptions.object}. */
  object: string;
  /**
   * Loads the dataset under `root`, cached at `cache.size` pixels under
   * `cache.dir`, with its training and test indices.
   */
  load: (
    root: string,
    cache: { dir: string; size: number },
  ) => Promise<{ data: lab.Dataset; trainIndices: readonly number[]; indices: readonly number[] }>;
}

/**
 * The main of a real-data experiment: parses `--root`, `--size` (96),
 * `--epochs` (10) and `--out`, exits with status 2 when the root is missing,
 * runs {@linkcode trainArms} on the loaded dataset, prints the table and
 * writes it with the flags to `<out>/results.json`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { runArmsExperiment } from "./_two_arms.ts";
 * assert.equal(typeof runArmsExperiment, "function");
 * ```
 */
export async function runArmsExperiment(experiment: ArmsExperiment): Promise<void> {
  const { values: f } = parseArgs({
    options: {
      root: { type: "string" },
      size: { type: "string", default: "96" },
      epochs: { type: "string", default: "10" },
      out: { type: "string", default: experiment.out },
    },
  });
  if (!f.root || !(await lab.pathExists(f.root))) {
    const why = f.root ? `"${f.root}" was not found` : "is missing";
    console.error(`Flag --root ${why}: pass ${experiment.root}`);
    Deno.exit(2);
  }
  await lab.initBackend({ threads: navigator.hardwareConcurrency });
  const size = Number(f.size);
  const { data, trainIndices, indices } = await experiment.load(f.root, {
    dir: `${f.out}/cache`,
    size,
  });
  const results = await trainArms(data, {
    trainIndices,
    indices,
    arms: experiment.arms,
    size,
    epochs: Number(f.epochs),
    out: f.out!,
    object: experiment.object,
  });
  console.table(results);
  await lab.writeJsonAtomic(`${f.out}/results.json`, { flags: f, results });
  await lab.shutdownBackend();
}
