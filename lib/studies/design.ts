/**
 * What a baseline-vs-treatment study compares, as data: its two arms (how
 * each is trained, which of its maps are scored), the metrics, the pairs of
 * maps tested against each other and the tests its verdict states.
 *
 * @module
 */
import { listLosses, lossFlagName } from "../train/mixed_loss.ts";
import { parseLossWeights } from "./train_run.ts";

/** One arm of a study: how it is trained and which of its maps are scored. */
export interface StudyArm {
  /** Its key: results keep the arm under it, and its maps are named `(<key>) <explainer>`. */
  key: string;
  /** Its name in tables, e.g. `"baseline"`. */
  name: string;
  /** The loss terms and their weights, as {@linkcode mixedLoss} takes them (`{ ce: 1 }`). */
  loss: Record<string, number>;
  /** The explainers whose maps are scored, in table order. */
  maps: readonly string[];
  /**
   * What the arm's model needs beyond the study's shared settings (a saliency
   * head, a gate), for the caller's model factory; empty for the same network.
   *
   * @default {{}}
   */
  model?: Readonly<Record<string, unknown>>;
}

/** A metric a study scores each map on, with how it reads. */
export interface StudyMetric {
  /** Its key in the evaluation's records, e.g. `"energyPointingGame"`. */
  key: string;
  /** Its column label in tables. */
  label: string;
  /** Whether a higher value is better. */
  higher: boolean;
}

/** Two maps tested against each other per image: the treatment's against the baseline's. */
export interface MapPair {
  /** Its name, the key its paired tests are found by: `"branch (b) vs Grad-CAM (a)"`. */
  name: string;
  /** The baseline arm's explainer. */
  baseline: string;
  /** The treatment arm's explainer. */
  treatment: string;
}

/** A paired test that the verdict states in a sentence, found by its key. */
export interface VerdictItem {
  /** The comparison: a pair's name, or the design's `classifier` comparison. */
  comparison: string;
  /** The metric, e.g. `"accuracy"`, `"energyPointingGame"` or `"cueEnergy"`. */
  metric: string;
  /** What the sentence calls it: `"Test accuracy"`. */
  what: string;
}

/** A baseline-vs-treatment study, as data. */
export interface StudyDesign {
  /** The baseline arm, (a). */
  baseline: StudyArm;
  /** The treatment arm, (b). */
  treatment: StudyArm;
  /** The metrics every map is scored on. */
  metrics: readonly StudyMetric[];
  /** The name of the classifiers' accuracy comparison, `"classifier (b) vs (a)"`. */
  classifier: string;
  /** The pairs of maps tested on every metric (and on cue energy with a shortcut). */
  pairs: readonly MapPair[];
  /** The tests the verdict states, in order; those of `cueEnergy` only with a shortcut. */
  verdict: readonly VerdictItem[];
  /** The pair and metric whose per-image gain picks the gallery's images. */
  highlight: { comparison: string; metric: string };
  /**
   * The explainer whose maps are the faithfulness control (`"random"`):
   * evaluated in both arms beside their maps, and every map's deletion AUC
   * tested against its arm's control (`faithfulnessCheck`). Null: no
   * faithfulness verdict.
   *
   * @default {null}
   */
  control?: string | null;
}

/** Options of {@linkcode compareGradcamDesign}. */
export interface CompareGradcamDesignOptions {
  /**
   * The treatment's location loss terms and their weights beside
   * cross-entropy, by term name (`{ bce: 1, cam: 1 }`).
   * @default {COMPARE_DEFAULT_TREATMENT.losses}
   */
  losses?: Readonly<Record<string, number>>;
  /** The treatment's location loss, a single term (`"bce"`); `losses` takes precedence. */
  loss?: string;
  /** The single term's weight. @default {1} */
  weight?: number;
  /**
   * The saliency head of both arms' network and how it gates the classifier,
   * as `createTwoBranchModel` takes them; kept in each arm's `model`.
   * @default {COMPARE_DEFAULT_TREATMENT.head, .gate}
   */
  head?: string;
  /** The gate of an attention head (`"multiplicative"`, `"residual"`), or null for none. */
  gate?: string | null;
}

/**
 * compare-gradcam's default arm (b), chosen by measurement on the decoy
 * benchmarks (`deno task decoy-benchmark`; docs/decoy-benchmark.md): the
 * location loss terms, the saliency head and its gate.
 */
export const COMPARE_DEFAULT_TREATMENT: Readonly<{
  losses: Readonly<Record<string, number>>;
  head: string;
  gate: string | null;
}> = Object.freeze({
  losses: Object.freeze({ bce: 1, backgroundSwap: 1 }),
  head: "attention",
  gate: "multiplicative",
});

/**
 * The treatment's location loss terms from their `--loss` spelling
 * (`bce,cam` or `bce=1,cam=0.5`; a term without `=` weighs `weight`), by
 * registered name. Throws a `RangeError` naming a term that is no location
 * loss (both arms have cross-entropy) or a bad weight.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parseTreatmentLosses, treatmentLossFlag } from "./design.ts";
 * assert.deepStrictEqual(parseTreatmentLosses("bce, background-swap=0.5", 2), { bce: 2, backgroundSwap: 0.5 });
 * assert.throws(() => parseTreatmentLosses("ce"), /"ce" is not a location loss term/);
 * assert.equal(treatmentLossFlag({ bce: 1, backgroundSwap: 0.5 }), "bce=1,background-swap=0.5");
 * assert.equal(treatmentLossFlag({ dice: 1 }), "dice");
 * ```
 */
export function parseTreatmentLosses(spec: string, weight = 1): Record<string, number> {
  const locationTerms = listLosses({ kind: "location" }).map((n) => lossFlagName(n));
  const parts = spec.split(",").map((p) => p.trim()).filter((p) => p !== "");
  for (const part of parts) {
    const name = part.split("=")[0].trim();
    if (!locationTerms.includes(name)) {
      throw new RangeError(
        `"${name}" is not a location loss term (both models have cross-entropy; choices: ${
          locationTerms.join(", ")
        })`,
      );
    }
  }
  const spelled = parts.map((p) => p.includes("=") ? p : `${p}=${weight}`).join(",");
  const { ce: _, ...location } = parseLossWeights(spelled);
  return location;
}

/** Loss weights as `--loss` spells them: `bce` for one term of weight 1, else `bce=1,cam=0.5`. */
export function treatmentLossFlag(losses: Readonly<Record<string, number>>): string {
  const terms = Object.entries(losses);
  if (terms.length === 1 && terms[0][1] === 1) return lossFlagName(terms[0][0]);
  return terms.map(([n, w]) => `${lossFlagName(n)}=${w}`).join(",");
}

/** The localisation and faithfulness metrics compare-gradcam tables. */
export const COMPARE_METRICS: readonly StudyMetric[] = [
  { key: "pointingGame", label: "pointing game", higher: true },
  { key: "energyPointingGame", label: "energy on object", higher: true },
  { key: "maskAuc", label: "mask AUC", higher: true },
  { key: "bestIou", label: "best IoU", higher: true },
  { key: "deletionAuc", label: "deletion AUC (lower is better)", higher: false },
  { key: "insertionAuc", label: "insertion AUC", higher: true },
];

/**
 * compare-gradcam's design: (a) a baseline trained on cross-entropy alone,
 * (b) the same network with location losses beside it (by default
 * {@linkcode COMPARE_DEFAULT_TREATMENT}: an attention head whose map
 * multiplies the classifier's features, mask BCE on that map, and background
 * swap); Grad-CAM and vanilla gradients of both and (b)'s branch map scored,
 * (b)'s maps tested against (a)'s.
 *
 * @example The supervised arm adds the location loss and scores its branch map
 * ```ts
 * import assert from "node:assert";
 * import { compareGradcamDesign } from "./design.ts";
 * const design = compareGradcamDesign({ loss: "dice", weight: 2 });
 * assert.deepStrictEqual(design.baseline.loss, { ce: 1 });
 * assert.deepStrictEqual(design.treatment.loss, { ce: 1, dice: 2 });
 * // The default (b): mask BCE on the attention map that gates the classifier, and background swap.
 * assert.deepStrictEqual(compareGradcamDesign().treatment.loss, { ce: 1, bce: 1, backgroundSwap: 1 });
 * assert.deepStrictEqual(compareGradcamDesign().treatment.model, { head: "attention", gate: "multiplicative" });
 * assert.deepStrictEqual(design.treatment.maps, ["grad-cam", "vanilla-gradient", "branch"]);
 * assert.equal(design.pairs[0].name, "branch (b) vs Grad-CAM (a)");
 * ```
 */
export function compareGradcamDesign(options: CompareGradcamDesignOptions = {}): StudyDesign {
  const losses = options.losses ??
    (options.loss !== undefined
      ? { [options.loss]: options.weight ?? 1 }
      : COMPARE_DEFAULT_TREATMENT.losses);
  const head = options.head ?? COMPARE_DEFAULT_TREATMENT.head;
  const gate = options.gate === undefined ? COMPARE_DEFAULT_TREATMENT.gate : options.gate;
  const model = { head, gate };
  const pair = (baseline: string, treatment: string): MapPair => ({
    name: `${MAP_NAMES[treatment]} (b) vs ${MAP_NAMES[baseline]} (a)`,
    baseline,
    treatment,
  });
  const pairs = [
    pair("grad-cam", "branch"),
    pair("vanilla-gradient", "branch"),
    pair("grad-cam", "grad-cam"),
    pair("vanilla-gradient", "vanilla-gradient"),
  ];
  const [branchVsCam, , camVsCam] = pairs.map((p) => p.name);
  const classifier = "classifier (b) vs (a)";
  return checkDesign({
    baseline: {
      key: "a",
      name: "baseline",
      loss: { ce: 1 },
      maps: ["grad-cam", "vanilla-gradient"],
      model,
    },
    treatment: {
      key: "b",
      name: "supervised",
      loss: { ce: 1, ...losses },
      maps: ["grad-cam", "vanilla-gradient", "branch"],
      model,
    },
    metrics: COMPARE_METRICS,
    classifier,
    pairs,
    verdict: [
      { comparison: classifier, metric: "accuracy", what: "Test accuracy" },
      {
        comparison: branchVsCam,
        metric: "energyPointingGame",
        what: "Energy on the object, branch (b) vs Grad-CAM (a)",
      },
      {
        comparison: camVsCam,
        metric: "energyPointingGame",
        what: "Energy on the object, Grad-CAM (b) vs Grad-CAM (a)",
      },
      { comparison: camVsCam, metric: "cueEnergy", what: "Grad-CAM energy on the decoy patch" },
    ],
    highlight: { comparison: branchVsCam, metric: "energyPointingGame" },
    control: "random",
  });
}

/** How the pairs' names spell the explainers. */
const MAP_NAMES: Record<string, string> = {
  "grad-cam": "Grad-CAM",
  "vanilla-gradient": "vanilla gradient",
  branch: "branch",
};

/**
 * The names of a design's maps, `(a) grad-cam` …, baseline first.
 *
 * @example compare-gradcam's five maps
 * ```ts
 * import assert from "node:assert";
 * import { compareGradcamDesign, mapNames } from "./design.ts";
 * assert.deepStrictEqual(mapNames(compareGradcamDesign()), [
 *   "(a) grad-cam", "(a) vanilla-gradient", "(b) grad-cam", "(b) vanilla-gradient", "(b) branch",
 * ]);
 * ```
 */
export function mapNames(design: StudyDesign): string[] {
  return [design.baseline, design.treatment].flatMap((arm) =>
    arm.maps.map((m) => `(${arm.key}) ${m}`)
  );
}

/**
 * Checks that a design's keys are unique and that its pairs, verdict and
 * highlight name maps and comparisons it has; returns it.
 *
 * @example A pair of a map the treatment does not score is refused
 * ```ts
 * import assert from "node:assert";
 * import { checkDesign, compareGradcamDesign } from "./design.ts";
 * const design = compareGradcamDesign();
 * assert.throws(
 *   () => checkDesign({ ...design, pairs: [{ name: "x", baseline: "grad-cam", treatment: "rise" }] }),
 *   /pair "x": the treatment arm \(b\) scores no "rise" map/,
 * );
 * ```
 */
export function checkDesign(design: StudyDesign): StudyDesign {
  const { baseline, treatment } = design;
  if (baseline.key === treatment.key) {
    throw new RangeError(`Study design: both arms have the key "${baseline.key}"`);
  }
  const names = new Set([design.classifier]);
  for (const p of design.pairs) {
    if (names.has(p.name)) throw new RangeError(`Study design: two comparisons are "${p.name}"`);
    names.add(p.name);
    for (const [arm, map] of [[baseline, p.baseline], [treatment, p.treatment]] as const) {
      if (!arm.maps.includes(map)) {
        throw new RangeError(
          `Study design, pair "${p.name}": the ${
            arm === baseline ? "baseline" : "treatment"
          } arm (${arm.key}) scores no "${map}" map`,
        );
      }
    }
  }
  const control = design.control ?? null;
  if (control !== null && [baseline, treatment].some((arm) => arm.maps.includes(control))) {
    throw new RangeError(
      `Study design: the control "${control}" is evaluated beside the maps; list it in no arm's maps`,
    );
  }
  const metrics = new Set(["accuracy", "cueEnergy", ...design.metrics.map((m) => m.key)]);
  for (const v of [...design.verdict, design.highlight]) {
    if (!names.has(v.comparison) || !metrics.has(v.metric)) {
      throw new RangeError(
        `Study design: the verdict or highlight names "${v.comparison}" on "${v.metric}", ` +
          `which the design does not test`,
      );
    }
  }
  return design;
}
