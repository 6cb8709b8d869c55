/**
 * Saving and loading two-branch models as folders, with Deno's file API
 * (tfjs's `file://` handler needs tfjs-node, which cannot be installed here).
 *
 * A saved model is a folder with two files:
 * - `model.json`: `format` (`"saliency-lab-model"`), `formatVersion` (1),
 *   the model's `config` (which {@linkcode createModel} rebuilds it from),
 *   `numClasses`, optionally `classNames` (one per class, in label order),
 *   and `weights`: the weights file's name, byte length, SHA-256 and a
 *   manifest entry per variable (path, shape, dtype, byte offset, byte
 *   length), plus `savedWith` (versions and time) for the record;
 * - `weights.bin`: every variable's values (batch-norm running statistics
 *   included), float32 or int32, little-endian, in manifest order.
 *
 * @module
 */
import { DataError } from "../data/errors.ts";
// The models module registers every built-in architecture, so that a saved
// config can be rebuilt without the caller importing its factory.
import { createModel } from "../models/mod.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { writeDirAtomic } from "./_files.ts";
import { assignWeights, modelFiles, planWeights, readSavedModel } from "./_model_format.ts";

/** Options of {@linkcode saveModel}. */
export interface SaveModelOptions {
  /**
   * The name of each class in label order (a dataset's `classNames`), kept
   * in `model.json` so that {@linkcode loadModel} gives them back. One
   * non-empty string per class of the model.
   *
   * @default {undefined} (no names are kept)
   */
  classNames?: readonly string[];
}

/**
 * Saves `model` into folder `dir` (created if needed; a model already there
 * is replaced). The files are written into a temporary sibling folder,
 * which is then renamed to `dir`, so `dir` never holds half a model.
 * `options.classNames` must hold one name per class (else a `RangeError`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { saveModel } from "./save_load.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125 });
 * const dir = await Deno.makeTempDir();
 * await saveModel(model, `${dir}/model`);
 * const json = JSON.parse(await Deno.readTextFile(`${dir}/model/model.json`));
 * assert.equal(json.config.architecture, "reference");
 * assert.ok(json.weights.entries.length > 0);
 * model.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveModel(
  model: TwoBranchModel,
  dir: string,
  options: SaveModelOptions = {},
): Promise<void> {
  await writeDirAtomic(dir, await modelFiles(model, { classNames: options.classNames }));
}

/** A model read by {@linkcode loadModel}, with the class names its file kept. */
export interface LoadedModel extends TwoBranchModel {
  /**
   * The name of each class in label order, as saved with `saveModel`'s
   * `classNames`; null for a model saved without them (or before they were
   * kept).
   */
  readonly classNames: readonly string[] | null;
}

/**
 * Loads the model saved in folder `dir`: validates `model.json`, checks the
 * weights file's size and checksum, rebuilds the architecture with
 * {@linkcode createModel}, checks that every stored variable matches one of
 * the model's by path, shape and dtype and that none is missing, and only
 * then assigns the weights. Any fault throws a {@linkcode DataError} that
 * names the file and field (and the variable), and leaves no model behind.
 * The model's `classNames` are the names `model.json` kept, or null. The
 * caller disposes the model.
 *
 * The architecture must be registered: the built-in ones are; import the
 * module of a custom one before loading.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { loadModel, saveModel } from "./save_load.ts";
 * import { createReferenceNet } from "../models/reference_net.ts";
 * const model = createReferenceNet({ numClasses: 2, inputSize: 8, width: 0.125, seed: 4 });
 * const dir = await Deno.makeTempDir();
 * await saveModel(model, dir);
 * const loaded = await loadModel(dir);
 * assert.equal(loaded.numClasses, 2);
 * // The same weights, variable by variable
 * for (const [path, v] of model.variables()) {
 *   assert.deepStrictEqual(loaded.variables().get(path)!.dataSync(), v.dataSync());
 * }
 * model.dispose();
 * loaded.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const saved = await readSavedModel(dir);
  let model: TwoBranchModel;
  try {
    model = createModel(saved.config);
  } catch (error) {
    const unknown = /Unknown model architecture/.test((error as Error).message);
    throw new DataError(
      `cannot build the model: ${(error as Error).message}`,
      { file: saved.jsonFile, field: unknown ? "config.architecture" : "config" },
      { cause: error },
    );
  }
  try {
    const plan = planWeights(model, saved.manifest, saved.jsonFile, {
      include: () => true,
      strict: true,
      noExtras: true,
    });
    if (saved.classNames !== null && saved.classNames.length !== model.numClasses) {
      throw new DataError(
        `expected one name per class of the model (${model.numClasses}), got ${saved.classNames.length}`,
        { file: saved.jsonFile, field: "classNames" },
      );
    }
    assignWeights(plan.assignments, saved.bytes);
    const classNames = saved.classNames === null ? null : Object.freeze(saved.classNames);
    return Object.defineProperty(model, "classNames", {
      value: classNames,
      enumerable: true,
    }) as LoadedModel;
  } catch (error) {
    model.dispose();
    throw error;
  }
}
