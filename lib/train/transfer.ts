/**
 * Transfer learning: loading a saved model's weights into another model
 * (say, with another number of classes), and freezing or unfreezing parts.
 *
 * Parts are chosen by the model's stages (`model.featureInfo`). A model
 * with a `backbone` that lists its variables (`backbone.stageVariables(k)`
 * and `backbone.variables()`, as {@linkcode createTwoBranchModel}'s do)
 * says itself which variables are in which stage. For any other model, a
 * variable belongs to stage `s` when a segment of its path is `s` or starts
 * with `s_` (`reference_net/block1_conv1/conv/kernel` is in `block1`), and
 * the backbone is every stage's variables plus any under a path segment
 * named `backbone`. `"heads"` is every variable outside the backbone.
 *
 * @module
 */
import type { tf } from "../deps.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { assignWeights, planWeights, readSavedModel } from "./_model_format.ts";

/**
 * A choice of variables: `"all"`, `"backbone"`, `"heads"`, a list of stage
 * names from `featureInfo`, or a predicate on the variable path.
 */
export type VariableSelection =
  | "all"
  | "backbone"
  | "heads"
  | readonly string[]
  | ((path: string) => boolean);

/**
 * The paths of the variables `selection` picks, in the model's order.
 * Naming a stage that is not in `featureInfo`, or one that matches no
 * variable, throws a `RangeError` that lists the stages.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { selectVariables } from "./transfer.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125 });
 * assert.ok(selectVariables(model, "heads").some((p) => p.includes("/fc/")));
 * const stem = selectVariables(model, ["stem"]);
 * assert.ok(stem.length > 0 && stem.every((p) => p.includes("/stem/")));
 * model.dispose();
 * ```
 */
export function selectVariables(model: TwoBranchModel, selection: VariableSelection): string[] {
  const paths = [...model.variables().keys()];
  return paths.filter(selector(model, selection, paths));
}

/** The parts of a backbone that lists its own variables (`backbone.stageVariables(k)`). */
interface StagedParts {
  backbone: {
    stageVariables(index: number): Map<string, tf.Variable>;
    variables(): Map<string, tf.Variable>;
  };
}

function hasStagedBackbone(model: TwoBranchModel): model is TwoBranchModel & StagedParts {
  const backbone = (model as Partial<StagedParts>).backbone;
  return typeof backbone?.stageVariables === "function" &&
    typeof backbone?.variables === "function";
}

function selector(
  model: TwoBranchModel,
  selection: VariableSelection,
  paths: readonly string[],
): (path: string) => boolean {
  const stages = model.featureInfo.map((s) => s.name);
  let inStage: (path: string, stage: string) => boolean;
  let inBackbone: (path: string) => boolean;
  if (hasStagedBackbone(model)) {
    // The model says which variables are whose: match by variable, not by name.
    const variables = model.variables();
    const sets = new Map(
      stages.map((s, i) => [s, new Set(model.backbone.stageVariables(i).values())]),
    );
    const all = new Set(model.backbone.variables().values());
    inStage = (path, stage) => sets.get(stage)!.has(variables.get(path)!);
    inBackbone = (path) => all.has(variables.get(path)!);
  } else {
    inStage = (path, stage) =>
      path.split("/").some((seg) => seg === stage || seg.startsWith(`${stage}_`));
    inBackbone = (path) =>
      path.split("/").includes("backbone") || stages.some((s) => inStage(path, s));
  }
  if (typeof selection === "function") return selection;
  if (selection === "all") return () => true;
  if (selection === "backbone" || selection === "heads") {
    if (!paths.some(inBackbone)) {
      throw new RangeError(
        `Cannot tell the backbone of "${model.name}" apart: no variable path has a segment named "backbone" or after a stage (${
          stages.join(", ")
        })`,
      );
    }
    return selection === "backbone" ? inBackbone : (p) => !inBackbone(p);
  }
  if (!Array.isArray(selection)) {
    throw new RangeError(
      `Cannot select variables by ${
        JSON.stringify(selection)
      }: expected "all", "backbone", "heads", a list of stage names or a function`,
    );
  }
  for (const stage of selection) {
    if (!stages.includes(stage) || !paths.some((p) => inStage(p, stage))) {
      throw new RangeError(
        `Stage "${stage}" ${
          stages.includes(stage) ? "matches no variable" : "is not a stage"
        } of "${model.name}": its stages are ${stages.join(", ")}`,
      );
    }
  }
  return (path) => selection.some((s) => inStage(path, s));
}

/** Options of {@linkcode loadWeightsInto}. */
export interface LoadWeightsOptions {
  /** Which of the model's variables to fill; the others keep their values. @default {"all"} */
  include?: VariableSelection;
  /**
   * Throw when a selected variable is missing from the file or has another
   * shape; when false, such variables are skipped and reported (how a
   * classifier with another number of classes keeps its fresh head).
   *
   * @default {true}
   */
  strict?: boolean;
}

/** What {@linkcode loadWeightsInto} did. */
export interface LoadWeightsReport {
  /** Paths of the variables that were filled from the file. */
  loaded: string[];
  /** Variables left as they were, with the reason. */
  skipped: { path: string; reason: string }[];
  /** Paths in the file that filled no variable. */
  unused: string[];
}

/**
 * Fills `model`'s variables from the model saved in folder `dir` (by
 * {@linkcode saveModel} or a trainer checkpoint), matching them by path.
 * The saved architecture may differ (another number of classes, say): with
 * `strict: false`, variables that do not fit keep their values and are
 * reported. The file is fully checked (size, checksum, and in strict mode
 * every selected variable) before any variable changes, so a failure leaves
 * the model as it was.
 *
 * @example Transfer a backbone to a model with another number of classes
 * ```ts
 * import assert from "node:assert";
 * import { loadWeightsInto } from "./transfer.ts";
 * import { saveModel } from "./save_load.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * const pretrained = createReferenceNet({ numClasses: 4, inputSize: 8, width: 0.125 });
 * const dir = await Deno.makeTempDir();
 * await saveModel(pretrained, dir);
 * const model = createReferenceNet({ numClasses: 3, inputSize: 8, width: 0.125 });
 * const report = await loadWeightsInto(model, dir, { strict: false });
 * // Only the classifier's shape differs (4 classes, then 3): it keeps its new weights.
 * assert.deepStrictEqual(report.skipped.map((s) => s.path), [
 *   "reference_net/fc/kernel",
 *   "reference_net/fc/bias",
 * ]);
 * pretrained.dispose();
 * model.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadWeightsInto(
  model: TwoBranchModel,
  dir: string,
  options: LoadWeightsOptions = {},
): Promise<LoadWeightsReport> {
  const saved = await readSavedModel(dir);
  const paths = [...model.variables().keys()];
  const plan = planWeights(model, saved.manifest, saved.jsonFile, {
    include: selector(model, options.include ?? "all", paths),
    strict: options.strict ?? true,
    noExtras: false,
  });
  assignWeights(plan.assignments, saved.bytes);
  return { loaded: plan.loaded, skipped: plan.skipped, unused: plan.unused };
}

/** Options of {@linkcode setTrainable}. */
export interface SetTrainableOptions {
  /** Variables to freeze (exclude from training). @default {none} */
  freeze?: VariableSelection;
  /** Variables to unfreeze, applied after `freeze`. @default {none} */
  unfreeze?: VariableSelection;
}

// The trainable flag each variable was created with, so that unfreezing
// never makes a running statistic (created non-trainable) trainable.
const createdTrainable = new WeakMap<object, boolean>();

/**
 * Freezes and unfreezes variables by setting their `trainable` flag, and
 * returns the paths of the trainable variables afterwards. Unfreezing
 * restores the flag a variable was created with, so batch-norm running
 * statistics stay non-trainable.
 *
 * `model.trainableVariables()` reads the flags on every call, and
 * {@linkcode train} and {@linkcode createTrainStep} re-read them every
 * step, so a change between epochs (in `onEpoch`) takes effect at the next
 * step. Batch-norm layers in frozen stages still update their running
 * statistics in training mode (as in PyTorch).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { setTrainable } from "./transfer.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125 });
 * const before = model.trainableVariables().length;
 * const trainable = setTrainable(model, { freeze: "backbone" });
 * assert.ok(trainable.every((p) => !p.includes("block")));
 * assert.ok(trainable.length < before);
 * setTrainable(model, { unfreeze: "all" });
 * assert.equal(model.trainableVariables().length, before);
 * model.dispose();
 * ```
 */
export function setTrainable(model: TwoBranchModel, options: SetTrainableOptions): string[] {
  const variables = model.variables();
  const paths = [...variables.keys()];
  for (const v of variables.values()) {
    if (!createdTrainable.has(v)) createdTrainable.set(v, v.trainable);
  }
  const freeze = options.freeze === undefined ? null : selector(model, options.freeze, paths);
  const unfreeze = options.unfreeze === undefined ? null : selector(model, options.unfreeze, paths);
  for (const [path, v] of variables) {
    if (freeze?.(path)) v.trainable = false;
    if (unfreeze?.(path)) v.trainable = createdTrainable.get(v)!;
  }
  return paths.filter((p) => variables.get(p)!.trainable);
}
