/**
 * Whether a saliency map is the model's reason: its deletion AUC against a
 * random map's on the same images. A map can sit on the object (a good
 * localisation score) and still be a segmentation the classifier ignores;
 * deletion tells the two apart.
 *
 * @module
 */
import { type BootstrapOptions, pairedTest, type PairedTestResult } from "./statistics.ts";

/** What {@linkcode faithfulnessCheck} says of one map. */
export interface FaithfulnessCheck {
  /** `map − random` deletion AUC per image: mean, interval, Wilcoxon p, pairs. */
  deletion: PairedTestResult;
  /** `map − random` insertion AUC, where insertion values were given. */
  insertion: PairedTestResult | null;
  /**
   * Whether the map's deletion AUC lies clearly below the random map's: the
   * whole interval of the difference below `−margin`.
   */
  faithful: boolean;
  /** One sentence for a summary: the verdict and the figures behind it. */
  sentence: string;
}

/** Options of {@linkcode faithfulnessCheck}. */
export interface FaithfulnessCheckOptions extends BootstrapOptions {
  /** How far below the random map's the interval must lie, in AUC units. @default {0} */
  margin?: number;
  /** The map's name in the sentence. @default {"the map"} */
  name?: string;
}

/**
 * Pairs a map's per-image deletion AUCs with a random map's
 * (`randomMap`, the "random" explainer) on the same images and calls the
 * map the model's reason only when the bootstrap interval of the mean
 * difference lies entirely below `−margin`: deleting what the map calls
 * salient must hurt the prediction clearly faster than deleting at random.
 * Otherwise the sentence says "not the model's reason", whatever the map's
 * localisation. Images with a null or non-finite value on either side are
 * left out.
 *
 * @example A map that deletes the evidence first, and one that does not
 * ```ts
 * import assert from "node:assert";
 * import { faithfulnessCheck } from "./verdict.ts";
 * const random = [0.5, 0.55, 0.6, 0.45, 0.5, 0.52, 0.58, 0.48];
 * const good = random.map((v) => v - 0.3);
 * const segmentation = random.map((v, i) => v + (i % 2 ? 0.02 : -0.02));
 * const a = faithfulnessCheck(good, random, { seed: 1, name: "Grad-CAM" });
 * const b = faithfulnessCheck(segmentation, random, { seed: 1, name: "the branch map" });
 * assert.equal(a.faithful, true);
 * assert.match(a.sentence, /^Grad-CAM is the model's reason/);
 * assert.equal(b.faithful, false);
 * assert.match(b.sentence, /^the branch map is not the model's reason/);
 * ```
 */
export function faithfulnessCheck(
  mapDeletion: readonly (number | null)[],
  randomDeletion: readonly (number | null)[],
  options: FaithfulnessCheckOptions & {
    mapInsertion?: readonly (number | null)[];
    randomInsertion?: readonly (number | null)[];
  } = {},
): FaithfulnessCheck {
  const margin = options.margin ?? 0;
  if (!(margin >= 0)) throw new RangeError(`Option "margin" must be ≥ 0, got ${margin}`);
  const name = options.name ?? "the map";
  const bootstrap = { seed: options.seed, resamples: options.resamples, level: options.level };
  const deletion = pairedTest(randomDeletion, mapDeletion, bootstrap);
  const insertion = options.mapInsertion && options.randomInsertion
    ? pairedTest(options.randomInsertion, options.mapInsertion, bootstrap)
    : null;
  const [lo, hi] = deletion.difference.ci;
  const faithful = deletion.n > 0 && hi < -margin;
  const f = (v: number) => Number.isFinite(v) ? v.toFixed(3) : "n/a";
  const figures = `deletion AUC ${f(deletion.meanTreatment)} against ${
    f(deletion.meanBaseline)
  } for a random map (difference ${f(deletion.difference.estimate)} [${f(lo)}, ${
    f(hi)
  }], ${deletion.n} images)`;
  const sentence = deletion.n === 0
    ? `${name}: no image has a deletion AUC for both it and the random map, so its faithfulness is unknown.`
    : faithful
    ? `${name} is the model's reason: ${figures}.`
    : `${name} is not the model's reason: ${figures}; deleting what it calls salient hurts the prediction no more clearly than deleting at random.`;
  return { deletion, insertion, faithful, sentence };
}
