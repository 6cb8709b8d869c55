/**
 * A weighted sum of the classification and saliency losses, as a loss for
 * {@linkcode train}, logging every term separately.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { crossEntropyLoss, focalLoss } from "../losses/classification.ts";
import { bceSaliencyLoss, diceLoss, klSaliencyLoss, softIouLoss } from "../losses/mask.ts";
import { boxSaliencyLoss } from "../losses/box.ts";
import { rrrLoss } from "../losses/rrr.ts";
import type { RrrMode } from "../losses/rrr.ts";
import { gainLoss } from "../losses/gain.ts";
import { camEvidenceLoss } from "../losses/cam.ts";
import { backgroundSwapLoss } from "../losses/background_swap.ts";
import type { LossContext, LossFn } from "./train_step.ts";
import type { DataBatch } from "../data/batches.ts";
import { globToRegExp } from "../util/glob.ts";
import type { TwoBranchModel, TwoBranchOutput } from "../models/types.ts";

/** Weight of each loss term; a term with weight 0 (the default, but for `ce`) is not computed. */
export interface LossWeights {
  /** Cross-entropy of the classifier. @default {1} */
  ce?: number;
  /** Focal loss of the classifier (Lin et al. 2017). @default {0} */
  focal?: number;
  /** BCE of the saliency map against the masks. @default {0} */
  bce?: number;
  /** Soft Dice loss against the masks. @default {0} */
  dice?: number;
  /** Soft IoU loss against the masks. @default {0} */
  softIou?: number;
  /** KL divergence from the normalised mask to the normalised map. @default {0} */
  kl?: number;
  /** Share of saliency energy outside the boxes; the batch's masks must be rasterised boxes. @default {0} */
  box?: number;
  /** Right for the Right Reasons input-gradient penalty (Ross et al. 2017). @default {0} */
  rrr?: number;
  /** GAIN attention mining (Li et al. 2018). @default {0} */
  gain?: number;
  /** Share of the classifier's class evidence (CAM) outside the masks. @default {0} */
  cam?: number;
  /** Cross-entropy on images whose background comes from another sample. @default {0} */
  backgroundSwap?: number;
}

/** Options of {@linkcode mixedLoss} besides the weights. */
export interface MixedLossOptions {
  /** Label smoothing of the cross-entropy. @default {0} */
  labelSmoothing?: number;
  /** Per-class weights of the classification losses. @default {none} */
  classWeights?: readonly number[];
  /** Focusing parameter of the focal loss. @default {2} */
  focalGamma?: number;
  /**
   * What RRR penalises: the input gradient inside the samples'
   * must-not-matter masks (`batch.ignoreMasks`, as `injectShortcut` makes),
   * or outside the object masks.
   *
   * @default {"outside-object"}
   */
  rrrMode?: RrrMode;
  /** The stage GAIN takes its Grad-CAM at (name or index). @default {the last stage} */
  gainLayer?: string | number;
}

/**
 * Builds a loss for {@linkcode train}: `Σ weightₜ · termₜ` over the terms
 * with a positive weight, each logged under its own name. The saliency
 * terms (bce, dice, softIou, kl, box, and RRR outside the object) count only
 * the samples that have a mask (`batch.hasMask`), so unannotated samples
 * train the classifier alone.
 *
 * @example Cross-entropy plus Dice and BCE on the masks
 * ```ts
 * import assert from "node:assert";
 * import { mixedLoss } from "./mixed_loss.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * import { tf } from "../deps.ts";
 * const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125 });
 * const loss = mixedLoss({ ce: 1, bce: 0.5, dice: 0.5 });
 * tf.tidy(() => {
 *   const batch = {
 *     images: tf.zeros([2, 8, 8, 3]) as tf.Tensor4D, labels: tf.tensor1d([0, 1], "int32"),
 *     masks: tf.ones([2, 8, 8]) as tf.Tensor3D, hasMask: tf.tensor1d([1, 0]), ids: ["a", "b"],
 *   };
 *   const r = loss(model, batch, { training: false, epoch: 1, step: 0 });
 *   assert.deepStrictEqual(Object.keys(r.terms), ["ce", "bce", "dice"]);
 *   const [ce, bce, dice] = [r.terms.ce, r.terms.bce, r.terms.dice].map((t) => t.dataSync()[0]);
 *   assert.ok(Math.abs(r.total.dataSync()[0] - (ce + 0.5 * bce + 0.5 * dice)) < 1e-5);
 * });
 * model.dispose();
 * ```
 */
export function mixedLoss(
  weights: LossWeights | Record<string, number>,
  options: MixedLossOptions = {},
): LossFn {
  const w: Record<string, number> = { ce: 1, ...weights as Record<string, number> };
  for (const [name, value] of Object.entries(w)) {
    if (!getLoss(name)) {
      throw new RangeError(
        `Unknown loss term "${name}": registered terms are ${listLosses().join(", ")}`,
      );
    }
    if (!(Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`Loss weight "${name}" must be a finite number ≥ 0, got ${value}`);
    }
  }
  const active = Object.entries(w).filter(([, v]) => v > 0);
  if (active.length === 0) {
    throw new RangeError("mixedLoss() needs at least one loss weight above 0");
  }
  const classEvidence = active.some(([name]) => getLoss(name)!.needsClassEvidence);
  return (model, batch, context) => {
    const out = model.forward(batch.images, {
      training: context.training,
      checkpoint: context.checkpoint,
      ...(classEvidence ? { classEvidence } : {}),
    });
    if (classEvidence && !out.evidence) {
      throw new TypeError(
        `Loss "cam" needs the class evidence of the classifier, which model "${model.name}" does not return: use a backbone with a global-average-pool + linear classifier`,
      );
    }
    const terms: Record<string, tf.Scalar> = {};
    for (const [name] of active) {
      terms[name] = getLoss(name)!.term({ model, batch, out, context, options });
    }
    const weighted = Object.entries(terms).map(([name, t]) => tf.mul(t, w[name]));
    const total = (weighted.length === 1 ? weighted[0] : tf.addN(weighted)) as tf.Scalar;
    return { total, terms, logits: out.logits };
  };
}

/** What a registered loss term computes from: one forward pass shared by every term. */
export interface LossTermInput {
  /** The model (for terms that run it again, as RRR and GAIN do). */
  model: TwoBranchModel;
  /** The batch; `masks` and `hasMask` always present. */
  batch: DataBatch;
  /** The forward pass of `batch.images` in the context's mode. */
  out: TwoBranchOutput;
  /** Training or validation, epoch and step. */
  context: LossContext;
  /** {@linkcode mixedLoss}'s options. */
  options: MixedLossOptions;
}

/** A loss term: a scalar, averaged over the batch's samples (or those it applies to). */
export type LossTerm = (input: LossTermInput) => tf.Scalar;

/** What a loss is about: the classifier's output, or where the saliency lands. */
export type LossKind = "classification" | "location";

/** A registered loss term. */
export interface RegisteredLoss {
  /** The name, as `mixedLoss` weights and `--loss` flags spell it (`softIou` is `soft-iou` there). */
  name: string;
  /** Computes the term. */
  term: LossTerm;
  /** `"classification"` or `"location"` (needs masks, boxes or must-not-matter masks). */
  kind: LossKind;
  /** One line for `--help`. */
  description: string;
  /** Whether the term reads `out.evidence`, which the forward pass then computes. */
  needsClassEvidence: boolean;
}

const LOSSES = new Map<string, RegisteredLoss>();

/**
 * Registers a loss term under `name`, for {@linkcode mixedLoss} and every
 * `--loss` flag. Names are camelCase identifiers (the flags spell them in
 * kebab case); registering a taken name throws.
 *
 * @example A total-variation term on the saliency map
 * ```ts
 * import assert from "node:assert";
 * import { listLosses, mixedLoss, registerLoss } from "./mixed_loss.ts";
 * import { tf } from "../deps.ts";
 * registerLoss("totalVariationDoc", ({ out }) =>
 *   tf.mean(tf.abs(tf.sub(out.saliency.slice([0, 1, 0]), out.saliency.slice([0, 0, 0], [-1, out.saliency.shape[1] - 1, -1])))) as tf.Scalar,
 * { kind: "location", description: "smoothness of the saliency map" });
 * assert.ok(listLosses().includes("totalVariationDoc"));
 * assert.throws(() => registerLoss("totalVariationDoc", () => tf.scalar(0), { kind: "location", description: "" }), /already registered/);
 * assert.equal(typeof mixedLoss({ ce: 1, totalVariationDoc: 0.1 }), "function");
 * ```
 */
export function registerLoss(
  name: string,
  term: LossTerm,
  info: { kind: LossKind; description: string; needsClassEvidence?: boolean },
): void {
  if (!/^[a-z][a-zA-Z0-9]*$/.test(name)) {
    throw new TypeError(
      `A loss name must be a camelCase identifier (letters and digits, starting with a small letter), got ${
        JSON.stringify(name)
      }`,
    );
  }
  if (LOSSES.has(name)) throw new TypeError(`A loss named "${name}" is already registered`);
  if (info.kind !== "classification" && info.kind !== "location") {
    throw new TypeError(`Loss "${name}": kind must be "classification" or "location"`);
  }
  LOSSES.set(name, {
    name,
    term,
    kind: info.kind,
    description: info.description,
    needsClassEvidence: info.needsClassEvidence ?? false,
  });
}

/**
 * The registered loss names, sorted; `pattern` keeps those it matches (`*`
 * stands for any run of characters), `kind` those of one kind.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { listLosses } from "./mixed_loss.ts";
 * assert.ok(listLosses().includes("ce") && listLosses().includes("rrr"));
 * assert.ok(!listLosses({ kind: "location" }).includes("ce"));
 * assert.deepStrictEqual(listLosses({ pattern: "soft*" }), ["softIou"]);
 * ```
 */
export function listLosses(filter: { pattern?: string; kind?: LossKind } = {}): string[] {
  const re = filter.pattern === undefined ? null : globToRegExp(filter.pattern);
  return [...LOSSES.values()]
    .filter((l) =>
      (filter.kind === undefined || l.kind === filter.kind) && (!re || re.test(l.name))
    )
    .map((l) => l.name)
    .sort();
}

/** The registered loss `name`, or undefined. */
export function getLoss(name: string): RegisteredLoss | undefined {
  return LOSSES.get(name);
}

/**
 * A loss name as `--loss` flags spell it (kebab case: `soft-iou`), or the
 * reverse with `toFlag: false`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { lossFlagName } from "./mixed_loss.ts";
 * assert.equal(lossFlagName("softIou"), "soft-iou");
 * assert.equal(lossFlagName("soft-iou", { toFlag: false }), "softIou");
 * ```
 */
export function lossFlagName(name: string, options: { toFlag?: boolean } = {}): string {
  return options.toFlag === false
    ? name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())
    : name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

registerLoss("ce", ({ out, batch, options }) =>
  crossEntropyLoss(out.logits, batch.labels, {
    classWeights: options.classWeights,
    labelSmoothing: options.labelSmoothing,
  }), { kind: "classification", description: "cross-entropy of the classifier" });
registerLoss("focal", ({ out, batch, options }) =>
  focalLoss(out.logits, batch.labels, {
    classWeights: options.classWeights,
    gamma: options.focalGamma,
  }), { kind: "classification", description: "focal loss of the classifier (Lin et al. 2017)" });
// The terms against masks (or rasterised boxes), over the samples that have one.
for (
  const [name, loss, description] of [
    ["bce", bceSaliencyLoss, "BCE of the saliency map against the masks"],
    ["dice", diceLoss, "soft Dice loss against the masks"],
    ["softIou", softIouLoss, "soft IoU loss against the masks"],
    ["kl", klSaliencyLoss, "KL divergence from the normalised mask to the normalised map"],
    ["box", boxSaliencyLoss, "share of saliency energy outside the boxes"],
  ] as const
) {
  registerLoss(
    name,
    ({ out, batch }) => loss(out.saliencyLogits, batch.masks, { weights: batch.hasMask }),
    { kind: "location", description },
  );
}
registerLoss("rrr", ({ model, batch, context, options }) => {
  const mode = options.rrrMode ?? "outside-object";
  if (mode === "must-not-matter" && !batch.ignoreMasks) {
    throw new TypeError(
      `RRR in "must-not-matter" mode needs the batch's ignoreMasks (from injectShortcut); batch ${
        batch.ids.slice(0, 3).join(", ")
      }… has none`,
    );
  }
  return rrrLoss(model, batch.images, batch.labels, {
    region: mode === "must-not-matter" ? batch.ignoreMasks! : batch.masks,
    mode,
    weights: mode === "outside-object" ? batch.hasMask : undefined,
    training: context.training,
  });
}, { kind: "location", description: "Right for the Right Reasons input-gradient penalty" });
registerLoss(
  "gain",
  ({ model, batch, context, options }) =>
    gainLoss(model, batch.images, batch.labels, {
      layer: options.gainLayer,
      training: context.training,
    }),
  { kind: "location", description: "GAIN attention mining (Li et al. 2018)" },
);
registerLoss(
  "cam",
  ({ out, batch }) => camEvidenceLoss(out.evidence!, batch.masks, { weights: batch.hasMask }),
  {
    kind: "location",
    description: "share of the classifier's class evidence (CAM) outside the masks",
    needsClassEvidence: true,
  },
);
registerLoss(
  "backgroundSwap",
  ({ model, batch, context }) =>
    backgroundSwapLoss(model, batch.images, batch.masks, batch.labels, {
      weights: batch.hasMask,
      training: context.training,
    }),
  {
    kind: "location",
    description: "cross-entropy on images whose background (outside the mask) is another sample's",
  },
);
