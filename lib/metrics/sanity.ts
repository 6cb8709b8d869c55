/**
 * Sanity checks for saliency maps: the model-parameter randomisation test
 * of Adebayo et al. ("Sanity Checks for Saliency Maps", NeurIPS 2018).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { explain, type ExplainRequest } from "../explainers/registry.ts";
import { Random } from "../util/random.ts";
import { spearman } from "./statistics.ts";

/** A group of variables randomised together, by path. */
export interface VariableGroup {
  /** The group's name (a stage name, or `"head"`). */
  name: string;
  /** The variable paths, as in `model.variables()`. */
  paths: string[];
}

/** Options of {@linkcode parameterRandomizationTest}. */
export interface ParameterRandomizationOptions {
  /**
   * The explainer: a request for `explain()` (its `target` defaults to the
   * class the original model predicts, kept fixed while the model is
   * randomised), or a function of the model and images returning maps
   * `[n, h, w]` that this test disposes.
   */
  explainer: ExplainRequest | ((model: TwoBranchModel, images: tf.Tensor4D) => tf.Tensor3D);
  /** Seed of the re-initialisation. @default {0} */
  seed?: number;
  /**
   * The groups to randomise, top first, cumulatively. The default
   * ({@linkcode layerGroups}) is the heads, then each backbone stage from
   * the last to the first.
   */
  groups?: readonly VariableGroup[];
  /** Also randomise non-trainable variables (batch-norm statistics). @default {false} */
  includeNonTrainable?: boolean;
}

/** One step of the cascade. */
export interface RandomizationStep {
  /** `"original"` for step 0, else the group randomised at this step. */
  name: string;
  /** Every variable randomised so far (cumulative), by path. */
  randomized: string[];
  /** Spearman's rank correlation of each image's original and current map (`NaN` when a map is constant). */
  spearman: number[];
  /** The mean of the finite correlations (`NaN` when none is). */
  mean: number;
  /** How many images had an undefined (`NaN`) correlation. */
  undefinedCount: number;
}

/** The result of {@linkcode parameterRandomizationTest}. */
export interface ParameterRandomizationResult {
  /** Step 0 (the unchanged model, maps computed again) and one step per group. */
  steps: RandomizationStep[];
}

function stageOf(path: string, names: readonly string[]): number {
  const segments = path.split("/");
  for (let s = names.length - 1; s >= 0; s--) {
    const name = names[s];
    if (segments.some((seg) => seg === name || seg.startsWith(`${name}_`))) return s;
  }
  return -1;
}

/**
 * A model's variables grouped for the cascading randomisation, top first:
 * `"head"` (every variable in no stage: the classification and saliency
 * heads), then each backbone stage from the last to the first. A variable
 * belongs to stage `name` when a segment of its path is `name` or starts
 * with `name_` (`reference_net/block1_conv2/conv/kernel` is in `block1`).
 * Empty groups are left out.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { layerGroups } from "./sanity.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * const model = createReferenceNet({ inputSize: 8, width: 0.125 });
 * assert.deepStrictEqual(layerGroups(model).map((g) => g.name), ["head", "block2", "block1", "stem"]);
 * model.dispose();
 * ```
 */
export function layerGroups(model: TwoBranchModel): VariableGroup[] {
  const names = model.featureInfo.map((s) => s.name);
  const byStage: string[][] = names.map(() => []);
  const head: string[] = [];
  for (const path of model.variables().keys()) {
    const s = stageOf(path, names);
    (s < 0 ? head : byStage[s]).push(path);
  }
  const groups: VariableGroup[] = [{ name: "head", paths: head }];
  for (let s = names.length - 1; s >= 0; s--) groups.push({ name: names[s], paths: byStage[s] });
  return groups.filter((g) => g.paths.length > 0);
}

async function runExplainer(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  explainer: ParameterRandomizationOptions["explainer"],
  classes: number[],
): Promise<Float32Array> {
  const maps = typeof explainer === "function"
    ? explainer(model, images)
    : explain(model, images, { target: classes, ...explainer } as ExplainRequest);
  try {
    return await maps.data() as Float32Array;
  } finally {
    maps.dispose();
  }
}

/**
 * The model-parameter randomisation test (Adebayo et al., NeurIPS 2018):
 * the model's weights are re-initialised group by group from the top (the
 * heads) down to the first stage, cascading (each step keeps the groups
 * before it randomised), and after each step the maps are computed again;
 * each step reports, per image, Spearman's rank correlation between the
 * original and the current map. A map that depends on the model should
 * decorrelate quickly; one that stays correlated is an edge detector.
 *
 * Re-initialisation: each trainable variable of the group is replaced by
 * seeded Gaussian noise with the mean and standard deviation of its own
 * values ("the same scale"); a constant variable (std 0, e.g. a fresh
 * batch-norm scale or a zero bias) is left as it is. Batch-norm running
 * statistics are kept unless `includeNonTrainable`. Departure from the
 * paper: it re-draws from each layer's initialiser; the model contract has
 * no initialisers, so this matches the trained weights' scale instead.
 *
 * Step 0 runs the explainer again on the unchanged model, so it is 1 for a
 * deterministic explainer. Every variable is restored afterwards, also when
 * the explainer throws. Images `[n, h, w, c]`; the caller keeps them.
 *
 * It resolves asynchronously: the predictions, the maps and the weights are
 * read back with `await tensor.data()` (one read per step for the maps of
 * all images), so it runs on WebGPU too. While the promise is pending the
 * model holds randomised weights: do not use the model elsewhere until it
 * settles.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { parameterRandomizationTest } from "./sanity.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const images = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const r = await parameterRandomizationTest(model, images, { explainer: { method: "grad-cam" } });
 * assert.deepStrictEqual(r.steps.map((s) => s.name), ["original", "head", "block2", "block1", "stem"]);
 * images.dispose();
 * model.dispose();
 * ```
 */
export async function parameterRandomizationTest(
  model: TwoBranchModel,
  images: tf.Tensor4D,
  options: ParameterRandomizationOptions,
): Promise<ParameterRandomizationResult> {
  const fn = "parameterRandomizationTest()";
  const { explainer, seed = 0, includeNonTrainable = false } = options ?? {};
  if (
    explainer === null || explainer === undefined ||
    (typeof explainer !== "function" && typeof explainer !== "object")
  ) {
    throw new TypeError(`${fn}: option "explainer" must be an explain() request or a function`);
  }
  const variables = model.variables();
  const groups = options.groups ?? layerGroups(model);
  for (const g of groups) {
    for (const path of g.paths) {
      if (!variables.has(path)) {
        throw new RangeError(
          `${fn}: option "groups" names unknown variable "${path}" in group "${g.name}"`,
        );
      }
    }
  }
  if (!(images instanceof tf.Tensor) || images.rank !== 4) {
    throw new RangeError(`${fn}: expected "images" of shape [n, h, w, c]`);
  }
  const n = images.shape[0];
  const classes = tf.tidy(() => {
    const { logits, saliency, saliencyLogits } = model.forward(images);
    tf.dispose([saliency, saliencyLogits]);
    return tf.argMax(logits, 1);
  });
  let predicted: number[];
  try {
    predicted = Array.from(await classes.data());
  } finally {
    classes.dispose();
  }
  const original = await runExplainer(model, images, explainer, predicted);
  const p = original.length / n;
  const step = async (name: string, randomized: string[]): Promise<RandomizationStep> => {
    const current = await runExplainer(model, images, explainer, predicted);
    const rho: number[] = [];
    for (let i = 0; i < n; i++) {
      rho.push(
        spearman(original.subarray(i * p, (i + 1) * p), current.subarray(i * p, (i + 1) * p)),
      );
    }
    const finite = rho.filter((r) => Number.isFinite(r));
    return {
      name,
      randomized: [...randomized],
      spearman: rho,
      mean: finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : NaN,
      undefinedCount: n - finite.length,
    };
  };
  const saved = new Map<string, tf.Tensor>();
  const rng = new Random(seed);
  const steps: RandomizationStep[] = [];
  try {
    steps.push(await step("original", []));
    const randomized: string[] = [];
    for (const group of groups) {
      for (const path of group.paths) {
        const v = variables.get(path)!;
        if (!v.trainable && !includeNonTrainable) continue;
        if (!saved.has(path)) saved.set(path, v.clone());
        const values = await v.data();
        let mean = 0;
        for (let i = 0; i < values.length; i++) mean += values[i];
        mean /= values.length || 1;
        let ss = 0;
        for (let i = 0; i < values.length; i++) ss += (values[i] - mean) ** 2;
        const std = Math.sqrt(ss / (values.length || 1));
        const childSeed = rng.seed();
        if (!(std > 0)) continue;
        const noise = new Random(childSeed).normalArray(values.length, mean, std);
        tf.tidy(() => v.assign(tf.tensor(noise, v.shape, v.dtype)));
        randomized.push(path);
      }
      steps.push(await step(group.name, randomized));
    }
  } finally {
    for (const [path, t] of saved) {
      variables.get(path)!.assign(t);
      t.dispose();
    }
  }
  return { steps };
}
