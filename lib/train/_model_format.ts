// The saved-model folder (model.json + weights.bin): writing, reading with
// validation, and matching its entries to a model's variables. Private to
// lib/train/.
import { tf, TFJS_VERSION } from "../deps.ts";
import { DataError } from "../data/errors.ts";
import type { ModelConfig, TwoBranchModel } from "../models/types.ts";
import { VERSION } from "../version.ts";
import {
  checkManifest,
  encodeTensors,
  entryValues,
  Fields,
  readJson,
  readTensorFile,
  type TensorEntry,
  type TensorManifest,
} from "./_files.ts";

/** The `format` field of `model.json`. */
export const MODEL_FORMAT = "saliency-lab-model";
/** The newest `formatVersion` of `model.json` written and read. */
export const MODEL_FORMAT_VERSION = 1;
/** The architecture file of a saved model. */
export const MODEL_JSON = "model.json";
/** The weights file of a saved model. */
export const WEIGHTS_BIN = "weights.bin";

/**
 * Checks `classNames` for `model`: one non-empty string per class. Throws a
 * `RangeError` or `TypeError` naming the option.
 */
export function checkClassNames(model: TwoBranchModel, classNames: readonly string[]): void {
  if (!Array.isArray(classNames) || classNames.length !== model.numClasses) {
    throw new RangeError(
      `Option "classNames" must hold one name per class of "${model.name}" (${model.numClasses}), got ${
        Array.isArray(classNames) ? classNames.length : typeof classNames
      }`,
    );
  }
  const bad = classNames.findIndex((n) => typeof n !== "string" || n === "");
  if (bad >= 0) {
    throw new TypeError(
      `Option "classNames" must hold non-empty strings, got ${
        JSON.stringify(classNames[bad])
      } at ${bad}`,
    );
  }
}

/**
 * The files of a saved model, ready for {@linkcode writeDirAtomic};
 * `classNames` (checked) go into `model.json` when given.
 */
export async function modelFiles(
  model: TwoBranchModel,
  { classNames }: { classNames?: readonly string[] } = {},
): Promise<Record<string, Uint8Array | string>> {
  if (classNames !== undefined) checkClassNames(model, classNames);
  const items = [...model.variables()].map(([path, tensor]) => ({ path, tensor }));
  const { manifest, bytes } = await encodeTensors(items, WEIGHTS_BIN);
  const json = {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    name: model.name,
    config: model.config,
    inputShape: model.inputShape,
    numClasses: model.numClasses,
    ...(classNames === undefined ? {} : { classNames: [...classNames] }),
    weights: manifest,
    savedWith: { saliencyLab: VERSION, tfjs: TFJS_VERSION, savedAt: new Date().toISOString() },
  };
  return { [MODEL_JSON]: JSON.stringify(json, null, 2) + "\n", [WEIGHTS_BIN]: bytes };
}

/** A saved model read from disk, validated, weights not yet assigned. */
export interface SavedModel {
  /** `<dir>/model.json`, for error messages. */
  jsonFile: string;
  /** The architecture config. */
  config: ModelConfig;
  /** The weights' manifest. */
  manifest: TensorManifest;
  /** The weights file's bytes, size and checksum checked. */
  bytes: Uint8Array;
  /** The class names, in label order; null for a file saved without them. */
  classNames: string[] | null;
}

/** Reads and validates `<dir>/model.json` and its weights file. */
export async function readSavedModel(dir: string): Promise<SavedModel> {
  const jsonFile = `${dir}/${MODEL_JSON}`;
  const json = await readJson(jsonFile);
  const f: Fields = new Fields(jsonFile);
  f.format(json, MODEL_FORMAT, MODEL_FORMAT_VERSION);
  const config = f.record(json.config, "config");
  f.string(config.architecture, "config.architecture");
  let classNames: string[] | null = null;
  if (json.classNames !== undefined) {
    classNames = f.array(json.classNames, "classNames")
      .map((n, i) => f.string(n, `classNames[${i}]`));
    if (typeof json.numClasses === "number" && classNames.length !== json.numClasses) {
      f.fail(
        "classNames",
        `expected ${json.numClasses} names (numClasses), got ${classNames.length}`,
      );
    }
  }
  const manifest = checkManifest(json.weights, jsonFile, "weights");
  const bytes = await readTensorFile(dir, manifest, jsonFile);
  return { jsonFile, config: config as ModelConfig, manifest, bytes, classNames };
}

/** A variable paired with the stored entry that will fill it. */
export interface Assignment {
  variable: tf.Variable;
  entry: TensorEntry;
}

/** Options of {@linkcode planWeights}. */
export interface PlanOptions {
  /** Which of the model's variables to fill. */
  include: (path: string) => boolean;
  /** Fail on an included variable that is missing or of another shape, instead of skipping it. */
  strict: boolean;
  /** Also fail on stored entries that fill no variable. */
  noExtras: boolean;
}

/** What {@linkcode planWeights} decided. */
export interface WeightPlan {
  assignments: Assignment[];
  /** Paths of the variables that will be filled. */
  loaded: string[];
  /** Variables left as they are, with the reason. */
  skipped: { path: string; reason: string }[];
  /** Stored entries that fill no variable. */
  unused: string[];
}

/**
 * Matches stored entries to the model's variables by path, checking shape
 * and dtype. Changes nothing; strict mismatches throw errors that name the
 * file, the field and the variable.
 */
export function planWeights(
  model: TwoBranchModel,
  manifest: TensorManifest,
  jsonFile: string,
  options: PlanOptions,
): WeightPlan {
  const byPath = new Map(manifest.entries.map((e, i) => [e.path, { entry: e, index: i }]));
  const plan: WeightPlan = { assignments: [], loaded: [], skipped: [], unused: [] };
  const used = new Set<string>();
  const missing: string[] = [];
  for (const [path, variable] of model.variables()) {
    if (!options.include(path)) {
      plan.skipped.push({ path, reason: "not selected" });
      continue;
    }
    const found = byPath.get(path);
    if (!found) {
      missing.push(path);
      plan.skipped.push({ path, reason: "not in the file" });
      continue;
    }
    const { entry, index } = found;
    const sameShape = entry.shape.join() === variable.shape.join() &&
      entry.shape.length === variable.shape.length;
    if (!sameShape || entry.dtype !== variable.dtype) {
      const reason = !sameShape
        ? `shape [${entry.shape}] in the file, [${variable.shape}] in the model`
        : `dtype ${entry.dtype} in the file, ${variable.dtype} in the model`;
      if (options.strict) {
        throw new DataError(`variable "${path}" does not fit: ${reason}`, {
          file: jsonFile,
          field: `weights.entries[${index}]`,
        });
      }
      plan.skipped.push({ path, reason });
      continue;
    }
    used.add(path);
    plan.assignments.push({ variable, entry });
    plan.loaded.push(path);
  }
  plan.unused = manifest.entries.map((e) => e.path).filter((p) => !used.has(p));
  if (options.strict && missing.length) {
    throw new DataError(
      `the model's variable "${missing[0]}" has no entry${
        missing.length > 1 ? ` (nor have ${missing.length - 1} more)` : ""
      }; the file was saved from another architecture or version`,
      { file: jsonFile, field: "weights.entries" },
    );
  }
  if (options.noExtras && plan.unused.length) {
    const index = manifest.entries.findIndex((e) => e.path === plan.unused[0]);
    throw new DataError(
      `entry "${plan.unused[0]}" matches no variable of the model${
        plan.unused.length > 1 ? ` (nor do ${plan.unused.length - 1} more)` : ""
      }`,
      { file: jsonFile, field: `weights.entries[${index}]` },
    );
  }
  return plan;
}

/** Assigns every planned entry. Call only after planning succeeded. */
export function assignWeights(assignments: readonly Assignment[], bytes: Uint8Array): void {
  for (const { variable, entry } of assignments) {
    tf.tidy(() => {
      variable.assign(tf.tensor(entryValues(bytes, entry), entry.shape, entry.dtype));
    });
  }
}
